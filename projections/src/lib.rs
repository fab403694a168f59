//! GaiaRouter's read side: everything here is a projection of the event store and
//! can be rebuilt from it.

pub mod admin_views;
pub mod event_log;
pub mod latency;
pub mod monthly_usage;
pub mod request_log;
pub mod runner;
pub mod stats;
pub mod usage_rollups;

pub use event_log::StoredEvent;
pub use runner::{Projector, ProjectorStatus, Runner};

use gaiarouter_domain::request::{RequestCompleted, RequestEvent};
use serde::Deserialize;

/// Decodes the `RequestCompleted` events of a batch; other events are skipped.
pub fn request_events(events: &[StoredEvent]) -> Result<Vec<RequestCompleted>, event_log::EventLogError> {
    let mut out = Vec::with_capacity(events.len());
    for event in events {
        if event.event_type != gaiarouter_domain::request::EVENT_TYPE {
            continue;
        }
        // Text (the runner's reads) parses straight into the event; a value is read
        // by reference, without copying it.
        let decoded = match &event.payload_text {
            Some(text) => serde_json::from_str(text),
            None => RequestEvent::deserialize(&event.payload),
        };
        let RequestEvent::RequestCompleted(completed) =
            decoded.map_err(|source| event_log::EventLogError::Corrupt {
                aggregate_type: event.aggregate_type.clone(),
                aggregate_id: event.aggregate_id.clone(),
                sequence: event.sequence,
                source,
            })?;
        out.push(completed);
    }
    Ok(out)
}
