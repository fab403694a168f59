//! Operational routes: health, Prometheus metrics and the OpenAPI document.

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, Request, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde::Serialize;
use subtle::ConstantTimeEq;
use utoipa::{OpenApi, ToSchema};

use crate::error::ApiError;
use crate::observability::metrics::{PoolGauges, ProjectorGauges};
use crate::state::AppState;

pub fn router() -> Router<AppState> {
    Router::new().route("/health", get(health)).route("/metrics", get(metrics)).route("/openapi.json", get(openapi))
}

#[derive(Serialize, ToSchema)]
pub struct Health {
    pub status: &'static str,
    pub database: &'static str,
    pub version: &'static str,
}

#[utoipa::path(get, path = "/health", tag = "ops", security(()),
    responses((status = 200, body = Health), (status = 503, body = Health)))]
pub(crate) async fn health(State(state): State<AppState>) -> (StatusCode, Json<Health>) {
    let database_ok = sqlx::query("SELECT 1").execute(&state.pool).await.is_ok();
    let status = if database_ok { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE };
    let health = Health {
        status: if database_ok { "ok" } else { "degraded" },
        database: if database_ok { "ok" } else { "unreachable" },
        version: env!("CARGO_PKG_VERSION"),
    };
    (status, Json(health))
}

async fn openapi() -> Json<utoipa::openapi::OpenApi> {
    Json(super::ApiDoc::openapi())
}

/// Prometheus text format. With `GAIAROUTER_METRICS_TOKEN` set, a scraper sends
/// it as a bearer token (from anywhere); unset, only a direct client on this
/// host is answered (loopback, and no `X-Forwarded-For`: not through a proxy).
#[utoipa::path(get, path = "/metrics", tag = "ops",
    responses(
        (status = 200, description = "Metrics in the Prometheus text format", content_type = "text/plain", body = String),
        (status = 401, description = "The metrics token is configured and was not sent"),
        (status = 403, description = "No metrics token is configured and the client is not on this host"),
    ))]
pub(crate) async fn metrics(State(state): State<AppState>, request: Request) -> Result<Response, ApiError> {
    may_scrape(&state, &request)?;
    let pool = PoolGauges { size: state.pool.size(), idle: u32::try_from(state.pool.num_idle()).unwrap_or(u32::MAX) };
    let statuses = match gaiarouter_projections::runner::projector_status(&state.pool, &state.projections).await {
        Ok(statuses) => statuses,
        Err(error) => {
            tracing::warn!(%error, "reading the projectors' status for /metrics failed");
            Vec::new()
        }
    };
    let projectors: Vec<ProjectorGauges<'_>> = statuses
        .iter()
        .map(|s| ProjectorGauges {
            name: &s.name,
            position: s.position,
            lag_events: s.lag_events,
            lag_seconds: s.lag_seconds,
            quarantined: s.quarantined,
        })
        .collect();
    let body = state.metrics.render(&pool, &projectors);
    Ok(([(header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")], body).into_response())
}

fn may_scrape(state: &AppState, request: &Request) -> Result<(), ApiError> {
    match &state.config.metrics_token {
        Some(token) => {
            let sent = bearer(request.headers()).unwrap_or_default();
            if bool::from(sent.as_bytes().ct_eq(token.expose().as_bytes())) {
                Ok(())
            } else {
                Err(ApiError::new(
                    StatusCode::UNAUTHORIZED,
                    "invalid_metrics_token",
                    "send the metrics token as a bearer token",
                ))
            }
        }
        None => {
            let peer = request.extensions().get::<ConnectInfo<SocketAddr>>().map(|ConnectInfo(addr)| addr.ip());
            let direct = !request.headers().contains_key("x-forwarded-for");
            if direct && peer.is_some_and(|ip| ip.is_loopback()) {
                Ok(())
            } else {
                Err(ApiError::forbidden(
                    "metrics are served to this host only; set GAIAROUTER_METRICS_TOKEN to scrape from elsewhere",
                ))
            }
        }
    }
}

fn bearer(headers: &HeaderMap) -> Option<&str> {
    headers.get(header::AUTHORIZATION)?.to_str().ok()?.strip_prefix("Bearer ")
}
