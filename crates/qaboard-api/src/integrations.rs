//! The outbound HTTP client of the integrations (issue 14, OPERATIONS.md §7): built from the
//! settings, and the translation of its answers and errors to HTTP. The routes are in
//! `routes/gitlab.rs`, `routes/jenkins.rs` and `routes/webhook.rs`; every rule about what may be
//! reached (allow-lists, addresses refused after DNS resolution and on redirects, timeouts, size
//! caps, forwarded headers) lives in `qaboard-outbound`.
use actix_web::http::StatusCode;
use actix_web::HttpResponse;
use qaboard_outbound::{
    parse_gitlab_auth_hosts, parse_jenkins_auth, Outbound, OutboundError, OutboundSettings,
    UpstreamResponse,
};
use qaboard_settings::{ExposeSecret, Settings};
use serde_json::json;

/// The outbound settings of a server: `gitlab_host` / `GITLAB_HOST`, `gitlab_access_token` /
/// `GITLAB_ACCESS_TOKEN`, the hosts of `GITLAB_AUTH`, `JENKINS_AUTH`, `proxy_allowed_hosts` and
/// the public `url` (the QA-Board origin webhooks may target). Errors name the setting whose
/// JSON is malformed (without repeating it: it holds credentials).
pub fn outbound_settings(s: &Settings) -> Result<OutboundSettings, String> {
    let gitlab_auth = s
        .gitlab_auth
        .as_ref()
        .map(|v| v.expose_secret().to_string());
    let jenkins_auth = s
        .jenkins_auth
        .as_ref()
        .map(|v| v.expose_secret().to_string());
    Ok(OutboundSettings {
        gitlab_host: s.gitlab_host.clone().filter(|h| !h.trim().is_empty()),
        gitlab_access_token: s
            .gitlab_access_token
            .as_ref()
            .map(|t| t.expose_secret().trim().to_string())
            .filter(|t| !t.is_empty())
            .map(qaboard_outbound::Secret::new),
        gitlab_auth_hosts: parse_gitlab_auth_hosts(gitlab_auth.as_deref().unwrap_or(""))
            .map_err(|e| e.to_string())?,
        gitlab_logins: qaboard_outbound::parse_gitlab_auth(gitlab_auth.as_deref().unwrap_or(""))
            .map_err(|e| e.to_string())?,
        jenkins_auth: parse_jenkins_auth(jenkins_auth.as_deref().unwrap_or(""))
            .map_err(|e| e.to_string())?,
        proxy_allowed_hosts: s.proxy_allowed_hosts.clone(),
        qaboard_origin: s.url.clone().filter(|u| !u.trim().is_empty()),
        limits: Default::default(),
    })
}

/// The client of a server. A malformed `GITLAB_AUTH` / `JENKINS_AUTH` is logged and left out
/// (the server binary refuses to start on it, see [`outbound_settings`]).
pub fn outbound_from_settings(s: &Settings) -> Outbound {
    let settings = outbound_settings(s).unwrap_or_else(|e| {
        log::error!("{e}: GitLab/Jenkins credentials ignored");
        OutboundSettings {
            gitlab_host: s.gitlab_host.clone(),
            proxy_allowed_hosts: s.proxy_allowed_hosts.clone(),
            qaboard_origin: s.url.clone(),
            ..Default::default()
        }
    });
    match Outbound::new(settings) {
        Ok(o) => o,
        Err(e) => {
            // Only when the TLS backend cannot start; without roots, https calls fail later.
            log::error!("outbound HTTP client: {e}");
            Outbound::new(OutboundSettings::default()).expect("the default HTTP client builds")
        }
    }
}

/// An upstream answer sent on: its status, its forwardable headers, its body.
pub(crate) fn upstream(answer: &UpstreamResponse) -> HttpResponse {
    let status = StatusCode::from_u16(answer.status).unwrap_or(StatusCode::BAD_GATEWAY);
    let mut res = HttpResponse::build(status);
    for (name, value) in &answer.headers {
        res.append_header((name.as_str(), value.as_str()));
    }
    res.body(answer.body.clone())
}

/// An outbound error as `{"error": message}` with its status (404, 403, 400, 502, 504, 500).
pub(crate) fn outbound_error(e: &OutboundError) -> HttpResponse {
    let status = StatusCode::from_u16(e.status_code()).unwrap_or(StatusCode::BAD_GATEWAY);
    HttpResponse::build(status).json(json!({ "error": e.message() }))
}
