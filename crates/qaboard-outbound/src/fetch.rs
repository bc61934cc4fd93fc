//! The one request loop: guard check, send, manual redirects (each hop re-checked), one deadline
//! for the whole exchange, and a body size cap enforced while streaming.

use std::time::Duration;

use bytes::{Bytes, BytesMut};
use reqwest::header::{HeaderMap, HeaderName, AUTHORIZATION, COOKIE, LOCATION};
use reqwest::{Method, StatusCode};
use url::Url;

use crate::error::{OutboundError, Result};
use crate::guard::{Reach, Refusal};
use crate::Outbound;

/// A request before it is sent; cloned for each redirect hop.
#[derive(Debug, Clone)]
pub(crate) struct Outgoing {
    pub method: Method,
    pub url: Url,
    pub headers: HeaderMap,
    pub body: Option<Bytes>,
    /// Basic auth (user, password); dropped when a redirect leaves the origin.
    pub basic_auth: Option<(String, String)>,
}

impl Outgoing {
    pub(crate) fn get(url: Url) -> Outgoing {
        Outgoing {
            method: Method::GET,
            url,
            headers: HeaderMap::new(),
            body: None,
            basic_auth: None,
        }
    }
}

/// How one use talks to the outside.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Policy<'a> {
    pub reach: Reach<'a>,
    /// Deadline for the whole exchange: connects, redirects and the body.
    pub timeout: Duration,
    pub max_bytes: usize,
    /// Follow redirects (each hop re-checked); when false a 3xx is returned as the answer.
    pub follow_redirects: bool,
}

/// An upstream answer, fully read.
#[derive(Debug)]
pub(crate) struct Fetched {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Bytes,
}

/// Headers that carry credentials: dropped when a redirect goes to another origin.
const PRIVATE_HEADER: &str = "private-token";
const CRUMB_HEADER: &str = "jenkins-crumb";

impl Outbound {
    /// Sends `req` under `policy`. Refusals come back as [`Refusal`] wrapped by `refuse` so each
    /// use picks its status (the avatar proxy answers 404 for all of them).
    pub(crate) async fn fetch(
        &self,
        req: Outgoing,
        policy: Policy<'_>,
        refuse: fn(Refusal) -> OutboundError,
    ) -> Result<Fetched> {
        let host = req.url.host_str().unwrap_or_default().to_owned();
        match tokio::time::timeout(policy.timeout, self.fetch_inner(req, policy, refuse)).await {
            Ok(result) => result,
            Err(_) => Err(OutboundError::Timeout(format!(
                "{host} did not answer within {} s",
                policy.timeout.as_secs_f32()
            ))),
        }
    }

    async fn fetch_inner(
        &self,
        mut req: Outgoing,
        policy: Policy<'_>,
        refuse: fn(Refusal) -> OutboundError,
    ) -> Result<Fetched> {
        let mut hops = 0;
        loop {
            self.guard.check(&req.url, policy.reach).map_err(refuse)?;
            let host = req.url.host_str().unwrap_or_default().to_owned();
            let mut builder = self
                .client
                .request(req.method.clone(), req.url.clone())
                .headers(req.headers.clone());
            if let Some((user, password)) = &req.basic_auth {
                builder = builder.basic_auth(user, Some(password));
            }
            if let Some(body) = &req.body {
                builder = builder.body(body.clone());
            }
            let response = builder
                .send()
                .await
                .map_err(|e| OutboundError::from_reqwest(&e, &host))?;
            let status = response.status();
            // Host and path only: queries may carry tokens (Jenkins `token=`).
            log::debug!(
                "outbound {} {host}{} -> {}",
                req.method,
                req.url.path(),
                status.as_u16()
            );
            if policy.follow_redirects && status.is_redirection() {
                if let Some(location) = response.headers().get(LOCATION) {
                    hops += 1;
                    if hops > self.settings.limits.max_redirects {
                        return Err(OutboundError::Upstream(format!(
                            "too many redirects from {host}"
                        )));
                    }
                    let location = location.to_str().map_err(|_| {
                        OutboundError::Upstream(format!("{host} sent an unreadable Location"))
                    })?;
                    let next = req.url.join(location).map_err(|_| {
                        OutboundError::Upstream(format!("{host} redirected to an invalid URL"))
                    })?;
                    req = redirected(req, next, status);
                    continue;
                }
            }
            let headers = response.headers().clone();
            let body = read_capped(response, policy.max_bytes, &host).await?;
            return Ok(Fetched {
                status,
                headers,
                body,
            });
        }
    }
}

/// The request for the next hop (RFC 9110 section 15.4): 303, and 301/302 after a POST, become
/// a GET without body; credentials are dropped when the origin changes.
fn redirected(mut req: Outgoing, next: Url, status: StatusCode) -> Outgoing {
    let to_get = status == StatusCode::SEE_OTHER
        || (matches!(status, StatusCode::MOVED_PERMANENTLY | StatusCode::FOUND)
            && req.method == Method::POST);
    if to_get && req.method != Method::HEAD {
        req.method = Method::GET;
        req.body = None;
        req.headers.remove(reqwest::header::CONTENT_TYPE);
    }
    if next.origin() != req.url.origin() {
        req.basic_auth = None;
        for name in [AUTHORIZATION, COOKIE] {
            req.headers.remove(name);
        }
        for name in [PRIVATE_HEADER, CRUMB_HEADER] {
            req.headers.remove(HeaderName::from_static(name));
        }
    }
    req.url = next;
    req
}

/// Reads the body, failing as soon as it exceeds `max_bytes` (declared or streamed).
async fn read_capped(
    mut response: reqwest::Response,
    max_bytes: usize,
    host: &str,
) -> Result<Bytes> {
    let too_large = || {
        OutboundError::Upstream(format!(
            "the answer of {host} is larger than {max_bytes} bytes"
        ))
    };
    if response
        .content_length()
        .is_some_and(|len| len > max_bytes as u64)
    {
        return Err(too_large());
    }
    let mut body = BytesMut::new();
    while let Some(chunk) = response
        .chunk()
        .await
        .map_err(|e| OutboundError::from_reqwest(&e, host))?
    {
        if body.len() + chunk.len() > max_bytes {
            return Err(too_large());
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body.freeze())
}
