//! `/api/v1/gitlab/…`: the avatar/badge proxy and GitLab CI manual jobs (OPERATIONS.md §7,
//! issue 14). The rules (allow-lists, SSRF guard, timeouts, caps, cache) are `qaboard-outbound`'s.
use actix_web::{web, HttpRequest, HttpResponse};
use qaboard_outbound::{proxy_url_from_query, GitlabJobBody};
use serde_json::json;

use crate::extract::JsonBody;
use crate::integrations::{outbound_error, upstream};
use crate::{both, resource, run_db, ApiError, AppState};

/// Registers the GitLab integration routes.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(resource(both("/gitlab/proxy")).route(web::get().to(proxy)))
        .service(resource(both("/gitlab/job/play")).route(web::post().to(play_job)))
        .service(resource(both("/gitlab/job")).route(web::post().to(job)));
}

/// `GET /api/v1/gitlab/proxy?url=<everything after the first url=>`: the image from
/// `GITLAB_HOST`, `GITLAB_AUTH` hosts, gravatar or `proxy_allowed_hosts` (404 at once for any
/// other), with only `Content-Type`, `Cache-Control`, `ETag`, `Last-Modified` forwarded.
async fn proxy(req: HttpRequest, state: web::Data<AppState>) -> HttpResponse {
    let Some(url) = proxy_url_from_query(req.query_string()) else {
        return HttpResponse::NotFound().json(json!({"error": "missing `url`"}));
    };
    match state.outbound.proxy(&url).await {
        Ok(answer) => upstream(&answer),
        Err(e) => outbound_error(&e),
    }
}

/// The validated job request: the GitLab project path is the QA-Board project's
/// `data.git.path_with_namespace` when `project_id` names a known project.
async fn job_query(
    state: &AppState,
    body: serde_json::Map<String, serde_json::Value>,
) -> Result<Result<qaboard_outbound::GitlabJobQuery, HttpResponse>, ApiError> {
    let body: GitlabJobBody = match serde_json::from_value(serde_json::Value::Object(body)) {
        Ok(b) => b,
        Err(e) => return Err(ApiError::bad(format!("invalid job request: {e}"))),
    };
    let project_path = match body.project_id.clone().filter(|p| !p.is_empty()) {
        Some(id) => {
            let pool = state.pool.clone();
            run_db(move || Ok(qaboard_db::read::project(&mut pool.get()?, &id)?))
                .await?
                .and_then(|p| {
                    p.data
                        .pointer("/git/path_with_namespace")
                        .and_then(|v| v.as_str())
                        .filter(|s| !s.is_empty())
                        .map(str::to_owned)
                })
        }
        None => None,
    };
    Ok(body
        .into_query(project_path)
        .map_err(|e| outbound_error(&e)))
}

/// `POST /api/v1/gitlab/job/` `{gitlab_host, project_id, commit_id, job_id?, job_name}`:
/// GitLab's job (status and body verbatim). Only against the configured `GITLAB_HOST`.
async fn job(state: web::Data<AppState>, body: JsonBody) -> Result<HttpResponse, ApiError> {
    let query = match job_query(&state, body.0).await? {
        Ok(q) => q,
        Err(res) => return Ok(res),
    };
    Ok(match state.outbound.gitlab_job(&query).await {
        Ok(answer) => upstream(&answer),
        Err(e) => outbound_error(&e),
    })
}

/// `POST /api/v1/gitlab/job/play/` (same body, no `job_id`): plays the newest job of that name.
async fn play_job(state: web::Data<AppState>, body: JsonBody) -> Result<HttpResponse, ApiError> {
    let query = match job_query(&state, body.0).await? {
        Ok(q) => q,
        Err(res) => return Ok(res),
    };
    Ok(match state.outbound.gitlab_play_job(&query).await {
        Ok(answer) => upstream(&answer),
        Err(e) => outbound_error(&e),
    })
}
