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

mod routes;
pub use routes::ROUTES;

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
