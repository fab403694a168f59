//! A `Ticket` is an admitted request on its way: it becomes exactly one
//! `RequestCompleted` event, whatever happens, even when the client disconnects
//! in the middle of a stream (then the drop guard records it).

use std::sync::Arc;
use std::time::Instant;

use chrono::{DateTime, Utc};
use gaiarouter_domain::request::{RequestCompleted, RequestStatus};
use uuid::Uuid;

use crate::auth::key_cache::GatewayCaller;
use crate::gateway::openai::Usage;
use crate::gateway::Price;
use crate::usage::admission::Reservation;
use crate::usage::recorder::{PendingRecord, Recorder};

pub struct Ticket {
    pub request_id: Uuid,
    organization_id: Uuid,
    api_key_id: Uuid,
    model: String,
    pub provider: String,
    price: Price,
    streamed: bool,
    started_at: DateTime<Utc>,
    started: Instant,
    first_token_ms: Option<u64>,
    reservation: Option<Reservation>,
}

/// How the call ended.
pub struct Outcome {
    pub usage: Option<Usage>,
    /// `None` = success.
    pub error_kind: Option<String>,
    pub http_status: u16,
}

impl Outcome {
    pub fn success(usage: Option<Usage>) -> Self {
        Outcome { usage, error_kind: None, http_status: 200 }
    }

    pub fn failure(kind: &str, http_status: u16, usage: Option<Usage>) -> Self {
        Outcome { usage, error_kind: Some(kind.to_string()), http_status }
    }
}

impl Ticket {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        request_id: Uuid,
        caller: &GatewayCaller,
        model: String,
        provider: String,
        price: Price,
        streamed: bool,
        started_at: DateTime<Utc>,
        reservation: Option<Reservation>,
    ) -> Self {
        Ticket {
            request_id,
            organization_id: caller.key.organization_id,
            api_key_id: caller.key.id,
            model,
            provider,
            price,
            streamed,
            started_at,
            started: Instant::now(),
            first_token_ms: None,
            reservation,
        }
    }

    pub fn mark_first_token(&mut self) {
        if self.first_token_ms.is_none() {
            self.first_token_ms = Some(self.elapsed_ms());
        }
    }

    fn elapsed_ms(&self) -> u64 {
        u64::try_from(self.started.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    pub fn into_record(self, outcome: Outcome) -> PendingRecord {
        let (prompt, completion, cached) =
            outcome.usage.as_ref().map_or((0, 0, 0), |u| (u.prompt_tokens, u.completion_tokens, u.cached_tokens()));
        let latency_ms = self.elapsed_ms();
        let event = RequestCompleted {
            organization_id: self.organization_id,
            api_key_id: self.api_key_id,
            model: self.model,
            provider: self.provider,
            prompt_tokens: prompt,
            completion_tokens: completion,
            cached_tokens: cached,
            cost: self.price.cost(prompt, completion, cached),
            latency_ms,
            time_to_first_token_ms: self.first_token_ms,
            status: if outcome.error_kind.is_none() { RequestStatus::Success } else { RequestStatus::Error },
            http_status: outcome.http_status,
            error_kind: outcome.error_kind,
            streamed: self.streamed,
            started_at: self.started_at,
            finished_at: Utc::now(),
        };
        PendingRecord { request_id: self.request_id, event, reservation: self.reservation }
    }
}

/// Holds a streaming request's ticket; if the stream is dropped before it was
/// recorded (the client went away), records it as `client_disconnected`.
pub struct RecordOnDrop {
    ticket: Option<Ticket>,
    usage: Option<Usage>,
    recorder: Arc<Recorder>,
}

impl RecordOnDrop {
    pub fn new(ticket: Ticket, recorder: Arc<Recorder>) -> Self {
        RecordOnDrop { ticket: Some(ticket), usage: None, recorder }
    }

    pub fn ticket_mut(&mut self) -> Option<&mut Ticket> {
        self.ticket.as_mut()
    }

    pub fn set_usage(&mut self, usage: Usage) {
        self.usage = Some(usage);
    }

    pub fn usage(&self) -> Option<&Usage> {
        self.usage.as_ref()
    }

    /// Takes the ticket to record it in the normal way.
    pub fn take(&mut self) -> Option<Ticket> {
        self.ticket.take()
    }
}

impl Drop for RecordOnDrop {
    fn drop(&mut self) {
        if let Some(ticket) = self.ticket.take() {
            let record = ticket.into_record(Outcome::failure("client_disconnected", 499, self.usage.take()));
            self.recorder.record_detached(record);
        }
    }
}
