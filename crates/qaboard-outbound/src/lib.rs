//! Outbound HTTP for the QA-Board backend: the avatar/badge proxy, GitLab manual jobs, Jenkins
//! builds and the webhook proxy (OPERATIONS.md section 7, issue 14).
//!
//! One [`Outbound`] is built at start from [`OutboundSettings`] and shared by the handlers. It
//! owns the only HTTP client (reqwest over rustls, TLS verified, no system proxy, no automatic
//! redirects) and the SSRF guard (module `guard`): per-use allow-lists checked on every URL and
//! redirect hop, plus a DNS resolver dropping loopback/link-local/private addresses of hosts the
//! operator did not configure. Functions take typed inputs and return typed results
//! ([`UpstreamResponse`], [`JenkinsStatus`], ...) or an [`OutboundError`] whose
//! [`status_code`](OutboundError::status_code) the API answers with `{"error": message}`.

#![warn(missing_docs)]

mod error;
mod fetch;
mod gitlab;
mod gitlab_session;
mod guard;
mod jenkins;
mod proxy;
mod settings;
mod webhook;

use std::sync::Arc;

use bytes::Bytes;

pub use error::{OutboundError, Result};
pub use gitlab::{GitlabJobBody, GitlabJobQuery, MISSING_TOKEN_ERROR};
pub use gitlab_session::{
    parse_gitlab_auth, GitlabLogin, FAILED_LOGIN_TTL, SESSION_COOKIE, SESSION_TTL,
};
pub use guard::{is_public, BlockedAddress, GRAVATAR_HOSTS};
pub use jenkins::{JenkinsStatus, JenkinsTrigger, MISSING_BUILD_URL_ERROR};
pub use proxy::{proxy_url_from_query, PROXY_FORWARDED_HEADERS};
pub use settings::{
    parse_gitlab_auth_hosts, parse_jenkins_auth, JenkinsCredentials, Limits, OutboundSettings,
    Secret,
};
pub use webhook::{integration_hosts, WebhookAuth, WebhookRequest};

/// An upstream answer a handler sends on: status, the headers it may forward, and the body.
///
/// Header names are lowercase; values that are not visible ASCII are left out. Plain strings
/// keep this crate's `http` version out of the API crate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpstreamResponse {
    /// HTTP status of the upstream answer (e.g. 200, 404).
    pub status: u16,
    /// Forwardable headers, lowercase names, in upstream order.
    pub headers: Vec<(String, String)>,
    /// The body, at most the use's size cap.
    pub body: Bytes,
}

impl UpstreamResponse {
    /// The first value of header `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// The outbound client: build once with [`Outbound::new`], share (it is cheap to clone).
#[derive(Clone)]
pub struct Outbound {
    client: reqwest::Client,
    guard: guard::Guard,
    settings: Arc<OutboundSettings>,
    cache: proxy::ProxyCache,
    sessions: gitlab_session::SessionCache,
}

impl std::fmt::Debug for Outbound {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Outbound")
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

impl Outbound {
    /// Builds the client from the settings.
    ///
    /// Errors: [`OutboundError::Internal`] when the TLS backend cannot start (no usable roots).
    pub fn new(settings: OutboundSettings) -> Result<Outbound> {
        let guard = guard::Guard::new(&settings);
        let client = reqwest::Client::builder()
            .use_rustls_tls()
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .connect_timeout(settings.limits.connect_timeout)
            .dns_resolver(Arc::new(guard.resolver()))
            .user_agent(concat!("qaboard/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| OutboundError::Internal(format!("cannot build the HTTP client: {e}")))?;
        let cache = proxy::new_cache(&settings.limits);
        Ok(Outbound {
            client,
            guard,
            settings: Arc::new(settings),
            cache,
            sessions: gitlab_session::new_session_cache(),
        })
    }

    /// The settings this client was built with.
    pub fn settings(&self) -> &OutboundSettings {
        &self.settings
    }
}

/// Keeps the headers `keep` accepts, as lowercase strings.
pub(crate) fn header_pairs(
    headers: &reqwest::header::HeaderMap,
    keep: impl Fn(&str) -> bool,
) -> Vec<(String, String)> {
    headers
        .iter()
        .filter(|(name, _)| keep(name.as_str()))
        .filter_map(|(name, value)| {
            Some((name.as_str().to_owned(), value.to_str().ok()?.to_owned()))
        })
        .collect()
}
