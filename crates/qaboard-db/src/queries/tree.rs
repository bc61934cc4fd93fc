//! The commit page read: batches of some commits with their output counters,
//! outputs and the metrics of valid outputs, in a fixed number of queries;
//! one commit's tree; the folders context of a batch.
use super::commit::{find_commit, find_commit_by_id};
use super::prelude::*;
use super::project::find_project;

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
fn scan_with_metrics(
    conn: &mut Conn,
    id_list: &str,
    names: &[String],
) -> Result<Option<Vec<OutputStateRow>>, DbError> {
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
            out.push(OutputStateRow {
                state: r.state,
                metrics,
            });
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
pub(crate) fn load_batches_with_outputs(
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
    let index: std::collections::HashMap<i32, usize> = out
        .iter()
        .enumerate()
        .map(|(i, b)| (b.batch.id.0, i))
        .collect();
    // In chunks to stay under bind-parameter limits.
    for chunk in ids.chunks(5000) {
        if with_outputs {
            // JSON columns come back as text, to be passed through as is.
            let rows: Vec<OutputRead> = outputs::table
                .left_join(test_inputs::table)
                .filter(outputs::batch_id.eq_any(chunk))
                .select(output_read_cols!())
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
        let list = chunk
            .iter()
            .map(i32::to_string)
            .collect::<Vec<_>>()
            .join(",");
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
                .select((
                    outputs::id,
                    outputs::batch_id,
                    json_text!(outputs::metrics, "outputs.metrics"),
                ))
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
pub(crate) fn commit_tree(
    conn: &mut Conn,
    project: &str,
    sha: &str,
    batch: Option<&str>,
    metric_names: &[String],
) -> Result<Option<CommitTree>, DbError> {
    let Some(commit) = find_commit(conn, project, sha)? else {
        return Ok(None);
    };
    let batches = load_batches_with_outputs(conn, &[commit.id], batch, None, true, metric_names)?;
    let project_row = find_project(conn, project)?;
    Ok(Some(CommitTree {
        commit: commit.into(),
        data_text: None,
        project: project_row.map(Into::into),
        batches,
    }))
}

/// The batch, commit and project of a batch id (to compute folders).
#[allow(clippy::type_complexity)]
pub(crate) fn output_context(
    conn: &mut Conn,
    batch_id: i32,
) -> Result<
    Option<(
        Option<qaboard_model::Project>,
        qaboard_model::CiCommit,
        qaboard_model::Batch,
    )>,
    DbError,
> {
    let Some(batch) = batches::table
        .filter(batches::id.eq(batch_id))
        .select(batch_cols!())
        .first::<BatchRow>(conn)
        .optional()?
    else {
        return Ok(None);
    };
    let Some(commit_id) = batch.ci_commit_id else {
        return Ok(None);
    };
    let commit = find_commit_by_id(conn, commit_id)?;
    let project = match &commit.project_id {
        Some(p) => find_project(conn, p)?.map(Into::into),
        None => None,
    };
    Ok(Some((project, commit.into(), batch.into())))
}
