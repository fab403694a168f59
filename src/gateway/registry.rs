//! Model ids → provider, upstream model and price.
//!
//! Accepted ids: `<provider>/<model>` for `openai`, `anthropic`, `google` (alias
//! `gemini`), `openrouter/<vendor>/<model>` (the `openrouter/` prefix is stripped
//! upstream), `<custom provider>/<model>`, `echo/<anything>` (free), and the bare ids of
//! the built-in catalog (`gpt-4o`, `claude-sonnet-4-5`, `gemini-2.5-flash`, ...).
//! An overrides file can add ids or reprice them.

mod catalog;
mod overrides;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use gaiarouter_domain::Money;

use crate::gateway::openai::ModelInfo;
pub(crate) use catalog::anthropic_max_output_tokens;
use catalog::{CatalogEntry, CATALOG};
pub use overrides::OverrideEntry;

/// Prices in integer nano-USD per million tokens.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Price {
    pub input_per_million: Money,
    pub output_per_million: Money,
    /// Price of prompt tokens read from the provider's cache; `None` bills them as input.
    pub cached_input_per_million: Option<Money>,
    /// Price of prompt tokens written to the cache for five minutes, and for an
    /// hour (Anthropic: 1.25× and 2× the input price); `None` bills them as input.
    pub cache_write_per_million: Option<Money>,
    pub cache_write_1h_per_million: Option<Money>,
    /// Price of a thousand web searches run by the provider (Anthropic: $10).
    pub web_search_per_thousand: Option<Money>,
}

/// What a request used, as priced: every count but `completion` is part of `prompt`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct TokenCounts {
    pub prompt: u64,
    pub completion: u64,
    /// Read from the provider's cache.
    pub cached: u64,
    /// Written to the provider's cache, of which `cache_write_1h` for an hour.
    pub cache_write: u64,
    pub cache_write_1h: u64,
    /// Web searches the provider ran, billed per search.
    pub web_searches: u64,
}

const TOKENS_PER_MILLION: u128 = 1_000_000;

impl Price {
    pub const FREE: Price = Price {
        input_per_million: Money::ZERO,
        output_per_million: Money::ZERO,
        cached_input_per_million: None,
        cache_write_per_million: None,
        cache_write_1h_per_million: None,
        web_search_per_thousand: None,
    };

    /// The cost of plain prompt and completion tokens, some read from the cache.
    pub fn cost(&self, prompt: u64, completion: u64, cached: u64) -> Money {
        self.cost_of(&TokenCounts { prompt, completion, cached, ..TokenCounts::default() })
    }

    /// The cost of one request, rounded up to the nano-USD. Cache reads and writes
    /// are part of `prompt` (OpenAI's convention), each billed at its own price;
    /// together they never count more tokens than the prompt has.
    pub fn cost_of(&self, tokens: &TokenCounts) -> Money {
        let cached = tokens.cached.min(tokens.prompt);
        let written = tokens.cache_write.min(tokens.prompt - cached);
        let written_1h = tokens.cache_write_1h.min(written);
        let plain = tokens.prompt - cached - written;
        let rate = |money: Money| u128::try_from(money.nanos()).unwrap_or(0);
        let input = self.input_per_million;
        let parts = [
            (plain, input),
            (cached, self.cached_input_per_million.unwrap_or(input)),
            (written - written_1h, self.cache_write_per_million.unwrap_or(input)),
            (written_1h, self.cache_write_1h_per_million.or(self.cache_write_per_million).unwrap_or(input)),
            (tokens.completion, self.output_per_million),
        ];
        let numerator = parts
            .iter()
            .fold(0u128, |sum, (count, price)| sum.saturating_add(u128::from(*count).saturating_mul(rate(*price))))
            // Searches are priced per thousand: scaled to the per-million unit.
            .saturating_add(
                u128::from(tokens.web_searches)
                    .saturating_mul(rate(self.web_search_per_thousand.unwrap_or(Money::ZERO)))
                    .saturating_mul(1_000),
            );
        let nanos = numerator.div_ceil(TOKENS_PER_MILLION);
        Money::from_nanos(i64::try_from(nanos).unwrap_or(i64::MAX))
    }

    /// Anthropic's prices beyond tokens where none are set: cache writes at 1.25× the
    /// input price for five minutes, 2× for an hour, and web searches at $10 a
    /// thousand (Anthropic's pricing page).
    pub fn with_anthropic_cache_writes(self) -> Price {
        let times = |money: Money, numerator: i64, denominator: i64| {
            Money::from_nanos(money.nanos().saturating_mul(numerator) / denominator)
        };
        Price {
            cache_write_per_million: self.cache_write_per_million.or(Some(times(self.input_per_million, 5, 4))),
            cache_write_1h_per_million: self.cache_write_1h_per_million.or(Some(times(self.input_per_million, 2, 1))),
            web_search_per_thousand: self.web_search_per_thousand.or(Some(Money::from_nanos(10_000_000_000))),
            ..self
        }
    }

    /// The provider's own pricing rules applied where the price does not say.
    pub fn for_provider(self, provider: &str) -> Price {
        if provider == "anthropic" {
            self.with_anthropic_cache_writes()
        } else {
            self
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResolvedModel {
    /// The canonical id, `provider/model` (recorded in events): a bare `gpt-4o` and
    /// `openai/gpt-4o` are one model in the log and the stats. A models-file entry
    /// keeps the id it was declared under.
    pub id: String,
    /// The provider name ("openai", "anthropic", "google", "openrouter", "echo", custom).
    pub provider: String,
    /// What to send upstream as the model.
    pub upstream_model: String,
    /// What a request is charged (see `price_known` when it is not the list price).
    pub price: Price,
    /// False for models that are not in the catalog or the overrides. A brand-new
    /// model of OpenAI, Anthropic or Google is charged its provider's highest catalog
    /// price (so cost limits hold until the catalog knows it); an OpenRouter or
    /// custom-provider model without an override is charged 0.
    pub price_known: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RegistryError {
    #[error("model `{0}` is not known; use `<provider>/<model>` (e.g. `openai/gpt-4o`)")]
    UnknownModel(String),
    #[error("model `{model}` names provider `{provider}`, which GaiaRouter does not know")]
    UnknownProvider { model: String, provider: String },
    #[error("model `{0}` names no upstream model after the provider prefix")]
    MissingUpstreamModel(String),
    #[error("cannot read model overrides from {path}: {reason}")]
    OverridesFile { path: String, reason: String },
    #[error("model override `{id}` is invalid: {reason}")]
    InvalidOverride { id: String, reason: String },
}

/// Echo answers any `echo/<name>`; this one is listed, and used in the README.
const ECHO_DEMO: &str = "echo/demo";

/// `gpt-4o` → `openai/gpt-4o`, `gemini/x` → `google/x`; a `provider/` id stays.
fn canonical_id(provider: &str, model_id: &str) -> String {
    match model_id.split_once('/') {
        Some((prefix, model)) if prefix != provider => format!("{provider}/{model}"),
        Some(_) => model_id.to_owned(),
        None => format!("{provider}/{model_id}"),
    }
}

const BUILTIN_PROVIDERS: [&str; 5] = ["openai", "anthropic", "google", "openrouter", "echo"];

#[derive(Debug, Clone)]
pub struct ModelRegistry {
    custom_providers: BTreeSet<String>,
    overrides: BTreeMap<String, ResolvedModel>,
}

impl Default for ModelRegistry {
    fn default() -> Self {
        Self::new()
    }
}

fn catalog_price(entry: &CatalogEntry) -> Price {
    let nanos = |milli_usd: i64| Money::from_nanos(milli_usd * 1_000_000);
    Price {
        input_per_million: nanos(entry.input_milli_usd),
        output_per_million: nanos(entry.output_milli_usd),
        cached_input_per_million: entry.cached_input_milli_usd.map(nanos),
        cache_write_per_million: None,
        cache_write_1h_per_million: None,
        web_search_per_thousand: None,
    }
    .for_provider(entry.provider)
}

/// The highest catalog price of each kind for `provider`'s models: what a model of
/// that provider newer than the catalog is charged, so that no cost limit can be
/// passed by naming a model the gateway does not know the price of.
fn ceiling_price(provider: &str) -> Price {
    CATALOG.iter().filter(|entry| entry.provider == provider).map(catalog_price).fold(Price::FREE, |ceiling, price| {
        let max = |a: Option<Money>, b: Option<Money>| match (a, b) {
            (Some(a), Some(b)) => Some(a.max(b)),
            (a, b) => a.or(b),
        };
        Price {
            input_per_million: ceiling.input_per_million.max(price.input_per_million),
            output_per_million: ceiling.output_per_million.max(price.output_per_million),
            cached_input_per_million: max(ceiling.cached_input_per_million, price.cached_input_per_million),
            cache_write_per_million: max(ceiling.cache_write_per_million, price.cache_write_per_million),
            cache_write_1h_per_million: max(ceiling.cache_write_1h_per_million, price.cache_write_1h_per_million),
            web_search_per_thousand: max(ceiling.web_search_per_thousand, price.web_search_per_thousand),
        }
    })
}

/// The provider of a bare model id by its family name: `claude-*` is Anthropic's,
/// `gpt-*` and the `o<digit>` reasoning models OpenAI's, `gemini-*` Google's.
fn family_provider(model: &str) -> Option<&'static str> {
    let o_series = model.starts_with('o') && model[1..].starts_with(|c: char| c.is_ascii_digit());
    if model.starts_with("claude-") {
        Some("anthropic")
    } else if model.starts_with("gpt-") || o_series {
        Some("openai")
    } else if model.starts_with("gemini-") {
        Some("google")
    } else {
        None
    }
}

/// `claude-sonnet-4-20250514` → `claude-sonnet-4`, `gpt-4o-2024-08-06` → `gpt-4o`.
fn without_date_suffix(model: &str) -> Option<&str> {
    let is_digits = |s: &str| s.chars().all(|c| c.is_ascii_digit());
    if let Some((base, date)) = model.rsplit_once('-') {
        if date.len() == 8 && is_digits(date) {
            return Some(base);
        }
    }
    // Any string may be asked about (a log filter, a client's model): split only
    // on a character boundary.
    let bytes = model.len();
    if bytes > 11 && model.is_char_boundary(bytes - 11) {
        let (base, date) = model.split_at(bytes - 11);
        let parts: Vec<&str> = date.split('-').collect();
        if parts.len() == 4
            && parts[0].is_empty()
            && parts[1].len() == 4
            && parts[2].len() == 2
            && parts[3].len() == 2
            && parts[1..].iter().all(|p| is_digits(p))
        {
            return Some(base);
        }
    }
    None
}

/// A catalog id maps to its upstream alias; a dated snapshot of it is sent as is.
fn upstream_name<'a>(entry: &'static CatalogEntry, requested: &'a str) -> &'a str {
    if entry.id == requested {
        entry.upstream
    } else {
        requested
    }
}

impl ModelRegistry {
    /// The built-in catalog, no custom providers, no overrides.
    pub fn new() -> Self {
        ModelRegistry { custom_providers: BTreeSet::new(), overrides: BTreeMap::new() }
    }

    /// The built-in catalog plus the overrides in a JSON file: an array of
    /// `{id, provider, upstream_model, input_per_million_usd, output_per_million_usd,
    /// cached_input_per_million_usd?}`, amounts as decimal strings or numbers.
    pub fn with_overrides_file(path: &Path) -> Result<Self, RegistryError> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| RegistryError::OverridesFile { path: path.display().to_string(), reason: e.to_string() })?;
        Self::new().with_overrides_json(&text).map_err(|error| match error {
            RegistryError::OverridesFile { reason, .. } => {
                RegistryError::OverridesFile { path: path.display().to_string(), reason }
            }
            other => other,
        })
    }

    /// Adds the overrides in `json` (format of [`Self::with_overrides_file`]).
    pub fn with_overrides_json(mut self, json: &str) -> Result<Self, RegistryError> {
        for entry in overrides::parse(json)? {
            let resolved = entry.into_resolved()?;
            self.overrides.insert(resolved.id.clone(), resolved);
        }
        Ok(self)
    }

    /// Lets `<name>/<model>` ids reach the named OpenAI-compatible providers.
    pub fn with_custom_providers<I, S>(mut self, names: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.custom_providers.extend(names.into_iter().map(Into::into));
        self
    }

    pub fn resolve(&self, model_id: &str) -> Result<ResolvedModel, RegistryError> {
        if let Some(resolved) = self.overrides.get(model_id) {
            return Ok(resolved.clone());
        }
        let resolved = |provider: &str, upstream: &str, price: Option<Price>| ResolvedModel {
            id: canonical_id(provider, model_id),
            provider: provider.to_owned(),
            upstream_model: upstream.to_owned(),
            price: price.unwrap_or(Price::FREE),
            price_known: price.is_some(),
        };
        let Some((prefix, model)) = model_id.split_once('/') else {
            return match self.catalog_lookup(None, model_id) {
                Some((entry, price)) => Ok(resolved(entry.provider, upstream_name(entry, model_id), Some(price))),
                // A model newer than the catalog (Claude Code asks for the newest Claude
                // by its bare id): served by its family's provider at its ceiling price.
                None => family_provider(model_id)
                    .map(|provider| ResolvedModel {
                        price: ceiling_price(provider),
                        ..resolved(provider, model_id, None)
                    })
                    .ok_or_else(|| RegistryError::UnknownModel(model_id.to_owned())),
            };
        };
        if model.is_empty() {
            return Err(RegistryError::MissingUpstreamModel(model_id.to_owned()));
        }
        let provider = if prefix == "gemini" { "google" } else { prefix };
        match provider {
            "echo" => Ok(resolved("echo", model, Some(Price::FREE))),
            "openai" | "anthropic" | "google" => Ok(match self.catalog_lookup(Some(provider), model) {
                Some((entry, price)) => resolved(provider, upstream_name(entry, model), Some(price)),
                None => ResolvedModel { price: ceiling_price(provider), ..resolved(provider, model, None) },
            }),
            _ if provider == "openrouter" || self.custom_providers.contains(provider) => {
                Ok(resolved(provider, model, None))
            }
            _ => Err(RegistryError::UnknownProvider { model: model_id.to_owned(), provider: prefix.to_owned() }),
        }
    }

    /// Whether `name` names a model this registry knows itself: an override, a
    /// catalog id, or a `provider/model` id. A bare id served only by its family's
    /// provider (`claude-team`) does not: a route may take such a name.
    pub fn names_a_model(&self, name: &str) -> bool {
        if self.overrides.contains_key(name) {
            return true;
        }
        match name.split_once('/') {
            None => self.catalog_lookup(None, name).is_some(),
            Some(_) => self.resolve(name).is_ok(),
        }
    }

    /// Whether `name` is a model this registry lists itself: an override, or a
    /// catalog id, bare or under its provider. Unlike [`Self::names_a_model`], a
    /// `provider/anything` id passed through to its provider is not.
    pub fn catalogues(&self, name: &str) -> bool {
        if self.overrides.contains_key(name) {
            return true;
        }
        match name.split_once('/') {
            None => self.catalog_lookup(None, name).is_some(),
            Some((provider, model)) => {
                let provider = if provider == "gemini" { "google" } else { provider };
                self.catalog_lookup(Some(provider), model).is_some()
            }
        }
    }

    /// The catalog entry for `model` (exactly, or as a dated snapshot of it).
    fn catalog_lookup(&self, provider: Option<&str>, model: &str) -> Option<(&'static CatalogEntry, Price)> {
        let find =
            |id: &str| CATALOG.iter().find(|entry| entry.id == id && provider.is_none_or(|p| p == entry.provider));
        find(model).or_else(|| without_date_suffix(model).and_then(find)).map(|entry| (entry, catalog_price(entry)))
    }

    /// `/v1/models`: the catalog and override models of the configured providers,
    /// under their `provider/model` ids, plus `echo/demo` (the README's) when echo
    /// is listed.
    pub fn list(&self, configured_providers: &[&str]) -> Vec<ModelInfo> {
        let configured: BTreeSet<&str> = configured_providers.iter().copied().collect();
        let info = |id: String, provider: &str| ModelInfo {
            id,
            object: "model".into(),
            created: 0,
            owned_by: provider.to_owned(),
        };
        let mut models: BTreeMap<String, ModelInfo> = BTreeMap::new();
        for entry in CATALOG.iter().filter(|e| configured.contains(e.provider)) {
            let id = format!("{}/{}", entry.provider, entry.id);
            models.insert(id.clone(), info(id, entry.provider));
        }
        if configured.contains("echo") {
            models.insert(ECHO_DEMO.into(), info(ECHO_DEMO.into(), "echo"));
        }
        for resolved in self.overrides.values() {
            if configured.contains(resolved.provider.as_str()) {
                models.insert(resolved.id.clone(), info(resolved.id.clone(), &resolved.provider));
            }
        }
        models.into_values().collect()
    }

    /// What an operator should hear at start about the models file: models whose
    /// provider is not configured (every request to them would fail) and models
    /// without a price (recorded at cost 0, so cost limits do not hold for them).
    pub fn startup_warnings(&self, configured_providers: &[&str]) -> Vec<String> {
        let mut warnings = Vec::new();
        for model in self.overrides.values() {
            if !configured_providers.contains(&model.provider.as_str()) {
                warnings.push(format!(
                    "model `{}` (models file) names provider `{}`, which is not configured: {}",
                    model.id,
                    model.provider,
                    crate::gateway::providers::how_to_configure(&model.provider)
                ));
            }
            if !model.price_known {
                warnings.push(format!(
                    "model `{}` (models file) has no price: its requests are recorded at cost 0 and cost limits \
                     do not hold for it (set input_per_million_usd and output_per_million_usd)",
                    model.id
                ));
            }
        }
        for provider in &self.custom_providers {
            warnings.push(format!(
                "models of provider `{provider}` that the models file does not price are recorded at cost 0 \
                 (GAIAROUTER_MODELS_FILE)"
            ));
        }
        warnings
    }

    /// Whether `name` is a provider this registry routes to.
    pub fn knows_provider(&self, name: &str) -> bool {
        BUILTIN_PROVIDERS.contains(&name) || self.custom_providers.contains(name)
    }
}

#[cfg(test)]
mod tests;
