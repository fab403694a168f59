//! Who calls the gateway, for both ingresses: a key by its secret, or a signed-in
//! administrator trying one of its keys in the playground. Also where a known
//! key's refused requests are noted: every refusal before any provider goes
//! through `refused` or `refused_at_edge`, so the request log and the stats see
//! them (the rule for what is a refusal lives with the errors themselves:
//! `EngineError::refusal_reason`, `AuthError::refusal_reason`). A key refused
//! again and again is answered after a pause (`Pace`): its client slows down,
//! not the requests of others.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use axum::http::request::Parts;
use uuid::Uuid;

use crate::auth::key_cache::GatewayCaller;
use crate::auth::{authenticate_jwt, secrets, AuthError};
use crate::completion::{EngineError, Ingress};
use crate::error::ApiError;
use crate::state::AppState;
use crate::usage::refusals::Refused;

/// The key a signed-in administrator acts as (the playground): its id.
pub const KEY_ID_HEADER: &str = "x-gaiarouter-key-id";

/// The caller `token` stands for. With `X-GaiaRouter-Key-Id`, the token must be a
/// session of an administrator who can see that key's organization; the request
/// then runs as that key (its limits, recorded against it), without its secret.
pub async fn authenticate(
    parts: &Parts,
    state: &AppState,
    token: &str,
    ingress: Ingress,
) -> Result<GatewayCaller, ApiError> {
    if let Some(value) = parts.headers.get(KEY_ID_HEADER) {
        return as_key(state, token, value.to_str().unwrap_or_default()).await;
    }
    let error = match state.keys.authenticate(token) {
        Ok(caller) => return Ok(caller),
        Err(error) => error,
    };
    if let (Some(reason), Some((organization_id, api_key_id))) = (error.refusal_reason(), state.keys.identify(token)) {
        let answer = ApiError::from(error);
        let pace = Pace::default();
        pace.hold(state.completions.refusals.refuse(Refused {
            organization_id,
            api_key_id,
            model: "",
            ingress: ingress.as_str(),
            http_status: answer.status.as_u16(),
            reason,
            message: &answer.message,
        }));
        pace.wait().await;
        return Err(answer);
    }
    Err(ApiError::from(error))
}

/// How long to pause before answering a request: set when it was refused for a
/// key that is hammering the gateway (see `usage::refusals`).
#[derive(Debug, Default)]
pub struct Pace(AtomicU64);

impl Pace {
    fn hold(&self, pause: Option<Duration>) {
        if let Some(pause) = pause {
            self.0.store(u64::try_from(pause.as_millis()).unwrap_or(u64::MAX), Ordering::Relaxed);
        }
    }

    /// Pauses if a refusal asked for it.
    pub async fn wait(&self) {
        let millis = self.0.load(Ordering::Relaxed);
        if millis > 0 {
            tokio::time::sleep(Duration::from_millis(millis)).await;
        }
    }
}

async fn as_key(state: &AppState, token: &str, key_id: &str) -> Result<GatewayCaller, ApiError> {
    if token.starts_with(secrets::KEY_PREFIX) {
        return Err(ApiError::bad_request(
            "invalid_request",
            "X-GaiaRouter-Key-Id is for a signed-in session; an API key speaks for itself",
        ));
    }
    let principal = authenticate_jwt(&state.pool, &state.jwt, token).await?;
    principal.require_admin()?;
    let not_found = || ApiError::not_found("api_key_not_found", "API key not found");
    let id = Uuid::parse_str(key_id).map_err(|_| not_found())?;
    let caller = state.keys.caller_by_id(id).map_err(|error| match error {
        AuthError::InvalidApiKey => not_found(),
        other => ApiError::from(other),
    })?;
    if !principal.can_see_organization(caller.key.organization_id) {
        return Err(not_found());
    }
    Ok(caller)
}

/// Notes a refusal by the engine (over a limit, unknown model, invalid request, no
/// deployment available); other errors were recorded as completed requests.
pub fn refused(
    state: &AppState,
    caller: &GatewayCaller,
    ingress: Ingress,
    model: &str,
    error: &EngineError,
    pace: &Pace,
) {
    if let Some(reason) = error.refusal_reason() {
        let message = error.to_string();
        pace.hold(state.completions.refusals.refuse(Refused {
            organization_id: caller.key.organization_id,
            api_key_id: caller.key.id,
            model,
            ingress: ingress.as_str(),
            http_status: error.http_status(),
            reason,
            message: &message,
        }));
    }
}

/// Notes a request refused at the edge before the engine saw it (a body that is
/// not JSON, or not a request): recorded as `invalid_request`.
pub fn refused_at_edge(
    state: &AppState,
    caller: &GatewayCaller,
    ingress: Ingress,
    model: &str,
    error: &ApiError,
    pace: &Pace,
) {
    pace.hold(state.completions.refusals.refuse(Refused {
        organization_id: caller.key.organization_id,
        api_key_id: caller.key.id,
        model,
        ingress: ingress.as_str(),
        http_status: error.status.as_u16(),
        reason: "invalid_request",
        message: &error.message,
    }));
}
