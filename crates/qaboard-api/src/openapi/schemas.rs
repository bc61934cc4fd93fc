//! JSON Schemas of the bodies and answers named in [`crate::registry::ROUTES`].
//!
//! The ingestion bodies are read as JSON objects by the handlers (unknown
//! keys ignored, PROTOCOL.md), so their schemas are descriptions: the
//! `*Doc` structs below list the envelope fields `qa` 1.1.1 sends, all
//! optional, and allow any other key. Answers of our own typed structs
//! ([`crate::export::ExportAnswer`]) derive their schema from the type.
use utoipa::openapi::schema::{ObjectBuilder, SchemaType, Type};
use utoipa::openapi::{RefOr, Schema};
use utoipa::{PartialSchema, ToSchema};

/// Any JSON value (`{}`).
pub fn any() -> RefOr<Schema> {
    ObjectBuilder::new()
        .schema_type(SchemaType::AnyValue)
        .build()
        .into()
}

/// Any JSON object.
pub fn object() -> RefOr<Schema> {
    ObjectBuilder::new()
        .schema_type(SchemaType::Type(Type::Object))
        .build()
        .into()
}

/// `{"status": "OK"}` (other keys allowed).
pub fn status_ok() -> RefOr<Schema> {
    ObjectBuilder::new()
        .schema_type(SchemaType::Type(Type::Object))
        .property(
            "status",
            ObjectBuilder::new().schema_type(SchemaType::Type(Type::String)),
        )
        .required("status")
        .build()
        .into()
}

/// Every error answer of ours: `{"error": "<human readable>"}`.
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct ErrorBody {
    /// What went wrong, for people (the webapp shows it).
    error: String,
}

/// The error schema.
pub fn error() -> RefOr<Schema> {
    ErrorBody::schema()
}

/// The envelope every `qa` write carries (PROTOCOL.md "Writes sent by `qa`").
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct OutputDoc {
    /// Project id (`group/name[/subproject]`).
    project: Option<String>,
    /// Full commit hash (or `<local:user>` outside a git repository).
    commit_sha: Option<String>,
    /// Same as `commit_sha`.
    git_commit_sha: Option<String>,
    /// Branch of the commit.
    commit_branch: Option<String>,
    /// Commit author date (ISO 8601 with offset, or git's default format).
    commit_authored_datetime: Option<String>,
    /// Committer name.
    commit_committer_name: Option<String>,
    /// Commit message.
    commit_message: Option<String>,
    /// `ci` or `local`.
    job_type: Option<String>,
    /// Batch label (`default`).
    batch_label: Option<String>,
    /// Platform the run used.
    platform: Option<String>,
    /// Input type (`optim_iteration` for `qa optimize` iterations).
    input_type: Option<String>,
    /// Database folder of the test input.
    database: Option<String>,
    /// Test input path relative to `database`.
    rel_input_path: Option<String>,
    /// Test input path (when `rel_input_path` is absent).
    input_path: Option<String>,
    /// `:`-joined configurations (`-` when empty).
    configuration: Option<String>,
    /// Configurations (strings or objects).
    #[schema(value_type = Option<Vec<Object>>)]
    configurations: Option<Vec<serde_json::Value>>,
    /// Tuning parameters.
    #[schema(value_type = Option<Object>)]
    extra_parameters: Option<serde_json::Value>,
    /// Metrics of a finished run.
    #[schema(value_type = Option<Object>)]
    metrics: Option<serde_json::Value>,
    /// Started and not finished.
    is_pending: Option<bool>,
    /// Running now.
    is_running: Option<bool>,
    /// The run failed.
    is_failed: Option<bool>,
    /// Absolute output folder.
    output_directory: Option<String>,
    /// Free data merged into the output's `data`.
    #[schema(value_type = Option<Object>)]
    data: Option<serde_json::Value>,
}

/// `POST /api/v1/output/` body.
pub fn output_body() -> RefOr<Schema> {
    OutputDoc::schema()
}

/// `POST /api/v1/batch/` body: the envelope plus batch fields.
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct BatchDoc {
    /// Project id.
    project: Option<String>,
    /// Full commit hash.
    commit_sha: Option<String>,
    /// Batch label.
    batch_label: Option<String>,
    /// Absolute batch folder.
    batch_dir: Option<String>,
    /// `ci` or `local`.
    job_type: Option<String>,
    /// `{uuid: {...}}`: the command that started the batch.
    #[schema(value_type = Option<Object>)]
    command: Option<serde_json::Value>,
    /// Free data merged into the batch's `data` (`optimization`).
    #[schema(value_type = Option<Object>)]
    data: Option<serde_json::Value>,
    /// `qa optimize`: iteration number.
    iteration: Option<i64>,
    /// `qa optimize`: this iteration is the best so far.
    is_best_iter: Option<bool>,
    /// `qa optimize`: the iteration's batch label.
    iteration_label: Option<String>,
}

/// `POST /api/v1/batch/` body.
pub fn batch_body() -> RefOr<Schema> {
    BatchDoc::schema()
}

/// `POST /api/v1/commit/` body (`qa save-artifacts`).
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct CommitDoc {
    /// Project id.
    project: Option<String>,
    /// Full commit hash (or in the path).
    commit_sha: Option<String>,
    /// Branch of the commit.
    commit_branch: Option<String>,
    /// Absolute artifacts folder.
    artifacts_commit: Option<String>,
    /// Free data merged into the commit's `data`.
    #[schema(value_type = Option<Object>)]
    data: Option<serde_json::Value>,
}

/// `POST /api/v1/commit/` body.
pub fn commit_body() -> RefOr<Schema> {
    CommitDoc::schema()
}

/// `GET /api/v1/export/` answer.
pub fn export_answer() -> RefOr<Schema> {
    crate::export::ExportAnswer::schema()
}
