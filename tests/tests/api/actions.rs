//! Write actions of the webapp record who did them (issue 14; the rule in
//! `qaboard_model::action`): with a session cookie, `data.last_action` of the closest
//! surviving row names the user; without one, nothing is recorded. Both databases, real server.
use std::path::Path;

use qaboard_settings::Settings;
use qaboard_tests::{reference_dir, spawn_app_with_settings, Client, TempDir, TestDb};
use serde_json::{json, Value};

const PROJECT: &str = "acme/actions";
const SHA: &str = "2222222222222222222222222222222222222222";

/// An output body in batch `label` for test input `input`, its folder under `root`.
fn output(label: &str, input: &str, root: &Path) -> Value {
    let p = reference_dir().join("original-responses/01_post_output_request.json");
    let mut b: Value = serde_json::from_slice(&std::fs::read(p).unwrap()).unwrap();
    for k in ["commit_sha", "git_commit_sha"] {
        b[k] = json!(SHA);
    }
    b["project"] = json!(PROJECT);
    b["commit_branch"] = json!("feature");
    b["batch_label"] = json!(label);
    b["rel_input_path"] = json!(input);
    b["input_path"] = json!(input);
    b["output_directory"] = json!(root.join(label).join(input).to_str().unwrap());
    b["data"] = json!({});
    b
}

fn post_output(c: &Client, label: &str, input: &str, root: &Path) -> i64 {
    let r = c.post("/api/v1/output/", &output(label, input, root));
    assert_eq!(r.status, 200, "{}", r.body);
    r.json()["id"].as_i64().unwrap()
}

fn page(c: &Client) -> Value {
    let r = c.get(&format!("/api/v1/commit/{SHA}?project={PROJECT}"));
    assert_eq!(r.status, 200, "{}", r.body);
    r.json()
}

/// Signs up and logs in `user`; the `qaboard_session=…` pair.
fn login(base: &str, user: &str) -> String {
    let agent = ureq::AgentBuilder::new().redirects(0).build();
    let form = |path: &str, fields: &[(&str, &str)]| match agent
        .post(&format!("{base}{path}"))
        .send_form(fields)
    {
        Ok(r) => r,
        Err(ureq::Error::Status(s, r)) => panic!("{path}: {s} {:?}", r.into_string()),
        Err(e) => panic!("{path}: {e}"),
    };
    let email = format!("{user}@example.com");
    form(
        "/api/v1/user/signup/",
        &[
            ("user_name", user),
            ("password", "pw-12345"),
            ("email", &email),
            ("full_name", user),
        ],
    );
    let r = form(
        "/api/v1/user/auth/",
        &[("username", user), ("password", "pw-12345")],
    );
    r.all("set-cookie")
        .into_iter()
        .find(|c| c.starts_with("qaboard_session="))
        .expect("a session cookie")
        .split(';')
        .next()
        .unwrap()
        .to_string()
}

fn last_action(v: &Value) -> &Value {
    &v["data"]["last_action"]
}

#[test]
fn write_actions_record_the_logged_in_user() {
    for db in TestDb::all() {
        eprintln!("backend: {db:?}");
        let root = TempDir::new("actions");
        let settings = Settings {
            storage_root: root.path().display().to_string(),
            storage_roots: vec![root.path().display().to_string()],
            data_dir: root.path().join(".data"),
            ..Default::default()
        };
        let app = spawn_app_with_settings(db, settings);
        let anon = Client::new(&app);
        let jane = Client::new(&app).with_cookie(&login(&app.base, "jane"));
        let out = root.path().join("out");

        let kept = post_output(&anon, "default", "in/1", &out);
        let soft = post_output(&anon, "default", "in/2", &out);
        let batch = page(&anon)["batches"]["default"]["id"].as_i64().unwrap();

        // Anonymous: nothing recorded.
        let r = anon.post(
            "/api/v1/batch/rename/",
            &json!({"id": batch, "label": "anon"}),
        );
        assert_eq!(r.status, 200, "{}", r.body);
        assert_eq!(last_action(&page(&anon)["batches"]["anon"]), &Value::Null);

        // Rename: the batch.
        let r = jane.post(
            "/api/v1/batch/rename/",
            &json!({"id": batch, "label": "renamed"}),
        );
        assert_eq!(r.status, 200, "{}", r.body);
        let b = page(&anon)["batches"]["renamed"].clone();
        assert_eq!(last_action(&b)["action"], "rename");
        assert_eq!(last_action(&b)["user"], "jane");
        assert!(last_action(&b)["at"].as_str().unwrap().ends_with("+00:00"));

        // Soft delete of an output: the output.
        let r = jane.request("DELETE", &format!("/api/v1/output/{soft}/?soft=true"), None);
        assert_eq!(r.status, 200, "{}", r.body);
        let o = page(&anon)["batches"]["renamed"]["outputs"][soft.to_string()].clone();
        assert_eq!(last_action(&o)["action"], "delete-output");
        assert_eq!(last_action(&o)["user"], "jane");

        // Move of one output to a new batch: the destination, and the source that stays.
        let r = jane.post(
            "/api/v1/batch/move/",
            &json!({"id": batch, "label": "moved", "filter": "in/1"}),
        );
        assert_eq!(r.status, 200, "{}", r.body);
        let p = page(&anon);
        assert_eq!(last_action(&p["batches"]["moved"])["action"], "move");
        assert_eq!(last_action(&p["batches"]["renamed"])["action"], "move");
        let moved = p["batches"]["moved"]["id"].as_i64().unwrap();
        assert!(p["batches"]["moved"]["outputs"]
            .get(kept.to_string())
            .is_some());

        // Hard delete of a whole batch: its commit.
        let r = jane.request("DELETE", &format!("/api/v1/batch/{moved}/"), None);
        assert_eq!(r.status, 200, "{}", r.body);
        let p = page(&anon);
        assert!(p["batches"].get("moved").is_none());
        assert_eq!(last_action(&p)["action"], "delete-batch", "{p}");
        assert_eq!(last_action(&p)["user"], "jane");

        // After logout the same cookie records nothing new.
        let r = jane.post("/api/v1/user/logout/", &json!({}));
        assert_eq!(r.status, 200, "{}", r.body);
        let renamed = p["batches"]["renamed"]["id"].as_i64().unwrap();
        let r = jane.post(
            "/api/v1/batch/rename/",
            &json!({"id": renamed, "label": "after-logout"}),
        );
        assert_eq!(r.status, 200, "{}", r.body);
        let b = page(&anon)["batches"]["after-logout"].clone();
        assert_eq!(last_action(&b)["action"], "move");
    }
}
