//! `/api/v1/jenkins/…`: Jenkins build status and triggers (OPERATIONS.md §7, issue 14), only
//! towards hosts with `JENKINS_AUTH` credentials.
use actix_web::{web, HttpResponse};
use qaboard_outbound::JenkinsTrigger;

use crate::extract::JsonBody;
use crate::integrations::outbound_error;
use crate::{both, resource, ApiError, AppState};

/// Registers the Jenkins integration routes.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(resource(both("/jenkins/build")).route(web::post().to(build_status)))
        .service(resource(both("/jenkins/build/trigger")).route(web::post().to(trigger)));
}

/// `POST /api/v1/jenkins/build/` body = the job object of an earlier answer: `{status,
/// allow_failure, web_url}` (or `{status: "pending", url}` for a queued build).
async fn build_status(state: web::Data<AppState>, body: JsonBody) -> HttpResponse {
    match state
        .outbound
        .jenkins_build_status(&serde_json::Value::Object(body.0))
        .await
    {
        Ok(status) => HttpResponse::Ok().json(status),
        Err(e) => outbound_error(&e),
    }
}

/// `POST /api/v1/jenkins/build/trigger/` `{build_url, params, token?, cause?}`: answers once
/// queued, `{status: "pending", …queue item, url}`.
async fn trigger(state: web::Data<AppState>, body: JsonBody) -> Result<HttpResponse, ApiError> {
    let trigger: JenkinsTrigger = serde_json::from_value(serde_json::Value::Object(body.0))
        .map_err(|e| ApiError::bad(format!("invalid trigger: {e}")))?;
    Ok(match state.outbound.jenkins_trigger(&trigger).await {
        Ok(answer) => HttpResponse::Ok().json(answer),
        Err(e) => outbound_error(&e),
    })
}
