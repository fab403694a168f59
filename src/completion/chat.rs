//! The OpenAI chat completions ingress as an [`Exchange`]: the request is already
//! in the providers' lingua franca, so every deployment takes it as it is.

use futures::StreamExt;

use super::exchange::{Exchange, Ingress, Piece, PieceStream, BYTES_PER_TOKEN, MEDIA_TOKENS};
use super::plan::Target;
use super::EngineError;
use crate::gateway::openai::{
    validate, ChatCompletion, ChatCompletionChunk, ChatCompletionRequest, ContentPart, MessageContent, Usage,
};
use crate::gateway::ProviderError;

pub struct ChatExchange {
    request: ChatCompletionRequest,
}

impl ChatExchange {
    /// Checks the request the way OpenAI would before anything is admitted.
    pub fn new(request: ChatCompletionRequest) -> Result<Self, EngineError> {
        validate(&request).map_err(|e| EngineError::InvalidRequest { param: e.param(), message: e.to_string() })?;
        Ok(ChatExchange { request })
    }

    pub fn request(&self) -> &ChatCompletionRequest {
        &self.request
    }
}

/// A rough token count of the prompt, for reservations only (see [`BYTES_PER_TOKEN`]).
pub(crate) fn estimated_prompt_tokens(request: &ChatCompletionRequest) -> u64 {
    let tokens: u64 = request
        .messages
        .iter()
        .map(|m| match &m.content {
            Some(MessageContent::Text(text)) => (text.len() / BYTES_PER_TOKEN) as u64,
            Some(MessageContent::Parts(parts)) => parts
                .iter()
                .map(|part| match part {
                    ContentPart::Text { text, .. } => (text.len() / BYTES_PER_TOKEN) as u64,
                    ContentPart::ImageUrl { .. } | ContentPart::Other(_) => MEDIA_TOKENS,
                })
                .sum(),
            None => 0,
        })
        .sum();
    tokens + 1
}

#[async_trait::async_trait]
impl Exchange for ChatExchange {
    type Body = ChatCompletion;
    type Chunk = ChatCompletionChunk;

    fn model(&self) -> &str {
        &self.request.model
    }

    fn is_stream(&self) -> bool {
        self.request.is_stream()
    }

    fn ingress(&self) -> Ingress {
        Ingress::ChatCompletions
    }

    fn estimated_prompt_tokens(&self) -> u64 {
        estimated_prompt_tokens(&self.request)
    }

    fn chunk_output_bytes(chunk: &ChatCompletionChunk) -> usize {
        chunk.output_bytes()
    }

    fn body_output_bytes(body: &ChatCompletion) -> usize {
        body.output_bytes()
    }

    async fn complete(&self, target: &Target) -> Result<(ChatCompletion, Option<Usage>), ProviderError> {
        let mut completion = target.provider.complete(&self.request, &target.upstream_model).await?;
        // Clients see the model id they asked for, whatever the deployment calls it.
        completion.model.clone_from(&self.request.model);
        let usage = completion.usage;
        Ok((completion, usage))
    }

    async fn stream(&self, target: &Target) -> Result<PieceStream<ChatCompletionChunk>, ProviderError> {
        let model = self.request.model.clone();
        let chunks = target.provider.stream(&self.request, &target.upstream_model).await?;
        Ok(Box::pin(chunks.map(move |item| {
            item.map(|mut chunk| {
                chunk.model.clone_from(&model);
                // Usage comes last, after the commit: the engine hands it back at the end.
                let usage = chunk.usage.take();
                let chunk = (!chunk.choices.is_empty()).then_some(chunk);
                Piece { chunk, usage }
            })
        })))
    }
}
