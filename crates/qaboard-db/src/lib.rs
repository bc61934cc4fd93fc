//! Persistence of QA-Board: diesel schema, every query, embedded migrations and
//! the connection pool, for PostgreSQL (production) and SQLite (embedded default).
//!
//! Query code is written once, in `ops.rs`, and compiled into one module per
//! backend ([`backend::pg`], [`backend::sqlite`]) with that backend's schema in
//! scope; [`dispatch!`]/[`dispatch_tx!`] pick the module of a connection (in the
//! spirit of vaultwarden's `db_run!`), so there are never two hand-kept copies.

pub mod error;
pub mod ingest;
pub mod migrations;
pub mod pool;
pub mod projects;
pub mod read;
pub mod rows;
pub mod schema;
pub mod sqlite_jsonb;
#[cfg(feature = "testing")]
pub mod testing;
pub mod version;

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

/// Calls `backend::<backend>::$f($args)` inside a transaction of the connection's backend.
#[doc(hidden)]
#[macro_export]
macro_rules! dispatch_tx {
    ($conn:expr, $f:ident($($arg:expr),*)) => {{
        use ::diesel::Connection as _;
        match $conn {
            $crate::DbConn::Pg(c) => {
                let c: &mut ::diesel::PgConnection = &mut *c;
                c.transaction::<_, $crate::DbError, _>(|c| $crate::backend::pg::$f(c, $($arg),*))
            }
            $crate::DbConn::Sqlite(c) => {
                let c: &mut ::diesel::SqliteConnection = &mut *c;
                // One writer at a time, queued here instead of sleeping in
                // SQLite's busy handler (which made write latency spiky).
                let _writer = $crate::sqlite_write_lock();
                c.immediate_transaction::<_, $crate::DbError, _>(|c| $crate::backend::sqlite::$f(c, $($arg),*))
            }
        }
    }};
}

/// Calls `backend::<backend>::$f($args)` without a transaction (single reads).
#[doc(hidden)]
#[macro_export]
macro_rules! dispatch {
    ($conn:expr, $f:ident($($arg:expr),*)) => {{
        match $conn {
            $crate::DbConn::Pg(c) => $crate::backend::pg::$f(&mut *c, $($arg),*),
            $crate::DbConn::Sqlite(c) => $crate::backend::sqlite::$f(&mut *c, $($arg),*),
        }
    }};
}

/// The query code, compiled once per backend from the same source file
/// (`ops.rs`) with that backend's schema in scope.
pub mod backend {
    /// PostgreSQL.
    pub mod pg {
        #[allow(unused_imports)]
        use crate::schema::pg::*;
        /// The connection type of this backend.
        pub type Conn = ::diesel::PgConnection;
        /// Whether this module is PostgreSQL's (for SQL written by hand).
        const IS_POSTGRES: bool = true;
        /// SQL type of time-zone-aware timestamps.
        pub type TzType = ::diesel::sql_types::Timestamptz;
        /// Locks the selected rows for an update that changes no key, so that
        /// foreign-key checks of concurrent inserts (`KEY SHARE`) do not wait.
        macro_rules! for_update {
            ($q:expr) => {
                $q.for_no_key_update()
            };
        }
        /// A JSON column, read as its text (see `read::JsonText`).
        macro_rules! json_text {
            ($col:expr, $sql:literal) => {
                ::diesel::dsl::sql::<::diesel::sql_types::Text>(concat!($sql, "::text"))
            };
        }
        /// `test_inputs.data.metadata` as JSON text, or NULL.
        macro_rules! input_metadata_text {
            () => {
                ::diesel::dsl::sql::<::diesel::sql_types::Nullable<::diesel::sql_types::Text>>(
                    "(test_inputs.data -> 'metadata')::text",
                )
            };
        }
        /// The conflict target of the output upsert: the expressions of the
        /// `outputs_identity` unique index.
        const OUTPUT_IDENTITY: &str =
            "batch_id, test_input_id, COALESCE(platform, ''), md5(configurations::text), md5(extra_parameters::text)";
        /// Held around a write made outside a transaction: nothing on PostgreSQL.
        macro_rules! single_writer {
            () => {
                ()
            };
        }
        include!("ops.rs");
    }
    /// SQLite.
    pub mod sqlite {
        #[allow(unused_imports)]
        use crate::schema::sqlite::*;
        /// The connection type of this backend.
        pub type Conn = ::diesel::SqliteConnection;
        /// Whether this module is PostgreSQL's (for SQL written by hand).
        const IS_POSTGRES: bool = false;
        /// SQL type of time-zone-aware timestamps.
        pub type TzType = ::diesel::sql_types::TimestamptzSqlite;
        macro_rules! for_update {
            ($q:expr) => {
                $q
            };
        }
        /// A JSON column, read as its text (see `read::JsonText`).
        macro_rules! json_text {
            ($col:expr, $sql:literal) => {
                $col
            };
        }
        /// `test_inputs.data.metadata`, read as its text (see `read::MetadataText`).
        macro_rules! input_metadata_text {
            () => {
                test_inputs::data.nullable()
            };
        }
        /// See the PostgreSQL module; SQLite compares the JSONB blobs.
        const OUTPUT_IDENTITY: &str =
            "batch_id, test_input_id, ifnull(platform, ''), configurations, extra_parameters";
        /// Held around a write made outside a transaction: this process's writer lock.
        macro_rules! single_writer {
            () => {
                crate::sqlite_write_lock()
            };
        }
        include!("ops.rs");
    }
}
