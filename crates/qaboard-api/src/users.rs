//! Users and sessions for the HTTP layer (issue 14, OPERATIONS.md §6): the per-process
//! [`Users`] state (cookie signer, cookie attributes, login rate limiter, LDAP settings); the
//! [`CurrentUser`](crate::extract::CurrentUser) extractor reads a request's session through it.
//!
//! Sessions live in the database (`sessions` table): the cookie only carries a signed random id,
//! so logout ends a session for every server process, and any process sharing the database and
//! the secret key accepts a session made by another.
//!
//! # Recording who did a write
//!
//! A handler that writes on behalf of the webapp takes `user: CurrentUser` and passes
//! [`CurrentUser::action`](crate::extract::CurrentUser::action) to the db write, which records it in the same transaction as
//! `data.last_action` of the closest surviving row (the table in `qaboard_model::action`).
//! No endpoint requires a login (OPERATIONS.md §6); `auth.write_tokens` still gates writes
//! through `WriteAccess`, which is independent:
//!
//! ```ignore
//! async fn rename(_w: WriteAccess, user: CurrentUser, /* … */) -> Result<HttpResponse, ApiError> {
//!     let by = user.action("rename");
//!     run_db(move || ops::rename_batch(&mut conn, id, &label, root, by.as_ref())).await
//! }
//! ```
use std::path::PathBuf;
use std::sync::OnceLock;

use actix_web::{http::header, HttpRequest};
use chrono::TimeDelta;
use qaboard_auth::{
    CookieOptions, LdapSettings, LoginRateLimiter, RateLimits, SecretKey, SessionSigner,
};
use qaboard_settings::{ExposeSecret, Settings};

use crate::ApiError;

/// A session's `last_seen` is written at most once per this interval.
pub const TOUCH_EVERY: TimeDelta = TimeDelta::minutes(5);

/// Everything about logins that a server process keeps: built once from the settings.
pub struct Users {
    secret_setting: Option<String>,
    data_dir: PathBuf,
    signer: OnceLock<Result<SessionSigner, String>>,
    /// Attributes of the session cookie (`Secure` when the `url` setting is https).
    pub cookie: CookieOptions,
    /// Failed-login budgets per user name and client address (in process, see `qaboard-auth`).
    pub limiter: LoginRateLimiter,
    /// LDAP settings when LDAP login is on (`Ok(None)`: off; `Err`: misconfigured).
    pub ldap: Result<Option<LdapSettings>, String>,
}

impl std::fmt::Debug for Users {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Users")
            .field("cookie", &self.cookie)
            .field("ldap", &self.ldap)
            .finish_non_exhaustive()
    }
}

/// The original's `QABOARD_LDAP_*` variables, read from the settings (file or environment).
fn ldap_lookup(s: &Settings, name: &str) -> Option<String> {
    match name {
        "QABOARD_LDAP_ENABLED" => s.ldap_enabled.clone(),
        "QABOARD_LOGIN_TYPE" => s.login_type.clone(),
        "QABOARD_LDAP_HOST" => s.ldap_host.clone(),
        "QABOARD_LDAP_PORT" => s.ldap_port.clone(),
        "QABOARD_LDAP_BIND_DN" => s.ldap_bind_dn.clone(),
        "QABOARD_LDAP_PASSWORD" => s
            .ldap_password
            .as_ref()
            .map(|p| p.expose_secret().to_string()),
        "QABOARD_LDAP_USER_BASE" => s.ldap_user_base.clone(),
        "QABOARD_LDAP_USER_FILTER" => s.ldap_user_filter.clone(),
        "QABOARD_LDAP_ATTRIBUTE_COMMON_NAME" => s.ldap_attribute_common_name.clone(),
        "QABOARD_LDAP_ATTRIBUTE_EMAIL" => s.ldap_attribute_email.clone(),
        _ => None,
    }
}

impl Users {
    /// The login state of a process with these settings. The secret key is resolved on first
    /// use ([`Users::signer`]); the server binary calls [`Users::check`] at start.
    pub fn from_settings(s: &Settings) -> Users {
        Users::with_limits(s, RateLimits::default())
    }

    /// Like [`Users::from_settings`] with other rate limits (tests).
    pub fn with_limits(s: &Settings, limits: RateLimits) -> Users {
        Users {
            secret_setting: s.secret_key.as_ref().map(|k| k.expose_secret().to_string()),
            data_dir: s.data_dir.clone(),
            signer: OnceLock::new(),
            cookie: CookieOptions::for_public_url(s.url.as_deref()),
            limiter: LoginRateLimiter::new(limits),
            ldap: LdapSettings::from_lookup(|name| ldap_lookup(s, name)).map_err(|e| e.to_string()),
        }
    }

    /// The cookie signer: key from the `secret_key` setting, else `<data_dir>/secret_key`
    /// (created once, mode 0600). Errors (500): the key is unusable (too short, file readable by
    /// others, I/O).
    pub fn signer(&self) -> Result<&SessionSigner, ApiError> {
        self.signer
            .get_or_init(|| {
                SecretKey::resolve(self.secret_setting.as_deref(), &self.data_dir)
                    .map(|k| SessionSigner::new(&k))
                    .map_err(|e| e.to_string())
            })
            .as_ref()
            .map_err(|e| ApiError::Internal(format!("the session secret key: {e}").into()))
    }

    /// Whether logins can work: a usable secret key and valid LDAP settings. The server refuses
    /// to start otherwise (the message names the setting).
    pub fn check(&self) -> Result<(), String> {
        self.signer().map_err(|e| match e {
            ApiError::Internal(e) => e.to_string(),
            e => e.to_string(),
        })?;
        self.ldap.as_ref().map(|_| ()).map_err(Clone::clone)
    }

    /// The session id of the request's cookie, if it carries a validly signed one (no database
    /// access). Signer errors count as no session.
    pub fn session_key(&self, req: &HttpRequest) -> Option<String> {
        let value = cookie_value(req, &self.cookie.name)?;
        let signer = self.signer().ok()?;
        Some(signer.verify(value)?.storage_key())
    }
}

/// The value of cookie `name` in the request's `Cookie` headers (RFC 6265 §5.4: `a=1; b=2`);
/// the first non-empty one when several have that name.
fn cookie_value<'r>(req: &'r HttpRequest, name: &str) -> Option<&'r str> {
    req.headers()
        .get_all(header::COOKIE)
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, v)| k.trim() == name && !v.trim().is_empty())
        .map(|(_, v)| v.trim().trim_matches('"'))
}

/// `Cache-Control: no-store`, for answers that carry user data or cookies.
pub(crate) const NO_STORE: (header::HeaderName, &str) = (header::CACHE_CONTROL, "no-store");
