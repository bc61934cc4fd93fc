//! `/s/<absolute path>`: the files of the storage roots, served like the
//! original deployment's nginx (`autoindex on`, `gzip_static on`,
//! `gunzip on`, CORS `*`; contract `OPERATIONS.md` §8 and "Decisions"), and
//! the built webapp at `/` ([`configure_webapp`]).
//!
//! Every file is opened through the state's [`AppState::storage`] (rule
//! \[FS\]: only under the storage roots, links followed only inside a root).
//!
//! - `GET`/`HEAD` of a file: its bytes, `Content-Type` from the extension,
//!   `ETag`/`Last-Modified` with 304 (`If-None-Match`, `If-Modified-Since`),
//!   one `Range` (206, 416), streamed from disk (actix-files' `NamedFile`).
//! - `<f>.gz` beside `<f>`: sent with `Content-Encoding: gzip` when the
//!   client accepts gzip; when only `<f>.gz` exists and the client does not
//!   accept gzip, decompressed on the fly (streamed, no Range/ETag).
//! - A folder: an HTML listing (relative, escaped links, dates UTC, sizes in
//!   bytes); without trailing slash a 301 to the slash form, with a
//!   path-only `Location` (nginx `absolute_redirect off`).
//! - Repeated slashes merged, query string ignored, `OPTIONS` 200, every
//!   answer carries `Access-Control-Allow-Origin: *`.
//! - 403/404 are plain text (the webapp reads 404 bodies of logs as text).
//!
//! Percent-decoding: the raw request path is decoded exactly once here
//! (`%2e%2e` becomes `..` and is then refused by the storage, `%2F` is `/`);
//! [`qaboard_storage`] never decodes.
mod fast;
mod small;
mod webapp;

use std::ffi::{OsStr, OsString};
use std::io::Read;
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::{Path, PathBuf};

use actix_files::NamedFile;
use actix_web::http::header::{self, ContentEncoding, HeaderValue};
use actix_web::http::{Method, StatusCode};
use actix_web::{web, HttpRequest, HttpResponse};
use percent_encoding::{percent_decode, AsciiSet, NON_ALPHANUMERIC};
use qaboard_storage::{DirEntryInfo, Opened, Storage, StorageError};

use crate::state::AppState;

pub(crate) use fast::{is_conditional_header, open_plain, plain_target, PlainFile};
pub use fast::{plain_file_answer, FastAnswer};
pub use webapp::{configure_webapp, RESERVED_PREFIXES};

/// The metrics `route` label of `/s` requests (the scope has no route
/// pattern of its own).
pub const ROUTE_LABEL: &str = "/s/{tail:.*}";

/// Whether a request path is one [`configure`] answers (`/s`, `/s/…`).
pub fn is_files_path(path: &str) -> bool {
    path == "/s" || path.starts_with("/s/")
}

/// Mounts `/s` and `/s/<path>` (all methods: `OPTIONS` 200, `GET`/`HEAD`
/// served, others 405 plain text) over the app's [`AppState::storage`].
pub fn configure(cfg: &mut web::ServiceConfig) {
    // A scope (static prefix match) rather than a `/s/{tail:.*}` resource:
    // the resource's regex took a fifth of the CPU of small-file requests
    // (perf). Its metrics route label is [`ROUTE_LABEL`].
    cfg.service(web::scope("/s").default_service(web::to(
        |req: HttpRequest, state: web::Data<AppState>| async move {
            serve(req, state.storage.clone()).await
        },
    )));
}

/// Mounts `/s` like [`configure`] over `storage`, for a server without
/// [`AppState`] (the file-serving benchmark, the tests of this module).
/// Register it before [`crate::configure`] when both are used.
pub fn configure_standalone(cfg: &mut web::ServiceConfig, storage: Storage) {
    cfg.service(
        web::scope("/s").default_service(web::to(move |req: HttpRequest| {
            let storage = storage.clone();
            async move { serve(req, storage).await }
        })),
    );
}

/// Files up to this size are read on the worker thread rather than on the
/// blocking pool when they take the general path (see `answer`).
const SYNC_READ_MAX_BYTES: u64 = small::SMALL_FILE_MAX_BYTES;

/// What to answer, decided on a blocking thread.
enum Plan {
    /// A file; `gzip`: it is the `.gz` sidecar of the requested path.
    File {
        opened: Opened,
        gzip: bool,
    },
    /// The `.gz` sidecar of a missing file, for a client without gzip.
    Gunzip(Opened),
    /// A small file read whole ([`small`]); `gzip` as for `File`.
    Small {
        file: small::SmallFile,
        gzip: bool,
    },
    /// A folder asked without trailing slash.
    Redirect,
    /// A folder listing.
    Listing(Vec<DirEntryInfo>),
    Error(StorageError),
}

async fn serve(req: HttpRequest, storage: Storage) -> HttpResponse {
    let mut res = match *req.method() {
        Method::OPTIONS => HttpResponse::Ok()
            .insert_header((header::ACCESS_CONTROL_ALLOW_METHODS, "GET, HEAD, OPTIONS"))
            .insert_header((header::ACCESS_CONTROL_ALLOW_HEADERS, "Range, Content-Type"))
            .insert_header((header::ACCESS_CONTROL_MAX_AGE, "86400"))
            .finish(),
        Method::GET | Method::HEAD => answer(&req, storage).await,
        _ => {
            let mut r = plain(StatusCode::METHOD_NOT_ALLOWED, "405 Method Not Allowed");
            r.headers_mut().insert(
                header::ALLOW,
                HeaderValue::from_static("GET, HEAD, OPTIONS"),
            );
            r
        }
    };
    res.headers_mut().insert(
        header::ACCESS_CONTROL_ALLOW_ORIGIN,
        HeaderValue::from_static("*"),
    );
    res
}

/// The raw path without `/s`, repeated slashes merged (still encoded).
fn merged_raw_path(raw: &str) -> String {
    let mut out = String::with_capacity(raw.len());
    for c in raw.chars() {
        if c == '/' && out.ends_with('/') {
            continue;
        }
        out.push(c);
    }
    out
}

/// Decodes a raw URL path once into file-system bytes.
pub(crate) fn decode_path(raw: &str) -> OsString {
    // Through `Cow`: a path without `%` is copied whole, not byte by byte.
    let bytes: std::borrow::Cow<'_, [u8]> = percent_decode(raw.as_bytes()).into();
    OsString::from_vec(bytes.into_owned())
}

/// Whether `Accept-Encoding` allows gzip (`gzip`, `x-gzip` or `*`, q > 0).
pub(crate) fn accepts_gzip(req: &HttpRequest) -> bool {
    headers_accept_gzip(req.headers())
}

/// [`accepts_gzip`] over a header map.
fn headers_accept_gzip(headers: &header::HeaderMap) -> bool {
    headers
        .get_all(header::ACCEPT_ENCODING)
        .filter_map(|v| v.to_str().ok())
        .any(accept_encoding_allows_gzip)
}

/// Whether one `Accept-Encoding` value allows gzip: `gzip` or `x-gzip` with
/// q > 0, or, when neither is named, `*` with q > 0 (RFC 9110 section
/// 12.5.3: `gzip;q=0, *` refuses gzip).
pub(crate) fn accept_encoding_allows_gzip(value: &str) -> bool {
    let (mut named, mut any) = (None::<bool>, false);
    for item in value.split(',') {
        let mut parts = item.split(';');
        let coding = parts.next().unwrap_or("").trim().to_ascii_lowercase();
        let q = parts
            .filter_map(|p| p.trim().strip_prefix("q="))
            .filter_map(|q| q.trim().parse::<f32>().ok())
            .next()
            .unwrap_or(1.0);
        match coding.as_str() {
            "gzip" | "x-gzip" => named = Some(named.unwrap_or(false) || q > 0.0),
            "*" => any |= q > 0.0,
            _ => {}
        }
    }
    named.unwrap_or(any)
}

#[cfg(test)]
mod accept_encoding_tests {
    use super::accept_encoding_allows_gzip as ok;

    #[test]
    fn gzip_is_allowed_unless_refused() {
        assert!(ok("gzip, deflate, br"));
        assert!(ok("br;q=1.0, GZIP;q=0.5"));
        assert!(ok("x-gzip"));
        assert!(ok("*"));
        assert!(!ok(""));
        assert!(!ok("identity"));
        assert!(!ok("br, deflate"));
        assert!(!ok("gzip;q=0"));
        assert!(!ok("gzip; q=0.000"));
        assert!(!ok("gzip;q=0, *"));
        assert!(!ok("*;q=0"));
        assert!(ok("*;q=0, gzip"));
    }
}

fn with_gz(path: &OsStr) -> PathBuf {
    let mut p = path.to_os_string();
    p.push(".gz");
    PathBuf::from(p)
}

/// [`plan_general`], then a file of a request without `Range` or conditions
/// ([`small::eligible`]) read whole when small.
fn plan(storage: &Storage, path: &OsStr, slash: bool, gzip_ok: bool, small_ok: bool) -> Plan {
    match plan_general(storage, path, slash, gzip_ok) {
        Plan::File { opened, gzip } if small_ok => {
            match small::read(&opened.file, &opened.metadata) {
                None => Plan::File { opened, gzip },
                Some(Ok(file)) => Plan::Small { file, gzip },
                Some(Err(source)) => Plan::Error(StorageError::Io {
                    path: opened.path,
                    source,
                }),
            }
        }
        plan => plan,
    }
}

fn plan_general(storage: &Storage, path: &OsStr, slash: bool, gzip_ok: bool) -> Plan {
    if gzip_ok && !slash {
        if let Ok(opened) = storage.open_file(with_gz(path)) {
            return Plan::File { opened, gzip: true };
        }
    }
    match storage.open(path) {
        Ok(opened) if opened.metadata.is_dir() => {
            if !slash {
                return Plan::Redirect;
            }
            match storage.read_dir(path) {
                Ok(entries) => Plan::Listing(entries),
                Err(e) => Plan::Error(e),
            }
        }
        // `file/` is not a folder.
        Ok(opened) if slash => Plan::Error(StorageError::NotFound(opened.path)),
        Ok(opened) => Plan::File {
            opened,
            gzip: false,
        },
        Err(e) if e.is_not_found() && !gzip_ok && !slash => {
            match storage.open_file(with_gz(path)) {
                Ok(opened) => Plan::Gunzip(opened),
                Err(_) => Plan::Error(e),
            }
        }
        Err(e) => Plan::Error(e),
    }
}

async fn answer(req: &HttpRequest, storage: Storage) -> HttpResponse {
    let raw = merged_raw_path(req.uri().path());
    let rest = raw.strip_prefix("/s").unwrap_or("");
    let decoded = decode_path(rest);
    let slash = decoded.as_bytes().ends_with(b"/");
    let gzip_ok = accepts_gzip(req);
    let small_ok = small::eligible(req);
    // Small files are opened and read right here, as nginx does by default
    // (no thread pool): two thread hand-offs per request cost more than the
    // open and the read of a small cached file (bench/README.md, perf).
    // Anything else (folders, large or missing files) goes to the blocking
    // pool.
    if small_ok && !slash {
        if let Some(plan) = small_inline(&decoded, gzip_ok, |p| storage.open(p).ok()) {
            return respond(req, plan, &raw, &decoded);
        }
    }
    let path = decoded.clone();
    let plan = match web::block(move || plan(&storage, &path, slash, gzip_ok, small_ok)).await {
        Ok(p) => p,
        Err(e) => {
            log::warn!("/s/: blocking task failed: {e}");
            return plain(
                StatusCode::INTERNAL_SERVER_ERROR,
                "500 Internal Server Error",
            );
        }
    };
    respond(req, plan, &raw, &decoded)
}

/// The fast path on the worker thread: the `.gz` sidecar (when accepted)
/// or the file itself, when it is a regular file of at most
/// [`small::SMALL_FILE_MAX_BYTES`]; `None` for anything else (then decided on
/// the blocking pool, errors included). `open` opens through the storage
/// (`Storage::open`, or `open_reusing_root` on a connection's own path).
fn small_inline(
    path: &OsStr,
    gzip_ok: bool,
    mut open: impl FnMut(&Path) -> Option<qaboard_storage::Opened>,
) -> Option<Plan> {
    let read = |opened: qaboard_storage::Opened, gzip: bool| -> Option<Plan> {
        match small::read(&opened.file, &opened.metadata)? {
            Ok(file) => Some(Plan::Small { file, gzip }),
            Err(_) => None,
        }
    };
    if gzip_ok {
        if let Some(opened) = open(&with_gz(path)).filter(|o| o.metadata.is_file()) {
            return read(opened, true);
        }
    }
    let opened = open(Path::new(path)).filter(|o| o.metadata.is_file())?;
    read(opened, false)
}

/// The answer of a decided plan.
fn respond(req: &HttpRequest, plan: Plan, raw: &str, decoded: &OsStr) -> HttpResponse {
    match plan {
        Plan::File { opened, gzip } => {
            // Named after the requested path: the type of `a.json.gz` is JSON.
            let named = match NamedFile::from_file(opened.file, PathBuf::from(&decoded)) {
                Ok(n) => n,
                Err(source) => {
                    let path = opened.path;
                    return error_response(&StorageError::Io { path, source });
                }
            };
            // Small files are read on the worker thread: the first chunk is
            // then ready with the headers and goes in the same TCP write
            // (a separate write after the head waits ~40 ms for a delayed
            // ACK on keep-alive connections without TCP_NODELAY).
            let mut named = named
                .disable_content_disposition()
                .prefer_utf8(false)
                .read_mode_threshold(SYNC_READ_MAX_BYTES);
            if gzip {
                named = named.set_content_encoding(ContentEncoding::Gzip);
            }
            let mut res = named.into_response(req);
            if gzip {
                res.headers_mut()
                    .insert(header::VARY, HeaderValue::from_static("Accept-Encoding"));
            }
            res
        }
        Plan::Small { file, gzip } => small::respond(file, Path::new(decoded), gzip),
        Plan::Gunzip(opened) => gunzip_response(req, opened, decoded),
        Plan::Redirect => {
            let mut location = format!("{raw}/");
            if let Some(q) = req.uri().query() {
                location = format!("{location}?{q}");
            }
            HttpResponse::MovedPermanently()
                .insert_header((header::LOCATION, location))
                .content_type("text/plain; charset=utf-8")
                .body("301 Moved Permanently")
        }
        Plan::Listing(entries) => HttpResponse::Ok()
            .content_type("text/html; charset=utf-8")
            .insert_header((header::CACHE_CONTROL, "no-cache"))
            .body(listing_html(raw, entries)),
        Plan::Error(e) => error_response(&e),
    }
}

/// Streams the decompressed content of a `.gz` file, 64 KiB at a time,
/// each read on the blocking pool.
fn gunzip_response(req: &HttpRequest, opened: Opened, decoded: &OsStr) -> HttpResponse {
    let mime = mime_guess::from_path(PathBuf::from(decoded)).first_or_octet_stream();
    let mut res = HttpResponse::Ok();
    res.content_type(mime.essence_str())
        .insert_header((header::VARY, "Accept-Encoding"));
    if req.method() == Method::HEAD {
        return res.finish();
    }
    let decoder = Some(flate2::read::MultiGzDecoder::new(opened.file));
    let stream = futures_util::stream::unfold(decoder, |state| async move {
        let mut dec = state?;
        let read = web::block(move || {
            let mut buf = vec![0u8; 64 * 1024];
            let r = loop {
                match dec.read(&mut buf) {
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                    r => break r,
                }
            };
            (dec, buf, r)
        })
        .await;
        match read {
            Ok((_, _, Ok(0))) => None,
            Ok((dec, mut buf, Ok(n))) => {
                buf.truncate(n);
                Some((Ok(web::Bytes::from(buf)), Some(dec)))
            }
            Ok((_, _, Err(e))) => {
                log::warn!("/s/: bad gzip data: {e}");
                Some((Err(actix_web::error::ErrorInternalServerError(e)), None))
            }
            Err(e) => Some((Err(actix_web::error::ErrorInternalServerError(e)), None)),
        }
    });
    res.streaming(stream)
}

/// A plain-text answer (never JSON: the webapp reads these bodies as text).
pub(crate) fn plain(status: StatusCode, text: &'static str) -> HttpResponse {
    HttpResponse::build(status)
        .content_type("text/plain; charset=utf-8")
        .body(text)
}

/// 404 for what is missing or not under a root, 403 for what is refused.
fn error_response(e: &StorageError) -> HttpResponse {
    match e {
        StorageError::OutsideRoots(_)
        | StorageError::NotFound(_)
        | StorageError::WrongKind { .. } => {
            log::debug!("/s/: {e}");
            plain(StatusCode::NOT_FOUND, "404 Not Found")
        }
        StorageError::Forbidden { .. } => {
            log::info!("/s/ refused: {e}");
            plain(StatusCode::FORBIDDEN, "403 Forbidden")
        }
        _ => {
            log::warn!("/s/: {e}");
            plain(
                StatusCode::INTERNAL_SERVER_ERROR,
                "500 Internal Server Error",
            )
        }
    }
}

/// Characters escaped in listing links: all but unreserved ones.
const HREF: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

pub(crate) fn html_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// The HTML listing of a folder (as nginx `autoindex`: folders first, then
/// files, by name; links relative; modification time UTC; size in bytes).
fn listing_html(raw_path: &str, mut entries: Vec<DirEntryInfo>) -> String {
    use std::fmt::Write;
    entries.sort_by(|a, b| b.is_dir.cmp(&a.is_dir).then_with(|| a.name.cmp(&b.name)));
    let title = html_escape(&String::from_utf8_lossy(
        &percent_decode(raw_path.as_bytes()).collect::<Vec<u8>>(),
    ));
    let mut html = format!(
        "<!DOCTYPE html>\n<html>\n<head><meta charset=\"utf-8\"><title>Index of {title}</title></head>\n\
         <body>\n<h1>Index of {title}</h1><hr><pre><a href=\"../\">../</a>\n"
    );
    for e in entries {
        let bytes = e.name.as_bytes();
        let href: String = percent_encoding::percent_encode(bytes, HREF).collect();
        let slash = if e.is_dir { "/" } else { "" };
        let shown = html_escape(&e.name.to_string_lossy());
        let date = e
            .modified
            .map(|t| {
                chrono::DateTime::<chrono::Utc>::from(t)
                    .format("%d-%b-%Y %H:%M")
                    .to_string()
            })
            .unwrap_or_else(|| "-".into());
        let size = if e.is_dir {
            "-".to_string()
        } else {
            e.size.to_string()
        };
        let _ = writeln!(
            html,
            "<a href=\"{href}{slash}\">{shown}{slash}</a> {date:>20} {size:>20}"
        );
    }
    html.push_str("</pre><hr></body>\n</html>\n");
    html
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merges_slashes_and_escapes() {
        assert_eq!(merged_raw_path("/s//mnt///a/"), "/s/mnt/a/");
        assert_eq!(
            html_escape("<a href=\"x\">&'"),
            "&lt;a href=&quot;x&quot;&gt;&amp;&#39;"
        );
        assert_eq!(
            decode_path("/a%2e%2e/%2F%00"),
            OsString::from_vec(b"/a..//\0".to_vec())
        );
    }
}
