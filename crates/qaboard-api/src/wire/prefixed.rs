//! A connection handed to actix-http's dispatcher with the bytes already
//! read from it ([`super::plain_files`] reads a request before it knows
//! whether it answers it itself).
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use actix_web::web::{Buf, BytesMut};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// `io` whose reads first give `prefix`; `closed` ends reads at once (a
/// connection already finished: the dispatcher then just returns).
#[derive(Debug)]
pub struct PrefixedIo<T> {
    prefix: BytesMut,
    closed: bool,
    io: T,
}

impl<T> PrefixedIo<T> {
    /// `io` whose next reads give `prefix` first.
    pub fn new(prefix: BytesMut, io: T) -> Self {
        PrefixedIo {
            prefix,
            closed: false,
            io,
        }
    }

    /// `io` that reads as closed (end of stream).
    pub fn closed(io: T) -> Self {
        PrefixedIo {
            prefix: BytesMut::new(),
            closed: true,
            io,
        }
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for PrefixedIo<T> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = &mut *self;
        if this.closed {
            return Poll::Ready(Ok(()));
        }
        if !this.prefix.is_empty() {
            let n = this.prefix.len().min(buf.remaining());
            buf.put_slice(&this.prefix[..n]);
            this.prefix.advance(n);
            return Poll::Ready(Ok(()));
        }
        Pin::new(&mut this.io).poll_read(cx, buf)
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for PrefixedIo<T> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.io).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_shutdown(cx)
    }
}
