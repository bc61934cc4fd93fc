//! Every route of the API, by resource: each file registers the paths of one
//! resource with `configure(cfg)`, and [`configure_api`] (under `/api/v1`)
//! and [`configure_root`] (outside it) call them all.
//!
//! Order matters: actix tries resources in registration order and the first
//! whose path matches answers (a method it does not route gives 405), so a
//! resource's fixed sub-paths (`/batch/stop/`) are registered before its
//! patterns (`/batch/{id}/`), and greedy patterns (`/commit/{sha:.+}`) last.
//!
//! Operations not built yet answer 501 `{"error": "not implemented yet:
//! <operation>"}` on their exact route (see [`not_implemented`]), so that no
//! request for them reaches another handler; the issues that build them
//! replace the stub with the handler.
use actix_web::{web, HttpResponse, Route};

use crate::ApiError;

pub mod batch;
pub mod commit;
pub mod commits;
pub mod export;
pub mod gitlab;
pub mod health;
pub mod images;
pub mod jenkins;
pub mod output;
pub mod project;
pub mod tests;
pub mod user;
pub mod webhook;
pub mod webhook_proxy;

/// Registers every route under `/api/v1` (this function is mounted in that scope).
pub fn configure_api(cfg: &mut web::ServiceConfig) {
    output::configure(cfg);
    batch::configure(cfg);
    commit::configure(cfg);
    commits::configure(cfg);
    project::configure(cfg);
    tests::configure(cfg);
    user::configure(cfg);
    gitlab::configure(cfg);
    jenkins::configure(cfg);
    webhook::configure(cfg);
    export::configure(cfg);
    crate::openapi::configure(cfg);
}

/// Registers the routes outside `/api/v1` (health check, GitLab webhook).
pub fn configure_root(cfg: &mut web::ServiceConfig) {
    health::configure(cfg);
    webhook::configure_root(cfg);
    crate::static_files::configure(cfg);
    images::configure_root(cfg);
}

/// A route answering 501 `{"error": "not implemented yet: <operation>"}`.
pub fn not_implemented(operation: &'static str) -> impl Fn() -> NotImplementedFut + Clone {
    move || std::future::ready(Err(ApiError::NotImplemented(operation.to_string())))
}

/// The future of a [`not_implemented`] handler.
pub type NotImplementedFut = std::future::Ready<Result<HttpResponse, ApiError>>;

/// A route for `method` answering 501 for `operation` (see [`not_implemented`]).
pub fn stub(method: Route, operation: &'static str) -> Route {
    method.to(not_implemented(operation))
}

/// Every route answered by a stub, as `(method, path under the server root)`
/// with the path's parameters filled in: the route-shadowing test walks it.
pub const STUB_ROUTES: &[(&str, &str)] = &[];
