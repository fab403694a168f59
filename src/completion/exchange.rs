//! What the engine needs from an ingress: the request in the ingress's own wire
//! format and how to send it to a deployment. The engine routes, admits, retries
//! and records without knowing the format; each ingress (OpenAI chat, Anthropic
//! messages) implements [`Exchange`] once and renders what comes back.

use std::pin::Pin;

use futures::Stream;

use super::plan::Target;
use crate::gateway::openai::Usage;
use crate::gateway::ProviderError;

/// The ingress a request came in by: recorded in `RequestCompleted` and shown in
/// the request log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ingress {
    /// `POST /v1/chat/completions`
    ChatCompletions,
    /// `POST /v1/messages`
    Messages,
}

impl Ingress {
    pub fn as_str(self) -> &'static str {
        match self {
            Ingress::ChatCompletions => gaiarouter_domain::request::CHAT_COMPLETIONS,
            Ingress::Messages => "messages",
        }
    }
}

/// Reservation estimates (admission weighs them before an answer says the real
/// usage): text at about 4 bytes a token, and every image or document at a fixed
/// count, whatever its encoded size (a base64 PDF of megabytes is not megatokens).
pub(crate) const BYTES_PER_TOKEN: usize = 4;
pub(crate) const MEDIA_TOKENS: u64 = 1_600;

/// One item of an upstream stream in the ingress's format: content to pass on
/// and/or the usage so far (the last one seen is recorded).
pub struct Piece<C> {
    pub chunk: Option<C>,
    pub usage: Option<Usage>,
}

pub type PieceStream<C> = Pin<Box<dyn Stream<Item = Result<Piece<C>, ProviderError>> + Send>>;

/// A request as one ingress speaks it, sendable to any deployment.
#[async_trait::async_trait]
pub trait Exchange: Send + Sync {
    /// A whole answer.
    type Body: Send;
    /// One piece of a streamed answer.
    type Chunk: Send + 'static;

    /// The model id the client asked for (a route, a catalog model, `provider/model`).
    fn model(&self) -> &str;
    fn is_stream(&self) -> bool;
    fn ingress(&self) -> Ingress;
    /// A rough token count of the prompt: for reservations, and recorded when an
    /// answer's usage never comes.
    fn estimated_prompt_tokens(&self) -> u64;

    /// Bytes of generated text in one piece of a stream (text, reasoning, tool
    /// calls): counted as it passes, for the estimate recorded when the stream's
    /// usage never comes.
    fn chunk_output_bytes(chunk: &Self::Chunk) -> usize;

    /// The same for a whole answer (measured only when it came without usage).
    fn body_output_bytes(body: &Self::Body) -> usize;

    /// Asks `target` for a whole answer; returns it with its usage.
    async fn complete(&self, target: &Target) -> Result<(Self::Body, Option<Usage>), ProviderError>;

    /// Opens a stream at `target`. Errors before the first byte are `Err`; an
    /// error mid-stream is an `Err` item and ends the stream.
    async fn stream(&self, target: &Target) -> Result<PieceStream<Self::Chunk>, ProviderError>;
}
