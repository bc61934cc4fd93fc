//! What a push means for QA-Board's projects: one [`SubProjectPlan`] per
//! configuration folder of the pushed commit (OPERATIONS.md §5 steps 3–4,
//! the original's `update_project`). Computing only; the caller writes.

use std::collections::BTreeMap;

use qaboard_model::config_merge::{self, ParsedConfig};
use serde_json::Value;

use crate::{CommitInfo, Repo, Result};

/// Everything a push changes in QA-Board's database, computed from the
/// event and the (synced) mirror; the webhook handler writes it (steps in
/// the crate README, OPERATIONS.md §5).
#[derive(Debug, Clone, PartialEq)]
pub struct PushPlan {
    /// The repository's root project id (`group/repo`).
    pub root_project_id: String,
    /// The forge's project object: every (sub-)project's new `data.git`.
    pub git: Value,
    /// The pushed commit (full sha).
    pub sha: String,
    /// Its metadata, for commit rows created by this push.
    pub commit: CommitInfo,
    /// The branch of commit rows created by this push: the pushed branch, or
    /// for a tag push the guess of [`Repo::guess_branch`].
    pub branch: String,
    /// Tags pointing at the commit (annotated and lightweight), for
    /// `commit.data.tags`.
    pub tags: Vec<String>,
    /// The pushed branch (`None` for a tag push): compared with each
    /// sub-project's reference branch by [`SubProjectPlan::updates_project`].
    pub pushed_branch: Option<String>,
    /// One entry per configuration folder, sorted by folder.
    pub subprojects: Vec<SubProjectPlan>,
}

/// Plans a push: `None` for a deletion (nothing to write). `repo` must be
/// the mirror of `event.repo`, synced (see [`crate::Mirrors::sync_push`]).
/// Errors: the commit is not in the mirror ([`crate::GitError::NotFound`]),
/// or the mirror cannot be read.
pub fn plan_push(
    repo: &Repo,
    event: &qaboard_model::webhook::PushEvent,
) -> Result<Option<PushPlan>> {
    let Some(sha) = event.sha.as_deref() else {
        return Ok(None);
    };
    let commit = repo.commit(sha)?;
    let sha = commit.hexsha.clone();
    let pushed_branch = event.git_ref.branch().map(str::to_string);
    let branch = match &pushed_branch {
        Some(branch) => branch.clone(),
        None => repo.guess_branch(&sha)?,
    };
    Ok(Some(PushPlan {
        root_project_id: event.repo.clone(),
        git: event.project.clone(),
        tags: repo.tags_at(&sha)?,
        subprojects: plan_subprojects(repo, &sha, &event.repo)?,
        sha,
        commit,
        branch,
        pushed_branch,
    }))
}

/// The configuration of one (sub-)project at one commit.
#[derive(Debug, Clone, PartialEq)]
pub struct SubProjectPlan {
    /// `"<root>"` for the repository root, else `"<root>/<dir>"`.
    pub project_id: String,
    /// The folder of the configuration file (`""` for the root).
    pub dir: String,
    /// The configuration file read (`<dir>/qaboard.yaml` or `qatools.yaml`).
    pub config_path: String,
    /// The merged configuration (root→leaf, `project.name` = `project_id`),
    /// to store as `commit.data.qatools_config`. `None` when a file of the
    /// chain is broken: then skip this sub-project (see `errors`).
    pub qatools_config: Option<Value>,
    /// The parsed `outputs.metrics` file (repository-root-relative), to
    /// store as `commit.data.qatools_metrics`; `None` when the config names
    /// none, or it is missing, empty or broken (broken: see `errors`).
    pub qatools_metrics: Option<Value>,
    /// What went wrong, as `<path>: <message>` lines for the log.
    pub errors: Vec<String>,
}

impl SubProjectPlan {
    /// The reference branch of the merged configuration
    /// (`project.reference_branch`, default `master`).
    pub fn reference_branch(&self) -> Option<&str> {
        self.qatools_config
            .as_ref()
            .map(config_merge::reference_branch)
    }

    /// Whether the project row's `data.qatools_config` (and
    /// `qatools_metrics`) must be replaced too: when it has none yet
    /// (`project_has_config == false`) or the push is on the reference
    /// branch (the original's `is_initialization or is_reference`).
    pub fn updates_project(&self, project_has_config: bool, push_branch: Option<&str>) -> bool {
        match self.reference_branch() {
            None => false,
            Some(reference) => !project_has_config || push_branch == Some(reference),
        }
    }
}

/// Lists every `qaboard.yaml`/`qatools.yaml` (exact basename; `qaboard.yaml`
/// preferred in one folder) in the tree of commit `sha` of `repo` and
/// returns one plan per folder, sorted by folder, for the repository whose
/// root project id is `root_id`.
///
/// A broken YAML gives an error entry for every sub-project whose chain
/// includes it and does not stop the others. Errors: only when `sha` cannot
/// be read at all ([`crate::GitError::NotFound`]…).
pub fn plan_subprojects(repo: &Repo, sha: &str, root_id: &str) -> Result<Vec<SubProjectPlan>> {
    let files = repo.list_files(sha)?;
    let config_files = config_merge::config_files(files.iter().map(String::as_str));
    let mut parsed: BTreeMap<String, ParsedConfig> = BTreeMap::new();
    for (dir, path) in &config_files {
        let value = match repo.read_file(sha, path)? {
            None => Ok(Value::Null),
            Some(bytes) => match String::from_utf8(bytes) {
                Err(_) => Err("not UTF-8 text".to_string()),
                Ok(text) => qaboard_model::yaml::parse_yaml(&text).map_err(|e| e.to_string()),
            },
        };
        parsed.insert(dir.clone(), (path.clone(), value));
    }
    // Metrics files are shared between sub-projects: read each once.
    let mut metrics_cache: BTreeMap<String, std::result::Result<Option<Value>, String>> =
        BTreeMap::new();
    let mut plans = Vec::new();
    for (dir, path) in &config_files {
        let project_id = config_merge::subproject_id(root_id, dir);
        let mut plan = SubProjectPlan {
            project_id: project_id.clone(),
            dir: dir.clone(),
            config_path: path.clone(),
            qatools_config: None,
            qatools_metrics: None,
            errors: Vec::new(),
        };
        match config_merge::merged_config(dir, &parsed, &project_id) {
            Err(e) => plan.errors.push(e.to_string()),
            Ok(config) => {
                if let Some(metrics_path) = config_merge::metrics_path(&config) {
                    let entry = match metrics_cache.get(metrics_path) {
                        Some(entry) => entry.clone(),
                        None => {
                            let entry = read_metrics(repo, sha, metrics_path)?;
                            metrics_cache.insert(metrics_path.to_string(), entry.clone());
                            entry
                        }
                    };
                    match entry {
                        Ok(metrics) => plan.qatools_metrics = metrics,
                        Err(message) => plan.errors.push(format!("{metrics_path}: {message}")),
                    }
                }
                plan.qatools_config = Some(config);
            }
        }
        plans.push(plan);
    }
    Ok(plans)
}

/// The parsed metrics file; `Ok(None)` when it is missing or empty (the
/// original keeps no value then).
fn read_metrics(
    repo: &Repo,
    sha: &str,
    path: &str,
) -> Result<std::result::Result<Option<Value>, String>> {
    let Some(bytes) = repo.read_file(sha, path)? else {
        return Ok(Ok(None));
    };
    let Ok(text) = String::from_utf8(bytes) else {
        return Ok(Err("not UTF-8 text".to_string()));
    };
    Ok(match config_merge::parse_metrics(path, &text) {
        Ok(Value::Null) => Ok(None),
        Ok(value) => Ok(Some(value)),
        Err(message) => Err(message),
    })
}
