//! `/api/v1/output…`: results posted by `qa run`, reads and updates of one
//! output, its files manifest; redo and delete (501 until built, OPERATIONS.md
//! §2); pixel and image diffs in [`super::images`].
use actix_web::web;

use crate::{both, ingest, jobs, manifest, operations, resource};

/// Registers the output routes.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(resource(both("/output")).route(web::post().to(ingest::post_output)))
        .service(resource(both("/output/redo/{id}")).route(web::post().to(jobs::redo_output)))
        .configure(super::images::configure)
        .service(
            resource(both("/output/{id}/manifest")).route(web::get().to(manifest::get_manifest)),
        )
        .service(
            resource(both("/output/{id}"))
                .route(web::get().to(ingest::get_output))
                .route(web::put().to(ingest::put_output))
                .route(web::delete().to(operations::delete_output)),
        );
}
