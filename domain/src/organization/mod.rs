//! The Organization aggregate: a tenant with a name, monthly limits and a status.

mod commands;
mod events;
#[cfg(test)]
mod tests;

pub use commands::OrganizationCommand;
pub use events::OrganizationEvent;

use chrono::{DateTime, Utc};
use cqrs_es::event_sink::EventSink;
use cqrs_es::Aggregate;
use serde::{Deserialize, Serialize};

use crate::limits::LimitsError;
use crate::{normalize_name, Limits, NameError};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OrganizationStatus {
    Active,
    Suspended,
    Deleted,
}

impl OrganizationStatus {
    /// The inverse of `as_str`.
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "active" => Some(OrganizationStatus::Active),
            "suspended" => Some(OrganizationStatus::Suspended),
            "deleted" => Some(OrganizationStatus::Deleted),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            OrganizationStatus::Active => "active",
            OrganizationStatus::Suspended => "suspended",
            OrganizationStatus::Deleted => "deleted",
        }
    }
}

/// Current state of one organization, folded from its events.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrganizationState {
    pub name: String,
    pub limits: Limits,
    pub status: OrganizationStatus,
    /// Whether request and response bodies are stored (apart from the events).
    #[serde(default)]
    pub log_bodies: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Organization {
    /// `None` until `OrganizationCreated`.
    pub state: Option<OrganizationState>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OrganizationError {
    #[error("organization already exists")]
    AlreadyExists,
    #[error("organization not found")]
    NotFound,
    #[error("organization is deleted")]
    Deleted,
    #[error("organization is already suspended")]
    AlreadySuspended,
    #[error("organization is not suspended")]
    NotSuspended,
    #[error(transparent)]
    InvalidName(#[from] NameError),
    #[error(transparent)]
    InvalidLimits(#[from] LimitsError),
}

impl Organization {
    /// Decides which events a command produces, without changing anything.
    pub fn decide(&self, command: OrganizationCommand) -> Result<Vec<OrganizationEvent>, OrganizationError> {
        use OrganizationCommand as C;
        use OrganizationEvent as E;
        if let C::Create { name, limits, at } = command {
            if self.state.is_some() {
                return Err(OrganizationError::AlreadyExists);
            }
            limits.validate()?;
            return Ok(vec![E::OrganizationCreated { name: normalize_name(&name)?, limits, at }]);
        }
        let state = self.state.as_ref().ok_or(OrganizationError::NotFound)?;
        if state.status == OrganizationStatus::Deleted {
            return Err(OrganizationError::Deleted);
        }
        Ok(match command {
            C::Create { .. } => Vec::new(),
            C::Rename { name, at } => {
                let name = normalize_name(&name)?;
                if name == state.name {
                    Vec::new()
                } else {
                    vec![E::OrganizationRenamed { name, at }]
                }
            }
            C::ChangeLimits { limits, at } => {
                limits.validate()?;
                if limits == state.limits {
                    Vec::new()
                } else {
                    vec![E::OrganizationLimitsChanged { limits, at }]
                }
            }
            C::Suspend { reason, at } => {
                if state.status == OrganizationStatus::Suspended {
                    return Err(OrganizationError::AlreadySuspended);
                }
                vec![E::OrganizationSuspended { reason, at }]
            }
            C::Reactivate { at } => {
                if state.status != OrganizationStatus::Suspended {
                    return Err(OrganizationError::NotSuspended);
                }
                vec![E::OrganizationReactivated { at }]
            }
            C::SetBodyLogging { enabled, at } => {
                if enabled == state.log_bodies {
                    Vec::new()
                } else {
                    vec![E::OrganizationBodyLoggingChanged { enabled, at }]
                }
            }
            C::Delete { at } => vec![E::OrganizationDeleted { at }],
        })
    }
}

impl Aggregate for Organization {
    const TYPE: &'static str = "Organization";
    type Command = OrganizationCommand;
    type Event = OrganizationEvent;
    type Error = OrganizationError;
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
        use OrganizationEvent as E;
        if let E::OrganizationCreated { name, limits, at } = &event {
            self.state = Some(OrganizationState {
                name: name.clone(),
                limits: limits.clone(),
                status: OrganizationStatus::Active,
                log_bodies: false,
                created_at: *at,
                updated_at: *at,
            });
            return;
        }
        let Some(state) = self.state.as_mut() else {
            return;
        };
        match event {
            E::OrganizationCreated { .. } => {}
            E::OrganizationRenamed { name, at } => {
                state.name = name;
                state.updated_at = at;
            }
            E::OrganizationLimitsChanged { limits, at } => {
                state.limits = limits;
                state.updated_at = at;
            }
            E::OrganizationSuspended { at, .. } => {
                state.status = OrganizationStatus::Suspended;
                state.updated_at = at;
            }
            E::OrganizationReactivated { at } => {
                state.status = OrganizationStatus::Active;
                state.updated_at = at;
            }
            E::OrganizationBodyLoggingChanged { enabled, at } => {
                state.log_bodies = enabled;
                state.updated_at = at;
            }
            E::OrganizationDeleted { at } => {
                state.status = OrganizationStatus::Deleted;
                state.updated_at = at;
            }
        }
    }
}
