//! The response cache of the heavy reads (commit page, commits list) never
//! serves an answer older than the database: writes through the API, and
//! writes made by another connection that the server knows nothing of, show
//! in the very next read, on every backend.

use std::sync::Arc;

use crate::ingest_support::*;
use qaboard_api::cache::ResponseCache;
use qaboard_api::ApiConfig;
use qaboard_tests::{encode, spawn_app, Client, TestApp, TestDb};
use serde_json::{json, Value};

/// A server over `db` whose response cache holds at most `bytes`, and that cache.
fn app_with_cache(db: TestDb, bytes: usize) -> (Arc<ResponseCache>, TestApp) {
    let cache = Arc::new(ResponseCache::new(bytes));
    let cfg = ApiConfig {
        cache: cache.clone(),
        ..ApiConfig::default()
    };
    (cache, spawn_app(db, cfg))
}

fn backends() -> Vec<TestDb> {
    let mut dbs = vec![TestDb::sqlite()];
    dbs.extend(TestDb::postgres());
    dbs
}

#[test]
fn cached_reads_follow_every_write() {
    for db in backends() {
        let label = format!("{db:?}");
        let (cache, app) = app_with_cache(db, 8 * 1024 * 1024);
        let c = Client::new(&app);
        let body = output_for("a.jpg", 1.0);
        let (project, sha) = (
            str_of(&body, "project").to_string(),
            str_of(&body, "commit_sha").to_string(),
        );
        let first = c.post("/api/v1/output/", &body).json();
        let detail = format!(
            "/api/v1/commit/{sha}?project={}&metrics={}",
            encode(&project),
            encode(r#"{"psnr":1}"#)
        );
        let list = format!(
            "/api/v1/commits/?project={}&from=2026-11-01T00:00:00.000Z&to=2026-12-01T00:00:00.000Z&metrics={}",
            encode(&project),
            encode(r#"{"psnr":1}"#)
        );
        let aggregated =
            |v: &Value| v["batches"]["default"]["aggregated_metrics"]["psnr_average"].as_f64();

        // Read twice: the second answer comes from the cache, identical.
        let d1 = get_ok(&c, &detail);
        let d2 = get_ok(&c, &detail);
        assert_eq!(d1, d2, "{label}");
        assert_eq!(
            d1["batches"]["default"]["outputs"]
                .as_object()
                .unwrap()
                .len(),
            1,
            "{label}"
        );
        // On PostgreSQL any commit in the cluster (tests running alongside)
        // invalidates: read until one answer comes from the cache.
        let hit = (0..100).any(|_| {
            let before = cache.stats().hits;
            assert_eq!(get_ok(&c, &detail), d1, "{label}");
            cache.stats().hits > before
        });
        assert!(hit, "{label}: {:?}", cache.stats());
        let l1 = get_ok(&c, &list);
        assert_eq!(get_ok(&c, &list), l1, "{label}");

        // A new output through the API.
        c.post("/api/v1/output/", &output_for("b.jpg", 3.0));
        let d = get_ok(&c, &detail);
        assert_eq!(
            d["batches"]["default"]["outputs"]
                .as_object()
                .unwrap()
                .len(),
            2,
            "{label}"
        );
        assert_eq!(aggregated(&d), Some(2.0), "{label}");
        assert_eq!(aggregated(&get_ok(&c, &list)[0]), Some(2.0), "{label}");

        // A status change through the API.
        let id = first["id"].as_i64().unwrap();
        let r = c.put(
            &format!("/api/v1/output/{id}/"),
            &json!({"is_failed": true}),
        );
        assert_eq!(r.status, 200, "{label}: {}", r.body);
        let d = get_ok(&c, &detail);
        assert_eq!(
            d["batches"]["default"]["failed_outputs"],
            json!(1),
            "{label}: {d}"
        );
        assert_eq!(aggregated(&d), Some(3.0), "{label}");

        // Writes the server does not see: another connection changes a
        // metric and the commit message.
        let id2 = d["batches"]["default"]["outputs"]
            .as_object()
            .unwrap()
            .keys()
            .map(|k| k.parse::<i64>().unwrap())
            .find(|k| *k != id)
            .unwrap();
        external_write(
            &app,
            &format!(r#"UPDATE outputs SET metrics = '{{"psnr": 7.5}}' WHERE id = {id2}"#),
            &format!(r#"UPDATE outputs SET metrics = jsonb('{{"psnr": 7.5}}') WHERE id = {id2}"#),
        );
        let d = get_ok(&c, &detail);
        assert_eq!(aggregated(&d), Some(7.5), "{label}: {d}");
        assert_eq!(aggregated(&get_ok(&c, &list)[0]), Some(7.5), "{label}");
        let sql = "UPDATE ci_commits SET message = 'edited elsewhere'";
        external_write(&app, sql, sql);
        assert_eq!(
            get_ok(&c, &detail)["message"],
            json!("edited elsewhere"),
            "{label}"
        );
        assert_eq!(
            get_ok(&c, &list)[0]["message"],
            json!("edited elsewhere"),
            "{label}"
        );

        // Errors are not cached: an unknown commit, then created.
        let other = "0123456789abcdef0123456789abcdef01234567";
        let path = format!("/api/v1/commit/{other}?project={}", encode(&project));
        assert_eq!(c.get(&path).status, 404, "{label}");
        c.post(
            "/api/v1/output/",
            &with(&output_for("c.jpg", 1.0), "commit_sha", json!(other)),
        );
        assert_eq!(c.get(&path).status, 200, "{label}");

        // Different parameters are different answers.
        let without_metrics = format!("/api/v1/commit/{sha}?project={}", encode(&project));
        assert!(
            aggregated(&get_ok(&c, &without_metrics)).is_none(),
            "{label}"
        );
    }
}

#[test]
fn the_cache_stays_within_its_bound_and_can_be_off() {
    for db in backends() {
        let label = format!("{db:?}");
        // Room for about two answers of this size.
        let (cache, app) = app_with_cache(db, 24 * 1024);
        let c = Client::new(&app);
        let body = output_for("a.jpg", 1.0);
        let project = str_of(&body, "project").to_string();
        let mut shas = Vec::new();
        for i in 0..6 {
            let sha = format!("{i:040x}");
            c.post("/api/v1/output/", &with(&body, "commit_sha", json!(sha)));
            shas.push(sha);
        }
        for sha in &shas {
            get_ok(
                &c,
                &format!("/api/v1/commit/{sha}?project={}", encode(&project)),
            );
            let s = cache.stats();
            assert!(s.bytes <= 24 * 1024, "{label}: {s:?}");
        }
        assert!(cache.stats().entries >= 1, "{label}: {:?}", cache.stats());
    }
    for db in backends() {
        let (cache, app) = app_with_cache(db, 0);
        let c = Client::new(&app);
        let body = output_for("a.jpg", 1.0);
        c.post("/api/v1/output/", &body);
        let path = commit_page_path(&body);
        assert_eq!(get_ok(&c, &path), get_ok(&c, &path));
        assert_eq!(cache.stats().entries, 0);
    }
}

#[test]
fn a_list_without_to_keeps_one_answer_not_one_per_second() {
    for db in backends() {
        let label = format!("{db:?}");
        let (cache, app) = app_with_cache(db, 8 * 1024 * 1024);
        let c = Client::new(&app);
        let body = output_for("a.jpg", 1.0);
        c.post("/api/v1/output/", &body);
        let list = format!(
            "/api/v1/commits/?project={}",
            encode(str_of(&body, "project"))
        );
        let first = get_ok(&c, &list);
        assert_eq!(cache.stats().entries, 1, "{label}");
        // The window ends at the current second: a later second is a new
        // answer, which replaces the previous one.
        std::thread::sleep(std::time::Duration::from_millis(1100));
        assert_eq!(get_ok(&c, &list), first, "{label}");
        assert_eq!(cache.stats().entries, 1, "{label}: {:?}", cache.stats());
    }
}

#[test]
fn parameters_never_run_into_each_other_in_the_cache() {
    for db in backends() {
        let label = format!("{db:?}");
        let (_cache, app) = app_with_cache(db, 8 * 1024 * 1024);
        let c = Client::new(&app);
        let body = with(
            &output_for("a.jpg", 1.0),
            "metrics",
            json!({"psnr": 1.0, "ssim": 0.5}),
        );
        c.post("/api/v1/output/", &body);
        let base = commit_page_path(&body);
        // Batch "default" with metrics psnr and ssim, then batch
        // "default\npsnr" with metric ssim: the same fields joined by newlines.
        let two = get_ok(
            &c,
            &format!(
                "{base}&batch=default&metrics={}",
                encode(r#"{"psnr":1,"ssim":1}"#)
            ),
        );
        assert!(two["batches"]["default"].is_object(), "{label}: {two}");
        let other = get_ok(
            &c,
            &format!(
                "{base}&batch={}&metrics={}",
                encode("default\npsnr"),
                encode(r#"{"ssim":1}"#)
            ),
        );
        assert_eq!(other["batches"], json!({}), "{label}: {other}");
    }
}

/// Two servers over two databases sharing one cache (one `ApiConfig`), written alike so their
/// versions are equal: each still reads its own data.
#[test]
fn servers_sharing_a_cache_never_serve_each_others_answers() {
    let cache = Arc::new(ResponseCache::new(1 << 20));
    let cfg = ApiConfig {
        cache: cache.clone(),
        ..ApiConfig::default()
    };
    let apps: Vec<TestApp> = backends()
        .into_iter()
        .chain([TestDb::sqlite()])
        .map(|db| spawn_app(db, cfg.clone()))
        .collect();
    let sha = "4444444444444444444444444444444444444444";
    for (i, app) in apps.iter().enumerate() {
        let body = with(
            &with(&output_body(), "commit_sha", json!(sha)),
            "data",
            json!({"server": i}),
        );
        let r = Client::new(app).post("/api/v1/output/", &body);
        assert_eq!(r.status, 200, "{}", r.body);
    }
    let project = output_body()["project"].as_str().unwrap().to_string();
    for _ in 0..2 {
        for (i, app) in apps.iter().enumerate() {
            let r = Client::new(app).get(&format!(
                "/api/v1/commit/{sha}?project={}",
                encode(&project)
            ));
            assert_eq!(r.status, 200, "{}", r.body);
            let outputs = r.json()["batches"]["default"]["outputs"].clone();
            let output = outputs
                .as_object()
                .unwrap()
                .values()
                .next()
                .unwrap()
                .clone();
            assert_eq!(output["data"]["server"], json!(i), "server {i}: {}", r.body);
        }
    }
}
