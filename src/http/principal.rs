//! Who is calling, taken from the `Authorization` header: the extractors for the
//! management API (`Principal`: an operator's session token or an API key) and,
//! through `bearer_token`, for the gateway (see `chat`). `crate::auth` decides;
//! this is only where HTTP meets it.

use axum::extract::FromRequestParts;
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;

use crate::auth::{authenticate_api_key, authenticate_jwt, secrets, Principal};
use crate::error::ApiError;
use crate::state::AppState;

pub fn bearer_token(parts: &Parts) -> Option<&str> {
    let value = parts.headers.get(AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then_some(token.trim())
}

impl FromRequestParts<AppState> for Principal {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let token = bearer_token(parts).ok_or_else(|| {
            ApiError::unauthorized("missing bearer token: send `Authorization: Bearer <API key or session token>`")
        })?;
        let principal = if token.starts_with(secrets::KEY_PREFIX) {
            authenticate_api_key(&state.pool, token).await
        } else {
            authenticate_jwt(&state.pool, &state.jwt, token).await
        };
        Ok(principal?)
    }
}
