//! Reads used by the `qa` CLI and the webapp. Each is a fixed, small number of
//! queries whatever the number of commits or outputs.
use chrono::{DateTime, NaiveDateTime, Utc};
use qaboard_model::{Batch, BatchId, CiCommit, OutputId, Project};
use serde_json::Value;

use crate::ingest::OutputWithInput;
use crate::{DbConn, DbError};

/// Declares a newtype over JSON text read from the database: PostgreSQL hands
/// over text (`col::text`); on SQLite `$from_blob` writes the JSONB blob as
/// text directly (see [`crate::sqlite_jsonb`]), and what it cannot read is
/// decoded by diesel and turned into text by `$from_value`.
macro_rules! json_text_type {
    ($(#[$doc:meta])* $name:ident, $from_blob:expr, $from_value:expr) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Default, PartialEq, Eq, diesel::deserialize::FromSqlRow)]
        pub struct $name(pub String);

        impl std::ops::Deref for $name {
            type Target = str;
            fn deref(&self) -> &str {
                &self.0
            }
        }

        #[cfg(feature = "postgres")]
        impl diesel::deserialize::FromSql<diesel::sql_types::Text, diesel::pg::Pg> for $name {
            fn from_sql(bytes: diesel::pg::PgValue<'_>) -> diesel::deserialize::Result<Self> {
                <String as diesel::deserialize::FromSql<diesel::sql_types::Text, diesel::pg::Pg>>::from_sql(bytes)
                    .map($name)
            }
        }

        #[cfg(feature = "sqlite")]
        impl diesel::deserialize::FromSql<diesel::sql_types::Jsonb, diesel::sqlite::Sqlite> for $name {
            fn from_sql(mut bytes: diesel::sqlite::SqliteValue<'_, '_, '_>) -> diesel::deserialize::Result<Self> {
                let from_blob: fn(&[u8]) -> Option<String> = $from_blob;
                if let Some(text) = from_blob(bytes.read_blob()) {
                    return Ok($name(text));
                }
                let v = <crate::json::Json as diesel::deserialize::FromSql<diesel::sql_types::Jsonb, diesel::sqlite::Sqlite>>::from_sql(bytes)?.0;
                let to_text: fn(&Value) -> String = $from_value;
                Ok($name(to_text(&v)))
            }
        }
    };
}

json_text_type!(
    /// JSON text read from a JSON column, to be passed through into responses.
    ///
    /// Not SQLite's own `json()`: diesel 2.3 stores strings that need
    /// escaping in SQLite's JSONB without the escape flag, so `json()` would
    /// return invalid JSON for them (`"say "hi""`).
    JsonText,
    crate::sqlite_jsonb::to_json_text,
    |v| v.to_string()
);

json_text_type!(
    /// JSON text of a test input's `data.metadata` (empty when it has none).
    MetadataText,
    |blob| crate::sqlite_jsonb::member_as_json_text(blob, "metadata").map(Option::unwrap_or_default),
    |v| v.get("metadata").map(Value::to_string).unwrap_or_default()
);

/// An output as the read paths load it: JSON columns stay JSON text, to be
/// written into responses without a parse/serialise round trip.
#[derive(Debug, Clone, diesel::Queryable)]
pub struct OutputRead {
    /// Row id.
    #[diesel(deserialize_as = i32)]
    pub id: qaboard_model::OutputId,
    /// Id of the output's batch.
    pub batch_id: Option<i32>,
    /// Creation time (UTC, without time zone).
    pub created_date: Option<NaiveDateTime>,
    /// Its files were deleted.
    pub deleted: bool,
    /// Storage folder of the output when not the conventional one.
    pub output_dir_override: Option<String>,
    /// Kind of output (empty for runs, `optim_iteration` for tuning iterations).
    pub output_type: Option<String>,
    /// Platform it ran on, e.g. `linux`.
    pub platform: Option<String>,
    /// Not finished yet.
    pub is_pending: bool,
    /// Running now (implies pending).
    pub is_running: bool,
    /// Finished and failed.
    pub is_failed: bool,
    /// JSON array text.
    pub configurations: JsonText,
    /// JSON object text.
    pub extra_parameters: JsonText,
    /// JSON object text.
    pub metrics: JsonText,
    /// JSON object text.
    pub data: JsonText,
    /// Root folder of its test input.
    pub test_input_database: Option<String>,
    /// Path of its test input, relative to that root.
    pub test_input_path: Option<String>,
    /// JSON text of the input's `data.metadata`, if any.
    pub test_input_metadata: Option<MetadataText>,
}

impl OutputRead {
    /// Finished and not failed: counts in aggregates.
    pub fn is_valid(&self) -> bool {
        !self.is_failed && !self.is_pending
    }
}

/// How many outputs of a batch are in each state.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct OutputCounts {
    /// Finished and not failed.
    pub valid: i64,
    /// Not finished yet.
    pub pending: i64,
    /// Running now.
    pub running: i64,
    /// Finished and failed.
    pub failed: i64,
    /// Files deleted.
    pub deleted: i64,
}

/// A batch with its output counters, the metrics (JSON text) of its valid
/// outputs, and — when asked for — its outputs.
#[derive(Debug, Clone)]
pub struct BatchWithOutputs {
    /// The batch.
    pub batch: Batch,
    /// Its outputs by state.
    pub counts: OutputCounts,
    /// Metrics JSON text of each valid output (loaded when metrics are aggregated).
    pub valid_metrics: Vec<String>,
    /// Every output (empty unless outputs were asked for).
    pub outputs: Vec<OutputRead>,
}

/// A commit with its batches (and its project when loaded).
#[derive(Debug, Clone)]
pub struct CommitTree {
    /// The commit. In lists its `data` is left `Null` and given as text in `data_text`.
    pub commit: CiCommit,
    /// The commit's `data` as JSON text, when read for pass-through.
    pub data_text: Option<JsonText>,
    /// Project id.
    pub project: Option<Project>,
    /// Its batches, oldest first.
    pub batches: Vec<BatchWithOutputs>,
}

/// A project in the projects list.
#[derive(Debug, Clone)]
pub struct ProjectSummary {
    /// Project id.
    pub id: String,
    /// The project's `data`.
    pub data: Value,
    /// When an output was last recorded (UTC), at most a second stale.
    pub latest_output_datetime: Option<NaiveDateTime>,
    /// Author time of its latest commit (UTC).
    pub latest_commit_datetime: Option<DateTime<Utc>>,
    /// Number of its commits.
    pub total_commits: i64,
}

/// Which commits the commits list shows.
#[derive(Debug, Clone)]
pub struct CommitWindow {
    /// Project id.
    pub project: String,
    /// Only commits of this branch (or `origin/<branch>`).
    pub branch: Option<String>,
    /// Only commits of this committer.
    pub committer: Option<String>,
    /// Start of the window (UTC).
    pub from: DateTime<Utc>,
    /// End of the window (UTC).
    pub to: DateTime<Utc>,
    /// At most this many commits.
    pub limit: i64,
    /// Load every output of the batches.
    pub with_outputs: bool,
    /// Metrics to aggregate: the valid outputs' values of these names are
    /// loaded (only these, when outputs are not loaded whole).
    pub metrics: Vec<String>,
    /// Load outputs and metrics only for batches with this label.
    pub batch: Option<String>,
}

/// Reads one output with its test input.
pub fn get_output(conn: &mut DbConn, id: OutputId) -> Result<Option<OutputWithInput>, DbError> {
    crate::dispatch!(conn, |c, q| q::output::get_output(c, id.0))
}

/// One commit (full sha or unique prefix) with batches and outputs.
pub fn commit_tree(
    conn: &mut DbConn,
    project: &str,
    sha: &str,
    batch: Option<&str>,
    metric_names: &[String],
) -> Result<Option<CommitTree>, DbError> {
    crate::dispatch!(conn, |c, q| q::tree::commit_tree(
        c,
        project,
        sha,
        batch,
        metric_names
    ))
}

/// Full sha of the latest commit on a branch having valid outputs.
pub fn latest_successful_commit(
    conn: &mut DbConn,
    project: &str,
    branch: &str,
    batch: Option<&str>,
) -> Result<Option<String>, DbError> {
    crate::dispatch!(conn, |c, q| q::commit::latest_successful_commit(
        c, project, branch, batch, 20
    ))
}

/// A project, if it exists.
pub fn project(conn: &mut DbConn, id: &str) -> Result<Option<Project>, DbError> {
    Ok(crate::dispatch!(conn, |c, q| q::project::find_project(c, id))?.map(Into::into))
}

/// Sorted distinct branches of a project.
pub fn branches(conn: &mut DbConn, project: &str) -> Result<Vec<String>, DbError> {
    crate::dispatch!(conn, |c, q| q::project::branches(c, project))
}

/// All projects that have commits.
pub fn project_summaries(conn: &mut DbConn) -> Result<Vec<ProjectSummary>, DbError> {
    crate::dispatch!(conn, |c, q| q::project::project_summaries(c))
}

/// Commits of a time window, newest first, only those with batches.
pub fn commits_in_window(conn: &mut DbConn, w: &CommitWindow) -> Result<Vec<CommitTree>, DbError> {
    crate::dispatch!(conn, |c, q| q::window::commits_in_window(c, w))
}

/// The project, commit and batch of a batch id.
#[allow(clippy::type_complexity)]
pub fn output_context(
    conn: &mut DbConn,
    batch_id: BatchId,
) -> Result<Option<(Option<Project>, CiCommit, Batch)>, DbError> {
    crate::dispatch!(conn, |c, q| q::tree::output_context(c, batch_id.0))
}
