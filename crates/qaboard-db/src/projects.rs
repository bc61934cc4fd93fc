//! Read-modify-write of a project's `data` (e.g. its shared milestones).
//!
//! The whole update runs in one transaction that holds the project's row
//! lock (`SELECT ... FOR UPDATE` on PostgreSQL, an immediate transaction on
//! SQLite), so concurrent updates of different keys never lose each other.
use serde_json::Value;

use crate::{DbConn, DbError};

/// Runs `f` on the project's `data` and stores the result, all inside one
/// transaction with the project's row locked. `NotFound` when the project
/// does not exist; an error from `f` rolls everything back (nothing stored).
pub fn update_project_data<T>(
    conn: &mut DbConn,
    id: &str,
    f: impl FnOnce(&mut Value) -> Result<T, DbError>,
) -> Result<T, DbError> {
    crate::dispatch_tx!(conn, |c, q| {
        let mut data = q::project::project_data_locked(c, id)?.ok_or_else(|| not_found(id))?;
        let out = f(&mut data)?;
        q::project::set_project_data(c, id, &data)?;
        Ok(out)
    })
}

fn not_found(id: &str) -> DbError {
    DbError::NotFound {
        what: "project",
        key: id.to_string(),
    }
}
