//! The migration tool as a user runs it, on SQLite and PostgreSQL.
use std::process::Command;

use diesel::connection::SimpleConnection;
use qaboard_db::testing::TestDb;
use qaboard_db::DbConn;

fn migrate(url: &str, cmd: &str) -> (bool, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_qaboard-migrate"))
        .args(["--database-url", url, cmd])
        .env_remove("QABOARD_DATABASE_URL")
        .output()
        .expect("run qaboard-migrate");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

fn check_cycle(url: &str) {
    let (ok, s) = migrate(url, "status");
    assert!(ok, "{s}");
    assert!(s.contains("[ ]") && !s.contains("[x]"), "{s}");
    let (ok, s) = migrate(url, "run");
    assert!(ok && s.contains("applied"), "{s}");
    let (ok, s) = migrate(url, "status");
    assert!(ok && !s.contains("[ ]"), "{s}");
    let (ok, s) = migrate(url, "run");
    assert!(ok && s.contains("nothing to apply"), "{s}");
    let (ok, s) = migrate(url, "revert");
    assert!(ok && s.contains("reverted"), "{s}");
    let (ok, s) = migrate(url, "status");
    assert!(ok && s.contains("[ ]"), "{s}");
    let (ok, s) = migrate(url, "bogus");
    assert!(!ok && s.contains("unknown command"), "{s}");
}

#[test]
fn status_run_revert_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let url = dir
        .path()
        .join("sub/qaboard.db")
        .to_string_lossy()
        .into_owned();
    check_cycle(&url);
    let (ok, s) = migrate(&url, "adopt");
    assert!(!ok && s.contains("PostgreSQL"), "{s}");
}

#[test]
fn status_run_revert_and_adopt_on_postgres() {
    let Some(db) = TestDb::postgres_empty() else {
        eprintln!("skipped: no QABOARD_TEST_DATABASE_URL");
        return;
    };
    check_cycle(&db.url);

    // A database of the original backend, with a row, is adopted in place.
    let Some(orig) = TestDb::postgres_empty() else {
        unreachable!()
    };
    {
        let mut conn = orig.pool.get().unwrap();
        let DbConn::Pg(c) = &mut conn else {
            unreachable!()
        };
        c.batch_execute(
            "CREATE TABLE projects (id VARCHAR PRIMARY KEY, data JSON NOT NULL DEFAULT '{}', latest_output_datetime TIMESTAMP);
             CREATE TABLE ci_commits (id SERIAL PRIMARY KEY, hexsha VARCHAR NOT NULL, project_id VARCHAR REFERENCES projects (id),
               data JSON NOT NULL DEFAULT '{}', authored_datetime TIMESTAMPTZ, committer_name VARCHAR, message VARCHAR,
               branch VARCHAR, parents JSON, commit_dir_override VARCHAR, commit_type VARCHAR,
               latest_output_datetime TIMESTAMPTZ, deleted BOOLEAN, CONSTRAINT _project_hexsha UNIQUE (project_id, hexsha));
             CREATE TABLE batches (id SERIAL PRIMARY KEY, created_date TIMESTAMP NOT NULL, data JSON NOT NULL DEFAULT '{}',
               ci_commit_id INTEGER REFERENCES ci_commits (id), label VARCHAR, batch_dir_override VARCHAR,
               CONSTRAINT _ci_commit__label UNIQUE (ci_commit_id, label));
             CREATE TABLE test_inputs (id SERIAL PRIMARY KEY, path VARCHAR NOT NULL, database VARCHAR NOT NULL,
               data JSON NOT NULL DEFAULT '{}', CONSTRAINT _database_path UNIQUE (database, path));
             CREATE TABLE outputs (id SERIAL PRIMARY KEY, batch_id INTEGER REFERENCES batches (id), created_date TIMESTAMP,
               deleted BOOLEAN, output_dir_override VARCHAR, output_type VARCHAR, test_input_id INTEGER REFERENCES test_inputs (id),
               platform VARCHAR, configurations JSONB NOT NULL DEFAULT '[]', extra_parameters JSONB NOT NULL DEFAULT '{}',
               is_pending BOOLEAN, is_running BOOLEAN, is_failed BOOLEAN, metrics JSON NOT NULL DEFAULT '{}', data JSON NOT NULL DEFAULT '{}');
             CREATE TABLE users (id SERIAL PRIMARY KEY, created_date TIMESTAMP NOT NULL, user_name VARCHAR UNIQUE,
               full_name VARCHAR UNIQUE, email VARCHAR UNIQUE, password VARCHAR, is_ldap BOOLEAN);
             INSERT INTO projects VALUES ('g/r', '{\"x\": 1}', NULL);",
        )
        .unwrap();
    }
    let (ok, s) = migrate(&orig.url, "adopt");
    assert!(ok && s.contains("adopted"), "{s}");
    let (ok, s) = migrate(&orig.url, "status");
    assert!(ok && !s.contains("[ ]"), "{s}");
    let (ok, s) = migrate(&orig.url, "adopt");
    assert!(ok && s.contains("already adopted"), "{s}");
}
