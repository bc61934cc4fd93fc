//! `POST /api/v1/webhook/proxy/`: the webapp's integration buttons and status checks, sent from
//! the server to avoid CORS (orig: `api/integrations.py` `proxy_webook`; OPERATIONS.md section 7).

use bytes::Bytes;
use reqwest::header::{HeaderMap, HeaderName, HeaderValue, CONTENT_TYPE, COOKIE};
use reqwest::Method;
use serde::Deserialize;
use url::Url;

use crate::error::{OutboundError, Result};
use crate::fetch::{Outgoing, Policy};
use crate::guard::{HostRule, Reach, Refusal};
use crate::{header_pairs, Outbound, UpstreamResponse};

/// Hop-by-hop headers (RFC 9110 section 7.6.1) and headers the client must not set or receive.
const HOP_BY_HOP: [&str; 9] = [
    "connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "proxy-connection",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
];

/// Basic auth of a webhook (`auth: {username, password}` in qaboard.yaml).
#[derive(Debug, Clone, Default, Deserialize)]
pub struct WebhookAuth {
    /// User name.
    #[serde(default)]
    pub username: String,
    /// Password.
    #[serde(default)]
    pub password: String,
}

/// The body the webapp posts: a qaboard.yaml `integrations[].webhook`
/// (`{method, url, headers?, params?, data?, json?, auth?, cookies?}`, the keyword arguments of
/// python-requests' `Request`) or a status check `{method: "HEAD", url, …}`. Unknown keys are
/// ignored (the original crashed on them).
#[derive(Debug, Clone, Default, Deserialize)]
pub struct WebhookRequest {
    /// GET, HEAD, POST or PUT (any case; default GET).
    #[serde(default)]
    pub method: Option<String>,
    /// Absolute URL, or a path resolved against the QA-Board origin.
    #[serde(default)]
    pub url: Option<String>,
    /// Request headers (values as strings; numbers and booleans as JSON text).
    #[serde(default)]
    pub headers: Option<serde_json::Map<String, serde_json::Value>>,
    /// Query parameters appended to the URL.
    #[serde(default)]
    pub params: Option<serde_json::Map<String, serde_json::Value>>,
    /// Form body (an object, sent `application/x-www-form-urlencoded`) or raw text body.
    #[serde(default)]
    pub data: Option<serde_json::Value>,
    /// JSON body (used when `data` is absent, as python-requests).
    #[serde(default)]
    pub json: Option<serde_json::Value>,
    /// Basic auth.
    #[serde(default)]
    pub auth: Option<WebhookAuth>,
    /// Cookies sent in one `Cookie` header.
    #[serde(default)]
    pub cookies: Option<serde_json::Map<String, serde_json::Value>>,
}

impl Outbound {
    /// Sends one webhook and returns the upstream status, headers (minus hop-by-hop,
    /// `Set-Cookie` and `Content-Length`) and body (≤ 1 MiB). The webapp reads the answer's
    /// `status`/`statusText`, so a handler answers with the upstream status.
    ///
    /// Reachable hosts: `proxy_allowed_hosts`, the QA-Board origin, and `integration_hosts`
    /// (entries `host` or `host:port` the caller collected from projects' integrations; these are
    /// not trusted with loopback/private addresses, the others are). Every redirect hop is
    /// re-checked; credentials are dropped when a redirect changes origin. TLS is verified;
    /// connect 2 s, whole exchange 10 s.
    ///
    /// Errors: 400 for a missing/invalid URL, another scheme, a method other than
    /// GET/HEAD/POST/PUT, or an invalid header; 403 for a host not allowed or resolving to
    /// refused addresses; 502/504 for upstream failures.
    pub async fn webhook(
        &self,
        request: &WebhookRequest,
        integration_hosts: &[String],
    ) -> Result<UpstreamResponse> {
        let outgoing = self.webhook_request(request)?;
        let extra: Vec<HostRule> = integration_hosts
            .iter()
            .filter_map(|h| HostRule::parse(h))
            .collect();
        let limits = &self.settings.limits;
        let policy = Policy {
            reach: Reach::Webhook(&extra),
            timeout: limits.webhook_timeout,
            max_bytes: limits.webhook_max_bytes,
            follow_redirects: true,
        };
        let fetched = self.fetch(outgoing, policy, webhook_refusal).await?;
        Ok(UpstreamResponse {
            status: fetched.status.as_u16(),
            headers: header_pairs(&fetched.headers, |name| {
                !HOP_BY_HOP.contains(&name) && name != "set-cookie" && name != "content-length"
            }),
            body: fetched.body,
        })
    }

    fn webhook_request(&self, request: &WebhookRequest) -> Result<Outgoing> {
        let bad = |m: String| OutboundError::BadRequest(m);
        let method = request
            .method
            .as_deref()
            .unwrap_or("GET")
            .to_ascii_uppercase();
        let method = match method.as_str() {
            "GET" => Method::GET,
            "HEAD" => Method::HEAD,
            "POST" => Method::POST,
            "PUT" => Method::PUT,
            other => return Err(bad(format!("webhook method {other} is not allowed"))),
        };
        let raw = request
            .url
            .as_deref()
            .map(str::trim)
            .filter(|u| !u.is_empty())
            .ok_or_else(|| bad("missing `url`".into()))?;
        let mut url = match Url::parse(raw) {
            Ok(url) => url,
            Err(url::ParseError::RelativeUrlWithoutBase) => {
                let origin = self
                    .settings
                    .qaboard_origin
                    .as_deref()
                    .and_then(|o| Url::parse(o).ok())
                    .ok_or_else(|| bad(format!("not an absolute URL: {raw}")))?;
                origin
                    .join(raw)
                    .map_err(|_| bad(format!("not a URL: {raw}")))?
            }
            Err(_) => return Err(bad(format!("not a URL: {raw}"))),
        };
        if let Some(params) = &request.params {
            let mut query = url.query_pairs_mut();
            for (key, value) in params {
                query.append_pair(key, &plain(value));
            }
        }

        let mut headers = HeaderMap::new();
        for (name, value) in request.headers.iter().flatten() {
            let lower = name.to_ascii_lowercase();
            if HOP_BY_HOP.contains(&lower.as_str()) || lower == "host" || lower == "content-length"
            {
                continue;
            }
            let name = HeaderName::from_bytes(name.as_bytes())
                .map_err(|_| bad(format!("invalid header name {name}")))?;
            let value = HeaderValue::from_str(&plain(value))
                .map_err(|_| bad(format!("invalid value for header {name}")))?;
            headers.append(name, value);
        }
        if let Some(cookies) = &request.cookies {
            let line: Vec<String> = cookies
                .iter()
                .map(|(k, v)| format!("{k}={}", plain(v)))
                .collect();
            if !line.is_empty() {
                let value = HeaderValue::from_str(&line.join("; "))
                    .map_err(|_| bad("invalid cookies".into()))?;
                headers.insert(COOKIE, value);
            }
        }

        let data = request.data.as_ref().filter(|d| !d.is_null());
        let body = match (data, &request.json) {
            (Some(serde_json::Value::Object(form)), _) => {
                let mut encoded = url::form_urlencoded::Serializer::new(String::new());
                for (key, value) in form {
                    encoded.append_pair(key, &plain(value));
                }
                default_content_type(&mut headers, "application/x-www-form-urlencoded");
                Some(Bytes::from(encoded.finish()))
            }
            (Some(other), _) => Some(Bytes::from(plain(other))),
            (None, Some(json)) => {
                default_content_type(&mut headers, "application/json");
                Some(Bytes::from(json.to_string()))
            }
            (None, None) => None,
        };
        Ok(Outgoing {
            method,
            url,
            headers,
            body,
            basic_auth: request
                .auth
                .as_ref()
                .map(|a| (a.username.clone(), a.password.clone())),
        })
    }
}

/// The hosts a project's integrations name, as `host:port` entries for the `integration_hosts`
/// argument of [`Outbound::webhook`]: the absolute `webhook.url` and `href` of each item of
/// `integrations` (the `integrations` list of a project's qaboard.yaml, OPERATIONS.md section 7:
/// the webhook allow-list defaults to these plus the QA-Board origin). Other shapes are skipped.
///
/// ```
/// # use qaboard_outbound::integration_hosts;
/// let integrations = serde_json::json!([
///     {"text": "Deploy", "webhook": {"method": "POST", "url": "https://hooks.example.com/x"}},
///     {"text": "Docs", "href": "http://docs.example.com:8080/a"},
///     {"text": "Relative", "href": "/tests"},
/// ]);
/// assert_eq!(integration_hosts(&integrations), ["hooks.example.com:443", "docs.example.com:8080"]);
/// ```
pub fn integration_hosts(integrations: &serde_json::Value) -> Vec<String> {
    let mut hosts: Vec<String> = Vec::new();
    for item in integrations.as_array().into_iter().flatten() {
        let urls = [
            item.get("webhook").and_then(|w| w.get("url")),
            item.get("href"),
        ];
        for url in urls.into_iter().flatten().filter_map(|u| u.as_str()) {
            let Ok(url) = Url::parse(url) else { continue };
            if !matches!(url.scheme(), "http" | "https") {
                continue;
            }
            if let (Some(host), Some(port)) = (url.host_str(), url.port_or_known_default()) {
                let entry = format!("{host}:{port}");
                if !hosts.contains(&entry) {
                    hosts.push(entry);
                }
            }
        }
    }
    hosts
}

fn default_content_type(headers: &mut HeaderMap, value: &'static str) {
    headers
        .entry(CONTENT_TYPE)
        .or_insert(HeaderValue::from_static(value));
}

/// A JSON value as query/form/header text: strings as they are, others as JSON.
fn plain(value: &serde_json::Value) -> String {
    match value {
        serde_json::Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn webhook_refusal(refusal: Refusal) -> OutboundError {
    match refusal {
        Refusal::BadUrl(m) => OutboundError::BadRequest(m),
        Refusal::NotAllowed(m) | Refusal::PrivateAddress(m) => OutboundError::Forbidden(m),
    }
}
