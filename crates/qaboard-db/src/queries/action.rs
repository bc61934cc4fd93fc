//! Who did a webapp write: `data.last_action` of a row (see `qaboard_model::action`).
//! Runs inside the write's transaction, after its rows are locked.
use super::prelude::*;
use qaboard_model::action::Action;

/// The row that records an action.
#[derive(Debug, Clone, Copy)]
pub(crate) enum ActionRow {
    Output(i32),
    Batch(i32),
    Commit(i32),
}

/// Sets `data.last_action` of the row `$id` of `$table` (locked first); a row that is gone is
/// skipped.
macro_rules! record_in {
    ($conn:expr, $table:ident, $id:expr, $action:expr) => {{
        let q = $table::table
            .filter($table::id.eq($id))
            .select($table::data);
        if let Some(data) = for_update!(q).first::<Value>($conn).optional()? {
            diesel::update($table::table.filter($table::id.eq($id)))
                .set($table::data.eq($action.recorded_in(data)))
                .execute($conn)?;
        }
    }};
}

/// Sets `data.last_action` of `row` to `action`; a row that is gone is skipped.
pub(crate) fn record_action(
    conn: &mut Conn,
    row: ActionRow,
    action: &Action,
) -> Result<(), DbError> {
    match row {
        ActionRow::Output(id) => record_in!(conn, outputs, id, action),
        ActionRow::Batch(id) => record_in!(conn, batches, id, action),
        ActionRow::Commit(id) => record_in!(conn, ci_commits, id, action),
    }
    Ok(())
}
