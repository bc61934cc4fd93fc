//! Commits: lookup by sha or unique prefix, get-or-create from a client's
//! envelope, `data` updates, and the latest commit of a branch with results.
use super::prelude::*;
use super::project::{get_or_create_project_locked, set_project_data};

/// Finds a commit by full sha or unique prefix. An exact match wins; several
/// prefix matches are a conflict listing the candidates.
pub(crate) fn find_commit(
    conn: &mut Conn,
    project: &str,
    sha: &str,
) -> Result<Option<CommitRow>, DbError> {
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
    let mut candidates: Vec<CommitRow> = candidates
        .into_iter()
        .filter(|c| c.hexsha.starts_with(sha))
        .collect();
    match candidates.len() {
        0 => Ok(None),
        1 => Ok(candidates.pop()),
        _ => Err(DbError::Ambiguous {
            what: "commit",
            key: sha.to_string(),
            candidates: candidates.into_iter().map(|c| c.hexsha).collect(),
        }),
    }
}

pub(crate) fn find_commit_by_id(conn: &mut Conn, id: i32) -> Result<CommitRow, DbError> {
    Ok(ci_commits::table
        .filter(ci_commits::id.eq(id))
        .select(commit_cols!())
        .first::<CommitRow>(conn)?)
}

/// Returns the commit, creating it (and its project) from the envelope when new.
pub(crate) fn get_or_create_commit(
    conn: &mut Conn,
    env: &CommitEnvelope,
) -> Result<CommitRow, DbError> {
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
    // Dates outside years 1-9999 are cosmetic: treated as absent (logged).
    let authored = match env.authored_datetime {
        Some(t) if qaboard_model::time::storable(t).is_none() => {
            log::warn!(
                "commit {} of {}: authored date {t} is outside years 1-9999; using the current time",
                env.hexsha,
                env.project
            );
            Utc::now()
        }
        Some(t) => t,
        None => Utc::now(),
    };
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
            ci_commits::committer_name.eq(rules::committer_name_or_unknown(
                env.committer_name.as_deref(),
            )),
            ci_commits::message.eq(rules::message_or_missing(env.message.as_deref())),
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
pub(crate) fn record_commit(
    conn: &mut Conn,
    env: &CommitEnvelope,
    patch: &Map<String, Value>,
) -> Result<qaboard_model::CiCommit, DbError> {
    let commit = get_or_create_commit(conn, env)?;
    let locked = for_update!(ci_commits::table
        .filter(ci_commits::id.eq(commit.id))
        .select(commit_cols!()))
    .first::<CommitRow>(conn)?;
    let data = rules::merge_shallow(&locked.data, patch);
    diesel::update(ci_commits::table.filter(ci_commits::id.eq(commit.id)))
        .set((ci_commits::data.eq(&data), ci_commits::deleted.eq(false)))
        .execute(conn)?;
    Ok(find_commit_by_id(conn, commit.id)?.into())
}

/// The latest of the last `within_last` commits on `branch` (or `origin/branch`)
/// that has a valid output (in batch `batch` when given).
pub(crate) fn latest_successful_commit(
    conn: &mut Conn,
    project: &str,
    branch: &str,
    batch: Option<&str>,
    within_last: i64,
) -> Result<Option<String>, DbError> {
    let origin = format!("origin/{branch}");
    let commits = ci_commits::table
        .filter(ci_commits::project_id.eq(project))
        .filter(
            ci_commits::branch
                .eq(branch)
                .or(ci_commits::branch.eq(&origin)),
        )
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
