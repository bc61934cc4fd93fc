//! The route registry (`qaboard_api::registry::ROUTES`) against what the
//! server really serves: the OpenAPI document lists exactly the registry's
//! operations, actix registers exactly the registry's templates, and every
//! listed operation reaches a handler (never the router's 404/405).
use std::collections::BTreeSet;

use qaboard_api::openapi::openapi_path;
use qaboard_api::registry::{registered_templates, Mount, ROUTES};
use qaboard_api::ApiConfig;
use qaboard_tests::{for_each_backend, Client};

/// `(METHOD, path)` of every registry operation, as in the document.
fn registry_operations() -> BTreeSet<(String, String)> {
    ROUTES
        .iter()
        .flat_map(|r| {
            r.ops
                .iter()
                .map(move |o| (o.method.as_str().to_string(), openapi_path(r)))
        })
        .collect()
}

/// A concrete path of an OpenAPI path: each `{param}` becomes `1`.
fn concrete(path: &str) -> String {
    let mut out = String::new();
    let mut in_param = false;
    for ch in path.chars() {
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
    out
}

#[test]
fn the_openapi_document_lists_every_route_and_only_those() {
    for_each_backend(ApiConfig::default(), |app| {
        let c = Client::new(app);
        let r = c.get("/api/v1/openapi.json");
        assert_eq!(r.status, 200, "{}", r.body);
        assert_eq!(r.header("content-type"), Some("application/json"));
        let doc = r.json();
        assert!(
            doc["openapi"].as_str().is_some_and(|v| v.starts_with("3.")),
            "{}",
            doc["openapi"]
        );
        let mut documented = BTreeSet::new();
        let mut ids = BTreeSet::new();
        for (path, item) in doc["paths"].as_object().expect("paths") {
            for (method, op) in item.as_object().unwrap() {
                documented.insert((method.to_uppercase(), path.clone()));
                let id = op["operationId"].as_str().expect("operationId");
                assert!(ids.insert(id.to_string()), "operationId {id} twice");
                assert!(op["responses"]["200"].is_object(), "{method} {path}");
                assert!(op["responses"]["default"].is_object(), "{method} {path}");
                // Every path parameter is declared.
                let declared: BTreeSet<&str> = op["parameters"]
                    .as_array()
                    .map(|a| {
                        a.iter()
                            .filter(|p| p["in"] == "path")
                            .filter_map(|p| p["name"].as_str())
                            .collect()
                    })
                    .unwrap_or_default();
                let in_path: BTreeSet<&str> = path
                    .split('{')
                    .skip(1)
                    .filter_map(|s| s.split('}').next())
                    .collect();
                assert_eq!(declared, in_path, "{method} {path}");
            }
        }
        assert_eq!(documented, registry_operations());
        // HEAD answers like GET.
        let h = c.request("HEAD", "/api/v1/openapi.json/", None);
        assert_eq!(h.status, 200);
    });
}

#[test]
fn actix_registers_exactly_the_registry_templates() {
    for_each_backend(ApiConfig::default(), |app| {
        // The application exists once the server has answered.
        assert_eq!(Client::new(app).get("/healthz").status, 200);
    });
    let registered: BTreeSet<String> = registered_templates().into_iter().collect();
    let listed: BTreeSet<String> = ROUTES
        .iter()
        .filter(|r| r.via_resource)
        .map(|r| r.path.to_string())
        .collect();
    let missing: Vec<_> = registered.difference(&listed).collect();
    let stale: Vec<_> = listed.difference(&registered).collect();
    assert!(
        missing.is_empty() && stale.is_empty(),
        "routes registered but not in registry::ROUTES: {missing:?}; \
         in registry::ROUTES but not registered: {stale:?}"
    );
}

#[test]
fn every_registry_operation_reaches_a_handler() {
    for_each_backend(ApiConfig::default(), |app| {
        let c = Client::new(app);
        for route in ROUTES {
            let path = concrete(&openapi_path(route));
            for o in route.ops {
                let m = o.method.as_str();
                let body: Option<&[u8]> = (m != "GET").then_some(b"{}");
                let r = c.request(m, &path, body);
                assert_ne!(r.status, 405, "{m} {path}: {}", r.body);
                assert!(
                    !r.body.contains("no such endpoint"),
                    "{m} {path}: {} {}",
                    r.status,
                    r.body
                );
                assert!(
                    r.status < 500 || r.status == 503,
                    "{m} {path}: {} {}",
                    r.status,
                    r.body
                );
            }
            if route.mount == Mount::Api {
                // The trailing-slash spelling reaches the same handler.
                let m = route.ops[0].method.as_str();
                let body: Option<&[u8]> = (m != "GET").then_some(b"{}");
                let r = c.request(m, &format!("{path}/"), body);
                assert_ne!(r.status, 405, "{m} {path}/");
                assert!(!r.body.contains("no such endpoint"), "{m} {path}/");
            }
        }
    });
}
