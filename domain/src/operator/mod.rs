//! The Operator aggregate: a dashboard user. Passwords arrive already hashed
//! (argon2, by the caller); the domain only records the hash.
//!
//! Every event that must end the operator's sessions (password changed, disabled,
//! deleted, sessions ended) bumps `session_version`; session tokens carry the
//! version they were minted at and die when it moves on.

#[cfg(test)]
mod tests;

use chrono::{DateTime, Utc};
use cqrs_es::event_sink::EventSink;
use cqrs_es::{Aggregate, DomainEvent};
use serde::{Deserialize, Serialize};

use crate::{normalize_name, NameError};

#[derive(Debug, Clone, PartialEq)]
pub enum OperatorCommand {
    Create { username: String, password_hash: String, at: DateTime<Utc> },
    ChangePassword { password_hash: String, at: DateTime<Utc> },
    Disable { at: DateTime<Utc> },
    Enable { at: DateTime<Utc> },
    Delete { at: DateTime<Utc> },
    EndSessions { at: DateTime<Utc> },
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum OperatorEvent {
    OperatorCreated { username: String, password_hash: String, at: DateTime<Utc> },
    OperatorPasswordChanged { password_hash: String, at: DateTime<Utc> },
    OperatorDisabled { at: DateTime<Utc> },
    OperatorEnabled { at: DateTime<Utc> },
    OperatorDeleted { at: DateTime<Utc> },
    OperatorSessionsEnded { at: DateTime<Utc> },
}

impl DomainEvent for OperatorEvent {
    fn event_type(&self) -> String {
        match self {
            Self::OperatorCreated { .. } => "OperatorCreated",
            Self::OperatorPasswordChanged { .. } => "OperatorPasswordChanged",
            Self::OperatorDisabled { .. } => "OperatorDisabled",
            Self::OperatorEnabled { .. } => "OperatorEnabled",
            Self::OperatorDeleted { .. } => "OperatorDeleted",
            Self::OperatorSessionsEnded { .. } => "OperatorSessionsEnded",
        }
        .to_string()
    }

    fn event_version(&self) -> String {
        "1.0".to_string()
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OperatorState {
    pub username: String,
    pub password_hash: String,
    pub disabled: bool,
    /// Deleted operators keep their stream (audit) but can do nothing any more.
    #[serde(default)]
    pub deleted: bool,
    /// Bumped by every event that ends the operator's sessions.
    #[serde(default)]
    pub session_version: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Operator {
    pub state: Option<OperatorState>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OperatorError {
    #[error("operator already exists")]
    AlreadyExists,
    #[error("operator not found")]
    NotFound,
    #[error("operator is disabled")]
    Disabled,
    #[error("operator is not disabled")]
    NotDisabled,
    #[error("password hash must be a PHC string")]
    InvalidPasswordHash,
    #[error(transparent)]
    InvalidUsername(#[from] NameError),
}

/// A PHC string (`$argon2id$v=19$...`): never a plaintext password.
fn check_password_hash(hash: &str) -> Result<(), OperatorError> {
    if hash.starts_with('$') && hash.matches('$').count() >= 4 {
        Ok(())
    } else {
        Err(OperatorError::InvalidPasswordHash)
    }
}

impl Operator {
    pub fn decide(&self, command: OperatorCommand) -> Result<Vec<OperatorEvent>, OperatorError> {
        use OperatorCommand as C;
        use OperatorEvent as E;
        if let C::Create { username, password_hash, at } = command {
            if self.state.is_some() {
                return Err(OperatorError::AlreadyExists);
            }
            check_password_hash(&password_hash)?;
            return Ok(vec![E::OperatorCreated { username: normalize_name(&username)?, password_hash, at }]);
        }
        let state = self.state.as_ref().filter(|state| !state.deleted).ok_or(OperatorError::NotFound)?;
        Ok(match command {
            C::Create { .. } => Vec::new(),
            // A disabled operator can only be enabled again or deleted.
            C::Enable { at } if state.disabled => vec![E::OperatorEnabled { at }],
            C::Enable { .. } => return Err(OperatorError::NotDisabled),
            C::Delete { at } => vec![E::OperatorDeleted { at }],
            _ if state.disabled => return Err(OperatorError::Disabled),
            C::ChangePassword { password_hash, at } => {
                check_password_hash(&password_hash)?;
                vec![E::OperatorPasswordChanged { password_hash, at }]
            }
            C::Disable { at } => vec![E::OperatorDisabled { at }],
            C::EndSessions { at } => vec![E::OperatorSessionsEnded { at }],
        })
    }
}

impl Aggregate for Operator {
    const TYPE: &'static str = "Operator";
    type Command = OperatorCommand;
    type Event = OperatorEvent;
    type Error = OperatorError;
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
        if let OperatorEvent::OperatorCreated { username, password_hash, at } = event {
            self.state = Some(OperatorState {
                username,
                password_hash,
                disabled: false,
                deleted: false,
                session_version: 0,
                created_at: at,
                updated_at: at,
            });
            return;
        }
        let Some(state) = self.state.as_mut() else {
            return;
        };
        match event {
            OperatorEvent::OperatorCreated { .. } => {}
            OperatorEvent::OperatorPasswordChanged { password_hash, at } => {
                state.password_hash = password_hash;
                state.session_version += 1;
                state.updated_at = at;
            }
            OperatorEvent::OperatorDisabled { at } => {
                state.disabled = true;
                state.session_version += 1;
                state.updated_at = at;
            }
            OperatorEvent::OperatorEnabled { at } => {
                state.disabled = false;
                state.updated_at = at;
            }
            OperatorEvent::OperatorDeleted { at } => {
                state.deleted = true;
                state.session_version += 1;
                state.updated_at = at;
            }
            OperatorEvent::OperatorSessionsEnded { at } => {
                state.session_version += 1;
                state.updated_at = at;
            }
        }
    }
}
