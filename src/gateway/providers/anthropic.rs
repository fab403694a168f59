//! Anthropic Messages API (`POST {base}/v1/messages`): translated to and from OpenAI
//! chat completions for the chat ingress, spoken natively for the messages ingress.

mod native;
mod request;
mod response;
mod stream;

pub use native::{AnthropicHeaders, MessagesApi, NativeEvent, NativeStream};

use super::config::ApiKey;
use super::http::{open_stream, send_for_json, translate_sse, StreamDeadlines, Timeouts};
use super::{ChunkStream, Provider, ProviderError};
use crate::gateway::openai::{ChatCompletion, ChatCompletionRequest};

pub(crate) use request::messages_request;
pub use response::AnthropicUsage;
pub(crate) use response::{completion_from_message, MessagesResponse};
pub(crate) use stream::AnthropicStream;

const ANTHROPIC_VERSION: &str = "2023-06-01";

pub struct AnthropicProvider {
    endpoint: String,
    api_key: Option<ApiKey>,
    http: reqwest::Client,
    timeouts: Timeouts,
}

impl AnthropicProvider {
    /// `base_url` is the API root, `https://api.anthropic.com` in production.
    pub fn new(base_url: &str, api_key: Option<ApiKey>, http: reqwest::Client, timeouts: Timeouts) -> Self {
        AnthropicProvider {
            endpoint: format!("{}/v1/messages", base_url.trim_end_matches('/')),
            api_key,
            http,
            timeouts,
        }
    }

    fn post(&self, body: &serde_json::Value) -> reqwest::RequestBuilder {
        let request = self.http.post(&self.endpoint).header("anthropic-version", ANTHROPIC_VERSION).json(body);
        match self.api_key.as_ref().and_then(|key| key.header_value("")) {
            Some(value) => request.header("x-api-key", value),
            None => request,
        }
    }
}

#[async_trait::async_trait]
impl Provider for AnthropicProvider {
    fn name(&self) -> &str {
        "anthropic"
    }

    fn messages_api(&self) -> Option<&dyn MessagesApi> {
        Some(self)
    }

    async fn complete(
        &self,
        request: &ChatCompletionRequest,
        upstream_model: &str,
    ) -> Result<ChatCompletion, ProviderError> {
        let body = messages_request(request, upstream_model, false)?;
        let message: MessagesResponse = send_for_json(self.post(&body), self.timeouts.total).await?;
        Ok(completion_from_message(message))
    }

    async fn stream(
        &self,
        request: &ChatCompletionRequest,
        upstream_model: &str,
    ) -> Result<ChunkStream, ProviderError> {
        let body = messages_request(request, upstream_model, true)?;
        let deadlines = StreamDeadlines::from_now(&self.timeouts);
        let response = open_stream(self.post(&body), &deadlines).await?;
        Ok(translate_sse(response, deadlines, AnthropicStream::new(upstream_model)))
    }
}

/// Maps an Anthropic error `type` to the HTTP status Anthropic documents for it; used
/// for `error` events that arrive mid-stream, after a 200.
pub(crate) fn error_from_type(error_type: &str, message: String) -> ProviderError {
    let status = match error_type {
        "invalid_request_error" => 400,
        "authentication_error" => 401,
        "billing_error" => 402,
        "permission_error" => 403,
        "not_found_error" => 404,
        "request_too_large" => 413,
        "rate_limit_error" => 429,
        "timeout_error" => 504,
        "overloaded_error" => 529,
        _ => 500,
    };
    ProviderError::from_status(status, message)
}
