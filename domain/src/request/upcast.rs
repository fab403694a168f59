//! Reading stored `RequestCompleted` payloads of every version. Every reader of the
//! event store (projectors, rebuilds, tests) decodes through `decode_json` or
//! `decode_value`, so an old event reads the same everywhere.
//!
//! "3.0" (before estimated usage) had no `usage_estimated`: every 3.0 event
//! recorded the provider's report as it came, or zero tokens when none came, so
//! it upcasts to `usage_estimated: false` with its figures as written.
//!
//! "2.0" (before the Anthropic ingress) had no `ingress`, `cache_write_tokens`,
//! `cache_write_1h_tokens` or `reasoning_tokens`: every 2.0 request came in by
//! chat completions, and its cache writes and reasoning were not counted apart
//! (its cost was computed without them), so they upcast to zero.
//!
//! Every version is read within the bounds the gateway records today
//! (`RequestCompleted::within_bounds`): an upstream's absurd usage, recorded as
//! reported before them, reads as it would be recorded now.
//!
//! "1.0" (before routes) had no `deployment` and no `attempts`. Every 1.0 request
//! was admitted and handed to exactly one provider, without retries or fallbacks,
//! so it upcasts to `deployment = provider` and exactly one attempt built from the
//! request's own fields (`Attempt::single`): status, error kind and latency are the
//! request's, and the attempt's model is the id the client sent (the upstream
//! model was not recorded). The gateway writes that same shape for single-provider
//! requests today, so an old and a new request of the same call read alike.

use chrono::{DateTime, Utc};
use serde::de::Error as _;
use serde::Deserialize;
use serde_json::Value;
use uuid::Uuid;

use super::{Attempt, RequestCompleted, RequestEvent, RequestStatus, CHAT_COMPLETIONS, EVENT_VERSION};
use crate::Money;

/// The version written before deployments and attempts.
pub const V1: &str = "1.0";
/// The version written before ingresses, cache writes and reasoning tokens.
pub const V2: &str = "2.0";
/// The version written before estimated usage was marked.
pub const V3: &str = "3.0";

/// A 3.0 event: the 4.0 shape without `usage_estimated` (never estimated then).
fn from_v3(event: RequestEvent) -> RequestCompleted {
    let RequestEvent::RequestCompleted(event) = event;
    RequestCompleted { usage_estimated: false, ..event }
}

/// "2.0": every field of 3.0 but the ingress (all were chat completions) and the
/// cache-write and reasoning counts (not recorded: zero, as their cost was
/// computed without them).
#[derive(Debug, Deserialize)]
struct RequestCompletedV2 {
    organization_id: Uuid,
    api_key_id: Uuid,
    model: String,
    provider: String,
    prompt_tokens: u64,
    completion_tokens: u64,
    cached_tokens: u64,
    cost: Money,
    latency_ms: u64,
    time_to_first_token_ms: Option<u64>,
    status: RequestStatus,
    http_status: u16,
    error_kind: Option<String>,
    streamed: bool,
    started_at: DateTime<Utc>,
    finished_at: DateTime<Utc>,
    deployment: String,
    attempts: Vec<Attempt>,
}

#[derive(Debug, Deserialize)]
enum RequestEventV2 {
    RequestCompleted(RequestCompletedV2),
}

impl From<RequestEventV2> for RequestCompleted {
    fn from(event: RequestEventV2) -> Self {
        let RequestEventV2::RequestCompleted(old) = event;
        RequestCompleted {
            organization_id: old.organization_id,
            api_key_id: old.api_key_id,
            model: old.model,
            provider: old.provider,
            prompt_tokens: old.prompt_tokens,
            completion_tokens: old.completion_tokens,
            cached_tokens: old.cached_tokens,
            cost: old.cost,
            latency_ms: old.latency_ms,
            time_to_first_token_ms: old.time_to_first_token_ms,
            status: old.status,
            http_status: old.http_status,
            error_kind: old.error_kind,
            streamed: old.streamed,
            started_at: old.started_at,
            finished_at: old.finished_at,
            deployment: old.deployment,
            attempts: old.attempts,
            ingress: CHAT_COMPLETIONS.to_string(),
            cache_write_tokens: 0,
            cache_write_1h_tokens: 0,
            reasoning_tokens: 0,
            usage_estimated: false,
        }
    }
}

#[derive(Debug, Deserialize)]
struct RequestCompletedV1 {
    organization_id: Uuid,
    api_key_id: Uuid,
    model: String,
    provider: String,
    prompt_tokens: u64,
    completion_tokens: u64,
    cached_tokens: u64,
    cost: Money,
    latency_ms: u64,
    time_to_first_token_ms: Option<u64>,
    status: RequestStatus,
    http_status: u16,
    error_kind: Option<String>,
    streamed: bool,
    started_at: DateTime<Utc>,
    finished_at: DateTime<Utc>,
}

#[derive(Debug, Deserialize)]
enum RequestEventV1 {
    RequestCompleted(RequestCompletedV1),
}

impl From<RequestEventV1> for RequestCompleted {
    fn from(event: RequestEventV1) -> Self {
        let RequestEventV1::RequestCompleted(old) = event;
        let mut upcast = RequestCompleted {
            organization_id: old.organization_id,
            api_key_id: old.api_key_id,
            model: old.model,
            deployment: old.provider.clone(),
            provider: old.provider,
            prompt_tokens: old.prompt_tokens,
            completion_tokens: old.completion_tokens,
            cached_tokens: old.cached_tokens,
            cost: old.cost,
            latency_ms: old.latency_ms,
            time_to_first_token_ms: old.time_to_first_token_ms,
            status: old.status,
            http_status: old.http_status,
            error_kind: old.error_kind,
            streamed: old.streamed,
            started_at: old.started_at,
            finished_at: old.finished_at,
            attempts: Vec::new(),
            ingress: CHAT_COMPLETIONS.to_string(),
            cache_write_tokens: 0,
            cache_write_1h_tokens: 0,
            reasoning_tokens: 0,
            usage_estimated: false,
        };
        upcast.attempts.push(Attempt::single(&upcast));
        upcast
    }
}

fn unknown(version: &str) -> serde_json::Error {
    // Bounded: a version is whatever a row holds.
    let shown: String = version.chars().take(16).collect();
    serde_json::Error::custom(format!("unknown RequestCompleted event_version {shown:?}"))
}

/// Decodes a payload given as JSON text (the projector runner reads text: it is
/// several times cheaper than going through a `Value`).
pub fn decode_json(event_version: &str, text: &str) -> Result<RequestCompleted, serde_json::Error> {
    let event = match event_version {
        EVENT_VERSION => serde_json::from_str::<RequestEvent>(text).map(|RequestEvent::RequestCompleted(e)| e),
        V3 => serde_json::from_str::<RequestEvent>(text).map(from_v3),
        V2 => serde_json::from_str::<RequestEventV2>(text).map(Into::into),
        V1 => serde_json::from_str::<RequestEventV1>(text).map(Into::into),
        other => Err(unknown(other)),
    };
    event.map(RequestCompleted::within_bounds)
}

/// Decodes a payload read as a JSON value, by reference (no copy of the value).
pub fn decode_value(event_version: &str, value: &Value) -> Result<RequestCompleted, serde_json::Error> {
    let event = match event_version {
        EVENT_VERSION => RequestEvent::deserialize(value).map(|RequestEvent::RequestCompleted(e)| e),
        V3 => RequestEvent::deserialize(value).map(from_v3),
        V2 => RequestEventV2::deserialize(value).map(Into::into),
        V1 => RequestEventV1::deserialize(value).map(Into::into),
        other => Err(unknown(other)),
    };
    event.map(RequestCompleted::within_bounds)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A payload exactly as the gateway wrote it before this change (copied from a
    /// store: `record_requests` 1.0, an echo request that failed upstream).
    const V1_PAYLOAD: &str = r#"{"RequestCompleted":{"organization_id":"0193a5b0-0000-7000-8000-000000000001",
        "api_key_id":"0193a5b0-0000-7000-8000-000000000002","model":"openai/gpt-4o","provider":"openai",
        "prompt_tokens":12,"completion_tokens":0,"cached_tokens":0,"cost":0,"latency_ms":87,
        "time_to_first_token_ms":null,"status":"error","http_status":502,"error_kind":"upstream_error",
        "streamed":true,"started_at":"2026-11-23T10:00:00Z","finished_at":"2026-11-23T10:00:00.087Z"}}"#;

    #[test]
    fn given_a_payload_recorded_with_absurd_usage_when_decoded_then_it_reads_within_todays_bounds() {
        use crate::request::{MAX_RECORDED_COST_NANOS, MAX_RECORDED_TOKENS};
        let absurd = V1_PAYLOAD
            .replace(r#""prompt_tokens":12"#, r#""prompt_tokens":18446744073709551615"#)
            .replace(r#""completion_tokens":0"#, r#""completion_tokens":9223372036854775807"#)
            .replace(r#""cost":0"#, r#""cost":9223372036854775807"#);
        for event in
            [decode_json(V1, &absurd).unwrap(), decode_value(V1, &serde_json::from_str(&absurd).unwrap()).unwrap()]
        {
            assert_eq!((event.prompt_tokens, event.completion_tokens), (MAX_RECORDED_TOKENS, MAX_RECORDED_TOKENS));
            assert_eq!(event.cost, Money::from_nanos(MAX_RECORDED_COST_NANOS));
            assert_eq!(event.latency_ms, 87, "other fields as written");
        }
    }

    #[test]
    fn given_a_1_0_payload_when_decoded_then_deployment_is_the_provider_and_one_attempt_is_built() {
        let event = decode_json("1.0", V1_PAYLOAD).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(event.deployment, "openai");
        assert_eq!(event.provider, "openai");
        assert_eq!(event.prompt_tokens, 12);
        assert_eq!(
            event.attempts,
            vec![Attempt {
                deployment: "openai".into(),
                provider: "openai".into(),
                model: "openai/gpt-4o".into(),
                http_status: 502,
                error_kind: Some("upstream_error".into()),
                latency_ms: 87,
            }]
        );
    }

    #[test]
    fn given_a_1_0_payload_then_text_and_value_decode_alike() {
        let value: Value = serde_json::from_str(V1_PAYLOAD).unwrap_or_default();
        let from_text = decode_json("1.0", V1_PAYLOAD).ok();
        let from_value = decode_value("1.0", &value).ok();
        assert!(from_text.is_some());
        assert_eq!(from_text, from_value);
    }

    /// A payload exactly as the gateway wrote it in 2.0 (a routed request with a retry).
    const V2_PAYLOAD: &str = r#"{"RequestCompleted":{"organization_id":"0193a5b0-0000-7000-8000-000000000001",
        "api_key_id":"0193a5b0-0000-7000-8000-000000000002","model":"smart","provider":"anthropic",
        "prompt_tokens":30,"completion_tokens":5,"cached_tokens":10,"cost":1200,"latency_ms":900,
        "time_to_first_token_ms":400,"status":"success","http_status":200,"error_kind":null,
        "streamed":false,"started_at":"2026-11-29T10:00:00Z","finished_at":"2026-11-29T10:00:00.900Z",
        "deployment":"smart/b","attempts":[{"deployment":"smart/a","provider":"openai","model":"gpt-4o",
        "http_status":503,"error_kind":"upstream_error","latency_ms":20},{"deployment":"smart/b",
        "provider":"anthropic","model":"claude-sonnet-4-5","http_status":200,"error_kind":null,"latency_ms":870}]}}"#;

    #[test]
    fn given_a_2_0_payload_when_decoded_then_it_came_by_chat_completions_with_no_cache_writes_or_reasoning() {
        let event = decode_json("2.0", V2_PAYLOAD).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(event.ingress, "chat_completions");
        assert_eq!((event.cache_write_tokens, event.cache_write_1h_tokens, event.reasoning_tokens), (0, 0, 0));
        assert_eq!(event.deployment, "smart/b");
        assert_eq!(event.attempts.len(), 2);
        assert_eq!((event.prompt_tokens, event.cached_tokens, event.cost), (30, 10, Money::from_nanos(1200)));
        let value: Value = serde_json::from_str(V2_PAYLOAD).unwrap_or_default();
        assert_eq!(decode_value("2.0", &value).ok(), Some(event));
    }

    #[test]
    fn given_an_event_without_cache_writes_reasoning_or_estimate_then_its_payload_leaves_them_out() {
        let event = decode_json("2.0", V2_PAYLOAD).unwrap_or_else(|e| panic!("{e}"));
        let text = serde_json::to_string(&RequestEvent::RequestCompleted(event.clone())).unwrap_or_default();
        assert!(text.contains(r#""ingress":"chat_completions""#), "{text}");
        assert!(!text.contains("cache_write") && !text.contains("reasoning_tokens"), "{text}");
        assert!(!text.contains("usage_estimated"), "{text}");
        assert_eq!(decode_json(EVENT_VERSION, &text).ok(), Some(event));
    }

    #[test]
    fn given_a_2_0_payload_labelled_3_0_or_4_0_then_it_does_not_decode() {
        assert!(decode_json(V3, V2_PAYLOAD).is_err());
        assert!(decode_json(EVENT_VERSION, V2_PAYLOAD).is_err());
    }

    /// A payload exactly as the gateway wrote it in 3.0 (a Messages request whose
    /// client left mid-stream: zero tokens, as 3.0 recorded a missing report).
    const V3_PAYLOAD: &str = r#"{"RequestCompleted":{"organization_id":"0193a5b0-0000-7000-8000-000000000001",
        "api_key_id":"0193a5b0-0000-7000-8000-000000000002","model":"anthropic/claude-sonnet-4-5",
        "provider":"anthropic","prompt_tokens":0,"completion_tokens":0,"cached_tokens":0,"cost":0,
        "latency_ms":2400,"time_to_first_token_ms":350,"status":"error","http_status":499,
        "error_kind":"client_disconnected","streamed":true,"started_at":"2026-12-01T10:00:00Z",
        "finished_at":"2026-12-01T10:00:02.400Z","deployment":"anthropic","attempts":[{"deployment":"anthropic",
        "provider":"anthropic","model":"claude-sonnet-4-5","http_status":200,"error_kind":null,"latency_ms":350}],
        "ingress":"messages","reasoning_tokens":0}}"#;

    #[test]
    fn given_a_3_0_payload_when_decoded_then_its_figures_are_as_written_and_not_estimated() {
        let event = decode_json(V3, V3_PAYLOAD).unwrap_or_else(|e| panic!("{e}"));
        assert!(!event.usage_estimated);
        assert_eq!((event.prompt_tokens, event.completion_tokens, event.http_status), (0, 0, 499));
        assert_eq!(event.ingress, "messages");
        let value: Value = serde_json::from_str(V3_PAYLOAD).unwrap_or_default();
        assert_eq!(decode_value(V3, &value).ok(), Some(event));
    }

    #[test]
    fn given_a_3_0_payload_claiming_an_estimate_then_it_is_not_one() {
        // 3.0 never estimated: whatever a 3.0 row says, its figures were reported ones.
        let claimed = V3_PAYLOAD.replace(r#""ingress":"messages""#, r#""ingress":"messages","usage_estimated":true"#);
        assert_eq!(decode_json(V3, &claimed).map(|e| e.usage_estimated).ok(), Some(false));
        assert_eq!(decode_json(EVENT_VERSION, &claimed).map(|e| e.usage_estimated).ok(), Some(true));
    }

    #[test]
    fn given_a_4_0_event_when_written_and_read_then_it_round_trips() {
        let old = decode_json("1.0", V1_PAYLOAD).unwrap_or_else(|e| panic!("{e}"));
        let event = RequestCompleted {
            deployment: "smart/0193a5b0-0000-7000-8000-00000000000a".into(),
            attempts: vec![
                Attempt {
                    deployment: "smart/a".into(),
                    provider: "openai".into(),
                    model: "gpt-4o-mini".into(),
                    http_status: 0,
                    error_kind: Some("timeout".into()),
                    latency_ms: 3000,
                },
                Attempt::single(&old),
            ],
            ingress: "messages".into(),
            cache_write_tokens: 7,
            cache_write_1h_tokens: 3,
            reasoning_tokens: 11,
            usage_estimated: true,
            ..old
        };
        let text = serde_json::to_string(&RequestEvent::RequestCompleted(event.clone())).unwrap_or_default();
        assert_eq!(decode_json(EVENT_VERSION, &text).ok(), Some(event.clone()));
        let value: Value = serde_json::from_str(&text).unwrap_or_default();
        assert_eq!(decode_value(EVENT_VERSION, &value).ok(), Some(event));
    }

    #[test]
    fn given_a_1_0_payload_labelled_2_0_then_it_does_not_decode() {
        // The version decides the shape: a 2.0 event must carry its new fields.
        assert!(decode_json(V2, V1_PAYLOAD).is_err());
        assert!(decode_json(EVENT_VERSION, V1_PAYLOAD).is_err());
    }

    #[test]
    fn given_an_unknown_version_then_it_is_an_error_naming_it() {
        let error = decode_json("9.9", V1_PAYLOAD).err().map(|e| e.to_string()).unwrap_or_default();
        assert!(error.contains("9.9"), "{error}");
    }
}
