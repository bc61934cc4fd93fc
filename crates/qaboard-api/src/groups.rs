//! `GET|POST /api/v1/tests/groups?project=&name=`: the named files of test
//! groups a project's users edit in the webapp's tuning form, kept as
//! `<data_dir>/shared/<project>/<name>.yml`.
//!
//! GET answers the raw YAML text (`text/plain`, created with a comment line
//! when absent); POST `{groups: "<yaml>"}` checks that the text parses as
//! YAML (400 with the parser's message otherwise) and replaces the file
//! atomically. `project` and `name` are relative `/`-separated paths that
//! must stay inside that folder.
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use actix_web::http::header;
use actix_web::{web, HttpResponse};
use serde::Deserialize;
use serde_json::Value;

use crate::auth::{ReadAccess, WriteAccess};
use crate::body::JsonBody;
use crate::manifest::write_atomically;
use crate::state::AppState;
use crate::{run_db, ApiError};

/// Content of a group file created on first read.
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
    Ok(data_dir
        .join("shared")
        .join(project)
        .join(format!("{name}.yml")))
}

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

fn io_error(path: &Path, e: std::io::Error) -> ApiError {
    ApiError::Internal(format!("could not access {}: {e}", path.display()).into())
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
    let text = run_db(move || match fs::read(&path) {
        Ok(bytes) => Ok(String::from_utf8_lossy(&bytes).into_owned()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            create_default(&path);
            Ok(DEFAULT_GROUPS.to_string())
        }
        Err(e) => Err(io_error(&path, e)),
    })
    .await?;
    Ok(text_response(text))
}

/// Creates the default group file unless one appeared meanwhile (best effort).
fn create_default(path: &Path) {
    let created = (|| {
        if let Some(parent) = path.parent() {
            fs::create_dir_all(parent)?;
        }
        let mut f = fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(path)?;
        f.write_all(DEFAULT_GROUPS.as_bytes())
    })();
    match created {
        Err(e) if e.kind() != std::io::ErrorKind::AlreadyExists => {
            log::warn!("could not create {}: {e}", path.display());
        }
        _ => {}
    }
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
    run_db(move || {
        let (Some(dir), Some(file)) = (path.parent(), path.file_name().and_then(|f| f.to_str()))
        else {
            return Err(ApiError::bad("invalid group name"));
        };
        fs::create_dir_all(dir).map_err(|e| io_error(dir, e))?;
        write_atomically(dir, file, groups.as_bytes(), false).map_err(|e| io_error(&path, e))
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
