//! Writes sent by the `qa` CLI: outputs, batches and commits.
use actix_web::{web, HttpResponse};
use qaboard_db::ingest::{
    self, BatchRecord, CommitEnvelope, OutputPatch, OutputRecord, OutputWithInput,
};
use qaboard_db::{read, DbPool};
use qaboard_model::conventions::deserialize_config;
use qaboard_model::time::parse_client_datetime;
use serde_json::{json, Map, Value};

use crate::extract::{check_commit_id, Fields};
use crate::extract::{JsonBody, OptionalJsonBody};
use crate::extract::{ReadAccess, WriteAccess};
use crate::metrics::IngestKind;
use crate::state::AppState;
use crate::views::{batch_dir_of, OutputView};
use crate::{json_bytes, run_db, ApiConfig, ApiError};

/// Reads the commit envelope every write of the CLI carries.
/// `sha` overrides the body's sha (for `/commit/<sha>`).
pub fn commit_envelope(
    body: &Map<String, Value>,
    sha: Option<&str>,
) -> Result<CommitEnvelope, ApiError> {
    let f = Fields(body);
    let project = f.required_str("project")?.to_string();
    let hexsha = match sha {
        Some(s) => s.to_string(),
        None => match f.opt_str("commit_sha")? {
            Some(s) if !s.is_empty() => s.to_string(),
            _ => f
                .opt_str("git_commit_sha")?
                .filter(|s| !s.is_empty())
                .ok_or_else(|| ApiError::bad("'commit_sha' (or 'git_commit_sha') is required"))?
                .to_string(),
        },
    };
    check_commit_id("commit_sha", &hexsha)?;
    // The date is cosmetic: one that does not parse (or is not a string) is
    // treated as absent and logged, never a lost result (docs/robustness.md).
    let authored_datetime = match f.get("commit_authored_datetime") {
        Some(Value::String(s)) => {
            let parsed = parse_client_datetime(s);
            if parsed.is_none() {
                log::warn!(
                    "commit {hexsha} of {project}: ignoring 'commit_authored_datetime' {s:?}, not a date"
                );
            }
            parsed
        }
        Some(other) => {
            log::warn!(
                "commit {hexsha} of {project}: ignoring 'commit_authored_datetime' {other}, not a string"
            );
            None
        }
        None => None,
    };
    let qaboard_config = f
        .opt_object("qaboard_config")?
        .map(|m| Value::Object(m.clone()));
    let qaboard_metrics = f
        .opt_object("qaboard_metrics")?
        .map(|m| Value::Object(m.clone()));
    Ok(CommitEnvelope {
        project,
        hexsha,
        branch: f.opt_str("commit_branch")?.map(str::to_string),
        message: f.opt_str("commit_message")?.map(str::to_string),
        committer_name: f.opt_str("commit_committer_name")?.map(str::to_string),
        authored_datetime,
        parents: f
            .opt_array("commit_parents")?
            .map(|a| Value::Array(a.clone())),
        project_root: f.opt_str("project_root")?.map(str::to_string),
        qaboard_config,
        qaboard_metrics,
    })
}

fn output_record(body: &Map<String, Value>) -> Result<OutputRecord, ApiError> {
    let f = Fields(body);
    let commit = commit_envelope(body, None)?;
    let input_path = match f.opt_str("rel_input_path")?.filter(|s| !s.is_empty()) {
        Some(p) => p,
        None => f
            .opt_str("input_path")?
            .filter(|s| !s.is_empty())
            .ok_or_else(|| {
                ApiError::bad("the input path was not provided ('rel_input_path' or 'input_path')")
            })?,
    };
    let database = f.required_str("database")?;
    let batch_label = f.required_str("batch_label")?;
    let mut platform = f.required_str("platform")?;
    if platform == "lsf" {
        // Old clients named the platform after the runner.
        platform = "linux";
    }
    let configurations = match f.opt_array("configurations")? {
        Some(a) => Value::Array(a.clone()),
        None => match f.opt_str("configuration")? {
            Some(c) => Value::Array(deserialize_config(c)),
            None => Value::Array(Vec::new()),
        },
    };
    let extra_parameters = Value::Object(
        f.opt_object("extra_parameters")?
            .cloned()
            .unwrap_or_default(),
    );
    let job_type = f.opt_str("job_type")?.unwrap_or("local").to_string();
    let mut data = f.opt_object("data")?.cloned().unwrap_or_default();
    data.insert("user".into(), f.get("user").cloned().unwrap_or(Value::Null));
    data.insert("ci".into(), Value::Bool(job_type == "ci"));
    let artifacts = match f.opt_str("artifacts_commit")? {
        Some(a) => Some(a),
        None => f.opt_str("commit_ci_dir")?,
    };
    let metrics = Value::Object(f.opt_object("metrics")?.cloned().unwrap_or_default());
    Ok(OutputRecord {
        commit,
        database: database.to_string(),
        input_path: input_path.to_string(),
        input_metadata: f
            .opt_object("input_metadata")?
            .map(|m| Value::Object(m.clone())),
        batch_label: batch_label.to_string(),
        job_type,
        platform: platform.to_string(),
        configurations,
        extra_parameters,
        output_type: f.opt_str("input_type")?.unwrap_or("").to_string(),
        data: Value::Object(data),
        output_directory: f.opt_str("output_directory")?.map(str::to_string),
        commit_dir_override: artifacts.map(|a| a.starts_with('/').then(|| a.to_string())),
        is_running: f.opt_bool("is_running")?.unwrap_or(false),
        is_pending: f.opt_bool("is_pending")?.unwrap_or(false),
        is_failed: f.opt_bool("is_failed")?.unwrap_or(false),
        metrics,
    })
}

/// The JSON of one output; computes its folder from its batch when it has none stored.
fn output_json(pool: &DbPool, cfg: &ApiConfig, o: OutputWithInput) -> Result<Vec<u8>, ApiError> {
    let batch_dir = if o
        .output
        .output_dir_override
        .as_deref()
        .is_some_and(|d| !d.is_empty())
    {
        None
    } else {
        let mut conn = pool.get()?;
        read::output_context(&mut conn, o.output.batch_id)?.map(|(project, commit, batch)| {
            batch_dir_of(project.as_ref(), &commit, &batch, &cfg.storage_root)
        })
    };
    serde_json::to_vec(&OutputView::new(&o, batch_dir.as_deref()))
        .map_err(|e| ApiError::Internal(Box::new(e)))
}

/// `POST /api/v1/output/`
pub async fn post_output(
    _: WriteAccess,
    state: web::Data<AppState>,
    body: JsonBody,
) -> Result<HttpResponse, ApiError> {
    let (pool, cfg) = (state.pool.clone(), state.config.clone());
    let mut rec = output_record(&body.0)?;
    let git = state.git.clone();
    let metrics = state.metrics.clone();
    run_db(move || {
        crate::git::fill_commit_from_mirror(&git, &mut rec.commit);
        let mut conn = pool.get()?;
        let o = ingest::record_output(&mut conn, &rec)?;
        metrics.ingested(IngestKind::Output);
        drop(conn);
        output_json(&pool, &cfg, o)
    })
    .await
    .map(json_bytes)
}

fn parse_id(id: &str) -> Result<qaboard_model::OutputId, ApiError> {
    id.parse::<qaboard_model::OutputId>()
        .ok()
        .filter(|i| i.0 > 0)
        .ok_or_else(|| ApiError::NotFound(format!("no output has the id {id}")))
}

/// `GET /api/v1/output/<id>/`
pub async fn get_output(
    _: ReadAccess,
    state: web::Data<AppState>,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let (pool, cfg) = (state.pool.clone(), state.config.clone());
    let id = parse_id(&id)?;
    run_db(move || {
        let mut conn = pool.get()?;
        let o = read::get_output(&mut conn, id)?
            .ok_or_else(|| ApiError::NotFound(format!("no output has the id {id}")))?;
        drop(conn);
        output_json(&pool, &cfg, o)
    })
    .await
    .map(json_bytes)
}

/// `PUT /api/v1/output/<id>/`
pub async fn put_output(
    _: WriteAccess,
    state: web::Data<AppState>,
    id: web::Path<String>,
    body: JsonBody,
) -> Result<HttpResponse, ApiError> {
    let (pool, cfg) = (state.pool.clone(), state.config.clone());
    let id = parse_id(&id)?;
    let f = Fields(&body.0);
    let patch = OutputPatch {
        is_pending: f.opt_bool("is_pending")?,
        is_running: f.opt_bool("is_running")?,
        is_failed: f.opt_bool("is_failed")?,
        data: f.opt_object("data")?.cloned(),
        metrics: f.opt_object("metrics")?.cloned(),
    };
    let metrics = state.metrics.clone();
    run_db(move || {
        let mut conn = pool.get()?;
        let o = ingest::patch_output(&mut conn, id, &patch)?;
        metrics.ingested(IngestKind::Output);
        drop(conn);
        output_json(&pool, &cfg, o)
    })
    .await
    .map(json_bytes)
}

/// `POST /api/v1/batch/`
pub async fn post_batch(
    _: WriteAccess,
    state: web::Data<AppState>,
    body: JsonBody,
) -> Result<HttpResponse, ApiError> {
    let pool = state.pool.clone();
    let body = body.0;
    let f = Fields(&body);
    let commit = commit_envelope(&body, None)?;
    let label = f.required_str("batch_label")?.to_string();
    let batch_dir = match f.opt_str("batch_dir")? {
        Some(d) => Some(d),
        None => f.opt_str("prefix_output_dir")?,
    }
    .map(str::to_string);
    let data = f.opt_object("data")?.cloned().unwrap_or_default();
    if data.contains_key("iteration") && !data["iteration"].is_null() && !data["iteration"].is_i64()
    {
        return Err(ApiError::bad("'data.iteration' must be an integer"));
    }
    if data.contains_key("server_jobs") {
        return Err(ApiError::bad(
            "'data.server_jobs' is kept by the server (jobs it started) and cannot be posted",
        ));
    }
    let command = f.opt_object("command")?.cloned();
    let mut rec = BatchRecord {
        commit,
        label,
        batch_dir,
        data,
        command,
    };
    let git = state.git.clone();
    let batch = run_db(move || {
        crate::git::fill_commit_from_mirror(&git, &mut rec.commit);
        Ok(ingest::record_batch(&mut pool.get()?, &rec)?)
    })
    .await?;
    state.metrics.ingested(IngestKind::Batch);
    Ok(HttpResponse::Ok().json(json!({"status": "OK", "id": batch.id})))
}

/// `POST /api/v1/commit/` and `POST /api/v1/commit/<sha>`
pub async fn post_commit(
    _: WriteAccess,
    state: web::Data<AppState>,
    sha: Option<web::Path<String>>,
    body: OptionalJsonBody,
) -> Result<HttpResponse, ApiError> {
    let pool = state.pool.clone();
    let body = body.0;
    // `/commit/{sha:.+}` also matches `/commit/<sha>/`: the slash is not part of the sha.
    let sha = sha
        .map(|s| s.trim_end_matches('/').to_string())
        .filter(|s| !s.is_empty());
    // A sha never holds a slash: `/commit/<a>/<b>` is some other operation's
    // path (see `routes::commit`), never a commit to create.
    if sha.as_deref().is_some_and(|s| s.contains('/')) {
        return Err(ApiError::bad(
            "'commit' is not a valid commit id: a git sha holds no '/'",
        ));
    }
    let mut env = commit_envelope(&body, sha.as_deref())?;
    let data = Fields(&body)
        .opt_object("data")?
        .cloned()
        .unwrap_or_default();
    let git = state.git.clone();
    run_db(move || {
        crate::git::fill_commit_from_mirror(&git, &mut env);
        Ok(ingest::record_commit(&mut pool.get()?, &env, &data)?)
    })
    .await?;
    state.metrics.ingested(IngestKind::Commit);
    Ok(HttpResponse::Ok().json(json!({"status": "OK"})))
}

#[cfg(test)]
mod tests {
    #[test]
    fn git_dates_reach_the_envelope() {
        let body = serde_json::json!({"project": "p", "commit_sha": "abc",
            "commit_authored_datetime": "Fri Mar 1 10:00:00 2024 +0100"});
        let env = super::commit_envelope(body.as_object().unwrap(), None).unwrap();
        assert_eq!(
            env.authored_datetime.map(|t| t.to_rfc3339()).as_deref(),
            Some("2024-03-01T09:00:00+00:00")
        );
    }
}
