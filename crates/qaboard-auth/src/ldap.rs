//! Login against an LDAP directory, with the original backend's `QABOARD_LDAP_*` settings.
//!
//! As the original's `auth_ldap` (OPERATIONS.md §6), with its flaws fixed:
//! 1. refuse an empty login or password before talking to the server (a simple bind with an
//!    empty password is an *unauthenticated* bind, which servers accept: RFC 4513 §5.1.2);
//! 2. bind as the service account `QABOARD_LDAP_BIND_DN` / `QABOARD_LDAP_PASSWORD`
//!    (anonymously when no bind DN is set);
//! 3. subtree search under `QABOARD_LDAP_USER_BASE` with `QABOARD_LDAP_USER_FILTER` where every
//!    `{login}` is replaced by the login **escaped per RFC 4515** (`*`, `(`, `)`, `\`, NUL), so a
//!    login can never widen the filter; no entry (or more than one) → [`AuthError::InvalidUsername`];
//! 4. bind as the entry's DN with the password; invalid credentials →
//!    [`AuthError::InvalidPassword`];
//! 5. answer the DN, the common name attribute (`cn`) and the e-mail attribute (`mail`).
//!
//! Plain `ldap://host:port` without TLS, referrals not followed, as the original. Each network
//! operation has a timeout ([`LdapSettings::timeout`]). The function is async and runs on the
//! caller's tokio runtime (actix-web's), so a slow directory does not block a worker thread.
use std::time::Duration;

use ldap3::{ldap_escape, Ldap, LdapConnAsync, LdapConnSettings, LdapError, Scope, SearchEntry};

use crate::AuthError;

/// Default port, as the original (`QABOARD_LDAP_PORT` unset).
pub const DEFAULT_PORT: u16 = 389;
/// Default timeout of each LDAP operation (connect, bind, search).
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);
/// The placeholder replaced by the escaped login in the user filter.
pub const LOGIN_PLACEHOLDER: &str = "{login}";

/// LDAP result code `invalidCredentials` (RFC 4511 §4.1.9).
const INVALID_CREDENTIALS: u32 = 49;

/// How to reach and query the directory (the original's `QABOARD_LDAP_*` variables).
#[derive(Clone, PartialEq, Eq)]
pub struct LdapSettings {
    /// `QABOARD_LDAP_HOST`: host name or address of the server.
    pub host: String,
    /// `QABOARD_LDAP_PORT` (default 389).
    pub port: u16,
    /// `QABOARD_LDAP_BIND_DN`: the service account that searches users (empty: anonymous search).
    pub bind_dn: String,
    /// `QABOARD_LDAP_PASSWORD`: the service account's password.
    pub bind_password: String,
    /// `QABOARD_LDAP_USER_BASE`: where users are searched (whole subtree).
    pub user_base: String,
    /// `QABOARD_LDAP_USER_FILTER`, with `{login}`, e.g.
    /// `(&(objectClass=inetOrgPerson)(|(uid={login})(mail={login})))`.
    pub user_filter: String,
    /// `QABOARD_LDAP_ATTRIBUTE_COMMON_NAME` (default `cn`): the user's full name.
    pub attribute_common_name: String,
    /// `QABOARD_LDAP_ATTRIBUTE_EMAIL` (default `mail`).
    pub attribute_email: String,
    /// Timeout of each operation (default [`DEFAULT_TIMEOUT`]; not a setting of the original).
    pub timeout: Duration,
}

impl std::fmt::Debug for LdapSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LdapSettings")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("bind_dn", &self.bind_dn)
            .field("bind_password", &"…")
            .field("user_base", &self.user_base)
            .field("user_filter", &self.user_filter)
            .field("attribute_common_name", &self.attribute_common_name)
            .field("attribute_email", &self.attribute_email)
            .field("timeout", &self.timeout)
            .finish()
    }
}

/// A user the directory authenticated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LdapUser {
    /// The entry's distinguished name.
    pub dn: String,
    /// First value of the common name attribute (`users.full_name`), if any.
    pub full_name: Option<String>,
    /// First value of the e-mail attribute (`users.email`), if any.
    pub email: Option<String>,
}

impl LdapSettings {
    /// Reads the settings from the process environment; see [`LdapSettings::from_lookup`].
    pub fn from_env() -> Result<Option<LdapSettings>, AuthError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads the settings through `get` (a variable name → its value).
    ///
    /// `Ok(None)` when LDAP is off: `QABOARD_LDAP_ENABLED` empty or unset (the contract's switch)
    /// and `QABOARD_LOGIN_TYPE` not `LDAP` (the original's switch, honoured so that an existing
    /// deployment keeps its LDAP logins). When on, `QABOARD_LDAP_HOST`, `QABOARD_LDAP_USER_BASE`
    /// and `QABOARD_LDAP_USER_FILTER` (containing `{login}`) are required, and
    /// `QABOARD_LDAP_PORT` must be a port number; errors with [`AuthError::LdapConfig`] naming the
    /// variable.
    pub fn from_lookup(
        get: impl Fn(&str) -> Option<String>,
    ) -> Result<Option<LdapSettings>, AuthError> {
        let non_empty = |name: &str| get(name).filter(|v| !v.trim().is_empty());
        let enabled = non_empty("QABOARD_LDAP_ENABLED").is_some()
            || get("QABOARD_LOGIN_TYPE").is_some_and(|t| t.trim().eq_ignore_ascii_case("LDAP"));
        if !enabled {
            return Ok(None);
        }
        let required = |name: &str| {
            non_empty(name).ok_or_else(|| {
                AuthError::LdapConfig(format!("{name} must be set when LDAP login is enabled"))
            })
        };
        let host = required("QABOARD_LDAP_HOST")?.trim().to_string();
        if host.contains('/') || host.contains(' ') {
            return Err(AuthError::LdapConfig(format!(
                "QABOARD_LDAP_HOST must be a host name, not {host:?}"
            )));
        }
        let port = match non_empty("QABOARD_LDAP_PORT") {
            None => DEFAULT_PORT,
            Some(p) => p.trim().parse::<u16>().map_err(|_| {
                AuthError::LdapConfig(format!("QABOARD_LDAP_PORT is not a port number: {p:?}"))
            })?,
        };
        let user_filter = required("QABOARD_LDAP_USER_FILTER")?;
        if !user_filter.contains(LOGIN_PLACEHOLDER) {
            return Err(AuthError::LdapConfig(format!(
                "QABOARD_LDAP_USER_FILTER must contain {LOGIN_PLACEHOLDER}"
            )));
        }
        Ok(Some(LdapSettings {
            host,
            port,
            bind_dn: get("QABOARD_LDAP_BIND_DN").unwrap_or_default(),
            bind_password: get("QABOARD_LDAP_PASSWORD").unwrap_or_default(),
            user_base: required("QABOARD_LDAP_USER_BASE")?,
            user_filter,
            attribute_common_name: non_empty("QABOARD_LDAP_ATTRIBUTE_COMMON_NAME")
                .unwrap_or_else(|| "cn".into()),
            attribute_email: non_empty("QABOARD_LDAP_ATTRIBUTE_EMAIL")
                .unwrap_or_else(|| "mail".into()),
            timeout: DEFAULT_TIMEOUT,
        }))
    }

    /// The server URL, `ldap://<host>:<port>` (IPv6 addresses in brackets).
    pub fn url(&self) -> String {
        if self.host.contains(':') && !self.host.starts_with('[') {
            format!("ldap://[{}]:{}", self.host, self.port)
        } else {
            format!("ldap://{}:{}", self.host, self.port)
        }
    }

    /// The search filter for `login`: the user filter with every `{login}` replaced by the login
    /// escaped per RFC 4515 §3 (`*` → `\2a`, `(` → `\28`, `)` → `\29`, `\` → `\5c`, NUL → `\00`).
    pub fn filter_for(&self, login: &str) -> String {
        self.user_filter
            .replace(LOGIN_PLACEHOLDER, &ldap_escape(login))
    }
}

/// Whether a login goes to LDAP (else to the local password check), as the original's `auth`:
/// LDAP when it is enabled and the user name is unknown locally (`existing_user_is_ldap` is
/// `None`; a successful LDAP login then creates the user with `is_ldap = true` and no password)
/// or the local user is an LDAP user (`users.is_ldap`, NULL read as false).
pub fn login_uses_ldap(ldap_enabled: bool, existing_user_is_ldap: Option<bool>) -> bool {
    ldap_enabled && existing_user_is_ldap.unwrap_or(true)
}

fn server_err(e: LdapError) -> AuthError {
    AuthError::Ldap(e.to_string())
}

/// Authenticates `login` / `password` against the directory (steps in the module docs).
///
/// Errors: [`AuthError::InvalidUsername`] (empty login, no entry or several entries match),
/// [`AuthError::InvalidPassword`] (empty password, or the bind as the user is refused with
/// `invalidCredentials`), [`AuthError::Ldap`] for everything else (server unreachable, timeout,
/// service account refused, malformed filter): a server-side problem, not the user's.
pub async fn authenticate(
    settings: &LdapSettings,
    login: &str,
    password: &str,
) -> Result<LdapUser, AuthError> {
    if login.is_empty() {
        return Err(AuthError::InvalidUsername);
    }
    if password.is_empty() {
        return Err(AuthError::InvalidPassword);
    }
    let conn_settings = LdapConnSettings::new().set_conn_timeout(settings.timeout);
    let (conn, mut ldap) = LdapConnAsync::with_settings(conn_settings, &settings.url())
        .await
        .map_err(server_err)?;
    ldap3::drive!(conn);
    let result = authenticate_on(&mut ldap, settings, login, password).await;
    // Best effort; the connection is dropped either way.
    let _ = ldap.unbind().await;
    result
}

async fn authenticate_on(
    ldap: &mut Ldap,
    settings: &LdapSettings,
    login: &str,
    password: &str,
) -> Result<LdapUser, AuthError> {
    let timeout = settings.timeout;
    if !settings.bind_dn.is_empty() {
        ldap.with_timeout(timeout)
            .simple_bind(&settings.bind_dn, &settings.bind_password)
            .await
            .and_then(|r| r.success())
            .map_err(|e| AuthError::Ldap(format!("service account bind: {e}")))?;
    }
    let attrs = vec![
        settings.attribute_common_name.as_str(),
        settings.attribute_email.as_str(),
    ];
    let (entries, _) = ldap
        .with_timeout(timeout)
        .search(
            &settings.user_base,
            Scope::Subtree,
            &settings.filter_for(login),
            attrs,
        )
        .await
        .and_then(|r| r.success())
        .map_err(server_err)?;
    let mut entries = entries.into_iter();
    let (Some(entry), None) = (entries.next(), entries.next()) else {
        return Err(AuthError::InvalidUsername);
    };
    let entry = SearchEntry::construct(entry);
    if entry.dn.is_empty() {
        return Err(AuthError::InvalidUsername);
    }
    match ldap
        .with_timeout(timeout)
        .simple_bind(&entry.dn, password)
        .await
        .and_then(|r| r.success())
    {
        Ok(_) => {}
        Err(LdapError::LdapResult { result }) if result.rc == INVALID_CREDENTIALS => {
            return Err(AuthError::InvalidPassword)
        }
        Err(e) => return Err(AuthError::Ldap(format!("user bind: {e}"))),
    }
    let first = |name: &str| {
        entry
            .attrs
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .and_then(|(_, v)| v.first().cloned())
    };
    Ok(LdapUser {
        full_name: first(&settings.attribute_common_name),
        email: first(&settings.attribute_email),
        dn: entry.dn,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let pairs: Vec<(String, String)> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |name| {
            pairs
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.clone())
        }
    }

    const FULL: &[(&str, &str)] = &[
        ("QABOARD_LDAP_ENABLED", "1"),
        ("QABOARD_LDAP_HOST", "ldap.example.com"),
        ("QABOARD_LDAP_BIND_DN", "cn=svc,dc=example,dc=com"),
        ("QABOARD_LDAP_PASSWORD", "pw"),
        ("QABOARD_LDAP_USER_BASE", "ou=people,dc=example,dc=com"),
        (
            "QABOARD_LDAP_USER_FILTER",
            "(&(objectClass=person)(uid={login}))",
        ),
    ];

    #[test]
    fn settings_defaults_and_switches() {
        assert_eq!(LdapSettings::from_lookup(env(&[])).unwrap(), None);
        assert_eq!(
            LdapSettings::from_lookup(env(&[("QABOARD_LDAP_ENABLED", "")])).unwrap(),
            None
        );
        let s = LdapSettings::from_lookup(env(FULL)).unwrap().unwrap();
        assert_eq!(s.port, 389);
        assert_eq!(s.attribute_common_name, "cn");
        assert_eq!(s.attribute_email, "mail");
        assert_eq!(s.url(), "ldap://ldap.example.com:389");
        assert!(!format!("{s:?}").contains("\"pw\""));
        let mut orig: Vec<_> = FULL[1..].to_vec();
        orig.push(("QABOARD_LOGIN_TYPE", "LDAP"));
        orig.push(("QABOARD_LDAP_PORT", "636"));
        orig.push(("QABOARD_LDAP_ATTRIBUTE_EMAIL", "userPrincipalName"));
        let s = LdapSettings::from_lookup(env(&orig)).unwrap().unwrap();
        assert_eq!(
            (s.port, s.attribute_email.as_str()),
            (636, "userPrincipalName")
        );
    }

    #[test]
    fn settings_errors_name_the_variable() {
        for (drop, replace) in [
            ("QABOARD_LDAP_HOST", None),
            ("QABOARD_LDAP_USER_BASE", None),
            ("QABOARD_LDAP_USER_FILTER", None),
            ("QABOARD_LDAP_USER_FILTER", Some("(uid=alice)")),
            ("QABOARD_LDAP_PORT", Some("ldap")),
            ("QABOARD_LDAP_HOST", Some("ldap://x")),
        ] {
            let mut vars: Vec<_> = FULL.iter().filter(|(k, _)| *k != drop).copied().collect();
            if let Some(v) = replace {
                vars.push((drop, v));
            }
            match LdapSettings::from_lookup(env(&vars)) {
                Err(AuthError::LdapConfig(m)) => assert!(m.contains(drop), "{m}"),
                other => panic!("{drop}: {other:?}"),
            }
        }
    }

    #[test]
    fn local_users_stay_local() {
        assert!(!login_uses_ldap(false, None));
        assert!(!login_uses_ldap(false, Some(true)));
        assert!(login_uses_ldap(true, None));
        assert!(login_uses_ldap(true, Some(true)));
        assert!(!login_uses_ldap(true, Some(false)));
    }

    #[test]
    fn filters_escape_the_login() {
        let s = LdapSettings::from_lookup(env(FULL)).unwrap().unwrap();
        assert_eq!(s.filter_for("alice"), "(&(objectClass=person)(uid=alice))");
        assert_eq!(
            s.filter_for("*)(uid=*\\\0"),
            "(&(objectClass=person)(uid=\\2a\\29\\28uid=\\2a\\5c\\00))"
        );
    }

    #[tokio::test]
    async fn empty_credentials_are_refused_without_a_server() {
        let mut s = LdapSettings::from_lookup(env(FULL)).unwrap().unwrap();
        // A port nobody listens on: a network attempt would give AuthError::Ldap instead.
        s.host = "127.0.0.1".into();
        s.port = 1;
        assert!(matches!(
            authenticate(&s, "alice", "").await,
            Err(AuthError::InvalidPassword)
        ));
        assert!(matches!(
            authenticate(&s, "", "pw").await,
            Err(AuthError::InvalidUsername)
        ));
        assert!(matches!(
            authenticate(&s, "alice", "pw").await,
            Err(AuthError::Ldap(_))
        ));
    }
}
