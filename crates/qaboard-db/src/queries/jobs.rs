//! Jobs the server starts and stops (OPERATIONS.md §1 stop/redo, §3): the
//! outputs of a batch, the job records kept in `batch.data.server_jobs`, and
//! the settling of stopped outputs.
use super::prelude::*;
use super::test_input::find_test_input;

/// See [`crate::jobs::batch_outputs`].
pub(crate) fn batch_outputs(
    conn: &mut Conn,
    batch_id: i32,
) -> Result<Vec<OutputWithInput>, DbError> {
    let rows = outputs::table
        .filter(outputs::batch_id.eq(batch_id))
        .order(outputs::id.asc())
        .select(output_cols!())
        .load::<OutputRow>(conn)?;
    let mut out = Vec::with_capacity(rows.len());
    for row in rows {
        let input = find_test_input(conn, row.test_input_id)?;
        out.push(OutputWithInput {
            output: row.into(),
            test_input: input.map(Into::into),
        });
    }
    Ok(out)
}

/// See [`crate::jobs::add_server_jobs`]. Runs inside a transaction.
pub(crate) fn add_server_jobs(
    conn: &mut Conn,
    batch_id: i32,
    command_id: &str,
    records: &[Value],
) -> Result<(), DbError> {
    let data: Value = for_update!(batches::table
        .filter(batches::id.eq(batch_id))
        .select(batches::data))
    .first::<Value>(conn)
    .optional()?
    .ok_or_else(|| DbError::NotFound {
        what: "batch",
        key: batch_id.to_string(),
    })?;
    let mut data = match data {
        Value::Object(m) => m,
        _ => Map::new(),
    };
    let jobs = data
        .entry("server_jobs")
        .or_insert_with(|| Value::Object(Map::new()));
    if !jobs.is_object() {
        *jobs = Value::Object(Map::new());
    }
    let entry = jobs
        .as_object_mut()
        .expect("made an object above")
        .entry(command_id.to_string())
        .or_insert_with(|| Value::Array(Vec::new()));
    if !entry.is_array() {
        let one = entry.take();
        *entry = Value::Array(if one.is_null() { vec![] } else { vec![one] });
    }
    entry
        .as_array_mut()
        .expect("made an array above")
        .extend(records.iter().cloned());
    diesel::update(batches::table.filter(batches::id.eq(batch_id)))
        .set(batches::data.eq(Value::Object(data)))
        .execute(conn)?;
    Ok(())
}

/// See [`crate::jobs::settle_stopped`]. Runs inside a transaction.
pub(crate) fn settle_stopped(conn: &mut Conn, batch_id: i32) -> Result<usize, DbError> {
    Ok(diesel::update(
        outputs::table
            .filter(outputs::batch_id.eq(batch_id))
            .filter(outputs::is_pending.eq(true)),
    )
    .set((
        outputs::is_pending.eq(false),
        outputs::is_running.eq(false),
        outputs::is_failed.eq(true),
    ))
    .execute(conn)?)
}

/// See [`crate::jobs::commit_with_project`].
pub(crate) fn commit_with_project(
    conn: &mut Conn,
    project: &str,
    sha: &str,
) -> Result<Option<(Option<ProjectRow>, CommitRow)>, DbError> {
    let Some(commit) = super::commit::find_commit(conn, project, sha)? else {
        return Ok(None);
    };
    let project = match commit.project_id.as_deref() {
        Some(id) => super::project::find_project(conn, id)?,
        None => None,
    };
    Ok(Some((project, commit)))
}

/// See [`crate::jobs::prepare_tuning_batch`]. Runs inside a transaction.
pub(crate) fn prepare_tuning_batch(
    conn: &mut Conn,
    commit_id: i32,
    label: &str,
    default_dir: &str,
) -> Result<BatchRow, DbError> {
    diesel::update(ci_commits::table.filter(ci_commits::id.eq(commit_id)))
        .set(ci_commits::latest_output_datetime.eq(Utc::now()))
        .execute(conn)?;
    let mut batch = super::batch::get_or_create_batch(conn, commit_id, label, true)?;
    if batch
        .batch_dir_override
        .as_deref()
        .is_none_or(str::is_empty)
    {
        diesel::update(batches::table.filter(batches::id.eq(batch.id)))
            .set(batches::batch_dir_override.eq(default_dir))
            .execute(conn)?;
        batch.batch_dir_override = Some(default_dir.to_string());
    }
    Ok(batch)
}

/// See [`crate::jobs::commits_by_sha`].
pub(crate) fn commits_by_sha(
    conn: &mut Conn,
    sha: &str,
) -> Result<Vec<(Option<ProjectRow>, CommitRow)>, DbError> {
    let commits = ci_commits::table
        .filter(ci_commits::hexsha.eq(sha))
        .order(ci_commits::id.asc())
        .select(commit_cols!())
        .load::<CommitRow>(conn)?;
    let mut out = Vec::with_capacity(commits.len());
    for commit in commits {
        let project = match commit.project_id.as_deref() {
            Some(id) => super::project::find_project(conn, id)?,
            None => None,
        };
        out.push((project, commit));
    }
    Ok(out)
}

/// See [`crate::jobs::mark_commit_restored`]. Runs inside a transaction.
pub(crate) fn mark_commit_restored(
    conn: &mut Conn,
    commit_id: i32,
    by: Option<&qaboard_model::action::Action>,
) -> Result<usize, DbError> {
    let n = diesel::update(ci_commits::table.filter(ci_commits::id.eq(commit_id)))
        .set(ci_commits::deleted.eq(false))
        .execute(conn)?;
    if let (Some(by), true) = (by, n > 0) {
        super::action::record_action(conn, super::action::ActionRow::Commit(commit_id), by)?;
    }
    Ok(n)
}

/// See [`crate::jobs::record_in_batch_data`]. Runs inside a transaction.
pub(crate) fn record_in_batch_data(
    conn: &mut Conn,
    batch_id: i32,
    key: &str,
    value: &Value,
) -> Result<usize, DbError> {
    let Some(data) = for_update!(batches::table
        .filter(batches::id.eq(batch_id))
        .select(batches::data))
    .first::<Value>(conn)
    .optional()?
    else {
        return Ok(0);
    };
    let mut data = match data {
        Value::Object(m) => m,
        _ => Map::new(),
    };
    data.insert(key.to_string(), value.clone());
    Ok(
        diesel::update(batches::table.filter(batches::id.eq(batch_id)))
            .set(batches::data.eq(Value::Object(data)))
            .execute(conn)?,
    )
}
