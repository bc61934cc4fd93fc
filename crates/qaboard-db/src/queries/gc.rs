//! Storage garbage collection: every project, a project's commits, marking
//! outputs and commits deleted, the PostgreSQL advisory lock.
use super::prelude::*;

/// Every project.
pub(crate) fn all_projects(conn: &mut Conn) -> Result<Vec<ProjectRow>, DbError> {
    Ok(projects::table
        .select((
            projects::id,
            projects::data,
            projects::latest_output_datetime,
        ))
        .order(projects::id)
        .load::<ProjectRow>(conn)?)
}

/// Every commit of a project (deleted ones too: they count for branch heads).
pub(crate) fn project_commits(conn: &mut Conn, project: &str) -> Result<Vec<CommitRow>, DbError> {
    Ok(ci_commits::table
        .filter(ci_commits::project_id.eq(project))
        .select(commit_cols!())
        .order(ci_commits::id)
        .load::<CommitRow>(conn)?)
}

/// Sets `deleted = true` on these outputs; returns how many rows changed.
pub(crate) fn mark_outputs_deleted(conn: &mut Conn, ids: &[i32]) -> Result<usize, DbError> {
    let mut n = 0;
    for chunk in ids.chunks(500) {
        n += diesel::update(outputs::table.filter(outputs::id.eq_any(chunk)))
            .set(outputs::deleted.eq(true))
            .execute(conn)?;
    }
    Ok(n)
}

/// Sets `deleted = true` on a commit (its artifacts are gone).
pub(crate) fn mark_commit_deleted(conn: &mut Conn, id: i32) -> Result<usize, DbError> {
    Ok(
        diesel::update(ci_commits::table.filter(ci_commits::id.eq(id)))
            .set(ci_commits::deleted.eq(true))
            .execute(conn)?,
    )
}

#[derive(diesel::QueryableByName)]
struct Locked {
    #[diesel(sql_type = diesel::sql_types::Bool)]
    locked: bool,
}

/// `pg_try_advisory_lock(key)` / `pg_advisory_unlock(key)` on this session
/// (PostgreSQL only; SQLite answers `true`).
pub(crate) fn advisory_lock(conn: &mut Conn, key: i64, lock: bool) -> Result<bool, DbError> {
    if !IS_POSTGRES {
        return Ok(true);
    }
    let sql = if lock {
        "SELECT pg_try_advisory_lock($1) AS locked"
    } else {
        "SELECT pg_advisory_unlock($1) AS locked"
    };
    let row: Locked = diesel::sql_query(sql)
        .bind::<diesel::sql_types::BigInt, _>(key)
        .get_result(conn)?;
    Ok(row.locked)
}
