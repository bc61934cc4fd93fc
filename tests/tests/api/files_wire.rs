//! Plain small files answered on the connection itself (issue 10,
//! `qaboard_api::wire::plain_files`): on a keep-alive connection a plain
//! `GET`/`HEAD` of a small file under `/s/` is answered before actix-http's
//! dispatcher. The answers must look like the App's, be counted in the
//! metrics, hand the connection (with bytes already read, pipelined ones
//! included) to the dispatcher at the first other request, and keep the
//! dispatcher's timeouts.
use std::fs;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::time::Duration;

use qaboard_api::AppState;
use qaboard_tests::{for_each_backend, for_each_backend_with_state, Client, TempDir, TestApp};

use super::files_front::cfg;

/// One answer read from a connection: status, headers (lower-case names,
/// sorted, `date` and `connection` left out) and body.
#[derive(Debug, PartialEq)]
pub(crate) struct Answer {
    pub(crate) status: u16,
    pub(crate) headers: Vec<(String, String)>,
    pub(crate) body: Vec<u8>,
}

impl Answer {
    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// Reads one answer from `s` (`head_only`: the answer to a `HEAD`, no body
/// whatever its `content-length`). `None` when the connection is closed
/// before any byte.
fn read_answer(s: &mut TcpStream, head_only: bool) -> Option<Answer> {
    let mut buf = Vec::new();
    let mut byte = [0u8; 1];
    while !buf.ends_with(b"\r\n\r\n") {
        match s.read(&mut byte).unwrap() {
            0 if buf.is_empty() => return None,
            0 => panic!("closed inside a head: {:?}", String::from_utf8_lossy(&buf)),
            _ => buf.push(byte[0]),
        }
    }
    let head = String::from_utf8(buf).unwrap();
    let mut lines = head.trim_end().split("\r\n");
    let status: u16 = lines.next().unwrap()[9..12].parse().unwrap();
    let mut headers: Vec<(String, String)> = lines
        .map(|l| {
            let (k, v) = l.split_once(':').unwrap();
            (k.trim().to_ascii_lowercase(), v.trim().to_string())
        })
        .filter(|(k, _)| k != "date" && k != "connection")
        .collect();
    headers.sort();
    let len: usize = headers
        .iter()
        .find(|(k, _)| k == "content-length")
        .map_or(0, |(_, v)| v.parse().unwrap());
    let mut body = vec![0u8; if head_only { 0 } else { len }];
    s.read_exact(&mut body).unwrap();
    Some(Answer {
        status,
        headers,
        body,
    })
}

fn connect(app: &TestApp) -> TcpStream {
    let s = TcpStream::connect(app.base.trim_start_matches("http://")).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    s
}

/// `method target` on a keep-alive connection, extra header lines included.
fn request(s: &mut TcpStream, method: &str, target: &str, extra: &str) -> Answer {
    s.write_all(format!("{method} {target} HTTP/1.1\r\nHost: x\r\n{extra}\r\n").as_bytes())
        .unwrap();
    read_answer(s, method == "HEAD").expect("an answer")
}

/// The same request alone on a `Connection: close` connection: the
/// dispatcher's answer.
pub(crate) fn request_alone(app: &TestApp, method: &str, target: &str, extra: &str) -> Answer {
    let mut s = connect(app);
    request(
        &mut s,
        method,
        target,
        &format!("Connection: close\r\n{extra}"),
    )
}

/// A fresh folder of the storage root with `a.json`, `c.txt`, its `.gz`
/// sidecar and a file too large for the plain case; its path as text.
fn files(root: &Path, app: &TestApp) -> String {
    let dir = root.join(format!("run-{}", app.base.rsplit(':').next().unwrap()));
    fs::create_dir_all(&dir).unwrap();
    fs::write(dir.join("a.json"), b"{\"a\": 1}\n").unwrap();
    fs::write(dir.join("c.txt"), b"plain text\n").unwrap();
    fs::write(dir.join("c.txt.gz"), b"a sidecar").unwrap();
    fs::write(dir.join("big.bin"), vec![7u8; 100 * 1024]).unwrap();
    dir.to_str().unwrap().to_string()
}

#[test]
fn keep_alive_files_look_like_the_dispatchers_and_the_connection_is_handed_over() {
    let root = TempDir::new("wire");
    for_each_backend(cfg(root.path()), |app| {
        let d = files(root.path(), app);
        let mut s = connect(app);
        for (method, file, extra) in [
            ("GET", "a.json", ""),
            ("HEAD", "a.json", ""),
            ("GET", "c.txt", "Accept-Encoding: gzip, deflate\r\n"),
            ("GET", "c.txt", "Connection: keep-alive\r\n"),
            ("HEAD", "c.txt", "accept-encoding: gzip\r\n"),
            ("GET", "a.json?v=2", ""),
        ] {
            let target = format!("/s{d}/{file}");
            let here = request(&mut s, method, &target, extra);
            let there = request_alone(app, method, &target, extra);
            assert_eq!(here.status, 200, "{method} {file}");
            assert_eq!(here, there, "{method} {file} {extra:?}");
        }
        let gz = request(
            &mut s,
            "GET",
            &format!("/s{d}/c.txt"),
            "Accept-Encoding: gzip\r\n",
        );
        assert_eq!(gz.header("content-encoding"), Some("gzip"));
        assert_eq!(gz.body, b"a sidecar");
        let head = request(&mut s, "HEAD", &format!("/s{d}/a.json"), "");
        assert_eq!(head.header("content-length"), Some("9"));
        assert!(head.body.is_empty());

        // A large file, a 404, then an API call and files again, all on the
        // same connection (the dispatcher's from the large file on).
        let big = request(&mut s, "GET", &format!("/s{d}/big.bin"), "");
        assert_eq!((big.status, big.body.len()), (200, 100 * 1024));
        let missing = request(&mut s, "GET", &format!("/s{d}/missing"), "");
        assert_eq!(
            (missing.status, &missing.body[..]),
            (404, &b"404 Not Found"[..])
        );
        let api = request(&mut s, "GET", "/api/v1/no-such-route/", "");
        assert_eq!(api.status, 404);
        assert!(String::from_utf8_lossy(&api.body).contains("error"));
        let again = request(&mut s, "GET", &format!("/s{d}/a.json"), "");
        assert_eq!(again.body, b"{\"a\": 1}\n");
        let cond = request(
            &mut s,
            "GET",
            &format!("/s{d}/a.json"),
            &format!("If-None-Match: {}\r\n", again.header("etag").unwrap()),
        );
        assert_eq!(cond.status, 304);
    });
}

#[test]
fn hostile_targets_on_a_keep_alive_connection_are_refused_as_on_the_dispatcher() {
    let root = TempDir::new("wire-hostile");
    for_each_backend(cfg(root.path()), |app| {
        let d = files(root.path(), app);
        let outside = root.path().parent().unwrap().join("outside-wire.txt");
        fs::write(&outside, b"secret").unwrap();
        std::os::unix::fs::symlink(&outside, Path::new(&d).join("link-out.txt")).ok();
        for target in [
            format!("/s{d}/a.json?x=%00"),
            format!("/s{d}/a%00.json"),
            format!("/s{d}/a.json/%2e%2e/a.json"),
            format!("/s{d}/%2e%2e/%2e%2e/outside-wire.txt"),
            format!("/s{d}/..%2f..%2foutside-wire.txt"),
            format!("/s{d}/link-out.txt"),
            format!("/s{}", outside.display()),
            "/s/etc/hostname".to_string(),
        ] {
            let mut s = connect(app);
            let here = request(&mut s, "GET", &target, "");
            let there = request_alone(app, "GET", &target, "");
            assert!(
                (400..500).contains(&here.status),
                "{target}: {}",
                here.status
            );
            assert_eq!(here, there, "{target}");
            assert!(!here.body.windows(6).any(|w| w == b"secret"), "{target}");
            if target.contains("%00") {
                assert_eq!(here.status, 400, "{target}");
                assert_eq!(here.header("content-type"), Some("application/json"));
            }
            // The connection still answers after the refusal.
            let next = request(&mut s, "GET", &format!("/s{d}/a.json"), "");
            assert_eq!(next.body, b"{\"a\": 1}\n", "{target}");
        }
    });
}

#[test]
fn pipelined_requests_are_answered_in_order_across_the_hand_over() {
    let root = TempDir::new("wire-pipe");
    for_each_backend(cfg(root.path()), |app| {
        let d = files(root.path(), app);
        let mut s = connect(app);
        // Two plain files, an API call, a plain file: one write.
        let a = format!("GET /s{d}/a.json HTTP/1.1\r\nHost: x\r\n\r\n");
        let c = format!("GET /s{d}/c.txt HTTP/1.1\r\nHost: x\r\n\r\n");
        let api = "GET /api/v1/no-such-route/ HTTP/1.1\r\nHost: x\r\n\r\n";
        s.write_all(format!("{a}{c}{api}{a}").as_bytes()).unwrap();
        let answers: Vec<Answer> = (0..4)
            .map(|_| read_answer(&mut s, false).unwrap())
            .collect();
        assert_eq!(answers[0].body, b"{\"a\": 1}\n");
        assert_eq!(answers[1].body, b"plain text\n");
        assert_eq!(answers[2].status, 404);
        assert_eq!(answers[3].body, b"{\"a\": 1}\n");
        // A head split over two writes goes to the dispatcher, answered alike.
        let (first, rest) = a.split_at(10);
        s.write_all(first.as_bytes()).unwrap();
        std::thread::sleep(Duration::from_millis(50));
        s.write_all(rest.as_bytes()).unwrap();
        assert_eq!(read_answer(&mut s, false).unwrap(), answers[0]);
    });
}

#[test]
fn keep_alive_files_are_counted_in_the_request_metrics() {
    let root = TempDir::new("wire-metrics");
    for_each_backend(cfg(root.path()), |app| {
        let d = files(root.path(), app);
        let count = |m: &str| {
            let text = Client::new(app).get("/metrics").body;
            let key = format!(
                "http_requests_total{{method=\"{m}\",route=\"/s/{{tail:.*}}\",status=\"200\"}} "
            );
            text.lines()
                .find_map(|l| {
                    l.strip_prefix(&key)
                        .map(|v| v.trim().parse::<f64>().unwrap())
                })
                .unwrap_or(0.0)
        };
        let (get0, head0) = (count("GET"), count("HEAD"));
        let mut s = connect(app);
        for _ in 0..3 {
            assert_eq!(
                request(&mut s, "GET", &format!("/s{d}/a.json"), "").status,
                200
            );
        }
        assert_eq!(
            request(&mut s, "HEAD", &format!("/s{d}/a.json"), "").status,
            200
        );
        assert_eq!(count("GET") - get0, 3.0);
        assert_eq!(count("HEAD") - head0, 1.0);
    });
}

#[test]
fn the_dispatchers_timeouts_hold() {
    let root = TempDir::new("wire-timeouts");
    let settings = |keep_alive_secs| qaboard_settings::Settings {
        storage_root: root.path().to_str().unwrap().to_string(),
        data_dir: root.path().join("data"),
        client_request_timeout_secs: 1,
        keep_alive_secs,
        ..qaboard_settings::Settings::default()
    };
    for_each_backend_with_state(
        |pool| AppState::from_settings(pool, settings(1)),
        |app| {
            let d = files(root.path(), app);
            // Nothing sent: 408 with a JSON body, then the connection closes.
            let mut s = connect(app);
            let late = read_answer(&mut s, false).expect("a 408");
            assert_eq!(late.status, 408);
            assert_eq!(late.header("content-type"), Some("application/json"));
            assert!(String::from_utf8_lossy(&late.body).contains("did not arrive in time"));
            assert!(read_answer(&mut s, false).is_none());
            // Idle after an answer: closed after the keep-alive.
            let mut s = connect(app);
            assert_eq!(
                request(&mut s, "GET", &format!("/s{d}/a.json"), "").status,
                200
            );
            std::thread::sleep(Duration::from_millis(2500));
            let mut rest = Vec::new();
            assert_eq!(s.read_to_end(&mut rest).unwrap(), 0, "closed, nothing sent");
        },
    );
    // Keep-alive disabled: every connection is the dispatcher's, which closes
    // after each answer.
    for_each_backend_with_state(
        |pool| AppState::from_settings(pool, settings(0)),
        |app| {
            let d = files(root.path(), app);
            let mut s = connect(app);
            let a = request(&mut s, "GET", &format!("/s{d}/a.json"), "");
            assert_eq!(a.body, b"{\"a\": 1}\n");
            let mut rest = Vec::new();
            assert_eq!(s.read_to_end(&mut rest).unwrap(), 0);
        },
    );
}
