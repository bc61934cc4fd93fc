//! `/metrics` against a real HTTP server on 127.0.0.1: the middleware, dummy
//! routes with `{id}` templates, a real SQLite pool and a response cache;
//! the body is parsed as Prometheus text.
use std::collections::HashMap;
use std::sync::{mpsc, Arc};
use std::time::Duration;

use actix_web::middleware::from_fn;
use actix_web::{web, App, HttpResponse, HttpServer};
use openmetrics_parser::prometheus::parse_prometheus;
use openmetrics_parser::{HistogramValue, MetricFamily, PrometheusType, PrometheusValue};
use qaboard_api::metrics::{self, IngestKind, Metrics};
use qaboard_api::ApiConfig;
use qaboard_db::{DbConfig, DbPool};

struct Server {
    base: String,
    handle: actix_web::dev::ServerHandle,
}

impl Drop for Server {
    fn drop(&mut self) {
        std::mem::drop(self.handle.stop(false));
    }
}

async fn item(id: web::Path<u32>) -> HttpResponse {
    if *id == 0 {
        HttpResponse::NotFound().body("no such item")
    } else {
        HttpResponse::Ok().body(format!("item {id}"))
    }
}

async fn part(path: web::Path<(u32, String)>) -> HttpResponse {
    HttpResponse::Ok().body(format!("{path:?}"))
}

async fn ingest(metrics: web::Data<Metrics>) -> HttpResponse {
    metrics.ingested(IngestKind::Output);
    HttpResponse::Created().finish()
}

/// Routes of the dummy app: `{id}` templates under a scope with a default
/// service (like `/api/v1`), and an ingestion route.
fn dummy_routes(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::scope("/api/v1")
            .service(web::resource(["/item/{id}", "/item/{id}/"]).route(web::get().to(item)))
            .route("/item/{id}/part/{name}", web::get().to(part))
            .route("/output", web::post().to(ingest))
            .default_service(web::to(HttpResponse::NotFound)),
    )
    .default_service(web::to(HttpResponse::NotFound));
}

/// Serves `routes` with the metrics middleware and `/metrics` on
/// 127.0.0.1, over `pool`, with `api` as app data.
fn spawn(
    metrics: web::Data<Metrics>,
    pool: DbPool,
    api: ApiConfig,
    routes: fn(&mut web::ServiceConfig),
) -> Server {
    // The API's handlers read `AppState`; the metrics series read the
    // pool and cache app data registered separately below.
    let state = web::Data::new(qaboard_api::AppState::new(pool.clone(), api.clone()));
    let pool = web::Data::new(pool);
    let api = web::Data::new(api);
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        actix_web::rt::System::new().block_on(async move {
            let server = HttpServer::new(move || {
                App::new()
                    .app_data(metrics.clone())
                    .app_data(pool.clone())
                    .app_data(api.clone())
                    .app_data(state.clone())
                    .wrap(from_fn(metrics::record_requests))
                    .configure(metrics::configure)
                    .configure(routes)
            })
            .workers(1)
            .bind("127.0.0.1:0")
            .expect("bind 127.0.0.1:0");
            let addr = server.addrs()[0];
            let server = server.run();
            tx.send((addr, server.handle())).expect("send address");
            let _ = server.await;
        });
    });
    let (addr, handle) = rx
        .recv_timeout(Duration::from_secs(30))
        .expect("server started");
    Server {
        base: format!("http://{addr}"),
        handle,
    }
}

/// Status and body of a request; 4xx/5xx are answers, not errors.
fn call(method: &str, url: &str) -> (u16, String) {
    match ureq::request(method, url).call() {
        Ok(r) => (r.status(), r.into_string().expect("body")),
        Err(ureq::Error::Status(code, r)) => (code, r.into_string().expect("body")),
        Err(e) => panic!("{method} {url}: {e}"),
    }
}

/// A parsed scrape (`openmetrics-parser`, a grammar of the text format:
/// label values such as `/api/v1/item/{id}` hold braces).
struct Scrape {
    families: HashMap<String, MetricFamily<PrometheusType, PrometheusValue>>,
}

/// Parses `text` as Prometheus text format 0.0.4, or fails the test.
fn parse(text: &str) -> Scrape {
    let parsed =
        parse_prometheus(text).unwrap_or_else(|e| panic!("not Prometheus text: {e:?}\n{text}"));
    Scrape {
        families: parsed.families,
    }
}

/// `GET /metrics`, checked and parsed.
fn scrape(base: &str) -> Scrape {
    let resp = ureq::get(&format!("{base}/metrics"))
        .call()
        .expect("GET /metrics");
    assert_eq!(
        resp.header("content-type"),
        Some("text/plain; version=0.0.4")
    );
    parse(&resp.into_string().expect("body"))
}

impl Scrape {
    fn family(&self, name: &str) -> &MetricFamily<PrometheusType, PrometheusValue> {
        self.families
            .get(name)
            .unwrap_or_else(|| panic!("no family {name}"))
    }

    /// The value of the sample of `name` with exactly these labels.
    fn sample(&self, name: &str, labels: &[(&str, &str)]) -> Option<PrometheusValue> {
        let family = self.families.get(name)?;
        family
            .iter_samples()
            .find(|s| {
                let set = s.get_labelset().expect("labels");
                set.iter().count() == labels.len()
                    && labels
                        .iter()
                        .all(|(k, v)| set.get_label_value(k) == Some(*v))
            })
            .map(|s| s.value.clone())
    }

    /// A counter, gauge or untyped value.
    fn value(&self, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
        self.sample(name, labels).map(|v| match v {
            PrometheusValue::Counter(c) => c.value.as_f64(),
            PrometheusValue::Gauge(n) | PrometheusValue::Unknown(n) => n.as_f64(),
            other => panic!("{name} is not a single value: {other:?}"),
        })
    }

    fn histogram(&self, name: &str, labels: &[(&str, &str)]) -> HistogramValue {
        match self.sample(name, labels) {
            Some(PrometheusValue::Histogram(h)) => h,
            other => panic!("{name} {labels:?} is not a histogram: {other:?}"),
        }
    }

    /// The distinct values of `label` among the samples of `name`.
    fn label_values(&self, name: &str, label: &str) -> Vec<String> {
        let mut v: Vec<String> = self
            .family(name)
            .iter_samples()
            .filter_map(|s| {
                s.get_labelset()
                    .expect("labels")
                    .get_label_value(label)
                    .map(str::to_string)
            })
            .collect();
        v.sort();
        v.dedup();
        v
    }
}

fn sqlite_pool(dir: &tempfile::TempDir) -> DbPool {
    let url = dir.path().join("metrics.db");
    let mut cfg = DbConfig::new(url.to_string_lossy());
    cfg.pool_size = 3;
    DbPool::connect(&cfg).expect("SQLite pool")
}

#[test]
fn requests_are_counted_per_route_template_and_status() {
    let dir = tempfile::tempdir().expect("temp dir");
    let metrics = web::Data::new(Metrics::new());
    let app = spawn(
        metrics,
        sqlite_pool(&dir),
        ApiConfig::default(),
        dummy_routes,
    );
    let b = &app.base;

    for id in [1, 2, 3] {
        assert_eq!(call("GET", &format!("{b}/api/v1/item/{id}")).0, 200);
    }
    // The trailing-slash spelling shares the template's series.
    assert_eq!(call("GET", &format!("{b}/api/v1/item/4/")).0, 200);
    // A matched template answering 404 keeps its template.
    assert_eq!(call("GET", &format!("{b}/api/v1/item/0")).0, 404);
    // A path the template's `{id}` cannot parse: 404 from the extractor.
    assert_eq!(call("GET", &format!("{b}/api/v1/item/abc")).0, 404);
    assert_eq!(call("GET", &format!("{b}/api/v1/item/7/part/x")).0, 200);
    // Unknown paths, all different: one `unmatched` series.
    for p in ["/nope", "/api/v1/nothing/here", "/random/1234", "/x%20y"] {
        assert_eq!(call("GET", &format!("{b}{p}")).0, 404, "{p}");
    }
    // A method the resource has no route for.
    assert_eq!(call("DELETE", &format!("{b}/api/v1/item/1")).0, 405);
    for _ in 0..2 {
        assert_eq!(call("POST", &format!("{b}/api/v1/output")).0, 201);
    }

    let s = scrape(b);
    let item = "/api/v1/item/{id}";
    let count = |method: &str, route: &str, status: &str| {
        s.value(
            "http_requests_total",
            &[("method", method), ("route", route), ("status", status)],
        )
    };
    assert_eq!(count("GET", item, "200"), Some(4.0));
    assert_eq!(count("GET", item, "404"), Some(2.0));
    assert_eq!(count("DELETE", item, "405"), Some(1.0));
    assert_eq!(
        count("GET", "/api/v1/item/{id}/part/{name}", "200"),
        Some(1.0)
    );
    assert_eq!(count("POST", "/api/v1/output", "201"), Some(2.0));
    assert_eq!(count("GET", metrics::UNMATCHED, "404"), Some(4.0));
    // Never a raw path.
    let routes = s.label_values("http_requests_total", "route");
    assert_eq!(
        routes,
        [
            "/api/v1/item/{id}",
            "/api/v1/item/{id}/part/{name}",
            "/api/v1/output",
            "unmatched"
        ]
    );

    // Histogram: every bucket, cumulative, ending at +Inf with the count.
    let buckets = s.histogram(
        "http_request_duration_seconds",
        &[("method", "GET"), ("route", item)],
    );
    let bounds: Vec<f64> = buckets.buckets.iter().map(|b| b.upper_bound).collect();
    let mut want = metrics::DURATION_BUCKETS.to_vec();
    want.push(f64::INFINITY);
    assert_eq!(bounds, want);
    let counts: Vec<f64> = buckets.buckets.iter().map(|b| b.count.as_f64()).collect();
    assert!(counts.windows(2).all(|w| w[0] <= w[1]), "{counts:?}");
    assert_eq!(counts.last(), Some(&6.0));
    assert_eq!(buckets.count, Some(6));
    assert!(buckets.sum.expect("sum").as_f64() > 0.0);

    // Ingestion counters, every kind present.
    assert_eq!(
        s.value("qaboard_ingested_total", &[("kind", "output")]),
        Some(2.0)
    );
    assert_eq!(
        s.value("qaboard_ingested_total", &[("kind", "batch")]),
        Some(0.0)
    );
    assert_eq!(
        s.value("qaboard_ingested_total", &[("kind", "commit")]),
        Some(0.0)
    );
    assert_eq!(s.value("qaboard_jobs_running", &[]), Some(0.0));

    // The scrape itself is counted by the next scrape.
    let s2 = scrape(b);
    assert_eq!(
        s2.value(
            "http_requests_total",
            &[("method", "GET"), ("route", "/metrics"), ("status", "200")]
        ),
        Some(1.0)
    );
}

#[test]
fn pool_cache_jobs_and_process_series() {
    let dir = tempfile::tempdir().expect("temp dir");
    let pool = sqlite_pool(&dir);
    let api = ApiConfig::default();
    let cache = Arc::clone(&api.cache);
    let version = {
        let mut conn = pool.get().expect("a connection");
        pool.data_version(&mut conn).expect("data version")
    };
    cache.put(
        "a".into(),
        version.clone(),
        Some(version.clone()),
        "0123456789".into(),
    );
    assert!(cache.lookup_unchanged("a", &version, false).is_some());
    assert!(cache.lookup("a", &version, None, false).is_some());
    assert!(cache.lookup_unchanged("a", &version, false).is_none());
    assert!(cache.lookup("b", &version, None, false).is_none());
    assert!(cache.lookup("c", &version, None, false).is_none());

    let metrics = web::Data::new(Metrics::new());
    let job = metrics.job_started();
    let held = pool.get().expect("a connection");
    let app = spawn(metrics.clone(), pool.clone(), api, dummy_routes);

    let s = scrape(&app.base);
    assert_eq!(s.value("qaboard_response_cache_hits_total", &[]), Some(2.0));
    assert_eq!(
        s.value("qaboard_response_cache_misses_total", &[]),
        Some(2.0)
    );
    assert_eq!(s.value("qaboard_response_cache_entries", &[]), Some(1.0));
    assert_eq!(s.value("qaboard_response_cache_bytes", &[]), Some(10.0));
    assert_eq!(s.value("qaboard_db_pool_max_connections", &[]), Some(3.0));
    let open = s
        .value("qaboard_db_pool_connections", &[])
        .expect("connections");
    let idle = s
        .value("qaboard_db_pool_idle_connections", &[])
        .expect("idle");
    assert!((1.0..=3.0).contains(&open), "{open}");
    // One connection is checked out by the test.
    assert!(idle <= open - 1.0, "idle {idle} of {open}");
    assert_eq!(s.value("qaboard_jobs_running", &[]), Some(1.0));
    if cfg!(target_os = "linux") {
        assert!(s.value("process_resident_memory_bytes", &[]).expect("rss") > 0.0);
        assert!(s.value("process_open_fds", &[]).expect("fds") > 0.0);
        assert!(s.value("process_cpu_seconds_total", &[]).is_some());
    }

    drop(held);
    drop(job);
    let s = scrape(&app.base);
    assert_eq!(s.value("qaboard_jobs_running", &[]), Some(0.0));
}

#[test]
fn series_are_left_out_without_their_app_data() {
    let metrics = Metrics::new();
    let s = parse(&metrics.render(&metrics::ScrapeInputs::default()));
    assert!(s
        .families
        .keys()
        .all(|n| !n.starts_with("qaboard_db_pool") && !n.starts_with("qaboard_response_cache")));
    assert!(s.families.contains_key("qaboard_ingested_total"));
}

#[test]
fn the_api_routes_are_labelled_by_their_templates() {
    let dir = tempfile::tempdir().expect("temp dir");
    let pool = sqlite_pool(&dir);
    {
        let mut conn = pool.get().expect("a connection");
        qaboard_db::migrations::run_pending(&mut conn).expect("migrations");
    }
    let metrics = web::Data::new(Metrics::new());
    let app = spawn(metrics, pool, ApiConfig::default(), qaboard_api::configure);
    let b = &app.base;

    assert_eq!(call("GET", &format!("{b}/healthz")).0, 200);
    assert_eq!(call("GET", &format!("{b}/healthz/")).0, 200);
    assert_eq!(call("GET", &format!("{b}/api/v1/output/424242")).0, 404);
    assert_eq!(call("GET", &format!("{b}/api/v1/output/424243/")).0, 404);
    // Whatever it answers, it is counted under its template.
    let manifest = call("GET", &format!("{b}/api/v1/output/x/manifest")).0;
    assert!(manifest >= 400, "{manifest}");
    assert_eq!(call("PATCH", &format!("{b}/api/v1/output/1")).0, 405);
    assert_eq!(call("GET", &format!("{b}/api/v1/no/such/thing")).0, 404);
    assert_eq!(call("GET", &format!("{b}/elsewhere")).0, 404);

    let s = scrape(b);
    let count = |method: &str, route: &str, status: &str| {
        s.value(
            "http_requests_total",
            &[("method", method), ("route", route), ("status", status)],
        )
    };
    assert_eq!(count("GET", "/healthz", "200"), Some(2.0));
    assert_eq!(count("GET", "/api/v1/output/{id}", "404"), Some(2.0));
    assert_eq!(
        count("GET", "/api/v1/output/{id}/manifest", &manifest.to_string()),
        Some(1.0)
    );
    assert_eq!(count("PATCH", "/api/v1/output/{id}", "405"), Some(1.0));
    assert_eq!(count("GET", metrics::UNMATCHED, "404"), Some(2.0));
}
