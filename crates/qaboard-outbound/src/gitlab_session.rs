//! `GITLAB_AUTH`: a GitLab web session per configured host, so the avatar proxy can fetch images
//! of private projects and users (OPERATIONS.md section 7).
//!
//! GitLab's API gives no session cookie, so, as the original's `gitlab_session_cookie`, we sign
//! in through its HTML form: `GET /users/sign_in` (which sets a first `_gitlab_session` and
//! renders the forms with their CSRF `authenticity_token`), then `POST` the form whose id is
//! `new_<type>` (`type` = `user` for GitLab's own accounts, `ldap_user` for LDAP) with
//! `username`, `password` and the token. GitLab answers a redirect that sets the signed-in
//! `_gitlab_session`; re-rendering the form (200) means the credentials were refused.
//!
//! Differences from the original, on purpose: the login is lazy (first proxied request to the
//! host, not at start), cookies stay in memory (no cookie file with secrets on disk; each server
//! process signs in once), a signed-in cookie is reused for [`SESSION_TTL`] and a failed login is
//! retried only after [`FAILED_LOGIN_TTL`], so a wrong password never hammers GitLab. The HTML
//! is parsed with `scraper` (html5ever), not regular expressions.
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use moka::future::Cache;
use moka::Expiry;
use reqwest::header::{HeaderValue, CONTENT_TYPE, COOKIE, LOCATION, SET_COOKIE};
use reqwest::Method;
use serde::Deserialize;
use url::Url;

use crate::error::{OutboundError, Result};
use crate::fetch::{Outgoing, Policy};
use crate::guard::{Reach, Refusal};
use crate::settings::Secret;
use crate::Outbound;

/// The cookie GitLab keeps its web session in.
pub const SESSION_COOKIE: &str = "_gitlab_session";
/// How long a signed-in session cookie is reused (GitLab's own sessions last a week by default).
pub const SESSION_TTL: Duration = Duration::from_secs(3600);
/// How long a failed sign-in is remembered before the next attempt.
pub const FAILED_LOGIN_TTL: Duration = Duration::from_secs(300);

/// One entry of `GITLAB_AUTH` (JSON `{host: {user, password, type?, http?}}`, as the original).
#[derive(Clone)]
pub struct GitlabLogin {
    /// The key: `host` or `host:port`, as in the proxied URLs.
    pub host: String,
    /// The account's user name (or LDAP login).
    pub user: String,
    /// Its password.
    pub password: Secret,
    /// The sign-in form: `user` (default) or `ldap_user`; letters and `_` only.
    pub kind: String,
    /// Sign in over `http://` instead of `https://`.
    pub http: bool,
}

impl std::fmt::Debug for GitlabLogin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GitlabLogin")
            .field("host", &self.host)
            .field("user", &self.user)
            .field("kind", &self.kind)
            .field("http", &self.http)
            .finish_non_exhaustive()
    }
}

#[derive(Deserialize)]
struct Entry {
    user: String,
    password: String,
    #[serde(rename = "type", default)]
    kind: Option<String>,
    #[serde(default)]
    http: Option<serde_json::Value>,
}

/// Parses `GITLAB_AUTH`. An empty string means none.
///
/// Errors: [`OutboundError::Internal`] when it is not `{host: {user, password, type?, http?}}`
/// or a `type` is not letters and `_` (the message never repeats the value: it holds passwords).
pub fn parse_gitlab_auth(json: &str) -> Result<Vec<GitlabLogin>> {
    if json.trim().is_empty() {
        return Ok(Vec::new());
    }
    let map: BTreeMap<String, Entry> = serde_json::from_str(json).map_err(|e| {
        OutboundError::Internal(format!(
            "GITLAB_AUTH must be JSON {{host: {{user, password, type?, http?}}}} (line {}, column {})",
            e.line(),
            e.column()
        ))
    })?;
    map.into_iter()
        .map(|(host, e)| {
            let kind = e.kind.unwrap_or_else(|| "user".to_string());
            if kind.is_empty() || !kind.chars().all(|c| c.is_ascii_lowercase() || c == '_') {
                return Err(OutboundError::Internal(format!(
                    "GITLAB_AUTH: the type of {host} must be user or ldap_user"
                )));
            }
            let http = match e.http {
                None | Some(serde_json::Value::Null) => false,
                Some(serde_json::Value::Bool(b)) => b,
                // The original tests truthiness: any other non-empty value.
                Some(v) => !matches!(v.as_str(), Some("") | Some("false") | Some("0")),
            };
            Ok(GitlabLogin {
                host,
                user: e.user,
                password: Secret::new(e.password),
                kind,
                http,
            })
        })
        .collect()
}

/// A cached sign-in: the cookie, or `None` after a failure.
pub(crate) type SessionCache = Cache<String, Option<Arc<str>>>;

struct SessionExpiry;

impl Expiry<String, Option<Arc<str>>> for SessionExpiry {
    fn expire_after_create(
        &self,
        _key: &String,
        value: &Option<Arc<str>>,
        _now: Instant,
    ) -> Option<Duration> {
        Some(if value.is_some() {
            SESSION_TTL
        } else {
            FAILED_LOGIN_TTL
        })
    }
}

pub(crate) fn new_session_cache() -> SessionCache {
    Cache::builder()
        .max_capacity(64)
        .expire_after(SessionExpiry)
        .build()
}

/// `host` or `host:port` of a URL, as the keys of `GITLAB_AUTH`.
fn host_key(url: &Url) -> Option<String> {
    let host = url.host_str()?;
    Some(match url.port() {
        Some(p) => format!("{host}:{p}"),
        None => host.to_string(),
    })
}

/// The `action` and `authenticity_token` of the sign-in form `form#new_<kind>`.
fn sign_in_form(html: &str, kind: &str) -> Option<(String, String)> {
    let doc = scraper::Html::parse_document(html);
    let form_sel = scraper::Selector::parse(&format!("form#new_{kind}")).ok()?;
    let token_sel = scraper::Selector::parse(r#"input[name="authenticity_token"]"#).ok()?;
    let form = doc.select(&form_sel).next()?;
    let action = form.value().attr("action")?.to_string();
    let token = form.select(&token_sel).next()?.value().attr("value")?;
    Some((action, token.to_string()))
}

/// The `name=value` pairs of every `Set-Cookie` (attributes dropped).
fn set_cookies(headers: &reqwest::header::HeaderMap) -> Vec<(String, String)> {
    headers
        .get_all(SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .filter_map(|v| {
            let pair = v.split(';').next()?;
            let (name, value) = pair.split_once('=')?;
            Some((name.trim().to_string(), value.trim().to_string()))
        })
        .collect()
}

fn login_refusal(refusal: Refusal) -> OutboundError {
    let (Refusal::BadUrl(m) | Refusal::NotAllowed(m) | Refusal::PrivateAddress(m)) = refusal;
    OutboundError::Forbidden(m)
}

impl Outbound {
    /// The `Cookie` header for a proxied `url` whose host has `GITLAB_AUTH` credentials: signs in
    /// on first use (see the module). `None` for other hosts, and when signing in failed (logged;
    /// the image is then fetched without a session, as a public one).
    pub(crate) async fn gitlab_session_cookie(&self, url: &Url) -> Option<HeaderValue> {
        let key = host_key(url)?;
        let login = self
            .settings
            .gitlab_logins
            .iter()
            .find(|l| l.host.eq_ignore_ascii_case(&key))?
            .clone();
        let cookie = self
            .sessions
            .get_with(key.to_ascii_lowercase(), async {
                match self.gitlab_sign_in(&login).await {
                    Ok(c) => {
                        log::info!("signed in to GitLab {} as {}", login.host, login.user);
                        Some(Arc::from(c))
                    }
                    Err(e) => {
                        log::warn!(
                            "GITLAB_AUTH: cannot sign in to {} as {}: {} (retried in {} s)",
                            login.host,
                            login.user,
                            e.message(),
                            FAILED_LOGIN_TTL.as_secs()
                        );
                        None
                    }
                }
            })
            .await?;
        HeaderValue::from_str(&format!("{SESSION_COOKIE}={cookie}")).ok()
    }

    /// Signs in to one GitLab; the signed-in `_gitlab_session` value.
    ///
    /// Errors: [`OutboundError::Upstream`] when the sign-in page has no `new_<type>` form or the
    /// answer sets no session, [`OutboundError::Forbidden`] when GitLab refused the credentials,
    /// and the fetch errors (timeouts, refused addresses).
    pub(crate) async fn gitlab_sign_in(&self, login: &GitlabLogin) -> Result<String> {
        let scheme = if login.http { "http" } else { "https" };
        let base = Url::parse(&format!("{scheme}://{}/", login.host)).map_err(|_| {
            OutboundError::Internal(format!("GITLAB_AUTH: bad host {}", login.host))
        })?;
        let limits = &self.settings.limits;
        let policy = Policy {
            reach: Reach::Proxy,
            timeout: limits.proxy_timeout,
            max_bytes: limits.proxy_max_bytes,
            follow_redirects: false,
        };
        let sign_in = base
            .join("users/sign_in")
            .map_err(|e| OutboundError::Internal(e.to_string()))?;
        let page = self
            .fetch(Outgoing::get(sign_in.clone()), policy, login_refusal)
            .await?;
        let first = set_cookies(&page.headers);
        let html = String::from_utf8_lossy(&page.body);
        let (action, token) = sign_in_form(&html, &login.kind).ok_or_else(|| {
            OutboundError::Upstream(format!(
                "{}/users/sign_in has no form new_{} (HTTP {})",
                login.host,
                login.kind,
                page.status.as_u16()
            ))
        })?;
        let target = sign_in.join(&action).map_err(|_| {
            OutboundError::Upstream(format!("{} sent a bad form action", login.host))
        })?;
        if target.origin() != base.origin() {
            return Err(OutboundError::Upstream(format!(
                "the sign-in form of {} posts to another origin",
                login.host
            )));
        }
        let body = url::form_urlencoded::Serializer::new(String::new())
            .append_pair("username", &login.user)
            .append_pair("password", login.password.expose())
            .append_pair("authenticity_token", &token)
            .finish();
        let mut post = Outgoing::get(target);
        post.method = Method::POST;
        post.body = Some(body.into());
        post.headers.insert(
            CONTENT_TYPE,
            HeaderValue::from_static("application/x-www-form-urlencoded"),
        );
        let cookie_line = first
            .iter()
            .map(|(n, v)| format!("{n}={v}"))
            .collect::<Vec<_>>()
            .join("; ");
        if let Ok(v) = HeaderValue::from_str(&cookie_line) {
            if !cookie_line.is_empty() {
                post.headers.insert(COOKIE, v);
            }
        }
        let answer = self.fetch(post, policy, login_refusal).await?;
        let back_to_form = answer
            .headers
            .get(LOCATION)
            .and_then(|l| l.to_str().ok())
            .is_some_and(|l| l.contains("/users/sign_in"));
        if !answer.status.is_redirection() || back_to_form {
            return Err(OutboundError::Forbidden(format!(
                "{} refused the credentials of {} (HTTP {})",
                login.host,
                login.user,
                answer.status.as_u16()
            )));
        }
        set_cookies(&answer.headers)
            .into_iter()
            .find(|(n, _)| n == SESSION_COOKIE)
            .map(|(_, v)| v)
            .ok_or_else(|| {
                OutboundError::Upstream(format!("{} set no {SESSION_COOKIE}", login.host))
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_original_shape() {
        let l = parse_gitlab_auth(
            r#"{"gitlab.example.com": {"user": "bot", "password": "p"},
                "127.0.0.1:8080": {"user": "u", "password": "q", "type": "ldap_user", "http": true}}"#,
        )
        .unwrap();
        assert_eq!(l.len(), 2);
        assert_eq!(
            (l[0].host.as_str(), l[0].kind.as_str(), l[0].http),
            ("127.0.0.1:8080", "ldap_user", true)
        );
        assert_eq!((l[1].kind.as_str(), l[1].http), ("user", false));
        assert!(!format!("{:?}", l[0]).contains('q'));
        assert!(parse_gitlab_auth("").unwrap().is_empty());
        assert!(
            parse_gitlab_auth(r#"{"h": {"user": "u", "password": "p", "type": "x\"]"}}"#).is_err()
        );
        let err = parse_gitlab_auth(r#"{"h": {"user": "u"}}"#).unwrap_err();
        assert!(err.message().contains("GITLAB_AUTH"));
    }

    #[test]
    fn finds_the_form_of_the_type() {
        let html = r#"<html><body>
          <form class="x" id="new_ldap_user" action="/users/auth/ldapmain/callback" method="post">
            <input type="hidden" name="authenticity_token" value="LDAP-TOKEN"></form>
          <form id="new_user" action="/users/sign_in" accept-charset="UTF-8" method="post">
            <input type="hidden" name="authenticity_token" value="T0K+/=" autocomplete="off">
          </form></body></html>"#;
        assert_eq!(
            sign_in_form(html, "user"),
            Some(("/users/sign_in".into(), "T0K+/=".into()))
        );
        assert_eq!(
            sign_in_form(html, "ldap_user"),
            Some(("/users/auth/ldapmain/callback".into(), "LDAP-TOKEN".into()))
        );
        assert_eq!(sign_in_form(html, "saml_user"), None);
    }
}
