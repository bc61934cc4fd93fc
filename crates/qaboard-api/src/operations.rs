//! The webapp's data operations (OPERATIONS.md §1 rename, move, delete a
//! batch, §1.3 delete a commit's batches, §2 delete an output): a thin
//! translation from HTTP to `qaboard_db::operations` (rows, one
//! transaction each) and `qaboard_storage` (files, deleted only after that
//! transaction committed).
//!
//! Status codes: 400 bad input (empty label, bad flag, bad file pattern),
//! 403 label in use / milestones, 404 unknown id or commit, 409 pending
//! outputs or clashing identities, 500 when files could not be deleted
//! (`{"error": "...", "paths": [...]}`; the rows were changed and, for soft
//! deletes, marked `deleted`).
use actix_web::http::StatusCode;
use actix_web::{web, HttpResponse};
use qaboard_db::operations::{self as ops, BatchDeletion, Deletion, OperationError, Refusal};
use qaboard_model::filter::OutputFilter;
use qaboard_model::fnmatch::Pattern;
use qaboard_model::milestone::MilestoneReason;
use qaboard_model::{BatchId, OutputId};
use qaboard_storage::Storage;
use serde::Deserialize;
use serde_json::{json, Value};

use crate::extract::CurrentUser;
use crate::extract::JsonBody;
use crate::extract::WriteAccess;
use crate::extract::{check_commit_id, Fields};
use crate::state::AppState;
use crate::{run_db, ApiError};

/// Query of the deletions (axios sends booleans as `true`/`false`).
#[derive(Debug, Deserialize)]
pub struct DeleteQuery {
    soft: Option<String>,
    only_failed: Option<String>,
    filter: Option<String>,
}

/// A boolean query flag: absent, empty, `false` or `0` are false; `true`
/// or `1` true; anything else is a 400.
fn flag(name: &str, v: Option<&str>) -> Result<bool, ApiError> {
    match v {
        None | Some("" | "false" | "False" | "0") => Ok(false),
        Some("true" | "True" | "1") => Ok(true),
        Some(other) => Err(ApiError::bad(format!(
            "'{name}' must be true or false, not {other:?}"
        ))),
    }
}

/// The positive integer id of a body (`{"id": 3}`; a numeric string is accepted).
fn body_id(f: &Fields<'_>) -> Result<i32, ApiError> {
    let id = match f.get("id") {
        None => return Err(ApiError::bad("'id' is required")),
        Some(Value::Number(n)) => n.as_i64(),
        Some(Value::String(s)) => s.trim().parse::<i64>().ok(),
        Some(_) => None,
    };
    id.and_then(|i| i32::try_from(i).ok())
        .filter(|i| *i > 0)
        .ok_or_else(|| ApiError::bad("'id' must be a positive integer"))
}

/// An id in the path: anything but a positive integer names nothing (404).
fn path_id(what: &str, id: &str) -> Result<i32, ApiError> {
    id.trim_end_matches('/')
        .parse::<i32>()
        .ok()
        .filter(|i| *i > 0)
        .ok_or_else(|| ApiError::NotFound(format!("no {what} has the id {id}")))
}

fn list(ids: &[OutputId]) -> String {
    let mut s: Vec<String> = ids.iter().take(20).map(OutputId::to_string).collect();
    if ids.len() > 20 {
        s.push(format!("and {} more", ids.len() - 20));
    }
    s.join(", ")
}

fn reason_text(r: &MilestoneReason) -> String {
    match r {
        MilestoneReason::BranchHead(b) => format!("latest commit of {b}"),
        MilestoneReason::ShaPrefix(p) => format!("milestone {p}"),
        MilestoneReason::Tag(t) => format!("tagged {t}"),
        MilestoneReason::Shared => "shared milestone".into(),
    }
}

/// A refusal as its JSON answer; database errors go through [`ApiError`].
fn refused(e: OperationError) -> Result<HttpResponse, ApiError> {
    let r = match e {
        OperationError::Refused(r) => r,
        OperationError::Db(e) => return Err(e.into()),
        other => return Err(ApiError::Internal(Box::new(other))),
    };
    let (status, body) = match r {
        Refusal::LabelExists(label) => (
            StatusCode::FORBIDDEN,
            json!({"error": format!("already exists: a batch of this commit is labelled {label:?}")}),
        ),
        Refusal::Pending { ids } => (
            StatusCode::CONFLICT,
            json!({"error": format!("wait for the runs to finish (or stop them): outputs {} are pending", list(&ids)), "ids": ids}),
        ),
        Refusal::OutputPending(_) => (
            StatusCode::CONFLICT,
            json!({"error": "Please wait for the Output to finish running before deleting it"}),
        ),
        Refusal::StopFirst { ids } => (
            StatusCode::CONFLICT,
            json!({"error": format!("stop the runs first: outputs {} are pending", list(&ids)), "ids": ids}),
        ),
        Refusal::IdentityClash { pairs } => {
            let text = if pairs.is_empty() {
                "an output with the same identity was just added to the destination; nothing moved"
                    .to_string()
            } else {
                let moving: Vec<OutputId> = pairs.iter().map(|p| p.0).collect();
                let there: Vec<OutputId> = pairs.iter().map(|p| p.1).collect();
                format!(
                    "nothing moved: outputs {} have the same input, platform, configurations and tuning parameters as outputs {} of the destination batch",
                    list(&moving),
                    list(&there)
                )
            };
            (
                StatusCode::CONFLICT,
                json!({"error": text, "clashes": pairs.iter().map(|(a, b)| json!([a, b])).collect::<Vec<_>>()}),
            )
        }
        Refusal::Milestone { commits } => {
            let named: Vec<String> = commits
                .iter()
                .map(|(p, sha, why)| format!("{p}/{sha} ({})", reason_text(why)))
                .collect();
            (
                StatusCode::FORBIDDEN,
                json!({
                    "error": format!("Cannot delete milestones: {}", named.join(", ")),
                    "milestones": commits.iter().map(|(p, sha, why)| json!({"project": p, "commit": sha, "reason": reason_text(why)})).collect::<Vec<_>>(),
                }),
            )
        }
        other => (
            StatusCode::CONFLICT,
            json!({"error": format!("refused: {other:?}")}),
        ),
    };
    Ok(HttpResponse::build(status).json(body))
}

/// Deletes the files of a committed [`Deletion`]; the paths that could
/// not be deleted, with why.
fn delete_files(
    storage: &Storage,
    d: &Deletion,
    pattern: Option<&Pattern>,
) -> Vec<(String, String)> {
    let select = |key: &str| pattern.is_none_or(|p| p.matches(key));
    let mut failures = Vec::new();
    for o in &d.outputs {
        if o.dir.is_empty() {
            continue;
        }
        let done = if d.soft {
            storage.delete_output_files(&o.dir, &select)
        } else {
            storage.delete_output_dir(&o.dir)
        };
        for (path, e) in done.failures {
            log::warn!(
                "output {}: could not delete {}: {e}",
                o.output_id,
                path.display()
            );
            failures.push((path.display().to_string(), e.to_string()));
        }
    }
    failures
}

/// `{"status": "OK"}`, or 500 listing the files that could not be deleted.
fn after_files(failures: Vec<(String, String)>, rows: &str) -> HttpResponse {
    if failures.is_empty() {
        return HttpResponse::Ok().json(json!({"status": "OK"}));
    }
    let shown: Vec<String> = failures
        .iter()
        .take(20)
        .map(|(p, why)| format!("{p} ({why})"))
        .collect();
    HttpResponse::InternalServerError().json(json!({
        "error": format!("{rows}, but some files could not be deleted: {}", shown.join("; ")),
        "paths": failures.iter().map(|(p, _)| p.as_str()).collect::<Vec<_>>(),
    }))
}

/// Runs a deletion: rows in one transaction, then files.
async fn run_deletion(
    state: &web::Data<AppState>,
    pattern: Option<Pattern>,
    rows: &'static str,
    op: impl FnOnce(&mut qaboard_db::DbConn, &str) -> Result<Deletion, OperationError> + Send + 'static,
) -> Result<HttpResponse, ApiError> {
    let (pool, cfg, storage) = (
        state.pool.clone(),
        state.config.clone(),
        state.storage.clone(),
    );
    let done = run_db(move || {
        let mut conn = pool.get()?;
        let deletion = match op(&mut conn, &cfg.storage_root) {
            Ok(d) => d,
            Err(e) => return Ok(Err(e)),
        };
        drop(conn);
        // The transaction committed: now the files.
        Ok(Ok(delete_files(&storage, &deletion, pattern.as_ref())))
    })
    .await?;
    match done {
        Ok(failures) => Ok(after_files(failures, rows)),
        Err(e) => refused(e),
    }
}

/// `POST /api/v1/batch/rename/` `{id, label}`
pub async fn rename_batch(
    _: WriteAccess,
    user: CurrentUser,
    state: web::Data<AppState>,
    body: JsonBody,
) -> Result<HttpResponse, ApiError> {
    let by = user.action("rename");
    let f = Fields(&body.0);
    let id = body_id(&f)?;
    let label = f.required_str("label")?.to_string();
    let (pool, cfg) = (state.pool.clone(), state.config.clone());
    let r = run_db(move || {
        let mut conn = pool.get()?;
        Ok(ops::rename_batch(
            &mut conn,
            BatchId(id),
            &label,
            &cfg.storage_root,
            by.as_ref(),
        ))
    })
    .await?;
    match r {
        Ok(()) => Ok(HttpResponse::Ok().json(json!({"status": "OK"}))),
        Err(e) => refused(e),
    }
}

/// `POST /api/v1/batch/move/` `{id, label, filter?}`
pub async fn move_batch(
    _: WriteAccess,
    user: CurrentUser,
    state: web::Data<AppState>,
    body: JsonBody,
) -> Result<HttpResponse, ApiError> {
    let by = user.action("move");
    let f = Fields(&body.0);
    let id = body_id(&f)?;
    let label = f.required_str("label")?.to_string();
    let filter = OutputFilter::parse_optional(f.opt_str("filter")?);
    let pool = state.pool.clone();
    let r = run_db(move || {
        let mut conn = pool.get()?;
        Ok(ops::move_batch(
            &mut conn,
            BatchId(id),
            &label,
            &filter,
            by.as_ref(),
        ))
    })
    .await?;
    match r {
        Ok(m) => Ok(HttpResponse::Ok().json(json!({
            "status": "OK",
            "id": m.destination,
            "moved": m.moved.len(),
            "source_deleted": m.source_deleted,
        }))),
        Err(e) => refused(e),
    }
}

/// `DELETE /api/v1/batch/<id>/?soft=&only_failed=&filter=`
pub async fn delete_batch(
    _: WriteAccess,
    user: CurrentUser,
    state: web::Data<AppState>,
    id: web::Path<String>,
    q: web::Query<DeleteQuery>,
) -> Result<HttpResponse, ApiError> {
    let by = user.action("delete-batch");
    let id = path_id("batch", &id)?;
    let soft = flag("soft", q.soft.as_deref())?;
    let only_failed = flag("only_failed", q.only_failed.as_deref())?;
    // The pattern selects files of soft deletes only (hard deletes remove
    // whole folders, as the original).
    let pattern = match q.filter.as_deref().filter(|p| soft && !p.is_empty()) {
        Some(p) => Some(Pattern::new(p).map_err(|e| ApiError::bad(e.to_string()))?),
        None => None,
    };
    let what = BatchDeletion {
        soft,
        only_failed,
        mark_deleted: soft && pattern.is_none(),
    };
    run_deletion(
        &state,
        pattern,
        "the outputs were deleted",
        move |conn, root| ops::delete_batch(conn, BatchId(id), what, root, by.as_ref()),
    )
    .await
}

/// `DELETE /api/v1/output/<id>/[?soft=true]`
pub async fn delete_output(
    _: WriteAccess,
    user: CurrentUser,
    state: web::Data<AppState>,
    id: web::Path<String>,
    q: web::Query<DeleteQuery>,
) -> Result<HttpResponse, ApiError> {
    let by = user.action("delete-output");
    let id = path_id("output", &id)?;
    let soft = flag("soft", q.soft.as_deref())?;
    run_deletion(&state, None, "the output was deleted", move |conn, root| {
        ops::delete_output(conn, OutputId(id), soft, root, by.as_ref())
    })
    .await
}

/// `DELETE /api/v1/commit/[<project path>/]<sha>/batches/`
pub async fn delete_commit_batches(
    _: WriteAccess,
    user: CurrentUser,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let by = user.action("delete-commit-batches");
    let path = path.trim_matches('/').to_string();
    let (project, sha) = match path.rsplit_once('/') {
        Some((p, s)) => (Some(p.trim_end_matches('/').to_string()), s.to_string()),
        None => (None, path.clone()),
    };
    check_commit_id("commit", &sha)?;
    if project.as_deref().is_some_and(str::is_empty) {
        return Err(ApiError::bad("the project path is empty"));
    }
    // With the project named, its git mirror (when one exists) also tells
    // branch heads and tags; without, only what the database records.
    let mirrors = state.git.clone();
    run_deletion(&state, None, "the runs were deleted", move |conn, root| {
        let refs = match project.as_deref() {
            Some(p) => crate::git::mirror_refs(conn, &mirrors, p).unwrap_or_else(|e| {
                log::warn!("milestone check of {p}: mirror not read: {e}");
                None
            }),
            None => None,
        };
        let extra = refs
            .as_ref()
            .map(|r| r as &dyn qaboard_model::milestone::RefResolver);
        ops::delete_commit_batches(conn, project.as_deref(), &sha, root, extra, by.as_ref())
    })
    .await
}
