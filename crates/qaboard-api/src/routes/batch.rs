//! `/api/v1/batch…`: batch updates posted by `qa batch`; stop, redo, rename,
//! move and delete (stop and redo: 501 until built, OPERATIONS.md §1).
use actix_web::web;

use crate::{both, ingest, jobs, operations, resource};

/// Registers the batch routes.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(resource(both("/batch")).route(web::post().to(ingest::post_batch)))
        .service(resource(both("/batch/stop")).route(web::post().to(jobs::stop_batch)))
        .service(resource(both("/batch/redo")).route(web::post().to(jobs::redo_batch)))
        .service(resource(both("/batch/rename")).route(web::post().to(operations::rename_batch)))
        .service(resource(both("/batch/move")).route(web::post().to(operations::move_batch)))
        .service(resource(both("/batch/{id}")).route(web::delete().to(operations::delete_batch)));
}
