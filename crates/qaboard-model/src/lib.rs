//! QA-Board's domain: the records the backend stores (projects, commits,
//! batches, test inputs, outputs, users) and the naming conventions shared
//! with the `qa` command line tool (where results live on disk, how
//! configurations are serialised, how metrics are summarised).
//!
//! This crate does no I/O: everything here is a plain type or a pure function,
//! so that other Rust tools can depend on it cheaply.
#![warn(missing_docs)]

pub mod action;
pub mod aggregate;
pub mod batch_data;
pub mod config_merge;
pub mod conventions;
pub mod export;
pub mod filter;
pub mod fnmatch;
pub mod gc;
pub mod ids;
pub mod milestone;
pub mod paths;
pub mod rules;
pub mod time;
pub mod webhook;
pub mod window;
pub mod yaml;

pub use ids::{BatchId, CommitId, OutputId, ProjectId, TestInputId, UserId};

use chrono::{DateTime, NaiveDateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The name of the batch a CI run writes to.
pub const DEFAULT_BATCH_LABEL: &str = "default";
/// The branch assumed to be the reference when a project's config names none.
pub const DEFAULT_REFERENCE_BRANCH: &str = "master";
/// Default storage root of outputs and artifacts.
pub const DEFAULT_STORAGE_ROOT: &str = "/mnt/qaboard";

/// A project: a git repository, or a sub-project folder of one (`group/repo/sub/dir`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Project {
    /// Project id: its path, e.g. `group/repo` or `group/repo/sub/project`.
    pub id: String,
    /// JSON object: `qatools_config`, `qatools_metrics`, `git`, `milestones`.
    pub data: Value,
    /// When an output was last recorded (UTC), at most a second stale.
    pub latest_output_datetime: Option<NaiveDateTime>,
}

/// A git commit on which results were produced.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CiCommit {
    /// Row id.
    pub id: CommitId,
    /// Full git sha (40 hex digits).
    pub hexsha: String,
    /// Id of the project (its path, `group/repo[/sub]`).
    pub project_id: String,
    /// JSON object: `qatools_config`, `qatools_metrics` and client data.
    pub data: Value,
    /// Git author time (UTC).
    pub authored_datetime: Option<DateTime<Utc>>,
    /// Git committer name.
    pub committer_name: Option<String>,
    /// Commit message.
    pub message: Option<String>,
    /// Branch the commit was first seen on (may be `origin/<branch>`).
    pub branch: Option<String>,
    /// JSON array of the parent shas.
    pub parents: Option<Value>,
    /// Storage folder of the commit when not the conventional one.
    pub commit_dir_override: Option<String>,
    /// `git` for commits posted by the CLI.
    pub commit_type: Option<String>,
    /// When an output was last recorded (UTC), at most a second stale.
    pub latest_output_datetime: Option<DateTime<Utc>>,
    /// Its files (artifacts) were deleted.
    pub deleted: bool,
}

/// A group of outputs of one commit: the CI batch (`default`) or a named experiment.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Batch {
    /// Row id.
    pub id: BatchId,
    /// Creation time (UTC, without time zone).
    pub created_date: NaiveDateTime,
    /// JSON object: `type`, `commands`, `config`, `best_iter` and client data.
    pub data: Value,
    /// Id of the batch's commit.
    pub ci_commit_id: CommitId,
    /// Batch label (`default` for CI runs).
    pub label: String,
    /// Storage folder of the batch when not the conventional one.
    pub batch_dir_override: Option<String>,
}

/// An input an algorithm runs on, identified by `(database, path)`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TestInput {
    /// Row id.
    pub id: TestInputId,
    /// Input path, relative to its `database`.
    pub path: String,
    /// Root folder ("database") of the test input.
    pub database: String,
    /// JSON object; the CLI sends `metadata`.
    pub data: Value,
}

/// One run of the algorithm on a test input with given configurations and parameters.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Output {
    /// Row id.
    pub id: OutputId,
    /// Id of the output's batch.
    pub batch_id: BatchId,
    /// When the output was first recorded; `None` for legacy rows without one.
    pub created_date: Option<NaiveDateTime>,
    /// Its files (artifacts) were deleted.
    pub deleted: bool,
    /// Storage folder of the output when not the conventional one.
    pub output_dir_override: Option<String>,
    /// Kind of output (empty for runs, `optim_iteration` for tuning iterations).
    pub output_type: Option<String>,
    /// Id of its test input.
    pub test_input_id: Option<TestInputId>,
    /// Platform it ran on, e.g. `linux`.
    pub platform: Option<String>,
    /// JSON array of configurations (strings or objects).
    pub configurations: Value,
    /// JSON object of tuning parameters.
    pub extra_parameters: Value,
    /// Not finished yet.
    pub is_pending: bool,
    /// Running now (implies pending).
    pub is_running: bool,
    /// Finished and failed.
    pub is_failed: bool,
    /// JSON object of metrics (name to value).
    pub metrics: Value,
    /// JSON object: client data plus `user`, `ci` and `storage`.
    pub data: Value,
}

impl Output {
    /// An output counts in aggregates when it finished and did not fail.
    pub fn is_valid(&self) -> bool {
        !self.is_failed && !self.is_pending
    }
}

/// A webapp user (kept for schema compatibility with the original database).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct User {
    /// Row id.
    pub id: UserId,
    /// Creation time (UTC, without time zone).
    pub created_date: Option<NaiveDateTime>,
    /// Login name.
    pub user_name: String,
    /// Display name.
    pub full_name: Option<String>,
    /// E-mail address.
    pub email: Option<String>,
    /// Authenticated by LDAP (no local password).
    pub is_ldap: bool,
}
