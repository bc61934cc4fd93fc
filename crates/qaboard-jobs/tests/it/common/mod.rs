//! Shared set-up: a stand-in `qa` script and /proc checks.

#![allow(dead_code)]

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::thread;
use std::time::{Duration, Instant};

use qaboard_jobs::{JobSpec, JobsConfig, LocalRunner};

/// Records argv (NUL separated), cwd and environment into `$QA_TEST_RECORD`,
/// then behaves as `$QA_TEST_MODE` says.
pub const FAKE_QA: &str = r#"#!/bin/bash
rec="$QA_TEST_RECORD"
printf '%s\0' "$@" > "$rec/argv"
pwd -P > "$rec/cwd"
env -0 > "$rec/env"
umask > "$rec/umask"
case "$QA_TEST_MODE" in
  fail) echo "fake qa: something broke" >&2; exit 3 ;;
  sleep) sleep 300 & echo $! > "$rec/child"; echo "fake qa: sleeping"; wait ;;
  list) echo "some noise"; printf '[\n  {"input_path": "/db/a b.mp4", "rel_input_path": "a b.mp4", "configurations": ["base", {"x": 1}]}\n]\n' ;;
  *) echo "fake qa: ok" ;;
esac
"#;

pub struct Fixture {
    pub tmp: tempfile::TempDir,
    pub qa: PathBuf,
    pub record: PathBuf,
}

impl Fixture {
    pub fn new() -> Self {
        let tmp = tempfile::tempdir().unwrap();
        let qa = tmp.path().join("bin/fake-qa");
        fs::create_dir_all(qa.parent().unwrap()).unwrap();
        fs::write(&qa, FAKE_QA).unwrap();
        fs::set_permissions(&qa, fs::Permissions::from_mode(0o755)).unwrap();
        let record = tmp.path().join("record");
        fs::create_dir_all(&record).unwrap();
        Fixture { tmp, qa, record }
    }

    pub fn root(&self) -> &Path {
        self.tmp.path()
    }

    pub fn config(&self) -> JobsConfig {
        JobsConfig {
            qa_command: vec![self.qa.to_string_lossy().into_owned()],
            job_start_wait: Duration::from_secs(3),
            max_jobs: 4,
            job_time_limit: None,
            stop_grace: Duration::from_secs(2),
            ..JobsConfig::default()
        }
    }

    pub fn runner(&self) -> LocalRunner {
        LocalRunner::new(self.config())
    }

    /// A job in `<root>/<cwd_rel>` in test mode `mode`.
    pub fn spec(&self, cwd_rel: &str, mode: &str, argv: Vec<String>) -> JobSpec {
        let mut spec = JobSpec::new(
            qaboard_jobs::new_command_id(),
            argv,
            self.root().join(cwd_rel),
            self.root().join("logs/log.txt"),
            "0123456789abcdef0123456789abcdef01234567",
            &self.root().join("outputs/commit"),
        );
        spec.env.push((
            "QA_TEST_RECORD".into(),
            self.record.to_string_lossy().into_owned(),
        ));
        spec.env.push(("QA_TEST_MODE".into(), mode.into()));
        spec
    }

    pub fn recorded_argv(&self) -> Vec<String> {
        let raw = fs::read(self.record.join("argv")).unwrap();
        let mut parts: Vec<String> = raw
            .split(|b| *b == 0)
            .map(|p| String::from_utf8(p.to_vec()).unwrap())
            .collect();
        parts.pop(); // after the last NUL
        parts
    }

    pub fn recorded_env(&self, key: &str) -> Option<String> {
        let raw = fs::read(self.record.join("env")).unwrap();
        let prefix = format!("{key}=");
        raw.split(|b| *b == 0)
            .map(|p| String::from_utf8_lossy(p).into_owned())
            .find_map(|e| e.strip_prefix(&prefix).map(str::to_string))
    }

    pub fn recorded_cwd(&self) -> PathBuf {
        PathBuf::from(
            fs::read_to_string(self.record.join("cwd"))
                .unwrap()
                .trim_end(),
        )
    }

    /// Every file under the temp dir whose name starts with "pwned".
    pub fn pwned_files(&self) -> Vec<PathBuf> {
        let mut found = Vec::new();
        let mut stack = vec![self.root().to_path_buf(), std::env::current_dir().unwrap()];
        while let Some(dir) = stack.pop() {
            for e in fs::read_dir(&dir).into_iter().flatten().flatten() {
                let p = e.path();
                if e.file_name().to_string_lossy().starts_with("pwned") {
                    found.push(p.clone());
                }
                if e.file_type().map(|t| t.is_dir()).unwrap_or(false)
                    && dir.starts_with(self.root())
                {
                    stack.push(p);
                }
            }
        }
        found
    }
}

/// (state, ppid, pgid) of a process, `None` when gone.
pub fn proc_stat(pid: i32) -> Option<(char, i32, i32)> {
    let text = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest: Vec<&str> = text[text.rfind(')')? + 1..].split_whitespace().collect();
    Some((
        rest[0].chars().next()?,
        rest[1].parse().ok()?,
        rest[2].parse().ok()?,
    ))
}

/// Whether `pid` is gone or a zombie of someone else (init reaps it).
pub fn is_dead(pid: i32) -> bool {
    match proc_stat(pid) {
        None => true,
        Some((state, ppid, _)) => state == 'Z' && ppid != std::process::id() as i32,
    }
}

/// Live or zombie processes whose process group is `pgid`.
pub fn live_group(pgid: i32) -> Vec<i32> {
    fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok())
        .filter(|pid| matches!(proc_stat(*pid), Some((s, _, g)) if g == pgid && s != 'Z'))
        .collect()
}

/// Zombie children of this test process.
pub fn my_zombies() -> Vec<i32> {
    let me = std::process::id() as i32;
    fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok())
        .filter(|pid| matches!(proc_stat(*pid), Some(('Z', ppid, _)) if ppid == me))
        .collect()
}

/// Polls `cond` until true or 20 s passed; returns its last value.
pub fn eventually(mut cond: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if cond() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        thread::sleep(Duration::from_millis(50));
    }
}
