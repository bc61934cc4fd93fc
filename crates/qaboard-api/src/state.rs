//! The one application state shared by every handler ([`AppState`]), and
//! the one builder of the HTTP server ([`Application`]) used by the server
//! binary and by the tests alike (as zero-to-production's
//! `Application::build`): same routes, same middleware, same logger.
//!
//! A handler reaches the state with `state: web::Data<AppState>`; nothing
//! else is registered as app data.
use std::net::SocketAddr;
use std::sync::Arc;

use actix_web::dev::{Server, ServerHandle};
use actix_web::{middleware, web, App, HttpServer};
use qaboard_db::DbPool;
use tokio::sync::Semaphore;

use qaboard_settings::Settings;

use crate::ApiConfig;

/// Everything a request may need, built once per process and shared by the
/// server's workers. Concerns still to come (file storage, the job runner,
/// the outbound HTTP client, sessions) get a field here.
#[derive(Clone)]
pub struct AppState {
    /// The database connection pool.
    pub pool: DbPool,
    /// The process's settings (every key, including those of concerns
    /// still to come: storage roots, jobs, GitLab).
    pub settings: Arc<Settings>,
    /// The API's view of the settings, with the response cache.
    pub config: Arc<ApiConfig>,
    /// Permits of the heavy reads (a commit with its outputs, the commits
    /// list): at most one per core at a time, see `reads`.
    pub heavy_reads: Arc<Semaphore>,
    /// The storage roots: the only folders files are read from, written to or deleted in.
    pub storage: qaboard_storage::Storage,
}

impl AppState {
    /// The state of a server over `pool` with the process's `settings`.
    pub fn from_settings(pool: DbPool, settings: Settings) -> AppState {
        let config = ApiConfig::from_settings(&settings);
        AppState::build(pool, settings, config)
    }

    /// The state of a server over `pool` with the API settings `config`
    /// (tests), the other settings at their defaults.
    pub fn new(pool: DbPool, config: ApiConfig) -> AppState {
        // The storage root of `config` is the one storage root.
        let settings = Settings {
            storage_root: config.storage_root.clone(),
            ..Settings::default()
        };
        AppState::build(pool, settings, config)
    }

    /// Heavy reads get one permit per available core.
    fn build(pool: DbPool, settings: Settings, config: ApiConfig) -> AppState {
        let permits = std::thread::available_parallelism().map_or(2, |n| n.get());
        // Settings::validate refuses relative roots; an invalid one here
        // (unvalidated settings) confines to nothing rather than panicking.
        let storage = qaboard_storage::Storage::new(
            settings
                .storage_roots()
                .into_iter()
                .map(Into::into)
                .collect(),
        )
        .unwrap_or_else(|_| qaboard_storage::Storage::new(Vec::new()).expect("no roots is valid"));
        AppState {
            storage,
            pool,
            settings: Arc::new(settings),
            config: Arc::new(config),
            heavy_reads: Arc::new(Semaphore::new(permits)),
        }
    }
}

impl std::fmt::Debug for AppState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppState")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

/// Registers the state as app data and every route: the whole application, for [`Application::build`] and for
/// in-process tests (`actix_web::test::init_service(App::new().configure(..))`).
pub fn configure_app(state: &AppState) -> impl FnOnce(&mut web::ServiceConfig) + '_ {
    move |cfg| {
        cfg.app_data(web::Data::new(state.clone()));
        crate::configure(cfg);
    }
}

/// A bound, not yet running HTTP server of the API.
pub struct Application {
    server: Server,
    addrs: Vec<SocketAddr>,
}

impl Application {
    /// Binds `addr` (port 0: any free port) and builds the server with
    /// `workers` worker threads over `state`. Errors: the address cannot be
    /// bound.
    pub fn build(state: AppState, addr: SocketAddr, workers: usize) -> std::io::Result<Self> {
        let server = HttpServer::new(move || {
            App::new()
                .wrap(middleware::Logger::new("%r %s %b %Dms").log_target("qaboard::http"))
                .configure(configure_app(&state))
        })
        .workers(workers)
        .shutdown_timeout(30)
        .bind(addr)?;
        let addrs = server.addrs();
        Ok(Application {
            server: server.run(),
            addrs,
        })
    }

    /// The addresses the server listens on.
    pub fn addrs(&self) -> &[SocketAddr] {
        &self.addrs
    }

    /// A handle to stop the server.
    pub fn handle(&self) -> ServerHandle {
        self.server.handle()
    }

    /// Serves until the server is stopped (signal or [`ServerHandle::stop`]).
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        self.server.await
    }
}
