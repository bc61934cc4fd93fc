//! The server binary as an operator runs it.
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use qaboard_db::testing::TestDb;

struct Server {
    child: Child,
    base: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start(envs: &[(&str, &str)], cwd: &std::path::Path) -> Server {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_qaboard-server"));
    cmd.current_dir(cwd)
        .env("QABOARD_LISTEN", "127.0.0.1:0")
        .env_remove("QABOARD_DATABASE_URL")
        .env_remove("QABOARD_DB_HOST")
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
    for (k, v) in envs {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().expect("start qaboard-server");
    let stdout = child.stdout.take().unwrap();
    let mut line = String::new();
    BufReader::new(stdout)
        .read_line(&mut line)
        .expect("read stdout");
    let base = line
        .trim()
        .strip_prefix("qaboard-server listening on ")
        .unwrap_or_else(|| panic!("unexpected first line: {line:?}"))
        .to_string();
    Server { child, base }
}

fn get(url: &str) -> (u16, String) {
    match ureq::get(url).timeout(Duration::from_secs(10)).call() {
        Ok(r) => (r.status(), r.into_string().unwrap_or_default()),
        Err(ureq::Error::Status(s, r)) => (s, r.into_string().unwrap_or_default()),
        Err(e) => panic!("{url}: {e}"),
    }
}

#[test]
fn serves_on_a_new_embedded_sqlite_database_by_default() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(&[], dir.path());
    let (status, body) = get(&format!("{}/healthz", server.base));
    assert_eq!(status, 200, "{body}");
    assert!(
        dir.path().join("qaboard-data/qaboard.db").exists(),
        "the SQLite file is created"
    );
    let (status, body) = get(&format!("{}/api/v1/projects", server.base));
    assert_eq!((status, body.as_str()), (200, "{}"));
}

#[test]
fn migrates_and_serves_on_postgres() {
    let Some(db) = TestDb::postgres_empty() else {
        eprintln!("skipped: no QABOARD_TEST_DATABASE_URL");
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let server = start(&[("QABOARD_DATABASE_URL", db.url.as_str())], dir.path());
    let (status, _) = get(&format!("{}/healthz", server.base));
    assert_eq!(status, 200);
    let status = qaboard_db::migrations::status(&mut db.pool.get().unwrap()).unwrap();
    assert!(status.iter().all(|m| m.applied), "{status:?}");
    assert!(
        !dir.path().join("qaboard-data/qaboard.db").exists(),
        "no SQLite file when PostgreSQL is configured"
    );
}

#[test]
fn an_invalid_setting_stops_start_up_with_one_line_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    for (key, value, name) in [
        ("QABOARD_LISTEN", "not-an-address", "listen"),
        ("QABOARD_POOL_SIZE", "0", "pool_size"),
        ("QABOARD_POOL_SIZE", "many", "pool_size"),
        ("QABOARD_STORAGE_ROOT", "relative/path", "storage_root"),
    ] {
        let out = Command::new(env!("CARGO_BIN_EXE_qaboard-server"))
            .current_dir(dir.path())
            .env(key, value)
            .output()
            .unwrap();
        assert!(!out.status.success(), "{key}={value} must fail");
        let err = String::from_utf8_lossy(&out.stderr);
        let lines: Vec<&str> = err.lines().filter(|l| !l.trim().is_empty()).collect();
        assert_eq!(lines.len(), 1, "one line: {err}");
        assert!(lines[0].contains(name), "{key}={value}: {err}");
    }
}

#[test]
fn stops_gracefully_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let mut server = start(&[], dir.path());
    assert_eq!(get(&format!("{}/healthz", server.base)).0, 200);
    let pid = server.child.id().to_string();
    assert!(Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap()
        .success());
    let t = Instant::now();
    loop {
        if let Some(status) = server.child.try_wait().unwrap() {
            assert!(status.success(), "exit status after SIGTERM: {status}");
            break;
        }
        assert!(
            t.elapsed() < Duration::from_secs(30),
            "still running 30 s after SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}
