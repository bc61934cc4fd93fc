//! Row types as selected from the database, and their conversion to the
//! domain types of `qaboard-model`. `Queryable` derives are backend-generic,
//! so the same structs serve PostgreSQL and SQLite. JSON columns are decoded
//! by [`crate::json`].
use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::Queryable;
use qaboard_model as model;
use serde_json::Value;

use crate::json::Json;

/// `projects` row.
#[derive(Debug, Clone, Queryable)]
pub struct ProjectRow {
    pub id: String,
    #[diesel(deserialize_as = Json)]
    pub data: Value,
    pub latest_output_datetime: Option<NaiveDateTime>,
}

/// `ci_commits` row.
#[derive(Debug, Clone, Queryable)]
pub struct CommitRow {
    pub id: i32,
    pub hexsha: String,
    pub project_id: Option<String>,
    #[diesel(deserialize_as = Json)]
    pub data: Value,
    pub authored_datetime: Option<DateTime<Utc>>,
    pub committer_name: Option<String>,
    pub message: Option<String>,
    pub branch: Option<String>,
    pub parents: Option<Json>,
    pub commit_dir_override: Option<String>,
    pub commit_type: Option<String>,
    pub latest_output_datetime: Option<DateTime<Utc>>,
    pub deleted: bool,
}

/// `batches` row.
#[derive(Debug, Clone, Queryable)]
pub struct BatchRow {
    pub id: i32,
    pub created_date: NaiveDateTime,
    #[diesel(deserialize_as = Json)]
    pub data: Value,
    pub ci_commit_id: Option<i32>,
    pub label: Option<String>,
    pub batch_dir_override: Option<String>,
}

/// `test_inputs` row.
#[derive(Debug, Clone, Queryable)]
pub struct TestInputRow {
    pub id: i32,
    pub path: String,
    pub database: String,
    #[diesel(deserialize_as = Json)]
    pub data: Value,
}

/// `outputs` row.
#[derive(Debug, Clone, Queryable)]
pub struct OutputRow {
    pub id: i32,
    pub batch_id: Option<i32>,
    pub created_date: Option<NaiveDateTime>,
    pub deleted: bool,
    pub output_dir_override: Option<String>,
    pub output_type: Option<String>,
    pub test_input_id: Option<i32>,
    pub platform: Option<String>,
    #[diesel(deserialize_as = Json)]
    pub configurations: Value,
    #[diesel(deserialize_as = Json)]
    pub extra_parameters: Value,
    pub is_pending: bool,
    pub is_running: bool,
    pub is_failed: bool,
    #[diesel(deserialize_as = Json)]
    pub metrics: Value,
    #[diesel(deserialize_as = Json)]
    pub data: Value,
}

impl From<ProjectRow> for model::Project {
    fn from(r: ProjectRow) -> Self {
        model::Project {
            id: r.id,
            data: r.data,
            latest_output_datetime: r.latest_output_datetime,
        }
    }
}

impl From<CommitRow> for model::CiCommit {
    fn from(r: CommitRow) -> Self {
        model::CiCommit {
            id: r.id.into(),
            hexsha: r.hexsha,
            project_id: r.project_id.unwrap_or_default(),
            data: r.data,
            authored_datetime: r.authored_datetime,
            // Legacy rows may hold NULL or "": shown as the original's placeholders.
            committer_name: Some(
                model::rules::committer_name_or_unknown(r.committer_name.as_deref()).to_string(),
            ),
            message: Some(model::rules::message_or_missing(r.message.as_deref()).to_string()),
            branch: r.branch,
            parents: r.parents.map(Value::from),
            commit_dir_override: r.commit_dir_override,
            commit_type: r.commit_type,
            latest_output_datetime: r.latest_output_datetime,
            deleted: r.deleted,
        }
    }
}

impl From<BatchRow> for model::Batch {
    fn from(r: BatchRow) -> Self {
        model::Batch {
            id: r.id.into(),
            created_date: r.created_date,
            data: r.data,
            ci_commit_id: r.ci_commit_id.unwrap_or_default().into(),
            label: r
                .label
                .unwrap_or_else(|| model::DEFAULT_BATCH_LABEL.to_string()),
            batch_dir_override: r.batch_dir_override,
        }
    }
}

impl From<TestInputRow> for model::TestInput {
    fn from(r: TestInputRow) -> Self {
        model::TestInput {
            id: r.id.into(),
            path: r.path,
            database: r.database,
            data: r.data,
        }
    }
}

impl From<OutputRow> for model::Output {
    fn from(r: OutputRow) -> Self {
        model::Output {
            id: r.id.into(),
            batch_id: r.batch_id.unwrap_or_default().into(),
            created_date: r.created_date,
            deleted: r.deleted,
            output_dir_override: r.output_dir_override,
            output_type: r.output_type,
            test_input_id: r.test_input_id.map(Into::into),
            platform: r.platform,
            configurations: r.configurations,
            extra_parameters: r.extra_parameters,
            is_pending: r.is_pending,
            is_running: r.is_running,
            is_failed: r.is_failed,
            metrics: r.metrics,
            data: r.data,
        }
    }
}
