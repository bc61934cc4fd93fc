//! Optional bearer-token authentication. When write tokens are configured,
//! writes need `Authorization: Bearer <token>` (what `qa` sends when
//! `QA_TOKEN` is set); reads need one only when `read_requires_token` is on.
use std::future::{ready, Ready};

use actix_web::{dev::Payload, web, FromRequest, HttpRequest};

use crate::{ApiError, AppState};

/// Compares two byte strings in time independent of where they differ.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    let mut diff = a.len() ^ b.len();
    for i in 0..a.len().max(b.len()) {
        let x = a.get(i).copied().unwrap_or(0);
        let y = b.get(i).copied().unwrap_or(0);
        diff |= usize::from(x ^ y);
    }
    diff == 0
}

fn token_ok(req: &HttpRequest, tokens: &[String]) -> bool {
    let Some(header) = req.headers().get(actix_web::http::header::AUTHORIZATION) else {
        return false;
    };
    let Ok(header) = header.to_str() else {
        return false;
    };
    let Some(token) = header
        .strip_prefix("Bearer ")
        .or_else(|| header.strip_prefix("bearer "))
    else {
        return false;
    };
    let token = token.trim().as_bytes();
    // Check every configured token, without stopping early.
    tokens
        .iter()
        .fold(false, |ok, t| constant_time_eq(token, t.as_bytes()) | ok)
}

fn check(req: &HttpRequest, write: bool) -> Result<(), ApiError> {
    // Never open by accident: a server without its state refuses.
    let Some(state) = req.app_data::<web::Data<AppState>>() else {
        return Err(ApiError::Internal(
            "the application state is not registered".into(),
        ));
    };
    let cfg = &state.config;
    let needed = !cfg.write_tokens.is_empty() && (write || cfg.read_requires_token);
    if !needed || token_ok(req, &cfg.write_tokens) {
        Ok(())
    } else {
        Err(ApiError::Unauthorized(
            "a valid token is required: send 'Authorization: Bearer <token>' (set QA_TOKEN for the qa CLI)".into(),
        ))
    }
}

/// Extractor that admits a request allowed to write.
pub struct WriteAccess;

impl FromRequest for WriteAccess {
    type Error = ApiError;
    type Future = Ready<Result<Self, Self::Error>>;
    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(check(req, true).map(|_| WriteAccess))
    }
}

/// Extractor that admits a request allowed to read.
pub struct ReadAccess;

impl FromRequest for ReadAccess {
    type Error = ApiError;
    type Future = Ready<Result<Self, Self::Error>>;
    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(check(req, false).map(|_| ReadAccess))
    }
}

#[cfg(test)]
mod tests {
    use super::constant_time_eq;

    #[test]
    fn equality() {
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"abcd"));
        assert!(!constant_time_eq(b"", b"a"));
    }
}
