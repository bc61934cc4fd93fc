//! The QA-Board HTTP API on actix-web: routes, request/response types and
//! error mapping. Build a server with [`Application::build`] over an
//! [`AppState`] (pool, settings, cache); [`state::configure_app`] mounts the
//! same application in an existing `App`.
//!
//! Every path is served with and without a trailing slash (never a redirect)
//! and every error is a JSON `{"error": "..."}`.

pub mod artifacts;
pub mod boundary;
pub mod cache;
pub mod error;
pub mod export;
pub mod extract;
pub mod front;
pub mod gc;
pub mod git;
pub mod groups;
pub mod hardening;
pub mod home;
pub mod ingest;
pub mod integrations;
pub mod jobs;
pub mod manifest;
pub mod metrics;
pub mod milestones;
pub mod openapi;
pub mod operations;
pub mod reads;
pub mod registry;
pub mod routes;
pub mod state;
pub mod static_files;
pub mod tuning;
pub mod users;
pub mod views;
pub mod wire;

use actix_web::{http::header, web, HttpResponse};

pub use error::ApiError;
pub use state::{AppState, Application};

/// Settings of the API.
#[derive(Clone)]
pub struct ApiConfig {
    /// Tokens accepted for writes; empty: writes are open.
    pub write_tokens: Vec<String>,
    /// With tokens configured, also require one for reads.
    pub read_requires_token: bool,
    /// Largest accepted request body, in bytes.
    pub body_limit: usize,
    /// Storage root of outputs/artifacts when a project's config names none.
    pub storage_root: String,
    /// The server's data folder (shared files such as test groups).
    pub data_dir: std::path::PathBuf,
    /// Rendered answers of the heavy reads, shared by the server's workers
    /// (see [`cache`]); `ResponseCache::new(0)` disables it.
    pub cache: std::sync::Arc<cache::ResponseCache>,
    /// Deadline to read a whole JSON body (408 beyond).
    pub body_timeout: std::time::Duration,
    /// The bytes of bodies read at once by this process (503 beyond).
    pub body_budget: std::sync::Arc<extract::BodyBudget>,
}

impl std::fmt::Debug for ApiConfig {
    /// Tokens are never printed.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApiConfig")
            .field(
                "write_tokens",
                &format_args!("[{} redacted]", self.write_tokens.len()),
            )
            .field("read_requires_token", &self.read_requires_token)
            .field("body_limit", &self.body_limit)
            .field("storage_root", &self.storage_root)
            .field("data_dir", &self.data_dir)
            .finish_non_exhaustive()
    }
}

/// Default size bound of the response cache.
pub const DEFAULT_CACHE_BYTES: usize = qaboard_settings::DEFAULT_CACHE_BYTES;

impl ApiConfig {
    /// The API's settings out of the process's [`qaboard_settings::Settings`].
    pub fn from_settings(s: &qaboard_settings::Settings) -> ApiConfig {
        ApiConfig {
            write_tokens: s.write_tokens(),
            read_requires_token: s.auth.read_requires_token,
            body_limit: s.body_limit,
            storage_root: s.storage_root.clone(),
            data_dir: s.data_dir.clone(),
            cache: std::sync::Arc::new(cache::ResponseCache::new(s.cache_bytes)),
            body_timeout: std::time::Duration::from_secs(s.body_timeout_secs),
            body_budget: std::sync::Arc::new(extract::BodyBudget::new(
                s.body_memory,
                std::time::Duration::from_secs(s.body_memory_wait_secs),
            )),
        }
    }
}

impl Default for ApiConfig {
    fn default() -> Self {
        ApiConfig::from_settings(&qaboard_settings::Settings::default())
    }
}

/// Runs blocking database work on actix's thread pool.
pub async fn run_db<T, F>(f: F) -> Result<T, ApiError>
where
    F: FnOnce() -> Result<T, ApiError> + Send + 'static,
    T: Send + 'static,
{
    web::block(f).await?
}

/// A 200 response with a JSON body already serialised.
pub fn json_bytes(bytes: impl Into<actix_web::web::Bytes>) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("application/json")
        .body(bytes.into())
}

/// A resource of the API: methods it does not route answer 405 JSON, and
/// CORS preflights are answered. The template is noted for the check of
/// registrations against [`registry::ROUTES`].
pub(crate) fn resource(paths: [String; 2]) -> actix_web::Resource {
    registry::note_registered(&paths[0]);
    web::resource(paths).default_service(web::to(preflight_or_405))
}

/// Both spellings of a path: without and with a trailing slash.
pub(crate) fn both(path: &str) -> [String; 2] {
    let p = path.trim_end_matches('/');
    [p.to_string(), format!("{p}/")]
}

async fn not_found() -> Result<HttpResponse, ApiError> {
    Err(ApiError::NotFound("no such endpoint".into()))
}

/// Fallback of `/api/v1`: answers CORS preflights; anything else is unknown.
async fn preflight(req: actix_web::HttpRequest) -> Result<HttpResponse, ApiError> {
    if req.method() != actix_web::http::Method::OPTIONS {
        return Err(ApiError::NotFound("no such endpoint".into()));
    }
    preflight_ok()
}

/// Fallback of each resource: CORS preflights, else 405 JSON with `Allow`
/// (see [`hardening::allow_header`]).
async fn preflight_or_405(req: actix_web::HttpRequest) -> Result<HttpResponse, ApiError> {
    if req.method() != actix_web::http::Method::OPTIONS {
        let err = ApiError::MethodNotAllowed(format!(
            "{} is not allowed on {}",
            req.method(),
            req.path()
        ));
        let mut res = actix_web::ResponseError::error_response(&err);
        if let Ok(v) =
            header::HeaderValue::from_str(&hardening::allow_header(req.match_pattern().as_deref()))
        {
            res.headers_mut().insert(header::ALLOW, v);
        }
        return Ok(res);
    }
    preflight_ok()
}

fn preflight_ok() -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok()
        .insert_header((
            header::ACCESS_CONTROL_ALLOW_METHODS,
            "GET, POST, PUT, DELETE, OPTIONS",
        ))
        .insert_header((
            header::ACCESS_CONTROL_ALLOW_HEADERS,
            "Authorization, Content-Type",
        ))
        .insert_header((header::ACCESS_CONTROL_MAX_AGE, "86400"))
        .finish())
}

/// Registers every route (see [`routes`]). Also sets JSON error handlers
/// for query and path extraction, and CORS headers on `/api` responses.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.app_data(
        web::QueryConfig::default().error_handler(|e, _| ApiError::bad(e.to_string()).into()),
    )
    .app_data(web::PathConfig::default().error_handler(|e, _| ApiError::bad(e.to_string()).into()))
    .configure(routes::configure_root)
    .service(
        web::scope("/api/v1")
            .wrap(
                actix_web::middleware::DefaultHeaders::new()
                    .add((header::ACCESS_CONTROL_ALLOW_ORIGIN, "*")),
            )
            .configure(routes::configure_api)
            .default_service(web::to(preflight)),
    )
    .default_service(web::to(not_found));
}
