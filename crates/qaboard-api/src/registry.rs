//! The one list of the server's routes ([`ROUTES`]): every path template
//! with its methods, and for each operation its query parameters, body and
//! answer. Three things derive from it:
//!
//! - the `Allow` header of 405 answers ([`crate::hardening::allow_header`],
//!   [`crate::hardening::route_methods`]);
//! - the OpenAPI document of `GET /api/v1/openapi.json` ([`crate::openapi`]);
//! - the check of actix's registrations: `crate::resource` notes every
//!   template it registers ([`registered_templates`]) and
//!   tests/tests/api/openapi.rs requires that set to equal the templates
//!   here, every listed method to reach a handler and every other method to
//!   answer 405 — so a route added in `routes/*.rs` and not here fails CI.
//!
//! Handlers stay in their files and keep their actix registration
//! (`routes/<resource>.rs`): the table describes them rather than wrapping
//! them, so helpers editing handlers never touch this file, and the order
//! rules of `routes/mod.rs` (fixed sub-paths before patterns) stay where
//! they are applied.
use std::collections::BTreeSet;
use std::sync::Mutex;

use utoipa::openapi::{RefOr, Schema};

use crate::openapi::schemas as s;

/// Where a route is mounted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mount {
    /// Under `/api/v1`.
    Api,
    /// At the server root (`/healthz`, `/webhook/gitlab`, `/s/…`).
    Root,
}

/// An HTTP method of an operation (`HEAD` is implied by `GET`, `OPTIONS`
/// by every route: see `hardening`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    /// `GET`
    Get,
    /// `POST`
    Post,
    /// `PUT`
    Put,
    /// `DELETE`
    Delete,
}

impl Method {
    /// The method's name, upper case (`"GET"`).
    pub const fn as_str(self) -> &'static str {
        match self {
            Method::Get => "GET",
            Method::Post => "POST",
            Method::Put => "PUT",
            Method::Delete => "DELETE",
        }
    }
}

/// A JSON Schema of the OpenAPI document, built on demand.
pub type SchemaFn = fn() -> RefOr<Schema>;

/// The body an operation reads.
#[derive(Clone, Copy)]
pub enum Body {
    /// No body.
    None,
    /// A JSON object (`Content-Type: application/json`) of this schema.
    Json(SchemaFn),
    /// A form (multipart or url-encoded) with these string fields.
    Form(&'static [&'static str]),
    /// Raw bytes of any type (webhook payloads are checked as sent).
    Any,
}

/// What a 200 answer carries.
#[derive(Clone, Copy)]
pub enum Answer {
    /// JSON of this schema.
    Json(SchemaFn),
    /// Bytes of this media type (`text/plain`, `image/*`, `*/*`).
    Media(&'static str),
}

/// How error answers look.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Errors {
    /// `{"error": "…"}` JSON (every route of ours).
    Json,
    /// Whatever the far side sent (proxies answer the upstream's status and
    /// body) or a file server's bodies.
    Any,
}

/// One operation: a method on a route.
#[derive(Clone, Copy)]
pub struct Operation {
    /// The method.
    pub method: Method,
    /// A unique, stable name (`operationId`).
    pub id: &'static str,
    /// One line saying what it does.
    pub summary: &'static str,
    /// String query parameters it reads.
    pub query: &'static [&'static str],
    /// Those of [`Operation::query`] it requires (400 without them).
    pub required: &'static [&'static str],
    /// Its body.
    pub body: Body,
    /// Its 200 answer.
    pub answer: Answer,
    /// Its error answers.
    pub errors: Errors,
}

/// One route template and its operations.
#[derive(Clone, Copy)]
pub struct Route {
    /// Where it is mounted.
    pub mount: Mount,
    /// The actix template without `/api/v1` and without trailing slash
    /// (`/commit/{sha:.+}`), exactly as `crate::resource` registers it;
    /// every route also answers with a trailing slash.
    pub path: &'static str,
    /// False for the few resources registered without `crate::resource`
    /// (`/`, `/s/…`, `/iiif/…`): their catch-all handlers are checked by
    /// request only.
    pub via_resource: bool,
    /// Its operations, one per method.
    pub ops: &'static [Operation],
}

const fn op(
    method: Method,
    id: &'static str,
    summary: &'static str,
    query: &'static [&'static str],
    body: Body,
    answer: Answer,
) -> Operation {
    Operation {
        method,
        id,
        summary,
        query,
        required: &[],
        body,
        answer,
        errors: Errors::Json,
    }
}

const fn needs(o: Operation, required: &'static [&'static str]) -> Operation {
    Operation { required, ..o }
}

const fn get(id: &'static str, summary: &'static str, query: &'static [&'static str]) -> Operation {
    op(
        Method::Get,
        id,
        summary,
        query,
        Body::None,
        Answer::Json(s::any),
    )
}

const fn post(id: &'static str, summary: &'static str, body: SchemaFn) -> Operation {
    op(
        Method::Post,
        id,
        summary,
        &[],
        Body::Json(body),
        Answer::Json(s::any),
    )
}

const fn proxied(o: Operation) -> Operation {
    Operation {
        errors: Errors::Any,
        ..o
    }
}

const fn api(path: &'static str, ops: &'static [Operation]) -> Route {
    Route {
        mount: Mount::Api,
        path,
        via_resource: true,
        ops,
    }
}

const fn root(path: &'static str, ops: &'static [Operation]) -> Route {
    Route {
        mount: Mount::Root,
        path,
        via_resource: true,
        ops,
    }
}

use Method::{Delete, Get, Post, Put};

const PROJECT: &[&str] = &["project"];
const DELETE_Q: &[&str] = &["soft", "only_failed", "filter"];
const COMMIT_Q: &[&str] = &["project", "branch", "batch", "metrics", "commit"];
const COMMITS_Q: &[&str] = &[
    "project",
    "from",
    "to",
    "committer",
    "metrics",
    "with_outputs",
    "only_ci_batches",
    "batch",
];
const GROUP_Q: &[&str] = &["project", "name", "commit"];
const PIXEL_Q: &[&str] = &["x", "y", "image_url"];
const EXPORT_Q: &[&str] = &[
    "project",
    "ref_project",
    "new_commit_id",
    "ref_commit_id",
    "batch_new",
    "batch_ref",
    "filter_new",
    "filter_ref",
    "path",
];

/// Every route of the server (OPERATIONS.md, PROTOCOL.md), in the order
/// of the OpenAPI document.
pub const ROUTES: &[Route] = &[
    root(
        "/healthz",
        &[op(
            Get,
            "healthz",
            "The server and its database answer",
            &[],
            Body::None,
            Answer::Json(s::status_ok),
        )],
    ),
    root(
        "/metrics",
        &[op(
            Get,
            "metrics",
            "Prometheus metrics of this process (text format 0.0.4)",
            &[],
            Body::None,
            Answer::Media("text/plain"),
        )],
    ),
    Route {
        via_resource: false,
        ..root(
            "/",
            &[op(
                Get,
                "home",
                "Home page (the webapp when `webapp_dir` is set)",
                &[],
                Body::None,
                Answer::Media("text/html"),
            )],
        )
    },
    root(
        "/webhook/gitlab",
        &[op(
            Post,
            "gitlab_push_webhook",
            "GitLab push event: updates the project's git mirror",
            &[],
            Body::Any,
            Answer::Json(s::status_ok),
        )],
    ),
    root(
        "/webhook/github",
        &[op(
            Post,
            "github_push_webhook",
            "GitHub push event: updates the project's git mirror",
            &[],
            Body::Any,
            Answer::Json(s::status_ok),
        )],
    ),
    Route {
        via_resource: false,
        ..root(
            "/s/{tail:.*}",
            &[proxied(op(
                Get,
                "storage_file",
                "A file or folder listing under the storage roots",
                &[],
                Body::None,
                Answer::Media("*/*"),
            ))],
        )
    },
    Route {
        via_resource: false,
        ..root(
            "/iiif/2/{tail:.*}",
            &[proxied(op(
                Get,
                "iiif",
                "IIIF Image API 2 (`{identifier}/info.json`, `{identifier}/{region}/{size}/{rotation}/{quality}.{format}`)",
                &[],
                Body::None,
                Answer::Media("*/*"),
            ))],
        )
    },
    api(
        "/openapi.json",
        &[get("openapi", "This OpenAPI document", &[])],
    ),
    api(
        "/output",
        &[post(
            "post_output",
            "Create or update an output (`qa run`)",
            s::output_body,
        )],
    ),
    api(
        "/output/redo/{id}",
        &[post("redo_output", "Start a redo of one output", s::object)],
    ),
    api(
        "/output/image/pixel",
        &[
            needs(
                get("get_pixel", "Pixel values of an image at (x, y)", PIXEL_Q),
                PIXEL_Q,
            ),
            op(
                Post,
                "post_pixel",
                "Pixel values of an image at (x, y)",
                PIXEL_Q,
                Body::Json(s::object),
                Answer::Json(s::any),
            ),
        ],
    ),
    api(
        "/output/diff/image",
        &[op(
            Post,
            "diff_image",
            "Difference image of two images",
            &[],
            Body::Json(s::object),
            Answer::Media("image/png"),
        )],
    ),
    api(
        "/output/diff/report",
        &[post(
            "diff_report",
            "Regions of interest of two images",
            s::object,
        )],
    ),
    api(
        "/output/{id}/manifest",
        &[get(
            "get_output_manifest",
            "The output's files with their md5",
            &["refresh"],
        )],
    ),
    api(
        "/output/{id}",
        &[
            get("get_output", "One output", &[]),
            op(
                Put,
                "put_output",
                "Update an output's fields",
                &[],
                Body::Json(s::object),
                Answer::Json(s::any),
            ),
            op(
                Delete,
                "delete_output",
                "Delete an output and its files",
                DELETE_Q,
                Body::None,
                Answer::Json(s::any),
            ),
        ],
    ),
    api(
        "/batch",
        &[post(
            "post_batch",
            "Create or update a batch (`qa batch`)",
            s::batch_body,
        )],
    ),
    api(
        "/batch/stop",
        &[post("stop_batch", "Stop a batch's running jobs", s::object)],
    ),
    api(
        "/batch/redo",
        &[post("redo_batch", "Redo a batch's outputs", s::object)],
    ),
    api(
        "/batch/rename",
        &[post("rename_batch", "Rename a batch", s::object)],
    ),
    api(
        "/batch/move",
        &[post("move_batch", "Move a batch to another commit", s::object)],
    ),
    api(
        "/batch/{id}",
        &[op(
            Delete,
            "delete_batch",
            "Delete a batch and its outputs",
            DELETE_Q,
            Body::None,
            Answer::Json(s::any),
        )],
    ),
    api(
        "/commit",
        &[
            needs(get("get_commit_by_query", "One commit's page", COMMIT_Q), PROJECT),
            post("post_commit_plain", "Create or update a commit", s::commit_body),
        ],
    ),
    api(
        "/commit/save-artifacts",
        &[post(
            "save_artifacts",
            "Save a commit's artifacts (a `qa save-artifacts` job)",
            s::object,
        )],
    ),
    api(
        "/commit/{path:.+}/batches",
        &[op(
            Delete,
            "delete_commit_batches",
            "Delete batches of a commit",
            DELETE_Q,
            Body::None,
            Answer::Json(s::any),
        )],
    ),
    api(
        "/commit/{sha}/batch",
        &[op(
            Post,
            "start_tuning",
            "Start a tuning batch on a commit",
            GROUP_Q,
            Body::Json(s::object),
            Answer::Json(s::any),
        )],
    ),
    api(
        "/commit/{sha:.+}",
        &[
            needs(get("get_commit", "One commit's page", COMMIT_Q), PROJECT),
            post("post_commit", "Create or update a commit", s::commit_body),
        ],
    ),
    api(
        "/commits",
        &[needs(get("get_commits", "The commits list", COMMITS_Q), PROJECT)],
    ),
    api(
        "/commits/{branch:.+}",
        &[needs(
            get(
                "get_branch_commits",
                "The commits list of one branch",
                COMMITS_Q,
            ),
            PROJECT,
        )],
    ),
    api(
        "/projects",
        &[get("get_projects", "Every project with its data", &[])],
    ),
    api(
        "/project",
        &[needs(get("get_project", "One project's data", PROJECT), PROJECT)],
    ),
    api(
        "/project/branches",
        &[needs(get("get_branches", "A project's branches", PROJECT), PROJECT)],
    ),
    api(
        "/project/milestones",
        &[
            get(
                "get_milestones",
                "A project's shared milestones",
                &["project", "key"],
            ),
            op(
                Post,
                "post_milestones",
                "Add or update a shared milestone",
                &["project", "key"],
                Body::Json(s::object),
                Answer::Json(s::any),
            ),
            op(
                Delete,
                "delete_milestones",
                "Remove a shared milestone",
                &["project", "key"],
                Body::Json(s::object),
                Answer::Json(s::any),
            ),
        ],
    ),
    api(
        "/tests/groups",
        &[
            op(
                Get,
                "get_test_groups",
                "A project's test groups file (YAML text)",
                &["project", "name"],
                Body::None,
                Answer::Media("text/plain"),
            ),
            op(
                Post,
                "post_test_groups",
                "Save a project's test groups file",
                &["project", "name"],
                Body::Json(s::object),
                Answer::Json(s::any),
            ),
        ],
    ),
    api(
        "/tests/group",
        &[op(
            Post,
            "list_test_group",
            "The tests of a group (`qa batch --list`)",
            GROUP_Q,
            Body::Json(s::object),
            Answer::Json(s::any),
        )],
    ),
    api(
        "/user/signup",
        &[op(
            Post,
            "signup",
            "Create a user",
            &[],
            Body::Form(&["username", "password", "full_name", "email"]),
            Answer::Json(s::any),
        )],
    ),
    api(
        "/user/auth",
        &[op(
            Post,
            "login",
            "Log in (sets the session cookie)",
            &[],
            Body::Form(&["username", "password"]),
            Answer::Json(s::any),
        )],
    ),
    api(
        "/user/logout",
        &[op(
            Post,
            "logout",
            "Log out",
            &[],
            Body::None,
            Answer::Json(s::any),
        )],
    ),
    api("/user/me", &[get("me", "The logged-in user", &[])]),
    api(
        "/gitlab/proxy",
        &[proxied(op(
            Get,
            "gitlab_proxy",
            "An avatar or badge image from an allowed host",
            &["url"],
            Body::None,
            Answer::Media("*/*"),
        ))],
    ),
    api(
        "/gitlab/job",
        &[proxied(post("gitlab_job", "A GitLab CI job", s::object))],
    ),
    api(
        "/gitlab/job/play",
        &[proxied(post(
            "gitlab_job_play",
            "Play a manual GitLab CI job",
            s::object,
        ))],
    ),
    api(
        "/jenkins/build",
        &[proxied(post(
            "jenkins_build",
            "A Jenkins build's status",
            s::object,
        ))],
    ),
    api(
        "/jenkins/build/trigger",
        &[proxied(post(
            "jenkins_trigger",
            "Trigger a Jenkins build",
            s::object,
        ))],
    ),
    api(
        "/webhook/proxy",
        &[proxied(op(
            Post,
            "webhook_proxy",
            "Send an integration's webhook",
            &[],
            Body::Json(s::object),
            Answer::Media("*/*"),
        ))],
    ),
    api(
        "/export",
        &[needs(
            op(
                Get,
                "export",
                "Export a commit's outputs to a shared folder",
                EXPORT_Q,
                Body::None,
                Answer::Json(s::export_answer),
            ),
            &["project", "new_commit_id"],
        )],
    ),
];

/// The route of the template `path` (as in [`Route::path`]), if any.
pub fn find(path: &str) -> Option<&'static Route> {
    ROUTES.iter().find(|r| r.path == path)
}

/// Templates registered through [`crate::resource`] in this process (any
/// application built so far). Introspection for the registration test
/// only: nothing reads it to answer a request.
static REGISTERED: Mutex<BTreeSet<String>> = Mutex::new(BTreeSet::new());

/// Notes that `path` (a template without `/api/v1` and trailing slash) was
/// registered; a template missing from [`ROUTES`] is logged.
pub(crate) fn note_registered(path: &str) {
    if find(path).is_none() {
        log::error!("route {path} is missing from registry::ROUTES (no Allow, no OpenAPI)");
    }
    if let Ok(mut set) = REGISTERED.lock() {
        if !set.contains(path) {
            set.insert(path.to_string());
        }
    }
}

/// Every template registered through `crate::resource` by the
/// applications built in this process so far, sorted.
pub fn registered_templates() -> Vec<String> {
    REGISTERED
        .lock()
        .map(|s| s.iter().cloned().collect())
        .unwrap_or_default()
}
