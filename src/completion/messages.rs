//! The Anthropic Messages ingress as an [`Exchange`]. An Anthropic deployment gets
//! the client's body as it came (only the model changed), so everything Claude
//! understands reaches it; any other deployment gets the body translated to the
//! providers' chat format, and its answer translated back to Messages.

use futures::StreamExt;
use serde_json::Value;

use super::exchange::{Exchange, Ingress, Piece, PieceStream, BYTES_PER_TOKEN, MEDIA_TOKENS};
use super::plan::Target;
use super::EngineError;
use crate::auth::key_cache::GatewayCaller;
use crate::gateway::messages::{
    chat_request, message_from_completion, message_id, message_output_bytes, parse, validate, MessagesRequest,
    SseEvent, StreamTranslator,
};
use crate::gateway::openai::{ChatCompletionRequest, ChatMessage, ContentPart, MessageContent, Usage};
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
        refuse_unmetered(&body)?;
        let chat = chat_request(&request).map_err(|unsupported| unsupported.0);
        let estimated: u64 =
            ["system", "messages", "tools"].iter().filter_map(|field| body.get(*field)).map(estimated_tokens).sum();
        Ok(MessagesExchange {
            model: request.model.clone(),
            stream: request.is_stream(),
            estimated_prompt_tokens: estimated + 1,
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

/// Anthropic bills code execution by container-hour, which no usage report carries:
/// a request that could run it is refused, so every cost GaiaRouter limits is one it
/// records (tokens, cache writes, web searches).
fn refuse_unmetered(body: &Value) -> Result<(), EngineError> {
    let refuse = |param: String, what: &str| {
        EngineError::InvalidRequest {
        param,
        message: format!(
            "{what} is billed by Anthropic per container-hour, which GaiaRouter does not meter, so its limits could not hold"
        ),
    }
    };
    if body.get("container").is_some_and(|container| !container.is_null()) {
        return Err(refuse("container".into(), "`container` (code execution)"));
    }
    let tools = body.get("tools").and_then(Value::as_array).map(Vec::as_slice).unwrap_or_default();
    for (index, tool) in tools.iter().enumerate() {
        let kind = tool.get("type").and_then(Value::as_str).unwrap_or_default();
        if kind.starts_with("code_execution") {
            return Err(refuse(format!("tools.{index}.type"), "the code execution tool"));
        }
    }
    Ok(())
}

/// A rough token count of part of a Messages prompt, for reservations only: its
/// strings at about [`BYTES_PER_TOKEN`], each image or (non-text) document at
/// [`MEDIA_TOKENS`] however large its data. Depth is bounded by the JSON parser.
fn estimated_tokens(value: &Value) -> u64 {
    match value {
        Value::String(text) => (text.len() / BYTES_PER_TOKEN) as u64,
        Value::Array(items) => items.iter().map(estimated_tokens).sum(),
        Value::Object(map) => {
            let source_type = map.get("source").and_then(|source| source.get("type")).and_then(Value::as_str);
            match map.get("type").and_then(Value::as_str) {
                Some("image") => MEDIA_TOKENS,
                Some("document") if source_type != Some("text") => MEDIA_TOKENS,
                _ => map.values().map(estimated_tokens).sum(),
            }
        }
        _ => 0,
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

    fn chunk_output_bytes(event: &SseEvent) -> usize {
        event.output_bytes()
    }

    fn body_output_bytes(message: &Value) -> usize {
        message_output_bytes(message)
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
                    anthropic_usage(data.pointer("/message/usage")).map(|opening| {
                        reported.merge(opening);
                        reported.to_openai()
                    })
                }
                // Its output count is final: one it lacks is no count.
                "message_delta" => {
                    reported.merge_final(anthropic_usage(data.get("usage")).unwrap_or_default());
                    Some(reported.to_openai())
                }
                _ => None,
            };
            Piece { chunk: Some(SseEvent { event, data }), usage }
        })
    })))
}

impl super::CompletionService {
    /// Refuses, before admission, a request that only Anthropic could serve when the
    /// route has no Anthropic deployment: tried as an attempt, the refusal would be
    /// recorded as a failed request and counted against the deployment's health,
    /// which every tenant shares (three in a row cool it down for everyone).
    pub fn refuse_untranslatable(&self, exchange: &MessagesExchange) -> Result<(), EngineError> {
        let Err(reason) = &exchange.chat else { return Ok(()) };
        let plan = self.plan(exchange.model())?;
        let native =
            plan.routes.iter().flat_map(|route| route.targets.iter()).any(|t| t.provider.messages_api().is_some());
        if native {
            return Ok(());
        }
        Err(EngineError::InvalidRequest { param: String::new(), message: reason.clone() })
    }

    /// `count_tokens` for a Messages body: asked of the route's first deployment
    /// that is not cooling down (an Anthropic one counts natively), counted locally
    /// for the others (see `gateway::tokens`). Free and unrecorded, as at Anthropic,
    /// but only for a caller who could send the request itself right now: one over
    /// its key's or organization's limits gets the same 429 and reaches no upstream.
    pub async fn count_tokens(&self, caller: &GatewayCaller, exchange: &MessagesExchange) -> Result<u64, EngineError> {
        let plan = self.plan(exchange.model())?;
        self.check_limits(caller, exchange, &plan).await?;
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
                let view = counting_view(exchange.chat().map_err(EngineError::Upstream)?);
                count_locally(view).await
            }
        }
    }

    /// Whether admission would let `caller` send this request now, without keeping
    /// anything: the reservation is given back at once.
    async fn check_limits(
        &self,
        caller: &GatewayCaller,
        exchange: &MessagesExchange,
        plan: &super::plan::Plan,
    ) -> Result<(), EngineError> {
        // Dropped at once: what it took goes back to this process's leases.
        let estimated_tokens = exchange.estimated_prompt_tokens();
        let _reservation = self.reserve(caller, exchange, plan, estimated_tokens, chrono::Utc::now()).await?;
        Ok(())
    }
}

/// Local counts running at once: each is CPU work of up to a whole body, kept off
/// the async workers and bounded so counting cannot starve the gateway.
const LOCAL_COUNTS_AT_ONCE: usize = 2;

static LOCAL_COUNTS: tokio::sync::Semaphore = tokio::sync::Semaphore::const_new(LOCAL_COUNTS_AT_ONCE);

/// Counts `chat` on the blocking pool, at most [`LOCAL_COUNTS_AT_ONCE`] at a time.
async fn count_locally(view: CountingView) -> Result<u64, EngineError> {
    let too_complex = || EngineError::InvalidRequest {
        param: "messages".into(),
        message: "this request cannot be counted on this model's deployment".into(),
    };
    let _permit = LOCAL_COUNTS.acquire().await.map_err(|_| too_complex())?;
    tokio::task::spawn_blocking(move || count_view(&view)).await.map_err(|error| {
        tracing::error!(%error, "counting tokens locally failed");
        too_complex()
    })
}

/// Longest text handed to the tokenizer in one piece. Its regex overflows on long
/// runs of whitespace (a panic) and merging one long word costs more than linear
/// time, so long texts are counted in pieces cut where a word starts: the same
/// count for ordinary text, at most a token more per cut for the rest.
const COUNTING_CHUNK: usize = 2_048;

/// `text` in pieces of at most [`COUNTING_CHUNK`] bytes.
fn chunks(text: &str) -> Vec<ContentPart> {
    let mut parts = Vec::with_capacity(text.len() / COUNTING_CHUNK + 1);
    let mut rest = text;
    while rest.len() > COUNTING_CHUNK {
        let mut end = COUNTING_CHUNK;
        while !rest.is_char_boundary(end) {
            end -= 1;
        }
        // Prefer cutting before a space that follows a word: the tokenizer splits there too.
        let bytes = rest.as_bytes();
        let word_start = (end.saturating_sub(COUNTING_CHUNK / 4)..end)
            .rev()
            .find(|&i| i > 0 && bytes[i] == b' ' && !bytes[i - 1].is_ascii_whitespace());
        let cut = word_start.unwrap_or(end);
        let (head, tail) = rest.split_at(cut);
        parts.push(text_part(head));
        rest = tail;
    }
    if !rest.is_empty() {
        parts.push(text_part(rest));
    }
    parts
}

fn text_part(text: &str) -> ContentPart {
    ContentPart::Text { text: text.to_owned(), cache_control: None, extra: serde_json::Map::new() }
}

/// `chat` as the local count sees it, every text cut into [`chunks`]: each message's
/// content, reasoning and call arguments become its text parts (the count adds them
/// up the same way); the tools' JSON becomes the parts of one more message, whose
/// framing [`count_view`] takes off again.
struct CountingView {
    chat: ChatCompletionRequest,
    tools_message: bool,
}

fn counting_view(chat: &ChatCompletionRequest) -> CountingView {
    let mut view = chat.clone();
    for message in &mut view.messages {
        let mut parts = match message.content.take() {
            None => Vec::new(),
            Some(MessageContent::Text(text)) => chunks(&text),
            Some(MessageContent::Parts(parts)) => parts
                .into_iter()
                .flat_map(|part| match part {
                    ContentPart::Text { text, .. } => chunks(&text),
                    other => vec![other],
                })
                .collect(),
        };
        if let Some(reasoning) = message.reasoning_content.take() {
            parts.extend(chunks(&reasoning));
        }
        for call in message.tool_calls.iter_mut().flatten() {
            let arguments = std::mem::take(&mut call.function.arguments);
            parts.extend(chunks(&arguments));
        }
        message.content = (!parts.is_empty()).then_some(MessageContent::Parts(parts));
    }
    if let Some(tools) = view.tools.take() {
        // Tools reach the model as their JSON definitions: counted as text, in chunks,
        // inside a message whose framing is counted back out below.
        let json = serde_json::to_string(&tools).unwrap_or_default();
        view.messages
            .push(ChatMessage { content: Some(MessageContent::Parts(chunks(&json))), ..ChatMessage::user("") });
        return CountingView { chat: view, tools_message: true };
    }
    CountingView { chat: view, tools_message: false }
}

/// The count of a view: that of the request it was made from.
fn count_view(view: &CountingView) -> u64 {
    let count = crate::gateway::tokens::count_chat_tokens;
    let tokens = count(&view.chat);
    if !view.tools_message {
        return tokens;
    }
    let empty = ChatCompletionRequest::new(view.chat.model.clone(), Vec::new());
    let one_message = ChatCompletionRequest::new(
        view.chat.model.clone(),
        vec![ChatMessage { content: None, ..ChatMessage::user("") }],
    );
    tokens.saturating_sub(count(&one_message).saturating_sub(count(&empty)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gateway::openai::{Tool, ToolCall};
    use crate::gateway::tokens::count_chat_tokens;

    #[test]
    fn given_megabytes_of_base64_media_then_the_estimate_counts_each_item_not_its_bytes() {
        let image = serde_json::json!({"type": "image", "source": {"type": "base64", "media_type": "image/png",
                           "data": "A".repeat(3_000_000)}});
        let pdf = serde_json::json!({"type": "document", "source": {"type": "base64",
                         "media_type": "application/pdf", "data": "A".repeat(5_000_000)}});
        let text_document = serde_json::json!({"type": "document", "source": {"type": "text",
                                   "media_type": "text/plain", "data": "word ".repeat(800)}});
        let messages = serde_json::json!([{"role": "user", "content": [image, pdf, text_document,
            {"type": "text", "text": "x".repeat(400)}]}]);
        // Two media items, 4,000 bytes of text document and 400 of text, plus the short strings.
        let estimate = estimated_tokens(&messages);
        assert!((2 * MEDIA_TOKENS + 1_100..2 * MEDIA_TOKENS + 1_200).contains(&estimate), "{estimate}");
    }

    fn request(text: &str) -> ChatCompletionRequest {
        let mut call = ChatMessage::assistant("");
        call.content = None;
        call.tool_calls = Some(vec![ToolCall::function("t1", "f", format!("{{\"q\": \"{text}\"}}"))]);
        call.reasoning_content = Some(text.to_owned());
        let mut chat =
            ChatCompletionRequest::new("m", vec![ChatMessage::system("Be brief."), ChatMessage::user(text), call]);
        chat.tools = Some(vec![Tool::function("f", "", serde_json::json!({"type": "object"}))]);
        chat
    }

    #[test]
    fn given_ordinary_text_long_or_short_when_counted_in_chunks_then_the_count_is_unchanged() {
        for text in ["Hello world", &"The quick brown fox jumps over the lazy dog. ".repeat(500)] {
            let chat = request(text);
            assert_eq!(count_view(&counting_view(&chat)), count_chat_tokens(&chat));
        }
    }

    #[test]
    fn given_a_long_run_of_whitespace_or_one_long_word_when_counted_then_no_panic_and_about_right() {
        for filler in [" ", "\n", "a", "!", "é"] {
            let text = filler.repeat(200_000);
            let tokens = count_view(&counting_view(&request(&text)));
            // The text is there three times: content, reasoning and call arguments.
            assert!(tokens > 0 && tokens <= 3 * text.len() as u64, "{filler:?}: {tokens}");
        }
    }
}
