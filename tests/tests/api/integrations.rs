//! Integrations through the real server (issue 14, OPERATIONS.md §7): the avatar proxy, GitLab
//! jobs, Jenkins builds and the webhook proxy against small HTTP servers started here on
//! 127.0.0.1 (allowed explicitly in each test's settings), and the SSRF refusals: loopback not
//! allowed, the metadata address 169.254.169.254, a redirect to loopback, a name resolving to
//! loopback. No request ever leaves the machine: refused targets are never contacted.
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use qaboard_settings::Settings;
use qaboard_tests::{spawn_app_with_settings, Client, TestDb};
use serde_json::{json, Value};

/// A request a fake server received.
#[derive(Debug, Clone)]
struct Seen {
    method: String,
    target: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Seen {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// What a fake server answers: status, headers, body.
type Reply = (u16, Vec<(String, String)>, Vec<u8>);

/// A tiny HTTP/1.1 server on 127.0.0.1 answering every request with `respond`, recording them.
struct Fake {
    port: u16,
    seen: Arc<Mutex<Vec<Seen>>>,
}

impl Fake {
    fn start(respond: impl Fn(&Seen) -> Reply + Send + Sync + 'static) -> Fake {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let log = Arc::clone(&seen);
        let respond = Arc::new(respond);
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { continue };
                let log = Arc::clone(&log);
                let respond = Arc::clone(&respond);
                std::thread::spawn(move || {
                    let _ = stream.set_read_timeout(Some(Duration::from_secs(10)));
                    let mut reader = BufReader::new(stream.try_clone().unwrap());
                    let mut line = String::new();
                    if reader.read_line(&mut line).unwrap_or(0) == 0 {
                        return;
                    }
                    let mut parts = line.split_whitespace();
                    let method = parts.next().unwrap_or("").to_string();
                    let target = parts.next().unwrap_or("").to_string();
                    let mut headers = Vec::new();
                    loop {
                        let mut h = String::new();
                        if reader.read_line(&mut h).unwrap_or(0) == 0 || h.trim().is_empty() {
                            break;
                        }
                        if let Some((k, v)) = h.split_once(':') {
                            headers.push((k.trim().to_string(), v.trim().to_string()));
                        }
                    }
                    let len = headers
                        .iter()
                        .find(|(k, _)| k.eq_ignore_ascii_case("content-length"))
                        .and_then(|(_, v)| v.parse::<usize>().ok())
                        .unwrap_or(0);
                    let mut body = vec![0; len];
                    let _ = reader.read_exact(&mut body);
                    let req = Seen {
                        method,
                        target,
                        headers,
                        body,
                    };
                    let (status, headers, body) = respond(&req);
                    log.lock().unwrap().push(req);
                    let mut out = format!("HTTP/1.1 {status} X\r\nConnection: close\r\n");
                    for (k, v) in headers {
                        out.push_str(&format!("{k}: {v}\r\n"));
                    }
                    out.push_str(&format!("Content-Length: {}\r\n\r\n", body.len()));
                    let _ = stream.write_all(out.as_bytes());
                    let _ = stream.write_all(&body);
                });
            }
        });
        Fake { port, seen }
    }

    fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }
}

fn h(k: &str, v: &str) -> (String, String) {
    (k.to_string(), v.to_string())
}

/// A port with nothing allowed on it (a fake server that must never be reached).
fn forbidden_target() -> Fake {
    Fake::start(|_| (200, vec![], b"secret".to_vec()))
}

#[test]
fn avatar_proxy_serves_allowed_hosts_only() {
    let images = Fake::start(|req| {
        if req.target.starts_with("/redirect") {
            let to = req.target.split_once("to=").map(|x| x.1).unwrap_or("");
            return (302, vec![h("Location", to)], vec![]);
        }
        (
            200,
            vec![
                h("Content-Type", "image/png"),
                h("ETag", "\"v1\""),
                h("X-Internal", "leak"),
                h("Set-Cookie", "a=b"),
            ],
            b"\x89PNG fake".to_vec(),
        )
    });
    let internal = forbidden_target();
    let settings = Settings {
        proxy_allowed_hosts: vec![images.host()],
        ..Settings::default()
    };
    let app = spawn_app_with_settings(TestDb::sqlite(), settings);
    let c = Client::new(&app);

    // Everything after the first `url=`, the target's own query unsplit.
    let target = images.url("/avatar/abc.png?s=40&d=identicon");
    let r = c.get(&format!("/api/v1/gitlab/proxy?url={target}"));
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body, "\u{89}PNG fake".replace('\u{89}', "\u{FFFD}"));
    assert_eq!(r.header("content-type"), Some("image/png"));
    assert_eq!(r.header("etag"), Some("\"v1\""));
    assert_eq!(r.header("x-internal"), None);
    assert_eq!(r.header("set-cookie"), None);
    assert_eq!(images.seen()[0].target, "/avatar/abc.png?s=40&d=identicon");
    // Cached: the commit list asks for the same avatars many times.
    assert_eq!(
        c.get(&format!("/api/v1/gitlab/proxy/?url={target}")).status,
        200
    );
    assert_eq!(images.seen().len(), 1);

    // Refused at once, never contacted: loopback not allowed, the metadata address, other
    // schemes, a missing url, and a redirect from an allowed host to loopback.
    for url in [
        internal.url("/"),
        format!("http://localhost:{}/", internal.port),
        "http://169.254.169.254/latest/meta-data/".to_string(),
        "file:///etc/passwd".to_string(),
        images.url(&format!("/redirect?to={}", internal.url("/x"))),
    ] {
        let r = c.get(&format!("/api/v1/gitlab/proxy?url={url}"));
        assert_eq!(r.status, 404, "{url}: {}", r.body);
        assert!(r.json()["error"].is_string());
    }
    assert_eq!(c.get("/api/v1/gitlab/proxy").status, 404);
    assert!(internal.seen().is_empty(), "{:?}", internal.seen());
}

#[test]
fn webhook_proxy_reaches_allowed_hosts_and_refuses_private_ones() {
    let hooks = Fake::start(|req| {
        if req.target.starts_with("/redirect") {
            let to = req.target.split_once("to=").map(|x| x.1).unwrap_or("");
            return (307, vec![h("Location", to)], vec![]);
        }
        (
            201,
            vec![
                h("Content-Type", "application/json"),
                h("Set-Cookie", "s=1"),
            ],
            br#"{"ok":true}"#.to_vec(),
        )
    });
    let internal = forbidden_target();
    for db in TestDb::all() {
        eprintln!("backend: {db:?}");
        let settings = Settings {
            proxy_allowed_hosts: vec![hooks.host()],
            ..Settings::default()
        };
        let app = spawn_app_with_settings(db, settings);
        let c = Client::new(&app);
        let before = hooks.seen().len();
        let r = c.post(
            "/api/v1/webhook/proxy/",
            &json!({
                "method": "POST",
                "url": hooks.url("/deploy"),
                "params": {"env": "qa"},
                "headers": {"X-Token": "t0k"},
                "json": {"commit": "abc"},
                "text": "an integration key the original crashed on",
            }),
        );
        assert_eq!(r.status, 201, "{}", r.body);
        assert_eq!(r.json()["ok"], true);
        assert_eq!(r.header("set-cookie"), None);
        let seen = hooks.seen();
        let got = &seen[before];
        assert_eq!(got.method, "POST");
        assert_eq!(got.target, "/deploy?env=qa");
        assert_eq!(got.header("x-token"), Some("t0k"));
        let body: Value = serde_json::from_slice(&got.body).unwrap();
        assert_eq!(body, json!({"commit": "abc"}));

        // Status checks.
        let head = c.post(
            "/api/v1/webhook/proxy/",
            &json!({"method": "HEAD", "url": hooks.url("/status")}),
        );
        assert_eq!(head.status, 201);

        for url in [
            internal.url("/hook"),
            format!("http://localhost:{}/hook", internal.port),
            "http://169.254.169.254/latest/meta-data/".into(),
            hooks.url(&format!("/redirect?to={}", internal.url("/x"))),
        ] {
            let r = c.post(
                "/api/v1/webhook/proxy/",
                &json!({"method": "POST", "url": url}),
            );
            assert_eq!(r.status, 403, "{url}: {}", r.body);
        }
        // A host named in a project's integrations may be reached, but not when its name
        // resolves to loopback (checked after DNS resolution).
        let mut commit = crate::ingest_support::commit_body();
        commit["qaboard_config"]["integrations"] = json!([{
            "text": "Internal hook",
            "webhook": {"method": "POST", "url": format!("http://localhost:{}/hook", internal.port)},
        }]);
        let saved = c.post("/api/v1/commit/", &commit);
        assert_eq!(saved.status, 200, "{}", saved.body);
        let r = c.post(
            "/api/v1/webhook/proxy/",
            &json!({"method": "POST", "url": format!("http://localhost:{}/hook", internal.port)}),
        );
        assert_eq!(r.status, 403, "{}", r.body);
        let error = r.json()["error"].as_str().unwrap().to_string();
        assert!(error.contains("resolves only to"), "{error}");
        let bad = c.post(
            "/api/v1/webhook/proxy/",
            &json!({"method": "DELETE", "url": hooks.url("/")}),
        );
        assert_eq!(bad.status, 400, "{}", bad.body);
        assert_eq!(
            c.post("/api/v1/webhook/proxy/", &json!({"method": "GET"}))
                .status,
            400
        );
        assert!(internal.seen().is_empty(), "{:?}", internal.seen());
    }
}

#[test]
fn gitlab_jobs_go_to_the_configured_gitlab_only() {
    let gitlab = Fake::start(|req| {
        let json_reply = |v: Value, extra: Vec<(String, String)>| {
            let mut headers = vec![h("Content-Type", "application/json")];
            headers.extend(extra);
            (200, headers, v.to_string().into_bytes())
        };
        let t = req.target.as_str();
        if t.contains("/repository/commits/") {
            json_reply(json!({"id": "abc", "last_pipeline": {"id": 7}}), vec![])
        } else if t.contains("/pipelines/7/jobs") {
            json_reply(
                json!([
                    {"id": 11, "name": "deploy", "status": "manual"},
                    {"id": 12, "name": "deploy", "status": "manual"},
                    {"id": 13, "name": "build", "status": "success"},
                ]),
                vec![h("X-Total-Pages", "1")],
            )
        } else if t.ends_with("/jobs/12/play") {
            json_reply(
                json!({"id": 12, "status": "pending", "web_url": "w"}),
                vec![],
            )
        } else if t.contains("/jobs/") {
            let id: u64 = t.rsplit('/').next().unwrap().parse().unwrap_or(0);
            json_reply(
                json!({"id": id, "status": "manual", "allow_failure": false}),
                vec![],
            )
        } else {
            (404, vec![], b"{}".to_vec())
        }
    });
    let settings = Settings {
        gitlab_host: Some(gitlab.url("")),
        gitlab_access_token: Some("glpat-test".into()),
        ..Settings::default()
    };
    let app = spawn_app_with_settings(TestDb::sqlite(), settings);
    let c = Client::new(&app);
    let body = json!({
        "gitlab_host": gitlab.url(""),
        "project_id": "group/repo",
        "commit_id": "abc",
        "job_name": "deploy",
    });
    let r = c.post("/api/v1/gitlab/job/", &body);
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["id"], 12, "the newest job of that name");
    let r = c.post("/api/v1/gitlab/job/play/", &body);
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["status"], "pending");
    let missing = c.post(
        "/api/v1/gitlab/job/",
        &json!({"project_id": "g/r", "commit_id": "abc", "job_name": "nope"}),
    );
    assert_eq!(missing.status, 404);
    assert!(missing.json()["error"]
        .as_str()
        .unwrap()
        .contains("build, deploy"));
    let seen = gitlab.seen();
    assert!(seen
        .iter()
        .all(|s| s.header("private-token") == Some("glpat-test")));
    assert!(seen.iter().any(|s| s.target.contains("group%2Frepo")));

    // The token never goes to a host named by the client.
    let other = forbidden_target();
    let n = gitlab.seen().len();
    let r = c.post(
        "/api/v1/gitlab/job/",
        &json!({"gitlab_host": other.url(""), "project_id": "g/r", "commit_id": "abc", "job_name": "deploy"}),
    );
    assert_eq!(r.status, 403, "{}", r.body);
    assert!(other.seen().is_empty());
    assert_eq!(gitlab.seen().len(), n);

    // Without a token: the original's 500.
    let app2 = spawn_app_with_settings(
        TestDb::sqlite(),
        Settings {
            gitlab_host: Some(gitlab.url("")),
            ..Settings::default()
        },
    );
    let r = Client::new(&app2).post("/api/v1/gitlab/job/", &body);
    assert_eq!(r.status, 500);
    assert_eq!(
        r.json()["error"],
        "Error: Missing GITLAB_ACCESS_TOKEN in environment variables"
    );
}

#[test]
fn jenkins_builds_with_credentials_only() {
    let jenkins = Fake::start(|req| {
        let t = req.target.as_str();
        let json_reply = |v: Value| {
            (
                200,
                vec![h("Content-Type", "application/json")],
                v.to_string().into_bytes(),
            )
        };
        if t.starts_with("/job/nightly/buildWithParameters") {
            return (201, vec![h("Location", "/queue/item/5/")], vec![]);
        }
        if t.starts_with("/queue/item/5/api/json") {
            return json_reply(json!({"id": 5, "executable": null}));
        }
        if t.starts_with("/job/nightly/3/api/json") {
            return json_reply(json!({"building": false, "result": "UNSTABLE"}));
        }
        (404, vec![], vec![])
    });
    let auth = json!({ jenkins.host(): {"user": "bot", "token": "jt", "crumb": "cr"} });
    let settings = Settings {
        jenkins_auth: Some(auth.to_string().into()),
        ..Settings::default()
    };
    let app = spawn_app_with_settings(TestDb::sqlite(), settings);
    let c = Client::new(&app);
    let r = c.post(
        "/api/v1/jenkins/build/",
        &json!({"web_url": jenkins.url("/job/nightly/3/")}),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["status"], "UNSTABLE");
    assert_eq!(r.json()["allow_failure"], true);
    let seen = jenkins.seen();
    assert_eq!(seen[0].header("jenkins-crumb"), Some("cr"));
    assert!(seen[0]
        .header("authorization")
        .unwrap()
        .starts_with("Basic "));

    let t = c.post(
        "/api/v1/jenkins/build/trigger/",
        &json!({"build_url": jenkins.url("/job/nightly"), "params": {"commit": "abc"}}),
    );
    assert_eq!(t.status, 200, "{}", t.body);
    assert_eq!(t.json()["status"], "pending");
    assert!(jenkins
        .seen()
        .iter()
        .any(|s| s.method == "POST" && s.target.contains("commit=abc")));
    let no_url = c.post("/api/v1/jenkins/build/trigger/", &json!({"params": {}}));
    assert_eq!(no_url.status, 400);

    // A host without credentials is refused before anything is sent.
    let other = forbidden_target();
    let r = c.post(
        "/api/v1/jenkins/build/",
        &json!({"web_url": other.url("/job/x/1/")}),
    );
    assert_eq!(r.status, 403, "{}", r.body);
    assert!(other.seen().is_empty());
}

/// A fake GitLab whose avatar needs a signed-in `_gitlab_session` (as a private project's).
fn private_gitlab() -> Fake {
    const FORMS: &str = r#"<html><body>
      <form id="new_ldap_user" action="/users/auth/ldapmain/callback" method="post">
        <input type="hidden" name="authenticity_token" value="ldap-token"></form>
      <form class="new_user" id="new_user" action="/users/sign_in" method="post">
        <input type="hidden" name="authenticity_token" value="csrf+token/=" autocomplete="off">
        <input name="user[login]"></form></body></html>"#;
    Fake::start(|req| {
        let cookie = req.header("cookie").unwrap_or("").to_string();
        let body = String::from_utf8_lossy(&req.body).to_string();
        match (req.method.as_str(), req.target.as_str()) {
            ("GET", "/users/sign_in") => (
                200,
                vec![
                    h("Content-Type", "text/html"),
                    h("Set-Cookie", "_gitlab_session=anonymous; path=/; HttpOnly"),
                ],
                FORMS.as_bytes().to_vec(),
            ),
            ("POST", "/users/sign_in") => {
                let good = body.contains("username=bot")
                    && body.contains("password=s3cret%26")
                    && body.contains("authenticity_token=csrf%2Btoken%2F%3D")
                    && cookie.contains("_gitlab_session=anonymous");
                if good {
                    (
                        302,
                        vec![
                            h("Location", "/"),
                            h("Set-Cookie", "_gitlab_session=signed-in; path=/; HttpOnly"),
                        ],
                        vec![],
                    )
                } else {
                    (
                        200,
                        vec![h("Content-Type", "text/html")],
                        FORMS.as_bytes().to_vec(),
                    )
                }
            }
            ("GET", t)
                if t.starts_with("/uploads/avatar.png")
                    && cookie.contains("_gitlab_session=signed-in") =>
            {
                (
                    200,
                    vec![h("Content-Type", "image/png")],
                    b"private".to_vec(),
                )
            }
            _ => (404, vec![], b"not found".to_vec()),
        }
    })
}

#[test]
fn gitlab_auth_signs_in_once_for_private_avatars() {
    for (password, expect) in [("s3cret&", 200), ("wrong", 404)] {
        let gitlab = private_gitlab();
        let auth = json!({gitlab.host(): {"user": "bot", "password": password, "http": true}});
        let settings = Settings {
            gitlab_auth: Some(auth.to_string().into()),
            // Loopback must still be allowed explicitly.
            proxy_allowed_hosts: vec![gitlab.host()],
            ..Settings::default()
        };
        let app = spawn_app_with_settings(TestDb::sqlite(), settings);
        let c = Client::new(&app);
        for name in ["avatar.png", "avatar.png?s=40"] {
            let r = c.get(&format!(
                "/api/v1/gitlab/proxy?url={}",
                gitlab.url(&format!("/uploads/{name}"))
            ));
            assert_eq!(r.status, expect, "{password}: {}", r.body);
            if expect == 200 {
                assert_eq!(r.body, "private");
                assert_eq!(r.header("set-cookie"), None);
            }
        }
        // One sign-in for both images, also after a refused one (not retried at once).
        let sign_ins = gitlab.seen().iter().filter(|s| s.method == "POST").count();
        assert_eq!(sign_ins, 1, "{:?}", gitlab.seen());
    }
}
