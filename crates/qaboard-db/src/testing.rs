//! Fresh, isolated databases for tests: a new SQLite file in a temporary
//! folder, and a new PostgreSQL database (created on the server named by
//! `QABOARD_TEST_DATABASE_URL`, dropped afterwards). Migrated PostgreSQL
//! databases are cloned (`CREATE DATABASE … TEMPLATE`) from a template
//! migrated once per test process, instead of being migrated one by one. Tests run on every
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

/// Held while a database is cloned from the template.
static CLONING: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// The admin URL of the test PostgreSQL server, or `None` (a failure with
/// `QABOARD_REQUIRE_POSTGRES`).
fn pg_admin_url() -> Option<String> {
    match std::env::var("QABOARD_TEST_DATABASE_URL") {
        Ok(u) if !u.is_empty() => Some(u),
        _ => {
            assert!(
                !require_postgres(),
                "QABOARD_REQUIRE_POSTGRES is set but QABOARD_TEST_DATABASE_URL is not"
            );
            None
        }
    }
}

/// The URL of database `name` on the server of `admin`.
fn database_url(admin: &str, name: &str) -> String {
    match admin.rfind('/') {
        Some(i) if admin[..i].contains("://") && i > admin.find("://").unwrap_or(0) + 2 => {
            let query = admin[i..].find('?').map(|q| &admin[i + q..]).unwrap_or("");
            format!("{}/{}{}", &admin[..i], name, query)
        }
        _ => format!("{admin}/{name}"),
    }
}

/// This process's template database: created and migrated on first use,
/// named `qaboard_tpl_<pid>_…`. Templates of test processes that are gone
/// are dropped then (the databases of a run are never shared with another).
pub fn pg_template(admin: &str) -> &'static str {
    static TEMPLATE: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    TEMPLATE.get_or_init(|| {
        let mut conn =
            PgConnection::establish(admin).expect("connect to QABOARD_TEST_DATABASE_URL");
        drop_stale_templates(&mut conn);
        let name = format!("qaboard_tpl_{}", &unique_name()["qaboard_test_".len()..]);
        conn.batch_execute(&format!("CREATE DATABASE {name}"))
            .expect("create the template database");
        {
            let mut db = crate::pool::establish(&database_url(admin, &name))
                .expect("connect to the template database");
            migrations::run_pending(&mut db).expect("pg migrations");
        } // closed: a template must have no sessions to be cloned
        name
    })
}

/// Drops `qaboard_tpl_<pid>_…` databases whose process no longer runs.
fn drop_stale_templates(conn: &mut PgConnection) {
    use diesel::RunQueryDsl;
    #[derive(diesel::QueryableByName)]
    struct Name {
        #[diesel(sql_type = diesel::sql_types::Text)]
        datname: String,
    }
    let Ok(names) =
        diesel::sql_query("SELECT datname FROM pg_database WHERE datname LIKE 'qaboard\\_tpl\\_%'")
            .load::<Name>(conn)
    else {
        return;
    };
    for Name { datname } in names {
        let pid = datname
            .split('_')
            .nth(2)
            .and_then(|p| p.parse::<u32>().ok());
        let alive = pid.is_some_and(|p| std::path::Path::new(&format!("/proc/{p}")).exists());
        if !alive && std::path::Path::new("/proc/self").exists() {
            let _ = conn.batch_execute(&format!("DROP DATABASE IF EXISTS {datname} WITH (FORCE)"));
        }
    }
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

    /// A migrated PostgreSQL database, or `None` when no server is configured:
    /// a clone of this process's migrated template (see [`pg_template`]).
    pub fn postgres() -> Option<TestDb> {
        let admin = pg_admin_url()?;
        let template = pg_template(&admin);
        Some(Self::postgres_created(admin, Some(template)))
    }

    /// A PostgreSQL database with no tables, or `None` when no server is configured.
    pub fn postgres_empty() -> Option<TestDb> {
        let admin = pg_admin_url()?;
        Some(Self::postgres_created(admin, None))
    }

    /// A new database on the server of `admin`, cloned from `template` if given.
    fn postgres_created(admin: String, template: Option<&str>) -> TestDb {
        let name = unique_name();
        let mut conn =
            PgConnection::establish(&admin).expect("connect to QABOARD_TEST_DATABASE_URL");
        match template {
            Some(t) => {
                // Clones of one template are made one at a time: PostgreSQL
                // refuses a clone while another session uses the template.
                let _one = CLONING
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner);
                conn.batch_execute(&format!("CREATE DATABASE {name} TEMPLATE {t}"))
                    .expect("clone the template database");
            }
            None => conn
                .batch_execute(&format!("CREATE DATABASE {name}"))
                .expect("create test database"),
        }
        let url = database_url(&admin, &name);
        let mut cfg = DbConfig::new(&url);
        cfg.pool_size = 8;
        let pool = DbPool::connect(&cfg).expect("pg pool");
        TestDb {
            pool,
            url,
            pg_admin: Some((admin, name)),
            _dir: None,
        }
    }

    /// Every available backend, migrated: SQLite always, PostgreSQL when configured.
    pub fn all() -> Vec<TestDb> {
        let mut v = vec![Self::sqlite()];
        v.extend(Self::postgres());
        v
    }
}

/// SQL helpers for tests: statements and counts written by hand, on either
/// backend (the test's own SQL, never the application's).
impl TestDb {
    /// Runs `sql` (a statement returning no rows); panics on error.
    pub fn exec(&self, sql: &str) {
        use diesel::RunQueryDsl;
        let mut conn = self.pool.get().expect("db connection");
        match &mut conn {
            #[cfg(feature = "postgres")]
            crate::DbConn::Pg(c) => diesel::sql_query(sql).execute(&mut **c),
            #[cfg(feature = "sqlite")]
            crate::DbConn::Sqlite(c) => diesel::sql_query(sql).execute(&mut **c),
        }
        .unwrap_or_else(|e| panic!("{sql}: {e}"));
    }

    /// `SELECT count(*) FROM <table> [WHERE <filter>]` (`filter` may be empty).
    pub fn count_where(&self, table: &str, filter: &str) -> i64 {
        use diesel::RunQueryDsl;
        #[derive(diesel::QueryableByName)]
        struct Count {
            #[diesel(sql_type = diesel::sql_types::BigInt)]
            n: i64,
        }
        let sql = if filter.is_empty() {
            format!("SELECT count(*) AS n FROM {table}")
        } else {
            format!("SELECT count(*) AS n FROM {table} WHERE {filter}")
        };
        let mut conn = self.pool.get().expect("db connection");
        let rows: Vec<Count> = match &mut conn {
            #[cfg(feature = "postgres")]
            crate::DbConn::Pg(c) => diesel::sql_query(&sql).load(&mut **c),
            #[cfg(feature = "sqlite")]
            crate::DbConn::Sqlite(c) => diesel::sql_query(&sql).load(&mut **c),
        }
        .unwrap_or_else(|e| panic!("{sql}: {e}"));
        rows[0].n
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
