//! Malformed writes: every one is answered 400 (or 413) with a JSON
//! `{"error": "..."}` naming what is wrong, and writes nothing.

use crate::ingest_support::*;
use qaboard_api::ApiConfig;
use qaboard_tests::{for_each_backend, Client, Resp, TestApp};
use serde_json::{json, Value};

/// Checks a 4xx JSON error whose message mentions `needle`.
fn assert_error(r: &Resp, status: u16, needle: &str, ctx: &str) {
    assert_eq!(r.status, status, "{ctx}: {}", r.body);
    assert_eq!(r.header("content-type"), Some("application/json"), "{ctx}");
    let j = r.json();
    let obj = j
        .as_object()
        .unwrap_or_else(|| panic!("{ctx}: not an object: {j}"));
    assert_eq!(obj.len(), 1, "{ctx}: only an error: {j}");
    let msg = j["error"]
        .as_str()
        .unwrap_or_else(|| panic!("{ctx}: no error message: {j}"));
    assert!(
        msg.contains(needle),
        "{ctx}: the error should name {needle:?}: {msg}"
    );
}

/// What a test can observe of the database: row counts, and the data of an
/// existing output.
fn snapshot(app: &TestApp, c: &Client, output_id: i64) -> (Vec<(&'static str, i64)>, Value) {
    let r = c.get(&format!("/api/v1/output/{output_id}"));
    assert_eq!(r.status, 200, "{}", r.body);
    (counts(app), r.json())
}

/// Posts a valid output (creating project, commit, batch, input) and returns its id.
fn seed(c: &Client) -> i64 {
    let r = c.post("/api/v1/output/", &output_body());
    assert_eq!(r.status, 200, "{}", r.body);
    r.json()["id"].as_i64().unwrap()
}

/// Bodies that differ from a valid `qa` body by one field, and the field the
/// error must name. A new sha and new names make sure nothing could be
/// written by accident through an existing row.
fn envelope_cases(valid: &Value) -> Vec<(String, Value, &'static str)> {
    let valid = with(
        &with(
            valid,
            "commit_sha",
            json!("0123456789abcdef0123456789abcdef01234567"),
        ),
        "git_commit_sha",
        json!("0123456789abcdef0123456789abcdef01234567"),
    );
    let valid = with(&valid, "project", json!("bad/input-project"));
    let cases: Vec<(String, Value, &'static str)> = vec![
        (
            "no project".into(),
            without(&valid, &["project"]),
            "project",
        ),
        (
            "null project".into(),
            with(&valid, "project", Value::Null),
            "project",
        ),
        (
            "empty project".into(),
            with(&valid, "project", json!("")),
            "project",
        ),
        (
            "numeric project".into(),
            with(&valid, "project", json!(42)),
            "project",
        ),
        (
            "no sha".into(),
            without(&valid, &["commit_sha", "git_commit_sha"]),
            "commit_sha",
        ),
        (
            "empty sha".into(),
            with(
                &with(&valid, "commit_sha", json!("")),
                "git_commit_sha",
                json!(""),
            ),
            "commit_sha",
        ),
        (
            "numeric sha".into(),
            with(&valid, "commit_sha", json!(1234)),
            "commit_sha",
        ),
        (
            "numeric git_commit_sha".into(),
            with(
                &without(&valid, &["commit_sha"]),
                "git_commit_sha",
                json!(1234),
            ),
            "git_commit_sha",
        ),
        (
            "sha with a newline".into(),
            with(&valid, "commit_sha", json!("abc\ndef")),
            "commit_sha",
        ),
        // An unparsable commit_authored_datetime is cosmetic: accepted and
        // logged (robustness.rs, docs/robustness.md).
        (
            "commit_parents not an array".into(),
            with(&valid, "commit_parents", json!("abc")),
            "commit_parents",
        ),
        (
            "commit_branch not a string".into(),
            with(&valid, "commit_branch", json!(["master"])),
            "commit_branch",
        ),
        (
            "qaboard_config not an object".into(),
            with(&valid, "qaboard_config", json!("x")),
            "qaboard_config",
        ),
        (
            "qaboard_metrics not an object".into(),
            with(&valid, "qaboard_metrics", json!([1])),
            "qaboard_metrics",
        ),
    ];
    for (name, body, _) in &cases {
        assert_ne!(body, &valid, "{name}");
    }
    cases
}

fn output_cases() -> Vec<(String, Value, &'static str)> {
    let valid = with(&output_body(), "database", json!("/mnt/datasets/bad-input"));
    let mut cases = envelope_cases(&valid);
    cases.extend([
        (
            "no batch_label".into(),
            without(&valid, &["batch_label"]),
            "batch_label",
        ),
        (
            "empty batch_label".into(),
            with(&valid, "batch_label", json!("")),
            "batch_label",
        ),
        (
            "batch_label not a string".into(),
            with(&valid, "batch_label", json!(["default"])),
            "batch_label",
        ),
        (
            "no database".into(),
            without(&valid, &["database"]),
            "database",
        ),
        (
            "database not a string".into(),
            with(&valid, "database", json!({"linux": "/"})),
            "database",
        ),
        (
            "no input path".into(),
            without(&valid, &["input_path", "rel_input_path"]),
            "input path",
        ),
        (
            "empty input paths".into(),
            with(
                &with(&valid, "input_path", json!("")),
                "rel_input_path",
                json!(""),
            ),
            "input path",
        ),
        (
            "rel_input_path not a string".into(),
            with(&valid, "rel_input_path", json!(7)),
            "rel_input_path",
        ),
        (
            "input_path not a string".into(),
            with(
                &without(&valid, &["rel_input_path"]),
                "input_path",
                json!(["a.jpg"]),
            ),
            "input_path",
        ),
        (
            "no platform".into(),
            without(&valid, &["platform"]),
            "platform",
        ),
        (
            "platform not a string".into(),
            with(&valid, "platform", json!(true)),
            "platform",
        ),
        (
            "extra_parameters an array".into(),
            with(&valid, "extra_parameters", json!([])),
            "extra_parameters",
        ),
        (
            "extra_parameters a string".into(),
            with(&valid, "extra_parameters", json!("{}")),
            "extra_parameters",
        ),
        (
            "configurations an object".into(),
            with(&valid, "configurations", json!({})),
            "configurations",
        ),
        (
            "configurations a string".into(),
            with(&valid, "configurations", json!("base")),
            "configurations",
        ),
        (
            "metrics an array".into(),
            with(&valid, "metrics", json!([1, 2])),
            "metrics",
        ),
        (
            "metrics a number".into(),
            with(&valid, "metrics", json!(3.5)),
            "metrics",
        ),
        (
            "is_pending a string".into(),
            with(&valid, "is_pending", json!("false")),
            "is_pending",
        ),
        (
            "is_running a number".into(),
            with(&valid, "is_running", json!(1)),
            "is_running",
        ),
        (
            "is_failed a string".into(),
            with(&valid, "is_failed", json!("no")),
            "is_failed",
        ),
        (
            "data an array".into(),
            with(&valid, "data", json!([])),
            "data",
        ),
        (
            "data a string".into(),
            with(&valid, "data", json!("storage")),
            "data",
        ),
        (
            "input_metadata an array".into(),
            with(&valid, "input_metadata", json!([])),
            "input_metadata",
        ),
        (
            "input_type not a string".into(),
            with(&valid, "input_type", json!(1)),
            "input_type",
        ),
        (
            "output_directory not a string".into(),
            with(&valid, "output_directory", json!(1)),
            "output_directory",
        ),
        (
            "job_type not a string".into(),
            with(&valid, "job_type", json!(true)),
            "job_type",
        ),
    ]);
    cases
}

fn batch_cases() -> Vec<(String, Value, &'static str)> {
    let valid = with(&batch_body(), "batch_label", json!("bad-input-batch"));
    let mut cases = envelope_cases(&valid);
    cases.extend([
        (
            "no batch_label".into(),
            without(&valid, &["batch_label"]),
            "batch_label",
        ),
        (
            "batch_label a number".into(),
            with(&valid, "batch_label", json!(3)),
            "batch_label",
        ),
        (
            "data an array".into(),
            with(&valid, "data", json!([])),
            "data",
        ),
        (
            "data a string".into(),
            with(&valid, "data", json!("x")),
            "data",
        ),
        (
            "command an array".into(),
            with(&valid, "command", json!(["uuid"])),
            "command",
        ),
        (
            "command a string".into(),
            with(&valid, "command", json!("qa batch")),
            "command",
        ),
        (
            "batch_dir a number".into(),
            with(&valid, "batch_dir", json!(1)),
            "batch_dir",
        ),
        (
            "data.iteration not an integer".into(),
            with(
                &valid,
                "data",
                json!({"optimization": true, "iteration": "3"}),
            ),
            "iteration",
        ),
    ]);
    cases
}

fn commit_cases() -> Vec<(String, Value, &'static str)> {
    let valid = commit_body();
    let mut cases = envelope_cases(&valid);
    cases.extend([
        (
            "data an array".into(),
            with(&valid, "data", json!([])),
            "data",
        ),
        (
            "data a string".into(),
            with(&valid, "data", json!("x")),
            "data",
        ),
    ]);
    cases
}

/// Bodies that are not a JSON object at all.
fn raw_cases() -> Vec<(&'static str, &'static [u8])> {
    vec![
        ("not JSON", b"{\"project\": " as &[u8]),
        ("plain text", b"project=acme"),
        ("a JSON array", b"[{\"project\": \"acme/smoke\"}]"),
        ("a JSON string", b"\"acme/smoke\""),
        ("a JSON number", b"42"),
        ("JSON null", b"null"),
        ("invalid UTF-8", b"{\"project\": \"\xff\xfe\"}"),
    ]
}

#[test]
fn malformed_output_posts_are_rejected_and_write_nothing() {
    for_each_backend(ApiConfig::default(), |app| {
        let c = Client::new(app);
        let id = seed(&c);
        let before = snapshot(app, &c, id);
        for (name, body, field) in output_cases() {
            for path in ["/api/v1/output/", "/api/v1/output"] {
                let r = c.post(path, &body);
                assert_error(&r, 400, field, &format!("POST {path} with {name}"));
            }
        }
        for (name, raw) in raw_cases() {
            let r = c.request("POST", "/api/v1/output/", Some(raw));
            assert_error(&r, 400, "", &format!("POST output with {name}"));
        }
        // Deep nesting is refused by the parser, not by a stack overflow.
        let deep = format!(
            "{{\"data\": {}{}}}",
            "[".repeat(100_000),
            "]".repeat(100_000)
        );
        let r = c.request("POST", "/api/v1/output/", Some(deep.as_bytes()));
        assert_error(
            &r,
            400,
            "JSON",
            "POST output with JSON nested 100000 levels deep",
        );
        let r = c.request("POST", "/api/v1/output/", Some(b""));
        assert_error(&r, 400, "empty", "POST output with an empty body");
        let r = c.request("POST", "/api/v1/output/", None);
        assert_error(&r, 400, "empty", "POST output without a body");
        assert_eq!(snapshot(app, &c, id), before, "the database changed");
    });
}

#[test]
fn malformed_batch_posts_are_rejected_and_write_nothing() {
    for_each_backend(ApiConfig::default(), |app| {
        let c = Client::new(app);
        let id = seed(&c);
        let before = snapshot(app, &c, id);
        for (name, body, field) in batch_cases() {
            let r = c.post("/api/v1/batch/", &body);
            assert_error(&r, 400, field, &format!("POST batch with {name}"));
        }
        for (name, raw) in raw_cases() {
            let r = c.request("POST", "/api/v1/batch", Some(raw));
            assert_error(&r, 400, "", &format!("POST batch with {name}"));
        }
        let r = c.request("POST", "/api/v1/batch/", Some(b"  \n"));
        assert_error(&r, 400, "empty", "POST batch with an empty body");
        assert_eq!(snapshot(app, &c, id), before, "the database changed");
        // The same body, valid, is accepted (the cases differ by one field).
        let r = c.post(
            "/api/v1/batch/",
            &with(&batch_body(), "batch_label", json!("bad-input-batch")),
        );
        assert_eq!(r.status, 200, "{}", r.body);
    });
}

#[test]
fn malformed_commit_posts_are_rejected_and_write_nothing() {
    for_each_backend(ApiConfig::default(), |app| {
        let c = Client::new(app);
        let id = seed(&c);
        let before = snapshot(app, &c, id);
        for (name, body, field) in commit_cases() {
            for path in ["/api/v1/commit/", "/api/v1/commit"] {
                let r = c.post(path, &body);
                assert_error(&r, 400, field, &format!("POST {path} with {name}"));
            }
        }
        // The sha of the path is checked like the body's.
        let body = without(&commit_body(), &["commit_sha", "git_commit_sha"]);
        // (Spaces are allowed: `qa` sends `<local:Jane Doe>`, robustness.rs.)
        let r = c.post("/api/v1/commit/abc%0Adef", &body);
        assert_error(&r, 400, "commit", "POST commit/<sha with a newline>");
        for (name, raw) in raw_cases() {
            let r = c.request("POST", "/api/v1/commit/", Some(raw));
            assert_error(&r, 400, "", &format!("POST commit with {name}"));
        }
        // The body of POST /commit/ is optional, but the project is not.
        let r = c.request("POST", "/api/v1/commit/", Some(b""));
        assert_error(&r, 400, "project", "POST commit with an empty body");
        let r = c.request("POST", "/api/v1/commit/0123456789abcdef", None);
        assert_error(&r, 400, "project", "POST commit/<sha> without a body");
        assert_eq!(snapshot(app, &c, id), before, "the database changed");
    });
}

#[test]
fn malformed_output_puts_are_rejected_and_change_nothing() {
    for_each_backend(ApiConfig::default(), |app| {
        let c = Client::new(app);
        let id = seed(&c);
        let before = snapshot(app, &c, id);
        let cases: Vec<(&str, Value, &str)> = vec![
            (
                "is_pending a string",
                json!({"is_pending": "true"}),
                "is_pending",
            ),
            (
                "is_running a number",
                json!({"is_running": 0}),
                "is_running",
            ),
            (
                "is_failed a string",
                json!({"is_failed": "yes"}),
                "is_failed",
            ),
            ("data an array", json!({"data": ["note"]}), "data"),
            ("data a string", json!({"data": "note"}), "data"),
            ("metrics an array", json!({"metrics": [1]}), "metrics"),
            ("metrics a number", json!({"metrics": 1}), "metrics"),
            // One bad field spoils the whole request: the good one is not applied.
            (
                "a good and a bad field",
                json!({"data": {"note": "x"}, "metrics": "bad"}),
                "metrics",
            ),
        ];
        for (name, body, field) in cases {
            for path in [
                format!("/api/v1/output/{id}/"),
                format!("/api/v1/output/{id}"),
            ] {
                let r = c.put(&path, &body);
                assert_error(&r, 400, field, &format!("PUT {path} with {name}"));
            }
        }
        for (name, raw) in raw_cases() {
            let r = c.request("PUT", &format!("/api/v1/output/{id}/"), Some(raw));
            assert_error(&r, 400, "", &format!("PUT output with {name}"));
        }
        let r = c.request("PUT", &format!("/api/v1/output/{id}/"), Some(b""));
        assert_error(&r, 400, "empty", "PUT output with an empty body");
        assert_eq!(snapshot(app, &c, id), before, "the database changed");
        // An empty object is a valid no-op.
        let r = c.put(&format!("/api/v1/output/{id}/"), &json!({}));
        assert_eq!(r.status, 200, "{}", r.body);
        assert_eq!(r.json(), before.1);
    });
}

#[test]
fn bodies_over_the_limit_are_rejected_with_413() {
    let cfg = ApiConfig {
        body_limit: 4096,
        ..Default::default()
    };
    for_each_backend(cfg, |app| {
        let c = Client::new(app);
        // A real body (about 3 KB) fits.
        let id = seed(&c);
        let before = snapshot(app, &c, id);
        let big = with(
            &with(&output_body(), "rel_input_path", json!("images/big.jpg")),
            "data",
            json!({"padding": "x".repeat(5000)}),
        );
        for (method, path) in [
            ("POST", "/api/v1/output/".to_string()),
            ("POST", "/api/v1/batch/".to_string()),
            ("POST", "/api/v1/commit/".to_string()),
            ("PUT", format!("/api/v1/output/{id}/")),
        ] {
            let r = c.request(method, &path, Some(big.to_string().as_bytes()));
            assert_error(
                &r,
                413,
                "4096",
                &format!("{method} {path} with a body of 5 KB"),
            );
        }
        // Without a Content-Length (chunked), the limit holds while reading.
        let r = raw_chunked_post(&app.base, "/api/v1/output/", big.to_string().as_bytes());
        assert!(
            r.starts_with("HTTP/1.1 413"),
            "chunked body over the limit: {r}"
        );
        assert!(r.contains("\"error\""), "{r}");
        assert_eq!(snapshot(app, &c, id), before, "the database changed");
    });
}

/// Sends a POST with `Transfer-Encoding: chunked` on a raw socket and returns
/// the raw answer.
fn raw_chunked_post(base: &str, path: &str, body: &[u8]) -> String {
    use std::io::{Read, Write};
    let addr = base.trim_start_matches("http://");
    let mut s = std::net::TcpStream::connect(addr).expect("connect");
    s.set_read_timeout(Some(std::time::Duration::from_secs(30)))
        .unwrap();
    let mut req = format!(
        "POST {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\n\
         Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
    )
    .into_bytes();
    for chunk in body.chunks(1000) {
        req.extend_from_slice(format!("{:x}\r\n", chunk.len()).as_bytes());
        req.extend_from_slice(chunk);
        req.extend_from_slice(b"\r\n");
    }
    req.extend_from_slice(b"0\r\n\r\n");
    // The server may answer and close before reading everything.
    let _ = s.write_all(&req);
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    String::from_utf8_lossy(&out).into_owned()
}
