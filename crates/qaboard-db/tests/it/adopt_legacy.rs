//! Issue 9, item 7: adopting an original database whose `json` columns hold
//! values that `jsonb` (or our decoder) refuses lists each of them and
//! changes nothing; once they are fixed, adopt succeeds.
use diesel::connection::SimpleConnection;
use qaboard_db::{migrations, read, DbConn};

use crate::support::{count, original_database};

fn pg(conn: &mut DbConn) -> &mut diesel::PgConnection {
    match conn {
        DbConn::Pg(c) => c,
        DbConn::Sqlite(_) => unreachable!(),
    }
}

#[test]
fn unconvertible_json_is_listed_by_row_and_nothing_changes() {
    let Some(db) = original_database() else {
        return;
    };
    let mut conn = db.pool.get().unwrap();
    let c = pg(&mut conn);
    // What the original's `json` columns kept and `jsonb` refuses, plus a
    // number no double holds, in several tables (not in `outputs.data`,
    // whose `data->>'user'` index already refuses `\u0000`).
    c.batch_execute(
        r#"UPDATE outputs SET metrics = '{"note": "caf\udce9"}' WHERE id = 2;
           UPDATE batches SET data = '{"log": "a\u0000b"}' WHERE id = 2;
           UPDATE projects SET data = '{"x": "\u0000"}' WHERE id = 'acme/mono/sub';
           UPDATE ci_commits SET parents = '[1e400]' WHERE id = 2;
           UPDATE test_inputs SET data = '{"ok": "\u00e9 \ud83c\udf89", "n": 1e300}' WHERE id = 1;"#,
    )
    .unwrap();
    let err = migrations::adopt(&mut conn).unwrap_err().to_string();
    for needle in [
        "4 stored JSON values",
        "outputs.metrics id=2",
        "batches.data id=2",
        "projects.data id=acme/mono/sub",
        "ci_commits.parents id=2",
        "nothing was changed",
    ] {
        assert!(err.contains(needle), "{needle:?} in {err}");
    }
    assert!(
        !err.contains("test_inputs"),
        "valid escapes are fine: {err}"
    );
    assert_eq!(
        count(
            &mut conn,
            "SELECT count(*) AS n FROM information_schema.tables WHERE table_name = '__diesel_schema_migrations'"
        ),
        0,
        "no baseline recorded"
    );
    assert_eq!(
        count(
            &mut conn,
            "SELECT count(*) AS n FROM information_schema.columns WHERE data_type = 'jsonb' AND column_name = 'metrics'"
        ),
        0
    );

    // Fixed as docs/robustness.md suggests, adopt goes through and every
    // row reads.
    pg(&mut conn)
        .batch_execute(
            r#"UPDATE outputs SET metrics = '{"note": "caf\ufffd"}' WHERE id = 2;
               UPDATE batches SET data = '{"log": "ab"}' WHERE id = 2;
               UPDATE projects SET data = '{"x": ""}' WHERE id = 'acme/mono/sub';
               UPDATE ci_commits SET parents = NULL WHERE id = 2;"#,
        )
        .unwrap();
    let report = migrations::adopt(&mut conn).unwrap();
    assert!(report.marked_baseline);
    for id in 1..=3 {
        read::get_output(&mut conn, qaboard_model::OutputId(id))
            .unwrap()
            .unwrap();
    }
    assert!(read::project(&mut conn, "acme/mono/sub").unwrap().is_some());
}

#[test]
fn a_failing_migration_leaves_the_database_unadopted() {
    let Some(db) = original_database() else {
        return;
    };
    let mut conn = db.pool.get().unwrap();
    let c = pg(&mut conn);
    // Something the pre-checks do not know about makes our migration fail:
    // a view depending on a column it converts.
    c.batch_execute("CREATE VIEW blocker AS SELECT metrics FROM outputs")
        .unwrap();
    migrations::adopt(&mut conn).unwrap_err();
    assert_eq!(
        count(
            &mut conn,
            "SELECT count(*) AS n FROM information_schema.tables WHERE table_name = '__diesel_schema_migrations'"
        ),
        0,
        "the baseline is not left recorded"
    );
}
