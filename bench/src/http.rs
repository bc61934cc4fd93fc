//! A minimal HTTP/1.1 client over one keep-alive `TcpStream`.
//!
//! The load generator shares the machine's cores with the server and the
//! database, so the client is kept as cheap as possible: one buffered
//! connection per thread, the request written with a single `write`, the
//! response body read by `Content-Length` (or chunked encoding).
use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::time::Duration;

/// Where the server is: `http://host:port` (a path after it is ignored).
#[derive(Debug, Clone)]
pub struct Target {
    /// Resolved address.
    pub addr: SocketAddr,
    /// The `Host` header.
    pub host: String,
}

impl Target {
    /// Parses `http://host:port[/...]`.
    pub fn parse(url: &str) -> Result<Target, String> {
        let rest = url
            .strip_prefix("http://")
            .ok_or_else(|| format!("only http:// URLs are supported: {url}"))?;
        let host = rest.split('/').next().unwrap_or_default().to_string();
        if host.is_empty() {
            return Err(format!("no host in {url}"));
        }
        let with_port = if host.contains(':') {
            host.clone()
        } else {
            format!("{host}:80")
        };
        let addr = with_port
            .to_socket_addrs()
            .map_err(|e| format!("cannot resolve {with_port}: {e}"))?
            .next()
            .ok_or_else(|| format!("no address for {with_port}"))?;
        Ok(Target { addr, host })
    }
}

/// A response: status and body.
#[derive(Debug, Clone)]
pub struct Response {
    /// HTTP status code.
    pub status: u16,
    /// The body (de-chunked, never decompressed).
    pub body: Vec<u8>,
    /// Whether it came with `Content-Encoding: gzip`.
    pub gzip: bool,
}

impl Response {
    /// Whether the status is 2xx.
    pub fn ok(&self) -> bool {
        (200..300).contains(&self.status)
    }
}

/// One keep-alive connection, reopened when the server closes it.
pub struct Client {
    target: Target,
    conn: Option<BufReader<TcpStream>>,
    timeout: Duration,
    head: Vec<u8>,
    /// How many times a connection was (re)opened.
    pub connects: u64,
    /// Send `Accept-Encoding: gzip` on GETs, as browsers do.
    accept_gzip: bool,
}

fn bad(msg: impl Into<String>) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, msg.into())
}

impl Client {
    /// A client that connects on first use; `timeout` bounds every read and write.
    pub fn new(target: Target, timeout: Duration) -> Client {
        Client {
            target,
            conn: None,
            timeout,
            head: Vec::with_capacity(512),
            connects: 0,
            accept_gzip: false,
        }
    }

    /// This client sending `Accept-Encoding: gzip` on every GET when `on`
    /// (bodies are counted as received, not decompressed).
    pub fn accept_gzip(mut self, on: bool) -> Client {
        self.accept_gzip = on;
        self
    }

    fn connect(&mut self) -> io::Result<()> {
        let s = TcpStream::connect_timeout(&self.target.addr, self.timeout)?;
        s.set_nodelay(true)?;
        s.set_read_timeout(Some(self.timeout))?;
        s.set_write_timeout(Some(self.timeout))?;
        self.conn = Some(BufReader::with_capacity(64 * 1024, s));
        self.connects += 1;
        Ok(())
    }

    /// Sends a request and reads the whole response. On an I/O error the
    /// connection is dropped (the next call reconnects) and the error returned.
    pub fn request(
        &mut self,
        method: &str,
        path: &str,
        body: Option<&[u8]>,
    ) -> io::Result<Response> {
        let r = self.try_request(method, path, body);
        if r.is_err() {
            self.conn = None;
        }
        r
    }

    /// Like [`Client::request`], retrying once on a fresh connection when a
    /// reused keep-alive connection turns out closed (for seeding, where the
    /// requests are idempotent).
    pub fn request_retry(
        &mut self,
        method: &str,
        path: &str,
        body: Option<&[u8]>,
    ) -> io::Result<Response> {
        let reused = self.conn.is_some();
        match self.request(method, path, body) {
            Err(_) if reused => self.request(method, path, body),
            r => r,
        }
    }

    fn try_request(
        &mut self,
        method: &str,
        path: &str,
        body: Option<&[u8]>,
    ) -> io::Result<Response> {
        if self.conn.is_none() {
            self.connect()?;
        }
        self.head.clear();
        let body = body.unwrap_or_default();
        write!(
            self.head,
            "{method} {path} HTTP/1.1\r\nHost: {}\r\nAccept: */*\r\n",
            self.target.host
        )?;
        if self.accept_gzip && method == "GET" {
            self.head.extend_from_slice(b"Accept-Encoding: gzip\r\n");
        }
        if !body.is_empty() || method == "POST" || method == "PUT" {
            write!(
                self.head,
                "Content-Type: application/json\r\nContent-Length: {}\r\n",
                body.len()
            )?;
        }
        self.head.extend_from_slice(b"\r\n");
        self.head.extend_from_slice(body);
        let conn = self.conn.as_mut().expect("connected");
        conn.get_mut().write_all(&self.head)?;
        let (status, close, gzip, body) = read_response(conn)?;
        if close {
            self.conn = None;
        }
        Ok(Response { status, body, gzip })
    }
}

fn read_line(r: &mut BufReader<TcpStream>, line: &mut String) -> io::Result<()> {
    line.clear();
    if r.read_line(line)? == 0 {
        return Err(io::Error::new(
            io::ErrorKind::UnexpectedEof,
            "connection closed by the server",
        ));
    }
    Ok(())
}

/// Status, whether the connection closes, whether the body is
/// gzip-encoded, and the body.
fn read_response(r: &mut BufReader<TcpStream>) -> io::Result<(u16, bool, bool, Vec<u8>)> {
    let mut line = String::with_capacity(128);
    read_line(r, &mut line)?;
    let status: u16 = line
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| bad(format!("bad status line: {line:?}")))?;
    let http10 = line.starts_with("HTTP/1.0");
    let mut length: Option<usize> = None;
    let mut chunked = false;
    let mut close = http10;
    let mut gzip = false;
    loop {
        read_line(r, &mut line)?;
        let l = line.trim_end();
        if l.is_empty() {
            break;
        }
        if let Some((k, v)) = l.split_once(':') {
            let v = v.trim();
            if k.eq_ignore_ascii_case("content-length") {
                length = Some(
                    v.parse()
                        .map_err(|_| bad(format!("bad content-length {v}")))?,
                );
            } else if k.eq_ignore_ascii_case("transfer-encoding") {
                chunked = v.to_ascii_lowercase().contains("chunked");
            } else if k.eq_ignore_ascii_case("connection") {
                close = v.eq_ignore_ascii_case("close");
            } else if k.eq_ignore_ascii_case("content-encoding") {
                gzip = v.eq_ignore_ascii_case("gzip");
            }
        }
    }
    let mut body = Vec::new();
    if chunked {
        loop {
            read_line(r, &mut line)?;
            let size_hex = line.trim().split(';').next().unwrap_or_default();
            let size = usize::from_str_radix(size_hex, 16)
                .map_err(|_| bad(format!("bad chunk size {line:?}")))?;
            if size == 0 {
                // Trailers, then the empty line.
                loop {
                    read_line(r, &mut line)?;
                    if line.trim_end().is_empty() {
                        break;
                    }
                }
                break;
            }
            let start = body.len();
            body.resize(start + size, 0);
            r.read_exact(&mut body[start..])?;
            read_line(r, &mut line)?;
        }
    } else if let Some(n) = length {
        body.resize(n, 0);
        r.read_exact(&mut body)?;
    } else if status != 204 && status != 304 && !(100..200).contains(&status) {
        // No length: the body runs to the end of the connection.
        r.read_to_end(&mut body)?;
        close = true;
    }
    Ok((status, close, gzip, body))
}

/// Percent-encodes a query-string value (everything but unreserved characters).
pub fn encode_query_value(s: &str) -> String {
    let mut out = String::with_capacity(s.len() * 3);
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' | b'/' => {
                out.push(b as char)
            }
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}
