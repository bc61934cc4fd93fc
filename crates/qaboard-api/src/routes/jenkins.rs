//! `/api/v1/jenkins/…`: Jenkins build status and triggers (501 until built,
//! OPERATIONS.md §7).
use actix_web::web;

use super::stub;
use crate::{both, resource};

/// Registers the Jenkins integration routes.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(resource(both("/jenkins/build")).route(stub(web::post(), "Jenkins build")))
        .service(
            resource(both("/jenkins/build/trigger"))
                .route(stub(web::post(), "Jenkins build trigger")),
        );
}
