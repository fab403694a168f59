//! The gateway's in-memory route table: model name → route, read on every
//! completion without a database round trip. Loaded from `route_view` at start,
//! refreshed right after this process's own route commands (read-your-writes),
//! and following other processes' changes through the `gaiarouter_admin` NOTIFY
//! channel (`Route:<id>`), the mechanism the key cache uses, so a change made on
//! one gateway is served by every other within a second.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use gaiarouter_domain::route::{Route, RouteSpec};
use gaiarouter_projections::event_log::{load_aggregate, EventLogError};
use sqlx::PgPool;
use uuid::Uuid;

#[derive(Default)]
struct Entries {
    by_name: HashMap<String, Arc<RouteSpec>>,
    /// Which name each live route holds, so a rename or delete drops the old one.
    name_by_id: HashMap<Uuid, String>,
}

#[derive(Default)]
pub struct RouteTable {
    entries: RwLock<Entries>,
}

impl RouteTable {
    /// The live route clients address as `name`.
    pub fn get(&self, name: &str) -> Option<Arc<RouteSpec>> {
        self.entries.read().ok()?.by_name.get(name).cloned()
    }

    /// The names of the live routes, sorted (for `/v1/models`).
    pub fn names(&self) -> Vec<String> {
        let mut names: Vec<String> =
            self.entries.read().map(|e| e.by_name.keys().cloned().collect()).unwrap_or_default();
        names.sort_unstable();
        names
    }

    /// How many live routes there are.
    pub fn len(&self) -> usize {
        self.entries.read().map(|e| e.by_name.len()).unwrap_or_default()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Replaces everything with the live rows of `route_view`.
    pub async fn load_all(&self, pool: &PgPool) -> Result<(), EventLogError> {
        let rows: Vec<(Uuid, serde_json::Value)> =
            sqlx::query_as("SELECT id, spec FROM route_view WHERE NOT deleted").fetch_all(pool).await?;
        let mut entries = Entries::default();
        for (id, spec) in rows {
            match serde_json::from_value::<RouteSpec>(spec) {
                Ok(spec) => {
                    entries.name_by_id.insert(id, spec.name.clone());
                    entries.by_name.insert(spec.name.clone(), Arc::new(spec));
                }
                // One unreadable row must not take every other route down.
                Err(error) => tracing::error!(route_id = %id, %error, "skipping an unreadable route"),
            }
        }
        if let Ok(mut current) = self.entries.write() {
            *current = entries;
        }
        Ok(())
    }

    /// Re-folds one route from its events (committed before the notification, while
    /// the view may still lag behind).
    pub async fn refresh(&self, pool: &PgPool, id: Uuid) -> Result<(), EventLogError> {
        let (route, _) = load_aggregate::<Route>(pool, &id.to_string(), None).await?;
        let Some(state) = route.state else { return Ok(()) };
        let live = (!state.deleted).then_some(state.spec);
        self.set(id, live);
        Ok(())
    }

    /// Installs (or with `None` removes) one route.
    fn set(&self, id: Uuid, spec: Option<RouteSpec>) {
        let Ok(mut entries) = self.entries.write() else { return };
        if let Some(old_name) = entries.name_by_id.remove(&id) {
            entries.by_name.remove(&old_name);
        }
        if let Some(spec) = spec {
            entries.name_by_id.insert(id, spec.name.clone());
            entries.by_name.insert(spec.name.clone(), Arc::new(spec));
        }
    }

    /// Applies a `gaiarouter_admin` notification; other aggregates are ignored.
    pub async fn apply_notification(&self, pool: &PgPool, payload: &str) -> Result<(), EventLogError> {
        let Some(("Route", id)) = payload.split_once(':') else { return Ok(()) };
        let Ok(id) = Uuid::parse_str(id) else { return Ok(()) };
        self.refresh(pool, id).await
    }

    /// Follows other processes' route changes until the returned task is aborted.
    pub fn follow(self: &Arc<Self>, pool: PgPool) -> tokio::task::JoinHandle<()> {
        crate::postgres::follow::follow(Arc::clone(self), pool)
    }
}

impl crate::postgres::follow::FollowsAdminEvents for RouteTable {
    const NAME: &'static str = "route table";

    async fn reload(&self, pool: &PgPool) -> Result<(), EventLogError> {
        self.load_all(pool).await
    }

    async fn apply(&self, pool: &PgPool, payload: &str) -> Result<(), EventLogError> {
        self.apply_notification(pool, payload).await
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use gaiarouter_domain::route::{DeploymentSpec, RoutingStrategy};

    fn spec(name: &str, weight: u32) -> RouteSpec {
        RouteSpec {
            name: name.into(),
            deployments: vec![DeploymentSpec {
                id: "d1".into(),
                provider: "echo".into(),
                model: "x".into(),
                base_url: None,
                credential: None,
                weight,
                priority: 0,
                first_byte_timeout_ms: None,
                total_timeout_ms: None,
                rpm: None,
                tpm: None,
                price: None,
            }],
            fallbacks: vec![],
            strategy: RoutingStrategy::WeightedRandom,
            max_attempts: 3,
            cooldown_after_failures: 3,
            cooldown_seconds: 30,
        }
    }

    #[test]
    fn given_routes_when_renamed_or_deleted_then_lookups_follow() {
        let table = RouteTable::default();
        let id = Uuid::now_v7();
        table.set(id, Some(spec("smart", 1)));
        assert_eq!(table.get("smart").unwrap().deployments[0].weight, 1);
        table.set(id, Some(spec("smarter", 2)));
        assert!(table.get("smart").is_none(), "the old name is gone after a rename");
        assert_eq!(table.get("smarter").unwrap().deployments[0].weight, 2);
        table.set(id, None);
        assert!(table.get("smarter").is_none());
        assert!(table.is_empty());
    }
}
