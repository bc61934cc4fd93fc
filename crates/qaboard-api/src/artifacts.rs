//! Restoring a commit's artifacts from its sources (OPERATIONS.md §4.3, issue 13):
//! `POST /api/v1/commit/save-artifacts/`, and the step a redo takes first when
//! the artifacts folder is missing (as the original's `Batch.redo`).
//!
//! As the original's `CiCommit.save_artifacts`: the project's git mirror is
//! brought to the commit, the commit is checked out in a detached `git
//! worktree`, and `qa save-artifacts --out=<repo artifacts dir>` runs in its
//! sub-project folder (argv only, no shell, no `.envrc`), which copies
//! `qaboard.yaml`, `qa/*`, batch and metrics files, `.envrc` files and the
//! `artifacts:` globs of the configuration. Unlike the original, the
//! worktree is removed afterwards.
//!
//! - The checkout lives at `<git_dir>/.worktrees/<group/repo>/<sha>` and is
//!   used under an `flock` (`qaboard_git::CheckoutLock`): concurrent requests
//!   for one commit, from any server process sharing `git_dir`, run one after
//!   the other. Leftovers of a crash are deleted through `qaboard-storage`
//!   confined to `<git_dir>/.worktrees`.
//! - The `--out` folder must lie under the storage roots (403 otherwise).
//! - `qa`'s stderr goes to `<git_dir>/.worktrees/<group/repo>/<sha>.log`
//!   (kept for diagnosis, emptied at the next attempt).
use std::path::{Path, PathBuf};
use std::time::Duration;

use actix_web::{web, HttpResponse};
use qaboard_db::jobs as db_jobs;
use qaboard_jobs::{argv, new_command_id, JobError, JobSpec};
use qaboard_model::paths;
use qaboard_model::{CiCommit, Project};
use qaboard_settings::ExposeSecret;
use serde_json::json;

use crate::extract::CurrentUser;
use crate::extract::Fields;
use crate::extract::JsonBody;
use crate::extract::WriteAccess;
use crate::{run_db, ApiError, AppState};

/// Longest time `qa save-artifacts` may take (it copies a few files).
pub const SAVE_ARTIFACTS_TIMEOUT: Duration = Duration::from_secs(30 * 60);

/// How much of `qa`'s stdout an error message keeps (its end).
const STDOUT_TAIL_BYTES: usize = 4 * 1024;

/// A commit whose artifacts to restore, and where they go.
#[derive(Debug, Clone)]
pub(crate) struct Target {
    /// The commit row's id (to mark it restored).
    pub commit_id: qaboard_model::CommitId,
    /// Full sha.
    pub sha: String,
    /// The git repository of the project (`group/repo`), i.e. its mirror.
    pub repo: String,
    /// The sub-project folder inside the repository (empty for a whole repository).
    pub subproject: String,
    /// `qa save-artifacts --out`: the repository's artifacts folder of the commit.
    pub repo_artifacts_dir: PathBuf,
    /// The commit's outputs folder (`QA_OUTPUTS_COMMIT`).
    pub outputs_dir: PathBuf,
}

impl Target {
    /// Where `commit` of `project` keeps its artifacts, and its repository
    /// (`data.git.path_with_namespace`, else the first two parts of the id,
    /// as the original's `Project.id_git`).
    pub(crate) fn of(state: &AppState, project: Option<&Project>, commit: &CiCommit) -> Target {
        let null = serde_json::Value::Null;
        let data = project.map(|p| &p.data).unwrap_or(&null);
        let repo = paths::id_git(&commit.project_id, data);
        let subproject = paths::id_relative(&commit.project_id, &repo);
        let places = paths::commit_paths_of(project, commit, &state.config.storage_root);
        Target {
            commit_id: commit.id,
            sha: commit.hexsha.clone(),
            repo,
            subproject,
            repo_artifacts_dir: PathBuf::from(places.repo_artifacts_dir),
            outputs_dir: PathBuf::from(places.outputs_dir),
        }
    }
}

/// Why a restore failed; [`Failure::respond`] turns it into the answer.
#[derive(Debug)]
pub(crate) enum Failure {
    /// 4xx/503 (no mirror, outside the roots, too many jobs…).
    Api(ApiError),
    /// 500 `{"error": message}` (git or `qa` failed; the message has the log tail).
    Failed(String),
}

impl From<ApiError> for Failure {
    fn from(e: ApiError) -> Self {
        Failure::Api(e)
    }
}

impl Failure {
    /// The HTTP answer of this failure.
    pub(crate) fn respond(self) -> Result<HttpResponse, ApiError> {
        match self {
            Failure::Api(e) => Err(e),
            Failure::Failed(message) => Ok(crate::jobs::error_500(json!(message))),
        }
    }
}

fn tail(text: &str, max: usize) -> &str {
    if text.len() <= max {
        return text;
    }
    let mut start = text.len() - max;
    while !text.is_char_boundary(start) {
        start += 1;
    }
    &text[start..]
}

/// Restores the artifacts of `target` (blocking: git and `qa` run here; call
/// it through `web::block`). Errors: 403 `--out` outside the storage roots;
/// 503 no mirror (none exists and `GITLAB_HOST` is unset, or the clone/fetch
/// failed, or the mirror lacks the commit); 429 `max_jobs` reached; 500 with
/// the end of `qa`'s output when the checkout or `qa save-artifacts` fails.
pub(crate) fn restore(state: &AppState, target: &Target) -> Result<(), Failure> {
    let out = &target.repo_artifacts_dir;
    if !state.storage.contains(out) {
        return Err(ApiError::Forbidden(format!(
            "the artifacts folder {} is outside the storage roots",
            out.display()
        ))
        .into());
    }
    let no_mirror = |why: String| {
        Failure::Api(ApiError::Unavailable(format!(
            "no git mirror of {} holding commit {}: {why}; re-run your CI pipeline or \
             `qa --ci save-artifacts`",
            target.repo, target.sha
        )))
    };
    let existing = state
        .git
        .open(&target.repo)
        .map_err(|e| no_mirror(e.to_string()))?;
    if existing.is_none()
        && state
            .settings
            .gitlab_host
            .as_deref()
            .is_none_or(str::is_empty)
    {
        return Err(no_mirror(
            "there is no mirror yet and GITLAB_HOST is not set".into(),
        ));
    }
    let token = state
        .settings
        .gitlab_access_token
        .as_ref()
        .map(|t| t.expose_secret().to_string());
    let mirror = state
        .git
        .ensure_commit(&target.repo, &target.sha, token.as_deref())
        .map_err(|e| no_mirror(e.to_string()))?;
    if !mirror.has_commit(&target.sha) {
        return Err(no_mirror("the commit is not in the repository".into()));
    }

    let checkout = state
        .git
        .lock_checkout(&target.repo, &target.sha)
        .map_err(|e| Failure::Failed(format!("cannot lock the checkout: {e}")))?;
    // Only this folder is ever deleted here.
    let scratch = qaboard_storage::Storage::new(vec![checkout.root().to_path_buf()])
        .map_err(|e| Failure::Failed(format!("checkouts folder: {e}")))?;
    clear_checkout(state, &checkout, &scratch);
    let log_file = {
        let mut name = checkout.path().as_os_str().to_owned();
        name.push(".log");
        PathBuf::from(name)
    };
    if let Err(e) = scratch.remove_file(&log_file) {
        if !e.is_not_found() {
            log::warn!("save-artifacts: cannot empty {}: {e}", log_file.display());
        }
    }
    let result = state
        .git
        .add_checkout(&checkout, &target.sha)
        .map_err(|e| Failure::Failed(format!("cannot check out commit {}: {e}", target.sha)))
        .and_then(|_| run_save_artifacts(state, target, checkout.path(), &log_file));
    clear_checkout(state, &checkout, &scratch);
    result
}

/// `qa save-artifacts --out=<repo artifacts dir>` in `<checkout>/<subproject>`.
fn run_save_artifacts(
    state: &AppState,
    target: &Target,
    checkout: &Path,
    log_file: &Path,
) -> Result<(), Failure> {
    let cwd = if target.subproject.is_empty() {
        checkout.to_path_buf()
    } else {
        checkout.join(&target.subproject)
    };
    if !cwd.is_dir() {
        return Err(Failure::Failed(format!(
            "commit {} has no folder {} (the sub-project of {})",
            target.sha, target.subproject, target.repo
        )));
    }
    let mut spec = JobSpec::new(
        new_command_id(),
        argv::save_artifacts(&target.repo_artifacts_dir),
        cwd,
        log_file,
        &target.sha,
        &target.outputs_dir,
    );
    // The sources are no artifacts folder: nothing of theirs is sourced (as the original).
    spec.source_envrc = false;
    match state.jobs.run(&spec, SAVE_ARTIFACTS_TIMEOUT) {
        Ok(_) => Ok(()),
        Err(e @ JobError::TooMany { .. }) => Err(ApiError::TooMany(e.to_string()).into()),
        Err(JobError::Failed {
            status,
            stdout,
            log_tail,
        }) => Err(Failure::Failed(format!(
            "qa save-artifacts failed (exit status {status}); end of its output:\n{}\n{}",
            tail(&stdout, STDOUT_TAIL_BYTES),
            log_tail
        ))),
        Err(e) => Err(Failure::Failed(format!("qa save-artifacts: {e}"))),
    }
}

/// Removes the checkout folder if it is there: git's bookkeeping first, then
/// whatever remains through storage confined to the checkouts folder.
fn clear_checkout(
    state: &AppState,
    checkout: &qaboard_git::CheckoutLock,
    scratch: &qaboard_storage::Storage,
) {
    let path = checkout.path();
    if std::fs::symlink_metadata(path).is_err() {
        return;
    }
    if let Err(e) = state.git.remove_checkout(checkout) {
        log::warn!(
            "save-artifacts: git worktree remove {}: {e}",
            path.display()
        );
    }
    if std::fs::symlink_metadata(path).is_ok() {
        if let Err(e) = scratch.remove_tree(path) {
            log::warn!("save-artifacts: cannot delete {}: {e}", path.display());
        }
    }
}

/// Restores the artifacts of `target` on the blocking pool, then marks the
/// commit's artifacts present (`deleted = false`), recording `user` when
/// logged in (`commit.data.last_action`, action `save-artifacts`).
pub(crate) async fn restore_and_mark(
    state: &AppState,
    target: Target,
    user: Option<String>,
) -> Result<(), Failure> {
    let st = state.clone();
    let t = target.clone();
    web::block(move || restore(&st, &t))
        .await
        .map_err(|e| Failure::Api(e.into()))??;
    let pool = state.pool.clone();
    run_db(move || {
        let by = user.map(|u| qaboard_model::action::Action::now("save-artifacts", u));
        Ok(db_jobs::mark_commit_restored(
            &mut pool.get()?,
            target.commit_id,
            by.as_ref(),
        )?)
    })
    .await?;
    Ok(())
}

/// Whether a commit of project `commit_project` is restored for a request
/// about `project`: the same project or one of its parents at a `/`
/// (intended fix of the original's plain string prefix).
fn concerns(commit_project: &str, project: &str) -> bool {
    project == commit_project
        || project
            .strip_prefix(commit_project)
            .is_some_and(|rest| rest.starts_with('/'))
}

/// `POST /api/v1/commit/save-artifacts/` `{hexsha, project}` (§4.3): for each
/// commit with exactly that sha in `project` or a parent project, restores
/// its artifacts and marks it not deleted. 200 `{"status":"OK"}`; 400
/// malformed body (`hexsha` must be 40 hex digits); 404 no such commit; 403/429/503/500 as `restore`.
pub async fn save_artifacts(
    _: WriteAccess,
    user: CurrentUser,
    state: web::Data<AppState>,
    body: JsonBody,
) -> Result<HttpResponse, ApiError> {
    let f = Fields(&body.0);
    let sha = f.required_str("hexsha")?.to_ascii_lowercase();
    if sha.len() != 40 || !sha.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(ApiError::bad(
            "'hexsha' must be a full git commit sha (40 hexadecimal digits)",
        ));
    }
    let project = f.required_str("project")?.to_string();
    let lookup = sha.clone();
    let pool = state.pool.clone();
    let commits = run_db(move || Ok(db_jobs::commits_by_sha(&mut pool.get()?, &lookup)?)).await?;
    let targets: Vec<Target> = commits
        .iter()
        .filter(|(_, c)| concerns(&c.project_id, &project))
        .map(|(p, c)| Target::of(&state, p.as_ref(), c))
        .collect();
    if targets.is_empty() {
        return Err(ApiError::NotFound(format!(
            "no commit {sha} in project {project}"
        )));
    }
    let user = user.user_name().map(str::to_string);
    for target in targets {
        if let Err(failure) = restore_and_mark(&state, target, user.clone()).await {
            return failure.respond();
        }
    }
    Ok(HttpResponse::Ok().json(json!({"status": "OK"})))
}

#[cfg(test)]
mod tests {
    use super::{concerns, tail};

    #[test]
    fn projects_concerned_are_the_same_or_parents_at_a_slash() {
        assert!(concerns("g/r", "g/r"));
        assert!(concerns("g/r", "g/r/sub"));
        assert!(!concerns("g/r", "g/repo"));
        assert!(!concerns("g/r/sub", "g/r"));
    }

    #[test]
    fn tail_keeps_the_end_on_a_char_boundary() {
        assert_eq!(tail("abcdef", 3), "def");
        assert_eq!(tail("ab", 3), "ab");
        assert_eq!(tail("aé", 1), "");
    }
}
