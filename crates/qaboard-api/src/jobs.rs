//! Runs started from the webapp (issue 13, OPERATIONS.md §1 stop/redo, §2
//! redo, §3, §4): a thin translation from HTTP to `qaboard-jobs` (start, stop,
//! argv builders) and `qaboard_db::jobs` (job records, settling stopped outputs).
//!
//! Every job runs `qa` with an argv array (user values never become shell
//! text), detached in its own process group, in the commit's artifacts folder;
//! the request waits `job_start_wait_secs` for an early failure (500 with the
//! log tail), then answers. Job records go to `batch.data.server_jobs[command_id]`
//! so that any server process on the same host can stop them.
//! Errors: `max_jobs` reached → 429; a folder outside the storage roots → 403.
//! A redo whose commit artifacts are missing restores them first (`crate::artifacts`,
//! as the original's `Batch.redo`); when that fails, its error answers (503 no mirror…).
//! The logged-in webapp user (if any) is recorded in the job records (`user`)
//! and, for a stop, in `batch.data.stopped` (issue 14).
use std::path::{Path, PathBuf};
use std::time::Duration;

use actix_web::{web, HttpResponse};
use qaboard_db::{ingest::OutputWithInput, jobs as db_jobs, read};
use qaboard_jobs::{argv, new_command_id, JobError, JobSpec, JobsConfig, Runner};
use qaboard_model::paths::{self, CommitPaths};
use qaboard_model::{Batch, BatchId, CiCommit, OutputId, Project};
use qaboard_settings::Settings;
use serde_json::{json, Map, Value};

use crate::extract::CurrentUser;
use crate::extract::Fields;
use crate::extract::WriteAccess;
use crate::extract::{JsonBody, OptionalJsonBody};
use crate::{run_db, ApiError, AppState};

/// The jobs settings out of the process's settings: `qa_command` split into
/// argv words (an operator setting; unbalanced quotes fall back to the whole
/// text as one program), `job_start_wait_secs`, `max_jobs` (held across the
/// processes sharing `data_dir`, see [`JobsConfig::slots_dir`]),
/// `job_time_limit_secs` (0: no limit) and the `QA_RUNNERS_LSF_BRIDGE`
/// environment variable (as the original's runners read it).
pub fn jobs_config(s: &Settings) -> JobsConfig {
    let qa_command = JobsConfig::parse_qa_command(&s.qa_command).unwrap_or_else(|e| {
        log::error!("qa_command: {e}; using it as one program name");
        vec![s.qa_command.clone()]
    });
    JobsConfig {
        qa_command,
        job_start_wait: Duration::from_secs(s.job_start_wait_secs),
        max_jobs: s.max_jobs,
        // Shared by the server processes that share `data_dir` (OPERATIONS.md
        // "Decisions": nothing in-process for correctness).
        slots_dir: Some(s.data_dir.join("job-slots")),
        job_time_limit: (s.job_time_limit_secs > 0)
            .then(|| Duration::from_secs(s.job_time_limit_secs)),
        lsf_bridge: std::env::var("QA_RUNNERS_LSF_BRIDGE")
            .ok()
            .filter(|b| !b.trim().is_empty()),
        ..JobsConfig::default()
    }
}

/// How a [`JobError`] answers: `TooMany` → 429, `InvalidValue` → 400, the
/// rest → 500 `{"error": <message with the log tail>}`.
pub(crate) fn job_error(e: JobError) -> Result<HttpResponse, ApiError> {
    match e {
        JobError::TooMany { .. } => Err(ApiError::TooMany(e.to_string())),
        JobError::InvalidValue { .. } => Err(ApiError::bad(e.to_string())),
        e => Ok(error_500(json!(e.to_string()))),
    }
}

pub(crate) fn error_500(error: Value) -> HttpResponse {
    HttpResponse::InternalServerError().json(json!({ "error": error }))
}

/// A batch and where its commit lives.
struct BatchPlace {
    project: Option<Project>,
    commit: CiCommit,
    batch: Batch,
    paths: CommitPaths,
}

fn load_batch(
    state: &AppState,
    conn: &mut qaboard_db::DbConn,
    id: BatchId,
) -> Result<BatchPlace, ApiError> {
    let (project, commit, batch): (Option<Project>, CiCommit, Batch) =
        read::output_context(conn, id)?
            .ok_or_else(|| ApiError::NotFound(format!("no batch has the id {}", id.0)))?;
    let paths = paths::commit_paths_of(project.as_ref(), &commit, &state.config.storage_root);
    Ok(BatchPlace {
        project,
        commit,
        batch,
        paths,
    })
}

/// Checks a folder a job uses lies under a storage root (403 otherwise).
fn confined(state: &AppState, what: &str, dir: &str) -> Result<PathBuf, ApiError> {
    if state.storage.contains(dir) {
        Ok(PathBuf::from(dir))
    } else {
        Err(ApiError::Forbidden(format!(
            "the {what} folder {dir} is outside the storage roots"
        )))
    }
}

/// The artifacts folder of the commit. When it is missing it is restored
/// first (`qa save-artifacts` in a worktree of the git mirror, §4.3, as the
/// original's `Batch.redo`), recording `user`; a failed restore answers
/// with its error (`Err(Ok(response))` for the 500 JSON with the log tail).
async fn artifacts_dir(
    state: &AppState,
    place: &BatchPlace,
    user: Option<&str>,
) -> Result<PathBuf, Result<HttpResponse, ApiError>> {
    let dir = confined(state, "artifacts", &place.paths.artifacts_dir).map_err(Err)?;
    if dir.is_dir() {
        return Ok(dir);
    }
    log::info!(
        "restoring the artifacts of commit {} ({}) before a redo",
        place.commit.hexsha,
        dir.display()
    );
    let target = crate::artifacts::Target::of(state, place.project.as_ref(), &place.commit);
    if let Err(failure) =
        crate::artifacts::restore_and_mark(state, target, user.map(str::to_string)).await
    {
        return Err(failure.respond());
    }
    if dir.is_dir() {
        Ok(dir)
    } else {
        Err(Err(ApiError::Unavailable(format!(
            "the artifacts of commit {} are still missing ({}) after `qa save-artifacts` ran: \
             re-run your CI pipeline, or `qa --ci save-artifacts`",
            place.commit.hexsha,
            dir.display()
        ))))
    }
}

/// The job redoing one output (§3): `qa … batch --no-wait … --batch=<input>`
/// in the artifacts folder, output appended to `<output_dir>/log.txt`.
fn redo_spec(
    state: &AppState,
    place: &BatchPlace,
    cwd: &Path,
    o: &OutputWithInput,
    command_id: &str,
) -> Result<JobSpec, ApiError> {
    let output = &o.output;
    let input = o.test_input.as_ref().ok_or_else(|| {
        ApiError::Conflict(format!("output {} has no test input to run", output.id))
    })?;
    let configurations = output
        .configurations
        .as_array()
        .cloned()
        .unwrap_or_default();
    let null = Value::Null;
    let run = argv::RedoRun {
        label: &place.batch.label,
        configurations: &configurations,
        database: &input.database,
        output_type: output.output_type.as_deref().unwrap_or(""),
        extra_parameters: &output.extra_parameters,
        platform: output.platform.as_deref(),
        job_options: output.data.get("job_options").unwrap_or(&null),
        test_input_path: &input.path,
    };
    let args = argv::redo_output(&run);
    argv::check_argv(&args).map_err(|e| ApiError::bad(e.to_string()))?;
    let batch_dir = paths::batch_dir(&place.paths.outputs_dir, &place.batch);
    let output_dir = paths::output_dir(&batch_dir, output, Some(input));
    let output_dir = confined(state, "output", &output_dir)?;
    let mut spec = JobSpec::new(
        command_id,
        args,
        cwd,
        output_dir.join("log.txt"),
        &place.commit.hexsha,
        Path::new(&place.paths.outputs_dir),
    );
    // The original redo script ran under `umask 0` (shared storage).
    spec.umask_zero = true;
    Ok(spec)
}

/// Starts `specs` (one command id) and stores their records in the batch,
/// each with `user` (the logged-in webapp user, issue 14) when given.
/// Returns the first start error, if any (the records of the others are kept).
pub(crate) async fn start_and_record(
    state: &AppState,
    batch: BatchId,
    command_id: &str,
    specs: Vec<JobSpec>,
    user: Option<&str>,
) -> Result<Result<(), JobError>, ApiError> {
    let runner = state.jobs.clone();
    let results = match web::block(move || runner.start_many(&specs)).await? {
        Ok(r) => r,
        Err(e) => return Ok(Err(e)),
    };
    let mut records = Vec::new();
    let mut first_error = None;
    for r in results {
        match r {
            Ok(mut record) => {
                record.user = user.map(str::to_string);
                records.push(
                    serde_json::to_value(record).map_err(|e| ApiError::Internal(Box::new(e)))?,
                )
            }
            Err(e) => {
                first_error.get_or_insert(e);
            }
        }
    }
    if !records.is_empty() {
        let pool = state.pool.clone();
        let id = command_id.to_string();
        run_db(move || {
            Ok(db_jobs::add_server_jobs(
                &mut pool.get()?,
                batch,
                &id,
                &records,
            )?)
        })
        .await?;
    }
    Ok(first_error.map_or(Ok(()), Err))
}

fn parse_output_id(id: &str) -> Result<OutputId, ApiError> {
    id.trim_end_matches('/')
        .parse::<OutputId>()
        .ok()
        .filter(|i| i.0 > 0)
        .ok_or_else(|| ApiError::NotFound(format!("no output has the id {id}")))
}

fn batch_id(body: &Map<String, Value>) -> Result<BatchId, ApiError> {
    match body.get("id") {
        Some(Value::Number(n)) => n.as_i64(),
        Some(Value::String(s)) => s.trim().parse::<i64>().ok(),
        None => return Err(ApiError::bad("missing 'id'")),
        _ => None,
    }
    .and_then(|n| i32::try_from(n).ok())
    .map(BatchId)
    .ok_or_else(|| ApiError::bad("'id' must be a batch id (an integer)"))
}

/// `POST /api/v1/output/redo/<id>/` (body ignored): redo one output (§2, §3).
/// 200 `{"status":"OK","command_id"}`; 404 unknown id; 409 pending; 429 too
/// many jobs; 503 artifacts missing; 500 `{"error"}` with the log tail when
/// `qa` exits non-zero within `job_start_wait_secs`.
pub async fn redo_output(
    _: WriteAccess,
    user: CurrentUser,
    state: web::Data<AppState>,
    id: web::Path<String>,
    _body: OptionalJsonBody,
) -> Result<HttpResponse, ApiError> {
    let id = parse_output_id(&id)?;
    let st = state.clone();
    let (place, output) = run_db(move || {
        let mut conn = st.pool.get()?;
        let output = read::get_output(&mut conn, id)?
            .ok_or_else(|| ApiError::NotFound(format!("no output has the id {}", id.0)))?;
        let place = load_batch(&st, &mut conn, output.output.batch_id)?;
        Ok((place, output))
    })
    .await?;
    if output.output.is_pending {
        return Err(ApiError::Conflict(
            "Please wait for the Output to finish running before redoing it".into(),
        ));
    }
    let cwd = match artifacts_dir(&state, &place, user.user_name()).await {
        Ok(dir) => dir,
        Err(answer) => return answer,
    };
    let command_id = new_command_id();
    let spec = redo_spec(&state, &place, &cwd, &output, &command_id)?;
    match start_and_record(
        &state,
        place.batch.id,
        &command_id,
        vec![spec],
        user.user_name(),
    )
    .await?
    {
        Ok(()) => Ok(HttpResponse::Ok().json(json!({"status": "OK", "command_id": command_id}))),
        Err(e) => job_error(e),
    }
}

/// `POST /api/v1/batch/redo/` `{id, only_failed?, only_deleted?}` (§1 redo):
/// one command id for every selected output (all, failed, deleted; both
/// flags: both conditions), pending and `optim_iteration` outputs skipped.
/// 200 `{"status":"OK","command_id","started"}`; errors as [`redo_output`].
pub async fn redo_batch(
    _: WriteAccess,
    user: CurrentUser,
    state: web::Data<AppState>,
    body: JsonBody,
) -> Result<HttpResponse, ApiError> {
    let f = Fields(&body.0);
    let id = batch_id(&body.0)?;
    let only_failed = f.opt_bool("only_failed")?.unwrap_or(false);
    let only_deleted = f.opt_bool("only_deleted")?.unwrap_or(false);
    let st = state.clone();
    let (place, outputs) = run_db(move || {
        let mut conn = st.pool.get()?;
        let place = load_batch(&st, &mut conn, id)?;
        let outputs = db_jobs::batch_outputs(&mut conn, id)?;
        Ok((place, outputs))
    })
    .await?;
    let selected: Vec<&OutputWithInput> = outputs
        .iter()
        .filter(|o| !o.output.is_pending)
        .filter(|o| o.output.output_type.as_deref() != Some("optim_iteration"))
        .filter(|o| !only_failed || o.output.is_failed)
        .filter(|o| !only_deleted || o.output.deleted)
        .collect();
    let command_id = new_command_id();
    if selected.is_empty() {
        return Ok(HttpResponse::Ok()
            .json(json!({"status": "OK", "command_id": command_id, "started": 0})));
    }
    let cwd = match artifacts_dir(&state, &place, user.user_name()).await {
        Ok(dir) => dir,
        Err(answer) => return answer,
    };
    let specs = selected
        .iter()
        .map(|o| redo_spec(&state, &place, &cwd, o, &command_id))
        .collect::<Result<Vec<_>, _>>()?;
    let started = specs.len();
    match start_and_record(&state, id, &command_id, specs, user.user_name()).await? {
        Ok(()) => Ok(HttpResponse::Ok()
            .json(json!({"status": "OK", "command_id": command_id, "started": started}))),
        Err(e @ (JobError::TooMany { .. } | JobError::InvalidValue { .. })) => job_error(e),
        Err(e) => Ok(error_500(json!(format!(
            "Some runs failed to start. Check the 'log.txt' files of the outputs. {e}"
        )))),
    }
}

/// `POST /api/v1/batch/stop/` `{id}` (§1 stop and "Decisions"): no pending
/// output → `{}`; else every job of the batch is stopped (server-started
/// ones by process group from `data.server_jobs`, LSF ones with `bkill` from
/// `data.commands`); on success the pending outputs become
/// `is_pending=false, is_running=false, is_failed=true` in one transaction
/// and the answer is `{}`; runner errors → 500 `{"error":[messages]}`,
/// outputs untouched.
pub async fn stop_batch(
    _: WriteAccess,
    user: CurrentUser,
    state: web::Data<AppState>,
    body: JsonBody,
) -> Result<HttpResponse, ApiError> {
    let id = batch_id(&body.0)?;
    let st = state.clone();
    let (place, outputs) = run_db(move || {
        let mut conn = st.pool.get()?;
        let place = load_batch(&st, &mut conn, id)?;
        let outputs = db_jobs::batch_outputs(&mut conn, id)?;
        Ok((place, outputs))
    })
    .await?;
    if !outputs.iter().any(|o| o.output.is_pending) {
        return Ok(HttpResponse::Ok().json(json!({})));
    }
    let object = |key: &str| match place.batch.data.get(key) {
        Some(Value::Object(m)) => m.clone(),
        _ => Map::new(),
    };
    let (commands, server_jobs) = (object("commands"), object("server_jobs"));
    let (local, lsf) = (state.jobs.clone(), state.lsf.clone());
    let errors = web::block(move || {
        qaboard_jobs::stop_commands(
            &commands,
            &server_jobs,
            &local as &dyn Runner,
            &lsf as &dyn Runner,
        )
    })
    .await?;
    if !errors.is_empty() {
        let messages: Vec<String> = errors.iter().map(ToString::to_string).collect();
        return Ok(error_500(json!(messages)));
    }
    let pool = state.pool.clone();
    let stopped_by = user.action("stop").map(|a| a.to_json());
    run_db(move || {
        let mut conn = pool.get()?;
        db_jobs::settle_stopped(&mut conn, id)?;
        if let Some(stopped) = stopped_by {
            db_jobs::record_in_batch_data(
                &mut conn,
                id,
                qaboard_model::action::LAST_ACTION_KEY,
                &stopped,
            )?;
        }
        Ok(())
    })
    .await?;
    Ok(HttpResponse::Ok().json(json!({})))
}

/// `POST /api/v1/commit/save-artifacts/`: see [`crate::artifacts::save_artifacts`].
pub use crate::artifacts::save_artifacts;
