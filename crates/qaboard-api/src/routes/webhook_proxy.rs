//! `POST /api/v1/webhook/proxy/` (OPERATIONS.md §7, issue 14): the webapp's integration buttons
//! and status checks, sent by the server. Registered by `routes/webhook.rs`; kept apart from the
//! GitLab push webhook that file also serves.
use actix_web::{web, HttpResponse};
use qaboard_outbound::{integration_hosts, WebhookRequest};

use crate::extract::JsonBody;
use crate::integrations::{outbound_error, upstream};
use crate::{run_db, ApiError, AppState};

/// Sends the webhook described by the body (`{method, url, headers?, params?, data?, json?,
/// auth?, cookies?}`; unknown keys ignored) and answers the upstream status, headers (minus
/// hop-by-hop, `Set-Cookie`, `Content-Length`) and body. Reachable: `proxy_allowed_hosts`, the
/// QA-Board origin (`url` setting) and the hosts named in projects' integrations
/// (`data.qatools_config.integrations[].webhook.url` / `.href`); loopback, link-local and
/// private addresses only for hosts the operator listed. 400 bad request, 403 refused target.
pub async fn proxy(state: web::Data<AppState>, body: JsonBody) -> Result<HttpResponse, ApiError> {
    let request: WebhookRequest = serde_json::from_value(serde_json::Value::Object(body.0))
        .map_err(|e| ApiError::bad(format!("invalid webhook: {e}")))?;
    let pool = state.pool.clone();
    let projects =
        run_db(move || Ok(qaboard_db::read::project_summaries(&mut pool.get()?)?)).await?;
    let mut hosts: Vec<String> = Vec::new();
    for p in &projects {
        if let Some(integrations) = p.data.pointer("/qatools_config/integrations") {
            for h in integration_hosts(integrations) {
                if !hosts.contains(&h) {
                    hosts.push(h);
                }
            }
        }
    }
    Ok(match state.outbound.webhook(&request, &hosts).await {
        Ok(answer) => upstream(&answer),
        Err(e) => outbound_error(&e),
    })
}
