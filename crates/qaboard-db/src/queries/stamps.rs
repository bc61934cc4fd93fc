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
use super::window::{window_range, WindowBy};

use diesel::query_builder::{AstPass, Query, QueryFragment, QueryId};
use diesel::sql_types::{Integer, Nullable, Text};

type Backend = <Conn as Connection>::Backend;

/// `(SELECT count.sum of the stamps ` — the rows' `FROM …` and `)` follow.
const COUNT_SUM: &str =
    "(SELECT CAST(count(*) AS TEXT) || '.' || CAST(COALESCE(sum(stamp), 0) AS TEXT) ";

/// The rows a version statement covers below the project.
enum Below<'a> {
    /// Nothing: the project's stamp alone (an empty window).
    Nothing,
    /// One commit (by id), its batches and their outputs.
    Commit(i32),
    /// The commits of a window (a query selecting their `id, stamp`, with
    /// the window's filters, order and limit), their batches and outputs.
    Window(&'a dyn QueryFragment<Backend>),
}

/// A version statement: the project's stamp, then `count.sum` per level of
/// `below`, as one text. Written with bound values only, so
/// each shape is one statement prepared once per connection (a static query
/// id per shape), not parsed and planned on every read as a statement with
/// literal id lists was (0.2 ms of PostgreSQL CPU per list read).
struct Version<'a, S> {
    project: &'a str,
    below: Below<'a>,
    shape: std::marker::PhantomData<S>,
}

/// The prepared-statement cache keys of the three shapes of [`Version`].
struct ProjectOnly;
struct OneCommit;
struct WindowCommits;

impl<S: 'static> QueryId for Version<'_, S> {
    type QueryId = S;
    const HAS_STATIC_QUERY_ID: bool = true;
}

impl<S> QueryFragment<Backend> for Version<'_, S> {
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, Backend>) -> QueryResult<()> {
        if let Below::Window(window) = &self.below {
            // The window's commits (`w`) and their batches (`b`), read once.
            out.push_sql("WITH w AS MATERIALIZED (");
            window.walk_ast(out.reborrow())?;
            out.push_sql(
                "), b AS MATERIALIZED (SELECT id, stamp FROM batches \
                 WHERE ci_commit_id IN (SELECT id FROM w)) SELECT ",
            );
            // Which commits (whatever their order), then their count.sum.
            out.push_sql(if IS_POSTGRES {
                "(SELECT COALESCE(string_agg(CAST(id AS TEXT), ',' ORDER BY id), '') FROM w)"
            } else {
                "(SELECT COALESCE(group_concat(id, ',' ORDER BY id), '') FROM w)"
            });
            out.push_sql(" || ':' || ");
            out.push_sql(COUNT_SUM);
            out.push_sql("FROM w) || ':' || ");
        } else {
            out.push_sql("SELECT ");
        }
        out.push_sql("COALESCE((SELECT CAST(stamp AS TEXT) FROM projects WHERE id = ");
        out.push_bind_param::<Text, _>(&self.project)?;
        out.push_sql("), 'n')");
        match &self.below {
            Below::Nothing => {}
            Below::Commit(id) => {
                // (rows, then what closes them after the id)
                for (rows, close) in [
                    ("FROM ci_commits WHERE id = ", ")"),
                    ("FROM batches WHERE ci_commit_id = ", ")"),
                    (
                        "FROM outputs WHERE batch_id IN (SELECT id FROM batches WHERE ci_commit_id = ",
                        "))",
                    ),
                ] {
                    out.push_sql(" || ':' || ");
                    out.push_sql(COUNT_SUM);
                    out.push_sql(rows);
                    out.push_bind_param::<Integer, _>(id)?;
                    out.push_sql(close);
                }
            }
            Below::Window(_) => {
                out.push_sql(" || ':' || ");
                out.push_sql(COUNT_SUM);
                out.push_sql("FROM b) || ':' || ");
                out.push_sql(COUNT_SUM);
                // The outputs' index entries (`outputs_batch_stamp`) in one
                // index-only scan over the batch ids as an array on
                // PostgreSQL, rather than one probe per batch under a nested
                // loop: the same count.sum for 0.5 ms less PostgreSQL CPU on
                // the bench's window of 200 commits and 10,000 outputs
                // (docs/read-performance.md).
                out.push_sql(if IS_POSTGRES {
                    "FROM outputs WHERE batch_id = ANY(ARRAY(SELECT id FROM b)))"
                } else {
                    "FROM outputs WHERE batch_id IN (SELECT id FROM b))"
                });
            }
        }
        out.push_sql(" AS v");
        Ok(())
    }
}

impl<S> Query for Version<'_, S> {
    type SqlType = Nullable<Text>;
}

impl<S> RunQueryDsl<Conn> for Version<'_, S> {}

/// Runs the version statement of `project` and `below`.
fn version_of(conn: &mut Conn, project: &str, below: Below<'_>) -> Result<String, DbError> {
    fn run<S: 'static>(
        conn: &mut Conn,
        project: &str,
        below: Below<'_>,
    ) -> Result<String, DbError> {
        let q = Version::<S> {
            project,
            below,
            shape: std::marker::PhantomData,
        };
        Ok(q.get_result::<Option<String>>(conn)?.unwrap_or_default())
    }
    match below {
        Below::Nothing => run::<ProjectOnly>(conn, project, below),
        Below::Commit(_) => run::<OneCommit>(conn, project, below),
        Below::Window(_) => run::<WindowCommits>(conn, project, below),
    }
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
    let id = commit.id;
    Ok(Some(format!(
        "c{id}:{}",
        version_of(conn, project, Below::Commit(id))?
    )))
}

/// The version of the commits list of a window: which commits it selects
/// with their own stamps, the project's stamp, and the stamps of their
/// batches and outputs, in one statement after the window's time range
/// (`window_range`): the window's own query is its first part, so the
/// version follows exactly the commits the list shows.
pub(crate) fn window_version(conn: &mut Conn, w: &CommitWindow) -> Result<String, DbError> {
    let by = WindowBy::of(w);
    let Some(range) = window_range(conn, &by)? else {
        return version_of(conn, &w.project, Below::Nothing);
    };
    let window = in_window!(
        ci_commits::table.select((ci_commits::id, CommitStamp)),
        by,
        range
    );
    version_of(conn, &w.project, Below::Window(&window))
}
