//! Persistence of QA-Board: diesel schema, every query, embedded migrations and
//! the connection pool, for PostgreSQL (production) and SQLite (embedded default).
//!
//! Query code is written once, one file per entity under `src/queries/`, and
//! compiled into one module per backend (`backend::pg`, `backend::sqlite`)
//! with that backend's schema in scope; the crate-private `dispatch!` /
//! `dispatch_tx!` macros pick the module of a connection (in the spirit of
//! vaultwarden's `db_run!`), so there are never two hand-kept copies.
//! The public API is [`ingest`] (writes of the `qa` CLI), [`read`] (reads),
//! [`projects`] (locked updates of a project's data), [`pool`] and
//! [`migrations`].
#![warn(missing_docs)]

pub(crate) mod backend;
pub mod error;
pub mod gc;
pub mod ingest;
pub mod jobs;
pub mod json;
pub mod migrations;
pub mod operations;
pub mod pool;
pub mod projects;
pub mod read;
pub(crate) mod rows;
pub(crate) mod schema;
// Pure Rust (reads SQLite's JSONB blobs); the shared query code names it on both backends.
#[cfg_attr(not(feature = "sqlite"), allow(dead_code))]
pub(crate) mod sqlite_jsonb;
#[cfg(feature = "testing")]
pub mod testing;
pub mod users;
pub mod version;
pub mod webhooks;

pub use error::DbError;
pub use pool::{redact_url, resolve_database_url, Backend, DbConfig, DbConn, DbParts, DbPool};
pub use version::DataVersion;

/// SQLite allows one writer at a time; writers of this process wait for
/// each other on this lock (fair, no sleeping) rather than on SQLite's busy
/// timeout. Other processes writing the same file still meet the timeout.
pub fn sqlite_write_lock() -> std::sync::MutexGuard<'static, ()> {
    static LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());
    LOCK.lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Runs `$body` inside a transaction of the connection's backend, with
/// `$c` bound to the backend's connection and `$q` to that backend's
/// `queries` module (in the spirit of vaultwarden's `db_run!`):
/// `dispatch_tx!(conn, |c, q| q::batch::record_batch(c, rec))`.
/// On SQLite the transaction is immediate and this process's writers queue
/// on [`sqlite_write_lock`] first.
macro_rules! dispatch_tx {
    ($conn:expr, |$c:ident, $q:ident| $body:expr) => {{
        match $conn {
            #[cfg(feature = "postgres")]
            $crate::DbConn::Pg(c) => {
                use ::diesel::Connection as _;
                let c: &mut ::diesel::PgConnection = &mut *c;
                c.transaction::<_, $crate::DbError, _>(|$c| {
                    use $crate::backend::pg::queries as $q;
                    $body
                })
            }
            #[cfg(feature = "sqlite")]
            $crate::DbConn::Sqlite(c) => {
                let c: &mut ::diesel::SqliteConnection = &mut *c;
                // One writer at a time, queued here instead of sleeping in
                // SQLite's busy handler (which made write latency spiky).
                let _writer = $crate::sqlite_write_lock();
                c.immediate_transaction::<_, $crate::DbError, _>(|$c| {
                    use $crate::backend::sqlite::queries as $q;
                    $body
                })
            }
        }
    }};
}
pub(crate) use dispatch_tx;

/// Like [`dispatch_tx!`] without a transaction (single reads, and writes
/// atomic on their own).
macro_rules! dispatch {
    ($conn:expr, |$c:ident, $q:ident| $body:expr) => {{
        match $conn {
            #[cfg(feature = "postgres")]
            $crate::DbConn::Pg(c) => {
                let $c: &mut ::diesel::PgConnection = &mut *c;
                use $crate::backend::pg::queries as $q;
                $body
            }
            #[cfg(feature = "sqlite")]
            $crate::DbConn::Sqlite(c) => {
                let $c: &mut ::diesel::SqliteConnection = &mut *c;
                use $crate::backend::sqlite::queries as $q;
                $body
            }
        }
    }};
}
pub(crate) use dispatch;
