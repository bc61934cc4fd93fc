//! The table itself: every route of the server with its operations, built
//! with the `const fn` helpers of the parent module.
use super::{api, get, needs, op, post, proxied, root, Answer, Body, Method, Route};
use crate::openapi::schemas as s;

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
