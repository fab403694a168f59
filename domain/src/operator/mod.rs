//! The Operator aggregate: a dashboard user. Passwords arrive already hashed
//! (argon2, by the caller); the domain only records the hash.

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
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum OperatorEvent {
    OperatorCreated { username: String, password_hash: String, at: DateTime<Utc> },
    OperatorPasswordChanged { password_hash: String, at: DateTime<Utc> },
    OperatorDisabled { at: DateTime<Utc> },
}

impl DomainEvent for OperatorEvent {
    fn event_type(&self) -> String {
        match self {
            Self::OperatorCreated { .. } => "OperatorCreated",
            Self::OperatorPasswordChanged { .. } => "OperatorPasswordChanged",
            Self::OperatorDisabled { .. } => "OperatorDisabled",
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
        let state = self.state.as_ref().ok_or(OperatorError::NotFound)?;
        if state.disabled {
            return Err(OperatorError::Disabled);
        }
        Ok(match command {
            C::Create { .. } => Vec::new(),
            C::ChangePassword { password_hash, at } => {
                check_password_hash(&password_hash)?;
                vec![E::OperatorPasswordChanged { password_hash, at }]
            }
            C::Disable { at } => vec![E::OperatorDisabled { at }],
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
        match event {
            OperatorEvent::OperatorCreated { username, password_hash, at } => {
                self.state =
                    Some(OperatorState { username, password_hash, disabled: false, created_at: at, updated_at: at });
            }
            OperatorEvent::OperatorPasswordChanged { password_hash, at } => {
                if let Some(state) = self.state.as_mut() {
                    state.password_hash = password_hash;
                    state.updated_at = at;
                }
            }
            OperatorEvent::OperatorDisabled { at } => {
                if let Some(state) = self.state.as_mut() {
                    state.disabled = true;
                    state.updated_at = at;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;
    use cqrs_es::test::TestFramework;

    use super::*;

    const HASH: &str = "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA";

    fn t() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).single().unwrap_or_default()
    }

    fn created() -> OperatorEvent {
        OperatorEvent::OperatorCreated { username: "admin".into(), password_hash: HASH.into(), at: t() }
    }

    #[tokio::test]
    async fn creating_an_operator_records_only_the_hash() {
        TestFramework::<Operator>::with(())
            .given_no_previous_events()
            .when_async(OperatorCommand::Create { username: "admin".into(), password_hash: HASH.into(), at: t() })
            .await
            .then_expect_events(vec![created()]);
    }

    #[tokio::test]
    async fn a_plaintext_password_is_refused() {
        TestFramework::<Operator>::with(())
            .given_no_previous_events()
            .when_async(OperatorCommand::Create { username: "admin".into(), password_hash: "hunter2".into(), at: t() })
            .await
            .then_expect_error(OperatorError::InvalidPasswordHash);
    }

    #[tokio::test]
    async fn creating_twice_or_changing_a_missing_operator_is_refused() {
        TestFramework::<Operator>::with(())
            .given(vec![created()])
            .when_async(OperatorCommand::Create { username: "admin".into(), password_hash: HASH.into(), at: t() })
            .await
            .then_expect_error(OperatorError::AlreadyExists);
        TestFramework::<Operator>::with(())
            .given_no_previous_events()
            .when_async(OperatorCommand::Disable { at: t() })
            .await
            .then_expect_error(OperatorError::NotFound);
    }

    #[tokio::test]
    async fn password_changes_and_disabling_are_recorded_and_disabling_is_final() {
        TestFramework::<Operator>::with(())
            .given(vec![created()])
            .when_async(OperatorCommand::ChangePassword { password_hash: HASH.into(), at: t() })
            .await
            .then_expect_events(vec![OperatorEvent::OperatorPasswordChanged { password_hash: HASH.into(), at: t() }]);
        TestFramework::<Operator>::with(())
            .given(vec![created()])
            .when_async(OperatorCommand::Disable { at: t() })
            .await
            .then_expect_events(vec![OperatorEvent::OperatorDisabled { at: t() }]);
        TestFramework::<Operator>::with(())
            .given(vec![created(), OperatorEvent::OperatorDisabled { at: t() }])
            .when_async(OperatorCommand::ChangePassword { password_hash: HASH.into(), at: t() })
            .await
            .then_expect_error(OperatorError::Disabled);
    }
}
