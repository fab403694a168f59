//! `/v1/routes`: model names clients send, mapped to deployments and fallbacks.
//! Gateway-wide, so only operators and `admin` keys see or change them (whatever
//! a key's organization). Credentials appear by name only; `credential_set` says
//! whether this gateway can resolve the name, never what it holds.

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Json, Router};
use chrono::{DateTime, Utc};
use cqrs_es::Aggregate;
use gaiarouter_domain::route::{DeploymentSpec, Route, RouteSpec};
use gaiarouter_domain::Money;
use gaiarouter_projections::event_log;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use super::audit::AuditEntry;
use super::dto::{page_limit, Deleted, ListResponse, PageParams};
use super::extract::{ApiJson, ApiPath, ApiQuery};
use super::RequestContext;
use crate::auth::Principal;
use crate::error::{ApiError, ApiResult};
use crate::routing::credentials;
use crate::routing::input::{RouteInput, RoutePatch};
use crate::state::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/v1/routes", get(list_routes).post(create_route))
        .route("/v1/routes/{id}", get(get_route).patch(update_route).delete(delete_route))
        .route("/v1/routes/{id}/history", get(route_history))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct PriceDto {
    #[schema(value_type = f64)]
    pub input_per_million_usd: serde_json::Number,
    #[schema(value_type = Option<f64>)]
    pub cached_input_per_million_usd: Option<serde_json::Number>,
    #[schema(value_type = f64)]
    pub output_per_million_usd: serde_json::Number,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct DeploymentDto {
    pub id: String,
    pub provider: String,
    pub model: String,
    pub base_url: Option<String>,
    /// The credential's NAME (`env:VAR` or a config name); its value is never answered.
    pub credential: Option<String>,
    /// Whether this gateway process can resolve `credential` right now.
    pub credential_set: bool,
    pub weight: u32,
    pub priority: u32,
    /// In a stream, waiting for the response headers and for each next event
    /// (absent: 120 s). A plain answer is bounded by `total_timeout_ms` alone: its
    /// headers come when it is ready, so a first-byte bound would cut long reasoning.
    pub first_byte_timeout_ms: Option<u64>,
    /// A whole call, a stream included (absent: 600 s, and one hour for a stream).
    pub total_timeout_ms: Option<u64>,
    pub rpm: Option<u64>,
    pub tpm: Option<u64>,
    /// Absent: the catalog price of the upstream model.
    pub price: Option<PriceDto>,
    /// What the answering process has seen of this deployment (absent until it
    /// served a request). Health is per process: each replica learns on its own.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub health: Option<HealthDto>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct HealthDto {
    /// Skipped by the router until the cooldown ends (then one request probes it).
    pub cooling_down: bool,
    pub cooldown_remaining_ms: Option<u64>,
    /// Failures in a row; a success resets it.
    pub consecutive_failures: u32,
    pub in_flight: u32,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct RouteDto {
    pub id: Uuid,
    pub object: &'static str,
    pub name: String,
    pub deployments: Vec<DeploymentDto>,
    pub fallbacks: Vec<String>,
    /// `weighted_random` or `least_in_flight`.
    pub strategy: &'static str,
    pub max_attempts: u32,
    pub cooldown_after_failures: u32,
    pub cooldown_seconds: u32,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// The sequence of the last event applied.
    pub version: i64,
}

fn usd(money: Money) -> serde_json::Number {
    // Decimal text parsed back: exact for every nano-USD amount JSON can carry.
    money.to_usd_decimal().parse().unwrap_or_else(|_| serde_json::Number::from(0))
}

impl From<&DeploymentSpec> for DeploymentDto {
    fn from(d: &DeploymentSpec) -> Self {
        DeploymentDto {
            id: d.id.clone(),
            provider: d.provider.clone(),
            model: d.model.clone(),
            base_url: d.base_url.clone(),
            credential: d.credential.clone(),
            credential_set: d.credential.as_deref().is_some_and(credentials::is_set),
            weight: d.weight,
            priority: d.priority,
            first_byte_timeout_ms: d.first_byte_timeout_ms,
            total_timeout_ms: d.total_timeout_ms,
            rpm: d.rpm,
            tpm: d.tpm,
            price: d.price.as_ref().map(|p| PriceDto {
                input_per_million_usd: usd(p.input_per_million),
                cached_input_per_million_usd: p.cached_input_per_million.map(usd),
                output_per_million_usd: usd(p.output_per_million),
            }),
            health: None,
        }
    }
}

fn dto(id: Uuid, spec: &RouteSpec, created_at: DateTime<Utc>, updated_at: DateTime<Utc>, version: i64) -> RouteDto {
    RouteDto {
        id,
        object: "route",
        name: spec.name.clone(),
        deployments: spec.deployments.iter().map(Into::into).collect(),
        fallbacks: spec.fallbacks.clone(),
        strategy: spec.strategy.as_str(),
        max_attempts: spec.max_attempts,
        cooldown_after_failures: spec.cooldown_after_failures,
        cooldown_seconds: spec.cooldown_seconds,
        created_at,
        updated_at,
        version,
    }
}

#[derive(sqlx::FromRow)]
struct RouteRow {
    id: Uuid,
    version: i64,
    spec: serde_json::Value,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

impl RouteRow {
    fn into_dto(self) -> ApiResult<RouteDto> {
        let spec: RouteSpec = serde_json::from_value(self.spec).map_err(ApiError::internal)?;
        Ok(dto(self.id, &spec, self.created_at, self.updated_at, self.version))
    }
}

fn not_found() -> ApiError {
    ApiError::not_found("route_not_found", "route not found")
}

async fn live_route(state: &AppState, id: Uuid) -> ApiResult<RouteDto> {
    let row: Option<RouteRow> = sqlx::query_as(
        "SELECT id, version, spec, created_at, updated_at FROM route_view WHERE id = $1 AND NOT deleted",
    )
    .bind(id)
    .fetch_optional(&state.pool)
    .await?;
    let mut dto = row.ok_or_else(not_found)?.into_dto()?;
    with_health(state, &mut dto);
    Ok(dto)
}

/// Adds this process's view of each deployment (cooldown, failures, load).
fn with_health(state: &AppState, route: &mut RouteDto) {
    for deployment in &mut route.deployments {
        let label = format!("{}/{}", route.name, deployment.id);
        deployment.health = state.completions.health.view(&label).map(|h| HealthDto {
            cooling_down: h.cooldown_remaining_ms.is_some(),
            cooldown_remaining_ms: h.cooldown_remaining_ms,
            consecutive_failures: h.consecutive_failures,
            in_flight: h.in_flight,
        });
    }
}

#[utoipa::path(post, path = "/v1/routes", request_body = RouteInput, tag = "routes",
    responses((status = 201, body = RouteDto), (status = 400), (status = 403), (status = 409)))]
pub(crate) async fn create_route(
    State(state): State<AppState>,
    principal: Principal,
    context: RequestContext,
    ApiJson(body): ApiJson<RouteInput>,
) -> ApiResult<(StatusCode, Json<RouteDto>)> {
    principal.require_admin()?;
    let spec = body.to_spec()?;
    let id = state.admin.create_route(spec, &state.completions.registry, &context.actor(&principal)).await?;
    Ok((StatusCode::CREATED, Json(live_route(&state, id).await?)))
}

#[utoipa::path(get, path = "/v1/routes", params(PageParams), tag = "routes",
    responses((status = 200, body = ListResponse<RouteDto>), (status = 403)))]
pub(crate) async fn list_routes(
    State(state): State<AppState>,
    principal: Principal,
    ApiQuery(params): ApiQuery<PageParams>,
) -> ApiResult<Json<ListResponse<RouteDto>>> {
    principal.require_admin()?;
    let limit = page_limit(params.limit)?;
    let mut rows: Vec<RouteRow> = sqlx::query_as(
        "SELECT id, version, spec, created_at, updated_at FROM route_view \
         WHERE NOT deleted AND ($1::uuid IS NULL OR id > $1) ORDER BY id LIMIT $2",
    )
    .bind(params.after)
    .bind(limit + 1)
    .fetch_all(&state.pool)
    .await?;
    let has_more = rows.len() as i64 > limit;
    rows.truncate(limit as usize);
    let mut data = rows.into_iter().map(RouteRow::into_dto).collect::<ApiResult<Vec<_>>>()?;
    for route in &mut data {
        with_health(&state, route);
    }
    Ok(Json(ListResponse::new(data, has_more)))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct RouteAsOf {
    /// RFC 3339 time: answer the route as it was then, folded from its events.
    pub as_of: Option<DateTime<Utc>>,
}

#[utoipa::path(get, path = "/v1/routes/{id}", params(("id" = Uuid, Path), RouteAsOf), tag = "routes",
    responses((status = 200, body = RouteDto), (status = 403), (status = 404)))]
pub(crate) async fn get_route(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath(id): ApiPath<Uuid>,
    ApiQuery(params): ApiQuery<RouteAsOf>,
) -> ApiResult<Json<RouteDto>> {
    principal.require_admin()?;
    let Some(as_of) = params.as_of else {
        return Ok(Json(live_route(&state, id).await?));
    };
    let (past, version) = event_log::load_aggregate::<Route>(&state.pool, &id.to_string(), Some(as_of)).await?;
    match past.state {
        Some(past) if !past.deleted => Ok(Json(dto(id, &past.spec, past.created_at, past.updated_at, version))),
        _ => Err(ApiError::not_found("route_not_found", "route did not exist at that time")),
    }
}

#[utoipa::path(patch, path = "/v1/routes/{id}", request_body = RoutePatch, params(("id" = Uuid, Path)),
    tag = "routes", responses((status = 200, body = RouteDto), (status = 400), (status = 403), (status = 404),
    (status = 409)))]
pub(crate) async fn update_route(
    State(state): State<AppState>,
    principal: Principal,
    context: RequestContext,
    ApiPath(id): ApiPath<Uuid>,
    ApiJson(patch): ApiJson<RoutePatch>,
) -> ApiResult<Json<RouteDto>> {
    principal.require_admin()?;
    let change = |current: &RouteSpec| patch.apply_to(current);
    state.admin.update_route(id, change, &state.completions.registry, &context.actor(&principal)).await?;
    Ok(Json(live_route(&state, id).await?))
}

#[utoipa::path(delete, path = "/v1/routes/{id}", params(("id" = Uuid, Path)), tag = "routes",
    responses((status = 200, body = Deleted), (status = 403), (status = 404), (status = 409)))]
pub(crate) async fn delete_route(
    State(state): State<AppState>,
    principal: Principal,
    context: RequestContext,
    ApiPath(id): ApiPath<Uuid>,
) -> ApiResult<Json<Deleted>> {
    principal.require_admin()?;
    state.admin.delete_route(id, &context.actor(&principal)).await?;
    Ok(Json(Deleted { id, object: "route", deleted: true }))
}

#[utoipa::path(get, path = "/v1/routes/{id}/history", params(("id" = Uuid, Path)), tag = "audit",
    responses((status = 200, body = ListResponse<AuditEntry>), (status = 403), (status = 404)))]
pub(crate) async fn route_history(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath(id): ApiPath<Uuid>,
) -> ApiResult<Json<ListResponse<AuditEntry>>> {
    principal.require_admin()?;
    let events = event_log::load_stream(&state.pool, Route::TYPE, &id.to_string(), None).await?;
    if events.is_empty() {
        return Err(not_found());
    }
    Ok(Json(ListResponse::new(events.into_iter().map(Into::into).collect(), false)))
}
