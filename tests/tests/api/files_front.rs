//! The front service's plain `/s/` case (issue 10, `qaboard_api::front`):
//! a plain `GET`/`HEAD` of a small file is answered before the App, and must
//! look exactly like the App's answer (bytes, headers, CORS, gzip sidecar),
//! be counted in the same request metrics, and leave every other case
//! (304, 206, NUL refusal, errors) to the App.
use std::fs;
use std::path::Path;

use qaboard_api::ApiConfig;
use qaboard_tests::{for_each_backend, Client, TempDir, TestApp};

use super::files_wire::{request_alone, Answer};

/// A server over the storage root `root` (its data in `root/data`).
pub(crate) fn cfg(root: &Path) -> ApiConfig {
    ApiConfig {
        storage_root: root.to_str().unwrap().to_string(),
        data_dir: root.join("data"),
        ..ApiConfig::default()
    }
}

/// A raw HTTP/1.1 exchange (`Connection: close`): status, headers (lower-case
/// names, sorted, `date` left out) and body bytes.
fn raw(app: &TestApp, method: &str, target: &str, headers: &[(&str, &str)]) -> Answer {
    let extra: String = headers
        .iter()
        .map(|(k, v)| format!("{k}: {v}\r\n"))
        .collect();
    request_alone(app, method, target, &extra)
}

/// The value of `http_requests_total` (or the `_count` of the duration
/// histogram) of one label set in a `/metrics` text, 0 when absent.
fn series(text: &str, name: &str, labels: &str) -> f64 {
    text.lines()
        .find_map(|l| {
            l.strip_prefix(&format!("{name}{{{labels}}} "))
                .map(|v| v.trim().parse().unwrap())
        })
        .unwrap_or(0.0)
}

#[test]
fn plain_small_files_look_like_the_full_path() {
    let root = TempDir::new("front");
    for_each_backend(cfg(root.path()), |app| {
        let dir = root
            .path()
            .join(format!("run-{}", app.base.rsplit(':').next().unwrap()));
        fs::create_dir_all(&dir).unwrap();
        fs::write(dir.join("a.json"), b"{\"a\": 1}\n").unwrap();
        fs::write(dir.join("big.bin"), vec![7u8; 100 * 1024]).unwrap();
        fs::write(dir.join("c.txt"), b"plain text\n").unwrap();
        fs::write(dir.join("c.txt.gz"), b"not really gzip, but a sidecar").unwrap();
        let d = dir.to_str().unwrap();
        // `//` in the path makes a request take the App (slashes merged there).
        let fast = |f: &str| format!("/s{d}/{f}");
        let full = |f: &str| format!("/s{d}//{f}");

        for (method, file, headers) in [
            ("GET", "a.json", &[][..]),
            ("HEAD", "a.json", &[][..]),
            ("GET", "c.txt", &[("Accept-Encoding", "gzip, deflate")][..]),
            ("HEAD", "c.txt", &[("Accept-Encoding", "gzip")][..]),
            ("GET", "c.txt", &[][..]),
            ("GET", "big.bin", &[][..]),
        ] {
            let a = raw(app, method, &fast(file), headers);
            let b = raw(app, method, &full(file), headers);
            assert_eq!(a.status, 200, "{method} {file}");
            assert_eq!(a, b, "{method} {file} {headers:?}");
            assert_eq!(a.header("access-control-allow-origin"), Some("*"));
        }
        let a = raw(app, "GET", &fast("a.json"), &[]);
        assert_eq!(a.body, b"{\"a\": 1}\n");
        assert!(a.header("etag").is_some() && a.header("last-modified").is_some());
        assert_eq!(a.header("content-type"), Some("application/json"));
        let gz = raw(app, "GET", &fast("c.txt"), &[("Accept-Encoding", "gzip")]);
        assert_eq!(gz.header("content-encoding"), Some("gzip"));
        assert_eq!(gz.body, b"not really gzip, but a sidecar");

        // Conditional and partial requests still get 304 and 206 (the App).
        let etag = a.header("etag").unwrap().to_string();
        let r = raw(app, "GET", &fast("a.json"), &[("If-None-Match", &etag)]);
        assert_eq!(r.status, 304);
        let r = raw(app, "GET", &fast("a.json"), &[("Range", "bytes=0-3")]);
        assert_eq!(r.status, 206);
        assert_eq!(r.body, b"{\"a\"");
        // A NUL anywhere is still refused with a JSON 400, errors stay plain text.
        let r = raw(app, "GET", &format!("{}?x=%00", fast("a.json")), &[]);
        assert_eq!(r.status, 400);
        assert!(String::from_utf8_lossy(&r.body).contains("NUL"));
        let r = raw(app, "GET", &fast("missing.json"), &[]);
        assert_eq!(r.status, 404);
        assert_eq!(r.body, b"404 Not Found");
        let r = raw(app, "GET", &fast("a.json/%2e%2e/a.json"), &[]);
        assert!(r.status == 403 || r.status == 404, "{}", r.status);
        // The query string is ignored, as on the full path.
        assert_eq!(raw(app, "GET", &format!("{}?v=2", fast("a.json")), &[]), a);
    });
}

#[test]
fn plain_small_files_are_counted_in_the_request_metrics() {
    let root = TempDir::new("front-metrics");
    for_each_backend(cfg(root.path()), |app| {
        let dir = root
            .path()
            .join(format!("run-{}", app.base.rsplit(':').next().unwrap()));
        fs::create_dir_all(&dir).unwrap();
        fs::write(dir.join("m.txt"), b"metrics\n").unwrap();
        let url = format!("/s{}/m.txt", dir.to_str().unwrap());
        let c = Client::new(app);
        let before = c.get("/metrics").body;
        let label =
            |m: &str, s: &str| format!("method=\"{m}\",route=\"/s/{{tail:.*}}\",status=\"{s}\"");
        let dur = |m: &str| format!("method=\"{m}\",route=\"/s/{{tail:.*}}\"");
        for _ in 0..3 {
            assert_eq!(raw(app, "GET", &url, &[]).status, 200);
        }
        assert_eq!(raw(app, "HEAD", &url, &[]).status, 200);
        // Through the App: a merged path and a 304.
        let full = format!("/s{}//m.txt", dir.to_str().unwrap());
        let etag = raw(app, "GET", &full, &[])
            .header("etag")
            .unwrap()
            .to_string();
        assert_eq!(
            raw(app, "GET", &url, &[("If-None-Match", &etag)]).status,
            304
        );
        let after = c.get("/metrics").body;
        let delta =
            |name: &str, labels: &str| series(&after, name, labels) - series(&before, name, labels);
        assert_eq!(delta("http_requests_total", &label("GET", "200")), 4.0);
        assert_eq!(delta("http_requests_total", &label("HEAD", "200")), 1.0);
        assert_eq!(delta("http_requests_total", &label("GET", "304")), 1.0);
        assert_eq!(
            delta("http_request_duration_seconds_count", &dur("GET")),
            5.0
        );
        assert_eq!(
            delta("http_request_duration_seconds_count", &dur("HEAD")),
            1.0
        );
    });
}
