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
pub mod jenkins;
pub mod output;
pub mod project;
pub mod tests;
pub mod user;
pub mod webhook;

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
}

/// Registers the routes outside `/api/v1` (health check, GitLab webhook).
pub fn configure_root(cfg: &mut web::ServiceConfig) {
    health::configure(cfg);
    webhook::configure_root(cfg);
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
pub const STUB_ROUTES: &[(&str, &str)] = &[
    ("POST", "/api/v1/output/redo/1/"),
    ("DELETE", "/api/v1/output/1/"),
    ("GET", "/api/v1/output/image/pixel"),
    ("POST", "/api/v1/output/diff/image"),
    ("POST", "/api/v1/output/diff/report"),
    ("POST", "/api/v1/batch/stop/"),
    ("POST", "/api/v1/batch/redo/"),
    ("POST", "/api/v1/batch/rename/"),
    ("POST", "/api/v1/batch/move/"),
    ("DELETE", "/api/v1/batch/1/"),
    ("POST", "/api/v1/commit/save-artifacts/"),
    ("POST", "/api/v1/commit/0123abc/batch"),
    ("DELETE", "/api/v1/commit/group/repo/0123abc/batches/"),
    ("DELETE", "/api/v1/commit/0123abc/batches/"),
    ("POST", "/api/v1/tests/group"),
    ("POST", "/api/v1/user/signup/"),
    ("POST", "/api/v1/user/auth/"),
    ("POST", "/api/v1/user/logout/"),
    ("GET", "/api/v1/user/me/"),
    ("GET", "/api/v1/gitlab/proxy"),
    ("POST", "/api/v1/gitlab/job/"),
    ("POST", "/api/v1/jenkins/build/"),
    ("POST", "/api/v1/jenkins/build/trigger/"),
    ("POST", "/api/v1/webhook/proxy/"),
    ("POST", "/webhook/gitlab"),
];
