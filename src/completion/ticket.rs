//! A `Ticket` is an admitted request on its way: it becomes exactly one
//! `RequestCompleted` event, whatever happens. Finished normally it is recorded
//! with its outcome; dropped unfinished (the client went away at any point) it
//! records itself as `client_disconnected`.

use std::sync::Arc;
use std::time::Instant;

use chrono::{DateTime, Utc};
use gaiarouter_domain::request::{Attempt, RequestCompleted, RequestStatus};
use uuid::Uuid;

use crate::auth::key_cache::GatewayCaller;
use crate::gateway::openai::Usage;
use crate::gateway::Price;
use crate::usage::admission::Reservation;
use crate::usage::recorder::{PendingRecord, Recorder};

pub struct Ticket {
    pub request_id: Uuid,
    pub provider: String,
    /// `None` once recorded (or handed to the recorder).
    details: Option<Details>,
    usage: Option<Usage>,
    recorder: Arc<Recorder>,
}

/// One upstream attempt of a request (retries and fallbacks make several).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttemptRecord {
    pub deployment: String,
    pub provider: String,
    pub model: String,
    /// The upstream's status; 0 when it did not answer (timeout, connection).
    pub http_status: u16,
    pub error_kind: Option<String>,
    pub latency_ms: u64,
}

struct Details {
    deployment: String,
    attempts: Vec<AttemptRecord>,
    organization_id: Uuid,
    api_key_id: Uuid,
    model: String,
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

    /// The client went away before its answer was finished.
    fn disconnected(usage: Option<Usage>) -> Self {
        Self::failure("client_disconnected", 499, usage)
    }
}

fn elapsed_ms(since: Instant) -> u64 {
    u64::try_from(since.elapsed().as_millis()).unwrap_or(u64::MAX)
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
        recorder: Arc<Recorder>,
    ) -> Self {
        let details = Details {
            deployment: provider.clone(),
            attempts: Vec::new(),
            organization_id: caller.key.organization_id,
            api_key_id: caller.key.id,
            model,
            price,
            streamed,
            started_at,
            started: Instant::now(),
            first_token_ms: None,
            reservation,
        };
        Ticket { request_id, provider, details: Some(details), usage: None, recorder }
    }

    pub fn mark_first_token(&mut self) {
        if let Some(details) = self.details.as_mut() {
            if details.first_token_ms.is_none() {
                details.first_token_ms = Some(elapsed_ms(details.started));
            }
        }
    }

    /// Usage seen so far (a stream reports it near its end): recorded even if the
    /// client leaves before the answer is finished.
    pub fn set_usage(&mut self, usage: Usage) {
        self.usage = Some(usage);
    }

    pub fn usage(&self) -> Option<&Usage> {
        self.usage.as_ref()
    }

    /// The deployment that serves (or last failed): its provider and price count.
    pub fn serve_with(&mut self, deployment: &str, provider: &str, price: Price) {
        if let Some(details) = self.details.as_mut() {
            details.deployment = deployment.to_string();
            details.price = price;
        }
        provider.clone_into(&mut self.provider);
    }

    pub fn attempted(&mut self, attempt: AttemptRecord) {
        if let Some(details) = self.details.as_mut() {
            details.attempts.push(attempt);
        }
    }

    pub fn has_reservation(&self) -> bool {
        self.details.as_ref().is_some_and(|d| d.reservation.is_some())
    }

    /// The event this ticket ends with; the ticket is spent.
    pub fn into_record(mut self, outcome: Outcome) -> Option<PendingRecord> {
        let details = self.details.take()?;
        Some(details.into_record(self.request_id, std::mem::take(&mut self.provider), outcome))
    }
}

impl Details {
    fn into_record(self, request_id: Uuid, provider: String, outcome: Outcome) -> PendingRecord {
        if self.attempts.len() > 1 {
            tracing::info!(%request_id, deployment = %self.deployment, attempts = ?self.attempts, "served after retries");
        }
        let (prompt, completion, cached) =
            outcome.usage.as_ref().map_or((0, 0, 0), |u| (u.prompt_tokens, u.completion_tokens, u.cached_tokens()));
        let mut event = RequestCompleted {
            organization_id: self.organization_id,
            api_key_id: self.api_key_id,
            model: self.model,
            // Until the engine routes over deployments, the provider is the deployment
            // and the request is its one attempt (as a 1.0 event upcasts).
            deployment: provider.clone(),
            attempts: Vec::new(),
            provider,
            prompt_tokens: prompt,
            completion_tokens: completion,
            cached_tokens: cached,
            cost: self.price.cost(prompt, completion, cached),
            latency_ms: elapsed_ms(self.started),
            time_to_first_token_ms: self.first_token_ms,
            status: if outcome.error_kind.is_none() { RequestStatus::Success } else { RequestStatus::Error },
            http_status: outcome.http_status,
            error_kind: outcome.error_kind,
            streamed: self.streamed,
            started_at: self.started_at,
            finished_at: Utc::now(),
        };
        event.attempts.push(Attempt::single(&event));
        PendingRecord { request_id, event, reservation: self.reservation }
    }
}

/// A ticket dropped before it was recorded belongs to a request whose client went
/// away: before the first upstream byte, during a body, or mid-stream (the server
/// drops the handler or the body stream). It is recorded as `client_disconnected`
/// without waiting, which also releases its reservation at once.
impl Drop for Ticket {
    fn drop(&mut self) {
        if let Some(details) = self.details.take() {
            let provider = std::mem::take(&mut self.provider);
            let record = details.into_record(self.request_id, provider, Outcome::disconnected(self.usage.take()));
            self.recorder.record_detached(record);
        }
    }
}
