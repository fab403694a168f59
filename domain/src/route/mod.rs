//! The Route aggregate: a model name clients send, mapped to deployments and
//! fallback routes. Gateway-wide (no organization); every change is an event, so
//! who changed which weight, when and from where is in the audit trail.

mod spec;
#[cfg(test)]
mod tests;

pub use spec::*;

use chrono::{DateTime, Utc};
use cqrs_es::event_sink::EventSink;
use cqrs_es::{Aggregate, DomainEvent};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq)]
pub enum RouteCommand {
    Create {
        spec: RouteSpec,
        at: DateTime<Utc>,
    },
    /// Replaces the whole definition (the API merges a PATCH into the current one first).
    Update {
        spec: RouteSpec,
        at: DateTime<Utc>,
    },
    /// Soft delete: the history stays, the name is freed.
    Delete {
        at: DateTime<Utc>,
    },
}

/// Route events. Names and versions are never renamed; a changed payload gets a
/// new version and an upcaster.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum RouteEvent {
    RouteCreated { spec: RouteSpec, at: DateTime<Utc> },
    RouteUpdated { spec: RouteSpec, at: DateTime<Utc> },
    RouteDeleted { at: DateTime<Utc> },
}

impl DomainEvent for RouteEvent {
    fn event_type(&self) -> String {
        match self {
            Self::RouteCreated { .. } => "RouteCreated",
            Self::RouteUpdated { .. } => "RouteUpdated",
            Self::RouteDeleted { .. } => "RouteDeleted",
        }
        .to_string()
    }

    fn event_version(&self) -> String {
        "1.0".to_string()
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RouteState {
    pub spec: RouteSpec,
    pub deleted: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Route {
    /// `None` until `RouteCreated`.
    pub state: Option<RouteState>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RouteError {
    #[error("route already exists")]
    AlreadyExists,
    #[error("route not found")]
    NotFound,
    #[error("route is deleted")]
    Deleted,
    #[error(transparent)]
    InvalidSpec(#[from] RouteSpecError),
}

impl Route {
    /// Decides which events a command produces, without changing anything.
    pub fn decide(&self, command: RouteCommand) -> Result<Vec<RouteEvent>, RouteError> {
        if let RouteCommand::Create { spec, at } = command {
            if self.state.is_some() {
                return Err(RouteError::AlreadyExists);
            }
            spec.validate()?;
            return Ok(vec![RouteEvent::RouteCreated { spec, at }]);
        }
        let state = self.state.as_ref().ok_or(RouteError::NotFound)?;
        if state.deleted {
            return Err(RouteError::Deleted);
        }
        Ok(match command {
            RouteCommand::Create { .. } => Vec::new(),
            RouteCommand::Update { spec, at } => {
                spec.validate()?;
                if spec == state.spec {
                    Vec::new()
                } else {
                    vec![RouteEvent::RouteUpdated { spec, at }]
                }
            }
            RouteCommand::Delete { at } => vec![RouteEvent::RouteDeleted { at }],
        })
    }
}

impl Aggregate for Route {
    const TYPE: &'static str = "Route";
    type Command = RouteCommand;
    type Event = RouteEvent;
    type Error = RouteError;
    type Services = ();

    async fn handle(
        &mut self,
        command: Self::Command,
        _services: &Self::Services,
        sink: &EventSink<Self>,
    ) -> Result<(), Self::Error> {
        for event in self.decide(command)? {
            sink.write(event, self).await;
        }
        Ok(())
    }

    fn apply(&mut self, event: Self::Event) {
        match event {
            RouteEvent::RouteCreated { spec, at } => {
                self.state = Some(RouteState { spec, deleted: false, created_at: at, updated_at: at });
            }
            RouteEvent::RouteUpdated { spec, at } => {
                if let Some(state) = self.state.as_mut() {
                    state.spec = spec;
                    state.updated_at = at;
                }
            }
            RouteEvent::RouteDeleted { at } => {
                if let Some(state) = self.state.as_mut() {
                    state.deleted = true;
                    state.updated_at = at;
                }
            }
        }
    }
}
