//! `qaboard-migrate`: database migrations of QA-Board, on PostgreSQL or SQLite.
use anyhow::{bail, Context, Result};
use qaboard_db::{migrations, pool::establish, redact_url, resolve_database_url, DbParts};

const USAGE: &str = "\
usage: qaboard-migrate [--database-url URL] <command>

commands:
  status   list migrations and whether each is applied
  run      apply every pending migration
  revert   revert the most recently applied migration
  adopt    take over a PostgreSQL database of the original Python backend:
           record our baseline (the original schema) as applied without
           touching data, then apply our later migrations

The database is --database-url, else QABOARD_DATABASE_URL, else the original
deployment's QABOARD_DB_HOST/_PORT/_USER/_PASSWORD/_NAME, else the embedded
SQLite file <QABOARD_DATA_DIR or ./qaboard-data>/qaboard.db.";

fn main() {
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("warn")).init();
    if let Err(e) = run() {
        eprintln!("qaboard-migrate: {e:#}");
        std::process::exit(1);
    }
}

fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

fn run() -> Result<()> {
    let mut url = env("QABOARD_DATABASE_URL");
    let mut command = None;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--database-url" => url = Some(args.next().context("--database-url needs a value")?),
            "-h" | "--help" => {
                println!("{USAGE}");
                return Ok(());
            }
            c if command.is_none() && !c.starts_with('-') => command = Some(c.to_string()),
            other => bail!("unexpected argument '{other}'\n\n{USAGE}"),
        }
    }
    let Some(command) = command else {
        bail!("a command is required\n\n{USAGE}")
    };
    let parts = DbParts {
        host: env("QABOARD_DB_HOST"),
        port: env("QABOARD_DB_PORT")
            .map(|p| p.parse())
            .transpose()
            .context("QABOARD_DB_PORT is not a port")?,
        user: env("QABOARD_DB_USER"),
        password: env("QABOARD_DB_PASSWORD"),
        name: env("QABOARD_DB_NAME"),
    };
    let data_dir = env("QABOARD_DATA_DIR").unwrap_or_else(|| "qaboard-data".into());
    let url = resolve_database_url(url.as_deref(), &parts, std::path::Path::new(&data_dir));
    let mut conn = establish(&url).with_context(|| format!("cannot open {}", redact_url(&url)))?;
    match command.as_str() {
        "status" => {
            for m in migrations::status(&mut conn)? {
                println!("[{}] {}", if m.applied { "x" } else { " " }, m.name);
            }
        }
        "run" => {
            let applied = migrations::run_pending(&mut conn)?;
            if applied.is_empty() {
                println!("nothing to apply");
            }
            for m in applied {
                println!("applied {m}");
            }
        }
        "revert" => println!("reverted {}", migrations::revert_last(&mut conn)?),
        "adopt" => {
            let report = migrations::adopt(&mut conn)?;
            if report.marked_baseline {
                println!(
                    "adopted: baseline {} recorded as applied",
                    migrations::PG_BASELINE_VERSION
                );
            } else {
                println!("already adopted");
            }
            for m in report.applied {
                println!("applied {m}");
            }
        }
        other => bail!("unknown command '{other}'\n\n{USAGE}"),
    }
    Ok(())
}
