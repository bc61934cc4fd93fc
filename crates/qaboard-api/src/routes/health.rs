//! `GET /healthz`: the server and its database answer.
use crate::{both, resource, run_db, ApiError, AppState};
use actix_web::{web, HttpResponse};

/// Registers `/healthz`.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(resource(both("/healthz")).route(web::get().to(healthz)));
}

async fn healthz(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let pool = state.pool.clone();
    run_db(move || Ok(pool.ping()?)).await?;
    Ok(HttpResponse::Ok().json(serde_json::json!({"status": "OK"})))
}
