//! Writes made by the `qa` CLI: results (outputs), batches and commits.
//! Each public function is one transaction: on error nothing is written.
//! Get-or-create steps are race-free: `INSERT .. ON CONFLICT DO NOTHING`
//! against the unique constraints, then a read.
use chrono::{DateTime, Utc};
use qaboard_model::{Batch, CiCommit, Output, OutputId, TestInput};
use serde_json::{Map, Value};

use crate::{DbConn, DbError};

/// What a client tells about the commit its results belong to.
#[derive(Debug, Clone, Default)]
pub struct CommitEnvelope {
    /// Project id, e.g. `group/repo` or `group/repo/sub/project`.
    pub project: String,
    /// Commit sha (full, or a unique prefix of a known commit).
    pub hexsha: String,
    pub branch: Option<String>,
    pub message: Option<String>,
    pub committer_name: Option<String>,
    pub authored_datetime: Option<DateTime<Utc>>,
    pub parents: Option<Value>,
    /// The git repository's path (`data.git.path_with_namespace`).
    pub project_root: Option<String>,
    /// Merged `qaboard.yaml` of the commit.
    pub qaboard_config: Option<Value>,
    /// The commit's metrics definitions.
    pub qaboard_metrics: Option<Value>,
}

/// One output's result as posted by `qa run` / `qa batch`.
#[derive(Debug, Clone, Default)]
pub struct OutputRecord {
    pub commit: CommitEnvelope,
    pub database: String,
    pub input_path: String,
    pub input_metadata: Option<Value>,
    pub batch_label: String,
    pub job_type: String,
    pub platform: String,
    /// JSON array.
    pub configurations: Value,
    /// JSON object.
    pub extra_parameters: Value,
    pub output_type: String,
    /// The output's full `data` (client data plus `user` and `ci`).
    pub data: Value,
    pub output_directory: Option<String>,
    /// `None`: leave the commit's directory override as it is; `Some(None)`: clear it.
    pub commit_dir_override: Option<Option<String>>,
    pub is_running: bool,
    pub is_pending: bool,
    pub is_failed: bool,
    pub metrics: Value,
}

/// A batch update as posted by `qa batch` / `qa optimize`.
#[derive(Debug, Clone, Default)]
pub struct BatchRecord {
    pub commit: CommitEnvelope,
    pub label: String,
    pub batch_dir: Option<String>,
    pub data: Map<String, Value>,
    pub command: Option<Map<String, Value>>,
}

/// A partial update of an output's status, data and metrics.
#[derive(Debug, Clone, Default)]
pub struct OutputPatch {
    pub is_pending: Option<bool>,
    pub is_running: Option<bool>,
    pub is_failed: Option<bool>,
    pub data: Option<Map<String, Value>>,
    pub metrics: Option<Map<String, Value>>,
}

/// An output with its test input, as the API serialises it.
#[derive(Debug, Clone)]
pub struct OutputWithInput {
    pub output: Output,
    pub test_input: Option<TestInput>,
}

/// Records an output (and creates its commit, project, test input and batch
/// as needed). Returns the stored output.
pub fn record_output(conn: &mut DbConn, rec: &OutputRecord) -> Result<OutputWithInput, DbError> {
    // Most results belong to a commit, batch and input that exist already:
    // two statements without a transaction. Otherwise, or when the fast path
    // meets a concurrent deletion, the full get-or-create transaction.
    if let Some(done) = crate::dispatch!(conn, |c, q| q::output::record_output_fast(c, rec))? {
        return Ok(done);
    }
    crate::dispatch_tx!(conn, |c, q| q::output::record_output(c, rec))
}

/// Creates or updates a batch; returns it.
pub fn record_batch(conn: &mut DbConn, rec: &BatchRecord) -> Result<Batch, DbError> {
    crate::dispatch_tx!(conn, |c, q| q::batch::record_batch(c, rec))
}

/// Creates the commit when new, merges `data` into its data and undeletes it.
pub fn record_commit(
    conn: &mut DbConn,
    env: &CommitEnvelope,
    data: &Map<String, Value>,
) -> Result<CiCommit, DbError> {
    crate::dispatch_tx!(conn, |c, q| q::commit::record_commit(c, env, data))
}

/// Applies a partial update to an output; `NotFound` if it does not exist.
pub fn patch_output(
    conn: &mut DbConn,
    id: OutputId,
    patch: &OutputPatch,
) -> Result<OutputWithInput, DbError> {
    crate::dispatch_tx!(conn, |c, q| q::output::patch_output(c, id.0, patch))
}
