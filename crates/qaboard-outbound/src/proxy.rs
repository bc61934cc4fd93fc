//! `GET /api/v1/gitlab/proxy?url=`: project avatars, committer avatars (gravatar), CI badges.

use std::borrow::Cow;
use std::sync::Arc;

use moka::future::Cache;
use percent_encoding::percent_decode_str;
use url::Url;

use crate::error::{OutboundError, Result};
use crate::fetch::{Outgoing, Policy};
use crate::guard::{Reach, Refusal};
use crate::settings::Limits;
use crate::{header_pairs, Outbound, UpstreamResponse};

/// The only upstream headers the avatar proxy forwards (OPERATIONS.md section 7).
pub const PROXY_FORWARDED_HEADERS: [&str; 4] =
    ["content-type", "cache-control", "etag", "last-modified"];

pub(crate) type ProxyCache = Cache<String, Arc<UpstreamResponse>>;

pub(crate) fn new_cache(limits: &Limits) -> ProxyCache {
    Cache::builder()
        .max_capacity(limits.proxy_cache_bytes)
        .weigher(|key: &String, value: &Arc<UpstreamResponse>| {
            let headers: usize = value.headers.iter().map(|(n, v)| n.len() + v.len()).sum();
            u32::try_from(key.len() + headers + value.body.len() + 64).unwrap_or(u32::MAX)
        })
        .time_to_live(limits.proxy_cache_ttl)
        .build()
}

/// The proxied URL from the raw query string of `/api/v1/gitlab/proxy`: everything after the
/// first `url=`, percent-decoded once. The webapp builds the query with `encodeURI` only, so the
/// target's own `?a=1&b=2` stays unescaped in it and must not be split on `&`; decoding once
/// undoes `encodeURI` (which turns `%` into `%25`, spaces into `%20`).
///
/// `None` when there is no `url=` or it is empty.
///
/// ```
/// # use qaboard_outbound::proxy_url_from_query;
/// let q = "url=https://gitlab.example.com/g/r/badges/master/pipeline.svg?style=flat&key_text=CI";
/// assert_eq!(proxy_url_from_query(q).unwrap(),
///            "https://gitlab.example.com/g/r/badges/master/pipeline.svg?style=flat&key_text=CI");
/// ```
pub fn proxy_url_from_query(raw_query: &str) -> Option<Cow<'_, str>> {
    let start = raw_query.find("url=")? + "url=".len();
    let raw = &raw_query[start..];
    if raw.is_empty() {
        return None;
    }
    Some(percent_decode_str(raw).decode_utf8_lossy())
}

/// Internal outcome of a fetch for the cache: cacheable or not.
#[derive(Clone)]
enum NotCached {
    Answer(Arc<UpstreamResponse>),
    Failed(OutboundError),
}

impl Outbound {
    /// Proxies one avatar/badge `GET`.
    ///
    /// Allowed targets: `GITLAB_HOST`'s host, `GITLAB_AUTH` hosts, gravatar
    /// ([`crate::GRAVATAR_HOSTS`]) and `proxy_allowed_hosts`, over http(s), on every redirect hop
    /// too. Connect timeout 2 s, whole exchange 5 s, body ≤ 5 MiB (see [`Limits`]). Only
    /// [`PROXY_FORWARDED_HEADERS`] are kept. Answers below 500 are cached for
    /// `limits.proxy_cache_ttl` (60 s) in a cache bounded by `limits.proxy_cache_bytes`;
    /// concurrent requests for one URL share one upstream fetch.
    ///
    /// Errors: [`OutboundError::NotFound`] for any refused target (bad URL, other scheme, host not
    /// allowed, private address) without contacting it; [`OutboundError::Timeout`];
    /// [`OutboundError::Upstream`] (unreachable, over the cap, too many redirects).
    pub async fn proxy(&self, url: &str) -> Result<Arc<UpstreamResponse>> {
        let url = Url::parse(url.trim())
            .map_err(|_| OutboundError::NotFound("not a proxied URL".into()))?;
        // Refuse before touching the cache, so a refused URL never costs anything.
        self.guard
            .check(&url, Reach::Proxy)
            .map_err(proxy_refusal)?;
        let key = url.as_str().to_owned();
        let fetch = async {
            match self.proxy_uncached(url).await {
                Ok(answer) if answer.status < 500 => Ok(answer),
                Ok(answer) => Err(NotCached::Answer(answer)),
                Err(e) => Err(NotCached::Failed(e)),
            }
        };
        if self.settings.limits.proxy_cache_bytes == 0 {
            return fetch.await.or_else(|e| match e {
                NotCached::Answer(answer) => Ok(answer),
                NotCached::Failed(e) => Err(e),
            });
        }
        match self.cache.try_get_with(key, fetch).await {
            Ok(answer) => Ok(answer),
            Err(e) => match &*e {
                NotCached::Answer(answer) => Ok(Arc::clone(answer)),
                NotCached::Failed(e) => Err(e.clone()),
            },
        }
    }

    async fn proxy_uncached(&self, url: Url) -> Result<Arc<UpstreamResponse>> {
        let limits = &self.settings.limits;
        let policy = Policy {
            reach: Reach::Proxy,
            timeout: limits.proxy_timeout,
            max_bytes: limits.proxy_max_bytes,
            follow_redirects: true,
        };
        let mut request = Outgoing::get(url);
        // A `GITLAB_AUTH` host gets its session cookie (dropped if a redirect leaves it).
        if let Some(cookie) = self.gitlab_session_cookie(&request.url).await {
            request.headers.insert(reqwest::header::COOKIE, cookie);
        }
        let fetched = self
            .fetch(request, policy, proxy_refusal)
            .await
            .map_err(|e| match e {
                // A name resolving to private addresses is refused like any other target.
                OutboundError::Forbidden(m) => OutboundError::NotFound(m),
                other => other,
            })?;
        Ok(Arc::new(UpstreamResponse {
            status: fetched.status.as_u16(),
            headers: header_pairs(&fetched.headers, |name| {
                PROXY_FORWARDED_HEADERS.contains(&name)
            }),
            body: fetched.body,
        }))
    }
}

/// The avatar proxy answers 404 for everything it refuses (OPERATIONS.md: "else 404 at once").
fn proxy_refusal(refusal: Refusal) -> OutboundError {
    let (Refusal::BadUrl(m) | Refusal::NotAllowed(m) | Refusal::PrivateAddress(m)) = refusal;
    OutboundError::NotFound(m)
}

#[cfg(test)]
mod tests {
    use super::proxy_url_from_query;

    #[test]
    fn query_extraction() {
        assert_eq!(proxy_url_from_query("url=").as_deref(), None);
        assert_eq!(proxy_url_from_query("x=1").as_deref(), None);
        assert_eq!(
            proxy_url_from_query("url=http://gravatar.com/avatar/ab%20c?d=identicon&s=40")
                .as_deref(),
            Some("http://gravatar.com/avatar/ab c?d=identicon&s=40")
        );
        assert_eq!(
            proxy_url_from_query("url=https://h/a%252Fb").as_deref(),
            Some("https://h/a%2Fb")
        );
        assert_eq!(
            proxy_url_from_query("url=https://h/x?url=y").as_deref(),
            Some("https://h/x?url=y")
        );
    }
}
