//! The gateway's provider layer: OpenAI-compatible wire types, the model registry and
//! one adapter per upstream provider behind the [`providers::Provider`] trait.
//!
//! A completion goes: deserialize [`ChatCompletionRequest`] (serde errors → 400),
//! [`openai::validate`] (→ 400), [`ModelRegistry::resolve`] the client's model id,
//! [`ProviderSet::get`] the resolved provider, then [`Provider::complete`] or
//! [`Provider::stream`] with `resolved.upstream_model`. Failures are
//! [`ProviderError`]s that know their HTTP status, event `kind` and OpenAI error type;
//! cost is `resolved.price.cost(prompt, completion, cached)` from the returned usage.

pub mod messages;
pub mod openai;
pub mod providers;
pub mod registry;
pub mod tokens;

pub use openai::{ChatCompletion, ChatCompletionChunk, ChatCompletionRequest, GatewayInputError};
pub use providers::{ChunkStream, Provider, ProviderError, ProviderSet, ProvidersConfig};
pub use registry::{ModelRegistry, Price, ResolvedModel};
