//! One diesel schema module per backend. Query code is written once and
//! compiled against each of them by [`crate::db_run!`].
pub mod pg;
pub mod sqlite;
