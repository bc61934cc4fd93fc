//! The settings of the QA-Board backend, shared by `qaboard-server` and
//! `qaboard-migrate`.
//!
//! Sources, later ones win: the defaults below (each defined once, here or
//! in the lowest crate that needs it), an optional TOML file, then
//! `QABOARD_<KEY>` environment variables (`QABOARD_AUTH__WRITE_TOKENS` for
//! `[auth] write_tokens`), then the original deployment's unprefixed
//! `GITLAB_HOST` / `GITLAB_ACCESS_TOKEN`. Every key can also be written in
//! its section (`[database] url`, `QABOARD_DATABASE__URL`; the table in
//! [`sections::SECTIONS`]); the flat names stay valid. Key names follow OPERATIONS.md
//! ("Decisions"); every key is documented in `docs/configuration.md`.
//!
//! Secrets (`db_password`, `gitlab_access_token`, `gitlab_webhook_secret`,
//! `secret_key`, `auth.write_tokens`) are [`SecretString`]s: `Debug` shows
//! `[REDACTED]`, and reading one takes an explicit `expose_secret()`.
#![warn(missing_docs)]

use std::net::{SocketAddr, ToSocketAddrs};
use std::path::PathBuf;

use qaboard_db::DbParts;

pub mod sections;
pub use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;

/// Default address to serve on.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:5151";
/// Default folder of the SQLite file and shared files.
pub const DEFAULT_DATA_DIR: &str = "qaboard-data";
/// Default largest request body, in bytes (16 MiB).
pub const DEFAULT_BODY_LIMIT: usize = 16 * 1024 * 1024;
/// Default size bound of the response cache of heavy reads, in bytes (32 MiB).
pub const DEFAULT_CACHE_BYTES: usize = 32 * 1024 * 1024;
/// Default size bound of the decoded-image cache: 256 MiB.
pub const DEFAULT_IMAGE_CACHE_BYTES: u64 = 256 * 1024 * 1024;
/// Default wait for an early failure of a started job, in seconds (OPERATIONS.md §3).
pub const DEFAULT_JOB_START_WAIT_SECS: u64 = 10;
/// Default number of jobs the server runs at once.
pub const DEFAULT_MAX_JOBS: usize = 4;
/// Default command of the `qa` CLI that jobs run.
pub const DEFAULT_QA_COMMAND: &str = "qa";
/// Default of [`Settings::job_time_limit_secs`]: one day.
pub const DEFAULT_JOB_TIME_LIMIT_SECS: u64 = 24 * 3600;

/// What can be wrong with the settings.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SettingsError {
    /// The file or the variables could not be read or parsed.
    #[error("invalid configuration: {0}")]
    Source(#[from] config::ConfigError),
    /// A value has the wrong type (e.g. text for a number).
    #[error("invalid setting: {0}")]
    Value(#[source] config::ConfigError),
    /// A value is out of its range; names the key and its variable.
    #[error("invalid setting `{key}` ({var}): {reason}")]
    Invalid {
        /// The TOML key, e.g. `pool_size`.
        key: &'static str,
        /// The environment variable, e.g. `QABOARD_POOL_SIZE`.
        var: &'static str,
        /// Why, in English.
        reason: String,
    },
}

/// Write authentication (`[auth]`).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct Auth {
    /// Bearer tokens accepted for writes; empty: writes are open.
    pub write_tokens: Vec<SecretString>,
    /// With tokens configured, also require one for reads.
    pub read_requires_token: bool,
}

/// Everything the server and `qaboard-migrate` can be told.
#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct Settings {
    /// Address to serve on (`host:port`, port 0 for any free port).
    pub listen: String,
    /// `postgres://…` or an SQLite file path; see [`Settings::database_url`].
    pub database_url: Option<String>,
    /// Database connections in the pool.
    pub pool_size: u32,
    /// Wait for a free connection before answering 503, in seconds.
    pub pool_timeout_secs: u64,
    /// The SQLite file and shared files (test groups under `shared/`).
    pub data_dir: PathBuf,
    /// Storage root of outputs when a project's config names none (absolute).
    pub storage_root: String,
    /// The only folders served, written or deleted (OPERATIONS.md [FS]);
    /// empty: `[storage_root]` (see [`Settings::storage_roots`]).
    pub storage_roots: Vec<String>,
    /// A built webapp served at `/` with client-route fallback.
    pub webapp_dir: Option<PathBuf>,
    /// Git mirrors; default `<data_dir>/git` (see [`Settings::git_dir`]).
    pub git_dir: Option<PathBuf>,
    /// Public URL of QA-Board (for links).
    pub url: Option<String>,
    /// Largest request body, in bytes.
    pub body_limit: usize,
    /// Size bound of the response cache of heavy reads, in bytes (0: off).
    pub cache_bytes: usize,
    /// Size bound of the cache of decoded images (IIIF tiles, pixel
    /// look-ups), in bytes of decoded pixels, per server process.
    pub image_cache_bytes: u64,
    /// HTTP worker threads; default: one per core.
    pub workers: Option<usize>,
    /// PostgreSQL host, the original deployment's way to name the database.
    pub db_host: Option<String>,
    /// PostgreSQL port (default 5432).
    pub db_port: Option<u16>,
    /// PostgreSQL user (default `qaboard`).
    pub db_user: Option<String>,
    /// PostgreSQL password (default `password`).
    pub db_password: Option<SecretString>,
    /// PostgreSQL database name (default `qaboard`).
    pub db_name: Option<String>,
    /// Log every SQL statement.
    pub db_echo: bool,
    /// GitLab base URL (any URL git understands).
    pub gitlab_host: Option<String>,
    /// GitLab API token.
    pub gitlab_access_token: Option<SecretString>,
    /// When set, GitLab webhooks must send it as `X-Gitlab-Token` (else 401).
    pub gitlab_webhook_secret: Option<SecretString>,
    /// Signs session cookies; when unset a random key is kept in
    /// `<data_dir>/secret_key` (replicas must share one).
    pub secret_key: Option<SecretString>,
    /// Hosts the proxies may reach besides `gitlab_host`'s and gravatar.
    pub proxy_allowed_hosts: Vec<String>,
    /// Wait for an early failure of a started job before answering, in seconds.
    pub job_start_wait_secs: u64,
    /// Jobs the server runs at once.
    pub max_jobs: usize,
    /// The `qa` command jobs run.
    pub qa_command: String,
    /// A server-started job still running after this many seconds has its
    /// process group killed; 0: no limit.
    pub job_time_limit_secs: u64,
    /// Storage garbage collection period in seconds; 0: never (run externally).
    pub gc_interval: u64,
    /// Write authentication.
    pub auth: Auth,
    /// `GITLAB_AUTH`: JSON `{host: {user, password, type?, http?}}`; the avatar proxy may reach
    /// these hosts and signs in to them with these credentials for their session cookie.
    pub gitlab_auth: Option<SecretString>,
    /// `JENKINS_AUTH`: JSON `{host: {user, token, crumb}}`; only these hosts get Jenkins calls.
    pub jenkins_auth: Option<SecretString>,
    /// `QABOARD_LDAP_ENABLED`: non-empty turns LDAP login on (OPERATIONS.md §6).
    pub ldap_enabled: Option<String>,
    /// `QABOARD_LOGIN_TYPE`: the original's switch, `LDAP` also turns LDAP login on.
    pub login_type: Option<String>,
    /// `QABOARD_LDAP_HOST`.
    pub ldap_host: Option<String>,
    /// `QABOARD_LDAP_PORT` (default 389).
    pub ldap_port: Option<String>,
    /// `QABOARD_LDAP_BIND_DN`: the service account that searches users.
    pub ldap_bind_dn: Option<String>,
    /// `QABOARD_LDAP_PASSWORD`: the service account's password.
    pub ldap_password: Option<SecretString>,
    /// `QABOARD_LDAP_USER_BASE`: where users are searched (subtree).
    pub ldap_user_base: Option<String>,
    /// `QABOARD_LDAP_USER_FILTER`, with `{login}` (escaped per RFC 4515).
    pub ldap_user_filter: Option<String>,
    /// `QABOARD_LDAP_ATTRIBUTE_COMMON_NAME` (default `cn`).
    pub ldap_attribute_common_name: Option<String>,
    /// `QABOARD_LDAP_ATTRIBUTE_EMAIL` (default `mail`).
    pub ldap_attribute_email: Option<String>,
    /// Deadline to read a request's head (line and headers), in seconds;
    /// a client slower than this is disconnected (actix's
    /// `client_request_timeout`).
    pub client_request_timeout_secs: u64,
    /// Deadline to read a whole JSON request body, in seconds (408 beyond).
    pub body_timeout_secs: u64,
    /// Idle keep-alive of a connection between requests, in seconds.
    pub keep_alive_secs: u64,
    /// Open connections per worker thread; beyond, new ones wait in the
    /// listen backlog (actix's `max_connections`).
    pub max_connections: usize,
    /// Bytes of request bodies held in memory at once by all requests of
    /// this process; a body that cannot get its share within
    /// `body_memory_wait_secs` answers 503.
    pub body_memory: usize,
    /// Wait for body memory before answering 503, in seconds.
    pub body_memory_wait_secs: u64,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            listen: DEFAULT_LISTEN.into(),
            database_url: None,
            pool_size: qaboard_db::pool::DEFAULT_POOL_SIZE,
            pool_timeout_secs: qaboard_db::pool::DEFAULT_POOL_TIMEOUT_SECS,
            data_dir: PathBuf::from(DEFAULT_DATA_DIR),
            storage_root: qaboard_model::DEFAULT_STORAGE_ROOT.to_string(),
            storage_roots: Vec::new(),
            webapp_dir: None,
            git_dir: None,
            url: None,
            body_limit: DEFAULT_BODY_LIMIT,
            cache_bytes: DEFAULT_CACHE_BYTES,
            image_cache_bytes: DEFAULT_IMAGE_CACHE_BYTES,
            workers: None,
            db_host: None,
            db_port: None,
            db_user: None,
            db_password: None,
            db_name: None,
            db_echo: false,
            gitlab_host: None,
            gitlab_access_token: None,
            gitlab_webhook_secret: None,
            secret_key: None,
            proxy_allowed_hosts: Vec::new(),
            job_start_wait_secs: DEFAULT_JOB_START_WAIT_SECS,
            max_jobs: DEFAULT_MAX_JOBS,
            qa_command: DEFAULT_QA_COMMAND.into(),
            job_time_limit_secs: DEFAULT_JOB_TIME_LIMIT_SECS,
            gc_interval: 0,
            auth: Auth::default(),
            gitlab_auth: None,
            jenkins_auth: None,
            ldap_enabled: None,
            login_type: None,
            ldap_host: None,
            ldap_port: None,
            ldap_bind_dn: None,
            ldap_password: None,
            ldap_user_base: None,
            ldap_user_filter: None,
            ldap_attribute_common_name: None,
            ldap_attribute_email: None,
            client_request_timeout_secs: DEFAULT_CLIENT_REQUEST_TIMEOUT_SECS,
            body_timeout_secs: DEFAULT_BODY_TIMEOUT_SECS,
            keep_alive_secs: DEFAULT_KEEP_ALIVE_SECS,
            max_connections: DEFAULT_MAX_CONNECTIONS,
            body_memory: DEFAULT_BODY_MEMORY,
            body_memory_wait_secs: DEFAULT_BODY_MEMORY_WAIT_SECS,
        }
    }
}

/// Default of `client_request_timeout_secs`.
pub const DEFAULT_CLIENT_REQUEST_TIMEOUT_SECS: u64 = 10;
/// Default of `body_timeout_secs`: 16 MiB at about 300 KB/s.
pub const DEFAULT_BODY_TIMEOUT_SECS: u64 = 60;
/// Default of `keep_alive_secs`.
pub const DEFAULT_KEEP_ALIVE_SECS: u64 = 15;
/// Default of `max_connections` (per worker thread).
pub const DEFAULT_MAX_CONNECTIONS: usize = 256;
/// Default of `body_memory`: eight bodies at the default `body_limit`.
pub const DEFAULT_BODY_MEMORY: usize = 128 * 1024 * 1024;
/// Default of `body_memory_wait_secs`.
pub const DEFAULT_BODY_MEMORY_WAIT_SECS: u64 = 10;

/// The `QABOARD_*` variables as a source (`__` between section and key, `,` between list items).
fn environment() -> config::Environment {
    let mut env = config::Environment::with_prefix("QABOARD")
        .prefix_separator("_")
        .separator("__")
        .list_separator(",")
        .with_list_parse_key("auth.write_tokens")
        .with_list_parse_key("storage_roots")
        .with_list_parse_key("proxy_allowed_hosts");
    for key in sections::LIST_KEYS {
        env = env.with_list_parse_key(key);
    }
    env.try_parsing(true)
}

fn invalid(key: &'static str, var: &'static str, reason: impl Into<String>) -> SettingsError {
    SettingsError::Invalid {
        key,
        var,
        reason: reason.into(),
    }
}

impl Settings {
    /// Loads the defaults, the TOML `file` (if any, required to exist), then
    /// the environment; validates. Errors name the key and its variable.
    pub fn load(file: Option<&str>) -> Result<Settings, SettingsError> {
        let mut b = config::Config::builder();
        if let Some(f) = file {
            b = b.add_source(sections::Sectioned(
                config::File::with_name(f)
                    .format(config::FileFormat::Toml)
                    .required(true),
            ));
        }
        b = b.add_source(sections::Sectioned(environment()));
        // Variables of the original deployment without our prefix.
        for (var, key) in [
            ("GITLAB_HOST", "gitlab_host"),
            ("GITLAB_ACCESS_TOKEN", "gitlab_access_token"),
            ("GITLAB_AUTH", "gitlab_auth"),
            ("JENKINS_AUTH", "jenkins_auth"),
            // Secrets taken verbatim (the parsing above would turn "0123" into 123).
            ("QABOARD_LDAP_PASSWORD", "ldap_password"),
            ("QABOARD_SECRET_KEY", "secret_key"),
        ] {
            if let Ok(v) = std::env::var(var) {
                b = b.set_override(key, v)?;
            }
        }
        let s: Settings = b.build()?.try_deserialize().map_err(SettingsError::Value)?;
        s.validate()?;
        Ok(s)
    }

    /// Checks ranges and consistency.
    pub fn validate(&self) -> Result<(), SettingsError> {
        if self.listen_addr().is_none() {
            return Err(invalid(
                "listen",
                "QABOARD_LISTEN",
                format!("'{}' is not a host:port address", self.listen),
            ));
        }
        if self.pool_size == 0 {
            return Err(invalid(
                "pool_size",
                "QABOARD_POOL_SIZE",
                "must be at least 1",
            ));
        }
        if self.body_limit < 1024 {
            return Err(invalid(
                "body_limit",
                "QABOARD_BODY_LIMIT",
                "must be at least 1024 bytes",
            ));
        }
        if self.body_memory < self.body_limit {
            return Err(invalid(
                "body_memory",
                "QABOARD_BODY_MEMORY",
                "must be at least body_limit",
            ));
        }
        if self.max_connections == 0 {
            return Err(invalid(
                "max_connections",
                "QABOARD_MAX_CONNECTIONS",
                "must be at least 1",
            ));
        }
        if self.workers == Some(0) {
            return Err(invalid("workers", "QABOARD_WORKERS", "must be at least 1"));
        }
        if self.max_jobs == 0 {
            return Err(invalid(
                "max_jobs",
                "QABOARD_MAX_JOBS",
                "must be at least 1",
            ));
        }
        if !self.storage_root.starts_with('/') {
            return Err(invalid(
                "storage_root",
                "QABOARD_STORAGE_ROOT",
                "must be an absolute path",
            ));
        }
        if self.storage_roots.iter().any(|r| !r.starts_with('/')) {
            return Err(invalid(
                "storage_roots",
                "QABOARD_STORAGE_ROOTS",
                "every root must be an absolute path",
            ));
        }
        if self
            .auth
            .write_tokens
            .iter()
            .any(|t| t.expose_secret().trim().is_empty())
        {
            return Err(invalid(
                "auth.write_tokens",
                "QABOARD_AUTH__WRITE_TOKENS",
                "empty token",
            ));
        }
        if self.auth.read_requires_token && self.auth.write_tokens.is_empty() {
            return Err(invalid(
                "auth.read_requires_token",
                "QABOARD_AUTH__READ_REQUIRES_TOKEN",
                "it needs `auth.write_tokens`",
            ));
        }
        Ok(())
    }

    /// The socket address to bind, if `listen` resolves.
    pub fn listen_addr(&self) -> Option<SocketAddr> {
        self.listen
            .to_socket_addrs()
            .ok()
            .and_then(|mut a| a.next())
    }

    /// The database URL these settings point at: `database_url`, else the
    /// `db_*` parts when `db_host` is set, else `<data_dir>/qaboard.db`.
    pub fn database_url(&self) -> String {
        let parts = DbParts {
            host: self.db_host.clone(),
            port: self.db_port,
            user: self.db_user.clone(),
            password: self
                .db_password
                .as_ref()
                .map(|p| p.expose_secret().to_string()),
            name: self.db_name.clone(),
        };
        qaboard_db::resolve_database_url(self.database_url.as_deref(), &parts, &self.data_dir)
    }

    /// The storage roots: `storage_roots`, or `[storage_root]` when empty.
    pub fn storage_roots(&self) -> Vec<String> {
        if self.storage_roots.is_empty() {
            vec![self.storage_root.clone()]
        } else {
            self.storage_roots.clone()
        }
    }

    /// The folder of the git mirrors: `git_dir`, or `<data_dir>/git`.
    pub fn git_dir(&self) -> PathBuf {
        self.git_dir
            .clone()
            .unwrap_or_else(|| self.data_dir.join("git"))
    }

    /// The write tokens, exposed (for the API's token check).
    pub fn write_tokens(&self) -> Vec<String> {
        self.auth
            .write_tokens
            .iter()
            .map(|t| t.expose_secret().to_string())
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_never_print() {
        let s = Settings {
            db_password: Some("hunter2".into()),
            gitlab_access_token: Some("glpat-xyz".into()),
            auth: Auth {
                write_tokens: vec!["tok-123".into()],
                read_requires_token: false,
            },
            ..Settings::default()
        };
        let shown = format!("{s:?}");
        for secret in ["hunter2", "glpat-xyz", "tok-123"] {
            assert!(!shown.contains(secret), "{shown}");
        }
        assert_eq!(s.write_tokens(), vec!["tok-123".to_string()]);
    }

    #[test]
    fn file_then_defaults() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("q.toml");
        std::fs::write(
            &f,
            "pool_size = 3\nstorage_roots = [\"/a\", \"/b\"]\njob_start_wait_secs = 2\n[auth]\nwrite_tokens = [\"t\"]\n",
        )
        .unwrap();
        let s = Settings::load(Some(f.to_str().unwrap())).unwrap();
        assert_eq!(s.pool_size, 3);
        assert_eq!(s.storage_roots(), vec!["/a".to_string(), "/b".to_string()]);
        assert_eq!(s.job_start_wait_secs, 2);
        assert_eq!(s.write_tokens(), vec!["t".to_string()]);
        assert_eq!(s.max_jobs, DEFAULT_MAX_JOBS);
        assert_eq!(s.git_dir(), PathBuf::from(DEFAULT_DATA_DIR).join("git"));
        assert_eq!(
            Settings::default().storage_roots(),
            vec![s.storage_root.clone()]
        );
    }

    #[test]
    fn invalid_values_name_their_key() {
        let s = Settings {
            pool_size: 0,
            ..Settings::default()
        };
        let e = s.validate().unwrap_err().to_string();
        assert!(e.contains("`pool_size` (QABOARD_POOL_SIZE)"), "{e}");
    }
}
