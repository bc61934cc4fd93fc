//! Concurrent writes, as many `qa` jobs of one CI pipeline send them at once:
//! no duplicate rows, no failed request, no lost update.

use std::collections::BTreeSet;
use std::sync::{Arc, Barrier};

use crate::ingest_support::*;
use qaboard_api::ApiConfig;
use qaboard_tests::{encode, for_each_backend, Client, Resp, TestApp};
use serde_json::{json, Value};

const THREADS: usize = 16;

/// Sends `bodies[i]` from thread `i`, all released at once; returns the answers in order.
fn post_all_at_once(app: &TestApp, path: &str, bodies: Vec<Value>) -> Vec<Resp> {
    let barrier = Arc::new(Barrier::new(bodies.len()));
    let handles: Vec<_> = bodies
        .into_iter()
        .map(|body| {
            let barrier = Arc::clone(&barrier);
            let base = app.base.clone();
            let path = path.to_string();
            std::thread::spawn(move || {
                let c = Client::for_base(&base);
                let bytes = body.to_string().into_bytes();
                barrier.wait();
                c.request("POST", &path, Some(&bytes))
            })
        })
        .collect();
    handles
        .into_iter()
        .map(|h| h.join().expect("client thread"))
        .collect()
}

fn assert_all_ok(resps: &[Resp]) {
    for (i, r) in resps.iter().enumerate() {
        assert_eq!(r.status, 200, "request {i}: {}", r.body);
    }
}

fn table_counts(app: &TestApp, expected: [i64; 5]) {
    let got: Vec<i64> = counts(app).into_iter().map(|(_, n)| n).collect();
    assert_eq!(got, expected.to_vec(), "rows of {TABLES:?}");
}

/// A body for a new commit of a new project.
fn fresh_output(sha: &str) -> Value {
    let b = with(&output_body(), "commit_sha", json!(sha));
    let b = with(&b, "git_commit_sha", json!(sha));
    with(&b, "project", json!("race/project"))
}

#[test]
fn the_same_output_posted_16_times_at_once_is_one_row() {
    for_each_backend(ApiConfig::default(), |app| {
        let body = fresh_output("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa1");
        let resps = post_all_at_once(app, "/api/v1/output/", vec![body; THREADS]);
        assert_all_ok(&resps);
        let ids: BTreeSet<i64> = resps
            .iter()
            .map(|r| r.json()["id"].as_i64().unwrap())
            .collect();
        assert_eq!(
            ids.len(),
            1,
            "every request answers the same output: {ids:?}"
        );
        table_counts(app, [1, 1, 1, 1, 1]);
        let o = resps[0].json();
        assert_eq!(o["is_pending"], false);
        assert_eq!(o["metrics"]["psnr"], 31.1);
    });
}

#[test]
fn sixteen_outputs_of_a_new_commit_posted_at_once_share_one_commit_and_batch() {
    for_each_backend(ApiConfig::default(), |app| {
        let sha = "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb2";
        let bodies: Vec<Value> = (0..THREADS)
            .map(|i| {
                with(
                    &fresh_output(sha),
                    "rel_input_path",
                    json!(format!("images/{i:04}.jpg")),
                )
            })
            .collect();
        let resps = post_all_at_once(app, "/api/v1/output/", bodies);
        assert_all_ok(&resps);
        let ids: BTreeSet<i64> = resps
            .iter()
            .map(|r| r.json()["id"].as_i64().unwrap())
            .collect();
        assert_eq!(ids.len(), THREADS, "distinct outputs: {ids:?}");
        table_counts(app, [1, 1, 1, THREADS as i64, THREADS as i64]);
        let c = Client::new(app);
        let r = c.get(&format!(
            "/api/v1/commit/{sha}?project={}",
            encode("race/project")
        ));
        assert_eq!(r.status, 200, "{}", r.body);
        let commit = r.json();
        let batch = &commit["batches"]["default"];
        assert_eq!(batch["valid_outputs"], THREADS);
        let listed: BTreeSet<i64> = batch["outputs"]
            .as_object()
            .unwrap()
            .keys()
            .map(|k| k.parse().unwrap())
            .collect();
        assert_eq!(listed, ids);
    });
}

#[test]
fn concurrent_batch_commands_are_all_kept() {
    for_each_backend(ApiConfig::default(), |app| {
        // Half the requests register a `qa batch` command, half post an output
        // of the same batch (which records the batch's job type): both write
        // the batch's data and neither may lose the other's update.
        let sha = "ccccccccccccccccccccccccccccccccccccccc3";
        let base = with(
            &with(&batch_body(), "commit_sha", json!(sha)),
            "git_commit_sha",
            json!(sha),
        );
        let base = with(
            &with(&base, "project", json!("race/batches")),
            "batch_label",
            json!("nightly"),
        );
        let base = with(&base, "job_type", json!("ci"));
        let uuids: Vec<String> = (0..THREADS)
            .map(|i| format!("00000000-0000-4000-8000-{i:012}"))
            .collect();
        let mut bodies: Vec<(String, Value)> = uuids
            .iter()
            .enumerate()
            .map(|(i, u)| {
                let b = with(
                    &base,
                    "command",
                    json!({ u.clone(): {"argv": ["qa", "batch", format!("b{i}")]} }),
                );
                ("/api/v1/batch/".to_string(), b)
            })
            .collect();
        for i in 0..THREADS / 2 {
            let o = with(&output_body(), "commit_sha", json!(sha));
            let o = with(
                &with(&o, "git_commit_sha", json!(sha)),
                "project",
                json!("race/batches"),
            );
            let o = with(
                &with(&o, "batch_label", json!("nightly")),
                "job_type",
                json!("ci"),
            );
            let o = with(&o, "rel_input_path", json!(format!("images/{i:04}.jpg")));
            bodies.push(("/api/v1/output/".to_string(), o));
        }
        let barrier = Arc::new(Barrier::new(bodies.len()));
        let handles: Vec<_> = bodies
            .into_iter()
            .map(|(path, body)| {
                let barrier = Arc::clone(&barrier);
                let base = app.base.clone();
                std::thread::spawn(move || {
                    let c = Client::for_base(&base);
                    let bytes = body.to_string().into_bytes();
                    barrier.wait();
                    c.request("POST", &path, Some(&bytes))
                })
            })
            .collect();
        let resps: Vec<Resp> = handles.into_iter().map(|h| h.join().unwrap()).collect();
        assert_all_ok(&resps);
        let batch_ids: BTreeSet<i64> = resps[..THREADS]
            .iter()
            .map(|r| r.json()["id"].as_i64().unwrap())
            .collect();
        assert_eq!(batch_ids.len(), 1, "one batch: {batch_ids:?}");
        table_counts(app, [1, 1, 1, (THREADS / 2) as i64, (THREADS / 2) as i64]);

        let c = Client::new(app);
        let r = c.get(&format!(
            "/api/v1/commit/{sha}?project={}&batch=nightly",
            encode("race/batches")
        ));
        assert_eq!(r.status, 200, "{}", r.body);
        let data = &r.json()["batches"]["nightly"]["data"];
        let commands = data["commands"]
            .as_object()
            .unwrap_or_else(|| panic!("no commands in {data}"));
        let kept: BTreeSet<&String> = commands.keys().collect();
        let sent: BTreeSet<&String> = uuids.iter().collect();
        assert_eq!(kept, sent, "lost commands");
        assert_eq!(data["type"], "ci", "lost the job type");
    });
}

#[test]
fn new_commits_and_new_inputs_of_one_project_at_once() {
    // A CI pipeline of one commit posting results on inputs seen for the
    // first time while the first results of other commits of the project
    // arrive for the same inputs: creating a commit updates the project, and
    // so does every result (its latest output time).
    for_each_backend(ApiConfig::default(), |app| {
        let project = "race/shared-inputs";
        let existing = "dddddddddddddddddddddddddddddddddddddd00";
        let body = |sha: &str, input: usize| {
            let b = with(
                &with(&output_body(), "commit_sha", json!(sha)),
                "git_commit_sha",
                json!(sha),
            );
            with(
                &with(&b, "project", json!(project)),
                "rel_input_path",
                json!(format!("new/{input:04}.jpg")),
            )
        };
        let c = Client::new(app);
        for round in 0..4 {
            let r = c.post(
                "/api/v1/output/",
                &with(&body(existing, 0), "rel_input_path", json!("seed.jpg")),
            );
            assert_eq!(r.status, 200, "{}", r.body);
            // Make the project's latest output time stale so that results refresh it.
            sql_exec(
                app,
                "UPDATE projects SET latest_output_datetime = '2000-01-01 00:00:00'",
            );
            let mut bodies = Vec::new();
            for i in 0..THREADS / 2 {
                let input = round * THREADS + i;
                bodies.push(body(existing, input));
                bodies.push(body(
                    &format!("dddddddddddddddddddddddddddddddddd{round:02}{i:04}"),
                    input,
                ));
            }
            let resps = post_all_at_once(app, "/api/v1/output/", bodies);
            assert_all_ok(&resps);
            assert_eq!(
                count_where(app, "projects", "latest_output_datetime > '2001-01-01'"),
                1,
                "the results refresh the project's latest output time"
            );
        }
        let commits = 1 + 4 * (THREADS / 2) as i64;
        let inputs = 1 + 4 * (THREADS / 2) as i64;
        table_counts(app, [1, commits, commits, inputs, 1 + 4 * THREADS as i64]);
    });
}

#[test]
fn concurrent_commit_data_merges_are_all_kept() {
    // `qa save-artifacts` of several jobs merging data into a new commit
    // while results of that commit arrive.
    for_each_backend(ApiConfig::default(), |app| {
        let sha = "eeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeee4";
        let envelope = |b: Value| {
            let b = with(
                &with(&b, "commit_sha", json!(sha)),
                "git_commit_sha",
                json!(sha),
            );
            with(&b, "project", json!("race/commits"))
        };
        let mut requests: Vec<(String, Value)> = (0..THREADS / 2)
            .map(|i| {
                let b = with(
                    &envelope(commit_body()),
                    "data",
                    json!({ format!("k{i}"): i }),
                );
                ("/api/v1/commit/".to_string(), b)
            })
            .collect();
        for i in 0..THREADS / 2 {
            let b = with(
                &envelope(output_body()),
                "rel_input_path",
                json!(format!("images/{i:04}.jpg")),
            );
            requests.push(("/api/v1/output/".to_string(), b));
        }
        let barrier = Arc::new(Barrier::new(requests.len()));
        let handles: Vec<_> = requests
            .into_iter()
            .map(|(path, body)| {
                let barrier = Arc::clone(&barrier);
                let base = app.base.clone();
                std::thread::spawn(move || {
                    let c = Client::for_base(&base);
                    let bytes = body.to_string().into_bytes();
                    barrier.wait();
                    c.request("POST", &path, Some(&bytes))
                })
            })
            .collect();
        let resps: Vec<Resp> = handles.into_iter().map(|h| h.join().unwrap()).collect();
        assert_all_ok(&resps);
        table_counts(app, [1, 1, 1, (THREADS / 2) as i64, (THREADS / 2) as i64]);
        let c = Client::new(app);
        let r = c.get(&format!(
            "/api/v1/commit/{sha}?project={}",
            encode("race/commits")
        ));
        assert_eq!(r.status, 200, "{}", r.body);
        let data = &r.json()["data"];
        for i in 0..THREADS / 2 {
            assert_eq!(data[format!("k{i}")], json!(i), "lost k{i} in {data}");
        }
        assert!(data["qatools_config"].is_object(), "{data}");
    });
}
