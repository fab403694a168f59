//! OpenAI, OpenRouter and any OpenAI-compatible server (vLLM, Ollama, LM Studio, ...):
//! the request is forwarded as the client sent it, unknown fields included, with only
//! the model replaced and usage reporting forced on for streams. OpenAI itself does
//! not get the markers that only other servers read (see [`openai_request`]).

use std::collections::BTreeMap;

use serde_json::Value;

use super::config::ApiKey;
use super::http::{open_stream, send_for_json, translate_sse, StreamDeadlines, StreamTranslator, Timeouts, Translated};
use super::{ChunkStream, Provider, ProviderError};
use crate::gateway::openai::{
    ChatCompletion, ChatCompletionChunk, ChatCompletionRequest, ContentPart, MessageContent, StreamOptions,
};

pub struct OpenAiCompatibleProvider {
    name: String,
    endpoint: String,
    /// `endpoint` parsed once, not on every call (`None`: not a URL; each call then
    /// fails with reqwest's own error, as before).
    endpoint_url: Option<reqwest::Url>,
    api_key: Option<ApiKey>,
    http: reqwest::Client,
    timeouts: Timeouts,
}

impl OpenAiCompatibleProvider {
    pub const OPENAI_BASE_URL: &'static str = "https://api.openai.com/v1";
    pub const OPENROUTER_BASE_URL: &'static str = "https://openrouter.ai/api/v1";

    /// `base_url` is the API root that `/chat/completions` hangs under (it usually ends
    /// in `/v1`). Local servers need no `api_key`.
    pub fn new(
        name: impl Into<String>,
        base_url: &str,
        api_key: Option<ApiKey>,
        http: reqwest::Client,
        timeouts: Timeouts,
    ) -> Self {
        let endpoint = format!("{}/chat/completions", base_url.trim_end_matches('/'));
        OpenAiCompatibleProvider {
            name: name.into(),
            endpoint_url: reqwest::Url::parse(&endpoint).ok(),
            endpoint,
            api_key,
            http,
            timeouts,
        }
    }

    /// The upstream request for this server (see [`openai_request`]).
    fn upstream(&self, request: &ChatCompletionRequest, upstream_model: &str, stream: bool) -> ChatCompletionRequest {
        if self.name == "openai" {
            openai_request(request, upstream_model, stream)
        } else {
            upstream_request(request, upstream_model, stream)
        }
    }

    /// The call, its body serialized straight from the typed request (no JSON tree
    /// in between).
    fn post(&self, body: &ChatCompletionRequest) -> reqwest::RequestBuilder {
        let request = match &self.endpoint_url {
            Some(url) => self.http.post(url.clone()),
            None => self.http.post(&self.endpoint),
        }
        .json(body);
        match self.api_key.as_ref().and_then(|key| key.header_value("Bearer ")) {
            Some(value) => request.header(reqwest::header::AUTHORIZATION, value),
            None => request,
        }
    }
}

/// The upstream body: the client's request with the upstream model, and for streams
/// `stream_options.include_usage = true` so every stream ends with a usage chunk.
#[cfg(test)]
pub(crate) fn request_body(request: &ChatCompletionRequest, upstream_model: &str, stream: bool) -> Value {
    serde_json::to_value(upstream_request(request, upstream_model, stream)).unwrap_or(Value::Null)
}

fn upstream_request(request: &ChatCompletionRequest, upstream_model: &str, stream: bool) -> ChatCompletionRequest {
    let mut upstream = request.clone();
    upstream.model = upstream_model.to_owned();
    prepare(&mut upstream, stream);
    upstream
}

fn prepare(upstream: &mut ChatCompletionRequest, stream: bool) {
    if stream {
        upstream.stream = Some(true);
        let mut options = upstream.stream_options.take().unwrap_or_default();
        options.include_usage = Some(true);
        upstream.stream_options = Some(options);
    } else {
        // OpenAI refuses `stream_options` on non-streamed calls.
        upstream.stream = None;
        upstream.stream_options = None::<StreamOptions>;
    }
}

/// The body for OpenAI's own API. OpenAI caches prompts by itself and reads no
/// `cache_control` marker (Anthropic's, kept for OpenRouter and other servers), and
/// `thinking_blocks` are Claude's signed thoughts, meaningless to GPT models: both
/// typed markers are left out, as a strict server refuses fields it does not know.
/// Everything else the client sent goes as it is.
fn openai_request(request: &ChatCompletionRequest, upstream_model: &str, stream: bool) -> ChatCompletionRequest {
    let mut upstream = upstream_request(request, upstream_model, stream);
    for message in &mut upstream.messages {
        message.thinking_blocks = None;
        if let Some(MessageContent::Parts(parts)) = &mut message.content {
            for part in parts {
                if let ContentPart::Text { cache_control, .. } | ContentPart::ImageUrl { cache_control, .. } = part {
                    *cache_control = None;
                }
            }
        }
    }
    for tool in upstream.tools.iter_mut().flatten() {
        tool.cache_control = None;
    }
    upstream
}

#[async_trait::async_trait]
impl Provider for OpenAiCompatibleProvider {
    fn name(&self) -> &str {
        &self.name
    }

    async fn complete(
        &self,
        request: &ChatCompletionRequest,
        upstream_model: &str,
    ) -> Result<ChatCompletion, ProviderError> {
        let body = self.upstream(request, upstream_model, false);
        send_for_json(self.post(&body), self.timeouts.total).await
    }

    async fn stream(
        &self,
        request: &ChatCompletionRequest,
        upstream_model: &str,
    ) -> Result<ChunkStream, ProviderError> {
        let body = self.upstream(request, upstream_model, true);
        let deadlines = StreamDeadlines::from_now(&self.timeouts);
        let response = open_stream(self.post(&body), &deadlines).await?;
        Ok(translate_sse(response, deadlines, OpenAiStream::default()))
    }
}

/// OpenAI chunks need no translation: parse, check for an error object, stop at `[DONE]`.
/// The one repair: tool-call pieces without `index` (Gemini's OpenAI endpoint, older
/// vLLM and SGLang omit it) get the index they mean, so the stream stays well-formed.
#[derive(Debug, Default)]
pub(crate) struct OpenAiStream {
    /// Per choice index, where its tool calls stand.
    calls: BTreeMap<u64, CallCursor>,
}

/// The tool call a choice's pieces currently add to, and the index its next call gets.
#[derive(Debug, Default)]
struct CallCursor {
    current: Option<u64>,
    current_id: Option<String>,
    next: u64,
}

impl CallCursor {
    /// The index of a piece that came without one: a piece with a new `id` starts the
    /// next call; a piece without one (or repeating the current id) continues the last.
    fn infer(&self, id: Option<&str>) -> u64 {
        match (id, self.current) {
            (Some(id), Some(current)) if self.current_id.as_deref() == Some(id) => current,
            (Some(_), _) | (None, None) => self.next,
            (None, Some(current)) => current,
        }
    }

    fn saw(&mut self, index: u64, id: Option<&str>) {
        if self.current != Some(index) {
            self.current_id = None;
        }
        self.current = Some(index);
        if let Some(id) = id {
            self.current_id = Some(id.to_owned());
        }
        self.next = self.next.max(index.saturating_add(1));
    }
}

impl OpenAiStream {
    /// Gives every tool-call piece of the chunk its `index`, inferring missing ones.
    fn number_tool_calls(&mut self, chunk: &mut Value) {
        let Some(choices) = chunk.get_mut("choices").and_then(Value::as_array_mut) else {
            return;
        };
        for choice in choices {
            let choice_index = choice.get("index").and_then(Value::as_u64).unwrap_or(0);
            let Some(pieces) = choice.pointer_mut("/delta/tool_calls").and_then(Value::as_array_mut) else {
                continue;
            };
            let cursor = self.calls.entry(choice_index).or_default();
            for piece in pieces.iter_mut().filter_map(Value::as_object_mut) {
                let id = piece.get("id").and_then(Value::as_str).filter(|id| !id.is_empty()).map(str::to_owned);
                let index = match piece.get("index").and_then(Value::as_u64) {
                    Some(index) => index,
                    None => {
                        let index = cursor.infer(id.as_deref());
                        piece.insert("index".into(), Value::from(index));
                        index
                    }
                };
                cursor.saw(index, id.as_deref());
            }
        }
    }
}

impl StreamTranslator for OpenAiStream {
    fn on_event(&mut self, _event: &str, data: &str) -> Result<Translated, ProviderError> {
        if data.trim() == "[DONE]" {
            return Ok(Translated { chunks: Vec::new(), finished: true });
        }
        // Almost every chunk has neither an error object nor tool calls to number:
        // those are parsed straight into the chunk, with no tree of values between.
        if !data.contains("\"error\"") && !data.contains("\"tool_calls\"") {
            let chunk = serde_json::from_str(data).map_err(|e| ProviderError::InvalidResponse(e.to_string()))?;
            return Ok(Translated::chunks(vec![chunk]));
        }
        let mut value: Value = serde_json::from_str(data).map_err(|e| ProviderError::InvalidResponse(e.to_string()))?;
        if let Some(error) = value.get("error") {
            return Err(mid_stream_error(error));
        }
        self.number_tool_calls(&mut value);
        let chunk: ChatCompletionChunk =
            serde_json::from_value(value).map_err(|e| ProviderError::InvalidResponse(e.to_string()))?;
        Ok(Translated::chunks(vec![chunk]))
    }

    fn on_close(&mut self) -> Result<Vec<ChatCompletionChunk>, ProviderError> {
        Err(ProviderError::StreamCut)
    }
}

/// An error object sent inside the stream (OpenRouter, OpenAI on server failures). Its
/// `code` is the status when it looks like one.
fn mid_stream_error(error: &Value) -> ProviderError {
    let message =
        super::http::json_error_message(&serde_json::json!({ "error": error })).unwrap_or_else(|| error.to_string());
    let status = error
        .get("code")
        .and_then(Value::as_u64)
        .and_then(|code| u16::try_from(code).ok())
        .filter(|code| (400..600).contains(code))
        .unwrap_or(500);
    ProviderError::from_status(status, message)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gateway::openai::{ChatMessage, CompletionAccumulator, FinishReason};
    use serde_json::json;

    fn request() -> ChatCompletionRequest {
        serde_json::from_value(json!({
            "model": "openai/gpt-4o",
            "messages": [{"role": "user", "content": "hi"}],
            "stream": true,
            "stream_options": {"include_usage": false},
            "temperature": 0.2,
            "logit_bias": {"1": 5},
            "reasoning_effort": "low"
        }))
        .unwrap()
    }

    #[test]
    fn stream_body_uses_the_upstream_model_keeps_unknown_fields_and_forces_usage() {
        let body = request_body(&request(), "gpt-4o", true);
        assert_eq!(
            body,
            json!({
                "model": "gpt-4o",
                "messages": [{"role": "user", "content": "hi"}],
                "stream": true,
                "stream_options": {"include_usage": true},
                "temperature": 0.2,
                "logit_bias": {"1": 5},
                "reasoning_effort": "low"
            })
        );
    }

    #[test]
    fn non_stream_body_drops_stream_and_stream_options() {
        let body = request_body(&request(), "gpt-4o", false);
        assert!(body.get("stream").is_none());
        assert!(body.get("stream_options").is_none());
        let plain = request_body(&ChatCompletionRequest::new("x", vec![ChatMessage::user("hi")]), "y", false);
        assert_eq!(plain, json!({"model": "y", "messages": [{"role": "user", "content": "hi"}]}));
    }

    fn feed(events: &[&str]) -> (Vec<ChatCompletionChunk>, Result<bool, ProviderError>) {
        let mut stream = OpenAiStream::default();
        let mut chunks = Vec::new();
        for data in events {
            match stream.on_event("message", data) {
                Ok(translated) => {
                    chunks.extend(translated.chunks);
                    if translated.finished {
                        return (chunks, Ok(true));
                    }
                }
                Err(error) => return (chunks, Err(error)),
            }
        }
        (chunks, Ok(false))
    }

    #[test]
    fn passes_openai_chunks_through_and_finishes_at_done() {
        let (chunks, finished) = feed(&[
            r#"{"id":"chatcmpl-1","object":"chat.completion.chunk","created":1,"model":"gpt-4o","choices":[{"index":0,"delta":{"role":"assistant","content":"","refusal":null},"logprobs":null,"finish_reason":null}],"usage":null}"#,
            r#"{"id":"chatcmpl-1","object":"chat.completion.chunk","created":1,"model":"gpt-4o","choices":[{"index":0,"delta":{"content":"Hello"},"logprobs":null,"finish_reason":null}],"usage":null}"#,
            r#"{"id":"chatcmpl-1","object":"chat.completion.chunk","created":1,"model":"gpt-4o","choices":[{"index":0,"delta":{},"logprobs":null,"finish_reason":"stop"}],"usage":null}"#,
            r#"{"id":"chatcmpl-1","object":"chat.completion.chunk","created":1,"model":"gpt-4o","choices":[],"usage":{"prompt_tokens":8,"completion_tokens":1,"total_tokens":9,"prompt_tokens_details":{"cached_tokens":0}}}"#,
            "[DONE]",
        ]);
        assert_eq!(finished, Ok(true));
        let mut all = CompletionAccumulator::new();
        chunks.iter().for_each(|c| all.push(c));
        let completion = all.finish();
        assert_eq!(completion.choices[0].message.text(), "Hello");
        assert_eq!(completion.choices[0].finish_reason, Some(FinishReason::Stop));
        assert_eq!(completion.usage.unwrap().total_tokens, 9);
    }

    fn tool_chunk(calls: Value) -> String {
        json!({"id": "c", "object": "chat.completion.chunk", "created": 1, "model": "m",
               "choices": [{"index": 0, "delta": {"tool_calls": calls}, "finish_reason": null}]})
        .to_string()
    }

    #[test]
    fn tool_call_pieces_without_index_get_the_index_they_mean() {
        let (chunks, _) = feed(&[
            &tool_chunk(json!([{"id": "call_a", "type": "function", "function": {"name": "f", "arguments": ""}}])),
            &tool_chunk(json!([{"function": {"arguments": "{\"x\":"}}])),
            &tool_chunk(json!([{"id": "call_a", "function": {"arguments": "1}"}}])),
            &tool_chunk(json!([
                {"id": "call_b", "type": "function", "function": {"name": "g", "arguments": "{}"}},
                {"id": "call_c", "type": "function", "function": {"name": "h", "arguments": "{}"}}
            ])),
            &tool_chunk(json!([{"index": null, "function": {"arguments": ""}}])),
        ]);
        let indexes: Vec<u32> = chunks
            .iter()
            .flat_map(|c| c.choices[0].delta.tool_calls.clone().unwrap_or_default())
            .map(|piece| piece.index)
            .collect();
        assert_eq!(indexes, vec![0, 0, 0, 1, 2, 2]);
        let mut all = CompletionAccumulator::new();
        chunks.iter().for_each(|c| all.push(c));
        let calls = all.finish().choices[0].message.tool_calls.clone().unwrap();
        assert_eq!(calls[0].function.arguments, "{\"x\":1}");
        assert_eq!(calls.iter().map(|c| c.id.as_str()).collect::<Vec<_>>(), ["call_a", "call_b", "call_c"]);
    }

    #[test]
    fn explicit_indexes_are_kept_and_later_pieces_without_one_follow_them() {
        let (chunks, _) = feed(&[
            &tool_chunk(json!([{"index": 3, "id": "call_a", "function": {"name": "f", "arguments": ""}}])),
            &tool_chunk(json!([{"function": {"arguments": "{}"}}])),
            &tool_chunk(json!([{"id": "call_b", "function": {"name": "g", "arguments": "{}"}}])),
        ]);
        let indexes: Vec<u32> =
            chunks.iter().flat_map(|c| c.choices[0].delta.tool_calls.clone().unwrap()).map(|p| p.index).collect();
        assert_eq!(indexes, vec![3, 3, 4]);
    }

    #[test]
    fn an_error_object_in_the_stream_becomes_a_provider_error() {
        let (_, result) = feed(&[
            r#"{"id":"gen-1","object":"chat.completion.chunk","created":1,"model":"x","provider":"y","error":{"code":502,"message":"Provider returned error"},"choices":[{"index":0,"delta":{"content":""},"finish_reason":"error"}]}"#,
        ]);
        assert_eq!(
            result,
            Err(ProviderError::UpstreamServerError { status: 502, message: "Provider returned error".into() })
        );
        let (_, result) = feed(&[r#"{"error":{"message":"The server had an error","type":"server_error"}}"#]);
        assert_eq!(result.unwrap_err().http_status(), 502);
    }

    #[test]
    fn a_chunk_parsed_straight_equals_one_parsed_through_a_tree() {
        let chunks = [
            r#"{"id":"c","object":"chat.completion.chunk","created":1,"model":"m","system_fingerprint":"fp","choices":[{"index":0,"delta":{"role":"assistant","content":"","refusal":null},"logprobs":null,"finish_reason":null}],"usage":null}"#,
            r#"{"id":"c","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":1,"delta":{"content":"Hi \"error\"","reasoning_content":"r","x_vendor":{"a":[1,2.5]}},"finish_reason":"length"}]}"#,
            r#"{"id":"c","choices":[],"usage":{"prompt_tokens":8,"completion_tokens":1,"total_tokens":9,"prompt_tokens_details":{"cached_tokens":2},"completion_tokens_details":{"reasoning_tokens":1}}}"#,
        ];
        for data in chunks {
            let (straight, _) = feed(&[data]);
            let through_tree: ChatCompletionChunk =
                serde_json::from_value(serde_json::from_str::<Value>(data).unwrap()).unwrap();
            assert_eq!(straight, vec![through_tree], "{data}");
        }
    }

    #[test]
    fn garbage_in_the_stream_is_an_invalid_response() {
        let (_, result) = feed(&["{not json"]);
        assert!(matches!(result, Err(ProviderError::InvalidResponse(_))));
    }
}
