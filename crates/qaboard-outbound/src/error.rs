//! The crate's error type and its HTTP status mapping.

/// Everything that can go wrong on an outbound call.
///
/// Every variant carries a human-readable message meant for the `{"error": "..."}` body the
/// webapp shows (`error.response.data.error`, see OPERATIONS.md). Secrets never appear in it.
/// The error is `Clone` so cached fetches can hand the same failure to coalesced callers.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OutboundError {
    /// The target is not one this use may reach (avatar proxy: "anything else 404 at once"),
    /// or the upstream has nothing to match (GitLab: no pipeline, no job of that name). HTTP 404.
    #[error("{0}")]
    NotFound(String),
    /// The target is known but refused: a `gitlab_host` other than the configured one, a Jenkins
    /// host without credentials, a webhook host not allowed, or an address that is loopback,
    /// link-local, private... after DNS resolution. HTTP 403.
    #[error("{0}")]
    Forbidden(String),
    /// The request itself is malformed: unparsable URL, scheme other than http(s), method not
    /// allowed, missing field. HTTP 400.
    #[error("{0}")]
    BadRequest(String),
    /// The upstream failed: connection refused, TLS error, body over the size cap, too many
    /// redirects, unreadable JSON, missing `Location`. HTTP 502.
    #[error("{0}")]
    Upstream(String),
    /// The upstream did not answer in time (connect or total timeout). HTTP 504.
    #[error("{0}")]
    Timeout(String),
    /// The server is missing configuration (e.g. `GITLAB_ACCESS_TOKEN`) or got an answer it cannot
    /// interpret (an unknown Jenkins result). HTTP 500, as the original.
    #[error("{0}")]
    Internal(String),
}

impl OutboundError {
    /// The HTTP status a handler answers with: 404, 403, 400, 502, 504 or 500.
    pub fn status_code(&self) -> u16 {
        match self {
            OutboundError::NotFound(_) => 404,
            OutboundError::Forbidden(_) => 403,
            OutboundError::BadRequest(_) => 400,
            OutboundError::Upstream(_) => 502,
            OutboundError::Timeout(_) => 504,
            OutboundError::Internal(_) => 500,
        }
    }

    /// The message for the `{"error": ...}` body.
    pub fn message(&self) -> &str {
        match self {
            OutboundError::NotFound(m)
            | OutboundError::Forbidden(m)
            | OutboundError::BadRequest(m)
            | OutboundError::Upstream(m)
            | OutboundError::Timeout(m)
            | OutboundError::Internal(m) => m,
        }
    }

    /// Classifies a reqwest failure: timeouts → [`OutboundError::Timeout`], an address refused by
    /// the guard's resolver → [`OutboundError::Forbidden`], anything else → [`OutboundError::Upstream`].
    /// The message names the host only (URLs may carry tokens in their query).
    pub(crate) fn from_reqwest(err: &reqwest::Error, host: &str) -> Self {
        if err.is_timeout() {
            return OutboundError::Timeout(format!("timed out talking to {host}"));
        }
        let mut source: Option<&(dyn std::error::Error + 'static)> = Some(err);
        while let Some(e) = source {
            if let Some(blocked) = e.downcast_ref::<crate::guard::BlockedAddress>() {
                return OutboundError::Forbidden(blocked.to_string());
            }
            source = e.source();
        }
        OutboundError::Upstream(format!("could not reach {host}: {}", describe(err)))
    }
}

/// The innermost cause of an error chain, which is where reqwest puts the useful words.
fn describe(err: &(dyn std::error::Error + 'static)) -> String {
    let mut last = err;
    while let Some(next) = last.source() {
        last = next;
    }
    last.to_string()
}

/// Result alias of this crate.
pub type Result<T> = std::result::Result<T, OutboundError>;
