//! The QA-Board HTTP API on actix-web: routes, request/response types and
//! error mapping. Mount it with [`configure`]; it needs a
//! [`qaboard_db::DbPool`] and an [`ApiConfig`] as app data.
//!
//! Every path is served with and without a trailing slash (never a redirect)
//! and every error is a JSON `{"error": "..."}`.

pub mod auth;
pub mod body;
pub mod cache;
pub mod error;
pub mod fields;
pub mod groups;
pub mod ingest;
pub mod manifest;
pub mod metrics;
pub mod milestones;
pub mod reads;
pub mod views;

use actix_web::{http::header, web, HttpResponse};
use qaboard_db::DbPool;

pub use error::ApiError;

/// Settings of the API.
#[derive(Debug, Clone)]
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
}

/// Default size bound of the response cache.
pub const DEFAULT_CACHE_BYTES: usize = 32 * 1024 * 1024;

impl Default for ApiConfig {
    fn default() -> Self {
        ApiConfig {
            write_tokens: Vec::new(),
            read_requires_token: false,
            body_limit: 16 * 1024 * 1024,
            storage_root: qaboard_model::DEFAULT_STORAGE_ROOT.to_string(),
            data_dir: std::path::PathBuf::from("qaboard-data"),
            cache: std::sync::Arc::new(cache::ResponseCache::new(DEFAULT_CACHE_BYTES)),
        }
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
/// CORS preflights are answered.
fn resource(paths: [String; 2]) -> actix_web::Resource {
    web::resource(paths).default_service(web::to(preflight_or_405))
}

/// Both spellings of a path: without and with a trailing slash.
fn both(path: &str) -> [String; 2] {
    let p = path.trim_end_matches('/');
    [p.to_string(), format!("{p}/")]
}

async fn healthz(pool: web::Data<DbPool>) -> Result<HttpResponse, ApiError> {
    run_db(move || Ok(pool.ping()?)).await?;
    Ok(HttpResponse::Ok().json(serde_json::json!({"status": "OK"})))
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

/// Fallback of each resource: CORS preflights, else 405 JSON.
async fn preflight_or_405(req: actix_web::HttpRequest) -> Result<HttpResponse, ApiError> {
    if req.method() != actix_web::http::Method::OPTIONS {
        return Err(ApiError::MethodNotAllowed(format!(
            "{} is not allowed on {}",
            req.method(),
            req.path()
        )));
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

/// Registers every route. Also sets JSON error handlers for query and path
/// extraction, and CORS headers on `/api` responses.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.app_data(
        web::QueryConfig::default().error_handler(|e, _| ApiError::bad(e.to_string()).into()),
    )
    .app_data(web::PathConfig::default().error_handler(|e, _| ApiError::bad(e.to_string()).into()))
    .service(web::resource(both("/healthz")).route(web::get().to(healthz)))
    .service(
        web::scope("/api/v1")
            .wrap(
                actix_web::middleware::DefaultHeaders::new()
                    .add((header::ACCESS_CONTROL_ALLOW_ORIGIN, "*")),
            )
            .service(resource(both("/output")).route(web::post().to(ingest::post_output)))
            .service(
                resource(both("/output/{id}/manifest"))
                    .route(web::get().to(manifest::get_manifest)),
            )
            .service(
                resource(both("/output/{id}"))
                    .route(web::get().to(ingest::get_output))
                    .route(web::put().to(ingest::put_output)),
            )
            .service(resource(both("/batch")).route(web::post().to(ingest::post_batch)))
            .service(
                resource(both("/commit"))
                    .route(web::get().to(reads::get_commit))
                    .route(web::post().to(ingest::post_commit)),
            )
            .service(
                resource(both("/commit/{sha:.+}"))
                    .route(web::get().to(reads::get_commit))
                    .route(web::post().to(ingest::post_commit)),
            )
            .service(resource(both("/commits")).route(web::get().to(reads::get_commits)))
            .service(
                resource(both("/commits/{branch:.+}")).route(web::get().to(reads::get_commits)),
            )
            .service(resource(both("/projects")).route(web::get().to(reads::get_projects)))
            .service(resource(both("/project")).route(web::get().to(reads::get_project)))
            .service(resource(both("/project/branches")).route(web::get().to(reads::get_branches)))
            .service(
                resource(both("/project/milestones"))
                    .route(web::get().to(milestones::get_milestones))
                    .route(web::post().to(milestones::post_milestones))
                    .route(web::delete().to(milestones::delete_milestones)),
            )
            .service(
                resource(both("/tests/groups"))
                    .route(web::get().to(groups::get_groups))
                    .route(web::post().to(groups::post_groups)),
            )
            .default_service(web::to(preflight)),
    )
    .default_service(web::to(not_found));
}
