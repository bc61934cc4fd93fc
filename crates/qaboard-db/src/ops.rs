// Query code shared by both backends. This file is `include!`d into
// `backend::pg` and `backend::sqlite`, where `Conn` is the backend's
// connection type, the schema's tables are in scope, and `for_update!(q)`
// locks rows on PostgreSQL (SQLite's write transactions are exclusive).
//
// Functions here assume the caller opened a transaction when they write.

use chrono::{NaiveDateTime, Utc};
use diesel::prelude::*;
use qaboard_model::rules;
use serde_json::{Map, Value};

use crate::ingest::{BatchRecord, CommitEnvelope, OutputPatch, OutputRecord, OutputWithInput};
use crate::read::{BatchWithOutputs, CommitTree, CommitWindow, OutputRead, ProjectSummary};
use crate::rows::{BatchRow, CommitRow, OutputRow, ProjectRow, TestInputRow};
use crate::DbError;

/// How stale a `latest_output_datetime` may get before a new output refreshes
/// it. Refreshing on every output would make all writers of a project queue
/// on one row lock; a second of precision is plenty for "last activity".
const LATEST_OUTPUT_PRECISION_MS: i64 = 1000;

macro_rules! commit_cols {
    () => {
        (
            ci_commits::id,
            ci_commits::hexsha,
            ci_commits::project_id,
            ci_commits::data,
            ci_commits::authored_datetime,
            ci_commits::committer_name,
            ci_commits::message,
            ci_commits::branch,
            ci_commits::parents,
            ci_commits::commit_dir_override,
            ci_commits::commit_type,
            ci_commits::latest_output_datetime,
            ci_commits::deleted,
        )
    };
}

macro_rules! batch_cols {
    () => {
        (
            batches::id,
            batches::created_date,
            batches::data,
            batches::ci_commit_id,
            batches::label,
            batches::batch_dir_override,
        )
    };
}

macro_rules! output_cols {
    () => {
        (
            outputs::id,
            outputs::batch_id,
            outputs::created_date,
            outputs::deleted,
            outputs::output_dir_override,
            outputs::output_type,
            outputs::test_input_id,
            outputs::platform,
            outputs::configurations,
            outputs::extra_parameters,
            outputs::is_pending,
            outputs::is_running,
            outputs::is_failed,
            outputs::metrics,
            outputs::data,
        )
    };
}

macro_rules! input_cols {
    () => {
        (test_inputs::id, test_inputs::path, test_inputs::database, test_inputs::data)
    };
}

/// `max(authored_datetime)`: diesel's `max` needs an ordered SQL type, which
/// SQLite's time-zone-aware timestamp is not (its ISO text in UTC orders fine).
fn max_authored() -> diesel::expression::SqlLiteral<diesel::sql_types::Nullable<TzType>> {
    diesel::dsl::sql::<diesel::sql_types::Nullable<TzType>>("max(ci_commits.authored_datetime)")
}

fn now_naive() -> NaiveDateTime {
    Utc::now().naive_utc()
}

fn like_prefix(prefix: &str) -> String {
    let mut s = String::with_capacity(prefix.len() + 1);
    for c in prefix.chars() {
        if matches!(c, '%' | '_' | '\\') {
            s.push('\\');
        }
        s.push(c);
    }
    s.push('%');
    s
}

// ---------------------------------------------------------------- projects

/// Reads a project.
pub fn find_project(conn: &mut Conn, id: &str) -> Result<Option<ProjectRow>, DbError> {
    Ok(projects::table
        .filter(projects::id.eq(id))
        .select((projects::id, projects::data, projects::latest_output_datetime))
        .first::<ProjectRow>(conn)
        .optional()?)
}

fn get_or_create_project_locked(conn: &mut Conn, id: &str) -> Result<ProjectRow, DbError> {
    diesel::insert_into(projects::table)
        .values((projects::id.eq(id), projects::data.eq(Value::Object(Map::new()))))
        .on_conflict_do_nothing()
        .execute(conn)?;
    Ok(for_update!(projects::table
        .filter(projects::id.eq(id))
        .select((projects::id, projects::data, projects::latest_output_datetime)))
    .first::<ProjectRow>(conn)?)
}

/// Replaces a project's data.
pub fn set_project_data(conn: &mut Conn, id: &str, data: &Value) -> Result<(), DbError> {
    diesel::update(projects::table.filter(projects::id.eq(id)))
        .set(projects::data.eq(data))
        .execute(conn)?;
    Ok(())
}

/// Reads a project's data for update (inside a transaction).
pub fn project_data_locked(conn: &mut Conn, id: &str) -> Result<Option<Value>, DbError> {
    Ok(for_update!(projects::table.filter(projects::id.eq(id)).select(projects::data))
        .first::<Value>(conn)
        .optional()?)
}

// ----------------------------------------------------------------- commits

/// Finds a commit by full sha or unique prefix. An exact match wins; several
/// prefix matches are a conflict listing the candidates.
pub fn find_commit(conn: &mut Conn, project: &str, sha: &str) -> Result<Option<CommitRow>, DbError> {
    if sha.is_empty() {
        return Ok(None);
    }
    let exact = ci_commits::table
        .filter(ci_commits::project_id.eq(project))
        .filter(ci_commits::hexsha.eq(sha))
        .select(commit_cols!())
        .first::<CommitRow>(conn)
        .optional()?;
    if exact.is_some() || sha.len() >= 40 {
        return Ok(exact);
    }
    let candidates = ci_commits::table
        .filter(ci_commits::project_id.eq(project))
        .filter(ci_commits::hexsha.like(like_prefix(sha)).escape('\\'))
        .select(commit_cols!())
        .order(ci_commits::authored_datetime.desc())
        .limit(11)
        .load::<CommitRow>(conn)?;
    // SQLite's LIKE ignores ASCII case: keep only true prefixes.
    let mut candidates: Vec<CommitRow> = candidates.into_iter().filter(|c| c.hexsha.starts_with(sha)).collect();
    match candidates.len() {
        0 => Ok(None),
        1 => Ok(candidates.pop()),
        _ => Err(DbError::Conflict(format!(
            "the commit prefix {sha} is ambiguous, it matches: {}",
            candidates.iter().map(|c| c.hexsha.as_str()).collect::<Vec<_>>().join(", ")
        ))),
    }
}

fn find_commit_by_id(conn: &mut Conn, id: i32) -> Result<CommitRow, DbError> {
    Ok(ci_commits::table.filter(ci_commits::id.eq(id)).select(commit_cols!()).first::<CommitRow>(conn)?)
}

/// Returns the commit, creating it (and its project) from the envelope when new.
pub fn get_or_create_commit(conn: &mut Conn, env: &CommitEnvelope) -> Result<CommitRow, DbError> {
    if let Some(c) = find_commit(conn, &env.project, &env.hexsha)? {
        return Ok(c);
    }
    let project = get_or_create_project_locked(conn, &env.project)?;
    if let Some(data) = rules::project_data_after_commit(
        &project.data,
        env.branch.as_deref(),
        env.project_root.as_deref(),
        env.qaboard_config.as_ref(),
        env.qaboard_metrics.as_ref(),
    ) {
        set_project_data(conn, &project.id, &data)?;
    }
    let authored = env.authored_datetime.unwrap_or_else(Utc::now);
    let data = rules::new_commit_data(
        env.project_root.as_deref(),
        env.qaboard_config.as_ref(),
        env.qaboard_metrics.as_ref(),
    );
    diesel::insert_into(ci_commits::table)
        .values((
            ci_commits::hexsha.eq(&env.hexsha),
            ci_commits::project_id.eq(&env.project),
            ci_commits::data.eq(&data),
            ci_commits::authored_datetime.eq(authored),
            ci_commits::committer_name.eq(env.committer_name.as_deref().unwrap_or("unknown")),
            ci_commits::message.eq(env.message.as_deref().unwrap_or("<NA>")),
            ci_commits::branch.eq(env.branch.as_deref()),
            ci_commits::parents.eq(env.parents.as_ref()),
            ci_commits::commit_type.eq("git"),
            ci_commits::latest_output_datetime.eq(authored),
            ci_commits::deleted.eq(false),
        ))
        .on_conflict_do_nothing()
        .execute(conn)?;
    Ok(ci_commits::table
        .filter(ci_commits::project_id.eq(&env.project))
        .filter(ci_commits::hexsha.eq(&env.hexsha))
        .select(commit_cols!())
        .first::<CommitRow>(conn)?)
}

/// See [`crate::ingest::record_commit`].
pub fn record_commit(conn: &mut Conn, env: &CommitEnvelope, patch: &Map<String, Value>) -> Result<qaboard_model::CiCommit, DbError> {
    let commit = get_or_create_commit(conn, env)?;
    let locked = for_update!(ci_commits::table.filter(ci_commits::id.eq(commit.id)).select(commit_cols!()))
        .first::<CommitRow>(conn)?;
    let data = rules::merge_shallow(&locked.data, patch);
    diesel::update(ci_commits::table.filter(ci_commits::id.eq(commit.id)))
        .set((ci_commits::data.eq(&data), ci_commits::deleted.eq(false)))
        .execute(conn)?;
    Ok(find_commit_by_id(conn, commit.id)?.into())
}

// ---------------------------------------------------------------- batches

fn find_batch(conn: &mut Conn, commit_id: i32, label: &str) -> Result<Option<BatchRow>, DbError> {
    Ok(batches::table
        .filter(batches::ci_commit_id.eq(commit_id))
        .filter(batches::label.eq(label))
        .select(batch_cols!())
        .first::<BatchRow>(conn)
        .optional()?)
}

// On SQLite `for_update!` is the identity, so both branches below are the same there.
#[allow(clippy::if_same_then_else)]
fn get_or_create_batch(conn: &mut Conn, commit_id: i32, label: &str, lock: bool) -> Result<BatchRow, DbError> {
    if !lock {
        if let Some(b) = find_batch(conn, commit_id, label)? {
            return Ok(b);
        }
    }
    diesel::insert_into(batches::table)
        .values((
            batches::ci_commit_id.eq(commit_id),
            batches::label.eq(label),
            batches::created_date.eq(now_naive()),
            batches::data.eq(Value::Object(Map::new())),
        ))
        .on_conflict_do_nothing()
        .execute(conn)?;
    let q = batches::table
        .filter(batches::ci_commit_id.eq(commit_id))
        .filter(batches::label.eq(label))
        .select(batch_cols!());
    Ok(if lock { for_update!(q).first::<BatchRow>(conn)? } else { q.first::<BatchRow>(conn)? })
}

fn set_batch_data(conn: &mut Conn, id: i32, data: &Value) -> Result<(), DbError> {
    diesel::update(batches::table.filter(batches::id.eq(id)))
        .set(batches::data.eq(data))
        .execute(conn)?;
    Ok(())
}

fn delete_outputs_of_batch(conn: &mut Conn, batch_id: i32) -> Result<(), DbError> {
    diesel::delete(outputs::table.filter(outputs::batch_id.eq(batch_id))).execute(conn)?;
    Ok(())
}

/// See [`crate::ingest::record_batch`].
pub fn record_batch(conn: &mut Conn, rec: &BatchRecord) -> Result<qaboard_model::Batch, DbError> {
    let commit = get_or_create_commit(conn, &rec.commit)?;
    let batch = get_or_create_batch(conn, commit.id, &rec.label, true)?;
    let mut data = match &batch.data {
        Value::Object(m) => m.clone(),
        _ => Map::new(),
    };
    // Per-batch config and metrics, when they differ from the commit's.
    if let (Some(cfg), Some(commit_cfg)) = (&rec.commit.qaboard_config, commit.data.get("qatools_config")) {
        if cfg != commit_cfg {
            data.insert("config".into(), cfg.clone());
        }
    }
    if let (Some(m), Some(commit_m)) = (&rec.commit.qaboard_metrics, commit.data.get("qatools_metrics")) {
        if m != commit_m {
            data.insert("qatools_metrics".into(), m.clone());
        }
    }
    for (k, v) in &rec.data {
        data.insert(k.clone(), v.clone());
    }
    if let Some(command) = &rec.command {
        let mut commands = match data.get("commands") {
            Some(Value::Object(m)) => m.clone(),
            _ => Map::new(),
        };
        for (k, v) in command {
            commands.insert(k.clone(), v.clone());
        }
        data.insert("commands".into(), Value::Object(commands));
    }

    // `qa optimize`: the best iteration's outputs become the batch's outputs,
    // and finished iteration batches are removed.
    if rules::truthy(rec.data.get("optimization")) {
        let iteration = rec.data.get("iteration").and_then(Value::as_i64);
        if rules::truthy(rec.data.get("is_best_iter")) {
            if let Some(it) = rec.data.get("iteration") {
                data.insert("best_iter".into(), it.clone());
            }
            diesel::delete(
                outputs::table
                    .filter(outputs::batch_id.eq(batch.id))
                    .filter(outputs::output_type.ne("optim_iteration").or(outputs::output_type.is_null())),
            )
            .execute(conn)?;
            if let Some(best_label) = rec.data.get("iteration_label").and_then(Value::as_str) {
                if best_label != rec.label {
                    let best = get_or_create_batch(conn, commit.id, best_label, true)?;
                    move_outputs(conn, best.id, batch.id)?;
                }
            }
        }
        if let Some(iteration) = iteration {
            let prefix = format!("{}|iter", rec.label);
            let iteration_batches = batches::table
                .filter(batches::ci_commit_id.eq(commit.id))
                .filter(batches::label.like(like_prefix(&prefix)).escape('\\'))
                .select((batches::id, batches::label))
                .load::<(i32, Option<String>)>(conn)?;
            for (id, label) in iteration_batches {
                let n = label
                    .as_deref()
                    .and_then(|l| l.strip_prefix(&prefix))
                    .and_then(|n| n.parse::<i64>().ok());
                if n.is_some_and(|n| n <= iteration) {
                    delete_outputs_of_batch(conn, id)?;
                    diesel::delete(batches::table.filter(batches::id.eq(id))).execute(conn)?;
                }
            }
        }
    }

    diesel::update(batches::table.filter(batches::id.eq(batch.id)))
        .set((
            batches::data.eq(Value::Object(data)),
            batches::batch_dir_override.eq(rec.batch_dir.as_deref()),
        ))
        .execute(conn)?;
    Ok(batches::table
        .filter(batches::id.eq(batch.id))
        .select(batch_cols!())
        .first::<BatchRow>(conn)?
        .into())
}

/// Moves every output of batch `from` into batch `to`, replacing outputs of
/// `to` that have the same identity.
fn move_outputs(conn: &mut Conn, from: i32, to: i32) -> Result<(), DbError> {
    let moving = outputs::table
        .filter(outputs::batch_id.eq(from))
        .select((outputs::test_input_id, outputs::platform, outputs::configurations, outputs::extra_parameters))
        .load::<(Option<i32>, Option<String>, Value, Value)>(conn)?;
    for (input, platform, configurations, extra_parameters) in moving {
        let mut q = diesel::delete(outputs::table)
            .filter(outputs::batch_id.eq(to))
            .filter(outputs::configurations.eq(configurations))
            .filter(outputs::extra_parameters.eq(extra_parameters))
            .into_boxed();
        q = match input {
            Some(i) => q.filter(outputs::test_input_id.eq(i)),
            None => q.filter(outputs::test_input_id.is_null()),
        };
        q = match platform {
            Some(p) => q.filter(outputs::platform.eq(p)),
            None => q.filter(outputs::platform.is_null()),
        };
        q.execute(conn)?;
    }
    diesel::update(outputs::table.filter(outputs::batch_id.eq(from)))
        .set(outputs::batch_id.eq(to))
        .execute(conn)?;
    Ok(())
}

// ----------------------------------------------------------------- outputs

fn get_or_create_test_input(conn: &mut Conn, database: &str, path: &str) -> Result<TestInputRow, DbError> {
    let find = |conn: &mut Conn| {
        test_inputs::table
            .filter(test_inputs::database.eq(database))
            .filter(test_inputs::path.eq(path))
            .select(input_cols!())
            .first::<TestInputRow>(conn)
            .optional()
    };
    if let Some(t) = find(conn)? {
        return Ok(t);
    }
    diesel::insert_into(test_inputs::table)
        .values((
            test_inputs::database.eq(database),
            test_inputs::path.eq(path),
            test_inputs::data.eq(Value::Object(Map::new())),
        ))
        .on_conflict_do_nothing()
        .execute(conn)?;
    find(conn)?.ok_or_else(|| DbError::NotFound("test input vanished".into()))
}

fn find_output(conn: &mut Conn, id: i32) -> Result<Option<OutputRow>, DbError> {
    Ok(outputs::table.filter(outputs::id.eq(id)).select(output_cols!()).first::<OutputRow>(conn).optional()?)
}

fn find_test_input(conn: &mut Conn, id: Option<i32>) -> Result<Option<TestInputRow>, DbError> {
    let Some(id) = id else { return Ok(None) };
    Ok(test_inputs::table
        .filter(test_inputs::id.eq(id))
        .select(input_cols!())
        .first::<TestInputRow>(conn)
        .optional()?)
}

/// Inserts the output, or updates the one with the same identity (batch,
/// input, platform, configurations, tuning parameters), in one statement that
/// is race-free against concurrent writers of the same identity. Status
/// rules: running implies pending; metrics and failure are only written once
/// the output is finished.
fn upsert_output(conn: &mut Conn, batch_id: i32, input_id: i32, rec: &OutputRecord) -> Result<OutputRow, DbError> {
    let is_pending = rec.is_running || rec.is_pending;
    let failed = !is_pending && (rec.is_failed || rules::truthy(rec.metrics.get("is_failed")));
    let empty = Value::Object(Map::new());
    let query = UpsertOutput {
        batch_id,
        input_id,
        rec,
        created: now_naive(),
        is_pending,
        failed,
        metrics: if is_pending { &empty } else { &rec.metrics },
    };
    Ok(query.get_result::<OutputRow>(conn)?)
}

/// The output upsert as a query type of its own: its conflict target is an
/// expression index, which diesel's `on_conflict` cannot name, and unlike
/// `sql_query` a type with a static query id is prepared once per connection
/// instead of being parsed and planned by the database on every call.
struct UpsertOutput<'a> {
    batch_id: i32,
    input_id: i32,
    rec: &'a OutputRecord,
    created: NaiveDateTime,
    is_pending: bool,
    failed: bool,
    metrics: &'a Value,
}

/// The prepared-statement cache key of [`UpsertOutput`].
struct UpsertOutputId;

impl diesel::query_builder::QueryId for UpsertOutput<'_> {
    type QueryId = UpsertOutputId;
    const HAS_STATIC_QUERY_ID: bool = true;
}

type Backend = <Conn as diesel::Connection>::Backend;

impl diesel::query_builder::QueryFragment<Backend> for UpsertOutput<'_> {
    fn walk_ast<'b>(&'b self, mut out: diesel::query_builder::AstPass<'_, 'b, Backend>) -> QueryResult<()> {
        use diesel::sql_types::{Bool, Integer, Jsonb, Nullable, Text, Timestamp};
        let rec = self.rec;
        out.push_sql(
            "INSERT INTO outputs (batch_id, test_input_id, platform, configurations, extra_parameters, \
             created_date, deleted, output_type, output_dir_override, is_pending, is_running, is_failed, \
             metrics, data) VALUES (",
        );
        out.push_bind_param::<Integer, _>(&self.batch_id)?;
        out.push_sql(", ");
        out.push_bind_param::<Integer, _>(&self.input_id)?;
        out.push_sql(", ");
        out.push_bind_param::<Text, _>(&rec.platform)?;
        out.push_sql(", ");
        out.push_bind_param::<Jsonb, _>(&rec.configurations)?;
        out.push_sql(", ");
        out.push_bind_param::<Jsonb, _>(&rec.extra_parameters)?;
        out.push_sql(", ");
        out.push_bind_param::<Timestamp, _>(&self.created)?;
        out.push_sql(", false, ");
        out.push_bind_param::<Text, _>(&rec.output_type)?;
        out.push_sql(", ");
        out.push_bind_param::<Nullable<Text>, _>(&rec.output_directory)?;
        out.push_sql(", ");
        out.push_bind_param::<Bool, _>(&self.is_pending)?;
        out.push_sql(", ");
        out.push_bind_param::<Bool, _>(&rec.is_running)?;
        out.push_sql(", ");
        out.push_bind_param::<Bool, _>(&self.failed)?;
        out.push_sql(", ");
        out.push_bind_param::<Jsonb, _>(self.metrics)?;
        out.push_sql(", ");
        out.push_bind_param::<Jsonb, _>(&rec.data)?;
        out.push_sql(") ON CONFLICT (");
        out.push_sql(OUTPUT_IDENTITY);
        out.push_sql(
            ") DO UPDATE SET output_type = excluded.output_type, data = excluded.data, deleted = false, \
             output_dir_override = excluded.output_dir_override, is_running = excluded.is_running, \
             is_pending = excluded.is_pending, \
             metrics = CASE WHEN excluded.is_pending THEN outputs.metrics ELSE excluded.metrics END, \
             is_failed = CASE WHEN excluded.is_pending THEN outputs.is_failed ELSE excluded.is_failed END \
             RETURNING id, batch_id, created_date, deleted, output_dir_override, output_type, test_input_id, \
             platform, configurations, extra_parameters, is_pending, is_running, is_failed, metrics, data",
        );
        Ok(())
    }
}

impl diesel::query_builder::Query for UpsertOutput<'_> {
    // The columns are unit types too: the same list names them.
    type SqlType = diesel::dsl::SqlTypeOf<output_cols!()>;
}

impl RunQueryDsl<Conn> for UpsertOutput<'_> {}

/// The common case of [`record_output`] in two statements and no
/// transaction: the commit, batch and test input exist and need no change, so
/// the only write is the output's upsert, atomic on its own. Returns `None`
/// (having written nothing) when anything else must be created or updated,
/// or when a row it found is deleted before the upsert (a foreign key
/// violation); the caller then runs [`record_output`] in a transaction.
pub fn record_output_fast(conn: &mut Conn, rec: &OutputRecord) -> Result<Option<OutputWithInput>, DbError> {
    let env = &rec.commit;
    let found = ci_commits::table
        .left_join(
            batches::table.on(batches::ci_commit_id
                .eq(ci_commits::id.nullable())
                .and(batches::label.eq(rec.batch_label.clone()))),
        )
        .left_join(
            // (`on` clauses take owned values)
            test_inputs::table.on(test_inputs::database
                .eq(rec.database.clone())
                .and(test_inputs::path.eq(rec.input_path.clone()))),
        )
        .filter(ci_commits::project_id.eq(&env.project))
        .filter(ci_commits::hexsha.eq(&env.hexsha))
        .select((commit_cols!(), batch_cols!().nullable(), input_cols!().nullable()))
        .first::<(CommitRow, Option<BatchRow>, Option<TestInputRow>)>(conn)
        .optional()?;
    let Some((commit, Some(batch), Some(input))) = found else { return Ok(None) };
    let fresh = commit.latest_output_datetime.is_some_and(|t| {
        (Utc::now() - t).num_milliseconds() < LATEST_OUTPUT_PRECISION_MS
            && commit.authored_datetime.is_none_or(|a| t > a)
    });
    let metadata_current = match rec.input_metadata.as_ref().filter(|m| rules::truthy(Some(m))) {
        Some(meta) => input.data.get("metadata") == Some(meta),
        None => true,
    };
    let unchanged = fresh
        && metadata_current
        && batch.data.get("type").and_then(Value::as_str) == Some(rec.job_type.as_str())
        && rec.commit_dir_override.as_ref().is_none_or(|o| *o == commit.commit_dir_override);
    if !unchanged {
        return Ok(None);
    }
    let output = {
        let _writer = single_writer!();
        match upsert_output(conn, batch.id, input.id, rec) {
            Ok(o) => o,
            Err(DbError::Query(diesel::result::Error::DatabaseError(
                diesel::result::DatabaseErrorKind::ForeignKeyViolation,
                _,
            ))) => return Ok(None),
            Err(e) => return Err(e),
        }
    };
    Ok(Some(OutputWithInput { output: output.into(), test_input: Some(input.into()) }))
}

/// See [`crate::ingest::record_output`].
pub fn record_output(conn: &mut Conn, rec: &OutputRecord) -> Result<OutputWithInput, DbError> {
    let now = now_naive();
    let commit = get_or_create_commit(conn, &rec.commit)?;

    // Activity times are refreshed at most once a second per commit. The
    // project's is refreshed together with the commit's, so when the commit's
    // is fresh the project's is too (it may be fresher) and both are skipped.
    // The project row is taken first: creating a commit locks it before the
    // test input, batch and output rows, so every writer must take it first
    // too, or they deadlock. The conditional UPDATE neither locks nor writes
    // when a concurrent writer refreshed it meanwhile.
    let now_utc = Utc::now();
    // A commit no output refreshed yet still holds its authored time there.
    let stale = commit.latest_output_datetime.is_none_or(|t| {
        (now_utc - t).num_milliseconds() >= LATEST_OUTPUT_PRECISION_MS
            || commit.authored_datetime.is_some_and(|a| t <= a)
    });
    if stale {
        let fresh_since = now - chrono::Duration::milliseconds(LATEST_OUTPUT_PRECISION_MS);
        diesel::update(
            projects::table.filter(projects::id.eq(&rec.commit.project)).filter(
                projects::latest_output_datetime
                    .is_null()
                    .or(projects::latest_output_datetime.le(fresh_since)),
            ),
        )
        .set(projects::latest_output_datetime.eq(now))
        .execute(conn)?;
    }

    // The test input, and its metadata when the client sends some.
    let mut input = get_or_create_test_input(conn, &rec.database, &rec.input_path)?;
    if let Some(meta) = rec.input_metadata.as_ref().filter(|m| rules::truthy(Some(m))) {
        if input.data.get("metadata") != Some(meta) {
            let current = for_update!(test_inputs::table.filter(test_inputs::id.eq(input.id)).select(test_inputs::data))
                .first::<Value>(conn)?;
            let mut patch = Map::new();
            patch.insert("metadata".into(), meta.clone());
            input.data = rules::merge_shallow(&current, &patch);
            diesel::update(test_inputs::table.filter(test_inputs::id.eq(input.id)))
                .set(test_inputs::data.eq(&input.data))
                .execute(conn)?;
        }
    }

    // The batch records the job type of its latest output.
    let batch = get_or_create_batch(conn, commit.id, &rec.batch_label, false)?;
    if batch.data.get("type").and_then(Value::as_str) != Some(rec.job_type.as_str()) {
        let locked = for_update!(batches::table.filter(batches::id.eq(batch.id)).select(batches::data))
            .first::<Value>(conn)?;
        let mut patch = Map::new();
        patch.insert("type".into(), Value::String(rec.job_type.clone()));
        set_batch_data(conn, batch.id, &rules::merge_shallow(&locked, &patch))?;
    }

    let output = upsert_output(conn, batch.id, input.id, rec)?;

    // Activity timestamps and the commit's storage folder, written only when they change.
    let new_override = rec.commit_dir_override.clone().unwrap_or_else(|| commit.commit_dir_override.clone());
    if stale || new_override != commit.commit_dir_override {
        diesel::update(ci_commits::table.filter(ci_commits::id.eq(commit.id)))
            .set((
                ci_commits::latest_output_datetime.eq(now_utc),
                ci_commits::commit_dir_override.eq(new_override.as_deref()),
            ))
            .execute(conn)?;
    }

    Ok(OutputWithInput { output: output.into(), test_input: Some(input.into()) })
}

/// Reads one output with its test input.
pub fn get_output(conn: &mut Conn, id: i32) -> Result<Option<OutputWithInput>, DbError> {
    let Some(output) = find_output(conn, id)? else { return Ok(None) };
    let input = find_test_input(conn, output.test_input_id)?;
    Ok(Some(OutputWithInput { output: output.into(), test_input: input.map(Into::into) }))
}

/// See [`crate::ingest::patch_output`].
pub fn patch_output(conn: &mut Conn, id: i32, patch: &OutputPatch) -> Result<OutputWithInput, DbError> {
    let current = for_update!(outputs::table.filter(outputs::id.eq(id)).select(output_cols!()))
        .first::<OutputRow>(conn)
        .optional()?
        .ok_or_else(|| DbError::NotFound(format!("output {id} not found")))?;
    let data = match &patch.data {
        Some(p) => rules::merge_shallow(&current.data, p),
        None => current.data.clone(),
    };
    let metrics = match &patch.metrics {
        Some(p) => rules::merge_shallow(&current.metrics, p),
        None => current.metrics.clone(),
    };
    diesel::update(outputs::table.filter(outputs::id.eq(id)))
        .set((
            outputs::is_pending.eq(patch.is_pending.unwrap_or(current.is_pending)),
            outputs::is_running.eq(patch.is_running.unwrap_or(current.is_running)),
            outputs::is_failed.eq(patch.is_failed.unwrap_or(current.is_failed)),
            outputs::data.eq(&data),
            outputs::metrics.eq(&metrics),
        ))
        .execute(conn)?;
    get_output(conn, id)?.ok_or_else(|| DbError::NotFound(format!("output {id} not found")))
}

// ------------------------------------------------------------------- reads

/// An output's state.
#[derive(diesel::QueryableByName)]
struct OutputState {
    #[diesel(sql_type = diesel::sql_types::Integer)]
    id: i32,
    #[diesel(sql_type = diesel::sql_types::Nullable<diesel::sql_types::Integer>)]
    batch_id: Option<i32>,
    #[diesel(sql_type = diesel::sql_types::Bool)]
    is_pending: bool,
    #[diesel(sql_type = diesel::sql_types::Bool)]
    is_running: bool,
    #[diesel(sql_type = diesel::sql_types::Bool)]
    is_failed: bool,
    #[diesel(sql_type = diesel::sql_types::Bool)]
    deleted: bool,
}

/// An output's state and, when it is valid, the requested metrics as a JSON
/// object text.
#[derive(diesel::QueryableByName)]
struct OutputStateRow {
    #[diesel(embed)]
    state: OutputState,
    #[diesel(sql_type = diesel::sql_types::Nullable<diesel::sql_types::Text>)]
    metrics: Option<String>,
}

/// Every output of the batches `id_list` (integers from the database, comma
/// separated) with its state, and for the valid ones an object of only the
/// requested metrics: the database reads a few values instead of sending
/// every metrics document. `None` when no metric is asked, when there are too
/// many names for one statement, or on SQLite when a document is not one
/// `sqlite_jsonb` reads.
fn scan_with_metrics(conn: &mut Conn, id_list: &str, names: &[String]) -> Result<Option<Vec<OutputStateRow>>, DbError> {
    use std::fmt::Write as _;
    if names.is_empty() || names.len() > 32 {
        return Ok(None);
    }
    if !IS_POSTGRES {
        // SQLite is in the process: the metrics blobs of valid outputs are
        // read here, picking the requested members (`sqlite_jsonb`).
        let rows: Vec<OutputBlobRow> = diesel::sql_query(format!(
            "SELECT id, batch_id, is_pending, is_running, is_failed, deleted, \
             CASE WHEN is_failed OR is_pending THEN NULL ELSE metrics END AS metrics \
             FROM outputs WHERE batch_id IN ({id_list})"
        ))
        .load(conn)?;
        let mut out = Vec::with_capacity(rows.len());
        for r in rows {
            let metrics = match &r.metrics {
                Some(blob) => match crate::sqlite_jsonb::pick_members(blob, names) {
                    Some(m) => Some(m),
                    // A document this reader does not handle: whole documents.
                    None => return Ok(None),
                },
                None => None,
            };
            out.push(OutputStateRow { state: r.state, metrics });
        }
        return Ok(Some(out));
    }
    // `{"<name>":<value>,...}` written by concatenation, the cheapest form
    // (each key comes JSON-escaped as a parameter); missing values are null,
    // which counts like missing. Values of any type: only numbers and
    // booleans count, later.
    let mut picked = String::from("'{'");
    let mut binds: Vec<String> = Vec::new();
    for (i, name) in names.iter().enumerate() {
        let (key, name_param) = (2 * i + 1, 2 * i + 2);
        let comma = if i > 0 { "','" } else { "''" };
        let _ = write!(
            picked,
            " || {comma} || ${key}::text || COALESCE((metrics -> ${name_param}::text)::text, 'null')"
        );
        binds.push(format!("{}:", serde_json::Value::String(name.clone())));
        binds.push(name.clone());
    }
    picked.push_str(" || '}'");
    let sql = format!(
        "SELECT id, batch_id, is_pending, is_running, is_failed, deleted, \
         CASE WHEN is_failed OR is_pending THEN NULL ELSE {picked} END AS metrics \
         FROM outputs WHERE batch_id IN ({id_list})"
    );
    let mut q = diesel::sql_query(sql).into_boxed();
    for b in binds {
        q = q.bind::<diesel::sql_types::Text, _>(b);
    }
    Ok(Some(q.load(conn)?))
}

/// [`OutputStateRow`] with the metrics blob of valid outputs (SQLite).
#[derive(diesel::QueryableByName)]
struct OutputBlobRow {
    #[diesel(embed)]
    state: OutputState,
    #[diesel(sql_type = diesel::sql_types::Nullable<diesel::sql_types::Binary>)]
    metrics: Option<Vec<u8>>,
}

#[derive(diesel::QueryableByName)]
struct CountsRow {
    #[diesel(sql_type = diesel::sql_types::Integer)]
    batch_id: i32,
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    valid: i64,
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    pending: i64,
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    running: i64,
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    failed: i64,
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    deleted: i64,
}

/// Batches of the given commits (only `label` when given) with their output
/// counters; with `with_outputs`, every output; with `metric_names`, the
/// metrics of valid outputs. Outputs are looked at only for batches labelled
/// `detail_label` when given. A fixed number of queries whatever the sizes.
fn load_batches_with_outputs(
    conn: &mut Conn,
    commit_ids: &[i32],
    label: Option<&str>,
    detail_label: Option<&str>,
    with_outputs: bool,
    metric_names: &[String],
) -> Result<Vec<BatchWithOutputs>, DbError> {
    let with_metrics = !metric_names.is_empty();
    if commit_ids.is_empty() {
        return Ok(Vec::new());
    }
    let mut q = batches::table
        .filter(batches::ci_commit_id.eq_any(commit_ids))
        .select(batch_cols!())
        .order((batches::ci_commit_id, batches::created_date, batches::id))
        .into_boxed();
    if let Some(label) = label {
        q = q.filter(batches::label.eq(label));
    }
    let batch_rows = q.load::<BatchRow>(conn)?;
    let ids: Vec<i32> = batch_rows
        .iter()
        .filter(|b| detail_label.is_none_or(|l| b.label.as_deref() == Some(l)))
        .map(|b| b.id)
        .collect();
    let mut out: Vec<BatchWithOutputs> = batch_rows
        .into_iter()
        .map(|b| BatchWithOutputs {
            batch: b.into(),
            counts: Default::default(),
            valid_metrics: Vec::new(),
            outputs: Vec::new(),
        })
        .collect();
    if ids.is_empty() {
        return Ok(out);
    }
    let index: std::collections::HashMap<i32, usize> = out.iter().enumerate().map(|(i, b)| (b.batch.id, i)).collect();
    // In chunks to stay under bind-parameter limits.
    for chunk in ids.chunks(5000) {
        if with_outputs {
            // JSON columns come back as text, to be passed through as is.
            let rows: Vec<OutputRead> = outputs::table
                .left_join(test_inputs::table)
                .filter(outputs::batch_id.eq_any(chunk))
                .select((
                    outputs::id,
                    outputs::batch_id,
                    outputs::created_date,
                    outputs::deleted,
                    outputs::output_dir_override,
                    outputs::output_type,
                    outputs::platform,
                    outputs::is_pending,
                    outputs::is_running,
                    outputs::is_failed,
                    json_text!(outputs::configurations, "outputs.configurations"),
                    json_text!(outputs::extra_parameters, "outputs.extra_parameters"),
                    json_text!(outputs::metrics, "outputs.metrics"),
                    json_text!(outputs::data, "outputs.data"),
                    test_inputs::database.nullable(),
                    test_inputs::path.nullable(),
                    input_metadata_text!(),
                ))
                .load(conn)?;
            // In id order (sorted here rather than by the database: see below).
            let mut rows = rows;
            rows.sort_unstable_by_key(|o| o.id);
            for o in rows {
                if let Some(&i) = o.batch_id.as_ref().and_then(|b| index.get(b)) {
                    let b = &mut out[i];
                    let c = &mut b.counts;
                    c.valid += i64::from(o.is_valid());
                    c.pending += i64::from(o.is_pending);
                    c.running += i64::from(o.is_running);
                    c.failed += i64::from(o.is_failed);
                    c.deleted += i64::from(o.deleted);
                    if with_metrics && o.is_valid() {
                        b.valid_metrics.push(o.metrics.0.clone());
                    }
                    b.outputs.push(o);
                }
            }
            continue;
        }
        // The ids are integers we read from the database: writing them into
        // the statement is safe.
        let list = chunk.iter().map(i32::to_string).collect::<Vec<_>>().join(",");
        // With metrics: one scan gives each output's state and, for valid
        // ones, the requested metrics; the counters are summed here.
        if let Some(mut rows) = scan_with_metrics(conn, &list, metric_names)? {
            // Aggregates sum in output order, like the single-commit read.
            // Sorting here lets the database scan by batch instead of
            // walking the primary key.
            rows.sort_unstable_by_key(|r| r.state.id);
            for OutputStateRow { state: r, metrics } in rows {
                if let Some(&i) = r.batch_id.as_ref().and_then(|b| index.get(b)) {
                    let b = &mut out[i];
                    let valid = !r.is_failed && !r.is_pending;
                    let c = &mut b.counts;
                    c.valid += i64::from(valid);
                    c.pending += i64::from(r.is_pending);
                    c.running += i64::from(r.is_running);
                    c.failed += i64::from(r.is_failed);
                    c.deleted += i64::from(r.deleted);
                    if let (true, Some(m)) = (valid, metrics) {
                        b.valid_metrics.push(m);
                    }
                }
            }
            continue;
        }
        // Counters computed by the database.
        let counts: Vec<CountsRow> = diesel::sql_query(format!(
            "SELECT batch_id, \
               CAST(COALESCE(SUM(CASE WHEN is_failed OR is_pending THEN 0 ELSE 1 END), 0) AS BIGINT) AS valid, \
               CAST(COALESCE(SUM(CASE WHEN is_pending THEN 1 ELSE 0 END), 0) AS BIGINT) AS pending, \
               CAST(COALESCE(SUM(CASE WHEN is_running THEN 1 ELSE 0 END), 0) AS BIGINT) AS running, \
               CAST(COALESCE(SUM(CASE WHEN is_failed THEN 1 ELSE 0 END), 0) AS BIGINT) AS failed, \
               CAST(COALESCE(SUM(CASE WHEN deleted THEN 1 ELSE 0 END), 0) AS BIGINT) AS deleted \
             FROM outputs WHERE batch_id IN ({list}) GROUP BY batch_id"
        ))
        .load(conn)?;
        for r in counts {
            if let Some(&i) = index.get(&r.batch_id) {
                out[i].counts = crate::read::OutputCounts {
                    valid: r.valid,
                    pending: r.pending,
                    running: r.running,
                    failed: r.failed,
                    deleted: r.deleted,
                };
            }
        }
        if with_metrics {
            // Names the scan cannot ask for: whole metrics documents.
            let mut rows = outputs::table
                .filter(outputs::batch_id.eq_any(chunk))
                .filter(outputs::is_failed.eq(false))
                .filter(outputs::is_pending.eq(false))
                .select((outputs::id, outputs::batch_id, json_text!(outputs::metrics, "outputs.metrics")))
                .load::<(i32, Option<i32>, crate::read::JsonText)>(conn)?;
            rows.sort_unstable_by_key(|r| r.0);
            for (_, batch_id, metrics) in rows {
                if let Some(&i) = batch_id.as_ref().and_then(|b| index.get(b)) {
                    out[i].valid_metrics.push(metrics.0);
                }
            }
        }
    }
    Ok(out)
}

/// One commit with its batches (optionally only `batch`) and their outputs.
pub fn commit_tree(
    conn: &mut Conn,
    project: &str,
    sha: &str,
    batch: Option<&str>,
    metric_names: &[String],
) -> Result<Option<CommitTree>, DbError> {
    let Some(commit) = find_commit(conn, project, sha)? else { return Ok(None) };
    let batches = load_batches_with_outputs(conn, &[commit.id], batch, None, true, metric_names)?;
    let project_row = find_project(conn, project)?;
    Ok(Some(CommitTree { commit: commit.into(), data_text: None, project: project_row.map(Into::into), batches }))
}

/// The latest of the last `within_last` commits on `branch` (or `origin/branch`)
/// that has a valid output (in batch `batch` when given).
pub fn latest_successful_commit(
    conn: &mut Conn,
    project: &str,
    branch: &str,
    batch: Option<&str>,
    within_last: i64,
) -> Result<Option<String>, DbError> {
    let origin = format!("origin/{branch}");
    let commits = ci_commits::table
        .filter(ci_commits::project_id.eq(project))
        .filter(ci_commits::branch.eq(branch).or(ci_commits::branch.eq(&origin)))
        .order(ci_commits::authored_datetime.desc())
        .limit(within_last)
        .select((ci_commits::id, ci_commits::hexsha))
        .load::<(i32, String)>(conn)?;
    if commits.is_empty() {
        return Ok(None);
    }
    let ids: Vec<i32> = commits.iter().map(|c| c.0).collect();
    let mut q = batches::table
        .inner_join(outputs::table)
        .filter(batches::ci_commit_id.eq_any(&ids))
        .filter(outputs::is_failed.eq(false))
        .filter(outputs::is_pending.eq(false))
        .select(batches::ci_commit_id)
        .distinct()
        .into_boxed();
    if let Some(b) = batch {
        q = q.filter(batches::label.eq(b));
    }
    let with_valid: Vec<Option<i32>> = q.load(conn)?;
    Ok(commits
        .into_iter()
        .find(|(id, _)| with_valid.contains(&Some(*id)))
        .map(|(_, sha)| sha))
}

/// Distinct branch names of a project, sorted.
pub fn branches(conn: &mut Conn, project: &str) -> Result<Vec<String>, DbError> {
    let mut b: Vec<String> = ci_commits::table
        .filter(ci_commits::project_id.eq(project))
        .select(ci_commits::branch)
        .distinct()
        .load::<Option<String>>(conn)?
        .into_iter()
        .flatten()
        .collect();
    b.sort();
    Ok(b)
}

/// Every project having commits, with its commit count and latest commit time.
pub fn project_summaries(conn: &mut Conn) -> Result<Vec<ProjectSummary>, DbError> {
    use diesel::dsl::count;
    let rows = projects::table
        .inner_join(ci_commits::table)
        .group_by((projects::id, projects::data, projects::latest_output_datetime))
        .select((
            projects::id,
            projects::data,
            projects::latest_output_datetime,
            max_authored(),
            count(ci_commits::id),
        ))
        .load::<(String, Value, Option<NaiveDateTime>, Option<chrono::DateTime<Utc>>, i64)>(conn)?;
    let mut out: Vec<ProjectSummary> = rows
        .into_iter()
        .map(|(id, data, latest_output_datetime, latest_commit_datetime, total_commits)| ProjectSummary {
            id,
            data,
            latest_output_datetime,
            latest_commit_datetime,
            total_commits,
        })
        .collect();
    out.sort_by_key(|p| p.id.to_lowercase());
    Ok(out)
}

/// Commits of a window (newest first, at most `limit`), with their batches.
pub fn commits_in_window(conn: &mut Conn, w: &CommitWindow) -> Result<Vec<CommitTree>, DbError> {
    let origin = w.branch.as_ref().map(|b| format!("origin/{b}"));
    let mut latest = ci_commits::table
        .filter(ci_commits::project_id.eq(&w.project))
        .select(max_authored())
        .into_boxed();
    if let (Some(b), Some(o)) = (&w.branch, &origin) {
        latest = latest.filter(ci_commits::branch.eq(b).or(ci_commits::branch.eq(o)));
    }
    if let Some(c) = &w.committer {
        latest = latest.filter(ci_commits::committer_name.eq(c));
    }
    let Some(latest) = latest.first::<Option<chrono::DateTime<Utc>>>(conn)? else { return Ok(Vec::new()) };
    // Bounds are kept within years 1..=9999: date arithmetic cannot overflow,
    // and SQLite, which compares timestamps as ISO text, orders them right.
    let lowest = chrono::NaiveDate::from_ymd_opt(1, 1, 1).and_then(|d| d.and_hms_opt(0, 0, 0)).map(|d| d.and_utc());
    let highest = chrono::NaiveDate::from_ymd_opt(9999, 12, 31).and_then(|d| d.and_hms_opt(23, 59, 59)).map(|d| d.and_utc());
    let (Some(lowest), Some(highest)) = (lowest, highest) else { return Ok(Vec::new()) };
    let margin = chrono::Duration::hours(3);
    let span = w.to.signed_duration_since(w.from);
    let reach_back = latest.checked_sub_signed(span).unwrap_or(lowest);
    let from = std::cmp::min(reach_back, w.from).checked_sub_signed(margin).unwrap_or(lowest).max(lowest);
    let to = w.to.checked_add_signed(margin).unwrap_or(highest).min(highest);
    let mut q = ci_commits::table
        .filter(ci_commits::project_id.eq(&w.project))
        .filter(ci_commits::authored_datetime.ge(from))
        .filter(ci_commits::authored_datetime.le(to))
        // The commit's data is passed through as text (no parse per commit).
        .select((
            ci_commits::id,
            ci_commits::hexsha,
            ci_commits::project_id,
            json_text!(ci_commits::data, "ci_commits.data"),
            ci_commits::authored_datetime,
            ci_commits::committer_name,
            ci_commits::message,
            ci_commits::branch,
            ci_commits::commit_dir_override,
            ci_commits::latest_output_datetime,
            ci_commits::deleted,
        ))
        .order(ci_commits::authored_datetime.desc())
        .limit(w.limit)
        .into_boxed();
    if let (Some(b), Some(o)) = (&w.branch, &origin) {
        q = q.filter(ci_commits::branch.eq(b).or(ci_commits::branch.eq(o)));
    }
    if let Some(c) = &w.committer {
        q = q.filter(ci_commits::committer_name.eq(c));
    }
    #[allow(clippy::type_complexity)]
    let rows: Vec<(
        i32,
        String,
        Option<String>,
        crate::read::JsonText,
        Option<chrono::DateTime<Utc>>,
        Option<String>,
        Option<String>,
        Option<String>,
        Option<String>,
        Option<chrono::DateTime<Utc>>,
        bool,
    )> = q.load(conn)?;
    let commits: Vec<(qaboard_model::CiCommit, crate::read::JsonText)> = rows
        .into_iter()
        .map(|r| {
            let commit = qaboard_model::CiCommit {
                id: r.0,
                hexsha: r.1,
                project_id: r.2.unwrap_or_default(),
                data: Value::Null,
                authored_datetime: r.4,
                committer_name: r.5,
                message: r.6,
                branch: r.7,
                parents: None,
                commit_dir_override: r.8,
                commit_type: None,
                latest_output_datetime: r.9,
                deleted: r.10,
            };
            (commit, r.3)
        })
        .collect();
    let ids: Vec<i32> = commits.iter().map(|c| c.0.id).collect();
    let mut batches = load_batches_with_outputs(conn, &ids, None, w.batch.as_deref(), w.with_outputs, &w.metrics)?;
    let mut by_commit: std::collections::HashMap<i32, Vec<BatchWithOutputs>> = std::collections::HashMap::new();
    for b in batches.drain(..) {
        by_commit.entry(b.batch.ci_commit_id).or_default().push(b);
    }
    Ok(commits
        .into_iter()
        .filter_map(|(commit, data)| {
            let batches = by_commit.remove(&commit.id)?;
            Some(CommitTree { commit, data_text: Some(data), project: None, batches })
        })
        .collect())
}

/// The batch, commit and project of a batch id (to compute folders).
#[allow(clippy::type_complexity)]
pub fn output_context(
    conn: &mut Conn,
    batch_id: i32,
) -> Result<Option<(Option<qaboard_model::Project>, qaboard_model::CiCommit, qaboard_model::Batch)>, DbError> {
    let Some(batch) = batches::table
        .filter(batches::id.eq(batch_id))
        .select(batch_cols!())
        .first::<BatchRow>(conn)
        .optional()?
    else {
        return Ok(None);
    };
    let Some(commit_id) = batch.ci_commit_id else { return Ok(None) };
    let commit = find_commit_by_id(conn, commit_id)?;
    let project = match &commit.project_id {
        Some(p) => find_project(conn, p)?.map(Into::into),
        None => None,
    };
    Ok(Some((project, commit.into(), batch.into())))
}
