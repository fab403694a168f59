//! GaiaRouter's read side: everything here is a projection of the event store and
//! can be rebuilt from it.

pub mod admin_views;
pub mod archive;
pub mod budget_alerts;
pub mod event_log;
pub mod latency;
pub mod monthly_usage;
pub mod request_log;
pub mod runner;
mod saturating;
pub mod stats;
pub mod usage_rollups;
pub mod webhook_outbox;

pub use event_log::StoredEvent;
pub use runner::{Projector, ProjectorStatus, Runner};

use gaiarouter_domain::request::{self, refused, RequestCompleted, RequestRefused};

/// Batches at least this large are decoded on two threads (replays are bound by
/// JSON decoding, and the database waits meanwhile).
const PARALLEL_DECODE_FROM: usize = 20_000;

/// Decodes the `RequestCompleted` events of a batch, in order, upcast to the current
/// version (`gaiarouter_domain::request::decode_json`); other events are skipped.
/// Every projector of requests reads through here.
pub fn request_events(events: &[StoredEvent]) -> Result<Vec<RequestCompleted>, event_log::EventLogError> {
    if events.len() < PARALLEL_DECODE_FROM {
        return decode_requests(events);
    }
    let (first, second) = events.split_at(events.len() / 2);
    let (first, second) = std::thread::scope(|scope| {
        let other = scope.spawn(|| decode_requests(second));
        let mine = decode_requests(first);
        (mine, other.join())
    });
    let mut out = first?;
    match second {
        Ok(decoded) => out.extend(decoded?),
        Err(_) => return Err(event_log::EventLogError::Database(sqlx::Error::WorkerCrashed)),
    }
    Ok(out)
}

/// Decodes the `RequestRefused` events of a batch, in order, with their request
/// ids; other events are skipped. A corrupt payload fails the batch like a corrupt
/// `RequestCompleted` (the runner quarantines it alone).
pub fn refused_events(events: &[StoredEvent]) -> Result<Vec<(uuid::Uuid, RequestRefused)>, event_log::EventLogError> {
    let mut out = Vec::new();
    for event in events.iter().filter(|e| e.event_type == refused::EVENT_TYPE) {
        let decoded = match &event.payload_text {
            Some(text) => refused::decode_json(text),
            None => refused::decode_value(&event.payload),
        };
        let corrupt = |source| event_log::EventLogError::Corrupt {
            aggregate_type: event.aggregate_type.clone(),
            aggregate_id: event.aggregate_id.clone(),
            sequence: event.sequence,
            source,
        };
        let refusal = decoded.map_err(corrupt)?;
        out.push((uuid::Uuid::parse_str(&event.aggregate_id).unwrap_or_default(), refusal));
    }
    Ok(out)
}

fn decode_requests(events: &[StoredEvent]) -> Result<Vec<RequestCompleted>, event_log::EventLogError> {
    let mut out = Vec::with_capacity(events.len());
    for event in events {
        if event.event_type != gaiarouter_domain::request::EVENT_TYPE {
            continue;
        }
        if let Some(decoded) = event.decoded_request.get() {
            out.push(decoded.clone());
            continue;
        }
        // Text (the runner's reads) parses straight into the event; a value is read
        // by reference, without copying it.
        let decoded = match &event.payload_text {
            Some(text) => request::decode_json(&event.event_version, text),
            None => request::decode_value(&event.event_version, &event.payload),
        };
        let completed = decoded.map_err(|source| event_log::EventLogError::Corrupt {
            aggregate_type: event.aggregate_type.clone(),
            aggregate_id: event.aggregate_id.clone(),
            sequence: event.sequence,
            source,
        })?;
        let _ = event.decoded_request.set(completed.clone());
        out.push(completed);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use chrono::{TimeZone, Utc};
    use gaiarouter_domain::request::{Attempt, RequestEvent, RequestStatus};
    use gaiarouter_domain::Money;
    use uuid::Uuid;

    use super::*;

    fn stored(i: u64, as_text: bool) -> StoredEvent {
        let at = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).single().unwrap_or_default();
        let mut completed = RequestCompleted {
            organization_id: Uuid::from_u128(1),
            api_key_id: Uuid::from_u128(2),
            model: "echo/x".into(),
            provider: "echo".into(),
            prompt_tokens: i,
            completion_tokens: 1,
            cached_tokens: 0,
            cost: Money::from_nanos(0),
            latency_ms: i,
            time_to_first_token_ms: None,
            status: RequestStatus::Success,
            http_status: 200,
            error_kind: None,
            streamed: false,
            started_at: at,
            finished_at: at,
            deployment: "echo".into(),
            attempts: Vec::new(),
            ingress: "chat_completions".into(),
            cache_write_tokens: 0,
            cache_write_1h_tokens: 0,
            reasoning_tokens: 0,
            usage_estimated: false,
        };
        completed.attempts.push(Attempt::single(&completed));
        let mut payload = serde_json::to_value(RequestEvent::RequestCompleted(completed)).unwrap_or_default();
        // Every third event as the gateway wrote it before 2.0: without the new fields.
        let old = i % 3 == 0;
        if old {
            if let Some(fields) = payload["RequestCompleted"].as_object_mut() {
                fields.remove("deployment");
                fields.remove("attempts");
            }
        }
        StoredEvent {
            aggregate_type: "Request".into(),
            aggregate_id: Uuid::from_u128(u128::from(i)).to_string(),
            sequence: 1,
            event_type: if i % 1000 == 7 { "SomethingElse".into() } else { "RequestCompleted".into() },
            event_version: if old { "1.0".into() } else { "2.0".into() },
            payload_text: as_text.then(|| payload.to_string()),
            payload: if as_text { serde_json::Value::Null } else { payload },
            metadata: serde_json::Value::Null,
            global_position: i as i64,
            recorded_at: at,
            tx_id: "1".into(),
            decoded_request: Default::default(),
        }
    }

    #[test]
    fn large_batches_decode_on_two_threads_in_order_and_skip_other_events() {
        let events: Vec<StoredEvent> = (0..25_000).map(|i| stored(i, i % 2 == 0)).collect();
        let decoded = request_events(&events).unwrap_or_default();
        let expected: Vec<u64> = (0..25_000).filter(|i| i % 1000 != 7).collect();
        assert_eq!(decoded.iter().map(|r| r.prompt_tokens).collect::<Vec<_>>(), expected);
        assert_eq!(decode_requests(&events[..100]).unwrap_or_default().len(), 99);
        // 1.0 and 2.0 events of the same call decode alike.
        assert!(decoded.iter().all(|r| r.deployment == "echo" && r.attempts == vec![Attempt::single(r)]));
    }

    #[test]
    fn a_corrupt_payload_in_either_half_is_an_error() {
        let mut events: Vec<StoredEvent> = (0..25_000).map(|i| stored(i, true)).collect();
        events[20_000].payload_text = Some("{\"RequestCompleted\": 1}".into());
        assert!(request_events(&events).is_err());
    }
}
