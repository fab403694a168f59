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

/// Decodes the `RequestCompleted` events of a batch; other events are skipped.
pub fn request_events(events: &[StoredEvent]) -> Result<Vec<RequestCompleted>, event_log::EventLogError> {
    let mut out = Vec::with_capacity(events.len());
    for event in events {
        if event.event_type != gaiarouter_domain::request::EVENT_TYPE {
            continue;
        }
        let RequestEvent::RequestCompleted(completed) =
            serde_json::from_value(event.payload.clone()).map_err(|source| event_log::EventLogError::Corrupt {
                aggregate_type: event.aggregate_type.clone(),
                aggregate_id: event.aggregate_id.clone(),
                sequence: event.sequence,
                source,
            })?;
        out.push(completed);
    }
    Ok(out)
}
