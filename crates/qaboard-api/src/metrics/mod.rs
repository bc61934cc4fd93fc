//! Prometheus metrics of the server (issue 15): `GET /metrics` in the
//! Prometheus text exposition format 0.0.4.
//!
//! Exposed series:
//! - `http_requests_total{method, route, status}` (counter) and
//!   `http_request_duration_seconds{method, route}` (histogram, seconds from
//!   the request reaching the app to its response head; body streaming is
//!   not included), recorded by the App's middleware ([`crate::boundary`],
//!   the same as [`record_requests`] alone). `route` is the matched
//!   route template (`/api/v1/output/{id}`), never the raw path, so label
//!   values stay bounded; see [`UNMATCHED`].
//! - `qaboard_ingested_total{kind}` (counter): outputs, batches and commits
//!   created or updated through the API, counted by [`Metrics::ingested`].
//! - `qaboard_jobs_running` (gauge): jobs this process runs, see
//!   [`Metrics::job_started`].
//! - `qaboard_db_pool_*` and `qaboard_response_cache_*`: read at scrape time
//!   from [`ScrapeInputs`].
//! - `process_*` (Linux only): CPU seconds, resident and virtual memory,
//!   open and maximum file descriptors, threads, start time, read from
//!   `/proc/self` at scrape time.
//!
//! Values are per process: with several servers behind a load balancer,
//! Prometheus scrapes each and sums (`sum by (route) (rate(...))`).
//!
//! Wiring (see [`configure`]): register `web::Data<Metrics>` as app data,
//! wrap the app in [`crate::boundary::Boundary`] (the server) or
//! `actix_web::middleware::from_fn(metrics::record_requests)` (metrics
//! alone) and add `.configure(metrics::configure)`.

mod middleware;
mod scrape;
mod series;

pub(crate) use middleware::route_of;
pub use middleware::{record_requests, UNMATCHED};
pub use scrape::{configure, PoolState, ScrapeInputs};
pub use series::RequestSeries;

use std::time::Duration;

use actix_web::http::{Method, StatusCode};
use prometheus::core::Collector;
use prometheus::proto::MetricFamily;
use prometheus::{
    Encoder, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge, Opts, Registry,
    TextEncoder,
};

/// Content type of [`Metrics::render`]'s text: Prometheus exposition 0.0.4.
pub const CONTENT_TYPE: &str = prometheus::TEXT_FORMAT;

/// Upper bounds (seconds) of the request duration buckets: 1 ms to 30 s,
/// about 2.5x apart (the heavy reads of a large commit take seconds).
pub const DURATION_BUCKETS: &[f64] = &[
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];

/// What was ingested, the `kind` label of `qaboard_ingested_total`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IngestKind {
    /// An output (`POST /api/v1/output`, `PUT /api/v1/output/{id}`).
    Output,
    /// A batch (`POST /api/v1/batch`).
    Batch,
    /// A commit (`POST /api/v1/commit`).
    Commit,
}

impl IngestKind {
    /// The label value: `output`, `batch` or `commit`.
    pub fn as_str(self) -> &'static str {
        match self {
            IngestKind::Output => "output",
            IngestKind::Batch => "batch",
            IngestKind::Commit => "commit",
        }
    }
}

/// The registry and the handles the rest of the server records into.
/// Cheap to clone (one shared allocation: a clone per request is one
/// reference count); hold one per process as `web::Data<Metrics>`.
#[derive(Clone)]
pub struct Metrics {
    inner: std::sync::Arc<Handles>,
}

/// The handles of a [`Metrics`].
struct Handles {
    registry: Registry,
    requests: IntCounterVec,
    duration: HistogramVec,
    /// `qaboard_ingested_total` of each [`IngestKind`], in its order,
    /// resolved once (counting is then one atomic add, no label look-up).
    ingested: [IntCounter; 3],
    jobs_running: IntGauge,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

// The names and label sets below are constants, valid and distinct, so
// building and registering them cannot fail.
const VALID: &str = "metric names and labels are valid constants";

impl Metrics {
    /// A fresh registry with every series at zero (and the process
    /// collector on Linux).
    pub fn new() -> Self {
        let registry = Registry::new();
        let requests = IntCounterVec::new(
            Opts::new("http_requests_total", "HTTP requests answered."),
            &["method", "route", "status"],
        )
        .expect(VALID);
        let duration = HistogramVec::new(
            HistogramOpts::new(
                "http_request_duration_seconds",
                "Time from a request reaching the app to its response head, in seconds.",
            )
            .buckets(DURATION_BUCKETS.to_vec()),
            &["method", "route"],
        )
        .expect(VALID);
        let ingested = IntCounterVec::new(
            Opts::new(
                "qaboard_ingested_total",
                "Outputs, batches and commits created or updated through the API.",
            ),
            &["kind"],
        )
        .expect(VALID);
        // Every kind is exposed from the start, at 0.
        let ingested_by_kind = [IngestKind::Output, IngestKind::Batch, IngestKind::Commit]
            .map(|kind| ingested.with_label_values(&[kind.as_str()]));
        let jobs_running =
            IntGauge::new("qaboard_jobs_running", "Jobs this process is running.").expect(VALID);
        registry.register(Box::new(requests.clone())).expect(VALID);
        registry.register(Box::new(duration.clone())).expect(VALID);
        registry.register(Box::new(ingested.clone())).expect(VALID);
        registry
            .register(Box::new(jobs_running.clone()))
            .expect(VALID);
        #[cfg(target_os = "linux")]
        registry
            .register(Box::new(
                prometheus::process_collector::ProcessCollector::for_self(),
            ))
            .expect(VALID);
        Metrics {
            inner: std::sync::Arc::new(Handles {
                registry,
                requests,
                duration,
                ingested: ingested_by_kind,
                jobs_running,
            }),
        }
    }

    /// Counts one answered request. `route` is the matched route template,
    /// `None` when no route matched (labelled [`UNMATCHED`]); methods other
    /// than the nine standard ones are labelled `other`.
    pub fn observe_request(
        &self,
        method: &Method,
        route: Option<&str>,
        status: StatusCode,
        elapsed: Duration,
    ) {
        let method = method_label(method);
        let route = route.map_or(UNMATCHED, route_label);
        self.inner
            .requests
            .with_label_values(&[method, route, status.as_str()])
            .inc();
        self.inner
            .duration
            .with_label_values(&[method, route])
            .observe(elapsed.as_secs_f64());
    }

    /// Counts one ingested item (after its transaction committed).
    pub fn ingested(&self, kind: IngestKind) {
        let i = match kind {
            IngestKind::Output => 0,
            IngestKind::Batch => 1,
            IngestKind::Commit => 2,
        };
        self.inner.ingested[i].inc();
    }

    /// Marks a job as running until the returned guard is dropped.
    pub fn job_started(&self) -> RunningJob {
        self.inner.jobs_running.inc();
        RunningJob {
            gauge: self.inner.jobs_running.clone(),
        }
    }

    /// Sets the running-jobs gauge outright (for a caller that counts jobs
    /// itself rather than holding [`RunningJob`] guards).
    pub fn set_jobs_running(&self, n: i64) {
        self.inner.jobs_running.set(n);
    }

    /// The registry, to register more collectors into.
    pub fn registry(&self) -> &Registry {
        &self.inner.registry
    }

    /// Every series in the text exposition format 0.0.4 ([`CONTENT_TYPE`]),
    /// with the values read at scrape time from `extra`. A family that fails
    /// to encode (never expected) is logged and left out.
    pub fn render(&self, extra: &ScrapeInputs) -> String {
        let mut families = self.inner.registry.gather();
        families.extend(extra.families());
        families.sort_by(|a, b| a.name().cmp(b.name()));
        let encoder = TextEncoder::new();
        let mut out = Vec::with_capacity(16 * 1024);
        for family in &families {
            if let Err(e) = encoder.encode(std::slice::from_ref(family), &mut out) {
                log::error!("metrics: cannot encode {}: {e}", family.name());
            }
        }
        String::from_utf8(out).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into())
    }
}

/// A running job, counted in `qaboard_jobs_running` until dropped.
#[derive(Debug)]
pub struct RunningJob {
    gauge: IntGauge,
}

impl Drop for RunningJob {
    fn drop(&mut self) {
        self.gauge.dec();
    }
}

/// The `method` label: the standard methods by name, anything else `other`
/// (extension methods would make label values unbounded).
pub(crate) fn method_label(method: &Method) -> &'static str {
    match *method {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::DELETE => "DELETE",
        Method::HEAD => "HEAD",
        Method::OPTIONS => "OPTIONS",
        Method::PATCH => "PATCH",
        Method::CONNECT => "CONNECT",
        Method::TRACE => "TRACE",
        _ => "other",
    }
}

/// The `route` label of a template: without its trailing slash, so the two
/// spellings the API serves for each path share one series.
fn route_label(template: &str) -> &str {
    match template.trim_end_matches('/') {
        "" => "/",
        t => t,
    }
}

/// A counter family with one unlabelled value.
fn const_counter(name: &str, help: &str, value: u64) -> Vec<MetricFamily> {
    let c = IntCounter::new(name, help).expect(VALID);
    c.inc_by(value);
    c.collect()
}

/// A gauge family with one unlabelled value.
fn const_gauge(name: &str, help: &str, value: i64) -> Vec<MetricFamily> {
    let g = IntGauge::new(name, help).expect(VALID);
    g.set(value);
    g.collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_are_bounded() {
        assert_eq!(method_label(&Method::GET), "GET");
        assert_eq!(
            method_label(&Method::from_bytes(b"BREW").expect("method")),
            "other"
        );
        assert_eq!(route_label("/api/v1/output/{id}/"), "/api/v1/output/{id}");
        assert_eq!(route_label("/"), "/");
    }

    #[test]
    fn jobs_gauge_follows_guards() {
        let m = Metrics::new();
        let a = m.job_started();
        let b = m.job_started();
        assert_eq!(m.inner.jobs_running.get(), 2);
        drop(a);
        assert_eq!(m.inner.jobs_running.get(), 1);
        drop(b);
        assert_eq!(m.inner.jobs_running.get(), 0);
    }
}
