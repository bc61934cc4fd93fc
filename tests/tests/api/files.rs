//! Files and images through the whole application (issue 10): `/s/` over a
//! temporary storage root, IIIF, pixel values, auto-ROIs and their PDF
//! report, the webapp fallback, the built-in home page, and the confinement
//! of the manifest and test-groups endpoints (issue 9 items 9 and 10).
use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};

use image::{ImageBuffer, Luma, Rgb, RgbImage};
use qaboard_api::{ApiConfig, AppState};
use qaboard_tests::{
    encode, for_each_backend, for_each_backend_with_state, reference_dir, Client, Resp, TempDir,
    TestApp,
};
use serde_json::{json, Value};

/// The settings of a server whose only storage root is `root`.
fn cfg(root: &Path) -> ApiConfig {
    ApiConfig {
        storage_root: root.to_str().unwrap().to_string(),
        data_dir: root.join("data"),
        ..ApiConfig::default()
    }
}

/// One folder per backend run, as the runs share the root.
fn run_dir(root: &Path, app: &TestApp) -> PathBuf {
    let d = root.join(format!("run-{}", app.base.rsplit(':').next().unwrap()));
    fs::create_dir_all(&d).unwrap();
    d
}

/// A GET returning the raw bytes (images, PDF) and the content type.
fn get_bytes(app: &TestApp, path: &str) -> (u16, String, Vec<u8>) {
    let agent = ureq::AgentBuilder::new().redirects(0).build();
    let resp = match agent.get(&format!("{}{}", app.base, path)).call() {
        Ok(r) => r,
        Err(ureq::Error::Status(_, r)) => r,
        Err(e) => panic!("GET {path}: {e}"),
    };
    let status = resp.status();
    let ct = resp.content_type().to_string();
    let mut body = Vec::new();
    resp.into_reader().read_to_end(&mut body).unwrap();
    (status, ct, body)
}

fn assert_json_error(r: &Resp, status: u16) {
    assert_eq!(r.status, status, "{}", r.body);
    assert!(r.json()["error"].is_string(), "{}", r.body);
}

/// The IIIF identifier of an absolute path (as the webapp's `iiif_url`).
fn iiif_id(path: &Path) -> String {
    let s = path.to_str().unwrap().trim_start_matches('/');
    s.split('/').map(encode).collect::<Vec<_>>().join("%2F")
}

/// The `/s/` URL of an absolute path.
fn s_url(path: &Path) -> String {
    format!("/s{}", path.to_str().unwrap())
}

/// A 100×80 RGB gradient.
fn gradient() -> RgbImage {
    ImageBuffer::from_fn(100, 80, |x, y| Rgb([(x * 2) as u8, (y * 3) as u8, 128]))
}

#[test]
fn s_serves_the_storage_root_through_the_full_app() {
    let root = TempDir::new("s");
    for_each_backend(cfg(root.path()), |app| {
        let c = Client::new(app);
        let dir = run_dir(root.path(), app);
        fs::write(dir.join("log.txt"), "hello log\n").unwrap();
        let r = c.get(&s_url(&dir.join("log.txt")));
        assert_eq!(r.status, 200);
        assert_eq!(r.body, "hello log\n");
        assert!(r.header("content-type").unwrap().starts_with("text/plain"));
        assert_eq!(r.header("access-control-allow-origin"), Some("*"));
        // A listing, and plain-text 404s (the webapp reads log bodies as text).
        let r = c.get(&format!("{}/", s_url(&dir)));
        assert_eq!(r.status, 200);
        assert!(r.body.contains("log.txt"), "{}", r.body);
        let r = c.get(&s_url(&dir.join("missing.txt")));
        assert_eq!(r.status, 404);
        assert!(r.header("content-type").unwrap().starts_with("text/plain"));
        // Outside every root.
        assert_eq!(c.get("/s/etc/passwd").status, 404);
        assert_eq!(
            c.get(&format!("{}/../../etc/passwd", s_url(&dir))).status,
            404
        );
        // Unknown API paths keep their JSON 404.
        assert_json_error(&c.get("/api/v1/no/such/thing"), 404);
    });
}

#[test]
fn iiif_info_regions_and_sizes_on_png_and_jpeg() {
    let root = TempDir::new("iiif");
    for_each_backend(cfg(root.path()), |app| {
        let dir = run_dir(root.path(), app);
        gradient().save(dir.join("a b.png")).unwrap();
        gradient().save(dir.join("a.jpg")).unwrap();
        for name in ["a b.png", "a.jpg"] {
            let id = iiif_id(&dir.join(name));
            let c = Client::new(app);
            let r = c.get(&format!("/iiif/2/{id}/info.json"));
            assert_eq!(r.status, 200, "{name}: {}", r.body);
            assert_eq!(r.header("access-control-allow-origin"), Some("*"));
            let info = r.json();
            assert_eq!(
                (info["width"].clone(), info["height"].clone()),
                (json!(100), json!(80))
            );
            assert!(info["profile"][1]["formats"]
                .as_array()
                .unwrap()
                .contains(&json!("png")));
            assert!(info["@id"]
                .as_str()
                .unwrap()
                .ends_with(&format!("/iiif/2/{id}")));

            // Region x,y,w,h at a width; full at a height; max.
            for (tail, w, h, ct) in [
                ("10,20,50,40/25,/0/default.png", 25, 20, "image/png"),
                ("full/,40/0/default.jpg", 50, 40, "image/jpeg"),
                ("full/max/0/default.png", 100, 80, "image/png"),
                ("0,0,30,30/full/0/default.png", 30, 30, "image/png"),
            ] {
                let (status, got_ct, bytes) = get_bytes(app, &format!("/iiif/2/{id}/{tail}"));
                assert_eq!(status, 200, "{name} {tail}");
                assert_eq!(got_ct, ct, "{name} {tail}");
                let img = image::load_from_memory(&bytes).unwrap();
                assert_eq!((img.width(), img.height()), (w, h), "{name} {tail}");
            }
            // Bad requests are 400, not 500.
            assert_json_error(&c.get(&format!("/iiif/2/{id}/nonsense/0/default.png")), 400);
        }
        // Outside the roots, missing, not an image: 404.
        let c = Client::new(app);
        assert_json_error(&c.get("/iiif/2/etc%2Fpasswd/info.json"), 404);
        assert_json_error(
            &c.get(&format!(
                "/iiif/2/{}/info.json",
                iiif_id(&dir.join("none.png"))
            )),
            404,
        );
        fs::write(dir.join("fake.png"), "not an image").unwrap();
        assert_json_error(
            &c.get(&format!(
                "/iiif/2/{}/info.json",
                iiif_id(&dir.join("fake.png"))
            )),
            404,
        );
    });
}

#[test]
fn pixel_values_on_rgb_grey_and_16_bit() {
    let root = TempDir::new("pixel");
    for_each_backend(cfg(root.path()), |app| {
        let c = Client::new(app);
        let dir = run_dir(root.path(), app);
        gradient().save(dir.join("rgb.png")).unwrap();
        ImageBuffer::<Luma<u8>, _>::from_fn(10, 10, |x, y| Luma([(x + 10 * y) as u8]))
            .save(dir.join("grey.png"))
            .unwrap();
        ImageBuffer::<Luma<u16>, _>::from_fn(10, 10, |x, y| Luma([1000 + (x + 10 * y) as u16]))
            .save(dir.join("deep.png"))
            .unwrap();
        let url = |name: &str, x: i64, y: i64| {
            format!(
                "/api/v1/output/image/pixel?x={x}&y={y}&image_url={}",
                encode(&s_url(&dir.join(name)))
            )
        };
        // 1-based: (x=3, y=2) is column 2, row 1.
        let r = c.get(&url("rgb.png", 3, 2));
        assert_eq!(r.status, 200, "{}", r.body);
        assert_eq!(
            r.json(),
            json!({"value": [4, 3, 128], "meta": {"mode": "RGB"}})
        );
        let r = c.get(&url("grey.png", 3, 2));
        assert_eq!(r.json(), json!({"value": 12, "meta": {"mode": "L"}}));
        let r = c.get(&url("deep.png", 10, 10));
        assert_eq!(r.json()["value"], json!(1099));
        assert_eq!(r.json()["meta"]["mode"], json!("I;16"));
        // POST with a JSON body.
        let r = c.post(
            "/api/v1/output/image/pixel",
            &json!({"x": 1, "y": 1, "image_url": s_url(&dir.join("grey.png"))}),
        );
        assert_eq!(r.json()["value"], json!(0), "{}", r.body);
        // Non-positive: 400; out of the image: 404; outside the roots: 404.
        assert_json_error(&c.get(&url("grey.png", 0, 1)), 400);
        assert_json_error(&c.get(&url("grey.png", 11, 1)), 404);
        assert_json_error(
            &c.get("/api/v1/output/image/pixel?x=1&y=1&image_url=%2Fs%2Fetc%2Fpasswd"),
            404,
        );
    });
}

/// Posts the reference `qa run` body with its output in `dir`; returns the output id.
fn post_output(c: &Client, dir: &Path, input: &str) -> i64 {
    let p = reference_dir().join("original-responses/01_post_output_request.json");
    let mut body: Value = serde_json::from_slice(&fs::read(p).unwrap()).unwrap();
    body["rel_input_path"] = json!(input);
    body["input_path"] = json!(input);
    body["output_directory"] = json!(dir.to_str().unwrap());
    let r = c.post("/api/v1/output/", &body);
    assert_eq!(r.status, 200, "{}", r.body);
    r.json()["id"].as_i64().unwrap()
}

#[test]
fn diff_image_and_report() {
    let root = TempDir::new("diff");
    for_each_backend(cfg(root.path()), |app| {
        let c = Client::new(app);
        let dir = run_dir(root.path(), app);
        let (new_dir, ref_dir) = (dir.join("new"), dir.join("ref"));
        fs::create_dir_all(&new_dir).unwrap();
        fs::create_dir_all(&ref_dir).unwrap();
        let base: RgbImage = ImageBuffer::from_pixel(120, 100, Rgb([40, 40, 40]));
        let mut changed = base.clone();
        for y in 40..60 {
            for x in 50..70 {
                changed.put_pixel(x, y, Rgb([250, 250, 250]));
            }
        }
        base.save(ref_dir.join("img.png")).unwrap();
        changed.save(new_dir.join("img.png")).unwrap();
        base.save(new_dir.join("same.png")).unwrap();
        base.save(ref_dir.join("same.png")).unwrap();
        let id_new = post_output(&c, &new_dir, "images/new.jpg");
        let id_ref = post_output(&c, &ref_dir, "images/ref.jpg");
        let body = |path: &str| {
            json!({
                "output_id_new": id_new, "output_id_ref": id_ref,
                "output_dir_url_new": s_url(&new_dir), "output_dir_url_ref": s_url(&ref_dir),
                "path": path, "diff_type": "rgb", "threshold": 0.01, "diameter": 0, "count": 20
            })
        };
        let r = c.post("/api/v1/output/diff/image", &body("img.png"));
        assert_eq!(r.status, 200, "{}", r.body);
        let blobs = r.json();
        assert!(!blobs.as_array().unwrap().is_empty(), "{blobs}");
        for b in blobs.as_array().unwrap() {
            let (y, x) = (b[0].as_f64().unwrap(), b[1].as_f64().unwrap());
            assert!(
                (30.0..=70.0).contains(&y) && (40.0..=80.0).contains(&x),
                "{b}"
            );
        }
        let r = c.post("/api/v1/output/diff/image", &body("same.png"));
        assert_eq!(r.json(), json!([]), "{}", r.body);
        // Outside the roots / missing.
        let mut outside = body("img.png");
        outside["output_dir_url_ref"] = json!("/s/etc");
        assert_json_error(&c.post("/api/v1/output/diff/image", &outside), 404);

        // The report: written under the new output's folder, served by /s/.
        let mut report = body("img.png");
        report["rois"] = json!([{"x": 45, "y": 35, "w": 30, "h": 30, "label": "rgb"}]);
        let r = c.post("/api/v1/output/diff/report", &report);
        assert_eq!(r.status, 200, "{}", r.body);
        let url = r.json().as_str().unwrap().to_string();
        let prefix = format!("{}/reports/", s_url(&new_dir));
        assert!(
            url.starts_with(&prefix) && url.ends_with("_report.pdf"),
            "{url}"
        );
        let on_disk = PathBuf::from(url.strip_prefix("/s").unwrap());
        assert!(on_disk.is_file());
        let (status, ct, bytes) = get_bytes(app, &url);
        assert_eq!(status, 200);
        assert_eq!(ct, "application/pdf");
        assert!(bytes.starts_with(b"%PDF"));
        // Fractional ROIs are a 400; unknown outputs a 404.
        let mut bad = report.clone();
        bad["rois"] = json!([{"x": 1.5, "y": 0, "w": 3, "h": 3}]);
        assert_json_error(&c.post("/api/v1/output/diff/report", &bad), 400);
        let mut unknown = report.clone();
        unknown["output_id_ref"] = json!(999_999);
        assert_json_error(&c.post("/api/v1/output/diff/report", &unknown), 404);
    });
}

#[test]
fn webapp_dir_serves_the_spa_after_the_api() {
    let root = TempDir::new("webapp");
    let web = root.path().join("webapp");
    fs::create_dir_all(web.join("static/js")).unwrap();
    fs::write(web.join("index.html"), "<html>the app</html>").unwrap();
    fs::write(web.join("static/js/main.1234.js"), "console.log(1)").unwrap();
    let make = |pool| {
        let settings = qaboard_settings::Settings {
            storage_root: root.path().to_str().unwrap().to_string(),
            data_dir: root.path().join("data"),
            webapp_dir: Some(web.clone()),
            ..Default::default()
        };
        AppState::from_settings(pool, settings)
    };
    for_each_backend_with_state(make, |app| {
        let c = Client::new(app);
        let r = c.get("/acme/smoke/commit/0123abc");
        assert_eq!(r.status, 200);
        assert_eq!(r.body, "<html>the app</html>");
        assert_eq!(r.header("cache-control"), Some("no-cache"));
        let r = c.get("/");
        assert_eq!(r.body, "<html>the app</html>");
        let r = c.get("/static/js/main.1234.js");
        assert_eq!(r.body, "console.log(1)");
        assert!(r.header("cache-control").unwrap().contains("immutable"));
        assert_json_error(&c.get("/api/v1/no/such/thing"), 404);
        assert_eq!(c.get("/healthz").status, 200);
        let dir = run_dir(root.path(), app);
        fs::write(dir.join("x.txt"), "x").unwrap();
        assert_eq!(c.get(&s_url(&dir.join("x.txt"))).body, "x");
    });
}

#[test]
fn built_in_home_page_escapes_names() {
    let root = TempDir::new("home");
    for_each_backend(cfg(root.path()), |app| {
        let c = Client::new(app);
        let r = c.get("/");
        assert_eq!(r.status, 200);
        assert!(r.header("content-type").unwrap().starts_with("text/html"));
        assert!(r.body.contains("webapp_dir"), "{}", r.body);

        let dir = run_dir(root.path(), app);
        let p = reference_dir().join("original-responses/01_post_output_request.json");
        let mut body: Value = serde_json::from_slice(&fs::read(p).unwrap()).unwrap();
        let hostile = "acme/<script>alert(1)</script>\"'&";
        body["project"] = json!(hostile);
        body["project_root"] = json!(hostile);
        body["output_directory"] = json!(dir.join("o").to_str().unwrap());
        body["commit_branch"] = json!("<b>branch</b>");
        let r = c.post("/api/v1/output/", &body);
        assert_eq!(r.status, 200, "{}", r.body);

        let r = c.get("/");
        assert_eq!(r.status, 200);
        assert!(!r.body.contains("<script>"), "{}", r.body);
        assert!(!r.body.contains("<b>branch"), "{}", r.body);
        assert!(
            r.body
                .contains("acme/&lt;script&gt;alert(1)&lt;/script&gt;&quot;&#39;&amp;"),
            "{}",
            r.body
        );
        assert!(r.body.contains("462a23fc"), "{}", r.body);
        assert!(r
            .body
            .contains("/api/v1/commit/462a23fc9356a1fa3f792828b530ea6d4eeb9803"));
        assert!(r.body.contains("1 ok, 0 failed"), "{}", r.body);
    });
}

#[test]
fn manifest_refuses_folders_outside_the_storage_roots() {
    let root = TempDir::new("manifest-root");
    let elsewhere = TempDir::new("manifest-elsewhere");
    for_each_backend(cfg(root.path()), |app| {
        let c = Client::new(app);
        let out = elsewhere.path().join(app.base.rsplit(':').next().unwrap());
        fs::create_dir_all(&out).unwrap();
        fs::write(out.join("secret.txt"), "secret").unwrap();
        let id = post_output(&c, &out, "images/elsewhere.jpg");
        for q in ["", "?refresh=true"] {
            let r = c.get(&format!("/api/v1/output/{id}/manifest/{q}"));
            assert_json_error(&r, 404);
            assert!(!r.body.contains("st_size"));
        }
        assert!(!out.join("manifest.outputs.json").exists());
        assert_eq!(fs::read_dir(&out).unwrap().count(), 1);

        // Inside the root: listed and cached.
        let inside = run_dir(root.path(), app).join("out");
        fs::create_dir_all(&inside).unwrap();
        fs::write(inside.join("a.txt"), "hello").unwrap();
        let id = post_output(&c, &inside, "images/inside.jpg");
        let r = c.get(&format!("/api/v1/output/{id}/manifest/"));
        assert_eq!(r.status, 200, "{}", r.body);
        assert_eq!(r.json()["a.txt"]["st_size"], json!(5));
        assert!(inside.join("manifest.outputs.json").is_file());
    });
}

#[test]
fn get_test_groups_writes_nothing() {
    let root = TempDir::new("groups");
    for_each_backend(cfg(root.path()), |app| {
        let c = Client::new(app);
        let project = format!("acme/g-{}", app.base.rsplit(':').next().unwrap());
        let data = root.path().join("data");
        let r = c.get(&format!(
            "/api/v1/tests/groups?project={}&name=extra",
            encode(&project)
        ));
        assert_eq!(r.status, 200, "{}", r.body);
        assert!(r.body.starts_with('#'));
        assert!(!data.join("shared").join(&project).exists());
        // POST creates it; GET reads it back.
        let url = format!(
            "/api/v1/tests/groups?project={}&name=extra",
            encode(&project)
        );
        assert_eq!(c.post(&url, &json!({"groups": "a: 1\n"})).status, 200);
        assert_eq!(c.get(&url).body, "a: 1\n");
        assert!(data
            .join("shared")
            .join(&project)
            .join("extra.yml")
            .is_file());
    });
}
