//! The App's one middleware ([`Boundary`]): every effect the request
//! boundary has, in one hand-written layer (issue 16: six stacked layers cost
//! ingestion about 0.017 ms of server CPU per POST, in boxed futures, routing
//! calls and per-request strings).
//!
//! Effects, in the order the six layers had them (outermost first; each is
//! still available alone, for tests and examples):
//!
//! 1. request metrics, as [`crate::metrics::record_requests`]: the method as
//!    received (`HEAD` stays `HEAD`), the matched route template, the status,
//!    seconds until the response head;
//! 2. the access log, as actix's `Logger` with the format `"%r %s %b %Dms"` on
//!    target [`ACCESS_LOG_TARGET`] at `info` ([`AccessLine`]): the request
//!    line as received, written when the body has been sent (or dropped),
//!    with the bytes sent and the milliseconds since the request arrived;
//!    `Logger`'s `debug` line for a response carrying an error too;
//! 3. repeated slashes of the path merged, as actix's `NormalizePath` with
//!    `TrailingSlash::MergeOnly` (`//api/v1/output/` is routed as
//!    `/api/v1/output/`; no redirect, trailing slash kept);
//! 4. `HEAD` routed as `GET`, as [`crate::hardening::head_as_get`];
//! 5. a NUL character in the percent-decoded path or query answered 400, as
//!    [`crate::hardening::check_request_strings`];
//! 6. an empty 4xx/5xx answer given a JSON body, as
//!    [`crate::hardening::json_error_bodies`].
//!
//! Cost per request: no boxed future (one hand-written future), no
//! allocation on the common path but the route template's name (the request
//! line is kept as the method and a clone of the URI, reference-counted
//! bytes, and only when the access log is enabled), one look-up of the
//! worker's request series.
use std::cell::RefCell;
use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{ready, Context, Poll};
use std::time::{Duration, Instant};

use actix_web::body::{BodySize, EitherBody, MessageBody};
use actix_web::dev::{Service, ServiceRequest, ServiceResponse, Transform, Url};
use actix_web::http::{Method, StatusCode, Uri, Version};
use actix_web::web::Bytes;
use actix_web::{Error, ResponseError};
use futures_util::future::{ready as ready_ok, Ready};
use pin_project_lite::pin_project;

use crate::front::ACCESS_LOG_TARGET;
use crate::metrics::{Metrics, RequestSeries};

/// The log target of actix's `Logger` own `debug` line ("Error in response").
const LOGGER_DEBUG_TARGET: &str = "actix_web::middleware::logger";

/// The middleware factory: `App::new().wrap(Boundary::new(metrics))`, the
/// only `wrap` of the App (see the module for what it does).
pub struct Boundary {
    metrics: Metrics,
}

impl Boundary {
    /// The boundary recording request metrics into `metrics` (the process's
    /// [`Metrics`], the same registered as app data for `GET /metrics`).
    pub fn new(metrics: Metrics) -> Self {
        Boundary { metrics }
    }
}

impl<S, B> Transform<S, ServiceRequest> for Boundary
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = Error>,
    B: MessageBody + 'static,
{
    type Response = ServiceResponse<LoggedBody<EitherBody<B>>>;
    type Error = Error;
    type Transform = BoundaryService<S>;
    type InitError = ();
    type Future = Ready<Result<Self::Transform, Self::InitError>>;

    fn new_transform(&self, service: S) -> Self::Future {
        ready_ok(Ok(BoundaryService {
            service,
            recorder: Rc::new(Recorder {
                metrics: self.metrics.clone(),
                series: RefCell::new(HashMap::new()),
            }),
        }))
    }
}

/// The service of [`Boundary`] over the App's routing service `S`.
pub struct BoundaryService<S> {
    service: S,
    recorder: Rc<Recorder>,
}

/// The request series of one worker: handles resolved once per label set
/// (label values are bounded: methods as labelled, route templates,
/// statuses), so a request costs one look-up here instead of two label
/// look-ups in the registry. Recording through them is the same as
/// [`Metrics::observe_request`].
struct Recorder {
    metrics: Metrics,
    series: RefCell<HashMap<SeriesKey, RequestSeries>>,
}

/// Method label, route template, status.
type SeriesKey = (&'static str, Option<String>, u16);

impl Recorder {
    fn observe(
        &self,
        method: &Method,
        route: Option<String>,
        status: StatusCode,
        elapsed: Duration,
    ) {
        let key = (crate::metrics::method_label(method), route, status.as_u16());
        let mut series = self.series.borrow_mut();
        if let Some(s) = series.get(&key) {
            s.observe(elapsed);
            return;
        }
        let s = self
            .metrics
            .request_series(method, key.1.as_deref(), status);
        s.observe(elapsed);
        series.insert(key, s);
    }
}

impl<S, B> Service<ServiceRequest> for BoundaryService<S>
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = Error>,
    B: MessageBody + 'static,
{
    type Response = ServiceResponse<LoggedBody<EitherBody<B>>>;
    type Error = Error;
    type Future = BoundaryFuture<S::Future, B>;

    actix_web::dev::forward_ready!(service);

    fn call(&self, mut req: ServiceRequest) -> Self::Future {
        let start = Instant::now();
        // 1. The method as received, before `HEAD` becomes `GET`.
        let method = req.method().clone();
        // 2. The request line as received (before slashes are merged).
        let line =
            log::log_enabled!(target: ACCESS_LOG_TARGET, log::Level::Info).then(|| RequestLine {
                method: method.clone(),
                uri: req.uri().clone(),
                version: req.version(),
            });
        // 3. and 4.
        merge_slashes(&mut req);
        if req.method() == Method::HEAD {
            req.head_mut().method = Method::GET;
        }
        // 5. and the App (whose answer gets 6. when it is polled).
        let inner = match crate::hardening::nul_in_request(req.path(), req.query_string()) {
            Some(field) => {
                let res = crate::hardening::nul_error(&field).error_response();
                Inner::Answered {
                    res: Some(req.into_response(res).map_into_right_body()),
                }
            }
            None => Inner::Called {
                fut: self.service.call(req),
            },
        };
        BoundaryFuture {
            inner,
            start,
            method,
            line,
            recorder: Rc::clone(&self.recorder),
        }
    }
}

pin_project! {
    /// The App's answer, or the boundary's own (a NUL refused).
    #[project = InnerProj]
    enum Inner<F, B> {
        Called { #[pin] fut: F },
        Answered { res: Option<ServiceResponse<EitherBody<B>>> },
    }
}

pin_project! {
    /// The future of [`BoundaryService::call`]: the App's future, then the
    /// response-side effects (6., 2., 1.) when it is ready.
    pub struct BoundaryFuture<F, B> {
        #[pin]
        inner: Inner<F, B>,
        start: Instant,
        method: Method,
        line: Option<RequestLine>,
        recorder: Rc<Recorder>,
    }
}

impl<F, B> Future for BoundaryFuture<F, B>
where
    F: Future<Output = Result<ServiceResponse<B>, Error>>,
    B: MessageBody + 'static,
{
    type Output = Result<ServiceResponse<LoggedBody<EitherBody<B>>>, Error>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let res = match this.inner.project() {
            // 6.
            InnerProj::Called { fut } => {
                ready!(fut.poll(cx)).map(crate::hardening::json_error_body)
            }
            InnerProj::Answered { res } => Ok(res.take().expect("polled after completion")),
        };
        let res = match res {
            Ok(res) => res,
            Err(e) => {
                // As the six layers: no access line, metrics with the error's status.
                let status = e.as_response_error().status_code();
                this.recorder
                    .observe(this.method, None, status, this.start.elapsed());
                return Poll::Ready(Err(e));
            }
        };
        // 2.
        if let Some(error) = res.response().error() {
            log::debug!(target: LOGGER_DEBUG_TARGET, "Error in response: {error:?}");
        }
        let status = res.status();
        let line = this.line.take();
        let start = *this.start;
        let res = res.map_body(move |_, body| LoggedBody {
            body,
            log: line.map(|line| (line, status, start)),
            size: 0,
        });
        // 1.
        let route = crate::metrics::route_of(res.request());
        this.recorder
            .observe(this.method, route, status, start.elapsed());
        Poll::Ready(Ok(res))
    }
}

/// The request line of the access log, kept from the request as received.
struct RequestLine {
    method: Method,
    uri: Uri,
    version: Version,
}

pin_project! {
    /// A response body that writes the access line when dropped (sent or
    /// abandoned), with the bytes that went through it, as actix's `Logger`.
    pub struct LoggedBody<B> {
        #[pin]
        body: B,
        log: Option<(RequestLine, StatusCode, Instant)>,
        size: usize,
    }

    impl<B> PinnedDrop for LoggedBody<B> {
        fn drop(this: Pin<&mut Self>) {
            let this = this.project();
            if let Some((line, status, start)) = this.log.take() {
                log::info!(
                    target: ACCESS_LOG_TARGET,
                    "{}",
                    AccessLine {
                        method: &line.method,
                        uri: &line.uri,
                        version: line.version,
                        status,
                        size: *this.size,
                        start,
                    }
                );
            }
        }
    }
}

impl<B: MessageBody> MessageBody for LoggedBody<B> {
    type Error = B::Error;

    #[inline]
    fn size(&self) -> BodySize {
        self.body.size()
    }

    fn poll_next(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Bytes, Self::Error>>> {
        let this = self.project();
        let chunk = ready!(this.body.poll_next(cx));
        if let Some(Ok(bytes)) = &chunk {
            *this.size += bytes.len();
        }
        Poll::Ready(chunk)
    }
}

/// 3.: merges runs of `/` in the request's path into one (query kept), as
/// actix's `NormalizePath` with `TrailingSlash::MergeOnly`; no change (and
/// no allocation) when the path holds no `//`.
fn merge_slashes(req: &mut ServiceRequest) {
    let path = req.path();
    if !path.contains("//") {
        return;
    }
    let mut merged = String::with_capacity(path.len());
    for c in path.chars() {
        if c != '/' || !merged.ends_with('/') {
            merged.push(c);
        }
    }
    // Where each byte of the old path went: routing indexes into the path
    // (nothing is matched yet at the App's root, but keep them right).
    let mut reindex = Vec::with_capacity(path.len() + 1);
    reindex.push(0u16);
    let (old, new) = (path.as_bytes(), merged.as_bytes());
    let mut j = 0usize;
    for &b in old {
        if j < new.len() && b == new[j] {
            j += 1;
        }
        reindex.push(j.min(u16::MAX as usize) as u16);
    }
    let mut parts = req.uri().clone().into_parts();
    let query = parts.path_and_query.as_ref().and_then(|pq| pq.query());
    let path_and_query = match query {
        Some(q) => Bytes::from(format!("{merged}?{q}")),
        None => Bytes::from(merged),
    };
    // The merged path is made of the old one's characters: still valid.
    let Ok(pq) = actix_web::http::uri::PathAndQuery::from_maybe_shared(path_and_query) else {
        return;
    };
    parts.path_and_query = Some(pq);
    let Ok(uri) = Uri::from_parts(parts) else {
        return;
    };
    req.match_info_mut()
        .update_with_reindex(Url::new(uri.clone()), |i| {
            reindex[usize::from(i).min(reindex.len() - 1)]
        });
    req.head_mut().uri = uri;
}

/// actix's `Logger` line for the format `"%r %s %b %Dms"`: request line
/// (method, path, `?query` when there is one, version), status, body bytes,
/// milliseconds since `start` with six decimals. Shared by [`Boundary`] and
/// [`crate::front`].
pub(crate) struct AccessLine<'a> {
    pub(crate) method: &'a Method,
    pub(crate) uri: &'a Uri,
    pub(crate) version: Version,
    pub(crate) status: StatusCode,
    /// Body bytes.
    pub(crate) size: usize,
    /// When the request arrived.
    pub(crate) start: Instant,
}

impl std::fmt::Display for AccessLine<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.method, self.uri.path())?;
        if let Some(q) = self.uri.query().filter(|q| !q.is_empty()) {
            write!(f, "?{q}")?;
        }
        let ms = self.start.elapsed().as_nanos() as f64 / 1_000_000.0;
        write!(
            f,
            " {:?} {} {} {ms:.6}ms",
            self.version,
            self.status.as_u16(),
            self.size
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn access_line_as_actix_logger() {
        let uri: Uri = "/s/mnt/a%20b.json?x=1".parse().expect("uri");
        let line = AccessLine {
            method: &Method::HEAD,
            uri: &uri,
            version: Version::HTTP_11,
            status: StatusCode::OK,
            size: 12,
            start: Instant::now(),
        }
        .to_string();
        assert!(
            line.starts_with("HEAD /s/mnt/a%20b.json?x=1 HTTP/1.1 200 12 "),
            "{line}"
        );
        assert!(line.ends_with("ms"), "{line}");
    }

    #[test]
    fn slashes_merged_query_kept() {
        let req =
            actix_web::test::TestRequest::with_uri("//api//v1/output/?a=b//c").to_srv_request();
        let mut req = req;
        merge_slashes(&mut req);
        assert_eq!(req.uri().to_string(), "/api/v1/output/?a=b//c");
        assert_eq!(req.match_info().as_str(), "/api/v1/output/");
        let mut req = actix_web::test::TestRequest::with_uri("/a/b/").to_srv_request();
        merge_slashes(&mut req);
        assert_eq!(req.uri().to_string(), "/a/b/");
    }
}
