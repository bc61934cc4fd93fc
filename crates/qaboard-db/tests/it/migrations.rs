//! Migrations on both backends, and adoption of a database of the original backend.
use diesel::sql_types::Text;
use diesel::{QueryableByName, RunQueryDsl};
use qaboard_db::testing::TestDb;
use qaboard_db::{migrations, DbConn};

use crate::support::{count, exec, original_database};

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

#[test]
fn adopt_an_original_database_keeps_every_row() {
    let Some(db) = original_database() else {
        return;
    };
    let mut conn = db.pool.get().unwrap();
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
    let Some(db) = original_database() else {
        return;
    };
    let mut conn = db.pool.get().unwrap();
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
