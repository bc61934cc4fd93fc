//! The webapp's data operations (issue 11, OPERATIONS.md §1, §1.3, §2):
//! rename, move, delete an output, a batch, a commit's batches — their
//! effect on rows and on real files in a temporary storage root, every
//! error code, concurrency (rename/move of one batch, deletes racing
//! `POST /api/v1/output/`), and symbolic links and folders outside the
//! roots left untouched. Both databases, real server.
use std::fs;
use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};

use qaboard_tests::{reference_dir, spawn_app_with_settings, Client, TempDir, TestApp, TestDb};
use serde_json::{json, Value};

const PROJECT: &str = "acme/smoke";
const SHA: &str = "1111111111111111111111111111111111111111";

/// Runs `f` on each backend with a server whose only storage root is `root`.
fn with_root(f: impl Fn(&TestApp, &Path)) {
    let mut dbs = vec![TestDb::sqlite()];
    dbs.extend(TestDb::postgres());
    for db in dbs {
        eprintln!("backend: {db:?}");
        let root = TempDir::new("root");
        let settings = qaboard_settings::Settings {
            storage_root: root.path().display().to_string(),
            storage_roots: vec![root.path().display().to_string()],
            data_dir: root.path().join(".data"),
            ..Default::default()
        };
        let app = spawn_app_with_settings(db, settings);
        f(&app, root.path());
    }
}

fn write(path: &Path, content: &str) {
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    fs::write(path, content).unwrap();
}

/// An output body of `sha` on `branch`, in batch `label`, for `input`,
/// stored in `dir`.
fn body(sha: &str, branch: &str, label: &str, input: &str, dir: &Path) -> Value {
    let p = reference_dir().join("original-responses/01_post_output_request.json");
    let mut b: Value = serde_json::from_slice(&fs::read(p).unwrap()).unwrap();
    b["commit_sha"] = json!(sha);
    b["git_commit_sha"] = json!(sha);
    b["commit_branch"] = json!(branch);
    b["batch_label"] = json!(label);
    b["rel_input_path"] = json!(input);
    b["input_path"] = json!(input);
    b["output_directory"] = json!(dir.to_str().unwrap());
    b["data"] = json!({});
    b
}

fn post(c: &Client, b: &Value) -> i64 {
    let r = c.post("/api/v1/output/", b);
    assert_eq!(r.status, 200, "{}", r.body);
    r.json()["id"].as_i64().unwrap()
}

/// A finished output with files `a.txt`, `sub/b.png` and a manifest.
fn output_with_files(c: &Client, root: &Path, label: &str, input: &str) -> (i64, PathBuf) {
    let dir = root.join("acme/smoke/out").join(label).join(input);
    write(&dir.join("a.txt"), "a");
    write(&dir.join("sub/b.png"), "b");
    write(
        &dir.join("manifest.outputs.json"),
        r#"{"a.txt": {"st_size": 1}, "sub/b.png": {"st_size": 1}, "manifest.outputs.json": {}}"#,
    );
    let id = post(c, &body(SHA, "feature", label, input, &dir));
    (id, dir)
}

fn commit(c: &Client, sha: &str) -> Value {
    let r = c.get(&format!("/api/v1/commit/{sha}?project={PROJECT}"));
    assert_eq!(r.status, 200, "{}", r.body);
    r.json()
}

fn batch_id(c: &Client, label: &str) -> i64 {
    commit(c, SHA)["batches"][label]["id"]
        .as_i64()
        .unwrap_or_else(|| panic!("no batch {label}"))
}

fn labels(c: &Client, sha: &str) -> Vec<String> {
    let mut l: Vec<String> = commit(c, sha)["batches"]
        .as_object()
        .map(|m| m.keys().cloned().collect())
        .unwrap_or_default();
    l.sort();
    l
}

fn delete(c: &Client, path: &str) -> qaboard_tests::Resp {
    c.request("DELETE", path, None)
}

fn no_orphans(app: &TestApp) {
    assert_eq!(
        app.db.count_where(
            "outputs",
            "batch_id IS NULL OR batch_id NOT IN (SELECT id FROM batches)"
        ),
        0,
        "orphan outputs"
    );
}

#[test]
fn rename_keeps_the_folder_and_refuses_what_it_must() {
    with_root(|app, root| {
        let c = Client::new(app);
        let (_, dir) = output_with_files(&c, root, "default", "in/1");
        let before = commit(&c, SHA)["batches"]["default"]["batch_dir_url"].clone();
        let id = batch_id(&c, "default");
        post(&c, &body(SHA, "feature", "other", "in/1", &dir));

        let r = c.post(
            "/api/v1/batch/rename/",
            &json!({"id": id, "label": "renamed"}),
        );
        assert_eq!(r.status, 200, "{}", r.body);
        assert_eq!(r.json(), json!({"status": "OK"}));
        assert_eq!(labels(&c, SHA), ["other", "renamed"]);
        // The old folder stays its folder.
        assert_eq!(
            commit(&c, SHA)["batches"]["renamed"]["batch_dir_url"],
            before
        );
        assert!(dir.join("a.txt").exists());

        for (body, status) in [
            (json!({"id": id, "label": "other"}), 403),
            (json!({"id": id, "label": "renamed"}), 403),
            (json!({"id": id, "label": ""}), 400),
            (json!({"id": id, "label": "  "}), 400),
            (json!({"id": id}), 400),
            (json!({"label": "x"}), 400),
            (json!({"id": "nope", "label": "x"}), 400),
            (json!({"id": 999999, "label": "x"}), 404),
        ] {
            let r = c.post("/api/v1/batch/rename", &body);
            assert_eq!(r.status, status, "{body}: {}", r.body);
            assert!(r.json()["error"].is_string(), "{}", r.body);
        }
        // Pending output: 409.
        let mut pending = body(SHA, "feature", "running", "in/2", &dir);
        pending["is_pending"] = json!(true);
        post(&c, &pending);
        let r = c.post(
            "/api/v1/batch/rename/",
            &json!({"id": batch_id(&c, "running"), "label": "x"}),
        );
        assert_eq!(r.status, 409, "{}", r.body);
        assert_eq!(labels(&c, SHA), ["other", "renamed", "running"]);
    });
}

#[test]
fn move_follows_the_filter_and_refuses_clashes() {
    with_root(|app, root| {
        let c = Client::new(app);
        let d = root.join("o");
        let i1 = post(&c, &body(SHA, "feature", "a", "in/cat", &d.join("1")));
        let i2 = post(&c, &body(SHA, "feature", "a", "in/dog", &d.join("2")));
        let a = batch_id(&c, "a");
        // The webapp's filter language selects what moves; `b` is created.
        let r = c.post(
            "/api/v1/batch/move/",
            &json!({"id": a, "label": "b", "filter": "cat -dog"}),
        );
        assert_eq!(r.status, 200, "{}", r.body);
        let j = commit(&c, SHA);
        assert_eq!(j["batches"]["b"]["valid_outputs"], 1, "{j}");
        assert_eq!(j["batches"]["a"]["valid_outputs"], 1);
        let r = c.get(&format!("/api/v1/output/{i1}"));
        assert_eq!(r.json()["id"], i1);

        // `a` gets a cat again: moving everything would clash with b's cat.
        let again = post(&c, &body(SHA, "feature", "a", "in/cat", &d.join("3")));
        let r = c.post(
            "/api/v1/batch/move/",
            &json!({"id": a, "label": "b", "filter": ""}),
        );
        assert_eq!(r.status, 409, "{}", r.body);
        assert_eq!(r.json()["clashes"], json!([[again, i1]]), "{}", r.body);
        assert!(r.json()["error"]
            .as_str()
            .unwrap()
            .contains(&again.to_string()));
        let j = commit(&c, SHA);
        assert_eq!(j["batches"]["a"]["valid_outputs"], 2, "nothing moved");
        assert_eq!(j["batches"]["b"]["valid_outputs"], 1);

        // Moving the rest empties `a`, which is deleted.
        let r = c.post("/api/v1/batch/move/", &json!({"id": a, "label": "c"}));
        assert_eq!(r.status, 200, "{}", r.body);
        assert_eq!(labels(&c, SHA), ["b", "c"]);
        let r = c.get(&format!("/api/v1/output/{i2}"));
        assert_eq!(r.status, 200);
        assert_eq!(app.db.count_where("outputs", "1=1"), 3);

        // Errors.
        let b = batch_id(&c, "b");
        for (body, status) in [
            (json!({"id": b}), 400),
            (json!({"id": b, "label": ""}), 400),
            (json!({"id": b, "label": "x", "filter": 3}), 400),
            (json!({"id": 424242, "label": "x"}), 404),
        ] {
            let r = c.post("/api/v1/batch/move", &body);
            assert_eq!(r.status, status, "{body}: {}", r.body);
        }
        let mut pending = body(SHA, "feature", "b", "in/bird", &d.join("4"));
        pending["is_running"] = json!(true);
        post(&c, &pending);
        let r = c.post(
            "/api/v1/batch/move/",
            &json!({"id": b, "label": "z", "filter": "bird"}),
        );
        assert_eq!(r.status, 409, "{}", r.body);
        // Not selected, the pending output does not stop the others.
        let r = c.post(
            "/api/v1/batch/move/",
            &json!({"id": b, "label": "z", "filter": "cat"}),
        );
        assert_eq!(r.status, 200, "{}", r.body);
        no_orphans(app);
    });
}

#[test]
fn delete_output_hard_and_soft() {
    with_root(|app, root| {
        let c = Client::new(app);
        let (soft, soft_dir) = output_with_files(&c, root, "default", "in/1");
        let (hard, hard_dir) = output_with_files(&c, root, "default", "in/2");

        let r = delete(&c, &format!("/api/v1/output/{soft}/?soft=true"));
        assert_eq!(r.status, 200, "{}", r.body);
        assert!(!soft_dir.join("a.txt").exists());
        assert!(!soft_dir.join("sub").exists(), "emptied folder pruned");
        assert!(soft_dir.join("manifest.outputs.json").exists());
        assert_eq!(
            c.get(&format!("/api/v1/output/{soft}")).json()["deleted"],
            true
        );

        let r = delete(&c, &format!("/api/v1/output/{hard}"));
        assert_eq!(r.status, 200, "{}", r.body);
        assert!(!hard_dir.exists());
        assert!(root.exists());
        assert_eq!(c.get(&format!("/api/v1/output/{hard}")).status, 404);

        assert_eq!(delete(&c, &format!("/api/v1/output/{hard}/")).status, 404);
        assert_eq!(delete(&c, "/api/v1/output/abc/").status, 404);
        assert_eq!(
            delete(&c, &format!("/api/v1/output/{soft}/?soft=maybe")).status,
            400
        );
        let mut p = body(SHA, "feature", "default", "in/3", &root.join("p"));
        p["is_pending"] = json!(true);
        let pending = post(&c, &p);
        let r = delete(&c, &format!("/api/v1/output/{pending}/"));
        assert_eq!(r.status, 409, "{}", r.body);
        assert_eq!(
            r.json()["error"],
            "Please wait for the Output to finish running before deleting it"
        );
        assert_eq!(c.get(&format!("/api/v1/output/{pending}")).status, 200);
    });
}

#[test]
fn delete_batch_soft_pattern_failed_and_hard() {
    with_root(|app, root| {
        let c = Client::new(app);
        let (ok, ok_dir) = output_with_files(&c, root, "b", "in/ok");
        let bad_dir = root.join("acme/smoke/out/b/in/bad");
        write(&bad_dir.join("log.txt"), "crash");
        let mut failed = body(SHA, "feature", "b", "in/bad", &bad_dir);
        failed["is_failed"] = json!(true);
        let bad = post(&c, &failed);
        let id = batch_id(&c, "b");

        // Soft with a pattern: only matching files, rows not marked.
        let r = delete(&c, &format!("/api/v1/batch/{id}/?soft=true&filter=*.png"));
        assert_eq!(r.status, 200, "{}", r.body);
        assert!(!ok_dir.join("sub/b.png").exists());
        assert!(ok_dir.join("a.txt").exists());
        assert_eq!(
            c.get(&format!("/api/v1/output/{ok}")).json()["deleted"],
            false
        );
        assert_eq!(
            delete(&c, &format!("/api/v1/batch/{id}/?soft=true&filter=[z-a]")).status,
            400
        );

        // Hard, only failed: its row and folder go, the batch stays.
        let r = delete(
            &c,
            &format!("/api/v1/batch/{id}?only_failed=true&soft=false"),
        );
        assert_eq!(r.status, 200, "{}", r.body);
        assert!(!bad_dir.exists());
        assert_eq!(c.get(&format!("/api/v1/output/{bad}")).status, 404);
        assert!(ok_dir.join("a.txt").exists());
        assert_eq!(labels(&c, SHA), ["b"]);

        // Soft without pattern: files gone, manifest kept, marked deleted.
        let r = delete(&c, &format!("/api/v1/batch/{id}?soft=true"));
        assert_eq!(r.status, 200, "{}", r.body);
        assert!(!ok_dir.join("a.txt").exists());
        assert!(ok_dir.join("manifest.outputs.json").exists());
        assert_eq!(commit(&c, SHA)["batches"]["b"]["deleted_outputs"], 1);

        // Hard: rows, batch and folders go; empty parents pruned.
        let r = delete(&c, &format!("/api/v1/batch/{id}/"));
        assert_eq!(r.status, 200, "{}", r.body);
        assert!(!root.join("acme").exists());
        assert!(labels(&c, SHA).is_empty());
        assert_eq!(delete(&c, &format!("/api/v1/batch/{id}/")).status, 404);
        assert_eq!(delete(&c, "/api/v1/batch/x/").status, 404);

        // Pending: "stop the runs first".
        let mut p = body(SHA, "feature", "p", "in/1", &root.join("p"));
        p["is_pending"] = json!(true);
        post(&c, &p);
        let r = delete(&c, &format!("/api/v1/batch/{}/", batch_id(&c, "p")));
        assert_eq!(r.status, 409, "{}", r.body);
        assert!(r.json()["error"]
            .as_str()
            .unwrap()
            .contains("stop the runs first"));
        no_orphans(app);
    });
}

#[test]
fn delete_commit_batches_spares_milestones() {
    with_root(|app, root| {
        let c = Client::new(app);
        let feature = "2222222222222222222222222222222222222222";
        let master = "3333333333333333333333333333333333333333";
        post(
            &c,
            &body(feature, "feature", "default", "in/1", &root.join("f")),
        );
        post(
            &c,
            &body(master, "master", "default", "in/1", &root.join("m")),
        );
        write(&root.join("f/x"), "x");
        write(&root.join("m/x"), "x");

        // The latest commit of the reference branch is a milestone.
        let r = delete(&c, &format!("/api/v1/commit/{PROJECT}/{master}/batches/"));
        assert_eq!(r.status, 403, "{}", r.body);
        assert!(r.json()["error"]
            .as_str()
            .unwrap()
            .starts_with("Cannot delete milestones"));
        assert!(root.join("m/x").exists());

        let r = delete(&c, &format!("/api/v1/commit/{PROJECT}/{feature}/batches"));
        assert_eq!(r.status, 200, "{}", r.body);
        assert!(!root.join("f").exists());
        assert!(labels(&c, feature).is_empty(), "the commit row stays");

        assert_eq!(
            delete(&c, &format!("/api/v1/commit/{PROJECT}/4444444/batches/")).status,
            404
        );
        // Without a project: every project's commit, all checked first.
        let shared = "5555555555555555555555555555555555555555";
        let mut sub = body(shared, "feature", "default", "in/1", &root.join("s1"));
        sub["project"] = json!("acme/smoke/sub");
        post(&c, &sub);
        post(
            &c,
            &body(shared, "master", "default", "in/2", &root.join("s2")),
        );
        let r = delete(&c, &format!("/api/v1/commit/{shared}/batches/"));
        assert_eq!(r.status, 403, "{}", r.body);
        assert_eq!(labels(&c, shared), ["default"]);
        let r = c.get(&format!("/api/v1/commit/{shared}?project=acme/smoke/sub"));
        assert_eq!(
            r.json()["batches"].as_object().unwrap().len(),
            1,
            "untouched"
        );
        // Once `master` moves on, both go.
        post(
            &c,
            &body(
                &"6".repeat(40),
                "master",
                "default",
                "in/1",
                &root.join("s3"),
            ),
        );
        let r = delete(&c, &format!("/api/v1/commit/{shared}/batches/"));
        assert_eq!(r.status, 200, "{}", r.body);
        assert!(labels(&c, shared).is_empty());
        no_orphans(app);
    });
}

#[test]
fn links_and_folders_outside_the_roots_are_untouched() {
    with_root(|app, root| {
        let c = Client::new(app);
        let outside = TempDir::new("outside");
        write(&outside.path().join("secret.txt"), "keep");
        let dir = root.join("o/1");
        write(&dir.join("a.txt"), "a");
        symlink(outside.path(), dir.join("link")).unwrap();
        write(
            &dir.join("manifest.outputs.json"),
            r#"{"a.txt": {}, "link/secret.txt": {}, "../../../etc/passwd": {}}"#,
        );
        let id = post(&c, &body(SHA, "feature", "default", "in/1", &dir));
        let r = delete(&c, &format!("/api/v1/output/{id}/?soft=true"));
        // `..` is refused and reported; the link is not followed.
        assert_eq!(r.status, 500, "{}", r.body);
        assert!(
            r.json()["paths"].as_array().unwrap().len() == 1,
            "{}",
            r.body
        );
        assert!(outside.path().join("secret.txt").exists());
        assert!(!dir.join("a.txt").exists());
        assert_eq!(
            c.get(&format!("/api/v1/output/{id}")).json()["deleted"],
            true
        );

        let r = delete(&c, &format!("/api/v1/output/{id}/"));
        assert_eq!(r.status, 200, "{}", r.body);
        assert!(!dir.exists());
        assert!(outside.path().join("secret.txt").exists());

        // A folder outside every root: the row goes, the files stay, 500 says so.
        let id = post(&c, &body(SHA, "feature", "default", "in/2", outside.path()));
        let r = delete(&c, &format!("/api/v1/output/{id}/"));
        assert_eq!(r.status, 500, "{}", r.body);
        assert_eq!(
            r.json()["paths"],
            json!([outside.path().to_str().unwrap()]),
            "{}",
            r.body
        );
        assert!(outside.path().join("secret.txt").exists());
        assert_eq!(c.get(&format!("/api/v1/output/{id}")).status, 404);
    });
}

#[test]
fn concurrent_renames_and_moves_of_one_batch() {
    with_root(|app, root| {
        let c = Client::new(app);
        for i in 0..6 {
            post(
                &c,
                &body(
                    SHA,
                    "feature",
                    "a",
                    &format!("in/{i}"),
                    &root.join(i.to_string()),
                ),
            );
        }
        let a = batch_id(&c, "a");
        let statuses: Vec<u16> = std::thread::scope(|s| {
            let handles: Vec<_> = (0..8)
                .map(|i| {
                    let c = Client::new(app);
                    s.spawn(move || {
                        if i % 2 == 0 {
                            c.post("/api/v1/batch/rename/", &json!({"id": a, "label": "same"}))
                                .status
                        } else {
                            c.post(
                                "/api/v1/batch/move/",
                                &json!({"id": a, "label": format!("m{i}"), "filter": format!("in/{i}")}),
                            )
                            .status
                        }
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        let renames: Vec<u16> = statuses.iter().step_by(2).copied().collect();
        assert_eq!(
            renames.iter().filter(|s| **s == 200).count(),
            1,
            "{statuses:?}"
        );
        assert!(
            renames.iter().all(|s| [200, 403].contains(s)),
            "{statuses:?}"
        );
        assert!(
            statuses.iter().skip(1).step_by(2).all(|s| *s == 200),
            "{statuses:?}"
        );
        // No output lost, no duplicate label.
        assert_eq!(app.db.count_where("outputs", "1=1"), 6);
        let total: i64 = commit(&c, SHA)["batches"]
            .as_object()
            .unwrap()
            .values()
            .map(|b| b["valid_outputs"].as_i64().unwrap())
            .sum();
        assert_eq!(total, 6);
        // `in/7` selects nothing: `m7` is created empty, as the original does.
        assert_eq!(labels(&c, SHA), ["m1", "m3", "m5", "m7", "same"]);
        no_orphans(app);
    });
}

#[test]
fn deletes_racing_new_results_leave_no_orphans() {
    with_root(|app, root| {
        let c = Client::new(app);
        let dir = root.join("race");
        let b = body(SHA, "feature", "race", "in/1", &dir);
        post(&c, &b);
        for round in 0..8 {
            let id = batch_id(&c, "race");
            let out = c
                .get(&format!("/api/v1/commit/{SHA}?project={PROJECT}"))
                .json()["batches"]["race"]["outputs"]
                .as_object()
                .and_then(|o| o.keys().next().cloned());
            std::thread::scope(|s| {
                let poster = s.spawn(|| {
                    let c = Client::new(app);
                    c.post("/api/v1/output/", &b).status
                });
                let c2 = Client::new(app);
                let path = match (&out, round % 2) {
                    (Some(o), 1) => format!("/api/v1/output/{o}/"),
                    _ => format!("/api/v1/batch/{id}/"),
                };
                let d = delete(&c2, &path).status;
                assert!([200, 404].contains(&d), "{path}: {d}");
                assert_eq!(poster.join().unwrap(), 200);
            });
            no_orphans(app);
            // The output posted last is always readable.
            post(&c, &b);
        }
        assert_eq!(app.db.count_where("outputs", "1=1"), 1);
        assert_eq!(app.db.count_where("batches", "label = 'race'"), 1);
    });
}

#[test]
fn milestones_by_prefix_tag_and_shared_milestone() {
    with_root(|app, root| {
        let c = Client::new(app);
        let by_prefix = "7777777aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
        let tagged = "8888888888888888888888888888888888888888";
        let shared = "9999999999999999999999999999999999999999";
        let plain = "abababababababababababababababababababab";
        // The first commit of the project brings its qaboard.yaml.
        let mut first = body(by_prefix, "feature", "default", "in/1", &root.join("1"));
        first["qaboard_config"] = json!({"project": {"milestones": ["7777777", "v1.0"]}});
        post(&c, &first);
        for (i, sha) in [tagged, shared, plain].iter().enumerate() {
            post(
                &c,
                &body(
                    sha,
                    "feature",
                    "default",
                    "in/1",
                    &root.join(format!("x{i}")),
                ),
            );
        }
        let r = c.post(
            &format!("/api/v1/commit/{tagged}"),
            &json!({"project": PROJECT, "data": {"tags": ["v1.0"]}}),
        );
        assert_eq!(r.status, 200, "{}", r.body);
        let r = c.post(
            "/api/v1/project/milestones/",
            &json!({"project": PROJECT, "key": format!("{PROJECT}/{shared}/default"),
                    "milestone": {"label": "best", "commit": shared, "batch": "default"}}),
        );
        assert_eq!(r.status, 200, "{}", r.body);
        for sha in [by_prefix, tagged, shared] {
            let r = delete(&c, &format!("/api/v1/commit/{PROJECT}/{sha}/batches/"));
            assert_eq!(r.status, 403, "{sha}: {}", r.body);
            assert_eq!(r.json()["milestones"][0]["commit"], sha);
            assert_eq!(labels(&c, sha), ["default"]);
        }
        let r = delete(&c, &format!("/api/v1/commit/{PROJECT}/{plain}/batches/"));
        assert_eq!(r.status, 200, "{}", r.body);
        assert!(labels(&c, plain).is_empty());
    });
}
