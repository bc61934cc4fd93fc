//! Garbage collection of artifacts (`--can-delete-artifacts`, or the
//! project's `storage.garbage.artifacts.delete`), on both databases, over
//! real files: per `manifests/<group>.json` the listed files go except the
//! `keep` ones (a kept group, a kept folder), empty folders are pruned and
//! the manifest dropped; a project without manifests and without `keep`
//! loses its whole artifacts folder; the commit row is marked `deleted`
//! (never removed); recent commits and a dry run change nothing.
use std::fs;
use std::path::{Path, PathBuf};

use chrono::Utc;
use qaboard_api::gc::{run_gc, GcRequest};
use qaboard_api::ApiConfig;
use qaboard_storage::Storage;
use qaboard_tests::{for_each_backend, reference_dir, Client};
use serde_json::{json, Value};

use crate::ingest_support::{count_where, sql_exec};

const X: &str = "1111111111111111111111111111111111111111"; // acme/art, idle, manifests
const Y: &str = "2222222222222222222222222222222222222222"; // acme/bare, idle, no manifest
const Z: &str = "3333333333333333333333333333333333333333"; // acme/art, recent

/// Posts one output of `sha` in `project` whose storage is `storage`, and
/// answers the commit's artifacts folder.
fn post(c: &Client, project: &str, sha: &str, storage: &Value) -> PathBuf {
    let p = reference_dir().join("original-responses/01_post_output_request.json");
    let mut body: Value = serde_json::from_slice(&fs::read(p).unwrap()).unwrap();
    body["project"] = json!(project);
    body["commit_sha"] = json!(sha);
    body["git_commit_sha"] = json!(sha);
    body["commit_branch"] = json!("feature");
    body["commit_authored_datetime"] = json!("2020-01-01T00:00:00+00:00");
    let o = body.as_object_mut().unwrap();
    for k in [
        "output_directory",
        "artifacts_commit",
        "outputs_commit",
        "batch_dir",
        "batch_conf_dir",
    ] {
        o.remove(k);
    }
    o.insert("project_root".into(), json!(project));
    body["qaboard_config"]["storage"] = storage.clone();
    let r = c.post("/api/v1/output/", &body);
    assert_eq!(r.status, 200, "{}", r.body);
    let r = c.get(&format!("/api/v1/commit/{sha}?project={project}"));
    assert_eq!(r.status, 200, "{}", r.body);
    let url = r.json()["artifacts_url"].as_str().unwrap().to_string();
    PathBuf::from(url.strip_prefix("/s").unwrap())
}

fn write(dir: &Path, rel: &str, bytes: &[u8]) {
    let p = dir.join(rel);
    fs::create_dir_all(p.parent().unwrap()).unwrap();
    fs::write(p, bytes).unwrap();
}

/// Artifacts of a `qa save-artifacts` run: two groups with manifests.
fn artifacts_with_manifests(dir: &Path) {
    write(dir, "build/app.bin", b"0123456789");
    write(dir, "build/lib/x.so", b"abcde");
    write(dir, "conf/a.yaml", b"a: 1");
    write(dir, "conf/b.yaml", b"b: 2");
    let build = json!({"build/app.bin": {}, "build/lib/x.so": {}, "conf/b.yaml": {}});
    write(dir, "manifests/build.json", build.to_string().as_bytes());
    let conf = json!({"conf/a.yaml": {}});
    write(dir, "manifests/conf.json", conf.to_string().as_bytes());
}

#[test]
fn gc_deletes_artifacts_but_the_kept_ones() {
    let tmp = tempfile::tempdir().unwrap();
    let root = fs::canonicalize(tmp.path()).unwrap();
    let cfg = ApiConfig {
        storage_root: root.to_str().unwrap().to_string(),
        ..ApiConfig::default()
    };
    for_each_backend(cfg, |app| {
        let c = Client::new(app);
        let port = app.base.rsplit(':').next().unwrap().to_string();
        let base = root.join(&port);
        let data_dir = root.join(format!("data-{port}"));
        let storage = |keep: Value| {
            json!({
                "outputs": base.join("outputs").to_str().unwrap(),
                "artifacts": base.join("artifacts").to_str().unwrap(),
                "garbage": {"artifacts": {"keep": keep}},
            })
        };
        // `keep` names a whole group (conf) and a folder (conf/ files in
        // other groups' manifests).
        let kept = storage(json!(["conf"]));
        let x = post(&c, "acme/art", X, &kept);
        let z = post(&c, "acme/art", Z, &kept);
        let y = post(&c, "acme/bare", Y, &storage(json!([])));
        assert_ne!(x, z);
        artifacts_with_manifests(&x);
        artifacts_with_manifests(&z);
        write(&y, "bin/tool", b"#!/bin/sh\n");
        write(&y, "doc/readme.txt", b"hello");
        sql_exec(
            app,
            &format!(
                "UPDATE ci_commits SET latest_output_datetime = NULL WHERE hexsha IN ('{X}', '{Y}')"
            ),
        );
        let roots = Storage::new(vec![root.clone()]).unwrap();
        let run = |request: &GcRequest| {
            run_gc(
                &app.db.pool,
                &roots,
                root.to_str().unwrap(),
                &data_dir,
                request,
                Utc::now(),
            )
            .unwrap()
        };
        let mut artifacts = GcRequest::default();
        artifacts.options.can_delete_artifacts = true;

        // Dry run: counts X's two build files and Y's two files, changes nothing.
        let dry = GcRequest {
            dry_run: true,
            ..artifacts.clone()
        };
        let report = run(&dry);
        assert!(report.errors.is_empty(), "{report:?}");
        assert_eq!(report.commits, 2, "{report:?}");
        assert!(x.join("build/app.bin").exists() && y.join("bin/tool").exists());
        assert!(x.join("manifests/build.json").exists());
        assert_eq!(count_where(app, "ci_commits", "deleted"), 0);

        // Without the option (and `artifacts.delete` unset), artifacts stay.
        run(&GcRequest::default());
        assert!(x.join("build/app.bin").exists() && y.join("bin/tool").exists());
        assert_eq!(count_where(app, "ci_commits", "deleted"), 0);

        // With it: X loses its build files but the kept ones, Y everything.
        let report = run(&artifacts);
        assert!(report.errors.is_empty(), "{report:?}");
        assert_eq!(report.commits, 2, "{report:?}");
        assert_eq!(report.files, 2 + 2, "{report:?}");
        assert_eq!(report.bytes_freed, 10 + 5 + 10 + 5, "{report:?}");
        assert!(!x.join("build/app.bin").exists());
        assert!(!x.join("build").exists(), "empty folders pruned");
        assert!(!x.join("manifests/build.json").exists());
        assert!(x.join("manifests/conf.json").exists(), "kept group");
        assert!(x.join("conf/a.yaml").exists(), "kept group's file");
        assert!(x.join("conf/b.yaml").exists(), "kept folder");
        assert!(!y.exists(), "no manifest, no keep: the whole folder");
        // The recent commit is untouched.
        assert!(z.join("build/app.bin").exists() && z.join("manifests/build.json").exists());
        // Rows are marked, never removed.
        assert_eq!(count_where(app, "ci_commits", "deleted"), 2);
        assert_eq!(
            count_where(
                app,
                "ci_commits",
                &format!("hexsha = '{Z}' AND NOT deleted")
            ),
            1
        );
        assert_eq!(count_where(app, "ci_commits", ""), 3);
        // Nothing left to do.
        assert_eq!(run(&artifacts).commits, 0);
    });
}
