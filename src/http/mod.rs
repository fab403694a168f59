//! The HTTP surface: one router per resource, merged here with the cross-cutting
//! layers (request ids, tracing, body limits and deadlines, security headers),
//! the API docs and the dashboard's static files.

mod admin_errors;
pub mod api_keys;
pub mod audit;
pub mod auth;
mod body_capture;
mod body_deadline;
pub mod catalogue;
pub mod chat;
mod context;
pub mod dashboard;
pub mod dto;
pub mod extract;
pub mod gateway_caller;
mod gateway_docs;
pub mod logs;
mod messages;
mod openapi;
pub mod operators;
mod ops;
pub mod organizations;
pub mod principal;
pub mod projections;
mod rate_limits;
pub mod request_id;
pub mod routes;
pub mod security_headers;
pub mod stats;
pub mod webhooks;

use axum::extract::DefaultBodyLimit;
use axum::http::{HeaderName, Request};
use axum::{middleware, Router};
use tower_http::compression::CompressionLayer;
use tower_http::request_id::{MakeRequestId, PropagateRequestIdLayer, RequestId, SetRequestIdLayer};
use tower_http::services::{ServeDir, ServeFile};
use tower_http::trace::TraceLayer;
use utoipa::OpenApi;
use utoipa_swagger_ui::SwaggerUi;

pub use context::{RequestContext, REQUEST_ID_HEADER};
use openapi::SharedAnswers;

use crate::error::ApiError;
use crate::state::AppState;

/// Admin bodies are small; anything larger is refused before parsing.
const ADMIN_BODY_LIMIT: usize = 64 * 1024;

#[derive(OpenApi)]
#[openapi(
    info(title = "GaiaRouter", description = "Event-sourced OpenAI-compatible AI gateway: admin and gateway API."),
    paths(
        auth::login, auth::me, auth::logout,
        operators::list_operators, operators::create_operator, operators::get_operator,
        operators::disable_operator, operators::enable_operator, operators::delete_operator,
        operators::change_password, operators::end_sessions,
        organizations::create_organization, organizations::list_organizations, organizations::get_organization,
        organizations::update_organization, organizations::delete_organization,
        api_keys::create_api_key, api_keys::list_api_keys, api_keys::get_api_key, api_keys::update_api_key,
        api_keys::rotate_api_key, api_keys::revoke_api_key,
        audit::organization_history, audit::api_key_history, audit::audit_log,
        stats::global_stats, stats::organization_stats, stats::api_key_stats, logs::request_log, logs::log_entry,
        projections::list_projections, projections::rebuild_projection, projections::list_quarantine,
        routes::create_route, routes::list_routes, routes::get_route, routes::update_route, routes::delete_route,
        routes::route_history,
        webhooks::create_webhook, webhooks::list_webhooks, webhooks::get_webhook, webhooks::update_webhook,
        webhooks::delete_webhook, webhooks::rotate_webhook_secret, webhooks::webhook_history,
        webhooks::list_deliveries, webhooks::redeliver, webhooks::test_webhook,
        catalogue::catalogue,
        ops::health,
        ops::ready,
        ops::metrics,
        chat::chat_completions, chat::list_models, messages::create_message, messages::count_tokens,
    ),
    // The security scheme and the answers every route shares: see `openapi`.
    modifiers(&SharedAnswers),
)]
pub struct ApiDoc;

#[derive(Clone, Default)]
struct UuidV7RequestId;

impl MakeRequestId for UuidV7RequestId {
    fn make_request_id<B>(&mut self, _request: &Request<B>) -> Option<RequestId> {
        uuid::Uuid::now_v7().to_string().parse().ok().map(RequestId::new)
    }
}

async fn unknown_route() -> ApiError {
    ApiError::not_found("unknown_route", "no such route")
}

async fn method_not_allowed() -> ApiError {
    ApiError::new(axum::http::StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed", "method not allowed on this route")
}

pub fn router(state: AppState) -> Router {
    let admin = Router::new()
        .merge(auth::router())
        .merge(organizations::router())
        .merge(api_keys::router())
        .merge(audit::router())
        .merge(stats::router())
        .merge(logs::router())
        .merge(projections::router())
        .merge(operators::router())
        .merge(routes::router())
        .merge(webhooks::router())
        .merge(catalogue::router())
        .layer(DefaultBodyLimit::max(ADMIN_BODY_LIMIT));
    let gateway = chat::router().merge(messages::router()).layer(DefaultBodyLimit::max(state.config.max_body_bytes));
    let mut app = Router::new()
        .merge(admin)
        .merge(gateway)
        .merge(ops::router())
        .merge(docs())
        .route("/v1/{*rest}", axum::routing::any(unknown_route))
        .method_not_allowed_fallback(method_not_allowed);
    // The dashboard's scripts and styles shrink to about a third gzipped; only the
    // dashboard is compressed (the API's answers and streams are left as they are).
    let dashboard = match state.config.static_dir.as_ref().filter(|dir| dir.join("index.html").exists()) {
        // The dashboard is a single-page app: unknown paths get index.html.
        Some(dir) => {
            Some(Router::new().fallback_service(ServeDir::new(dir).fallback(ServeFile::new(dir.join("index.html")))))
        }
        None if dashboard::is_embedded() => Some(Router::new().fallback(dashboard::serve)),
        None => None,
    };
    app = match dashboard {
        Some(dashboard) => app.fallback_service(dashboard.layer(CompressionLayer::new())),
        None => app.fallback(unknown_route),
    };
    let request_id = HeaderName::from_static(context::REQUEST_ID_HEADER);
    let body_read_timeout = state.config.server_timeouts().body_read;
    // Listed inside out: the last layer sees the request first.
    app.with_state(state)
        .layer(middleware::from_fn_with_state(body_read_timeout, body_deadline::limit_body_time))
        .layer(PropagateRequestIdLayer::new(request_id.clone()))
        .layer(TraceLayer::new_for_http().make_span_with(crate::observability::request_span))
        .layer(SetRequestIdLayer::new(request_id, UuidV7RequestId))
        .layer(middleware::from_fn(request_id::take_client_request_id))
        .layer(middleware::map_response(security_headers::add))
}

/// Swagger UI, embedded in the binary (no CDN: a foreign script on this origin
/// could read the session token), reading the document at `/openapi.json`.
fn docs() -> SwaggerUi {
    // No validator badge: it would send the document to a third-party service.
    SwaggerUi::new("/docs").config(utoipa_swagger_ui::Config::new(["/openapi.json"]).validator_url("none"))
}
