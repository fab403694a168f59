//! The completion engine and its bookkeeping: input checks, the plan (route,
//! deployments, fallbacks), admission against limits, attempts, and the
//! `RequestCompleted` event that every request which reached admission ends with.
//! No HTTP here: errors are `EngineError`s, rendered by each ingress.

pub mod catalogue;
mod chat;
mod engine;
mod errors;
pub mod exchange;
mod messages;
pub mod plan;
mod ticket;

pub use chat::ChatExchange;
pub use engine::{Answer, Completion, EngineStream, StreamEvent};
pub use errors::EngineError;
pub use exchange::{Exchange, Ingress};
pub use messages::MessagesExchange;
pub use ticket::{Outcome, Ticket};

use std::sync::Arc;

use crate::gateway::{ModelRegistry, ProviderSet};
use crate::routing::health::HealthBoard;
use crate::routing::RouteTable;
use crate::usage::recorder::Recorder;
use plan::{Plan, PlanError};

pub struct CompletionService {
    pub pool: sqlx::PgPool,
    pub registry: ModelRegistry,
    pub providers: ProviderSet,
    pub recorder: Arc<Recorder>,
    /// Requests refused before any provider, folded and written apart.
    pub refusals: Arc<crate::usage::refusals::Refusals>,
    /// This process's quota leases (admission).
    pub quotas: Arc<crate::usage::quota::Quotas>,
    /// What this process has learnt about each deployment (cooldowns, load).
    pub health: Arc<HealthBoard>,
    /// Routes by name, followed across processes.
    pub routes: Arc<RouteTable>,
    pub deployments: plan::DeploymentProviders,
    pub plans: plan::RoutePlans,
}

impl CompletionService {
    /// The route a model id names and its fallbacks.
    fn plan(&self, model: &str) -> Result<Plan, EngineError> {
        let sources = plan::Sources {
            routes: &self.routes,
            registry: &self.registry,
            providers: &self.providers,
            health: &self.health,
            deployments: &self.deployments,
            plans: &self.plans,
        };
        sources.plan(model).map_err(|e| match e {
            PlanError::UnknownModel(message) => EngineError::UnknownModel(message),
            PlanError::InvalidModel(message) => EngineError::InvalidRequest { param: "model".into(), message },
        })
    }

    /// Records the outcome and waits for the commit.
    pub async fn finish(&self, ticket: Ticket, outcome: Outcome) -> Result<(), EngineError> {
        finish(&self.recorder, ticket, outcome).await
    }
}

/// Records the outcome and waits for the commit. If it cannot be recorded the
/// client gets an error instead of an unrecorded answer (and what it reserved
/// goes back to the leases, with the record). Cancelled while waiting for room in
/// the recorder's queue, the ticket is dropped unspent and records itself as a
/// disconnect.
async fn finish(recorder: &Recorder, ticket: Ticket, outcome: Outcome) -> Result<(), EngineError> {
    let request_id = ticket.request_id;
    let commit = tracing::info_span!("commit", %request_id);
    match tracing::Instrument::instrument(recorder.record_with(move || ticket.into_record(outcome)), commit).await {
        Ok(()) => Ok(()),
        Err(error) => {
            tracing::error!(%request_id, %error, "a request could not be recorded");
            Err(EngineError::NotRecorded(error))
        }
    }
}
