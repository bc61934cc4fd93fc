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

/// A small file read whole, with what its `ETag` and `Last-Modified` are
/// made of (written out when answered, without allocating).
pub(super) struct SmallFile {
    body: web::Bytes,
    ino: u64,
    /// The size `fstat` gave (the body is shorter if the file shrank).
    size: u64,
    modified: Option<SystemTime>,
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
    Some(Ok(SmallFile {
        body: web::Bytes::from(buf),
        ino: meta.ino(),
        size: len,
        modified: meta.modified().ok(),
    }))
}

/// A header value of at most 96 bytes written on the stack.
struct StackValue {
    buf: [u8; 96],
    len: usize,
}

impl StackValue {
    fn new() -> StackValue {
        StackValue {
            buf: [0u8; 96],
            len: 0,
        }
    }

    /// Appends `bytes` (a value of this module is never longer than 96).
    fn push(&mut self, bytes: &[u8]) {
        self.buf[self.len..self.len + bytes.len()].copy_from_slice(bytes);
        self.len += bytes.len();
    }

    /// Appends `n` in lower-case hex without leading zeros (`{:x}`).
    fn push_hex(&mut self, n: u64) {
        let mut digits = [0u8; 16];
        let mut i = digits.len();
        let mut n = n;
        loop {
            i -= 1;
            digits[i] = b"0123456789abcdef"[(n & 15) as usize];
            n >>= 4;
            if n == 0 {
                break;
            }
        }
        self.push(&digits[i..]);
    }

    fn bytes(&self) -> &[u8] {
        &self.buf[..self.len]
    }
}

/// actix-files 0.7's strong ETag: `"<ino>:<len>:<secs>:<nanos>"` in hex,
/// seconds as two's complement for times before 1970; kept identical so a
/// later conditional request (general path) matches it.
fn etag(small: &SmallFile, mtime: SystemTime) -> StackValue {
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
    let mut v = StackValue::new();
    v.push(b"\"");
    v.push_hex(small.ino);
    v.push(b":");
    v.push_hex(small.size);
    v.push(b":");
    v.push_hex(secs as u64);
    v.push(b":");
    v.push_hex(u64::from(nanos));
    v.push(b"\"");
    v
}

/// `Last-Modified` as actix-files gives it: none before 1970 or from the
/// year 9999 on (the HTTP date format's range).
fn last_modified(mtime: SystemTime) -> Option<StackValue> {
    let secs = mtime.duration_since(UNIX_EPOCH).ok()?.as_secs();
    if secs >= 253_402_300_800 {
        return None;
    }
    let mut v = StackValue::new();
    let date = header::HttpDate::from(mtime);
    let mut cursor = std::io::Cursor::new(&mut v.buf[..]);
    std::io::Write::write_fmt(&mut cursor, format_args!("{date}")).ok()?;
    v.len = cursor.position() as usize;
    Some(v)
}

/// Each header of the 200 answer of a small file, in order, as name and
/// value bytes: `path` (as requested, without `.gz`) gives the content
/// type, `gzip` marks the `.gz` sidecar. `Content-Length` and `Date` are
/// the HTTP layer's.
pub(super) fn each_header(
    small: &SmallFile,
    path: &Path,
    gzip: bool,
    mut f: impl FnMut(&header::HeaderName, &[u8]),
) {
    if let Some(v) = content_type(path) {
        f(&header::CONTENT_TYPE, v.as_bytes());
    }
    f(&header::ACCEPT_RANGES, b"bytes");
    if let Some(m) = small.modified {
        if let Some(lm) = last_modified(m) {
            f(&header::LAST_MODIFIED, lm.bytes());
        }
        f(&header::ETAG, etag(small, m).bytes());
    }
    if gzip {
        f(&header::CONTENT_ENCODING, b"gzip");
        f(&header::VARY, b"Accept-Encoding");
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
        if let Ok(value) = HeaderValue::from_bytes(value) {
            res.insert_header((name.clone(), value));
        }
    });
    res.body(small.body)
}

#[cfg(test)]
mod tests {
    use super::StackValue;

    #[test]
    fn hex_as_format() {
        for n in [0u64, 1, 15, 16, 0xdead_beef, u64::MAX, (-1i64) as u64] {
            let mut v = StackValue::new();
            v.push_hex(n);
            assert_eq!(v.bytes(), format!("{n:x}").as_bytes());
        }
    }
}
