//! The one application state shared by every handler ([`AppState`]), and
//! the one builder of the HTTP server ([`Application`]) used by the server
//! binary and by the tests alike (as zero-to-production's
//! `Application::build`): same routes, same middleware, same logger.
//!
//! A handler reaches the state with `state: web::Data<AppState>`; nothing
//! else is registered as app data.
use std::net::SocketAddr;
use std::sync::Arc;

use actix_service::ServiceFactoryExt as _;
use actix_web::dev::{Server, ServerHandle};
use actix_web::{web, App};
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
    /// Logins: cookie signer, cookie attributes, rate limiter, LDAP (see `users`).
    pub users: Arc<crate::users::Users>,
    /// The one outbound HTTP client, with its SSRF guard (see `integrations`).
    pub outbound: qaboard_outbound::Outbound,
    /// The git mirrors (`git_dir`, cloned from `GITLAB_HOST`; the token is
    /// given per call), see `crate::git`.
    pub git: qaboard_git::Mirrors,
    /// The storage roots (`storage_roots`, default `[storage_root]`): the
    /// only way handlers touch files for a client (`/s/`, IIIF, manifests).
    pub storage: qaboard_storage::Storage,
    /// Decoded images shared by IIIF tiles and pixel look-ups, bounded by
    /// `image_cache_bytes`.
    pub images: qaboard_images::ImageCache,
    /// Prometheus metrics of this process (`GET /metrics`, see [`crate::metrics`]).
    pub metrics: crate::metrics::Metrics,
    /// Starts and stops the `qa` jobs of the webapp (redo, tuning, group
    /// listing) on this host; its clones share one `max_jobs` counter.
    pub jobs: qaboard_jobs::LocalRunner,
    /// Stops the LSF jobs of `qa batch --runner lsf` (`bkill` through `QA_RUNNERS_LSF_BRIDGE`).
    pub lsf: qaboard_jobs::LsfRunner,
    /// Unique per state in this process: prefixes the response cache's keys, so states over
    /// different databases that share one cache (one `ApiConfig`) never serve each other's
    /// answers, even when their versions are equal.
    pub cache_scope: u64,
}

/// The next [`AppState::cache_scope`].
fn next_cache_scope() -> u64 {
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
}

impl AppState {
    /// The state of a server over `pool` with the process's `settings`.
    pub fn from_settings(pool: DbPool, settings: Settings) -> AppState {
        let config = ApiConfig::from_settings(&settings);
        AppState::build(pool, settings, config)
    }

    /// The state of a server over `pool` with the API settings `config`
    /// (tests), the other settings at their defaults but for `storage_root`
    /// and `data_dir`, taken from `config` (so the storage roots are
    /// `[config.storage_root]`).
    pub fn new(pool: DbPool, config: ApiConfig) -> AppState {
        let settings = Settings {
            storage_root: config.storage_root.clone(),
            data_dir: config.data_dir.clone(),
            ..Settings::default()
        };
        AppState::build(pool, settings, config)
    }

    /// Heavy reads get one permit per available core.
    fn build(pool: DbPool, settings: Settings, config: ApiConfig) -> AppState {
        let permits = std::thread::available_parallelism().map_or(2, |n| n.get());
        let users = Arc::new(crate::users::Users::from_settings(&settings));
        let outbound = crate::integrations::outbound_from_settings(&settings);
        let git = qaboard_git::Mirrors::new(
            settings.git_dir(),
            settings.gitlab_host.clone().unwrap_or_default(),
        );
        let storage = storage_of(&settings);
        let images = qaboard_images::ImageCache::new(settings.image_cache_bytes);
        let jobs = crate::jobs::jobs_config(&settings);
        AppState {
            git,
            storage,
            images,
            pool,
            lsf: qaboard_jobs::LsfRunner::new(jobs.lsf_bridge.clone(), jobs.lsf_timeout),
            jobs: qaboard_jobs::LocalRunner::new(jobs),
            settings: Arc::new(settings),
            config: Arc::new(config),
            heavy_reads: Arc::new(Semaphore::new(permits)),
            users,
            outbound,
            metrics: crate::metrics::Metrics::new(),
            cache_scope: next_cache_scope(),
        }
    }
}

/// The storage of the settings' `storage_roots` (`[storage_root]` when
/// empty). Roots the settings let through but storage refuses (with `..`)
/// are logged and left out: no file is then reachable through them.
fn storage_of(settings: &Settings) -> qaboard_storage::Storage {
    let mut roots = Vec::new();
    for r in settings.storage_roots() {
        match qaboard_storage::Storage::new(vec![r.clone().into()]) {
            Ok(_) => roots.push(std::path::PathBuf::from(r)),
            Err(e) => log::error!("storage root left out: {e}"),
        }
    }
    qaboard_storage::Storage::new(roots).unwrap_or_else(|e| {
        log::error!("no storage root: {e}");
        qaboard_storage::Storage::new(Vec::new()).expect("no roots is valid")
    })
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
        cfg.app_data(web::Data::new(state.metrics.clone()));
        cfg.configure(crate::metrics::configure);
        crate::configure(cfg);
        // Files and the webapp come after the API: the webapp's fallback is
        // the last default service and keeps JSON 404s under `/api`.
        match &state.settings.webapp_dir {
            Some(dir) => crate::static_files::configure_webapp(cfg, dir),
            None => crate::home::configure(cfg),
        }
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
    ///
    /// In front of the App, [`crate::front`] answers plain `GET`/`HEAD`s of
    /// small files under `/s/` itself (with the same metrics and access log);
    /// on keep-alive connections [`crate::wire::plain_files`] answers them
    /// even before actix-http's dispatcher.
    /// The App's one middleware, [`crate::boundary::Boundary`], does, in
    /// this order: request metrics, the access log, repeated slashes merged
    /// (`//api/v1/output/`, no redirect), `HEAD` as `GET`, NUL checks of path
    /// and query, JSON bodies for empty error responses (docs/robustness.md).
    /// Connections: the
    /// head must arrive within `client_request_timeout_secs`, idle
    /// keep-alive ends after `keep_alive_secs`, at most `max_connections`
    /// per worker.
    pub fn build(state: AppState, addr: SocketAddr, workers: usize) -> std::io::Result<Self> {
        let settings = state.settings.clone();
        let listener = std::net::TcpListener::bind(addr)?;
        let local = listener.local_addr()?;
        // actix-web's `HttpServer`, spelled out: the same HTTP/1 service, behind a connection
        // wrapper that gives the parser's own error answers JSON bodies (`wire`).
        let server = actix_web::dev::Server::build()
            .workers(workers)
            .max_concurrent_connections(settings.max_connections)
            .shutdown_timeout(30)
            .listen("qaboard", listener, move || {
                let app = App::new()
                    .wrap(crate::boundary::Boundary::new(state.metrics.clone()))
                    .configure(configure_app(&state));
                let http = actix_http::HttpService::build()
                    .client_request_timeout(std::time::Duration::from_secs(
                        settings.client_request_timeout_secs,
                    ))
                    .client_disconnect_timeout(std::time::Duration::from_secs(5))
                    .keep_alive(std::time::Duration::from_secs(settings.keep_alive_secs))
                    .local_addr(local)
                    .h1(crate::front::FrontFactory::new(
                        actix_service::map_config(app, |_| actix_web::dev::AppConfig::default()),
                        state.storage.clone(),
                        state.metrics.clone(),
                    ));
                let plain = std::rc::Rc::new(crate::wire::plain_files::PlainFiles::new(
                    state.storage.clone(),
                    crate::front::PlainRecorder::new(state.metrics.clone()),
                    std::time::Duration::from_secs(settings.client_request_timeout_secs),
                    std::time::Duration::from_secs(settings.keep_alive_secs),
                ));
                actix_service::fn_service(move |io: actix_web::rt::net::TcpStream| {
                    let plain = plain.clone();
                    async move {
                        let peer = io.peer_addr().ok();
                        let io = crate::wire::JsonErrorIo::new(io);
                        let io = crate::wire::plain_files::serve(io, plain).await;
                        Ok::<_, actix_http::error::DispatchError>((io, peer))
                    }
                })
                .and_then(http)
            })?;
        Ok(Application {
            server: server.run(),
            addrs: vec![local],
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
