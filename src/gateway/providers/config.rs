//! Which upstreams are configured, and the set of providers built from them.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

use reqwest::header::HeaderValue;

use super::{AnthropicProvider, EchoProvider, GeminiProvider, OpenAiCompatibleProvider, Provider, Timeouts};

/// A provider API key. Its `Debug` never shows the secret, so it can sit in logged
/// config structs.
#[derive(Clone, PartialEq, Eq)]
pub struct ApiKey(String);

impl ApiKey {
    pub fn new(secret: impl Into<String>) -> Result<Self, ConfigError> {
        let secret = secret.into().trim().to_owned();
        if secret.is_empty() || HeaderValue::from_str(&secret).is_err() {
            return Err(ConfigError::InvalidApiKey);
        }
        Ok(ApiKey(secret))
    }

    pub fn expose(&self) -> &str {
        &self.0
    }

    /// `prefix + secret` as a header value marked sensitive (kept out of debug output).
    pub(crate) fn header_value(&self, prefix: &str) -> Option<HeaderValue> {
        let mut value = HeaderValue::from_str(&format!("{prefix}{}", self.0)).ok()?;
        value.set_sensitive(true);
        Some(value)
    }
}

impl fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ApiKey(***)")
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Upstream {
    pub base_url: String,
    pub api_key: Option<ApiKey>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    #[error("an API key must be non-empty printable text")]
    InvalidApiKey,
    #[error("GAIAROUTER_OPENAI_COMPATIBLE entry `{0}` is not `name=base_url`")]
    MalformedCustomEntry(String),
    #[error(
        "custom provider name `{0}` must be lowercase letters, digits, `-` or `_`, \
         and not a built-in provider name"
    )]
    InvalidCustomName(String),
    #[error("custom provider `{0}` is configured twice")]
    DuplicateCustomName(String),
    #[error("`{0}` is not an http(s) URL")]
    InvalidBaseUrl(String),
    #[error("could not build the HTTP client: {0}")]
    HttpClient(String),
}

/// Names GaiaRouter uses for its built-in providers; custom providers may not take them.
pub const BUILTIN_PROVIDER_NAMES: [&str; 6] = ["openai", "anthropic", "google", "gemini", "openrouter", "echo"];

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProvidersConfig {
    pub openai: Option<Upstream>,
    pub anthropic: Option<Upstream>,
    pub gemini: Option<Upstream>,
    pub openrouter: Option<Upstream>,
    /// Named OpenAI-compatible servers (vLLM, Ollama, ...).
    pub custom: Vec<(String, Upstream)>,
    pub timeouts: Timeouts,
}

/// What to set so that `provider` is configured: the variable [`ProvidersConfig::from_env`]
/// reads for it. Named in errors and start-up warnings, so "not configured" always
/// says how to fix it.
pub fn how_to_configure(provider: &str) -> String {
    match provider {
        "openai" => "set OPENAI_API_KEY (or OPENAI_BASE_URL)".into(),
        "anthropic" => "set ANTHROPIC_API_KEY".into(),
        "google" => "set GEMINI_API_KEY".into(),
        "openrouter" => "set OPENROUTER_API_KEY".into(),
        custom => format!(
            "declare the server with GAIAROUTER_OPENAI_COMPATIBLE={custom}=<base URL, e.g. http://localhost:8000/v1> \
             (and GAIAROUTER_OPENAI_COMPATIBLE_{}_API_KEY if it needs a key)",
            custom.to_uppercase().replace('-', "_")
        ),
    }
}

impl ProvidersConfig {
    pub const ANTHROPIC_BASE_URL: &'static str = "https://api.anthropic.com";
    pub const GEMINI_BASE_URL: &'static str = "https://generativelanguage.googleapis.com";

    /// Reads `OPENAI_API_KEY`, `ANTHROPIC_API_KEY`, `GEMINI_API_KEY`, `OPENROUTER_API_KEY`,
    /// the matching `*_BASE_URL`s (a provider is configured when its key or its base URL
    /// is set: local servers need no key), and `GAIAROUTER_OPENAI_COMPATIBLE` =
    /// `name=base_url,...` with optional `GAIAROUTER_OPENAI_COMPATIBLE_<NAME>_API_KEY`.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// [`Self::from_env`] over any variable source (tests pass a map).
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let var = |name: &str| lookup(name).map(|v| v.trim().to_owned()).filter(|v| !v.is_empty());
        let upstream = |prefix: &str, default_url: &str| -> Result<Option<Upstream>, ConfigError> {
            let key = var(&format!("{prefix}_API_KEY"));
            let url = var(&format!("{prefix}_BASE_URL"));
            if key.is_none() && url.is_none() {
                return Ok(None);
            }
            Ok(Some(Upstream {
                base_url: checked_url(url.as_deref().unwrap_or(default_url))?,
                api_key: key.map(ApiKey::new).transpose()?,
            }))
        };
        let mut custom: Vec<(String, Upstream)> = Vec::new();
        for entry in var("GAIAROUTER_OPENAI_COMPATIBLE").unwrap_or_default().split(',') {
            let entry = entry.trim();
            if entry.is_empty() {
                continue;
            }
            let (name, url) =
                entry.split_once('=').ok_or_else(|| ConfigError::MalformedCustomEntry(entry.to_owned()))?;
            let name = checked_custom_name(name.trim())?;
            if custom.iter().any(|(existing, _)| *existing == name) {
                return Err(ConfigError::DuplicateCustomName(name));
            }
            let key_var = format!("GAIAROUTER_OPENAI_COMPATIBLE_{}_API_KEY", name.to_uppercase().replace('-', "_"));
            let upstream =
                Upstream { base_url: checked_url(url.trim())?, api_key: var(&key_var).map(ApiKey::new).transpose()? };
            custom.push((name, upstream));
        }
        Ok(ProvidersConfig {
            openai: upstream("OPENAI", OpenAiCompatibleProvider::OPENAI_BASE_URL)?,
            anthropic: upstream("ANTHROPIC", Self::ANTHROPIC_BASE_URL)?,
            gemini: upstream("GEMINI", Self::GEMINI_BASE_URL)?,
            openrouter: upstream("OPENROUTER", OpenAiCompatibleProvider::OPENROUTER_BASE_URL)?,
            custom,
            timeouts: Timeouts::default(),
        })
    }

    /// Names of the custom providers, for [`crate::gateway::ModelRegistry`].
    pub fn custom_names(&self) -> Vec<String> {
        self.custom.iter().map(|(name, _)| name.clone()).collect()
    }
}

fn checked_url(url: &str) -> Result<String, ConfigError> {
    if url.starts_with("http://") || url.starts_with("https://") {
        Ok(url.trim_end_matches('/').to_owned())
    } else {
        Err(ConfigError::InvalidBaseUrl(url.to_owned()))
    }
}

fn checked_custom_name(name: &str) -> Result<String, ConfigError> {
    let valid_chars = name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_');
    if name.is_empty() || !valid_chars || BUILTIN_PROVIDER_NAMES.contains(&name) {
        return Err(ConfigError::InvalidCustomName(name.to_owned()));
    }
    Ok(name.to_owned())
}

/// The providers this gateway can call, by recorded name. `echo` is always there.
#[derive(Clone)]
pub struct ProviderSet {
    providers: BTreeMap<String, Arc<dyn Provider>>,
    /// What route deployments are built with: the shared client, the configured
    /// upstreams (a deployment without its own base URL or credential inherits
    /// them) and the default timeouts.
    http: reqwest::Client,
    config: ProvidersConfig,
}

/// One route deployment's upstream, as `ProviderSet::deployment` builds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeploymentUpstream<'a> {
    /// `openai` (any OpenAI-compatible server), `anthropic`, `google`, `openrouter`, `echo`.
    pub kind: &'a str,
    pub base_url: Option<&'a str>,
    pub api_key: Option<ApiKey>,
    pub timeouts: Timeouts,
}

impl fmt::Debug for ProviderSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ProviderSet").field("providers", &self.names()).finish()
    }
}

impl ProviderSet {
    /// Builds every configured provider on one shared, pooled HTTP client.
    pub fn from_config(config: &ProvidersConfig) -> Result<Self, ConfigError> {
        let http = super::http_client(&config.timeouts).map_err(|e| ConfigError::HttpClient(e.to_string()))?;
        Ok(Self::with_client(config, http))
    }

    pub fn with_client(config: &ProvidersConfig, http: reqwest::Client) -> Self {
        let timeouts = config.timeouts;
        let mut set = ProviderSet { providers: BTreeMap::new(), http: http.clone(), config: config.clone() };
        set.insert(Arc::new(EchoProvider::new()));
        if let Some(up) = &config.openai {
            set.insert(Arc::new(OpenAiCompatibleProvider::new(
                "openai",
                &up.base_url,
                up.api_key.clone(),
                http.clone(),
                timeouts,
            )));
        }
        if let Some(up) = &config.openrouter {
            set.insert(Arc::new(OpenAiCompatibleProvider::new(
                "openrouter",
                &up.base_url,
                up.api_key.clone(),
                http.clone(),
                timeouts,
            )));
        }
        if let Some(up) = &config.anthropic {
            set.insert(Arc::new(AnthropicProvider::new(&up.base_url, up.api_key.clone(), http.clone(), timeouts)));
        }
        if let Some(up) = &config.gemini {
            set.insert(Arc::new(GeminiProvider::new(&up.base_url, up.api_key.clone(), http.clone(), timeouts)));
        }
        for (name, up) in &config.custom {
            set.insert(Arc::new(OpenAiCompatibleProvider::new(
                name.clone(),
                &up.base_url,
                up.api_key.clone(),
                http.clone(),
                timeouts,
            )));
        }
        set
    }

    /// Builds the provider of one route deployment on the shared client. Without
    /// its own base URL or credential it takes those configured for its kind (else
    /// the kind's public default URL). `None` for an unknown kind.
    pub fn deployment(&self, upstream: DeploymentUpstream<'_>) -> Option<Arc<dyn Provider>> {
        let configured = match upstream.kind {
            "openai" => self.config.openai.as_ref(),
            "openrouter" => self.config.openrouter.as_ref(),
            "anthropic" => self.config.anthropic.as_ref(),
            "google" | "gemini" => self.config.gemini.as_ref(),
            _ => None,
        };
        let default_url = match upstream.kind {
            "openai" => OpenAiCompatibleProvider::OPENAI_BASE_URL,
            "openrouter" => OpenAiCompatibleProvider::OPENROUTER_BASE_URL,
            "anthropic" => ProvidersConfig::ANTHROPIC_BASE_URL,
            "google" | "gemini" => ProvidersConfig::GEMINI_BASE_URL,
            "echo" => return Some(Arc::new(EchoProvider::new())),
            _ => return None,
        };
        let base_url = upstream.base_url.or(configured.map(|c| c.base_url.as_str())).unwrap_or(default_url);
        // The provider's configured key goes only where it was configured to go: a
        // deployment pointing at another server names a credential of its own, or
        // sends none. (Whoever manages routes must not be able to read the key by
        // pointing a deployment at a server of theirs.)
        let inherited = configured.filter(|c| same_host(&c.base_url, base_url)).and_then(|c| c.api_key.clone());
        let api_key = upstream.api_key.or(inherited);
        let (http, timeouts) = (self.http.clone(), upstream.timeouts);
        Some(match upstream.kind {
            "anthropic" => Arc::new(AnthropicProvider::new(base_url, api_key, http, timeouts)),
            "google" | "gemini" => Arc::new(GeminiProvider::new(base_url, api_key, http, timeouts)),
            kind => Arc::new(OpenAiCompatibleProvider::new(kind.to_owned(), base_url, api_key, http, timeouts)),
        })
    }

    /// The timeouts configured for every provider (a deployment may shorten them).
    pub fn timeouts(&self) -> Timeouts {
        self.config.timeouts
    }

    /// Adds or replaces a provider under its own name (tests inject fakes this way).
    pub fn insert(&mut self, provider: Arc<dyn Provider>) {
        self.providers.insert(provider.name().to_owned(), provider);
    }

    /// The provider recorded as `name` ("openai", "anthropic", "google", "openrouter",
    /// "echo" or a custom name). `gemini` is accepted as an alias of `google`.
    pub fn get(&self, name: &str) -> Option<Arc<dyn Provider>> {
        let name = if name == "gemini" { "google" } else { name };
        self.providers.get(name).cloned()
    }

    pub fn names(&self) -> Vec<&str> {
        self.providers.keys().map(String::as_str).collect()
    }
}

/// Whether a credential configured for `configured` may be sent to `chosen`: the same
/// scheme (no key sent in clear text because its provider is reached over TLS) and
/// the same host. The port is not compared, as cookies do not compare it: a server
/// on another port of the provider's own host is the provider's.
fn same_host(configured: &str, chosen: &str) -> bool {
    match (reqwest::Url::parse(configured), reqwest::Url::parse(chosen)) {
        (Ok(configured), Ok(chosen)) => {
            configured.scheme() == chosen.scheme() && configured.host().is_some() && configured.host() == chosen.host()
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn config(vars: &[(&str, &str)]) -> Result<ProvidersConfig, ConfigError> {
        let vars: HashMap<String, String> = vars.iter().map(|(k, v)| ((*k).into(), (*v).into())).collect();
        ProvidersConfig::from_lookup(|name| vars.get(name).cloned())
    }

    #[test]
    fn given_a_configured_base_url_then_its_key_goes_to_its_scheme_and_host_only() {
        let configured = "https://api.openai.com/v1";
        assert!(same_host(configured, "https://api.openai.com/v1"));
        assert!(same_host(configured, "https://API.openai.com:8443/other"), "another port or path of its host");
        assert!(!same_host(configured, "http://api.openai.com/v1"), "not in clear text");
        assert!(!same_host(configured, "https://api.openai.com.example.net/v1"));
        assert!(!same_host(configured, "https://attacker.example/v1"));
        assert!(!same_host(configured, "not a url"));
        assert!(!same_host("http://127.0.0.1:9", "http://localhost:9"), "names are compared as written");
    }

    #[test]
    fn nothing_set_means_only_echo() {
        let config = config(&[]).unwrap();
        assert_eq!(config, ProvidersConfig::default());
        assert_eq!(ProviderSet::from_config(&config).unwrap().names(), vec!["echo"]);
    }

    #[test]
    fn a_key_configures_a_provider_at_its_default_url_and_a_url_alone_is_enough() {
        let config = config(&[
            ("OPENAI_API_KEY", "sk-test"),
            ("ANTHROPIC_API_KEY", "sk-ant"),
            ("GEMINI_BASE_URL", "http://127.0.0.1:9/"),
            ("OPENROUTER_API_KEY", " "),
        ])
        .unwrap();
        let openai = config.openai.clone().unwrap();
        assert_eq!(openai.base_url, "https://api.openai.com/v1");
        assert_eq!(openai.api_key.unwrap().expose(), "sk-test");
        assert_eq!(config.anthropic.clone().unwrap().base_url, "https://api.anthropic.com");
        let gemini = config.gemini.clone().unwrap();
        assert_eq!((gemini.base_url.as_str(), gemini.api_key), ("http://127.0.0.1:9", None));
        assert_eq!(config.openrouter, None);
        let set = ProviderSet::from_config(&config).unwrap();
        assert_eq!(set.names(), vec!["anthropic", "echo", "google", "openai"]);
        assert_eq!(set.get("gemini").unwrap().name(), "google");
        assert!(set.get("openrouter").is_none());
    }

    #[test]
    fn reads_named_openai_compatible_servers_with_optional_keys() {
        let config = config(&[
            ("GAIAROUTER_OPENAI_COMPATIBLE", "vllm=http://gpu:8000/v1, local-ollama=http://127.0.0.1:11434/v1"),
            ("GAIAROUTER_OPENAI_COMPATIBLE_VLLM_API_KEY", "token"),
        ])
        .unwrap();
        assert_eq!(config.custom_names(), vec!["vllm", "local-ollama"]);
        assert_eq!(config.custom[0].1.api_key.as_ref().unwrap().expose(), "token");
        assert_eq!(config.custom[1].1.api_key, None);
        let set = ProviderSet::from_config(&config).unwrap();
        assert_eq!(set.get("local-ollama").unwrap().name(), "local-ollama");
    }

    #[test]
    fn refuses_malformed_custom_entries() {
        let bad = ["vllm", "openai=http://x", "Big=http://x", "a=ftp://x", "a=http://x,a=http://y"];
        for value in bad {
            assert!(config(&[("GAIAROUTER_OPENAI_COMPATIBLE", value)]).is_err(), "{value}");
        }
    }

    #[test]
    fn debug_output_never_shows_api_keys() {
        let config = config(&[("OPENAI_API_KEY", "sk-very-secret")]).unwrap();
        assert!(!format!("{config:?}").contains("sk-very-secret"));
    }
}
