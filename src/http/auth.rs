//! `/v1/auth/login` (operator password or API key → session token) and `/v1/auth/me`.

use axum::extract::State;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use super::extract::ApiJson;
use crate::app::AppState;
use crate::auth::jwt::SubjectKind;
use crate::auth::{authenticate_api_key, Principal};
use crate::error::{ApiError, ApiResult};

pub fn router() -> Router<AppState> {
    Router::new().route("/v1/auth/login", post(login)).route("/v1/auth/me", get(me))
}

/// Either `username` + `password` (operator) or `api_key`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LoginRequest {
    pub username: Option<String>,
    pub password: Option<String>,
    pub api_key: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TokenResponse {
    pub access_token: String,
    pub token_type: &'static str,
    /// Seconds until the token expires.
    pub expires_in: i64,
}

#[utoipa::path(post, path = "/v1/auth/login", request_body = LoginRequest, tag = "auth",
    responses((status = 200, body = TokenResponse), (status = 401)))]
pub(crate) async fn login(
    State(state): State<AppState>,
    ApiJson(body): ApiJson<LoginRequest>,
) -> ApiResult<Json<TokenResponse>> {
    let (subject, kind) = match (body.username, body.password, body.api_key) {
        (Some(username), Some(password), None) => {
            let (id, _) = state
                .admin
                .verify_operator(&username, &password)
                .await?
                .ok_or_else(|| ApiError::unauthorized("wrong username or password"))?;
            (id, SubjectKind::Operator)
        }
        (None, None, Some(api_key)) => {
            let principal = authenticate_api_key(&state.pool, &api_key).await?;
            (principal.id(), SubjectKind::ApiKey)
        }
        _ => {
            return Err(ApiError::bad_request("invalid_login", "send either `username` and `password`, or `api_key`"));
        }
    };
    let access_token = state.jwt.issue(subject, kind).map_err(ApiError::internal)?;
    Ok(Json(TokenResponse { access_token, token_type: "Bearer", expires_in: state.jwt.ttl_seconds }))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Me {
    /// `operator` or `api_key`.
    pub kind: &'static str,
    pub id: Uuid,
    pub name: String,
    pub permission: &'static str,
    pub organization_id: Option<Uuid>,
}

#[utoipa::path(get, path = "/v1/auth/me", tag = "auth", responses((status = 200, body = Me), (status = 401)))]
pub(crate) async fn me(principal: Principal) -> Json<Me> {
    let organization_id = match &principal {
        Principal::ApiKey { organization_id, .. } => Some(*organization_id),
        Principal::Operator { .. } => None,
    };
    Json(Me {
        kind: principal.kind(),
        id: principal.id(),
        name: principal.name().to_string(),
        permission: principal.permission().as_str(),
        organization_id,
    })
}
