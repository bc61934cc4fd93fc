//! Reads of the webapp and of `qa batch` / `qa optimize`.
use actix_web::{web, HttpResponse};
use chrono::{Duration, Utc};
use qaboard_db::read::{self, CommitWindow};
use qaboard_db::DbPool;
use qaboard_model::aggregate::metric_names;
use qaboard_model::rules::reference_branch;
use qaboard_model::time::{iso_naive, iso_utc, parse_client_datetime};
use serde::Deserialize;
use serde_json::{Map, Value};

use crate::auth::ReadAccess;
use crate::views::{commit_json, CommitViewOptions};
use crate::{json_bytes, run_db, ApiConfig, ApiError};

/// Query parameters of the commit reads.
#[derive(Debug, Deserialize)]
pub struct CommitQuery {
    project: Option<String>,
    branch: Option<String>,
    batch: Option<String>,
    metrics: Option<String>,
    commit: Option<String>,
}

/// Reads that build large answers (a commit with its outputs, the commits
/// list) run at most one per core at a time: more would not finish sooner
/// on a busy machine, and each holds its rows and answer in memory.
async fn heavy_read_permit() -> Option<tokio::sync::SemaphorePermit<'static>> {
    static HEAVY: std::sync::OnceLock<tokio::sync::Semaphore> = std::sync::OnceLock::new();
    let permits = std::thread::available_parallelism().map_or(2, |n| n.get());
    HEAVY
        .get_or_init(|| tokio::sync::Semaphore::new(permits))
        .acquire()
        .await
        .ok()
}

fn required_project(p: Option<String>) -> Result<String, ApiError> {
    p.filter(|p| !p.is_empty())
        .ok_or_else(|| ApiError::bad("the 'project' query parameter is required"))
}

fn parse_metrics(m: Option<&str>) -> Result<Vec<String>, ApiError> {
    match m.map(str::trim).filter(|m| !m.is_empty()) {
        None => Ok(Vec::new()),
        Some(m) => {
            let v: Value = serde_json::from_str(m).map_err(|e| {
                ApiError::bad(format!(
                    "'metrics' must be a JSON object of metric names: {e}"
                ))
            })?;
            if !(v.is_object() || v.is_null()) {
                return Err(ApiError::bad(
                    "'metrics' must be a JSON object of metric names",
                ));
            }
            Ok(metric_names(&v))
        }
    }
}

/// `GET /api/v1/commit/[<id or prefix>]`
pub async fn get_commit(
    _: ReadAccess,
    pool: web::Data<DbPool>,
    cfg: web::Data<ApiConfig>,
    sha: Option<web::Path<String>>,
    q: web::Query<CommitQuery>,
) -> Result<HttpResponse, ApiError> {
    let q = q.into_inner();
    let project = required_project(q.project)?;
    let metric_names = parse_metrics(q.metrics.as_deref())?;
    // `/commit/{sha:.+}` also matches `/commit/<sha>/`: the slash is not part of the sha.
    let sha = sha
        .map(|s| s.trim_end_matches('/').to_string())
        .filter(|s| !s.is_empty())
        .or(q.commit.filter(|c| !c.is_empty()));
    let batch = q.batch.filter(|b| !b.is_empty());
    let branch = q.branch.filter(|b| !b.is_empty());
    let _permit = heavy_read_permit().await;
    let body = run_db(move || {
        let mut conn = pool.get()?;
        let sha = match sha {
            Some(s) => s,
            None => {
                let branch = match branch {
                    Some(b) => b,
                    None => read::project(&mut conn, &project)?
                        .and_then(|p| {
                            p.data
                                .get("qatools_config")
                                .map(|c| reference_branch(c).to_string())
                        })
                        .unwrap_or_else(|| qaboard_model::DEFAULT_REFERENCE_BRANCH.to_string()),
                };
                read::latest_successful_commit(&mut conn, &project, &branch, batch.as_deref())?
                    .ok_or_else(|| {
                        ApiError::NotFound(format!(
                            "no commit of {project} on {branch} has results"
                        ))
                    })?
            }
        };
        let tree = read::commit_tree(
            &mut conn,
            &project,
            &sha,
            batch.as_deref(),
            !metric_names.is_empty(),
        )?
        .ok_or_else(|| {
            ApiError::NotFound(format!(
                "Sorry, we could not find any data on commit {sha} in project {project}."
            ))
        })?;
        drop(conn);
        let opts = CommitViewOptions {
            metric_names,
            with_outputs: true,
            only_batches: batch.map(|b| vec![b]),
            default_storage_root: cfg.storage_root.clone(),
        };
        Ok(commit_json(&tree, None, &opts))
    })
    .await?;
    Ok(json_bytes(body))
}

/// Query parameters of the commits list.
#[derive(Debug, Deserialize)]
pub struct CommitsQuery {
    project: Option<String>,
    from: Option<String>,
    to: Option<String>,
    committer: Option<String>,
    metrics: Option<String>,
    with_outputs: Option<String>,
    only_ci_batches: Option<String>,
    batch: Option<String>,
}

fn parse_date(key: &str, v: Option<&str>) -> Result<Option<chrono::DateTime<Utc>>, ApiError> {
    match v.map(str::trim).filter(|s| !s.is_empty()) {
        None => Ok(None),
        Some(s) => parse_client_datetime(s)
            // Years the databases store (and date arithmetic stays within).
            .filter(|d| (1..=9999).contains(&chrono::Datelike::year(d)))
            .map(Some)
            .ok_or_else(|| {
                ApiError::bad(format!(
                    "'{key}' is not a date between the years 1 and 9999: {s}"
                ))
            }),
    }
}

fn flag(v: Option<&str>) -> bool {
    matches!(v, Some(s) if !s.is_empty() && s != "false" && s != "0")
}

/// `GET /api/v1/commits/[<branch>]`
pub async fn get_commits(
    _: ReadAccess,
    pool: web::Data<DbPool>,
    cfg: web::Data<ApiConfig>,
    branch: Option<web::Path<String>>,
    q: web::Query<CommitsQuery>,
) -> Result<HttpResponse, ApiError> {
    let q = q.into_inner();
    let project = required_project(q.project)?;
    let metric_names = parse_metrics(q.metrics.as_deref())?;
    let now = Utc::now();
    let to = parse_date("to", q.to.as_deref())?.unwrap_or(now);
    // Without `from`, the 4 days before `to` (the original took the 4 days
    // before now, an empty window when `to` is older than that).
    let from = parse_date("from", q.from.as_deref())?.unwrap_or(to - Duration::days(4));
    let branch = branch
        .map(|b| b.trim_end_matches('/').to_string())
        .filter(|b| !b.is_empty())
        .map(|b| qaboard_model::conventions::strip_origin(&b));
    let only_batch = match q.batch.filter(|b| !b.is_empty()) {
        Some(b) => Some(b),
        None if flag(q.only_ci_batches.as_deref()) => {
            Some(qaboard_model::DEFAULT_BATCH_LABEL.to_string())
        }
        None => None,
    };
    let window = CommitWindow {
        project,
        branch,
        committer: q.committer.filter(|c| !c.is_empty()),
        from,
        to,
        limit: 1000,
        with_outputs: flag(q.with_outputs.as_deref()),
        with_metrics: !metric_names.is_empty(),
        batch: only_batch.clone(),
    };
    let opts = CommitViewOptions {
        metric_names,
        with_outputs: window.with_outputs,
        only_batches: only_batch.map(|b| vec![b]),
        default_storage_root: cfg.storage_root.clone(),
    };
    let _permit = heavy_read_permit().await;
    let body = run_db(move || {
        let mut conn = pool.get()?;
        let project = read::project(&mut conn, &window.project)?;
        let commits = read::commits_in_window(&mut conn, &window)?;
        drop(conn);
        let mut out = Vec::with_capacity(commits.len() * 512 + 2);
        out.push(b'[');
        for (i, c) in commits.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            out.extend_from_slice(&commit_json(c, project.as_ref(), &opts));
        }
        out.push(b']');
        Ok(out)
    })
    .await?;
    Ok(json_bytes(body))
}

/// Query with a project.
#[derive(Debug, Deserialize)]
pub struct ProjectQuery {
    project: Option<String>,
}

/// `GET /api/v1/projects`
pub async fn get_projects(
    _: ReadAccess,
    pool: web::Data<DbPool>,
) -> Result<HttpResponse, ApiError> {
    let summaries = run_db(move || Ok(read::project_summaries(&mut pool.get()?)?)).await?;
    let mut out = Map::new();
    for p in summaries {
        let mut data = match p.data {
            Value::Object(m) => m,
            _ => Map::new(),
        };
        data.remove("qatools_metrics");
        if let Some(cfg) = data.get_mut("qatools_config") {
            let project = cfg
                .get("project")
                .cloned()
                .unwrap_or_else(|| Value::Object(Map::new()));
            let mut reduced = Map::new();
            reduced.insert("project".into(), project);
            *cfg = Value::Object(reduced);
        }
        let mut entry = Map::new();
        entry.insert("data".into(), Value::Object(data));
        entry.insert(
            "latest_output_datetime".into(),
            p.latest_output_datetime
                .map(|t| Value::String(iso_naive(&t)))
                .unwrap_or(Value::Null),
        );
        entry.insert(
            "latest_commit_datetime".into(),
            p.latest_commit_datetime
                .map(|t| Value::String(iso_utc(&t)))
                .unwrap_or(Value::Null),
        );
        entry.insert("total_commits".into(), Value::from(p.total_commits));
        out.insert(p.id, Value::Object(entry));
    }
    Ok(HttpResponse::Ok().json(Value::Object(out)))
}

/// `GET /api/v1/project?project=`
pub async fn get_project(
    _: ReadAccess,
    pool: web::Data<DbPool>,
    q: web::Query<ProjectQuery>,
) -> Result<HttpResponse, ApiError> {
    let project = required_project(q.into_inner().project)?;
    let p = run_db(move || Ok(read::project(&mut pool.get()?, &project)?)).await?;
    match p {
        Some(p) => Ok(HttpResponse::Ok().json(p.data)),
        None => Err(ApiError::NotFound("no such project".into())),
    }
}

/// `GET /api/v1/project/branches?project=`
pub async fn get_branches(
    _: ReadAccess,
    pool: web::Data<DbPool>,
    q: web::Query<ProjectQuery>,
) -> Result<HttpResponse, ApiError> {
    let project = required_project(q.into_inner().project)?;
    let b = run_db(move || Ok(read::branches(&mut pool.get()?, &project)?)).await?;
    Ok(HttpResponse::Ok().json(b))
}
