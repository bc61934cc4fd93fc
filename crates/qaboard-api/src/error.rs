//! The API's one error type. Every error answers with a stable JSON body
//! `{"error": "<human readable>"}` (the webapp reads `error.response.data.error`).
use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};
use qaboard_db::DbError;
use thiserror::Error;

/// What a request can fail with; each variant is one HTTP status.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum ApiError {
    /// 400: the request is malformed or misses a field.
    #[error("{0}")]
    BadRequest(String),
    /// 401: a token is required and was missing or wrong.
    #[error("{0}")]
    Unauthorized(String),
    /// 403: the request is understood and refused (e.g. a label in use).
    #[error("{0}")]
    Forbidden(String),
    /// 404: nothing with that identity.
    #[error("{0}")]
    NotFound(String),
    /// 405: the path exists but not with this method.
    #[error("{0}")]
    MethodNotAllowed(String),
    /// 408: the request (its body) did not arrive in time.
    #[error("{0}")]
    Timeout(String),
    /// 409: the request conflicts with the stored state (e.g. pending outputs).
    #[error("{0}")]
    Conflict(String),
    /// 413: the body is larger than the configured limit.
    #[error("the request body is larger than the limit of {0} bytes")]
    PayloadTooLarge(usize),
    /// 429: too many requests or jobs at once; try again later.
    #[error("{0}")]
    TooMany(String),
    /// 501: the operation's route exists but the operation is not built yet.
    #[error("not implemented yet: {0}")]
    NotImplemented(String),
    /// 503: the database is unreachable or saturated.
    #[error("{0}")]
    Unavailable(String),
    /// 500: a bug or an unexpected database failure (logged with its causes).
    #[error("internal error")]
    Internal(#[source] Box<dyn std::error::Error + Send + Sync>),
}

impl ApiError {
    /// Shorthand for a 400.
    pub fn bad(msg: impl Into<String>) -> Self {
        ApiError::BadRequest(msg.into())
    }
}

impl From<DbError> for ApiError {
    fn from(e: DbError) -> Self {
        match e {
            e @ DbError::NotFound { .. } => ApiError::NotFound(e.to_string()),
            e @ DbError::Ambiguous { .. } => ApiError::BadRequest(e.to_string()),
            DbError::Conflict(m) => ApiError::Conflict(m),
            DbError::Invalid(m) => ApiError::BadRequest(m),
            DbError::PoolExhausted(m) => {
                ApiError::Unavailable(format!("the database is busy, try again ({m})"))
            }
            DbError::Connection(_) => ApiError::Unavailable("the database is unreachable".into()),
            other => ApiError::Internal(Box::new(other)),
        }
    }
}

impl From<actix_web::error::BlockingError> for ApiError {
    fn from(e: actix_web::error::BlockingError) -> Self {
        ApiError::Internal(Box::new(e))
    }
}

fn cause_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        s.push_str(": ");
        s.push_str(&c.to_string());
        cur = c.source();
    }
    s
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        match self {
            ApiError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ApiError::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden(_) => StatusCode::FORBIDDEN,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::Conflict(_) => StatusCode::CONFLICT,
            ApiError::Timeout(_) => StatusCode::REQUEST_TIMEOUT,
            ApiError::TooMany(_) => StatusCode::TOO_MANY_REQUESTS,
            ApiError::MethodNotAllowed(_) => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::PayloadTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::NotImplemented(_) => StatusCode::NOT_IMPLEMENTED,
            ApiError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        if let ApiError::Internal(e) = self {
            log::error!("internal error: {}", cause_chain(e.as_ref()));
        }
        HttpResponse::build(self.status_code())
            .json(serde_json::json!({ "error": self.to_string() }))
    }
}
