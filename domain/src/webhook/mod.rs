//! The WebhookEndpoint aggregate: a receiver URL that gets the events it subscribed
//! to, for one organization (or, created by an operator, for the whole gateway).
//! Its signing secret is made and encrypted by the caller (the domain does no IO
//! and no randomness); events carry only the ciphertext, never the secret.

mod spec;
#[cfg(test)]
mod tests;

pub use spec::*;

use chrono::{DateTime, Utc};
use cqrs_es::event_sink::EventSink;
use cqrs_es::{Aggregate, DomainEvent};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// A signing secret sealed with AES-256-GCM: base64 nonce and ciphertext (with tag).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SealedSecret {
    pub nonce: String,
    pub ciphertext: String,
}

#[derive(Debug, Clone, PartialEq)]
pub enum WebhookCommand {
    Create {
        /// `None`: a gateway-wide endpoint (operators only, checked by the caller).
        organization_id: Option<Uuid>,
        spec: EndpointSpec,
        secret: SealedSecret,
        at: DateTime<Utc>,
    },
    /// Replaces url, description, event types and the enabled flag (the API merges
    /// a PATCH into the current spec first).
    Update {
        spec: EndpointSpec,
        at: DateTime<Utc>,
    },
    RotateSecret {
        secret: SealedSecret,
        at: DateTime<Utc>,
    },
    Delete {
        at: DateTime<Utc>,
    },
}

/// Names and versions are never renamed; a changed payload gets a new version.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum WebhookEvent {
    WebhookEndpointCreated {
        organization_id: Option<Uuid>,
        spec: EndpointSpec,
        secret: SealedSecret,
        at: DateTime<Utc>,
    },
    WebhookEndpointUpdated {
        spec: EndpointSpec,
        at: DateTime<Utc>,
    },
    WebhookEndpointSecretRotated {
        secret: SealedSecret,
        at: DateTime<Utc>,
    },
    WebhookEndpointDeleted {
        at: DateTime<Utc>,
    },
}

impl DomainEvent for WebhookEvent {
    fn event_type(&self) -> String {
        match self {
            Self::WebhookEndpointCreated { .. } => "WebhookEndpointCreated",
            Self::WebhookEndpointUpdated { .. } => "WebhookEndpointUpdated",
            Self::WebhookEndpointSecretRotated { .. } => "WebhookEndpointSecretRotated",
            Self::WebhookEndpointDeleted { .. } => "WebhookEndpointDeleted",
        }
        .to_string()
    }

    fn event_version(&self) -> String {
        "1.0".to_string()
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WebhookEndpointState {
    pub organization_id: Option<Uuid>,
    pub spec: EndpointSpec,
    pub secret: SealedSecret,
    pub deleted: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct WebhookEndpoint {
    /// `None` until `WebhookEndpointCreated`.
    pub state: Option<WebhookEndpointState>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WebhookError {
    #[error("webhook endpoint already exists")]
    AlreadyExists,
    #[error("webhook endpoint not found")]
    NotFound,
    #[error("the new secret must differ from the current one")]
    SameSecret,
    #[error(transparent)]
    InvalidSpec(#[from] EndpointSpecError),
}

impl WebhookEndpoint {
    /// Decides which events a command produces, without changing anything.
    pub fn decide(&self, command: WebhookCommand) -> Result<Vec<WebhookEvent>, WebhookError> {
        if let WebhookCommand::Create { organization_id, spec, secret, at } = command {
            if self.state.is_some() {
                return Err(WebhookError::AlreadyExists);
            }
            spec.validate_for(organization_id.is_some())?;
            return Ok(vec![WebhookEvent::WebhookEndpointCreated { organization_id, spec, secret, at }]);
        }
        // A deleted endpoint is gone for every purpose but its history.
        let state = self.state.as_ref().filter(|s| !s.deleted).ok_or(WebhookError::NotFound)?;
        Ok(match command {
            WebhookCommand::Create { .. } => Vec::new(),
            WebhookCommand::Update { spec, at } => {
                spec.validate_for(state.organization_id.is_some())?;
                if spec == state.spec {
                    Vec::new()
                } else {
                    vec![WebhookEvent::WebhookEndpointUpdated { spec, at }]
                }
            }
            WebhookCommand::RotateSecret { secret, at } => {
                if secret == state.secret {
                    return Err(WebhookError::SameSecret);
                }
                vec![WebhookEvent::WebhookEndpointSecretRotated { secret, at }]
            }
            WebhookCommand::Delete { at } => vec![WebhookEvent::WebhookEndpointDeleted { at }],
        })
    }
}

impl Aggregate for WebhookEndpoint {
    const TYPE: &'static str = "WebhookEndpoint";
    type Command = WebhookCommand;
    type Event = WebhookEvent;
    type Error = WebhookError;
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
            WebhookEvent::WebhookEndpointCreated { organization_id, spec, secret, at } => {
                self.state = Some(WebhookEndpointState {
                    organization_id,
                    spec,
                    secret,
                    deleted: false,
                    created_at: at,
                    updated_at: at,
                });
            }
            WebhookEvent::WebhookEndpointUpdated { spec, at } => {
                if let Some(state) = self.state.as_mut() {
                    state.spec = spec;
                    state.updated_at = at;
                }
            }
            WebhookEvent::WebhookEndpointSecretRotated { secret, at } => {
                if let Some(state) = self.state.as_mut() {
                    state.secret = secret;
                    state.updated_at = at;
                }
            }
            WebhookEvent::WebhookEndpointDeleted { at } => {
                if let Some(state) = self.state.as_mut() {
                    state.deleted = true;
                    state.updated_at = at;
                }
            }
        }
    }
}
