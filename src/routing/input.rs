//! Route definitions as clients write them (the admin API and the routes file):
//! optional fields get their defaults, deployment ids are numbered when omitted,
//! and prices are decimal USD per million tokens, parsed exactly into `Money`.

use gaiarouter_domain::route::{
    DeploymentPrice, DeploymentSpec, RouteSpec, RoutingStrategy, DEFAULT_COOLDOWN_AFTER_FAILURES,
    DEFAULT_COOLDOWN_SECONDS, DEFAULT_MAX_ATTEMPTS,
};
use gaiarouter_domain::Money;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// A refused definition: the field at fault and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{param}: {message}")]
pub struct InputError {
    pub param: String,
    pub message: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PriceInput {
    /// USD per million input tokens (up to 9 decimal places, kept exactly).
    #[schema(value_type = f64, minimum = 0)]
    pub input_per_million_usd: serde_json::Number,
    /// USD per million cached input tokens; absent: the input price.
    #[schema(value_type = Option<f64>, minimum = 0)]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cached_input_per_million_usd: Option<serde_json::Number>,
    #[schema(value_type = f64, minimum = 0)]
    pub output_per_million_usd: serde_json::Number,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DeploymentInput {
    /// Unique within the route, `[a-z0-9_-]{1,64}`; default `d1`, `d2`, ...
    #[serde(default)]
    pub id: Option<String>,
    /// `openai` (any OpenAI-compatible server), `anthropic`, `google`, `openrouter` or `echo`.
    pub provider: String,
    /// The upstream model id.
    pub model: String,
    /// http(s) URL; absent: the provider's configured or default base URL.
    #[serde(default)]
    pub base_url: Option<String>,
    /// A credential NAME: `env:VAR_NAME` or a name from the config file's `[credentials]`.
    #[serde(default)]
    pub credential: Option<String>,
    /// At least 1 (default 1).
    #[serde(default)]
    pub weight: Option<u32>,
    /// Lower is tried first (default 0).
    #[serde(default)]
    pub priority: Option<u32>,
    /// In a stream, waiting for the response headers and for each next event
    /// (absent: 120 s). A plain answer is bounded by `total_timeout_ms` alone: its
    /// headers come when it is ready, so a first-byte bound would cut long reasoning.
    #[serde(default)]
    pub first_byte_timeout_ms: Option<u64>,
    /// A whole call, a stream included (absent: 600 s, and one hour for a stream).
    #[serde(default)]
    pub total_timeout_ms: Option<u64>,
    #[serde(default)]
    pub rpm: Option<u64>,
    #[serde(default)]
    pub tpm: Option<u64>,
    /// Absent: the catalog price of (provider, model), else free.
    #[serde(default)]
    pub price: Option<PriceInput>,
}

/// A whole route (POST, routes file).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RouteInput {
    /// What clients send as `model`; must not be a built-in model id.
    pub name: String,
    pub deployments: Vec<DeploymentInput>,
    /// Other routes' names, tried in order when this route's attempts failed.
    #[serde(default)]
    pub fallbacks: Vec<String>,
    /// `weighted_random` (default) or `least_in_flight`.
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    pub strategy: Option<RoutingStrategy>,
    #[serde(default)]
    pub max_attempts: Option<u32>,
    #[serde(default)]
    pub cooldown_after_failures: Option<u32>,
    #[serde(default)]
    pub cooldown_seconds: Option<u32>,
}

/// A PATCH: every field given replaces that field (`deployments` as a whole list).
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RoutePatch {
    pub name: Option<String>,
    pub deployments: Option<Vec<DeploymentInput>>,
    pub fallbacks: Option<Vec<String>>,
    #[schema(value_type = Option<String>)]
    pub strategy: Option<RoutingStrategy>,
    pub max_attempts: Option<u32>,
    pub cooldown_after_failures: Option<u32>,
    pub cooldown_seconds: Option<u32>,
}

fn money(param: String, number: &serde_json::Number) -> Result<Money, InputError> {
    Money::from_usd_decimal(&number.to_string()).map_err(|e| InputError { param, message: e.to_string() })
}

fn price(index: usize, input: &PriceInput) -> Result<DeploymentPrice, InputError> {
    let param = |field: &str| format!("deployments[{index}].price.{field}");
    Ok(DeploymentPrice {
        input_per_million: money(param("input_per_million_usd"), &input.input_per_million_usd)?,
        cached_input_per_million: input
            .cached_input_per_million_usd
            .as_ref()
            .map(|n| money(param("cached_input_per_million_usd"), n))
            .transpose()?,
        output_per_million: money(param("output_per_million_usd"), &input.output_per_million_usd)?,
    })
}

/// The deployments, with omitted ids numbered `d1`, `d2`, ... skipping ids given
/// explicitly (so mixing both never collides by accident).
pub fn deployments(inputs: &[DeploymentInput]) -> Result<Vec<DeploymentSpec>, InputError> {
    let taken: Vec<&str> = inputs.iter().filter_map(|d| d.id.as_deref()).collect();
    let mut next = 0usize;
    let mut specs = Vec::with_capacity(inputs.len());
    for (index, input) in inputs.iter().enumerate() {
        let id = match &input.id {
            Some(id) => id.clone(),
            None => loop {
                next += 1;
                let candidate = format!("d{next}");
                if !taken.contains(&candidate.as_str()) {
                    break candidate;
                }
            },
        };
        specs.push(DeploymentSpec {
            id,
            provider: input.provider.clone(),
            model: input.model.clone(),
            base_url: input.base_url.clone(),
            credential: input.credential.clone(),
            weight: input.weight.unwrap_or(1),
            priority: input.priority.unwrap_or(0),
            first_byte_timeout_ms: input.first_byte_timeout_ms,
            total_timeout_ms: input.total_timeout_ms,
            rpm: input.rpm,
            tpm: input.tpm,
            price: input.price.as_ref().map(|p| price(index, p)).transpose()?,
        });
    }
    Ok(specs)
}

impl RouteInput {
    pub fn to_spec(&self) -> Result<RouteSpec, InputError> {
        Ok(RouteSpec {
            name: self.name.clone(),
            deployments: deployments(&self.deployments)?,
            fallbacks: self.fallbacks.clone(),
            strategy: self.strategy.unwrap_or_default(),
            max_attempts: self.max_attempts.unwrap_or(DEFAULT_MAX_ATTEMPTS),
            cooldown_after_failures: self.cooldown_after_failures.unwrap_or(DEFAULT_COOLDOWN_AFTER_FAILURES),
            cooldown_seconds: self.cooldown_seconds.unwrap_or(DEFAULT_COOLDOWN_SECONDS),
        })
    }
}

impl RoutePatch {
    /// The current spec with the given fields replaced.
    pub fn apply_to(&self, current: &RouteSpec) -> Result<RouteSpec, InputError> {
        let mut spec = current.clone();
        if let Some(name) = &self.name {
            spec.name = name.clone();
        }
        if let Some(inputs) = &self.deployments {
            spec.deployments = deployments(inputs)?;
        }
        if let Some(fallbacks) = &self.fallbacks {
            spec.fallbacks = fallbacks.clone();
        }
        if let Some(strategy) = self.strategy {
            spec.strategy = strategy;
        }
        if let Some(v) = self.max_attempts {
            spec.max_attempts = v;
        }
        if let Some(v) = self.cooldown_after_failures {
            spec.cooldown_after_failures = v;
        }
        if let Some(v) = self.cooldown_seconds {
            spec.cooldown_seconds = v;
        }
        Ok(spec)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn input(json: serde_json::Value) -> RouteInput {
        serde_json::from_value(json).unwrap()
    }

    #[test]
    fn given_the_smallest_route_when_converted_then_defaults_fill_in() {
        let spec = input(serde_json::json!({"name": "smart", "deployments": [
            {"provider": "openai", "model": "gpt-4o-mini", "weight": 3}, {"id": "d1", "provider": "echo", "model": "x"}
        ]}))
        .to_spec()
        .unwrap();
        assert_eq!(spec.deployments[0].id, "d2", "d1 is taken explicitly");
        assert_eq!(spec.deployments[0].weight, 3);
        assert_eq!(spec.deployments[1].weight, 1);
        assert_eq!((spec.max_attempts, spec.cooldown_after_failures, spec.cooldown_seconds), (3, 3, 30));
        assert_eq!(spec.strategy, RoutingStrategy::WeightedRandom);
        assert!(spec.validate().is_ok());
    }

    #[test]
    fn given_prices_when_converted_then_they_are_exact_and_bad_ones_name_their_field() {
        let spec = input(serde_json::json!({"name": "p", "deployments": [{"provider": "openai", "model": "m",
            "price": {"input_per_million_usd": 0.1, "output_per_million_usd": 2}}]}))
        .to_spec()
        .unwrap();
        let price = spec.deployments[0].price.clone().unwrap();
        assert_eq!(price.input_per_million, Money::from_nanos(100_000_000));
        assert_eq!(price.output_per_million, Money::from_nanos(2_000_000_000));
        let error = input(serde_json::json!({"name": "p", "deployments": [{"provider": "openai", "model": "m",
            "price": {"input_per_million_usd": -1, "output_per_million_usd": 2}}]}))
        .to_spec()
        .unwrap_err();
        assert_eq!(error.param, "deployments[0].price.input_per_million_usd");
    }

    #[test]
    fn given_a_patch_when_applied_then_only_given_fields_change() {
        let current = input(serde_json::json!({"name": "smart", "deployments": [{"provider": "echo", "model": "x"}],
            "fallbacks": ["b"]}))
        .to_spec()
        .unwrap();
        let patch = RoutePatch { cooldown_seconds: Some(5), ..RoutePatch::default() };
        let patched = patch.apply_to(&current).unwrap();
        assert_eq!(patched.cooldown_seconds, 5);
        assert_eq!(patched.fallbacks, vec!["b".to_string()]);
        assert_eq!(patched.deployments, current.deployments);
    }

    #[test]
    fn given_a_toml_routes_file_when_parsed_then_it_reads_like_json() {
        #[derive(Deserialize)]
        struct File {
            routes: Vec<RouteInput>,
        }
        let file: File = toml::from_str(
            "[[routes]]\nname = \"smart\"\nfallbacks = [\"other\"]\n[[routes.deployments]]\nprovider = \"openai\"\n\
             model = \"gpt-4o-mini\"\nbase_url = \"http://10.0.0.5:8000/v1\"\ncredential = \"env:VLLM_KEY\"\nweight = 3\n\
             [routes.deployments.price]\ninput_per_million_usd = 0.5\noutput_per_million_usd = 1\n",
        )
        .unwrap();
        let spec = file.routes[0].to_spec().unwrap();
        assert_eq!(spec.deployments[0].credential.as_deref(), Some("env:VLLM_KEY"));
        assert_eq!(spec.deployments[0].price.clone().unwrap().input_per_million, Money::from_nanos(500_000_000));
    }
}
