//! The small-file fast path of `/s/`: files up to [`SMALL_FILE_MAX_BYTES`]
//! asked without `Range` or conditional headers (the webapp's manifests,
//! logs, metrics and thumbnails; every first visit) are read whole on the
//! blocking thread that opened them, and answered as one buffer with the
//! same headers `NamedFile` would give (`Content-Type` from the extension,
//! strong `ETag` in actix-files' format, `Last-Modified`, `Accept-Ranges`).
//! Requests with `Range`, `If-Range`, `If-Match`, `If-None-Match`,
//! `If-Modified-Since` or `If-Unmodified-Since` take the general path, so
//! 206/304/412/416 behave exactly as there.
use std::cell::RefCell;
use std::ffi::OsString;
use std::io::Read;
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};

use actix_web::http::header::{self, HeaderValue};
use actix_web::{web, HttpRequest, HttpResponse};

/// Files up to this size take the fast path (and, on the general path, are
/// read on the worker thread: see `answer`).
pub(super) const SMALL_FILE_MAX_BYTES: u64 = 64 * 1024;

/// Whether the request may take the fast path: no header that makes the
/// answer depend on the file's validators or asks for a part.
pub(super) fn eligible(req: &HttpRequest) -> bool {
    let h = req.headers();
    !(h.contains_key(header::RANGE)
        || h.contains_key(header::IF_RANGE)
        || h.contains_key(header::IF_MATCH)
        || h.contains_key(header::IF_NONE_MATCH)
        || h.contains_key(header::IF_MODIFIED_SINCE)
        || h.contains_key(header::IF_UNMODIFIED_SINCE))
}

/// A small file read whole, with its header values computed on the
/// blocking thread.
pub(super) struct SmallFile {
    body: web::Bytes,
    etag: Option<HeaderValue>,
    last_modified: Option<HeaderValue>,
}

impl SmallFile {
    /// Bytes of the body.
    pub(super) fn len(&self) -> usize {
        self.body.len()
    }
}

/// Reads `file` whole when `meta` says it is at most
/// [`SMALL_FILE_MAX_BYTES`]; `None` (nothing consumed) when it is larger.
/// A file that grows while read is cut at the size `fstat` gave, so the
/// bytes match the `ETag`.
pub(super) fn read(
    file: &std::fs::File,
    meta: &std::fs::Metadata,
) -> Option<std::io::Result<SmallFile>> {
    let len = meta.len();
    if len > SMALL_FILE_MAX_BYTES {
        return None;
    }
    let mut buf = Vec::with_capacity(len as usize);
    if let Err(e) = file.take(len).read_to_end(&mut buf) {
        return Some(Err(e));
    }
    let modified = meta.modified().ok();
    Some(Ok(SmallFile {
        body: web::Bytes::from(buf),
        etag: modified.map(|m| etag(meta, m)),
        last_modified: modified.and_then(last_modified),
    }))
}

/// actix-files 0.7's strong ETag: `"<ino>:<len>:<secs>:<nanos>"` in hex,
/// seconds as two's complement for times before 1970; kept identical so a
/// later conditional request (general path) matches it.
fn etag(meta: &std::fs::Metadata, mtime: SystemTime) -> HeaderValue {
    let (secs, nanos) = match mtime.duration_since(UNIX_EPOCH) {
        Ok(d) => (d.as_secs() as i64, d.subsec_nanos()),
        Err(e) => {
            let d = e.duration();
            if d.subsec_nanos() == 0 {
                (-(d.as_secs() as i64), 0)
            } else {
                (-(d.as_secs() as i64) - 1, 1_000_000_000 - d.subsec_nanos())
            }
        }
    };
    let tag = format!(
        "\"{:x}:{:x}:{:x}:{:x}\"",
        meta.ino(),
        meta.len(),
        secs as u64,
        nanos
    );
    HeaderValue::from_str(&tag).expect("hex digits and colons")
}

/// `Last-Modified` as actix-files gives it: none before 1970 or from the
/// year 9999 on (the HTTP date format's range).
fn last_modified(mtime: SystemTime) -> Option<HeaderValue> {
    let secs = mtime.duration_since(UNIX_EPOCH).ok()?.as_secs();
    if secs >= 253_402_300_800 {
        return None;
    }
    let date = header::HttpDate::from(mtime).to_string();
    HeaderValue::from_str(&date).ok()
}

/// Each header of the 200 answer of a small file, in order: `path` (as
/// requested, without `.gz`) gives the content type, `gzip` marks the `.gz`
/// sidecar. `Content-Length` and `Date` are the HTTP layer's.
pub(super) fn each_header(
    small: &SmallFile,
    path: &Path,
    gzip: bool,
    mut f: impl FnMut(header::HeaderName, HeaderValue),
) {
    if let Some(v) = content_type(path) {
        f(header::CONTENT_TYPE, v);
    }
    f(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    if let Some(lm) = &small.last_modified {
        f(header::LAST_MODIFIED, lm.clone());
    }
    if let Some(etag) = &small.etag {
        f(header::ETAG, etag.clone());
    }
    if gzip {
        f(header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
        f(header::VARY, HeaderValue::from_static("Accept-Encoding"));
    }
}

/// The `Content-Type` of `path` from its extension (`mime_guess`), the
/// last extension's value kept per thread: a page's files mostly share one.
fn content_type(path: &Path) -> Option<HeaderValue> {
    thread_local! {
        static LAST: RefCell<Option<(OsString, HeaderValue)>> = const { RefCell::new(None) };
    }
    let ext = path.extension().unwrap_or_default();
    LAST.with(|last| {
        let mut last = last.borrow_mut();
        if let Some((e, v)) = &*last {
            if e == ext {
                return Some(v.clone());
            }
        }
        let mime = mime_guess::from_path(path).first_or_octet_stream();
        let v = HeaderValue::from_str(mime.as_ref()).ok()?;
        *last = Some((ext.to_os_string(), v.clone()));
        Some(v)
    })
}

/// The body of a small file.
pub(super) fn body(small: &SmallFile) -> &[u8] {
    &small.body
}

/// The 200 answer of a small file (headers of [`each_header`]).
pub(super) fn respond(small: SmallFile, path: &Path, gzip: bool) -> HttpResponse {
    let mut res = HttpResponse::Ok();
    each_header(&small, path, gzip, |name, value| {
        res.insert_header((name, value));
    });
    res.body(small.body)
}
