//! `GET|POST /api/v1/tests/groups?project=&name=`: the named files of test
//! groups a project's users edit in the webapp's tuning form, kept as
//! `<data_dir>/shared/<project>/<name>.yml`.
//!
//! GET answers the raw YAML text (`text/plain`; a comment line when the
//! file does not exist, which a GET never creates: a read never writes,
//! issue 9 item 10); POST `{groups: "<yaml>"}` (with a token when write
//! tokens are set) checks that the text parses as YAML (400 with the
//! parser's message otherwise) and replaces the file atomically, creating
//! its folders. `project` and `name` are relative `/`-separated paths that
//! must stay inside that folder; files are read and written through a
//! [`Storage`] rooted at `<data_dir>/shared`.
use std::path::{Path, PathBuf};

use actix_web::http::header;
use actix_web::{web, HttpResponse};
use serde::Deserialize;
use serde_json::Value;

use crate::extract::JsonBody;
use crate::extract::{ReadAccess, WriteAccess};
use crate::routes::images::storage_error;
use crate::state::AppState;
use crate::{run_db, ApiError};
use qaboard_storage::{Storage, StorageError};

/// What a GET answers for a group file that does not exist yet.
pub const DEFAULT_GROUPS: &str =
    "# Groups of tests, see https://samsung.github.io/qaboard/docs/batches-running-on-multiple-inputs\n";

/// Longest accepted `project` or `name`, in bytes.
const MAX_NAME_BYTES: usize = 512;

/// Query parameters of the group files.
#[derive(Debug, Deserialize)]
pub struct GroupsQuery {
    project: Option<String>,
    name: Option<String>,
}

/// Checks that `value` is a relative path that cannot leave its folder:
/// non-empty `/`-separated segments, none `.` or `..`, no backslash, no NUL.
pub fn check_relative(field: &str, value: &str) -> Result<(), ApiError> {
    let reason = if value.is_empty() {
        Some("is empty")
    } else if value.len() > MAX_NAME_BYTES {
        Some("is too long")
    } else if value.contains('\0') {
        Some("contains a NUL character")
    } else if value.contains('\\') {
        Some("contains a backslash")
    } else if value.starts_with('/') {
        Some("is an absolute path")
    } else if value.split('/').any(|s| s.is_empty()) {
        Some("has an empty path segment")
    } else if value.split('/').any(|s| s == "." || s == "..") {
        Some("has a '.' or '..' path segment")
    } else {
        None
    };
    match reason {
        Some(r) => Err(ApiError::bad(format!("'{field}' {r}: {value:?}"))),
        None => Ok(()),
    }
}

/// The file of group `name` of `project`, after checking both.
pub fn groups_path(data_dir: &Path, project: &str, name: &str) -> Result<PathBuf, ApiError> {
    check_relative("project", project)?;
    check_relative("name", name)?;
    Ok(shared_dir(data_dir)
        .join(project)
        .join(format!("{name}.yml")))
}

/// `<data_dir>/shared`, absolute (a relative `data_dir` is taken from the
/// current folder).
fn shared_dir(data_dir: &Path) -> PathBuf {
    let shared = data_dir.join("shared");
    if shared.is_absolute() {
        shared
    } else {
        std::env::current_dir()
            .map(|c| c.join(&shared))
            .unwrap_or(shared)
    }
}

/// The storage confining group files to `<data_dir>/shared`.
fn groups_storage(data_dir: &Path) -> Result<Storage, ApiError> {
    Storage::new(vec![shared_dir(data_dir)]).map_err(storage_error)
}

/// Largest group file read, in bytes.
const MAX_GROUPS_BYTES: u64 = 16 * 1024 * 1024;

/// Checks that `text` is YAML; the error is the parser's message.
pub fn check_yaml(text: &str) -> Result<(), String> {
    let mut parser = saphyr_parser::Parser::new_from_str(text);
    for event in parser.by_ref() {
        event.map_err(|e| e.to_string())?;
    }
    Ok(())
}

fn string_param(
    field: &str,
    from_query: Option<String>,
    body: Option<&Value>,
) -> Result<String, ApiError> {
    if let Some(v) = from_query.filter(|v| !v.is_empty()) {
        return Ok(v);
    }
    match body {
        Some(Value::String(s)) if !s.is_empty() => Ok(s.clone()),
        None | Some(Value::Null) | Some(Value::String(_)) => Err(ApiError::bad(format!(
            "the '{field}' query parameter is required"
        ))),
        Some(_) => Err(ApiError::bad(format!("'{field}' must be a string"))),
    }
}

fn text_response(text: String) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/plain; charset=utf-8")
        .insert_header((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .body(text)
}

/// `GET /api/v1/tests/groups?project=&name=`
pub async fn get_groups(
    _: ReadAccess,
    state: web::Data<AppState>,
    q: web::Query<GroupsQuery>,
) -> Result<HttpResponse, ApiError> {
    let cfg = state.config.clone();
    let q = q.into_inner();
    let project = string_param("project", q.project, None)?;
    let name = string_param("name", q.name, None)?;
    let path = groups_path(&cfg.data_dir, &project, &name)?;
    let storage = groups_storage(&cfg.data_dir)?;
    let text = run_db(move || match storage.read_small(&path, MAX_GROUPS_BYTES) {
        Ok(bytes) => Ok(String::from_utf8_lossy(&bytes).into_owned()),
        // Missing (the `shared` folder included): nothing is created.
        Err(StorageError::NotFound(_)) => Ok(DEFAULT_GROUPS.to_string()),
        Err(e) => Err(storage_error(e)),
    })
    .await?;
    Ok(text_response(text))
}

/// `POST /api/v1/tests/groups?project=&name=` with `{groups: "<yaml>"}`
pub async fn post_groups(
    _: WriteAccess,
    state: web::Data<AppState>,
    q: web::Query<GroupsQuery>,
    body: JsonBody,
) -> Result<HttpResponse, ApiError> {
    let cfg = state.config.clone();
    let q = q.into_inner();
    let body = body.0;
    let project = string_param("project", q.project, body.get("project"))?;
    let name = string_param("name", q.name, body.get("name"))?;
    let path = groups_path(&cfg.data_dir, &project, &name)?;
    let groups = match body.get("groups") {
        Some(Value::String(s)) => s.clone(),
        None | Some(Value::Null) => {
            return Err(ApiError::bad(
                "'groups' is required: the YAML text of the groups",
            ))
        }
        Some(_) => {
            return Err(ApiError::bad(
                "'groups' must be a string: the YAML text of the groups",
            ))
        }
    };
    check_yaml(&groups).map_err(|e| ApiError::bad(format!("invalid YAML: {e}")))?;
    let storage = groups_storage(&cfg.data_dir)?;
    let shared = shared_dir(&cfg.data_dir);
    run_db(move || {
        // The server's own folder; the rest is created through the storage.
        std::fs::create_dir_all(&shared).map_err(|e| {
            ApiError::Internal(format!("could not create {}: {e}", shared.display()).into())
        })?;
        storage
            .write(&path, groups.as_bytes())
            .map_err(storage_error)
    })
    .await?;
    Ok(HttpResponse::Ok().json("OK"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relative_names() {
        for ok in [
            "extra-batches",
            "group/repo",
            "group/repo/sub",
            "a.b",
            "..a",
            "a..",
            "my groups",
        ] {
            assert!(check_relative("name", ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            "..",
            ".",
            "../x",
            "a/../../b",
            "/etc/passwd",
            "a//b",
            "a/",
            "a\\b",
            "a\0b",
            "a/./b",
        ] {
            assert!(check_relative("name", bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn yaml() {
        assert!(check_yaml("").is_ok());
        assert!(check_yaml("# only a comment\n").is_ok());
        assert!(check_yaml("g:\n  - a.jpg\n  - b.jpg\n").is_ok());
        let e = check_yaml("a: [1, 2\nb: 3").unwrap_err();
        assert!(!e.is_empty());
        assert!(check_yaml("a: b: c").is_err());
    }
}
