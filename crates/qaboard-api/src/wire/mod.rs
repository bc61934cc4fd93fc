//! JSON bodies for the errors actix-http's HTTP/1 parser answers by itself (issue 9, item 12).
//!
//! A request whose line or headers cannot be parsed (400), whose head is too large (431), or
//! whose head does not arrive in time (408) is answered by actix-http's dispatcher before any
//! middleware runs, with an empty body and no hook to change it. [`JsonErrorIo`] wraps each
//! accepted connection and rewrites exactly such answers on their way out: a response head with
//! a status ≥ 400, `content-length: 0` and no `content-type` gets
//! `{"error": "<what went wrong>"}` and `content-type: application/json`. Every answer the
//! application itself sends already has a body (`hardening::json_error_bodies`), so only the
//! dispatcher's own answers match.
pub mod plain_files;
mod prefixed;

pub use prefixed::PrefixedIo;

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use actix_web::rt::net::TcpStream;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// A connection whose empty error answers get JSON bodies (see the module).
#[derive(Debug)]
pub struct JsonErrorIo {
    io: TcpStream,
    /// A rewritten answer still being written, and how much of it is written.
    pending: Option<(Vec<u8>, usize)>,
}

impl JsonErrorIo {
    /// Wraps an accepted connection (and turns Nagle off: small answers leave at once).
    pub fn new(io: TcpStream) -> JsonErrorIo {
        let _ = io.set_nodelay(true);
        JsonErrorIo { io, pending: None }
    }

    /// Writes what is left of a rewritten answer.
    fn poll_pending(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        while let Some((bytes, done)) = &mut self.pending {
            if *done == bytes.len() {
                self.pending = None;
                break;
            }
            match Pin::new(&mut self.io).poll_write(cx, &bytes[*done..]) {
                Poll::Ready(Ok(0)) => return Poll::Ready(Err(io::ErrorKind::WriteZero.into())),
                Poll::Ready(Ok(n)) => *done += n,
                Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                Poll::Pending => return Poll::Pending,
            }
        }
        Poll::Ready(Ok(()))
    }
}

/// What an empty dispatcher answer meant, in English.
fn reason(status: u16) -> &'static str {
    match status {
        400 => {
            "the request could not be parsed as HTTP/1.1 (request line, headers or chunked body)"
        }
        408 => "the request head did not arrive in time",
        413 => "the request body is larger than the limit",
        414 => "the request URL is too long",
        431 => "the request headers are too large or too many",
        _ => "the request could not be handled",
    }
}

/// The rewritten answer when `buf` starts with a complete empty error answer: (new bytes, the
/// length of the original answer in `buf`).
pub fn rewrite_empty_error(buf: &[u8]) -> Option<(Vec<u8>, usize)> {
    // `HTTP/1.x NNN `: only 4xx/5xx heads are parsed (every write of every answer comes here).
    if !buf.starts_with(b"HTTP/1.") || !matches!(buf.get(9), Some(b'4' | b'5')) {
        return None;
    }
    let mut headers = [httparse::EMPTY_HEADER; 32];
    let mut head = httparse::Response::new(&mut headers);
    let httparse::Status::Complete(len) = head.parse(buf).ok()? else {
        return None;
    };
    let status = head.code?;
    if status < 400 {
        return None;
    }
    let mut empty = false;
    for h in head.headers.iter() {
        if h.name.eq_ignore_ascii_case("content-type")
            || h.name.eq_ignore_ascii_case("transfer-encoding")
        {
            return None;
        }
        if h.name.eq_ignore_ascii_case("content-length") {
            empty = h.value == b"0";
        }
    }
    if !empty {
        return None;
    }
    let body = serde_json::json!({ "error": reason(status) }).to_string();
    let mut out = Vec::with_capacity(len + body.len() + 64);
    out.extend_from_slice(
        format!("HTTP/1.1 {status} {}\r\n", head.reason.unwrap_or_default()).as_bytes(),
    );
    for h in head.headers.iter() {
        if !h.name.eq_ignore_ascii_case("content-length") {
            out.extend_from_slice(h.name.as_bytes());
            out.extend_from_slice(b": ");
            out.extend_from_slice(h.value);
            out.extend_from_slice(b"\r\n");
        }
    }
    out.extend_from_slice(
        format!(
            "content-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
            body.len()
        )
        .as_bytes(),
    );
    Some((out, len))
}

impl AsyncRead for JsonErrorIo {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_read(cx, buf)
    }
}

impl AsyncWrite for JsonErrorIo {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = &mut *self;
        match this.poll_pending(cx) {
            Poll::Ready(Ok(())) => {}
            Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
            Poll::Pending => return Poll::Pending,
        }
        if let Some((rewritten, consumed)) = rewrite_empty_error(buf) {
            // The original bytes are taken; the rewritten ones leave now or on the next polls
            // (the dispatcher flushes after writing).
            this.pending = Some((rewritten, 0));
            if let Poll::Ready(Err(e)) = this.poll_pending(cx) {
                return Poll::Ready(Err(e));
            }
            return Poll::Ready(Ok(consumed));
        }
        Pin::new(&mut this.io).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = &mut *self;
        match this.poll_pending(cx) {
            Poll::Ready(Ok(())) => Pin::new(&mut this.io).poll_flush(cx),
            other => other,
        }
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = &mut *self;
        match this.poll_pending(cx) {
            Poll::Ready(Ok(())) => Pin::new(&mut this.io).poll_shutdown(cx),
            other => other,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::rewrite_empty_error;

    #[test]
    fn only_empty_error_answers_are_rewritten() {
        let raw = b"HTTP/1.1 431 Request Header Fields Too Large\r\ncontent-length: 0\r\nconnection: close\r\ndate: x\r\n\r\n";
        let (out, consumed) = rewrite_empty_error(raw).unwrap();
        assert_eq!(consumed, raw.len());
        let text = String::from_utf8(out).unwrap();
        let (head, body) = text.split_once("\r\n\r\n").unwrap();
        assert!(head.starts_with("HTTP/1.1 431 Request Header Fields Too Large\r\n"));
        assert!(head.contains("connection: close"));
        assert!(head.contains("content-type: application/json"));
        assert!(head.contains(&format!("content-length: {}", body.len())));
        let v: serde_json::Value = serde_json::from_str(body).unwrap();
        assert!(v["error"].as_str().unwrap().contains("headers"));

        for kept in [
            &b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n"[..],
            b"HTTP/1.1 404 Not Found\r\ncontent-length: 2\r\n\r\n{}",
            b"HTTP/1.1 400 Bad Request\r\ncontent-type: text/plain\r\ncontent-length: 0\r\n\r\n",
            b"HTTP/1.1 400 Bad Request\r\ncontent-len",
            b"{\"error\": 1}",
        ] {
            assert!(rewrite_empty_error(kept).is_none());
        }
    }
}
