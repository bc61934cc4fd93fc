//! Route shadowing: every operation of the original's `/commit/`, `/output/`
//! and `/batch/` trees (and the other not-yet-built ones) reaches its own
//! route, never a greedy neighbour such as `POST /api/v1/commit/{sha:.+}`
//! (which would create a commit named after the path).
use qaboard_api::routes::STUB_ROUTES;
use qaboard_api::ApiConfig;
use qaboard_tests::{for_each_backend, Client};

#[test]
fn operations_not_built_yet_answer_501_on_their_own_route() {
    for_each_backend(ApiConfig::default(), |app| {
        let c = Client::new(app);
        for (method, path) in STUB_ROUTES {
            for path in [path.to_string(), format!("{}/", path.trim_end_matches('/'))] {
                let body: Option<&[u8]> = (*method != "GET").then_some(br#"{"id": 1}"#);
                let r = c.request(method, &path, body);
                assert_eq!(r.status, 501, "{method} {path}: {}", r.body);
                let error = r.json()["error"].as_str().unwrap_or_default().to_string();
                assert!(
                    error.starts_with("not implemented yet: "),
                    "{method} {path}: {error}"
                );
            }
        }
        // A commit id never holds a slash: these are no commits to create.
        for path in ["/api/v1/commit/0123abc/other", "/api/v1/commit/a/b/c/"] {
            let r = c.post(path, &serde_json::json!({"project": "group/repo"}));
            assert_eq!(r.status, 400, "POST {path}: {}", r.body);
        }
        // None of the above created anything.
        let r = c.get("/api/v1/projects");
        assert_eq!(r.status, 200);
        assert_eq!(r.json(), serde_json::json!({}), "{}", r.body);
    });
}

#[test]
fn built_operations_keep_their_routes() {
    for_each_backend(ApiConfig::default(), |app| {
        let c = Client::new(app);
        // Reads of unknown things answer 404 from their own handlers.
        let r = c.get("/api/v1/output/1/");
        assert_eq!(r.status, 404, "{}", r.body);
        let r = c.get("/api/v1/output/1/manifest/");
        assert_eq!(r.status, 404, "{}", r.body);
        let r = c.get("/api/v1/commit/0123abc?project=group/repo");
        assert_eq!(r.status, 404, "{}", r.body);
        // Creating a commit by its id still works.
        let r = c.post(
            "/api/v1/commit/0123abc/",
            &serde_json::json!({"project": "group/repo"}),
        );
        assert_eq!(r.status, 200, "{}", r.body);
        let r = c.get("/api/v1/commit/0123abc?project=group/repo");
        assert_eq!(r.status, 200, "{}", r.body);
    });
}
