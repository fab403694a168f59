//! Anthropic's Messages API at the edge: `POST /v1/messages` (JSON or SSE) and
//! `POST /v1/messages/count_tokens`, authenticated by `x-api-key` (as the Anthropic
//! SDKs and Claude Code send it) or `Authorization: Bearer`, answered and failed in
//! Anthropic's shapes (`{"type":"error","error":{"type","message"}}`).

use std::convert::Infallible;

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{FromRequestParts, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode};
use axum::response::sse::{Event, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, post};
use axum::{Json, Router};
use futures::StreamExt;
use serde_json::{json, Value};

use super::chat::engine_error;
use super::gateway_caller::{refused, refused_at_edge, Pace};
use super::principal::bearer_token;
use crate::auth::key_cache::GatewayCaller;
use crate::completion::{Answer, EngineError, EngineStream, Ingress, MessagesExchange, StreamEvent};
use crate::error::ApiError;
use crate::gateway::messages::{bounded, error_event, SseEvent};
use crate::gateway::providers::AnthropicHeaders;
use crate::gateway::ProviderError;
use crate::state::AppState;

const REQUEST_HEADER: &str = "x-gaiarouter-request-id";
/// Longest `anthropic-version` accepted (real ones are `2023-06-01`).
const MAX_VERSION_LEN: usize = 32;
/// Longest `anthropic-beta` list accepted (Claude Code sends a few hundred bytes).
const MAX_BETA_LEN: usize = 2_048;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/v1/messages", post(create_message).fallback(method_not_allowed))
        .route("/v1/messages/count_tokens", post(count_tokens).fallback(method_not_allowed))
        // Anthropic clients get Anthropic's shape for what is not here (the Message
        // Batches API, a mistyped path) too.
        .route("/v1/messages/{*rest}", any(not_here))
}

async fn method_not_allowed() -> AnthropicError {
    AnthropicError {
        status: StatusCode::METHOD_NOT_ALLOWED,
        message: "this endpoint takes POST".into(),
        retry_headers: Vec::new(),
    }
}

async fn not_here() -> AnthropicError {
    AnthropicError {
        status: StatusCode::NOT_FOUND,
        message: "GaiaRouter offers POST /v1/messages and /v1/messages/count_tokens; the Message Batches and \
                  other Anthropic endpoints are not available"
            .into(),
        retry_headers: Vec::new(),
    }
}

/// Every error answer of the Messages API, as the OpenAPI document shows it
/// (written by `AnthropicError`'s `into_response`).
#[derive(serde::Serialize, utoipa::ToSchema)]
pub(crate) struct AnthropicErrorBody {
    /// `error`.
    #[serde(rename = "type")]
    kind: &'static str,
    error: AnthropicErrorDetail,
}

#[derive(serde::Serialize, utoipa::ToSchema)]
pub(crate) struct AnthropicErrorDetail {
    /// Anthropic's error type for the status: `invalid_request_error`, `authentication_error`,
    /// `permission_error`, `not_found_error`, `request_too_large`, `rate_limit_error`,
    /// `overloaded_error`, `timeout_error`, `api_error`.
    #[serde(rename = "type")]
    kind: &'static str,
    message: String,
}

/// Whether an answer for `path` takes Anthropic's error shape: the Messages API's
/// paths (every error of theirs, the edge's own included).
pub(crate) fn answers_in_anthropics_shape(path: &str) -> bool {
    path == "/v1/messages" || path.starts_with("/v1/messages/")
}

/// An error in Anthropic's shape and with Anthropic's error types.
pub struct AnthropicError {
    status: StatusCode,
    message: String,
    /// `retry-after` / `x-should-retry: false` (see `ApiError::not_before`).
    retry_headers: Vec<(axum::http::HeaderName, HeaderValue)>,
}

impl AnthropicError {
    fn invalid(message: impl Into<String>) -> Self {
        AnthropicError { status: StatusCode::BAD_REQUEST, message: message.into(), retry_headers: Vec::new() }
    }

    /// Anthropic's `error.type` for a status (its API reference's table of errors).
    fn error_type(&self) -> &'static str {
        error_type(self.status.as_u16())
    }
}

fn error_type(status: u16) -> &'static str {
    match status {
        400 | 422 => "invalid_request_error",
        401 => "authentication_error",
        402 => "billing_error",
        403 => "permission_error",
        404 => "not_found_error",
        413 => "request_too_large",
        408 | 504 => "timeout_error",
        429 => "rate_limit_error",
        503 | 529 => "overloaded_error",
        _ => "api_error",
    }
}

/// The gateway's errors keep their status and message; only the shape changes.
impl From<ApiError> for AnthropicError {
    fn from(error: ApiError) -> Self {
        let retry_headers = error.retry_headers();
        AnthropicError { status: error.status, message: error.message, retry_headers }
    }
}

impl From<EngineError> for AnthropicError {
    fn from(error: EngineError) -> Self {
        // Claude's own "overloaded" keeps its status: Anthropic clients back off on 529.
        if let EngineError::Upstream(ProviderError::UpstreamServerError { status: 529, message }) = &error {
            return AnthropicError {
                status: StatusCode::from_u16(529).unwrap_or(StatusCode::BAD_GATEWAY),
                message: message.clone(),
                retry_headers: Vec::new(),
            };
        }
        engine_error(error).into()
    }
}

impl IntoResponse for AnthropicError {
    fn into_response(self) -> Response {
        // Bounded whatever made it: serde, a translation refusal or an upstream may
        // quote the client's input at any length.
        let body = json!({"type": "error", "error": {"type": self.error_type(), "message": bounded(self.message)}});
        let mut response = (self.status, Json(body)).into_response();
        response.headers_mut().extend(self.retry_headers);
        response
    }
}

/// A gateway key presented the Anthropic way (`x-api-key`) or the OpenAI way.
pub struct MessagesCaller(GatewayCaller);

impl FromRequestParts<AppState> for MessagesCaller {
    type Rejection = AnthropicError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let token = parts
            .headers
            .get("x-api-key")
            .and_then(|value| value.to_str().ok())
            .map(str::trim)
            .or_else(|| bearer_token(parts))
            .ok_or_else(|| {
                AnthropicError::from(ApiError::unauthorized(
                    "missing API key: send `x-api-key: gr-...` or `Authorization: Bearer gr-...`",
                ))
            })?;
        let caller = super::gateway_caller::authenticate(parts, state, token, Ingress::Messages).await?;
        Ok(MessagesCaller(caller))
    }
}

/// `anthropic-version` and `anthropic-beta`, bounded: they are forwarded upstream.
fn anthropic_headers(headers: &HeaderMap) -> Result<AnthropicHeaders, AnthropicError> {
    // A header sent on several lines is one comma-separated list (RFC 9110 §5.3):
    // every beta the client named reaches Anthropic.
    let read = |name: &str, max: usize| -> Result<Option<String>, AnthropicError> {
        let lines: Vec<&str> = headers.get_all(name).iter().filter_map(|value| value.to_str().ok()).collect();
        if lines.is_empty() {
            return Ok(None);
        }
        let text = lines.iter().map(|line| line.trim()).filter(|line| !line.is_empty()).collect::<Vec<_>>().join(",");
        let printable = headers.get_all(name).iter().count() == lines.len()
            && text.bytes().all(|b| b.is_ascii_graphic() || b == b' ');
        if !printable || text.len() > max {
            return Err(AnthropicError::invalid(format!("{name}: must be at most {max} printable ASCII characters")));
        }
        Ok(Some(text).filter(|text| !text.is_empty()))
    };
    Ok(AnthropicHeaders {
        version: read("anthropic-version", MAX_VERSION_LEN)?,
        beta: read("anthropic-beta", MAX_BETA_LEN)?,
    })
}

/// The body as JSON; too large or not JSON is Anthropic's 413 or 400.
fn json_body(body: Result<Bytes, BytesRejection>) -> Result<Value, AnthropicError> {
    let bytes = body.map_err(|rejection| AnthropicError {
        status: rejection.status(),
        message: rejection.body_text(),
        retry_headers: Vec::new(),
    })?;
    serde_json::from_slice(&bytes)
        .map_err(|error| AnthropicError::invalid(format!("the request body is not valid JSON: {error}")))
}

#[utoipa::path(post, path = "/v1/messages", tag = "gateway",
    request_body = super::gateway_docs::MessagesRequestDoc,
    params(("anthropic-version" = Option<String>, Header, description = "forwarded to Anthropic (at most 32 characters)"),
        ("anthropic-beta" = Option<String>, Header, description = "forwarded to Anthropic (at most 2,048 characters)")),
    responses(
        (status = 200, description = "the message; with `stream: true`, an SSE stream of Anthropic's events",
            content((super::gateway_docs::MessageDoc = "application/json"), (String = "text/event-stream"))),
        (status = 404, description = "no such model or route"),
        (status = 429, description = "over a limit of the key or its organization; see `Retry-After`"),
        (status = "4XX", description = "an upstream's own refusal of the request, passed through"),
        (status = 502, description = "the upstream failed or answered what could not be read"),
        (status = 503, description = "no deployment available, or the request could not be admitted or recorded"),
        (status = 504, description = "the upstream did not answer in time"),
        (status = 529, description = "Anthropic is overloaded (its own status, kept for its clients)")))]
pub(crate) async fn create_message(
    State(state): State<AppState>,
    MessagesCaller(caller): MessagesCaller,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, AnthropicError> {
    let pace = Pace::default();
    let answer = answer_message(&state, &caller, &headers, body, &pace).await;
    pace.wait().await;
    answer
}

async fn answer_message(
    state: &AppState,
    caller: &GatewayCaller,
    headers: &HeaderMap,
    body: Result<Bytes, BytesRejection>,
    pace: &Pace,
) -> Result<Response, AnthropicError> {
    let ingress = Ingress::Messages;
    // Kept for the body log (a cheap handle on the same bytes).
    let received = body.as_ref().map(Bytes::clone).unwrap_or_default();
    let body = json_body(body);
    let model = match &body {
        Ok(body) => body.get("model").and_then(Value::as_str).unwrap_or_default().to_string(),
        Err(_) => String::new(),
    };
    // Everything refused before the engine is a malformed request.
    let invalid = |error: AnthropicError| {
        let answered = ApiError::new(error.status, "invalid_request", error.message.clone());
        refused_at_edge(state, caller, ingress, &model, &answered, pace);
        error
    };
    let refuse = |error: EngineError| {
        refused(state, caller, ingress, &model, &error, pace);
        AnthropicError::from(error)
    };
    let exchange =
        MessagesExchange::new(body.map_err(invalid)?, anthropic_headers(headers).map_err(invalid)?).map_err(refuse)?;
    state.completions.refuse_untranslatable(&exchange).map_err(refuse)?;
    let completion = state.completions.complete(caller, exchange).await.map_err(refuse)?;
    let id = completion.request_id;
    let request_id = id.to_string();
    let mut response = match completion.answer {
        Answer::Body(message) => Json(*message).into_response(),
        Answer::Stream(stream) => Sse::new(render_stream(stream)).into_response(),
    };
    if let Ok(value) = HeaderValue::from_str(&request_id) {
        response.headers_mut().insert(HeaderName::from_static("request-id"), value.clone());
        response.headers_mut().insert(HeaderName::from_static(REQUEST_HEADER), value);
    }
    if let Some(status) = &completion.rate_limits {
        response.headers_mut().extend(super::rate_limits::anthropic_rate_limit_headers(status));
    }
    Ok(super::body_capture::capture(state, caller, id, &received, response).await)
}

#[utoipa::path(post, path = "/v1/messages/count_tokens", tag = "gateway",
    request_body = super::gateway_docs::CountTokensRequestDoc,
    params(("anthropic-version" = Option<String>, Header, description = "forwarded to Anthropic (at most 32 characters)"),
        ("anthropic-beta" = Option<String>, Header, description = "forwarded to Anthropic (at most 2,048 characters)")),
    responses((status = 200, body = super::gateway_docs::TokenCountDoc),
        (status = 404, description = "no such model or route"),
        (status = 429, description = "over a limit of the key or its organization; see `Retry-After`"),
        (status = "4XX", description = "an upstream's own refusal of the request, passed through"),
        (status = 502, description = "the upstream failed or answered what could not be read"),
        (status = 503, description = "no deployment available, or the request could not be admitted or recorded"),
        (status = 504, description = "the upstream did not answer in time"),
        (status = 529, description = "Anthropic is overloaded (its own status, kept for its clients)")))]
pub(crate) async fn count_tokens(
    State(state): State<AppState>,
    MessagesCaller(caller): MessagesCaller,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<Value>, AnthropicError> {
    let mut body = json_body(body)?;
    // A count_tokens body is a Messages body without `max_tokens`: the largest
    // stands in for it, so only what the count depends on is checked.
    if let Some(object) = body.as_object_mut() {
        object.entry("max_tokens").or_insert(json!(u32::MAX));
    }
    let exchange = MessagesExchange::new(body, anthropic_headers(&headers)?)?;
    let input_tokens = state.completions.count_tokens(&caller, &exchange).await?;
    Ok(Json(json!({"input_tokens": input_tokens})))
}

fn sse(event: &SseEvent) -> Event {
    Event::default().event(&event.event).data(event.data.to_string())
}

/// Anthropic's stream. `message_delta` and `message_stop` finish the message, so
/// they are held until the request is recorded; an upstream failure after the
/// first event, or an outcome that could not be recorded, ends the stream with an
/// `error` event instead.
fn render_stream(mut stream: EngineStream<SseEvent>) -> impl futures::Stream<Item = Result<Event, Infallible>> {
    async_stream::stream! {
        let mut held: Vec<SseEvent> = Vec::new();
        while let Some(event) = stream.next().await {
            match event {
                StreamEvent::Chunk(event) if event.event == "message_delta" || event.event == "message_stop" => {
                    held.push(event);
                }
                StreamEvent::Chunk(event) => yield Ok(sse(&event)),
                StreamEvent::End { failure: None, .. } => {
                    for event in held.drain(..) {
                        yield Ok(sse(&event));
                    }
                }
                StreamEvent::End { failure: Some(error), .. } | StreamEvent::NotRecorded(error) => {
                    let error = AnthropicError::from(error);
                    yield Ok(sse(&error_event(error.error_type(), &bounded(error.message.clone()))));
                    return;
                }
            }
        }
    }
}
