//! Route shadowing: every operation of the original's `/commit/`, `/output/`
//! and `/batch/` trees (and the other not-yet-built ones) reaches its own
//! handler, never a greedy neighbour such as `POST /api/v1/commit/{sha:.+}`
//! (which would create a commit named after the path).
use qaboard_api::routes::STUB_ROUTES;
use qaboard_api::ApiConfig;
use qaboard_tests::{for_each_backend, Client};

/// The operations of the original's `/commit/`, `/output/`, `/batch/` trees
/// and the other routes the webapp calls beyond reads, as `(method, path)`
/// with parameters filled in (ids that do not exist).
const ORIGINAL_OPERATIONS: &[(&str, &str)] = &[
    ("POST", "/api/v1/output/redo/1/"),
    ("DELETE", "/api/v1/output/1/"),
    ("GET", "/api/v1/output/image/pixel"),
    ("POST", "/api/v1/output/diff/image"),
    ("POST", "/api/v1/output/diff/report"),
    ("POST", "/api/v1/batch/stop/"),
    ("POST", "/api/v1/batch/redo/"),
    ("POST", "/api/v1/batch/rename/"),
    ("POST", "/api/v1/batch/move/"),
    ("DELETE", "/api/v1/batch/1/"),
    ("POST", "/api/v1/commit/save-artifacts/"),
    ("POST", "/api/v1/commit/0123abc/batch"),
    ("DELETE", "/api/v1/commit/group/repo/0123abc/batches/"),
    ("DELETE", "/api/v1/commit/0123abc/batches/"),
    ("POST", "/api/v1/tests/group"),
    ("GET", "/api/v1/export/"),
    ("POST", "/api/v1/user/signup/"),
    ("POST", "/api/v1/user/auth/"),
    ("POST", "/api/v1/user/logout/"),
    ("GET", "/api/v1/user/me/"),
    ("GET", "/api/v1/gitlab/proxy"),
    ("POST", "/api/v1/gitlab/job/"),
    ("POST", "/api/v1/jenkins/build/"),
    ("POST", "/api/v1/jenkins/build/trigger/"),
    ("POST", "/api/v1/webhook/proxy/"),
    ("POST", "/webhook/gitlab"),
];

#[test]
fn every_operation_reaches_its_own_handler() {
    for_each_backend(ApiConfig::default(), |app| {
        let c = Client::new(app);
        let operations = ORIGINAL_OPERATIONS.iter().chain(STUB_ROUTES);
        for (method, path) in operations {
            for path in [path.to_string(), format!("{}/", path.trim_end_matches('/'))] {
                let body: Option<&[u8]> = (*method != "GET").then_some(br#"{"id": 1}"#);
                let r = c.request(method, &path, body);
                let stubbed = STUB_ROUTES.iter().any(|(m, p)| {
                    m == method && p.trim_end_matches('/') == path.trim_end_matches('/')
                });
                if stubbed {
                    // Not built yet: 501 naming the operation.
                    assert_eq!(r.status, 501, "{method} {path}: {}", r.body);
                } else {
                    assert!(
                        r.status != 501 && r.status != 405,
                        "{method} {path}: {} {}",
                        r.status,
                        r.body
                    );
                }
                assert!(
                    r.status < 500 || r.status == 501 || r.status == 503,
                    "{method} {path}: {}",
                    r.body
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
