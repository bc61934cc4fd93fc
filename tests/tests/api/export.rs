//! `GET /api/v1/export/` on real files (OPERATIONS.md §9): hard links with
//! deterministic names, `0.common.json`, `0.mappings.json`, the links back
//! to the webapp, reference matching, and refusals outside the storage roots.
use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use qaboard_api::ApiConfig;
use qaboard_tests::{for_each_backend, reference_dir, Client};
use serde_json::{json, Value};

const NEW: &str = "462a23fc9356a1fa3f792828b530ea6d4eeb9803";
const REF: &str = "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";

/// Records an output of `sha` stored under `storage`; returns its folder.
#[allow(clippy::too_many_arguments)] // one output: every identity field
fn post(
    c: &Client,
    storage: &Path,
    project: &str,
    sha: &str,
    input: &str,
    platform: &str,
    configurations: Value,
    extra: Value,
) -> PathBuf {
    let p = reference_dir().join("original-responses/01_post_output_request.json");
    let mut body: Value = serde_json::from_slice(&fs::read(p).unwrap()).unwrap();
    for (k, v) in [
        ("project", json!(project)),
        ("commit_sha", json!(sha)),
        ("git_commit_sha", json!(sha)),
        ("rel_input_path", json!(input)),
        ("input_path", json!(input)),
        ("platform", json!(platform)),
        ("configurations", configurations),
        ("extra_parameters", extra),
    ] {
        body[k] = v;
    }
    body.as_object_mut().unwrap().remove("output_directory");
    body["qaboard_config"]["storage"] = json!(storage.to_str().unwrap());
    let r = c.post("/api/v1/output/", &body);
    assert_eq!(r.status, 200, "{}", r.body);
    let id = r.json()["id"].as_i64().unwrap();
    let url = c.get(&format!("/api/v1/output/{id}/")).json()["output_dir_url"]
        .as_str()
        .unwrap()
        .to_string();
    PathBuf::from(decode(url.strip_prefix("/s").unwrap()))
}

fn decode(s: &str) -> String {
    let b = s.as_bytes();
    let (mut out, mut i) = (Vec::new(), 0);
    while i < b.len() {
        if b[i] == b'%' && i + 2 < b.len() {
            if let Ok(v) = u8::from_str_radix(&s[i + 1..i + 3], 16) {
                out.push(v);
                i += 3;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8(out).unwrap()
}

fn write(path: &Path, content: &str) {
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    fs::write(path, content).unwrap();
}

fn ino(p: &Path) -> u64 {
    fs::metadata(p)
        .unwrap_or_else(|e| panic!("{p:?}: {e}"))
        .ino()
}

fn names(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

#[test]
fn export_links_files_with_matched_references() {
    let tmp = tempfile::tempdir().unwrap();
    let root = fs::canonicalize(tmp.path()).unwrap();
    let cfg = ApiConfig {
        storage_root: root.to_str().unwrap().to_string(),
        ..ApiConfig::default()
    };
    for_each_backend(cfg, |app| {
        let c = Client::new(app);
        let storage = root.join(app.base.rsplit(':').next().unwrap());
        let base = json!(["base"]);
        let n1 = post(
            &c,
            &storage,
            "acme/smoke",
            NEW,
            "images/0001.jpg",
            "linux",
            base.clone(),
            json!({}),
        );
        let n2 = post(
            &c,
            &storage,
            "acme/smoke",
            NEW,
            "images/0002.jpg",
            "linux",
            base.clone(),
            json!({}),
        );
        // Reference candidates for 0001: another platform, the same, a longer configuration.
        let r1 = post(
            &c,
            &storage,
            "acme/smoke",
            REF,
            "images/0001.jpg",
            "windows",
            base.clone(),
            json!({}),
        );
        let r2 = post(
            &c,
            &storage,
            "acme/smoke",
            REF,
            "images/0001.jpg",
            "linux",
            base.clone(),
            json!({}),
        );
        let r3 = post(
            &c,
            &storage,
            "acme/smoke",
            REF,
            "images/0001.jpg",
            "linux",
            json!(["base", "tuned"]),
            json!({}),
        );
        let r4 = post(
            &c,
            &storage,
            "acme/smoke",
            REF,
            "images/0002.jpg",
            "linux",
            base.clone(),
            json!({"gain": 2}),
        );
        for d in [&n1, &n2, &r1, &r2, &r3, &r4] {
            write(&d.join("a.txt"), &d.display().to_string());
        }
        write(&n1.join("b.bmp"), "bmp");
        write(&n1.join("sub/c.txt"), "c");

        let q = format!(
            "/api/v1/export/?project=acme/smoke&new_commit_id={NEW}&ref_commit_id={REF}&batch_new=default&batch_ref=default&path=*.txt"
        );
        let r = c.get(&q);
        assert_eq!(r.status, 200, "{}", r.body);
        let a = r.json();
        assert_eq!(a["nb_outputs"], 2, "{a}");
        assert_eq!(a["nb_outputs_ref"], 4, "{a}");
        assert_eq!(a["nb_files_exported"], 4, "{a}");
        assert_eq!(a["errors"], json!([]), "{a}");
        let dir = PathBuf::from(a["export_dir"].as_str().unwrap());
        assert!(dir.starts_with(&storage), "{dir:?}");
        assert_eq!(dir.parent().unwrap().file_name().unwrap(), "share");
        let name = dir.file_name().unwrap().to_str().unwrap();
        assert!(
            name.len() == 8 && name.chars().all(|c| c.is_ascii_hexdigit()),
            "{name}"
        );

        let mappings: Value =
            serde_json::from_str(&fs::read_to_string(dir.join("0.mappings.json")).unwrap())
                .unwrap();
        let labels: Vec<&String> = mappings["extra_parameters"]
            .as_object()
            .unwrap()
            .keys()
            .collect();
        assert_eq!(labels.len(), 1, "{mappings}");
        assert_eq!(mappings["extra_parameters"][labels[0]], json!({"gain": 2}));
        assert_eq!(mappings["configurations"], json!({}));
        let gain = labels[0];
        let expected = vec![
            "0.common.json".to_string(),
            "0.mappings.json".into(),
            "0.qa.html".into(),
            "0.qa.url".into(),
            "images_0001.jpg_a@462a.txt".into(),
            "images_0001.jpg_a@bbbb.txt".into(),
            "images_0002.jpg_a@462a.txt".into(),
            format!("images_0002.jpg_a@bbbb@{gain}.txt"),
        ];
        let mut expected = expected;
        expected.sort();
        assert_eq!(names(&dir), expected);
        // Hard links to the outputs' files; the reference of 0001 is the
        // same-platform output with the same configuration.
        assert_eq!(
            ino(&dir.join("images_0001.jpg_a@462a.txt")),
            ino(&n1.join("a.txt"))
        );
        assert_eq!(
            ino(&dir.join("images_0001.jpg_a@bbbb.txt")),
            ino(&r2.join("a.txt"))
        );
        assert_eq!(
            ino(&dir.join("images_0002.jpg_a@462a.txt")),
            ino(&n2.join("a.txt"))
        );
        assert_eq!(
            ino(&dir.join(format!("images_0002.jpg_a@bbbb@{gain}.txt"))),
            ino(&r4.join("a.txt"))
        );
        let common: Value =
            serde_json::from_str(&fs::read_to_string(dir.join("0.common.json")).unwrap()).unwrap();
        assert_eq!(
            common,
            json!({"platform": "linux", "configurations": ["base"]})
        );
        let url = fs::read_to_string(dir.join("0.qa.url")).unwrap();
        assert_eq!(
            url,
            format!("[InternetShortcut]\nURL=http://qaboard/acme/smoke/commit/{NEW}?batch=default&reference={REF}&batch_ref=default\n")
        );
        assert!(fs::read_to_string(dir.join("0.qa.html"))
            .unwrap()
            .contains(&format!("commit/{NEW}")));

        // The same request gives the same folder and names.
        let again = c.get(&q).json();
        assert_eq!(again["export_dir"], a["export_dir"]);
        assert_eq!(names(&dir), expected);

        // No reference, recursive glob, filter: only 0001's files, a single commit.
        let r = c.get(&format!(
            "/api/v1/export?project=acme/smoke&new_commit_id={NEW}&filter_new=0001&path=**/*.txt"
        ));
        assert_eq!(r.status, 200, "{}", r.body);
        let a = r.json();
        assert_eq!(
            (a["nb_outputs"].as_i64(), a["nb_outputs_ref"].as_i64()),
            (Some(1), Some(0))
        );
        let dir2 = PathBuf::from(a["export_dir"].as_str().unwrap());
        assert_ne!(dir2, dir);
        assert_eq!(
            names(&dir2),
            vec![
                "0.common.json",
                "0.qa.html",
                "0.qa.url",
                "images_0001.jpg_a.txt",
                "images_0001.jpg_sub_c.txt"
            ]
        );
        let common: Value =
            serde_json::from_str(&fs::read_to_string(dir2.join("0.common.json")).unwrap()).unwrap();
        assert_eq!(common["commit"], NEW);
    });
}

#[test]
fn export_refusals() {
    let tmp = tempfile::tempdir().unwrap();
    let root = fs::canonicalize(tmp.path()).unwrap().join("root");
    let outside = fs::canonicalize(tmp.path()).unwrap().join("outside");
    let cfg = ApiConfig {
        storage_root: root.to_str().unwrap().to_string(),
        ..ApiConfig::default()
    };
    for_each_backend(cfg, |app| {
        let c = Client::new(app);
        let port = app.base.rsplit(':').next().unwrap().to_string();
        let inside = root.join(&port);
        let elsewhere = outside.join(&port);
        let d = post(
            &c,
            &inside,
            "acme/smoke",
            NEW,
            "images/0001.jpg",
            "linux",
            json!(["base"]),
            json!({}),
        );
        write(&d.join("a.txt"), "a");
        post(
            &c,
            &elsewhere,
            "acme/other",
            NEW,
            "images/0001.jpg",
            "linux",
            json!(["base"]),
            json!({}),
        );

        let error = |path: &str, status: u16| {
            let r = c.get(path);
            assert_eq!(r.status, status, "{path}: {}", r.body);
            assert!(r.json()["error"].is_string(), "{}", r.body);
        };
        // The export folder would be outside the storage roots.
        error(
            &format!("/api/v1/export/?project=acme/other&new_commit_id={NEW}"),
            403,
        );
        assert!(!elsewhere.exists(), "nothing is written outside the roots");
        // A glob climbing out of the output folders.
        error(
            &format!("/api/v1/export/?project=acme/smoke&new_commit_id={NEW}&path=../*"),
            403,
        );
        error(
            &format!("/api/v1/export/?project=acme/smoke&new_commit_id={NEW}&path=/etc/*"),
            403,
        );
        error(
            &format!("/api/v1/export/?project=acme/smoke&new_commit_id={REF}"),
            404,
        );
        error(
            &format!("/api/v1/export/?project=acme/smoke&new_commit_id={NEW}&batch_new=nope"),
            404,
        );
        error(
            &format!("/api/v1/export/?project=acme/smoke&new_commit_id={NEW}&ref_commit_id={REF}"),
            404,
        );
        error("/api/v1/export/?project=acme/smoke", 400);
        error(&format!("/api/v1/export/?new_commit_id={NEW}"), 400);
    });
}
