//! Opens a QA-Board database and lists a project's latest commits that have
//! results, with their batches.
//!
//! ```sh
//! cargo run -p qaboard-db --example list_commits -- <database url or SQLite file> <project>
//! ```
use chrono::{DateTime, Utc};
use qaboard_db::read::{self, CommitWindow};
use qaboard_db::{DbConfig, DbPool};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let (Some(url), Some(project)) = (args.next(), args.next()) else {
        eprintln!("usage: list_commits <database url or SQLite file> <project>");
        std::process::exit(2);
    };
    let pool = DbPool::connect(&DbConfig::new(url))?;
    let mut conn = pool.get()?;
    let window = CommitWindow {
        project,
        branch: None,
        committer: None,
        from: DateTime::<Utc>::UNIX_EPOCH,
        to: Utc::now(),
        limit: 20,
        with_outputs: false,
        metrics: Vec::new(),
        batch: None,
    };
    for tree in read::commits_in_window(&mut conn, &window)? {
        let c = &tree.commit;
        let labels: Vec<&str> = tree
            .batches
            .iter()
            .map(|b| b.batch.label.as_str())
            .collect();
        println!(
            "{} {} {} [{}]",
            &c.hexsha[..c.hexsha.len().min(10)],
            c.branch.as_deref().unwrap_or("-"),
            c.message
                .as_deref()
                .unwrap_or("")
                .lines()
                .next()
                .unwrap_or(""),
            labels.join(", ")
        );
    }
    Ok(())
}
