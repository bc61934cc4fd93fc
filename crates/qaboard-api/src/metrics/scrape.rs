//! `GET /metrics` and the values read at scrape time.
use std::sync::Arc;

use actix_web::{web, HttpRequest, HttpResponse};
use prometheus::proto::MetricFamily;
use qaboard_db::DbPool;

use super::{const_counter, const_gauge, Metrics, CONTENT_TYPE};
use crate::cache::{CacheStats, ResponseCache};
use crate::ApiConfig;

/// Connections of a database pool at one moment (r2d2's `Pool::state()`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PoolState {
    /// Connections open, checked out or idle.
    pub connections: u32,
    /// Connections open and not checked out.
    pub idle: u32,
    /// The pool's bound on `connections`.
    pub max_size: u32,
}

impl PoolState {
    /// The current state of `pool` (takes the pool's internal lock briefly;
    /// no database round trip).
    pub fn of(pool: &DbPool) -> PoolState {
        let (state, max_size) = match pool {
            DbPool::Pg(p) => (p.state(), p.max_size()),
            DbPool::Sqlite(p, _) => (p.state(), p.max_size()),
        };
        PoolState {
            connections: state.connections,
            idle: state.idle_connections,
            max_size,
        }
    }
}

/// Values read from other parts of the server when `/metrics` is scraped.
/// A `None` leaves its series out.
#[derive(Debug, Clone, Default)]
pub struct ScrapeInputs {
    /// The database pool: `qaboard_db_pool_connections`,
    /// `qaboard_db_pool_idle_connections`, `qaboard_db_pool_max_connections`.
    pub pool: Option<PoolState>,
    /// The response cache: `qaboard_response_cache_hits_total`,
    /// `_misses_total`, `qaboard_response_cache_entries`, `_bytes`.
    pub cache: Option<CacheStats>,
}

impl ScrapeInputs {
    /// Reads the inputs from the app data of `req`: pool and cache from
    /// `web::Data<AppState>` when registered; else the pool from
    /// `web::Data<DbPool>`, the cache from `web::Data<ApiConfig>`'s `cache`,
    /// else from `web::Data<Arc<ResponseCache>>`. Missing app data leaves
    /// its series out.
    pub fn from_app_data(req: &HttpRequest) -> ScrapeInputs {
        let state = req.app_data::<web::Data<crate::AppState>>();
        let pool = state.map(|s| PoolState::of(&s.pool)).or_else(|| {
            req.app_data::<web::Data<DbPool>>()
                .map(|p| PoolState::of(p))
        });
        let cache = state
            .map(|s| s.config.cache.stats())
            .or_else(|| {
                req.app_data::<web::Data<ApiConfig>>()
                    .map(|c| c.cache.stats())
            })
            .or_else(|| {
                req.app_data::<web::Data<Arc<ResponseCache>>>()
                    .map(|c| c.stats())
            });
        ScrapeInputs { pool, cache }
    }

    /// The metric families of these values.
    pub(super) fn families(&self) -> Vec<MetricFamily> {
        let mut out = Vec::new();
        if let Some(p) = self.pool {
            out.extend(const_gauge(
                "qaboard_db_pool_connections",
                "Database connections open (in use or idle).",
                p.connections.into(),
            ));
            out.extend(const_gauge(
                "qaboard_db_pool_idle_connections",
                "Database connections open and idle.",
                p.idle.into(),
            ));
            out.extend(const_gauge(
                "qaboard_db_pool_max_connections",
                "Bound on the database connections of the pool.",
                p.max_size.into(),
            ));
        }
        if let Some(c) = self.cache {
            out.extend(const_counter(
                "qaboard_response_cache_hits_total",
                "Heavy reads answered from the response cache.",
                c.hits,
            ));
            out.extend(const_counter(
                "qaboard_response_cache_misses_total",
                "Heavy reads the response cache could not answer.",
                c.misses,
            ));
            out.extend(const_gauge(
                "qaboard_response_cache_entries",
                "Answers held by the response cache.",
                i64::try_from(c.entries).unwrap_or(i64::MAX),
            ));
            out.extend(const_gauge(
                "qaboard_response_cache_bytes",
                "Bytes of the answers held by the response cache, gzip copies included.",
                i64::try_from(c.bytes).unwrap_or(i64::MAX),
            ));
        }
        out
    }
}

/// `GET /metrics`: every series, `text/plain; version=0.0.4`.
async fn scrape(req: HttpRequest, metrics: web::Data<Metrics>) -> HttpResponse {
    let inputs = ScrapeInputs::from_app_data(&req);
    HttpResponse::Ok()
        .content_type(CONTENT_TYPE)
        .insert_header((actix_web::http::header::CACHE_CONTROL, "no-store"))
        .body(metrics.render(&inputs))
}

/// Registers `GET /metrics` (and `/metrics/`), open like `/healthz`.
///
/// App data it reads: `web::Data<Metrics>` (required: without it the route
/// answers 500); optionally `web::Data<DbPool>` for the pool series and
/// `web::Data<ApiConfig>` (or `web::Data<Arc<ResponseCache>>`) for the cache
/// series, see [`ScrapeInputs::from_app_data`]. A server keeping these
/// elsewhere can instead serve [`Metrics::render`] from its own handler.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(crate::resource(crate::both("/metrics")).route(web::get().to(scrape)));
}
