//! One adapter per upstream API behind the [`Provider`] trait. Every adapter speaks
//! OpenAI chat completions to the rest of GaiaRouter and its provider's own wire format
//! upstream.

mod anthropic;
mod config;
mod content;
mod echo;
mod error;
mod gemini;
mod http;
mod openai_compatible;
mod sse;

pub use anthropic::{AnthropicHeaders, AnthropicProvider, AnthropicUsage, MessagesApi, NativeEvent, NativeStream};
pub use config::{how_to_configure, ApiKey, ConfigError, DeploymentUpstream, ProviderSet, ProvidersConfig, Upstream};
pub use echo::EchoProvider;
pub use error::ProviderError;
pub use gemini::GeminiProvider;
pub use http::{http_client, Timeouts};
pub use openai_compatible::OpenAiCompatibleProvider;

use crate::gateway::openai::{ChatCompletion, ChatCompletionChunk, ChatCompletionRequest};

/// The stream of OpenAI chunks a provider yields. An `Err` item ends the stream.
pub type ChunkStream =
    std::pin::Pin<Box<dyn futures::Stream<Item = Result<ChatCompletionChunk, ProviderError>> + Send>>;

#[async_trait::async_trait]
pub trait Provider: Send + Sync {
    /// Provider name as recorded in events: "openai", "anthropic", "google", "openrouter",
    /// "echo", or a configured custom name.
    fn name(&self) -> &str;

    /// The provider as Anthropic's Messages API, when it is one: the messages
    /// ingress then passes the client's body through instead of translating it.
    fn messages_api(&self) -> Option<&dyn MessagesApi> {
        None
    }

    async fn complete(
        &self,
        request: &ChatCompletionRequest,
        upstream_model: &str,
    ) -> Result<ChatCompletion, ProviderError>;

    /// Asks the upstream for usage and yields, last, a chunk that carries `usage` (with no
    /// choices). Errors before the first byte (status, connection, timeout) are returned
    /// as `Err`; an error mid-stream is yielded as an `Err` item and ends the stream.
    async fn stream(&self, request: &ChatCompletionRequest, upstream_model: &str)
        -> Result<ChunkStream, ProviderError>;
}
