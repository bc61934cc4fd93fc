//! The JSON body extractor: any content type, a configurable size limit
//! (413 JSON beyond it) and 400 JSON for malformed JSON.
use actix_web::{dev::Payload, web, FromRequest, HttpRequest};
use futures_util::StreamExt;
use serde_json::{Map, Value};

use crate::{ApiError, AppState};

/// A request body parsed as a JSON object.
pub struct JsonBody(pub Map<String, Value>);

impl FromRequest for JsonBody {
    type Error = ApiError;
    type Future = std::pin::Pin<Box<dyn std::future::Future<Output = Result<Self, Self::Error>>>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let limit = req
            .app_data::<web::Data<AppState>>()
            .map(|s| s.config.body_limit)
            .unwrap_or(qaboard_settings::DEFAULT_BODY_LIMIT);
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
            let mut buf = web::BytesMut::with_capacity(declared.unwrap_or(0).min(limit));
            while let Some(chunk) = payload.next().await {
                let chunk = chunk
                    .map_err(|e| ApiError::bad(format!("could not read the request body: {e}")))?;
                if buf.len() + chunk.len() > limit {
                    return Err(ApiError::PayloadTooLarge(limit));
                }
                buf.extend_from_slice(&chunk);
            }
            if buf.iter().all(u8::is_ascii_whitespace) {
                return Err(ApiError::bad(
                    "the request body is empty: a JSON object is expected",
                ));
            }
            match serde_json::from_slice::<Value>(&buf) {
                Ok(Value::Object(m)) => Ok(JsonBody(m)),
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
