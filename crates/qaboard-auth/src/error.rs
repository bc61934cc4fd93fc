//! The crate's error type.
use std::path::PathBuf;

/// Everything that can go wrong in this crate.
///
/// [`AuthError::InvalidUsername`] and [`AuthError::InvalidPassword`] are the two answers the webapp
/// knows (`403 {"error": "invalid-username" | "invalid-password"}`, see [`AuthError::login_error`]);
/// every other variant is a server-side problem (misconfiguration, LDAP server down, I/O) that the
/// HTTP layer reports as a 5xx without details.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    /// No such user (no local user, or no LDAP entry matching the user filter).
    #[error("invalid-username")]
    InvalidUsername,
    /// The user exists but the password does not match (or is empty).
    #[error("invalid-password")]
    InvalidPassword,
    /// Too many failed logins for this user name or client address; retry after this many seconds.
    #[error("too many failed logins, retry in {retry_after_secs} s")]
    RateLimited {
        /// Seconds until one more attempt is allowed (for a `Retry-After` header).
        retry_after_secs: u64,
    },
    /// The `QABOARD_LDAP_*` settings are incomplete or invalid.
    #[error("LDAP settings: {0}")]
    LdapConfig(String),
    /// The LDAP server could not be reached, timed out, refused the service account or answered
    /// something unexpected.
    #[error("LDAP server: {0}")]
    Ldap(String),
    /// Hashing a new password failed (never expected with the fixed parameters).
    #[error("password hashing: {0}")]
    Hash(String),
    /// The session secret is unusable (too short, file readable by others, malformed).
    #[error("secret key: {0}")]
    SecretKey(String),
    /// Reading or writing a file (the secret key file).
    #[error("{}: {source}", path.display())]
    Io {
        /// The file concerned.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
}

impl AuthError {
    /// The `error` value of the original's 403 login answer (`"invalid-username"` or
    /// `"invalid-password"`), or `None` for errors that are not a login refusal.
    pub fn login_error(&self) -> Option<&'static str> {
        match self {
            AuthError::InvalidUsername => Some("invalid-username"),
            AuthError::InvalidPassword => Some("invalid-password"),
            _ => None,
        }
    }
}
