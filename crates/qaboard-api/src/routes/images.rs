//! Images of output folders (OPERATIONS.md §8): the IIIF Image API 2
//! subset the webapp's viewers use (`/iiif/2/<id>/…`, replacing the
//! original's Cantaloupe server), pixel values, auto-ROIs and their PDF
//! report (`/api/v1/output/image/pixel`, `/api/v1/output/diff/…`).
//!
//! This file only translates HTTP: every path is confined by
//! [`AppState::storage`], decoding and rendering are in [`qaboard_images`]
//! and run on the blocking pool (`web::block`), decoded images are shared
//! through [`AppState::images`].
//!
//! Errors: [`ImageError::BadRequest`] → 400; `NotFound`, `Decode` and
//! `Unsupported` → 404 (not an image, or no such pixel; the webapp only
//! shows that something failed); I/O → 500. Paths outside the storage roots
//! or missing → 404, refused (`..`, links out) → 403, all as JSON errors.
use std::path::{Path, PathBuf};
use std::sync::Arc;

use actix_web::http::header::{self, HeaderValue};
use actix_web::http::Method;
use actix_web::{web, HttpRequest, HttpResponse};
use percent_encoding::{percent_decode_str, utf8_percent_encode, AsciiSet, CONTROLS};
use qaboard_db::read;
use qaboard_images::wire::{DiffImageRequest, DiffReportRequest, PixelQuery};
use qaboard_images::{iiif, pixel, report, rois, CacheKey, Decoded, ImageError};
use qaboard_storage::StorageError;
use serde::Deserialize;

use crate::extract::JsonBody;
use crate::extract::{ReadAccess, WriteAccess};
use crate::state::AppState;
use crate::{both, resource, run_db, ApiError};

/// Registers the pixel and diff routes (mounted under `/api/v1`).
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        resource(both("/output/image/pixel"))
            .route(web::get().to(get_pixel))
            .route(web::post().to(post_pixel)),
    )
    .service(resource(both("/output/diff/image")).route(web::post().to(diff_image)))
    .service(resource(both("/output/diff/report")).route(web::post().to(diff_report)));
}

/// Registers `/iiif/2/<id>/info.json` and `/iiif/2/<id>/<region>/<size>/
/// <rotation>/<quality>.<format>` (`GET`, `HEAD`, `OPTIONS`; CORS `*`).
pub fn configure_root(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/iiif/2/{tail:.*}").default_service(web::to(iiif_handler)));
}

/// Turns a storage refusal into the API's JSON error.
pub(crate) fn storage_error(e: StorageError) -> ApiError {
    match e {
        StorageError::OutsideRoots(p) => {
            ApiError::NotFound(format!("{} is not under a storage root", p.display()))
        }
        StorageError::NotFound(p) => ApiError::NotFound(format!("{}: not found", p.display())),
        StorageError::WrongKind { path, reason } => {
            ApiError::NotFound(format!("{}: {reason}", path.display()))
        }
        e @ StorageError::Forbidden { .. } => ApiError::Forbidden(e.to_string()),
        e @ StorageError::TooLarge { .. } => ApiError::bad(e.to_string()),
        e => ApiError::Internal(Box::new(e)),
    }
}

fn image_error(e: ImageError) -> ApiError {
    match e {
        ImageError::BadRequest { .. } => ApiError::bad(e.to_string()),
        ImageError::NotFound { .. }
        | ImageError::Decode { .. }
        | ImageError::Unsupported { .. } => ApiError::NotFound(e.to_string()),
        ImageError::Io { .. } => ApiError::Internal(Box::new(e)),
    }
}

/// Opens `path` through the storage and decodes it (cached by path, mtime
/// and size). Blocking.
fn decode(state: &AppState, path: &Path) -> Result<Arc<Decoded>, ApiError> {
    let opened = state.storage.open_file(path).map_err(storage_error)?;
    let key = CacheKey::from_metadata(path.to_string_lossy(), &opened.metadata);
    let file = opened.file;
    state
        .images
        .get_or_decode(key, move || Ok(file))
        .map_err(image_error)
}

/// The absolute path of a `/s/…` URL of the webapp (percent-decoded once,
/// one leading `/s` removed, as the original's `url_to_dir`).
fn url_to_path(field: &str, url: &str) -> Result<PathBuf, ApiError> {
    let decoded = percent_decode_str(url)
        .decode_utf8()
        .map_err(|_| ApiError::bad(format!("'{field}' is not UTF-8 after percent-decoding")))?;
    let path = match decoded.strip_prefix("/s/") {
        Some(rest) => format!("/{rest}"),
        None => decoded.into_owned(),
    };
    if !path.starts_with('/') || path.contains('\0') {
        return Err(ApiError::bad(format!(
            "'{field}' is not a /s/ URL: {url:?}"
        )));
    }
    Ok(PathBuf::from(path))
}

/// `<dir>/<relative path>`; the relative path may not be absolute.
fn join(dir: &Path, rel: &str) -> Result<PathBuf, ApiError> {
    let rel = rel.trim_start_matches('/');
    if rel.is_empty() {
        return Err(ApiError::bad("'path' is required"));
    }
    Ok(dir.join(rel))
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, ApiError> + Send + 'static,
) -> Result<T, ApiError> {
    web::block(f)
        .await
        .map_err(|e| ApiError::Internal(Box::new(e)))?
}

// ------------------------------------------------------------------ IIIF

async fn iiif_handler(req: HttpRequest, state: web::Data<AppState>) -> HttpResponse {
    let mut res = match *req.method() {
        Method::OPTIONS => HttpResponse::Ok()
            .insert_header((header::ACCESS_CONTROL_ALLOW_METHODS, "GET, HEAD, OPTIONS"))
            .finish(),
        Method::GET | Method::HEAD => match iiif_answer(&req, state).await {
            Ok(r) => r,
            Err(e) => actix_web::ResponseError::error_response(&e),
        },
        _ => actix_web::ResponseError::error_response(&ApiError::MethodNotAllowed(
            "the IIIF service answers GET and HEAD".into(),
        )),
    };
    res.headers_mut().insert(
        header::ACCESS_CONTROL_ALLOW_ORIGIN,
        HeaderValue::from_static("*"),
    );
    res
}

async fn iiif_answer(
    req: &HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    // The raw path: the identifier holds `%2F`, decoded exactly once by
    // `iiif::id_to_path`.
    let raw = req.uri().path();
    let rest = raw.strip_prefix("/iiif/2/").unwrap_or("");
    let (id, tail) = rest.split_once('/').unwrap_or((rest, ""));
    if id.is_empty() {
        return Err(ApiError::NotFound("no image identifier".into()));
    }
    let path = PathBuf::from(iiif::id_to_path(id).map_err(image_error)?);
    if tail.is_empty() {
        // The base URI: IIIF §2.1 redirects it to info.json.
        return Ok(HttpResponse::SeeOther()
            .insert_header((header::LOCATION, format!("{raw}/info.json")))
            .finish());
    }
    if tail == "info.json" {
        let info = req.connection_info().clone();
        let base = format!("{}://{}/iiif/2/{id}", info.scheme(), info.host());
        let st = state.clone();
        let decoded = blocking(move || decode(&st, &path)).await?;
        let doc = iiif::info_json(&base, decoded.image.width(), decoded.image.height());
        return Ok(HttpResponse::Ok()
            .content_type("application/json")
            .insert_header((header::CACHE_CONTROL, "no-cache"))
            .body(doc.to_string()));
    }
    let request = iiif::ImageRequest::parse(tail).map_err(image_error)?;
    let content_type = request.format.content_type();
    let st = state.clone();
    let bytes = blocking(move || {
        let decoded = decode(&st, &path)?;
        request.render(&decoded.image).map_err(image_error)
    })
    .await?;
    Ok(HttpResponse::Ok()
        .content_type(content_type)
        .insert_header((header::CACHE_CONTROL, "no-cache"))
        .body(bytes))
}

// ----------------------------------------------------------------- pixel

/// Query of the pixel look-up with numbers still as text (a bad number is
/// a 400 naming the field).
#[derive(Debug, Deserialize)]
struct RawPixelQuery {
    x: Option<String>,
    y: Option<String>,
    image_url: Option<String>,
}

fn parse_pixel(q: RawPixelQuery) -> Result<PixelQuery, ApiError> {
    let num = |field: &str, v: Option<String>| -> Result<i64, ApiError> {
        let v = v.ok_or_else(|| ApiError::bad(format!("'{field}' is required")))?;
        let f: f64 = v
            .trim()
            .parse()
            .map_err(|_| ApiError::bad(format!("'{field}' must be a number: {v:?}")))?;
        if !f.is_finite() || f.fract() != 0.0 || !(1.0..=1e12).contains(&f) {
            return Err(ApiError::bad(format!(
                "'{field}' must be a positive integer (1-based): {v:?}"
            )));
        }
        Ok(f as i64)
    };
    Ok(PixelQuery {
        x: num("x", q.x)?,
        y: num("y", q.y)?,
        image_url: q
            .image_url
            .filter(|u| !u.is_empty())
            .ok_or_else(|| ApiError::bad("'image_url' is required"))?,
    })
}

async fn pixel_answer(state: web::Data<AppState>, q: PixelQuery) -> Result<HttpResponse, ApiError> {
    let path = url_to_path("image_url", &q.image_url)?;
    let st = state.clone();
    let answer = blocking(move || {
        let decoded = decode(&st, &path)?;
        pixel::pixel_at(&decoded, q.x, q.y).map_err(image_error)
    })
    .await?;
    Ok(HttpResponse::Ok().json(answer))
}

/// `GET /api/v1/output/image/pixel?x=&y=&image_url=` (1-based x, y):
/// `{"value": n | [c…], "meta": {"mode": "<Pillow mode>"}}`.
async fn get_pixel(
    _: ReadAccess,
    state: web::Data<AppState>,
    q: web::Query<RawPixelQuery>,
) -> Result<HttpResponse, ApiError> {
    pixel_answer(state, parse_pixel(q.into_inner())?).await
}

/// `POST /api/v1/output/image/pixel`: the same, the fields in the query
/// string or in a JSON body.
async fn post_pixel(
    _: ReadAccess,
    state: web::Data<AppState>,
    q: web::Query<RawPixelQuery>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let mut q = q.into_inner();
    if !body.is_empty() {
        if let Ok(serde_json::Value::Object(m)) = serde_json::from_slice(&body) {
            let text = |k: &str| {
                m.get(k).and_then(|v| match v {
                    serde_json::Value::String(s) => Some(s.clone()),
                    serde_json::Value::Number(n) => Some(n.to_string()),
                    _ => None,
                })
            };
            q.x = q.x.or_else(|| text("x"));
            q.y = q.y.or_else(|| text("y"));
            q.image_url = q.image_url.or_else(|| text("image_url"));
        }
    }
    pixel_answer(state, parse_pixel(q)?).await
}

// ----------------------------------------------------------------- diffs

fn from_body<T: serde::de::DeserializeOwned>(body: JsonBody) -> Result<T, ApiError> {
    serde_json::from_value(serde_json::Value::Object(body.0))
        .map_err(|e| ApiError::bad(format!("invalid body: {e}")))
}

/// `POST /api/v1/output/diff/image`: the auto-ROIs of the difference of
/// `<output_dir_url_new>/<path>` and `<output_dir_url_ref>/<path>`, as
/// `[[y, x, r], …]` (`[]` when nothing differs enough).
async fn diff_image(
    _: ReadAccess,
    state: web::Data<AppState>,
    body: JsonBody,
) -> Result<HttpResponse, ApiError> {
    let req: DiffImageRequest = from_body(body)?;
    let params = req.params().map_err(image_error)?;
    let new = join(
        &url_to_path("output_dir_url_new", &req.output_dir_url_new)?,
        &req.path,
    )?;
    let reference = join(
        &url_to_path("output_dir_url_ref", &req.output_dir_url_ref)?,
        &req.path,
    )?;
    let st = state.clone();
    let blobs = blocking(move || {
        let new = decode(&st, &new)?;
        let reference = decode(&st, &reference)?;
        rois::find_auto_rois(&new.image, &reference.image, &params).map_err(image_error)
    })
    .await?;
    Ok(HttpResponse::Ok().json(blobs))
}

/// Characters escaped in `/s/` URLs of written files (`/` kept).
const URL_PATH: &AsciiSet = &CONTROLS
    .add(b' ')
    .add(b'"')
    .add(b'#')
    .add(b'%')
    .add(b'<')
    .add(b'>')
    .add(b'?')
    .add(b'`')
    .add(b'{')
    .add(b'}');

/// The `/s/…` URL of an absolute path.
pub(crate) fn s_url(path: &Path) -> String {
    format!(
        "/s{}",
        utf8_percent_encode(&path.to_string_lossy(), URL_PATH)
    )
}

/// The commit sha of an output, for the report's title page.
fn sha_of(conn: &mut qaboard_db::DbConn, id: i64) -> Result<String, ApiError> {
    let missing = || ApiError::NotFound(format!("no output has the id {id}"));
    let oid = qaboard_model::OutputId(i32::try_from(id).map_err(|_| missing())?);
    let o = read::get_output(conn, oid)?.ok_or_else(missing)?;
    let (_, commit, _) = read::output_context(conn, o.output.batch_id)?.ok_or_else(missing)?;
    Ok(commit.hexsha)
}

/// `POST /api/v1/output/diff/report`: writes the PDF of the ROI crops to
/// `<new output dir>/reports/<DDMMYYYY_HHMMSS>_report.pdf` (through the
/// storage) and answers its `/s/…` URL as a JSON string.
async fn diff_report(
    _: WriteAccess,
    state: web::Data<AppState>,
    body: JsonBody,
) -> Result<HttpResponse, ApiError> {
    let req: DiffReportRequest = from_body(body)?;
    let rects = req
        .rois
        .iter()
        .map(|r| r.to_rect())
        .collect::<Result<Vec<_>, _>>()
        .map_err(image_error)?;
    let new_dir = url_to_path("output_dir_url_new", &req.output_dir_url_new)?;
    let new = join(&new_dir, &req.path)?;
    let reference = join(
        &url_to_path("output_dir_url_ref", &req.output_dir_url_ref)?,
        &req.path,
    )?;
    let pool = state.pool.clone();
    let (id_new, id_ref) = (req.output_id_new, req.output_id_ref);
    let (new_sha, ref_sha) = run_db(move || {
        let mut conn = pool.get()?;
        Ok((sha_of(&mut conn, id_new)?, sha_of(&mut conn, id_ref)?))
    })
    .await?;
    let now = chrono::Local::now();
    let header = report::ReportHeader {
        date: now.format("%a %b %e %H:%M:%S %Y").to_string(),
        new_sha,
        ref_sha,
    };
    let file = new_dir
        .join("reports")
        .join(format!("{}_report.pdf", now.format("%d%m%Y_%H%M%S")));
    let st = state.clone();
    let target = file.clone();
    blocking(move || {
        let new = decode(&st, &new)?;
        let reference = decode(&st, &reference)?;
        let pdf = report::render_report(&new.image, &reference.image, &header, &rects)
            .map_err(image_error)?;
        st.storage.write(&target, &pdf).map_err(storage_error)
    })
    .await?;
    Ok(HttpResponse::Ok().json(s_url(&file)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_and_paths() {
        assert_eq!(
            url_to_path("u", "/s/mnt/q/a%20b").unwrap(),
            PathBuf::from("/mnt/q/a b")
        );
        assert!(url_to_path("u", "relative").is_err());
        assert_eq!(
            s_url(Path::new("/mnt/q/a b/r#1.pdf")),
            "/s/mnt/q/a%20b/r%231.pdf"
        );
        assert!(join(Path::new("/a"), "").is_err());
        assert_eq!(
            join(Path::new("/a"), "/x.png").unwrap(),
            PathBuf::from("/a/x.png")
        );
    }
}
