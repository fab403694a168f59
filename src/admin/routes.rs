//! Route use cases. Beyond the aggregate's own rules, a route definition is
//! checked against this gateway: its name must not shadow a built-in model id,
//! its credentials must be set here, its fallbacks must be live routes and must
//! not form a cycle. Checks that span routes run under one advisory lock, so two
//! concurrent changes cannot make a cycle (or orphan a fallback) together.

use std::collections::HashMap;

use chrono::Utc;
use gaiarouter_domain::route::{find_fallback_cycle, Route, RouteCommand, RouteSpec};
use uuid::Uuid;

use super::names::{self, ROUTE};
use super::{Actor, AdminError, AdminService};
use crate::gateway::ModelRegistry;
use crate::routing::credentials;

/// The advisory lock key serializing route changes ("routes" in ASCII). Transaction
/// scoped: a cancelled request releases it with its rolled-back transaction.
const ROUTES_LOCK: i64 = 0x726f_7574_6573;

/// The live routes other than `except`: name → fallbacks.
async fn live_fallbacks(pool: &sqlx::PgPool, except: Option<Uuid>) -> Result<HashMap<String, Vec<String>>, AdminError> {
    let rows: Vec<(String, serde_json::Value)> =
        sqlx::query_as("SELECT name, spec->'fallbacks' FROM route_view WHERE NOT deleted AND id IS DISTINCT FROM $1")
            .bind(except)
            .fetch_all(pool)
            .await?;
    Ok(rows
        .into_iter()
        .map(|(name, fallbacks)| (name, serde_json::from_value(fallbacks).unwrap_or_default()))
        .collect())
}

/// Live routes (other than `route`) whose fallbacks name `name`.
fn dependents(routes: &HashMap<String, Vec<String>>, name: &str) -> Vec<String> {
    let mut names: Vec<String> =
        routes.iter().filter(|(_, fallbacks)| fallbacks.iter().any(|f| f == name)).map(|(n, _)| n.clone()).collect();
    names.sort();
    names
}

impl AdminService {
    /// Everything about `spec` that depends on this gateway and the other routes.
    async fn check_route(
        &self,
        spec: &RouteSpec,
        id: Option<Uuid>,
        registry: &ModelRegistry,
    ) -> Result<(), AdminError> {
        spec.validate()?;
        if registry.names_a_model(&spec.name) {
            return Err(AdminError::invalid(
                "route_name_reserved",
                "name",
                format!("`{}` is a built-in model id; a route must not shadow it", spec.name),
            ));
        }
        for (index, deployment) in spec.deployments.iter().enumerate() {
            if let Some(name) = &deployment.credential {
                // The name only: whatever the variable might hold is never echoed.
                let param = format!("deployments[{index}].credential");
                match credentials::usable(name) {
                    Ok(_) => {}
                    Err(credentials::Unusable::NotAllowed) => {
                        return Err(AdminError::invalid(
                            "credential_not_allowed",
                            param,
                            format!(
                                "`{name}` is not a variable this gateway lets deployments name: its operator lists \
                                 those in {}, or names a secret in the config file's [credentials]",
                                credentials::ALLOWED_VARS
                            ),
                        ))
                    }
                    Err(credentials::Unusable::NotSet) => {
                        return Err(AdminError::invalid(
                            "credential_not_set",
                            param,
                            format!("credential `{name}` is not set on this gateway"),
                        ))
                    }
                }
            }
        }
        let mut routes = live_fallbacks(&self.pool, id).await?;
        for (index, fallback) in spec.fallbacks.iter().enumerate() {
            // A fallback is another route or a built-in model id (`gpt-4o`, `echo/x`).
            if !routes.contains_key(fallback) && registry.resolve(fallback).is_err() {
                return Err(AdminError::invalid(
                    "unknown_fallback",
                    format!("fallbacks[{index}]"),
                    format!("no route or model is named `{fallback}`"),
                ));
            }
        }
        routes.insert(spec.name.clone(), spec.fallbacks.clone());
        let lookup = |name: &str| routes.get(name).map(Vec::as_slice);
        if let Some(cycle) = find_fallback_cycle(&spec.name, &lookup) {
            return Err(AdminError::invalid(
                "fallback_cycle",
                "fallbacks",
                format!("fallbacks form a cycle: {}", cycle.join(" → ")),
            ));
        }
        Ok(())
    }

    pub async fn create_route(
        &self,
        spec: RouteSpec,
        registry: &ModelRegistry,
        actor: &Actor,
    ) -> Result<Uuid, AdminError> {
        let mut lock = self.pool.begin().await?;
        sqlx::query("SELECT pg_advisory_xact_lock($1)").bind(ROUTES_LOCK).execute(&mut *lock).await?;
        self.check_route(&spec, None, registry).await?;
        let id = Uuid::now_v7();
        names::claim(&self.pool, ROUTE, &spec.name, id).await?;
        let name = spec.name.clone();
        let command = || RouteCommand::Create { spec: spec.clone(), at: Utc::now() };
        if let Err(error) = self.execute(&self.routes, id, command, actor).await {
            names::release(&self.pool, ROUTE, &name, id).await?;
            return Err(error);
        }
        lock.commit().await?;
        Ok(id)
    }

    /// The live route `id`, as folded from its events.
    pub async fn current_route(&self, id: Uuid) -> Result<RouteSpec, AdminError> {
        let (route, _) =
            gaiarouter_projections::event_log::load_aggregate::<Route>(&self.pool, &id.to_string(), None).await?;
        match route.state {
            Some(state) if !state.deleted => Ok(state.spec),
            _ => Err(AdminError::not_found("route_not_found", "route not found")),
        }
    }

    /// Replaces route `id`'s definition with what `change` makes of the current one.
    pub async fn update_route<E>(
        &self,
        id: Uuid,
        change: impl Fn(&RouteSpec) -> Result<RouteSpec, E>,
        registry: &ModelRegistry,
        actor: &Actor,
    ) -> Result<(), AdminError>
    where
        E: Into<AdminError>,
    {
        let mut lock = self.pool.begin().await?;
        sqlx::query("SELECT pg_advisory_xact_lock($1)").bind(ROUTES_LOCK).execute(&mut *lock).await?;
        let current = self.current_route(id).await?;
        let spec = change(&current).map_err(Into::into)?;
        let renamed = spec.name != current.name;
        if renamed {
            let users = dependents(&live_fallbacks(&self.pool, Some(id)).await?, &current.name);
            if !users.is_empty() {
                return Err(AdminError::Conflict {
                    code: "route_in_use",
                    param: Some("name".into()),
                    message: format!("routes {} fall back to `{}`; change them first", users.join(", "), current.name),
                });
            }
        }
        self.check_route(&spec, Some(id), registry).await?;
        let newly_claimed = names::claim(&self.pool, ROUTE, &spec.name, id).await?;
        let command = || RouteCommand::Update { spec: spec.clone(), at: Utc::now() };
        match self.execute(&self.routes, id, command, actor).await {
            Ok(_) => {
                if renamed && !names::same_name(&current.name, &spec.name) {
                    names::release(&self.pool, ROUTE, &current.name, id).await?;
                }
            }
            Err(error) => {
                if newly_claimed {
                    names::release(&self.pool, ROUTE, &spec.name, id).await?;
                }
                return Err(error);
            }
        }
        lock.commit().await?;
        Ok(())
    }

    /// Soft delete: the history stays and the name becomes free. Refused while
    /// another route falls back to this one.
    pub async fn delete_route(&self, id: Uuid, actor: &Actor) -> Result<(), AdminError> {
        let mut lock = self.pool.begin().await?;
        sqlx::query("SELECT pg_advisory_xact_lock($1)").bind(ROUTES_LOCK).execute(&mut *lock).await?;
        let current = self.current_route(id).await?;
        let users = dependents(&live_fallbacks(&self.pool, Some(id)).await?, &current.name);
        if !users.is_empty() {
            return Err(AdminError::conflict(
                "route_in_use",
                format!("routes {} fall back to `{}`; change them first", users.join(", "), current.name),
            ));
        }
        self.execute(&self.routes, id, || RouteCommand::Delete { at: Utc::now() }, actor).await?;
        names::release(&self.pool, ROUTE, &current.name, id).await?;
        lock.commit().await?;
        Ok(())
    }

    /// The live route named `name`, if any (for idempotent seeding).
    pub async fn route_id_by_name(&self, name: &str) -> Result<Option<Uuid>, AdminError> {
        Ok(sqlx::query_scalar("SELECT id FROM route_view WHERE name = $1 AND NOT deleted LIMIT 1")
            .bind(name)
            .fetch_optional(&self.pool)
            .await?)
    }
}
