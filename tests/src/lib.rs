//! Test harness: [`spawn_app`] serves the real API (the same routes as the
//! server binary) on `127.0.0.1:0` over a fresh database, and [`Client`]
//! talks plain HTTP to it. Every test gets its own database; tests run on
//! every available backend via [`for_each_backend`].
use std::sync::mpsc;
use std::time::Duration;

use qaboard_api::{ApiConfig, AppState, Application};
pub use qaboard_db::testing::TestDb;
use serde_json::Value;

/// A running server and its database.
pub struct TestApp {
    /// `http://127.0.0.1:<port>`
    pub base: String,
    /// The database behind it.
    pub db: TestDb,
    handle: actix_web::dev::ServerHandle,
}

impl Drop for TestApp {
    fn drop(&mut self) {
        // Stop accepting; the database is dropped after.
        let h = self.handle.clone();
        std::mem::drop(h.stop(false));
    }
}

/// Starts the API on a free port over `db`, with the server binary's own
/// builder ([`qaboard_api::Application::build`]: same routes, middleware and
/// logger).
pub fn spawn_app(db: TestDb, cfg: ApiConfig) -> TestApp {
    let state = AppState::new(db.pool.clone(), cfg);
    spawn_app_with_state(db, state)
}

/// Starts the API over `db` with a state built by the caller (settings
/// beyond [`ApiConfig`], such as `webapp_dir`).
pub fn spawn_app_with_state(db: TestDb, state: AppState) -> TestApp {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        actix_web::rt::System::new().block_on(async move {
            let app = Application::build(state, ([127, 0, 0, 1], 0).into(), 2).expect("bind");
            tx.send((app.addrs()[0], app.handle())).expect("send addr");
            let _ = app.run_until_stopped().await;
        });
    });
    let (addr, handle) = rx
        .recv_timeout(Duration::from_secs(30))
        .expect("server started");
    TestApp {
        base: format!("http://{addr}"),
        db,
        handle,
    }
}

/// A server started by [`serve`]; stopped when dropped.
pub struct Served {
    /// `http://127.0.0.1:<port>`
    pub base: String,
    handle: actix_web::dev::ServerHandle,
}

impl Drop for Served {
    fn drop(&mut self) {
        std::mem::drop(self.handle.clone().stop(false));
    }
}

/// Serves `state` on a free port of 127.0.0.1 (another server process on a database, for tests
/// of what several processes share).
pub fn serve(state: AppState) -> Served {
    let (base, handle) = start(state);
    Served { base, handle }
}

fn start(state: AppState) -> (String, actix_web::dev::ServerHandle) {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        actix_web::rt::System::new().block_on(async move {
            let app = Application::build(state, ([127, 0, 0, 1], 0).into(), 2).expect("bind");
            tx.send((app.addrs()[0], app.handle())).expect("send addr");
            let _ = app.run_until_stopped().await;
        });
    });
    let (addr, handle) = rx
        .recv_timeout(Duration::from_secs(30))
        .expect("server started");
    (format!("http://{addr}"), handle)
}

/// Starts the API over `db` with these process settings (users, integrations, …).
pub fn spawn_app_with_settings(db: TestDb, settings: qaboard_settings::Settings) -> TestApp {
    let state = AppState::from_settings(db.pool.clone(), settings);
    let (base, handle) = start(state);
    TestApp { base, db, handle }
}

/// Runs `f` once per available backend (SQLite always, PostgreSQL when
/// `QABOARD_TEST_DATABASE_URL` is set), each on a fresh database and server.
pub fn for_each_backend(cfg: ApiConfig, f: impl Fn(&TestApp)) {
    let mut dbs = vec![TestDb::sqlite()];
    dbs.extend(TestDb::postgres());
    for db in dbs {
        let label = format!("{db:?}");
        let app = spawn_app(db, cfg.clone());
        eprintln!("backend: {label}");
        f(&app);
    }
}

/// Runs `f` once per available backend like [`for_each_backend`], the
/// state of each server made by `make` over its pool.
pub fn for_each_backend_with_state(
    make: impl Fn(qaboard_db::DbPool) -> AppState,
    f: impl Fn(&TestApp),
) {
    let mut dbs = vec![TestDb::sqlite()];
    dbs.extend(TestDb::postgres());
    for db in dbs {
        let label = format!("{db:?}");
        let state = make(db.pool.clone());
        let app = spawn_app_with_state(db, state);
        eprintln!("backend: {label}");
        f(&app);
    }
}

/// A response: status and body (JSON when it parses).
#[derive(Debug)]
pub struct Resp {
    pub status: u16,
    pub body: String,
    pub headers: Vec<(String, String)>,
}

impl Resp {
    /// The body as JSON (panics when it is not).
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.body))
    }
    /// A header value.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// A minimal HTTP client.
pub struct Client {
    agent: ureq::Agent,
    base: String,
    token: Option<String>,
    cookie: Option<String>,
}

impl Client {
    /// A client of `app`.
    pub fn new(app: &TestApp) -> Client {
        Client::for_base(&app.base)
    }

    /// A client of a server at `base`.
    pub fn for_base(base: &str) -> Client {
        Client {
            agent: ureq::AgentBuilder::new()
                .timeout(Duration::from_secs(60))
                .redirects(0)
                .build(),
            base: base.to_string(),
            token: None,
            cookie: None,
        }
    }

    /// Sends `Authorization: Bearer <token>` from now on.
    pub fn with_token(mut self, token: &str) -> Client {
        self.token = Some(token.to_string());
        self
    }

    /// Sends `Cookie: <cookie>` (e.g. `qaboard_session=…`) from now on.
    pub fn with_cookie(mut self, cookie: &str) -> Client {
        self.cookie = Some(cookie.to_string());
        self
    }

    /// Any request; `body` is sent as-is with a JSON content type.
    pub fn request(&self, method: &str, path: &str, body: Option<&[u8]>) -> Resp {
        let mut req = self
            .agent
            .request(method, &format!("{}{}", self.base, path));
        if let Some(t) = &self.token {
            req = req.set("Authorization", &format!("Bearer {t}"));
        }
        if let Some(c) = &self.cookie {
            req = req.set("Cookie", c);
        }
        let result = match body {
            Some(b) => req.set("Content-Type", "application/json").send_bytes(b),
            None => req.call(),
        };
        let resp = match result {
            Ok(r) => r,
            Err(ureq::Error::Status(_, r)) => r,
            Err(e) => panic!("{method} {path}: {e}"),
        };
        let status = resp.status();
        let headers = resp
            .headers_names()
            .into_iter()
            .filter_map(|n| resp.header(&n).map(|v| (n.clone(), v.to_string())))
            .collect();
        let body = resp.into_string().unwrap_or_default();
        Resp {
            status,
            body,
            headers,
        }
    }

    /// GET.
    pub fn get(&self, path: &str) -> Resp {
        self.request("GET", path, None)
    }

    /// POST a JSON value.
    pub fn post(&self, path: &str, body: &Value) -> Resp {
        self.request("POST", path, Some(body.to_string().as_bytes()))
    }

    /// PUT a JSON value.
    pub fn put(&self, path: &str, body: &Value) -> Resp {
        self.request("PUT", path, Some(body.to_string().as_bytes()))
    }
}

/// Path of the shared reference material (`../shared/reference` from the repo root).
pub fn reference_dir() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/reference")
}

/// Every captured request of a `qa` scenario, in order: `(method, path with query, body)`.
pub fn scenario(name: &str) -> Vec<(String, String, Option<Value>)> {
    let dir = reference_dir().join("qa-cli-requests").join(name);
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    files.sort();
    files
        .into_iter()
        .map(|p| {
            let v: Value = serde_json::from_slice(&std::fs::read(&p).unwrap()).unwrap();
            let method = v["method"].as_str().unwrap().to_string();
            let mut path = v["path"].as_str().unwrap().to_string();
            if let Some(q) = v["query"].as_object().filter(|q| !q.is_empty()) {
                let qs: Vec<String> = q
                    .iter()
                    .map(|(k, v)| {
                        let v = match v {
                            Value::String(s) => s.clone(),
                            Value::Array(a) => {
                                a.first().and_then(|x| x.as_str()).unwrap_or("").to_string()
                            }
                            other => other.to_string(),
                        };
                        format!("{}={}", encode(k), encode(&v))
                    })
                    .collect();
                path = format!("{path}?{}", qs.join("&"));
            }
            let body = Some(v["body"].clone()).filter(|b| !b.is_null());
            (method, path, body)
        })
        .collect()
}

/// Percent-encodes a query component.
pub fn encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// A temporary folder for a test's files, named by its canonical path (so
/// paths compare with what the server sees), removed on drop.
pub struct TempDir {
    _dir: tempfile::TempDir,
    path: std::path::PathBuf,
}

impl TempDir {
    /// A new empty folder under the system's temporary folder, `tag` in its name.
    pub fn new(tag: &str) -> TempDir {
        let dir = tempfile::Builder::new()
            .prefix(&format!("qaboard-{tag}-"))
            .tempdir()
            .expect("temporary folder");
        let path = std::fs::canonicalize(dir.path()).expect("canonical temporary folder");
        TempDir { _dir: dir, path }
    }

    /// Its canonical path.
    pub fn path(&self) -> &std::path::Path {
        &self.path
    }
}

/// The virtualenv holding the real `qa` CLI (PyPI `qaboard` 1.1.1), made
/// or found once per test process by `scripts/qa-venv.sh`: its path, or
/// why it is unavailable (each test decides whether that skips or fails).
pub fn qa_venv() -> Result<&'static std::path::Path, String> {
    use std::process::{Command, Stdio};
    static VENV: std::sync::OnceLock<Result<std::path::PathBuf, String>> =
        std::sync::OnceLock::new();
    VENV.get_or_init(|| {
        let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts/qa-venv.sh");
        let out = Command::new("bash")
            .arg(&script)
            .stdin(Stdio::null())
            .output()
            .map_err(|e| format!("cannot run {}: {e}", script.display()))?;
        if !out.status.success() {
            return Err(format!(
                "{} failed ({}): {}",
                script.display(),
                out.status,
                String::from_utf8_lossy(&out.stderr).trim()
            ));
        }
        Ok(std::path::PathBuf::from(
            String::from_utf8_lossy(&out.stdout).trim(),
        ))
    })
    .as_deref()
    .map_err(Clone::clone)
}
