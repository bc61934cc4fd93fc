//! Reads of the webapp and of `qa batch` / `qa optimize`.
use actix_web::web::Bytes;
use actix_web::{web, HttpRequest, HttpResponse};
use chrono::{Duration, Utc};
use qaboard_db::read::{self, CommitWindow};
use qaboard_db::{DataVersion, DbConn};
use qaboard_model::aggregate::metric_names;
use qaboard_model::rules::reference_branch;
use qaboard_model::time::{iso_naive, iso_utc, parse_client_datetime};
use serde::Deserialize;
use serde_json::{Map, Value};

use crate::extract::ReadAccess;
use crate::state::AppState;
use crate::views::{commit_json, CommitViewOptions};
use crate::{run_db, ApiError};

mod encoded;
mod heavy;

/// Query parameters of the commit reads.
#[derive(Debug, Deserialize)]
pub struct CommitQuery {
    project: Option<String>,
    branch: Option<String>,
    batch: Option<String>,
    metrics: Option<String>,
    commit: Option<String>,
}

/// Serves a heavy read: from the response cache while what the answer shows
/// is unchanged since it was rendered, otherwise by running `load` on one
/// consistent snapshot (at most one such read per core at a time), then
/// `render` once the connection is back in the pool, and caching the answer.
///
/// `version` computes, from the database, the version of what the answer
/// shows (`qaboard_db::version::commit_version`, `window_version`: change
/// stamps kept by triggers, so writes by any process count, and writes to
/// other projects or commits do not); `None` means "not cacheable" (e.g. a
/// name resolved through a git mirror). On a miss it runs first inside the
/// snapshot of `load`, so an answer is stored under exactly the version of
/// the data it shows. `key` must name everything the answer depends on
/// besides the data and, for answers that depend on the clock, `clock` (e.g.
/// the current second): an answer is reused only for the same data and the
/// same `clock`.
///
/// `gzip_ok`: the client accepts gzip; a hit then gets the entry's gzip copy
/// once it is made (`cache::gzip`), else the identity body and, the first
/// time, the copy is made in the background ([`encoded`]).
async fn cached_read<D, V, L, R>(
    state: web::Data<AppState>,
    gzip_ok: bool,
    key: String,
    clock: Option<String>,
    version: V,
    load: L,
    render: R,
) -> Result<HttpResponse, ApiError>
where
    D: Send + 'static,
    V: Fn(&mut DbConn) -> Result<Option<DataVersion>, ApiError> + Clone + Send + 'static,
    L: FnOnce(&mut DbConn) -> Result<D, ApiError> + Send + 'static,
    R: FnOnce(D) -> Vec<u8> + Send + 'static,
{
    let pool = state.pool.clone();
    let cache = state.config.cache.clone();
    let caching = cache.enabled() && pool.versions_shared();
    let key = format!("{}|{key}", state.cache_scope);
    let hit_cache = cache.clone();
    if caching {
        let (pool, cache, key, clock, version) = (
            pool.clone(),
            cache.clone(),
            key.clone(),
            clock.clone(),
            version.clone(),
        );
        let hit = run_db(move || {
            let mut conn = pool.get()?;
            // Nothing committed anywhere since the entry was last found
            // current: served without computing the per-read version.
            let global = pool
                .data_version(&mut conn)
                .ok()
                .map(|g| g.at(clock.as_deref()));
            if let Some(hit) = global
                .as_ref()
                .and_then(|g| cache.lookup_unchanged(&key, g, gzip_ok))
            {
                return Ok(Some(hit));
            }
            Ok(match version(&mut conn)? {
                Some(v) => cache.lookup(&key, &v.at(clock.as_deref()), global, gzip_ok),
                None => None,
            })
        })
        .await?;
        if let Some(hit) = hit {
            return Ok(encoded::hit(hit, &hit_cache));
        }
    }
    // Reads that build large answers run at most one per core at a time
    // (`AppState::heavy_reads`): more would not finish sooner on a busy
    // machine, and each holds its rows and answer in memory.
    let _permit = state.heavy_reads.acquire().await.ok();
    // On the heavy-read threads, so that only their arenas hold the peaks
    // of loading and rendering (`heavy`).
    let body = heavy::run_heavy(move || {
        let mut conn = pool.get()?;
        let (v, data) = pool.read_snapshot(&mut conn, |conn| {
            let v = if caching {
                // In the snapshot of the reads (PostgreSQL), or before them (SQLite).
                let global = pool.data_version(conn).ok().map(|g| g.at(clock.as_deref()));
                match version(conn)? {
                    Some(v) => {
                        let v = v.at(clock.as_deref());
                        // Another request may have rendered it while this one waited.
                        if let Some(hit) = cache.lookup(&key, &v, global.clone(), gzip_ok) {
                            return Ok((None, Err(hit)));
                        }
                        Some((v, global))
                    }
                    None => None,
                }
            } else {
                None
            };
            Ok::<_, ApiError>((v, Ok(load(conn)?)))
        })?;
        drop(conn);
        let data = match data {
            Ok(d) => d,
            Err(cached) => return Ok(Err(cached)),
        };
        let body = Bytes::from(render(data));
        if let Some((v, global)) = v {
            cache.put(key, v, global, body.clone());
        }
        Ok(Ok(body))
    })
    .await?;
    Ok(match body {
        Ok(body) => encoded::identity(body),
        Err(hit) => encoded::hit(hit, &hit_cache),
    })
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

/// The latest commit of `branch` (default: the project's reference branch)
/// with results, as the commit page shows when no commit is named.
fn latest_sha(
    conn: &mut DbConn,
    project: &str,
    branch: Option<&str>,
    batch: Option<&str>,
) -> Result<(String, Option<String>), ApiError> {
    let branch = match branch {
        Some(b) => b.to_string(),
        None => read::project(conn, project)?
            .and_then(|p| {
                p.data
                    .get("qatools_config")
                    .map(|c| reference_branch(c).to_string())
            })
            .unwrap_or_else(|| qaboard_model::DEFAULT_REFERENCE_BRANCH.to_string()),
    };
    let sha = read::latest_successful_commit(conn, project, &branch, batch)?;
    Ok((branch, sha))
}

/// `GET /api/v1/commit/[<id or prefix>]`
pub async fn get_commit(
    _: ReadAccess,
    req: HttpRequest,
    state: web::Data<AppState>,
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
    // A JSON array: fields cannot run into each other, whatever they contain.
    let key = serde_json::json!(["commit", project, sha, branch, batch, metric_names]).to_string();
    let storage_root = state.config.storage_root.clone();
    let git = state.git.clone();
    let version = {
        let (project, sha, branch, batch) =
            (project.clone(), sha.clone(), branch.clone(), batch.clone());
        move |conn: &mut DbConn| -> Result<Option<DataVersion>, ApiError> {
            let sha = match &sha {
                Some(s) => s.clone(),
                None => match latest_sha(conn, &project, branch.as_deref(), batch.as_deref())? {
                    (_, Some(s)) => s,
                    (_, None) => return Ok(None),
                },
            };
            Ok(qaboard_db::version::commit_version(conn, &project, &sha)?)
        }
    };
    let load = move |conn: &mut DbConn| {
        let sha = match sha {
            Some(s) => s,
            None => match latest_sha(conn, &project, branch.as_deref(), batch.as_deref())? {
                (_, Some(s)) => s,
                (branch, None) => {
                    return Err(ApiError::NotFound(format!(
                        "no commit of {project} on {branch} has results"
                    )))
                }
            },
        };
        let mut tree = read::commit_tree(conn, &project, &sha, batch.as_deref(), &metric_names)?;
        if tree.is_none() {
            // A tag or branch name: the commit it names in the mirror (issue 12).
            if let Some(full) = crate::git::sha_of_name(conn, &git, &project, &sha)? {
                tree = read::commit_tree(conn, &project, &full, batch.as_deref(), &metric_names)?;
            }
        }
        let tree = tree.ok_or_else(|| {
            ApiError::NotFound(format!(
                "Sorry, we could not find any data on commit {sha} in project {project}."
            ))
        })?;
        Ok((tree, metric_names, batch))
    };
    let render =
        move |(tree, metric_names, batch): (read::CommitTree, Vec<String>, Option<String>)| {
            let opts = CommitViewOptions {
                metric_names,
                with_outputs: true,
                only_batches: batch.map(|b| vec![b]),
                default_storage_root: storage_root,
            };
            commit_json(&tree, None, &opts)
        };
    let gzip_ok = crate::static_files::accepts_gzip(&req);
    cached_read(state, gzip_ok, key, None, version, load, render).await
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
    req: HttpRequest,
    state: web::Data<AppState>,
    branch: Option<web::Path<String>>,
    q: web::Query<CommitsQuery>,
) -> Result<HttpResponse, ApiError> {
    let q = q.into_inner();
    let project = required_project(q.project)?;
    let metric_names = parse_metrics(q.metrics.as_deref())?;
    // To the second: answers without `to` are the same within a second
    // (and can be served from the cache).
    let now = chrono::SubsecRound::trunc_subsecs(Utc::now(), 0);
    let to_given = parse_date("to", q.to.as_deref())?;
    let from_given = parse_date("from", q.from.as_deref())?;
    let to = to_given.unwrap_or(now);
    // Without `from`, the 4 days before `to` (the original took the 4 days
    // before now, an empty window when `to` is older than that).
    let from = from_given.unwrap_or(to - Duration::days(4));
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
        metrics: metric_names.clone(),
        batch: only_batch.clone(),
    };
    let opts = CommitViewOptions {
        metric_names,
        with_outputs: window.with_outputs,
        only_batches: only_batch.map(|b| vec![b]),
        default_storage_root: state.config.storage_root.clone(),
    };
    let key = serde_json::json!([
        "commits",
        window.project,
        window.branch,
        window.committer,
        from_given.map(|d| d.to_rfc3339()),
        to_given.map(|d| d.to_rfc3339()),
        window.with_outputs,
        window.batch,
        opts.metric_names,
    ])
    .to_string();
    let version = {
        let window = window.clone();
        move |conn: &mut DbConn| -> Result<Option<DataVersion>, ApiError> {
            Ok(Some(qaboard_db::version::window_version(conn, &window)?))
        }
    };
    let load = move |conn: &mut DbConn| {
        let project = read::project(conn, &window.project)?;
        let commits = read::commits_in_window(conn, &window)?;
        Ok((project, commits))
    };
    let render =
        move |(project, commits): (Option<qaboard_model::Project>, Vec<read::CommitTree>)| {
            let mut out = Vec::with_capacity(commits.len() * 512 + 2);
            out.push(b'[');
            for (i, c) in commits.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                out.extend_from_slice(&commit_json(c, project.as_ref(), &opts));
            }
            out.push(b']');
            out
        };
    // A window that ends now is one answer per second: it replaces the
    // previous second's under the same key instead of piling up beside it.
    let clock = to_given.is_none().then(|| now.timestamp().to_string());
    let gzip_ok = crate::static_files::accepts_gzip(&req);
    cached_read(state, gzip_ok, key, clock, version, load, render).await
}

/// Query with a project.
#[derive(Debug, Deserialize)]
pub struct ProjectQuery {
    project: Option<String>,
}

/// `GET /api/v1/projects`
pub async fn get_projects(
    _: ReadAccess,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let pool = state.pool.clone();
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
    state: web::Data<AppState>,
    q: web::Query<ProjectQuery>,
) -> Result<HttpResponse, ApiError> {
    let pool = state.pool.clone();
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
    state: web::Data<AppState>,
    q: web::Query<ProjectQuery>,
) -> Result<HttpResponse, ApiError> {
    let pool = state.pool.clone();
    let project = required_project(q.into_inner().project)?;
    let b = run_db(move || Ok(read::branches(&mut pool.get()?, &project)?)).await?;
    Ok(HttpResponse::Ok().json(b))
}
