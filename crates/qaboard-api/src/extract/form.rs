//! Form bodies: `application/x-www-form-urlencoded` and `multipart/form-data` (the webapp posts
//! its login dialog as a `FormData`, OPERATIONS.md §6), read into text fields.
use std::collections::HashMap;

use actix_web::{dev::Payload, http::header, web, FromRequest, HttpRequest};
use futures_util::StreamExt;

use crate::ApiError;

/// Largest form accepted, in bytes (the login and sign-up forms are a few hundred bytes).
pub const FORM_LIMIT: usize = 64 * 1024;

/// The text fields of a form body, first value of each name. Parts of a multipart body that are
/// files (they have a `filename`) are skipped; a body of another content type is a 400, one larger
/// than [`FORM_LIMIT`] a 413.
#[derive(Debug, Default, Clone)]
pub struct FormFields(pub HashMap<String, String>);

impl FormFields {
    /// The field's value when present and not empty.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .get(name)
            .map(String::as_str)
            .filter(|v| !v.is_empty())
    }
}

fn is_multipart(req: &HttpRequest) -> bool {
    req.headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            v.trim_start()
                .to_ascii_lowercase()
                .starts_with("multipart/form-data")
        })
}

async fn read_multipart(
    headers: header::HeaderMap,
    payload: Payload,
) -> Result<FormFields, ApiError> {
    let mut parts = actix_multipart::Multipart::new(&headers, payload);
    let mut fields = HashMap::new();
    let mut total = 0usize;
    while let Some(part) = parts.next().await {
        let mut part = part.map_err(|e| ApiError::bad(format!("invalid multipart body: {e}")))?;
        let disposition = part.content_disposition().cloned();
        let name = disposition
            .as_ref()
            .and_then(|d| d.get_name())
            .map(str::to_owned);
        let is_file = disposition
            .as_ref()
            .and_then(|d| d.get_filename())
            .is_some();
        let mut value = Vec::new();
        while let Some(chunk) = part.next().await {
            let chunk = chunk.map_err(|e| ApiError::bad(format!("invalid multipart body: {e}")))?;
            total += chunk.len();
            if total > FORM_LIMIT {
                return Err(ApiError::PayloadTooLarge(FORM_LIMIT));
            }
            if !is_file {
                value.extend_from_slice(&chunk);
            }
        }
        if let (Some(name), false) = (name, is_file) {
            let value = String::from_utf8(value)
                .map_err(|_| ApiError::bad(format!("the form field {name:?} is not UTF-8")))?;
            fields.entry(name).or_insert(value);
        }
    }
    Ok(FormFields(fields))
}

async fn read_urlencoded(mut payload: Payload) -> Result<FormFields, ApiError> {
    let mut buf = web::BytesMut::new();
    while let Some(chunk) = payload.next().await {
        let chunk =
            chunk.map_err(|e| ApiError::bad(format!("could not read the request body: {e}")))?;
        if buf.len() + chunk.len() > FORM_LIMIT {
            return Err(ApiError::PayloadTooLarge(FORM_LIMIT));
        }
        buf.extend_from_slice(&chunk);
    }
    let pairs: Vec<(String, String)> = serde_urlencoded::from_bytes(&buf)
        .map_err(|e| ApiError::bad(format!("invalid form body: {e}")))?;
    let mut fields = HashMap::new();
    for (k, v) in pairs {
        fields.entry(k).or_insert(v);
    }
    Ok(FormFields(fields))
}

impl FromRequest for FormFields {
    type Error = ApiError;
    type Future = std::pin::Pin<Box<dyn std::future::Future<Output = Result<Self, Self::Error>>>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let declared = req
            .headers()
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<usize>().ok());
        let multipart = is_multipart(req);
        let headers = req.headers().clone();
        let payload = payload.take();
        Box::pin(async move {
            if declared.is_some_and(|n| n > FORM_LIMIT) {
                return Err(ApiError::PayloadTooLarge(FORM_LIMIT));
            }
            if multipart {
                read_multipart(headers, payload).await
            } else {
                read_urlencoded(payload).await
            }
        })
    }
}
