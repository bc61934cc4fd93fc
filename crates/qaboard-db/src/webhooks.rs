//! The database writes of a git push (OPERATIONS.md §5, the original's
//! `Project.update_project`): the repository's `data.git` on its projects,
//! and per sub-project its project and commit rows with the configuration
//! read from git. Each call is one transaction.
use serde_json::Value;

use crate::ingest::CommitEnvelope;
use crate::{DbConn, DbError};

/// Get-or-creates project `id` and replaces its whole `data.git` with the
/// forge's project object `git` (OPERATIONS.md §5 step 1). One transaction.
pub fn set_project_git(conn: &mut DbConn, id: &str, git: &Value) -> Result<(), DbError> {
    crate::dispatch_tx!(conn, |c, q| q::webhook::set_project_git(c, id, git))
}

/// What one (sub-)project of a push writes (OPERATIONS.md §5 step 4).
pub struct SubProjectWrite<'a> {
    /// The project (`commit.project`, its id) and commit (`commit.hexsha`,
    /// full sha) to get-or-create; a new commit takes `branch`, `message`,
    /// `committer_name`, `authored_datetime` and `parents` from it, and
    /// `project_root` = the repository (`group/repo`). Its `qaboard_config`
    /// and `qaboard_metrics` should be `None` (the fields below are used).
    pub commit: CommitEnvelope,
    /// The forge's project object: the project's new `data.git`.
    pub git: &'a Value,
    /// The merged configuration, stored as `commit.data.qatools_config`.
    pub qatools_config: &'a Value,
    /// The metrics definitions, stored as `commit.data.qatools_metrics` when `Some`.
    pub qatools_metrics: Option<&'a Value>,
    /// Tags at the commit: `commit.data.tags` (replaced).
    pub tags: &'a [String],
    /// Given whether the project already has a `data.qatools_config`, whether
    /// to set the project's `qatools_config` (and `qatools_metrics`) too
    /// (the git crate's `SubProjectPlan::updates_project`).
    pub update_project: &'a (dyn Fn(bool) -> bool + Sync),
}

/// Writes one sub-project of a push in one transaction: get-or-create the
/// project (`data.git` replaced), get-or-create the commit, set its
/// `data.qatools_config`, `data.qatools_metrics` and `data.tags` (also on an
/// existing commit), then the project's configuration when
/// `update_project` says so. Errors roll the whole sub-project back.
pub fn write_subproject(conn: &mut DbConn, write: &SubProjectWrite<'_>) -> Result<(), DbError> {
    crate::dispatch_tx!(conn, |c, q| q::webhook::write_subproject(c, write))
}
