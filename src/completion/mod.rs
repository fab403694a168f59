//! The completion path's bookkeeping around a provider call: input checks, model
//! resolution, admission against monthly limits, and the `RequestCompleted` event
//! that every call which reached a provider ends with.

mod ticket;

pub use ticket::{Outcome, Ticket};

use std::sync::Arc;

use chrono::Utc;
use uuid::Uuid;

use crate::auth::key_cache::GatewayCaller;
use crate::error::ApiError;
use crate::gateway::openai::{validate, ChatCompletionRequest, MessageContent};
use crate::gateway::providers::Provider;
use crate::gateway::registry::RegistryError;
use crate::gateway::{ModelRegistry, ProviderError, ProviderSet};
use crate::usage::admission::{self, AdmissionRequest};
use crate::usage::month_of;
use crate::usage::recorder::Recorder;

pub struct CompletionService {
    pub pool: sqlx::PgPool,
    pub registry: ModelRegistry,
    pub providers: ProviderSet,
    pub recorder: Arc<Recorder>,
    /// This process's lock id, stored with its reservations.
    pub process_id: i32,
}

/// Everything about the request that later bookkeeping needs.
pub struct Admitted {
    pub provider: Arc<dyn Provider>,
    pub upstream_model: String,
    pub ticket: Ticket,
}

/// A rough token count of the prompt (4 bytes a token), for reservations only.
fn estimated_prompt_tokens(request: &ChatCompletionRequest) -> u64 {
    let bytes: usize = request
        .messages
        .iter()
        .map(|m| match &m.content {
            Some(MessageContent::Text(text)) => text.len(),
            Some(other) => other.text().len(),
            None => 0,
        })
        .sum();
    (bytes / 4 + 1) as u64
}

pub fn provider_error(error: &ProviderError) -> ApiError {
    let status = axum::http::StatusCode::from_u16(error.http_status()).unwrap_or(axum::http::StatusCode::BAD_GATEWAY);
    ApiError::new(status, error.kind(), error.to_string())
}

impl CompletionService {
    /// Checks the input, resolves the model and admits the request. Nothing is
    /// recorded when this fails: the request never reached a provider.
    pub async fn admit(&self, caller: &GatewayCaller, request: &ChatCompletionRequest) -> Result<Admitted, ApiError> {
        validate(request).map_err(|e| {
            let param = e.param();
            ApiError::bad_request("invalid_request", e.to_string()).with_param(param)
        })?;
        let resolved = self.registry.resolve(&request.model).map_err(|e| match e {
            RegistryError::UnknownModel(_) | RegistryError::UnknownProvider { .. } => {
                ApiError::not_found("model_not_found", e.to_string()).with_param("model")
            }
            other => ApiError::bad_request("invalid_model", other.to_string()).with_param("model"),
        })?;
        let provider = self.providers.get(&resolved.provider).ok_or_else(|| {
            ApiError::not_found(
                "model_not_found",
                format!("provider `{}` is not configured on this gateway (set its API key)", resolved.provider),
            )
            .with_param("model")
        })?;
        let started_at = Utc::now();
        let request_id = Uuid::now_v7();
        let estimated_tokens = estimated_prompt_tokens(request);
        let reservation = admission::admit(
            &self.pool,
            &AdmissionRequest {
                request_id,
                month: month_of(started_at),
                organization_id: caller.key.organization_id,
                api_key_id: caller.key.id,
                organization_limits: caller.organization_limits,
                key_limits: caller.key.limits,
                estimated_tokens: i64::try_from(estimated_tokens).unwrap_or(i64::MAX),
                estimated_cost_nanos: resolved.price.cost(estimated_tokens, 0, 0).nanos(),
                owner: self.process_id,
            },
        )
        .await?;
        let ticket = Ticket::new(
            request_id,
            caller,
            request.model.clone(),
            resolved.provider.clone(),
            resolved.price,
            request.is_stream(),
            started_at,
            reservation,
            Arc::clone(&self.recorder),
        );
        Ok(Admitted { provider, upstream_model: resolved.upstream_model, ticket })
    }

    /// Records the outcome and waits for the commit. If it cannot be recorded the
    /// client gets a 503 instead of an unrecorded answer, and the reservation is
    /// given back. Cancelled while waiting for room in the recorder's queue, the
    /// ticket is dropped unspent and records itself as a disconnect.
    pub async fn finish(&self, ticket: Ticket, outcome: Outcome) -> Result<(), ApiError> {
        let request_id = ticket.request_id;
        let reserved = ticket.has_reservation();
        match self.recorder.record_with(move || ticket.into_record(outcome)).await {
            Ok(()) => Ok(()),
            Err(error) => {
                if reserved {
                    if let Err(e) = admission::release(&self.pool, &[request_id]).await {
                        tracing::error!(error = %e, "releasing a reservation failed; it expires later");
                    }
                }
                Err(ApiError::unavailable(error))
            }
        }
    }
}
