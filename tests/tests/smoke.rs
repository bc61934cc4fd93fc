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
