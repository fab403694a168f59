//! `/v1/projections`: status of each projector, and rebuilds (admin only).

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use chrono::{DateTime, Utc};
use gaiarouter_projections::runner::{projector_status, Runner};
use serde::Serialize;
use utoipa::ToSchema;

use super::dto::ListResponse;
use super::extract::ApiPath;
use crate::app::AppState;
use crate::auth::Principal;
use crate::error::{ApiError, ApiResult};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/v1/projections", get(list_projections))
        .route("/v1/projections/{name}/rebuild", post(rebuild_projection))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ProjectionDto {
    pub name: String,
    pub position: i64,
    pub events_applied: i64,
    pub lag_events: i64,
    pub lag_seconds: f64,
    /// `running`, `catching_up`, `rebuilding` or `stopped`.
    pub state: String,
    /// While rebuilding in the answering process: events replayed and total.
    pub progress: Option<ProgressDto>,
    pub updated_at: DateTime<Utc>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ProgressDto {
    pub applied: i64,
    pub total: i64,
}

#[utoipa::path(get, path = "/v1/projections", tag = "projections",
    responses((status = 200, body = ListResponse<ProjectionDto>), (status = 403)))]
pub(crate) async fn list_projections(
    State(state): State<AppState>,
    principal: Principal,
) -> ApiResult<Json<ListResponse<ProjectionDto>>> {
    principal.require_admin()?;
    let statuses = projector_status(&state.pool, &state.projections).await?;
    let data = statuses
        .into_iter()
        .map(|s| ProjectionDto {
            name: s.name,
            position: s.position,
            events_applied: s.events_applied,
            lag_events: s.lag_events,
            lag_seconds: s.lag_seconds,
            state: s.state,
            progress: s.rebuild_progress.map(|(applied, total)| ProgressDto { applied, total }),
            updated_at: s.updated_at,
        })
        .collect();
    Ok(Json(ListResponse::new(data, false)))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct RebuildAccepted {
    pub name: String,
    pub state: &'static str,
}

#[utoipa::path(post, path = "/v1/projections/{name}/rebuild", params(("name" = String, Path)), tag = "projections",
    responses((status = 202, body = RebuildAccepted), (status = 403), (status = 404)))]
pub(crate) async fn rebuild_projection(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath(name): ApiPath<String>,
) -> ApiResult<(StatusCode, Json<RebuildAccepted>)> {
    principal.require_admin()?;
    if state.projections.find(&name).is_none() {
        return Err(ApiError::not_found("projection_not_found", format!("no projection named `{name}`")));
    }
    state.projections.register().await?;
    Runner::request_rebuild(&state.pool, &name).await?;
    Ok((StatusCode::ACCEPTED, Json(RebuildAccepted { name, state: "rebuilding" })))
}
