//! `POST /api/v1/tests/group` (OPERATIONS.md §4.1, "Intended": always
//! `qa batch … --list`): the tests of a group, as the webapp's tuning form
//! shows them. Starting tuning (§4.2) is not wired yet.
use std::path::PathBuf;
use std::time::Duration;

use actix_web::{web, HttpResponse};
use qaboard_db::jobs as db_jobs;
use qaboard_jobs::{argv, new_command_id, JobError, JobSpec};
use qaboard_model::paths;
use serde::Deserialize;
use serde_json::{json, Value};

use crate::auth::WriteAccess;
use crate::body::OptionalJsonBody;
use crate::{run_db, ApiError, AppState};

/// Longest a `qa batch --list` may run before its process group is killed.
pub const LIST_TIMEOUT: Duration = Duration::from_secs(60);

/// The fixed `message` of a listing (the webapp renders it as HTML).
const LIST_MESSAGE: &str = "Tests listed by <code>qa batch --list</code>.";

/// Query of `POST /api/v1/tests/group`.
#[derive(Debug, Deserialize)]
pub struct GroupQuery {
    project: Option<String>,
    name: Option<String>,
    commit: Option<String>,
}

/// The batch files named by a commit's `inputs.groups` (or `inputs.batches`):
/// a string or a list, `{project}`/`{subproject}` interpolated, relative to
/// the repository's artifacts folder; only existing files, order reversed
/// (as the original). Globs are not expanded (literal paths only).
fn commit_batch_files(
    config: &Value,
    project: &str,
    subproject: &str,
    repo_dir: &str,
) -> Vec<PathBuf> {
    let inputs = config.get("inputs");
    let spec = inputs
        .and_then(|i| i.get("groups"))
        .or_else(|| inputs.and_then(|i| i.get("batches")));
    let names: Vec<&str> = match spec {
        Some(Value::String(s)) => vec![s.as_str()],
        Some(Value::Array(items)) => items.iter().filter_map(Value::as_str).collect(),
        _ => vec![],
    };
    let mut files: Vec<PathBuf> = names
        .into_iter()
        .map(|n| {
            n.replace("{project}", project)
                .replace("{subproject}", subproject)
        })
        .map(|n| PathBuf::from(repo_dir).join(n))
        .filter(|p| p.is_file())
        .collect();
    files.reverse();
    files
}

/// `POST /api/v1/tests/group?project=&name=&commit=` body `{groups:[…]}`:
/// `{"tests":[{input_path, configurations}], "message"}` from `qa batch
/// --batches-file=<f>… --batch=<name> --list` run in the commit's artifacts
/// folder (ancestor `.envrc` sourced, at most [`LIST_TIMEOUT`]).
/// Batch files: the commit config's `inputs.groups`/`inputs.batches`, then the
/// shared group files `<data_dir>/shared/<project>/<group>.yml` that exist
/// (null groups skipped). Empty `name` → `{"tests":[]}`; `groups` not a list,
/// no `project` or no `commit` → 400; unknown commit → 404; missing artifacts
/// → 503; `qa` failing → 500 `{"error"}` with its log tail; 429 at `max_jobs`.
pub async fn list_group(
    _: WriteAccess,
    state: web::Data<AppState>,
    query: web::Query<GroupQuery>,
    body: OptionalJsonBody,
) -> Result<HttpResponse, ApiError> {
    let groups: Vec<String> = match body.0.get("groups") {
        None | Some(Value::Null) => vec![],
        Some(Value::Array(items)) => items
            .iter()
            .filter_map(Value::as_str)
            .map(str::to_string)
            .collect(),
        Some(_) => return Err(ApiError::bad("'groups' must be a list")),
    };
    let name = query.name.clone().unwrap_or_default();
    if name.is_empty() {
        return Ok(HttpResponse::Ok().json(json!({"tests": []})));
    }
    let project = query
        .project
        .clone()
        .filter(|p| !p.is_empty())
        .ok_or_else(|| ApiError::bad("missing 'project'"))?;
    let sha = query
        .commit
        .clone()
        .filter(|c| !c.is_empty())
        .ok_or_else(|| {
            ApiError::bad("missing 'commit': tests are listed with a commit's artifacts")
        })?;
    let (pool, p2, s2) = (state.pool.clone(), project.clone(), sha.clone());
    let (proj, commit) = run_db(move || {
        db_jobs::commit_with_project(&mut pool.get()?, &p2, &s2)?
            .ok_or_else(|| ApiError::NotFound(format!("Sorry, the commit id {s2} was not found")))
    })
    .await?;
    let cp = paths::commit_paths_of(proj.as_ref(), &commit, &state.config.storage_root);
    if !state.storage.contains(&cp.artifacts_dir) {
        return Err(ApiError::Forbidden(format!(
            "the artifacts folder {} is outside the storage roots",
            cp.artifacts_dir
        )));
    }
    let cwd = PathBuf::from(&cp.artifacts_dir);
    if !cwd.is_dir() {
        return Err(ApiError::Unavailable(format!(
            "Could not load the artifacts of commit {}: `qa save-artifacts` needs to be called.",
            commit.hexsha
        )));
    }
    let null = Value::Null;
    let config = commit
        .data
        .get("qatools_config")
        .or_else(|| proj.as_ref().and_then(|p| p.data.get("qatools_config")))
        .unwrap_or(&null);
    let git = paths::id_git(&commit.project_id, proj.as_ref().map_or(&null, |p| &p.data));
    let sub = paths::id_relative(&commit.project_id, &git);
    let mut files: Vec<PathBuf> =
        commit_batch_files(config, &project, &sub, &cp.repo_artifacts_dir)
            .into_iter()
            .filter(|f| state.storage.contains(f))
            .collect();
    for g in &groups {
        let f = crate::groups::groups_path(&state.config.data_dir, &project, g)?;
        if f.is_file() {
            files.push(f);
        }
    }
    let args = argv::list_group(&files, &name);
    argv::check_argv(&args).map_err(|e| ApiError::bad(e.to_string()))?;
    let log = tempfile_log()?;
    let spec = JobSpec::new(
        new_command_id(),
        args,
        cwd,
        log.path(),
        &commit.hexsha,
        std::path::Path::new(&cp.outputs_dir),
    );
    let runner = state.jobs.clone();
    let done = web::block(move || runner.run(&spec, LIST_TIMEOUT)).await?;
    drop(log);
    let parsed = done.and_then(|c| argv::parse_list_output(&c.stdout));
    match parsed {
        Ok(tests) => Ok(HttpResponse::Ok().json(json!({"tests": tests, "message": LIST_MESSAGE}))),
        Err(e @ JobError::TooMany { .. }) => Err(ApiError::TooMany(e.to_string())),
        Err(e @ JobError::InvalidValue { .. }) => Err(ApiError::bad(e.to_string())),
        Err(e) => Ok(HttpResponse::InternalServerError().json(json!({"error": e.to_string()}))),
    }
}

/// A private temporary file receiving the listing's stderr (its tail goes in
/// errors); removed when dropped.
fn tempfile_log() -> Result<tempfile::NamedTempFile, ApiError> {
    tempfile::Builder::new()
        .prefix("qaboard-list-")
        .suffix(".log")
        .tempfile()
        .map_err(|e| ApiError::Internal(Box::new(e)))
}
