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
    /// Branch the commit was first seen on (may be `origin/<branch>`).
    pub branch: Option<String>,
    /// Commit message.
    pub message: Option<String>,
    /// Git committer name.
    pub committer_name: Option<String>,
    /// Git author time (UTC).
    pub authored_datetime: Option<DateTime<Utc>>,
    /// JSON array of the parent shas.
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
    /// The commit the result belongs to.
    pub commit: CommitEnvelope,
    /// Root folder ("database") of the test input.
    pub database: String,
    /// Path of the test input, relative to `database`.
    pub input_path: String,
    /// Metadata of the test input, stored in its `data.metadata`.
    pub input_metadata: Option<Value>,
    /// Label of the output's batch.
    pub batch_label: String,
    /// Job runner type (`local`, `lsf`…), stored as the batch's `data.type`.
    pub job_type: String,
    /// Platform it ran on, e.g. `linux`.
    pub platform: String,
    /// JSON array.
    pub configurations: Value,
    /// JSON object.
    pub extra_parameters: Value,
    /// Kind of output (empty for runs).
    pub output_type: String,
    /// The output's full `data` (client data plus `user` and `ci`).
    pub data: Value,
    /// Storage folder of the output, when the client names it.
    pub output_directory: Option<String>,
    /// `None`: leave the commit's directory override as it is; `Some(None)`: clear it.
    pub commit_dir_override: Option<Option<String>>,
    /// Running now (implies pending).
    pub is_running: bool,
    /// Not finished yet.
    pub is_pending: bool,
    /// Failed (also when `metrics.is_failed`).
    pub is_failed: bool,
    /// JSON object of metrics, stored once the output is finished.
    pub metrics: Value,
}

/// A batch update as posted by `qa batch` / `qa optimize`.
#[derive(Debug, Clone, Default)]
pub struct BatchRecord {
    /// The commit the result belongs to.
    pub commit: CommitEnvelope,
    /// Batch label (`default` for CI runs).
    pub label: String,
    /// Storage folder of the batch, when the client names it.
    pub batch_dir: Option<String>,
    /// Keys merged into the batch's `data`.
    pub data: Map<String, Value>,
    /// Command of this run, merged into the batch's `data.commands`.
    pub command: Option<Map<String, Value>>,
}

/// A partial update of an output's status, data and metrics.
#[derive(Debug, Clone, Default)]
pub struct OutputPatch {
    /// New `is_pending`, if given.
    pub is_pending: Option<bool>,
    /// New `is_running`, if given.
    pub is_running: Option<bool>,
    /// New `is_failed`, if given.
    pub is_failed: Option<bool>,
    /// Keys merged into the output's `data`.
    pub data: Option<Map<String, Value>>,
    /// Keys merged into the output's `metrics`.
    pub metrics: Option<Map<String, Value>>,
}

/// An output with its test input, as the API serialises it.
#[derive(Debug, Clone)]
pub struct OutputWithInput {
    /// The output.
    pub output: Output,
    /// Its test input, if any.
    pub test_input: Option<TestInput>,
}

/// Records an output (and creates its commit, project, test input and batch
/// as needed). Returns the stored output.
pub fn record_output(conn: &mut DbConn, rec: &OutputRecord) -> Result<OutputWithInput, DbError> {
    // Most results belong to a commit, batch and input that exist already:
    // one statement without a transaction. Otherwise, or when the fast path
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
