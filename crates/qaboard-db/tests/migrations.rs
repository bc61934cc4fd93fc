//! Migrations on both backends, and adoption of a database of the original backend.
use diesel::connection::SimpleConnection;
use diesel::sql_types::{BigInt, Text};
use diesel::{QueryableByName, RunQueryDsl};
use qaboard_db::testing::TestDb;
use qaboard_db::{migrations, DbConn};

fn exec(conn: &mut DbConn, sql: &str) {
    match conn {
        DbConn::Pg(c) => c.batch_execute(sql).unwrap(),
        DbConn::Sqlite(c) => c.batch_execute(sql).unwrap(),
    }
}

#[derive(QueryableByName)]
struct N {
    #[diesel(sql_type = BigInt)]
    n: i64,
}

fn count(conn: &mut DbConn, sql: &str) -> i64 {
    let r: Vec<N> = match conn {
        DbConn::Pg(c) => diesel::sql_query(sql).load(&mut **c).unwrap(),
        DbConn::Sqlite(c) => diesel::sql_query(sql).load(&mut **c).unwrap(),
    };
    r[0].n
}

#[test]
fn status_run_revert_on_every_backend() {
    let mut dbs = vec![TestDb::sqlite_empty()];
    dbs.extend(TestDb::postgres_empty());
    for db in dbs {
        let mut conn = db.pool.get().unwrap();
        let before = migrations::status(&mut conn).unwrap();
        assert!(!before.is_empty());
        assert!(before.iter().all(|m| !m.applied), "{db:?}");
        let applied = migrations::run_pending(&mut conn).unwrap();
        assert_eq!(applied.len(), before.len());
        assert!(migrations::status(&mut conn)
            .unwrap()
            .iter()
            .all(|m| m.applied));
        // A second run has nothing to do.
        assert!(migrations::run_pending(&mut conn).unwrap().is_empty());
        exec(&mut conn, "INSERT INTO projects (id) VALUES ('a/b')");
        assert_eq!(count(&mut conn, "SELECT count(*) AS n FROM projects"), 1);
        // Revert the newest, then everything, then apply again.
        let reverted = migrations::revert_last(&mut conn).unwrap();
        let status = migrations::status(&mut conn).unwrap();
        assert!(status
            .iter()
            .any(|m| m.name.replace('-', "").starts_with(&reverted) && !m.applied));
        while migrations::status(&mut conn)
            .unwrap()
            .iter()
            .any(|m| m.applied)
        {
            migrations::revert_last(&mut conn).unwrap();
        }
        migrations::run_pending(&mut conn).unwrap();
        assert!(migrations::status(&mut conn)
            .unwrap()
            .iter()
            .all(|m| m.applied));
    }
}

#[test]
fn adopt_is_refused_on_sqlite() {
    let db = TestDb::sqlite_empty();
    let err = migrations::adopt(&mut db.pool.get().unwrap()).unwrap_err();
    assert!(err.to_string().contains("PostgreSQL"), "{err}");
}

/// The schema as the original Python backend created it (SQLAlchemy
/// `create_all` + alembic), JSON columns and nullable flags included.
const ORIGINAL_DDL: &str = r#"
CREATE TABLE alembic_version (version_num VARCHAR(32) NOT NULL PRIMARY KEY);
INSERT INTO alembic_version VALUES ('c44a0b869765');
CREATE TABLE projects (id VARCHAR NOT NULL PRIMARY KEY, data JSON DEFAULT '{}' NOT NULL, latest_output_datetime TIMESTAMP WITHOUT TIME ZONE);
CREATE TABLE ci_commits (
  id SERIAL NOT NULL PRIMARY KEY, hexsha VARCHAR NOT NULL, project_id VARCHAR REFERENCES projects (id),
  data JSON DEFAULT '{}' NOT NULL, authored_datetime TIMESTAMP WITH TIME ZONE, committer_name VARCHAR,
  message VARCHAR, branch VARCHAR, parents JSON, commit_dir_override VARCHAR, commit_type VARCHAR,
  latest_output_datetime TIMESTAMP WITH TIME ZONE, deleted BOOLEAN,
  CONSTRAINT _project_hexsha UNIQUE (project_id, hexsha));
CREATE INDEX ix_ci_commits_hexsha ON ci_commits (hexsha);
CREATE INDEX ix_ci_commits_branch ON ci_commits (branch);
CREATE TABLE batches (
  id SERIAL NOT NULL PRIMARY KEY, created_date TIMESTAMP WITHOUT TIME ZONE NOT NULL, data JSON DEFAULT '{}' NOT NULL,
  ci_commit_id INTEGER REFERENCES ci_commits (id), label VARCHAR, batch_dir_override VARCHAR,
  CONSTRAINT _ci_commit__label UNIQUE (ci_commit_id, label));
CREATE TABLE test_inputs (
  id SERIAL NOT NULL PRIMARY KEY, path VARCHAR NOT NULL, database VARCHAR NOT NULL, data JSON DEFAULT '{}' NOT NULL,
  CONSTRAINT _database_path UNIQUE (database, path));
CREATE TABLE outputs (
  id SERIAL NOT NULL PRIMARY KEY, batch_id INTEGER REFERENCES batches (id), created_date TIMESTAMP WITHOUT TIME ZONE,
  deleted BOOLEAN, output_dir_override VARCHAR, output_type VARCHAR, test_input_id INTEGER REFERENCES test_inputs (id),
  platform VARCHAR, configurations JSONB DEFAULT '[]' NOT NULL, extra_parameters JSONB DEFAULT '{}' NOT NULL,
  is_pending BOOLEAN, is_running BOOLEAN, is_failed BOOLEAN, metrics JSON DEFAULT '{}' NOT NULL, data JSON DEFAULT '{}' NOT NULL);
CREATE INDEX idx_outputs_data_user ON outputs ((data->>'user'));
CREATE TABLE users (
  id SERIAL NOT NULL PRIMARY KEY, created_date TIMESTAMP WITHOUT TIME ZONE NOT NULL, user_name VARCHAR UNIQUE,
  full_name VARCHAR UNIQUE, email VARCHAR UNIQUE, password VARCHAR, is_ldap BOOLEAN);
"#;

const ORIGINAL_ROWS: &str = r#"
INSERT INTO projects VALUES ('acme/smoke', '{"git": {"path_with_namespace": "acme/smoke"}, "qatools_config": {"project": {"name": "acme/smoke"}}}', '2026-11-24 17:53:38');
INSERT INTO projects VALUES ('acme/mono/sub', '{}', NULL);
INSERT INTO ci_commits (hexsha, project_id, data, authored_datetime, committer_name, message, branch, parents, commit_type, deleted)
  VALUES ('462a23fc9356a1fa3f792828b530ea6d4eeb9803', 'acme/smoke', '{"a": 1}', '2026-11-20T10:00:00+00:00', 'Jane Doe', 'c1', 'master', '["f39ae8fabd816e38763bd69afb70ea8e733e26c7"]', 'git', NULL),
         ('5555555555555555555555555555555555555555', 'acme/smoke', '{}', '2026-11-21T07:30:00+00:00', 'John', 'c2', 'origin/feature', NULL, 'git', false);
INSERT INTO batches (created_date, data, ci_commit_id, label) VALUES ('2026-11-24 17:52:33', '{"type": "ci"}', 1, 'default'), ('2026-11-24 17:52:34', '{}', 2, 'default');
INSERT INTO test_inputs (path, database, data) VALUES ('images/0001.jpg', '/mnt/datasets/images', '{"metadata": {"iso": 100}}'), ('images/0002.jpg', '/mnt/datasets/images', '{}');
INSERT INTO outputs (batch_id, created_date, deleted, output_type, test_input_id, platform, configurations, extra_parameters, is_pending, is_running, is_failed, metrics, data)
  VALUES (1, '2026-11-24 17:52:33', false, 'image', 1, 'linux', '["base"]', '{}', false, false, false, '{"psnr": 31.1}', '{"user": "ci"}'),
         (1, '2026-11-24 17:52:34', NULL, 'image', 2, 'linux', '["base"]', '{}', NULL, NULL, NULL, '{}', '{}'),
         (2, '2026-11-24 17:52:35', false, 'image', 1, 'linux', '["base", {"x": 1}]', '{"t": 0.5}', true, true, false, '{}', '{}');
INSERT INTO users (created_date, user_name, full_name, email, password, is_ldap) VALUES ('2026-01-01', 'jane', 'Jane Doe', 'j@x', 'h', NULL);
"#;

#[test]
fn adopt_an_original_database_keeps_every_row() {
    let Some(db) = TestDb::postgres_empty() else {
        eprintln!("skipped: no QABOARD_TEST_DATABASE_URL");
        return;
    };
    let mut conn = db.pool.get().unwrap();
    exec(&mut conn, ORIGINAL_DDL);
    exec(&mut conn, ORIGINAL_ROWS);
    let tables = [
        "projects",
        "ci_commits",
        "batches",
        "test_inputs",
        "outputs",
        "users",
        "alembic_version",
    ];
    let before: Vec<i64> = tables
        .iter()
        .map(|t| count(&mut conn, &format!("SELECT count(*) AS n FROM {t}")))
        .collect();

    let report = migrations::adopt(&mut conn).unwrap();
    assert!(report.marked_baseline);
    let status = migrations::status(&mut conn).unwrap();
    // Every migration after the original's baseline was applied by adopt.
    assert_eq!(report.applied.len(), status.len() - 1, "{report:?}");
    assert!(status.iter().all(|m| m.applied));

    let after: Vec<i64> = tables
        .iter()
        .map(|t| count(&mut conn, &format!("SELECT count(*) AS n FROM {t}")))
        .collect();
    assert_eq!(before, after, "no row lost");
    // Data survived the JSON -> JSONB conversion, NULL flags became false.
    assert_eq!(
        count(&mut conn, "SELECT count(*) AS n FROM projects WHERE data->'git'->>'path_with_namespace' = 'acme/smoke'"),
        1
    );
    assert_eq!(
        count(
            &mut conn,
            "SELECT count(*) AS n FROM outputs WHERE metrics->>'psnr' = '31.1'"
        ),
        1
    );
    assert_eq!(
        count(
            &mut conn,
            "SELECT count(*) AS n FROM outputs WHERE is_pending IS NULL OR deleted IS NULL"
        ),
        0
    );
    assert_eq!(
        count(
            &mut conn,
            "SELECT count(*) AS n FROM ci_commits WHERE deleted = false"
        ),
        2
    );
    #[derive(QueryableByName)]
    struct T {
        #[diesel(sql_type = Text)]
        t: String,
    }
    let DbConn::Pg(c) = &mut conn else {
        unreachable!()
    };
    let types: Vec<T> = diesel::sql_query(
        "SELECT data_type AS t FROM information_schema.columns WHERE table_name = 'outputs' AND column_name = 'metrics'",
    )
    .load(&mut **c)
    .unwrap();
    assert_eq!(types[0].t, "jsonb");

    // Adopting again is a no-op.
    let again = migrations::adopt(&mut conn).unwrap();
    assert!(!again.marked_baseline);
    assert!(again.applied.is_empty());
}

#[test]
fn adopt_refuses_duplicate_outputs_and_changes_nothing() {
    let Some(db) = TestDb::postgres_empty() else {
        eprintln!("skipped: no QABOARD_TEST_DATABASE_URL");
        return;
    };
    let mut conn = db.pool.get().unwrap();
    exec(&mut conn, ORIGINAL_DDL);
    exec(&mut conn, ORIGINAL_ROWS);
    exec(
        &mut conn,
        "INSERT INTO outputs (batch_id, test_input_id, platform, configurations, extra_parameters, metrics, data) \
         VALUES (1, 1, 'linux', '[\"base\"]', '{}', '{}', '{}')",
    );
    let err = migrations::adopt(&mut conn).unwrap_err();
    assert!(err.to_string().contains("duplicate"), "{err}");
    assert_eq!(
        count(
            &mut conn,
            "SELECT count(*) AS n FROM information_schema.tables WHERE table_name = '__diesel_schema_migrations'"
        ),
        0
    );
}

#[test]
fn adopt_refuses_a_database_without_qaboard_tables() {
    let Some(db) = TestDb::postgres_empty() else {
        eprintln!("skipped: no QABOARD_TEST_DATABASE_URL");
        return;
    };
    let err = migrations::adopt(&mut db.pool.get().unwrap()).unwrap_err();
    assert!(err.to_string().contains("missing tables"), "{err}");
}
