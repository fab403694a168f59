//! API key use cases. The full key exists only in the answer to issue and rotate.

use chrono::{DateTime, Utc};
use gaiarouter_domain::api_key::ApiKeyCommand;
use gaiarouter_domain::{Limits, Permission};
use uuid::Uuid;

use super::{Actor, AdminError, AdminService};
use crate::auth::secrets;

pub struct NewApiKey {
    pub organization_id: Uuid,
    pub name: String,
    pub permission: Permission,
    pub limits: Limits,
    pub expires_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Default)]
pub struct ApiKeyChanges {
    pub name: Option<String>,
    pub permission: Option<Permission>,
    pub limits: Option<Limits>,
    /// `Some(None)` clears the expiry.
    pub expires_at: Option<Option<DateTime<Utc>>>,
}

impl AdminService {
    /// Issues a key; answers its id and the full key (shown once).
    pub async fn issue_api_key(&self, new: NewApiKey, actor: &Actor) -> Result<(Uuid, String), AdminError> {
        let id = Uuid::now_v7();
        let material = secrets::generate_secret(&secrets::generate_public_id());
        let command = || ApiKeyCommand::Issue {
            organization_id: new.organization_id,
            name: new.name.clone(),
            permission: new.permission,
            limits: new.limits.clone(),
            expires_at: new.expires_at,
            public_id: material.public_id.clone(),
            secret_hash: material.secret_hash.clone(),
            at: Utc::now(),
        };
        self.execute(&self.api_keys, id, command, actor).await?;
        Ok((id, material.full_key))
    }

    pub async fn update_api_key(&self, id: Uuid, changes: ApiKeyChanges, actor: &Actor) -> Result<(), AdminError> {
        if let Some(name) = changes.name {
            self.execute(&self.api_keys, id, || ApiKeyCommand::Rename { name: name.clone(), at: Utc::now() }, actor)
                .await?;
        }
        if let Some(permission) = changes.permission {
            let command = || ApiKeyCommand::ChangePermission { permission, at: Utc::now() };
            self.execute(&self.api_keys, id, command, actor).await?;
        }
        if let Some(limits) = changes.limits {
            self.execute(
                &self.api_keys,
                id,
                || ApiKeyCommand::ChangeLimits { limits: limits.clone(), at: Utc::now() },
                actor,
            )
            .await?;
        }
        if let Some(expires_at) = changes.expires_at {
            let command = || ApiKeyCommand::SetExpiry { expires_at, at: Utc::now() };
            self.execute(&self.api_keys, id, command, actor).await?;
        }
        Ok(())
    }

    /// Replaces the secret; the old one stops working as soon as this returns.
    pub async fn rotate_api_key(&self, id: Uuid, public_id: &str, actor: &Actor) -> Result<String, AdminError> {
        let material = secrets::generate_secret(public_id);
        let command = || ApiKeyCommand::RotateSecret { secret_hash: material.secret_hash.clone(), at: Utc::now() };
        self.execute(&self.api_keys, id, command, actor).await?;
        Ok(material.full_key)
    }

    pub async fn revoke_api_key(&self, id: Uuid, actor: &Actor) -> Result<(), AdminError> {
        self.execute(&self.api_keys, id, || ApiKeyCommand::Revoke { at: Utc::now() }, actor).await?;
        Ok(())
    }
}
