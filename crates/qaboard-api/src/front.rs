//! The front service of [`crate::Application`]: the first service each
//! request of a connection meets, in front of the actix-web App (issue 10).
//!
//! It answers one case itself: the plain `GET`/`HEAD` of a small file under
//! `/s/` ([`crate::static_files::plain_file_answer`]: no `Range`/`If-*`, no
//! `%00`, no repeated or trailing slash, a regular file of at most 64 KiB
//! opened through the storage as the App would). Such a request skips the
//! App's routing and middleware (request metrics, access log, NUL checks,
//! slash merging, error bodies), which cost about as much as the file itself,
//! but what they would have done is done here, the same way:
//!
//! - the request metrics: `http_requests_total` and
//!   `http_request_duration_seconds` with route `/s/{tail:.*}`, the request's
//!   method (`HEAD` stays `HEAD`) and status 200, through handles resolved
//!   once per worker ([`crate::metrics::RequestSeries`]);
//! - the access log: the same line as actix's `Logger` with the format
//!   `"%r %s %b %Dms"` at `info` on target `qaboard::http`;
//! - the NUL check, slash merging and error bodies need nothing: a request
//!   they would change is not of the plain case.
//!
//! Every other request (and a plain-looking one whose file turns out
//! missing, refused, a folder or larger) goes to the App unchanged. On a
//! keep-alive connection the plain case is answered even earlier, by the
//! connection itself ([`crate::wire::plain_files`], with [`PlainRecorder`]).
use std::cell::OnceCell;
use std::future::Future;
use std::pin::Pin;
use std::time::Instant;

use actix_http::body::{EitherBody, MessageBody};
use actix_http::{Request, Response};
use actix_service::{Service, ServiceFactory};
use actix_web::dev::ServiceResponse;
use actix_web::http::{Method, StatusCode};
use futures_util::future::{ready, Either, MapOk, Ready, TryFutureExt};
use qaboard_storage::Storage;

use crate::boundary::AccessLine;
use crate::metrics::{Metrics, RequestSeries};
use crate::static_files::{plain_file_answer, ROUTE_LABEL};

/// The log target of the access log (as given to actix's `Logger`).
pub const ACCESS_LOG_TARGET: &str = "qaboard::http";

/// The factory of [`FrontService`] over the App's factory `inner`.
pub struct FrontFactory<F> {
    inner: F,
    storage: Storage,
    metrics: Metrics,
}

impl<F> FrontFactory<F> {
    /// A front over `inner` (the App, its config mapped to `()`), serving
    /// plain small files of `storage` and recording into `metrics`.
    pub fn new(inner: F, storage: Storage, metrics: Metrics) -> Self {
        FrontFactory {
            inner,
            storage,
            metrics,
        }
    }
}

impl<F, B> ServiceFactory<Request> for FrontFactory<F>
where
    F: ServiceFactory<
        Request,
        Config = (),
        Response = ServiceResponse<B>,
        Error = actix_web::Error,
    >,
    F::Future: 'static,
    B: MessageBody,
{
    type Response = Response<EitherBody<B>>;
    type Error = actix_web::Error;
    type Config = ();
    type Service = FrontService<F::Service>;
    type InitError = F::InitError;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Service, Self::InitError>>>>;

    fn new_service(&self, _: ()) -> Self::Future {
        let inner = self.inner.new_service(());
        let storage = self.storage.clone();
        let metrics = self.metrics.clone();
        Box::pin(async move {
            Ok(FrontService {
                inner: inner.await?,
                storage,
                record: PlainRecorder::new(metrics),
            })
        })
    }
}

/// See the module: plain small files answered here, the rest by `inner`.
pub struct FrontService<S> {
    inner: S,
    storage: Storage,
    record: PlainRecorder,
}

/// Records a plain small-file answer as the App's middleware would have:
/// the request metrics and the access-log line (see the module). One per
/// worker.
pub(crate) struct PlainRecorder {
    metrics: Metrics,
    /// The series of `GET`/`HEAD` `/s/{tail:.*}` 200, resolved on first use
    /// (resolving creates the series, which must not appear before a request).
    get_ok: OnceCell<RequestSeries>,
    head_ok: OnceCell<RequestSeries>,
}

impl PlainRecorder {
    /// A recorder into `metrics`.
    pub(crate) fn new(metrics: Metrics) -> Self {
        PlainRecorder {
            metrics,
            get_ok: OnceCell::new(),
            head_ok: OnceCell::new(),
        }
    }

    /// Records the 200 answer of `size` body bytes to the request `head`
    /// (method, target, version) that arrived at `start`.
    pub(crate) fn record(&self, head: &actix_http::RequestHead, size: usize, start: Instant) {
        let series = if head.method == Method::HEAD {
            &self.head_ok
        } else {
            &self.get_ok
        };
        series
            .get_or_init(|| {
                self.metrics
                    .request_series(&head.method, Some(ROUTE_LABEL), StatusCode::OK)
            })
            .observe(start.elapsed());
        log::info!(
            target: ACCESS_LOG_TARGET,
            "{}",
            AccessLine {
                method: &head.method,
                uri: &head.uri,
                version: head.version,
                status: StatusCode::OK,
                size,
                start,
            }
        );
    }
}

/// The App's answer as the HTTP layer's response.
type FromApp<B> = fn(ServiceResponse<B>) -> Response<EitherBody<B>>;

fn from_app<B>(res: ServiceResponse<B>) -> Response<EitherBody<B>> {
    Response::from(res).map_body(|_, b| EitherBody::left(b))
}

impl<S, B> Service<Request> for FrontService<S>
where
    S: Service<Request, Response = ServiceResponse<B>, Error = actix_web::Error>,
    B: MessageBody,
{
    type Response = Response<EitherBody<B>>;
    type Error = actix_web::Error;
    type Future = Either<Ready<Result<Self::Response, Self::Error>>, MapOk<S::Future, FromApp<B>>>;

    actix_service::forward_ready!(inner);

    fn call(&self, req: Request) -> Self::Future {
        let start = Instant::now();
        let Some(answer) = plain_file_answer(&self.storage, req.head()) else {
            return Either::Right(self.inner.call(req).map_ok(from_app::<B> as FromApp<B>));
        };
        self.record.record(req.head(), answer.body_len, start);
        let res = Response::from(answer.response).map_body(|_, b| EitherBody::right(b));
        Either::Left(ready(Ok(res)))
    }
}
