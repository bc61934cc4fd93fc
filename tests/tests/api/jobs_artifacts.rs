//! Restoring artifacts (issue 13, OPERATIONS.md §4.3): `POST
//! /api/v1/commit/save-artifacts/` and redo of a commit whose artifacts are
//! missing, against the real server on both databases, with a real git
//! repository served as the forge (`GITLAB_HOST=file://…`), the mirror the
//! server clones from it, and the stand-in `qa` of `jobs.rs` (its
//! `save-artifacts` copies `qaboard.yaml` and `qa/` to `--out`). Also: who
//! started or stopped a job is recorded when a user is logged in (issue 14).
use std::path::{Path, PathBuf};
use std::time::Duration;

use qaboard_tests::{spawn_app_with_settings, Client, TestApp, TestDb};
use serde_json::{json, Value};

use crate::ingest_support::{git, output_body};
use crate::jobs::Env;

const REFERENCE_SHA: &str = "462a23fc9356a1fa3f792828b530ea6d4eeb9803";

/// The stand-in environment plus a forge holding `acme/smoke` with one commit.
struct Forge {
    env: Env,
    forge: PathBuf,
    sha: String,
}

impl Forge {
    fn new() -> Forge {
        let env = Env::new();
        let base = env.root.parent().unwrap().to_path_buf();
        let forge = base.join("forge");
        let repo = forge.join("acme/smoke");
        let home = base.join("home");
        std::fs::create_dir_all(repo.join("qa")).unwrap();
        std::fs::create_dir_all(&home).unwrap();
        std::fs::write(repo.join("qaboard.yaml"), "project:\n  name: acme/smoke\n").unwrap();
        std::fs::write(repo.join("qa/batches.yaml"), "g: {inputs: [a.jpg]}\n").unwrap();
        git(&repo, &home, &["init", "-q"]);
        git(&repo, &home, &["config", "user.name", "T"]);
        git(&repo, &home, &["config", "user.email", "t@example.com"]);
        git(&repo, &home, &["config", "commit.gpgsign", "false"]);
        git(&repo, &home, &["add", "-A"]);
        git(&repo, &home, &["commit", "-q", "-m", "sources"]);
        let sha = git(&repo, &home, &["rev-parse", "HEAD"]);
        Forge { env, forge, sha }
    }

    fn settings(&self, max_jobs: usize) -> qaboard_settings::Settings {
        qaboard_settings::Settings {
            gitlab_host: Some(format!("file://{}", self.forge.display())),
            ..self.env.settings(max_jobs)
        }
    }

    fn data_dir(&self) -> PathBuf {
        self.env.root.parent().unwrap().join("data")
    }

    /// `<root>/acme/smoke/<sha[:2]>/<sha[2:16]>`.
    fn artifacts(&self) -> PathBuf {
        self.env
            .root
            .join("acme/smoke")
            .join(&self.sha[..2])
            .join(&self.sha[2..16])
    }

    fn checkout(&self) -> PathBuf {
        self.data_dir()
            .join("git/.worktrees/acme/smoke")
            .join(&self.sha)
    }

    /// Posts a finished output of the forge's commit; returns `(output id, batch id)`.
    fn post_output(&self, c: &Client, label: &str) -> (i64, i64) {
        let dirs = format!("{}/{}", &self.sha[..2], &self.sha[2..16]);
        let text = output_body()
            .to_string()
            .replace(REFERENCE_SHA, &self.sha)
            .replace("46/2a23fc9356a1fa", &dirs)
            .replace("/mnt/qaboard", &self.env.root.display().to_string());
        let mut body: Value = serde_json::from_str(&text).unwrap();
        body["batch_label"] = json!(label);
        body["raw_batch_label"] = json!(label);
        for k in ["output_directory", "batch_conf_dir", "batch_dir"] {
            body.as_object_mut().unwrap().remove(k);
        }
        let r = c.post("/api/v1/output/", &body);
        assert_eq!(r.status, 200, "{}", r.body);
        let id = r.json()["id"].as_i64().unwrap();
        let r = c.post(
            "/api/v1/batch/",
            &json!({"commit_sha": self.sha, "project": "acme/smoke", "batch_label": label}),
        );
        assert_eq!(r.status, 200, "{}", r.body);
        (id, r.json()["id"].as_i64().unwrap())
    }
}

fn each_backend(max_jobs: usize, f: impl Fn(&TestApp, &Forge)) {
    for db in TestDb::all() {
        eprintln!("backend: {db:?}");
        let forge = Forge::new();
        let app = spawn_app_with_settings(db, forge.settings(max_jobs));
        f(&app, &forge);
    }
}

fn save_artifacts_runs(f: &Forge) -> Vec<crate::jobs::Run> {
    f.env
        .runs()
        .into_iter()
        .filter(|r| r.argv.first().map(String::as_str) == Some("save-artifacts"))
        .collect()
}

#[test]
fn save_artifacts_checks_out_the_commit_runs_qa_there_and_cleans_up() {
    each_backend(4, |app, f| {
        let c = Client::new(app);
        f.post_output(&c, "default");
        assert!(!f.artifacts().exists());
        let r = c.post(
            "/api/v1/commit/save-artifacts/",
            &json!({"hexsha": f.sha, "project": "acme/smoke"}),
        );
        assert_eq!(
            (r.status, r.json()),
            (200, json!({"status": "OK"})),
            "{}",
            r.body
        );
        let runs = save_artifacts_runs(f);
        assert_eq!(runs.len(), 1, "{runs:?}");
        let run = &runs[0];
        assert_eq!(
            run.argv,
            [
                "save-artifacts".to_string(),
                format!("--out={}", f.artifacts().display())
            ]
        );
        assert_eq!(Path::new(&run.cwd), f.checkout());
        assert_eq!(run.head, f.sha, "qa ran in a checkout of the commit");
        assert!(run.git_ok);
        assert_eq!(run.env["GIT_COMMIT"], f.sha);
        // The artifacts are there; the checkout is gone, and git forgot it.
        assert!(f.artifacts().join("qaboard.yaml").is_file());
        assert!(f.artifacts().join("qa/batches.yaml").is_file());
        assert!(!f.checkout().exists());
        let mirror = f.data_dir().join("git/acme/smoke");
        let list = git(&mirror, &f.data_dir(), &["worktree", "list", "--porcelain"]);
        assert!(!list.contains(&f.sha), "{list}");
        // Anonymous: nothing recorded about a user.
        let commit = c.get(&format!("/api/v1/commit/{}?project=acme/smoke", f.sha));
        assert_eq!(commit.status, 200, "{}", commit.body);
        assert!(commit.json()["data"].get("last_action").is_none());
        // A second call works the same (the checkout is made again).
        let r = c.post(
            "/api/v1/commit/save-artifacts",
            &json!({"hexsha": f.sha, "project": "acme/smoke/sub"}),
        );
        assert_eq!(r.status, 200, "{}", r.body);
        assert_eq!(save_artifacts_runs(f).len(), 2);
        // Bad requests: malformed sha, unknown commit, unrelated project.
        for (body, status) in [
            (
                json!({"hexsha": "$(touch PWNED)", "project": "acme/smoke"}),
                400,
            ),
            (json!({"hexsha": f.sha}), 400),
            (
                json!({"hexsha": "0123456789012345678901234567890123456789", "project": "acme/smoke"}),
                404,
            ),
            (json!({"hexsha": f.sha, "project": "acme/smokey"}), 404),
        ] {
            let r = c.post("/api/v1/commit/save-artifacts/", &body);
            assert_eq!(r.status, status, "{body}: {}", r.body);
            assert!(r.json()["error"].is_string(), "{}", r.body);
        }
        // `qa` failing → 500 with its log tail; the checkout is still removed.
        f.env.set("fail", true);
        let r = c.post(
            "/api/v1/commit/save-artifacts/",
            &json!({"hexsha": f.sha, "project": "acme/smoke"}),
        );
        assert_eq!(r.status, 500, "{}", r.body);
        assert!(
            r.json()["error"]
                .as_str()
                .unwrap()
                .contains("failing on purpose"),
            "{}",
            r.body
        );
        assert!(!f.checkout().exists());
        f.env.set("fail", false);
        f.env.assert_nothing_executed();
    });
}

#[test]
fn concurrent_save_artifacts_of_one_commit_each_get_an_intact_checkout() {
    each_backend(8, |app, f| {
        let c = Client::new(app);
        f.post_output(&c, "default");
        f.env.set("slow", true);
        let base = app.base.clone();
        let sha = f.sha.clone();
        let threads: Vec<_> = (0..3)
            .map(|_| {
                let (base, sha) = (base.clone(), sha.clone());
                std::thread::spawn(move || {
                    let c = Client::for_base(&base);
                    c.post(
                        "/api/v1/commit/save-artifacts/",
                        &json!({"hexsha": sha, "project": "acme/smoke"}),
                    )
                })
            })
            .collect();
        for t in threads {
            let r = t.join().unwrap();
            assert_eq!(r.status, 200, "{}", r.body);
        }
        f.env.set("slow", false);
        let runs = save_artifacts_runs(f);
        assert_eq!(runs.len(), 3, "{runs:?}");
        for run in runs {
            assert_eq!(run.head, f.sha);
            assert!(run.git_ok, "the checkout vanished under a running qa");
        }
        assert!(!f.checkout().exists());
    });
}

#[test]
fn a_checkout_left_by_a_crash_is_replaced() {
    each_backend(4, |app, f| {
        let c = Client::new(app);
        f.post_output(&c, "default");
        // What a server killed mid-way leaves: a folder git does not know.
        std::fs::create_dir_all(f.checkout().join("junk")).unwrap();
        std::fs::write(f.checkout().join("junk/file"), "x").unwrap();
        let r = c.post(
            "/api/v1/commit/save-artifacts/",
            &json!({"hexsha": f.sha, "project": "acme/smoke"}),
        );
        assert_eq!(r.status, 200, "{}", r.body);
        let runs = save_artifacts_runs(f);
        assert_eq!(runs.len(), 1);
        assert_eq!(runs[0].head, f.sha);
        assert!(!f.checkout().exists());
    });
}

#[test]
fn redo_restores_missing_artifacts_first() {
    each_backend(4, |app, f| {
        let c = Client::new(app);
        let (id, batch) = f.post_output(&c, "default");
        let r = c.post(&format!("/api/v1/output/redo/{id}/"), &json!({}));
        assert_eq!(r.status, 200, "{}", r.body);
        let command_id = r.json()["command_id"].as_str().unwrap().to_string();
        assert_eq!(save_artifacts_runs(f).len(), 1, "restored first");
        let redo = f.env.runs_of(&command_id);
        assert_eq!(redo.len(), 1, "{redo:?}");
        assert_eq!(Path::new(&redo[0].cwd), f.artifacts());
        assert!(redo[0]
            .argv
            .contains(&"--batch=images/0001.jpg".to_string()));
        // Present now: a batch redo does not restore again.
        let r = c.post("/api/v1/batch/redo/", &json!({"id": batch}));
        assert_eq!(r.status, 200, "{}", r.body);
        assert_eq!(save_artifacts_runs(f).len(), 1);
    });
}

#[test]
fn redo_answers_the_restore_error_and_starts_nothing() {
    each_backend(4, |app, f| {
        let c = Client::new(app);
        let (id, batch) = f.post_output(&c, "default");
        f.env.set("fail", true);
        let r = c.post(&format!("/api/v1/output/redo/{id}/"), &json!({}));
        assert_eq!(r.status, 500, "{}", r.body);
        let error = r.json()["error"].as_str().unwrap().to_string();
        assert!(error.contains("save-artifacts"), "{error}");
        assert!(error.contains("failing on purpose"), "{error}");
        let r = c.post("/api/v1/batch/redo/", &json!({"id": batch}));
        assert_eq!(r.status, 500, "{}", r.body);
        let runs = f.env.runs();
        assert!(
            runs.iter()
                .all(|r| r.argv.first().map(String::as_str) == Some("save-artifacts")),
            "no redo started: {runs:?}"
        );
        f.env.set("fail", false);
    });
}

/// `qaboard_session=…` of a new user `name` (signup, then login).
fn login(base: &str, name: &str) -> String {
    let agent = ureq::AgentBuilder::new()
        .timeout(Duration::from_secs(60))
        .build();
    let password = "a good pass phrase";
    agent
        .post(&format!("{base}/api/v1/user/signup/"))
        .send_form(&[
            ("user_name", name),
            ("password", password),
            ("email", "u@example.com"),
            ("full_name", "U"),
        ])
        .expect("signup");
    let resp = agent
        .post(&format!("{base}/api/v1/user/auth/"))
        .send_form(&[("username", name), ("password", password)])
        .expect("login");
    resp.all("set-cookie")
        .into_iter()
        .find(|c| c.starts_with("qaboard_session="))
        .expect("session cookie")
        .split(';')
        .next()
        .unwrap()
        .to_string()
}

fn post_as(base: &str, cookie: &str, path: &str, body: &Value) -> (u16, Value) {
    let req = ureq::AgentBuilder::new()
        .timeout(Duration::from_secs(60))
        .build()
        .post(&format!("{base}{path}"))
        .set("Cookie", cookie);
    let resp = match req.send_json(body.clone()) {
        Ok(r) => r,
        Err(ureq::Error::Status(_, r)) => r,
        Err(e) => panic!("{path}: {e}"),
    };
    let status = resp.status();
    (status, resp.into_json().unwrap_or(Value::Null))
}

fn batch_data(c: &Client, sha: &str, label: &str) -> Value {
    let r = c.get(&format!("/api/v1/commit/{sha}?project=acme/smoke"));
    assert_eq!(r.status, 200, "{}", r.body);
    r.json()["batches"][label]["data"].clone()
}

#[test]
fn jobs_record_the_logged_in_user() {
    each_backend(4, |app, f| {
        let c = Client::new(app);
        let (id, batch) = f.post_output(&c, "default");
        let cookie = login(&app.base, "ada");
        let (status, body) = post_as(
            &app.base,
            &cookie,
            "/api/v1/commit/save-artifacts/",
            &json!({"hexsha": f.sha, "project": "acme/smoke"}),
        );
        assert_eq!(status, 200, "{body}");
        let commit = c.get(&format!("/api/v1/commit/{}?project=acme/smoke", f.sha));
        assert_eq!(commit.json()["data"]["last_action"]["user"], "ada");
        assert_eq!(
            commit.json()["data"]["last_action"]["action"],
            "save-artifacts"
        );
        // A redo by ada, then an anonymous one.
        let (status, body) = post_as(
            &app.base,
            &cookie,
            &format!("/api/v1/output/redo/{id}/"),
            &json!({}),
        );
        assert_eq!(status, 200, "{body}");
        let by_ada = body["command_id"].as_str().unwrap().to_string();
        let r = c.post(&format!("/api/v1/output/redo/{id}/"), &json!({}));
        assert_eq!(r.status, 200, "{}", r.body);
        let anonymous = r.json()["command_id"].as_str().unwrap().to_string();
        let data = batch_data(&c, &f.sha, "default");
        assert_eq!(data["server_jobs"][&by_ada][0]["user"], "ada", "{data}");
        assert!(
            data["server_jobs"][&anonymous][0].get("user").is_none(),
            "{data}"
        );
        // A stop by ada is recorded in the batch.
        let r = c.put(
            &format!("/api/v1/output/{id}/"),
            &json!({"is_pending": true}),
        );
        assert_eq!(r.status, 200, "{}", r.body);
        let (status, body) = post_as(
            &app.base,
            &cookie,
            "/api/v1/batch/stop/",
            &json!({"id": batch}),
        );
        assert_eq!((status, body), (200, json!({})));
        let data = batch_data(&c, &f.sha, "default");
        assert_eq!(data["last_action"]["user"], "ada", "{data}");
        assert_eq!(data["last_action"]["action"], "stop", "{data}");
        assert!(data["last_action"]["at"].is_string(), "{data}");
    });
}
