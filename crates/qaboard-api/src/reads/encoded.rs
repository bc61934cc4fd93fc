//! The HTTP answers of the heavy reads, identity or gzip-encoded.
//!
//! Every answer carries `Vary: Accept-Encoding` (RFC 9110 section 12.5.5):
//! the same URL is answered gzip-encoded to clients that accept gzip once
//! the cache holds a gzip copy, identity otherwise, and shared caches must
//! not mix them. These answers carry no `ETag` or `Last-Modified` and honour
//! no `Range` or conditions (as before), so no validator has to differ
//! between encodings. `HEAD` is routed as `GET` (`hardening::head_as_get`):
//! its head gives the `Content-Encoding` and `Content-Length` the `GET`
//! would.
use std::sync::Arc;

use actix_web::http::header;
use actix_web::web::Bytes;
use actix_web::HttpResponse;

use super::heavy::spawn_heavy;
use crate::cache::{Hit, ResponseCache};

/// A 200 JSON answer of `body` as rendered.
pub(super) fn identity(body: Bytes) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("application/json")
        .insert_header((header::VARY, "Accept-Encoding"))
        .body(body)
}

/// The answer of a cache hit: its gzip copy when present (asked for by a
/// client that accepts gzip), else its body. A ticket to make the copy is
/// handed to the heavy-read threads, after this answer is built: the copy
/// serves the next requests, never this one.
pub(super) fn hit(hit: Hit, cache: &Arc<ResponseCache>) -> HttpResponse {
    if let Some(ticket) = hit.compress {
        let cache = cache.clone();
        spawn_heavy(move || ticket.compress_into(&cache));
    }
    match hit.gzip {
        Some(gz) => HttpResponse::Ok()
            .content_type("application/json")
            .insert_header((header::CONTENT_ENCODING, "gzip"))
            .insert_header((header::VARY, "Accept-Encoding"))
            .body(gz),
        None => identity(hit.body),
    }
}
