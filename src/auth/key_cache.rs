//! The gateway's in-memory view of API keys and organizations, so authenticating a
//! completion costs no database round trip. Kept current by admin events: this
//! process refreshes an entry right after its own commands, and every process
//! listens on `gaiarouter_admin` (NOTIFY from the event store) for the others'.
//! Entries are folded from the events themselves, which are committed before the
//! notification arrives (the views may still lag behind at that moment).

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use chrono::{DateTime, Utc};
use gaiarouter_domain::api_key::ApiKey;
use gaiarouter_domain::organization::{Organization, OrganizationStatus};
use gaiarouter_domain::{Limits, Permission};
use gaiarouter_projections::admin_views::limits_from_json;
use gaiarouter_projections::event_log::load_aggregate;
use sqlx::PgPool;
use uuid::Uuid;

use gaiarouter_projections::event_log::EventLogError;

use super::{check_key_usable, secrets, AuthError};

#[derive(Debug, Clone)]
pub struct CachedKey {
    pub id: Uuid,
    pub organization_id: Uuid,
    pub name: String,
    pub permission: Permission,
    pub limits: Limits,
    pub secret_hash: String,
    pub expires_at: Option<DateTime<Utc>>,
    pub revoked: bool,
}

#[derive(Debug, Clone)]
pub struct CachedOrganization {
    pub status: OrganizationStatus,
    pub limits: Arc<Limits>,
    pub log_bodies: bool,
}

/// An authenticated gateway caller with everything admission needs.
#[derive(Debug, Clone)]
pub struct GatewayCaller {
    pub key: Arc<CachedKey>,
    /// Shared, not copied: limits are read on every request.
    pub organization_limits: Arc<Limits>,
    /// Whether the organization stores request and response bodies.
    pub log_bodies: bool,
}

#[derive(Default)]
struct Entries {
    keys_by_public_id: HashMap<String, Arc<CachedKey>>,
    public_id_by_key: HashMap<Uuid, String>,
    organizations: HashMap<Uuid, CachedOrganization>,
}

#[derive(Default)]
pub struct KeyCache {
    entries: RwLock<Entries>,
}

#[derive(sqlx::FromRow)]
struct KeyRow {
    id: Uuid,
    organization_id: Uuid,
    name: String,
    permission: String,
    limits: serde_json::Value,
    public_id: String,
    secret_hash: String,
    expires_at: Option<DateTime<Utc>>,
    revoked_at: Option<DateTime<Utc>>,
}

#[derive(sqlx::FromRow)]
struct OrgRow {
    id: Uuid,
    status: String,
    limits: serde_json::Value,
    log_bodies: bool,
}

impl KeyCache {
    /// Replaces everything with the current admin views.
    pub async fn load_all(&self, pool: &PgPool) -> Result<(), sqlx::Error> {
        let keys: Vec<KeyRow> = sqlx::query_as(
            "SELECT id, organization_id, name, permission, limits, \
                    public_id, secret_hash, expires_at, revoked_at FROM api_key_view",
        )
        .fetch_all(pool)
        .await?;
        let orgs: Vec<OrgRow> =
            sqlx::query_as("SELECT id, status, limits, log_bodies FROM organization_view").fetch_all(pool).await?;
        let mut entries = Entries::default();
        for row in keys {
            let Some(permission) = Permission::parse(&row.permission) else { continue };
            let key = CachedKey {
                id: row.id,
                organization_id: row.organization_id,
                name: row.name,
                permission,
                limits: limits_from_json(row.limits),
                secret_hash: row.secret_hash,
                expires_at: row.expires_at,
                revoked: row.revoked_at.is_some(),
            };
            entries.public_id_by_key.insert(key.id, row.public_id.clone());
            entries.keys_by_public_id.insert(row.public_id, Arc::new(key));
        }
        for row in orgs {
            let limits = Arc::new(limits_from_json(row.limits));
            entries.organizations.insert(
                row.id,
                CachedOrganization {
                    status: OrganizationStatus::parse(&row.status).unwrap_or(OrganizationStatus::Deleted),
                    limits,
                    log_bodies: row.log_bodies,
                },
            );
        }
        if let Ok(mut current) = self.entries.write() {
            *current = entries;
        }
        Ok(())
    }

    /// Re-folds one key from its events.
    pub async fn refresh_key(&self, pool: &PgPool, id: Uuid) -> Result<(), EventLogError> {
        let (key, _) = load_aggregate::<ApiKey>(pool, &id.to_string(), None).await?;
        let Some(state) = key.state else { return Ok(()) };
        let cached = CachedKey {
            id,
            organization_id: state.organization_id,
            name: state.name,
            permission: state.permission,
            limits: state.limits,
            secret_hash: state.secret_hash,
            expires_at: state.expires_at,
            revoked: state.revoked_at.is_some(),
        };
        if let Ok(mut entries) = self.entries.write() {
            entries.public_id_by_key.insert(id, state.public_id.clone());
            entries.keys_by_public_id.insert(state.public_id, Arc::new(cached));
        }
        Ok(())
    }

    /// Re-folds one organization from its events.
    pub async fn refresh_organization(&self, pool: &PgPool, id: Uuid) -> Result<(), EventLogError> {
        let (organization, _) = load_aggregate::<Organization>(pool, &id.to_string(), None).await?;
        let Some(state) = organization.state else { return Ok(()) };
        if let Ok(mut entries) = self.entries.write() {
            entries.organizations.insert(
                id,
                CachedOrganization {
                    status: state.status,
                    limits: Arc::new(state.limits),
                    log_bodies: state.log_bodies,
                },
            );
        }
        Ok(())
    }

    /// Applies a `gaiarouter_admin` notification (`ApiKey:<id>` / `Organization:<id>`).
    pub async fn apply_notification(&self, pool: &PgPool, payload: &str) -> Result<(), EventLogError> {
        let Some((kind, id)) = payload.split_once(':') else { return Ok(()) };
        let Ok(id) = Uuid::parse_str(id) else { return Ok(()) };
        match kind {
            "ApiKey" => self.refresh_key(pool, id).await,
            "Organization" => self.refresh_organization(pool, id).await,
            _ => Ok(()),
        }
    }

    /// Authenticates a gateway key without touching the database.
    pub fn authenticate(&self, presented: &str) -> Result<GatewayCaller, AuthError> {
        let invalid = || AuthError::InvalidApiKey;
        let (public_id, secret) = secrets::parse_key(presented).ok_or_else(invalid)?;
        let entries = self.entries.read().map_err(|_| AuthError::CachePoisoned)?;
        let key = entries.keys_by_public_id.get(public_id).ok_or_else(invalid)?;
        if !secrets::secret_matches(secret, &key.secret_hash) {
            return Err(invalid());
        }
        let organization = entries.organizations.get(&key.organization_id);
        check_key_usable(key.revoked, key.expires_at, organization.map(|o| o.status))?;
        Ok(caller(key, organization))
    }

    /// The organization and key of a presented key whose secret is right, whatever
    /// its state: who a refused key (revoked, expired, suspended) belongs to.
    pub fn identify(&self, presented: &str) -> Option<(Uuid, Uuid)> {
        let (public_id, secret) = secrets::parse_key(presented)?;
        let entries = self.entries.read().ok()?;
        let key = entries.keys_by_public_id.get(public_id)?;
        secrets::secret_matches(secret, &key.secret_hash).then_some((key.organization_id, key.id))
    }

    /// The caller a key id stands for, for a signed-in operator trying a key in the
    /// playground (no secret: the operator's session vouches). The key must be usable.
    pub fn caller_by_id(&self, id: Uuid) -> Result<GatewayCaller, AuthError> {
        let entries = self.entries.read().map_err(|_| AuthError::CachePoisoned)?;
        let key = entries.keys_by_public_id.values().find(|key| key.id == id).ok_or(AuthError::InvalidApiKey)?;
        let organization = entries.organizations.get(&key.organization_id);
        check_key_usable(key.revoked, key.expires_at, organization.map(|o| o.status))?;
        Ok(caller(key, organization))
    }

    /// Follows other processes' admin changes until the returned task is aborted.
    pub fn follow(self: &Arc<Self>, pool: PgPool) -> tokio::task::JoinHandle<()> {
        crate::postgres::follow::follow(Arc::clone(self), pool)
    }
}

/// A usable key as the gateway sees it, with what its organization decides.
fn caller(key: &Arc<CachedKey>, organization: Option<&CachedOrganization>) -> GatewayCaller {
    GatewayCaller {
        key: Arc::clone(key),
        organization_limits: organization.map(|o| Arc::clone(&o.limits)).unwrap_or_default(),
        log_bodies: organization.is_some_and(|o| o.log_bodies),
    }
}

impl crate::postgres::follow::FollowsAdminEvents for KeyCache {
    const NAME: &'static str = "key cache";

    async fn reload(&self, pool: &PgPool) -> Result<(), EventLogError> {
        Ok(self.load_all(pool).await?)
    }

    async fn apply(&self, pool: &PgPool, payload: &str) -> Result<(), EventLogError> {
        self.apply_notification(pool, payload).await
    }
}
