//! Batches: get-or-create by label, updates posted by `qa batch` and the
//! `qa optimize` iteration rule (see `qaboard_model::batch_data`).
use super::commit::get_or_create_commit;
use super::prelude::*;
use qaboard_model::batch_data;

pub(crate) fn find_batch(
    conn: &mut Conn,
    commit_id: i32,
    label: &str,
) -> Result<Option<BatchRow>, DbError> {
    Ok(batches::table
        .filter(batches::ci_commit_id.eq(commit_id))
        .filter(batches::label.eq(label))
        .select(batch_cols!())
        .first::<BatchRow>(conn)
        .optional()?)
}

// On SQLite `for_update!` is the identity, so both branches below are the same there.
#[allow(clippy::if_same_then_else)]
pub(crate) fn get_or_create_batch(
    conn: &mut Conn,
    commit_id: i32,
    label: &str,
    lock: bool,
) -> Result<BatchRow, DbError> {
    if !lock {
        if let Some(b) = find_batch(conn, commit_id, label)? {
            return Ok(b);
        }
    }
    diesel::insert_into(batches::table)
        .values((
            batches::ci_commit_id.eq(commit_id),
            batches::label.eq(label),
            batches::created_date.eq(now_naive()),
            batches::data.eq(Value::Object(Map::new())),
        ))
        .on_conflict_do_nothing()
        .execute(conn)?;
    let q = batches::table
        .filter(batches::ci_commit_id.eq(commit_id))
        .filter(batches::label.eq(label))
        .select(batch_cols!());
    Ok(if lock {
        for_update!(q).first::<BatchRow>(conn)?
    } else {
        q.first::<BatchRow>(conn)?
    })
}

pub(crate) fn set_batch_data(conn: &mut Conn, id: i32, data: &Value) -> Result<(), DbError> {
    diesel::update(batches::table.filter(batches::id.eq(id)))
        .set(batches::data.eq(data))
        .execute(conn)?;
    Ok(())
}

pub(crate) fn delete_outputs_of_batch(conn: &mut Conn, batch_id: i32) -> Result<(), DbError> {
    diesel::delete(outputs::table.filter(outputs::batch_id.eq(batch_id))).execute(conn)?;
    Ok(())
}

/// See [`crate::ingest::record_batch`].
pub(crate) fn record_batch(
    conn: &mut Conn,
    rec: &BatchRecord,
) -> Result<qaboard_model::Batch, DbError> {
    let commit = get_or_create_commit(conn, &rec.commit)?;
    let batch = get_or_create_batch(conn, commit.id, &rec.label, true)?;
    let step = batch_data::optimize_step(&rec.label, &rec.data);
    let best = step.as_ref().filter(|s| s.is_best);
    let data = batch_data::merged_batch_data(
        &batch.data,
        &commit.data,
        rec.commit.qaboard_config.as_ref(),
        rec.commit.qaboard_metrics.as_ref(),
        &rec.data,
        rec.command.as_ref(),
        best.and_then(|s| s.best_iteration.as_ref()),
    );

    // `qa optimize`: the best iteration's outputs become the batch's outputs,
    // and finished iteration batches are removed.
    if let Some(best) = best {
        diesel::delete(
            outputs::table
                .filter(outputs::batch_id.eq(batch.id))
                .filter(
                    outputs::output_type
                        .ne("optim_iteration")
                        .or(outputs::output_type.is_null()),
                ),
        )
        .execute(conn)?;
        if let Some(best_label) = &best.take_outputs_from {
            let best = get_or_create_batch(conn, commit.id, best_label, true)?;
            move_outputs(conn, best.id, batch.id)?;
        }
    }
    if let Some(up_to) = step.as_ref().and_then(|s| s.retire_up_to) {
        let prefix = batch_data::iteration_label_prefix(&rec.label);
        let iteration_batches = batches::table
            .filter(batches::ci_commit_id.eq(commit.id))
            .filter(batches::label.like(like_prefix(&prefix)).escape('\\'))
            .select((batches::id, batches::label))
            .load::<(i32, Option<String>)>(conn)?;
        for (id, label) in iteration_batches {
            if label.is_some_and(|l| batch_data::is_retired_iteration(&rec.label, &l, up_to)) {
                delete_outputs_of_batch(conn, id)?;
                diesel::delete(batches::table.filter(batches::id.eq(id))).execute(conn)?;
            }
        }
    }

    diesel::update(batches::table.filter(batches::id.eq(batch.id)))
        .set((
            batches::data.eq(data),
            batches::batch_dir_override.eq(rec.batch_dir.as_deref()),
        ))
        .execute(conn)?;
    Ok(batches::table
        .filter(batches::id.eq(batch.id))
        .select(batch_cols!())
        .first::<BatchRow>(conn)?
        .into())
}

/// Moves every output of batch `from` into batch `to`, replacing outputs of
/// `to` that have the same identity.
pub(crate) fn move_outputs(conn: &mut Conn, from: i32, to: i32) -> Result<(), DbError> {
    let moving = outputs::table
        .filter(outputs::batch_id.eq(from))
        .select((
            outputs::test_input_id,
            outputs::platform,
            outputs::configurations,
            outputs::extra_parameters,
        ))
        .load::<(Option<i32>, Option<String>, Json, Json)>(conn)?;
    for (input, platform, configurations, extra_parameters) in moving {
        let mut q = diesel::delete(outputs::table)
            .filter(outputs::batch_id.eq(to))
            .filter(outputs::configurations.eq(configurations.0))
            .filter(outputs::extra_parameters.eq(extra_parameters.0))
            .into_boxed();
        q = match input {
            Some(i) => q.filter(outputs::test_input_id.eq(i)),
            None => q.filter(outputs::test_input_id.is_null()),
        };
        q = match platform {
            Some(p) => q.filter(outputs::platform.eq(p)),
            None => q.filter(outputs::platform.is_null()),
        };
        q.execute(conn)?;
    }
    diesel::update(outputs::table.filter(outputs::batch_id.eq(from)))
        .set(outputs::batch_id.eq(to))
        .execute(conn)?;
    Ok(())
}
