//! `GET|POST|DELETE /api/v1/project/milestones/`: the milestones a project's
//! users share, kept in `project.data.milestones` (an object keyed by
//! milestone key). Every answer is that object.
//!
//! The project comes from the JSON body's `project` (the webapp sends a body
//! even where it only reads) or else from `?project=`. POST stores
//! `milestone` under `key`, or deletes `key` when `delete` is `true` or
//! `"true"` (proxies may drop DELETE bodies, so the webapp deletes by POST);
//! DELETE deletes `key` (from the body or `?key=`). Deleting a key that is
//! not there is not an error.
use actix_web::{web, HttpResponse};
use qaboard_db::{projects, read, DbPool};
use serde::Deserialize;
use serde_json::{Map, Value};

use crate::extract::OptionalJsonBody;
use crate::extract::{ReadAccess, WriteAccess};
use crate::state::AppState;
use crate::{json_bytes, run_db, ApiError};

/// Query parameters accepted besides the body.
#[derive(Debug, Deserialize)]
pub struct MilestonesQuery {
    project: Option<String>,
    key: Option<String>,
}

/// A string field from the body, else from the query; 400 when in neither.
fn field(name: &str, body: &Map<String, Value>, query: Option<String>) -> Result<String, ApiError> {
    match body.get(name) {
        Some(Value::String(s)) if !s.is_empty() => return Ok(s.clone()),
        None | Some(Value::Null) | Some(Value::String(_)) => {}
        Some(_) => return Err(ApiError::bad(format!("'{name}' must be a string"))),
    }
    query
        .filter(|q| !q.is_empty())
        .ok_or_else(|| ApiError::bad(format!("'{name}' is required")))
}

fn milestones_of(data: &Value) -> Value {
    match data.get("milestones") {
        Some(m @ Value::Object(_)) => m.clone(),
        _ => Value::Object(Map::new()),
    }
}

fn to_json(v: &Value) -> Result<Vec<u8>, ApiError> {
    serde_json::to_vec(v).map_err(|e| ApiError::Internal(Box::new(e)))
}

/// What a write does.
enum Change {
    Set(String, Value),
    Delete(String),
}

/// `GET /api/v1/project/milestones/`
pub async fn get_milestones(
    _: ReadAccess,
    state: web::Data<AppState>,
    q: web::Query<MilestonesQuery>,
    body: OptionalJsonBody,
) -> Result<HttpResponse, ApiError> {
    let pool = state.pool.clone();
    let project = field("project", &body.0, q.into_inner().project)?;
    let body = run_db(move || {
        let mut conn = pool.get()?;
        let p = read::project(&mut conn, &project)?
            .ok_or_else(|| ApiError::NotFound(format!("project not found: {project}")))?;
        to_json(&milestones_of(&p.data))
    })
    .await?;
    Ok(json_bytes(body))
}

fn is_delete(v: Option<&Value>) -> bool {
    match v {
        Some(Value::Bool(b)) => *b,
        Some(Value::String(s)) => s == "true",
        _ => false,
    }
}

/// `POST /api/v1/project/milestones/`
pub async fn post_milestones(
    _: WriteAccess,
    state: web::Data<AppState>,
    q: web::Query<MilestonesQuery>,
    body: OptionalJsonBody,
) -> Result<HttpResponse, ApiError> {
    let pool = state.pool.clone();
    let q = q.into_inner();
    let body = body.0;
    let project = field("project", &body, q.project)?;
    let key = field("key", &body, q.key)?;
    let change = if is_delete(body.get("delete")) {
        Change::Delete(key)
    } else {
        match body.get("milestone") {
            Some(m) if !m.is_null() => Change::Set(key, m.clone()),
            _ => return Err(ApiError::bad("'milestone' is required (or 'delete': true)")),
        }
    };
    apply(pool, project, change).await
}

/// `DELETE /api/v1/project/milestones/`
pub async fn delete_milestones(
    _: WriteAccess,
    state: web::Data<AppState>,
    q: web::Query<MilestonesQuery>,
    body: OptionalJsonBody,
) -> Result<HttpResponse, ApiError> {
    let pool = state.pool.clone();
    let q = q.into_inner();
    let project = field("project", &body.0, q.project)?;
    let key = field("key", &body.0, q.key)?;
    apply(pool, project, Change::Delete(key)).await
}

async fn apply(pool: DbPool, project: String, change: Change) -> Result<HttpResponse, ApiError> {
    let body = run_db(move || {
        let mut conn = pool.get()?;
        let milestones = projects::update_project_data(&mut conn, &project, |data| {
            if !data.is_object() {
                *data = Value::Object(Map::new());
            }
            let mut milestones = match milestones_of(data) {
                Value::Object(m) => m,
                _ => Map::new(),
            };
            match change {
                Change::Set(key, m) => {
                    milestones.insert(key, m);
                }
                Change::Delete(key) => {
                    milestones.remove(&key);
                }
            }
            let milestones = Value::Object(milestones);
            if let Value::Object(d) = data {
                d.insert("milestones".into(), milestones.clone());
            }
            Ok(milestones)
        })?;
        to_json(&milestones)
    })
    .await?;
    Ok(json_bytes(body))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn delete_flag() {
        assert!(is_delete(Some(&json!(true))));
        assert!(is_delete(Some(&json!("true"))));
        assert!(!is_delete(Some(&json!("false"))));
        assert!(!is_delete(Some(&json!(false))));
        assert!(!is_delete(None));
    }

    #[test]
    fn fields() {
        let body = json!({"project": "a/b", "key": 3})
            .as_object()
            .unwrap()
            .clone();
        assert_eq!(field("project", &body, Some("q".into())).unwrap(), "a/b");
        assert!(field("key", &body, None).is_err());
        let empty = Map::new();
        assert_eq!(field("project", &empty, Some("q".into())).unwrap(), "q");
        assert!(field("project", &empty, None).is_err());
    }
}
