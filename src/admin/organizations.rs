//! Organization use cases.

use chrono::Utc;
use gaiarouter_domain::organization::{Organization, OrganizationCommand, OrganizationError, OrganizationStatus};
use gaiarouter_domain::{normalize_name, Limits};
use uuid::Uuid;

use super::names::{self, ORGANIZATION};
use super::{Actor, AdminError, AdminService};

/// A PATCH: every present field is changed, in this order.
#[derive(Debug, Default)]
pub struct OrganizationChanges {
    pub name: Option<String>,
    pub limits: Option<Limits>,
    pub status: Option<OrganizationStatus>,
    /// Store request and response bodies (see `crate::bodies`).
    pub log_bodies: Option<bool>,
}

fn invalid_name(error: gaiarouter_domain::NameError) -> AdminError {
    AdminError::invalid("invalid_name", "name", error.to_string())
}

impl AdminService {
    pub async fn create_organization(&self, name: &str, limits: Limits, actor: &Actor) -> Result<Uuid, AdminError> {
        let name = normalize_name(name).map_err(invalid_name)?;
        let id = Uuid::now_v7();
        names::claim(&self.pool, ORGANIZATION, &name, id).await?;
        let command = || OrganizationCommand::Create { name: name.clone(), limits: limits.clone(), at: Utc::now() };
        if let Err(error) = self.execute(&self.organizations, id, command, actor).await {
            names::release(&self.pool, ORGANIZATION, &name, id).await?;
            return Err(error);
        }
        Ok(id)
    }

    pub async fn update_organization(
        &self,
        id: Uuid,
        changes: OrganizationChanges,
        actor: &Actor,
    ) -> Result<(), AdminError> {
        if let Some(name) = changes.name {
            self.rename_organization(id, &name, actor).await?;
        }
        if let Some(limits) = changes.limits {
            let command = || OrganizationCommand::ChangeLimits { limits: limits.clone(), at: Utc::now() };
            self.execute(&self.organizations, id, command, actor).await?;
        }
        if let Some(enabled) = changes.log_bodies {
            let command = || OrganizationCommand::SetBodyLogging { enabled, at: Utc::now() };
            self.execute(&self.organizations, id, command, actor).await?;
        }
        match changes.status {
            Some(OrganizationStatus::Suspended) => {
                let command = || OrganizationCommand::Suspend { reason: None, at: Utc::now() };
                self.execute_status_change(id, command, OrganizationStatus::Suspended, actor).await?;
            }
            Some(OrganizationStatus::Active) => {
                let command = || OrganizationCommand::Reactivate { at: Utc::now() };
                self.execute_status_change(id, command, OrganizationStatus::Active, actor).await?;
            }
            Some(OrganizationStatus::Deleted) => {
                return Err(AdminError::invalid("invalid_status", "status", "use DELETE to delete an organization"));
            }
            None => {}
        }
        Ok(())
    }

    /// Setting the status it already has is not an error for a PATCH.
    async fn execute_status_change(
        &self,
        id: Uuid,
        command: impl Fn() -> OrganizationCommand,
        target: OrganizationStatus,
        actor: &Actor,
    ) -> Result<(), AdminError> {
        match self.execute(&self.organizations, id, command, actor).await {
            Err(
                error @ AdminError::Organization(OrganizationError::AlreadySuspended | OrganizationError::NotSuspended),
            ) => {
                let (current, _) = gaiarouter_projections::event_log::load_aggregate::<Organization>(
                    &self.pool,
                    &id.to_string(),
                    None,
                )
                .await?;
                if current.state.is_some_and(|s| s.status == target) {
                    Ok(())
                } else {
                    Err(error)
                }
            }
            other => other.map(|_| ()),
        }
    }

    async fn rename_organization(&self, id: Uuid, name: &str, actor: &Actor) -> Result<(), AdminError> {
        let name = normalize_name(name).map_err(invalid_name)?;
        let newly_claimed = names::claim(&self.pool, ORGANIZATION, &name, id).await?;
        let command = || OrganizationCommand::Rename { name: name.clone(), at: Utc::now() };
        match self.execute(&self.organizations, id, command, actor).await {
            Ok(executed) => {
                if let (Some(before), Some(after)) = (&executed.before.state, &executed.after.state) {
                    if !names::same_name(&before.name, &after.name) {
                        names::release(&self.pool, ORGANIZATION, &before.name, id).await?;
                    }
                }
                Ok(())
            }
            Err(error) => {
                if newly_claimed {
                    names::release(&self.pool, ORGANIZATION, &name, id).await?;
                }
                Err(error)
            }
        }
    }

    /// Soft delete: the history stays and the name becomes free.
    pub async fn delete_organization(&self, id: Uuid, actor: &Actor) -> Result<(), AdminError> {
        let command = || OrganizationCommand::Delete { at: Utc::now() };
        let executed = self.execute(&self.organizations, id, command, actor).await?;
        if let Some(before) = executed.before.state {
            names::release(&self.pool, ORGANIZATION, &before.name, id).await?;
        }
        Ok(())
    }
}
