//! `/api/v1/tests…`: a project's test groups file; starting a tuning group
//! (`POST /api/v1/tests/group`, 501 until built, OPERATIONS.md §4.1).
use actix_web::web;

use crate::{both, groups, resource};

/// Registers the test-groups routes.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        resource(both("/tests/groups"))
            .route(web::get().to(groups::get_groups))
            .route(web::post().to(groups::post_groups)),
    )
    .service(resource(both("/tests/group")).route(web::post().to(crate::tuning::list_group)));
}
