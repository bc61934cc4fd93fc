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

/// Sets `data.last_action` of `row` to `action`; a row that is gone is skipped.
pub(crate) fn record_action(
    conn: &mut Conn,
    row: ActionRow,
    action: &Action,
) -> Result<(), DbError> {
    match row {
        ActionRow::Output(id) => {
            let q = outputs::table
                .filter(outputs::id.eq(id))
                .select(outputs::data);
            if let Some(data) = for_update!(q).first::<Value>(conn).optional()? {
                diesel::update(outputs::table.filter(outputs::id.eq(id)))
                    .set(outputs::data.eq(action.recorded_in(data)))
                    .execute(conn)?;
            }
        }
        ActionRow::Batch(id) => {
            let q = batches::table
                .filter(batches::id.eq(id))
                .select(batches::data);
            if let Some(data) = for_update!(q).first::<Value>(conn).optional()? {
                diesel::update(batches::table.filter(batches::id.eq(id)))
                    .set(batches::data.eq(action.recorded_in(data)))
                    .execute(conn)?;
            }
        }
        ActionRow::Commit(id) => {
            let q = ci_commits::table
                .filter(ci_commits::id.eq(id))
                .select(ci_commits::data);
            if let Some(data) = for_update!(q).first::<Value>(conn).optional()? {
                diesel::update(ci_commits::table.filter(ci_commits::id.eq(id)))
                    .set(ci_commits::data.eq(action.recorded_in(data)))
                    .execute(conn)?;
            }
        }
    }
    Ok(())
}
