//! What a route is: the model name clients send, its deployments and fallbacks,
//! and the pure checks that a definition is sound before it is recorded.

use serde::{Deserialize, Serialize};

use crate::request::{check_model_id, ModelIdError};
use crate::Money;

/// Provider types a deployment may name (`openai` is any OpenAI-compatible server).
pub const PROVIDER_TYPES: [&str; 5] = ["openai", "anthropic", "google", "openrouter", "echo"];
pub const MAX_DEPLOYMENTS: usize = 32;
pub const MAX_FALLBACKS: usize = 8;
pub const MAX_ATTEMPTS: u32 = 10;
pub const MAX_DEPLOYMENT_ID_LEN: usize = 64;
/// Longest base URL accepted; real ones are far shorter, the bound keeps events small.
pub const MAX_BASE_URL_LEN: usize = 2048;
pub const MAX_CREDENTIAL_NAME_LEN: usize = 128;
/// A weight this large already makes every other deployment negligible.
pub const MAX_WEIGHT: u32 = 1_000_000;
/// A day: longer cooldowns or timeouts are configuration mistakes.
pub const MAX_COOLDOWN_SECONDS: u32 = 86_400;
pub const MAX_TIMEOUT_MS: u64 = 86_400_000;
pub const MAX_COOLDOWN_AFTER_FAILURES: u32 = 1_000;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeploymentPrice {
    pub input_per_million: Money,
    pub cached_input_per_million: Option<Money>,
    pub output_per_million: Money,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeploymentSpec {
    /// Unique within the route, `[a-z0-9_-]{1,64}`.
    pub id: String,
    /// Provider type: one of `PROVIDER_TYPES`.
    pub provider: String,
    /// Upstream model id.
    pub model: String,
    /// `None`: the provider's configured or default base URL.
    pub base_url: Option<String>,
    /// A credential NAME (`env:VAR_NAME` or a name from the config file), never a value.
    pub credential: Option<String>,
    pub weight: u32,
    /// Lower is tried first.
    pub priority: u32,
    pub first_byte_timeout_ms: Option<u64>,
    pub total_timeout_ms: Option<u64>,
    /// Capacity the deployment is allowed (informational for now).
    pub rpm: Option<u64>,
    pub tpm: Option<u64>,
    /// `None`: the catalog price of (provider, model), else zero.
    pub price: Option<DeploymentPrice>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RoutingStrategy {
    #[default]
    WeightedRandom,
    LeastInFlight,
}

impl RoutingStrategy {
    pub fn as_str(self) -> &'static str {
        match self {
            RoutingStrategy::WeightedRandom => "weighted_random",
            RoutingStrategy::LeastInFlight => "least_in_flight",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RouteSpec {
    /// What clients send as `model`.
    pub name: String,
    pub deployments: Vec<DeploymentSpec>,
    /// Other route names, tried in order once this route's attempts are spent.
    pub fallbacks: Vec<String>,
    pub strategy: RoutingStrategy,
    /// Attempts over this route's deployments before the fallbacks.
    pub max_attempts: u32,
    /// Consecutive failures that cool a deployment down.
    pub cooldown_after_failures: u32,
    pub cooldown_seconds: u32,
}

pub const DEFAULT_MAX_ATTEMPTS: u32 = 3;
pub const DEFAULT_COOLDOWN_AFTER_FAILURES: u32 = 3;
pub const DEFAULT_COOLDOWN_SECONDS: u32 = 30;

/// Why a route definition is refused; `param()` names the offending field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RouteSpecError {
    #[error("name {0}")]
    InvalidName(ModelIdError),
    #[error("a route needs 1 to 32 deployments")]
    DeploymentCount,
    #[error("deployment {index}: {field} {reason}")]
    InvalidDeployment { index: usize, field: &'static str, reason: String },
    #[error("deployment id `{0}` is used twice")]
    DuplicateDeploymentId(String),
    #[error("at most 8 fallbacks")]
    TooManyFallbacks,
    #[error("fallback {index}: {reason}")]
    InvalidFallback { index: usize, reason: String },
    #[error("max_attempts must be 1 to 10")]
    MaxAttempts,
    #[error("cooldown_after_failures must be 1 to 1000")]
    CooldownAfterFailures,
    #[error("cooldown_seconds must be at most 86400")]
    CooldownSeconds,
}

impl RouteSpecError {
    /// The request field at fault, as the API names it.
    pub fn param(&self) -> String {
        match self {
            RouteSpecError::InvalidName(_) => "name".into(),
            RouteSpecError::DeploymentCount => "deployments".into(),
            RouteSpecError::InvalidDeployment { index, field, .. } => format!("deployments[{index}].{field}"),
            RouteSpecError::DuplicateDeploymentId(_) => "deployments.id".into(),
            RouteSpecError::TooManyFallbacks => "fallbacks".into(),
            RouteSpecError::InvalidFallback { index, .. } => format!("fallbacks[{index}]"),
            RouteSpecError::MaxAttempts => "max_attempts".into(),
            RouteSpecError::CooldownAfterFailures => "cooldown_after_failures".into(),
            RouteSpecError::CooldownSeconds => "cooldown_seconds".into(),
        }
    }
}

/// `[a-z0-9_-]{1,64}`.
pub fn is_deployment_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= MAX_DEPLOYMENT_ID_LEN
        && id.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-')
}

/// The shape of a credential name: `env:VAR` (a POSIX variable name) or a config
/// name `[a-z0-9_-]{1,64}`. Whether it is set on this gateway is the caller's check.
pub fn check_credential_name(name: &str) -> Result<(), String> {
    if name.len() > MAX_CREDENTIAL_NAME_LEN {
        return Err("is too long".into());
    }
    if let Some(var) = name.strip_prefix("env:") {
        let mut bytes = var.bytes();
        let starts_well = bytes.next().is_some_and(|b| b.is_ascii_alphabetic() || b == b'_');
        if starts_well && bytes.all(|b| b.is_ascii_alphanumeric() || b == b'_') {
            return Ok(());
        }
        return Err("must be `env:NAME` with a valid environment variable name".into());
    }
    if is_deployment_id(name) {
        Ok(())
    } else {
        Err("must be `env:NAME` or a credential name from the config file ([a-z0-9_-])".into())
    }
}

fn check_base_url(raw: &str) -> Result<(), String> {
    if raw.len() > MAX_BASE_URL_LEN {
        return Err("is too long".into());
    }
    let parsed = url::Url::parse(raw).map_err(|e| format!("does not parse: {e}"))?;
    if !matches!(parsed.scheme(), "http" | "https") {
        return Err("must be an http or https URL".into());
    }
    if parsed.host_str().is_none_or(str::is_empty) {
        return Err("must name a host".into());
    }
    // A password in the URL would put a secret into the event store.
    if !parsed.username().is_empty() || parsed.password().is_some() {
        return Err("must not carry credentials; name them in `credential`".into());
    }
    Ok(())
}

fn check_deployment(index: usize, d: &DeploymentSpec) -> Result<(), RouteSpecError> {
    let bad = |field: &'static str, reason: String| RouteSpecError::InvalidDeployment { index, field, reason };
    if !is_deployment_id(&d.id) {
        return Err(bad("id", "must be 1 to 64 of [a-z0-9_-]".into()));
    }
    if !PROVIDER_TYPES.contains(&d.provider.as_str()) {
        return Err(bad("provider", format!("must be one of {}", PROVIDER_TYPES.join(", "))));
    }
    check_model_id(&d.model).map_err(|e| bad("model", e.to_string()))?;
    if let Some(url) = &d.base_url {
        check_base_url(url).map_err(|reason| bad("base_url", reason))?;
    }
    if let Some(credential) = &d.credential {
        check_credential_name(credential).map_err(|reason| bad("credential", reason))?;
    }
    if d.weight == 0 || d.weight > MAX_WEIGHT {
        return Err(bad("weight", "must be 1 to 1000000".into()));
    }
    for (field, value) in [("first_byte_timeout_ms", d.first_byte_timeout_ms), ("total_timeout_ms", d.total_timeout_ms)]
    {
        if value.is_some_and(|ms| ms == 0 || ms > MAX_TIMEOUT_MS) {
            return Err(bad(field, "must be 1 to 86400000 milliseconds".into()));
        }
    }
    if let Some(price) = &d.price {
        let negative = price.input_per_million.nanos() < 0
            || price.output_per_million.nanos() < 0
            || price.cached_input_per_million.is_some_and(|m| m.nanos() < 0);
        if negative {
            return Err(bad("price", "must not be negative".into()));
        }
    }
    Ok(())
}

impl RouteSpec {
    /// Checks everything that needs no knowledge of other routes or of this
    /// gateway's environment (those are the use case's checks).
    pub fn validate(&self) -> Result<(), RouteSpecError> {
        check_model_id(&self.name).map_err(RouteSpecError::InvalidName)?;
        if self.deployments.is_empty() || self.deployments.len() > MAX_DEPLOYMENTS {
            return Err(RouteSpecError::DeploymentCount);
        }
        for (index, deployment) in self.deployments.iter().enumerate() {
            check_deployment(index, deployment)?;
            if self.deployments[..index].iter().any(|other| other.id == deployment.id) {
                return Err(RouteSpecError::DuplicateDeploymentId(deployment.id.clone()));
            }
        }
        if self.fallbacks.len() > MAX_FALLBACKS {
            return Err(RouteSpecError::TooManyFallbacks);
        }
        for (index, fallback) in self.fallbacks.iter().enumerate() {
            let bad = |reason: String| RouteSpecError::InvalidFallback { index, reason };
            check_model_id(fallback).map_err(|e| bad(e.to_string()))?;
            if fallback == &self.name {
                return Err(bad("a route cannot fall back to itself".into()));
            }
            if self.fallbacks[..index].contains(fallback) {
                return Err(bad(format!("`{fallback}` is listed twice")));
            }
        }
        if self.max_attempts == 0 || self.max_attempts > MAX_ATTEMPTS {
            return Err(RouteSpecError::MaxAttempts);
        }
        if self.cooldown_after_failures == 0 || self.cooldown_after_failures > MAX_COOLDOWN_AFTER_FAILURES {
            return Err(RouteSpecError::CooldownAfterFailures);
        }
        if self.cooldown_seconds > MAX_COOLDOWN_SECONDS {
            return Err(RouteSpecError::CooldownSeconds);
        }
        Ok(())
    }
}

/// Finds a fallback cycle through `start` given every route's fallbacks (by name,
/// including `start`'s new list). Answers the cycle as names, `start` first.
pub fn find_fallback_cycle<'a>(
    start: &'a str,
    fallbacks_of: &dyn Fn(&str) -> Option<&'a [String]>,
) -> Option<Vec<String>> {
    // Depth-first from `start`; a path that comes back to `start` is a cycle. Cycles
    // not through `start` already existed and were refused when they were made.
    fn visit<'a>(
        name: &'a str,
        start: &str,
        fallbacks_of: &dyn Fn(&str) -> Option<&'a [String]>,
        path: &mut Vec<String>,
        seen: &mut std::collections::HashSet<String>,
    ) -> bool {
        for next in fallbacks_of(name).unwrap_or_default() {
            if next == start {
                return true;
            }
            if seen.insert(next.clone()) {
                path.push(next.clone());
                if visit(next, start, fallbacks_of, path, seen) {
                    return true;
                }
                path.pop();
            }
        }
        false
    }
    let mut path = vec![start.to_string()];
    let mut seen = std::collections::HashSet::from([start.to_string()]);
    visit(start, start, fallbacks_of, &mut path, &mut seen).then(|| {
        path.push(start.to_string());
        path
    })
}
