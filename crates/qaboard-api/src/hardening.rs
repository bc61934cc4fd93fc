//! Rules at the HTTP boundary that keep hostile or unusual requests from
//! reaching the database or answering in a non-JSON way (issue 9; each rule
//! is explained in docs/robustness.md):
//!
//! - [`check_body`]: no NUL character in any key or string of a JSON body,
//!   and a length cap on the fields stored in btree-indexed columns
//!   ([`INDEXED_FIELDS`]), 400 JSON naming the field.
//! - [`check_request_strings`] (middleware): no NUL character in the
//!   percent-decoded path or in any query key or value, 400 JSON.
//! - [`head_as_get`] (middleware): `HEAD` is routed as `GET`; the HTTP layer
//!   sends the head without the body.
//! - [`json_error_bodies`] (middleware): any 4xx/5xx answered with an empty
//!   body gets `{"error": "<reason>"}`, headers kept.
//! - [`allow_header`]: the `Allow` value of a route template, for 405s.
use actix_web::body::{BodySize, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::{header, Method};
use actix_web::middleware::{ErrorHandlerResponse, ErrorHandlers, Next};
use actix_web::{Error, HttpResponse, ResponseError};
use percent_encoding::percent_decode_str;
use serde_json::{Map, Value};

use crate::ApiError;

/// Longest value, in UTF-8 bytes, of a field stored in a btree-indexed
/// column. PostgreSQL refuses an index row over about 2,700 bytes (8 kB
/// pages / 3); the widest index over sent text is `(database, path)` of
/// test inputs, so two fields at this cap still fit.
pub const INDEXED_FIELD_MAX_BYTES: usize = 1024;

/// Top-level body fields stored in indexed columns (migrations/postgres):
/// `projects.id`, `ci_commits.(hexsha, project_id, branch, committer_name)`,
/// `batches.label`, `test_inputs.(database, path)`,
/// `outputs.(platform, output_dir_override, data->>'user')`, `users.*`.
pub const INDEXED_FIELDS: &[&str] = &[
    "project",
    "project_id",
    "commit_sha",
    "git_commit_sha",
    "commit_id",
    "commit_branch",
    "branch",
    "commit_committer_name",
    "committer",
    "batch_label",
    "label",
    "new_label",
    "database",
    "rel_input_path",
    "input_path",
    "platform",
    "output_directory",
    "user",
    "user_name",
    "full_name",
    "email",
];

/// Checks a parsed JSON body: no NUL character in any key or string at any
/// depth (PostgreSQL stores neither in `text` nor in `jsonb`), and the
/// [`INDEXED_FIELDS`] at most [`INDEXED_FIELD_MAX_BYTES`] long.
/// Errors: 400 naming the field (a dotted path, `metrics.log`, `items[2]`).
pub fn check_body(body: &Map<String, Value>) -> Result<(), ApiError> {
    check_indexed_lengths(body)?;
    let mut path = String::new();
    check_nul_object(body, &mut path)
}

/// [`check_body`] of a body parsed from the JSON text `raw`: the same
/// checks, but the walk looking for NUL characters is skipped when `raw`
/// holds no `\u0000` escape. JSON text cannot carry a raw NUL inside a string
/// (control characters must be escaped, and the parser refuses them raw), so
/// without that escape no key or string of the parsed value holds one. An
/// escape preceded by another backslash (`\\u0000`, literal text) only
/// makes the walk run.
pub fn check_parsed_body(raw: &[u8], body: &Map<String, Value>) -> Result<(), ApiError> {
    if memchr::memmem::find(raw, b"\\u0000").is_some() {
        return check_body(body);
    }
    check_indexed_lengths(body)
}

/// The length cap of [`INDEXED_FIELDS`] (see [`check_body`]).
fn check_indexed_lengths(body: &Map<String, Value>) -> Result<(), ApiError> {
    for (k, v) in body {
        if let Value::String(s) = v {
            if s.len() > INDEXED_FIELD_MAX_BYTES && INDEXED_FIELDS.contains(&k.as_str()) {
                return Err(ApiError::bad(format!(
                    "'{k}' is too long: {} bytes, at most {INDEXED_FIELD_MAX_BYTES}",
                    s.len()
                )));
            }
        }
    }
    Ok(())
}

/// The 400 of a NUL character in `field`.
pub(crate) fn nul_error(field: &str) -> ApiError {
    ApiError::bad(format!(
        "'{field}' contains a NUL character (\\u0000), which cannot be stored"
    ))
}

fn check_nul_object(m: &Map<String, Value>, path: &mut String) -> Result<(), ApiError> {
    for (k, v) in m {
        let len = path.len();
        if !path.is_empty() {
            path.push('.');
        }
        if k.contains('\0') {
            path.push_str(&k.replace('\0', "\\u0000"));
            return Err(nul_error(path));
        }
        path.push_str(k);
        check_nul_value(v, path)?;
        path.truncate(len);
    }
    Ok(())
}

fn check_nul_value(v: &Value, path: &mut String) -> Result<(), ApiError> {
    match v {
        Value::String(s) if s.contains('\0') => Err(nul_error(path)),
        Value::Object(m) => check_nul_object(m, path),
        Value::Array(a) => {
            for (i, x) in a.iter().enumerate() {
                let len = path.len();
                path.push_str(&format!("[{i}]"));
                check_nul_value(x, path)?;
                path.truncate(len);
            }
            Ok(())
        }
        _ => Ok(()),
    }
}

/// The first NUL-carrying part of a request's path or query, if any, as the
/// field to name: `path` or the query key. Percent-decoding yields a NUL only
/// from `%00` or a raw NUL byte, so without either nothing is decoded.
pub(crate) fn nul_in_request(path: &str, query: &str) -> Option<String> {
    let may_hold_nul = |s: &str| {
        memchr::memchr(0, s.as_bytes()).is_some()
            || memchr::memmem::find(s.as_bytes(), b"%00").is_some()
    };
    if !may_hold_nul(path) && !may_hold_nul(query) {
        return None;
    }
    if percent_decode_str(path).any(|b| b == 0) {
        return Some("path".into());
    }
    for pair in query.split('&') {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        let key = percent_decode_str(&k.replace('+', " "))
            .decode_utf8_lossy()
            .into_owned();
        if key.contains('\0') || percent_decode_str(v).any(|b| b == 0) {
            return Some(key.replace('\0', "\\u0000"));
        }
    }
    None
}

/// Middleware: refuses a request whose percent-decoded path or query holds
/// a NUL character with 400 `{"error": "'<field>' contains a NUL …"}`,
/// before any route (reads and writes alike; PostgreSQL refuses NUL in
/// `text` parameters).
pub async fn check_request_strings<B: MessageBody + 'static>(
    req: ServiceRequest,
    next: Next<B>,
) -> Result<ServiceResponse<actix_web::body::EitherBody<B>>, Error> {
    if let Some(field) = nul_in_request(req.path(), req.query_string()) {
        let res = nul_error(&field).error_response();
        return Ok(req.into_response(res).map_into_right_body());
    }
    next.call(req)
        .await
        .map(ServiceResponse::map_into_left_body)
}

/// Middleware: routes `HEAD` as `GET` (RFC 9110 §9.3.2). The HTTP layer
/// remembers the request was a `HEAD` and sends the head (status, headers,
/// `Content-Length`) without the body.
pub async fn head_as_get<B: MessageBody + 'static>(
    mut req: ServiceRequest,
    next: Next<B>,
) -> Result<ServiceResponse<B>, Error> {
    if req.method() == Method::HEAD {
        req.head_mut().method = Method::GET;
    }
    next.call(req).await
}

/// Middleware: gives every 4xx/5xx response with an empty body a JSON body
/// `{"error": "<status reason>"}` (actix's own 404/405, extractor errors of
/// routes without a JSON error handler). Headers (`Allow`) are kept.
pub fn json_error_bodies<B: MessageBody + 'static>() -> ErrorHandlers<B> {
    ErrorHandlers::new().default_handler(|res: ServiceResponse<B>| {
        Ok(ErrorHandlerResponse::Response(json_error_body(res)))
    })
}

/// What [`json_error_bodies`] does to one response: a 4xx/5xx with an empty
/// body (outside `/s/`) gets `{"error": "<status reason>"}` (headers kept,
/// `Allow` added to a 405 without one); any other response is unchanged.
pub(crate) fn json_error_body<B: MessageBody + 'static>(
    res: ServiceResponse<B>,
) -> ServiceResponse<actix_web::body::EitherBody<B>> {
    let status = res.status();
    if !status.is_client_error() && !status.is_server_error() {
        return res.map_into_left_body();
    }
    let empty = matches!(
        res.response().body().size(),
        BodySize::None | BodySize::Sized(0)
    );
    if !empty || res.request().path().starts_with("/s/") {
        return res.map_into_left_body();
    }
    let (req, old) = res.into_parts();
    let mut new = HttpResponse::build(status).json(serde_json::json!({
        "error": status.canonical_reason().unwrap_or("error").to_lowercase()
    }));
    for (k, v) in old.headers() {
        if k != header::CONTENT_TYPE && k != header::CONTENT_LENGTH {
            new.headers_mut().append(k.clone(), v.clone());
        }
    }
    if status == actix_web::http::StatusCode::METHOD_NOT_ALLOWED
        && !new.headers().contains_key(header::ALLOW)
    {
        if let Ok(v) = header::HeaderValue::from_str(&allow_header(req.match_pattern().as_deref()))
        {
            new.headers_mut().insert(header::ALLOW, v);
        }
    }
    ServiceResponse::new(req, new).map_into_right_body()
}

/// Methods of each route template (under the server root, `/api/v1`
/// prefix and trailing slash removed, as `registry::Route::path`), for the
/// `Allow` header of 405s: derived from [`crate::registry::ROUTES`], the one
/// list of routes (add a route there). `HEAD` is added to every template
/// allowing `GET`, `OPTIONS` to every template.
pub static ROUTE_METHODS: std::sync::LazyLock<Vec<(&'static str, Vec<&'static str>)>> =
    std::sync::LazyLock::new(route_methods);

/// The `(template, methods)` pairs of [`ROUTE_METHODS`], computed from the registry.
pub fn route_methods() -> Vec<(&'static str, Vec<&'static str>)> {
    crate::registry::ROUTES
        .iter()
        .map(|r| (r.path, r.ops.iter().map(|o| o.method.as_str()).collect()))
        .collect()
}

/// The `Allow` value of the route template `pattern` as actix reports it
/// (`req.match_pattern()`, e.g. `/api/v1/output/{id}/`): its methods from
/// [`ROUTE_METHODS`], plus `HEAD` with `GET`, plus `OPTIONS`. A template
/// missing from the table answers `OPTIONS` only (and is logged).
pub fn allow_header(pattern: Option<&str>) -> String {
    let key = pattern.map(|p| {
        let p = p.strip_prefix("/api/v1").unwrap_or(p);
        let p = p.trim_end_matches('/');
        if p.is_empty() {
            "/".to_string()
        } else {
            p.to_string()
        }
    });
    let route = key.as_deref().and_then(crate::registry::find);
    if route.is_none() {
        log::warn!("no Allow list for route template {pattern:?} (registry::ROUTES)");
    }
    let mut out: Vec<&str> = Vec::new();
    for o in route.map_or(&[][..], |r| r.ops) {
        out.push(o.method.as_str());
        if o.method == crate::registry::Method::Get {
            out.push("HEAD");
        }
    }
    out.push("OPTIONS");
    out.join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nul_anywhere_in_a_body_names_the_field() {
        let body = serde_json::json!({"metrics": {"a": [1, "x\u{0}"]}});
        let err = check_body(body.as_object().unwrap()).unwrap_err();
        assert!(err.to_string().contains("'metrics.a[1]'"), "{err}");
        let body = serde_json::json!({"data": {"k\u{0}": 1}});
        let err = check_body(body.as_object().unwrap()).unwrap_err();
        assert!(err.to_string().contains("'data.k\\u0000'"), "{err}");
    }

    #[test]
    fn the_raw_prefilter_keeps_every_refusal() {
        for raw in [
            r#"{"metrics": {"a": [1, "x\u0000"]}}"#,
            r#"{"data": {"k\u0000": 1}}"#,
            r#"{"a": "\\\u0000"}"#,
        ] {
            let v: Value = serde_json::from_str(raw).unwrap();
            let m = v.as_object().unwrap();
            assert!(check_body(m).is_err(), "{raw}");
            assert!(check_parsed_body(raw.as_bytes(), m).is_err(), "{raw}");
        }
        // Literal text `\u0000` (escaped backslash) is no NUL either way.
        let raw = r#"{"a": "\\u0000", "rel_input_path": "x"}"#;
        let v: Value = serde_json::from_str(raw).unwrap();
        assert!(check_parsed_body(raw.as_bytes(), v.as_object().unwrap()).is_ok());
        let long = format!(r#"{{"rel_input_path": "{}"}}"#, "a".repeat(3000));
        let v: Value = serde_json::from_str(&long).unwrap();
        assert!(check_parsed_body(long.as_bytes(), v.as_object().unwrap()).is_err());
    }

    #[test]
    fn indexed_fields_are_capped() {
        let body = serde_json::json!({"rel_input_path": "a".repeat(3000)});
        let err = check_body(body.as_object().unwrap()).unwrap_err();
        assert!(err.to_string().contains("'rel_input_path'"), "{err}");
        let body = serde_json::json!({"metrics": {"log": "a".repeat(3000)}});
        assert!(check_body(body.as_object().unwrap()).is_ok());
    }

    #[test]
    fn nul_in_path_or_query() {
        assert_eq!(nul_in_request("/a%00b", ""), Some("path".into()));
        assert_eq!(
            nul_in_request("/api/v1/project", "x=1&project=a%00b"),
            Some("project".into())
        );
        assert_eq!(nul_in_request("/api/v1/project", "project=a%20b"), None);
    }

    #[test]
    fn allow_lists_get_head_options() {
        assert_eq!(
            allow_header(Some("/api/v1/output/{id}/")),
            "GET, HEAD, PUT, DELETE, OPTIONS"
        );
        assert_eq!(allow_header(Some("/healthz")), "GET, HEAD, OPTIONS");
    }
}
