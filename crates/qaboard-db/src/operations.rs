//! The webapp's data operations on stored rows (OPERATIONS.md §1 rename,
//! move, delete batch, §1.3 delete a commit's batches, §2 delete an
//! output), and the milestone rule with its inputs from the database.
//!
//! Each public function is ONE transaction. Everything that can refuse the
//! operation (not found, pending outputs, a label in use, clashing
//! identities, milestones) is checked before the first write, so a refusal
//! leaves the database untouched. Deletions change rows only and return
//! the folders whose files the caller must delete AFTER the commit
//! (see [`Deletion`]): rows are never left unmarked pointing at a folder
//! whose files are already gone.
//!
//! Each takes `by`: the action of a logged-in user, recorded in the same
//! transaction as `data.last_action` of the closest surviving row (the
//! table in `qaboard_model::action`); `None` records nothing.
use std::collections::BTreeMap;

use qaboard_model::action::Action;
use qaboard_model::filter::OutputFilter;
use qaboard_model::milestone::{
    self, MilestoneCandidate, MilestoneReason, Milestones, RefResolver,
};
use qaboard_model::{BatchId, CiCommit, OutputId};

use crate::{DbConn, DbError};

/// Why an operation was refused (nothing was written).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Refusal {
    /// Rename: a batch of the commit already has this label (403).
    LabelExists(String),
    /// Rename or move: these outputs are pending (409).
    Pending {
        /// Ids of the pending outputs.
        ids: Vec<OutputId>,
    },
    /// Delete an output: it is pending (409).
    OutputPending(OutputId),
    /// Delete a batch or a commit's batches: runs are pending and stopping
    /// them is not built yet (409, "stop the runs first").
    StopFirst {
        /// Ids of the pending outputs.
        ids: Vec<OutputId>,
    },
    /// Move: outputs would share an identity with outputs of the
    /// destination (409).
    IdentityClash {
        /// `(moving output id, destination output id)` pairs.
        pairs: Vec<(OutputId, OutputId)>,
    },
    /// Delete a commit's batches: these commits are milestones (403).
    Milestone {
        /// `(project, hexsha, why)` of each protected commit.
        commits: Vec<(String, String, MilestoneReason)>,
    },
}

/// What a data operation fails with.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum OperationError {
    /// Refused; nothing was written.
    #[error("refused: {0:?}")]
    Refused(Refusal),
    /// A database error (including `NotFound`); nothing was written.
    #[error(transparent)]
    Db(#[from] DbError),
}

/// The folder of one output whose files are to be deleted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutputFiles {
    /// The output's id (its row may be gone).
    pub output_id: OutputId,
    /// Its storage folder (absolute path as stored or computed).
    pub dir: String,
}

/// Rows changed by a deletion, and the files to delete once it committed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Deletion {
    /// Soft: delete the listed files of each folder, keep the manifests.
    /// Hard: delete each whole folder.
    pub soft: bool,
    /// The folders, one per output.
    pub outputs: Vec<OutputFiles>,
}

/// What a move did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MoveOutcome {
    /// The destination batch's id.
    pub destination: BatchId,
    /// Ids of the outputs moved.
    pub moved: Vec<OutputId>,
    /// The source batch was left empty and deleted.
    pub source_deleted: bool,
}

fn is_unique_violation(e: &DbError) -> bool {
    matches!(
        e,
        DbError::Query(diesel::result::Error::DatabaseError(
            diesel::result::DatabaseErrorKind::UniqueViolation,
            _
        ))
    )
}

fn flatten<T>(r: Result<Result<T, Refusal>, DbError>) -> Result<T, OperationError> {
    match r {
        Ok(Ok(t)) => Ok(t),
        Ok(Err(refusal)) => Err(OperationError::Refused(refusal)),
        Err(e) => Err(OperationError::Db(e)),
    }
}

/// Renames a batch (as the original's `Batch.rename`): refused when any
/// batch of its commit has `label` (itself included) or an output is
/// pending. Its old computed folder is saved in `batch_dir_override`, so
/// its files stay reachable (nothing moves on disk). `default_root`: the
/// storage root of projects whose config names none.
pub fn rename_batch(
    conn: &mut DbConn,
    id: BatchId,
    label: &str,
    default_root: &str,
    by: Option<&Action>,
) -> Result<(), OperationError> {
    let r = crate::dispatch_tx!(conn, |c, q| q::operations::rename_batch(
        c,
        id.0,
        label,
        default_root,
        by
    ));
    match r {
        // A concurrent rename or move took the label first.
        Err(e) if is_unique_violation(&e) => Err(OperationError::Refused(Refusal::LabelExists(
            label.to_string(),
        ))),
        r => flatten(r),
    }
}

/// Moves the outputs of a batch that `filter` selects (the webapp's
/// filter-box language) to the batch `label` of the same commit, created
/// when missing; a source left empty is deleted (its row only). Refused
/// when a selected output is pending, or when an output of the destination
/// has the identity of a moving one (`IdentityClash`, nothing moves).
/// Moving to the batch's own label does nothing. Nothing moves on disk.
pub fn move_batch(
    conn: &mut DbConn,
    id: BatchId,
    label: &str,
    filter: &OutputFilter,
    by: Option<&Action>,
) -> Result<MoveOutcome, OperationError> {
    let r = crate::dispatch_tx!(conn, |c, q| q::operations::move_batch(
        c, id.0, label, filter, by
    ));
    match r {
        // An output of the same identity was posted to the destination meanwhile.
        Err(e) if is_unique_violation(&e) => Err(OperationError::Refused(Refusal::IdentityClash {
            pairs: Vec::new(),
        })),
        r => flatten(r),
    }
}

/// Deletes an output: hard deletes its row; soft marks it `deleted=true`.
/// Refused while it is pending. Returns its folder for the file deletion.
pub fn delete_output(
    conn: &mut DbConn,
    id: OutputId,
    soft: bool,
    default_root: &str,
    by: Option<&Action>,
) -> Result<Deletion, OperationError> {
    flatten(crate::dispatch_tx!(conn, |c, q| {
        q::operations::delete_output(c, id.0, soft, default_root, by)
    }))
}

/// What a batch deletion selects.
#[derive(Debug, Clone, Copy, Default)]
pub struct BatchDeletion {
    /// Keep the rows (files only).
    pub soft: bool,
    /// Only the failed outputs.
    pub only_failed: bool,
    /// Soft deletes mark the outputs `deleted=true` (false when only some
    /// files are deleted, with a file pattern).
    pub mark_deleted: bool,
}

/// Deletes the outputs of a batch (all, or the failed ones): hard deletes
/// their rows, and the batch row when no output is left; soft marks them
/// deleted (when `mark_deleted`). Refused while an output of the batch is
/// pending (stopping runs comes with a later issue). Batch-folder files
/// stay. Returns the folders for the file deletion.
pub fn delete_batch(
    conn: &mut DbConn,
    id: BatchId,
    what: BatchDeletion,
    default_root: &str,
    by: Option<&Action>,
) -> Result<Deletion, OperationError> {
    flatten(crate::dispatch_tx!(conn, |c, q| {
        q::operations::delete_batch(
            c,
            id.0,
            what.soft,
            what.only_failed,
            what.mark_deleted,
            default_root,
            by,
        )
    }))
}

/// Hard-deletes every batch of the commits with exactly this `hexsha` (of
/// `project`, or of every project when `None`); the commit rows stay.
/// `NotFound` when no commit matches; refused when ANY match is a
/// milestone (checked for all before anything is deleted, see
/// [`ProjectMilestones`]) or has pending outputs. `extra` resolves refs
/// beyond the database (a git mirror, when there is one).
pub fn delete_commit_batches(
    conn: &mut DbConn,
    project: Option<&str>,
    hexsha: &str,
    default_root: &str,
    extra: Option<&dyn RefResolver>,
    by: Option<&Action>,
) -> Result<Deletion, OperationError> {
    flatten(crate::dispatch_tx!(conn, |c, q| {
        q::operations::delete_commit_batches(c, project, hexsha, default_root, extra, by)
    }))
}

/// The milestone rule of one project with its inputs from the database
/// (OPERATIONS.md §1.3 "Intended without git"): the protected refs of the
/// stored `qaboard.yaml` (`project.data.qatools_config`), the shared
/// milestones (`project.data.milestones`), and the latest commit recorded
/// on each protected branch `b` or `origin/b`. Tags are those recorded in
/// each commit's `data.tags`. The one place that builds the rule: a git
/// mirror's resolver is passed as `extra` to [`ProjectMilestones::reason`].
#[derive(Debug, Clone)]
pub struct ProjectMilestones {
    /// The rule.
    pub rule: Milestones,
    /// Latest commit of each protected branch (name without `origin/`).
    pub heads: BTreeMap<String, String>,
}

impl ProjectMilestones {
    /// Reads the rule's inputs of `project` (an unknown project has only
    /// the default reference branch, `master`).
    pub fn load(conn: &mut DbConn, project: &str) -> Result<ProjectMilestones, DbError> {
        let (rule, heads) =
            crate::dispatch!(conn, |c, q| q::operations::project_milestones(c, project))?;
        Ok(ProjectMilestones { rule, heads })
    }

    /// Why `commit` is a milestone, or `None`.
    pub fn reason(
        &self,
        commit: &CiCommit,
        extra: Option<&dyn RefResolver>,
    ) -> Option<MilestoneReason> {
        let tags = milestone::commit_tags(&commit.data);
        let candidate = MilestoneCandidate {
            hexsha: &commit.hexsha,
            branch: commit.branch.as_deref(),
            tags: &tags,
        };
        self.rule.reason(&candidate, &self.heads, extra)
    }
}
