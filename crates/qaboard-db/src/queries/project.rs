//! Projects: get-or-create, their `data` under a row lock, the projects list
//! and a project's branches.
use super::prelude::*;

/// Reads a project.
pub(crate) fn find_project(conn: &mut Conn, id: &str) -> Result<Option<ProjectRow>, DbError> {
    Ok(projects::table
        .filter(projects::id.eq(id))
        .select((
            projects::id,
            projects::data,
            projects::latest_output_datetime,
        ))
        .first::<ProjectRow>(conn)
        .optional()?)
}

pub(crate) fn get_or_create_project_locked(
    conn: &mut Conn,
    id: &str,
) -> Result<ProjectRow, DbError> {
    diesel::insert_into(projects::table)
        .values((
            projects::id.eq(id),
            projects::data.eq(Value::Object(Map::new())),
        ))
        .on_conflict_do_nothing()
        .execute(conn)?;
    Ok(
        for_update!(projects::table.filter(projects::id.eq(id)).select((
            projects::id,
            projects::data,
            projects::latest_output_datetime
        )))
        .first::<ProjectRow>(conn)?,
    )
}

/// Replaces a project's data.
pub(crate) fn set_project_data(conn: &mut Conn, id: &str, data: &Value) -> Result<(), DbError> {
    diesel::update(projects::table.filter(projects::id.eq(id)))
        .set(projects::data.eq(data))
        .execute(conn)?;
    Ok(())
}

/// Reads a project's data for update (inside a transaction).
pub(crate) fn project_data_locked(conn: &mut Conn, id: &str) -> Result<Option<Value>, DbError> {
    Ok(for_update!(projects::table
        .filter(projects::id.eq(id))
        .select(projects::data))
    .first::<Json>(conn)
    .optional()?
    .map(Value::from))
}

/// Distinct branch names of a project, sorted.
pub(crate) fn branches(conn: &mut Conn, project: &str) -> Result<Vec<String>, DbError> {
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
pub(crate) fn project_summaries(conn: &mut Conn) -> Result<Vec<ProjectSummary>, DbError> {
    use diesel::dsl::count;
    let rows = projects::table
        .inner_join(ci_commits::table)
        .group_by((
            projects::id,
            projects::data,
            projects::latest_output_datetime,
        ))
        .select((
            projects::id,
            projects::data,
            projects::latest_output_datetime,
            MaxAuthored,
            count(ci_commits::id),
        ))
        .load::<(
            String,
            Json,
            Option<NaiveDateTime>,
            Option<chrono::DateTime<Utc>>,
            i64,
        )>(conn)?;
    let mut out: Vec<ProjectSummary> = rows
        .into_iter()
        .map(
            |(id, data, latest_output_datetime, latest_commit_datetime, total_commits)| {
                ProjectSummary {
                    id,
                    data: data.0,
                    latest_output_datetime,
                    latest_commit_datetime,
                    total_commits,
                }
            },
        )
        .collect();
    out.sort_by_key(|p| p.id.to_lowercase());
    Ok(out)
}
