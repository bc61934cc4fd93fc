//! Embedded migrations for both backends, and adoption of a database created
//! by the original Python backend.
#[cfg(feature = "postgres")]
use diesel::connection::SimpleConnection;
use diesel::migration::{Migration, MigrationSource};
#[cfg(feature = "postgres")]
use diesel::pg::Pg;
#[cfg(feature = "postgres")]
use diesel::sql_types::{BigInt, Text};
#[cfg(feature = "sqlite")]
use diesel::sqlite::Sqlite;
#[cfg(feature = "postgres")]
use diesel::{QueryableByName, RunQueryDsl};
use diesel_migrations::{embed_migrations, EmbeddedMigrations, MigrationHarness};

use crate::{DbConn, DbError};

/// PostgreSQL migrations (the first one is the original backend's schema).
#[cfg(feature = "postgres")]
pub const POSTGRES: EmbeddedMigrations = embed_migrations!("../../migrations/postgres");
/// SQLite migrations.
#[cfg(feature = "sqlite")]
pub const SQLITE: EmbeddedMigrations = embed_migrations!("../../migrations/sqlite");

/// Version of the PostgreSQL migration that reproduces the original schema.
pub const PG_BASELINE_VERSION: &str = "20180412000000";

/// One migration and whether it is applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MigrationStatus {
    /// The migration's version and name, e.g. `2018-04-12-000000_baseline`.
    pub name: String,
    /// Whether the database records it as applied.
    pub applied: bool,
}

fn mig_err(e: impl std::fmt::Display) -> DbError {
    DbError::Migration(e.to_string())
}

fn names<DB: diesel::backend::Backend>(
    src: &EmbeddedMigrations,
) -> Result<Vec<(String, String)>, DbError>
where
    EmbeddedMigrations: MigrationSource<DB>,
{
    let migrations: Vec<Box<dyn Migration<DB>>> =
        MigrationSource::<DB>::migrations(src).map_err(mig_err)?;
    Ok(migrations
        .iter()
        .map(|m| (m.name().version().to_string(), m.name().to_string()))
        .collect())
}

/// Applies every pending migration; returns the names applied.
pub fn run_pending(conn: &mut DbConn) -> Result<Vec<String>, DbError> {
    let applied = match conn {
        #[cfg(feature = "postgres")]
        DbConn::Pg(c) => c
            .run_pending_migrations(POSTGRES)
            .map_err(mig_err)?
            .iter()
            .map(|v| v.to_string())
            .collect(),
        #[cfg(feature = "sqlite")]
        DbConn::Sqlite(c) => c
            .run_pending_migrations(SQLITE)
            .map_err(mig_err)?
            .iter()
            .map(|v| v.to_string())
            .collect(),
    };
    Ok(applied)
}

/// Reverts the most recently applied migration; returns its version.
pub fn revert_last(conn: &mut DbConn) -> Result<String, DbError> {
    let v = match conn {
        #[cfg(feature = "postgres")]
        DbConn::Pg(c) => c
            .revert_last_migration(POSTGRES)
            .map_err(mig_err)?
            .to_string(),
        #[cfg(feature = "sqlite")]
        DbConn::Sqlite(c) => c
            .revert_last_migration(SQLITE)
            .map_err(mig_err)?
            .to_string(),
    };
    Ok(v)
}

/// Lists every known migration with its state, oldest first.
pub fn status(conn: &mut DbConn) -> Result<Vec<MigrationStatus>, DbError> {
    let (all, applied): (Vec<(String, String)>, Vec<String>) = match conn {
        #[cfg(feature = "postgres")]
        DbConn::Pg(c) => (
            names::<Pg>(&POSTGRES)?,
            c.applied_migrations()
                .map_err(mig_err)?
                .iter()
                .map(|v| v.to_string())
                .collect(),
        ),
        #[cfg(feature = "sqlite")]
        DbConn::Sqlite(c) => (
            names::<Sqlite>(&SQLITE)?,
            c.applied_migrations()
                .map_err(mig_err)?
                .iter()
                .map(|v| v.to_string())
                .collect(),
        ),
    };
    let mut out: Vec<MigrationStatus> = all
        .into_iter()
        .map(|(version, name)| MigrationStatus {
            applied: applied.contains(&version),
            name,
        })
        .collect();
    out.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(out)
}

#[cfg(feature = "postgres")]
#[derive(QueryableByName)]
struct Count {
    #[diesel(sql_type = BigInt)]
    n: i64,
}

#[cfg(feature = "postgres")]
#[derive(QueryableByName)]
struct Name {
    #[diesel(sql_type = Text)]
    name: String,
}

/// What [`adopt`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AdoptReport {
    /// True when the baseline was newly marked as applied (false: already adopted).
    pub marked_baseline: bool,
    /// Migrations applied after the baseline.
    pub applied: Vec<String>,
}

/// Takes over a PostgreSQL database created by the original Python backend:
/// checks that its tables are there, records our baseline migration (which
/// describes exactly those tables) as applied without running it, then applies
/// our later migrations. Refuses, changing nothing, when outputs would violate
/// the output identity our schema makes unique (the original could duplicate
/// them under concurrent writes) and tells how many, and when stored JSON
/// values will not convert, listing each as `table.column id=…` (see
/// `docs/robustness.md`). The baseline and the migrations are applied in
/// one transaction: on any error the database is left as it was.
pub fn adopt(conn: &mut DbConn) -> Result<AdoptReport, DbError> {
    #[cfg(feature = "postgres")]
    #[allow(irrefutable_let_patterns)]
    if let DbConn::Pg(c) = conn {
        return adopt_pg(c);
    }
    #[cfg(not(feature = "postgres"))]
    let _ = conn;
    Err(DbError::Config(
        "adopt is for PostgreSQL databases of the original backend; SQLite databases are always ours".into(),
    ))
}

#[cfg(feature = "postgres")]
fn adopt_pg(c: &mut diesel::PgConnection) -> Result<AdoptReport, DbError> {
    let tables: Vec<Name> = diesel::sql_query(
        "SELECT table_name::text AS name FROM information_schema.tables \
         WHERE table_schema = current_schema() AND table_type = 'BASE TABLE'",
    )
    .load(c)?;
    let tables: Vec<String> = tables.into_iter().map(|t| t.name).collect();
    let required = [
        "projects",
        "ci_commits",
        "batches",
        "test_inputs",
        "outputs",
    ];
    let missing: Vec<&str> = required
        .iter()
        .copied()
        .filter(|t| !tables.iter().any(|x| x == t))
        .collect();
    if !missing.is_empty() {
        return Err(DbError::Migration(format!(
            "this is not a QA-Board database: missing tables {}",
            missing.join(", ")
        )));
    }
    let already = tables.iter().any(|t| t == "__diesel_schema_migrations")
        && c.applied_migrations()
            .map_err(mig_err)?
            .iter()
            .any(|v| v.to_string() == PG_BASELINE_VERSION);
    let identity_is_new = !already
        || !c
            .applied_migrations()
            .map_err(mig_err)?
            .iter()
            .any(|v| v.to_string() != PG_BASELINE_VERSION);
    if identity_is_new {
        let dup: Vec<Count> = diesel::sql_query(
            "SELECT count(*)::bigint AS n FROM (SELECT 1 FROM outputs \
             GROUP BY batch_id, test_input_id, COALESCE(platform, ''), \
             md5(configurations::text), md5(extra_parameters::text) HAVING count(*) > 1) d",
        )
        .load(c)?;
        let n = dup.first().map(|d| d.n).unwrap_or(0);
        if n > 0 {
            return Err(DbError::Migration(format!(
                "{n} output identities (batch, input, platform, configurations, parameters) have duplicate rows; \
                 merge or delete the duplicates first (see docs/migrations.md); nothing was changed"
            )));
        }
    }
    let problems = unconvertible_json(c)?;
    if !problems.is_empty() {
        const SHOWN: usize = 50;
        let mut msg = format!(
            "{} stored JSON values cannot be converted (see docs/robustness.md, \"Adopting legacy data\"); \
             fix or delete them first; nothing was changed:",
            problems.len()
        );
        for p in problems.iter().take(SHOWN) {
            msg.push_str("\n  ");
            msg.push_str(p);
        }
        if problems.len() > SHOWN {
            msg.push_str(&format!("\n  ... and {} more", problems.len() - SHOWN));
        }
        return Err(DbError::Migration(msg));
    }
    // Recording the baseline and applying our migrations is one transaction
    // (PostgreSQL's DDL is transactional): a failure leaves the database as
    // it was, never half-adopted.
    use diesel::Connection as _;
    c.transaction::<_, DbError, _>(|c| adopt_in_transaction(c, already))
}

/// The JSON columns of the original schema (`json`, converted to `jsonb` by
/// our first migration), with the column naming each row.
#[cfg(feature = "postgres")]
const LEGACY_JSON_COLUMNS: [(&str, &str); 7] = [
    ("projects", "data"),
    ("ci_commits", "data"),
    ("ci_commits", "parents"),
    ("batches", "data"),
    ("test_inputs", "data"),
    ("outputs", "metrics"),
    ("outputs", "data"),
];

#[cfg(feature = "postgres")]
#[derive(QueryableByName)]
struct Problem {
    #[diesel(sql_type = Text)]
    id: String,
    #[diesel(sql_type = diesel::sql_types::Nullable<Text>)]
    error: Option<String>,
    #[diesel(sql_type = Text)]
    value: String,
}

/// Every stored JSON value that the conversion to `jsonb` or our decoder
/// ([`crate::json::parse`]) would refuse, as `table.column id=…: reason`.
/// PostgreSQL's `json` type only checks syntax, so it keeps what `jsonb`
/// refuses: `\u0000` and lone surrogates such as `\udce9`. Numbers beyond
/// the range of a double (`1e400`) convert but cannot be read. Only values
/// containing a `\u` escape or a long number are examined one by one.
#[cfg(feature = "postgres")]
fn unconvertible_json(c: &mut diesel::PgConnection) -> Result<Vec<String>, DbError> {
    #[derive(QueryableByName)]
    struct Col {
        #[diesel(sql_type = Text)]
        table_name: String,
        #[diesel(sql_type = Text)]
        column_name: String,
        #[diesel(sql_type = Text)]
        data_type: String,
    }
    let cols: Vec<Col> = diesel::sql_query(
        "SELECT table_name::text AS table_name, column_name::text AS column_name, data_type::text AS data_type \
         FROM information_schema.columns WHERE table_schema = current_schema()",
    )
    .load(c)?;
    // Session-local (pg_temp): the error converting one value, or NULL.
    c.batch_execute(
        "CREATE OR REPLACE FUNCTION pg_temp.qaboard_jsonb_error(t text) RETURNS text AS $$ \
         BEGIN PERFORM t::jsonb; RETURN NULL; \
         EXCEPTION WHEN others THEN RETURN SQLERRM; END $$ LANGUAGE plpgsql",
    )?;
    let mut out = Vec::new();
    for (table, column) in LEGACY_JSON_COLUMNS {
        let Some(col) = cols
            .iter()
            .find(|x| x.table_name == table && x.column_name == column)
        else {
            continue;
        };
        let is_json = col.data_type == "json";
        let rows: Vec<Problem> = diesel::sql_query(format!(
            "SELECT id::text AS id, {error} AS error, {column}::text AS value FROM {table} \
             WHERE {column} IS NOT NULL AND {column}::text ~ '\\\\u|[0-9][eE]\\+?[0-9]{{3}}|[0-9]{{250}}' \
             ORDER BY id",
            error = if is_json {
                format!("pg_temp.qaboard_jsonb_error({column}::text)")
            } else {
                "NULL::text".into()
            },
        ))
        .load(c)?;
        for r in rows {
            let reason = match r.error {
                Some(e) => e,
                None => match crate::json::parse(r.value.as_bytes()) {
                    Ok(_) => continue,
                    Err(e) => e.to_string(),
                },
            };
            out.push(format!("{table}.{column} id={}: {reason}", r.id));
        }
    }
    Ok(out)
}

/// Records the baseline (unless `already`) and applies our migrations.
#[cfg(feature = "postgres")]
fn adopt_in_transaction(
    c: &mut diesel::PgConnection,
    already: bool,
) -> Result<AdoptReport, DbError> {
    let mut marked = false;
    if !already {
        c.batch_execute(&format!(
            "CREATE TABLE IF NOT EXISTS __diesel_schema_migrations (\
               version VARCHAR(50) PRIMARY KEY NOT NULL, \
               run_on TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP); \
             INSERT INTO __diesel_schema_migrations (version) VALUES ('{PG_BASELINE_VERSION}') \
             ON CONFLICT DO NOTHING;"
        ))?;
        marked = true;
    }
    let applied = c
        .run_pending_migrations(POSTGRES)
        .map_err(mig_err)?
        .iter()
        .map(|v| v.to_string())
        .collect();
    Ok(AdoptReport {
        marked_baseline: marked,
        applied,
    })
}
