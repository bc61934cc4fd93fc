//! PostgreSQL: its connection, schema and SQL differences, then the shared
//! query code.

/// The tables of this backend's schema.
pub(crate) mod tables {
    pub(crate) use crate::schema::pg::*;
}

/// The connection type of this backend.
pub(crate) type Conn = ::diesel::PgConnection;
/// Whether this module is PostgreSQL's (for SQL written by hand).
pub(crate) const IS_POSTGRES: bool = true;
/// SQL type of time-zone-aware timestamps.
pub(crate) type TzType = ::diesel::sql_types::Timestamptz;
/// The conflict target of the output upsert: the expressions of the
/// `outputs_identity` unique index.
pub(crate) const OUTPUT_IDENTITY: &str = "batch_id, test_input_id, COALESCE(platform, ''), \
     md5(configurations::text), md5(extra_parameters::text)";

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

/// Held around a write made outside a transaction: nothing on PostgreSQL.
macro_rules! single_writer {
    () => {
        ()
    };
}

/// The shared query code, compiled here with this backend's items in scope
/// (the same files are mounted by the other backend: on purpose).
#[path = "../queries/mod.rs"]
#[allow(clippy::duplicate_mod)]
pub(crate) mod queries;
