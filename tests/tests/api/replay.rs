//! Replays every request the real `qa` CLI 1.1.1 sent in the captured
//! scenarios, and the requests whose answers of the original backend were
//! recorded, and checks the answers and the resulting state through HTTP.

use std::collections::{BTreeSet, HashMap};

use crate::ingest_support::*;
use qaboard_api::ApiConfig;
use qaboard_tests::{encode, for_each_backend, reference_dir, scenario, Client, Resp, TestApp};
use serde_json::{json, Map, Value};

const SHA: &str = "43a1bcc58197439222e85d093031a0d637daf2fa";
const PROJECT: &str = "user/sample_project";
const SUBPROJECT: &str = "user/sample_project/subproject";

/// The scenario folders, in their numeric order (1_run_share … 12_…).
fn scenario_names() -> Vec<String> {
    let dir = reference_dir().join("qa-cli-requests");
    let mut names: Vec<(u32, String)> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .filter_map(|e| e.ok())
        .filter(|e| e.path().is_dir())
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            let n = name.split('_').next()?.parse::<u32>().ok()?;
            Some((n, name))
        })
        .collect();
    names.sort();
    names.into_iter().map(|(_, n)| n).collect()
}

/// Python truthiness, as the server tests `metrics.is_failed`.
fn truthy(v: &Value) -> bool {
    match v {
        Value::Null => false,
        Value::Bool(b) => *b,
        Value::Number(n) => n.as_f64().is_some_and(|f| f != 0.0),
        Value::String(s) => !s.is_empty(),
        Value::Array(a) => !a.is_empty(),
        Value::Object(o) => !o.is_empty(),
    }
}

fn flag(body: &Value, key: &str) -> bool {
    body[key].as_bool().unwrap_or(false)
}

fn object_or_empty(v: &Value) -> Value {
    if v.is_object() {
        v.clone()
    } else {
        json!({})
    }
}

/// Checks that `created_date` looks like the original's `2026-11-24T17:52:33.487209`.
fn assert_naive_iso(v: &Value, what: &str) {
    let s = v
        .as_str()
        .unwrap_or_else(|| panic!("{what}: not a string: {v}"));
    let b = s.as_bytes();
    assert!(
        b.len() >= 19
            && b[4] == b'-'
            && b[7] == b'-'
            && b[10] == b'T'
            && b[13] == b':'
            && b[16] == b':',
        "{what}: not an ISO date-time: {s}"
    );
    assert!(
        !s.ends_with('Z') && !s[19..].contains('+'),
        "{what}: the original has no offset: {s}"
    );
}

/// The state the replay tracks to check each answer against the previous ones.
#[derive(Default)]
struct Replay {
    /// Last answer seen for each output id.
    outputs: HashMap<i64, Value>,
    /// Output identity (batch, input, platform, configurations, parameters) to id.
    identities: HashMap<String, i64>,
    /// `(batch label, command uuid)` of every `POST /api/v1/batch/`.
    commands: Vec<(String, String)>,
    /// Context, request and answered id of every `POST /api/v1/output/`.
    posted: Vec<(String, Value, i64)>,
    /// Whether a write was sent yet.
    wrote: bool,
}

impl Replay {
    fn check_output_answer(&mut self, ctx: &str, req: &Value, resp: &Resp) {
        let o = resp.json();
        let id = o["id"]
            .as_i64()
            .unwrap_or_else(|| panic!("{ctx}: no integer id in {o}"));
        assert!(id > 0, "{ctx}: id {id}");
        assert_eq!(
            resp.header("content-type"),
            Some("application/json"),
            "{ctx}"
        );

        // Identity: the same (batch, input, platform, configurations,
        // parameters) is the same output; another is a new one.
        let input = req["rel_input_path"]
            .as_str()
            .filter(|s| !s.is_empty())
            .or(req["input_path"].as_str())
            .unwrap_or_else(|| panic!("{ctx}: no input path"));
        let identity = json!([
            req["project"],
            req["batch_label"],
            req["database"],
            input,
            req["platform"],
            req["configurations"],
            req["extra_parameters"]
        ])
        .to_string();
        match self.identities.get(&identity) {
            Some(&known) => assert_eq!(id, known, "{ctx}: the same output identity got another id"),
            None => {
                assert!(
                    !self.identities.values().any(|&v| v == id),
                    "{ctx}: a new output identity reused id {id}"
                );
                self.identities.insert(identity, id);
            }
        }
        let prev = self.outputs.get(&id);

        // Status rules: running implies pending; metrics and failure only when finished.
        let is_running = flag(req, "is_running");
        let is_pending = is_running || flag(req, "is_pending");
        assert_eq!(
            o["is_running"],
            json!(is_running),
            "{ctx}: is_running of {o}"
        );
        assert_eq!(
            o["is_pending"],
            json!(is_pending),
            "{ctx}: is_pending of {o}"
        );
        if is_pending {
            let (metrics, failed) = match prev {
                Some(p) => (p["metrics"].clone(), p["is_failed"].clone()),
                None => (json!({}), json!(false)),
            };
            assert_eq!(
                o["metrics"], metrics,
                "{ctx}: a pending output keeps its metrics"
            );
            assert_eq!(
                o["is_failed"], failed,
                "{ctx}: a pending output keeps is_failed"
            );
        } else {
            let metrics = object_or_empty(&req["metrics"]);
            let failed = flag(req, "is_failed") || truthy(&metrics["is_failed"]);
            assert_eq!(o["metrics"], metrics, "{ctx}: metrics of a finished output");
            assert_eq!(o["is_failed"], json!(failed), "{ctx}: is_failed of {o}");
        }

        // What the output records of the request.
        let mut data = req["data"].as_object().cloned().unwrap_or_default();
        data.insert("user".into(), req["user"].clone());
        data.insert("ci".into(), json!(req["job_type"] == "ci"));
        assert_eq!(o["data"], Value::Object(data), "{ctx}: data");
        assert_eq!(o["output_type"], req["input_type"], "{ctx}: output_type");
        assert_eq!(o["platform"], req["platform"], "{ctx}: platform");
        assert_eq!(
            o["configurations"], req["configurations"],
            "{ctx}: configurations"
        );
        assert_eq!(
            o["extra_parameters"], req["extra_parameters"],
            "{ctx}: extra_parameters"
        );
        assert_eq!(o["deleted"], json!(false), "{ctx}: deleted");
        assert_eq!(o["test_input_path"], json!(input), "{ctx}: test_input_path");
        assert_eq!(
            o["test_input_database"], req["database"],
            "{ctx}: test_input_database"
        );
        assert!(
            o["test_input_metadata"].is_object(),
            "{ctx}: test_input_metadata is never null"
        );
        assert_naive_iso(&o["created_date"], ctx);
        if let Some(dir) = req["output_directory"].as_str() {
            if dir
                .bytes()
                .all(|c| c.is_ascii_alphanumeric() || b"/-_.".contains(&c))
            {
                assert_eq!(
                    o["output_dir_url"],
                    json!(format!("/s{dir}")),
                    "{ctx}: output_dir_url"
                );
            }
        }
        if let Some(p) = prev {
            assert_eq!(
                o["created_date"], p["created_date"],
                "{ctx}: an update keeps created_date"
            );
        }
        self.outputs.insert(id, o.clone());
        self.posted.push((ctx.to_string(), req.clone(), id));
    }

    /// Sends one captured request and checks its answer.
    fn send(
        &mut self,
        c: &Client,
        scenario_name: &str,
        index: usize,
        req: &(String, String, Option<Value>),
    ) {
        let (method, path, body) = req;
        let ctx = format!("{scenario_name} #{index}: {method} {path}");
        let bytes = body.as_ref().map(|b| b.to_string().into_bytes());
        let resp = c.request(method, path, bytes.as_deref());
        let route = path.split('?').next().unwrap_or("");
        if method == "GET"
            && route.starts_with("/api/v1/commit/")
            && !self.wrote
            && resp.status == 404
        {
            // `qa batch` first asks for the outputs of a commit the server may
            // not know yet, and takes a 404 as "none".
            assert!(resp.json()["error"].is_string(), "{ctx}: {}", resp.body);
            return;
        }
        assert_eq!(resp.status, 200, "{ctx}: {}", resp.body);
        self.wrote |= method != "GET";
        match (method.as_str(), route) {
            ("POST", "/api/v1/output/" | "/api/v1/output") => {
                self.check_output_answer(&ctx, body.as_ref().expect("body"), &resp);
            }
            ("POST", "/api/v1/batch/" | "/api/v1/batch") => {
                let b = body.as_ref().expect("body");
                let j = resp.json();
                assert_eq!(j["status"], "OK", "{ctx}: {j}");
                assert!(j["id"].as_i64().is_some_and(|i| i > 0), "{ctx}: {j}");
                if let Some(cmds) = b["command"].as_object() {
                    for uuid in cmds.keys() {
                        self.commands
                            .push((str_of(b, "batch_label").to_string(), uuid.clone()));
                    }
                }
            }
            ("POST", r) if r.starts_with("/api/v1/commit") => {
                assert_eq!(resp.json(), json!({"status": "OK"}), "{ctx}");
            }
            ("GET", r) if r.starts_with("/api/v1/commit/") => {
                let j = resp.json();
                assert_eq!(j["id"], SHA, "{ctx}");
                let batches = j["batches"]
                    .as_object()
                    .unwrap_or_else(|| panic!("{ctx}: batches: {j}"));
                // `?batch=` restricts the answer to that batch.
                let wanted = path
                    .split("batch=")
                    .nth(1)
                    .map(|b| b.split('&').next().unwrap_or(""));
                if let Some(w) = wanted {
                    for label in batches.keys() {
                        assert_eq!(
                            encode(label),
                            w,
                            "{ctx}: unexpected batch in a filtered read"
                        );
                    }
                }
            }
            ("GET", r) if r.starts_with("/api/v1/output/") => {
                let j = resp.json();
                let id = j["id"].as_i64().unwrap_or_else(|| panic!("{ctx}: {j}"));
                let known = self
                    .outputs
                    .get(&id)
                    .unwrap_or_else(|| panic!("{ctx}: unknown output {id}"));
                assert_eq!(&j, known, "{ctx}: GET answers the output as last posted");
            }
            other => panic!("{ctx}: no check for {other:?}"),
        }
    }

    /// The id answered to the output POST whose context contains `needle`
    /// (e.g. `/064_`, the captured request's file).
    fn id_of(&self, needle: &str) -> i64 {
        self.posted
            .iter()
            .find(|(ctx, _, _)| ctx.contains(needle))
            .unwrap_or_else(|| panic!("no output was posted by {needle}"))
            .2
    }
}

/// Replays the 12 scenarios in order on one server; returns the tracked state.
fn replay_all(app: &TestApp) -> Replay {
    let c = Client::new(app);
    let mut r = Replay::default();
    let names = scenario_names();
    assert_eq!(names.len(), 12, "{names:?}");
    for name in &names {
        let reqs = scenario(name);
        assert!(!reqs.is_empty(), "{name}");
        let dir = reference_dir().join("qa-cli-requests").join(name);
        let mut files: Vec<String> = std::fs::read_dir(&dir)
            .unwrap()
            .filter_map(|e| e.ok())
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|f| f.ends_with(".json"))
            .collect();
        files.sort();
        for (i, req) in reqs.iter().enumerate() {
            r.send(&c, &format!("{name}/{}", files[i]), i, req);
        }
    }
    r
}

fn get_commit(c: &Client, project: &str) -> Value {
    let r = c.get(&format!("/api/v1/commit/{SHA}?project={}", encode(project)));
    assert_eq!(r.status, 200, "{}", r.body);
    r.json()
}

fn batch<'a>(commit: &'a Value, label: &str) -> &'a Value {
    let b = &commit["batches"][label];
    assert!(
        b.is_object(),
        "no batch {label:?} in {:?}",
        commit["batches"]
            .as_object()
            .map(|m| m.keys().collect::<Vec<_>>())
    );
    b
}

/// Checks a batch's counters against its outputs and against expectations
/// `[valid, pending, running, failed, deleted]`.
fn assert_counters(b: &Value, expected: [u64; 5]) {
    let label = b["label"].as_str().unwrap_or("?");
    let outputs = b["outputs"]
        .as_object()
        .unwrap_or_else(|| panic!("{label}: outputs keyed by id"));
    let mut computed = [0u64; 5];
    for (key, o) in outputs {
        assert_eq!(
            key,
            &o["id"].as_i64().unwrap().to_string(),
            "{label}: outputs are keyed by id"
        );
        let (failed, pending) = (flag(o, "is_failed"), flag(o, "is_pending"));
        computed[0] += u64::from(!failed && !pending);
        computed[1] += u64::from(pending);
        computed[2] += u64::from(flag(o, "is_running"));
        computed[3] += u64::from(failed);
        computed[4] += u64::from(flag(o, "deleted"));
    }
    let got = [
        b["valid_outputs"].as_u64().unwrap(),
        b["pending_outputs"].as_u64().unwrap(),
        b["running_outputs"].as_u64().unwrap(),
        b["failed_outputs"].as_u64().unwrap(),
        b["deleted_outputs"].as_u64().unwrap(),
    ];
    assert_eq!(got, computed, "{label}: counters disagree with the outputs");
    assert_eq!(
        got, expected,
        "{label}: [valid, pending, running, failed, deleted]"
    );
}

fn output_ids(b: &Value) -> BTreeSet<i64> {
    b["outputs"]
        .as_object()
        .unwrap()
        .values()
        .map(|o| o["id"].as_i64().unwrap())
        .collect()
}

#[test]
fn replaying_every_cli_scenario_in_order_gives_the_expected_commit() {
    for_each_backend(ApiConfig::default(), |app| {
        let r = replay_all(app);
        let posts = scenario_names()
            .iter()
            .flat_map(|n| scenario(n))
            .filter(|(m, p, _)| m == "POST" && p.starts_with("/api/v1/output"))
            .count();
        assert_eq!(r.posted.len(), posts, "every POST output was checked");
        let c = Client::new(app);
        let commit = get_commit(&c, PROJECT);

        assert_eq!(commit["id"], SHA);
        assert_eq!(commit["branch"], "master");
        assert_eq!(commit["message"], "Initial sample project");
        assert_eq!(commit["committer_name"], "Test User");
        assert_eq!(commit["deleted"], false);
        let first = captured_body("1_run_share", "002_POST_api_v1_output.json");
        assert_eq!(
            commit["data"]["qatools_config"], first["qaboard_config"],
            "the commit's config snapshot"
        );
        assert_eq!(commit["data"]["qatools_metrics"], first["qaboard_metrics"]);

        // Batches by label: the iteration batches of `qa optimize` are gone.
        let labels: BTreeSet<&str> = commit["batches"]
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        let expected: BTreeSet<&str> = [
            "@root| default",
            "my-exp",
            "optim-exp",
            "@root| killed",
            "@root| repo-head",
        ]
        .into_iter()
        .collect();
        assert_eq!(labels, expected);
        for (label, b) in commit["batches"].as_object().unwrap() {
            assert_eq!(&b["label"], label);
            assert_eq!(b["commit_id"], SHA);
            // Every output as last answered to the CLI.
            for o in b["outputs"].as_object().unwrap().values() {
                let id = o["id"].as_i64().unwrap();
                assert_eq!(
                    Some(o),
                    r.outputs.get(&id),
                    "{label}: output {id} differs from its last answer"
                );
            }
        }

        // Every `qa batch` command uuid is kept in its batch.
        for (label, uuid) in &r.commands {
            if label.contains("|iter") {
                continue;
            }
            let cmds = &batch(&commit, label)["data"]["commands"];
            assert!(
                cmds[uuid].is_object(),
                "{label}: command {uuid} missing from {cmds}"
            );
            assert!(
                cmds[uuid]["argv"].is_array(),
                "{label}: command {uuid} keeps its content"
            );
        }

        // @root| default: runs of scenarios 1, 2, 5, 7, 9 (7 failed with exit 3).
        let default = batch(&commit, "@root| default");
        assert_eq!(default["data"]["type"], "local");
        assert_counters(default, [3, 0, 0, 1, 0]);
        let failed: Vec<&Value> = default["outputs"]
            .as_object()
            .unwrap()
            .values()
            .filter(|o| o["is_failed"] == true)
            .collect();
        assert_eq!(failed.len(), 1);
        assert_eq!(
            failed[0]["extra_parameters"],
            json!({"forwarded_args": ["exit 3"]})
        );
        assert_eq!(failed[0]["metrics"]["returncode"], 3);

        // my-exp: a CI batch with a configuration and tuning parameters.
        let exp = batch(&commit, "my-exp");
        assert_eq!(exp["data"]["type"], "ci");
        assert_counters(exp, [2, 0, 0, 0, 0]);
        for o in exp["outputs"].as_object().unwrap().values() {
            assert_eq!(o["configurations"], json!(["base"]));
            assert_eq!(o["extra_parameters"], json!({"alpha": 1}));
            assert_eq!(o["data"]["ci"], true);
        }

        // Killed runs, fixed up as failed by `qa batch`.
        let killed = batch(&commit, "@root| killed");
        assert_counters(killed, [0, 0, 0, 2, 0]);
        assert_counters(batch(&commit, "@root| repo-head"), [2, 0, 0, 0, 0]);

        // qa optimize: the main batch holds the best (last) iteration's outputs
        // (moved, same ids) next to one `optim_iteration` output per iteration.
        let optim = batch(&commit, "optim-exp");
        assert_eq!(optim["data"]["type"], "ci");
        assert_eq!(optim["data"]["best_iter"], 3);
        assert_eq!(optim["data"]["optimization"], true);
        assert_eq!(optim["data"]["iteration_label"], "optim-exp|iter3");
        assert_counters(optim, [5, 0, 0, 0, 0]);
        let iter3: BTreeSet<i64> = [r.id_of("/064_"), r.id_of("/065_")].into_iter().collect();
        let iterations: BTreeSet<i64> = [r.id_of("/043_"), r.id_of("/056_"), r.id_of("/069_")]
            .into_iter()
            .collect();
        assert_eq!(
            output_ids(optim),
            iter3.union(&iterations).copied().collect()
        );
        for o in optim["outputs"].as_object().unwrap().values() {
            let id = o["id"].as_i64().unwrap();
            if iterations.contains(&id) {
                assert_eq!(o["output_type"], "optim_iteration");
                assert_eq!(o["test_input_path"], "my-db-batch");
            } else {
                assert_eq!(
                    o["extra_parameters"],
                    json!({"threshold": 1.9723575798269447e-05})
                );
            }
        }
        // Outputs of the earlier best iterations were replaced, and their batches deleted.
        for old in ["/034_", "/035_", "/047_", "/048_"] {
            let id = r.id_of(old);
            let resp = c.get(&format!("/api/v1/output/{id}/"));
            assert_eq!(
                resp.status, 404,
                "output {id} of {old} should be gone: {}",
                resp.body
            );
            assert!(resp.json()["error"].is_string());
        }
        assert_eq!(
            count_where(app, "batches", "label LIKE 'optim-exp|iter%'"),
            0
        );

        // Row counts: 5 batches here, 1 in the subproject; no orphans.
        assert_eq!(count(app, "batches"), 6);
        assert_eq!(count(app, "ci_commits"), 2);
        assert_eq!(count(app, "outputs"), 4 + 2 + 2 + 2 + 5 + 1);

        // The commit folder is the CLI's `artifacts_commit`.
        let dir = "/mnt/qaboard/user/sample_project/43/a1bcc581974392";
        let filter = format!("project_id = '{PROJECT}' AND commit_dir_override = '{dir}'");
        assert_eq!(count_where(app, "ci_commits", &filter), 1);

        // 12_subproject: a project id with a sub-path, with its own commit.
        assert_eq!(
            count_where(app, "projects", &format!("id = '{SUBPROJECT}'")),
            1
        );
        assert_eq!(
            count_where(app, "projects", &format!("id = '{PROJECT}'")),
            1
        );
        let sub = get_commit(&c, SUBPROJECT);
        assert_eq!(sub["id"], SHA);
        assert_eq!(sub["data"]["git"]["path_with_namespace"], PROJECT);
        let sub_labels: Vec<&String> = sub["batches"].as_object().unwrap().keys().collect();
        assert_eq!(sub_labels, vec!["@root| default"]);
        assert_counters(batch(&sub, "@root| default"), [1, 0, 0, 0, 0]);
        let sub_out = batch(&sub, "@root| default")["outputs"]
            .as_object()
            .unwrap()
            .values()
            .next()
            .unwrap()
            .clone();
        assert_eq!(
            sub_out["id"].as_i64(),
            Some(r.id_of("12_subproject_run_share/092_"))
        );
        assert_eq!(
            sub_out["output_dir_url"],
            "/s/mnt/qaboard/user/sample_project/43/a1bcc581974392/subproject/output/root-default/linux/a"
        );
    });
}

#[test]
fn each_scenario_replays_on_its_own_with_its_predecessors() {
    // Scenario 6 (`qa wait`) needs the output of scenario 1; every other one
    // starts from nothing. Replaying each on a fresh server catches
    // accidental dependencies on earlier state.
    for_each_backend(ApiConfig::default(), |app| {
        let c = Client::new(app);
        for name in scenario_names() {
            if name.starts_with("6_") {
                continue;
            }
            let mut r = Replay::default();
            // A fresh project per scenario: rewrite the project id.
            let project = format!("solo/{}", name.replace('|', "-"));
            for (i, (method, path, body)) in scenario(&name).into_iter().enumerate() {
                let body = body.map(|b| {
                    let mut b = b;
                    if b.get("project").is_some() {
                        let p = b["project"].as_str().unwrap().replace(PROJECT, &project);
                        b["project"] = json!(p);
                    }
                    b
                });
                let path = path.replace(
                    &format!("project={}", encode(PROJECT)),
                    &format!("project={}", encode(&project)),
                );
                r.send(&c, &format!("{name}/{i}"), i, &(method, path, body));
            }
        }
        // 6_wait after 1_run_share: GET /api/v1/output/1/ answers the posted output.
        let mut r = Replay::default();
        let mut first_id = None;
        for name in ["1_run_share", "6_wait"] {
            for (i, req) in scenario(name).into_iter().enumerate() {
                if name.starts_with("6_") {
                    let id = first_id.expect("an output of scenario 1");
                    let path = format!("/api/v1/output/{id}/");
                    r.send(&c, name, i, &(req.0.clone(), path, req.2.clone()));
                } else {
                    let before = r.posted.len();
                    r.send(&c, name, i, &req);
                    if r.posted.len() > before {
                        first_id = first_id.or(Some(r.posted[before].2));
                    }
                }
            }
        }
    });
}

#[test]
fn save_artifacts_creates_the_commit_and_merges_its_data() {
    for_each_backend(ApiConfig::default(), |app| {
        let c = Client::new(app);
        let reqs = scenario("4_save_artifacts_ci");
        assert_eq!(reqs.len(), 1);
        let (method, path, body) = &reqs[0];
        let body = body.clone().expect("body");
        let r = c.request(method, path, Some(body.to_string().as_bytes()));
        assert_eq!(
            (r.status, r.json()),
            (200, json!({"status": "OK"})),
            "{}",
            r.body
        );

        // The commit is created from the envelope, with its config snapshot.
        let commit = get_commit(&c, PROJECT);
        assert_eq!(commit["message"], body["commit_message"]);
        assert_eq!(commit["committer_name"], body["commit_committer_name"]);
        assert_eq!(commit["branch"], "master");
        assert!(
            commit["authored_datetime"]
                .as_str()
                .unwrap()
                .starts_with("2026-11-24T17:34:49"),
            "{}",
            commit["authored_datetime"]
        );
        assert_eq!(commit["authored_date"], "2026-11-24");
        assert_eq!(commit["data"]["qatools_config"], body["qaboard_config"]);
        assert_eq!(commit["data"]["qatools_metrics"], body["qaboard_metrics"]);
        assert_eq!(
            commit["batches"],
            json!({}),
            "batches is an object, never null"
        );
        let project = c.get(&format!("/api/v1/project?project={}", encode(PROJECT)));
        assert_eq!(project.status, 200, "{}", project.body);
        assert_eq!(project.json()["git"]["path_with_namespace"], PROJECT);

        // `data` is merged key by key into the commit's data, with and without
        // the sha in the path; a deleted commit is undeleted.
        let r = c.post(
            "/api/v1/commit/",
            &with(&body, "data", json!({"a": 1, "nested": {"x": 1}})),
        );
        assert_eq!(r.status, 200, "{}", r.body);
        sql_exec(app, "UPDATE ci_commits SET deleted = TRUE");
        let only_envelope = without(&body, &["commit_sha", "git_commit_sha"]);
        let r = c.post(
            &format!("/api/v1/commit/{SHA}"),
            &with(&only_envelope, "data", json!({"b": 2, "a": 3})),
        );
        assert_eq!(r.status, 200, "{}", r.body);
        let r = c.post(
            &format!("/api/v1/commit/{SHA}/"),
            &with(&only_envelope, "data", json!({"c": [1]})),
        );
        assert_eq!(r.status, 200, "{}", r.body);
        let commit = get_commit(&c, PROJECT);
        assert_eq!(commit["deleted"], false);
        let data = &commit["data"];
        assert_eq!(
            (&data["a"], &data["b"], &data["c"]),
            (&json!(3), &json!(2), &json!([1]))
        );
        assert_eq!(data["nested"], json!({"x": 1}));
        assert_eq!(
            data["qatools_config"], body["qaboard_config"],
            "the merge keeps the other keys"
        );
        assert_eq!(count(app, "ci_commits"), 1);
        assert_eq!(count(app, "batches"), 0, "save-artifacts creates no batch");
    });
}

#[test]
fn answers_have_the_shapes_of_the_original_backend() {
    for_each_backend(ApiConfig::default(), |app| {
        let c = Client::new(app);
        let orig = |name: &str| reference_json(&format!("original-responses/{name}"));
        // Map the original's ids to ours.
        let mut ids: HashMap<i64, i64> = HashMap::new();
        for name in CAPTURED_OUTPUT_POSTS {
            let r = c.post("/api/v1/output/", &orig(&format!("{name}_request.json")));
            assert_eq!(r.status, 200, "{name}: {}", r.body);
            assert_eq!(r.header("content-type"), Some("application/json"), "{name}");
            assert_eq!(r.header("access-control-allow-origin"), Some("*"), "{name}");
            let expected = orig(&format!("{name}_response.json"));
            let ours = r.json();
            compare(&ours, &expected, name);
            let (their_id, our_id) = (
                expected["id"].as_i64().unwrap(),
                ours["id"].as_i64().unwrap(),
            );
            if let Some(known) = ids.insert(their_id, our_id) {
                assert_eq!(
                    known, our_id,
                    "{name}: the original updated output {their_id} in place"
                );
            }
        }
        assert_eq!(ids.len(), 6);
        assert_eq!(count(app, "outputs"), 6);

        // 08: PUT merges data and metrics key by key.
        let id5 = ids[&5];
        let put = orig("08_put_output_request.json");
        let r = c.put(&format!("/api/v1/output/{id5}/"), &put);
        assert_eq!(r.status, 200, "{}", r.body);
        compare(
            &r.json(),
            &orig("08_put_output_response.json"),
            "08_put_output",
        );
        let r = c.put(&format!("/api/v1/output/{id5}"), &put);
        assert_eq!(r.status, 200, "PUT without the trailing slash: {}", r.body);
        compare(
            &r.json(),
            &orig("08_put_output_response.json"),
            "08_put_output (again)",
        );

        // 13: GET of output 1, with and without the trailing slash, no redirect.
        let id1 = ids[&1];
        let a = c.get(&format!("/api/v1/output/{id1}/"));
        let b = c.get(&format!("/api/v1/output/{id1}"));
        assert_eq!((a.status, b.status), (200, 200), "{} / {}", a.body, b.body);
        assert_eq!(a.json(), b.json());
        compare(
            &a.json(),
            &orig("13_get_output_response.json"),
            "13_get_output",
        );

        // Unknown output: 404 JSON (the original answered an HTML 500).
        for path in [
            "/api/v1/output/999999/",
            "/api/v1/output/999999",
            "/api/v1/output/abc/",
            "/api/v1/output/-1",
        ] {
            let r = c.get(path);
            assert_eq!(r.status, 404, "{path}: {}", r.body);
            assert!(r.json()["error"].is_string(), "{path}: {}", r.body);
        }
        let r = c.put("/api/v1/output/999999/", &put);
        assert_eq!(r.status, 404, "{}", r.body);
        assert!(r.json()["error"].is_string());

        // 09a: no input path → 400 {"error": ...}, nothing written.
        let before = counts(app);
        let r = c.post(
            "/api/v1/output/",
            &orig("09a_post_output_no_input_path_request.json"),
        );
        assert_eq!(r.status, 400, "{}", r.body);
        let err = r.json();
        assert_eq!(err.as_object().unwrap().len(), 1, "{err}");
        assert!(
            err["error"].as_str().unwrap().contains("input path"),
            "{err}"
        );
        assert_eq!(counts(app), before);

        // 09b: a new commit without project_root. The original answered 404
        // (a defect); we accept it.
        let req = orig("09b_post_output_new_commit_without_project_root_request.json");
        assert!(req.get("project_root").is_none());
        let r = c.post("/api/v1/output/", &req);
        assert_eq!(r.status, 200, "{}", r.body);
        let o = r.json();
        let keys: BTreeSet<String> = o.as_object().unwrap().keys().cloned().collect();
        let expected_keys: BTreeSet<String> = orig("01_post_output_response.json")
            .as_object()
            .unwrap()
            .keys()
            .cloned()
            .collect();
        assert_eq!(keys, expected_keys);
        assert_eq!(o["metrics"], req["metrics"]);
        let commit = c.get(&format!(
            "/api/v1/commit/{}?project=acme%2Fnoroot",
            str_of(&req, "commit_sha")
        ));
        assert_eq!(commit.status, 200, "{}", commit.body);
        assert_eq!(commit.json()["batches"]["default"]["valid_outputs"], 1);
    });
}

/// Compares an output with the original's answer, ignoring `id` and `created_date`.
fn compare(ours: &Value, original: &Value, ctx: &str) {
    let strip = |v: &Value| -> Map<String, Value> {
        let mut m = v
            .as_object()
            .unwrap_or_else(|| panic!("{ctx}: not an object: {v}"))
            .clone();
        m.remove("id");
        m.remove("created_date");
        m
    };
    let (a, b) = (strip(ours), strip(original));
    let keys_a: BTreeSet<&String> = a.keys().collect();
    let keys_b: BTreeSet<&String> = b.keys().collect();
    assert_eq!(keys_a, keys_b, "{ctx}: fields");
    for (k, v) in &b {
        assert_eq!(&a[k], v, "{ctx}: field {k}");
    }
    assert_naive_iso(&ours["created_date"], ctx);
}

/// A body of `qa run` for commit `sha` on `branch` with config `config`.
fn run_body(sha: &str, branch: &str, config: &Value) -> Value {
    let b = with(
        &with(&output_body(), "commit_sha", json!(sha)),
        "git_commit_sha",
        json!(sha),
    );
    with(
        &with(&b, "commit_branch", json!(branch)),
        "qaboard_config",
        config.clone(),
    )
}

fn project_data(c: &Client, project: &str) -> Value {
    let r = c.get(&format!("/api/v1/project?project={}", encode(project)));
    assert_eq!(r.status, 200, "{}", r.body);
    r.json()
}

#[test]
fn the_project_config_follows_the_reference_branch_only() {
    for_each_backend(ApiConfig::default(), |app| {
        let c = Client::new(app);
        let base = output_body()["qaboard_config"].clone();
        let config = |tag: &str| {
            let mut cfg = base.clone();
            cfg["tag"] = json!(tag);
            cfg
        };
        let sha = |n: u32| format!("{n:040x}");

        // The first commit initialises the project, whatever its branch.
        let r = c.post(
            "/api/v1/output/",
            &run_body(&sha(1), "feature/a", &config("first")),
        );
        assert_eq!(r.status, 200, "{}", r.body);
        let data = project_data(&c, "acme/smoke");
        assert_eq!(data["qatools_config"]["tag"], "first");
        assert_eq!(data["git"]["path_with_namespace"], "acme/smoke");

        // A new commit of another branch does not change it (the original did).
        let r = c.post(
            "/api/v1/output/",
            &run_body(&sha(2), "feature/b", &config("feature")),
        );
        assert_eq!(r.status, 200, "{}", r.body);
        assert_eq!(
            project_data(&c, "acme/smoke")["qatools_config"]["tag"],
            "first"
        );

        // A new commit of the reference branch (`master`) does.
        let r = c.post(
            "/api/v1/output/",
            &run_body(&sha(3), "master", &config("master")),
        );
        assert_eq!(r.status, 200, "{}", r.body);
        assert_eq!(
            project_data(&c, "acme/smoke")["qatools_config"]["tag"],
            "master"
        );

        // Each commit keeps its own snapshot; later results do not change it.
        let r = c.post(
            "/api/v1/output/",
            &run_body(&sha(2), "feature/b", &config("later")),
        );
        assert_eq!(r.status, 200, "{}", r.body);
        for (n, tag) in [(1, "first"), (2, "feature"), (3, "master")] {
            let r = c.get(&format!("/api/v1/commit/{}?project=acme%2Fsmoke", sha(n)));
            assert_eq!(r.status, 200, "{}", r.body);
            assert_eq!(r.json()["data"]["qatools_config"]["tag"], tag, "commit {n}");
        }
        assert_eq!(
            project_data(&c, "acme/smoke")["qatools_config"]["tag"],
            "master"
        );
    });
}

#[test]
fn batch_posts_keep_config_overrides_commands_and_data() {
    for_each_backend(ApiConfig::default(), |app| {
        let c = Client::new(app);
        let body = batch_body();
        let sha = str_of(&body, "commit_sha").to_string();
        let label = str_of(&body, "batch_label").to_string();
        let r = c.post("/api/v1/batch/", &body);
        assert_eq!(r.status, 200, "{}", r.body);
        let id = r.json()["id"].as_i64().unwrap();
        let get = || {
            let r = c.get(&format!(
                "/api/v1/commit/{sha}?project={}",
                encode(str_of(&body, "project"))
            ));
            assert_eq!(r.status, 200, "{}", r.body);
            r.json()["batches"][&label].clone()
        };
        // Same config as the commit: no override.
        let b = get();
        assert_eq!(b["id"].as_i64(), Some(id));
        assert!(b["data"].get("config").is_none(), "{}", b["data"]);
        assert!(b["data"].get("qatools_metrics").is_none(), "{}", b["data"]);

        // Another config and metrics (e.g. `qa --share` with local changes):
        // kept on the batch. Data and commands merge; the batch keeps its id.
        let mut cfg = body["qaboard_config"].clone();
        cfg["outputs"]["visualizations"] = json!([{"path": "new.png"}]);
        let metrics = json!({"available_metrics": {"psnr": {"label": "PSNR"}}});
        let second = with(
            &with(&body, "qaboard_config", cfg.clone()),
            "qaboard_metrics",
            metrics.clone(),
        );
        let second = with(
            &second,
            "command",
            json!({"second-uuid": {"argv": ["qa", "batch"]}}),
        );
        let second = with(&second, "data", json!({"note": "hello"}));
        let r = c.post("/api/v1/batch", &second);
        assert_eq!(r.status, 200, "{}", r.body);
        assert_eq!(r.json()["id"].as_i64(), Some(id));
        let r = c.post("/api/v1/batch/", &with(&body, "data", json!({"other": 1})));
        assert_eq!(r.status, 200, "{}", r.body);
        let b = get();
        assert_eq!(b["data"]["config"], cfg);
        assert_eq!(b["data"]["qatools_metrics"], metrics);
        assert_eq!(
            (&b["data"]["note"], &b["data"]["other"]),
            (&json!("hello"), &json!(1))
        );
        let commands: BTreeSet<&String> =
            b["data"]["commands"].as_object().unwrap().keys().collect();
        let first_uuid = body["command"].as_object().unwrap().keys().next().unwrap();
        assert_eq!(
            commands,
            [first_uuid, &"second-uuid".to_string()]
                .into_iter()
                .collect()
        );
        assert_eq!(count(app, "batches"), 1);
    });
}

#[test]
fn reposting_an_output_updates_it_in_place() {
    for_each_backend(ApiConfig::default(), |app| {
        let c = Client::new(app);
        let body = output_body();
        let r = c.post("/api/v1/output/", &body);
        assert_eq!(r.status, 200, "{}", r.body);
        let first = r.json();
        let id = first["id"].as_i64().unwrap();

        // A deleted output is undeleted by a new result, and keeps its id.
        sql_exec(app, "UPDATE outputs SET deleted = TRUE");
        assert_eq!(
            c.get(&format!("/api/v1/output/{id}")).json()["deleted"],
            true
        );
        let rerun = with(&body, "metrics", json!({"psnr": 40.0}));
        let rerun = without(&rerun, &["input_metadata", "data", "user"]);
        let r = c.post("/api/v1/output/", &rerun);
        assert_eq!(r.status, 200, "{}", r.body);
        let o = r.json();
        assert_eq!(o["id"].as_i64(), Some(id));
        assert_eq!(o["deleted"], false);
        assert_eq!(o["created_date"], first["created_date"]);
        // Metrics and data are replaced, not merged.
        assert_eq!(o["metrics"], json!({"psnr": 40.0}));
        assert_eq!(o["data"], json!({"user": null, "ci": true}));
        // The input keeps metadata it was given before.
        assert_eq!(o["test_input_metadata"], first["test_input_metadata"]);
        assert_eq!(o["test_input_metadata"], body["input_metadata"]);

        // Old clients: platform `lsf` is `linux`, and `configuration` (a
        // `:`-joined string) stands for `configurations`.
        let old = with(
            &without(&body, &["configurations"]),
            "platform",
            json!("lsf"),
        );
        let old = with(&old, "configuration", json!("base"));
        let r = c.post("/api/v1/output/", &old);
        assert_eq!(r.status, 200, "{}", r.body);
        assert_eq!(r.json()["id"].as_i64(), Some(id), "{}", r.body);
        let r = c.post("/api/v1/output/", &with(&old, "configuration", json!("-")));
        assert_eq!(r.status, 200, "{}", r.body);
        assert_eq!(r.json()["configurations"], json!([]));
        assert_eq!(r.json()["platform"], "linux");
        assert_eq!(count(app, "outputs"), 2);

        // The identity does not depend on the order of keys in the JSON text.
        let raw = |params: &str, config: &str| {
            let text = with(
                &with(&body, "extra_parameters", json!("P")),
                "configurations",
                json!("C"),
            )
            .to_string();
            text.replace("\"P\"", params).replace("\"C\"", config)
        };
        let mut ids = BTreeSet::new();
        for (params, config) in [
            (
                r#"{"b": 2, "a": {"y": 1, "x": 2}}"#,
                r#"["base", {"k2": 1, "k1": [1, 2]}]"#,
            ),
            (
                r#"{"a": {"x": 2, "y": 1}, "b": 2}"#,
                r#"["base", {"k1": [1, 2], "k2": 1}]"#,
            ),
        ] {
            let r = c.request(
                "POST",
                "/api/v1/output/",
                Some(raw(params, config).as_bytes()),
            );
            assert_eq!(r.status, 200, "{}", r.body);
            ids.insert(r.json()["id"].as_i64().unwrap());
        }
        assert_eq!(ids.len(), 1, "{ids:?}");
        assert_eq!(count(app, "outputs"), 3);
    });
}
