//! The built webapp served at `/` (setting `webapp_dir`), replacing the
//! original's nginx `try_files $uri … /index.html`.
use std::path::{Path, PathBuf};

use actix_files::NamedFile;
use actix_web::http::header::{self, HeaderValue};
use actix_web::http::{Method, StatusCode};
use actix_web::{web, HttpRequest, HttpResponse};
use qaboard_storage::Storage;

use super::{decode_path, plain};

/// First path segments that are never client routes of the webapp: unknown
/// paths under them keep the API's JSON 404 (`/docs` per the contract §8).
pub const RESERVED_PREFIXES: [&str; 7] =
    ["api", "s", "iiif", "webhook", "healthz", "metrics", "docs"];

/// Cache policy of hashed build assets (`static/js/main.3f2a1b.js`…).
const IMMUTABLE: &str = "public, max-age=31536000, immutable";

/// Serves the built webapp in `dir` as the app's default service: a file of
/// `dir` at its path (`static/…` cached one year, immutable; other files
/// `no-cache`), `index.html` (`no-cache`) for every other `GET`/`HEAD`
/// (client-side routes such as `/user/sample_project/commit/…`), and a JSON
/// 404 `{"error": "no such endpoint"}` for other methods and for paths under
/// [`RESERVED_PREFIXES`].
///
/// Call it AFTER [`crate::configure`]: the last default service registered
/// wins, and this one replaces the API's JSON 404 fallback (answering it
/// itself for the reserved prefixes). Files are read through a
/// [`Storage`] rooted at `dir` (a relative `dir` is taken from the current
/// folder), so nothing outside `dir` is served. Panics if `dir` contains
/// `..` (a configuration error, met at start-up).
pub fn configure_webapp(cfg: &mut web::ServiceConfig, dir: impl AsRef<Path>) {
    let dir = dir.as_ref();
    let dir = if dir.is_absolute() {
        dir.to_path_buf()
    } else {
        std::env::current_dir()
            .map(|c| c.join(dir))
            .unwrap_or_else(|_| dir.to_path_buf())
    };
    let storage = Storage::new(vec![dir.clone()]).expect("webapp_dir must not contain `..`");
    let state = web::Data::new(Webapp { dir, storage });
    cfg.default_service(web::to(move |req: HttpRequest| {
        let state = state.clone();
        async move { serve_webapp(req, state).await }
    }));
}

struct Webapp {
    dir: PathBuf,
    storage: Storage,
}

fn json_404() -> HttpResponse {
    HttpResponse::NotFound().json(serde_json::json!({"error": "no such endpoint"}))
}

/// Whether the path's first segment is reserved.
fn reserved(path: &str) -> bool {
    let first = path.trim_start_matches('/').split('/').next().unwrap_or("");
    RESERVED_PREFIXES.contains(&first)
}

async fn serve_webapp(req: HttpRequest, app: web::Data<Webapp>) -> HttpResponse {
    let raw = req.uri().path().to_string();
    if reserved(&raw) || !matches!(*req.method(), Method::GET | Method::HEAD) {
        return json_404();
    }
    let decoded = decode_path(&raw);
    let app2 = app.clone();
    let found = web::block(move || {
        let mut asset = app2.dir.clone().into_os_string();
        asset.push(&decoded);
        let is_file = !decoded.to_string_lossy().ends_with('/');
        // A missing, refused or folder path is a client route.
        if is_file {
            if let Ok(o) = app2.storage.open_file(&asset) {
                return Some((o, PathBuf::from(decoded)));
            }
        }
        app2.storage
            .open_file(app2.dir.join("index.html"))
            .ok()
            .map(|o| (o, PathBuf::from("/index.html")))
    })
    .await;
    let (opened, rel) = match found {
        Ok(Some(x)) => x,
        Ok(None) => return plain(StatusCode::NOT_FOUND, "404 Not Found: no index.html"),
        Err(_) => {
            return plain(
                StatusCode::INTERNAL_SERVER_ERROR,
                "500 Internal Server Error",
            )
        }
    };
    let named = match NamedFile::from_file(opened.file, &rel) {
        Ok(n) => n.disable_content_disposition(),
        Err(_) => {
            return plain(
                StatusCode::INTERNAL_SERVER_ERROR,
                "500 Internal Server Error",
            )
        }
    };
    let mut res = named.into_response(&req);
    let cache = if rel.starts_with("/static/") {
        IMMUTABLE
    } else {
        "no-cache"
    };
    res.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
    res
}

#[cfg(test)]
mod tests {
    use super::reserved;

    #[test]
    fn reserved_prefixes_are_whole_segments() {
        assert!(reserved("/api/v1/x"));
        assert!(reserved("/s"));
        assert!(reserved("/iiif/2/x"));
        assert!(!reserved("/sample_project/commit/abc"));
        assert!(!reserved("/"));
        assert!(!reserved("/apis"));
    }
}
