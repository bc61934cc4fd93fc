//! End to end with the real `qa` CLI (PyPI `qaboard==1.1.1`, in the virtualenv
//! of `scripts/qa-venv.sh`), issue 13: a CI job runs `qa batch` on a tiny
//! project (its own `qaboard.yaml` and `run()` counting its runs per input)
//! and posts to our server; the commit's artifacts are then deleted (as the
//! garbage collector would); a redo from the API makes the server restore
//! them (a worktree of the git mirror, real `qa save-artifacts`) and run the
//! real `qa batch` again, which posts the output again: its `run_count`
//! metric goes from 1 to 2, read through the API. Then a batch redo re-runs both
//! inputs. Both databases (PostgreSQL when `QABOARD_TEST_DATABASE_URL` is set).
//!
//! Without python3/venv/PyPI the test is skipped with a notice, or fails when
//! the `CI` environment variable is set.
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use qaboard_tests::{spawn_app_with_settings, Client, TestDb};

use crate::ingest_support::git;
use serde_json::{json, Value};

const PROJECT: &str = "e2e/tiny";
const LABEL: &str = "e2e-ci";
/// Longest wait for a job to post its result (polling; not a timing assertion).
const WAIT: Duration = Duration::from_secs(240);

fn venv() -> Option<&'static Path> {
    match qaboard_tests::qa_venv() {
        Ok(v) => Some(v),
        Err(why) if std::env::var_os("CI").is_some() => {
            panic!("the qa CLI is required when CI is set: {why}")
        }
        Err(why) => {
            eprintln!("NOTICE: skipping the qa CLI jobs end-to-end test: {why}");
            None
        }
    }
}

fn yaml_str(p: &Path) -> String {
    format!("'{}'", p.display().to_string().replace('\'', "''"))
}

/// A forge folder holding the project's repository (also the CI checkout),
/// the input database, the storage and the server's data folder.
struct Fixture {
    _tmp: tempfile::TempDir,
    root: PathBuf,
    repo: PathBuf,
    home: PathBuf,
    storage: PathBuf,
    sha: String,
}

impl Fixture {
    fn new() -> Fixture {
        let tmp = tempfile::Builder::new()
            .prefix("qa-jobs-e2e-")
            .tempdir()
            .unwrap();
        let root = tmp.path().canonicalize().unwrap();
        let repo = root.join("forge").join(PROJECT);
        let (home, storage, database) = (root.join("home"), root.join("storage"), root.join("db"));
        for d in [&repo.join("qa"), &home, &storage, &database] {
            std::fs::create_dir_all(d).unwrap();
        }
        for input in ["A.txt", "B.txt"] {
            std::fs::write(database.join(input), "input\n").unwrap();
        }
        let files = [
            (
                "qaboard.yaml",
                format!(
                    "project:\n  name: {PROJECT}\n  url: git@example.com:{PROJECT}\n  type: git\n  entrypoint: qa/main.py\n  reference_branch: master\n\
                     inputs:\n  database:\n    linux: {}\n  batches:\n  - qa/batches.yaml\n\
                     outputs:\n  metrics: qa/metrics.yaml\n\
                     storage:\n  outputs: {}\n  artifacts: {}\n",
                    yaml_str(&database),
                    yaml_str(&storage.join("outputs")),
                    yaml_str(&storage.join("artifacts")),
                ),
            ),
            (
                "qa/batches.yaml",
                "tiny:\n  inputs:\n    - A.txt\n    - B.txt\n".to_string(),
            ),
            (
                "qa/metrics.yaml",
                "available_metrics:\n  run_count:\n    label: Runs\n    short_label: runs\n    \
                 smaller_is_better: false\n    target: 1\n    scale: 1\n\
                 default_metric: run_count\nsummary_metrics: [run_count]\nmain_metrics: [run_count]\n"
                    .to_string(),
            ),
            (
                "qa/main.py",
                "from pathlib import Path\n\n\
                 def run(context):\n    \
                 counter = Path(str(context.input_path) + '.runs')\n    \
                 n = int(counter.read_text()) + 1 if counter.exists() else 1\n    \
                 counter.write_text(str(n))\n    \
                 (Path(context.output_dir) / 'result.txt').write_text(f'run {n}\\n')\n    \
                 return {'is_failed': False, 'run_count': n}\n"
                    .to_string(),
            ),
        ];
        for (name, text) in files {
            std::fs::write(repo.join(name), text).unwrap();
        }
        git(&repo, &home, &["init", "-q"]);
        git(&repo, &home, &["symbolic-ref", "HEAD", "refs/heads/master"]);
        git(&repo, &home, &["config", "user.name", "Test User"]);
        git(&repo, &home, &["config", "user.email", "test@example.com"]);
        git(&repo, &home, &["config", "commit.gpgsign", "false"]);
        git(&repo, &home, &["add", "-A"]);
        git(&repo, &home, &["commit", "-q", "-m", "A tiny project"]);
        let sha = git(&repo, &home, &["rev-parse", "HEAD"]);
        Fixture {
            _tmp: tmp,
            root,
            repo,
            home,
            storage,
            sha,
        }
    }

    /// The environment `qa` runs with (the test's calls and the server's jobs).
    fn qa_env(&self, host_file: &Path) -> String {
        format!(
            "export QABOARD_HOST=\"$(cat '{}')\" QABOARD_PROTOCOL=http HOME='{}' USER=e2e LOGNAME=e2e \
             QA_USER=e2e QABOARD_SITE_CONFIG= QA_NO_CHECK_FOR_UPDATES=1 GIT_CONFIG_NOSYSTEM=1 \
             PYTHONUTF8=1 PYTHONDONTWRITEBYTECODE=1\n",
            host_file.display(),
            self.home.display()
        )
    }

    fn artifacts_commit(&self) -> PathBuf {
        self.storage
            .join("artifacts")
            .join(PROJECT)
            .join(&self.sha[..2])
            .join(&self.sha[2..16])
    }
}

/// Writes an executable script.
fn script(path: &Path, text: &str) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::write(path, text).unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).unwrap();
}

/// Runs `qa` as a CI job would (in the repository, with `CI` variables); its
/// output goes to files read back for the failure message.
fn ci_qa(fx: &Fixture, wrapper: &Path, args: &[&str]) {
    let out = fx.root.join("ci-qa.out");
    let file = std::fs::File::create(&out).unwrap();
    let mut child = Command::new(wrapper)
        .args(args)
        .current_dir(&fx.repo)
        .env("CI", "true")
        .env("CI_COMMIT_SHA", &fx.sha)
        .env("CI_COMMIT_REF_NAME", "master")
        .stdin(Stdio::null())
        .stdout(file.try_clone().unwrap())
        .stderr(file)
        .spawn()
        .expect("qa");
    let started = Instant::now();
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break Some(s);
        }
        if started.elapsed() > WAIT {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let text = std::fs::read_to_string(&out).unwrap_or_default();
    assert!(
        status.is_some_and(|s| s.success()) && !text.contains("Failed to update QA-Board"),
        "qa {args:?}: {status:?}\n{text}"
    );
}

fn commit(c: &Client, sha: &str) -> Value {
    let r = c.get(&format!("/api/v1/commit/{sha}?project={PROJECT}"));
    assert_eq!(r.status, 200, "{}", r.body);
    r.json()
}

/// `{input path: output}` of the batch.
fn outputs(c: &Client, sha: &str) -> std::collections::BTreeMap<String, Value> {
    let commit = commit(c, sha);
    commit["batches"][LABEL]["outputs"]
        .as_object()
        .unwrap_or_else(|| panic!("no batch {LABEL}: {commit:#}"))
        .values()
        .map(|o| {
            (
                o["test_input_path"].as_str().unwrap().to_string(),
                o.clone(),
            )
        })
        .collect()
}

/// Polls until every input has `run_count == want` and is not pending.
fn wait_for_runs(c: &Client, fx: &Fixture, want: &[(&str, i64)]) {
    let deadline = Instant::now() + WAIT;
    loop {
        let now = outputs(c, &fx.sha);
        let done = want.iter().all(|(input, n)| {
            now.get(*input).is_some_and(|o| {
                o["metrics"]["run_count"].as_i64() == Some(*n) && o["is_pending"] == json!(false)
            })
        });
        if done {
            return;
        }
        if Instant::now() > deadline {
            let logs: Vec<String> = now
                .values()
                .filter_map(|o| o["output_dir_url"].as_str())
                .map(|u| {
                    let dir = u.trim_start_matches("/s");
                    format!(
                        "--- {dir}/log.txt\n{}",
                        std::fs::read_to_string(format!("{dir}/log.txt")).unwrap_or_default()
                    )
                })
                .collect();
            panic!(
                "the redo did not post {want:?}; outputs: {:#}\n{}",
                json!(now),
                logs.join("\n")
            );
        }
        std::thread::sleep(Duration::from_millis(250));
    }
}

#[test]
fn redo_from_the_api_runs_the_real_qa_after_restoring_the_artifacts() {
    let Some(venv) = venv() else { return };
    for db in TestDb::all() {
        eprintln!("backend: {db:?}");
        let fx = Fixture::new();
        let host_file = fx.root.join("server-host");
        let wrapper = fx.root.join("qa-wrapper");
        script(
            &wrapper,
            &format!(
                "#!/bin/bash\n{}export PATH='{}':\"$PATH\"\nexec '{}' \"$@\"\n",
                fx.qa_env(&host_file),
                venv.join("bin").display(),
                venv.join("bin/qa").display()
            ),
        );
        let storage = fx.storage.display().to_string();
        let settings = qaboard_settings::Settings {
            storage_root: storage.clone(),
            storage_roots: vec![storage],
            data_dir: fx.root.join("server-data"),
            qa_command: wrapper.display().to_string(),
            gitlab_host: Some(format!("file://{}", fx.root.join("forge").display())),
            job_start_wait_secs: 2,
            ..Default::default()
        };
        let app = spawn_app_with_settings(db, settings);
        std::fs::write(&host_file, app.base.trim_start_matches("http://")).unwrap();
        let c = Client::new(&app);

        // 1. A CI job runs the batch (without saving artifacts).
        ci_qa(&fx, &wrapper, &["--label", LABEL, "batch", "tiny"]);
        let first = outputs(&c, &fx.sha);
        assert_eq!(
            first.keys().map(String::as_str).collect::<Vec<_>>(),
            ["A.txt", "B.txt"],
            "{first:#?}"
        );
        for o in first.values() {
            assert_eq!(o["metrics"]["run_count"], 1, "{o:#}");
        }
        // 2. The artifacts are gone (garbage collected).
        let _ = std::fs::remove_dir_all(fx.artifacts_commit());

        // 3. Redo of one output: restore, then the real `qa batch` posts it again.
        let id = first["A.txt"]["id"].as_i64().unwrap();
        let r = c.post(
            &format!("/api/v1/output/redo/{id}/"),
            &json!({"is_pending": false, "is_running": false}),
        );
        assert_eq!(r.status, 200, "{}", r.body);
        assert!(
            fx.artifacts_commit().join("qaboard.yaml").is_file(),
            "qa save-artifacts restored the configuration"
        );
        assert!(fx.artifacts_commit().join("qa/main.py").is_file());
        wait_for_runs(&c, &fx, &[("A.txt", 2), ("B.txt", 1)]);
        let after = outputs(&c, &fx.sha);
        assert_eq!(
            after["A.txt"]["id"],
            json!(id),
            "the same output was re-posted"
        );
        assert_eq!(after["A.txt"]["is_failed"], json!(false));

        // 4. A batch redo re-runs both.
        let batch = commit(&c, &fx.sha)["batches"][LABEL]["id"].clone();
        let r = c.post("/api/v1/batch/redo/", &json!({"id": batch}));
        assert_eq!(r.status, 200, "{}", r.body);
        assert_eq!(r.json()["started"], 2, "{}", r.body);
        wait_for_runs(&c, &fx, &[("A.txt", 3), ("B.txt", 2)]);
    }
}
