//! `POST /api/v1/tests/group` (OPERATIONS.md §4.1, "Intended": always
//! `qa batch … --list`): the tests of a group, as the webapp's tuning form
//! shows them; and `POST /api/v1/commit/<sha>/batch` (§4.2): starting a
//! grid, sampler or optimize tuning run (see [`start_tuning`]).
use std::path::PathBuf;
use std::time::Duration;

use actix_web::{web, HttpResponse};
use qaboard_db::jobs as db_jobs;
use qaboard_jobs::{argv, new_command_id, JobError, JobSpec};
use qaboard_model::{paths, CiCommit, Project};
use serde::Deserialize;
use serde_json::{json, Value};

use crate::extract::OptionalJsonBody;
use crate::extract::WriteAccess;
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

/// The batch files of a listing or a tuning run (§4.1), in order: the commit
/// config's files under the repository artifacts folder (inside the storage
/// roots), then the existing shared group files of `groups`.
fn batch_files(
    state: &AppState,
    proj: Option<&Project>,
    commit: &CiCommit,
    cp: &paths::CommitPaths,
    project: &str,
    groups: &[String],
) -> Result<Vec<PathBuf>, ApiError> {
    let null = Value::Null;
    let config = commit
        .data
        .get("qatools_config")
        .or_else(|| proj.and_then(|p| p.data.get("qatools_config")))
        .unwrap_or(&null);
    let git = paths::id_git(&commit.project_id, proj.map_or(&null, |p| &p.data));
    let sub = paths::id_relative(&commit.project_id, &git);
    let mut files: Vec<PathBuf> = commit_batch_files(config, project, &sub, &cp.repo_artifacts_dir)
        .into_iter()
        .filter(|f| state.storage.contains(f))
        .collect();
    for g in groups {
        let f = crate::groups::groups_path(&state.config.data_dir, project, g)?;
        if f.is_file() {
            files.push(f);
        }
    }
    Ok(files)
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
    let files = batch_files(&state, proj.as_ref(), &commit, &cp, &project, &groups)?;
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

/// Longest batch file read for a tuning run, in bytes.
const MAX_BATCH_FILE_BYTES: u64 = 16 * 1024 * 1024;

/// `batch_label` as the original cleans it: characters outside `[\w_.@:=]` become `-`.
fn clean_label(label: &str) -> String {
    label
        .chars()
        .map(|c| {
            if c.is_alphanumeric() || matches!(c, '_' | '.' | '@' | ':' | '=') {
                c
            } else {
                '-'
            }
        })
        .collect()
}

/// Keeps of the merged batches the keys `aliases`, `groups`, `database` and
/// `selected` with every name it expands to through `aliases` (or `groups`), recursively.
fn keep_selected(merged: &Value, selected: &str) -> Value {
    let mut keep = serde_json::Map::new();
    let mut todo = vec![selected.to_string()];
    let mut seen = std::collections::BTreeSet::new();
    while let Some(name) = todo.pop() {
        if !seen.insert(name.clone()) {
            continue;
        }
        if let Some(v) = merged.get(&name) {
            keep.insert(name.clone(), v.clone());
        }
        for key in ["aliases", "groups"] {
            match merged.get(key).and_then(|a| a.get(&name)) {
                Some(Value::Array(items)) => {
                    todo.extend(items.iter().filter_map(Value::as_str).map(str::to_string))
                }
                Some(Value::String(s)) => todo.push(s.clone()),
                _ => {}
            }
        }
    }
    for key in ["aliases", "groups", "database"] {
        if let Some(v) = merged.get(key) {
            keep.insert(key.to_string(), v.clone());
        }
    }
    Value::Object(keep)
}

/// `POST /api/v1/commit/<sha>/batch?project=` (§4.2, intended fixes): starts
/// a grid/sampler search (`qa batch --tuning-search`) or an optimisation
/// (`qa optimize`) on the commit's artifacts. Body: `project`, `batch_label`,
/// `platform` (default `lsf`), `tuning_search {search_type, search_options,
/// parameter_search}`, `selected_group`, `groups`, `overwrite` (bool or "on").
/// Writes, in the batch folder (saved as `batch_dir_override`), the merged
/// batch files as `batches-<id8>.yaml` (JSON text, valid YAML) and, for
/// optimize, `optim-config.yaml` (the posted YAML text); the job's output
/// goes to `<batch dir>/log.txt`. 200 `{"status":"OK","batch_id","command_id"}`;
/// 404 unknown commit, no `qaboard.yaml`, deleted artifacts; 400 bad body or
/// unreadable YAML; 503 artifacts missing; 429; 500 early failure with log tail.
pub async fn start_tuning(
    _: WriteAccess,
    user: crate::extract::CurrentUser,
    state: web::Data<AppState>,
    sha: web::Path<String>,
    query: web::Query<GroupQuery>,
    body: crate::extract::JsonBody,
) -> Result<HttpResponse, ApiError> {
    let f = crate::extract::Fields(&body.0);
    let project = f
        .opt_str("project")?
        .map(str::to_string)
        .or_else(|| query.project.clone())
        .filter(|p| !p.is_empty())
        .ok_or_else(|| ApiError::bad("missing 'project'"))?;
    let label = clean_label(f.required_str("batch_label")?);
    if label.is_empty() {
        return Err(ApiError::bad("'batch_label' is empty"));
    }
    let platform = f.opt_str("platform")?.unwrap_or("lsf").to_string();
    let selected = f.required_str("selected_group")?.to_string();
    let search = f
        .opt_object("tuning_search")?
        .cloned()
        .ok_or_else(|| ApiError::bad("missing 'tuning_search'"))?;
    let search_type = search
        .get("search_type")
        .and_then(Value::as_str)
        .unwrap_or("grid")
        .to_string();
    if !matches!(search_type.as_str(), "grid" | "sampler" | "optimize") {
        return Err(ApiError::bad(
            "'tuning_search.search_type' must be grid, sampler or optimize",
        ));
    }
    let overwrite = match body.0.get("overwrite") {
        Some(Value::Bool(b)) => *b,
        Some(Value::String(s)) => s == "on" || s == "true",
        _ => false,
    };
    let groups: Vec<String> = match body.0.get("groups") {
        None | Some(Value::Null) => vec![],
        Some(Value::Array(items)) => items
            .iter()
            .filter_map(Value::as_str)
            .map(str::to_string)
            .collect(),
        Some(_) => return Err(ApiError::bad("'groups' must be a list")),
    };
    let (pool, p2, s2) = (state.pool.clone(), project.clone(), sha.into_inner());
    let (proj, commit) = run_db(move || {
        db_jobs::commit_with_project(&mut pool.get()?, &p2, s2.trim_end_matches('/'))?
            .ok_or_else(|| ApiError::NotFound("Sorry, the commit id was not found".into()))
    })
    .await?;
    if proj
        .as_ref()
        .and_then(|p| p.data.get("qatools_config"))
        .is_none_or(Value::is_null)
    {
        return Err(ApiError::NotFound("Please create `qaboard.yaml`".into()));
    }
    if commit.deleted {
        return Err(ApiError::NotFound(
            "Artifacts for this commit were deleted! Re-run your CI pipeline, or `git checkout / build / qa --ci save-artifacts`".into(),
        ));
    }
    let cp = paths::commit_paths_of(proj.as_ref(), &commit, &state.config.storage_root);
    if !state.storage.contains(&cp.artifacts_dir) || !state.storage.contains(&cp.outputs_dir) {
        return Err(ApiError::Forbidden(
            "the commit's folders are outside the storage roots".into(),
        ));
    }
    let cwd = PathBuf::from(&cp.artifacts_dir);
    if !cwd.is_dir() {
        return Err(ApiError::Unavailable(format!(
            "the artifacts of commit {} are missing: re-run your CI pipeline, or `qa --ci save-artifacts`",
            commit.hexsha
        )));
    }
    // Merge the batch files, later wins.
    let mut merged = Value::Object(Default::default());
    for file in batch_files(&state, proj.as_ref(), &commit, &cp, &project, &groups)? {
        let bytes = if state.storage.contains(&file) {
            state
                .storage
                .read_small(&file, MAX_BATCH_FILE_BYTES)
                .map_err(|e| ApiError::bad(e.to_string()))?
        } else {
            std::fs::read(&file).map_err(|e| ApiError::bad(format!("{}: {e}", file.display())))?
        };
        let text = String::from_utf8_lossy(&bytes);
        let v = qaboard_model::yaml::parse_yaml(&text)
            .map_err(|e| ApiError::bad(format!("{}: {e}", file.display())))?;
        merged = qaboard_model::config_merge::deep_merge(merged, &v);
    }
    let merged = keep_selected(&merged, &selected);
    let command_id = new_command_id();
    let default_dir = format!(
        "{}/{}",
        cp.outputs_dir.trim_end_matches('/'),
        qaboard_model::conventions::batch_folder_name(&label)
    );
    let (pool, l2, d2, cid) = (state.pool.clone(), label.clone(), default_dir, commit.id);
    let batch = run_db(move || {
        Ok(db_jobs::prepare_tuning_batch(
            &mut pool.get()?,
            cid,
            &l2,
            &d2,
        )?)
    })
    .await?;
    let batch_dir = PathBuf::from(paths::batch_dir(&cp.outputs_dir, &batch));
    if !state.storage.contains(&batch_dir) {
        return Err(ApiError::Forbidden(format!(
            "the batch folder {} is outside the storage roots",
            batch_dir.display()
        )));
    }
    let batches_file = batch_dir.join(format!("batches-{}.yaml", &command_id[..8]));
    let text = serde_json::to_vec_pretty(&merged).map_err(|e| ApiError::Internal(Box::new(e)))?;
    let storage_error = |e: qaboard_storage::StorageError| ApiError::Internal(Box::new(e));
    state
        .storage
        .write(&batches_file, &text)
        .map_err(storage_error)?;
    let run = argv::TuningRun {
        platform: &platform,
        label: &label,
        batches_file: &batches_file,
        group: &selected,
        overwrite,
    };
    let args = if search_type == "optimize" {
        let config_file = batch_dir.join("optim-config.yaml");
        let yaml = match search.get("parameter_search") {
            Some(Value::String(s)) => s.clone(),
            Some(other) => other.to_string(),
            None => String::new(),
        };
        qaboard_model::yaml::parse_yaml(&yaml)
            .map_err(|e| ApiError::bad(format!("the optimize configuration is not YAML: {e}")))?;
        state
            .storage
            .write(&config_file, yaml.as_bytes())
            .map_err(storage_error)?;
        argv::tuning_optimize(&run, &config_file)
    } else {
        argv::tuning_search(&run, &Value::Object(search.clone()))
    };
    argv::check_argv(&args).map_err(|e| ApiError::bad(e.to_string()))?;
    let spec = JobSpec::new(
        command_id.clone(),
        args,
        cwd,
        batch_dir.join("log.txt"),
        &commit.hexsha,
        std::path::Path::new(&cp.outputs_dir),
    );
    match crate::jobs::start_and_record(&state, batch.id, &command_id, vec![spec], user.user_name())
        .await?
    {
        Ok(()) => Ok(HttpResponse::Ok()
            .json(json!({"status": "OK", "batch_id": batch.id, "command_id": command_id}))),
        Err(e) => crate::jobs::job_error(e),
    }
}
