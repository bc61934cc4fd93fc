//! `/api/v1/batch…`: batch updates posted by `qa batch`; stop, redo, rename,
//! move and delete (501 until built, OPERATIONS.md §1).
use actix_web::web;

use super::stub;
use crate::{both, ingest, jobs, resource};

/// Registers the batch routes.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(resource(both("/batch")).route(web::post().to(ingest::post_batch)))
        .service(resource(both("/batch/stop")).route(web::post().to(jobs::stop_batch)))
        .service(resource(both("/batch/redo")).route(web::post().to(jobs::redo_batch)))
        .service(resource(both("/batch/rename")).route(stub(web::post(), "rename a batch")))
        .service(resource(both("/batch/move")).route(stub(web::post(), "move a batch")))
        .service(resource(both("/batch/{id}")).route(stub(web::delete(), "delete a batch")));
}
