//! QA-Board's domain: the records the backend stores (projects, commits,
//! batches, test inputs, outputs, users) and the naming conventions shared
//! with the `qa` command line tool (where results live on disk, how
//! configurations are serialised, how metrics are summarised).
//!
//! This crate does no I/O: everything here is a plain type or a pure function,
//! so that other Rust tools can depend on it cheaply.

pub mod aggregate;
pub mod batch_data;
pub mod conventions;
pub mod ids;
pub mod paths;
pub mod rules;
pub mod time;
pub mod window;

pub use ids::{BatchId, CommitId, OutputId, ProjectId, TestInputId};

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
    pub id: String,
    pub data: Value,
    pub latest_output_datetime: Option<NaiveDateTime>,
}

/// A git commit on which results were produced.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CiCommit {
    pub id: i32,
    pub hexsha: String,
    pub project_id: String,
    pub data: Value,
    pub authored_datetime: Option<DateTime<Utc>>,
    pub committer_name: Option<String>,
    pub message: Option<String>,
    pub branch: Option<String>,
    pub parents: Option<Value>,
    pub commit_dir_override: Option<String>,
    pub commit_type: Option<String>,
    pub latest_output_datetime: Option<DateTime<Utc>>,
    pub deleted: bool,
}

/// A group of outputs of one commit: the CI batch (`default`) or a named experiment.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Batch {
    pub id: i32,
    pub created_date: NaiveDateTime,
    pub data: Value,
    pub ci_commit_id: i32,
    pub label: String,
    pub batch_dir_override: Option<String>,
}

/// An input an algorithm runs on, identified by `(database, path)`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TestInput {
    pub id: i32,
    pub path: String,
    pub database: String,
    pub data: Value,
}

/// One run of the algorithm on a test input with given configurations and parameters.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Output {
    pub id: i32,
    pub batch_id: i32,
    /// When the output was first recorded; `None` for legacy rows without one.
    pub created_date: Option<NaiveDateTime>,
    pub deleted: bool,
    pub output_dir_override: Option<String>,
    pub output_type: Option<String>,
    pub test_input_id: Option<i32>,
    pub platform: Option<String>,
    pub configurations: Value,
    pub extra_parameters: Value,
    pub is_pending: bool,
    pub is_running: bool,
    pub is_failed: bool,
    pub metrics: Value,
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
    pub id: i32,
    pub created_date: Option<NaiveDateTime>,
    pub user_name: String,
    pub full_name: Option<String>,
    pub email: Option<String>,
    pub is_ldap: bool,
}
