//! What the jobs the server starts and stops need from the database
//! (OPERATIONS.md §1 stop/redo, §2 redo, §3; issue 13).
//!
//! Job records (`qaboard_jobs::JobRecord` as JSON) live in
//! `batch.data.server_jobs[command_id]`, an array (a batch redo starts several
//! jobs under one command id). They are kept apart from `batch.data.commands`,
//! which `qa batch` posts and ingestion merges; ingestion drops client writes
//! of `server_jobs`.
use qaboard_model::BatchId;

use crate::ingest::OutputWithInput;
use crate::{DbConn, DbError};

/// Every output of a batch with its test input, by id.
pub fn batch_outputs(conn: &mut DbConn, batch: BatchId) -> Result<Vec<OutputWithInput>, DbError> {
    crate::dispatch!(conn, |c, q| q::jobs::batch_outputs(c, batch.0))
}

/// Appends `records` to `batch.data.server_jobs[command_id]` in one
/// transaction (row locked on PostgreSQL). Errors: `NotFound` (no such batch).
pub fn add_server_jobs(
    conn: &mut DbConn,
    batch: BatchId,
    command_id: &str,
    records: &[serde_json::Value],
) -> Result<(), DbError> {
    crate::dispatch_tx!(conn, |c, q| q::jobs::add_server_jobs(
        c, batch.0, command_id, records
    ))
}

/// Settles the pending outputs of a stopped batch as the contract's
/// "Decisions" say: `is_pending=false, is_running=false, is_failed=true`, in
/// one transaction. Returns how many outputs changed.
pub fn settle_stopped(conn: &mut DbConn, batch: BatchId) -> Result<usize, DbError> {
    crate::dispatch_tx!(conn, |c, q| q::jobs::settle_stopped(c, batch.0))
}

/// A commit of `project` by full sha or unique prefix, with its project.
/// Errors: `Ambiguous` when several commits share the prefix.
pub fn commit_with_project(
    conn: &mut DbConn,
    project: &str,
    sha: &str,
) -> Result<Option<(Option<qaboard_model::Project>, qaboard_model::CiCommit)>, DbError> {
    Ok(
        crate::dispatch!(conn, |c, q| q::jobs::commit_with_project(c, project, sha))?
            .map(|(p, c)| (p.map(Into::into), c.into())),
    )
}

/// Before starting tuning (OPERATIONS.md §4.2), in one transaction: sets the
/// commit's `latest_output_datetime` to now (shields it from garbage
/// collection), gets or creates batch `label` and, when it has none, stores
/// `default_dir` as its `batch_dir_override`. Returns the batch.
pub fn prepare_tuning_batch(
    conn: &mut DbConn,
    commit_id: qaboard_model::CommitId,
    label: &str,
    default_dir: &str,
) -> Result<qaboard_model::Batch, DbError> {
    Ok(
        crate::dispatch_tx!(conn, |c, q| q::jobs::prepare_tuning_batch(
            c,
            commit_id.0,
            label,
            default_dir
        ))?
        .into(),
    )
}

/// Every commit whose sha is exactly `sha`, in any project, oldest row
/// first, each with its project (for `POST /api/v1/commit/save-artifacts/`,
/// OPERATIONS.md §4.3, as the original's query on `hexsha` alone).
pub fn commits_by_sha(
    conn: &mut DbConn,
    sha: &str,
) -> Result<Vec<(Option<qaboard_model::Project>, qaboard_model::CiCommit)>, DbError> {
    Ok(
        crate::dispatch!(conn, |c, q| q::jobs::commits_by_sha(c, sha))?
            .into_iter()
            .map(|(p, c)| (p.map(Into::into), c.into()))
            .collect(),
    )
}

/// Marks a commit's artifacts as present again (`deleted = false`) after
/// they were restored (OPERATIONS.md §4.3); with `by` (a logged-in
/// webapp user, issue 14) also records it as `commit.data.last_action`.
/// Returns how many rows changed (0: no such commit).
pub fn mark_commit_restored(
    conn: &mut DbConn,
    commit_id: qaboard_model::CommitId,
    by: Option<&qaboard_model::action::Action>,
) -> Result<usize, DbError> {
    crate::dispatch_tx!(conn, |c, q| q::jobs::mark_commit_restored(
        c,
        commit_id.0,
        by
    ))
}

/// Sets `batch.data[key] = value` in one transaction (row locked on
/// PostgreSQL), e.g. who stopped a batch (`data.last_action`, issue 14).
/// Returns how many rows changed (0: no such batch).
pub fn record_in_batch_data(
    conn: &mut DbConn,
    batch: BatchId,
    key: &str,
    value: &serde_json::Value,
) -> Result<usize, DbError> {
    crate::dispatch_tx!(conn, |c, q| q::jobs::record_in_batch_data(
        c, batch.0, key, value
    ))
}
