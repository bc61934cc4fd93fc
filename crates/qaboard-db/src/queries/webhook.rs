//! Writes of the git push webhook (OPERATIONS.md §5): a project's `data.git`,
//! and one sub-project's project and commit rows with the configuration
//! read from git.
use super::commit::get_or_create_commit;
use super::prelude::*;
use super::project::{get_or_create_project_locked, set_project_data};
use crate::webhooks::SubProjectWrite;

fn object(value: Value) -> Map<String, Value> {
    match value {
        Value::Object(m) => m,
        _ => Map::new(),
    }
}

/// Get-or-creates project `id` and replaces its `data.git` with `git`.
pub(crate) fn set_project_git(conn: &mut Conn, id: &str, git: &Value) -> Result<(), DbError> {
    let project = get_or_create_project_locked(conn, id)?;
    let mut data = object(project.data);
    data.insert("git".into(), git.clone());
    set_project_data(conn, id, &Value::Object(data))
}

/// See [`crate::webhooks::write_subproject`].
pub(crate) fn write_subproject(
    conn: &mut Conn,
    write: &SubProjectWrite<'_>,
) -> Result<(), DbError> {
    let project_id = write.commit.project.as_str();
    set_project_git(conn, project_id, write.git)?;
    let commit = get_or_create_commit(conn, &write.commit)?;
    let locked = for_update!(ci_commits::table
        .filter(ci_commits::id.eq(commit.id))
        .select(ci_commits::data))
    .first::<Json>(conn)?;
    let mut data = object(Value::from(locked));
    data.insert("qatools_config".into(), write.qatools_config.clone());
    if let Some(metrics) = write.qatools_metrics {
        data.insert("qatools_metrics".into(), metrics.clone());
    }
    data.insert(
        "tags".into(),
        Value::Array(write.tags.iter().cloned().map(Value::String).collect()),
    );
    diesel::update(ci_commits::table.filter(ci_commits::id.eq(commit.id)))
        .set(ci_commits::data.eq(&Value::Object(data)))
        .execute(conn)?;
    let project = get_or_create_project_locked(conn, project_id)?;
    let mut data = object(project.data);
    if (write.update_project)(data.contains_key("qatools_config")) {
        data.insert("qatools_config".into(), write.qatools_config.clone());
        if let Some(metrics) = write.qatools_metrics {
            data.insert("qatools_metrics".into(), metrics.clone());
        }
        set_project_data(conn, project_id, &Value::Object(data))?;
    }
    Ok(())
}
