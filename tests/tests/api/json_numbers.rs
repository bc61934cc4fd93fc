//! Issue 9, items 5 and 8, through the real HTTP API on every backend: JSON
//! numbers read back equal to what was accepted, unusable dates are dropped,
//! empty committers and messages get the original's placeholders, legacy
//! NULL creation dates read as `null` (rules: docs/robustness.md).
use crate::ingest_support::*;
use qaboard_api::ApiConfig;
use qaboard_tests::{for_each_backend, Client, TestApp};
use serde_json::{json, Value};

/// Metrics with the numbers that broke reads, as raw JSON text.
const NUMBERS: &str = r#"{"crc64": 18446744073709551615, "below_i64": -9223372036854775809,
 "beyond_u64": 123456789012345678901234567890, "tiny": 5e-324, "huge": 1e308,
 "negative_zero": -0.0, "exponent": 1E+2, "i64_min": -9223372036854775808}"#;

/// The commit of the reference output body.
const SHA: &str = "462a23fc9356a1fa3f792828b530ea6d4eeb9803";

fn numbers() -> Value {
    serde_json::from_str(NUMBERS).unwrap()
}

/// Posts `body` with its `metrics` replaced by the raw [`NUMBERS`] text.
fn post_with_numbers(c: &Client, body: &Value) -> (u16, Value) {
    let text = with(body, "metrics", json!("@@NUMBERS@@"))
        .to_string()
        .replace("\"@@NUMBERS@@\"", NUMBERS);
    let r = c.request("POST", "/api/v1/output/", Some(text.as_bytes()));
    let j = serde_json::from_str(&r.body).unwrap_or(Value::Null);
    (r.status, j)
}

/// Every number of [`NUMBERS`] is in `metrics`, equal to what the request
/// parser made of it.
fn assert_numbers(metrics: &Value, ctx: &str) {
    for (k, v) in numbers().as_object().unwrap() {
        assert_eq!(&metrics[k], v, "{ctx}: {k} in {metrics}");
    }
}

fn commit_outputs(c: &Client) -> Vec<Value> {
    let r = c.get(&format!("/api/v1/commit/{SHA}?project=acme%2Fsmoke"));
    assert_eq!(r.status, 200, "{}", r.body);
    let j = r.json();
    let mut out = Vec::new();
    for b in j["batches"].as_object().unwrap().values() {
        out.extend(b["outputs"].as_object().unwrap().values().cloned());
    }
    out
}

#[test]
fn big_and_odd_numbers_round_trip_in_every_json_column() {
    for_each_backend(ApiConfig::default(), |app: &TestApp| {
        let c = Client::new(app);
        // First post creates commit, batch and input; the second takes the
        // fast path over existing rows (where the write used to succeed and
        // every later read fail).
        let (s, first) = post_with_numbers(&c, &output_body());
        assert_eq!(s, 200, "{first}");
        assert_numbers(&first["metrics"], "first answer");
        let other = with(&output_body(), "configurations", json!(["other"]));
        let (s, second) = post_with_numbers(&c, &other);
        assert_eq!(s, 200, "{second}");
        assert_numbers(&second["metrics"], "fast path answer");
        for o in [&first, &second] {
            let id = o["id"].as_i64().unwrap();
            let r = c.get(&format!("/api/v1/output/{id}"));
            assert_eq!(r.status, 200, "{}", r.body);
            assert_numbers(&r.json()["metrics"], "GET output");
            let r = c.put(
                &format!("/api/v1/output/{id}"),
                &json!({"data": {"n": 18446744073709551615u64}}),
            );
            assert_eq!(r.status, 200, "{}", r.body);
            assert_numbers(&r.json()["metrics"], "PUT output");
            assert_eq!(r.json()["data"]["n"], json!(18446744073709551615u64));
        }
        // The read paths that pass stored JSON text through.
        let outputs = commit_outputs(&c);
        assert_eq!(outputs.len(), 2);
        for o in &outputs {
            assert_numbers(&o["metrics"], "GET commit");
        }
        // Numbers in the other JSON columns: input metadata, tuning
        // parameters, configurations.
        let mut body = with(&output_body(), "input_metadata", numbers());
        body = with(&body, "extra_parameters", numbers());
        body = with(&body, "configurations", json!(["base", numbers()]));
        let r = c.post("/api/v1/output/", &body);
        assert_eq!(r.status, 200, "{}", r.body);
        let id = r.json()["id"].as_i64().unwrap();
        let r = c.get(&format!("/api/v1/output/{id}"));
        assert_eq!(r.status, 200, "{}", r.body);
        let o = r.json();
        assert_numbers(&o["extra_parameters"], "extra_parameters");
        assert_numbers(&o["configurations"][1], "configurations");
        assert_numbers(&o["test_input_metadata"], "input metadata");
    });
}

#[test]
fn a_u64_milestone_keeps_the_project_readable() {
    for_each_backend(ApiConfig::default(), |app: &TestApp| {
        let c = Client::new(app);
        let r = c.post("/api/v1/output/", &output_body());
        assert_eq!(r.status, 200, "{}", r.body);
        let r = c.request(
            "POST",
            "/api/v1/project/milestones/",
            Some(
                br#"{"project": "acme/smoke", "key": "crc", "milestone": 18446744073709551615}"#
                    .as_slice(),
            ),
        );
        assert_eq!(r.status, 200, "{}", r.body);
        let r = c.get("/api/v1/projects");
        assert_eq!(r.status, 200, "{}", r.body);
        assert_eq!(
            r.json()["acme/smoke"]["data"]["milestones"]["crc"],
            json!(18446744073709551615u64)
        );
        let r = c.get("/api/v1/project/milestones?project=acme%2Fsmoke");
        assert_eq!(r.status, 200, "{}", r.body);
        // Later writes of the project still work.
        let r = c.post("/api/v1/output/", &output_body());
        assert_eq!(r.status, 200, "{}", r.body);
    });
}

#[test]
fn dates_outside_years_1_to_9999_are_dropped_and_the_result_kept() {
    for_each_backend(ApiConfig::default(), |app: &TestApp| {
        let c = Client::new(app);
        let body = with(
            &output_body(),
            "commit_authored_datetime",
            json!("-4713-01-01T00:00:00Z"),
        );
        let r = c.post("/api/v1/output/", &body);
        assert_eq!(r.status, 200, "{}", r.body);
        let r = c.get(&format!("/api/v1/commit/{SHA}?project=acme%2Fsmoke"));
        assert_eq!(r.status, 200, "{}", r.body);
        let when = r.json()["authored_datetime"].as_str().unwrap().to_string();
        let year: i32 = when[..4].parse().unwrap_or_else(|_| panic!("{when}"));
        assert!(year >= 2026, "treated as absent (now): {when}");
        assert_eq!(commit_outputs(&c).len(), 1);
    });
}

#[test]
fn empty_committer_and_message_get_the_original_placeholders() {
    for_each_backend(ApiConfig::default(), |app: &TestApp| {
        let c = Client::new(app);
        let body = with(&output_body(), "commit_committer_name", json!(""));
        let body = with(&body, "commit_message", json!(""));
        let r = c.post("/api/v1/output/", &body);
        assert_eq!(r.status, 200, "{}", r.body);
        assert_eq!(
            count_where(
                app,
                "ci_commits",
                "committer_name = 'unknown' AND message = '<NA>'"
            ),
            1,
            "stored with the placeholders"
        );
        // Legacy rows: empty strings and NULLs already stored.
        for set in [
            "committer_name = '', message = ''",
            "committer_name = NULL, message = NULL",
        ] {
            sql_exec(app, &format!("UPDATE ci_commits SET {set}"));
            let r = c.get(&format!("/api/v1/commit/{SHA}?project=acme%2Fsmoke"));
            assert_eq!(r.status, 200, "{}", r.body);
            let j = r.json();
            assert_eq!(j["committer_name"], json!("unknown"), "{set}");
            assert_eq!(j["message"], json!("<NA>"), "{set}");
            let r = c.get("/api/v1/commits?project=acme%2Fsmoke");
            assert_eq!(r.status, 200, "{}", r.body);
            let body = r.body.clone();
            assert!(
                body.contains("\"committer_name\":\"unknown\""),
                "{set}: {body}"
            );
            assert!(body.contains("\"message\":\"<NA>\""), "{set}: {body}");
            // Filtering by the shown name finds them.
            let r = c.get("/api/v1/commits?project=acme%2Fsmoke&committer=unknown");
            assert_eq!(r.status, 200, "{}", r.body);
            assert!(r.body.contains(SHA), "{set}: {}", r.body);
        }
    });
}

#[test]
fn a_legacy_output_without_created_date_reads_as_null() {
    for_each_backend(ApiConfig::default(), |app: &TestApp| {
        let c = Client::new(app);
        let r = c.post("/api/v1/output/", &output_body());
        assert_eq!(r.status, 200, "{}", r.body);
        let id = r.json()["id"].as_i64().unwrap();
        sql_exec(app, "UPDATE outputs SET created_date = NULL");
        let r = c.get(&format!("/api/v1/output/{id}"));
        assert_eq!(r.status, 200, "{}", r.body);
        assert_eq!(r.json()["created_date"], Value::Null);
        let outputs = commit_outputs(&c);
        assert_eq!(outputs[0]["created_date"], Value::Null);
    });
}
