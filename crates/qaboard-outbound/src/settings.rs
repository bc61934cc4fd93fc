//! Settings of the outbound client, as the server's configuration gives them.

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use serde::Deserialize;

use crate::error::{OutboundError, Result};

/// A secret string (the GitLab access token, Jenkins tokens). `Debug` prints
/// `[redacted]`, so it never lands in logs by accident.
#[derive(Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret value.
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }
    /// The secret itself, for the one place that sends it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

/// One `JENKINS_AUTH` entry: basic-auth user and API token, plus the `Jenkins-Crumb` header value.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct JenkinsCredentials {
    /// Jenkins user name (basic auth).
    pub user: String,
    /// Jenkins API token (basic auth password).
    pub token: Secret,
    /// Value of the `Jenkins-Crumb` header (CSRF protection).
    #[serde(default)]
    pub crumb: Option<Secret>,
}

/// Timeouts and caps. Defaults follow OPERATIONS.md section 7.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// TCP+TLS connect timeout of every call (default 2 s).
    pub connect_timeout: Duration,
    /// Total time of one avatar/badge proxy request, redirects included (default 5 s).
    pub proxy_timeout: Duration,
    /// Total time of one webhook proxy request, redirects included (default 10 s).
    pub webhook_timeout: Duration,
    /// Total time of one GitLab or Jenkins API call (default 30 s; Jenkins is slow, the original
    /// waited up to 3.5 min).
    pub ci_timeout: Duration,
    /// Largest avatar/badge body accepted, in bytes (default 5 MiB).
    pub proxy_max_bytes: usize,
    /// Largest webhook answer accepted, in bytes (default 1 MiB).
    pub webhook_max_bytes: usize,
    /// Largest GitLab/Jenkins API answer accepted, in bytes (default 8 MiB).
    pub ci_max_bytes: usize,
    /// Redirects followed per request, each re-checked by the guard (default 5).
    pub max_redirects: usize,
    /// How long a proxied avatar/badge is reused (default 60 s).
    pub proxy_cache_ttl: Duration,
    /// Bytes of proxied bodies kept in the cache (default 32 MiB; 0 disables the cache).
    pub proxy_cache_bytes: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            connect_timeout: Duration::from_secs(2),
            proxy_timeout: Duration::from_secs(5),
            webhook_timeout: Duration::from_secs(10),
            ci_timeout: Duration::from_secs(30),
            proxy_max_bytes: 5 << 20,
            webhook_max_bytes: 1 << 20,
            ci_max_bytes: 8 << 20,
            max_redirects: 5,
            proxy_cache_ttl: Duration::from_secs(60),
            proxy_cache_bytes: 32 << 20,
        }
    }
}

/// Everything the outbound client needs, read once at start.
///
/// Mapping from the server configuration (OPERATIONS.md "Decisions" and section 7):
/// `gitlab_host` ← `GITLAB_HOST`; `gitlab_access_token` ← `GITLAB_ACCESS_TOKEN`;
/// `gitlab_auth_hosts` ← the keys of `GITLAB_AUTH` (see [`parse_gitlab_auth_hosts`]);
/// `jenkins_auth` ← `JENKINS_AUTH` (see [`parse_jenkins_auth`]);
/// `proxy_allowed_hosts` ← `proxy_allowed_hosts` / `QABOARD_PROXY_ALLOWED_HOSTS`;
/// `qaboard_origin` ← the public origin of the QA-Board server (e.g. `https://qa.example.com`).
///
/// Host entries are `host` (any port) or `host:port`, compared case-insensitively; IPv6
/// literals are written in brackets (`[::1]:8080`).
#[derive(Debug, Clone, Default)]
pub struct OutboundSettings {
    /// The configured GitLab, e.g. `https://gitlab.example.com` (may be `file://…` for git-only
    /// tests; GitLab API calls then answer 500).
    pub gitlab_host: Option<String>,
    /// Sent as `Private-Token` to `gitlab_host` and nowhere else.
    pub gitlab_access_token: Option<Secret>,
    /// Hosts of `GITLAB_AUTH`: the avatar proxy may reach them.
    pub gitlab_auth_hosts: Vec<String>,
    /// The credentials of `GITLAB_AUTH` (see [`crate::parse_gitlab_auth`]): the avatar proxy
    /// signs in to these hosts and sends their session cookie.
    pub gitlab_logins: Vec<crate::GitlabLogin>,
    /// Jenkins credentials per host name (`JENKINS_AUTH`). Only these hosts get Jenkins calls.
    pub jenkins_auth: BTreeMap<String, JenkinsCredentials>,
    /// Extra hosts both proxies may reach. Being listed also allows loopback/private addresses.
    pub proxy_allowed_hosts: Vec<String>,
    /// The QA-Board origin: webhooks may target it, and relative webhook URLs resolve against it.
    pub qaboard_origin: Option<String>,
    /// Timeouts, caps and cache sizes.
    pub limits: Limits,
}

/// Parses `JENKINS_AUTH` (JSON `{host: {user, token, crumb}}`, as the original's
/// `jenkins_hostname_credentials`). An empty string means no Jenkins.
///
/// Errors: [`OutboundError::Internal`] when the JSON does not have that shape (the message does
/// not repeat the value, which holds tokens).
pub fn parse_jenkins_auth(json: &str) -> Result<BTreeMap<String, JenkinsCredentials>> {
    if json.trim().is_empty() {
        return Ok(BTreeMap::new());
    }
    serde_json::from_str(json).map_err(|e| {
        OutboundError::Internal(format!(
            "JENKINS_AUTH must be JSON {{host: {{user, token, crumb}}}} (line {}, column {})",
            e.line(),
            e.column()
        ))
    })
}

/// Reads the host names of `GITLAB_AUTH` (JSON `{host: {user, password, type?, http?}}`), which
/// the avatar proxy may reach; the credentials are read by [`crate::parse_gitlab_auth`]. An
/// empty string means none.
///
/// Errors: [`OutboundError::Internal`] when it is not a JSON object.
pub fn parse_gitlab_auth_hosts(json: &str) -> Result<Vec<String>> {
    if json.trim().is_empty() {
        return Ok(Vec::new());
    }
    let map: serde_json::Map<String, serde_json::Value> =
        serde_json::from_str(json).map_err(|e| {
            OutboundError::Internal(format!(
                "GITLAB_AUTH must be a JSON object keyed by host (line {}, column {})",
                e.line(),
                e.column()
            ))
        })?;
    Ok(map.into_iter().map(|(host, _)| host).collect())
}
