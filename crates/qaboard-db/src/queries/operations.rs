//! The webapp's data operations (OPERATIONS.md §1 and §2): rename and move
//! a batch, delete outputs, batches and a commit's batches, and the inputs
//! of the milestone rule. Every function runs inside the caller's
//! transaction (see `crate::operations`), checks everything that can
//! refuse the operation BEFORE its first write, and returns a refusal as
//! `Ok(Err(_))` (nothing written, so committing is harmless).
use std::collections::BTreeMap;

use super::action::{record_action, ActionRow};
use super::batch::get_or_create_batch;
use super::commit::find_commit_by_id;
use super::output::lock_output;
use super::prelude::*;
use super::project::find_project;
use crate::operations::{Deletion, MoveOutcome, OutputFiles, Refusal};
use qaboard_model::action::Action;
use qaboard_model::filter::{api_json, FilterableOutput, OutputFilter};
use qaboard_model::milestone::{self, MilestoneCandidate, Milestones};
use qaboard_model::paths;
use qaboard_model::OutputId;

type Refusable<T> = Result<Result<T, Refusal>, DbError>;

/// Locks a batch row against every concurrent writer of it, including
/// inserts of its outputs (their foreign-key check takes `KEY SHARE`, which
/// `FOR UPDATE` blocks): they wait for this transaction, then see the batch
/// gone and recreate it. SQLite's write transactions are exclusive anyway.
fn lock_batch_exclusively(conn: &mut Conn, id: i32) -> Result<(), DbError> {
    if IS_POSTGRES {
        diesel::sql_query("SELECT id FROM batches WHERE id = $1 FOR UPDATE")
            .bind::<diesel::sql_types::Integer, _>(id)
            .execute(conn)?;
    }
    Ok(())
}

fn find_batch_locked(conn: &mut Conn, id: i32) -> Result<BatchRow, DbError> {
    for_update!(batches::table
        .filter(batches::id.eq(id))
        .select(batch_cols!()))
    .first::<BatchRow>(conn)
    .optional()?
    .ok_or_else(|| DbError::NotFound {
        what: "batch",
        key: id.to_string(),
    })
}

/// The project, commit and storage folder of a batch.
fn batch_folders(
    conn: &mut Conn,
    batch: &BatchRow,
    default_root: &str,
) -> Result<(qaboard_model::CiCommit, String), DbError> {
    let commit_id = batch.ci_commit_id.ok_or_else(|| DbError::NotFound {
        what: "commit of batch",
        key: batch.id.to_string(),
    })?;
    let commit: qaboard_model::CiCommit = find_commit_by_id(conn, commit_id)?.into();
    let project: Option<qaboard_model::Project> =
        find_project(conn, &commit.project_id)?.map(Into::into);
    let batch_model: qaboard_model::Batch = batch.clone().into();
    let commit_dirs = paths::commit_paths_of(project.as_ref(), &commit, default_root);
    let dir = paths::batch_dir(&commit_dirs.outputs_dir, &batch_model);
    Ok((commit, dir))
}

/// Every output of a batch as the API reads it (JSON as stored text), in id order.
fn batch_outputs(conn: &mut Conn, batch_id: i32) -> Result<Vec<OutputRead>, DbError> {
    let mut rows: Vec<OutputRead> = outputs::table
        .left_join(test_inputs::table)
        .filter(outputs::batch_id.eq(batch_id))
        .select(output_read_cols!())
        .load(conn)?;
    rows.sort_unstable_by_key(|o| o.id);
    Ok(rows)
}

/// An output as the filter box sees it in the webapp (same JSON text).
fn filterable(o: &OutputRead) -> FilterableOutput {
    let data = api_json(&o.data, '{');
    FilterableOutput {
        test_input_path: o.test_input_path.clone(),
        platform: o.platform.clone(),
        configurations: api_json(&o.configurations, '['),
        extra_parameters: api_json(&o.extra_parameters, '{'),
        data_params: FilterableOutput::data_params_of(&data),
        test_input_metadata: api_json(o.test_input_metadata.as_deref().unwrap_or_default(), '{'),
        is_failed: o.is_failed,
        is_pending: o.is_pending,
    }
}

/// The storage folder of an output read in bulk.
fn output_dir(o: &OutputRead, batch_dir: &str) -> String {
    let configurations: Value = serde_json::from_str(&o.configurations).unwrap_or(Value::Null);
    let extra: Value = serde_json::from_str(&o.extra_parameters).unwrap_or(Value::Null);
    paths::output_dir_from(
        batch_dir,
        o.output_dir_override.as_deref(),
        o.platform.as_deref(),
        &configurations,
        &extra,
        o.test_input_path.as_deref(),
    )
}

/// See [`crate::operations::rename_batch`].
pub(crate) fn rename_batch(
    conn: &mut Conn,
    id: i32,
    label: &str,
    default_root: &str,
    by: Option<&Action>,
) -> Refusable<()> {
    let batch = find_batch_locked(conn, id)?;
    let pending: Vec<i32> = outputs::table
        .filter(outputs::batch_id.eq(id))
        .filter(outputs::is_pending.eq(true))
        .select(outputs::id)
        .order(outputs::id)
        .load(conn)?;
    if !pending.is_empty() {
        return Ok(Err(Refusal::Pending {
            ids: pending.into_iter().map(OutputId).collect(),
        }));
    }
    let taken = batches::table
        .filter(batches::ci_commit_id.eq(batch.ci_commit_id))
        .filter(batches::label.eq(label))
        .select(batches::id)
        .first::<i32>(conn)
        .optional()?;
    if taken.is_some() {
        return Ok(Err(Refusal::LabelExists(label.to_string())));
    }
    // The folder stays where the old label put it.
    let (_, old_dir) = batch_folders(conn, &batch, default_root)?;
    diesel::update(batches::table.filter(batches::id.eq(id)))
        .set((
            batches::label.eq(label),
            batches::batch_dir_override.eq(old_dir),
        ))
        .execute(conn)?;
    if let Some(a) = by {
        record_action(conn, ActionRow::Batch(id), a)?;
    }
    Ok(Ok(()))
}

/// Whether two outputs have the same identity (the `outputs_identity`
/// unique index: test input, platform with NULL as `''`, configurations,
/// tuning parameters).
fn identity(o: &OutputRead) -> (Option<String>, String, Value, Value) {
    (
        o.test_input_database
            .as_ref()
            .zip(o.test_input_path.as_ref())
            .map(|(d, p)| format!("{d}\u{0}{p}")),
        o.platform.clone().unwrap_or_default(),
        serde_json::from_str(&o.configurations).unwrap_or(Value::Null),
        serde_json::from_str(&o.extra_parameters).unwrap_or(Value::Null),
    )
}

/// See [`crate::operations::move_batch`].
pub(crate) fn move_batch(
    conn: &mut Conn,
    id: i32,
    label: &str,
    filter: &OutputFilter,
    by: Option<&Action>,
) -> Refusable<MoveOutcome> {
    let source = find_batch_locked(conn, id)?;
    let Some(commit_id) = source.ci_commit_id else {
        return Err(DbError::NotFound {
            what: "commit of batch",
            key: id.to_string(),
        });
    };
    let outputs = batch_outputs(conn, id)?;
    let selected: Vec<&OutputRead> = outputs
        .iter()
        .filter(|o| filter.matches(&filterable(o)))
        .collect();
    let pending: Vec<OutputId> = selected
        .iter()
        .filter(|o| o.is_pending)
        .map(|o| o.id)
        .collect();
    if !pending.is_empty() {
        return Ok(Err(Refusal::Pending { ids: pending }));
    }
    if source.label.as_deref() == Some(label) {
        return Ok(Ok(MoveOutcome {
            destination: qaboard_model::BatchId(id),
            moved: Vec::new(),
            source_deleted: false,
        }));
    }
    let existing = batches::table
        .filter(batches::ci_commit_id.eq(commit_id))
        .filter(batches::label.eq(label))
        .select(batches::id)
        .first::<i32>(conn)
        .optional()?;
    if let Some(dest) = existing {
        let there = batch_outputs(conn, dest)?;
        let mut by_identity = std::collections::HashMap::new();
        // Rows without a test input never clash (NULLs are distinct in the index).
        for o in there.iter().filter(|o| o.test_input_path.is_some()) {
            by_identity.insert(identity(o), o.id);
        }
        let clashes: Vec<(OutputId, OutputId)> = selected
            .iter()
            .filter(|o| o.test_input_path.is_some())
            .filter_map(|o| by_identity.get(&identity(o)).map(|&other| (o.id, other)))
            .collect();
        if !clashes.is_empty() {
            return Ok(Err(Refusal::IdentityClash { pairs: clashes }));
        }
    }
    // Writes from here on.
    let dest = get_or_create_batch(conn, commit_id, label, true)?;
    let moved: Vec<i32> = selected.iter().map(|o| o.id.0).collect();
    for chunk in moved.chunks(5000) {
        diesel::update(
            outputs::table
                .filter(outputs::id.eq_any(chunk))
                .filter(outputs::batch_id.eq(id)),
        )
        .set(outputs::batch_id.eq(dest.id))
        .execute(conn)?;
    }
    let source_deleted = delete_batch_if_empty(conn, id)?;
    if let Some(a) = by {
        record_action(conn, ActionRow::Batch(dest.id), a)?;
        if !source_deleted {
            record_action(conn, ActionRow::Batch(id), a)?;
        }
    }
    Ok(Ok(MoveOutcome {
        destination: qaboard_model::BatchId(dest.id),
        moved: moved.into_iter().map(qaboard_model::OutputId).collect(),
        source_deleted,
    }))
}

/// Deletes a batch row when it has no output left. An output inserted
/// concurrently (PostgreSQL) keeps the batch: the foreign-key violation is
/// contained in a savepoint.
fn delete_batch_if_empty(conn: &mut Conn, id: i32) -> Result<bool, DbError> {
    let left = outputs::table
        .filter(outputs::batch_id.eq(id))
        .select(outputs::id)
        .first::<i32>(conn)
        .optional()?;
    if left.is_some() {
        return Ok(false);
    }
    let deleted = conn.transaction::<_, diesel::result::Error, _>(|c| {
        diesel::delete(batches::table.filter(batches::id.eq(id))).execute(c)
    });
    match deleted {
        Ok(n) => Ok(n > 0),
        Err(diesel::result::Error::DatabaseError(
            diesel::result::DatabaseErrorKind::ForeignKeyViolation,
            _,
        )) => Ok(false),
        Err(e) => Err(e.into()),
    }
}

/// See [`crate::operations::delete_output`].
pub(crate) fn delete_output(
    conn: &mut Conn,
    id: i32,
    soft: bool,
    default_root: &str,
    by: Option<&Action>,
) -> Refusable<Deletion> {
    let row = lock_output(conn, id)?;
    if row.is_pending {
        return Ok(Err(Refusal::OutputPending(id.into())));
    }
    let row_batch = row.batch_id;
    let batch = batches::table
        .filter(batches::id.eq(row.batch_id.unwrap_or_default()))
        .select(batch_cols!())
        .first::<BatchRow>(conn)
        .optional()?;
    let input = super::test_input::find_test_input(conn, row.test_input_id)?;
    let dir = match &batch {
        Some(b) => batch_folders(conn, b, default_root)?.1,
        None => String::new(),
    };
    let output: qaboard_model::Output = row.into();
    let input: Option<qaboard_model::TestInput> = input.map(Into::into);
    let out_dir = paths::output_dir(&dir, &output, input.as_ref());
    if soft {
        diesel::update(outputs::table.filter(outputs::id.eq(id)))
            .set(outputs::deleted.eq(true))
            .execute(conn)?;
    } else {
        diesel::delete(outputs::table.filter(outputs::id.eq(id))).execute(conn)?;
    }
    if let Some(a) = by {
        let row = match (soft, row_batch) {
            (true, _) => Some(ActionRow::Output(id)),
            (false, Some(b)) => Some(ActionRow::Batch(b)),
            (false, None) => None,
        };
        if let Some(row) = row {
            record_action(conn, row, a)?;
        }
    }
    Ok(Ok(Deletion {
        soft,
        outputs: vec![OutputFiles {
            output_id: qaboard_model::OutputId(id),
            dir: out_dir,
        }],
    }))
}

/// See [`crate::operations::delete_batch`].
pub(crate) fn delete_batch(
    conn: &mut Conn,
    id: i32,
    soft: bool,
    only_failed: bool,
    mark_deleted: bool,
    default_root: &str,
    by: Option<&Action>,
) -> Refusable<Deletion> {
    lock_batch_exclusively(conn, id)?;
    let batch = find_batch_locked(conn, id)?;
    let outputs = batch_outputs(conn, id)?;
    let pending: Vec<OutputId> = outputs
        .iter()
        .filter(|o| o.is_pending)
        .map(|o| o.id)
        .collect();
    if !pending.is_empty() {
        return Ok(Err(Refusal::StopFirst { ids: pending }));
    }
    let (_, batch_dir) = batch_folders(conn, &batch, default_root)?;
    let selected: Vec<&OutputRead> = outputs
        .iter()
        .filter(|o| !only_failed || o.is_failed)
        .collect();
    let files: Vec<OutputFiles> = selected
        .iter()
        .map(|o| OutputFiles {
            output_id: o.id,
            dir: output_dir(o, &batch_dir),
        })
        .collect();
    let ids: Vec<i32> = selected.iter().map(|o| o.id.0).collect();
    for chunk in ids.chunks(5000) {
        if soft {
            if mark_deleted {
                diesel::update(outputs::table.filter(outputs::id.eq_any(chunk)))
                    .set(outputs::deleted.eq(true))
                    .execute(conn)?;
            }
        } else {
            diesel::delete(outputs::table.filter(outputs::id.eq_any(chunk))).execute(conn)?;
        }
    }
    let batch_gone = !soft && delete_batch_if_empty(conn, id)?;
    if let Some(a) = by {
        let row = match (batch_gone, batch.ci_commit_id) {
            (false, _) => Some(ActionRow::Batch(id)),
            (true, Some(c)) => Some(ActionRow::Commit(c)),
            (true, None) => None,
        };
        if let Some(row) = row {
            record_action(conn, row, a)?;
        }
    }
    Ok(Ok(Deletion {
        soft,
        outputs: files,
    }))
}

/// The milestone rule of a project with its inputs from the database: the
/// stored `qaboard.yaml`, the shared milestones and, for each protected
/// ref, the latest commit recorded on `ref` or `origin/ref`.
pub(crate) fn project_milestones(
    conn: &mut Conn,
    project: &str,
) -> Result<(Milestones, BTreeMap<String, String>), DbError> {
    let data = find_project(conn, project)?
        .map(|p| p.data)
        .unwrap_or(Value::Null);
    let config = data.get("qatools_config").cloned().unwrap_or(Value::Null);
    let shared = data.get("milestones").cloned().unwrap_or(Value::Null);
    let rule = Milestones::new(&config, &shared);
    let mut tips: Vec<(String, Option<String>, Option<chrono::DateTime<Utc>>)> = Vec::new();
    for r in rule.refs() {
        let b = r.strip_prefix("origin/").unwrap_or(r);
        let tip = ci_commits::table
            .filter(ci_commits::project_id.eq(project))
            .filter(
                ci_commits::branch
                    .eq(b)
                    .or(ci_commits::branch.eq(format!("origin/{b}"))),
            )
            .order((ci_commits::authored_datetime.desc(), ci_commits::id.desc()))
            .select((
                ci_commits::hexsha,
                ci_commits::branch,
                ci_commits::authored_datetime,
            ))
            .first::<(String, Option<String>, Option<chrono::DateTime<Utc>>)>(conn)
            .optional()?;
        tips.extend(tip);
    }
    let heads = milestone::branch_heads(
        tips.iter()
            .map(|(sha, branch, t)| (sha.as_str(), branch.as_deref(), *t)),
    );
    Ok((rule, heads))
}

/// See [`crate::operations::delete_commit_batches`].
pub(crate) fn delete_commit_batches(
    conn: &mut Conn,
    project: Option<&str>,
    sha: &str,
    default_root: &str,
    extra: Option<&dyn qaboard_model::milestone::RefResolver>,
    by: Option<&Action>,
) -> Refusable<Deletion> {
    let mut q = ci_commits::table
        .filter(ci_commits::hexsha.eq(sha))
        .select(commit_cols!())
        .order(ci_commits::id)
        .into_boxed();
    if let Some(p) = project {
        q = q.filter(ci_commits::project_id.eq(p));
    }
    let commits = q.load::<CommitRow>(conn)?;
    if commits.is_empty() {
        return Err(DbError::NotFound {
            what: "commit",
            key: match project {
                Some(p) => format!("{p}/{sha}"),
                None => sha.to_string(),
            },
        });
    }
    // Every match is checked before anything is deleted.
    let mut rules: BTreeMap<String, (Milestones, BTreeMap<String, String>)> = BTreeMap::new();
    let mut protected = Vec::new();
    for c in &commits {
        let project_id = c.project_id.clone().unwrap_or_default();
        if !rules.contains_key(&project_id) {
            let rule = project_milestones(conn, &project_id)?;
            rules.insert(project_id.clone(), rule);
        }
        let (rule, heads) = &rules[&project_id];
        let tags = milestone::commit_tags(&c.data);
        let candidate = MilestoneCandidate {
            hexsha: &c.hexsha,
            branch: c.branch.as_deref(),
            tags: &tags,
        };
        if let Some(reason) = rule.reason(&candidate, heads, extra) {
            protected.push((project_id, c.hexsha.clone(), reason));
        }
    }
    if !protected.is_empty() {
        return Ok(Err(Refusal::Milestone { commits: protected }));
    }
    let commit_ids: Vec<i32> = commits.iter().map(|c| c.id).collect();
    let batch_ids: Vec<i32> = batches::table
        .filter(batches::ci_commit_id.eq_any(&commit_ids))
        .select(batches::id)
        .order(batches::id)
        .load(conn)?;
    for b in &batch_ids {
        lock_batch_exclusively(conn, *b)?;
    }
    let pending: Vec<i32> = outputs::table
        .filter(outputs::batch_id.eq_any(&batch_ids))
        .filter(outputs::is_pending.eq(true))
        .select(outputs::id)
        .order(outputs::id)
        .load(conn)?;
    if !pending.is_empty() {
        return Ok(Err(Refusal::StopFirst {
            ids: pending.into_iter().map(OutputId).collect(),
        }));
    }
    let mut files = Vec::new();
    for b in &batch_ids {
        match delete_batch(conn, *b, false, false, false, default_root, None)? {
            Ok(d) => files.extend(d.outputs),
            Err(refusal) => return Ok(Err(refusal)),
        }
    }
    if let Some(a) = by {
        for c in &commit_ids {
            record_action(conn, ActionRow::Commit(*c), a)?;
        }
    }
    Ok(Ok(Deletion {
        soft: false,
        outputs: files,
    }))
}
