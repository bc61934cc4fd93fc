//! What storage garbage collection reads and writes (OPERATIONS.md §10):
//! projects, a project's commits, `deleted` marks, and the lock that lets
//! only one collection run at a time on PostgreSQL.
use qaboard_model::{CiCommit, Project};

use crate::{DbConn, DbError};

/// Key of the PostgreSQL advisory lock held by a garbage collection
/// (`pg_try_advisory_lock`): the bytes of `"qaboard:gc"` folded into an
/// `i64`, so it does not clash with other applications' small keys.
pub const GC_LOCK_KEY: i64 = 0x7161_6273_3a67_6301;

/// Every project, sorted by id.
pub fn all_projects(conn: &mut DbConn) -> Result<Vec<Project>, DbError> {
    Ok(crate::dispatch!(conn, |c, q| q::gc::all_projects(c))?
        .into_iter()
        .map(Into::into)
        .collect())
}

/// Every commit of a project, deleted ones included, oldest row first.
pub fn project_commits(conn: &mut DbConn, project: &str) -> Result<Vec<CiCommit>, DbError> {
    Ok(
        crate::dispatch!(conn, |c, q| q::gc::project_commits(c, project))?
            .into_iter()
            .map(Into::into)
            .collect(),
    )
}

/// In one transaction: `deleted = true` on these outputs, and on the commit
/// `commit_id` when given (its artifacts were removed). Returns how many
/// output rows changed.
pub fn mark_deleted(
    conn: &mut DbConn,
    output_ids: &[qaboard_model::OutputId],
    commit_id: Option<qaboard_model::CommitId>,
) -> Result<usize, DbError> {
    let ids: Vec<i32> = output_ids.iter().map(|o| o.0).collect();
    crate::dispatch_tx!(conn, |c, q| {
        let n = q::gc::mark_outputs_deleted(c, &ids)?;
        if let Some(id) = commit_id {
            q::gc::mark_commit_deleted(c, id.0)?;
        }
        Ok(n)
    })
}

/// Tries to take the garbage-collection lock on this connection's session
/// (`pg_try_advisory_lock(GC_LOCK_KEY)`, not waiting). `false`: another
/// session holds it. The lock lives until [`unlock_gc`] or the end of the
/// session, so keep the connection for the whole run. SQLite has no such
/// lock and answers `true` (use a lock file).
pub fn try_lock_gc(conn: &mut DbConn) -> Result<bool, DbError> {
    crate::dispatch!(conn, |c, q| q::gc::advisory_lock(c, GC_LOCK_KEY, true))
}

/// Releases the lock taken by [`try_lock_gc`] on this session.
pub fn unlock_gc(conn: &mut DbConn) -> Result<bool, DbError> {
    crate::dispatch!(conn, |c, q| q::gc::advisory_lock(c, GC_LOCK_KEY, false))
}
