//! Handles on the two request series of one label set, resolved once.
use std::time::Duration;

use actix_web::http::{Method, StatusCode};
use prometheus::{Histogram, IntCounter};

use super::{method_label, route_label, Metrics, UNMATCHED};

/// `http_requests_total{method, route, status}` and
/// `http_request_duration_seconds{method, route}` of one label set, looked
/// up once: [`RequestSeries::observe`] then only touches atomics (no label
/// hashing, no lock, no allocation). Recording through it is the same as
/// [`Metrics::observe_request`] with those labels.
#[derive(Clone)]
pub struct RequestSeries {
    requests: IntCounter,
    duration: Histogram,
}

impl std::fmt::Debug for RequestSeries {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RequestSeries").finish_non_exhaustive()
    }
}

impl RequestSeries {
    /// Counts one answered request that took `elapsed`.
    pub fn observe(&self, elapsed: Duration) {
        self.requests.inc();
        self.duration.observe(elapsed.as_secs_f64());
    }
}

impl Metrics {
    /// The series of requests with these labels (`route`: the matched
    /// template, `None` for [`UNMATCHED`]), as [`Metrics::observe_request`]
    /// labels them. Creating the handle creates the series (at 0): resolve
    /// it when the first request is to be counted, not in advance.
    pub fn request_series(
        &self,
        method: &Method,
        route: Option<&str>,
        status: StatusCode,
    ) -> RequestSeries {
        let method = method_label(method);
        let route = route.map_or(UNMATCHED, route_label);
        RequestSeries {
            requests: self
                .inner
                .requests
                .with_label_values(&[method, route, status.as_str()]),
            duration: self.inner.duration.with_label_values(&[method, route]),
        }
    }
}
