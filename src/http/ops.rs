//! Operational routes: health, readiness, Prometheus metrics and the OpenAPI document.

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, Request, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde::Serialize;
use subtle::ConstantTimeEq;
use utoipa::{OpenApi, ToSchema};

use std::time::Duration;

use crate::error::ApiError;
use crate::observability::metrics::{PoolGauges, ProjectorGauges};
use crate::state::AppState;
use crate::usage::recorder::RecorderHealth;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/health", get(health))
        .route("/ready", get(ready))
        .route("/metrics", get(metrics))
        .route("/openapi.json", get(openapi))
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

/// How long a readiness probe waits for the database, and how long one group
/// commit may take before the recorder counts as stuck: probes time out after a
/// few seconds, and a request waiting longer for its commit is not being served.
const DATABASE_PATIENCE: Duration = Duration::from_secs(2);
const RECORDER_PATIENCE: Duration = Duration::from_secs(10);

/// One readiness check: `ok`, and why not.
#[derive(Serialize, ToSchema)]
pub struct Check {
    pub ok: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

impl Check {
    fn passed() -> Self {
        Check { ok: true, detail: None }
    }

    fn failed(detail: impl Into<String>) -> Self {
        Check { ok: false, detail: Some(detail.into()) }
    }
}

#[derive(Serialize, ToSchema)]
pub struct ReadinessChecks {
    pub database: Check,
    pub migrations: Check,
    pub recorder: Check,
    pub projector: Check,
}

#[derive(Serialize, ToSchema)]
pub struct Readiness {
    /// `ready` or `not_ready`.
    pub status: &'static str,
    /// The names of the failing checks.
    pub failing: Vec<&'static str>,
    pub checks: ReadinessChecks,
}

/// Whether this process can serve and record requests: its database answers,
/// its schema is the one it was built for, its group-commit writer commits and
/// its projector runs. `/health` only says the process and database are up.
#[utoipa::path(get, path = "/ready", tag = "ops", security(()),
    responses((status = 200, body = Readiness), (status = 503, body = Readiness)))]
pub(crate) async fn ready(State(state): State<AppState>) -> (StatusCode, Json<Readiness>) {
    let (database, migrations) =
        match tokio::time::timeout(DATABASE_PATIENCE, crate::postgres::unapplied_migrations(&state.pool)).await {
            Ok(Ok(unapplied)) if unapplied.is_empty() => (Check::passed(), Check::passed()),
            Ok(Ok(unapplied)) => (Check::passed(), Check::failed(format!("not applied: {unapplied:?}"))),
            Ok(Err(error)) if is_missing_table(&error) => (Check::passed(), Check::failed("no migration applied")),
            Ok(Err(_)) => (Check::failed("unreachable"), Check::failed("unknown: the database is unreachable")),
            Err(_) => (
                Check::failed(format!("no answer within {} s", DATABASE_PATIENCE.as_secs())),
                Check::failed("unknown: the database is unreachable"),
            ),
        };
    let recorder = match state.completions.recorder.health(RECORDER_PATIENCE) {
        RecorderHealth::Healthy => Check::passed(),
        RecorderHealth::Stopped => Check::failed("stopped"),
        RecorderHealth::Stuck(writing) => Check::failed(format!("one commit has taken {} s", writing.as_secs())),
    };
    let projector = if state.background.projector.is_finished() { Check::failed("stopped") } else { Check::passed() };
    let checks = ReadinessChecks { database, migrations, recorder, projector };
    let failing: Vec<&'static str> = [
        ("database", &checks.database),
        ("migrations", &checks.migrations),
        ("recorder", &checks.recorder),
        ("projector", &checks.projector),
    ]
    .into_iter()
    .filter(|(_, check)| !check.ok)
    .map(|(name, _)| name)
    .collect();
    let status = if failing.is_empty() { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE };
    let readiness = Readiness { status: if failing.is_empty() { "ready" } else { "not_ready" }, failing, checks };
    (status, Json(readiness))
}

/// `_sqlx_migrations` does not exist: no migration ever ran on this database.
fn is_missing_table(error: &sqlx::Error) -> bool {
    error.as_database_error().and_then(|e| e.code()).is_some_and(|code| code == "42P01")
}

async fn openapi() -> Json<utoipa::openapi::OpenApi> {
    Json(super::ApiDoc::openapi())
}

/// Prometheus text format. With `GAIAROUTER_METRICS_TOKEN` set, a scraper sends
/// it as a bearer token (from anywhere); unset, only a direct client on this
/// host is answered (loopback, and no `X-Forwarded-For`: not through a proxy).
// Not the bearer scheme of API keys and sessions: a metrics token of its own, or
// none from this host (see `may_scrape`).
#[utoipa::path(get, path = "/metrics", tag = "ops", security(()),
    responses(
        (status = 200, description = "Metrics in the Prometheus text format", content_type = "text/plain", body = String),
        (status = 401, description = "The metrics token is configured and was not sent"),
        (status = 403, description = "No metrics token is configured and the client is not on this host"),
    ))]
pub(crate) async fn metrics(State(state): State<AppState>, request: Request) -> Result<Response, ApiError> {
    may_scrape(&state, &request)?;
    let oldest_snapshot_seconds = match crate::postgres::oldest_snapshot_age(&state.pool).await {
        Ok(seconds) => Some(seconds),
        Err(error) => {
            tracing::warn!(%error, "reading the oldest snapshot's age for /metrics failed");
            None
        }
    };
    let pool = PoolGauges {
        size: state.pool.size(),
        idle: u32::try_from(state.pool.num_idle()).unwrap_or(u32::MAX),
        oldest_snapshot_seconds,
    };
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
