//! The commits list of the webapp: commits of a time window with their batches.
use super::prelude::*;
use super::tree::load_batches_with_outputs;

/// The commits of a project a window may show, before its time range:
/// `project = ? AND (no branch OR branch = ? OR branch = 'origin/'||?) AND
/// (no committer OR committer = ? OR (unknown AND committer is empty or NULL))`.
macro_rules! window_filter {
    ($by:expr) => {{
        use diesel::IntoSql;
        let by = &$by;
        ci_commits::project_id
            .eq(by.project)
            .and(
                by.any_branch
                    .into_sql::<diesel::sql_types::Bool>()
                    .or(ci_commits::branch
                        .eq(by.branch)
                        .or(ci_commits::branch.eq(by.origin.as_str()))),
            )
            .and(
                by.any_committer
                    .into_sql::<diesel::sql_types::Bool>()
                    .or(ci_commits::committer_name.eq(by.committer))
                    .or(by.unknown.into_sql::<diesel::sql_types::Bool>().and(
                        ci_commits::committer_name
                            .eq("")
                            .or(ci_commits::committer_name.is_null()),
                    )),
            )
    }};
}

/// The commits a window shows, in its order and limit, whatever columns the
/// query `q` selects: the one place that defines them, for the list and its
/// version.
macro_rules! in_window {
    ($q:expr, $by:expr, $range:expr) => {{
        let (from, to) = $range;
        $q.filter(window_filter!($by))
            .filter(ci_commits::authored_datetime.ge(from))
            .filter(ci_commits::authored_datetime.le(to))
            .order(ci_commits::authored_datetime.desc())
            .limit($by.limit)
    }};
}

/// Commits of a window (newest first, at most `limit`), with their batches.
pub(crate) fn commits_in_window(
    conn: &mut Conn,
    w: &CommitWindow,
) -> Result<Vec<CommitTree>, DbError> {
    let by = WindowBy::of(w);
    let Some(range) = window_range(conn, &by)? else {
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
        ));
    let q = in_window!(q, by, range);
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

/// The bound values of a window's filters (project, branch, committer), for
/// [`window_filter!`]: one SQL shape whatever filters are set, so that the
/// statements of a list's version (its time range, then the version
/// statement that selects the window's commits) are prepared once per
/// connection rather than parsed and planned on every
/// read (bench/README.md "The list's hit path in prepared statements").
pub(crate) struct WindowBy<'a> {
    pub(crate) project: &'a str,
    /// No branch filter.
    pub(crate) any_branch: bool,
    pub(crate) branch: &'a str,
    /// `origin/<branch>`: commits first seen on the remote branch count too.
    pub(crate) origin: String,
    /// No committer filter.
    pub(crate) any_committer: bool,
    pub(crate) committer: &'a str,
    /// The committer asked for is `unknown`: legacy rows with an empty or
    /// NULL committer are shown with that name
    /// (`rules::committer_name_or_unknown`), so they match it too.
    pub(crate) unknown: bool,
    /// The requested window (before `commits_window_bounds`) and its limit.
    pub(crate) from: chrono::DateTime<Utc>,
    pub(crate) to: chrono::DateTime<Utc>,
    pub(crate) limit: i64,
}

impl<'a> WindowBy<'a> {
    pub(crate) fn of(w: &'a CommitWindow) -> Self {
        let branch = w.branch.as_deref().unwrap_or("");
        let committer = w.committer.as_deref().unwrap_or("");
        WindowBy {
            project: &w.project,
            any_branch: w.branch.is_none(),
            branch,
            origin: format!("origin/{branch}"),
            any_committer: w.committer.is_none(),
            committer,
            unknown: w.committer.is_some() && committer == rules::UNKNOWN_COMMITTER,
            from: w.from,
            to: w.to,
            limit: w.limit,
        }
    }
}

/// The time range of a window: `None` when no commit matches its filters.
pub(crate) fn window_range(
    conn: &mut Conn,
    by: &WindowBy<'_>,
) -> Result<Option<TimeRange>, DbError> {
    let Some(latest) = ci_commits::table
        .filter(window_filter!(by))
        .select(MaxAuthored)
        .first::<Option<chrono::DateTime<Utc>>>(conn)?
    else {
        return Ok(None);
    };
    Ok(Some(qaboard_model::window::commits_window_bounds(
        latest, by.from, by.to,
    )))
}
