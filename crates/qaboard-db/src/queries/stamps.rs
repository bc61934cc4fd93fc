//! Versions of the heavy reads from the rows' change stamps (issue 16; the
//! columns and triggers are in the `read_stamps` migrations). A version is a
//! text that differs whenever something the read renders changed: the
//! project's data stamp, then for each level (commits, batches, outputs) the
//! count and the sum of the rows' stamps. Every insert or update gives a row
//! a stamp larger than any it had, and a delete re-stamps the parent row, so
//! no committed change leaves all of them equal, in whatever order
//! concurrent transactions commit. Legacy rows without stamp count as 0.
use super::commit::find_commit;
use super::prelude::*;
use super::window::window_commit_stamps;

#[derive(diesel::QueryableByName)]
struct VersionRow {
    #[diesel(sql_type = diesel::sql_types::Nullable<diesel::sql_types::Text>)]
    v: Option<String>,
}

/// `count.sum` of the stamps of `rows` (an SQL `FROM ... WHERE ...`).
fn count_sum(rows: &str) -> String {
    format!(
        "(SELECT CAST(count(*) AS TEXT) || '.' || CAST(COALESCE(sum(stamp), 0) AS TEXT) {rows})"
    )
}

/// The project's stamp, then `parts`, in one statement.
fn version_of(conn: &mut Conn, project: &str, parts: &[String]) -> Result<String, DbError> {
    version_with(conn, "", project, parts)
}

/// [`version_of`] with a `WITH ...` clause `with` (empty: none) the parts may read.
fn version_with(
    conn: &mut Conn,
    with: &str,
    project: &str,
    parts: &[String],
) -> Result<String, DbError> {
    let placeholder = if IS_POSTGRES { "$1" } else { "?" };
    let mut sql = format!(
        "{with} SELECT COALESCE((SELECT CAST(stamp AS TEXT) FROM projects WHERE id = {placeholder}), 'n')"
    );
    for p in parts {
        sql.push_str(" || ':' || ");
        sql.push_str(p);
    }
    sql.push_str(" AS v");
    let row: VersionRow = diesel::sql_query(sql)
        .bind::<diesel::sql_types::Text, _>(project)
        .get_result(conn)?;
    Ok(row.v.unwrap_or_default())
}

/// The version of commit `sha` (full or unique prefix) of `project` with its
/// batches and outputs; `None` when the database has no such commit.
pub(crate) fn commit_version(
    conn: &mut Conn,
    project: &str,
    sha: &str,
) -> Result<Option<String>, DbError> {
    let Some(commit) = find_commit(conn, project, sha)? else {
        return Ok(None);
    };
    // Ids are integers read from the database: safe in the statement.
    let id = commit.id;
    let parts = [
        count_sum(&format!("FROM ci_commits WHERE id = {id}")),
        count_sum(&format!("FROM batches WHERE ci_commit_id = {id}")),
        count_sum(&format!(
            "FROM outputs WHERE batch_id IN (SELECT id FROM batches WHERE ci_commit_id = {id})"
        )),
    ];
    Ok(Some(format!(
        "c{id}:{}",
        version_of(conn, project, &parts)?
    )))
}

/// The version of the commits list of a window: the commits it selects with
/// their own stamps (one statement, the window's own query), then the
/// project's stamp and the stamps of their batches and outputs (a second
/// statement). The commits' count and sum are computed here from the first
/// statement's rows rather than by a third aggregate over `ci_commits`
/// (bench/README.md "Peak RSS and the list's version", docs/read-performance.md).
pub(crate) fn window_version(conn: &mut Conn, w: &CommitWindow) -> Result<String, DbError> {
    let commits = window_commit_stamps(conn, w)?;
    if commits.is_empty() {
        return version_of(conn, &w.project, &[]);
    }
    let list = commits
        .iter()
        .map(|(id, _)| id.to_string())
        .collect::<Vec<_>>()
        .join(",");
    // Same count.sum as `count_sum` (sum over i128: no overflow).
    let stamps: i128 = commits
        .iter()
        .map(|(_, s)| i128::from(s.unwrap_or(0)))
        .sum();
    // The window's batches are read once (`b`), and their outputs' index
    // entries (`outputs_batch_stamp`) in one index-only scan over the batch
    // ids as an array on PostgreSQL, rather than one probe per batch under a
    // nested loop: the same count.sum for 0.5 ms less PostgreSQL CPU on the
    // bench's window of 200 commits and 10,000 outputs (docs/read-performance.md).
    let (with, outputs) = if IS_POSTGRES {
        (
            "WITH b AS MATERIALIZED",
            "batch_id = ANY(ARRAY(SELECT id FROM b))",
        )
    } else {
        ("WITH b AS", "batch_id IN (SELECT id FROM b)")
    };
    let with = format!("{with} (SELECT id, stamp FROM batches WHERE ci_commit_id IN ({list}))");
    let parts = [
        count_sum("FROM b"),
        count_sum(&format!("FROM outputs WHERE {outputs}")),
    ];
    Ok(format!(
        "{list}:{}.{stamps}:{}",
        commits.len(),
        version_with(conn, &with, &w.project, &parts)?
    ))
}
