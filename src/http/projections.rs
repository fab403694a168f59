//! `/v1/projections`: status of each projector, the events each one quarantined
//! (could not apply, skipped), and rebuilds (admin only).

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use chrono::{DateTime, Utc};
use gaiarouter_projections::runner::{projector_status, quarantine, QuarantinedEvent, Runner};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::dto::ListResponse;
use super::extract::{ApiPath, ApiQuery};
use crate::auth::Principal;
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/v1/projections", get(list_projections))
        .route("/v1/projections/{name}/rebuild", post(rebuild_projection))
        .route("/v1/projections/{name}/quarantine", get(list_quarantine))
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
    /// Events this projection could not apply and skipped (listed under
    /// `/v1/projections/{name}/quarantine`).
    pub quarantined: i64,
    /// Why the latest of them was skipped (bounded text).
    pub last_quarantine_reason: Option<String>,
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
            quarantined: s.quarantined,
            last_quarantine_reason: s.last_quarantine_reason,
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

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct QuarantineParams {
    pub limit: Option<i64>,
    /// The `global_position` of the last entry of the previous page.
    pub before: Option<i64>,
}

/// An event the projection could not apply: where it is in the log and why. The
/// payload is never shown (read it from the event store if needed).
#[derive(Debug, Serialize, ToSchema)]
pub struct QuarantinedEventDto {
    pub projection: String,
    pub global_position: i64,
    pub aggregate_type: String,
    pub aggregate_id: String,
    pub sequence: i64,
    pub event_type: String,
    pub event_version: String,
    /// Bounded (500 characters), control characters replaced.
    pub reason: String,
    pub quarantined_at: DateTime<Utc>,
}

impl From<QuarantinedEvent> for QuarantinedEventDto {
    fn from(e: QuarantinedEvent) -> Self {
        QuarantinedEventDto {
            projection: e.projection,
            global_position: e.global_position,
            aggregate_type: e.aggregate_type,
            aggregate_id: e.aggregate_id,
            sequence: e.sequence,
            event_type: e.event_type,
            event_version: e.event_version,
            reason: e.reason,
            quarantined_at: e.quarantined_at,
        }
    }
}

#[utoipa::path(get, path = "/v1/projections/{name}/quarantine", params(("name" = String, Path), QuarantineParams),
    tag = "projections",
    responses((status = 200, body = ListResponse<QuarantinedEventDto>), (status = 400), (status = 403), (status = 404)))]
pub(crate) async fn list_quarantine(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath(name): ApiPath<String>,
    ApiQuery(params): ApiQuery<QuarantineParams>,
) -> ApiResult<Json<ListResponse<QuarantinedEventDto>>> {
    principal.require_admin()?;
    // Names are a fixed set: an unknown one is not echoed back (it is client input).
    let Some(projector) = state.projections.find(&name) else {
        return Err(ApiError::not_found("projection_not_found", "no projection by that name"));
    };
    let limit = super::dto::page_limit(params.limit)?;
    let mut rows = quarantine::list(&state.pool, projector.name(), params.before, limit + 1).await?;
    let has_more = rows.len() as i64 > limit;
    rows.truncate(usize::try_from(limit).unwrap_or(0));
    Ok(Json(ListResponse::new(rows.into_iter().map(Into::into).collect(), has_more)))
}
