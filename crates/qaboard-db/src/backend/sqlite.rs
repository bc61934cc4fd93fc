//! SQLite: its connection, schema and SQL differences, then the shared
//! query code.

/// The tables of this backend's schema.
pub(crate) mod tables {
    pub(crate) use crate::schema::sqlite::*;
}

/// The connection type of this backend.
pub(crate) type Conn = ::diesel::SqliteConnection;
/// Whether this module is PostgreSQL's (for SQL written by hand).
pub(crate) const IS_POSTGRES: bool = false;
/// SQL type of time-zone-aware timestamps.
pub(crate) type TzType = ::diesel::sql_types::TimestamptzSqlite;
/// See the PostgreSQL module; SQLite compares the JSONB blobs.
pub(crate) const OUTPUT_IDENTITY: &str =
    "batch_id, test_input_id, ifnull(platform, ''), configurations, extra_parameters";

/// No row locks: SQLite's write transactions are exclusive.
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

/// Held around a write made outside a transaction: this process's writer lock.
macro_rules! single_writer {
    () => {
        crate::sqlite_write_lock()
    };
}

/// The shared query code, compiled here with this backend's items in scope
/// (the same files are mounted by the other backend: on purpose).
#[path = "../queries/mod.rs"]
#[allow(clippy::duplicate_mod)]
pub(crate) mod queries;
