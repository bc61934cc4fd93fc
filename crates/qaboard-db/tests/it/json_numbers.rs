//! Issue 9, item 5 at the database level: every JSON column reads back equal
//! to the value written, on every backend, through the one decoder
//! (`qaboard_db::json`); see docs/robustness.md.
use qaboard_db::ingest::{self, CommitEnvelope, OutputRecord};
use qaboard_db::testing::TestDb;
use qaboard_db::{projects, read};
use serde_json::{json, Value};

/// The numbers of the issue, parsed as a request body is.
fn numbers() -> Value {
    serde_json::from_str(
        r#"{"u64_max": 18446744073709551615, "below_i64": -9223372036854775809,
            "beyond_u64": 123456789012345678901234567890, "tiny": 5e-324, "huge": 1e308,
            "negative_zero": -0.0, "exponent": 1E+2, "i64_min": -9223372036854775808,
            "nested": [18446744073709551615, {"x": 5e-324}]}"#,
    )
    .unwrap()
}

fn record(n: &Value, config: &str) -> OutputRecord {
    OutputRecord {
        commit: CommitEnvelope {
            project: "acme/numbers".into(),
            hexsha: "462a23fc9356a1fa3f792828b530ea6d4eeb9803".into(),
            parents: Some(json!([n.clone()])),
            ..Default::default()
        },
        database: "/db".into(),
        input_path: "a.jpg".into(),
        input_metadata: Some(n.clone()),
        batch_label: "default".into(),
        job_type: "ci".into(),
        platform: "linux".into(),
        configurations: json!([config, n.clone()]),
        extra_parameters: n.clone(),
        output_type: "image".into(),
        data: n.clone(),
        metrics: n.clone(),
        ..Default::default()
    }
}

#[test]
fn numbers_read_back_equal_in_every_json_column() {
    let n = numbers();
    for db in TestDb::all() {
        let ctx = format!("{db:?}");
        let mut conn = db.pool.get().unwrap();
        // Slow path (creates everything), then the fast path over existing rows.
        for config in ["first", "second"] {
            let written = ingest::record_output(&mut conn, &record(&n, config)).unwrap();
            assert_eq!(written.output.metrics, n, "{ctx}");
            let read = read::get_output(&mut conn, written.output.id)
                .unwrap()
                .unwrap();
            let o = &read.output;
            assert_eq!(o.metrics, n, "{ctx}");
            assert_eq!(o.data, n, "{ctx}");
            assert_eq!(o.extra_parameters, n, "{ctx}");
            assert_eq!(o.configurations[1], n, "{ctx}");
            assert_eq!(read.test_input.unwrap().data["metadata"], n, "{ctx}");
        }
        // Project data, read by the projects list and the project read.
        projects::update_project_data(&mut conn, "acme/numbers", |d| {
            d["milestones"] = json!({"crc": n.clone()});
            Ok(())
        })
        .unwrap();
        let p = read::project(&mut conn, "acme/numbers").unwrap().unwrap();
        assert_eq!(p.data["milestones"]["crc"], n, "{ctx}");
        let list = read::project_summaries(&mut conn).unwrap();
        assert_eq!(list[0].data["milestones"]["crc"], n, "{ctx}");
    }
}
