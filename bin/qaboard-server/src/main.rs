//! The QA-Board backend server: settings, logging, pool, migrations, HTTP.
use std::time::Duration;

use anyhow::{bail, Context, Result};
use qaboard_api::{AppState, Application};
use qaboard_db::{migrations, redact_url, DbConfig, DbPool};

use qaboard_settings::Settings;

/// Tunes glibc's allocator for this server's pattern: answers of the heavy
/// reads are buffers of a few MB, allocated and freed many times a second.
/// By default glibc serves them with `mmap` and gives freed memory back at
/// once, so every answer paid its page faults again (a fifth of the commit
/// page's time, perf). Kept in the heap instead, they are reused; the
/// process's memory stays near its peak live size (bench/README.md: peak RSS
/// 35-50 MB at concurrency 8, where mimalloc held 80-130 MB for the same
/// throughput).
#[allow(unsafe_code)]
fn tune_allocator() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only sets allocator parameters; it is called before
    // any other thread exists.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 32 * 1024 * 1024);
        libc::mallopt(libc::M_TRIM_THRESHOLD, 128 * 1024 * 1024);
    }
}

/// Gives freed heap memory back to the OS after bursts of large request
/// bodies: every second, when at least `TRIM_AFTER_BYTES` of bodies were read
/// since the last trim, none arrived in the last second and none is being
/// read, calls glibc's `malloc_trim(0)`. Without it the 128 MiB trim
/// threshold of [`tune_allocator`] and per-thread arenas keep the burst's
/// peak (bench/body_burst.py; docs/robustness.md "Memory after a burst").
/// Quiet servers never trim; a busy one trims at most once a second, and only
/// between bodies.
fn spawn_heap_trimmer(budget: std::sync::Arc<qaboard_api::body::BodyBudget>) {
    const TRIM_AFTER_BYTES: u64 = 64 * 1024 * 1024;
    let spawned = std::thread::Builder::new()
        .name("heap-trim".into())
        .spawn(move || {
            let (mut trimmed_at, mut last_seen) = (0u64, 0u64);
            loop {
                std::thread::sleep(Duration::from_secs(1));
                let taken = budget.bytes_taken_total();
                let quiet = taken == last_seen && budget.in_flight() == 0;
                last_seen = taken;
                if quiet && taken - trimmed_at >= TRIM_AFTER_BYTES {
                    trimmed_at = taken;
                    malloc_trim();
                }
            }
        });
    if let Err(e) = spawned {
        log::warn!("no heap trimmer thread: {e}");
    }
}

#[allow(unsafe_code)]
fn malloc_trim() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only releases free memory of glibc's arenas; it
    // takes each arena's lock and is safe to call from any thread.
    unsafe {
        libc::malloc_trim(0);
    }
}

const USAGE: &str = "usage: qaboard-server [--config FILE] [--no-migrate]\n\
  --config FILE   TOML settings (also QABOARD_CONFIG); QABOARD_* variables override it\n\
  --no-migrate    do not apply pending database migrations at start\n\
  gc ...          collect the storage of idle commits and exit (`gc --help`)";

struct Args {
    config: Option<String>,
    migrate: bool,
    /// `gc` and the arguments after it.
    gc: Option<Vec<String>>,
}

fn parse_args() -> Result<Args> {
    let mut args = Args {
        config: std::env::var("QABOARD_CONFIG").ok(),
        migrate: true,
        gc: None,
    };
    let mut it = std::env::args().skip(1);
    while let Some(a) = it.next() {
        match a.as_str() {
            "--config" => args.config = Some(it.next().context("--config needs a file")?),
            "--no-migrate" => args.migrate = false,
            "gc" if args.gc.is_none() => args.gc = Some(Vec::new()),
            "-h" | "--help" if args.gc.is_some() => {
                println!("{}", qaboard_api::gc::GC_USAGE);
                std::process::exit(0);
            }
            _ if args.gc.is_some() => args.gc.iter_mut().for_each(|g| g.push(a.clone())),
            "-h" | "--help" => {
                println!("{USAGE}");
                std::process::exit(0);
            }
            other => bail!("unknown argument '{other}'\n{USAGE}"),
        }
    }
    Ok(args)
}

fn main() {
    tune_allocator();
    if let Err(e) = run() {
        eprintln!("qaboard-server: {e:#}");
        std::process::exit(1);
    }
}

fn run() -> Result<()> {
    let args = parse_args()?;
    let settings = Settings::load(args.config.as_deref())?;
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("info")).init();

    let url = settings.database_url();
    log::info!("database: {}", redact_url(&url));
    let pool = DbPool::connect(&DbConfig {
        url,
        pool_size: settings.pool_size,
        connection_timeout: Duration::from_secs(settings.pool_timeout_secs),
        echo: settings.db_echo,
    })?;
    if args.migrate {
        let applied = migrations::run_pending(&mut pool.get()?)?;
        for m in applied {
            log::info!("applied migration {m}");
        }
    }

    if let Some(gc_args) = &args.gc {
        return gc(&pool, &settings, gc_args);
    }
    qaboard_api::gc::spawn_periodic(
        pool.clone(),
        qaboard_api::gc::storage_of(&settings)?,
        settings.storage_root.clone(),
        settings.data_dir.clone(),
        settings.gc_interval,
    );

    let addr = settings
        .listen_addr()
        .with_context(|| format!("cannot resolve {}", settings.listen))?;
    let state = AppState::from_settings(pool, settings.clone());
    spawn_heap_trimmer(state.config.body_budget.clone());
    // Refuse to start when logins or integrations cannot work (secret key, LDAP, JSON settings).
    state.users.check().map_err(anyhow::Error::msg)?;
    qaboard_api::integrations::outbound_settings(&settings).map_err(anyhow::Error::msg)?;
    let workers = settings
        .workers
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(2, |n| n.get()));

    actix_web::rt::System::new().block_on(async move {
        let app = Application::build(state, addr, workers)
            .with_context(|| format!("cannot listen on {addr}"))?;
        for a in app.addrs() {
            // Tests and scripts read this line to find the port.
            println!("qaboard-server listening on http://{a}");
        }
        app.run_until_stopped().await.context("server failed")
    })
}

/// `qaboard-server gc …`: one garbage collection, its report on standard
/// output; exit status 1 when another one is running.
fn gc(pool: &DbPool, settings: &Settings, args: &[String]) -> Result<()> {
    let request = qaboard_api::gc::GcRequest::parse_args(args).map_err(anyhow::Error::msg)?;
    let report = qaboard_api::gc::run_gc(
        pool,
        &qaboard_api::gc::storage_of(settings)?,
        &settings.storage_root,
        &settings.data_dir,
        &request,
        chrono::Utc::now(),
    )?;
    for e in &report.errors {
        eprintln!("warning: {e}");
    }
    println!("{report}");
    Ok(())
}
