//! `/v1/api-keys`: issue, list, read (also as of a past moment), change, rotate, revoke.

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use chrono::{DateTime, Utc};
use gaiarouter_domain::api_key::ApiKey;
use gaiarouter_domain::authorization::{authorize_key_action, Authority, KeyAction};
use gaiarouter_domain::{Limits, Permission};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use super::dto::attach_usage;
use super::dto::{double_option, page_limit, Deleted, LimitsDto, ListResponse, UsageDto, WithUsage};
use super::extract::{ApiJson, ApiPath, ApiQuery};
use super::organizations::AsOfParams;
use super::RequestContext;
use crate::admin::api_keys::{ApiKeyChanges, NewApiKey};
use crate::admin::read::{self, limits_from_json, ApiKeyRow};
use crate::auth::{secrets, Principal};
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/v1/api-keys", get(list_api_keys).post(create_api_key))
        .route("/v1/api-keys/{id}", get(get_api_key).patch(update_api_key).delete(revoke_api_key))
        .route("/v1/api-keys/{id}/rotate", post(rotate_api_key))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ApiKeyDto {
    pub id: Uuid,
    pub object: &'static str,
    pub organization_id: Uuid,
    pub name: String,
    /// `read`, `write` or `admin`.
    pub permission: String,
    pub limits: LimitsDto,
    /// The public start of the key (`gr-<public id>`), safe to display.
    pub prefix: String,
    /// `active`, `expired` or `revoked`.
    pub status: &'static str,
    pub expires_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub version: i64,
    /// When its last request that was not refused started (null if never, and for past states).
    pub last_used_at: Option<DateTime<Utc>>,
    /// This month's usage (absent for past states).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub usage: Option<UsageDto>,
    /// The full key: present only in the answers to create and rotate.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
}

fn status(revoked_at: Option<DateTime<Utc>>, expires_at: Option<DateTime<Utc>>) -> &'static str {
    if revoked_at.is_some() {
        "revoked"
    } else if expires_at.is_some_and(|e| e <= Utc::now()) {
        "expired"
    } else {
        "active"
    }
}

impl From<ApiKeyRow> for ApiKeyDto {
    fn from(row: ApiKeyRow) -> Self {
        ApiKeyDto {
            id: row.id,
            object: "api_key",
            organization_id: row.organization_id,
            name: row.name,
            permission: row.permission,
            limits: LimitsDto::from_limits(&limits_from_json(row.limits)),
            prefix: secrets::display_prefix(&row.public_id),
            status: status(row.revoked_at, row.expires_at),
            expires_at: row.expires_at,
            revoked_at: row.revoked_at,
            created_at: row.created_at,
            updated_at: row.updated_at,
            version: row.version,
            last_used_at: None,
            usage: None,
            key: None,
        }
    }
}

impl WithUsage for ApiKeyDto {
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

async fn with_usage(state: &AppState, rows: Vec<ApiKeyRow>) -> ApiResult<Vec<ApiKeyDto>> {
    attach_usage(&state.pool, "api_key", rows.into_iter().map(Into::into).collect()).await
}

async fn current(state: &AppState, id: Uuid) -> ApiResult<ApiKeyDto> {
    let row = read::api_key(&state.pool, id).await?.ok_or_else(not_found)?;
    with_usage(state, vec![row]).await?.pop().ok_or_else(not_found)
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateApiKey {
    /// Required for admins; keys default to their own organization.
    pub organization_id: Option<Uuid>,
    pub name: String,
    #[schema(value_type = String)]
    pub permission: Permission,
    pub limits: Option<LimitsDto>,
    pub expires_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateApiKey {
    pub name: Option<String>,
    #[schema(value_type = Option<String>)]
    pub permission: Option<Permission>,
    /// A JSON merge patch of the limits: a field present replaces that limit,
    /// `null` removes it, an absent field is kept. `"limits": null` removes all.
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<LimitsDto>)]
    pub limits: Option<Option<serde_json::Value>>,
    /// `null` removes the expiry.
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<DateTime<Utc>>)]
    pub expires_at: Option<Option<DateTime<Utc>>>,
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListApiKeysParams {
    pub organization_id: Option<Uuid>,
    pub limit: Option<i64>,
    pub after: Option<Uuid>,
}

fn not_found() -> ApiError {
    ApiError::not_found("api_key_not_found", "API key not found")
}

/// What the caller holds, the ceiling of what it may hand out (see
/// `gaiarouter_domain::authorization`). A non-admin key's own limits and expiry
/// are read fresh, so a limit an admin just set applies at once.
async fn authority(state: &AppState, principal: &Principal) -> ApiResult<Authority> {
    match principal {
        Principal::ApiKey { id, permission, .. } if *permission != Permission::Admin => {
            let own = read::api_key(&state.pool, *id)
                .await?
                .ok_or_else(|| ApiError::unauthorized("this API key no longer exists"))?;
            Ok(Authority::Key {
                permission: *permission,
                limits: Box::new(limits_from_json(own.limits)),
                expires_at: own.expires_at,
            })
        }
        _ => Ok(Authority::Admin),
    }
}

/// Applies the one key-management rule to `action` on `target` (`None` = a new key).
fn authorize(caller: &Authority, target: Option<&ApiKeyRow>, action: &KeyAction) -> ApiResult<()> {
    let target = match target {
        Some(row) => Some(Permission::parse(&row.permission).ok_or_else(|| ApiError::internal("unknown permission"))?),
        None => None,
    };
    Ok(authorize_key_action(caller, target, action)?)
}

async fn visible(state: &AppState, principal: &Principal, id: Uuid) -> ApiResult<ApiKeyRow> {
    let row = read::api_key(&state.pool, id).await?.ok_or_else(not_found)?;
    if principal.can_see_organization(row.organization_id) {
        Ok(row)
    } else {
        Err(not_found())
    }
}

#[utoipa::path(post, path = "/v1/api-keys", request_body = CreateApiKey, tag = "api-keys",
    responses((status = 201, body = ApiKeyDto), (status = 400), (status = 403), (status = 404)))]
pub(crate) async fn create_api_key(
    State(state): State<AppState>,
    principal: Principal,
    context: RequestContext,
    ApiJson(body): ApiJson<CreateApiKey>,
) -> ApiResult<(StatusCode, Json<ApiKeyDto>)> {
    let caller = authority(&state, &principal).await?;
    let organization_id = body.organization_id.or(principal.scope()).ok_or_else(|| {
        ApiError::bad_request("missing_organization_id", "organization_id is required").with_param("organization_id")
    })?;
    if !principal.can_see_organization(organization_id)
        || read::organization(&state.pool, organization_id).await?.is_none()
    {
        return Err(
            ApiError::not_found("organization_not_found", "organization not found").with_param("organization_id")
        );
    }
    let new = NewApiKey {
        organization_id,
        name: body.name,
        permission: body.permission,
        limits: body.limits.as_ref().map(LimitsDto::to_limits).transpose()?.unwrap_or(Limits::UNLIMITED),
        expires_at: body.expires_at,
    };
    let issue = KeyAction::Issue { permission: new.permission, limits: new.limits.clone(), expires_at: new.expires_at };
    authorize(&caller, None, &issue)?;
    let (id, key) = state.admin.issue_api_key(new, &context.actor(&principal)).await?;
    let mut dto = current(&state, id).await?;
    dto.key = Some(key);
    Ok((StatusCode::CREATED, Json(dto)))
}

#[utoipa::path(get, path = "/v1/api-keys", params(ListApiKeysParams), tag = "api-keys",
    responses((status = 200, body = ListResponse<ApiKeyDto>)))]
pub(crate) async fn list_api_keys(
    State(state): State<AppState>,
    principal: Principal,
    ApiQuery(params): ApiQuery<ListApiKeysParams>,
) -> ApiResult<Json<ListResponse<ApiKeyDto>>> {
    let limit = page_limit(params.limit)?;
    let organization_id = match (principal.scope(), params.organization_id) {
        (Some(own), Some(asked)) if own != asked => {
            return Err(
                ApiError::not_found("organization_not_found", "organization not found").with_param("organization_id")
            )
        }
        (Some(own), _) => Some(own),
        (None, asked) => asked,
    };
    let page = read::api_keys(&state.pool, organization_id, params.after, limit).await?;
    Ok(Json(ListResponse::new(with_usage(&state, page.rows).await?, page.has_more)))
}

#[utoipa::path(get, path = "/v1/api-keys/{id}", params(("id" = Uuid, Path), AsOfParams), tag = "api-keys",
    responses((status = 200, body = ApiKeyDto), (status = 404)))]
pub(crate) async fn get_api_key(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath(id): ApiPath<Uuid>,
    ApiQuery(params): ApiQuery<AsOfParams>,
) -> ApiResult<Json<ApiKeyDto>> {
    visible(&state, &principal, id).await?;
    let Some(as_of) = params.as_of else {
        return Ok(Json(current(&state, id).await?));
    };
    let (past, version) =
        gaiarouter_projections::event_log::load_aggregate::<ApiKey>(&state.pool, &id.to_string(), Some(as_of)).await?;
    let past =
        past.state.ok_or_else(|| ApiError::not_found("api_key_not_found", "API key did not exist at that time"))?;
    Ok(Json(ApiKeyDto {
        id,
        object: "api_key",
        organization_id: past.organization_id,
        name: past.name,
        permission: past.permission.as_str().to_string(),
        limits: LimitsDto::from_limits(&past.limits),
        prefix: secrets::display_prefix(&past.public_id),
        status: if past.revoked_at.is_some() {
            "revoked"
        } else if past.expires_at.is_some_and(|e| e <= as_of) {
            "expired"
        } else {
            "active"
        },
        expires_at: past.expires_at,
        revoked_at: past.revoked_at,
        created_at: past.created_at,
        updated_at: past.updated_at,
        version,
        last_used_at: None,
        usage: None,
        key: None,
    }))
}

#[utoipa::path(patch, path = "/v1/api-keys/{id}", request_body = UpdateApiKey, params(("id" = Uuid, Path)), tag = "api-keys",
    responses((status = 200, body = ApiKeyDto), (status = 403), (status = 404), (status = 409)))]
pub(crate) async fn update_api_key(
    State(state): State<AppState>,
    principal: Principal,
    context: RequestContext,
    ApiPath(id): ApiPath<Uuid>,
    ApiJson(body): ApiJson<UpdateApiKey>,
) -> ApiResult<Json<ApiKeyDto>> {
    let target = visible(&state, &principal, id).await?;
    let caller = authority(&state, &principal).await?;
    let limits = match &body.limits {
        None => None,
        Some(None) => Some(Limits::UNLIMITED),
        Some(Some(patch)) => Some(LimitsDto::merge_patch(&limits_from_json(target.limits.clone()), patch)?),
    };
    let changes = ApiKeyChanges { name: body.name, permission: body.permission, limits, expires_at: body.expires_at };
    // Every change is checked before any is made: a refused PATCH changes nothing.
    let actions = [
        changes.name.as_ref().map(|_| KeyAction::Rename),
        changes.permission.map(KeyAction::ChangePermission),
        changes.limits.clone().map(KeyAction::ChangeLimits),
        changes.expires_at.map(KeyAction::SetExpiry),
    ];
    if actions.iter().all(Option::is_none) {
        authorize(&caller, Some(&target), &KeyAction::Rename)?;
    }
    for action in actions.iter().flatten() {
        authorize(&caller, Some(&target), action)?;
    }
    state.admin.update_api_key(id, changes, &context.actor(&principal)).await?;
    Ok(Json(current(&state, id).await?))
}

#[utoipa::path(post, path = "/v1/api-keys/{id}/rotate", params(("id" = Uuid, Path)), tag = "api-keys",
    responses((status = 200, body = ApiKeyDto), (status = 404), (status = 409)))]
pub(crate) async fn rotate_api_key(
    State(state): State<AppState>,
    principal: Principal,
    context: RequestContext,
    ApiPath(id): ApiPath<Uuid>,
) -> ApiResult<Json<ApiKeyDto>> {
    let row = visible(&state, &principal, id).await?;
    authorize(&authority(&state, &principal).await?, Some(&row), &KeyAction::Rotate)?;
    let key = state.admin.rotate_api_key(id, &row.public_id, &context.actor(&principal)).await?;
    let mut dto = current(&state, id).await?;
    dto.key = Some(key);
    Ok(Json(dto))
}

#[utoipa::path(delete, path = "/v1/api-keys/{id}", params(("id" = Uuid, Path)), tag = "api-keys",
    responses((status = 200, body = Deleted), (status = 404)))]
pub(crate) async fn revoke_api_key(
    State(state): State<AppState>,
    principal: Principal,
    context: RequestContext,
    ApiPath(id): ApiPath<Uuid>,
) -> ApiResult<Json<Deleted>> {
    let row = visible(&state, &principal, id).await?;
    authorize(&authority(&state, &principal).await?, Some(&row), &KeyAction::Revoke)?;
    state.admin.revoke_api_key(id, &context.actor(&principal)).await?;
    Ok(Json(Deleted { id, object: "api_key", deleted: true }))
}
