//! Webapp reads backed by files: output manifests, shared milestones and
//! named test-group files, on every backend.
use std::fs;
use std::path::{Path, PathBuf};

use qaboard_api::ApiConfig;
use qaboard_tests::{encode, for_each_backend, reference_dir, Client, Resp, TempDir, TestApp};
use serde_json::{json, Value};

fn write(path: &Path, content: &[u8]) {
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    fs::write(path, content).unwrap();
}

/// md5 of the few contents the tests write (computed independently).
fn md5_of(content: &[u8]) -> &'static str {
    match content {
        b"hello" => "5d41402abc4b2a76b9719d911017c592",
        [0, 1, 2, 3, 255] => "b59121341ab26766729b7f1d7f7e0c2f",
        b"" => "d41d8cd98f00b204e9800998ecf8427e",
        b"png" => "bff139fa05ac583f685a523ab3d110a0",
        b"x" => "9dd4e461268c8034f5c8564e155c67a6",
        SECRET => "6b8a4f1102bb247d92dd5d7846bf6a3e",
        other => panic!("no known md5 for {other:?}"),
    }
}

/// The reference `qa run` body, with its own input and output folder.
fn output_body(input: &str, output_directory: Option<&Path>) -> Value {
    let p = reference_dir().join("original-responses/01_post_output_request.json");
    let mut body: Value = serde_json::from_slice(&fs::read(p).unwrap()).unwrap();
    body["rel_input_path"] = json!(input);
    body["input_path"] = json!(input);
    match output_directory {
        Some(d) => body["output_directory"] = json!(d.to_str().unwrap()),
        None => {
            body.as_object_mut().unwrap().remove("output_directory");
        }
    }
    body
}

/// Records an output; returns its id.
fn post_output(c: &Client, body: &Value) -> i64 {
    let r = c.post("/api/v1/output/", body);
    assert_eq!(r.status, 200, "{}", r.body);
    r.json()["id"].as_i64().unwrap()
}

fn assert_json_error(r: &Resp, status: u16) {
    assert_eq!(r.status, status, "{}", r.body);
    assert!(r.json()["error"].is_string(), "{}", r.body);
}

fn keys(v: &Value) -> Vec<String> {
    let mut k: Vec<String> = v.as_object().unwrap().keys().cloned().collect();
    k.sort();
    k
}

const SECRET: &[u8] = b"top secret outside of the output folder\n";

/// An output folder with files, plus links pointing out of it.
fn populate(out: &Path, outside: &Path) {
    write(&out.join("a.txt"), b"hello");
    write(&out.join("sub/b.bin"), &[0u8, 1, 2, 3, 255]);
    write(&out.join("sub/deeper/c.txt"), b"");
    write(&out.join("log.txt"), b"timestamps");
    write(&outside.join("secret.txt"), SECRET);
    write(
        &outside.join("outside.json"),
        br#"{"leaked.txt": {"st_size": 1}}"#,
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::symlink;
        symlink("/etc/passwd", out.join("passwd")).unwrap();
        symlink(outside.join("secret.txt"), out.join("secret_link")).unwrap();
        symlink(outside, out.join("outside_dir")).unwrap();
        symlink("../..", out.join("sub/up")).unwrap();
        symlink("a.txt", out.join("inner_link.txt")).unwrap();
    }
}

fn expected_files() -> Vec<String> {
    vec![
        "a.txt".into(),
        "sub/b.bin".into(),
        "sub/deeper/c.txt".into(),
    ]
}

fn assert_no_leak(r: &Resp) {
    for bad in [
        "passwd",
        "secret",
        "outside",
        "leaked",
        "root:",
        "sub/up",
        "inner_link",
    ] {
        assert!(!r.body.contains(bad), "{bad} in {}", r.body);
    }
    assert!(!r.body.contains(md5_of(SECRET)), "{}", r.body);
}

/// Settings whose storage root is `root` (the manifest reads and writes
/// only under the storage roots).
fn rooted(root: &Path) -> ApiConfig {
    ApiConfig {
        storage_root: root.to_str().unwrap().to_string(),
        ..ApiConfig::default()
    }
}

#[test]
fn manifest_is_computed_cached_and_refreshed() {
    let root = TempDir::new("manifest");
    for_each_backend(rooted(root.path()), |app| {
        let c = Client::new(app);
        let base = root.path().join(app.base.rsplit(':').next().unwrap());
        let out = base.join("out");
        let outside = base.join("outside");
        populate(&out, &outside);
        let id = post_output(&c, &output_body("images/0001.jpg", Some(&out)));

        // Computed: regular files only, with sizes and md5, written back.
        let r = c.get(&format!("/api/v1/output/{id}/manifest/"));
        assert_eq!(r.status, 200, "{}", r.body);
        assert!(r
            .header("content-type")
            .unwrap()
            .starts_with("application/json"));
        let m = r.json();
        assert_eq!(keys(&m), expected_files());
        assert_eq!(m["a.txt"], json!({"st_size": 5, "md5": md5_of(b"hello")}));
        assert_eq!(
            m["sub/b.bin"],
            json!({"st_size": 5, "md5": md5_of(&[0u8, 1, 2, 3, 255])})
        );
        assert_eq!(
            m["sub/deeper/c.txt"],
            json!({"st_size": 0, "md5": md5_of(b"")})
        );
        assert_no_leak(&r);
        let saved: Value =
            serde_json::from_slice(&fs::read(out.join("manifest.outputs.json")).unwrap()).unwrap();
        assert_eq!(saved, m);
        // No temporary file left behind.
        let names: Vec<String> = fs::read_dir(&out)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        assert!(!names.iter().any(|n| n.ends_with(".tmp")), "{names:?}");

        // Without the trailing slash too.
        let r = c.get(&format!("/api/v1/output/{id}/manifest"));
        assert_eq!(r.status, 200);
        assert_eq!(r.json(), m);

        // The cached file is served as is...
        let cached =
            json!({"cached.png": {"st_size": 42, "md5": "0123456789abcdef0123456789abcdef"}});
        write(
            &out.join("manifest.outputs.json"),
            cached.to_string().as_bytes(),
        );
        let r = c.get(&format!("/api/v1/output/{id}/manifest/"));
        assert_eq!(r.status, 200);
        assert_eq!(r.json(), cached);

        // ...until a refresh recomputes (and rewrites) it.
        let r = c.get(&format!("/api/v1/output/{id}/manifest/?refresh=true"));
        assert_eq!(r.status, 200);
        assert_eq!(r.json(), m);
        let saved: Value =
            serde_json::from_slice(&fs::read(out.join("manifest.outputs.json")).unwrap()).unwrap();
        assert_eq!(saved, m);

        // A corrupt cache is recomputed.
        write(
            &out.join("manifest.outputs.json"),
            b"{\"truncated\": {\"st_s",
        );
        let r = c.get(&format!("/api/v1/output/{id}/manifest"));
        assert_eq!(r.status, 200);
        assert_eq!(r.json(), m);

        // A cache that is a link out of the folder is neither served nor
        // written through: the link itself is replaced.
        #[cfg(unix)]
        {
            fs::remove_file(out.join("manifest.outputs.json")).unwrap();
            std::os::unix::fs::symlink(
                outside.join("outside.json"),
                out.join("manifest.outputs.json"),
            )
            .unwrap();
            let r = c.get(&format!("/api/v1/output/{id}/manifest/"));
            assert_eq!(r.status, 200);
            assert_eq!(r.json(), m);
            assert_no_leak(&r);
            let meta = fs::symlink_metadata(out.join("manifest.outputs.json")).unwrap();
            assert!(meta.file_type().is_file());
            assert_eq!(
                fs::read(outside.join("outside.json")).unwrap(),
                br#"{"leaked.txt": {"st_size": 1}}"#
            );
        }

        // A running output: always listed afresh, without hashes.
        let mut running = output_body("images/0001.jpg", Some(&out));
        running["is_running"] = json!(true);
        running["is_pending"] = json!(true);
        assert_eq!(post_output(&c, &running), id);
        write(
            &out.join("manifest.outputs.json"),
            cached.to_string().as_bytes(),
        );
        write(&out.join("new.txt"), b"new");
        let r = c.get(&format!("/api/v1/output/{id}/manifest/"));
        assert_eq!(r.status, 200);
        let live = r.json();
        assert_eq!(
            keys(&live),
            vec!["a.txt", "new.txt", "sub/b.bin", "sub/deeper/c.txt"]
        );
        assert_eq!(live["new.txt"], json!({"st_size": 3}));
        assert_no_leak(&r);
    });
}

#[test]
fn manifest_of_an_output_without_its_own_folder() {
    let root = TempDir::new("computed");
    for_each_backend(rooted(root.path()), |app| {
        let c = Client::new(app);
        let storage = root.path().join(app.base.rsplit(':').next().unwrap());
        let mut body = output_body("images/0002.jpg", None);
        body["qaboard_config"]["storage"] = json!(storage.to_str().unwrap());
        let id = post_output(&c, &body);
        let url = c.get(&format!("/api/v1/output/{id}/")).json()["output_dir_url"]
            .as_str()
            .unwrap()
            .to_string();
        let dir = PathBuf::from(percent_decode(url.strip_prefix("/s").unwrap()));
        assert!(dir.starts_with(&storage), "{dir:?} not in {storage:?}");

        // Not there yet: a finished output answers 404.
        let r = c.get(&format!("/api/v1/output/{id}/manifest/"));
        assert_json_error(&r, 404);

        write(&dir.join("output.png"), b"png");
        let r = c.get(&format!("/api/v1/output/{id}/manifest/"));
        assert_eq!(r.status, 200, "{}", r.body);
        assert_eq!(
            r.json(),
            json!({"output.png": {"st_size": 3, "md5": md5_of(b"png")}})
        );
    });
}

fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
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

#[test]
fn manifest_errors_and_traversal() {
    let root = TempDir::new("errors");
    for_each_backend(rooted(root.path()), |app| {
        let c = Client::new(app);
        let base = root.path().join(app.base.rsplit(':').next().unwrap());

        for path in [
            "/api/v1/output/999999/manifest/",
            "/api/v1/output/999999/manifest",
            "/api/v1/output/abc/manifest/",
        ] {
            assert_json_error(&c.get(path), 404);
        }
        // Ids that try to walk paths never reach the filesystem.
        for id in [
            "..%2F..%2Fetc%2Fpasswd",
            "1%2F..%2F..",
            "%2Fetc%2Fpasswd",
            "..%5C..",
            "-1",
            "0",
            "1.0",
        ] {
            let r = c.get(&format!("/api/v1/output/{id}/manifest/"));
            assert_json_error(&r, 404);
            assert!(!r.body.contains("root:"), "{}", r.body);
        }
        // Plain dot segments are resolved by the client before sending:
        // whatever they reach, nothing from the filesystem comes back.
        for id in ["..", "%2e%2e", "../../../../etc/passwd%00"] {
            let r = c.get(&format!("/api/v1/output/{id}/manifest/"));
            assert!(
                !r.body.contains("root:") && !r.body.contains("st_size"),
                "{id}: {}",
                r.body
            );
        }

        // A finished output whose folder is missing: 404; a pending one: {}.
        let missing = base.join("missing");
        let id = post_output(&c, &output_body("images/missing.jpg", Some(&missing)));
        assert_json_error(&c.get(&format!("/api/v1/output/{id}/manifest/")), 404);
        let mut pending = output_body("images/missing.jpg", Some(&missing));
        pending["is_pending"] = json!(true);
        post_output(&c, &pending);
        let r = c.get(&format!("/api/v1/output/{id}/manifest/"));
        assert_eq!(r.status, 200, "{}", r.body);
        assert_eq!(r.json(), json!({}));

        // Folders the server refuses to list.
        for dir in ["relative/dir", "/", "/tmp/../etc"] {
            let mut body = output_body("images/odd.jpg", None);
            body["output_directory"] = json!(dir);
            let id = post_output(&c, &body);
            let r = c.get(&format!("/api/v1/output/{id}/manifest/"));
            assert_json_error(&r, 404);
            assert!(!r.body.contains("root:"));
        }

        // An output folder that is itself a (relative) link to a folder of
        // the root is listed as a folder (mount points often are links) but
        // its links are not followed, and nothing above the folder is read.
        // (Absolute links are refused by the storage's confinement.)
        #[cfg(unix)]
        {
            let out = base.join("linked");
            let real = base.join("real");
            write(&real.join("x.txt"), b"x");
            std::os::unix::fs::symlink("/etc/passwd", real.join("pw")).unwrap();
            std::os::unix::fs::symlink("real", &out).unwrap();
            let id = post_output(&c, &output_body("images/linked.jpg", Some(&out)));
            let r = c.get(&format!("/api/v1/output/{id}/manifest/"));
            assert_eq!(r.status, 200, "{}", r.body);
            assert_eq!(
                r.json(),
                json!({"x.txt": {"st_size": 1, "md5": md5_of(b"x")}})
            );
        }
    });
}

// ---------------------------------------------------------------- milestones

fn milestones_of_project(c: &Client, project: &str) -> Value {
    let r = c.get("/api/v1/projects/");
    assert_eq!(r.status, 200);
    r.json()[project]["data"]["milestones"].clone()
}

#[test]
fn milestones_round_trip() {
    for_each_backend(ApiConfig::default(), |app| {
        let c = Client::new(app);
        post_output(
            &c,
            &output_body(
                "images/0001.jpg",
                Some(Path::new("/nonexistent/qaboard/out")),
            ),
        );
        let url = "/api/v1/project/milestones/";

        // None yet: GET by body (as the original) and by query.
        let r = c.request(
            "GET",
            url,
            Some(json!({"project": "acme/smoke"}).to_string().as_bytes()),
        );
        assert_eq!(r.status, 200, "{}", r.body);
        assert_eq!(r.json(), json!({}));
        let r = c.get("/api/v1/project/milestones?project=acme%2Fsmoke");
        assert_eq!(r.status, 200, "{}", r.body);
        assert_eq!(r.json(), json!({}));

        // Add two (as the webapp does: delete "false").
        let v1 =
            json!({"commit": "462a23fc", "label": "v1.0", "notes": "first", "batch": "default"});
        let r = c.post(
            url,
            &json!({"project": "acme/smoke", "key": "v1", "milestone": v1, "delete": "false"}),
        );
        assert_eq!(r.status, 200, "{}", r.body);
        assert_eq!(r.json(), json!({"v1": v1}));
        let v2 = json!({"commit": "f39ae8fa", "label": "v2.0"});
        let r = c.post(
            "/api/v1/project/milestones",
            &json!({"project": "acme/smoke", "key": "v2", "milestone": v2}),
        );
        assert_eq!(r.json(), json!({"v1": v1, "v2": v2}));
        let r = c.get("/api/v1/project/milestones/?project=acme/smoke");
        assert_eq!(r.json(), json!({"v1": v1, "v2": v2}));
        // Kept in the project's data, beside its other keys.
        assert_eq!(
            milestones_of_project(&c, "acme/smoke"),
            json!({"v1": v1, "v2": v2})
        );
        let data = c.get("/api/v1/project?project=acme/smoke").json();
        assert!(data["qatools_config"].is_object(), "{data}");

        // Delete by POST (string and boolean flags) and by DELETE.
        let r = c.post(
            url,
            &json!({"project": "acme/smoke", "key": "v1", "delete": "true"}),
        );
        assert_eq!(r.status, 200, "{}", r.body);
        assert_eq!(r.json(), json!({"v2": v2}));
        let r = c.post(
            url,
            &json!({"project": "acme/smoke", "key": "v3", "milestone": {"label": "3"}}),
        );
        assert_eq!(r.json(), json!({"v2": v2, "v3": {"label": "3"}}));
        let r = c.post(
            url,
            &json!({"project": "acme/smoke", "key": "v3", "delete": true}),
        );
        assert_eq!(r.json(), json!({"v2": v2}));
        let r = c.request(
            "DELETE",
            url,
            Some(
                json!({"project": "acme/smoke", "key": "v2"})
                    .to_string()
                    .as_bytes(),
            ),
        );
        assert_eq!(r.status, 200, "{}", r.body);
        assert_eq!(r.json(), json!({}));
        // Deleting what is not there is not an error.
        let r = c.request(
            "DELETE",
            "/api/v1/project/milestones?project=acme/smoke&key=nope",
            None,
        );
        assert_eq!(r.status, 200, "{}", r.body);
        assert_eq!(r.json(), json!({}));
        assert_eq!(milestones_of_project(&c, "acme/smoke"), json!({}));

        // Errors.
        let r = c.get("/api/v1/project/milestones/?project=acme/unknown");
        assert_json_error(&r, 404);
        let r = c.post(
            url,
            &json!({"project": "acme/unknown", "key": "k", "milestone": {}}),
        );
        assert_json_error(&r, 404);
        let r = c.request(
            "DELETE",
            url,
            Some(
                json!({"project": "acme/unknown", "key": "k"})
                    .to_string()
                    .as_bytes(),
            ),
        );
        assert_json_error(&r, 404);
        assert_json_error(&c.get(url), 400);
        assert_json_error(&c.post(url, &json!({"key": "k", "milestone": {}})), 400);
        assert_json_error(
            &c.post(url, &json!({"project": "acme/smoke", "milestone": {}})),
            400,
        );
        assert_json_error(
            &c.post(url, &json!({"project": "acme/smoke", "key": "k"})),
            400,
        );
        assert_json_error(
            &c.post(url, &json!({"project": 3, "key": "k", "milestone": {}})),
            400,
        );
        assert_json_error(
            &c.request("DELETE", url, Some(b"{\"project\": \"acme/smoke\"}")),
            400,
        );
        assert_json_error(&c.request("POST", url, Some(b"{not json")), 400);
        assert_eq!(milestones_of_project(&c, "acme/smoke"), json!({}));
    });
}

#[test]
fn milestone_writes_need_a_token_when_configured() {
    let cfg = ApiConfig {
        write_tokens: vec!["s3cret".into()],
        ..ApiConfig::default()
    };
    for_each_backend(cfg, |app| {
        let c = Client::new(app).with_token("s3cret");
        post_output(
            &c,
            &output_body(
                "images/0001.jpg",
                Some(Path::new("/nonexistent/qaboard/out")),
            ),
        );
        let anon = Client::new(app);
        let body = json!({"project": "acme/smoke", "key": "k", "milestone": {"label": "k"}});
        assert_json_error(&anon.post("/api/v1/project/milestones/", &body), 401);
        assert_json_error(
            &anon.request(
                "DELETE",
                "/api/v1/project/milestones/?project=acme/smoke&key=k",
                None,
            ),
            401,
        );
        assert_eq!(
            anon.get("/api/v1/project/milestones/?project=acme/smoke")
                .json(),
            json!({})
        );
        assert_eq!(
            c.post("/api/v1/project/milestones/", &body).json(),
            json!({"k": {"label": "k"}})
        );
    });
}

/// Concurrent writers of different keys all land (row lock + transaction).
#[test]
fn concurrent_milestone_writes_are_not_lost() {
    for_each_backend(ApiConfig::default(), |app| {
        let c = Client::new(app);
        post_output(
            &c,
            &output_body(
                "images/0001.jpg",
                Some(Path::new("/nonexistent/qaboard/out")),
            ),
        );
        std::thread::scope(|s| {
            for t in 0..4 {
                let base = app.base.clone();
                s.spawn(move || {
                    let c = Client::for_base(&base);
                    for i in 0..5 {
                        let body = json!({"project": "acme/smoke", "key": format!("k{t}-{i}"), "milestone": {"i": i}});
                        let r = c.post("/api/v1/project/milestones/", &body);
                        assert_eq!(r.status, 200, "{}", r.body);
                    }
                });
            }
        });
        let all = c
            .get("/api/v1/project/milestones/?project=acme/smoke")
            .json();
        assert_eq!(all.as_object().unwrap().len(), 20, "{all}");
    });
}

// -------------------------------------------------------------- test groups

fn groups_url(project: &str, name: &str) -> String {
    format!(
        "/api/v1/tests/groups?project={}&name={}",
        encode(project),
        encode(name)
    )
}

fn app_cfg(data_dir: &Path) -> ApiConfig {
    ApiConfig {
        data_dir: data_dir.to_path_buf(),
        ..ApiConfig::default()
    }
}

/// One project per backend run, as the runs share the data folder.
fn fresh(app: &TestApp) -> String {
    format!("acme/groups-{}", app.base.rsplit(':').next().unwrap())
}

#[test]
fn groups_are_created_read_and_written() {
    let data = TempDir::new("groups");
    for_each_backend(app_cfg(data.path()), |app| {
        let c = Client::new(app);
        let project = fresh(app);
        let file = data
            .path()
            .join("shared")
            .join(&project)
            .join("extra-batches.yml");

        // First read answers a comment and creates nothing (a read never
        // writes, issue 9 item 10).
        let r = c.get(&groups_url(&project, "extra-batches"));
        assert_eq!(r.status, 200, "{}", r.body);
        assert!(
            r.header("content-type").unwrap().starts_with("text/plain"),
            "{:?}",
            r.headers
        );
        assert!(r.body.starts_with('#'), "{}", r.body);
        assert!(!file.exists());

        // A valid YAML round trips, byte for byte (comments included).
        let yaml = "# my groups\nsmoke:\n  inputs:\n    - images/0001.jpg\n  configurations: [base]\nnight: &n\n  - a\nalias: *n\n";
        let r = c.post(
            &groups_url(&project, "extra-batches"),
            &json!({"groups": yaml}),
        );
        assert_eq!(r.status, 200, "{}", r.body);
        assert_eq!(r.json(), json!("OK"));
        let r = c.get(&groups_url(&project, "extra-batches"));
        assert_eq!(r.body, yaml);
        assert_eq!(fs::read_to_string(&file).unwrap(), yaml);
        // With a trailing slash, and project/name from the body.
        let r = c.post(
            "/api/v1/tests/groups/",
            &json!({"project": project, "name": "extra-batches", "groups": "a: 1\n"}),
        );
        assert_eq!(r.status, 200, "{}", r.body);
        assert_eq!(
            c.get(&format!("{}&x=", groups_url(&project, "extra-batches")))
                .body,
            "a: 1\n"
        );
        // Names with sub-folders stay inside the project's folder.
        let r = c.post(
            &groups_url(&project, "users/jane"),
            &json!({"groups": "b: 2\n"}),
        );
        assert_eq!(r.status, 200, "{}", r.body);
        assert_eq!(
            fs::read_to_string(
                data.path()
                    .join("shared")
                    .join(&project)
                    .join("users/jane.yml")
            )
            .unwrap(),
            "b: 2\n"
        );
        // No temporary file left.
        let dir = data.path().join("shared").join(&project);
        assert!(fs::read_dir(&dir).unwrap().all(|e| !e
            .unwrap()
            .file_name()
            .to_string_lossy()
            .ends_with(".tmp")));

        // Invalid YAML: 400 with the parser's message, file unchanged.
        let r = c.post(
            &groups_url(&project, "extra-batches"),
            &json!({"groups": "a: [1, 2\nb: 3\n"}),
        );
        assert_json_error(&r, 400);
        let msg = r.json()["error"].as_str().unwrap().to_string();
        assert!(msg.contains("line"), "{msg}");
        let r = c.post(
            &groups_url(&project, "extra-batches"),
            &json!({"groups": "a: b: c"}),
        );
        assert_json_error(&r, 400);
        assert_eq!(fs::read_to_string(&file).unwrap(), "a: 1\n");

        // Missing or mistyped fields.
        assert_json_error(
            &c.post(&groups_url(&project, "extra-batches"), &json!({})),
            400,
        );
        assert_json_error(
            &c.post(
                &groups_url(&project, "extra-batches"),
                &json!({"groups": ["a"]}),
            ),
            400,
        );
        assert_json_error(
            &c.get(&format!(
                "/api/v1/tests/groups?project={}",
                encode(&project)
            )),
            400,
        );
        assert_json_error(&c.get("/api/v1/tests/groups?name=x"), 400);
    });
}

#[test]
fn group_names_cannot_leave_their_folder() {
    let data = TempDir::new("groups-traversal");
    let outside = TempDir::new("groups-outside");
    write(&outside.path().join("victim.yml"), b"untouched\n");
    for_each_backend(app_cfg(&data.path().join("data")), |app| {
        let c = Client::new(app);
        let project = fresh(app);
        let victim = outside.path().join("victim").to_str().unwrap().to_string();
        let bad_names = [
            "../x".to_string(),
            "a/../../b".to_string(),
            "/etc/passwd".to_string(),
            "..".to_string(),
            "a//b".to_string(),
            "a/".to_string(),
            "./a".to_string(),
            "a\\..\\b".to_string(),
            "a\0b".to_string(),
            "".to_string(),
            victim.clone(),
            format!("../../../../../../../..{victim}"),
        ];
        for name in &bad_names {
            let r = c.get(&groups_url(&project, name));
            assert_json_error(&r, 400);
            let r = c.post(&groups_url(&project, name), &json!({"groups": "x: 1\n"}));
            assert_json_error(&r, 400);
            let r = c.post(
                "/api/v1/tests/groups",
                &json!({"project": project, "name": name, "groups": "x: 1\n"}),
            );
            assert_json_error(&r, 400);
        }
        for bad_project in ["../acme", "/etc", "acme/../../x", "acme//x", ".."] {
            let r = c.get(&groups_url(bad_project, "extra-batches"));
            assert_json_error(&r, 400);
            let r = c.post(
                &groups_url(bad_project, "extra-batches"),
                &json!({"groups": "x: 1\n"}),
            );
            assert_json_error(&r, 400);
        }
        assert_eq!(
            fs::read_to_string(outside.path().join("victim.yml")).unwrap(),
            "untouched\n"
        );
        // Nothing was created outside the data folder's shared/.
        let top: Vec<String> = fs::read_dir(data.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert!(top.iter().all(|n| n == "data"), "{top:?}");
    });
}
