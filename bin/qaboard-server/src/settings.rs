//! Settings: an optional TOML file, then `QABOARD_*` environment variables.
use std::net::{SocketAddr, ToSocketAddrs};
use std::path::PathBuf;

use anyhow::{bail, Context, Result};
use qaboard_db::DbParts;
use serde::Deserialize;

/// Write authentication.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct Auth {
    pub write_tokens: Vec<String>,
    pub read_requires_token: bool,
}

/// Everything the server can be told.
#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct Settings {
    pub listen: String,
    pub database_url: Option<String>,
    pub pool_size: u32,
    pub pool_timeout_secs: u64,
    pub data_dir: PathBuf,
    pub storage_root: String,
    pub url: Option<String>,
    pub body_limit: usize,
    /// Size bound of the response cache of heavy reads, in bytes (0: off).
    pub cache_bytes: usize,
    pub workers: Option<usize>,
    pub db_host: Option<String>,
    pub db_port: Option<u16>,
    pub db_user: Option<String>,
    pub db_password: Option<String>,
    pub db_name: Option<String>,
    pub db_echo: bool,
    pub gitlab_host: Option<String>,
    pub gitlab_access_token: Option<String>,
    pub auth: Auth,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            listen: "127.0.0.1:5151".into(),
            database_url: None,
            pool_size: 16,
            pool_timeout_secs: 10,
            data_dir: PathBuf::from("qaboard-data"),
            storage_root: "/mnt/qaboard".into(),
            url: None,
            body_limit: 16 * 1024 * 1024,
            cache_bytes: qaboard_api::DEFAULT_CACHE_BYTES,
            workers: None,
            db_host: None,
            db_port: None,
            db_user: None,
            db_password: None,
            db_name: None,
            db_echo: false,
            gitlab_host: None,
            gitlab_access_token: None,
            auth: Auth::default(),
        }
    }
}

impl Settings {
    /// Loads the file (if any) then the environment; validates.
    pub fn load(file: Option<&str>) -> Result<Settings> {
        let mut b = config::Config::builder();
        if let Some(f) = file {
            b = b.add_source(
                config::File::with_name(f)
                    .format(config::FileFormat::Toml)
                    .required(true),
            );
        }
        b = b.add_source(
            config::Environment::with_prefix("QABOARD")
                .prefix_separator("_")
                .separator("__")
                .list_separator(",")
                .with_list_parse_key("auth.write_tokens")
                .try_parsing(true),
        );
        // Variables of the original deployment without our prefix.
        for (var, key) in [
            ("GITLAB_HOST", "gitlab_host"),
            ("GITLAB_ACCESS_TOKEN", "gitlab_access_token"),
        ] {
            if let Ok(v) = std::env::var(var) {
                b = b.set_override(key, v)?;
            }
        }
        let s: Settings = b
            .build()
            .context("invalid configuration")?
            .try_deserialize()
            .map_err(|e| anyhow::anyhow!("invalid setting: {e}"))?;
        s.validate()?;
        Ok(s)
    }

    fn validate(&self) -> Result<()> {
        if self.listen_addr().is_err() {
            bail!(
                "invalid setting `listen` (QABOARD_LISTEN): '{}' is not a host:port address",
                self.listen
            );
        }
        if self.pool_size == 0 {
            bail!("invalid setting `pool_size` (QABOARD_POOL_SIZE): must be at least 1");
        }
        if self.body_limit < 1024 {
            bail!("invalid setting `body_limit` (QABOARD_BODY_LIMIT): must be at least 1024 bytes");
        }
        if self.workers == Some(0) {
            bail!("invalid setting `workers` (QABOARD_WORKERS): must be at least 1");
        }
        if !self.storage_root.starts_with('/') {
            bail!(
                "invalid setting `storage_root` (QABOARD_STORAGE_ROOT): must be an absolute path"
            );
        }
        if self.auth.write_tokens.iter().any(|t| t.trim().is_empty()) {
            bail!("invalid setting `auth.write_tokens` (QABOARD_AUTH__WRITE_TOKENS): empty token");
        }
        if self.auth.read_requires_token && self.auth.write_tokens.is_empty() {
            bail!("invalid setting `auth.read_requires_token`: it needs `auth.write_tokens`");
        }
        Ok(())
    }

    /// The socket address to bind.
    pub fn listen_addr(&self) -> Result<SocketAddr> {
        self.listen
            .to_socket_addrs()
            .ok()
            .and_then(|mut a| a.next())
            .with_context(|| format!("cannot resolve {}", self.listen))
    }

    /// The database URL these settings point at.
    pub fn database_url(&self) -> String {
        let parts = DbParts {
            host: self.db_host.clone(),
            port: self.db_port,
            user: self.db_user.clone(),
            password: self.db_password.clone(),
            name: self.db_name.clone(),
        };
        qaboard_db::resolve_database_url(self.database_url.as_deref(), &parts, &self.data_dir)
    }
}
