//! `qaboard-migrate`: database migrations of QA-Board, on PostgreSQL or SQLite.
use anyhow::{bail, Context, Result};
use qaboard_db::{migrations, pool::establish, redact_url};
use qaboard_settings::Settings;

const USAGE: &str = "\
usage: qaboard-migrate [--config FILE] [--database-url URL] <command>

commands:
  status   list migrations and whether each is applied
  run      apply every pending migration
  revert   revert the most recently applied migration
  adopt    take over a PostgreSQL database of the original Python backend:
           record our baseline (the original schema) as applied without
           touching data, then apply our later migrations

The database is --database-url, else the server's settings (the TOML file of
--config or QABOARD_CONFIG, then QABOARD_* variables): database_url, else the
original deployment's db_host/_port/_user/_password/_name, else the embedded
SQLite file <data_dir>/qaboard.db (see docs/configuration.md).";

fn main() {
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("warn")).init();
    if let Err(e) = run() {
        eprintln!("qaboard-migrate: {e:#}");
        std::process::exit(1);
    }
}

fn run() -> Result<()> {
    let mut url = None;
    let mut config = std::env::var("QABOARD_CONFIG")
        .ok()
        .filter(|v| !v.is_empty());
    let mut command = None;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--database-url" => url = Some(args.next().context("--database-url needs a value")?),
            "--config" => config = Some(args.next().context("--config needs a file")?),
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
    let url = match url {
        Some(u) => u,
        None => Settings::load(config.as_deref())?.database_url(),
    };
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
