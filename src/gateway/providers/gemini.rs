//! Google Gemini API (`{base}/v1beta/models/{model}:generateContent` and
//! `:streamGenerateContent?alt=sse`), translated to and from OpenAI chat completions.
//!
//! Beyond text, images and tools, the translation keeps what Gemini needs across turns
//! and what OpenAI clients can read:
//! - thought signatures: on a function call, carried in the tool-call id
//!   (`signature.rs`); on text, as `extra_content.google.thought_signature` on the
//!   message or delta (the field Google's own OpenAI-compatible endpoint uses);
//! - `reasoning_effort` as `thinkingConfig` (a level on Gemini 3, a budget before),
//!   thought summaries as `reasoning_content`, thought tokens as `reasoning_tokens`;
//! - tool schemas as `parametersJsonSchema` (full JSON Schema);
//! - `input_audio` and `file` parts as `inlineData` / `fileData`; `top_k` as `topK`.

mod request;
mod response;
mod signature;
mod stream;

use super::config::ApiKey;
use super::http::{open_stream, send_for_json, translate_sse, StreamDeadlines, Timeouts};
use super::{ChunkStream, Provider, ProviderError};
use crate::gateway::openai::{ChatCompletion, ChatCompletionRequest};

pub(crate) use request::generate_content_request;
pub(crate) use response::{completion_from_response, GenerateContentResponse};
pub(crate) use stream::GeminiStream;

pub struct GeminiProvider {
    base_url: String,
    api_key: Option<ApiKey>,
    http: reqwest::Client,
    timeouts: Timeouts,
}

impl GeminiProvider {
    /// `base_url` is the API root, `https://generativelanguage.googleapis.com` in production.
    pub fn new(base_url: &str, api_key: Option<ApiKey>, http: reqwest::Client, timeouts: Timeouts) -> Self {
        GeminiProvider { base_url: base_url.trim_end_matches('/').to_owned(), api_key, http, timeouts }
    }

    fn post(&self, model: &str, method: &str, body: &serde_json::Value) -> reqwest::RequestBuilder {
        let model = model.strip_prefix("models/").unwrap_or(model);
        let url = format!("{}/v1beta/models/{model}:{method}", self.base_url);
        let request = self.http.post(url).json(body);
        match self.api_key.as_ref().and_then(|key| key.header_value("")) {
            Some(value) => request.header("x-goog-api-key", value),
            None => request,
        }
    }
}

#[async_trait::async_trait]
impl Provider for GeminiProvider {
    fn name(&self) -> &str {
        "google"
    }

    async fn complete(
        &self,
        request: &ChatCompletionRequest,
        upstream_model: &str,
    ) -> Result<ChatCompletion, ProviderError> {
        let body = generate_content_request(request, upstream_model)?;
        let response: GenerateContentResponse =
            send_for_json(self.post(upstream_model, "generateContent", &body), self.timeouts.total).await?;
        Ok(completion_from_response(response, upstream_model))
    }

    async fn stream(
        &self,
        request: &ChatCompletionRequest,
        upstream_model: &str,
    ) -> Result<ChunkStream, ProviderError> {
        let body = generate_content_request(request, upstream_model)?;
        let call = self.post(upstream_model, "streamGenerateContent?alt=sse", &body);
        let deadlines = StreamDeadlines::from_now(&self.timeouts);
        let response = open_stream(call, &deadlines).await?;
        Ok(translate_sse(response, deadlines, GeminiStream::new(upstream_model)))
    }
}
