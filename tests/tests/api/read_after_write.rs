//! Issue 16: cached heavy reads (commit page, commits list) follow every
//! write route, on both databases: each write shows in the very next read,
//! while cached answers of ANOTHER project stay in use (their versions follow
//! only what they render). Writes made by another process (a connection the
//! server knows nothing of) count too, including to test inputs and to a
//! project's data.

use std::sync::Arc;

use crate::ingest_support::*;
use qaboard_api::cache::ResponseCache;
use qaboard_api::ApiConfig;
use qaboard_tests::{encode, spawn_app, Client, TempDir, TestDb};
use serde_json::{json, Value};

const SHA_A: &str = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
const SHA_A2: &str = "abababababababababababababababababababab";
const SHA_B: &str = "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";
const A: &str = "acme/readers";
const B: &str = "acme/bystander";

fn delete(c: &Client, path: &str) {
    let r = c.request("DELETE", path, None);
    assert_eq!(r.status, 200, "DELETE {path}: {}", r.body);
}

fn post_ok(c: &Client, path: &str, body: &Value) -> Value {
    let r = c.post(path, body);
    assert_eq!(r.status, 200, "POST {path}: {}", r.body);
    r.json()
}

/// An output of `project`/`sha` in batch `label` for `input`, stored under `root`.
fn output(root: &TempDir, project: &str, sha: &str, label: &str, input: &str) -> Value {
    let mut b = output_body();
    b["project"] = json!(project);
    b["commit_sha"] = json!(sha);
    b["git_commit_sha"] = json!(sha);
    b["commit_branch"] = json!("master");
    b["batch_label"] = json!(label);
    b["input_path"] = json!(input);
    b["rel_input_path"] = json!(input);
    b["output_directory"] = json!(root.path().join(project).join(sha).join(label).join(input));
    b["metrics"] = json!({"psnr": 1.0});
    b["data"] = json!({});
    b
}

struct Reads<'a> {
    c: &'a Client,
    cache: &'a ResponseCache,
    detail_a: String,
    list_a: String,
    detail_b: String,
}

impl Reads<'_> {
    /// Reads A's page and list twice (the second from the cache).
    fn warm(&self) -> (Value, Value) {
        let d = get_ok(self.c, &self.detail_a);
        let l = get_ok(self.c, &self.list_a);
        assert_eq!(get_ok(self.c, &self.detail_a), d);
        assert_eq!(get_ok(self.c, &self.list_a), l);
        (d, l)
    }

    /// B's page, which must come from the cache whatever was written to A.
    fn bystander_hits(&self, step: &str) {
        let before = self.cache.stats().hits;
        get_ok(self.c, &self.detail_b);
        assert_eq!(
            self.cache.stats().hits,
            before + 1,
            "{step}: a write to {A} invalidated {B}'s cached commit page"
        );
    }
}

fn batches(d: &Value) -> Vec<String> {
    let mut l: Vec<String> = d["batches"]
        .as_object()
        .map(|m| m.keys().cloned().collect())
        .unwrap_or_default();
    l.sort();
    l
}

fn outputs_of(d: &Value, label: &str) -> usize {
    d["batches"][label]["outputs"]
        .as_object()
        .map_or(0, |m| m.len())
}

fn list_commit<'a>(l: &'a Value, sha: &str) -> &'a Value {
    l.as_array()
        .and_then(|a| a.iter().find(|c| c["id"] == json!(sha)))
        .unwrap_or(&Value::Null)
}

#[test]
fn every_write_route_shows_in_the_next_read_and_spares_other_projects() {
    let mut dbs = vec![TestDb::sqlite()];
    dbs.extend(TestDb::postgres());
    for db in dbs {
        let label = format!("{db:?}");
        eprintln!("backend: {label}");
        let root = TempDir::new("raw");
        let cache = Arc::new(ResponseCache::new(16 * 1024 * 1024));
        let cfg = ApiConfig {
            cache: cache.clone(),
            storage_root: root.path().display().to_string(),
            data_dir: root.path().join(".data"),
            ..ApiConfig::default()
        };
        let app = spawn_app(db, cfg);
        let c = Client::new(&app);

        let first = post_ok(
            &c,
            "/api/v1/output/",
            &output(&root, A, SHA_A, "default", "a.jpg"),
        );
        post_ok(
            &c,
            "/api/v1/output/",
            &output(&root, A, SHA_A, "default", "b.jpg"),
        );
        post_ok(
            &c,
            "/api/v1/output/",
            &output(&root, A, SHA_A, "other", "a.jpg"),
        );
        post_ok(
            &c,
            "/api/v1/output/",
            &output(&root, A, SHA_A2, "default", "a.jpg"),
        );
        post_ok(
            &c,
            "/api/v1/output/",
            &output(&root, B, SHA_B, "default", "a.jpg"),
        );
        let metrics = encode(r#"{"psnr":1}"#);
        let r = Reads {
            c: &c,
            cache: &cache,
            detail_a: format!("/api/v1/commit/{SHA_A}?project={}&metrics={metrics}", encode(A)),
            list_a: format!(
                "/api/v1/commits/?project={}&from=2000-01-01T00:00:00Z&to=2100-01-01T00:00:00Z&metrics={metrics}",
                encode(A)
            ),
            detail_b: format!("/api/v1/commit/{SHA_B}?project={}", encode(B)),
        };
        get_ok(&c, &r.detail_b);
        r.bystander_hits("warm-up");

        // Ingestion: a new output.
        r.warm();
        post_ok(
            &c,
            "/api/v1/output/",
            &output(&root, A, SHA_A, "default", "c.jpg"),
        );
        assert_eq!(
            outputs_of(&get_ok(&c, &r.detail_a), "default"),
            3,
            "{label}"
        );
        r.bystander_hits("POST output");

        // Ingestion: an output's status (PUT).
        r.warm();
        let id = first["id"].as_i64().unwrap();
        let put = c.put(
            &format!("/api/v1/output/{id}/"),
            &json!({"is_failed": true}),
        );
        assert_eq!(put.status, 200, "{label}: {}", put.body);
        let d = get_ok(&c, &r.detail_a);
        assert_eq!(
            d["batches"]["default"]["failed_outputs"],
            json!(1),
            "{label}"
        );
        let l = get_ok(&c, &r.list_a);
        assert_eq!(
            list_commit(&l, SHA_A)["batches"]["default"]["failed_outputs"],
            json!(1),
            "{label}"
        );
        r.bystander_hits("PUT output");

        // Ingestion: a batch (`qa batch` start) and a commit's data (`qa save-artifacts`).
        r.warm();
        let mut b = batch_body();
        b["project"] = json!(A);
        b["commit_sha"] = json!(SHA_A);
        b["git_commit_sha"] = json!(SHA_A);
        b["batch_label"] = json!("started");
        post_ok(&c, "/api/v1/batch/", &b);
        assert!(
            batches(&get_ok(&c, &r.detail_a)).contains(&"started".to_string()),
            "{label}"
        );
        r.bystander_hits("POST batch");
        let (d0, _) = r.warm();
        let mut cb = commit_body();
        cb["project"] = json!(A);
        cb["commit_sha"] = json!(SHA_A);
        cb["git_commit_sha"] = json!(SHA_A);
        cb["data"] = json!({"read_after_write": 1});
        let resp = c.post("/api/v1/commit/", &cb);
        assert_eq!(resp.status, 200, "{label}: {}", resp.body);
        assert_ne!(get_ok(&c, &r.detail_a)["data"], d0["data"], "{label}");
        r.bystander_hits("POST commit");

        // Operations: rename, move, delete an output, delete a batch.
        r.warm();
        let other_id = get_ok(&c, &r.detail_a)["batches"]["other"]["id"]
            .as_i64()
            .unwrap();
        post_ok(
            &c,
            "/api/v1/batch/rename/",
            &json!({"id": other_id, "label": "renamed"}),
        );
        assert_eq!(
            batches(&get_ok(&c, &r.detail_a)),
            ["default", "renamed", "started"],
            "{label}"
        );
        let l = get_ok(&c, &r.list_a);
        assert!(
            list_commit(&l, SHA_A)["batches"].get("renamed").is_some(),
            "{label}: {l}"
        );
        r.bystander_hits("rename");

        r.warm();
        post_ok(
            &c,
            "/api/v1/batch/move/",
            &json!({"id": other_id, "label": "moved"}),
        );
        assert!(
            batches(&get_ok(&c, &r.detail_a)).contains(&"moved".to_string()),
            "{label}"
        );
        r.bystander_hits("move");

        r.warm();
        let out = get_ok(&c, &r.detail_a)["batches"]["default"]["outputs"]
            .as_object()
            .unwrap()
            .keys()
            .next()
            .unwrap()
            .clone();
        delete(&c, &format!("/api/v1/output/{out}/"));
        assert_eq!(
            outputs_of(&get_ok(&c, &r.detail_a), "default"),
            2,
            "{label}"
        );
        r.bystander_hits("delete output");

        r.warm();
        let moved_id = get_ok(&c, &r.detail_a)["batches"]["moved"]["id"]
            .as_i64()
            .unwrap();
        delete(&c, &format!("/api/v1/batch/{moved_id}/"));
        assert!(
            !batches(&get_ok(&c, &r.detail_a)).contains(&"moved".to_string()),
            "{label}"
        );
        r.bystander_hits("delete batch");

        // Another process: an output's metric, a test input's metadata, a
        // commit's message, a project's data.
        let (d, _) = r.warm();
        let keep = d["batches"]["default"]["outputs"]
            .as_object()
            .unwrap()
            .keys()
            .next()
            .unwrap()
            .clone();
        external_write(
            &app,
            &format!(r#"UPDATE outputs SET metrics = '{{"psnr": 7.5}}' WHERE id = {keep}"#),
            &format!(r#"UPDATE outputs SET metrics = jsonb('{{"psnr": 7.5}}') WHERE id = {keep}"#),
        );
        let d = get_ok(&c, &r.detail_a);
        assert_eq!(
            d["batches"]["default"]["outputs"][&keep]["metrics"]["psnr"],
            json!(7.5),
            "{label}"
        );
        r.bystander_hits("external output write");

        r.warm();
        let input_id = app.db.count_where("test_inputs", "path = 'a.jpg'");
        assert!(input_id >= 1);
        external_write(
            &app,
            r#"UPDATE test_inputs SET data = '{"metadata": {"changed": true}}'"#,
            r#"UPDATE test_inputs SET data = jsonb('{"metadata": {"changed": true}}')"#,
        );
        let d = get_ok(&c, &r.detail_a);
        assert!(
            d.to_string().contains("\"changed\":true"),
            "{label}: test input change not shown"
        );
        // Test inputs are shared: B's page shows them too (a miss is right).
        get_ok(&c, &r.detail_b);

        r.warm();
        let sql =
            format!("UPDATE ci_commits SET message = 'edited elsewhere' WHERE hexsha = '{SHA_A}'");
        external_write(&app, &sql, &sql);
        assert_eq!(
            get_ok(&c, &r.detail_a)["message"],
            json!("edited elsewhere"),
            "{label}"
        );
        assert_eq!(
            list_commit(&get_ok(&c, &r.list_a), SHA_A)["message"],
            json!("edited elsewhere"),
            "{label}"
        );
        r.bystander_hits("external commit write");

        r.warm();
        let misses = cache.stats().misses;
        external_write(
            &app,
            &format!(r#"UPDATE projects SET data = '{{"changed": 1}}' WHERE id = '{A}'"#),
            &format!(r#"UPDATE projects SET data = jsonb('{{"changed": 1}}') WHERE id = '{A}'"#),
        );
        get_ok(&c, &r.detail_a);
        get_ok(&c, &r.list_a);
        assert!(
            cache.stats().misses >= misses + 2,
            "{label}: project data change not seen"
        );
        r.bystander_hits("external project write");

        // A write to A's other commit leaves A's first commit page cached.
        r.warm();
        post_ok(
            &c,
            "/api/v1/output/",
            &output(&root, A, SHA_A2, "default", "z.jpg"),
        );
        let before = cache.stats().hits;
        get_ok(&c, &r.detail_a);
        assert_eq!(
            cache.stats().hits,
            before + 1,
            "{label}: a write to another commit invalidated"
        );
        let l = get_ok(&c, &r.list_a);
        assert_eq!(outputs_count_in_list(&l, SHA_A2), 2, "{label}");

        // Deleting a commit's batches.
        r.warm();
        delete(&c, &format!("/api/v1/commit/{}/{SHA_A}/batches/", A));
        let r2 = c.get(&r.detail_a);
        assert!(
            r2.status == 404 || batches(&r2.json()).is_empty(),
            "{label}: {}",
            r2.body
        );
        r.bystander_hits("delete commit batches");
    }
}

fn outputs_count_in_list(l: &Value, sha: &str) -> i64 {
    let b = &list_commit(l, sha)["batches"]["default"];
    b["valid_outputs"].as_i64().unwrap_or(0)
        + b["failed_outputs"].as_i64().unwrap_or(0)
        + b["pending_outputs"].as_i64().unwrap_or(0)
}
