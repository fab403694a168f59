//! Anthropic's Messages API spoken natively: what the `/v1/messages` ingress uses
//! when the deployment is Anthropic, so the client's body reaches Claude with
//! everything it can say (system blocks, `cache_control`, thinking, documents,
//! server tools, betas) and Claude's answer comes back as Anthropic sent it.

use std::pin::Pin;

use futures::{Stream, StreamExt};
use serde_json::Value;

use super::super::http::{open_stream, send_for_json, sse_events, StreamDeadlines};
use super::super::ProviderError;
use super::error_from_type;

/// The client's Anthropic headers, forwarded upstream (already bounded at the edge).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AnthropicHeaders {
    /// `anthropic-version`; GaiaRouter's default when the client sent none.
    pub version: Option<String>,
    /// `anthropic-beta`: comma-separated beta names.
    pub beta: Option<String>,
}

/// One event of Anthropic's stream: its `event:` name and its JSON data.
#[derive(Debug, Clone, PartialEq)]
pub struct NativeEvent {
    pub event: String,
    pub data: Value,
}

pub type NativeStream = Pin<Box<dyn Stream<Item = Result<NativeEvent, ProviderError>> + Send>>;

/// The Messages API of an Anthropic deployment. `body` is the client's request
/// with the upstream model already in it.
#[async_trait::async_trait]
pub trait MessagesApi: Send + Sync {
    async fn create(&self, body: &Value, headers: &AnthropicHeaders) -> Result<Value, ProviderError>;

    /// Errors before the first event are `Err`; an `error` event mid-stream is an
    /// `Err` item and ends the stream, as does a stream closed before `message_stop`.
    async fn stream(&self, body: &Value, headers: &AnthropicHeaders) -> Result<NativeStream, ProviderError>;

    /// `POST /v1/messages/count_tokens`: `{"input_tokens": n}`.
    async fn count_tokens(&self, body: &Value, headers: &AnthropicHeaders) -> Result<Value, ProviderError>;
}

impl super::AnthropicProvider {
    fn post_native(&self, url: &str, body: &Value, headers: &AnthropicHeaders) -> reqwest::RequestBuilder {
        let version = headers.version.as_deref().unwrap_or(super::ANTHROPIC_VERSION);
        let mut request = self.http.post(url).header("anthropic-version", version).json(body);
        if let Some(beta) = &headers.beta {
            request = request.header("anthropic-beta", beta);
        }
        match self.api_key.as_ref().and_then(|key| key.header_value("")) {
            Some(value) => request.header("x-api-key", value),
            None => request,
        }
    }
}

#[async_trait::async_trait]
impl MessagesApi for super::AnthropicProvider {
    async fn create(&self, body: &Value, headers: &AnthropicHeaders) -> Result<Value, ProviderError> {
        send_for_json(self.post_native(&self.endpoint, body, headers), self.timeouts.total).await
    }

    async fn stream(&self, body: &Value, headers: &AnthropicHeaders) -> Result<NativeStream, ProviderError> {
        let deadlines = StreamDeadlines::from_now(&self.timeouts);
        let response = open_stream(self.post_native(&self.endpoint, body, headers), &deadlines).await?;
        Ok(native_events(response.bytes_stream(), deadlines))
    }

    async fn count_tokens(&self, body: &Value, headers: &AnthropicHeaders) -> Result<Value, ProviderError> {
        let url = format!("{}/count_tokens", self.endpoint);
        send_for_json(self.post_native(&url, body, headers), self.timeouts.total).await
    }
}

/// Anthropic's event names (`message_start`, `content_block_delta`, ...; a new one
/// passes through). The name is the upstream's, and is written back to the client
/// as an SSE `event:` line, where a line break would end the line (and axum refuses
/// one by panicking): anything but a short snake_case word is an invalid answer.
fn is_event_name(name: &str) -> bool {
    (1..=64).contains(&name.len()) && name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
}

/// Anthropic's SSE stream as events, ended by `message_stop`.
pub(crate) fn native_events<S, B, E>(bytes: S, deadlines: StreamDeadlines) -> NativeStream
where
    S: futures::Stream<Item = Result<B, E>> + Send + 'static,
    B: AsRef<[u8]> + Send + 'static,
    E: std::fmt::Display + Send + 'static,
{
    Box::pin(async_stream::stream! {
        let events = sse_events(bytes, deadlines);
        futures::pin_mut!(events);
        while let Some(event) = events.next().await {
            let event = match event {
                Ok(event) => event,
                Err(error) => {
                    yield Err(error);
                    return;
                }
            };
            let data: Value = match serde_json::from_str(&event.data) {
                Ok(data) => data,
                Err(error) => {
                    yield Err(ProviderError::InvalidResponse(format!("an Anthropic stream event is not JSON: {error}")));
                    return;
                }
            };
            // The `event:` line is optional in SSE; Anthropic repeats it as `type`.
            let name = if event.event.is_empty() || event.event == "message" {
                data.get("type").and_then(Value::as_str).unwrap_or_default().to_string()
            } else {
                event.event
            };
            if !is_event_name(&name) {
                let shown: String = name.chars().take(64).collect();
                yield Err(ProviderError::InvalidResponse(format!("an Anthropic stream event is named {shown:?}")));
                return;
            }
            if name == "error" {
                let error = data.get("error");
                let kind = error.and_then(|e| e.get("type")).and_then(Value::as_str).unwrap_or("api_error");
                let message = error.and_then(|e| e.get("message")).and_then(Value::as_str).unwrap_or_default();
                yield Err(error_from_type(kind, message.to_string()));
                return;
            }
            let done = name == "message_stop";
            yield Ok(NativeEvent { event: name, data });
            if done {
                return;
            }
        }
        yield Err(ProviderError::StreamCut);
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn bytes(text: &str) -> impl futures::Stream<Item = Result<Vec<u8>, std::io::Error>> + Send + 'static {
        let pieces: Vec<Result<Vec<u8>, std::io::Error>> = text.as_bytes().chunks(7).map(|c| Ok(c.to_vec())).collect();
        futures::stream::iter(pieces)
    }

    async fn collect(text: &str) -> Vec<Result<NativeEvent, ProviderError>> {
        let timeouts = crate::gateway::providers::Timeouts { idle: Duration::from_secs(5), ..Default::default() };
        native_events(bytes(text), StreamDeadlines::from_now(&timeouts)).collect().await
    }

    #[tokio::test]
    async fn given_a_whole_stream_then_every_event_passes_through_until_message_stop() {
        let text = "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\"msg_1\"}}\n\n\
                    event: ping\ndata: {\"type\": \"ping\"}\n\n\
                    event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n\
                    event: ping\ndata: {\"type\": \"ping\"}\n\n";
        let events = collect(text).await;
        let names: Vec<String> = events.into_iter().map(|e| e.unwrap().event).collect();
        assert_eq!(names, ["message_start", "ping", "message_stop"]);
    }

    #[tokio::test]
    async fn given_an_error_event_mid_stream_then_it_ends_the_stream_with_anthropics_status() {
        let text = "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{}}\n\n\
                    event: error\ndata: {\"type\":\"error\",\"error\":{\"type\":\"overloaded_error\",\"message\":\"Overloaded\"}}\n\n";
        let events = collect(text).await;
        assert_eq!(events.len(), 2);
        let error = events[1].as_ref().unwrap_err();
        assert_eq!(error, &ProviderError::UpstreamServerError { status: 529, message: "Overloaded".into() });
    }

    #[tokio::test]
    async fn given_an_event_named_with_a_line_break_then_the_stream_ends_as_an_invalid_answer() {
        for (line, data_type) in [("", r"content_block_delta\nevent: forged"), ("event: message\n", "a b"), ("", "")] {
            let text = format!(
                "event: message_start\ndata: {{\"type\":\"message_start\",\"message\":{{}}}}\n\n\
                 {line}data: {{\"type\":\"{data_type}\"}}\n\n"
            );
            let events = collect(&text).await;
            assert_eq!(events.len(), 2, "{data_type:?}");
            assert!(matches!(&events[1], Err(ProviderError::InvalidResponse(_))), "{data_type:?}: {:?}", events[1]);
        }
    }

    #[tokio::test]
    async fn given_a_stream_closed_before_message_stop_then_it_is_cut() {
        let events = collect("event: message_start\ndata: {\"type\":\"message_start\",\"message\":{}}\n\n").await;
        assert!(matches!(events.last(), Some(Err(ProviderError::StreamCut))));
    }

    #[tokio::test]
    async fn given_data_that_is_not_json_then_the_stream_fails_clearly() {
        let events = collect("event: content_block_delta\ndata: {oops\n\n").await;
        assert!(matches!(events.last(), Some(Err(ProviderError::InvalidResponse(_)))));
    }
}
