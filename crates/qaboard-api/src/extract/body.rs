//! The JSON body extractor: any content type, a configurable size limit
//! (413 JSON beyond it) and 400 JSON for malformed JSON.
//!
//! Resource limits (issue 9, docs/robustness.md "Resource limits"): the
//! whole body must arrive within `body_timeout` (408 JSON beyond), and the
//! bytes of all bodies being read at once are bounded by a [`BodyBudget`]
//! (a request waits for its share, 503 JSON beyond `wait`). Every string of
//! the parsed body goes through [`crate::hardening::check_parsed_body`]
//! (the NUL walk of `check_body`, skipped when the raw text has no `\u0000`).
use std::sync::Arc;
use std::time::Duration;

use actix_web::{dev::Payload, web, FromRequest, HttpRequest};
use futures_util::StreamExt;
use serde_json::{Map, Value};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::{ApiError, AppState};

/// The bytes of request bodies a process holds at once: a semaphore of
/// bytes that body reads take chunk by chunk and give back when the
/// request's body is parsed (or the request fails).
#[derive(Debug)]
pub struct BodyBudget {
    bytes: Arc<Semaphore>,
    total: usize,
    wait: Duration,
    /// Bytes ever taken (see [`BodyBudget::bytes_taken_total`]).
    taken: std::sync::atomic::AtomicU64,
}

impl BodyBudget {
    /// A budget of `total` bytes; a read waits at most `wait` for its share.
    pub fn new(total: usize, wait: Duration) -> BodyBudget {
        let total = total.clamp(1, Semaphore::MAX_PERMITS);
        BodyBudget {
            bytes: Arc::new(Semaphore::new(total)),
            total,
            wait,
            taken: std::sync::atomic::AtomicU64::new(0),
        }
    }

    /// Takes `n` more bytes into `held`. Errors: 503 when they are not
    /// free within the wait (or never can be).
    async fn take(
        &self,
        held: &mut Option<OwnedSemaphorePermit>,
        n: usize,
    ) -> Result<(), ApiError> {
        let busy = || {
            ApiError::Unavailable(
                "the server is reading too many request bodies at once, try again".into(),
            )
        };
        let have = held.as_ref().map_or(0, OwnedSemaphorePermit::num_permits);
        if n == 0 {
            return Ok(());
        }
        if have + n > self.total {
            return Err(busy());
        }
        let n32 = u32::try_from(n).map_err(|_| busy())?;
        let permit =
            actix_web::rt::time::timeout(self.wait, self.bytes.clone().acquire_many_owned(n32))
                .await
                .map_err(|_| busy())?
                .map_err(|_| busy())?;
        match held {
            Some(h) => h.merge(permit),
            None => *held = Some(permit),
        }
        self.taken
            .fetch_add(n as u64, std::sync::atomic::Ordering::Relaxed);
        Ok(())
    }

    /// Bytes of request bodies read since start (monotonic). The server
    /// binary gives freed heap back to the OS after a quiet period that
    /// followed many body bytes (bench/body_burst.py, docs/robustness.md).
    pub fn bytes_taken_total(&self) -> u64 {
        self.taken.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Bytes of request bodies being read now.
    pub fn in_flight(&self) -> usize {
        self.total - self.available()
    }

    /// Bytes free now (for tests and metrics).
    pub fn available(&self) -> usize {
        self.bytes.available_permits()
    }
}

/// A request body parsed as a JSON object.
pub struct JsonBody(pub Map<String, Value>);

impl FromRequest for JsonBody {
    type Error = ApiError;
    type Future = std::pin::Pin<Box<dyn std::future::Future<Output = Result<Self, Self::Error>>>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let config = req
            .app_data::<web::Data<AppState>>()
            .map(|s| s.config.clone());
        let limit = config
            .as_ref()
            .map_or(qaboard_settings::DEFAULT_BODY_LIMIT, |c| c.body_limit);
        let declared = req
            .headers()
            .get(actix_web::http::header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<usize>().ok());
        let mut payload = payload.take();
        Box::pin(async move {
            if declared.is_some_and(|n| n > limit) {
                return Err(ApiError::PayloadTooLarge(limit));
            }
            let timeout = config.as_ref().map_or(
                Duration::from_secs(qaboard_settings::DEFAULT_BODY_TIMEOUT_SECS),
                |c| c.body_timeout,
            );
            let mut held = None;
            let read = async {
                // Sized once from `Content-Length` for usual bodies; at most 64 KiB ahead of
                // the bytes that arrived (the body budget counts arrived bytes).
                let mut buf = web::BytesMut::with_capacity(declared.unwrap_or(0).min(64 * 1024));
                while let Some(chunk) = payload.next().await {
                    let chunk = chunk.map_err(|e| {
                        ApiError::bad(format!("could not read the request body: {e}"))
                    })?;
                    if buf.len() + chunk.len() > limit {
                        return Err(ApiError::PayloadTooLarge(limit));
                    }
                    if let Some(c) = &config {
                        c.body_budget.take(&mut held, chunk.len()).await?;
                    }
                    buf.extend_from_slice(&chunk);
                }
                Ok(buf)
            };
            let buf = actix_web::rt::time::timeout(timeout, read)
                .await
                .map_err(|_| {
                    ApiError::Timeout(format!(
                        "the request body did not arrive within {} s",
                        timeout.as_secs()
                    ))
                })??;
            if buf.iter().all(u8::is_ascii_whitespace) {
                return Err(ApiError::bad(
                    "the request body is empty: a JSON object is expected",
                ));
            }
            let parsed = serde_json::from_slice::<Value>(&buf);
            let checked = match &parsed {
                Ok(Value::Object(m)) => crate::hardening::check_parsed_body(&buf, m),
                _ => Ok(()),
            };
            drop(buf);
            drop(held);
            match parsed {
                Ok(Value::Object(m)) => {
                    checked?;
                    Ok(JsonBody(m))
                }
                Ok(_) => Err(ApiError::bad("the request body must be a JSON object")),
                Err(e) => Err(ApiError::bad(format!(
                    "the request body is not valid JSON: {e}"
                ))),
            }
        })
    }
}

/// Like [`JsonBody`] but an empty body is an empty object (for endpoints
/// whose body is optional).
pub struct OptionalJsonBody(pub Map<String, Value>);

impl FromRequest for OptionalJsonBody {
    type Error = ApiError;
    type Future = std::pin::Pin<Box<dyn std::future::Future<Output = Result<Self, Self::Error>>>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let fut = JsonBody::from_request(req, payload);
        Box::pin(async move {
            match fut.await {
                Ok(JsonBody(m)) => Ok(OptionalJsonBody(m)),
                Err(ApiError::BadRequest(m)) if m.contains("empty") => {
                    Ok(OptionalJsonBody(Map::new()))
                }
                Err(e) => Err(e),
            }
        })
    }
}
