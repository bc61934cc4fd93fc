//! `GET /api/v1/openapi.json`: the OpenAPI 3.1 document of every route,
//! built from [`crate::registry::ROUTES`] with utoipa's document model.
//!
//! Paths are the registry's templates with actix's regexes dropped
//! (`/commit/{sha:.+}` → `/commit/{sha}`, every path parameter a non-empty
//! string: the handlers parse ids themselves and answer 400/404). Each
//! operation lists its query parameters (all optional strings), its body
//! and its 200 answer; every other status is the `default` answer,
//! `{"error": "…"}` JSON for our own routes. The document is built once per
//! process (it depends on nothing but the code).
use std::sync::OnceLock;

use actix_web::{web, HttpResponse};
use utoipa::openapi::path::{HttpMethod, OperationBuilder, ParameterBuilder, ParameterIn};
use utoipa::openapi::request_body::RequestBodyBuilder;
use utoipa::openapi::schema::{ObjectBuilder, SchemaType, Type};
use utoipa::openapi::{
    Content, InfoBuilder, OpenApi, OpenApiBuilder, Paths, Required, ResponseBuilder,
};

use crate::registry::{Answer, Body, Errors, Method, Mount, Operation, Route, ROUTES};
use crate::{both, resource};

pub mod schemas;

/// Registers `/api/v1/openapi.json` (mounted under `/api/v1`).
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(resource(both("/openapi.json")).route(web::get().to(get_openapi)));
}

async fn get_openapi() -> HttpResponse {
    static JSON: OnceLock<String> = OnceLock::new();
    let body = JSON.get_or_init(|| {
        document()
            .to_json()
            .unwrap_or_else(|e| format!(r#"{{"error": "openapi: {e}"}}"#))
    });
    HttpResponse::Ok()
        .content_type("application/json")
        .body(body.clone())
}

/// The OpenAPI path of a registry route: `/api/v1` prefix for API routes,
/// `{name:regex}` → `{name}`.
pub fn openapi_path(route: &Route) -> String {
    let mut out = String::new();
    if route.mount == Mount::Api {
        out.push_str("/api/v1");
    }
    // 0: outside a parameter, 1: in its name, 2: in its regex.
    let mut state = 0;
    for ch in route.path.chars() {
        match (state, ch) {
            (0, '{') => {
                out.push(ch);
                state = 1;
            }
            (1, ':') => state = 2,
            (1 | 2, '}') => {
                out.push(ch);
                state = 0;
            }
            (2, _) => {}
            _ => out.push(ch),
        }
    }
    out
}

/// The names of the path parameters of an actix template.
pub fn path_params(template: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut rest = template;
    while let Some(start) = rest.find('{') {
        let after = &rest[start + 1..];
        let end = after.find('}').unwrap_or(after.len());
        let inner = &after[..end];
        out.push(inner.split(':').next().unwrap_or(inner));
        rest = &after[end.min(after.len())..];
    }
    out
}

fn string_schema(min_length: Option<usize>) -> ObjectBuilder {
    ObjectBuilder::new()
        .schema_type(SchemaType::Type(Type::String))
        .min_length(min_length)
}

fn operation(route: &Route, o: &Operation) -> utoipa::openapi::path::Operation {
    let tag = route
        .path
        .trim_start_matches('/')
        .split(['/', '.'])
        .find(|t| !t.is_empty())
        .unwrap_or("home");
    let mut b = OperationBuilder::new()
        .operation_id(Some(o.id))
        .summary(Some(o.summary))
        .tag(tag);
    for name in path_params(route.path) {
        b = b.parameter(
            ParameterBuilder::new()
                .name(name)
                .parameter_in(ParameterIn::Path)
                .required(Required::True)
                .schema(Some(string_schema(Some(1)))),
        );
    }
    for name in o.query {
        b = b.parameter(
            ParameterBuilder::new()
                .name(*name)
                .parameter_in(ParameterIn::Query)
                .required(if o.required.contains(name) {
                    Required::True
                } else {
                    Required::False
                })
                .schema(Some(string_schema(None))),
        );
    }
    let body = match o.body {
        Body::None => None,
        Body::Json(schema) => Some(
            RequestBodyBuilder::new()
                .required(Some(Required::True))
                .content("application/json", Content::new(Some(schema())))
                .build(),
        ),
        Body::Form(fields) => {
            let mut form = ObjectBuilder::new().schema_type(SchemaType::Type(Type::Object));
            for f in fields {
                form = form.property(*f, string_schema(None));
            }
            let form = form.build();
            Some(
                RequestBodyBuilder::new()
                    .required(Some(Required::True))
                    .content(
                        "application/x-www-form-urlencoded",
                        Content::new(Some(form.clone())),
                    )
                    .content("multipart/form-data", Content::new(Some(form)))
                    .build(),
            )
        }
        Body::Any => Some(
            RequestBodyBuilder::new()
                .content("application/json", Content::new(Some(schemas::object())))
                .build(),
        ),
    };
    b = b.request_body(body);
    let ok = match o.answer {
        Answer::Json(schema) => ResponseBuilder::new()
            .description("OK")
            .content("application/json", Content::new(Some(schema()))),
        Answer::Media(media) => ResponseBuilder::new()
            .description("OK")
            .content(media, Content::new(None::<utoipa::openapi::RefOr<_>>)),
    };
    b = b.response("200", ok.build());
    let errors = match o.errors {
        Errors::Json => ResponseBuilder::new()
            .description("Any error: `{\"error\": \"…\"}`")
            .content("application/json", Content::new(Some(schemas::error()))),
        Errors::Any => ResponseBuilder::new()
            .description("An error, or the upstream's own answer (proxies, files)")
            .content("*/*", Content::new(None::<utoipa::openapi::RefOr<_>>)),
    };
    b.response("default", errors.build()).build()
}

fn http_method(m: Method) -> HttpMethod {
    match m {
        Method::Get => HttpMethod::Get,
        Method::Post => HttpMethod::Post,
        Method::Put => HttpMethod::Put,
        Method::Delete => HttpMethod::Delete,
    }
}

/// The whole document, from [`ROUTES`].
pub fn document() -> OpenApi {
    let mut paths = Paths::new();
    for route in ROUTES {
        let path = openapi_path(route);
        for o in route.ops {
            paths.add_path_operation(&path, vec![http_method(o.method)], operation(route, o));
        }
    }
    OpenApiBuilder::new()
        .info(
            InfoBuilder::new()
                .title("QA-Board")
                .version(env!("CARGO_PKG_VERSION"))
                .description(Some(
                    "The QA-Board backend: ingestion by the `qa` CLI, the webapp's reads and \
                     operations, files, integrations and operations endpoints. Every path also \
                     answers with a trailing slash; HEAD answers like GET.",
                ))
                .build(),
        )
        .paths(paths)
        .build()
}
