//! Versions of data, so that answers computed from it can be reused until
//! it changes.
//!
//! - [`commit_version`] and [`window_version`] (issue 16): the version of
//!   what one commit page or one commits list shows, from the change stamps
//!   that database triggers keep on the rows (migrations `read_stamps`,
//!   `queries/stamps.rs`). Writes elsewhere leave them equal. Used by the
//!   response cache.
//! - [`DbPool::data_version`]: the whole database's committed state, equal
//!   to an earlier one only if no transaction committed in between, whoever
//!   the writer: this server, another server process, the original backend
//!   or `psql`:
//!
//! - PostgreSQL: the transaction snapshot (`txid_current_snapshot()`: the
//!   oldest running transaction, the next transaction id and the ids in
//!   progress). Two equal snapshots see exactly the same transactions.
//!   Any write to the cluster changes it, so the version is conservative.
//! - SQLite: `PRAGMA data_version` of a connection kept only for this, which
//!   never writes: its value changes whenever any connection (of this or
//!   another process) commits to the file.
#[cfg_attr(not(feature = "sqlite"), allow(unused_imports))]
use std::sync::{Arc, Mutex, PoisonError};

use diesel::connection::{AnsiTransactionManager, TransactionManager};
use diesel::prelude::*;
#[cfg(feature = "sqlite")]
use diesel::sql_types::BigInt;
#[cfg(feature = "postgres")]
use diesel::sql_types::Text;
#[cfg(feature = "sqlite")]
use diesel::SqliteConnection;

use crate::read::CommitWindow;
use crate::{DbConn, DbError, DbPool};

/// The version of commit `sha` (full or unique prefix) of `project` as its
/// page shows it: the project's data, the commit, its batches and their
/// outputs (their change stamps, see `queries/stamps.rs` and
/// docs/read-performance.md). Unlike [`DbPool::data_version`] it changes
/// only with what the page renders: writes to other projects or to other
/// commits leave it equal. `None` when the database has no such commit (e.g.
/// a tag name resolved through the git mirror: not cacheable by data).
/// Errors: [`DbError::Ambiguous`] for a prefix of several commits, as the
/// read itself.
pub fn commit_version(
    conn: &mut DbConn,
    project: &str,
    sha: &str,
) -> Result<Option<DataVersion>, DbError> {
    let v = crate::dispatch!(conn, |c, q| q::stamps::commit_version(c, project, sha))?;
    Ok(v.map(|v| DataVersion(format!("c:{v}"))))
}

/// The version of the commits list of window `w`: which commits it selects
/// (as [`crate::read::commits_in_window`]), the project's data, and the
/// stamps of those commits, their batches and outputs.
pub fn window_version(conn: &mut DbConn, w: &CommitWindow) -> Result<DataVersion, DbError> {
    let v = crate::dispatch!(conn, |c, q| q::stamps::window_version(c, w))?;
    Ok(DataVersion(format!("w:{v}")))
}

/// A version of the committed state of a database (see the module docs).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct DataVersion(String);

impl DataVersion {
    /// This version qualified by a clock reading, for answers that depend on
    /// the time as well as on the data (`None`: the version as it is).
    pub fn at(self, clock: Option<&str>) -> DataVersion {
        match clock {
            Some(c) => DataVersion(format!("{}@{c}", self.0)),
            None => self,
        }
    }
}

/// The SQLite connection that watches a database file for commits.
#[cfg(feature = "sqlite")]
#[derive(Clone)]
pub struct SqliteWatch(Arc<Mutex<WatchState>>);

#[cfg(feature = "sqlite")]
struct WatchState {
    path: String,
    conn: Option<SqliteConnection>,
    /// Counts (re)openings: `data_version` values of two connections are
    /// not comparable.
    epoch: u64,
}

#[cfg(feature = "sqlite")]
impl SqliteWatch {
    pub(crate) fn new(path: &str) -> Self {
        SqliteWatch(Arc::new(Mutex::new(WatchState {
            path: path.to_string(),
            conn: None,
            epoch: 0,
        })))
    }

    fn version(&self) -> Result<DataVersion, DbError> {
        let mut state = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        if state.path == ":memory:" || state.path.starts_with("file::memory:") {
            // Every connection has a database of its own: nothing to watch,
            // so every version is new (answers are never reused).
            state.epoch += 1;
            return Ok(DataVersion(format!("memory:{}", state.epoch)));
        }
        if state.conn.is_none() {
            let mut conn = SqliteConnection::establish(&state.path)?;
            diesel::connection::SimpleConnection::batch_execute(
                &mut conn,
                "PRAGMA busy_timeout = 5000",
            )?;
            state.conn = Some(conn);
            state.epoch += 1;
        }
        let epoch = state.epoch;
        let conn = state.conn.as_mut().expect("opened above");
        let v = diesel::select(diesel::dsl::sql::<BigInt>(
            "(SELECT data_version FROM pragma_data_version())",
        ))
        .get_result::<i64>(conn);
        match v {
            Ok(v) => Ok(DataVersion(format!("sqlite:{epoch}:{v}"))),
            Err(e) => {
                // Reopened on the next call.
                state.conn = None;
                Err(e.into())
            }
        }
    }
}

#[cfg(feature = "postgres")]
fn pg_snapshot(c: &mut PgConnection) -> Result<DataVersion, DbError> {
    let s = PgSnapshot.get_result::<String>(c)?;
    Ok(DataVersion(format!("pg:{s}")))
}

/// `SELECT txid_current_snapshot()::text` as a query type with a static
/// query id, so that it is prepared once per connection: it runs before
/// every cached read (as `dsl::sql`, PostgreSQL parsed it each time).
#[cfg(feature = "postgres")]
#[derive(Debug, Clone, Copy, diesel::query_builder::QueryId)]
struct PgSnapshot;

#[cfg(feature = "postgres")]
impl diesel::query_builder::QueryFragment<diesel::pg::Pg> for PgSnapshot {
    fn walk_ast<'b>(
        &'b self,
        mut out: diesel::query_builder::AstPass<'_, 'b, diesel::pg::Pg>,
    ) -> diesel::QueryResult<()> {
        out.push_sql("SELECT txid_current_snapshot()::text");
        Ok(())
    }
}

#[cfg(feature = "postgres")]
impl diesel::query_builder::Query for PgSnapshot {
    type SqlType = Text;
}

#[cfg(feature = "postgres")]
impl RunQueryDsl<PgConnection> for PgSnapshot {}

impl DbPool {
    /// The current version of the committed data.
    pub fn data_version(&self, conn: &mut DbConn) -> Result<DataVersion, DbError> {
        match (self, conn) {
            #[cfg(feature = "sqlite")]
            (DbPool::Sqlite(_, watch), _) => watch.version(),
            #[cfg(feature = "postgres")]
            (DbPool::Pg(_), DbConn::Pg(c)) => pg_snapshot(c),
            #[cfg(all(feature = "postgres", feature = "sqlite"))]
            (DbPool::Pg(_), DbConn::Sqlite(_)) => Err(DbError::Config(
                "a SQLite connection for a PostgreSQL pool".into(),
            )),
        }
    }

    /// Runs the reads of `f` on one consistent view of the database and
    /// returns, with `f`'s result, a version of the data they saw: if
    /// [`data_version`](Self::data_version) later returns the same version,
    /// `f` would read the same again.
    pub fn snapshot_read<T, E>(
        &self,
        conn: &mut DbConn,
        f: impl FnOnce(&mut DbConn) -> Result<T, E>,
    ) -> Result<(DataVersion, T), E>
    where
        E: From<DbError>,
    {
        // SQLite: the version is taken before the reads, so a commit in
        // between makes the answer newer than its version (a later miss),
        // never older.
        let version = match self {
            #[cfg(feature = "sqlite")]
            DbPool::Sqlite(_, watch) => Some(watch.version()?),
            #[cfg(feature = "postgres")]
            DbPool::Pg(_) => None,
        };
        self.read_snapshot(conn, |conn| {
            let version = match (version, &mut *conn) {
                (Some(v), _) => v,
                // Inside the transaction: the snapshot every read of `f` uses.
                #[cfg(feature = "postgres")]
                (None, DbConn::Pg(c)) => pg_snapshot(c)?,
                #[cfg(feature = "sqlite")]
                (None, DbConn::Sqlite(_)) => {
                    return Err(
                        DbError::Config("a SQLite connection for a PostgreSQL pool".into()).into(),
                    )
                }
            };
            Ok((version, f(conn)?))
        })
    }

    /// Runs `f` in one read-only transaction: all its reads see one
    /// consistent state of the database (PostgreSQL: `REPEATABLE READ READ
    /// ONLY`; SQLite: one deferred read transaction, a WAL snapshot). A
    /// version computed by `f` first (e.g. [`commit_version`]) is then the
    /// version of exactly the data `f` reads next, so an answer is never
    /// stored under a newer version than its data.
    pub fn read_snapshot<T, E>(
        &self,
        conn: &mut DbConn,
        f: impl FnOnce(&mut DbConn) -> Result<T, E>,
    ) -> Result<T, E>
    where
        E: From<DbError>,
    {
        let begin = match conn {
            #[cfg(feature = "postgres")]
            DbConn::Pg(c) => AnsiTransactionManager::begin_transaction_sql(
                &mut **c,
                "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY",
            ),
            #[cfg(feature = "sqlite")]
            DbConn::Sqlite(c) => {
                AnsiTransactionManager::begin_transaction_sql(&mut **c, "BEGIN DEFERRED")
            }
        };
        begin.map_err(DbError::from)?;
        let result = f(conn);
        let end = match (&result, conn) {
            #[cfg(feature = "postgres")]
            (Ok(_), DbConn::Pg(c)) => AnsiTransactionManager::commit_transaction(&mut **c),
            #[cfg(feature = "sqlite")]
            (Ok(_), DbConn::Sqlite(c)) => AnsiTransactionManager::commit_transaction(&mut **c),
            #[cfg(feature = "postgres")]
            (Err(_), DbConn::Pg(c)) => AnsiTransactionManager::rollback_transaction(&mut **c),
            #[cfg(feature = "sqlite")]
            (Err(_), DbConn::Sqlite(c)) => AnsiTransactionManager::rollback_transaction(&mut **c),
        };
        let value = result?;
        end.map_err(DbError::from)?;
        Ok(value)
    }

    /// Whether versions read from the database ([`commit_version`],
    /// [`window_version`]) describe what every connection of this pool
    /// sees: false for in-memory SQLite, where each connection has a
    /// database of its own.
    pub fn versions_shared(&self) -> bool {
        match self {
            #[cfg(feature = "sqlite")]
            DbPool::Sqlite(_, watch) => {
                let state = watch.0.lock().unwrap_or_else(PoisonError::into_inner);
                !(state.path == ":memory:" || state.path.starts_with("file::memory:"))
            }
            #[cfg(feature = "postgres")]
            DbPool::Pg(_) => true,
        }
    }
}
