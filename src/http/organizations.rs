//! `/v1/organizations`: create, list, read (also as of a past moment), change, delete.

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Json, Router};
use chrono::{DateTime, Utc};
use gaiarouter_domain::organization::{Organization, OrganizationStatus};
use gaiarouter_domain::Limits;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use super::dto::attach_usage;
use super::dto::{double_option, page_limit, Deleted, LimitsDto, ListResponse, PageParams, UsageDto, WithUsage};
use super::extract::{ApiJson, ApiPath, ApiQuery};
use super::RequestContext;
use crate::admin::organizations::OrganizationChanges;
use crate::admin::read::{self, limits_from_json, OrganizationRow};
use crate::auth::Principal;
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;
use gaiarouter_domain::Permission;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/v1/organizations", get(list_organizations).post(create_organization))
        .route("/v1/organizations/{id}", get(get_organization).patch(update_organization).delete(delete_organization))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct OrganizationDto {
    pub id: Uuid,
    pub object: &'static str,
    pub name: String,
    /// `active`, `suspended` or `deleted`.
    pub status: String,
    pub limits: LimitsDto,
    /// Whether request and response bodies are stored for the request log (off by default).
    pub log_bodies: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// The sequence of the last event applied.
    pub version: i64,
    /// When its last request that was not refused started (null if never, and for past states).
    pub last_used_at: Option<DateTime<Utc>>,
    /// This month's usage (absent for past states).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub usage: Option<UsageDto>,
}

impl WithUsage for OrganizationDto {
    fn usage_owner(&self) -> Uuid {
        self.id
    }

    fn limits(&self) -> Result<Limits, ApiError> {
        self.limits.to_limits()
    }

    fn set_usage(&mut self, usage: UsageDto) {
        self.last_used_at = usage.last_used_at;
        self.usage = Some(usage);
    }
}

async fn with_usage(state: &AppState, rows: Vec<OrganizationRow>) -> ApiResult<Vec<OrganizationDto>> {
    attach_usage(&state.pool, "organization", rows.into_iter().map(Into::into).collect()).await
}

async fn one_with_usage(state: &AppState, row: OrganizationRow) -> ApiResult<OrganizationDto> {
    with_usage(state, vec![row]).await?.pop().ok_or_else(not_found)
}

impl From<OrganizationRow> for OrganizationDto {
    fn from(row: OrganizationRow) -> Self {
        OrganizationDto {
            id: row.id,
            object: "organization",
            name: row.name,
            status: row.status,
            limits: LimitsDto::from_limits(&limits_from_json(row.limits)),
            log_bodies: row.log_bodies,
            created_at: row.created_at,
            updated_at: row.updated_at,
            version: row.version,
            last_used_at: None,
            usage: None,
        }
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateOrganization {
    pub name: String,
    #[serde(default)]
    pub limits: Option<LimitsDto>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateOrganization {
    pub name: Option<String>,
    /// A JSON merge patch of the limits: a field present replaces that limit,
    /// `null` removes it, an absent field is kept. `"limits": null` removes all.
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<LimitsDto>)]
    pub limits: Option<Option<serde_json::Value>>,
    /// `active` (reactivate) or `suspended`.
    #[schema(value_type = Option<String>)]
    pub status: Option<OrganizationStatus>,
    /// Store request and response bodies apart from the events, with their own
    /// retention; `null` turns it off like `false` (the default).
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<bool>)]
    pub log_bodies: Option<Option<bool>>,
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AsOfParams {
    /// RFC 3339 time: answer the state at that moment, folded from the events.
    pub as_of: Option<DateTime<Utc>>,
}

fn not_found() -> ApiError {
    ApiError::not_found("organization_not_found", "organization not found")
}

/// Loads a live organization the caller may see; anything else is a 404.
async fn visible(state: &AppState, principal: &Principal, id: Uuid) -> ApiResult<OrganizationRow> {
    if !principal.can_see_organization(id) {
        return Err(not_found());
    }
    read::organization(&state.pool, id).await?.ok_or_else(not_found)
}

#[utoipa::path(post, path = "/v1/organizations", request_body = CreateOrganization, tag = "organizations",
    responses((status = 201, body = OrganizationDto), (status = 400), (status = 403), (status = 409)))]
pub(crate) async fn create_organization(
    State(state): State<AppState>,
    principal: Principal,
    context: RequestContext,
    ApiJson(body): ApiJson<CreateOrganization>,
) -> ApiResult<(StatusCode, Json<OrganizationDto>)> {
    principal.require_admin()?;
    let limits = body.limits.as_ref().map(LimitsDto::to_limits).transpose()?.unwrap_or(Limits::UNLIMITED);
    let id = state.admin.create_organization(&body.name, limits, &context.actor(&principal)).await?;
    let row = read::organization(&state.pool, id).await?.ok_or_else(not_found)?;
    Ok((StatusCode::CREATED, Json(one_with_usage(&state, row).await?)))
}

#[utoipa::path(get, path = "/v1/organizations", params(PageParams), tag = "organizations",
    responses((status = 200, body = ListResponse<OrganizationDto>)))]
pub(crate) async fn list_organizations(
    State(state): State<AppState>,
    principal: Principal,
    ApiQuery(params): ApiQuery<PageParams>,
) -> ApiResult<Json<ListResponse<OrganizationDto>>> {
    let limit = page_limit(params.limit)?;
    let page = read::organizations(&state.pool, principal.scope(), params.after, limit).await?;
    Ok(Json(ListResponse::new(with_usage(&state, page.rows).await?, page.has_more)))
}

#[utoipa::path(get, path = "/v1/organizations/{id}", params(("id" = Uuid, Path), AsOfParams), tag = "organizations",
    responses((status = 200, body = OrganizationDto), (status = 404)))]
pub(crate) async fn get_organization(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath(id): ApiPath<Uuid>,
    ApiQuery(params): ApiQuery<AsOfParams>,
) -> ApiResult<Json<OrganizationDto>> {
    let Some(as_of) = params.as_of else {
        let row = visible(&state, &principal, id).await?;
        return Ok(Json(one_with_usage(&state, row).await?));
    };
    if !principal.can_see_organization(id) {
        return Err(not_found());
    }
    let (past, version) =
        gaiarouter_projections::event_log::load_aggregate::<Organization>(&state.pool, &id.to_string(), Some(as_of))
            .await?;
    let past_state = past
        .state
        .ok_or_else(|| ApiError::not_found("organization_not_found", "organization did not exist at that time"))?;
    Ok(Json(OrganizationDto {
        id,
        object: "organization",
        name: past_state.name,
        status: past_state.status.as_str().to_string(),
        limits: LimitsDto::from_limits(&past_state.limits),
        log_bodies: past_state.log_bodies,
        created_at: past_state.created_at,
        updated_at: past_state.updated_at,
        version,
        last_used_at: None,
        usage: None,
    }))
}

#[utoipa::path(patch, path = "/v1/organizations/{id}", request_body = UpdateOrganization, params(("id" = Uuid, Path)),
    tag = "organizations", responses((status = 200, body = OrganizationDto), (status = 404), (status = 409)))]
pub(crate) async fn update_organization(
    State(state): State<AppState>,
    principal: Principal,
    context: RequestContext,
    ApiPath(id): ApiPath<Uuid>,
    ApiJson(body): ApiJson<UpdateOrganization>,
) -> ApiResult<Json<OrganizationDto>> {
    let current = visible(&state, &principal, id).await?;
    principal.require(Permission::Admin)?;
    let limits = match &body.limits {
        None => None,
        Some(None) => Some(Limits::UNLIMITED),
        Some(Some(patch)) => Some(LimitsDto::merge_patch(&limits_from_json(current.limits), patch)?),
    };
    let log_bodies = body.log_bodies.map(|enabled| enabled.unwrap_or(false));
    let changes = OrganizationChanges { name: body.name, limits, status: body.status, log_bodies };
    state.admin.update_organization(id, changes, &context.actor(&principal)).await?;
    let row = read::organization(&state.pool, id).await?.ok_or_else(not_found)?;
    Ok(Json(one_with_usage(&state, row).await?))
}

#[utoipa::path(delete, path = "/v1/organizations/{id}", params(("id" = Uuid, Path)), tag = "organizations",
    responses((status = 200, body = Deleted), (status = 404)))]
pub(crate) async fn delete_organization(
    State(state): State<AppState>,
    principal: Principal,
    context: RequestContext,
    ApiPath(id): ApiPath<Uuid>,
) -> ApiResult<Json<Deleted>> {
    visible(&state, &principal, id).await?;
    principal.require_admin()?;
    state.admin.delete_organization(id, &context.actor(&principal)).await?;
    Ok(Json(Deleted { id, object: "organization", deleted: true }))
}
