//! `/v1/operators`: list, create, disable, enable, delete operators, change
//! passwords and end sessions.
//!
//! Only operators manage operators. API keys, even `admin` ones, get a 403: a key
//! is a machine credential of one organization; letting it mint human dashboard
//! accounts would turn a leaked (rotatable) key into a permanent password login.

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use super::auth::LoginError;
use super::dto::{Deleted, ListResponse};
use super::extract::{ApiJson, ApiPath};
use super::RequestContext;
use crate::admin::operators::{self, OperatorRow};
use crate::auth::Principal;
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/v1/operators", get(list_operators).post(create_operator))
        .route("/v1/operators/{id}", get(get_operator).delete(delete_operator))
        .route("/v1/operators/{id}/disable", post(disable_operator))
        .route("/v1/operators/{id}/enable", post(enable_operator))
        .route("/v1/operators/{id}/password", post(change_password))
        .route("/v1/operators/{id}/sessions/end", post(end_sessions))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct OperatorDto {
    pub id: Uuid,
    pub object: &'static str,
    pub username: String,
    /// `active` or `disabled`.
    pub status: &'static str,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// The sequence of the last event applied.
    pub version: i64,
}

impl From<OperatorRow> for OperatorDto {
    fn from(row: OperatorRow) -> Self {
        OperatorDto {
            id: row.id,
            object: "operator",
            username: row.username,
            status: if row.disabled { "disabled" } else { "active" },
            created_at: row.created_at,
            updated_at: row.updated_at,
            version: row.version,
        }
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateOperator {
    pub username: String,
    /// At least 8 characters.
    pub password: String,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChangePassword {
    /// At least 8 characters.
    pub password: String,
    /// Required when changing one's own password.
    pub current_password: Option<String>,
}

/// The calling operator's id; anyone else is refused.
fn require_operator(principal: &Principal) -> ApiResult<Uuid> {
    match principal {
        Principal::Operator { id, .. } => Ok(*id),
        Principal::ApiKey { .. } => Err(ApiError::forbidden("only operators manage operators; API keys cannot")),
    }
}

fn not_found() -> ApiError {
    ApiError::not_found("operator_not_found", "operator not found")
}

async fn one(state: &AppState, id: Uuid) -> ApiResult<OperatorDto> {
    Ok(operators::find_operator(&state.pool, id).await?.ok_or_else(not_found)?.into())
}

#[utoipa::path(get, path = "/v1/operators", tag = "operators",
    responses((status = 200, body = ListResponse<OperatorDto>), (status = 403)))]
pub(crate) async fn list_operators(
    State(state): State<AppState>,
    principal: Principal,
) -> ApiResult<Json<ListResponse<OperatorDto>>> {
    require_operator(&principal)?;
    let rows = operators::list_operators(&state.pool).await?;
    Ok(Json(ListResponse::new(rows.into_iter().map(Into::into).collect(), false)))
}

#[utoipa::path(post, path = "/v1/operators", request_body = CreateOperator, tag = "operators",
    responses((status = 201, body = OperatorDto), (status = 400), (status = 403), (status = 409),
        (status = 429, description = "the password hashing queue is full; see `Retry-After`")))]
pub(crate) async fn create_operator(
    State(state): State<AppState>,
    principal: Principal,
    context: RequestContext,
    ApiJson(body): ApiJson<CreateOperator>,
) -> Result<(StatusCode, Json<OperatorDto>), LoginError> {
    require_operator(&principal)?;
    let id = state.admin.create_operator(&body.username, body.password, &context.actor(&principal)).await?;
    Ok((StatusCode::CREATED, Json(one(&state, id).await?)))
}

#[utoipa::path(get, path = "/v1/operators/{id}", params(("id" = Uuid, Path)), tag = "operators",
    responses((status = 200, body = OperatorDto), (status = 403), (status = 404)))]
pub(crate) async fn get_operator(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath(id): ApiPath<Uuid>,
) -> ApiResult<Json<OperatorDto>> {
    require_operator(&principal)?;
    Ok(Json(one(&state, id).await?))
}

#[utoipa::path(post, path = "/v1/operators/{id}/disable", params(("id" = Uuid, Path)), tag = "operators",
    responses((status = 200, body = OperatorDto), (status = 403), (status = 404),
        (status = 409, description = "yourself, the last active operator, or already disabled")))]
pub(crate) async fn disable_operator(
    State(state): State<AppState>,
    principal: Principal,
    context: RequestContext,
    ApiPath(id): ApiPath<Uuid>,
) -> ApiResult<Json<OperatorDto>> {
    require_operator(&principal)?;
    state.admin.disable_operator(id, &context.actor(&principal)).await?;
    Ok(Json(one(&state, id).await?))
}

#[utoipa::path(post, path = "/v1/operators/{id}/enable", params(("id" = Uuid, Path)), tag = "operators",
    responses((status = 200, body = OperatorDto), (status = 403), (status = 404), (status = 409)))]
pub(crate) async fn enable_operator(
    State(state): State<AppState>,
    principal: Principal,
    context: RequestContext,
    ApiPath(id): ApiPath<Uuid>,
) -> ApiResult<Json<OperatorDto>> {
    require_operator(&principal)?;
    state.admin.enable_operator(id, &context.actor(&principal)).await?;
    Ok(Json(one(&state, id).await?))
}

#[utoipa::path(delete, path = "/v1/operators/{id}", params(("id" = Uuid, Path)), tag = "operators",
    responses((status = 200, body = Deleted), (status = 403), (status = 404),
        (status = 409, description = "yourself or the last active operator")))]
pub(crate) async fn delete_operator(
    State(state): State<AppState>,
    principal: Principal,
    context: RequestContext,
    ApiPath(id): ApiPath<Uuid>,
) -> ApiResult<Json<Deleted>> {
    require_operator(&principal)?;
    state.admin.delete_operator(id, &context.actor(&principal)).await?;
    Ok(Json(Deleted { id, object: "operator", deleted: true }))
}

/// Sets a new password and ends the operator's sessions (a 429 with `Retry-After`
/// when the password hashing queue is full). Changing one's own
/// password needs `current_password`; another operator's does not (operators are
/// admins).
#[utoipa::path(post, path = "/v1/operators/{id}/password", params(("id" = Uuid, Path)), request_body = ChangePassword,
    tag = "operators",
    responses((status = 204), (status = 400), (status = 403, description = "not an operator, or wrong current password"),
        (status = 404), (status = 429)))]
pub(crate) async fn change_password(
    State(state): State<AppState>,
    principal: Principal,
    context: RequestContext,
    ApiPath(id): ApiPath<Uuid>,
    ApiJson(body): ApiJson<ChangePassword>,
) -> Result<StatusCode, LoginError> {
    let caller = require_operator(&principal)?;
    let current = if caller == id {
        Some(body.current_password.ok_or_else(|| {
            ApiError::bad_request("current_password_required", "changing your own password needs `current_password`")
                .with_param("current_password")
        })?)
    } else {
        None
    };
    one(&state, id).await?;
    state.admin.change_operator_password(id, body.password, current, &context.actor(&principal)).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Ends every session of the operator (its tokens stop working at once).
#[utoipa::path(post, path = "/v1/operators/{id}/sessions/end", params(("id" = Uuid, Path)), tag = "operators",
    responses((status = 204), (status = 403), (status = 404), (status = 409)))]
pub(crate) async fn end_sessions(
    State(state): State<AppState>,
    principal: Principal,
    context: RequestContext,
    ApiPath(id): ApiPath<Uuid>,
) -> ApiResult<StatusCode> {
    require_operator(&principal)?;
    state.admin.end_operator_sessions(id, &context.actor(&principal)).await?;
    Ok(StatusCode::NO_CONTENT)
}
