//! `RequestRefused`: a request of a known key that GaiaRouter turned away before
//! any provider saw it (over a limit, invalid, unknown model, revoked key,
//! suspended organization, no deployment available). It is the second event a
//! `Request` stream can hold (alone: a refused request never completes).
//!
//! Identical refusals of one key close together are folded into one event with
//! a `count`: a tenant hammering a key over its limit must not write one event
//! per refused request (the refusal is cheap; the record must stay cheap too),
//! yet every refusal is counted.

use chrono::{DateTime, Utc};
use cqrs_es::DomainEvent;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::MAX_MODEL_ID_LEN;

pub const EVENT_TYPE: &str = "RequestRefused";
pub const EVENT_VERSION: &str = "1.0";

/// Longest reason code and message kept: codes are short identifiers, messages
/// the sentence the client got (which may quote the client's input).
pub const MAX_REASON_LEN: usize = 64;
pub const MAX_MESSAGE_LEN: usize = 300;

/// Reasons whose model is whatever the client typed (an unknown or malformed
/// model id): the rollups count them under no model, so a tenant cannot create a
/// rollup row per invented model name. The event keeps the model as sent.
pub const MODEL_NOT_TRUSTED: [&str; 2] = ["model_not_found", "invalid_request"];

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RequestRefused {
    pub organization_id: Uuid,
    pub api_key_id: Uuid,
    /// The model id as the client sent it (made printable and bounded; empty when
    /// the body could not be read).
    pub model: String,
    /// The API the client called: "chat_completions" or "messages".
    pub ingress: String,
    /// The HTTP status answered.
    pub http_status: u16,
    /// The error code answered (`api_key_monthly_requests_limit`, `model_not_found`).
    pub reason: String,
    /// The error message answered.
    pub message: String,
    /// How many identical refusals this event stands for (at least 1).
    pub count: u64,
    pub first_at: DateTime<Utc>,
    pub last_at: DateTime<Utc>,
}

impl RequestRefused {
    /// The model the rollups count this refusal under (see `MODEL_NOT_TRUSTED`).
    pub fn rollup_model(&self) -> &str {
        if MODEL_NOT_TRUSTED.contains(&self.reason.as_str()) {
            ""
        } else {
            &self.model
        }
    }
}

/// Makes client-controlled text safe to store and show: printable characters
/// only (control characters, including NUL which jsonb cannot hold, become `?`),
/// at most `max` characters.
pub fn printable(text: &str, max: usize) -> String {
    text.chars().take(max).map(|c| if c.is_control() { '?' } else { c }).collect()
}

/// A model id as sent, fit for a refusal record: ASCII-printable, bounded like
/// every recorded model id.
pub fn model_as_sent(model: &str) -> String {
    model.chars().take(MAX_MODEL_ID_LEN).map(|c| if c.is_ascii_graphic() { c } else { '?' }).collect()
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum RefusalEvent {
    RequestRefused(RequestRefused),
}

impl DomainEvent for RefusalEvent {
    fn event_type(&self) -> String {
        EVENT_TYPE.to_string()
    }

    fn event_version(&self) -> String {
        EVENT_VERSION.to_string()
    }
}

/// Reads a stored `RequestRefused` payload.
pub fn decode_json(text: &str) -> Result<RequestRefused, serde_json::Error> {
    serde_json::from_str::<RefusalEvent>(text).map(|RefusalEvent::RequestRefused(e)| e)
}

pub fn decode_value(value: &serde_json::Value) -> Result<RequestRefused, serde_json::Error> {
    RefusalEvent::deserialize(value).map(|RefusalEvent::RequestRefused(e)| e)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refused(reason: &str) -> RequestRefused {
        let at = DateTime::<Utc>::UNIX_EPOCH;
        RequestRefused {
            organization_id: Uuid::from_u128(1),
            api_key_id: Uuid::from_u128(2),
            model: "made-up-model".into(),
            ingress: "chat_completions".into(),
            http_status: 404,
            reason: reason.into(),
            message: "no such model".into(),
            count: 3,
            first_at: at,
            last_at: at,
        }
    }

    #[test]
    fn given_an_unknown_model_when_rolled_up_then_it_counts_under_no_model() {
        assert_eq!(refused("model_not_found").rollup_model(), "");
        assert_eq!(refused("invalid_request").rollup_model(), "");
        assert_eq!(refused("api_key_monthly_requests_limit").rollup_model(), "made-up-model");
    }

    #[test]
    fn client_text_is_made_printable_and_bounded() {
        assert_eq!(printable("a\u{0}b\nc", 300), "a?b?c");
        assert_eq!(printable(&"x".repeat(500), 300).len(), 300);
        assert_eq!(model_as_sent("gpt 4\u{0}"), "gpt?4?");
        assert_eq!(model_as_sent(&"m".repeat(400)).len(), MAX_MODEL_ID_LEN);
    }

    #[test]
    fn a_stored_refusal_reads_back() {
        let event = refused("model_not_found");
        let text = serde_json::to_string(&RefusalEvent::RequestRefused(event.clone())).unwrap_or_default();
        assert_eq!(decode_json(&text).ok(), Some(event.clone()));
        let value = serde_json::to_value(RefusalEvent::RequestRefused(event.clone())).unwrap_or_default();
        assert_eq!(decode_value(&value).ok(), Some(event));
    }
}
