//! Reads of the webapp (and of `qa batch` / `qa optimize`), on every backend:
//! the answers of the original backend to the same requests
//! (`original-responses/10_*` … `22_*`), the commits list's window and
//! filters, metrics aggregation, the latest successful commit, commit
//! prefixes, errors, and the projects list.

use std::collections::{BTreeMap, BTreeSet};
use std::hash::{Hash, Hasher};

use crate::ingest_support::*;
use qaboard_api::ApiConfig;
use qaboard_tests::{encode, for_each_backend, Client, Resp};
use serde_json::{json, Value};

// ------------------------------------------------------------------ helpers

/// A file of `original-responses/`.
fn orig(name: &str) -> Value {
    reference_json(&format!("original-responses/{name}"))
}

/// Asserts a JSON answer with `status` and returns its body.
fn json_ok(r: &Resp, status: u16, ctx: &str) -> Value {
    assert_eq!(r.status, status, "{ctx}: {}", r.body);
    let ct = r.header("content-type").unwrap_or("");
    assert!(
        ct.starts_with("application/json"),
        "{ctx}: content-type {ct}"
    );
    r.json()
}

/// GET answered 200 with JSON.
fn get(c: &Client, path: &str) -> Value {
    let r = c.get(path);
    let v = json_ok(&r, 200, path);
    assert_eq!(
        r.header("access-control-allow-origin"),
        Some("*"),
        "{path}: CORS header"
    );
    v
}

/// GET answered `status` with `{"error": "<text>"}`; returns the text.
fn get_error(c: &Client, path: &str, status: u16) -> String {
    let v = json_ok(&c.get(path), status, path);
    let obj = v
        .as_object()
        .unwrap_or_else(|| panic!("{path}: not an object: {v}"));
    assert_eq!(obj.len(), 1, "{path}: {v}");
    v["error"]
        .as_str()
        .unwrap_or_else(|| panic!("{path}: no error text: {v}"))
        .to_string()
}

/// A deterministic 40-hex-digit sha for a tag.
fn sha(tag: &str) -> String {
    let h = |salt: u8| {
        let mut s = std::collections::hash_map::DefaultHasher::new();
        (salt, tag).hash(&mut s);
        s.finish()
    };
    format!("{:016x}{:016x}{:08x}", h(1), h(2), h(3) as u32)
}

/// `YYYY-MM-DDTHH:MM:SS+00:00` of a Unix time.
fn iso_of_unix(secs: i64) -> String {
    chrono::DateTime::from_timestamp(secs, 0)
        .expect("a time chrono represents")
        .format("%Y-%m-%dT%H:%M:%S+00:00")
        .to_string()
}

/// Now minus `days` days, as `iso_of_unix`.
fn days_ago(days: i64) -> String {
    iso_of_unix(chrono::Utc::now().timestamp() - days * 86_400)
}

/// The webapp's date format: `2023-08-21T00:00:00.000Z`.
fn webapp_date(iso: &str) -> String {
    format!("{}.000Z", &iso[..19])
}

/// A `POST /api/v1/output/` body built from the reference `qa run` body.
#[derive(Clone)]
struct Out(Value);

impl Out {
    fn new(project: &str, sha: &str, branch: &str, authored: &str) -> Out {
        // Without folders: the default storage layout applies.
        let b = without(
            &output_body(),
            &[
                "output_directory",
                "artifacts_commit",
                "outputs_commit",
                "batch_dir",
                "batch_conf_dir",
            ],
        );
        Out(b)
            .set("project", json!(project))
            .set("project_root", json!(project))
            .set("commit_sha", json!(sha))
            .set("git_commit_sha", json!(sha))
            .set("commit_branch", json!(branch))
            .set("commit_authored_datetime", json!(authored))
    }
    fn set(self, key: &str, v: Value) -> Out {
        Out(with(&self.0, key, v))
    }
    fn batch(self, label: &str) -> Out {
        let job = if label == "default" { "ci" } else { "local" };
        self.set("batch_label", json!(label))
            .set("raw_batch_label", json!(label))
            .set("job_type", json!(job))
    }
    fn input(self, path: &str) -> Out {
        self.set("rel_input_path", json!(path))
            .set("input_path", json!(path))
    }
    fn metrics(self, m: Value) -> Out {
        self.set("metrics", m)
    }
    fn committer(self, name: &str) -> Out {
        self.set("commit_committer_name", json!(name))
    }
    fn failed(self) -> Out {
        self.set("is_failed", json!(true))
    }
    fn pending(self) -> Out {
        self.set("is_pending", json!(true))
    }
    fn running(self) -> Out {
        self.set("is_pending", json!(true))
            .set("is_running", json!(true))
    }
    /// Posts it; returns the output.
    fn post(&self, c: &Client) -> Value {
        let r = c.post("/api/v1/output/", &self.0);
        json_ok(&r, 200, "POST /api/v1/output/")
    }
}

/// The ids (shas) of a commits list, in order.
fn ids(list: &Value) -> Vec<String> {
    list.as_array()
        .unwrap_or_else(|| panic!("not a list: {list}"))
        .iter()
        .map(|c| c["id"].as_str().expect("commit id").to_string())
        .collect()
}

fn shas(tags: &[&str]) -> Vec<String> {
    tags.iter().map(|t| sha(t)).collect()
}

/// Batch labels of a commit, sorted.
fn labels(commit: &Value) -> Vec<String> {
    let b = commit["batches"]
        .as_object()
        .unwrap_or_else(|| panic!("batches is not an object: {commit}"));
    let mut l: Vec<String> = b.keys().cloned().collect();
    l.sort();
    l
}

/// The keys of an object, sorted.
fn key_set(v: &Value) -> Vec<String> {
    let mut k: Vec<String> = v
        .as_object()
        .unwrap_or_else(|| panic!("not an object: {v}"))
        .keys()
        .cloned()
        .collect();
    k.sort();
    k
}

fn commit_of<'a>(list: &'a Value, id: &str) -> &'a Value {
    list.as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == id)
        .unwrap_or_else(|| panic!("{id} not in {}", ids(list).join(", ")))
}

// ----------------------------------------------- structural comparison

/// Keys whose values depend on when the requests ran.
const TIME_KEYS: [&str; 2] = ["created_date", "latest_output_datetime"];

/// A timestamp of ours has the shape of the original's: both null, or both
/// ISO date-times, both with `+00:00` or both naive.
fn same_time_shape(ours: &Value, theirs: &Value, at: &str) {
    match (ours, theirs) {
        (Value::Null, Value::Null) => {}
        (Value::String(a), Value::String(b)) => {
            let iso = |s: &str| {
                let b = s.as_bytes();
                b.len() >= 19
                    && b[4] == b'-'
                    && b[7] == b'-'
                    && b[10] == b'T'
                    && b[13] == b':'
                    && b[16] == b':'
            };
            assert!(iso(a), "{at}: not an ISO date-time: {a}");
            assert!(iso(b), "{at}: reference not ISO: {b}");
            assert_eq!(
                a.ends_with("+00:00"),
                b.ends_with("+00:00"),
                "{at}: {a} vs the original's {b}"
            );
            assert!(!a.ends_with('Z'), "{at}: {a}");
        }
        _ => panic!("{at}: {ours} vs the original's {theirs}"),
    }
}

/// Compares our answer with the original's: the same keys at every level,
/// the same values, except numeric ids and timestamps (their types and
/// shapes must still agree). `outputs` objects are matched by the outputs'
/// identity, as ids may differ.
fn compare(ours: &Value, theirs: &Value, at: &str) {
    match (ours, theirs) {
        (Value::Object(a), Value::Object(b)) => {
            let ka: BTreeSet<&String> = a.keys().collect();
            let kb: BTreeSet<&String> = b.keys().collect();
            assert_eq!(ka, kb, "{at}: keys");
            for (k, vb) in b {
                let va = &a[k];
                let here = format!("{at}.{k}");
                if TIME_KEYS.contains(&k.as_str()) {
                    same_time_shape(va, vb, &here);
                } else if k == "id" && vb.is_number() {
                    assert!(va.as_i64().is_some_and(|i| i > 0), "{here}: {va}");
                } else if k == "outputs" && b.contains_key("batch_dir_url") {
                    compare_outputs(va, vb, &here);
                } else {
                    compare(va, vb, &here);
                }
            }
        }
        (Value::Array(a), Value::Array(b)) => {
            assert_eq!(a.len(), b.len(), "{at}: length of {ours}");
            for (i, (x, y)) in a.iter().zip(b).enumerate() {
                compare(x, y, &format!("{at}[{i}]"));
            }
        }
        _ => assert_eq!(ours, theirs, "{at}"),
    }
}

/// `outputs` keyed by id: every key is its output's id; outputs compared by identity.
fn compare_outputs(ours: &Value, theirs: &Value, at: &str) {
    let by_identity = |v: &Value, whose: &str| -> BTreeMap<String, Value> {
        let m = v
            .as_object()
            .unwrap_or_else(|| panic!("{at}: {whose} outputs is not an object: {v}"));
        m.iter()
            .map(|(k, o)| {
                assert_eq!(
                    k,
                    &o["id"].to_string(),
                    "{at}: {whose} output keyed by its id"
                );
                let identity = json!([
                    o["test_input_database"],
                    o["test_input_path"],
                    o["platform"],
                    o["configurations"],
                    o["extra_parameters"]
                ])
                .to_string();
                (identity, o.clone())
            })
            .collect()
    };
    let (a, b) = (by_identity(ours, "our"), by_identity(theirs, "their"));
    assert_eq!(
        a.keys().collect::<Vec<_>>(),
        b.keys().collect::<Vec<_>>(),
        "{at}: outputs"
    );
    for (k, vb) in &b {
        compare(&a[k], vb, &format!("{at}[{k}]"));
    }
}

// ------------------------------------------ 1. the original's answers

const SMOKE: &str = "acme%2Fsmoke";
const C1: &str = "462a23fc9356a1fa3f792828b530ea6d4eeb9803";
const C2: &str = "52540f7fbc5a76db2acb2dac28b1b1ddf5da8017";

#[test]
fn reads_have_the_shapes_and_values_of_the_original_backend() {
    for_each_backend(ApiConfig::default(), |app| {
        let c = Client::new(app);
        // The writes the original received before its reads were recorded.
        let mut output_ids = Vec::new();
        for name in CAPTURED_OUTPUT_POSTS {
            let r = c.post("/api/v1/output/", &orig(&format!("{name}_request.json")));
            output_ids.push(json_ok(&r, 200, name)["id"].as_i64().unwrap());
        }
        // 08: PUT on the output of the branch commit (the original's id 5).
        let id5 = output_ids[4];
        let r = c.put(
            &format!("/api/v1/output/{id5}/"),
            &orig("08_put_output_request.json"),
        );
        json_ok(&r, 200, "08_put_output");
        let r = c.post(
            "/api/v1/output/",
            &orig("09a_post_output_no_input_path_request.json"),
        );
        json_ok(&r, 400, "09a");
        // 09b: the original rejected it (a defect); we record it, under
        // another project.
        let r = c.post(
            "/api/v1/output/",
            &orig("09b_post_output_new_commit_without_project_root_request.json"),
        );
        json_ok(&r, 200, "09b");

        // 10: projects. acme/noroot exists only because we accepted 09b.
        let ours = get(&c, "/api/v1/projects");
        let theirs = orig("10_get_projects_response.json");
        assert_eq!(key_set(&ours), ["acme/noroot", "acme/smoke"], "{ours}");
        compare(
            &ours["acme/smoke"],
            &theirs["acme/smoke"],
            "10_get_projects",
        );
        assert_eq!(get(&c, "/api/v1/projects/"), ours);

        // 11: commits (the webapp's window), newest first, no redirect without the slash.
        let window = "from=2026-11-21T00:00:00.000Z&to=2026-11-25T00:00:00.000Z";
        let path = format!("/api/v1/commits/?project={SMOKE}&{window}");
        let ours = get(&c, &path);
        assert_eq!(ids(&ours), [C2, C1]);
        compare(
            &ours,
            &orig("11_get_commits_response.json"),
            "11_get_commits",
        );
        let noslash = get(&c, &format!("/api/v1/commits?project={SMOKE}&{window}"));
        assert_eq!(noslash, ours, "11a: the same without the trailing slash");

        // 12: one commit with its outputs.
        let ours = get(&c, &format!("/api/v1/commit/{C1}?project={SMOKE}"));
        compare(&ours, &orig("12_get_commit_response.json"), "12_get_commit");
        assert_eq!(
            get(&c, &format!("/api/v1/commit/{C1}/?project={SMOKE}")),
            ours,
            "with a trailing slash"
        );

        // 13: one output.
        let ours = get(&c, &format!("/api/v1/output/{}/", output_ids[0]));
        compare(&ours, &orig("13_get_output_response.json"), "13_get_output");

        // 14: commits with their outputs.
        let ours = get(
            &c,
            &format!("/api/v1/commits/?project={SMOKE}&{window}&with_outputs=true"),
        );
        compare(
            &ours,
            &orig("14_get_commits_with_outputs_response.json"),
            "14_get_commits_with_outputs",
        );

        // 15: aggregated metrics.
        let metrics = encode(r#"{"psnr":true,"ssim":true}"#);
        let ours = get(
            &c,
            &format!("/api/v1/commit/{C1}?project={SMOKE}&metrics={metrics}"),
        );
        compare(
            &ours,
            &orig("15_get_commit_with_metrics_response.json"),
            "15_get_commit_with_metrics",
        );

        // 16: unknown commit: the same 404 JSON.
        let r = c.get(&format!("/api/v1/commit/deadbeef?project={SMOKE}"));
        assert_eq!(
            json_ok(&r, 404, "16"),
            orig("16_get_commit_404_response.json")
        );

        // 17: unknown output: 404 JSON (the original answered an HTML 500).
        get_error(&c, "/api/v1/output/999999/", 404);

        // 18: commits of a branch whose name has a slash.
        let ours = get(
            &c,
            &format!("/api/v1/commits/feature/faster-denoise?project={SMOKE}&{window}"),
        );
        compare(
            &ours,
            &orig("18_get_commits_branch_response.json"),
            "18_get_commits_branch",
        );

        // 19: project data; 20: branches.
        let ours = get(&c, &format!("/api/v1/project?project={SMOKE}"));
        compare(
            &ours,
            &orig("19_get_project_response.json"),
            "19_get_project",
        );
        let ours = get(&c, &format!("/api/v1/project/branches?project={SMOKE}"));
        assert_eq!(ours, orig("20_get_branches_response.json"));

        // 21: a short sha.
        let ours = get(&c, &format!("/api/v1/commit/{}?project={SMOKE}", &C1[..8]));
        compare(
            &ours,
            &orig("21_get_commit_shortsha_response.json"),
            "21_get_commit_shortsha",
        );

        // 22: one batch only.
        let ours = get(
            &c,
            &format!("/api/v1/commit/{C1}?project={SMOKE}&batch=default"),
        );
        compare(
            &ours,
            &orig("22_get_commit_batch_filter_response.json"),
            "22_get_commit_batch_filter",
        );
    });
}

// ---------------------------------------------------- 2. commits list

/// Checks the invariants of every commit in a list.
fn check_commit_shapes(list: &Value, with_outputs: bool) {
    for c in list.as_array().unwrap() {
        let date = c["authored_date"].as_str().unwrap();
        let b = date.as_bytes();
        assert!(
            b.len() == 10 && b[4] == b'-' && b[7] == b'-',
            "authored_date {date}"
        );
        assert_eq!(
            Some(date),
            c["authored_datetime"].as_str().map(|s| &s[..10])
        );
        for (label, batch) in c["batches"].as_object().unwrap() {
            assert_eq!(batch["label"], json!(label));
            assert_eq!(batch["commit_id"], c["id"]);
            assert!(batch["aggregated_metrics"].is_object());
            match batch.get("outputs") {
                Some(o) => {
                    assert!(with_outputs, "outputs without with_outputs: {batch}");
                    assert!(o.is_object(), "{batch}");
                }
                None => assert!(!with_outputs, "no outputs: {batch}"),
            }
        }
    }
}

#[test]
fn the_commits_list_window_and_filters() {
    for_each_backend(ApiConfig::default(), |app| {
        let c = Client::new(app);
        let p = "win/fixed";
        let run =
            |tag: &str, branch: &str, authored: &str| Out::new(p, &sha(tag), branch, authored);
        run("g1", "master", "2023-08-25T04:00:00+00:00").post(&c);
        // Authored in another time zone: 2023-08-25T02:00Z.
        run("g2", "master", "2023-08-25T04:00:00+02:00").post(&c);
        run("g2", "master", "2023-08-25T04:00:00+02:00")
            .batch("@me| tuning")
            .post(&c);
        run("g3", "feature/x", "2023-08-22T12:00:00+00:00")
            .committer("John Smith")
            .batch("@me| tuning")
            .post(&c);
        run("g4", "master", "2023-08-20T22:00:00+00:00").post(&c);
        run("g5", "master", "2023-08-20T12:00:00+00:00").post(&c);
        run("g7", "origin/feature/x", "2023-08-23T12:00:00+00:00").post(&c);
        // A commit without batches (save-artifacts) is never listed.
        let r = c.post(
            "/api/v1/commit/",
            &run("g6", "master", "2023-08-22T10:00:00+00:00").0,
        );
        json_ok(&r, 200, "save-artifacts");
        assert_eq!(count(app, "ci_commits"), 7);

        let list = |query: &str| get(&c, &format!("/api/v1/commits/?project=win%2Ffixed&{query}"));
        // The webapp's form; `to` + 3 hours and `from` − 3 hours are included.
        let window = "from=2023-08-21T00:00:00.000Z&to=2023-08-25T00:00:00.000Z";
        let expected = shas(&["g2", "g7", "g3", "g4"]);
        let all = list(window);
        assert_eq!(ids(&all), expected, "newest first, g6 has no batches");
        check_commit_shapes(&all, false);
        assert_eq!(commit_of(&all, &sha("g2"))["authored_date"], "2023-08-25");
        assert_eq!(
            commit_of(&all, &sha("g2"))["authored_datetime"],
            "2023-08-25T02:00:00+00:00"
        );
        assert_eq!(commit_of(&all, &sha("g7"))["branch"], "feature/x");
        assert_eq!(
            labels(commit_of(&all, &sha("g2"))),
            ["@me| tuning", "default"]
        );
        // Other date forms.
        for w in [
            "from=2023-08-21T00:00:00&to=2023-08-25T00:00:00",
            "from=2023-08-21&to=2023-08-25",
            "from=2023-08-21T00:00:00Z&to=2023-08-25T00:00:00.000000Z",
            "from=2023-08-21T02:00:00%2B02:00&to=2023-08-24T19:00:00-05:00",
            "from=2023-08-21T00%3A00%3A00.000Z&to=2023-08-25T00%3A00%3A00.000Z",
        ] {
            assert_eq!(ids(&list(w)), expected, "{w}");
        }
        // No trailing slash, same answer.
        assert_eq!(
            get(&c, &format!("/api/v1/commits?project=win%2Ffixed&{window}")),
            all
        );

        // `to` only: `from` is 4 days before it.
        assert_eq!(
            ids(&list("to=2023-08-23T00:00:00.000Z")),
            shas(&["g3", "g4", "g5"]),
            "from defaults to to - 4 days"
        );
        // `from` only: up to now.
        assert_eq!(
            ids(&list("from=2023-08-21T00:00:00.000Z")),
            shas(&["g1", "g2", "g7", "g3", "g4", "g5"])
        );
        // A window after every commit reaches back to the latest one, and 4 days before it.
        assert_eq!(
            ids(&list(
                "from=2023-09-10T00:00:00.000Z&to=2023-09-14T00:00:00.000Z"
            )),
            shas(&["g1", "g2", "g7", "g3"])
        );

        // Committer ('+' is a space), alone it reaches back to the latest of theirs.
        for q in ["committer=John+Smith", "committer=John%20Smith"] {
            assert_eq!(ids(&list(&format!("{q}&{window}"))), shas(&["g3"]), "{q}");
            assert_eq!(
                ids(&list(&format!(
                    "{q}&from=2023-09-10T00:00:00.000Z&to=2023-09-14T00:00:00.000Z"
                ))),
                shas(&["g3"]),
                "{q}"
            );
        }
        assert_eq!(
            ids(&list(&format!("committer=Nobody&{window}"))),
            Vec::<String>::new()
        );

        // Branches: `b`, `origin/b`, with slashes in the path, trailing slash.
        let branch =
            |b: &str, q: &str| get(&c, &format!("/api/v1/commits/{b}?project=win%2Ffixed&{q}"));
        for b in ["feature/x", "origin/feature/x", "feature/x/"] {
            let l = branch(b, window);
            assert_eq!(ids(&l), shas(&["g7", "g3"]), "{b}");
            for commit in l.as_array().unwrap() {
                assert_eq!(commit["branch"], "feature/x", "{b}");
            }
        }
        // The branch's latest commit, however old.
        assert_eq!(
            ids(&branch(
                "feature/x",
                "from=2024-01-01T00:00:00.000Z&to=2024-01-05T00:00:00.000Z"
            )),
            shas(&["g7", "g3"])
        );
        assert_eq!(ids(&branch("master", window)), shas(&["g2", "g4"]));
        assert_eq!(ids(&branch("nope/nope", window)), Vec::<String>::new());

        // Only CI batches: the other batches are left out (commits stay listed, like the original).
        let ci = list(&format!("{window}&only_ci_batches=true"));
        assert_eq!(ids(&ci), expected);
        assert_eq!(labels(commit_of(&ci, &sha("g2"))), ["default"]);
        assert_eq!(labels(commit_of(&ci, &sha("g3"))), Vec::<String>::new());
        assert_eq!(
            ids(&list(&format!("{window}&only_ci_batches=false"))),
            expected
        );
        assert_eq!(
            labels(commit_of(
                &list(&format!("{window}&only_ci_batches=false")),
                &sha("g2")
            )),
            ["@me| tuning", "default"]
        );
        // One batch.
        let tuning = list(&format!("{window}&batch={}", encode("@me| tuning")));
        assert_eq!(ids(&tuning), expected);
        assert_eq!(labels(commit_of(&tuning, &sha("g2"))), ["@me| tuning"]);
        assert_eq!(labels(commit_of(&tuning, &sha("g3"))), ["@me| tuning"]);
        assert_eq!(labels(commit_of(&tuning, &sha("g4"))), Vec::<String>::new());

        // with_outputs.
        let with = list(&format!("{window}&with_outputs=true"));
        assert_eq!(ids(&with), expected);
        check_commit_shapes(&with, true);
        let g2 = commit_of(&with, &sha("g2"));
        for label in ["default", "@me| tuning"] {
            let outputs = g2["batches"][label]["outputs"].as_object().unwrap();
            assert_eq!(outputs.len(), 1, "{label}");
            let (k, o) = outputs.iter().next().unwrap();
            assert_eq!(k, &o["id"].to_string());
            assert_eq!(o["test_input_path"], "images/0001.jpg");
            assert_eq!(o["metrics"]["psnr"], 31.1);
        }
        check_commit_shapes(&list(&format!("{window}&with_outputs=false")), false);
        let with_tuning = list(&format!(
            "{window}&with_outputs=true&batch={}",
            encode("@me| tuning")
        ));
        check_commit_shapes(&with_tuning, true);
        assert_eq!(labels(commit_of(&with_tuning, &sha("g2"))), ["@me| tuning"]);

        // Unknown project: nothing.
        assert_eq!(get(&c, "/api/v1/commits/?project=no%2Fsuch"), json!([]));

        // Branch names percent-encoded in the path, with '+', spaces and non-ASCII.
        run("h1", "feat/a+b c", "2023-08-22T00:00:00+00:00").post(&c);
        run("h2", "feat/\u{fc}", "2023-08-22T00:00:00+00:00").post(&c);
        for b in [
            "feat%2Fa%2Bb%20c",
            "feat/a+b%20c",
            "origin%2Ffeat/a%2Bb%20c",
        ] {
            let l = branch(b, window);
            assert_eq!(ids(&l), shas(&["h1"]), "{b}");
            assert_eq!(l[0]["branch"], "feat/a+b c", "{b}");
        }
        for b in ["feat/%C3%BC", "origin%2Ffeat%2F%C3%BC"] {
            assert_eq!(ids(&branch(b, window)), shas(&["h2"]), "{b}");
        }
    });
}

#[test]
fn the_default_window_is_the_4_days_before_now_or_before_the_latest_commit() {
    for_each_backend(ApiConfig::default(), |app| {
        let c = Client::new(app);
        let p = "win/now";
        Out::new(p, &sha("a"), "master", &days_ago(30)).post(&c);
        Out::new(p, &sha("b"), "master", &days_ago(40)).post(&c);
        let list = || get(&c, "/api/v1/commits/?project=win%2Fnow");
        // The latest commit is 30 days old: it is still listed, with the 4 days before it.
        assert_eq!(ids(&list()), shas(&["a"]));
        assert_eq!(
            ids(&get(&c, "/api/v1/commits/master?project=win%2Fnow")),
            shas(&["a"])
        );
        // A recent commit: the window is the 4 days before now.
        Out::new(p, &sha("c"), "master", &days_ago(1)).post(&c);
        assert_eq!(ids(&list()), shas(&["c"]));
        // `to` in the past: the 4 days before it (and the latest commit before it).
        let to = webapp_date(&days_ago(29));
        assert_eq!(
            ids(&get(
                &c,
                &format!("/api/v1/commits/?project=win%2Fnow&to={to}")
            )),
            shas(&["a"])
        );
    });
}

// ------------------------------------------------------ 3. aggregation

fn agg_of(commit: &Value, label: &str) -> Value {
    commit["batches"][label]["aggregated_metrics"].clone()
}

fn assert_agg(agg: &Value, expected: &[(&str, f64)], ctx: &str) {
    let m = agg.as_object().unwrap_or_else(|| panic!("{ctx}: {agg}"));
    let keys: BTreeSet<&str> = m.keys().map(String::as_str).collect();
    let want: BTreeSet<&str> = expected.iter().map(|(k, _)| *k).collect();
    assert_eq!(keys, want, "{ctx}: {agg}");
    for (k, v) in expected {
        assert_eq!(m[*k].as_f64(), Some(*v), "{ctx}: {k} in {agg}");
    }
}

#[test]
fn metrics_are_aggregated_over_valid_outputs_only() {
    for_each_backend(ApiConfig::default(), |app| {
        let c = Client::new(app);
        let p = "agg/p";
        let s = sha("agg");
        let out = |input: &str, m: Value| {
            Out::new(p, &s, "master", "2023-03-01T10:00:00+00:00")
                .input(input)
                .metrics(m)
        };
        // Valid: 1, 2.0, 4, 10.5 (numbers) and unusable values.
        out("i1", json!({"psnr": 1})).post(&c);
        out("i2", json!({"psnr": 2.0})).post(&c);
        out("i3", json!({"psnr": 4, "ssim": "x"})).post(&c);
        out("i4", json!({"psnr": 10.5, "ssim": null})).post(&c);
        out("i5", json!({"psnr": "nan"})).post(&c);
        out("i6", json!({"psnr": null})).post(&c);
        out("i7", json!({"ssim": [1, 2], "other": 3})).post(&c);
        out("i8", json!({"psnr": "NaN", "ssim": {"a": 1}})).post(&c);
        // Failed.
        out("f1", json!({"psnr": 1000})).failed().post(&c);
        out("f2", json!({"psnr": 2000, "is_failed": true})).post(&c);
        // Finished, then started again: pending keeps the old metrics.
        out("p1", json!({"psnr": -1000})).post(&c);
        let o = out("p1", json!({})).pending().post(&c);
        assert_eq!(o["metrics"]["psnr"], -1000, "{o}");
        out("r1", json!({"psnr": 5000})).post(&c);
        out("r1", json!({})).running().post(&c);
        // Another batch: an odd count.
        for (i, v) in [3, 1, 2].iter().enumerate() {
            out(&format!("odd{i}"), json!({"psnr": v}))
                .batch("odd")
                .post(&c);
        }
        // A batch without valid values.
        out("e1", json!({"psnr": 7}))
            .batch("empty")
            .failed()
            .post(&c);

        let requested = encode(r#"{"psnr":1,"ssim":1,"missing":{}}"#);
        let default_agg: &[(&str, f64)] = &[("psnr_median", 3.0), ("psnr_average", 4.375)];
        let odd_agg: &[(&str, f64)] = &[("psnr_median", 2.0), ("psnr_average", 2.0)];

        // One commit.
        let one = get(
            &c,
            &format!("/api/v1/commit/{s}?project=agg%2Fp&metrics={requested}"),
        );
        assert_agg(&agg_of(&one, "default"), default_agg, "commit default");
        assert_agg(&agg_of(&one, "odd"), odd_agg, "commit odd");
        assert_agg(&agg_of(&one, "empty"), &[], "commit empty");
        let d = &one["batches"]["default"];
        assert_eq!(
            [
                &d["valid_outputs"],
                &d["pending_outputs"],
                &d["running_outputs"],
                &d["failed_outputs"],
                &d["deleted_outputs"]
            ],
            [&json!(8), &json!(2), &json!(1), &json!(2), &json!(0)],
            "{d}"
        );
        assert_eq!(d["outputs"].as_object().unwrap().len(), 12);

        // The commits list, with and without outputs, and for one batch.
        let window = "from=2023-03-01T00:00:00.000Z&to=2023-03-02T00:00:00.000Z";
        for extra in ["", "&with_outputs=true"] {
            let l = get(
                &c,
                &format!("/api/v1/commits/?project=agg%2Fp&{window}&metrics={requested}{extra}"),
            );
            let commit = commit_of(&l, &s);
            assert_agg(&agg_of(commit, "default"), default_agg, extra);
            assert_agg(&agg_of(commit, "odd"), odd_agg, extra);
            assert_agg(&agg_of(commit, "empty"), &[], extra);
            assert_eq!(commit["batches"]["default"]["valid_outputs"], 8, "{extra}");
            assert_eq!(commit["batches"]["default"]["failed_outputs"], 2, "{extra}");
            assert_eq!(
                commit["batches"]["default"]["pending_outputs"], 2,
                "{extra}"
            );
            assert_eq!(
                commit["batches"]["default"]["running_outputs"], 1,
                "{extra}"
            );
            let l = get(
                &c,
                &format!(
                    "/api/v1/commits/?project=agg%2Fp&{window}&metrics={requested}{extra}&batch=odd"
                ),
            );
            let commit = commit_of(&l, &s);
            assert_eq!(labels(commit), ["odd"]);
            assert_agg(&agg_of(commit, "odd"), odd_agg, extra);
        }
        // Nothing asked, nothing aggregated.
        for m in ["", "&metrics=", "&metrics=%7B%7D"] {
            let one = get(&c, &format!("/api/v1/commit/{s}?project=agg%2Fp{m}"));
            assert_agg(&agg_of(&one, "default"), &[], m);
            let l = get(&c, &format!("/api/v1/commits/?project=agg%2Fp&{window}{m}"));
            assert_agg(&agg_of(commit_of(&l, &s), "default"), &[], m);
        }
        // The same through `qa batch`'s single-batch read.
        let one = get(
            &c,
            &format!("/api/v1/commit/{s}?project=agg%2Fp&batch=default&metrics={requested}"),
        );
        assert_eq!(labels(&one), ["default"]);
        assert_agg(&agg_of(&one, "default"), default_agg, "batch=default");
    });
}

// ------------------------------------------ 4. latest successful commit

fn config_with_reference(branch: Option<&str>) -> Value {
    let mut cfg = output_body()["qaboard_config"].clone();
    let project = cfg["project"].as_object_mut().unwrap();
    match branch {
        Some(b) => project.insert("reference_branch".into(), json!(b)),
        None => project.remove("reference_branch"),
    };
    cfg
}

fn latest(c: &Client, query: &str) -> Value {
    let v = get(c, &format!("/api/v1/commit/?{query}"));
    assert!(v["batches"].is_object(), "{v}");
    v
}

#[test]
fn the_latest_successful_commit_of_a_branch() {
    for_each_backend(ApiConfig::default(), |app| {
        let c = Client::new(app);
        let p = "lsc/p";
        let cfg = config_with_reference(Some("develop"));
        let run = |tag: &str, branch: &str, day: u32| {
            Out::new(
                p,
                &sha(tag),
                branch,
                &format!("2023-01-{day:02}T10:00:00+00:00"),
            )
            .set("qaboard_config", cfg.clone())
        };
        run("d1", "develop", 1).post(&c);
        run("d2", "develop", 2).failed().post(&c);
        run("d2", "develop", 2).batch("other").post(&c);
        run("d3", "develop", 3).failed().post(&c);
        run("d3", "develop", 3)
            .input("x")
            .batch("other")
            .failed()
            .post(&c);
        run("d4", "develop", 4).pending().post(&c);
        run("d5", "develop", 5).running().post(&c);
        // A commit without outputs (save-artifacts).
        json_ok(
            &c.post("/api/v1/commit/", &run("d6", "develop", 6).0),
            200,
            "save-artifacts",
        );
        // Read by sha, a commit without batches has an empty object of batches.
        let d6 = get(&c, &format!("/api/v1/commit/{}?project=lsc%2Fp", sha("d6")));
        assert_eq!(d6["batches"], json!({}));
        let d1 = get(
            &c,
            &format!("/api/v1/commit/{}?project=lsc%2Fp&batch=nope", sha("d1")),
        );
        assert_eq!(d1["batches"], json!({}));
        run("m1", "master", 7).post(&c);
        run("r1", "origin/release", 8).post(&c);
        let data = get(&c, "/api/v1/project?project=lsc%2Fp");
        assert_eq!(
            data["qatools_config"]["project"]["reference_branch"],
            "develop"
        );

        // The project's reference branch by default.
        let l = latest(&c, "project=lsc%2Fp");
        assert_eq!(l["id"], sha("d2"));
        assert_eq!(labels(&l), ["default", "other"]);
        assert!(l["batches"]["other"]["outputs"].is_object());
        assert_eq!(get(&c, "/api/v1/commit?project=lsc%2Fp")["id"], sha("d2"));
        // Restricted to a batch.
        let l = latest(&c, "project=lsc%2Fp&batch=default");
        assert_eq!(l["id"], sha("d1"));
        assert_eq!(labels(&l), ["default"]);
        assert_eq!(latest(&c, "project=lsc%2Fp&batch=other")["id"], sha("d2"));
        get_error(&c, "/api/v1/commit/?project=lsc%2Fp&batch=nope", 404);
        // Other branches; `origin/` is accommodated.
        assert_eq!(latest(&c, "project=lsc%2Fp&branch=master")["id"], sha("m1"));
        assert_eq!(
            latest(&c, "project=lsc%2Fp&branch=develop")["id"],
            sha("d2")
        );
        assert_eq!(
            latest(&c, "project=lsc%2Fp&branch=release")["id"],
            sha("r1")
        );
        get_error(&c, "/api/v1/commit/?project=lsc%2Fp&branch=nope", 404);
        get_error(&c, "/api/v1/commit/?project=no%2Fsuch", 404);
        // With metrics, like `qa optimize`.
        let l = latest(
            &c,
            &format!(
                "project=lsc%2Fp&branch=master&metrics={}",
                encode(r#"{"psnr":1}"#)
            ),
        );
        assert_agg(
            &agg_of(&l, "default"),
            &[("psnr_median", 31.1), ("psnr_average", 31.1)],
            "latest with metrics",
        );

        // Without a reference branch: master.
        let q = "lsc/q";
        let cfg_q = config_with_reference(None);
        Out::new(q, &sha("q1"), "master", "2023-01-01T10:00:00+00:00")
            .set("qaboard_config", cfg_q.clone())
            .post(&c);
        Out::new(q, &sha("q2"), "develop", "2023-01-02T10:00:00+00:00")
            .set("qaboard_config", cfg_q.clone())
            .post(&c);
        assert_eq!(latest(&c, "project=lsc%2Fq")["id"], sha("q1"));

        // Only the last 20 commits of the branch are looked at.
        let r = "lsc/r";
        Out::new(r, &sha("v0"), "master", "2023-02-01T00:00:00+00:00").post(&c);
        for i in 1..=19 {
            Out::new(
                r,
                &sha(&format!("x{i}")),
                "master",
                &iso_of_unix(1_675_209_600 + i * 3600),
            )
            .failed()
            .post(&c);
        }
        assert_eq!(
            latest(&c, "project=lsc%2Fr")["id"],
            sha("v0"),
            "20th commit"
        );
        Out::new(r, &sha("x20"), "master", "2023-02-03T00:00:00+00:00")
            .failed()
            .post(&c);
        get_error(&c, "/api/v1/commit/?project=lsc%2Fr", 404);
    });
}

// ---------------------------------------------------------- 5. prefixes

#[test]
fn commits_are_found_by_unique_prefix() {
    for_each_backend(ApiConfig::default(), |app| {
        let c = Client::new(app);
        let a = "abc1230000000000000000000000000000000000";
        let b = "abc1231111111111111111111111111111111111";
        let other = "abc1232222222222222222222222222222222222";
        Out::new("pfx/p", a, "master", "2023-01-01T00:00:00+00:00").post(&c);
        Out::new("pfx/p", b, "master", "2023-01-02T00:00:00+00:00").post(&c);
        Out::new("pfx/other", other, "master", "2023-01-02T00:00:00+00:00").post(&c);
        let one = |id: &str| get(&c, &format!("/api/v1/commit/{id}?project=pfx%2Fp"))["id"].clone();
        assert_eq!(one(a), a);
        assert_eq!(one(b), b);
        assert_eq!(one("abc1230"), a);
        assert_eq!(one("abc1231/"), b);
        assert_eq!(one(&b[..39]), b);
        // Ambiguous: 400 listing the candidates.
        for prefix in ["abc123", "a", "abc"] {
            let e = get_error(&c, &format!("/api/v1/commit/{prefix}?project=pfx%2Fp"), 400);
            assert!(e.contains(a) && e.contains(b), "{prefix}: {e}");
            assert!(!e.contains(other), "{prefix}: {e}");
        }
        // Prefixes are per project.
        assert_eq!(
            get(&c, "/api/v1/commit/abc123?project=pfx%2Fother")["id"],
            other
        );
        // Unknown, other case, LIKE wildcards: 404.
        for id in ["abd", "ABC1230", "abc12_0", "abc%25", "abc123_", "deadbeef"] {
            get_error(&c, &format!("/api/v1/commit/{id}?project=pfx%2Fp"), 404);
        }
        get_error(&c, &format!("/api/v1/commit/{a}?project=no%2Fsuch"), 404);
    });
}

// ------------------------------------------------------------- 6. errors

#[test]
fn bad_read_requests_are_json_errors() {
    for_each_backend(ApiConfig::default(), |app| {
        let c = Client::new(app);
        Out::new("err/p", C1, "master", "2023-01-01T00:00:00+00:00").post(&c);
        // Missing or empty `project`.
        for path in [
            "/api/v1/commits/",
            "/api/v1/commits",
            "/api/v1/commits/master",
            "/api/v1/commits/?project=",
            "/api/v1/commit/",
            "/api/v1/commit",
            &format!("/api/v1/commit/{C1}"),
            &format!("/api/v1/commit/{C1}?project="),
            "/api/v1/project",
            "/api/v1/project/",
            "/api/v1/project?project=",
            "/api/v1/project/branches",
            "/api/v1/project/branches/",
        ] {
            let e = get_error(&c, path, 400);
            assert!(e.contains("project"), "{path}: {e}");
        }
        // Unknown project.
        get_error(&c, "/api/v1/project?project=no%2Fsuch", 404);
        assert_eq!(
            get(&c, "/api/v1/project/branches?project=no%2Fsuch"),
            json!([])
        );
        // Invalid metrics.
        for m in ["%7Bbad", "not-json", "%5B1%2C2%5D", "3"] {
            get_error(
                &c,
                &format!("/api/v1/commit/{C1}?project=err%2Fp&metrics={m}"),
                400,
            );
            get_error(
                &c,
                &format!("/api/v1/commits/?project=err%2Fp&metrics={m}"),
                400,
            );
            get_error(
                &c,
                &format!("/api/v1/commit/?project=err%2Fp&metrics={m}"),
                400,
            );
        }
        // Invalid dates.
        for q in [
            "from=yesterday",
            "to=2023-13-45T00:00:00.000Z",
            "from=2023-08-21T00:00:00.000Z&to=soon",
            "from=1692576000",
        ] {
            let e = get_error(&c, &format!("/api/v1/commits/?project=err%2Fp&{q}"), 400);
            assert!(e.contains("from") || e.contains("to"), "{q}: {e}");
        }
        // Still fine.
        assert_eq!(
            get(&c, "/api/v1/project/branches?project=err%2Fp"),
            json!(["master"])
        );
    });
}

// ------------------------------------------------------- 7. projects

#[test]
fn the_projects_list() {
    for_each_backend(ApiConfig::default(), |app| {
        let c = Client::new(app);
        sql_exec(app, "INSERT INTO projects (id) VALUES ('empty/project')");
        let a = "proj/a";
        Out::new(a, &sha("a1"), "master", "2023-05-01T10:00:00+02:00").post(&c);
        Out::new(a, &sha("a2"), "feature", "2023-04-01T10:00:00+00:00").post(&c);
        // A commit without batches counts.
        json_ok(
            &c.post(
                "/api/v1/commit/",
                &Out::new(a, &sha("a3"), "master", "2023-03-01T10:00:00+00:00").0,
            ),
            200,
            "save-artifacts",
        );
        let r = c.post(
            "/api/v1/project/milestones/",
            &json!({"project": a, "key": "m1", "milestone": {"commit": sha("a1")}}),
        );
        json_ok(&r, 200, "milestone");
        // A configuration without a "project" section.
        Out::new("proj/B", &sha("b1"), "master", "2023-06-01T10:00:00+00:00")
            .set(
                "qaboard_config",
                json!({"inputs": {"types": {"default": "image"}}}),
            )
            .post(&c);

        let all = get(&c, "/api/v1/projects");
        assert_eq!(
            key_set(&all),
            ["proj/B", "proj/a"],
            "only projects with commits"
        );

        let pa = &all["proj/a"];
        assert_eq!(
            key_set(pa),
            [
                "data",
                "latest_commit_datetime",
                "latest_output_datetime",
                "total_commits"
            ]
        );
        assert_eq!(pa["total_commits"], 3);
        assert_eq!(pa["latest_commit_datetime"], "2023-05-01T08:00:00+00:00");
        same_time_shape(
            &pa["latest_output_datetime"],
            &json!("2026-11-24T17:53:38.546903"),
            "latest_output_datetime",
        );
        let full = get(&c, "/api/v1/project?project=proj%2Fa");
        assert!(full["qatools_metrics"].is_object(), "{full}");
        let mut expected = full.clone();
        let m = expected.as_object_mut().unwrap();
        m.remove("qatools_metrics");
        m.insert(
            "qatools_config".into(),
            json!({"project": full["qatools_config"]["project"]}),
        );
        assert_eq!(pa["data"], expected);
        assert_eq!(pa["data"]["git"]["path_with_namespace"], a);
        assert!(pa["data"]["milestones"]["m1"].is_object(), "{pa}");

        let pb = &all["proj/B"];
        assert_eq!(pb["total_commits"], 1);
        assert_eq!(pb["data"]["qatools_config"], json!({"project": {}}));
        assert!(pb["data"].get("qatools_metrics").is_none());
        assert_eq!(get(&c, "/api/v1/projects/"), all);

        // A project whose only commit has no outputs: no output time yet.
        json_ok(
            &c.post(
                "/api/v1/commit/",
                &Out::new("proj/c", &sha("c1"), "master", "2023-07-01T10:00:00+00:00").0,
            ),
            200,
            "save-artifacts",
        );
        let pc = &get(&c, "/api/v1/projects")["proj/c"];
        assert_eq!(pc["total_commits"], 1, "{pc}");
        assert_eq!(pc["latest_output_datetime"], Value::Null, "{pc}");
        assert_eq!(pc["latest_commit_datetime"], "2023-07-01T10:00:00+00:00");
    });
}

#[test]
fn the_list_aggregates_any_metric_name_like_the_commit_page() {
    for_each_backend(ApiConfig::default(), |app| {
        let c = Client::new(app);
        let s = sha("names");
        let names = [
            "a.b",
            "with space",
            "q\"uote",
            "back\\slash",
            "é",
            "$.x",
            "flag",
            "big",
        ];
        let values = [
            json!({"a.b": 1, "with space": 2, "q\"uote": 3, "back\\slash": 4, "é": 5, "$.x": 6, "flag": true, "big": 1e300}),
            json!({"a.b": 3, "with space": "say \"hi\"", "q\"uote": 5, "back\\slash": null, "é": 7.5, "$.x": 6, "flag": false, "big": 1e300}),
        ];
        for (i, m) in values.iter().enumerate() {
            Out::new("agg/names", &s, "master", "2023-03-01T10:00:00+00:00")
                .input(&format!("n{i}"))
                .metrics(m.clone())
                .post(&c);
        }
        // With and without the names SQLite's JSON paths cannot quote.
        for subset in [
            &names[..],
            &[names[0], names[1], names[4], names[5], names[6], names[7]][..],
        ] {
            let requested: serde_json::Map<String, Value> =
                subset.iter().map(|n| (n.to_string(), json!(1))).collect();
            let requested = encode(&Value::Object(requested).to_string());
            let page = get(
                &c,
                &format!("/api/v1/commit/{s}?project=agg%2Fnames&metrics={requested}"),
            );
            let window = "from=2023-03-01T00:00:00.000Z&to=2023-03-02T00:00:00.000Z";
            let list = get(
                &c,
                &format!("/api/v1/commits/?project=agg%2Fnames&{window}&metrics={requested}"),
            );
            let from_page = agg_of(&page, "default");
            assert_eq!(
                agg_of(commit_of(&list, &s), "default"),
                from_page,
                "{subset:?}"
            );
            let m = from_page.as_object().unwrap();
            assert_eq!(m["a.b_average"], json!(2.0), "{from_page}");
            assert_eq!(m["with space_average"], json!(2.0), "{from_page}");
            assert_eq!(m["é_median"], json!(6.25), "{from_page}");
            assert_eq!(m["$.x_average"], json!(6.0), "{from_page}");
            assert_eq!(m["flag_average"], json!(0.5), "{from_page}");
            assert_eq!(m["big_median"], json!(1e300), "{from_page}");
            if subset.len() == names.len() {
                assert_eq!(m["q\"uote_average"], json!(4.0), "{from_page}");
                assert_eq!(m["back\\slash_average"], json!(4.0), "{from_page}");
            }
        }
    });
}
