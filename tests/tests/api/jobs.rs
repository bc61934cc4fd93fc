//! Runs started from the webapp (issue 13): redo of an output and of a
//! batch, stop, save-artifacts, early failure and the `max_jobs` limit,
//! against the real server on both databases, with a stand-in `qa` script
//! (set as `qa_command`) that records its argv, cwd and environment and can
//! sleep or fail on request.
use std::collections::BTreeMap;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use qaboard_tests::{spawn_app_with_settings, Client, TestApp, TestDb};
use serde_json::{json, Value};

use crate::ingest_support::output_body;

const SHA: &str = "462a23fc9356a1fa3f792828b530ea6d4eeb9803";
/// Values that a shell would run: they must arrive verbatim in argv and never execute.
const EVIL_LABEL: &str = "x$(touch PWNED_label);y`touch PWNED_tick`\n'\"z";
const EVIL_CONFIG: &str = "c;touch PWNED_config";
const EVIL_PARAM: &str = "$(touch PWNED_param)'\"\n";

/// A storage root, a record folder and the stand-in `qa`.
pub(crate) struct Env {
    pub(crate) _tmp: tempfile::TempDir,
    pub(crate) root: PathBuf,
    pub(crate) record: PathBuf,
    pub(crate) qa: PathBuf,
}

impl Env {
    pub(crate) fn new() -> Env {
        let tmp = tempfile::tempdir().expect("tempdir");
        let root = tmp.path().join("storage");
        let record = tmp.path().join("record");
        std::fs::create_dir_all(&root).unwrap();
        std::fs::create_dir_all(&record).unwrap();
        let qa = tmp.path().join("qa-stand-in");
        std::fs::write(
            &qa,
            format!(
                r#"#!/bin/bash
R='{record}'
n="$R/run.$$"
mkdir -p "$n"
printf '%s\0' "$@" > "$n/argv"
pwd > "$n/cwd"
env -0 > "$n/env"
echo $$ > "$n/pid"
if [ -e "$R/fail" ]; then echo "qa stand-in: failing on purpose" >&2; exit 3; fi
if [ "$1" = save-artifacts ]; then
  git rev-parse HEAD > "$n/head" 2>&1
  if [ -e "$R/slow" ]; then sleep 1; fi
  if [ -e .git ]; then echo yes > "$n/git_ok"; fi
  out="${{2#--out=}}"
  mkdir -p "$out" && cp -R qaboard.yaml qa "$out/" || exit 4
  echo "qa stand-in: saved"
  exit 0
fi
if [ -e "$R/sleep" ]; then sleep 300; fi
for a in "$@"; do
  if [ "$a" = --list ]; then
    echo "some .envrc chatter"
    printf '[\n  {{"input_path": "/db/images/0001.jpg", "rel_input_path": "images/0001.jpg", "configurations": ["base", {{"x": 1}}], "database": "/db"}}\n]\n'
    exit 0
  fi
done
echo "qa stand-in: done"
"#,
                record = record.display()
            ),
        )
        .unwrap();
        std::fs::set_permissions(&qa, std::fs::Permissions::from_mode(0o755)).unwrap();
        Env {
            _tmp: tmp,
            root,
            record,
            qa,
        }
    }

    pub(crate) fn settings(&self, max_jobs: usize) -> qaboard_settings::Settings {
        let root = self.root.display().to_string();
        qaboard_settings::Settings {
            storage_root: root.clone(),
            storage_roots: vec![root],
            data_dir: self.root.parent().unwrap().join("data"),
            qa_command: self.qa.display().to_string(),
            job_start_wait_secs: 3,
            max_jobs,
            ..Default::default()
        }
    }

    /// The commit's artifacts folder (as the CLI lays it out under the root).
    pub(crate) fn artifacts(&self) -> PathBuf {
        self.root.join("acme/smoke/46/2a23fc9356a1fa")
    }

    /// Every run of the stand-in so far: argv, cwd, environment, pid.
    pub(crate) fn runs(&self) -> Vec<Run> {
        let mut runs = Vec::new();
        for entry in std::fs::read_dir(&self.record).unwrap() {
            let dir = entry.unwrap().path();
            if !dir
                .file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with("run.")
            {
                continue;
            }
            let read = |f: &str| std::fs::read(dir.join(f)).unwrap_or_default();
            let split = |b: Vec<u8>| -> Vec<String> {
                b.split(|c| *c == 0)
                    .filter(|s| !s.is_empty())
                    .map(|s| String::from_utf8_lossy(s).into_owned())
                    .collect()
            };
            let env = split(read("env"))
                .into_iter()
                .filter_map(|kv| kv.split_once('=').map(|(k, v)| (k.into(), v.into())))
                .collect();
            runs.push(Run {
                head: String::from_utf8_lossy(&read("head")).trim().to_string(),
                git_ok: dir.join("git_ok").is_file(),
                argv: split(read("argv")),
                cwd: String::from_utf8_lossy(&read("cwd")).trim().to_string(),
                env,
                pid: String::from_utf8_lossy(&read("pid"))
                    .trim()
                    .parse()
                    .unwrap_or(0),
            });
        }
        runs
    }

    pub(crate) fn runs_of(&self, command_id: &str) -> Vec<Run> {
        self.runs()
            .into_iter()
            .filter(|r| r.env.get("QA_BATCH_COMMAND_ID").map(String::as_str) == Some(command_id))
            .collect()
    }

    pub(crate) fn set(&self, flag: &str, on: bool) {
        let p = self.record.join(flag);
        if on {
            std::fs::write(p, "").unwrap();
        } else {
            let _ = std::fs::remove_file(p);
        }
    }

    /// No file named `PWNED*` anywhere under the temp folder.
    pub(crate) fn assert_nothing_executed(&self) {
        fn walk(dir: &Path) {
            for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
                let p = e.path();
                assert!(
                    !e.file_name().to_string_lossy().starts_with("PWNED"),
                    "injected command ran: {}",
                    p.display()
                );
                if p.is_dir() && !p.is_symlink() {
                    walk(&p);
                }
            }
        }
        walk(self._tmp.path());
    }
}

#[derive(Debug)]
pub(crate) struct Run {
    pub(crate) argv: Vec<String>,
    pub(crate) cwd: String,
    pub(crate) env: BTreeMap<String, String>,
    pub(crate) pid: i32,
    /// `git rev-parse HEAD` in its folder (save-artifacts only).
    pub(crate) head: String,
    /// Its folder was still a git checkout at the end (save-artifacts only).
    pub(crate) git_ok: bool,
}

/// Posts a finished output of commit `SHA` with the storage under `root`;
/// returns `(output id, batch id)`.
pub(crate) fn post_output(
    c: &Client,
    env: &Env,
    label: &str,
    config: &str,
    param: &str,
    failed: bool,
) -> (i64, i64) {
    let root = env.root.display().to_string();
    let text = output_body().to_string().replace("/mnt/qaboard", &root);
    let mut body: Value = serde_json::from_str(&text).unwrap();
    body["batch_label"] = json!(label);
    body["raw_batch_label"] = json!(label);
    body["configurations"] = json!(["base", config]);
    body["extra_parameters"] = json!({ "param": param });
    body["is_failed"] = json!(failed);
    // Let the server compute the output folder from its parts.
    for k in ["output_directory", "batch_conf_dir", "batch_dir"] {
        body.as_object_mut().unwrap().remove(k);
    }
    let r = c.post("/api/v1/output/", &body);
    assert_eq!(r.status, 200, "{}", r.body);
    let id = r.json()["id"].as_i64().unwrap();
    // `POST /api/v1/batch/` gets-or-creates the batch by label and answers its id.
    let r = c.post(
        "/api/v1/batch/",
        &json!({"commit_sha": SHA, "project": "acme/smoke", "batch_label": label}),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    (id, r.json()["id"].as_i64().unwrap())
}

fn for_each_backend_with(env_of: impl Fn() -> (Env, usize), f: impl Fn(&TestApp, &Env)) {
    let mut dbs = vec![TestDb::sqlite()];
    dbs.extend(TestDb::postgres());
    for db in dbs {
        eprintln!("backend: {db:?}");
        let (env, max_jobs) = env_of();
        let app = spawn_app_with_settings(db, env.settings(max_jobs));
        f(&app, &env);
    }
}

pub(crate) fn with_artifacts(max_jobs: usize) -> (Env, usize) {
    let env = Env::new();
    std::fs::create_dir_all(env.artifacts()).unwrap();
    std::fs::write(env.root.join(".envrc"), "export FROM_ENVRC=yes\n").unwrap();
    (env, max_jobs)
}

fn output(c: &Client, id: i64) -> Value {
    let r = c.get(&format!("/api/v1/output/{id}/"));
    assert_eq!(r.status, 200, "{}", r.body);
    r.json()
}

#[test]
fn redo_output_runs_qa_with_argv_env_and_cwd_and_nothing_injected() {
    for_each_backend_with(
        || with_artifacts(4),
        |app, env| {
            let c = Client::new(app);
            let (id, _) = post_output(&c, env, EVIL_LABEL, EVIL_CONFIG, EVIL_PARAM, false);
            let r = c.post(
                &format!("/api/v1/output/redo/{id}/"),
                &json!({"is_pending": false}),
            );
            assert_eq!(r.status, 200, "{}", r.body);
            let command_id = r.json()["command_id"].as_str().unwrap().to_string();
            let runs = env.runs_of(&command_id);
            assert_eq!(runs.len(), 1, "{runs:?}");
            let run = &runs[0];
            assert!(
                run.argv.contains(&format!("--label={EVIL_LABEL}")),
                "{:?}",
                run.argv
            );
            assert!(
                run.argv
                    .contains(&format!("--configuration=base:{EVIL_CONFIG}")),
                "{:?}",
                run.argv
            );
            let tuning = run
                .argv
                .iter()
                .find(|a| a.starts_with("--tuning="))
                .unwrap();
            let parsed: Value = serde_json::from_str(&tuning["--tuning=".len()..]).unwrap();
            assert_eq!(parsed, json!({"param": EVIL_PARAM}));
            assert!(
                run.argv.contains(&"--batch=images/0001.jpg".to_string()),
                "{:?}",
                run.argv
            );
            assert!(run.argv.contains(&"batch".to_string()));
            assert!(run.argv.contains(&"--action-on-existing=run".to_string()));
            assert_eq!(Path::new(&run.cwd), env.artifacts());
            assert_eq!(run.env["CI"], "true");
            assert_eq!(run.env["GIT_COMMIT"], SHA);
            assert_eq!(
                run.env["QA_OUTPUTS_COMMIT"],
                env.artifacts().display().to_string()
            );
            assert_eq!(run.env["QABOARD_TUNING"], "true");
            assert_eq!(run.env["LC_ALL"], "C.UTF-8");
            assert_eq!(run.env["MPLBACKEND"], "agg");
            assert_eq!(run.env["FROM_ENVRC"], "yes", "ancestor .envrc sourced");
            env.assert_nothing_executed();
            // The job record is kept for stop, and clients cannot forge one.
            let r = c.post(
                "/api/v1/batch/",
                &json!({"commit_sha": SHA, "project": "acme/smoke", "batch_label": "b",
                     "data": {"server_jobs": {"x": [{"pgid": 1}]}}}),
            );
            assert_eq!(r.status, 400, "{}", r.body);
            // Unknown id → 404; pending → 409.
            assert_eq!(
                c.post("/api/v1/output/redo/999999/", &json!({})).status,
                404
            );
            let r = c.put(
                &format!("/api/v1/output/{id}/"),
                &json!({"is_pending": true}),
            );
            assert_eq!(r.status, 200, "{}", r.body);
            let r = c.post(&format!("/api/v1/output/redo/{id}"), &json!({}));
            assert_eq!(r.status, 409, "{}", r.body);
        },
    );
}

#[test]
fn batch_redo_selects_outputs_and_shares_one_command_id() {
    for_each_backend_with(
        || with_artifacts(8),
        |app, env| {
            let c = Client::new(app);
            let (ok, batch) = post_output(&c, env, "tuning", "a", "1", false);
            let (failed, _) = post_output(&c, env, "tuning", "b", "2", true);
            let (pending, _) = post_output(&c, env, "tuning", "c", "3", false);
            let r = c.put(
                &format!("/api/v1/output/{pending}/"),
                &json!({"is_pending": true}),
            );
            assert_eq!(r.status, 200);
            let _ = ok;
            let r = c.post(
                "/api/v1/batch/redo/",
                &json!({"id": batch, "only_failed": true}),
            );
            assert_eq!(r.status, 200, "{}", r.body);
            let id1 = r.json()["command_id"].as_str().unwrap().to_string();
            let runs = env.runs_of(&id1);
            assert_eq!(runs.len(), 1, "only the failed output: {runs:?}");
            assert!(runs[0].argv.contains(&"--configuration=base:b".to_string()));
            let r = c.post("/api/v1/batch/redo", &json!({"id": batch}));
            assert_eq!(r.status, 200, "{}", r.body);
            let id2 = r.json()["command_id"].as_str().unwrap().to_string();
            let mut configs: Vec<String> = env
                .runs_of(&id2)
                .iter()
                .map(|r| {
                    r.argv
                        .iter()
                        .find(|a| a.starts_with("--configuration="))
                        .unwrap()
                        .clone()
                })
                .collect();
            configs.sort();
            assert_eq!(
                configs,
                ["--configuration=base:a", "--configuration=base:b"],
                "pending skipped"
            );
            assert_eq!(
                c.post("/api/v1/batch/redo/", &json!({"id": 999999})).status,
                404
            );
            assert_eq!(
                c.post("/api/v1/batch/redo/", &json!({"id": "x"})).status,
                400
            );
            let _ = failed;
        },
    );
}

#[test]
fn early_failure_answers_500_with_the_log_tail() {
    for_each_backend_with(
        || with_artifacts(4),
        |app, env| {
            let c = Client::new(app);
            let (id, batch) = post_output(&c, env, "default", "a", "1", false);
            env.set("fail", true);
            let r = c.post(&format!("/api/v1/output/redo/{id}/"), &json!({}));
            assert_eq!(r.status, 500, "{}", r.body);
            let error = r.json()["error"].as_str().unwrap().to_string();
            assert!(error.contains("failing on purpose"), "{error}");
            let r = c.post("/api/v1/batch/redo/", &json!({"id": batch}));
            assert_eq!(r.status, 500, "{}", r.body);
            assert!(r.json()["error"]
                .as_str()
                .unwrap()
                .contains("failing on purpose"));
            env.set("fail", false);
        },
    );
}

#[test]
fn missing_artifacts_answer_503_and_save_artifacts_needs_a_mirror() {
    for_each_backend_with(
        || (Env::new(), 4),
        |app, env| {
            let c = Client::new(app);
            let (id, _) = post_output(&c, env, "default", "a", "1", false);
            let r = c.post(&format!("/api/v1/output/redo/{id}/"), &json!({}));
            assert_eq!(r.status, 503, "{}", r.body);
            assert!(r.json()["error"].is_string());
            assert!(env.runs().is_empty());
            let r = c.post(
                "/api/v1/commit/save-artifacts/",
                &json!({"hexsha": SHA, "project": "acme/smoke"}),
            );
            assert_eq!(r.status, 503, "{}", r.body);
            assert!(r.json()["error"]
                .as_str()
                .unwrap()
                .contains("no git mirror"));
            assert_eq!(
                c.post("/api/v1/commit/save-artifacts/", &json!({})).status,
                400
            );
        },
    );
}

pub(crate) fn gone(pid: i32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Err(_) => true,
        // A zombie waiting for its reaper is gone too.
        Ok(stat) => stat
            .rsplit(')')
            .next()
            .unwrap_or("")
            .trim_start()
            .starts_with('Z'),
    }
}

#[test]
fn stop_kills_a_sleeping_job_settles_outputs_and_max_jobs_answers_429() {
    for_each_backend_with(
        || with_artifacts(1),
        |app, env| {
            let c = Client::new(app);
            let (id, batch) = post_output(&c, env, "default", "a", "1", false);
            // Nothing pending: nothing to stop.
            let r = c.post("/api/v1/batch/stop/", &json!({"id": batch}));
            assert_eq!((r.status, r.json()), (200, json!({})));
            env.set("sleep", true);
            let r = c.post(&format!("/api/v1/output/redo/{id}/"), &json!({}));
            assert_eq!(r.status, 200, "{}", r.body);
            let command_id = r.json()["command_id"].as_str().unwrap().to_string();
            let pid = env.runs_of(&command_id)[0].pid;
            assert!(!gone(pid), "the job sleeps");
            // One job at most: the next one is refused.
            let r = c.post("/api/v1/batch/redo/", &json!({"id": batch}));
            assert_eq!(r.status, 429, "{}", r.body);
            assert!(r.json()["error"].is_string());
            // As `qa batch` would: the output is posted as pending.
            let r = c.put(
                &format!("/api/v1/output/{id}/"),
                &json!({"is_pending": true, "is_running": true}),
            );
            assert_eq!(r.status, 200, "{}", r.body);
            let r = c.post("/api/v1/batch/stop/", &json!({"id": batch}));
            assert_eq!((r.status, r.json()), (200, json!({})), "{}", r.body);
            let deadline = Instant::now() + Duration::from_secs(30);
            while !gone(pid) && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(100));
            }
            assert!(gone(pid), "the job was killed");
            let o = output(&c, id);
            assert_eq!(
                (
                    o["is_pending"].clone(),
                    o["is_running"].clone(),
                    o["is_failed"].clone()
                ),
                (json!(false), json!(false), json!(true)),
                "{o}"
            );
            assert_eq!(
                c.post("/api/v1/batch/stop/", &json!({"id": 999999})).status,
                404
            );
            env.set("sleep", false);
            // The slot is free again once the reaper saw the job end.
            let deadline = Instant::now() + Duration::from_secs(30);
            let mut status = 0;
            while Instant::now() < deadline {
                status = c
                    .post(&format!("/api/v1/output/redo/{id}/"), &json!({}))
                    .status;
                if status != 429 {
                    break;
                }
                std::thread::sleep(Duration::from_millis(100));
            }
            assert_eq!(status, 200);
        },
    );
}

#[test]
fn group_listing_runs_qa_batch_list_and_maps_the_tests() {
    for_each_backend_with(
        || with_artifacts(4),
        |app, env| {
            let c = Client::new(app);
            post_output(&c, env, "default", "a", "1", false);
            let batches = env.artifacts().join("qa/batches.yaml");
            std::fs::create_dir_all(batches.parent().unwrap()).unwrap();
            std::fs::write(&batches, "g: {inputs: [images/0001.jpg]}\n").unwrap();
            let shared = env
                .root
                .parent()
                .unwrap()
                .join("data/shared/acme/smoke/extra-batches.yml");
            std::fs::create_dir_all(shared.parent().unwrap()).unwrap();
            std::fs::write(&shared, "mine: {}\n").unwrap();
            let name = "g$(touch PWNED_name);`touch PWNED_q`";
            let path = format!(
                "/api/v1/tests/group?project=acme/smoke&commit=462a23f&name={}",
                qaboard_tests::encode(name)
            );
            let r = c.post(&path, &json!({"groups": ["extra-batches", null]}));
            assert_eq!(r.status, 200, "{}", r.body);
            let v = r.json();
            assert_eq!(
                v["tests"],
                json!([{"input_path": "images/0001.jpg", "configurations": ["base", {"x": 1}]}])
            );
            assert!(v["message"].is_string());
            let runs = env.runs();
            assert_eq!(runs.len(), 1, "{runs:?}");
            assert_eq!(
                runs[0].argv,
                vec![
                    "batch".to_string(),
                    format!("--batches-file={}", batches.display()),
                    format!("--batches-file={}", shared.display()),
                    format!("--batch={name}"),
                    "--list".to_string(),
                ]
            );
            assert_eq!(Path::new(&runs[0].cwd), env.artifacts());
            env.assert_nothing_executed();
            // Empty name, bad groups, unknown commit.
            let r = c.post(
                "/api/v1/tests/group?project=acme/smoke&name=",
                &json!({"groups": []}),
            );
            assert_eq!((r.status, r.json()), (200, json!({"tests": []})));
            let r = c.post(&path, &json!({"groups": "x"}));
            assert_eq!(r.status, 400, "{}", r.body);
            let r = c.post(
                "/api/v1/tests/group?project=acme/smoke&commit=ffff&name=g",
                &json!({}),
            );
            assert_eq!(r.status, 404, "{}", r.body);
            // `qa` failing → 500 with its log tail.
            env.set("fail", true);
            let r = c.post(&path, &json!({"groups": []}));
            assert_eq!(r.status, 500, "{}", r.body);
            assert!(r.json()["error"]
                .as_str()
                .unwrap()
                .contains("failing on purpose"));
            env.set("fail", false);
        },
    );
}

#[test]
fn tuning_writes_the_merged_batches_and_starts_qa() {
    for_each_backend_with(
        || with_artifacts(4),
        |app, env| {
            let c = Client::new(app);
            post_output(&c, env, "default", "a", "1", false);
            let batches = env.artifacts().join("qa/batches.yaml");
            std::fs::create_dir_all(batches.parent().unwrap()).unwrap();
            std::fs::write(
                &batches,
                "g: {inputs: [images/0001.jpg]}\naliases: {al: [g]}\nother: {}\n",
            )
            .unwrap();
            let search = json!({"search_type": "grid", "search_options": {},
                            "parameter_search": {"p": [1, "$(touch PWNED_p)"]}});
            let body = json!({"project": "acme/smoke", "batch_label": "tune $(touch PWNED_t)",
                          "platform": "linux", "tuning_search": search, "selected_group": "al",
                          "groups": ["extra-batches"], "overwrite": "on"});
            let r = c.post("/api/v1/commit/462a23f/batch?project=acme/smoke", &body);
            assert_eq!(r.status, 200, "{}", r.body);
            let v = r.json();
            assert_eq!(v["status"], "OK");
            assert!(v["batch_id"].is_i64());
            let command_id = v["command_id"].as_str().unwrap().to_string();
            let runs = env.runs_of(&command_id);
            assert_eq!(runs.len(), 1, "{runs:?}");
            let argv = &runs[0].argv;
            assert_eq!(argv[0], "--platform=linux");
            assert_eq!(argv[1], "--label=tune---touch-PWNED_t-");
            assert_eq!(argv[2], "batch");
            let file = argv[3].strip_prefix("--batches-file=").unwrap();
            assert!(
                file.ends_with(&format!("batches-{}.yaml", &command_id[..8])),
                "{file}"
            );
            let merged: Value = serde_json::from_slice(&std::fs::read(file).unwrap()).unwrap();
            assert_eq!(
                merged,
                json!({"g": {"inputs": ["images/0001.jpg"]}, "aliases": {"al": ["g"]}})
            );
            assert_eq!(argv[4], "--batch=al");
            let sent: Value =
                serde_json::from_str(argv[5].strip_prefix("--tuning-search=").unwrap()).unwrap();
            assert_eq!(sent, search);
            assert_eq!(&argv[6..], ["--action-on-existing=run", "--no-wait"]);
            assert_eq!(Path::new(&runs[0].cwd), env.artifacts());
            assert_eq!(runs[0].env["GIT_COMMIT"], SHA);
            env.assert_nothing_executed();
            // optimize writes its configuration next to the batches file.
            let body = json!({"project": "acme/smoke", "batch_label": "opt", "selected_group": "g",
                          "tuning_search": {"search_type": "optimize", "parameter_search": "objective: psnr\n"}});
            let r = c.post("/api/v1/commit/462a23f/batch/?project=acme/smoke", &body);
            assert_eq!(r.status, 200, "{}", r.body);
            let command_id = r.json()["command_id"].as_str().unwrap().to_string();
            let argv = env.runs_of(&command_id).remove(0).argv;
            assert_eq!(argv[2], "optimize");
            let config = argv
                .last()
                .unwrap()
                .strip_prefix("--config-file=")
                .unwrap()
                .to_string();
            assert_eq!(
                std::fs::read_to_string(config).unwrap(),
                "objective: psnr\n"
            );
            let r = c.post("/api/v1/commit/ffff/batch?project=acme/smoke", &body);
            assert_eq!(r.status, 404, "{}", r.body);
            let r = c.post(
                "/api/v1/commit/462a23f/batch?project=acme/smoke",
                &json!({"project": "acme/smoke"}),
            );
            assert_eq!(r.status, 400, "{}", r.body);
        },
    );
}

#[test]
fn stop_errors_are_listed_and_outputs_left_untouched() {
    for_each_backend_with(
        || with_artifacts(4),
        |app, env| {
            let c = Client::new(app);
            let (id, batch) = post_output(&c, env, "lsf-batch", "a", "1", false);
            // As `qa batch --runner lsf` posts it; there is no `bkill` here, so stopping fails.
            let r = c.post(
            "/api/v1/batch/",
            &json!({"commit_sha": SHA, "project": "acme/smoke", "batch_label": "lsf-batch",
                     "command": {"0480c8a2-cc96-4dfe-8de9-75be56cc1883": {"runner": "lsf", "user": "jane"}}}),
        );
            assert_eq!(r.status, 200, "{}", r.body);
            let r = c.put(
                &format!("/api/v1/output/{id}/"),
                &json!({"is_pending": true}),
            );
            assert_eq!(r.status, 200, "{}", r.body);
            let r = c.post("/api/v1/batch/stop/", &json!({"id": batch}));
            assert_eq!(r.status, 500, "{}", r.body);
            let errors = r.json()["error"].as_array().cloned().unwrap_or_default();
            assert_eq!(errors.len(), 1, "{}", r.body);
            assert!(errors[0].is_string());
            assert_eq!(
                output(&c, id)["is_pending"],
                json!(true),
                "outputs untouched"
            );
        },
    );
}
