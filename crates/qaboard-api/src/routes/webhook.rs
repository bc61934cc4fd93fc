//! Webhooks: the webapp's outbound webhook proxy (`/api/v1/webhook/proxy/`,
//! 501 until built, OPERATIONS.md §7) and git push events (`/webhook/gitlab`,
//! `/webhook/github`, outside `/api/v1`; OPERATIONS.md §5, see `crate::git`).
use actix_web::web;

use crate::{both, resource};

/// Registers `/api/v1/webhook/proxy/` (mounted under `/api/v1`).
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        resource(both("/webhook/proxy")).route(web::post().to(super::webhook_proxy::proxy)),
    );
}

/// Registers `/webhook/gitlab` (mounted at the server root).
pub fn configure_root(cfg: &mut web::ServiceConfig) {
    let limit = web::PayloadConfig::new(crate::git::WEBHOOK_BODY_LIMIT);
    cfg.service(
        resource(both("/webhook/gitlab"))
            .app_data(limit.clone())
            .route(web::post().to(crate::git::gitlab_webhook)),
    )
    .service(
        resource(both("/webhook/github"))
            .app_data(limit)
            .route(web::post().to(crate::git::github_webhook)),
    );
}
