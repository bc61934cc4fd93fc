//! `GET /healthz`: the server and its database answer.
use actix_web::{web, HttpResponse};
use qaboard_db::DbPool;

use crate::{both, run_db, ApiError};

/// Registers `/healthz`.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource(both("/healthz")).route(web::get().to(healthz)));
}

async fn healthz(pool: web::Data<DbPool>) -> Result<HttpResponse, ApiError> {
    run_db(move || Ok(pool.ping()?)).await?;
    Ok(HttpResponse::Ok().json(serde_json::json!({"status": "OK"})))
}
