//! One provider under test, wired through `ProviderSet` to its fake upstream.

use std::sync::Arc;
use std::time::Duration;

use gaiarouter::gateway::providers::{ApiKey, Provider, ProviderSet, ProvidersConfig, Timeouts, Upstream};

use crate::fakes::{self, Behaviour, FakeUpstream};

/// The wire format a provider speaks upstream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Wire {
    OpenAi,
    Anthropic,
    Gemini,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    OpenAi,
    OpenRouter,
    CustomOpenAiCompatible,
    Anthropic,
    Gemini,
}

pub const API_KEY: &str = "test-provider-key";
pub const CUSTOM_NAME: &str = "local-vllm";

/// Short, so timeout tests finish fast; generous enough for a loaded CI machine.
pub const TIMEOUTS: Timeouts = Timeouts {
    connect: Duration::from_secs(2),
    total: Duration::from_millis(800),
    idle: Duration::from_millis(500),
    stream: Duration::from_secs(5),
};

pub struct Subject {
    pub provider: Arc<dyn Provider>,
    pub fake: FakeUpstream,
    /// The model the gateway asks the upstream for.
    pub upstream_model: &'static str,
}

impl Kind {
    pub fn wire(self) -> Wire {
        match self {
            Kind::OpenAi | Kind::OpenRouter | Kind::CustomOpenAiCompatible => Wire::OpenAi,
            Kind::Anthropic => Wire::Anthropic,
            Kind::Gemini => Wire::Gemini,
        }
    }

    pub fn provider_name(self) -> &'static str {
        match self {
            Kind::OpenAi => "openai",
            Kind::OpenRouter => "openrouter",
            Kind::CustomOpenAiCompatible => CUSTOM_NAME,
            Kind::Anthropic => "anthropic",
            Kind::Gemini => "google",
        }
    }

    fn upstream_model(self) -> &'static str {
        match self {
            Kind::OpenAi => "gpt-4o-mini",
            Kind::OpenRouter => "anthropic/claude-sonnet-4.5",
            Kind::CustomOpenAiCompatible => "meta-llama/Llama-3.1-8B-Instruct",
            Kind::Anthropic => "claude-sonnet-4-5",
            Kind::Gemini => "gemini-2.5-flash",
        }
    }
}

impl Subject {
    pub async fn start(kind: Kind, script: Vec<Behaviour>) -> Subject {
        let router = match kind {
            Kind::OpenAi | Kind::CustomOpenAiCompatible => fakes::openai::router,
            Kind::OpenRouter => fakes::openai::openrouter_router,
            Kind::Anthropic => fakes::anthropic::router,
            Kind::Gemini => fakes::gemini::router,
        };
        let fake = FakeUpstream::start(router, script).await;
        // Only our key is good: a provider that sent another one would be refused.
        fake.require_key(API_KEY);
        let provider = provider_for(kind, &fake.origin);
        Subject { provider, fake, upstream_model: kind.upstream_model() }
    }
}

/// Builds the provider the way the gateway does, from a `ProvidersConfig`.
pub fn provider_for(kind: Kind, origin: &str) -> Arc<dyn Provider> {
    provider_with_key(kind, origin, API_KEY)
}

/// The provider with another key, to see how a refused key is reported.
pub fn provider_with_key(kind: Kind, origin: &str, key: &str) -> Arc<dyn Provider> {
    let key = Some(ApiKey::new(key).unwrap());
    let openai_style = Upstream { base_url: format!("{origin}/v1"), api_key: key.clone() };
    let native = Upstream { base_url: origin.to_owned(), api_key: key };
    let mut config = ProvidersConfig { timeouts: TIMEOUTS, ..ProvidersConfig::default() };
    match kind {
        Kind::OpenAi => config.openai = Some(openai_style),
        Kind::OpenRouter => config.openrouter = Some(openai_style),
        Kind::CustomOpenAiCompatible => config.custom = vec![(CUSTOM_NAME.to_owned(), openai_style)],
        Kind::Anthropic => config.anthropic = Some(native),
        Kind::Gemini => config.gemini = Some(native),
    }
    let set = ProviderSet::from_config(&config).unwrap();
    let provider = set.get(kind.provider_name()).unwrap();
    assert_eq!(provider.name(), kind.provider_name());
    provider
}
