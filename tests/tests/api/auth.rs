//! Write tokens: with tokens configured, writes need
//! `Authorization: Bearer <token>` (what `qa` sends when `QA_TOKEN` is set);
//! reads need one only with `read_requires_token`.

use crate::ingest_support::*;
use qaboard_api::ApiConfig;
use qaboard_tests::{encode, for_each_backend, reference_dir, scenario, Client, Resp, TestApp};
use serde_json::{json, Value};

const TOKEN: &str = "s3cret";

fn config(read_requires_token: bool) -> ApiConfig {
    ApiConfig {
        write_tokens: vec![TOKEN.into()],
        read_requires_token,
        ..Default::default()
    }
}

fn assert_401(r: &Resp, ctx: &str) {
    assert_eq!(r.status, 401, "{ctx}: {}", r.body);
    let j = r.json();
    assert!(
        j["error"].as_str().is_some_and(|e| !e.is_empty()),
        "{ctx}: {j}"
    );
}

/// A client sending a raw `Authorization` header.
fn request_with_header(app: &TestApp, method: &str, path: &str, auth: &str, body: &Value) -> Resp {
    let agent = ureq::AgentBuilder::new().redirects(0).build();
    let r = agent
        .request(method, &format!("{}{path}", app.base))
        .set("Authorization", auth)
        .set("Content-Type", "application/json")
        .send_bytes(body.to_string().as_bytes());
    let r = match r {
        Ok(r) | Err(ureq::Error::Status(_, r)) => r,
        Err(e) => panic!("{method} {path}: {e}"),
    };
    let status = r.status();
    Resp {
        status,
        body: r.into_string().unwrap_or_default(),
        headers: Vec::new(),
    }
}

/// The four writes of the CLI, with valid bodies; the PUT targets `output_id`.
fn writes(output_id: i64) -> Vec<(&'static str, String, Value)> {
    let sha = "feedfeedfeedfeedfeedfeedfeedfeedfeedfeed";
    let new_commit = |b: Value| {
        with(
            &with(&b, "commit_sha", json!(sha)),
            "git_commit_sha",
            json!(sha),
        )
    };
    vec![
        ("POST", "/api/v1/output/".into(), new_commit(output_body())),
        ("POST", "/api/v1/batch/".into(), new_commit(batch_body())),
        ("POST", "/api/v1/commit/".into(), new_commit(commit_body())),
        ("POST", format!("/api/v1/commit/{sha}"), commit_body()),
        (
            "PUT",
            format!("/api/v1/output/{output_id}/"),
            json!({"metrics": {"psnr": 0.0}, "is_failed": true}),
        ),
    ]
}

#[test]
fn writes_need_a_valid_token() {
    for_each_backend(config(false), |app| {
        let anonymous = Client::new(app);
        let authorized = Client::new(app).with_token(TOKEN);

        // Nothing can be written without the token...
        let r = anonymous.post("/api/v1/output/", &output_body());
        assert_401(&r, "POST output without a token");
        assert!(
            counts(app).iter().all(|(_, n)| *n == 0),
            "{:?}",
            counts(app)
        );

        // ...and with it, the CLI's writes go through.
        let r = authorized.post("/api/v1/output/", &output_body());
        assert_eq!(r.status, 200, "{}", r.body);
        let output = r.json();
        let id = output["id"].as_i64().unwrap();
        let before = counts(app);

        let wrong = Client::new(app).with_token("s3cret-not");
        for (method, path, body) in writes(id) {
            let bytes = body.to_string().into_bytes();
            assert_401(
                &anonymous.request(method, &path, Some(&bytes)),
                &format!("{method} {path} without a token"),
            );
            assert_401(
                &wrong.request(method, &path, Some(&bytes)),
                &format!("{method} {path} with a wrong token"),
            );
            for header in [
                "Bearer ",
                "Bearer",
                "s3cret",
                "Basic s3cret",
                "Token s3cret",
                "Bearer s3cret s3cret",
            ] {
                let r = request_with_header(app, method, &path, header, &body);
                assert_401(
                    &r,
                    &format!("{method} {path} with 'Authorization: {header}'"),
                );
            }
            // Even a malformed body is refused before being read.
            let r = anonymous.request(method, &path, Some(b"not json"));
            assert_eq!(r.status, 401, "{method} {path}: {}", r.body);
        }
        assert_eq!(counts(app), before, "a refused write wrote something");
        let r = anonymous.get(&format!("/api/v1/output/{id}/"));
        assert_eq!(r.json(), output, "a refused PUT changed the output");

        for (method, path, body) in writes(id) {
            let r = authorized.request(method, &path, Some(body.to_string().as_bytes()));
            assert_eq!(r.status, 200, "{method} {path} with the token: {}", r.body);
        }
        let r = anonymous.get(&format!("/api/v1/output/{id}/"));
        assert_eq!(
            r.json()["is_failed"],
            true,
            "the authorized PUT was applied"
        );
    });
}

#[test]
fn reads_stay_open_unless_configured() {
    for_each_backend(config(false), |app| {
        let authorized = Client::new(app).with_token(TOKEN);
        let r = authorized.post("/api/v1/output/", &output_body());
        assert_eq!(r.status, 200, "{}", r.body);
        let id = r.json()["id"].as_i64().unwrap();
        let anonymous = Client::new(app);
        let sha = str_of(&output_body(), "commit_sha").to_string();
        for path in [
            format!("/api/v1/output/{id}/"),
            format!("/api/v1/output/{id}"),
            format!("/api/v1/commit/{sha}?project={}", encode("acme/smoke")),
            format!("/api/v1/commit/?project={}", encode("acme/smoke")),
        ] {
            let r = anonymous.get(&path);
            assert_eq!(r.status, 200, "GET {path}: {}", r.body);
        }
    });
}

#[test]
fn reads_need_the_token_when_configured() {
    for_each_backend(config(true), |app| {
        let authorized = Client::new(app).with_token(TOKEN);
        let r = authorized.post("/api/v1/output/", &output_body());
        assert_eq!(r.status, 200, "{}", r.body);
        let id = r.json()["id"].as_i64().unwrap();
        let sha = str_of(&output_body(), "commit_sha").to_string();
        let anonymous = Client::new(app);
        let wrong = Client::new(app).with_token("nope");
        for path in [
            format!("/api/v1/output/{id}/"),
            format!("/api/v1/commit/{sha}?project={}", encode("acme/smoke")),
            format!("/api/v1/commit/?project={}", encode("acme/smoke")),
        ] {
            assert_401(
                &anonymous.get(&path),
                &format!("GET {path} without a token"),
            );
            assert_401(&wrong.get(&path), &format!("GET {path} with a wrong token"));
            let r = authorized.get(&path);
            assert_eq!(r.status, 200, "GET {path} with the token: {}", r.body);
        }
        // Health checks of orchestrators carry no token.
        assert_eq!(anonymous.get("/healthz").status, 200);
    });
}

#[test]
fn the_cli_token_of_the_captured_run_is_accepted() {
    // Scenario 9 ran `qa` with QA_TOKEN=…: replay it with that token configured.
    let name = "9_run_share_with_QA_TOKEN";
    let dir = reference_dir().join("qa-cli-requests").join(name);
    let first = std::fs::read_dir(&dir)
        .unwrap()
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .min()
        .unwrap();
    let captured: Value = serde_json::from_slice(&std::fs::read(first).unwrap()).unwrap();
    let header = captured["headers"]["Authorization"]
        .as_str()
        .expect("captured Authorization header");
    let token = header.strip_prefix("Bearer ").expect("a bearer token");
    let cfg = ApiConfig {
        write_tokens: vec!["another-one".into(), token.into()],
        ..Default::default()
    };
    for_each_backend(cfg, |app| {
        let with_token = Client::new(app).with_token(token);
        let anonymous = Client::new(app);
        for (method, path, body) in scenario(name) {
            let bytes = body.map(|b| b.to_string().into_bytes());
            assert_401(&anonymous.request(&method, &path, bytes.as_deref()), &path);
            let r = with_token.request(&method, &path, bytes.as_deref());
            assert_eq!(r.status, 200, "{method} {path}: {}", r.body);
        }
        assert_eq!(count(app, "outputs"), 1);
    });
}
