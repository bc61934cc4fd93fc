//! Webhooks: the webapp's outbound webhook proxy (`/api/v1/webhook/proxy/`)
//! and GitLab push events (`/webhook/gitlab`, outside `/api/v1`); 501 until
//! built (OPERATIONS.md §5, §7).
use actix_web::web;

use super::stub;
use crate::{both, resource};

/// Registers `/api/v1/webhook/proxy/` (mounted under `/api/v1`).
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        resource(both("/webhook/proxy")).route(web::post().to(super::webhook_proxy::proxy)),
    );
}

/// Registers `/webhook/gitlab` (mounted at the server root).
pub fn configure_root(cfg: &mut web::ServiceConfig) {
    cfg.service(resource(both("/webhook/gitlab")).route(stub(web::post(), "GitLab webhook")));
}
