//! End-to-end: the real `qa` CLI (PyPI `qaboard==1.1.1`, in a virtualenv made by
//! `scripts/qa-venv.sh`) drives this server binary, on SQLite and (when
//! `QABOARD_TEST_DATABASE_URL` is set) PostgreSQL.
//!
//! Each case copies the installed package's `sample_project` into a temporary git
//! repository (storage and input database in the same temporary folder), starts
//! `qaboard-server` on a free port over a fresh database, runs `qa` as a user
//! and a CI job would, then checks through the API what landed, and that
//! `qa batch` itself finds those results again.
//!
//! `qa` only prints a warning and exits 0 when the server rejects a write, so
//! every call is also checked for such warnings, and every result is read back.
//!
//! Without python3/venv/PyPI the tests are skipped with a notice, or fail when
//! the `CI` environment variable is set. On failure the transcript of every `qa`
//! call, the server log, and the (kept) temporary folder are printed.
use std::collections::BTreeSet;
use std::ffi::OsString;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{mpsc, Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use qaboard_db::testing::TestDb;
use serde_json::{json, Value};

/// `project.name` in the sample project's qaboard.yaml.
const PROJECT: &str = "user/sample_project";
/// The user `qa` runs as (QA_USER); local shared runs go to the batch `@<user>| <label>`.
const USER: &str = "e2e";
const LOCAL_LABEL: &str = "@e2e| default";
const CI_LABEL: &str = "e2e-ci";
const TOKEN: &str = "tok123";
const BATCH: &str = "e2e-batch";
const INPUTS: [&str; 2] = ["A.jpg", "B.jpg"];
/// Forwarded to the sample project's `run()`, which formats it (hence `{{`) and runs it
/// in the output directory: `qa` merges the `metrics.json` it writes into the run's metrics.
const RUN_COMMAND: &str = r#"echo '{{"e2e_score": 0.75}}' > metrics.json && echo {input_path}"#;
const TUNING: &str = r#"{"threshold": 0.5}"#;
/// What `qa` prints when it could not talk to the server (it still exits 0).
const CLI_API_FAILURES: [&str; 5] = [
    "Failed to update QA-Board",
    "Failed to contact the QA-Board server",
    "Can't understand the server response",
    "Failed to get info from QA-Board",
    "Traceback",
];
/// Upper bound for one `qa` call (they take about a second).
const CLI_TIMEOUT: Duration = Duration::from_secs(90);

// ---------------------------------------------------------------------------
// The `qa` CLI: virtualenv and installed sample project
// ---------------------------------------------------------------------------

struct QaInstall {
    venv: PathBuf,
    sample_project: PathBuf,
}

/// The virtualenv (created once per test process), or `None` to skip.
fn qa_install() -> Option<&'static QaInstall> {
    static INSTALL: OnceLock<Result<QaInstall, String>> = OnceLock::new();
    match INSTALL.get_or_init(find_qa_install) {
        Ok(i) => Some(i),
        Err(why) if std::env::var_os("CI").is_some() => {
            panic!("the qa CLI is required when CI is set, but it is unavailable: {why}")
        }
        Err(why) => {
            eprintln!("NOTICE: skipping the qa CLI end-to-end test: {why}");
            None
        }
    }
}

fn find_qa_install() -> Result<QaInstall, String> {
    let started = Instant::now();
    let venv = qaboard_tests::qa_venv()?.to_path_buf();
    // Locate the installed package without importing it (importing runs its config).
    let out = Command::new(venv.join("bin/python"))
        .args([
            "-I",
            "-c",
            "import importlib.util, os; \
             print(os.path.join(importlib.util.find_spec('qaboard').submodule_search_locations[0], 'sample_project'))",
        ])
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("cannot run the venv's python: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "cannot locate qaboard/sample_project: {}",
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    let sample_project = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
    if !sample_project.starts_with(&venv) || !sample_project.join("qaboard.yaml").is_file() {
        return Err(format!(
            "no installed sample project at {}",
            sample_project.display()
        ));
    }
    eprintln!(
        "qa venv: {} (ready in {:.1}s)",
        venv.display(),
        started.elapsed().as_secs_f64()
    );
    Ok(QaInstall {
        venv,
        sample_project,
    })
}

// ---------------------------------------------------------------------------
// A git repository made from the sample project, with its storage and inputs
// ---------------------------------------------------------------------------

struct Fixture {
    tmp: Option<tempfile::TempDir>,
    root: PathBuf,
    repo: PathBuf,
    home: PathBuf,
    storage: PathBuf,
    database: PathBuf,
    batches_file: PathBuf,
    sha: String,
}

fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let name = entry.file_name();
        if name == "__pycache__" || name.to_string_lossy().ends_with(".pyc") {
            continue;
        }
        let (src, dst) = (entry.path(), to.join(&name));
        if entry.file_type().unwrap().is_dir() {
            copy_tree(&src, &dst);
        } else {
            std::fs::copy(&src, &dst).unwrap_or_else(|e| panic!("copy {}: {e}", src.display()));
        }
    }
}

fn yaml_str(p: &Path) -> String {
    format!("'{}'", p.display().to_string().replace('\'', "''"))
}

/// Replaces `from` (which must be there) in `text`.
fn replace_once(text: &str, from: &str, to: &str, what: &str) -> String {
    assert!(
        text.contains(from),
        "the installed sample_project/qaboard.yaml changed: cannot find {from:?} to set {what}"
    );
    text.replacen(from, to, 1)
}

fn git(repo: &Path, home: &Path, args: &[&str]) -> String {
    let out = Command::new("git")
        .args(args)
        .current_dir(repo)
        .env("HOME", home)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("cannot run git (is it installed?): {e}"));
    assert!(
        out.status.success(),
        "git {args:?} failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

impl Fixture {
    fn new(install: &QaInstall) -> Fixture {
        let tmp = tempfile::Builder::new()
            .prefix("qa-cli-e2e-")
            .tempdir()
            .unwrap();
        // `qa` resolves paths: use the canonical form so that ours compare equal.
        let root = tmp.path().canonicalize().unwrap();
        let (repo, home, storage) = (
            root.join("sample_project"),
            root.join("home"),
            root.join("storage"),
        );
        let database = root.join("datasets/qa_db");
        for d in [&home, &storage, &database] {
            std::fs::create_dir_all(d).unwrap();
        }
        for input in INPUTS {
            std::fs::write(database.join(input), format!("fake image {input}\n")).unwrap();
        }

        copy_tree(&install.sample_project, &repo);
        let config_path = repo.join("qaboard.yaml");
        let config = std::fs::read_to_string(&config_path).unwrap();
        let config = replace_once(
            &config,
            "linux: /mnt/qaboard",
            &format!("linux: {}", yaml_str(&storage)),
            "storage",
        );
        let config = replace_once(
            &config,
            "    linux: /\n    windows: C://\n",
            &format!("    linux: {}\n    windows: C://\n", yaml_str(&database)),
            "inputs.database",
        );
        std::fs::write(&config_path, config).unwrap();
        // Like the batches file the reference requests were captured with.
        let batches_file = repo.join("qa/e2e-batches.yaml");
        std::fs::write(
            &batches_file,
            format!(
                "{BATCH}:\n  database: {}\n  inputs:\n    - A.jpg\n    - B.jpg\n",
                yaml_str(&database)
            ),
        )
        .unwrap();

        git(&repo, &home, &["init", "-q"]);
        git(&repo, &home, &["symbolic-ref", "HEAD", "refs/heads/master"]);
        git(&repo, &home, &["config", "user.name", "Test User"]);
        git(&repo, &home, &["config", "user.email", "test@example.com"]);
        git(&repo, &home, &["config", "commit.gpgsign", "false"]);
        git(&repo, &home, &["add", "-A"]);
        git(
            &repo,
            &home,
            &["commit", "-q", "-m", "Initial sample project"],
        );
        let sha = git(&repo, &home, &["rev-parse", "HEAD"]);
        assert_eq!(sha.len(), 40, "unexpected sha {sha:?}");
        Fixture {
            tmp: Some(tmp),
            root,
            repo,
            home,
            storage,
            database,
            batches_file,
            sha,
        }
    }

    /// Where `qa` keeps this commit's outputs.
    fn outputs_commit(&self) -> PathBuf {
        self.storage
            .join(PROJECT)
            .join(&self.sha[..2])
            .join(&self.sha[2..16])
    }
}

// ---------------------------------------------------------------------------
// The server binary
// ---------------------------------------------------------------------------

/// The running server; killed when dropped (also on panic).
struct Server {
    child: Child,
    base: String,
    log: Arc<Mutex<String>>,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Appends everything `r` prints to `log`; sends the address from the "listening on" line.
fn pump(
    r: impl Read + Send + 'static,
    log: Arc<Mutex<String>>,
    addr: Option<mpsc::Sender<String>>,
) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        use std::io::BufRead;
        let mut r = std::io::BufReader::new(r);
        let mut buf = Vec::new();
        while matches!(r.read_until(b'\n', &mut buf), Ok(n) if n > 0) {
            let line = String::from_utf8_lossy(&buf);
            if let (Some(tx), Some(a)) = (&addr, line.split("listening on http://").nth(1)) {
                let _ = tx.send(a.trim().to_string());
            }
            log.lock().unwrap().push_str(&line);
            buf.clear();
        }
    })
}

impl Server {
    fn start(db: &TestDb, fx: &Fixture, write_tokens: Option<&str>) -> Server {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_qaboard-server"));
        for (k, _) in std::env::vars_os() {
            if k.to_string_lossy().starts_with("QABOARD_") {
                cmd.env_remove(k);
            }
        }
        cmd.env("QABOARD_LISTEN", "127.0.0.1:0")
            .env("QABOARD_DATABASE_URL", &db.url)
            .env("QABOARD_DATA_DIR", fx.root.join("server-data"))
            .env("QABOARD_STORAGE_ROOT", &fx.storage)
            .env("QABOARD_WORKERS", "2")
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        if let Some(t) = write_tokens {
            cmd.env("QABOARD_AUTH__WRITE_TOKENS", t);
        }
        let mut child = cmd.spawn().expect("spawn qaboard-server");
        let log = Arc::new(Mutex::new(String::new()));
        let (tx, rx) = mpsc::channel();
        pump(child.stdout.take().unwrap(), log.clone(), Some(tx));
        pump(child.stderr.take().unwrap(), log.clone(), None);
        let mut server = Server {
            child,
            base: String::new(),
            log,
        };
        match rx.recv_timeout(Duration::from_secs(60)) {
            Ok(addr) => server.base = format!("http://{addr}"),
            Err(e) => {
                std::thread::sleep(Duration::from_millis(200));
                panic!(
                    "qaboard-server did not print its address ({e}); exit status: {:?}\n--- server log ---\n{}",
                    server.child.try_wait(),
                    server.log.lock().unwrap()
                );
            }
        }
        server
    }

    /// `127.0.0.1:<port>`, for QABOARD_HOST.
    fn host(&self) -> &str {
        self.base.trim_start_matches("http://")
    }
}

// ---------------------------------------------------------------------------
// HTTP to our API
// ---------------------------------------------------------------------------

fn agent() -> ureq::Agent {
    ureq::AgentBuilder::new()
        .timeout(Duration::from_secs(30))
        .build()
}

/// Status and body, whatever the status.
fn send(req: ureq::Request, body: Option<&Value>) -> (u16, String) {
    let res = match body {
        Some(b) => req.send_json(b),
        None => req.call(),
    };
    match res {
        Ok(r) => (r.status(), r.into_string().unwrap_or_default()),
        Err(ureq::Error::Status(code, r)) => (code, r.into_string().unwrap_or_default()),
        Err(e) => panic!("HTTP request failed: {e}"),
    }
}

fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let hex = |c: u8| (c as char).to_digit(16);
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' && i + 2 < b.len() {
            if let (Some(h), Some(l)) = (hex(b[i + 1]), hex(b[i + 2])) {
                out.push((h * 16 + l) as u8);
                i += 3;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The directory of a `/s<percent-encoded absolute path>` URL.
fn url_dir(url: &Value) -> PathBuf {
    let url = url.as_str().unwrap_or_else(|| panic!("not a URL: {url}"));
    let path = percent_decode(url);
    PathBuf::from(
        path.strip_prefix("/s")
            .unwrap_or_else(|| panic!("URL without /s: {url}")),
    )
}

// ---------------------------------------------------------------------------
// A case: fixture + server + CLI calls, with diagnostics on failure
// ---------------------------------------------------------------------------

struct CliRun {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

impl CliRun {
    fn text(&self) -> String {
        format!(
            "--- stdout ---\n{}--- stderr ---\n{}",
            self.stdout, self.stderr
        )
    }
}

struct Case {
    name: String,
    install: &'static QaInstall,
    started: Instant,
    transcript: Mutex<String>,
    // Dropped in this order: the server first, then its database, then the files.
    server: Server,
    db: TestDb,
    fx: Fixture,
}

impl Drop for Case {
    fn drop(&mut self) {
        if std::thread::panicking() {
            let kept = self.fx.tmp.take().map(|t| t.keep());
            eprintln!(
                "\n===== [{}] FAILED after {:.1}s; database {:?}; files kept in {:?} =====\n\
                 ===== qa calls =====\n{}\n===== server log ({}) =====\n{}",
                self.name,
                self.started.elapsed().as_secs_f64(),
                self.db,
                kept,
                self.transcript.lock().unwrap(),
                self.server.base,
                self.server.log.lock().unwrap()
            );
        } else {
            eprintln!(
                "[{}] passed in {:.1}s",
                self.name,
                self.started.elapsed().as_secs_f64()
            );
        }
    }
}

impl Case {
    fn start(
        name: &str,
        install: &'static QaInstall,
        db: TestDb,
        write_tokens: Option<&str>,
    ) -> Case {
        let started = Instant::now();
        let fx = Fixture::new(install);
        let server = Server::start(&db, &fx, write_tokens);
        eprintln!(
            "[{name}] server {} over {db:?}, repo {} at {}",
            server.base,
            fx.repo.display(),
            &fx.sha[..10]
        );
        Case {
            name: name.to_string(),
            install,
            started,
            transcript: Mutex::new(String::new()),
            server,
            db,
            fx,
        }
    }

    /// Runs `qa <args>` in the repository as a user would; `env` adds variables.
    fn qa(&self, args: &[&str], env: &[(&str, &str)]) -> CliRun {
        let venv_bin = self.install.venv.join("bin");
        let mut path = OsString::from(venv_bin.as_os_str());
        path.push(":");
        path.push(
            std::env::var_os("PATH").unwrap_or_else(|| "/usr/local/bin:/usr/bin:/bin".into()),
        );
        let mut cmd = Command::new(venv_bin.join("qa"));
        // A clean environment: nothing from the developer's or CI's (CI, GIT_COMMIT, QA_*...).
        cmd.env_clear()
            .env("PATH", path)
            .env("HOME", &self.fx.home)
            .env("USER", USER)
            .env("LOGNAME", USER)
            .env("QA_USER", USER)
            .env(
                "QA_USER_SECRETS",
                self.fx.home.join(".qaboard/secrets.yaml"),
            )
            .env("QABOARD_SITE_CONFIG", "")
            .env("QABOARD_HOST", self.server.host())
            .env("QABOARD_PROTOCOL", "http")
            .env("QA_NO_CHECK_FOR_UPDATES", "1")
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .env("PYTHONUTF8", "1")
            .env("PYTHONDONTWRITEBYTECODE", "1");
        if let Some(tmp) = std::env::var_os("TMPDIR") {
            cmd.env("TMPDIR", tmp);
        }
        for (k, v) in env {
            cmd.env(k, v);
        }
        {
            use std::os::unix::process::CommandExt;
            // Its own process group, so that a hung `qa batch` is killed with its jobs.
            cmd.process_group(0);
        }
        cmd.args(args)
            .current_dir(&self.fx.repo)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());

        let started = Instant::now();
        let mut child = cmd.spawn().expect("spawn qa");
        let (out, err) = (
            Arc::new(Mutex::new(String::new())),
            Arc::new(Mutex::new(String::new())),
        );
        let readers = [
            pump(child.stdout.take().unwrap(), out.clone(), None),
            pump(child.stderr.take().unwrap(), err.clone(), None),
        ];
        let status = loop {
            if let Some(s) = child.try_wait().unwrap() {
                break Some(s);
            }
            if started.elapsed() > CLI_TIMEOUT {
                let _ = Command::new("kill")
                    .args(["-KILL", "--", &format!("-{}", child.id())])
                    .status();
                let _ = child.wait();
                break None;
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        // The pipes close once `qa` and the jobs it started are gone.
        for r in readers {
            let _ = r.join();
        }
        let run = CliRun {
            code: status.and_then(|s| s.code()),
            stdout: out.lock().unwrap().clone(),
            stderr: err.lock().unwrap().clone(),
        };
        let env_str: String = env.iter().map(|(k, v)| format!("{k}={v} ")).collect();
        let summary = format!(
            "$ {}qa {:?} -> {} in {:.2}s",
            env_str,
            args,
            match (status, run.code) {
                (None, _) => format!("TIMEOUT after {CLI_TIMEOUT:?}"),
                (_, Some(c)) => format!("exit {c}"),
                (Some(s), None) => format!("{s}"),
            },
            started.elapsed().as_secs_f64()
        );
        eprintln!("[{}] {summary}", self.name);
        let mut t = self.transcript.lock().unwrap();
        t.push_str(&format!("{summary}\n{}\n", run.text()));
        run
    }

    /// `qa` that must exit 0 and report no failed exchange with the server.
    fn qa_ok(&self, args: &[&str], env: &[(&str, &str)]) -> CliRun {
        let run = self.qa(args, env);
        assert_eq!(
            run.code,
            Some(0),
            "[{}] qa {args:?} failed:\n{}",
            self.name,
            run.text()
        );
        for needle in CLI_API_FAILURES {
            assert!(
                !run.stdout.contains(needle) && !run.stderr.contains(needle),
                "[{}] qa {args:?} printed {needle:?}: its exchange with the server failed:\n{}",
                self.name,
                run.text()
            );
        }
        run
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.server.base)
    }

    /// GET /api/v1/commit/<sha>?project=<project> (as the webapp/CLI read it).
    fn commit(&self) -> Value {
        let req = agent()
            .get(&self.url(&format!("/api/v1/commit/{}", self.fx.sha)))
            .query("project", PROJECT);
        let (status, body) = send(req, None);
        assert_eq!(status, 200, "[{}] GET commit: {body}", self.name);
        serde_json::from_str(&body).unwrap_or_else(|e| panic!("GET commit: not JSON ({e}): {body}"))
    }

    /// The lines `qa batch --list-output-dirs` printed: absolute output directories.
    fn listed_dirs(run: &CliRun) -> BTreeSet<PathBuf> {
        run.stdout
            .lines()
            .map(str::trim)
            .filter(|l| l.starts_with('/'))
            .map(PathBuf::from)
            .collect()
    }
}

// ---------------------------------------------------------------------------
// Expectations on the API's answers
// ---------------------------------------------------------------------------

/// One output we expect in a batch.
struct Expected {
    input: &'static str,
    configurations: Value,
    extra_parameters: Value,
    e2e_score: Option<f64>,
}

/// Checks a batch of the commit: exactly `expected` outputs, all finished and
/// successful, with their metrics, in directories under the commit's storage.
/// Returns the output directories.
fn check_batch(
    case: &Case,
    commit: &Value,
    label: &str,
    job_type: &str,
    expected: &[Expected],
) -> BTreeSet<PathBuf> {
    let ctx = format!("[{}] batch {label:?}", case.name);
    let batch = &commit["batches"][label];
    assert!(
        batch.is_object(),
        "{ctx} is missing; batches: {}",
        commit["batches"]
    );
    assert_eq!(batch["label"], label, "{ctx}");
    assert_eq!(batch["data"]["type"], job_type, "{ctx}: data.type");
    let commands = batch["data"]["commands"]
        .as_object()
        .unwrap_or_else(|| panic!("{ctx}: no data.commands: {batch}"));
    assert_eq!(
        commands.len(),
        1,
        "{ctx}: one `qa batch` command expected: {batch}"
    );
    let argv = commands.values().next().unwrap()["argv"].to_string();
    assert!(
        argv.contains("batch") && argv.contains(BATCH),
        "{ctx}: command argv {argv}"
    );
    let outputs_commit = case.fx.outputs_commit();
    let batch_dir = url_dir(&batch["batch_dir_url"]);
    assert!(
        batch_dir.starts_with(&outputs_commit),
        "{ctx}: batch_dir_url {} not under {}",
        batch["batch_dir_url"],
        outputs_commit.display()
    );
    for (counter, value) in [
        ("valid_outputs", expected.len()),
        ("pending_outputs", 0),
        ("running_outputs", 0),
        ("failed_outputs", 0),
        ("deleted_outputs", 0),
    ] {
        assert_eq!(
            batch[counter],
            json!(value),
            "{ctx}: {counter}; batch: {batch:#}"
        );
    }

    let outputs = batch["outputs"]
        .as_object()
        .unwrap_or_else(|| panic!("{ctx}: no outputs: {batch}"));
    assert_eq!(
        outputs.len(),
        expected.len(),
        "{ctx}: outputs {:#}",
        batch["outputs"]
    );
    let mut dirs = BTreeSet::new();
    for exp in expected {
        let found: Vec<&Value> = outputs
            .values()
            .filter(|o| {
                o["test_input_path"] == exp.input
                    && o["configurations"] == exp.configurations
                    && o["extra_parameters"] == exp.extra_parameters
            })
            .collect();
        assert_eq!(
            found.len(),
            1,
            "{ctx}: expected one output for {} {} {}; outputs: {:#}",
            exp.input,
            exp.configurations,
            exp.extra_parameters,
            batch["outputs"]
        );
        let o = found[0];
        let octx = format!("{ctx} output {} ({})", o["id"], exp.input);
        for (flag, value) in [
            ("is_pending", false),
            ("is_running", false),
            ("is_failed", false),
            ("deleted", false),
        ] {
            assert_eq!(o[flag], json!(value), "{octx}: {flag}: {o:#}");
        }
        assert_eq!(o["platform"], "linux", "{octx}");
        assert_eq!(o["output_type"], "default", "{octx}");
        assert_eq!(
            o["test_input_database"],
            json!(case.fx.database.display().to_string()),
            "{octx}"
        );
        let metrics = &o["metrics"];
        assert_eq!(
            metrics["is_failed"],
            json!(false),
            "{octx}: metrics {metrics}"
        );
        assert!(
            metrics["compute_time"].as_f64().is_some_and(|t| t >= 0.0),
            "{octx}: metrics {metrics}"
        );
        match exp.e2e_score {
            Some(s) => assert_eq!(
                metrics["e2e_score"].as_f64(),
                Some(s),
                "{octx}: metrics {metrics}"
            ),
            None => assert!(
                metrics.get("e2e_score").is_none(),
                "{octx}: metrics {metrics}"
            ),
        }
        // The data of the final update: the run's storage size, plus user and ci.
        assert!(
            o["data"]["storage"].is_number(),
            "{octx}: data {}",
            o["data"]
        );
        assert_eq!(o["data"]["user"], USER, "{octx}: data {}", o["data"]);
        assert_eq!(
            o["data"]["ci"],
            json!(job_type == "ci"),
            "{octx}: data {}",
            o["data"]
        );
        let dir = url_dir(&o["output_dir_url"]);
        assert!(
            dir.starts_with(&batch_dir),
            "{octx}: output_dir_url {} not under the batch dir",
            o["output_dir_url"]
        );
        assert!(
            dir.join("metrics.json").is_file(),
            "{octx}: no metrics.json in {}",
            dir.display()
        );
        dirs.insert(dir);
    }
    dirs
}

fn batch_labels(commit: &Value) -> BTreeSet<&str> {
    let batches = commit["batches"].as_object();
    let batches = batches.unwrap_or_else(|| panic!("commit without `batches`: {commit:#}"));
    batches.keys().map(String::as_str).collect()
}

fn local_batch_expectations() -> Vec<Expected> {
    vec![
        // `qa --share run -i A.jpg '<command>'`: the forwarded command is part of its identity.
        Expected {
            input: "A.jpg",
            configurations: json!([]),
            extra_parameters: json!({ "forwarded_args": [RUN_COMMAND] }),
            e2e_score: Some(0.75),
        },
        // `qa --share batch e2e-batch`
        Expected {
            input: "A.jpg",
            configurations: json!([]),
            extra_parameters: json!({}),
            e2e_score: None,
        },
        Expected {
            input: "B.jpg",
            configurations: json!([]),
            extra_parameters: json!({}),
            e2e_score: None,
        },
    ]
}

// ---------------------------------------------------------------------------
// Scenarios
// ---------------------------------------------------------------------------

fn strs(v: &[String]) -> Vec<&str> {
    v.iter().map(String::as_str).collect()
}

/// A user shares a run and a batch; a CI job runs a labelled, tuned batch.
fn share_and_ci(backend: &str, db: Option<TestDb>) {
    let Some(install) = qa_install() else { return };
    let Some(db) = db else {
        eprintln!("NOTICE: skipping the {backend} case: QABOARD_TEST_DATABASE_URL is not set");
        return;
    };
    let case = Case::start(&format!("{backend}/share+ci"), install, db, None);
    let fx = &case.fx;
    let batches_file = fx.batches_file.display().to_string();
    let ci_env = [
        ("CI", "true"),
        ("CI_COMMIT_SHA", fx.sha.as_str()),
        ("CI_COMMIT_REF_NAME", "master"),
    ];
    let ci_args = |tail: &[&'static str]| -> Vec<String> {
        let mut v: Vec<String> = [
            "--label",
            CI_LABEL,
            "-c",
            "base",
            "--tuning",
            TUNING,
            "batch",
            "--batches-file",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        v.push(batches_file.clone());
        v.push(BATCH.into());
        v.extend(tail.iter().map(|s| s.to_string()));
        v
    };

    // 1. A user shares one run.
    let run = case.qa_ok(&["--share", "run", "-i", "A.jpg", RUN_COMMAND], &[]);
    assert!(
        run.stdout.contains("e2e_score"),
        "the run's command did not run:\n{}",
        run.text()
    );
    // 2. ...and a batch, from a batches file.
    case.qa_ok(
        &["--share", "batch", "--batches-file", &batches_file, BATCH],
        &[],
    );
    // 3. A CI job: label, configuration, tuning.
    case.qa_ok(&strs(&ci_args(&[])), &ci_env);

    // 4. Everything landed, finished, with metrics, in the expected batches.
    let commit = case.commit();
    assert_eq!(commit["id"], json!(fx.sha), "commit: {commit:#}");
    assert_eq!(commit["branch"], "master");
    assert_eq!(commit["message"], "Initial sample project");
    assert_eq!(commit["committer_name"], "Test User");
    assert_eq!(commit["data"]["qatools_config"]["project"]["name"], PROJECT);
    assert_eq!(
        batch_labels(&commit),
        BTreeSet::from([LOCAL_LABEL, CI_LABEL]),
        "batches of {commit:#}"
    );
    let local_dirs = check_batch(
        &case,
        &commit,
        LOCAL_LABEL,
        "local",
        &local_batch_expectations(),
    );
    let ci_expected: Vec<Expected> = INPUTS
        .iter()
        .map(|&input| Expected {
            input,
            configurations: json!(["base"]),
            extra_parameters: json!({"threshold": 0.5}),
            e2e_score: None,
        })
        .collect();
    let ci_dirs = check_batch(&case, &commit, CI_LABEL, "ci", &ci_expected);
    let (status, body) = send(agent().get(&case.url("/api/v1/projects")), None);
    assert_eq!(status, 200, "GET /api/v1/projects: {body}");
    assert!(
        serde_json::from_str::<Value>(&body).unwrap()[PROJECT].is_object(),
        "projects: {body}"
    );

    // 5. `qa batch` finds those results through the API: with `--action-on-existing
    //    assert-exists` it fails unless every run of the batch is known to the server.
    // `qa --share [--label L] batch ... --action-on-existing assert-exists --list-output-dirs`.
    let assert_exists = |label: &[&'static str]| -> Vec<String> {
        let tail = [
            "batch",
            "--batches-file",
            &batches_file,
            BATCH,
            "--action-on-existing",
            "assert-exists",
            "--list-output-dirs",
        ];
        std::iter::once("--share")
            .chain(label.iter().copied())
            .chain(tail)
            .map(String::from)
            .collect()
    };
    let seen = case.qa_ok(&strs(&assert_exists(&[])), &[]);
    assert_eq!(
        Case::listed_dirs(&seen),
        local_dirs,
        "qa batch (local) saw other output dirs:\n{}",
        seen.text()
    );
    let seen = case.qa_ok(
        &strs(&ci_args(&[
            "--action-on-existing",
            "assert-exists",
            "--list-output-dirs",
        ])),
        &ci_env,
    );
    assert_eq!(
        Case::listed_dirs(&seen),
        ci_dirs,
        "qa batch (CI) saw other output dirs:\n{}",
        seen.text()
    );
    // ...and it does fail for a batch the server does not have (so the check above means something).
    let missing = case.qa(&strs(&assert_exists(&["--label", "never-ran"])), &[]);
    assert_eq!(
        missing.code,
        Some(1),
        "assert-exists should fail for a batch that never ran:\n{}",
        missing.text()
    );
}

/// The server requires a write token: `qa` with QA_TOKEN works, writes without it get 401.
fn with_write_token(backend: &str, db: Option<TestDb>) {
    let Some(install) = qa_install() else { return };
    let Some(db) = db else {
        eprintln!("NOTICE: skipping the {backend} case: QABOARD_TEST_DATABASE_URL is not set");
        return;
    };
    let case = Case::start(&format!("{backend}/token"), install, db, Some(TOKEN));
    let batches_file = case.fx.batches_file.display().to_string();
    let token = [("QA_TOKEN", TOKEN)];

    case.qa_ok(&["--share", "run", "-i", "A.jpg", RUN_COMMAND], &token);
    case.qa_ok(
        &["--share", "batch", "--batches-file", &batches_file, BATCH],
        &token,
    );
    let commit = case.commit(); // reads need no token
    assert_eq!(
        batch_labels(&commit),
        BTreeSet::from([LOCAL_LABEL]),
        "batches of {commit:#}"
    );
    check_batch(
        &case,
        &commit,
        LOCAL_LABEL,
        "local",
        &local_batch_expectations(),
    );

    // Without the token, `qa` is refused (it only warns, and still exits 0)...
    let refused = case.qa(&["--share", "run", "-i", "B.jpg", RUN_COMMAND], &[]);
    assert!(
        refused.stderr.contains("Failed to update QA-Board") && refused.stderr.contains("401"),
        "qa without QA_TOKEN should have been refused with 401:\n{}",
        refused.text()
    );
    // ...nothing landed...
    let after = case.commit();
    assert_eq!(
        after["batches"][LOCAL_LABEL]["outputs"], commit["batches"][LOCAL_LABEL]["outputs"],
        "a refused write changed the batch"
    );

    // ...and the raw requests get 401 with a JSON error, with no or a wrong token.
    let body = json!({
        "project": PROJECT, "project_root": PROJECT, "subproject": ".", "user": USER, "job_type": "local",
        "commit_sha": case.fx.sha, "git_commit_sha": case.fx.sha, "commit_branch": "master",
        "batch_label": LOCAL_LABEL, "platform": "linux", "input_type": "default",
        "database": case.fx.database, "input_path": "B.jpg", "configuration": "-", "configurations": [],
        "extra_parameters": {"unauthorized": true}, "is_pending": true, "is_running": true,
        "output_directory": case.fx.outputs_commit().join("output/unauthorized"),
    });
    for path in ["/api/v1/output/", "/api/v1/batch/", "/api/v1/commit/"] {
        for auth in [None, Some("Bearer wrong-token")] {
            let mut req = agent().post(&case.url(path));
            if let Some(a) = auth {
                req = req.set("Authorization", a);
            }
            let (status, text) = send(req, Some(&body));
            assert_eq!(
                status, 401,
                "POST {path} with Authorization {auth:?}: {text}"
            );
            let error: Value = serde_json::from_str(&text)
                .unwrap_or_else(|e| panic!("401 body is not JSON ({e}): {text}"));
            assert!(
                error["error"].is_string(),
                "POST {path}: 401 body without `error`: {text}"
            );
        }
    }
    let after = case.commit();
    assert_eq!(
        after["batches"][LOCAL_LABEL]["outputs"], commit["batches"][LOCAL_LABEL]["outputs"],
        "a refused write changed the batch"
    );
}

#[test]
fn qa_cli_share_and_ci_sqlite() {
    share_and_ci("sqlite", Some(TestDb::sqlite()));
}

#[test]
fn qa_cli_share_and_ci_postgres() {
    share_and_ci("postgres", TestDb::postgres());
}

#[test]
fn qa_cli_write_token_sqlite() {
    with_write_token("sqlite", Some(TestDb::sqlite()));
}

#[test]
fn qa_cli_write_token_postgres() {
    with_write_token("postgres", TestDb::postgres());
}
