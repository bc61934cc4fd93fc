//! The commits list of the webapp: commits of a time window with their batches.
use super::prelude::*;
use super::tree::load_batches_with_outputs;

/// Commits of a window (newest first, at most `limit`), with their batches.
pub(crate) fn commits_in_window(
    conn: &mut Conn,
    w: &CommitWindow,
) -> Result<Vec<CommitTree>, DbError> {
    let Some(range) = window_range(conn, w)? else {
        return Ok(Vec::new());
    };
    let q = ci_commits::table
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
        .into_boxed();
    let q = in_window(q, w, range);
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
                id: r.0.into(),
                hexsha: r.1,
                project_id: r.2.unwrap_or_default(),
                data: Value::Null,
                authored_datetime: r.4,
                committer_name: Some(rules::committer_name_or_unknown(r.5.as_deref()).to_string()),
                message: Some(rules::message_or_missing(r.6.as_deref()).to_string()),
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
    let ids: Vec<i32> = commits.iter().map(|c| c.0.id.0).collect();
    let mut batches = load_batches_with_outputs(
        conn,
        &ids,
        None,
        w.batch.as_deref(),
        w.with_outputs,
        &w.metrics,
    )?;
    let mut by_commit: std::collections::HashMap<CommitId, Vec<BatchWithOutputs>> =
        std::collections::HashMap::new();
    for b in batches.drain(..) {
        by_commit.entry(b.batch.ci_commit_id).or_default().push(b);
    }
    Ok(commits
        .into_iter()
        .filter_map(|(commit, data)| {
            let batches = by_commit.remove(&commit.id)?;
            Some(CommitTree {
                commit,
                data_text: Some(data),
                project: None,
                batches,
            })
        })
        .collect())
}

/// A time range, both ends included.
type TimeRange = (chrono::DateTime<Utc>, chrono::DateTime<Utc>);

/// The time range of a window: `None` when no commit matches its filters.
fn window_range(conn: &mut Conn, w: &CommitWindow) -> Result<Option<TimeRange>, DbError> {
    let origin = w.branch.as_ref().map(|b| format!("origin/{b}"));
    let mut latest = ci_commits::table
        .filter(ci_commits::project_id.eq(&w.project))
        .select(max_authored())
        .into_boxed();
    if let (Some(b), Some(o)) = (&w.branch, &origin) {
        latest = latest.filter(ci_commits::branch.eq(b).or(ci_commits::branch.eq(o)));
    }
    if let Some(c) = &w.committer {
        latest = latest.filter(committer_is(c));
    }
    let Some(latest) = latest.first::<Option<chrono::DateTime<Utc>>>(conn)? else {
        return Ok(None);
    };
    Ok(Some(qaboard_model::window::commits_window_bounds(
        latest, w.from, w.to,
    )))
}

/// The ids of the commits a window shows, in the order and with the limit of
/// [`commits_in_window`], each with its change stamp (`None`: never
/// stamped), for the window's version (`super::stamps`): one statement
/// gives both which commits are shown and their own stamps.
pub(crate) fn window_commit_stamps(
    conn: &mut Conn,
    w: &CommitWindow,
) -> Result<Vec<(i32, Option<i64>)>, DbError> {
    let Some(range) = window_range(conn, w)? else {
        return Ok(Vec::new());
    };
    let q = ci_commits::table
        // `stamp` is not in the diesel schema (only version queries read it).
        .select((
            ci_commits::id,
            diesel::dsl::sql::<diesel::sql_types::Nullable<diesel::sql_types::BigInt>>(
                "ci_commits.stamp",
            ),
        ))
        .into_boxed();
    Ok(in_window(q, w, range).load(conn)?)
}

/// The commits a window shows, in its order and limit, whatever columns `q`
/// selects: the one place that defines them, for the list and its version.
fn in_window<'a, ST: 'a>(
    q: ci_commits::BoxedQuery<'a, <Conn as Connection>::Backend, ST>,
    w: &'a CommitWindow,
    (from, to): TimeRange,
) -> ci_commits::BoxedQuery<'a, <Conn as Connection>::Backend, ST> {
    let mut q = q
        .filter(ci_commits::project_id.eq(&w.project))
        .filter(ci_commits::authored_datetime.ge(from))
        .filter(ci_commits::authored_datetime.le(to))
        .order(ci_commits::authored_datetime.desc())
        .limit(w.limit);
    if let Some(b) = &w.branch {
        let origin = format!("origin/{b}");
        q = q.filter(ci_commits::branch.eq(b).or(ci_commits::branch.eq(origin)));
    }
    if let Some(c) = &w.committer {
        q = q.filter(committer_is(c));
    }
    q
}

/// A boxed filter on commits.
type CommitFilter = Box<
    dyn BoxableExpression<
        ci_commits::table,
        <Conn as Connection>::Backend,
        SqlType = diesel::sql_types::Nullable<diesel::sql_types::Bool>,
    >,
>;

/// Commits shown with committer `name`: legacy rows with an empty or NULL
/// committer are shown as `unknown` (`rules::committer_name_or_unknown`),
/// so they match that name too.
fn committer_is(name: &str) -> CommitFilter {
    if name == rules::UNKNOWN_COMMITTER {
        Box::new(
            ci_commits::committer_name
                .eq(name.to_string())
                .or(ci_commits::committer_name.eq(""))
                .or(ci_commits::committer_name.is_null().nullable()),
        )
    } else {
        Box::new(ci_commits::committer_name.eq(name.to_string()))
    }
}
