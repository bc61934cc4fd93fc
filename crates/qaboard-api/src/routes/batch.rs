//! `/api/v1/batch…`: batch updates posted by `qa batch`; stop, redo, rename,
//! move and delete (stop and redo: 501 until built, OPERATIONS.md §1).
use actix_web::web;

use super::stub;
use crate::{both, ingest, operations, resource};

/// Registers the batch routes.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(resource(both("/batch")).route(web::post().to(ingest::post_batch)))
        .service(resource(both("/batch/stop")).route(stub(web::post(), "stop a batch")))
        .service(resource(both("/batch/redo")).route(stub(web::post(), "redo a batch")))
        .service(resource(both("/batch/rename")).route(web::post().to(operations::rename_batch)))
        .service(resource(both("/batch/move")).route(web::post().to(operations::move_batch)))
        .service(resource(both("/batch/{id}")).route(web::delete().to(operations::delete_batch)));
}
