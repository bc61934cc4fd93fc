use qaboard_api::ApiConfig;
use qaboard_tests::{for_each_backend, Client};

#[test]
fn healthz_and_unknown_routes_answer_json() {
    for_each_backend(ApiConfig::default(), |app| {
        let c = Client::new(app);
        let r = c.get("/healthz");
        assert_eq!(r.status, 200);
        assert_eq!(r.json()["status"], "OK");
        let r = c.get("/nope");
        assert_eq!(r.status, 404);
        assert!(r.json()["error"].is_string());
    });
}

#[test]
fn methods_preflight_and_trailing_slashes() {
    for_each_backend(ApiConfig::default(), |app| {
        let c = Client::new(app);
        // A known path with a method it does not serve: 405 JSON.
        let r = c.request("DELETE", "/api/v1/projects", None);
        assert_eq!(r.status, 405);
        assert!(r.json()["error"].is_string());
        // CORS preflight on a known path and on an unknown one under /api.
        for path in ["/api/v1/output/", "/api/v1/whatever"] {
            let r = c.request("OPTIONS", path, None);
            assert_eq!(r.status, 200, "{path}");
            assert_eq!(r.header("access-control-allow-origin"), Some("*"));
        }
        // Unknown /api paths are 404 JSON whatever the method.
        let r = c.get("/api/v1/nope");
        assert_eq!(r.status, 404);
        assert!(r.json()["error"].is_string());
        // No redirects: both spellings of the commit read answer the same.
        let body = std::fs::read_to_string(
            qaboard_tests::reference_dir().join("original-responses/01_post_output_request.json"),
        )
        .unwrap();
        assert_eq!(
            c.request("POST", "/api/v1/output", Some(body.as_bytes()))
                .status,
            200
        );
        let a = c.get("/api/v1/commit/462a23fc9356a1fa3f792828b530ea6d4eeb9803?project=acme/smoke");
        let b =
            c.get("/api/v1/commit/462a23fc9356a1fa3f792828b530ea6d4eeb9803/?project=acme/smoke");
        assert_eq!((a.status, b.status), (200, 200));
        assert_eq!(a.json()["id"], b.json()["id"]);
        let r = c.get("/api/v1/commits/master/?project=acme/smoke&from=2026-11-01T00:00:00.000Z");
        assert_eq!(r.status, 200);
        assert_eq!(r.json().as_array().map(Vec::len), Some(1));
    });
}

#[test]
fn strings_needing_escapes_survive_the_commit_read() {
    for_each_backend(ApiConfig::default(), |app| {
        let c = Client::new(app);
        let path =
            qaboard_tests::reference_dir().join("original-responses/01_post_output_request.json");
        let mut body: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
        let tricky = "say \"hi\" \\ back\\slash\n\tnew line é ✓";
        body["extra_parameters"] = serde_json::json!({"forwarded_args": [tricky]});
        body["metrics"]["note"] = serde_json::json!(tricky);
        body["data"]["note"] = serde_json::json!(tricky);
        body["input_metadata"] = serde_json::json!({"comment": tricky});
        assert_eq!(c.post("/api/v1/output/", &body).status, 200);
        let r = c.get("/api/v1/commit/462a23fc9356a1fa3f792828b530ea6d4eeb9803?project=acme/smoke");
        assert_eq!(r.status, 200);
        let commit = r.json();
        let outputs = commit["batches"]["default"]["outputs"].as_object().unwrap();
        let o = outputs.values().next().unwrap();
        assert_eq!(o["extra_parameters"]["forwarded_args"][0], tricky);
        assert_eq!(o["metrics"]["note"], tricky);
        assert_eq!(o["data"]["note"], tricky);
        assert_eq!(o["test_input_metadata"]["comment"], tricky);
    });
}

#[test]
fn extreme_dates_in_the_commits_window_never_fail_the_server() {
    for_each_backend(ApiConfig::default(), |app| {
        let c = Client::new(app);
        let body = std::fs::read_to_string(
            qaboard_tests::reference_dir().join("original-responses/01_post_output_request.json"),
        )
        .unwrap();
        assert_eq!(
            c.request("POST", "/api/v1/output/", Some(body.as_bytes()))
                .status,
            200
        );
        let list = |q: &str| c.get(&format!("/api/v1/commits/?project=acme/smoke&{q}"));
        let all = list("from=0001-01-01T00:00:00Z&to=9999-12-31T23:59:59Z");
        assert_eq!(all.status, 200);
        assert_eq!(
            all.json().as_array().map(Vec::len),
            Some(1),
            "the whole range holds the commit"
        );
        assert_eq!(
            list("from=0001-01-01&to=0001-01-01").json(),
            serde_json::json!([])
        );
        let r = list("from=-262143-01-01&to=2020-01-01");
        assert_eq!(r.status, 400);
        assert!(r.json()["error"].as_str().unwrap().contains("from"));
    });
}
