//! `ingest::record_output` takes one statement when the commit, batch and
//! test input exist and need no change, and the full transaction otherwise.
//! Whichever it takes, the stored rows and the answer are the same: each case
//! below changes one thing the one-statement path must not skip, on every
//! backend.
use qaboard_db::ingest::{self, CommitEnvelope, OutputRecord};
use qaboard_db::read;
use qaboard_db::testing::TestDb;
use qaboard_db::DbConn;
use qaboard_model::OutputId;
use serde_json::{json, Value};

use crate::support::{count, exec};

fn record(config: &str) -> OutputRecord {
    OutputRecord {
        commit: CommitEnvelope {
            project: "acme/paths".into(),
            hexsha: "0f1e2d3c4b5a69788796a5b4c3d2e1f00f1e2d3c".into(),
            ..Default::default()
        },
        database: "/db".into(),
        input_path: "a.jpg".into(),
        batch_label: "default".into(),
        job_type: "ci".into(),
        platform: "linux".into(),
        configurations: json!([config]),
        extra_parameters: json!({}),
        output_type: "image".into(),
        data: json!({"n": 1}),
        metrics: json!({"psnr": 30.5}),
        ..Default::default()
    }
}

/// Records `rec` and checks the answer against what a read gives back.
fn post(conn: &mut DbConn, rec: &OutputRecord, ctx: &str) -> OutputId {
    let written = ingest::record_output(conn, rec).unwrap();
    let read = read::get_output(conn, written.output.id).unwrap().unwrap();
    assert_eq!(
        serde_json::to_value(&written.output).unwrap(),
        serde_json::to_value(&read.output).unwrap(),
        "{ctx}"
    );
    assert_eq!(
        serde_json::to_value(&written.test_input).unwrap(),
        serde_json::to_value(&read.test_input).unwrap(),
        "{ctx}"
    );
    written.output.id
}

/// Records an output of configuration `config` sent with input metadata
/// `meta`; returns the metadata its test input then holds.
fn post_metadata(conn: &mut DbConn, config: &str, meta: Value, ctx: &str) -> Value {
    let mut rec = record(config);
    rec.input_metadata = Some(meta);
    let id = post(conn, &rec, ctx);
    let input = read::get_output(conn, id).unwrap().unwrap().test_input;
    input.unwrap().data["metadata"].clone()
}

#[test]
fn every_change_an_output_brings_is_written() {
    for db in TestDb::all() {
        let ctx = format!("{db:?}");
        let conn = &mut db.pool.get().unwrap();
        let first = post(conn, &record("a"), &ctx);

        // Nothing else changes: a new output, then the same identity again
        // (an update of the same row, its metrics replaced).
        let second = post(conn, &record("b"), &ctx);
        assert_ne!(first, second, "{ctx}");
        let mut again = record("b");
        again.metrics = json!({"psnr": 31.0});
        assert_eq!(post(conn, &again, &ctx), second, "{ctx}");
        let read = read::get_output(conn, second).unwrap().unwrap();
        assert_eq!(read.output.metrics, json!({"psnr": 31.0}), "{ctx}");

        // Another job type: the batch records it.
        let mut tuning = record("c");
        tuning.job_type = "tuning".into();
        post(conn, &tuning, &ctx);
        let typed = "SELECT count(*) AS n FROM batches WHERE data ->> 'type' = 'tuning'";
        assert_eq!(count(conn, typed), 1, "{ctx}");

        // Input metadata sent: stored, then unchanged (in another key order),
        // then changed.
        let meta = json!({"iso": 100, "lens": "wide"});
        post_metadata(conn, "d", meta.clone(), &ctx);
        let reordered = serde_json::from_str(r#"{"lens":"wide","iso":100}"#).unwrap();
        assert_eq!(post_metadata(conn, "e", reordered, &ctx), meta, "{ctx}");
        let changed = json!({"iso": 200});
        assert_eq!(
            post_metadata(conn, "f", changed.clone(), &ctx),
            changed,
            "{ctx}"
        );

        // Metadata holding strings that need escaping, posted twice within
        // the second (the one-statement path compares it with the stored
        // one), then a number written differently (1 is not 1.0).
        let escaped = json!({"path": "C:\\data\\x", "note": "say \"hi\""});
        post_metadata(conn, "e1", escaped.clone(), &ctx);
        assert_eq!(
            post_metadata(conn, "e2", escaped.clone(), &ctx),
            escaped,
            "{ctx}"
        );
        post_metadata(conn, "e3", json!({"gain": 1.0}), &ctx);
        let int = post_metadata(conn, "e4", json!({"gain": 1}), &ctx);
        assert!(int["gain"].is_u64(), "{ctx}: {int}");

        // A job type that needs escaping: recorded, then kept.
        let mut quoted = record("q1");
        quoted.job_type = "a\"b\\c".into();
        post(conn, &quoted, &ctx);
        let mut quoted_again = record("q2");
        quoted_again.job_type = quoted.job_type.clone();
        post(conn, &quoted_again, &ctx);
        let typed = "SELECT count(*) AS n FROM batches WHERE data ->> 'type' = 'a\"b\\c'";
        assert_eq!(count(conn, typed), 1, "{ctx}");

        // Another storage folder for the commit, then none sent (kept).
        let mut moved = record("g");
        moved.commit_dir_override = Some(Some("/shared/elsewhere".into()));
        post(conn, &moved, &ctx);
        post(conn, &record("h"), &ctx);
        let kept =
            "SELECT count(*) AS n FROM ci_commits WHERE commit_dir_override = '/shared/elsewhere'";
        assert_eq!(count(conn, kept), 1, "{ctx}");
        let mut cleared = record("i");
        cleared.commit_dir_override = Some(None);
        post(conn, &cleared, &ctx);
        let none = "SELECT count(*) AS n FROM ci_commits WHERE commit_dir_override IS NULL";
        assert_eq!(count(conn, none), 1, "{ctx}");

        // A stale activity time is refreshed.
        exec(conn, "UPDATE ci_commits SET latest_output_datetime = NULL");
        exec(conn, "UPDATE projects SET latest_output_datetime = NULL");
        post(conn, &record("j"), &ctx);
        for table in ["ci_commits", "projects"] {
            let fresh = format!(
                "SELECT count(*) AS n FROM {table} WHERE latest_output_datetime IS NOT NULL"
            );
            assert_eq!(count(conn, &fresh), 1, "{ctx}: {table}");
        }

        // Another batch and another input are created.
        let mut other = record("k");
        other.batch_label = "nightly".into();
        other.input_path = "b.jpg".into();
        post(conn, &other, &ctx);
        assert_eq!(count(conn, "SELECT count(*) AS n FROM batches"), 2, "{ctx}");
        assert_eq!(
            count(conn, "SELECT count(*) AS n FROM test_inputs"),
            2,
            "{ctx}"
        );
        assert_eq!(
            count(conn, "SELECT count(*) AS n FROM outputs"),
            17,
            "{ctx}"
        );
    }
}
