//! Plain small-file requests answered on the connection itself, before
//! actix-http's dispatcher (issue 10: small files at nginx's rate).
//!
//! [`serve`] reads a connection's requests and answers each one of the
//! plain case of [`crate::front`] itself (a `GET`/`HEAD` of a small file
//! under `/s/`), with a response written by hand: the status line,
//! `content-length`, the headers the App would give
//! ([`crate::static_files::PlainFile::each_header`]), `date`, then the body.
//! The request metrics and the access log are recorded as the front service
//! records them ([`crate::front::PlainRecorder`]). That skips the
//! dispatcher's per-request machinery (header map, request and response
//! objects, codec, timers): with the root handle kept for the connection
//! ([`qaboard_storage::RootCache`]) a plain request takes about half the
//! user-space instructions it took through the dispatcher (bench/README.md,
//! "Small files answered on the connection").
//!
//! The first request that is anything else goes, with every byte already
//! read, to the dispatcher, which then serves the rest of the connection as
//! before ([`super::PrefixedIo`]). "Anything else": not complete in the
//! first read, not `GET`/`HEAD`, not HTTP/1.1, a target that is not of the
//! plain shape ([`crate::static_files::plain_target`]) or that the `http`
//! crate rejects, a body (`Content-Length`, `Transfer-Encoding`), `Expect`,
//! `Upgrade`, a `Connection` other than `keep-alive`, a range or
//! conditional header, more than 32 headers, or a file that is not a small
//! regular file under the storage roots. So browsers' connections that mix
//! files and API calls, and every error case, stay with the dispatcher.
//!
//! Timeouts as the dispatcher's: the first request must start arriving
//! within `client_request_timeout_secs` (else `408` with a JSON body through
//! [`super::JsonErrorIo`], and the connection closes); an idle connection
//! closes after `keep_alive_secs`. A request handed over after arriving in
//! parts gets the dispatcher's full head timeout from then on. With
//! keep-alive disabled (0) every connection goes to the dispatcher.
use std::cell::RefCell;
use std::rc::Rc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use actix_http::{RequestHead, Version};
use actix_web::http::{Method, Uri};
use actix_web::web::{Buf, BytesMut};
use qaboard_storage::{RootCache, Storage};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use super::PrefixedIo;
use crate::front::PlainRecorder;
use crate::static_files::{
    accept_encoding_allows_gzip, is_conditional_header, open_plain, plain_target, PlainFile,
};

/// Bytes asked of each read: heads of browsers' requests fit.
const READ_SIZE: usize = 8192;

/// What [`serve`] needs, one per worker.
pub struct PlainFiles {
    storage: Storage,
    record: PlainRecorder,
    /// The first request's deadline (`None`: no deadline).
    first_request: Option<Duration>,
    /// Idle time allowed between requests (`None`: keep-alive disabled).
    keep_alive: Option<Duration>,
}

impl PlainFiles {
    /// Plain files of `storage`, recorded into `record`, with the
    /// connection timeouts of the server (`Duration::ZERO`: no head
    /// deadline, resp. keep-alive disabled, as actix-http reads them).
    pub(crate) fn new(
        storage: Storage,
        record: PlainRecorder,
        client_request_timeout: Duration,
        keep_alive: Duration,
    ) -> Self {
        PlainFiles {
            storage,
            record,
            first_request: (!client_request_timeout.is_zero()).then_some(client_request_timeout),
            keep_alive: (!keep_alive.is_zero()).then_some(keep_alive),
        }
    }
}

/// Answers the plain requests of `io` (see the module); returns the
/// connection for the dispatcher: with the bytes of the first request not
/// answered here, or reading as closed when the connection ended here.
pub async fn serve<T>(mut io: T, ctx: Rc<PlainFiles>) -> PrefixedIo<T>
where
    T: AsyncRead + AsyncWrite + Unpin,
{
    let Some(keep_alive) = ctx.keep_alive else {
        return PrefixedIo::new(BytesMut::new(), io);
    };
    let mut buf = BytesMut::with_capacity(READ_SIZE);
    let mut out = Vec::with_capacity(4096);
    let mut first = true;
    // Root handles reused between this connection's requests.
    let mut roots = RootCache::default();
    loop {
        if buf.is_empty() {
            // Room for a whole head in one read (an empty buffer's space is
            // reused from its start): a head read in parts goes to the dispatcher.
            buf.reserve(READ_SIZE);
            let wait = if first {
                ctx.first_request
            } else {
                Some(keep_alive)
            };
            let read = match wait {
                Some(wait) => tokio::time::timeout(wait, io.read_buf(&mut buf)).await,
                None => Ok(io.read_buf(&mut buf).await),
            };
            match read {
                Ok(Ok(0)) | Ok(Err(_)) => return PrefixedIo::closed(io),
                Ok(Ok(_)) => {}
                Err(_) if first => {
                    // The dispatcher's own answer; `JsonErrorIo` gives it its body.
                    out.clear();
                    out.extend_from_slice(
                        b"HTTP/1.1 408 Request Timeout\r\ncontent-length: 0\r\nconnection: close\r\ndate: ",
                    );
                    push_date(&mut out);
                    out.extend_from_slice(b"\r\n\r\n");
                    let _ = io.write_all(&out).await;
                    let _ = io.shutdown().await;
                    return PrefixedIo::closed(io);
                }
                Err(_) => return PrefixedIo::closed(io),
            }
        }
        first = false;
        let start = Instant::now();
        let Some(plain) = plain_request(&buf) else {
            return PrefixedIo::new(buf, io);
        };
        let open = |p: &std::path::Path| ctx.storage.open_reusing_root(p, &mut roots).ok();
        let Some(file) = open_plain(plain.head.uri.path(), plain.gzip_ok, open) else {
            return PrefixedIo::new(buf, io);
        };
        out.clear();
        render(&file, plain.head.method == Method::HEAD, &mut out);
        if io.write_all(&out).await.is_err() {
            return PrefixedIo::closed(io);
        }
        ctx.record.record(&plain.head, file.len(), start);
        buf.advance(plain.len);
    }
}

/// A complete request of the plain shape at the start of a buffer.
struct PlainRequest {
    /// Method, target and version (no headers: only the log reads it).
    head: RequestHead,
    /// Whether `Accept-Encoding` allows gzip.
    gzip_ok: bool,
    /// Bytes of the request in the buffer.
    len: usize,
}

/// The request at the start of `buf` when it is complete and of the plain
/// shape (see the module), else `None`.
fn plain_request(buf: &[u8]) -> Option<PlainRequest> {
    let mut headers = [httparse::EMPTY_HEADER; 32];
    let mut req = httparse::Request::new(&mut headers);
    let httparse::Status::Complete(len) = req.parse(buf).ok()? else {
        return None;
    };
    let method = match req.method? {
        "GET" => Method::GET,
        "HEAD" => Method::HEAD,
        _ => return None,
    };
    if req.version != Some(1) {
        return None;
    }
    // The target as the dispatcher reads it.
    let uri = Uri::try_from(req.path?).ok()?;
    if uri.scheme().is_some() || !plain_target(uri.path(), uri.query()) {
        return None;
    }
    let mut gzip_ok = false;
    for h in req.headers.iter() {
        let name = h.name;
        let is = |n: &str| name.eq_ignore_ascii_case(n);
        if is_conditional_header(name)
            || is("content-length")
            || is("transfer-encoding")
            || is("expect")
            || is("upgrade")
            || (is("connection") && !h.value.eq_ignore_ascii_case(b"keep-alive"))
        {
            return None;
        }
        if is("accept-encoding") {
            // A value that is not text is ignored, as in the header map.
            gzip_ok |= std::str::from_utf8(h.value).is_ok_and(accept_encoding_allows_gzip);
        }
    }
    let mut head = RequestHead::default();
    head.method = method;
    head.uri = uri;
    head.version = Version::HTTP_11;
    Some(PlainRequest { head, gzip_ok, len })
}

/// The 200 answer of `file` (without its body for a `HEAD`, whose
/// `content-length` still gives the file's size, as the dispatcher does).
fn render(file: &PlainFile, head_only: bool, out: &mut Vec<u8>) {
    use std::io::Write;
    let _ = write!(out, "HTTP/1.1 200 OK\r\ncontent-length: {}\r\n", file.len());
    file.each_header(|name, value| {
        out.extend_from_slice(name.as_str().as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(value);
        out.extend_from_slice(b"\r\n");
    });
    out.extend_from_slice(b"date: ");
    push_date(out);
    out.extend_from_slice(b"\r\n\r\n");
    if !head_only {
        out.extend_from_slice(file.body());
    }
}

thread_local! {
    /// The `Date` value of the current second (RFC 9110 IMF-fixdate), per
    /// thread.
    static DATE: RefCell<(u64, String)> = const { RefCell::new((u64::MAX, String::new())) };
}

/// Appends the current `Date` header value.
fn push_date(out: &mut Vec<u8>) {
    let now = SystemTime::now();
    let secs = now.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    DATE.with(|d| {
        let mut d = d.borrow_mut();
        if d.0 != secs {
            *d = (secs, httpdate::fmt_http_date(now));
        }
        out.extend_from_slice(d.1.as_bytes());
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_plain_requests_are_taken() {
        let ok = |raw: &str| plain_request(raw.as_bytes());
        let r =
            ok("GET /s/mnt/a.json?x=1 HTTP/1.1\r\nHost: h\r\nAccept-Encoding: gzip, br\r\n\r\nGET")
                .expect("plain");
        assert_eq!(r.head.uri.path(), "/s/mnt/a.json");
        assert_eq!(r.head.uri.query(), Some("x=1"));
        assert!(r.gzip_ok);
        assert_eq!(
            r.len,
            "GET /s/mnt/a.json?x=1 HTTP/1.1\r\nHost: h\r\nAccept-Encoding: gzip, br\r\n\r\n".len()
        );
        let h = ok("HEAD /s/mnt/a HTTP/1.1\r\nConnection: Keep-Alive\r\n\r\n").expect("plain");
        assert_eq!(h.head.method, Method::HEAD);
        assert!(!h.gzip_ok);
        for raw in [
            "GET /s/mnt/a HTTP/1.1\r\nHost: h\r\n",
            "GET /s/mnt/a HTTP/1.0\r\n\r\n",
            "POST /s/mnt/a HTTP/1.1\r\n\r\n",
            "get /s/mnt/a HTTP/1.1\r\n\r\n",
            "GET /api/v1/output/ HTTP/1.1\r\n\r\n",
            "GET http://h/s/mnt/a HTTP/1.1\r\n\r\n",
            "GET /s/mnt//a HTTP/1.1\r\n\r\n",
            "GET /s/mnt/ HTTP/1.1\r\n\r\n",
            "GET /s/a%00 HTTP/1.1\r\n\r\n",
            "GET /s/mnt/a HTTP/1.1\r\nRange: bytes=0-1\r\n\r\n",
            "GET /s/mnt/a HTTP/1.1\r\nif-none-match: \"x\"\r\n\r\n",
            "GET /s/mnt/a HTTP/1.1\r\nContent-Length: 0\r\n\r\n",
            "GET /s/mnt/a HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n",
            "GET /s/mnt/a HTTP/1.1\r\nConnection: close\r\n\r\n",
            "GET /s/mnt/a HTTP/1.1\r\nConnection: Upgrade\r\nUpgrade: h2c\r\n\r\n",
            "GET /s/mnt/a HTTP/1.1\r\nExpect: 100-continue\r\n\r\n",
        ] {
            assert!(ok(raw).is_none(), "{raw:?}");
        }
        let many = format!("GET /s/a HTTP/1.1\r\n{}\r\n", "X-A: 1\r\n".repeat(33));
        assert!(ok(&many).is_none());
    }

    #[test]
    fn dates_are_imf_fixdate() {
        let mut out = Vec::new();
        push_date(&mut out);
        let text = String::from_utf8(out).unwrap();
        assert_eq!(text.len(), 29, "{text}");
        assert!(text.ends_with(" GMT"), "{text}");
    }
}
