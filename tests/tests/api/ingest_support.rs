//! Helpers shared by the API tests: real request bodies of the `qa` CLI,
//! direct reads of the database (row counts) to check what a request wrote
//! or did not write, writes made behind the server's back, `git`.
#![allow(dead_code)]

use std::path::Path;
use std::process::{Command, Stdio};

use diesel::RunQueryDsl;
use qaboard_db::DbConn;
use qaboard_tests::{reference_dir, Client, TestApp};
use serde_json::{json, Map, Value};

/// The tables ingestion writes to.
pub const TABLES: [&str; 5] = [
    "projects",
    "ci_commits",
    "batches",
    "test_inputs",
    "outputs",
];

/// Runs a statement that returns nothing.
pub fn sql_exec(app: &TestApp, sql: &str) {
    app.db.exec(sql);
}

/// `SELECT count(*) FROM <table> [WHERE ...]`.
pub fn count_where(app: &TestApp, table: &str, filter: &str) -> i64 {
    app.db.count_where(table, filter)
}

/// Number of rows of a table.
pub fn count(app: &TestApp, table: &str) -> i64 {
    count_where(app, table, "")
}

/// Row counts of every ingestion table, by name.
pub fn counts(app: &TestApp) -> Vec<(&'static str, i64)> {
    TABLES.iter().map(|t| (*t, count(app, t))).collect()
}

/// A JSON file of the reference material (`original-responses/<name>` or any
/// path below the reference folder).
pub fn reference_json(path: &str) -> Value {
    let p = reference_dir().join(path);
    let bytes = std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
    serde_json::from_slice(&bytes).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

/// The body of a captured CLI request (`qa-cli-requests/<scenario>/<file>`).
pub fn captured_body(scenario: &str, file: &str) -> Value {
    reference_json(&format!("qa-cli-requests/{scenario}/{file}"))["body"].clone()
}

/// A complete `POST /api/v1/output/` body, as `qa run` sends at the end of a run
/// (commit `462a23fc…` of project `acme/smoke`, input `images/0001.jpg`).
pub fn output_body() -> Value {
    reference_json("original-responses/01_post_output_request.json")
}

/// A complete `POST /api/v1/batch/` body, as `qa batch` sends at its start.
pub fn batch_body() -> Value {
    captured_body("2_batch_share", "005_POST_api_v1_batch.json")
}

/// A complete `POST /api/v1/commit/` body, as `qa save-artifacts` sends.
pub fn commit_body() -> Value {
    captured_body("4_save_artifacts_ci", "022_POST_api_v1_commit.json")
}

/// `body` with `key` set to `value`.
pub fn with(body: &Value, key: &str, value: Value) -> Value {
    let mut b = body.clone();
    b.as_object_mut()
        .expect("object body")
        .insert(key.to_string(), value);
    b
}

/// The recorded `qa run` body for test input `input` with metric `psnr`.
pub fn output_for(input: &str, psnr: f64) -> Value {
    let body = with(&output_body(), "input_path", json!(input));
    let body = with(&body, "rel_input_path", json!(input));
    with(&body, "metrics", json!({"psnr": psnr}))
}

/// `body` without `keys`.
pub fn without(body: &Value, keys: &[&str]) -> Value {
    let mut b = body.clone();
    let m: &mut Map<String, Value> = b.as_object_mut().expect("object body");
    for k in keys {
        m.remove(*k);
    }
    b
}

/// A string field of a body.
pub fn str_of<'a>(body: &'a Value, key: &str) -> &'a str {
    body[key]
        .as_str()
        .unwrap_or_else(|| panic!("'{key}' is not a string in {body}"))
}

/// The `POST /api/v1/output/` exchanges of `original-responses/`, in the
/// order the original backend received them (`<name>_request.json`,
/// `<name>_response.json`).
pub const CAPTURED_OUTPUT_POSTS: [&str; 7] = [
    "01_post_output",
    "02_post_output_pending",
    "03_post_output_failed",
    "04_post_output_tuning",
    "05_post_output_branch_commit",
    "06_post_output_update_existing",
    "07_post_output_running",
];

/// A write on a connection of its own, as another process would make it.
pub fn external_write(app: &TestApp, pg_sql: &str, sqlite_sql: &str) {
    let mut conn = qaboard_db::pool::establish(&app.db.url).expect("connect");
    match &mut conn {
        DbConn::Pg(c) => diesel::sql_query(pg_sql).execute(&mut **c),
        DbConn::Sqlite(c) => diesel::sql_query(sqlite_sql).execute(&mut **c),
    }
    .expect("external write");
}

/// GET `path`, which must answer 200; its JSON.
pub fn get_ok(c: &Client, path: &str) -> Value {
    let r = c.get(path);
    assert_eq!(r.status, 200, "{path}: {}", r.body);
    r.json()
}

/// Runs `git` in `dir` with `home` as HOME and no system configuration;
/// the trimmed stdout (panics when git fails).
pub fn git(dir: &Path, home: &Path, args: &[&str]) -> String {
    let out = Command::new("git")
        .args(args)
        .current_dir(dir)
        .env("HOME", home)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .stdin(Stdio::null())
        .output()
        .expect("git");
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// The commit page of the commit an output `body` was posted to.
pub fn commit_page_path(body: &Value) -> String {
    format!(
        "/api/v1/commit/{}?project={}",
        str_of(body, "commit_sha"),
        qaboard_tests::encode(str_of(body, "project"))
    )
}
