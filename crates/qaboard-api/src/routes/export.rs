//! `GET /api/v1/export/`: export a commit's outputs to a folder (501 until
//! built, OPERATIONS.md §9).
use actix_web::web;

use super::stub;
use crate::{both, resource};

/// Registers the export route.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(resource(both("/export")).route(stub(web::get(), "export")));
}
