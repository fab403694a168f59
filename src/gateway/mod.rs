//! The gateway's provider layer: OpenAI-compatible wire types, the model registry and
//! one adapter per upstream provider behind the [`providers::Provider`] trait.

pub mod openai;
pub mod providers;
pub mod registry;

pub use openai::{ChatCompletion, ChatCompletionChunk, ChatCompletionRequest, GatewayInputError};
pub use providers::{ChunkStream, Provider, ProviderError, ProviderSet, ProvidersConfig};
pub use registry::{ModelRegistry, Price, ResolvedModel};
