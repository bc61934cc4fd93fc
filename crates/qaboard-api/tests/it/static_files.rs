//! `/s/` and the webapp against a real HTTP server on 127.0.0.1, with a real
//! client (ureq) and, for paths a client library would normalise, raw TCP.
use std::fs;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};

use actix_web::{App, HttpServer};
use qaboard_storage::Storage;

/// Starts a server on a free port; it lives until the test process ends.
fn start(storage: Storage, webapp: Option<PathBuf>) -> SocketAddr {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        actix_web::rt::System::new().block_on(async move {
            let server = HttpServer::new(move || {
                let webapp = webapp.clone();
                let storage = storage.clone();
                App::new()
                    .configure(move |cfg| {
                        qaboard_api::static_files::configure_standalone(cfg, storage)
                    })
                    .configure(qaboard_api::configure)
                    .configure(move |cfg| {
                        if let Some(dir) = &webapp {
                            qaboard_api::static_files::configure_webapp(cfg, dir);
                        }
                    })
            })
            .workers(1)
            .bind(("127.0.0.1", 0))
            .unwrap();
            tx.send(server.addrs()[0]).unwrap();
            server.run().await
        })
    });
    rx.recv().unwrap()
}

struct Fx {
    _tmp: tempfile::TempDir,
    root: PathBuf,
    base: String,
    agent: ureq::Agent,
    addr: SocketAddr,
}

fn gz(bytes: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(bytes).unwrap();
    e.finish().unwrap()
}

fn fixture() -> Fx {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("root");
    let outside = tmp.path().join("outside");
    fs::create_dir_all(root.join("dir/sub")).unwrap();
    fs::create_dir_all(&outside).unwrap();
    fs::write(outside.join("secret.txt"), "secret").unwrap();
    fs::write(root.join("a.txt"), "hello world").unwrap();
    fs::write(root.join("plot.png"), b"\x89PNG fake").unwrap();
    let data: Vec<u8> = (0..100_000u32).map(|i| (i % 251) as u8).collect();
    fs::write(root.join("data.bin"), &data).unwrap();
    fs::write(root.join("dir/x<y>&\"z'.txt"), "escaped").unwrap();
    fs::write(root.join("dir/with space.txt"), "sp").unwrap();
    fs::write(root.join("both.json"), "{\"plain\": true}").unwrap();
    fs::write(root.join("both.json.gz"), gz(b"{\"gz\": true}")).unwrap();
    fs::write(
        root.join("only.txt.gz"),
        gz(&b"decompressed line\n".repeat(10_000)),
    )
    .unwrap();
    symlink(&outside, root.join("out")).unwrap();
    symlink(outside.join("secret.txt"), root.join("out-file")).unwrap();
    symlink("a.txt", root.join("link-in")).unwrap();
    let storage = Storage::new(vec![root.clone()]).unwrap();
    let addr = start(storage, None);
    Fx {
        base: format!("http://{addr}/s{}", root.display()),
        _tmp: tmp,
        root,
        agent: ureq::AgentBuilder::new().redirects(0).build(),
        addr,
    }
}

struct Res {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Res {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

fn send(req: ureq::Request) -> Res {
    let resp = match req.call() {
        Ok(r) => r,
        Err(ureq::Error::Status(_, r)) => r,
        Err(e) => panic!("{e}"),
    };
    let status = resp.status();
    let headers = resp
        .headers_names()
        .into_iter()
        .map(|n| {
            let v = resp.header(&n).unwrap_or("").to_string();
            (n, v)
        })
        .collect();
    let mut body = Vec::new();
    resp.into_reader().read_to_end(&mut body).unwrap();
    Res {
        status,
        headers,
        body,
    }
}

fn get(fx: &Fx, path: &str, headers: &[(&str, &str)]) -> Res {
    let mut req = fx.agent.get(&format!("{}{path}", fx.base));
    for (k, v) in headers {
        req = req.set(k, v);
    }
    send(req)
}

/// A request with the path sent exactly as written (no client normalisation).
fn raw(addr: SocketAddr, path: &str) -> (u16, String, String) {
    let mut s = TcpStream::connect(addr).unwrap();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut out = Vec::new();
    s.read_to_end(&mut out).unwrap();
    let text = String::from_utf8_lossy(&out).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = head.split(' ').nth(1).unwrap().parse().unwrap();
    let ctype = head
        .lines()
        .find_map(|l| {
            l.to_ascii_lowercase()
                .strip_prefix("content-type:")
                .map(|v| v.trim().to_string())
        })
        .unwrap_or_default();
    (status, ctype, body.to_string())
}

#[test]
fn serves_bytes_with_type_cors_and_head() {
    let fx = fixture();
    let r = get(&fx, "/a.txt", &[]);
    assert_eq!(r.status, 200);
    assert_eq!(r.body, b"hello world");
    assert!(r.header("content-type").unwrap().starts_with("text/plain"));
    assert_eq!(r.header("access-control-allow-origin"), Some("*"));
    assert!(r.header("content-disposition").is_none());
    let r = get(&fx, "/plot.png?iter=3", &[]);
    assert_eq!(
        (r.status, r.header("content-type")),
        (200, Some("image/png"))
    );
    let r = get(&fx, "/link-in", &[]);
    assert_eq!(r.body, b"hello world");
    let data = get(&fx, "/data.bin", &[]);
    assert_eq!(data.body.len(), 100_000);
    assert_eq!(data.body[1000], (1000 % 251) as u8);
    let r = send(fx.agent.head(&format!("{}/data.bin", fx.base)));
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-length"), Some("100000"));
    assert!(r.body.is_empty());
    // Repeated slashes are merged.
    let r = send(fx.agent.get(&format!(
        "http://{}/s/{}//a.txt",
        fx.addr,
        fx.root.display()
    )));
    assert_eq!(r.body, b"hello world");
    // OPTIONS preflight.
    let r = send(fx.agent.request("OPTIONS", &format!("{}/a.txt", fx.base)));
    assert_eq!(r.status, 200);
    assert_eq!(r.header("access-control-allow-origin"), Some("*"));
    // Other methods.
    let r = send(fx.agent.post(&format!("{}/a.txt", fx.base)));
    assert_eq!(r.status, 405);
}

#[test]
fn folders_list_escaped_and_redirect_to_slash() {
    let fx = fixture();
    let r = get(&fx, "/dir", &[]);
    assert_eq!(r.status, 301);
    assert_eq!(
        r.header("location"),
        Some(format!("/s{}/dir/", fx.root.display()).as_str())
    );
    let r = get(&fx, "/dir/", &[]);
    assert_eq!(r.status, 200);
    assert!(r.header("content-type").unwrap().starts_with("text/html"));
    let html = r.text();
    assert!(html.contains("<a href=\"sub/\">sub/</a>"), "{html}");
    assert!(html.contains("<a href=\"x%3Cy%3E%26%22z%27.txt\">x&lt;y&gt;&amp;&quot;z&#39;.txt</a>"));
    assert!(html.contains("<a href=\"with%20space.txt\">with space.txt</a>"));
    assert!(!html.contains("<y>"));
    // Folders first; links out are not listed.
    assert!(html.find("sub/").unwrap() < html.find("with%20space").unwrap());
    let root = get(&fx, "/", &[]).text();
    assert!(root.contains("a.txt") && root.contains("link-in"));
    assert!(!root.contains("\"out/\"") && !root.contains("out-file"));
    // A file with a trailing slash is not a folder.
    assert_eq!(get(&fx, "/a.txt/", &[]).status, 404);
}

#[test]
fn ranges_and_conditional_requests() {
    let fx = fixture();
    let r = get(&fx, "/data.bin", &[("Range", "bytes=10-19")]);
    assert_eq!(r.status, 206);
    assert_eq!(r.header("content-range"), Some("bytes 10-19/100000"));
    let want: Vec<u8> = (10..20u32).map(|i| (i % 251) as u8).collect();
    assert_eq!(r.body, want);
    let r = get(&fx, "/data.bin", &[("Range", "bytes=-5")]);
    assert_eq!((r.status, r.body.len()), (206, 5));
    let r = get(&fx, "/data.bin", &[("Range", "bytes=200000-")]);
    assert_eq!(r.status, 416);
    assert_eq!(r.header("content-range"), Some("bytes */100000"));

    let first = get(&fx, "/a.txt", &[]);
    let etag = first.header("etag").unwrap().to_string();
    let lm = first.header("last-modified").unwrap().to_string();
    let r = get(&fx, "/a.txt", &[("If-None-Match", &etag)]);
    assert_eq!(r.status, 304);
    assert!(r.body.is_empty());
    let r = get(&fx, "/a.txt", &[("If-Modified-Since", &lm)]);
    assert_eq!(r.status, 304);
    let r = get(&fx, "/a.txt", &[("If-None-Match", "\"other\"")]);
    assert_eq!(r.status, 200);
}

/// Small files without `Range` or conditions are answered from one buffer
/// (static_files/small.rs): the same headers as the general path gives.
#[test]
fn small_file_fast_path_matches_the_general_path() {
    let fx = fixture();
    let names = [
        "content-type",
        "content-length",
        "etag",
        "last-modified",
        "accept-ranges",
        "content-encoding",
        "vary",
        "access-control-allow-origin",
    ];
    for (path, enc) in [("/a.txt", ""), ("/plot.png", ""), ("/both.json", "gzip")] {
        let fast = get(&fx, path, &[("Accept-Encoding", enc)]);
        // A non-matching If-None-Match sends the request down the general path.
        let general = get(
            &fx,
            path,
            &[("Accept-Encoding", enc), ("If-None-Match", "\"other\"")],
        );
        assert_eq!((fast.status, general.status), (200, 200), "{path}");
        assert_eq!(fast.body, general.body, "{path}");
        for n in names {
            assert_eq!(fast.header(n), general.header(n), "{path}: {n}");
        }
        assert!(fast.header("etag").is_some(), "{path}");
    }
    let head = send(fx.agent.head(&format!("{}/a.txt", fx.base)));
    assert_eq!(head.status, 200);
    assert_eq!(head.header("content-length"), Some("11"));
    assert!(head.body.is_empty());
}

#[test]
fn gzip_sidecars_both_ways() {
    let fx = fixture();
    // Client accepts gzip: the sidecar, as is.
    let r = get(&fx, "/both.json", &[("Accept-Encoding", "gzip, deflate")]);
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-encoding"), Some("gzip"));
    assert!(r
        .header("content-type")
        .unwrap()
        .starts_with("application/json"));
    assert_eq!(&r.body[..2], &[0x1f, 0x8b]);
    let mut plain = String::new();
    flate2::read::GzDecoder::new(&r.body[..])
        .read_to_string(&mut plain)
        .unwrap();
    assert_eq!(plain, "{\"gz\": true}");
    // Client without gzip: the plain file.
    let r = get(&fx, "/both.json", &[]);
    assert_eq!(r.header("content-encoding"), None);
    assert_eq!(r.text(), "{\"plain\": true}");
    // q=0 is a refusal.
    let r = get(&fx, "/both.json", &[("Accept-Encoding", "gzip;q=0")]);
    assert_eq!(r.text(), "{\"plain\": true}");
    // Only the .gz exists, client without gzip: decompressed on the fly.
    let r = get(&fx, "/only.txt", &[]);
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-encoding"), None);
    assert!(r.header("content-type").unwrap().starts_with("text/plain"));
    assert_eq!(r.text(), "decompressed line\n".repeat(10_000));
    // ...and with gzip: the sidecar.
    let r = get(&fx, "/only.txt", &[("Accept-Encoding", "gzip")]);
    assert_eq!(r.header("content-encoding"), Some("gzip"));
    // The .gz itself by its own name.
    let r = get(&fx, "/only.txt.gz", &[]);
    assert_eq!((r.status, r.header("content-encoding")), (200, None));
}

#[test]
fn traversal_attempts_are_refused_in_plain_text() {
    let fx = fixture();
    let root = fx.root.display().to_string();
    let outside_name = "outside/secret.txt";
    let cases: Vec<(String, u16)> = vec![
        (format!("/s{root}/../{outside_name}"), 403),
        (format!("/s{root}/dir/../../{outside_name}"), 403),
        (format!("/s{root}/%2e%2e/{outside_name}"), 403),
        (format!("/s{root}/%2E%2E/{outside_name}"), 403),
        (
            format!("/s{root}%2F..%2F{}", outside_name.replace('/', "%2F")),
            403,
        ),
        (format!("/s{root}/out/secret.txt"), 403),
        (format!("/s{root}/out-file"), 403),
        (format!("/s{root}/out/"), 403),
        (format!("/s{root}/a.txt%00.png"), 403),
        ("/s/etc/passwd".to_string(), 404),
        (format!("/s{root}/../root/a.txt"), 403),
        // Decoded once only: `%252e` is a literal `%2e`, a missing name.
        (format!("/s{root}/%252e%252e/{outside_name}"), 404),
        (format!("/s{root}/missing.txt"), 404),
    ];
    for (path, want) in cases {
        let (status, ctype, body) = raw(fx.addr, &path);
        assert_eq!(status, want, "{path}");
        assert!(ctype.starts_with("text/plain"), "{path}: {ctype}");
        assert!(
            !body.contains("secret") && !body.contains('{'),
            "{path}: {body}"
        );
    }
    // The good path through the same raw client works.
    let (status, _, body) = raw(fx.addr, &format!("/s{root}/a.txt?x=1"));
    assert_eq!((status, body.as_str()), (200, "hello world"));
}

#[test]
fn webapp_is_served_with_client_route_fallback() {
    let tmp = tempfile::tempdir().unwrap();
    let app = tmp.path().join("build");
    fs::create_dir_all(app.join("static/js")).unwrap();
    fs::write(app.join("index.html"), "<html>app</html>").unwrap();
    fs::write(app.join("static/js/main.abc123.js"), "console.log(1)").unwrap();
    fs::write(app.join("favicon.ico"), "ico").unwrap();
    fs::write(tmp.path().join("secret.txt"), "secret").unwrap();
    let storage = Storage::new(vec![tmp.path().join("files")]).unwrap();
    let addr = start(storage, Some(app.clone()));
    let agent = ureq::AgentBuilder::new().redirects(0).build();
    let at = |p: &str| send(agent.get(&format!("http://{addr}{p}")));

    let r = at("/static/js/main.abc123.js");
    assert_eq!(r.text(), "console.log(1)");
    assert_eq!(
        r.header("cache-control"),
        Some("public, max-age=31536000, immutable")
    );
    assert!(r.header("content-type").unwrap().contains("javascript"));
    let r = at("/favicon.ico");
    assert_eq!(
        (r.text().as_str(), r.header("cache-control")),
        ("ico", Some("no-cache"))
    );
    for p in [
        "/",
        "/user/sample_project/commit/abc?batch=default",
        "/project/x",
        "/sample_project",
        "/static/js/missing.js",
    ] {
        let r = at(p);
        assert_eq!(r.status, 200, "{p}");
        assert_eq!(r.text(), "<html>app</html>", "{p}");
        assert_eq!(r.header("cache-control"), Some("no-cache"), "{p}");
    }
    // Reserved prefixes keep a JSON 404.
    for p in [
        "/api/v1/nope",
        // (`/iiif/2/…` is the image service's, which needs the app state.)
        "/iiif/3/x",
        "/webhook/x",
        "/metrics",
        "/s",
        "/docs/x",
    ] {
        let r = at(p);
        if p == "/s" {
            // `/s` is the storage handler's: outside every root.
            assert_eq!(r.status, 404, "{p}");
            continue;
        }
        assert_eq!(r.status, 404, "{p}");
        assert!(r.header("content-type").unwrap().contains("json"), "{p}");
        assert!(r.text().contains("\"error\""), "{p}");
    }
    // Nothing outside the webapp folder.
    let (status, _, body) = raw(addr, "/../secret.txt");
    assert!(!body.contains("secret"), "{status} {body}");
    let (_, _, body) = raw(addr, "/%2e%2e/secret.txt");
    assert_eq!(body, "<html>app</html>");
    let _ = Path::new("");
}
