//! What the OpenAPI document says of every route at once: the answers that come
//! from the shared extractors and layers rather than from one handler, the error
//! body, and who may call. Each handler's `#[utoipa::path]` lists only what its
//! own code answers (201, 404 of a missing resource, 409 of a conflict...); this
//! adds the rest in one place, so the two cannot drift apart route by route:
//!
//! - a bearer credential (`Principal`, `GatewayCaller`): 401 without a valid one,
//!   403 when its organization is suspended or its permission too low;
//! - query parameters (`ApiQuery`): 400 when they do not parse;
//! - path parameters (`ApiPath`): 404 when an id does not parse (it names nothing);
//! - a request body (`ApiJson`, the body limit and the body deadline): 400, 408,
//!   413, and 415 without a JSON content type (the Messages API reads any type);
//! - the database behind almost every route: 503 when it is unreachable;
//! - every list's `limit`: the one pagination rule (`dto::page_limit`).
//!
//! Public operations declare `security(())` on their handler; every other one
//! needs the bearer scheme.

use utoipa::openapi::path::{Operation, Parameter, ParameterIn, PathItem};
use utoipa::openapi::schema::{KnownFormat, ObjectBuilder, SchemaFormat, Type};
use utoipa::openapi::security::{
    ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityRequirement, SecurityScheme,
};
use utoipa::openapi::{Content, OpenApi, Ref, RefOr, Response};
use utoipa::{Modify, PartialSchema, ToSchema};

use super::dto::{PAGE_LIMIT_DEFAULT, PAGE_LIMIT_MAX};
use super::messages::AnthropicErrorBody;
use crate::error::ErrorBody;

/// The scheme every secured operation names.
pub const BEARER: &str = "bearer";
/// Anthropic's header, which the Messages API also takes (as its SDKs send it).
const X_API_KEY: &str = "x-api-key";

pub struct SharedAnswers;

impl Modify for SharedAnswers {
    fn modify(&self, openapi: &mut OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        let mut schemas = vec![
            (ErrorBody::name().into_owned(), ErrorBody::schema()),
            (AnthropicErrorBody::name().into_owned(), AnthropicErrorBody::schema()),
        ];
        ErrorBody::schemas(&mut schemas);
        AnthropicErrorBody::schemas(&mut schemas);
        components.schemas.extend(schemas);
        let bearer = HttpBuilder::new()
            .scheme(HttpAuthScheme::Bearer)
            .description(Some(
                "An API key (`gr-...`) or a session token from `POST /v1/auth/login` (an operator's \
                 or one minted from a key). The gateway routes take API keys only.",
            ))
            .build();
        components.add_security_scheme(BEARER, SecurityScheme::Http(bearer));
        components.add_security_scheme(
            X_API_KEY,
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::with_description(
                X_API_KEY,
                "An API key as Anthropic's clients send it (`/v1/messages` only).",
            ))),
        );
        // Security is per operation: no document-wide default a public route must undo.
        openapi.security = None;
        for (path, item) in openapi.paths.paths.iter_mut() {
            for operation in operations(item) {
                add_shared_answers(path, operation);
            }
        }
    }
}

fn operations(item: &mut PathItem) -> impl Iterator<Item = &mut Operation> {
    [&mut item.get, &mut item.put, &mut item.post, &mut item.delete, &mut item.patch, &mut item.head, &mut item.options]
        .into_iter()
        .filter_map(Option::as_mut)
}

/// The Messages API answers in Anthropic's error shape and reads its body itself.
fn is_anthropic(path: &str) -> bool {
    super::messages::answers_in_anthropics_shape(path)
}

fn add_shared_answers(path: &str, operation: &mut Operation) {
    let declared_public = operation.security.as_ref().is_some_and(|s| s.iter().all(|r| *r == Default::default()));
    if declared_public {
        operation.security = Some(Vec::new());
    } else {
        let mut accepted = vec![SecurityRequirement::new(BEARER, Vec::<String>::new())];
        if is_anthropic(path) {
            accepted.push(SecurityRequirement::new(X_API_KEY, Vec::<String>::new()));
        }
        operation.security = Some(accepted);
        answer(operation, "401", "no credential, or one that is invalid, expired or revoked");
        answer(operation, "403", "the caller's permission is too low, or its organization is suspended");
    }
    for parameter in operation.parameters.iter_mut().flatten() {
        if parameter.parameter_in == ParameterIn::Query && parameter.name == "limit" {
            state_the_pagination_rule(parameter);
        }
    }
    let parameters = operation.parameters.as_deref().unwrap_or_default();
    let has_query = parameters.iter().any(|p| p.parameter_in == ParameterIn::Query);
    let has_path = parameters.iter().any(|p| p.parameter_in == ParameterIn::Path);
    if has_query {
        answer(operation, "400", "a query parameter is invalid");
    }
    if has_path {
        answer(operation, "404", "no such resource (an id that does not parse names none)");
    }
    if operation.request_body.is_some() {
        answer(operation, "400", "the body is not valid JSON or not what this operation takes");
        answer(operation, "408", "the body did not arrive within the body-read timeout");
        answer(operation, "413", "the body is larger than this route accepts");
        if !is_anthropic(path) {
            answer(operation, "415", "the body is not sent as `Content-Type: application/json`");
        }
    }
    answer(operation, "503", "the database is unreachable or overloaded: retry");
    let error_schema = if is_anthropic(path) { AnthropicErrorBody::name() } else { ErrorBody::name() };
    for (status, response) in operation.responses.responses.iter_mut() {
        let is_error = status.starts_with('4') || status.starts_with('5');
        if let (true, RefOr::T(response)) = (is_error, response) {
            if response.content.is_empty() {
                let schema = RefOr::Ref(Ref::from_schema_name(error_schema.as_ref()));
                response.content.insert("application/json".into(), Content::new(Some(schema)));
            }
        }
    }
}

/// Every list's `limit` is bounded by the one rule `page_limit` enforces.
fn state_the_pagination_rule(parameter: &mut Parameter) {
    let schema = ObjectBuilder::new()
        .schema_type(Type::Integer)
        .format(Some(SchemaFormat::KnownFormat(KnownFormat::Int64)))
        .minimum(Some(1))
        .maximum(Some(PAGE_LIMIT_MAX))
        .default(Some(PAGE_LIMIT_DEFAULT.into()));
    parameter.schema = Some(RefOr::T(schema.into()));
    let rule = format!("Page size: 1 to {PAGE_LIMIT_MAX} (default {PAGE_LIMIT_DEFAULT}).");
    parameter.description = Some(match parameter.description.take() {
        Some(own) => format!("{rule} {own}"),
        None => rule,
    });
}

/// Adds an answer unless the handler declared that status itself.
fn answer(operation: &mut Operation, status: &str, description: &str) {
    operation.responses.responses.entry(status.to_string()).or_insert_with(|| RefOr::T(Response::new(description)));
}
