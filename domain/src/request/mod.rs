//! The Request aggregate: one per gateway request (id = UUIDv7), with exactly one
//! event, `RequestCompleted`. Per-request streams never conflict and never grow.

use chrono::{DateTime, Datelike, NaiveDate, Utc};
use cqrs_es::DomainEvent;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::Money;

pub const AGGREGATE_TYPE: &str = "Request";
pub const EVENT_TYPE: &str = "RequestCompleted";
/// The version the gateway writes. Older versions are upcast on reading (see
/// `upcast`): "1.0" had no deployments and attempts, "2.0" no ingress, cache
/// writes or reasoning tokens, "3.0" no mark of estimated usage.
pub const EVENT_VERSION: &str = "4.0";

pub mod refused;
mod upcast;
pub use refused::RequestRefused;
pub use upcast::{decode_json, decode_value};

/// The first day of the UTC calendar month of `at`: monthly limits and counters
/// are keyed by it. A request counts in the month it started.
pub fn month_of(at: DateTime<Utc>) -> NaiveDate {
    NaiveDate::from_ymd_opt(at.year(), at.month(), 1).unwrap_or(NaiveDate::MIN)
}

/// Longest model id a client may send. Real ids are far shorter
/// (`accounts/fireworks/models/llama-v3p1-405b-instruct` is 50); the bound keeps
/// every id inside the rollups' index rows and the request log.
pub const MAX_MODEL_ID_LEN: usize = 256;

/// Most of any one token figure (prompt, completion, cached, cache writes,
/// reasoning) a `RequestCompleted` carries. A provider's usage is its own report,
/// and a glitching or lying upstream can say anything up to `u64::MAX`; recorded
/// as said, one answer would fill an organization's counters, after which every
/// addition to them overflows. 2^32 is hundreds of times the largest context
/// window, and a billion answers at the bound still fit the counters.
pub const MAX_RECORDED_TOKENS: u64 = 1 << 32;

/// Most web searches one answer is billed for (see [`MAX_RECORDED_TOKENS`]).
pub const MAX_RECORDED_SEARCHES: u64 = 1 << 16;

/// Most one request is recorded to cost, in nano-USD (2^44: about $17,592). Its
/// tokens are bounded, but its price is an operator's to set and may be absurd; a
/// cost at this bound is far above any real request's, and any number of them in
/// flight at once still fits the counters and the leases' arithmetic.
pub const MAX_RECORDED_COST_NANOS: i64 = 1 << 44;

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ModelIdError {
    #[error("must not be empty")]
    Empty,
    #[error("must be at most 256 characters")]
    TooLong,
    #[error("may contain only printable ASCII without spaces")]
    InvalidCharacter,
}

/// The model id a client sends is recorded in every `RequestCompleted` and keys
/// the rollups, so it is checked before anything is admitted: 1 to 256 printable
/// ASCII characters, no white space (every provider's ids fit: `gpt-4o`,
/// `anthropic/claude-sonnet-4-5`, `meta-llama/Llama-3.1-8B-Instruct:free`).
pub fn check_model_id(model: &str) -> Result<(), ModelIdError> {
    if model.is_empty() {
        return Err(ModelIdError::Empty);
    }
    if model.len() > MAX_MODEL_ID_LEN {
        return Err(ModelIdError::TooLong);
    }
    if !model.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(ModelIdError::InvalidCharacter);
    }
    Ok(())
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RequestStatus {
    Success,
    Error,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RequestCompleted {
    pub organization_id: Uuid,
    pub api_key_id: Uuid,
    /// The model id the client asked for (`anthropic/claude-sonnet-4-5`).
    pub model: String,
    pub provider: String,
    pub prompt_tokens: u64,
    pub completion_tokens: u64,
    pub cached_tokens: u64,
    pub cost: Money,
    pub latency_ms: u64,
    pub time_to_first_token_ms: Option<u64>,
    pub status: RequestStatus,
    /// HTTP status answered to the client.
    pub http_status: u16,
    pub error_kind: Option<String>,
    pub streamed: bool,
    pub started_at: DateTime<Utc>,
    pub finished_at: DateTime<Utc>,
    /// The deployment that served (or last failed): "<route>/<deployment id>" for routes,
    /// "<provider>" for built-in model ids. Empty string when unknown (old events).
    pub deployment: String,
    /// Every upstream attempt in order (retries, fallbacks); empty for old events.
    pub attempts: Vec<Attempt>,
    /// The API the client called: "chat_completions" or "messages" (3.0; older
    /// events were all chat completions).
    pub ingress: String,
    /// Prompt tokens written to the provider's cache (part of `prompt_tokens`), of
    /// which `cache_write_1h_tokens` with a one-hour lifetime: priced apart (3.0).
    /// Written only when not zero (most requests write no cache and do not reason):
    /// every request's event is fsynced before its answer, so bytes are latency.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub cache_write_tokens: u64,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub cache_write_1h_tokens: u64,
    /// Completion tokens spent on reasoning (part of `completion_tokens`) (3.0).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub reasoning_tokens: u64,
    /// The prompt and completion tokens are the gateway's estimate, not the
    /// provider's report (4.0): an upstream answered but its usage never came, or
    /// came cut short (no `usage` at all, the client left mid-stream, the stream
    /// broke). Counted against limits like reported usage; written only when true.
    #[serde(default, skip_serializing_if = "is_false")]
    pub usage_estimated: bool,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

fn is_false(b: &bool) -> bool {
    !*b
}

/// The ingress every event before 3.0 came in by.
pub const CHAT_COMPLETIONS: &str = "chat_completions";

/// One call to an upstream deployment within a request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Attempt {
    pub deployment: String,
    pub provider: String,
    /// The upstream model (the model id the client sent when the gateway does not know better).
    pub model: String,
    /// Upstream status; 0 = no answer (connect error, timeout).
    pub http_status: u16,
    pub error_kind: Option<String>,
    pub latency_ms: u64,
}

impl Attempt {
    /// The only attempt of a request that went to one provider, without retries:
    /// what the gateway recorded before routes (and what a "1.0" event upcasts to,
    /// so old and new single-provider requests read alike). The upstream model is
    /// not known there, so it is the model id the client sent.
    pub fn single(request: &RequestCompleted) -> Self {
        Attempt {
            deployment: request.deployment.clone(),
            provider: request.provider.clone(),
            model: request.model.clone(),
            http_status: request.http_status,
            error_kind: request.error_kind.clone(),
            latency_ms: request.latency_ms,
        }
    }
}

impl RequestCompleted {
    /// The event with each token figure at most [`MAX_RECORDED_TOKENS`] and its cost
    /// at most [`MAX_RECORDED_COST_NANOS`]: as the gateway records it, and as every
    /// reader reads an event written before the bounds (`decode_json`,
    /// `decode_value`), so projections rebuilt from old absurd reports agree with
    /// what is recorded today.
    pub fn within_bounds(mut self) -> Self {
        for figure in [
            &mut self.prompt_tokens,
            &mut self.completion_tokens,
            &mut self.cached_tokens,
            &mut self.cache_write_tokens,
            &mut self.cache_write_1h_tokens,
            &mut self.reasoning_tokens,
        ] {
            *figure = (*figure).min(MAX_RECORDED_TOKENS);
        }
        self.cost = self.cost.min(Money::from_nanos(MAX_RECORDED_COST_NANOS));
        self
    }

    pub fn total_tokens(&self) -> u64 {
        self.prompt_tokens.saturating_add(self.completion_tokens)
    }

    pub fn month(&self) -> NaiveDate {
        month_of(self.started_at)
    }

    /// The UTC day the request is counted in.
    pub fn day(&self) -> NaiveDate {
        self.started_at.date_naive()
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    #[test]
    fn months_are_utc_calendar_months() {
        let last_instant = Utc.with_ymd_and_hms(2026, 1, 31, 23, 59, 59).single().unwrap_or_default();
        assert_eq!(month_of(last_instant), NaiveDate::from_ymd_opt(2026, 1, 1).unwrap_or_default());
        let next = Utc.with_ymd_and_hms(2026, 2, 1, 0, 0, 0).single().unwrap_or_default();
        assert_eq!(month_of(next), NaiveDate::from_ymd_opt(2026, 2, 1).unwrap_or_default());
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum RequestEvent {
    RequestCompleted(RequestCompleted),
}

impl DomainEvent for RequestEvent {
    fn event_type(&self) -> String {
        "RequestCompleted".to_string()
    }

    fn event_version(&self) -> String {
        EVENT_VERSION.to_string()
    }
}
