//! Issue 9, items 1–4, 11, 12 and the metrics wiring: values the databases
//! cannot store, what the real `qa` CLI sends, URL normalisation, HTTP
//! method semantics, resource limits and JSON error bodies, each on both
//! databases through the real server (docs/robustness.md).
use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::Arc;
use std::time::Duration;

use qaboard_api::extract::BodyBudget;
use qaboard_api::hardening::{INDEXED_FIELDS, INDEXED_FIELD_MAX_BYTES, ROUTE_METHODS};
use qaboard_api::ApiConfig;
use qaboard_tests::{for_each_backend, Client, Resp, TestApp};
use serde_json::{json, Value};

use crate::ingest_support::{batch_body, commit_body, output_body, with};

/// Asserts `r` is an error with a JSON `{"error": …}` body and returns the message.
fn json_error(r: &Resp, ctx: &str) -> String {
    let v: Value = serde_json::from_str(&r.body).unwrap_or_else(|e| {
        panic!(
            "{ctx}: status {} body not JSON ({e}): {:?}",
            r.status, r.body
        )
    });
    v["error"]
        .as_str()
        .unwrap_or_else(|| panic!("{ctx}: no 'error' in {}", r.body))
        .to_string()
}

fn long(n: usize) -> String {
    // Letters that do not compress well, like the issue's random letters.
    (0..n)
        .map(|i| (b'a' + ((i * 7919 + i / 26) % 26) as u8) as char)
        .collect()
}

/// One request of the hostile corpus: name, method, path, raw body, and the
/// status wanted (`None`: any non-5xx, the same on both databases).
type Case = (String, &'static str, String, Option<Vec<u8>>, Option<u16>);

fn hostile_corpus() -> Vec<Case> {
    let out = output_body();
    let mut cases: Vec<Case> = Vec::new();
    let mut push = |name: String, method, path: &str, body: Option<Value>, want| {
        cases.push((
            name,
            method,
            path.to_string(),
            body.map(|b| b.to_string().into_bytes()),
            want,
        ));
    };
    push(
        "NUL in a metric".into(),
        "POST",
        "/api/v1/output/",
        Some(with(&out, "metrics", json!({"log": "a\u{0}b"}))),
        Some(400),
    );
    push(
        "NUL in a data key".into(),
        "POST",
        "/api/v1/output/",
        Some(with(&out, "data", json!({"k\u{0}": 1}))),
        Some(400),
    );
    push(
        "NUL in a configuration".into(),
        "POST",
        "/api/v1/output/",
        Some(with(
            &out,
            "configurations",
            json!(["base", {"x": "\u{0}"}]),
        )),
        Some(400),
    );
    for field in INDEXED_FIELDS {
        push(
            format!("NUL in {field}"),
            "POST",
            "/api/v1/output/",
            Some(with(&out, field, json!("a\u{0}b"))),
            Some(400),
        );
        push(
            format!("3,000 letters in {field}"),
            "POST",
            "/api/v1/output/",
            Some(with(&out, field, json!(long(3000)))),
            Some(400),
        );
    }
    push(
        "a long metric is fine".into(),
        "POST",
        "/api/v1/output/",
        Some(with(&out, "metrics", json!({"log": long(100_000)}))),
        Some(200),
    );
    push(
        "long batch label".into(),
        "POST",
        "/api/v1/batch/",
        Some(with(&batch_body(), "batch_label", json!(long(3000)))),
        Some(400),
    );
    push(
        "NUL in a commit message".into(),
        "POST",
        "/api/v1/commit/",
        Some(with(&commit_body(), "commit_message", json!("x\u{0}"))),
        Some(400),
    );
    push(
        "long commit branch".into(),
        "POST",
        "/api/v1/commit/",
        Some(with(&commit_body(), "commit_branch", json!(long(3000)))),
        Some(400),
    );
    push(
        "a year PostgreSQL cannot store".into(),
        "POST",
        "/api/v1/output/",
        Some(with(
            &out,
            "commit_authored_datetime",
            json!("-4713-01-01T00:00:00Z"),
        )),
        Some(200),
    );
    push(
        "NUL in a milestone".into(),
        "POST",
        "/api/v1/project/milestones/",
        Some(json!({"project": "acme/smoke", "key": "m\u{0}", "milestone": {"label": "x"}})),
        Some(400),
    );
    push(
        "NUL in an output update".into(),
        "PUT",
        "/api/v1/output/1/",
        Some(json!({"metrics": {"a": "\u{0}"}})),
        Some(400),
    );
    cases.push((
        "a lone surrogate".into(),
        "POST",
        "/api/v1/output/".into(),
        Some(br#"{"project": "acme/smoke", "metrics": {"note": "caf\udce9"}}"#.to_vec()),
        Some(400),
    ));
    let long_q = long(3000);
    for (path, want) in [
        ("/api/v1/project?project=a%00b".to_string(), Some(400)),
        ("/api/v1/project/branches?project=a%00b".into(), Some(400)),
        ("/api/v1/commits?project=a%00b".into(), Some(400)),
        (
            "/api/v1/commits/ma%00ster?project=acme/smoke".into(),
            Some(400),
        ),
        (
            "/api/v1/commit/abc%00def?project=acme/smoke".into(),
            Some(400),
        ),
        (
            "/api/v1/commit?project=acme/smoke&commit=a%00".into(),
            Some(400),
        ),
        ("/api/v1/output/1%002/".into(), Some(400)),
        ("/api/v1/project/milestones?project=a%00".into(), Some(400)),
        ("/api/v1/proj%00ect".into(), Some(400)),
        ("/api/v1/project?pro%00ject=a".into(), Some(400)),
        (format!("/api/v1/project?project={long_q}"), Some(404)),
        (format!("/api/v1/project/branches?project={long_q}"), None),
        (format!("/api/v1/commits?project={long_q}"), None),
        (format!("/api/v1/commit/{long_q}?project=acme/smoke"), None),
        ("/api/v1/project?project=%FF%FE".into(), None),
        ("/api/v1/output/99999999999999999999999/".into(), Some(404)),
    ] {
        cases.push((format!("GET {path:.60}"), "GET", path, None, want));
    }
    cases
}

#[test]
fn hostile_corpus_same_status_on_both_databases() {
    let corpus = hostile_corpus();
    let runs = std::sync::Mutex::new(Vec::new());
    for_each_backend(ApiConfig::default(), |app| {
        let c = Client::new(app);
        // A stored output, so reads and updates have something to find.
        assert_eq!(c.post("/api/v1/output/", &output_body()).status, 200);
        let mut statuses = Vec::new();
        for (name, method, path, body, want) in &corpus {
            let r = c.request(method, path, body.as_deref());
            assert!(r.status < 500, "{name}: {} {}", r.status, r.body);
            if r.status >= 400 {
                let msg = json_error(&r, name);
                if r.status == 400 && name.starts_with("NUL in ") && method != &"GET" {
                    let field = name.trim_start_matches("NUL in ");
                    if INDEXED_FIELDS.contains(&field) {
                        assert!(msg.contains(&format!("'{field}'")), "{name}: {msg}");
                    }
                }
                if name.starts_with("3,000 letters in ") {
                    let field = name.trim_start_matches("3,000 letters in ");
                    assert!(msg.contains(field), "{name}: {msg}");
                }
            }
            if let Some(w) = want {
                assert_eq!(r.status, *w, "{name}: {}", r.body);
            }
            statuses.push((name.clone(), r.status));
        }
        runs.lock().unwrap().push(statuses);
    });
    let runs = runs.into_inner().unwrap();
    for other in &runs[1..] {
        assert_eq!(&runs[0], other, "statuses differ between the databases");
    }
}

#[test]
fn length_cap_is_on_bytes_and_inclusive() {
    for_each_backend(ApiConfig::default(), |app| {
        let c = Client::new(app);
        let at_cap = "é".repeat(INDEXED_FIELD_MAX_BYTES / 2);
        let r = c.post(
            "/api/v1/output/",
            &with(&output_body(), "batch_label", json!(at_cap)),
        );
        assert_eq!(r.status, 200, "{}", r.body);
        let over = format!("{at_cap}x");
        let r = c.post(
            "/api/v1/output/",
            &with(&output_body(), "batch_label", json!(over)),
        );
        assert_eq!(r.status, 400, "{}", r.body);
    });
}

#[test]
fn what_the_cli_sends_is_accepted() {
    for_each_backend(ApiConfig::default(), |app| {
        let c = Client::new(app);
        // Outside a git repository: the user's full name, with a space.
        let body = with(&output_body(), "commit_sha", json!("<local:Jane Doe>"));
        let body = with(&body, "git_commit_sha", json!("<local:Jane Doe>"));
        let r = c.post("/api/v1/output/", &body);
        assert_eq!(r.status, 200, "{}", r.body);
        for (date, want) in [
            ("Fri Mar 1 10:00:00 2024 +0100", Some("2024-03-01T09:00:00")),
            (
                "Fri, 01 Mar 2024 10:00:00 +0100",
                Some("2024-03-01T09:00:00"),
            ),
            ("last tuesday", None),
            ("", None),
        ] {
            let sha = format!("abc{}", date.len());
            let body = with(&commit_body(), "commit_sha", json!(sha));
            let body = with(&body, "commit_authored_datetime", json!(date));
            let r = c.post("/api/v1/commit/", &body);
            assert_eq!(r.status, 200, "{date}: {}", r.body);
            let project = commit_body()["project"].as_str().unwrap().to_string();
            let r = c.get(&format!(
                "/api/v1/commit/{sha}?project={}",
                qaboard_tests::encode(&project)
            ));
            assert_eq!(r.status, 200, "{date}: {}", r.body);
            if let Some(w) = want {
                let got = r.json()["authored_datetime"].to_string();
                assert!(got.contains(w), "{date}: {got} {}", r.body);
            }
        }
        // A non-string date is cosmetic too.
        let body = with(
            &commit_body(),
            "commit_authored_datetime",
            json!(1700000000),
        );
        assert_eq!(c.post("/api/v1/commit/", &body).status, 200);
        // Still refused: control characters in a sha.
        let body = with(&commit_body(), "commit_sha", json!("abc\ndef"));
        assert_eq!(c.post("/api/v1/commit/", &body).status, 400);
    });
}

#[test]
fn repeated_slashes_are_merged_without_redirect() {
    for_each_backend(ApiConfig::default(), |app| {
        let c = Client::new(app);
        // QABOARD_URL=http://host:5151/ makes the CLI post here.
        let r = c.post("//api/v1/output/", &output_body());
        assert_eq!(r.status, 200, "{}", r.body);
        for path in [
            "//healthz",
            "/healthz//",
            "//api//v1///projects",
            "/api/v1/projects//",
            "//api/v1/projects",
        ] {
            let r = c.get(path);
            assert_eq!(r.status, 200, "{path}: {}", r.body);
        }
        // Trailing-slash-insensitive routes stay so.
        assert_eq!(c.get("/api/v1/projects").status, 200);
        assert_eq!(c.get("/api/v1/projects/").status, 200);
        let r = c.get("/api/v1/projects");
        assert!(r.body.contains("acme/smoke"), "{}", r.body);
    });
}

/// GET routes and a path for each (query included).
fn get_paths() -> Vec<String> {
    let mut v: Vec<String> = ROUTE_METHODS
        .iter()
        .filter(|(_, m)| m.contains(&"GET"))
        .map(|(p, _)| fill(p))
        .collect();
    v.push("/api/v1/project?project=acme/smoke".into());
    v.push("/api/v1/commits?project=acme/smoke".into());
    v
}

/// A concrete path of a route template.
fn fill(template: &str) -> String {
    let mut out = String::new();
    let mut in_param = false;
    for ch in template.chars() {
        match ch {
            '{' => {
                in_param = true;
                out.push('1');
            }
            '}' => in_param = false,
            c if !in_param => out.push(c),
            _ => {}
        }
    }
    if qaboard_api::registry::find(template)
        .is_some_and(|r| r.mount == qaboard_api::registry::Mount::Root)
    {
        out
    } else {
        format!("/api/v1{out}")
    }
}

#[test]
fn head_answers_like_get_without_a_body() {
    for_each_backend(ApiConfig::default(), |app| {
        let c = Client::new(app);
        assert_eq!(c.post("/api/v1/output/", &output_body()).status, 200);
        for path in get_paths() {
            let g = c.get(&path);
            let h = c.request("HEAD", &path, None);
            assert_eq!(h.status, g.status, "HEAD {path}");
            assert!(h.body.is_empty(), "HEAD {path}: {}", h.body);
            assert_eq!(h.header("content-type"), g.header("content-type"), "{path}");
        }
        let (status, head, body) = raw(
            app,
            "HEAD /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        );
        assert_eq!(status, 200, "{head}");
        assert!(body.is_empty(), "{body:?}");
        assert!(
            head.to_ascii_lowercase().contains("content-length: 15"),
            "{head}"
        );
    });
}

#[test]
fn every_405_lists_allow_and_has_a_json_body() {
    for_each_backend(ApiConfig::default(), |app| {
        let c = Client::new(app);
        // The file servers (`/s/…`, `/iiif/…`) have their own fallbacks.
        let routes = ROUTE_METHODS
            .iter()
            .filter(|(t, _)| !t.starts_with("/s/") && !t.starts_with("/iiif/"));
        for (template, methods) in routes {
            let path = fill(template);
            for m in ["GET", "POST", "PUT", "DELETE", "PATCH"] {
                if methods.contains(&m) {
                    continue;
                }
                let body: Option<&[u8]> = (m != "GET").then_some(b"{}");
                let r = c.request(m, &path, body);
                assert_eq!(r.status, 405, "{m} {path}: {}", r.body);
                json_error(&r, &format!("{m} {path}"));
                let allow = r
                    .header("allow")
                    .unwrap_or_else(|| panic!("{m} {path}: no Allow"));
                for want in methods.iter() {
                    assert!(allow.contains(want), "{m} {path}: Allow {allow}");
                }
                assert!(!allow.contains(m), "{m} {path}: Allow {allow}");
            }
        }
        let r = c.post("/healthz", &json!({}));
        assert_eq!(r.status, 405);
        assert_eq!(r.header("allow"), Some("GET, HEAD, OPTIONS"));
        assert!(json_error(&r, "POST /healthz").contains("not allowed"));
    });
}

#[test]
fn errors_the_router_answers_are_json() {
    for_each_backend(ApiConfig::default(), |app| {
        let c = Client::new(app);
        for (m, path) in [
            ("GET", "/nope"),
            ("POST", "/metrics"),
            ("GET", "/api/v1/nope"),
            ("PATCH", "/api/v1/projects"),
        ] {
            let r = c.request(m, path, None);
            assert!(r.status >= 400, "{m} {path}");
            json_error(&r, &format!("{m} {path}"));
        }
        // Parser-level errors: actix-http answers them before any
        // middleware; the connection wrapper (`qaboard_api::wire`) gives
        // them JSON bodies too (docs/robustness.md, "Error bodies").
        let many_headers: String = (0..200).map(|i| format!("X-H{i}: v\r\n")).collect();
        let big = format!(
            "GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: {}\r\n\r\n",
            "a".repeat(300_000)
        );
        for (request, expected) in [
            ("GARBAGE\r\n\r\n".to_string(), 400),
            (
                "GET /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: x\r\n\r\n".into(),
                400,
            ),
            (
                format!("GET /healthz HTTP/1.1\r\nHost: x\r\n{many_headers}\r\n"),
                431,
            ),
            (big, 431),
        ] {
            let (status, head, body) = raw(app, &request);
            assert_eq!(status, expected, "{}", &request[..20]);
            assert!(
                head.to_ascii_lowercase()
                    .contains("content-type: application/json"),
                "{head}"
            );
            let v: serde_json::Value = serde_json::from_str(&body).unwrap();
            assert!(v["error"].is_string(), "{body}");
        }
    });
}

/// Sends `request` on a new connection and reads until the server closes
/// it (bounded by a 60 s read timeout): status, head, body.
fn raw(app: &TestApp, request: &str) -> (u16, String, String) {
    let addr = app.base.trim_start_matches("http://");
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
    let _ = s.write_all(request.as_bytes());
    read_response(&mut s)
}

fn read_response(s: &mut TcpStream) -> (u16, String, String) {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        match s.read(&mut chunk) {
            Ok(0) => break,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
            Err(e) if buf.is_empty() => panic!("no response: {e}"),
            Err(_) => break,
        }
        if let Some(end) = find(&buf, b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buf[..end]).to_string();
            let len = head
                .lines()
                .find_map(|l| {
                    let (k, v) = l.split_once(':')?;
                    k.eq_ignore_ascii_case("content-length")
                        .then(|| v.trim().parse::<usize>().ok())?
                })
                .unwrap_or(0);
            if buf.len() >= end + 4 + len {
                break;
            }
        }
    }
    let text = String::from_utf8_lossy(&buf).to_string();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no status line: {head:?}"));
    (status, head.to_string(), body.to_string())
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

#[test]
fn a_slow_body_is_cut_off_with_408() {
    let cfg = ApiConfig {
        body_timeout: Duration::from_secs(1),
        ..ApiConfig::default()
    };
    for_each_backend(cfg, |app| {
        let addr = app.base.trim_start_matches("http://");
        let mut s = TcpStream::connect(addr).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
        s.write_all(
            b"POST /api/v1/output/ HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{\"pro",
        )
        .unwrap();
        // The client never sends the rest: the server answers and closes.
        let (status, _, body) = read_response(&mut s);
        assert_eq!(status, 408, "{body}");
        assert!(body.contains("did not arrive"), "{body}");
    });
}

#[test]
fn body_memory_beyond_the_budget_answers_503() {
    let cfg = ApiConfig {
        body_budget: Arc::new(BodyBudget::new(64 * 1024, Duration::from_millis(200))),
        ..ApiConfig::default()
    };
    for_each_backend(cfg, |app| {
        let c = Client::new(app);
        // A body larger than the whole budget can never fit.
        let big = with(&output_body(), "metrics", json!({"log": long(100_000)}));
        let r = c.post("/api/v1/output/", &big);
        assert_eq!(r.status, 503, "{}", r.body);
        assert!(json_error(&r, "503").contains("too many request bodies"));
        // A slow client holds most of the budget: others wait, then 503.
        let addr = app.base.trim_start_matches("http://");
        let mut slow = TcpStream::connect(addr).unwrap();
        slow.write_all(
            b"POST /api/v1/output/ HTTP/1.1\r\nHost: x\r\nContent-Length: 65000\r\n\r\n",
        )
        .unwrap();
        slow.write_all(&vec![b' '; 60_000]).unwrap();
        let medium = with(&output_body(), "metrics", json!({"log": long(20_000)}));
        let mut got = Vec::new();
        for _ in 0..100 {
            let r = c.post("/api/v1/output/", &medium);
            got.push(r.status);
            if r.status == 503 {
                break;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        assert_eq!(got.last(), Some(&503), "{got:?}");
        // Once the slow client goes, the memory is back.
        drop(slow);
        let mut ok = false;
        for _ in 0..100 {
            if c.post("/api/v1/output/", &medium).status == 200 {
                ok = true;
                break;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        assert!(ok, "the budget was not given back");
    });
}

#[test]
fn metrics_count_ingestion_by_route_template() {
    for_each_backend(ApiConfig::default(), |app| {
        let c = Client::new(app);
        assert_eq!(c.post("/api/v1/output/", &output_body()).status, 200);
        assert_eq!(c.get("/api/v1/output/1/").status, 200);
        let r = c.get("/metrics");
        assert_eq!(r.status, 200);
        let text = &r.body;
        assert!(
            text.contains("qaboard_ingested_total{kind=\"output\"} 1"),
            "{text}"
        );
        assert!(
            text.contains("route=\"/api/v1/output/\"") || text.contains("route=\"/api/v1/output\""),
            "{text}"
        );
        assert!(
            text.contains("route=\"/api/v1/output/{id}/\"")
                || text.contains("route=\"/api/v1/output/{id}\""),
            "{text}"
        );
        assert!(text.contains("qaboard_db_pool_connections"), "{text}");
        assert!(text.contains("qaboard_response_cache_hits_total"), "{text}");
    });
}
