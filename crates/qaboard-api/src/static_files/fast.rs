//! The plain case of `/s/`, answered in front of the actix-web App by
//! [`crate::front`] (issue 10: small files at nginx's rate).
//!
//! The plain case: `GET` or `HEAD` of `/s/<path>` where the raw path has no
//! repeated slash, no trailing slash and no `%00` (neither has the query),
//! no `Range`, `If-Range`, `If-Match`, `If-None-Match`, `If-Modified-Since` or
//! `If-Unmodified-Since` header, and the path (decoded once) names a regular
//! file of at most 64 KiB, or its `.gz` sidecar of at most 64 KiB when the
//! client accepts gzip, opened through the storage exactly as the full
//! path opens it (`small_inline`). The answer is the one the full path
//! gives (`small::respond` plus CORS `*`), so nothing a client sees differs.
//! Anything else, a failed open included (missing, refused, `..`, outside
//! the roots, a folder, a larger file), returns `None` and the request goes
//! to the App unchanged, which then answers it as before (404/403 bodies,
//! redirects, listings, 206/304, NUL refusals).
use std::ffi::OsString;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use actix_http::RequestHead;
use actix_web::http::header::{self, HeaderValue};
use actix_web::http::Method;
use actix_web::HttpResponse;
use qaboard_storage::Storage;

use super::{decode_path, headers_accept_gzip, small, small_inline, Plan};

/// The answer of a plain `/s/` request.
#[derive(Debug)]
pub struct FastAnswer {
    /// The 200 response, headers as the full path gives them.
    pub response: HttpResponse,
    /// Bytes of its body (the access log's `%b`; a `HEAD` is counted as
    /// the full path's log counts it, with the body the codec then drops).
    pub body_len: usize,
}

/// A small file found for a request of the plain case, read whole: what
/// both the front service ([`plain_file_answer`]) and the connection's own
/// HTTP/1 answers (`crate::wire::plain_files`) send.
pub(crate) struct PlainFile {
    small: small::SmallFile,
    /// The path as requested (decoded, without `.gz`): the content type.
    path: OsString,
    /// Whether `small` is the `.gz` sidecar (`Content-Encoding: gzip`).
    gzip: bool,
}

impl PlainFile {
    /// Bytes of the body.
    pub(crate) fn len(&self) -> usize {
        self.small.len()
    }

    /// The body.
    pub(crate) fn body(&self) -> &[u8] {
        small::body(&self.small)
    }

    /// Each header of the answer (the full path's, CORS `*` last), without
    /// `Content-Length` and `Date`.
    pub(crate) fn each_header(&self, mut f: impl FnMut(&header::HeaderName, &[u8])) {
        small::each_header(&self.small, Path::new(&self.path), self.gzip, &mut f);
        f(&header::ACCESS_CONTROL_ALLOW_ORIGIN, b"*");
    }

    /// The answer as an actix response.
    fn into_response(self) -> HttpResponse {
        let mut res = small::respond(self.small, Path::new(&self.path), self.gzip);
        res.headers_mut().insert(
            header::ACCESS_CONTROL_ALLOW_ORIGIN,
            HeaderValue::from_static("*"),
        );
        res
    }
}

/// Whether the raw request path and query (still percent-encoded) are of
/// the plain case's shape: `/s/<something>`, no repeated or trailing slash,
/// no `%00` in either. Touches no file.
pub(crate) fn plain_target(path: &str, query: Option<&str>) -> bool {
    path.len() > 3
        && path.starts_with("/s/")
        && !path.ends_with('/')
        && !path.contains("//")
        && !path.contains("%00")
        && !query.is_some_and(|q| q.contains("%00"))
}

/// Whether the request is of the plain case's shape (method, target,
/// headers); touches no file.
fn plain_shape(head: &RequestHead) -> Option<&str> {
    if head.method != Method::GET && head.method != Method::HEAD {
        return None;
    }
    let path = head.uri.path();
    if !plain_target(path, head.uri.query()) {
        return None;
    }
    let h = &head.headers;
    let conditional = h.contains_key(header::RANGE)
        || h.contains_key(header::IF_RANGE)
        || h.contains_key(header::IF_MATCH)
        || h.contains_key(header::IF_NONE_MATCH)
        || h.contains_key(header::IF_MODIFIED_SINCE)
        || h.contains_key(header::IF_UNMODIFIED_SINCE);
    (!conditional).then_some(path)
}

/// Whether a request header, by its name, takes a request out of the plain
/// case (a part, a condition): the names [`plain_shape`] looks for.
pub(crate) fn is_conditional_header(name: &str) -> bool {
    [
        header::RANGE,
        header::IF_RANGE,
        header::IF_MATCH,
        header::IF_NONE_MATCH,
        header::IF_MODIFIED_SINCE,
        header::IF_UNMODIFIED_SINCE,
    ]
    .iter()
    .any(|h| name.eq_ignore_ascii_case(h.as_str()))
}

/// The small file of a request whose path is of the plain shape
/// ([`plain_target`]): `path` still percent-encoded, starting with `/s/`;
/// `gzip_ok` when the client accepts gzip; `open` opens through the storage
/// (see `small_inline`). `None` when it is not a regular file of at most
/// 64 KiB reachable under the storage roots (the App then answers).
pub(crate) fn open_plain(
    path: &str,
    gzip_ok: bool,
    open: impl FnMut(&Path) -> Option<qaboard_storage::Opened>,
) -> Option<PlainFile> {
    // `/s` removed, the leading `/` of the absolute path kept.
    let decoded = decode_path(&path[2..]);
    if decoded.as_bytes().ends_with(b"/") || decoded.as_bytes().contains(&0) {
        return None;
    }
    let Plan::Small { file, gzip } = small_inline(&decoded, gzip_ok, open)? else {
        return None;
    };
    Some(PlainFile {
        small: file,
        path: decoded,
        gzip,
    })
}

/// The answer of a plain `/s/` request (see the module), or `None` when the
/// request is not of that case and must go to the App.
pub fn plain_file_answer(storage: &Storage, head: &RequestHead) -> Option<FastAnswer> {
    let path = plain_shape(head)?;
    let file = open_plain(path, headers_accept_gzip(&head.headers), |p| {
        storage.open(p).ok()
    })?;
    let body_len = file.len();
    Some(FastAnswer {
        response: file.into_response(),
        body_len,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn head(method: Method, uri: &str, headers: &[(&str, &str)]) -> RequestHead {
        let mut h = RequestHead::default();
        h.method = method;
        h.uri = uri.parse().expect("uri");
        for (k, v) in headers {
            h.headers.insert(
                header::HeaderName::from_bytes(k.as_bytes()).expect("name"),
                HeaderValue::from_str(v).expect("value"),
            );
        }
        h
    }

    #[test]
    fn small_files_are_answered_and_the_rest_left_to_the_app() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        std::fs::write(root.join("a.json"), b"{}").unwrap();
        std::fs::write(root.join("b.txt"), b"plain").unwrap();
        std::fs::write(root.join("b.txt.gz"), b"gz").unwrap();
        std::fs::write(root.join("big.bin"), vec![0u8; 64 * 1024 + 1]).unwrap();
        std::fs::create_dir(root.join("sub")).unwrap();
        let storage = Storage::new(vec![root.to_path_buf()]).unwrap();
        let r = root.to_str().unwrap();
        let get = |p: &str, h: &[(&str, &str)]| {
            plain_file_answer(&storage, &head(Method::GET, &format!("/s{r}/{p}"), h))
        };
        let a = get("a.json", &[]).expect("answered here");
        assert_eq!(a.body_len, 2);
        assert_eq!(a.response.status(), 200);
        let h = a.response.headers();
        assert_eq!(h.get("access-control-allow-origin").unwrap(), "*");
        assert_eq!(h.get("content-type").unwrap(), "application/json");
        assert!(h.contains_key("etag") && h.contains_key("last-modified"));
        let gz = get("b.txt", &[("accept-encoding", "gzip")]).expect("the sidecar");
        assert_eq!(gz.body_len, 2);
        assert_eq!(
            gz.response.headers().get("content-encoding").unwrap(),
            "gzip"
        );
        assert_eq!(get("b.txt", &[]).expect("the file").body_len, 5);
        for p in [
            "big.bin",
            "sub",
            "missing",
            "a.json/%2e%2e/a.json",
            "%2e%2e/x",
        ] {
            assert!(get(p, &[]).is_none(), "{p}");
        }
        let outside = head(Method::GET, "/s/etc/hostname", &[]);
        assert!(plain_file_answer(&storage, &outside).is_none());
    }

    #[test]
    fn only_the_plain_shape_is_taken() {
        assert!(plain_shape(&head(Method::GET, "/s/mnt/a.json", &[])).is_some());
        assert!(plain_shape(&head(Method::HEAD, "/s/mnt/a.json?x=1", &[])).is_some());
        for uri in [
            "/s/",
            "/s",
            "/s/mnt/",
            "/s//mnt/a",
            "/s/mnt//a",
            "/s/mnt/a%00b",
            "/s/mnt/a?x=%00",
            "/api/v1/output/",
            "/sx/a",
        ] {
            assert!(plain_shape(&head(Method::GET, uri, &[])).is_none(), "{uri}");
        }
        assert!(plain_shape(&head(Method::POST, "/s/mnt/a", &[])).is_none());
        assert!(plain_shape(&head(Method::OPTIONS, "/s/mnt/a", &[])).is_none());
        for h in [
            "range",
            "if-range",
            "if-match",
            "if-none-match",
            "if-modified-since",
            "if-unmodified-since",
        ] {
            assert!(
                plain_shape(&head(Method::GET, "/s/mnt/a", &[(h, "x")])).is_none(),
                "{h}"
            );
        }
    }
}
