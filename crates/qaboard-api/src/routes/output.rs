//! `/api/v1/output…`: results posted by `qa run`, reads and updates of one
//! output, its files manifest; redo, delete, pixel and image diffs (501 until
//! built, OPERATIONS.md §2 and §8).
use actix_web::web;

use super::stub;
use crate::{both, ingest, jobs, manifest, resource};

/// Registers the output routes.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(resource(both("/output")).route(web::post().to(ingest::post_output)))
        .service(resource(both("/output/redo/{id}")).route(web::post().to(jobs::redo_output)))
        .service(
            resource(both("/output/image/pixel")).route(stub(web::get(), "read an image pixel")),
        )
        .service(resource(both("/output/diff/image")).route(stub(web::post(), "image diff")))
        .service(
            resource(both("/output/diff/report")).route(stub(web::post(), "image diff report")),
        )
        .service(
            resource(both("/output/{id}/manifest")).route(web::get().to(manifest::get_manifest)),
        )
        .service(
            resource(both("/output/{id}"))
                .route(web::get().to(ingest::get_output))
                .route(web::put().to(ingest::put_output))
                .route(stub(web::delete(), "delete an output")),
        );
}
