//! Where a model id leads: the deployments to try, in the order the router will
//! consider them, and the fallback routes after them. Without a configured route
//! a model id resolves as it always has (catalog, `provider/model`, echo) to one
//! deployment: the provider itself.

use std::sync::Arc;
use std::time::Duration;

use crate::gateway::providers::Provider;
use crate::gateway::registry::RegistryError;
use crate::gateway::{ModelRegistry, Price, ProviderSet};
use crate::routing::health::{DeploymentHealth, HealthBoard};
use crate::routing::select::Strategy;

/// One deployment a request may be sent to.
#[derive(Clone)]
pub struct Target {
    /// Recorded as the serving deployment: `route/deployment`, or the provider
    /// name for a built-in model id.
    pub deployment: String,
    pub provider: Arc<dyn Provider>,
    pub upstream_model: String,
    pub price: Price,
    pub weight: u32,
    pub priority: u32,
    pub health: Arc<DeploymentHealth>,
}

/// One route: its deployments and how to choose and retry among them.
pub struct RoutePlan {
    pub name: String,
    pub targets: Vec<Target>,
    pub strategy: Strategy,
    /// Attempts over this route's deployments before its fallbacks.
    pub max_attempts: u32,
    /// `None`: a failing deployment is never cooled down (a built-in model id
    /// has only the one; cooling it down would turn every error into a 503).
    pub cooldown: Option<Cooldown>,
}

#[derive(Debug, Clone, Copy)]
pub struct Cooldown {
    pub after_failures: u32,
    pub duration: Duration,
}

/// The route a model id names, then its fallbacks in order.
pub struct Plan {
    pub routes: Vec<RoutePlan>,
}

#[derive(Debug, thiserror::Error)]
pub enum PlanError {
    #[error("{0}")]
    UnknownModel(String),
    #[error("{0}")]
    InvalidModel(String),
}

impl Plan {
    /// The price of the first deployment, for the admission estimate.
    pub fn first_price(&self) -> Price {
        self.routes.first().and_then(|r| r.targets.first()).map(|t| t.price).unwrap_or_default()
    }
}

/// A built-in model id: one deployment, the provider that serves it.
pub fn builtin(
    model: &str,
    registry: &ModelRegistry,
    providers: &ProviderSet,
    health: &HealthBoard,
) -> Result<RoutePlan, PlanError> {
    let resolved = registry.resolve(model).map_err(|e| match e {
        RegistryError::UnknownModel(_) | RegistryError::UnknownProvider { .. } => {
            PlanError::UnknownModel(e.to_string())
        }
        other => PlanError::InvalidModel(other.to_string()),
    })?;
    let provider = providers.get(&resolved.provider).ok_or_else(|| {
        PlanError::UnknownModel(format!(
            "provider `{}` is not configured on this gateway (set its API key)",
            resolved.provider
        ))
    })?;
    let target = Target {
        health: health.of(&resolved.provider),
        deployment: resolved.provider,
        provider,
        upstream_model: resolved.upstream_model,
        price: resolved.price,
        weight: 1,
        priority: 0,
    };
    Ok(RoutePlan {
        name: resolved.id,
        targets: vec![target],
        strategy: Strategy::WeightedRandom,
        max_attempts: 1,
        cooldown: None,
    })
}
