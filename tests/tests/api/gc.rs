//! Storage garbage collection (`qaboard_api::gc::run_gc`, the library of
//! `qaboard-server gc`) over a real database filled through the API and
//! real files: a dry run changes nothing; a real run deletes exactly the
//! idle commits' files (the reference branch's head, milestones and recent
//! commits kept) and marks their outputs; a second run while one holds the
//! lock does nothing.
use std::fs;
use std::path::{Path, PathBuf};

use chrono::Utc;
use qaboard_api::gc::{run_gc, GcError, GcRequest};
use qaboard_api::ApiConfig;
use qaboard_storage::Storage;
use qaboard_tests::{for_each_backend, reference_dir, Client};
use serde_json::{json, Value};

use crate::ingest_support::{count_where, sql_exec};

const A: &str = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"; // master, old
const B: &str = "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"; // master head, old
const C: &str = "cccccccccccccccccccccccccccccccccccccccc"; // feature, milestone
const D: &str = "dddddddddddddddddddddddddddddddddddddddd"; // feature, old
const E: &str = "eeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeee"; // feature, recent

/// Records an output of `sha` and returns its folder, with two files (a
/// manifest listing them unless `manifest` is false).
fn post(
    c: &Client,
    storage: &Path,
    sha: &str,
    branch: &str,
    authored: &str,
    manifest: bool,
) -> PathBuf {
    let p = reference_dir().join("original-responses/01_post_output_request.json");
    let mut body: Value = serde_json::from_slice(&fs::read(p).unwrap()).unwrap();
    body["project"] = json!("acme/gc");
    body["commit_sha"] = json!(sha);
    body["git_commit_sha"] = json!(sha);
    body["commit_branch"] = json!(branch);
    body["commit_authored_datetime"] = json!(authored);
    body.as_object_mut().unwrap().remove("output_directory");
    body["qaboard_config"]["storage"] = json!(storage.to_str().unwrap());
    body["qaboard_config"]["project"]["milestones"] = json!([C]);
    let r = c.post("/api/v1/output/", &body);
    assert_eq!(r.status, 200, "{}", r.body);
    let id = r.json()["id"].as_i64().unwrap();
    let url = c.get(&format!("/api/v1/output/{id}/")).json()["output_dir_url"]
        .as_str()
        .unwrap()
        .to_string();
    let dir = PathBuf::from(url.strip_prefix("/s").unwrap());
    fs::create_dir_all(dir.join("sub")).unwrap();
    fs::write(dir.join("a.bin"), b"abc").unwrap();
    fs::write(dir.join("sub/b.bin"), b"defgh").unwrap();
    if manifest {
        let m = json!({"a.bin": {"st_size": 3}, "sub/b.bin": {"st_size": 5},
                       "manifest.outputs.json": {"st_size": 1}});
        fs::write(dir.join("manifest.outputs.json"), m.to_string()).unwrap();
    }
    dir
}

fn has_files(dir: &Path) -> bool {
    dir.join("a.bin").exists() && dir.join("sub/b.bin").exists()
}

#[test]
fn gc_deletes_exactly_the_idle_commits_files() {
    let tmp = tempfile::tempdir().unwrap();
    let root = fs::canonicalize(tmp.path()).unwrap();
    let cfg = ApiConfig {
        storage_root: root.to_str().unwrap().to_string(),
        ..ApiConfig::default()
    };
    for_each_backend(cfg, |app| {
        let c = Client::new(app);
        let port = app.base.rsplit(':').next().unwrap().to_string();
        let storage_dir = root.join(&port);
        let data_dir = root.join(format!("data-{port}"));
        let old = "2020-01-01T00:00:00+00:00";
        let dirs = [
            (A, post(&c, &storage_dir, A, "master", old, true)),
            (
                B,
                post(
                    &c,
                    &storage_dir,
                    B,
                    "master",
                    "2020-02-01T00:00:00+00:00",
                    true,
                ),
            ),
            (C, post(&c, &storage_dir, C, "feature", old, true)),
            (D, post(&c, &storage_dir, D, "feature", old, false)),
            (E, post(&c, &storage_dir, E, "feature", old, true)),
        ];
        // Idle: no output since long (E keeps its fresh output time).
        sql_exec(
            app,
            &format!(
                "UPDATE ci_commits SET latest_output_datetime = NULL WHERE hexsha IN ('{A}', '{B}', '{C}', '{D}')"
            ),
        );
        let storage = Storage::new(vec![root.clone()]).unwrap();
        let pool = &app.db.pool;
        let run = |request: &GcRequest| {
            run_gc(
                pool,
                &storage,
                root.to_str().unwrap(),
                &data_dir,
                request,
                Utc::now(),
            )
        };

        // Dry run: reports D, changes nothing.
        let dry = GcRequest {
            dry_run: true,
            ..GcRequest::default()
        };
        let report = run(&dry).unwrap();
        assert_eq!(
            (report.commits, report.outputs, report.files),
            (1, 1, 2),
            "{report:?}"
        );
        assert_eq!(report.bytes_freed, 8);
        assert!(dirs.iter().all(|(_, d)| has_files(d)));
        assert_eq!(count_where(app, "outputs", "deleted"), 0);

        // Real run: only D's files go, its output is marked.
        let report = run(&GcRequest::default()).unwrap();
        assert_eq!(
            (report.commits, report.outputs, report.files),
            (1, 1, 2),
            "{report:?}"
        );
        assert!(report.errors.is_empty(), "{report:?}");
        for (sha, dir) in &dirs {
            assert_eq!(has_files(dir), *sha != D, "{sha}");
        }
        assert_eq!(count_where(app, "outputs", "deleted"), 1);
        // Nothing left to do.
        assert_eq!(run(&GcRequest::default()).unwrap().commits, 0);

        // Allowed on the reference branch: A goes, B (its head) stays;
        // the manifest is kept.
        let mut on_master = GcRequest::default();
        on_master.options.can_delete_reference_branch = true;
        let report = run(&on_master).unwrap();
        assert_eq!((report.commits, report.outputs), (1, 1), "{report:?}");
        let a_dir = &dirs[0].1;
        assert!(!has_files(a_dir) && a_dir.join("manifest.outputs.json").exists());
        for (sha, dir) in &dirs[1..] {
            assert_eq!(has_files(dir), *sha != D, "{sha}");
        }
        assert_eq!(count_where(app, "outputs", "deleted"), 2);

        // A second run while one holds the lock does nothing.
        let held: Box<dyn std::any::Any> = if app.db.url.starts_with("postgres") {
            let mut conn = pool.get().unwrap();
            assert!(qaboard_db::gc::try_lock_gc(&mut conn).unwrap());
            Box::new(conn)
        } else {
            let f = fs::File::open(data_dir.join("gc.lock")).unwrap();
            rustix::fs::flock(&f, rustix::fs::FlockOperation::NonBlockingLockExclusive).unwrap();
            Box::new(f)
        };
        sql_exec(app, "UPDATE ci_commits SET latest_output_datetime = NULL");
        let mut everything = GcRequest::default();
        everything.options.can_delete_reference_branch = true;
        assert!(matches!(run(&everything), Err(GcError::Locked(_))));
        assert!(has_files(&dirs[4].1), "nothing done while locked");
        drop(held);
        let report = run(&everything).unwrap();
        assert_eq!(report.commits, 1, "E, now idle: {report:?}");
        assert!(!has_files(&dirs[4].1));
        assert!(has_files(&dirs[1].1) && has_files(&dirs[2].1));
    });
}
