//! `/api/v1/gitlab/…`: the GitLab avatar proxy and GitLab CI jobs (501 until
//! built, OPERATIONS.md §7).
use actix_web::web;

use super::stub;
use crate::{both, resource};

/// Registers the GitLab integration routes.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(resource(both("/gitlab/proxy")).route(stub(web::get(), "GitLab proxy")))
        .service(resource(both("/gitlab/job")).route(stub(web::post(), "GitLab job")));
}
