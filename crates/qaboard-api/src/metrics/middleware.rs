//! The request-recording middleware.
use std::time::Instant;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;
use actix_web::{web, Error};

use super::Metrics;

/// The `route` label of a request no route template matched (unknown paths
/// answered by a default service), and of a request an inner middleware
/// failed before it produced a response.
pub const UNMATCHED: &str = "unmatched";

/// Middleware function recording `http_requests_total` and
/// `http_request_duration_seconds` of every request into the app's
/// `web::Data<Metrics>`; without that app data it only passes requests on.
///
/// Mount it outermost, on the `App`, so every route (and unknown paths) is
/// counted:
///
/// ```ignore
/// App::new()
///     .app_data(metrics.clone()) // web::Data<Metrics>
///     .wrap(actix_web::middleware::from_fn(qaboard_api::metrics::record_requests))
/// ```
pub async fn record_requests<B: MessageBody>(
    req: ServiceRequest,
    next: Next<B>,
) -> Result<ServiceResponse<B>, Error> {
    let Some(metrics) = req.app_data::<web::Data<Metrics>>().cloned() else {
        return next.call(req).await;
    };
    let start = Instant::now();
    // The method is copied before the call (a standard method is a plain
    // enum value); the request itself must stay unshared for routing.
    let method = req.method().clone();
    let result = next.call(req).await;
    let elapsed = start.elapsed();
    match &result {
        Ok(res) => {
            let route = route_of(res.request());
            metrics.observe_request(&method, route.as_deref(), res.status(), elapsed);
        }
        Err(e) => {
            let status = e.as_response_error().status_code();
            metrics.observe_request(&method, None, status, elapsed);
        }
    }
    result
}

/// The `route` label's template of an answered request: the matched route
/// template, `/s/{tail:.*}` under `/s/` (a scope without a pattern,
/// static_files.rs), `None` when nothing matched.
pub(crate) fn route_of(req: &actix_web::HttpRequest) -> Option<String> {
    req.match_pattern().or_else(|| {
        crate::static_files::is_files_path(req.path())
            .then(|| crate::static_files::ROUTE_LABEL.to_string())
    })
}
