//! Operational routes: health and the OpenAPI document.

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Json, Router};
use serde::Serialize;
use utoipa::{OpenApi, ToSchema};

use crate::state::AppState;

pub fn router() -> Router<AppState> {
    Router::new().route("/health", get(health)).route("/openapi.json", get(openapi))
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
