//! `/api/v1/commit…`: one commit's page read and its creation or update;
//! save-artifacts, start tuning and delete batches (501 until built,
//! OPERATIONS.md §1.3, §4.2, §4.3).
//!
//! The commit path is greedy (`/commit/{sha:.+}`: reads accept a trailing
//! slash), so every fixed sub-route is registered before it.
use actix_web::web;

use crate::{both, ingest, operations, reads, resource};

/// Registers the commit routes.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        resource(both("/commit"))
            .route(web::get().to(reads::get_commit))
            .route(web::post().to(ingest::post_commit)),
    )
    .service(
        resource(both("/commit/save-artifacts")).route(web::post().to(crate::jobs::save_artifacts)),
    )
    .service(
        resource(both("/commit/{path:.+}/batches"))
            .route(web::delete().to(operations::delete_commit_batches)),
    )
    .service(
        resource(both("/commit/{sha}/batch")).route(web::post().to(crate::tuning::start_tuning)),
    )
    .service(
        resource(both("/commit/{sha:.+}"))
            .route(web::get().to(reads::get_commit))
            .route(web::post().to(ingest::post_commit)),
    );
}
