//! Fresh, isolated databases for tests: a new SQLite file in a temporary
//! folder, and a new PostgreSQL database (created on the server named by
//! `QABOARD_TEST_DATABASE_URL`, dropped afterwards). Tests run on every
//! backend available; with `QABOARD_REQUIRE_POSTGRES=1` (set by CI) a missing
//! PostgreSQL is an error instead of a skip.
use std::sync::atomic::{AtomicU32, Ordering};

use diesel::connection::SimpleConnection;
use diesel::{Connection, PgConnection};

use crate::{migrations, DbConfig, DbPool};

/// A database that exists for the lifetime of this value.
pub struct TestDb {
    /// Pool on the database.
    pub pool: DbPool,
    /// Its URL (for spawning a server on it).
    pub url: String,
    pg_admin: Option<(String, String)>,
    _dir: Option<tempfile::TempDir>,
}

impl std::fmt::Debug for TestDb {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "TestDb({})", self.url)
    }
}

static COUNTER: AtomicU32 = AtomicU32::new(0);

fn unique_name() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    format!(
        "qaboard_test_{}_{}_{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::SeqCst),
        nanos
    )
}

fn require_postgres() -> bool {
    std::env::var("QABOARD_REQUIRE_POSTGRES").is_ok_and(|v| v == "1" || v == "true")
}

impl TestDb {
    /// A migrated SQLite database in a new temporary folder.
    pub fn sqlite() -> TestDb {
        let db = Self::sqlite_empty();
        migrations::run_pending(&mut db.pool.get().expect("sqlite connection"))
            .expect("sqlite migrations");
        db
    }

    /// An SQLite database with no tables yet.
    pub fn sqlite_empty() -> TestDb {
        let dir = tempfile::tempdir().expect("temp dir");
        let url = dir.path().join("qaboard.db").to_string_lossy().into_owned();
        let pool = DbPool::connect(&DbConfig::new(&url)).expect("sqlite pool");
        TestDb {
            pool,
            url,
            pg_admin: None,
            _dir: Some(dir),
        }
    }

    /// A migrated PostgreSQL database, or `None` when no server is configured.
    pub fn postgres() -> Option<TestDb> {
        let db = Self::postgres_empty()?;
        migrations::run_pending(&mut db.pool.get().expect("pg connection")).expect("pg migrations");
        Some(db)
    }

    /// A PostgreSQL database with no tables, or `None` when no server is configured.
    pub fn postgres_empty() -> Option<TestDb> {
        let admin = match std::env::var("QABOARD_TEST_DATABASE_URL") {
            Ok(u) if !u.is_empty() => u,
            _ => {
                assert!(
                    !require_postgres(),
                    "QABOARD_REQUIRE_POSTGRES is set but QABOARD_TEST_DATABASE_URL is not"
                );
                return None;
            }
        };
        let name = unique_name();
        let mut conn =
            PgConnection::establish(&admin).expect("connect to QABOARD_TEST_DATABASE_URL");
        conn.batch_execute(&format!("CREATE DATABASE {name}"))
            .expect("create test database");
        let url = match admin.rfind('/') {
            Some(i) if admin[..i].contains("://") && i > admin.find("://").unwrap_or(0) + 2 => {
                let query = admin[i..].find('?').map(|q| &admin[i + q..]).unwrap_or("");
                format!("{}/{}{}", &admin[..i], name, query)
            }
            _ => format!("{admin}/{name}"),
        };
        let mut cfg = DbConfig::new(&url);
        cfg.pool_size = 8;
        let pool = DbPool::connect(&cfg).expect("pg pool");
        Some(TestDb {
            pool,
            url,
            pg_admin: Some((admin, name)),
            _dir: None,
        })
    }

    /// Every available backend, migrated: SQLite always, PostgreSQL when configured.
    pub fn all() -> Vec<TestDb> {
        let mut v = vec![Self::sqlite()];
        v.extend(Self::postgres());
        v
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        if let Some((admin, name)) = self.pg_admin.take() {
            // Close our pool's connections first by replacing it.
            if let Ok(mut conn) = PgConnection::establish(&admin) {
                let _ = conn.batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"));
            }
        }
    }
}
