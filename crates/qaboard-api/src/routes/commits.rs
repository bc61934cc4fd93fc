//! `/api/v1/commits…`: the webapp's commits list, optionally of one branch.
use actix_web::web;

use crate::{both, reads, resource};

/// Registers the commits-list routes.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(resource(both("/commits")).route(web::get().to(reads::get_commits)))
        .service(resource(both("/commits/{branch:.+}")).route(web::get().to(reads::get_commits)));
}
