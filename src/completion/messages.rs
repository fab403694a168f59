//! The Anthropic Messages ingress as an [`Exchange`]. An Anthropic deployment gets
//! the client's body as it came (only the model changed), so everything Claude
//! understands reaches it; any other deployment gets the body translated to the
//! providers' chat format, and its answer translated back to Messages.

use futures::StreamExt;
use serde_json::Value;

use super::exchange::{Exchange, Ingress, Piece, PieceStream};
use super::plan::Target;
use super::EngineError;
use crate::gateway::messages::{
    chat_request, message_from_completion, message_id, parse, validate, MessagesRequest, SseEvent, StreamTranslator,
};
use crate::gateway::openai::{ChatCompletionRequest, Usage};
use crate::gateway::providers::{AnthropicHeaders, AnthropicUsage, MessagesApi, NativeEvent};
use crate::gateway::ProviderError;

pub struct MessagesExchange {
    /// The client's body, as sent.
    body: Value,
    model: String,
    stream: bool,
    headers: AnthropicHeaders,
    /// The body in chat form for deployments that are not Anthropic, or why it
    /// cannot be (a feature only Claude has): refused only if such a deployment is tried.
    chat: Result<ChatCompletionRequest, String>,
    estimated_prompt_tokens: u64,
}

impl MessagesExchange {
    /// Reads and checks the body the way Anthropic's API does, before anything is admitted.
    pub fn new(body: Value, headers: AnthropicHeaders) -> Result<Self, EngineError> {
        let invalid = |e: crate::gateway::messages::MessagesInputError| EngineError::InvalidRequest {
            param: e.param.clone(),
            message: e.message,
        };
        let request: MessagesRequest = parse(&body).map_err(invalid)?;
        validate(&request).map_err(invalid)?;
        let chat = chat_request(&request).map_err(|unsupported| unsupported.0);
        // The prompt's share of the body, about 4 bytes a token: for reservations only.
        let prompt_bytes: usize = ["system", "messages", "tools"]
            .iter()
            .filter_map(|field| body.get(*field))
            .map(|value| value.to_string().len())
            .sum();
        Ok(MessagesExchange {
            model: request.model.clone(),
            stream: request.is_stream(),
            estimated_prompt_tokens: (prompt_bytes / 4 + 1) as u64,
            body,
            headers,
            chat,
        })
    }

    /// The client's body with the deployment's model in it.
    fn native_body(&self, target: &Target) -> Value {
        let mut body = self.body.clone();
        if let Some(object) = body.as_object_mut() {
            object.insert("model".into(), Value::String(target.upstream_model.clone()));
        }
        body
    }

    fn chat(&self) -> Result<&ChatCompletionRequest, ProviderError> {
        self.chat.as_ref().map_err(|reason| ProviderError::UnsupportedRequest(reason.clone()))
    }

    pub fn headers(&self) -> &AnthropicHeaders {
        &self.headers
    }

    /// The body for `count_tokens` at `target`: what Anthropic counts (no `max_tokens`,
    /// `stream` or `metadata`), with the deployment's model.
    pub fn count_tokens_body(&self, target: &Target) -> Value {
        let mut body = self.native_body(target);
        if let Some(object) = body.as_object_mut() {
            for field in ["max_tokens", "stream", "metadata", "stop_sequences", "temperature", "top_p", "top_k"] {
                object.remove(field);
            }
        }
        body
    }
}

/// What Anthropic reported in a `usage` object, as the gateway records it.
fn anthropic_usage(value: Option<&Value>) -> Option<AnthropicUsage> {
    value.and_then(|usage| serde_json::from_value::<AnthropicUsage>(usage.clone()).ok())
}

/// Clients see the model id they asked for, whatever the deployment calls it.
fn show_model(message: &mut Value, model: &str) {
    if let Some(object) = message.as_object_mut() {
        object.insert("model".into(), Value::String(model.to_string()));
    }
}

#[async_trait::async_trait]
impl Exchange for MessagesExchange {
    type Body = Value;
    type Chunk = SseEvent;

    fn model(&self) -> &str {
        &self.model
    }

    fn is_stream(&self) -> bool {
        self.stream
    }

    fn ingress(&self) -> Ingress {
        Ingress::Messages
    }

    fn estimated_prompt_tokens(&self) -> u64 {
        self.estimated_prompt_tokens
    }

    async fn complete(&self, target: &Target) -> Result<(Value, Option<Usage>), ProviderError> {
        if let Some(api) = target.provider.messages_api() {
            let mut message = api.create(&self.native_body(target), &self.headers).await?;
            let usage = anthropic_usage(message.get("usage")).map(AnthropicUsage::to_openai);
            show_model(&mut message, &self.model);
            return Ok((message, usage));
        }
        let completion = target.provider.complete(self.chat()?, &target.upstream_model).await?;
        let message = message_from_completion(&completion, &self.model);
        let body = serde_json::to_value(message).map_err(|e| ProviderError::InvalidResponse(e.to_string()))?;
        Ok((body, completion.usage))
    }

    async fn stream(&self, target: &Target) -> Result<PieceStream<SseEvent>, ProviderError> {
        if let Some(api) = target.provider.messages_api() {
            return native_stream(api, self.native_body(target), &self.headers, self.model.clone()).await;
        }
        let mut chunks = target.provider.stream(self.chat()?, &target.upstream_model).await?;
        let model = self.model.clone();
        Ok(Box::pin(async_stream::stream! {
            let mut translator: Option<StreamTranslator> = None;
            let mut usage: Option<Usage> = None;
            while let Some(item) = chunks.next().await {
                let chunk = match item {
                    Ok(chunk) => chunk,
                    Err(error) => {
                        yield Err(error);
                        return;
                    }
                };
                if let Some(reported) = chunk.usage {
                    usage = Some(reported);
                }
                let translator = translator
                    .get_or_insert_with(|| StreamTranslator::new(message_id(&chunk.id), model.clone()));
                for event in translator.push(&chunk) {
                    yield Ok(Piece { chunk: Some(event), usage });
                }
            }
            let mut translator =
                translator.unwrap_or_else(|| StreamTranslator::new(message_id(""), model.clone()));
            for event in translator.finish(usage.as_ref()) {
                yield Ok(Piece { chunk: Some(event), usage });
            }
        }))
    }
}

/// Claude's own stream, passed through event by event; the usage it reports in
/// `message_start` and `message_delta` is gathered for the record.
async fn native_stream(
    api: &dyn MessagesApi,
    body: Value,
    headers: &AnthropicHeaders,
    model: String,
) -> Result<PieceStream<SseEvent>, ProviderError> {
    let events = api.stream(&body, headers).await?;
    let mut reported = AnthropicUsage::default();
    Ok(Box::pin(events.map(move |item| {
        item.map(|NativeEvent { event, mut data }| {
            let usage = match event.as_str() {
                "message_start" => {
                    if let Some(message) = data.get_mut("message") {
                        show_model(message, &model);
                    }
                    anthropic_usage(data.pointer("/message/usage"))
                }
                "message_delta" => anthropic_usage(data.get("usage")),
                _ => None,
            };
            let usage = usage.map(|later| {
                reported.merge(later);
                reported.to_openai()
            });
            Piece { chunk: Some(SseEvent { event, data }), usage }
        })
    })))
}

impl super::CompletionService {
    /// `count_tokens` for a Messages body: asked of the route's first deployment
    /// that is not cooling down (an Anthropic one counts natively), counted locally
    /// for the others (see `gateway::tokens`). Free and unrecorded, as at Anthropic.
    pub async fn count_tokens(&self, exchange: &MessagesExchange) -> Result<u64, EngineError> {
        let plan = self.plan(exchange.model())?;
        let now = std::time::Instant::now();
        let targets = || plan.routes.iter().flat_map(|route| route.targets.iter());
        let target = targets()
            .find(|target| target.health.looks_available(now))
            .or_else(|| targets().next())
            .ok_or_else(|| EngineError::NoDeployment(exchange.model().to_string()))?;
        match target.provider.messages_api() {
            Some(api) => {
                let answer = api
                    .count_tokens(&exchange.count_tokens_body(target), exchange.headers())
                    .await
                    .map_err(EngineError::Upstream)?;
                answer.get("input_tokens").and_then(Value::as_u64).ok_or_else(|| {
                    EngineError::Upstream(ProviderError::InvalidResponse(
                        "count_tokens answered without `input_tokens`".into(),
                    ))
                })
            }
            None => {
                let chat = exchange.chat().map_err(EngineError::Upstream)?;
                Ok(crate::gateway::tokens::count_chat_tokens(chat))
            }
        }
    }
}
