//! Outputs: the race-free upsert posted by `qa run`, its one-statement fast
//! path, reads by id and partial updates.
use super::batch::{get_or_create_batch, set_batch_data};
use super::commit::get_or_create_commit;
use super::prelude::*;
use super::test_input::{find_test_input, get_or_create_test_input};
use super::TzType;
use diesel::query_builder::AstPass;

type Backend = <Conn as diesel::Connection>::Backend;

/// How stale a `latest_output_datetime` may get before a new output refreshes
/// it. Refreshing on every output would make all writers of a project queue
/// on one row lock; a second of precision is plenty for "last activity".
const LATEST_OUTPUT_PRECISION_MS: i64 = 1000;

pub(crate) fn find_output(conn: &mut Conn, id: i32) -> Result<Option<OutputRow>, DbError> {
    Ok(outputs::table
        .filter(outputs::id.eq(id))
        .select(output_cols!())
        .first::<OutputRow>(conn)
        .optional()?)
}

/// Inserts the output, or updates the one with the same identity (batch,
/// input, platform, configurations, tuning parameters), in one statement that
/// is race-free against concurrent writers of the same identity. Status
/// rules: running implies pending; metrics and failure are only written once
/// the output is finished.
pub(crate) fn upsert_output(
    conn: &mut Conn,
    batch_id: i32,
    input_id: i32,
    rec: &OutputRecord,
) -> Result<OutputRow, DbError> {
    let empty = Value::Object(Map::new());
    let query = UpsertOutput {
        batch_id,
        input_id,
        values: OutputValues::of(rec, &empty),
    };
    Ok(query.get_result::<OutputRow>(conn)?)
}

/// The values an upsert writes, with the status rules applied.
struct OutputValues<'a> {
    rec: &'a OutputRecord,
    created: NaiveDateTime,
    is_pending: bool,
    failed: bool,
    metrics: &'a Value,
}

impl<'a> OutputValues<'a> {
    /// `empty`: an empty object, the metrics of an output still pending.
    fn of(rec: &'a OutputRecord, empty: &'a Value) -> Self {
        let is_pending = rec.is_running || rec.is_pending;
        OutputValues {
            rec,
            created: now_naive(),
            is_pending,
            failed: !is_pending && (rec.is_failed || rules::truthy(rec.metrics.get("is_failed"))),
            metrics: if is_pending { empty } else { &rec.metrics },
        }
    }

    /// `INSERT INTO outputs (<columns>) ` (batch and test input first).
    fn push_insert(out: &mut AstPass<'_, '_, Backend>) {
        out.push_sql(
            "INSERT INTO outputs (batch_id, test_input_id, platform, configurations, extra_parameters, \
             created_date, deleted, output_type, output_dir_override, is_pending, is_running, is_failed, \
             metrics, data) ",
        );
    }

    /// The values of every column after the batch and test input.
    fn push_values<'b>(&'b self, out: &mut AstPass<'_, 'b, Backend>) -> QueryResult<()> {
        use diesel::sql_types::{Bool, Jsonb, Nullable, Text, Timestamp};
        let rec = self.rec;
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
        out.push_bind_param::<Jsonb, _>(&rec.data)
    }

    /// The conflict clause on the output's identity, and the returned columns.
    fn push_conflict(out: &mut AstPass<'_, '_, Backend>) {
        out.push_sql(" ON CONFLICT (");
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
    }
}

/// The output upsert as a query type of its own: its conflict target is an
/// expression index, which diesel's `on_conflict` cannot name, and unlike
/// `sql_query` a type with a static query id is prepared once per connection
/// instead of being parsed and planned by the database on every call.
struct UpsertOutput<'a> {
    batch_id: i32,
    input_id: i32,
    values: OutputValues<'a>,
}

/// The prepared-statement cache key of [`UpsertOutput`].
struct UpsertOutputId;

impl diesel::query_builder::QueryId for UpsertOutput<'_> {
    type QueryId = UpsertOutputId;
    const HAS_STATIC_QUERY_ID: bool = true;
}

impl diesel::query_builder::QueryFragment<Backend> for UpsertOutput<'_> {
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, Backend>) -> QueryResult<()> {
        use diesel::sql_types::Integer;
        OutputValues::push_insert(&mut out);
        out.push_sql("VALUES (");
        out.push_bind_param::<Integer, _>(&self.batch_id)?;
        out.push_sql(", ");
        out.push_bind_param::<Integer, _>(&self.input_id)?;
        out.push_sql(", ");
        self.values.push_values(&mut out)?;
        out.push_sql(")");
        OutputValues::push_conflict(&mut out);
        Ok(())
    }
}

impl diesel::query_builder::Query for UpsertOutput<'_> {
    // The columns are unit types too: the same list names them.
    type SqlType = diesel::dsl::SqlTypeOf<output_cols!()>;
}

impl RunQueryDsl<Conn> for UpsertOutput<'_> {}

/// The common case of [`record_output`] as ONE statement without a
/// transaction: the commit, batch and test input exist and need no change, so
/// the only write is the output's upsert, which finds their ids itself
/// (`INSERT … SELECT` over the commit, batch and test input, with the
/// conditions of "nothing else to write" in its `WHERE`). Returns `None`
/// (having written nothing) when a row is missing, when anything else must be
/// created or updated, or when a row it found is deleted before the upsert
/// (a foreign key violation); the caller then runs [`record_output`] in a
/// transaction. One round trip instead of two (a read, then the upsert):
/// bench/README.md "Ingestion in one statement".
pub(crate) fn record_output_fast(
    conn: &mut Conn,
    rec: &OutputRecord,
) -> Result<Option<OutputWithInput>, DbError> {
    let (empty, null) = (Value::Object(Map::new()), Value::Null);
    let metadata = rec
        .input_metadata
        .as_ref()
        .filter(|m| rules::truthy(Some(m)));
    let query = RecordUnchanged {
        values: OutputValues::of(rec, &empty),
        fresh_since: Utc::now() - chrono::Duration::milliseconds(LATEST_OUTPUT_PRECISION_MS),
        any_dir: rec.commit_dir_override.is_none(),
        dir: rec.commit_dir_override.as_ref().and_then(|d| d.as_deref()),
        any_metadata: metadata.is_none(),
        metadata: metadata.unwrap_or(&null),
    };
    let recorded = {
        let _writer = single_writer!();
        match query.get_result::<(OutputRow, Json)>(conn).optional() {
            Ok(found) => found,
            Err(diesel::result::Error::DatabaseError(
                diesel::result::DatabaseErrorKind::ForeignKeyViolation,
                _,
            )) => return Ok(None),
            Err(e) => return Err(e.into()),
        }
    };
    Ok(recorded.map(|(output, input_data)| OutputWithInput {
        // (always there: the statement inserted the input's id)
        test_input: output.test_input_id.map(|id| {
            TestInputRow {
                id,
                // Equal to the row's: the statement found the input by them.
                path: rec.input_path.clone(),
                database: rec.database.clone(),
                data: input_data.0,
            }
            .into()
        }),
        output: output.into(),
    }))
}

/// The statement of [`record_output_fast`]. Its conditions are those under
/// which [`record_output`] would write nothing but the output:
/// - the commit's `latest_output_datetime` is fresh (newer than
///   `fresh_since`, and than its authored time);
/// - the batch's `data.type` is the job type, as a JSON string;
/// - the commit's storage folder is the one sent, if one is;
/// - the test input's `data.metadata` is the metadata sent, if any (see the
///   comparison in `walk_ast`: when it cannot tell, the transaction decides).
struct RecordUnchanged<'a> {
    values: OutputValues<'a>,
    fresh_since: chrono::DateTime<Utc>,
    /// No storage folder was sent: any will do.
    any_dir: bool,
    dir: Option<&'a str>,
    /// No metadata was sent: any will do.
    any_metadata: bool,
    metadata: &'a Value,
}

/// The prepared-statement cache key of [`RecordUnchanged`].
struct RecordUnchangedId;

impl diesel::query_builder::QueryId for RecordUnchanged<'_> {
    type QueryId = RecordUnchangedId;
    const HAS_STATIC_QUERY_ID: bool = true;
}

impl diesel::query_builder::QueryFragment<Backend> for RecordUnchanged<'_> {
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, Backend>) -> QueryResult<()> {
        use diesel::sql_types::{Bool, Jsonb, Nullable, Text};
        let rec = self.values.rec;
        OutputValues::push_insert(&mut out);
        out.push_sql("SELECT batches.id, test_inputs.id, ");
        self.values.push_values(&mut out)?;
        out.push_sql(
            " FROM ci_commits JOIN batches ON batches.ci_commit_id = ci_commits.id AND batches.label = ",
        );
        out.push_bind_param::<Text, _>(&rec.batch_label)?;
        out.push_sql(" JOIN test_inputs ON test_inputs.database = ");
        out.push_bind_param::<Text, _>(&rec.database)?;
        out.push_sql(" AND test_inputs.path = ");
        out.push_bind_param::<Text, _>(&rec.input_path)?;
        out.push_sql(" WHERE ci_commits.project_id = ");
        out.push_bind_param::<Text, _>(&rec.commit.project)?;
        out.push_sql(" AND ci_commits.hexsha = ");
        out.push_bind_param::<Text, _>(&rec.commit.hexsha)?;
        out.push_sql(" AND ci_commits.latest_output_datetime > ");
        out.push_bind_param::<TzType, _>(&self.fresh_since)?;
        out.push_sql(
            " AND (ci_commits.authored_datetime IS NULL \
             OR ci_commits.latest_output_datetime > ci_commits.authored_datetime)",
        );
        // The type is a JSON string equal to the job type. SQLite: read
        // from the JSONB element, never through its text rendering (diesel
        // stores strings that need escaping unescaped, so `->` would print
        // invalid JSON for them).
        out.push_sql(if IS_POSTGRES {
            " AND jsonb_typeof(batches.data -> 'type') = 'string' AND batches.data ->> 'type' = "
        } else {
            " AND json_type(batches.data, '$.type') = 'text' AND batches.data ->> 'type' = "
        });
        out.push_bind_param::<Text, _>(&rec.job_type)?;
        out.push_sql(" AND (");
        out.push_bind_param::<Bool, _>(&self.any_dir)?;
        out.push_sql(" OR ci_commits.commit_dir_override IS NOT DISTINCT FROM ");
        out.push_bind_param::<Nullable<Text>, _>(&self.dir)?;
        out.push_sql(") AND (");
        out.push_bind_param::<Bool, _>(&self.any_metadata)?;
        // The stored metadata is the one sent, as the Rust comparison of
        // `record_output` sees it (`1` and `1.0` differ): PostgreSQL compares
        // the `jsonb` texts (both normalised: key order, spacing; numbers
        // keep their digits); SQLite compares the JSONB bytes as diesel
        // encoded both (a different key order, or bytes written by another
        // encoder, only take the transaction, which then writes nothing
        // more). Neither parses stored text, so no stored value can make
        // the statement fail.
        out.push_sql(if IS_POSTGRES {
            " OR CAST(test_inputs.data -> 'metadata' AS TEXT) = CAST("
        } else {
            " OR jsonb_extract(test_inputs.data, '$.metadata') = ("
        });
        out.push_bind_param::<Jsonb, _>(self.metadata)?;
        out.push_sql(if IS_POSTGRES { " AS TEXT))" } else { "))" });
        OutputValues::push_conflict(&mut out);
        out.push_sql(
            ", (SELECT test_inputs.data FROM test_inputs WHERE test_inputs.id = outputs.test_input_id)",
        );
        Ok(())
    }
}

impl diesel::query_builder::Query for RecordUnchanged<'_> {
    type SqlType = (
        diesel::dsl::SqlTypeOf<output_cols!()>,
        diesel::sql_types::Jsonb,
    );
}

impl RunQueryDsl<Conn> for RecordUnchanged<'_> {}

/// See [`crate::ingest::record_output`].
pub(crate) fn record_output(
    conn: &mut Conn,
    rec: &OutputRecord,
) -> Result<OutputWithInput, DbError> {
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
            projects::table
                .filter(projects::id.eq(&rec.commit.project))
                .filter(
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
    if let Some(meta) = rec
        .input_metadata
        .as_ref()
        .filter(|m| rules::truthy(Some(m)))
    {
        if input.data.get("metadata") != Some(meta) {
            let current = for_update!(test_inputs::table
                .filter(test_inputs::id.eq(input.id))
                .select(test_inputs::data))
            .first::<Json>(conn)?
            .0;
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
        let locked = for_update!(batches::table
            .filter(batches::id.eq(batch.id))
            .select(batches::data))
        .first::<Json>(conn)?
        .0;
        let mut patch = Map::new();
        patch.insert("type".into(), Value::String(rec.job_type.clone()));
        set_batch_data(conn, batch.id, &rules::merge_shallow(&locked, &patch))?;
    }

    let output = upsert_output(conn, batch.id, input.id, rec)?;

    // Activity timestamps and the commit's storage folder, written only when they change.
    let new_override = rec
        .commit_dir_override
        .clone()
        .unwrap_or_else(|| commit.commit_dir_override.clone());
    if stale || new_override != commit.commit_dir_override {
        diesel::update(ci_commits::table.filter(ci_commits::id.eq(commit.id)))
            .set((
                ci_commits::latest_output_datetime.eq(now_utc),
                ci_commits::commit_dir_override.eq(new_override.as_deref()),
            ))
            .execute(conn)?;
    }

    Ok(OutputWithInput {
        output: output.into(),
        test_input: Some(input.into()),
    })
}

/// Reads one output with its test input.
pub(crate) fn get_output(conn: &mut Conn, id: i32) -> Result<Option<OutputWithInput>, DbError> {
    let Some(output) = find_output(conn, id)? else {
        return Ok(None);
    };
    let input = find_test_input(conn, output.test_input_id)?;
    Ok(Some(OutputWithInput {
        output: output.into(),
        test_input: input.map(Into::into),
    }))
}

/// The output row `id`, locked until the transaction ends (PostgreSQL; SQLite's write
/// transactions are exclusive); `NotFound` when there is none.
pub(crate) fn lock_output(conn: &mut Conn, id: i32) -> Result<OutputRow, DbError> {
    for_update!(outputs::table
        .filter(outputs::id.eq(id))
        .select(output_cols!()))
    .first::<OutputRow>(conn)
    .optional()?
    .ok_or_else(|| DbError::NotFound {
        what: "output",
        key: id.to_string(),
    })
}

/// See [`crate::ingest::patch_output`].
pub(crate) fn patch_output(
    conn: &mut Conn,
    id: i32,
    patch: &OutputPatch,
) -> Result<OutputWithInput, DbError> {
    let current = lock_output(conn, id)?;
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
    get_output(conn, id)?.ok_or_else(|| DbError::NotFound {
        what: "output",
        key: id.to_string(),
    })
}
