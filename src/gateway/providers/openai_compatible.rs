//! OpenAI, OpenRouter and any OpenAI-compatible server (vLLM, Ollama, LM Studio, ...):
//! the request is forwarded as the client sent it, unknown fields included, with only
//! the model replaced and usage reporting forced on for streams.

use serde_json::Value;

use super::config::ApiKey;
use super::http::{open_stream, send_for_json, translate_sse, StreamTranslator, Timeouts, Translated};
use super::{ChunkStream, Provider, ProviderError};
use crate::gateway::openai::{ChatCompletion, ChatCompletionChunk, ChatCompletionRequest, StreamOptions};

pub struct OpenAiCompatibleProvider {
    name: String,
    endpoint: String,
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
        OpenAiCompatibleProvider {
            name: name.into(),
            endpoint: format!("{}/chat/completions", base_url.trim_end_matches('/')),
            api_key,
            http,
            timeouts,
        }
    }

    fn post(&self, body: &Value) -> reqwest::RequestBuilder {
        let request = self.http.post(&self.endpoint).json(body);
        match self.api_key.as_ref().and_then(|key| key.header_value("Bearer ")) {
            Some(value) => request.header(reqwest::header::AUTHORIZATION, value),
            None => request,
        }
    }
}

/// The upstream body: the client's request with the upstream model, and for streams
/// `stream_options.include_usage = true` so every stream ends with a usage chunk.
pub(crate) fn request_body(request: &ChatCompletionRequest, upstream_model: &str, stream: bool) -> Value {
    let mut upstream = request.clone();
    upstream.model = upstream_model.to_owned();
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
    serde_json::to_value(&upstream).unwrap_or(Value::Null)
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
        let body = request_body(request, upstream_model, false);
        send_for_json(self.post(&body), self.timeouts.total).await
    }

    async fn stream(
        &self,
        request: &ChatCompletionRequest,
        upstream_model: &str,
    ) -> Result<ChunkStream, ProviderError> {
        let body = request_body(request, upstream_model, true);
        let response = open_stream(self.post(&body), self.timeouts.idle).await?;
        Ok(translate_sse(response, self.timeouts.idle, OpenAiStream))
    }
}

/// OpenAI chunks need no translation: parse, check for an error object, stop at `[DONE]`.
pub(crate) struct OpenAiStream;

impl StreamTranslator for OpenAiStream {
    fn on_event(&mut self, _event: &str, data: &str) -> Result<Translated, ProviderError> {
        if data.trim() == "[DONE]" {
            return Ok(Translated { chunks: Vec::new(), finished: true });
        }
        let value: Value = serde_json::from_str(data).map_err(|e| ProviderError::InvalidResponse(e.to_string()))?;
        if let Some(error) = value.get("error") {
            return Err(mid_stream_error(error));
        }
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
        let mut stream = OpenAiStream;
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
    fn garbage_in_the_stream_is_an_invalid_response() {
        let (_, result) = feed(&["{not json"]);
        assert!(matches!(result, Err(ProviderError::InvalidResponse(_))));
    }
}
