//! What the migration and adoption tests share: raw SQL on either backend,
//! a count query, and an empty PostgreSQL database holding the original
//! backend's schema and rows.
use diesel::connection::SimpleConnection;
use diesel::sql_types::BigInt;
use diesel::{QueryableByName, RunQueryDsl};
use qaboard_db::testing::TestDb;
use qaboard_db::DbConn;

use crate::original_schema::{ORIGINAL_DDL, ORIGINAL_ROWS};

/// Runs `sql` (several statements allowed) on either backend.
pub fn exec(conn: &mut DbConn, sql: &str) {
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

/// The `n` of `sql`'s first row (`SELECT count(*) AS n ...`), on either backend.
pub fn count(conn: &mut DbConn, sql: &str) -> i64 {
    let r: Vec<N> = match conn {
        DbConn::Pg(c) => diesel::sql_query(sql).load(&mut **c).unwrap(),
        DbConn::Sqlite(c) => diesel::sql_query(sql).load(&mut **c).unwrap(),
    };
    r[0].n
}

/// A fresh PostgreSQL database with the original backend's tables and rows
/// (nothing of ours applied); `None`, after saying so, without
/// `QABOARD_TEST_DATABASE_URL`.
pub fn original_database() -> Option<TestDb> {
    let Some(db) = TestDb::postgres_empty() else {
        eprintln!("skipped: no QABOARD_TEST_DATABASE_URL");
        return None;
    };
    let mut conn = db.pool.get().unwrap();
    exec(&mut conn, ORIGINAL_DDL);
    exec(&mut conn, ORIGINAL_ROWS);
    drop(conn);
    Some(db)
}
