//! `/api/v1/user/…`: sign-up, log-in, log-out and the current user (501 until
//! built, OPERATIONS.md §6).
use actix_web::web;

use super::stub;
use crate::{both, resource};

/// Registers the user routes.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(resource(both("/user/signup")).route(stub(web::post(), "user sign-up")))
        .service(resource(both("/user/auth")).route(stub(web::post(), "user log-in")))
        .service(resource(both("/user/logout")).route(stub(web::post(), "user log-out")))
        .service(resource(both("/user/me")).route(stub(web::get(), "current user")));
}
