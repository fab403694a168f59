//! `/v1/auth/login` (operator password or API key → session token), `/v1/auth/me`
//! and `/v1/auth/logout`.
//!
//! Operator logins are throttled per username and per client address (see
//! `auth::throttle`): while locked, attempts get a 429 with `Retry-After` without
//! checking the password. Every failure and every lockout is a `Login` event in
//! the audit trail (never the password).

use std::time::{Duration, Instant};

use axum::extract::State;
use axum::http::header::RETRY_AFTER;
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use chrono::Utc;
use gaiarouter_domain::login::{normalize_username, LockScope, LoginEvent};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use super::extract::ApiJson;
use super::RequestContext;
use crate::admin::operators::LoginCheck;
use crate::auth::jwt::SubjectKind;
use crate::auth::throttle::Lockout;
use crate::auth::{authenticate_api_key_session, login_audit, Principal};
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/v1/auth/login", post(login))
        .route("/v1/auth/me", get(me))
        .route("/v1/auth/logout", post(logout))
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

/// An error answer, with `Retry-After` when the client should come back later
/// (used by every route that hashes passwords).
pub struct LoginError {
    error: ApiError,
    retry_after: Option<Duration>,
}

impl From<ApiError> for LoginError {
    fn from(error: ApiError) -> Self {
        // A full password-hashing queue: the next slot is typically free within a second.
        let retry_after = (error.status == StatusCode::TOO_MANY_REQUESTS).then_some(Duration::from_secs(1));
        LoginError { error, retry_after }
    }
}

impl From<crate::admin::AdminError> for LoginError {
    fn from(error: crate::admin::AdminError) -> Self {
        ApiError::from(error).into()
    }
}

impl From<crate::auth::AuthError> for LoginError {
    fn from(error: crate::auth::AuthError) -> Self {
        ApiError::from(error).into()
    }
}

impl IntoResponse for LoginError {
    fn into_response(self) -> Response {
        let mut response = self.error.into_response();
        if let Some(wait) = self.retry_after {
            // Whole seconds, rounded up: never invite a retry before the lock ends.
            let seconds = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
            if let Ok(value) = HeaderValue::from_str(&seconds.max(1).to_string()) {
                response.headers_mut().insert(RETRY_AFTER, value);
            }
        }
        response
    }
}

fn locked(scope: LockScope, retry_after: Duration) -> LoginError {
    let what = match scope {
        LockScope::Username => "this username",
        LockScope::ClientIp => "this address",
    };
    LoginError {
        error: ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "too_many_login_attempts",
            format!("too many failed logins for {what}; retry later"),
        ),
        retry_after: Some(retry_after),
    }
}

#[utoipa::path(post, path = "/v1/auth/login", request_body = LoginRequest, tag = "auth", security(()),
    responses((status = 200, body = TokenResponse), (status = 401),
        (status = 429, description = "too many failed attempts or password checks; see `Retry-After`")))]
pub(crate) async fn login(
    State(state): State<AppState>,
    context: RequestContext,
    ApiJson(body): ApiJson<LoginRequest>,
) -> Result<Json<TokenResponse>, LoginError> {
    let (subject, kind, session_version) = match (body.username, body.password, body.api_key) {
        (Some(username), Some(password), None) => {
            let (id, version) = operator_login(&state, &context, &username, &password).await?;
            (id, SubjectKind::Operator, version)
        }
        (None, None, Some(api_key)) => {
            let (principal, version) = authenticate_api_key_session(&state.pool, &api_key).await?;
            (principal.id(), SubjectKind::ApiKey, version)
        }
        _ => {
            return Err(
                ApiError::bad_request("invalid_login", "send either `username` and `password`, or `api_key`").into()
            );
        }
    };
    let access_token = state.jwt.issue(subject, kind, session_version).map_err(ApiError::internal)?;
    Ok(Json(TokenResponse { access_token, token_type: "Bearer", expires_in: state.jwt.ttl_seconds }))
}

/// Checks an operator's password under the throttle; answers its id and session version.
async fn operator_login(
    state: &AppState,
    context: &RequestContext,
    username: &str,
    password: &str,
) -> Result<(Uuid, String), LoginError> {
    let tried = normalize_username(username);
    let ip = context.client_ip.as_deref();
    if let Err(lock) = state.login_throttle.check(&tried, ip, Instant::now()) {
        return Err(locked(lock.scope, lock.retry_after));
    }
    let known_user = match state.admin.verify_operator(username, password).await? {
        LoginCheck::Verified { id, session_version, .. } => {
            state.login_throttle.record_success(&tried);
            return Ok((id, session_version.to_string()));
        }
        LoginCheck::Refused => true,
        LoginCheck::UnknownUser => false,
    };
    let lockouts = state.login_throttle.record_failure(&tried, ip, Instant::now());
    let at = Utc::now();
    let mut events = vec![LoginEvent::LoginFailed { username: tried.clone(), known_user, at }];
    events.extend(lockouts.iter().map(|Lockout { scope, failures, duration }| LoginEvent::LoginLockedOut {
        username: tried.clone(),
        scope: *scope,
        failures: *failures,
        until: at + chrono::Duration::from_std(*duration).unwrap_or(chrono::Duration::MAX),
        at,
    }));
    let actor = crate::admin::Actor {
        request_id: context.request_id.clone(),
        client_ip: context.client_ip.clone(),
        user_agent: context.user_agent.clone(),
        ..login_audit::anonymous(&tried)
    };
    login_audit::record(&state.pool, &events, &actor).await?;
    // Not `invalid_api_key`: no key was presented (issue 13's first-day finding).
    Err(ApiError::new(axum::http::StatusCode::UNAUTHORIZED, "invalid_credentials", "wrong username or password").into())
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

/// Ends every session of the calling operator, on every device (an
/// `OperatorSessionsEnded` event). Sessions minted from an API key end when the
/// key is rotated or revoked, so key callers get a 400.
#[utoipa::path(post, path = "/v1/auth/logout", tag = "auth",
    responses((status = 204, description = "every session of the caller has ended"), (status = 400), (status = 401)))]
pub(crate) async fn logout(
    State(state): State<AppState>,
    principal: Principal,
    context: RequestContext,
) -> ApiResult<StatusCode> {
    let Principal::Operator { id, .. } = &principal else {
        return Err(ApiError::bad_request(
            "not_an_operator",
            "only operators have sessions to end; rotate or revoke an API key to end its sessions",
        ));
    };
    state.admin.end_operator_sessions(*id, &context.actor(&principal)).await?;
    Ok(StatusCode::NO_CONTENT)
}
