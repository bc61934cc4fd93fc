//! Gzip-encoded answers of the heavy reads (commit page, commits list): a
//! client that accepts gzip gets, once the cache holds the copy, a body
//! that decompresses to exactly the identity answer; clients that refuse
//! gzip or say nothing get identity; every answer varies on
//! `Accept-Encoding`; a write shows in the next answer of either encoding.

use std::io::Read;
use std::sync::Arc;
use std::time::Duration;

use crate::ingest_support::*;
use qaboard_api::cache::ResponseCache;
use qaboard_api::ApiConfig;
use qaboard_tests::{encode, for_each_backend, Client, TestApp};
use serde_json::{json, Value};

/// One answer, its body as received (not decoded).
struct Raw {
    status: u16,
    encoding: Option<String>,
    vary: Option<String>,
    length: Option<usize>,
    body: Vec<u8>,
}

/// `method` `path` with `Accept-Encoding: <accept>` when given.
fn raw(app: &TestApp, method: &str, path: &str, accept: Option<&str>) -> Raw {
    let agent = ureq::AgentBuilder::new().build();
    let mut req = agent.request(method, &format!("{}{path}", app.base));
    if let Some(a) = accept {
        req = req.set("Accept-Encoding", a);
    }
    let resp = match req.call() {
        Ok(r) | Err(ureq::Error::Status(_, r)) => r,
        Err(e) => panic!("{method} {path}: {e}"),
    };
    let header = |n: &str| resp.header(n).map(str::to_string);
    let (status, encoding, vary) = (resp.status(), header("content-encoding"), header("vary"));
    let length = header("content-length").and_then(|l| l.parse().ok());
    let mut body = Vec::new();
    resp.into_reader().read_to_end(&mut body).expect("the body");
    Raw {
        status,
        encoding,
        vary,
        length,
        body,
    }
}

fn gunzip(b: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(b)
        .read_to_end(&mut out)
        .expect("a gzip body");
    out
}

/// An identity answer: 200, no `Content-Encoding`, `Vary: Accept-Encoding`.
fn identity(app: &TestApp, path: &str, accept: Option<&str>) -> Vec<u8> {
    let r = raw(app, "GET", path, accept);
    assert_eq!(r.status, 200, "{path}");
    assert_eq!(r.encoding, None, "{path} with {accept:?}");
    assert_eq!(r.vary.as_deref(), Some("Accept-Encoding"), "{path}");
    r.body
}

/// Reads `path` as a gzip client until the answer comes gzip-encoded (the
/// copy is made after a hit, in the background; bounded), checks it
/// decompresses to the identity answer `expected`, and returns its size.
fn gzip_answer(app: &TestApp, path: &str, expected: &[u8]) -> usize {
    for _ in 0..300 {
        let r = raw(app, "GET", path, Some("gzip, deflate, br"));
        assert_eq!(r.status, 200, "{path}");
        assert_eq!(r.vary.as_deref(), Some("Accept-Encoding"), "{path}");
        match r.encoding.as_deref() {
            Some("gzip") => {
                assert_eq!(gunzip(&r.body), expected, "{path}");
                assert!(r.body.len() < expected.len(), "{path}");
                return r.body.len();
            }
            None => assert_eq!(r.body, expected, "{path}"),
            Some(other) => panic!("{path}: Content-Encoding {other}"),
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    panic!("{path}: never answered gzip-encoded");
}

#[test]
fn heavy_reads_are_gzip_encoded_for_clients_that_accept_gzip() {
    let max_bytes = 8 * 1024 * 1024;
    let cache = Arc::new(ResponseCache::new(max_bytes));
    let cfg = ApiConfig {
        cache: cache.clone(),
        ..ApiConfig::default()
    };
    for_each_backend(cfg, |app| {
        let c = Client::new(app);
        let body = output_for("a.jpg", 1.0);
        let (project, sha) = (
            str_of(&body, "project").to_string(),
            str_of(&body, "commit_sha").to_string(),
        );
        for (i, input) in ["a.jpg", "b.jpg", "c.jpg"].iter().enumerate() {
            let r = c.post("/api/v1/output/", &output_for(input, i as f64));
            assert_eq!(r.status, 200, "{}", r.body);
        }
        let metrics = encode(r#"{"psnr":1}"#);
        let detail = format!(
            "/api/v1/commit/{sha}?project={}&metrics={metrics}",
            encode(&project)
        );
        let list = format!(
            "/api/v1/commits/?project={}&from=2026-11-01T00:00:00.000Z&to=2026-12-01T00:00:00.000Z&metrics={metrics}",
            encode(&project)
        );
        for path in [&detail, &list] {
            let plain = identity(app, path, None);
            assert!(plain.len() >= qaboard_api::cache::GZIP_MIN_BYTES, "{path}");
            let gz_len = gzip_answer(app, path, &plain);
            // Refusals and other codings get identity, the copy present.
            for accept in ["gzip;q=0", "identity", "br, deflate", "gzip;q=0, *"] {
                assert_eq!(identity(app, path, Some(accept)), plain, "{accept}");
            }
            // HEAD gives the head of the GET of each encoding.
            let h = raw(app, "HEAD", path, Some("gzip"));
            assert_eq!(h.status, 200);
            assert_eq!(h.encoding.as_deref(), Some("gzip"), "{path}");
            assert_eq!(h.vary.as_deref(), Some("Accept-Encoding"));
            assert_eq!(h.length, Some(gz_len), "{path}");
            assert!(h.body.is_empty());
            let h = raw(app, "HEAD", path, None);
            assert_eq!((h.encoding, h.length), (None, Some(plain.len())));
            let s = cache.stats();
            assert!(s.gzip_entries >= 1, "{s:?}");
            assert!(
                s.bytes >= plain.len() + gz_len && s.bytes <= max_bytes,
                "{s:?}"
            );
        }

        // A write that changes both reads: the next answer of either
        // encoding shows it, and the gzip copy follows.
        let before = cache.stats().misses;
        let r = c.post("/api/v1/output/", &output_for("d.jpg", 9.0));
        assert_eq!(r.status, 200, "{}", r.body);
        let outputs = |b: &[u8]| {
            let v: Value = serde_json::from_slice(b).expect("JSON");
            v["batches"]["default"]["outputs"]
                .as_object()
                .map_or(0, |o| o.len())
        };
        let r = raw(app, "GET", &detail, Some("gzip"));
        let fresh = match r.encoding.as_deref() {
            Some("gzip") => gunzip(&r.body),
            _ => r.body,
        };
        assert_eq!(outputs(&fresh), 4);
        let plain = identity(app, &detail, None);
        assert_eq!(plain, fresh);
        gzip_answer(app, &detail, &plain);
        let list_plain = identity(app, &list, None);
        let v: Value = serde_json::from_slice(&list_plain).expect("JSON");
        assert_eq!(
            v[0]["batches"]["default"]["aggregated_metrics"]["psnr_average"],
            json!(3.0),
            "{v}"
        );
        gzip_answer(app, &list, &list_plain);
        assert!(cache.stats().misses > before);

        // Errors stay identity JSON.
        let r = raw(
            app,
            "GET",
            &format!(
                "/api/v1/commit/{}?project={}",
                "f".repeat(40),
                encode(&project)
            ),
            Some("gzip"),
        );
        assert_eq!(r.status, 404);
        assert_eq!(r.encoding, None);
        let e: Value = serde_json::from_slice(&r.body).expect("JSON error");
        assert!(e["error"].is_string(), "{e}");
    });
}

#[test]
fn without_the_cache_answers_stay_identity() {
    let cfg = ApiConfig {
        cache: Arc::new(ResponseCache::new(0)),
        ..ApiConfig::default()
    };
    for_each_backend(cfg, |app| {
        let c = Client::new(app);
        let body = output_for("a.jpg", 1.0);
        c.post("/api/v1/output/", &body);
        let path = commit_page_path(&body);
        let first = identity(app, &path, Some("gzip"));
        for _ in 0..3 {
            assert_eq!(identity(app, &path, Some("gzip")), first);
        }
    });
}
