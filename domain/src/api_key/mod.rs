//! The ApiKey aggregate: a credential of one organization with a permission,
//! optional limits and expiry. Only the SHA-256 hash of its secret is ever stored.

mod commands;
mod events;
#[cfg(test)]
mod tests;

pub use commands::ApiKeyCommand;
pub use events::ApiKeyEvent;

use chrono::{DateTime, Utc};
use cqrs_es::event_sink::EventSink;
use cqrs_es::Aggregate;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::limits::LimitsError;
use crate::{normalize_name, Limits, NameError, Permission};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApiKeyState {
    pub organization_id: Uuid,
    pub name: String,
    pub permission: Permission,
    pub limits: Limits,
    /// The public part of the key (`gr-<public_id>-<secret>`), safe to show.
    pub public_id: String,
    /// Hex SHA-256 of the secret part.
    pub secret_hash: String,
    pub expires_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl ApiKeyState {
    /// A key is usable until it is revoked or expires; revocation is final.
    pub fn is_usable_at(&self, now: DateTime<Utc>) -> bool {
        self.revoked_at.is_none() && self.expires_at.is_none_or(|expiry| now < expiry)
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApiKey {
    pub state: Option<ApiKeyState>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ApiKeyError {
    #[error("API key already issued")]
    AlreadyIssued,
    #[error("API key not found")]
    NotFound,
    #[error("API key is revoked")]
    Revoked,
    #[error("expiry must be in the future")]
    ExpiryInPast,
    #[error("secret hash must be 64 lowercase hex characters")]
    InvalidSecretHash,
    #[error("public id must be 8 to 32 letters or digits")]
    InvalidPublicId,
    #[error("the new secret must differ from the current one")]
    SameSecret,
    #[error(transparent)]
    InvalidName(#[from] NameError),
    #[error(transparent)]
    InvalidLimits(#[from] LimitsError),
}

fn check_secret_hash(hash: &str) -> Result<(), ApiKeyError> {
    let is_hex = hash.len() == 64 && hash.chars().all(|c| c.is_ascii_digit() || ('a'..='f').contains(&c));
    if is_hex {
        Ok(())
    } else {
        Err(ApiKeyError::InvalidSecretHash)
    }
}

fn check_public_id(public_id: &str) -> Result<(), ApiKeyError> {
    let ok = (8..=32).contains(&public_id.len()) && public_id.chars().all(|c| c.is_ascii_alphanumeric());
    if ok {
        Ok(())
    } else {
        Err(ApiKeyError::InvalidPublicId)
    }
}

impl ApiKey {
    pub fn decide(&self, command: ApiKeyCommand) -> Result<Vec<ApiKeyEvent>, ApiKeyError> {
        use ApiKeyCommand as C;
        use ApiKeyEvent as E;
        if let C::Issue { organization_id, name, permission, limits, expires_at, public_id, secret_hash, at } = command
        {
            if self.state.is_some() {
                return Err(ApiKeyError::AlreadyIssued);
            }
            limits.validate()?;
            check_secret_hash(&secret_hash)?;
            check_public_id(&public_id)?;
            if expires_at.is_some_and(|expiry| expiry <= at) {
                return Err(ApiKeyError::ExpiryInPast);
            }
            return Ok(vec![E::ApiKeyIssued {
                organization_id,
                name: normalize_name(&name)?,
                permission,
                limits,
                expires_at,
                public_id,
                secret_hash,
                at,
            }]);
        }
        let state = self.state.as_ref().ok_or(ApiKeyError::NotFound)?;
        if state.revoked_at.is_some() {
            return Err(ApiKeyError::Revoked);
        }
        Ok(match command {
            C::Issue { .. } => Vec::new(),
            C::Rename { name, at } => {
                let name = normalize_name(&name)?;
                if name == state.name {
                    Vec::new()
                } else {
                    vec![E::ApiKeyRenamed { name, at }]
                }
            }
            C::ChangePermission { permission, at } => {
                if permission == state.permission {
                    Vec::new()
                } else {
                    vec![E::ApiKeyPermissionChanged { permission, at }]
                }
            }
            C::ChangeLimits { limits, at } => {
                limits.validate()?;
                if limits == state.limits {
                    Vec::new()
                } else {
                    vec![E::ApiKeyLimitsChanged { limits, at }]
                }
            }
            C::SetExpiry { expires_at, at } => {
                if expires_at.is_some_and(|expiry| expiry <= at) {
                    return Err(ApiKeyError::ExpiryInPast);
                }
                if expires_at == state.expires_at {
                    Vec::new()
                } else {
                    vec![E::ApiKeyExpirySet { expires_at, at }]
                }
            }
            C::RotateSecret { secret_hash, at } => {
                check_secret_hash(&secret_hash)?;
                if secret_hash == state.secret_hash {
                    return Err(ApiKeyError::SameSecret);
                }
                vec![E::ApiKeySecretRotated { secret_hash, at }]
            }
            C::Revoke { at } => vec![E::ApiKeyRevoked { at }],
        })
    }
}

impl Aggregate for ApiKey {
    const TYPE: &'static str = "ApiKey";
    type Command = ApiKeyCommand;
    type Event = ApiKeyEvent;
    type Error = ApiKeyError;
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
        use ApiKeyEvent as E;
        if let E::ApiKeyIssued { organization_id, name, permission, limits, expires_at, public_id, secret_hash, at } =
            event
        {
            self.state = Some(ApiKeyState {
                organization_id,
                name,
                permission,
                limits,
                public_id,
                secret_hash,
                expires_at,
                revoked_at: None,
                created_at: at,
                updated_at: at,
            });
            return;
        }
        let Some(state) = self.state.as_mut() else {
            return;
        };
        let at = match event {
            E::ApiKeyIssued { at, .. } => at,
            E::ApiKeyRenamed { name, at } => {
                state.name = name;
                at
            }
            E::ApiKeyPermissionChanged { permission, at } => {
                state.permission = permission;
                at
            }
            E::ApiKeyLimitsChanged { limits, at } => {
                state.limits = limits;
                at
            }
            E::ApiKeyExpirySet { expires_at, at } => {
                state.expires_at = expires_at;
                at
            }
            E::ApiKeySecretRotated { secret_hash, at } => {
                state.secret_hash = secret_hash;
                at
            }
            E::ApiKeyRevoked { at } => {
                state.revoked_at = Some(at);
                at
            }
        };
        state.updated_at = at;
    }
}
