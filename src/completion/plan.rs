//! Where a model id leads: the deployments to try, in the order the router will
//! consider them, and the fallback routes after them. Without a configured route
//! a model id resolves as it always has (catalog, `provider/model`, echo) to one
//! deployment: the provider itself.

use std::sync::Arc;
use std::time::Duration;

use gaiarouter_domain::route::{DeploymentSpec, RouteSpec, RoutingStrategy};

use crate::gateway::providers::{DeploymentUpstream, Provider, Timeouts};
use crate::gateway::registry::RegistryError;
use crate::gateway::{ModelRegistry, Price, ProviderSet};
use crate::routing::health::{Capacity, DeploymentHealth, HealthBoard};
use crate::routing::select::Strategy;
use crate::routing::{credentials, RouteTable};

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
    /// Requests and tokens per minute the deployment is allowed.
    pub capacity: Capacity,
    pub health: Arc<DeploymentHealth>,
}

/// One route: its deployments and how to choose and retry among them.
pub struct RoutePlan {
    pub name: String,
    /// Another name clients and limits know this plan by: a built-in model's id
    /// without its provider (`gpt-4o` for `openai/gpt-4o`), so a per-model limit set
    /// under either spelling holds for both (none for routes).
    pub alias: Option<String>,
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
    pub routes: Vec<Arc<RoutePlan>>,
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
            "provider `{}` is not configured on this gateway: {}",
            resolved.provider,
            crate::gateway::providers::how_to_configure(&resolved.provider)
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
        capacity: Capacity::default(),
    };
    Ok(RoutePlan {
        alias: resolved.id.split_once('/').map(|(_, bare)| bare.to_string()),
        name: resolved.id,
        targets: vec![target],
        strategy: Strategy::WeightedRandom,
        max_attempts: 1,
        cooldown: None,
    })
}

/// The providers of route deployments, built once per deployment definition and
/// rebuilt when it changes (a new base URL, credential or timeout).
#[derive(Default)]
pub struct DeploymentProviders {
    built: std::sync::Mutex<std::collections::HashMap<String, Built>>,
}

/// A deployment's definition and the provider built from it.
type Built = (DeploymentSpec, Arc<dyn Provider>);

impl DeploymentProviders {
    fn provider(&self, label: &str, spec: &DeploymentSpec, providers: &ProviderSet) -> Option<Arc<dyn Provider>> {
        if let Ok(built) = self.built.lock() {
            if let Some((cached, provider)) = built.get(label) {
                if cached == spec {
                    return Some(Arc::clone(provider));
                }
            }
        }
        let defaults = providers.timeouts();
        let timeouts = Timeouts {
            connect: defaults.connect,
            total: spec.total_timeout_ms.map_or(defaults.total, Duration::from_millis),
            idle: spec.first_byte_timeout_ms.map_or(defaults.idle, Duration::from_millis),
            // A deployment's total bounds its streams too; without one, streams get
            // the longer default (a long answer is why clients stream).
            stream: spec.total_timeout_ms.map_or(defaults.stream, Duration::from_millis),
        };
        // A credential named but not set (yet) on this process: the deployment is
        // skipped rather than called without a key.
        let api_key = match &spec.credential {
            Some(name) => Some(credentials::resolve(name)?),
            None => None,
        };
        let provider = providers.deployment(DeploymentUpstream {
            kind: &spec.provider,
            base_url: spec.base_url.as_deref(),
            api_key,
            timeouts,
        })?;
        if let Ok(mut built) = self.built.lock() {
            built.insert(label.to_string(), (spec.clone(), Arc::clone(&provider)));
        }
        Some(provider)
    }
}

/// Route plans built from the current definitions, by route name.
#[derive(Default)]
pub struct RoutePlans {
    built: std::sync::Mutex<std::collections::HashMap<String, BuiltPlan>>,
}

/// A route's definition and the plan built from it.
type BuiltPlan = (Arc<RouteSpec>, Arc<RoutePlan>);

/// Everything a route plan is built from.
pub struct Sources<'a> {
    pub routes: &'a RouteTable,
    pub registry: &'a ModelRegistry,
    pub providers: &'a ProviderSet,
    pub health: &'a HealthBoard,
    pub deployments: &'a DeploymentProviders,
    pub plans: &'a RoutePlans,
}

impl Sources<'_> {
    /// The route a model id names, then its fallbacks in order (each a route, or a
    /// built-in model id). Fallbacks of fallbacks are not followed: what a request
    /// may try stays visible in one route's definition.
    pub fn plan(&self, model: &str) -> Result<Plan, PlanError> {
        let Some(spec) = self.routes.get(model) else {
            let route = builtin(model, self.registry, self.providers, self.health)?;
            return Ok(Plan { routes: vec![Arc::new(route)] });
        };
        let mut routes = vec![self.cached_route(&spec)];
        for fallback in &spec.fallbacks {
            match self.routes.get(fallback) {
                Some(spec) => routes.push(self.cached_route(&spec)),
                None => match builtin(fallback, self.registry, self.providers, self.health) {
                    Ok(route) => routes.push(Arc::new(route)),
                    Err(error) => tracing::warn!(route = %spec.name, %fallback, %error, "fallback skipped"),
                },
            }
        }
        Ok(Plan { routes })
    }

    /// The plan of a route, built once per version of its definition: the hot
    /// path then costs a map lookup, not providers, prices and labels per request.
    fn cached_route(&self, spec: &Arc<RouteSpec>) -> Arc<RoutePlan> {
        if let Ok(plans) = self.plans.built.lock() {
            if let Some((built_from, plan)) = plans.get(&spec.name) {
                if Arc::ptr_eq(built_from, spec) {
                    return Arc::clone(plan);
                }
            }
        }
        let plan = Arc::new(self.route(spec));
        if plan.targets.len() < spec.deployments.len() {
            // A deployment is missing its credential: try again next time.
            return plan;
        }
        if let Ok(mut plans) = self.plans.built.lock() {
            // Bounded by the number of routes: only route names are keys.
            plans.insert(spec.name.clone(), (Arc::clone(spec), Arc::clone(&plan)));
        }
        plan
    }

    fn route(&self, spec: &RouteSpec) -> RoutePlan {
        let targets = spec
            .deployments
            .iter()
            .filter_map(|deployment| {
                let label = format!("{}/{}", spec.name, deployment.id);
                let provider = self.deployments.provider(&label, deployment, self.providers)?;
                let price = match &deployment.price {
                    Some(price) => Price {
                        input_per_million: price.input_per_million,
                        output_per_million: price.output_per_million,
                        cached_input_per_million: price.cached_input_per_million,
                        cache_write_per_million: None,
                        cache_write_1h_per_million: None,
                        web_search_per_thousand: None,
                    }
                    .for_provider(&deployment.provider),
                    // The catalog's price of the upstream model, if it knows it.
                    None => self
                        .registry
                        .resolve(&format!("{}/{}", deployment.provider, deployment.model))
                        .ok()
                        .filter(|resolved| resolved.price_known)
                        .map(|resolved| resolved.price)
                        .unwrap_or_default(),
                };
                Some(Target {
                    health: self.health.of(&label),
                    deployment: label,
                    provider,
                    upstream_model: deployment.model.clone(),
                    price,
                    weight: deployment.weight,
                    priority: deployment.priority,
                    capacity: Capacity { rpm: deployment.rpm, tpm: deployment.tpm },
                })
            })
            .collect();
        RoutePlan {
            alias: None,
            name: spec.name.clone(),
            targets,
            strategy: match spec.strategy {
                RoutingStrategy::WeightedRandom => Strategy::WeightedRandom,
                RoutingStrategy::LeastInFlight => Strategy::LeastInFlight,
            },
            max_attempts: spec.max_attempts.max(1),
            cooldown: Some(Cooldown {
                after_failures: spec.cooldown_after_failures.max(1),
                duration: Duration::from_secs(u64::from(spec.cooldown_seconds)),
            }),
        }
    }
}
