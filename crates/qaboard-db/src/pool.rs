//! Connection pools for both backends behind one type.
use std::path::Path;
use std::time::Duration;

use diesel::connection::{Instrumentation, InstrumentationEvent, SimpleConnection};
use diesel::r2d2::{ConnectionManager, CustomizeConnection, Pool, PooledConnection};
use diesel::Connection;
#[cfg(feature = "postgres")]
use diesel::PgConnection;
#[cfg(feature = "sqlite")]
use diesel::SqliteConnection;

use crate::DbError;

/// Which database engine a URL points at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// PostgreSQL (`postgres://` or `postgresql://`).
    Postgres,
    /// SQLite, bundled (`sqlite://path`, `file:path` or a plain file path).
    Sqlite,
}

impl Backend {
    /// Tells the backend from a database URL.
    pub fn of_url(url: &str) -> Backend {
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Backend::Postgres
        } else {
            Backend::Sqlite
        }
    }
}

/// Default number of connections in the pool.
pub const DEFAULT_POOL_SIZE: u32 = 16;
/// Default wait for a free connection, in seconds.
pub const DEFAULT_POOL_TIMEOUT_SECS: u64 = 10;

/// How to connect.
#[derive(Debug, Clone)]
pub struct DbConfig {
    /// `postgres://...`, or a SQLite file path (optionally `sqlite://` prefixed).
    pub url: String,
    /// Maximum connections in the pool.
    pub pool_size: u32,
    /// How long a request waits for a free connection before failing with 503.
    pub connection_timeout: Duration,
    /// Log every SQL statement (at info level).
    pub echo: bool,
}

impl DbConfig {
    /// A configuration with default pool settings.
    pub fn new(url: impl Into<String>) -> Self {
        DbConfig {
            url: url.into(),
            pool_size: DEFAULT_POOL_SIZE,
            connection_timeout: Duration::from_secs(DEFAULT_POOL_TIMEOUT_SECS),
            echo: false,
        }
    }
}

/// A pool of connections to one of the two backends.
#[derive(Clone)]
pub enum DbPool {
    /// PostgreSQL pool.
    #[cfg(feature = "postgres")]
    Pg(Pool<ConnectionManager<PgConnection>>),
    /// SQLite pool, and the connection that watches the file for commits
    /// (see [`crate::version`]).
    #[cfg(feature = "sqlite")]
    Sqlite(
        Pool<ConnectionManager<SqliteConnection>>,
        crate::version::SqliteWatch,
    ),
}

/// A connection checked out of a [`DbPool`].
pub enum DbConn {
    /// PostgreSQL connection.
    #[cfg(feature = "postgres")]
    Pg(PooledConnection<ConnectionManager<PgConnection>>),
    /// SQLite connection.
    #[cfg(feature = "sqlite")]
    Sqlite(PooledConnection<ConnectionManager<SqliteConnection>>),
}

impl DbConn {
    /// The backend of this connection.
    pub fn backend(&self) -> Backend {
        match self {
            #[cfg(feature = "postgres")]
            DbConn::Pg(_) => Backend::Postgres,
            #[cfg(feature = "sqlite")]
            DbConn::Sqlite(_) => Backend::Sqlite,
        }
    }
}

struct SqlEcho;

impl Instrumentation for SqlEcho {
    fn on_connection_event(&mut self, event: InstrumentationEvent<'_>) {
        if let InstrumentationEvent::StartQuery { query, .. } = event {
            log::info!(target: "qaboard_db::sql", "{query}");
        }
    }
}

#[cfg(feature = "postgres")]
#[derive(Debug)]
struct PgCustomizer {
    echo: bool,
}

#[cfg(feature = "postgres")]
impl CustomizeConnection<PgConnection, diesel::r2d2::Error> for PgCustomizer {
    fn on_acquire(&self, conn: &mut PgConnection) -> Result<(), diesel::r2d2::Error> {
        conn.batch_execute("SET TIME ZONE 'UTC'")
            .map_err(diesel::r2d2::Error::QueryError)?;
        if self.echo {
            conn.set_instrumentation(SqlEcho);
        }
        Ok(())
    }
}

#[cfg(feature = "sqlite")]
#[derive(Debug)]
struct SqliteCustomizer {
    echo: bool,
}

#[cfg(feature = "sqlite")]
impl CustomizeConnection<SqliteConnection, diesel::r2d2::Error> for SqliteCustomizer {
    fn on_acquire(&self, conn: &mut SqliteConnection) -> Result<(), diesel::r2d2::Error> {
        conn.batch_execute(
            "PRAGMA busy_timeout = 30000; PRAGMA journal_mode = WAL; \
             PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON;",
        )
        .map_err(diesel::r2d2::Error::QueryError)?;
        if self.echo {
            conn.set_instrumentation(SqlEcho);
        }
        Ok(())
    }
}

/// The SQLite file path of a URL (`sqlite://x`, `sqlite:x`, `file:x` or `x`).
pub fn sqlite_path(url: &str) -> &str {
    url.strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))
        .or_else(|| url.strip_prefix("file:"))
        .unwrap_or(url)
}

impl DbPool {
    /// Builds a pool and checks that one connection can be made.
    /// For SQLite, creates the file's parent folder when missing.
    pub fn connect(config: &DbConfig) -> Result<DbPool, DbError> {
        match Backend::of_url(&config.url) {
            #[cfg(not(feature = "postgres"))]
            Backend::Postgres => Err(DbError::Config(
                "this build has no PostgreSQL support (qaboard-db feature `postgres`)".into(),
            )),
            #[cfg(not(feature = "sqlite"))]
            Backend::Sqlite => Err(DbError::Config(
                "this build has no SQLite support (qaboard-db feature `sqlite`)".into(),
            )),
            #[cfg(feature = "postgres")]
            Backend::Postgres => {
                let manager = ConnectionManager::<PgConnection>::new(&config.url);
                let pool = Pool::builder()
                    .max_size(config.pool_size.max(1))
                    .min_idle(Some(1))
                    .connection_timeout(config.connection_timeout)
                    // No `SELECT 1` on every checkout: a broken connection
                    // fails its query (a 503/500) and r2d2 discards it.
                    .test_on_check_out(false)
                    .connection_customizer(Box::new(PgCustomizer { echo: config.echo }))
                    .build(manager)
                    .map_err(|e| DbError::Config(format!("cannot connect to PostgreSQL: {e}")))?;
                Ok(DbPool::Pg(pool))
            }
            #[cfg(feature = "sqlite")]
            Backend::Sqlite => {
                let path = sqlite_path(&config.url);
                if path.is_empty() {
                    return Err(DbError::Config("empty SQLite path".into()));
                }
                if path != ":memory:" {
                    if let Some(parent) = Path::new(path).parent() {
                        if !parent.as_os_str().is_empty() {
                            std::fs::create_dir_all(parent).map_err(|e| {
                                DbError::Config(format!("cannot create {}: {e}", parent.display()))
                            })?;
                        }
                    }
                }
                let manager = ConnectionManager::<SqliteConnection>::new(path);
                let pool = Pool::builder()
                    .max_size(config.pool_size.max(1))
                    .min_idle(Some(1))
                    .connection_timeout(config.connection_timeout)
                    // No `SELECT 1` on every checkout: a broken connection
                    // fails its query (a 503/500) and r2d2 discards it.
                    .test_on_check_out(false)
                    .connection_customizer(Box::new(SqliteCustomizer { echo: config.echo }))
                    .build(manager)
                    .map_err(|e| DbError::Config(format!("cannot open SQLite file {path}: {e}")))?;
                Ok(DbPool::Sqlite(pool, crate::version::SqliteWatch::new(path)))
            }
        }
    }

    /// Takes a connection, waiting at most the configured timeout.
    pub fn get(&self) -> Result<DbConn, DbError> {
        match self {
            #[cfg(feature = "postgres")]
            DbPool::Pg(p) => p
                .get()
                .map(DbConn::Pg)
                .map_err(|e| DbError::PoolExhausted(e.to_string())),
            #[cfg(feature = "sqlite")]
            DbPool::Sqlite(p, _) => p
                .get()
                .map(DbConn::Sqlite)
                .map_err(|e| DbError::PoolExhausted(e.to_string())),
        }
    }

    /// The backend of this pool.
    pub fn backend(&self) -> Backend {
        match self {
            #[cfg(feature = "postgres")]
            DbPool::Pg(_) => Backend::Postgres,
            #[cfg(feature = "sqlite")]
            DbPool::Sqlite(..) => Backend::Sqlite,
        }
    }

    /// Runs a trivial query: used by `/healthz`.
    pub fn ping(&self) -> Result<(), DbError> {
        let mut conn = self.get()?;
        match &mut conn {
            #[cfg(feature = "postgres")]
            DbConn::Pg(c) => c.batch_execute("SELECT 1")?,
            #[cfg(feature = "sqlite")]
            DbConn::Sqlite(c) => c.batch_execute("SELECT 1")?,
        }
        Ok(())
    }
}

/// Opens one unpooled connection (used by the migration tool).
pub fn establish(url: &str) -> Result<DbConn, DbError> {
    // A single connection is simplest to express as a pool of one.
    let pool = DbPool::connect(&DbConfig {
        pool_size: 1,
        ..DbConfig::new(url)
    })?;
    pool.get()
}

/// The original deployment's way to name a PostgreSQL server
/// (`QABOARD_DB_HOST`, `_PORT`, `_USER`, `_PASSWORD`, `_NAME`).
#[derive(Debug, Clone, Default, serde::Deserialize)]
pub struct DbParts {
    /// PostgreSQL host.
    pub host: Option<String>,
    /// PostgreSQL port (default 5432).
    pub port: Option<u16>,
    /// PostgreSQL user (default `qaboard`).
    pub user: Option<String>,
    /// PostgreSQL password (default `password`).
    pub password: Option<String>,
    /// PostgreSQL database name (default `qaboard`).
    pub name: Option<String>,
}

fn url_escape(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// Picks the database: an explicit URL first, then a PostgreSQL server named
/// by parts (when a host is given; other parts default like the original:
/// user `qaboard`, password `password`, port 5432, database `qaboard`), else
/// the embedded SQLite file `<data_dir>/qaboard.db`.
pub fn resolve_database_url(explicit: Option<&str>, parts: &DbParts, data_dir: &Path) -> String {
    if let Some(url) = explicit.filter(|u| !u.trim().is_empty()) {
        return url.trim().to_string();
    }
    if let Some(host) = parts.host.as_deref().filter(|h| !h.is_empty()) {
        return format!(
            "postgres://{}:{}@{}:{}/{}",
            url_escape(parts.user.as_deref().unwrap_or("qaboard")),
            url_escape(parts.password.as_deref().unwrap_or("password")),
            host,
            parts.port.unwrap_or(5432),
            url_escape(parts.name.as_deref().unwrap_or("qaboard")),
        );
    }
    data_dir.join("qaboard.db").to_string_lossy().into_owned()
}

/// A URL safe to print: the password replaced by `***`.
pub fn redact_url(url: &str) -> String {
    if let (Some(scheme_end), Some(at)) = (url.find("://"), url.rfind('@')) {
        let creds = &url[scheme_end + 3..at];
        if let Some(colon) = creds.find(':') {
            return format!(
                "{}{}:***{}",
                &url[..scheme_end + 3],
                &creds[..colon],
                &url[at..]
            );
        }
    }
    url.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn database_url_resolution() {
        let dir = Path::new("/data");
        assert_eq!(
            resolve_database_url(None, &DbParts::default(), dir),
            "/data/qaboard.db"
        );
        assert_eq!(
            resolve_database_url(Some("postgres://x/y"), &DbParts::default(), dir),
            "postgres://x/y"
        );
        let parts = DbParts {
            host: Some("db".into()),
            password: Some("p@ss".into()),
            ..Default::default()
        };
        assert_eq!(
            resolve_database_url(None, &parts, dir),
            "postgres://qaboard:p%40ss@db:5432/qaboard"
        );
        assert_eq!(
            redact_url("postgres://u:secret@h/d"),
            "postgres://u:***@h/d"
        );
        assert_eq!(redact_url("/data/qaboard.db"), "/data/qaboard.db");
    }

    #[test]
    fn backend_of_url() {
        assert_eq!(Backend::of_url("postgresql://h/d"), Backend::Postgres);
        assert_eq!(Backend::of_url("sqlite://a.db"), Backend::Sqlite);
        assert_eq!(sqlite_path("sqlite://a.db"), "a.db");
    }
}
