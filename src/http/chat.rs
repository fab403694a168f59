//! The gateway: `POST /v1/chat/completions` (JSON or SSE) and `GET /v1/models`,
//! authenticated by API key from the in-memory cache, answered in OpenAI's format.

use std::convert::Infallible;

use axum::extract::{FromRequestParts, State};
use axum::http::request::Parts;
use axum::http::{HeaderName, HeaderValue, StatusCode};
use axum::response::sse::{Event, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use futures::StreamExt;
use serde::Serialize;

use super::extract::ApiJsonWithBytes;
use super::gateway_caller::{refused, refused_at_edge, Pace};
use super::principal::bearer_token;
use crate::auth::key_cache::GatewayCaller;
use crate::completion::{Answer, ChatExchange, EngineError, EngineStream, Ingress, StreamEvent};
use crate::error::{ApiError, ApiResult};
use crate::gateway::openai::{ChatCompletionChunk, ModelInfo};
use crate::gateway::ChatCompletionRequest;
use crate::state::AppState;
use crate::usage::quota::AdmissionError;

const REQUEST_HEADER: &str = "x-gaiarouter-request-id";

pub fn router() -> Router<AppState> {
    Router::new().route("/v1/chat/completions", post(chat_completions)).route("/v1/models", get(list_models))
}

impl FromRequestParts<AppState> for GatewayCaller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let token = bearer_token(parts)
            .ok_or_else(|| ApiError::unauthorized("missing API key: send `Authorization: Bearer gr-...`"))?;
        super::gateway_caller::authenticate(parts, state, token, Ingress::ChatCompletions).await
    }
}

#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct ModelList {
    object: &'static str,
    data: Vec<ModelEntry>,
}

/// OpenAI's model object plus GaiaRouter's price list (USD per million tokens).
#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct ModelEntry {
    #[serde(flatten)]
    info: ModelInfo,
    #[serde(skip_serializing_if = "Option::is_none")]
    pricing: Option<Pricing>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct Pricing {
    input_per_million: f64,
    output_per_million: f64,
}

#[utoipa::path(get, path = "/v1/models", tag = "gateway",
    responses((status = 200, body = ModelList, description = "every model and route this gateway serves")))]
pub(crate) async fn list_models(State(state): State<AppState>, _caller: GatewayCaller) -> Json<ModelList> {
    let data = state
        .completions
        .catalogue()
        .into_iter()
        .map(|entry| ModelEntry {
            pricing: entry.price.map(|price| Pricing {
                input_per_million: price.input_per_million.to_usd_f64(),
                output_per_million: price.output_per_million.to_usd_f64(),
            }),
            info: ModelInfo { id: entry.id, object: "model".into(), created: 0, owned_by: entry.provider },
        })
        .collect();
    Json(ModelList { object: "list", data })
}

#[utoipa::path(post, path = "/v1/chat/completions", tag = "gateway",
    request_body = super::gateway_docs::ChatCompletionRequestDoc,
    responses(
        (status = 200, description = "the completion; with `stream: true`, an SSE stream of chunks ending with `data: [DONE]`",
            content((super::gateway_docs::ChatCompletionDoc = "application/json"), (String = "text/event-stream"))),
        (status = 404, description = "no such model or route"),
        (status = 429, description = "over a limit of the key or its organization (`code` names it); see `Retry-After`"),
        (status = "4XX", description = "an upstream's own refusal of the request, passed through"),
        (status = 502, description = "the upstream failed or answered what could not be read"),
        (status = 503, description = "no deployment available, or the request could not be admitted or recorded"),
        (status = 504, description = "the upstream did not answer in time")))]
pub(crate) async fn chat_completions(
    State(state): State<AppState>,
    caller: GatewayCaller,
    body: Result<ApiJsonWithBytes<ChatCompletionRequest>, ApiError>,
) -> ApiResult<Response> {
    let pace = Pace::default();
    let answer = answer_chat(&state, &caller, body, &pace).await;
    pace.wait().await;
    answer
}

async fn answer_chat(
    state: &AppState,
    caller: &GatewayCaller,
    body: Result<ApiJsonWithBytes<ChatCompletionRequest>, ApiError>,
    pace: &Pace,
) -> ApiResult<Response> {
    let ingress = Ingress::ChatCompletions;
    let (request, received) = match body {
        Ok(ApiJsonWithBytes { value, bytes }) => (value, bytes),
        Err(error) => {
            refused_at_edge(state, caller, ingress, "", &error, pace);
            return Err(error);
        }
    };
    let include_usage = request.stream_options.as_ref().and_then(|o| o.include_usage).unwrap_or(false);
    // Kept for the record of a refusal: the exchange owns the request.
    let model = request.model.clone();
    let refuse = |error: EngineError| {
        refused(state, caller, ingress, &model, &error, pace);
        engine_error(error)
    };
    let exchange = ChatExchange::new(request).map_err(refuse)?;
    let completion = state.completions.complete(caller, exchange).await.map_err(refuse)?;
    let request_id = completion.request_id;
    let mut response = match completion.answer {
        Answer::Body(body) => Json(*body).into_response(),
        Answer::Stream(stream) => Sse::new(render_stream(stream, include_usage, request_id)).into_response(),
    };
    if let Ok(value) = HeaderValue::from_str(&completion.request_id.to_string()) {
        response.headers_mut().insert(HeaderName::from_static(REQUEST_HEADER), value);
    }
    if let Some(status) = &completion.rate_limits {
        response.headers_mut().extend(super::rate_limits::rate_limit_headers(status));
    }
    Ok(super::body_capture::capture(state, caller, request_id, &received, response).await)
}

fn chunk_event<T: Serialize>(value: &T) -> Event {
    Event::default().data(serde_json::to_string(value).unwrap_or_default())
}

/// OpenAI's stream: the chunks, the usage chunk when asked for, an error object
/// if the upstream failed mid-stream, then `[DONE]` — except when the outcome
/// could not be recorded: then the stream ends with the error and no `[DONE]`.
fn render_stream(
    mut stream: EngineStream<ChatCompletionChunk>,
    include_usage: bool,
    request_id: uuid::Uuid,
) -> impl futures::Stream<Item = Result<Event, Infallible>> {
    async_stream::stream! {
        // The usage chunk repeats the stream's id, created time and model.
        let mut template: Option<ChatCompletionChunk> = None;
        while let Some(event) = stream.next().await {
            match event {
                StreamEvent::Chunk(chunk) => {
                    if template.is_none() {
                        template = Some(ChatCompletionChunk { choices: Vec::new(), ..chunk.clone() });
                    }
                    yield Ok(chunk_event(&chunk));
                }
                StreamEvent::End { usage, failure } => {
                    if let (true, Some(usage)) = (include_usage, usage) {
                        let mut chunk = template.take().unwrap_or_else(|| {
                            ChatCompletionChunk::new(&format!("chatcmpl-{}", request_id.simple()), 0, "", Vec::new())
                        });
                        chunk.usage = Some(usage);
                        yield Ok(chunk_event(&chunk));
                    }
                    if let Some(error) = failure {
                        yield Ok(Event::default().data(engine_error(error).body_json()));
                    }
                }
                StreamEvent::NotRecorded(error) => {
                    yield Ok(Event::default().data(engine_error(error).body_json()));
                    return;
                }
            }
        }
        yield Ok(Event::default().data("[DONE]"));
    }
}

/// The engine's errors in OpenAI's error shape.
pub(crate) fn engine_error(error: EngineError) -> ApiError {
    let status = StatusCode::from_u16(error.http_status()).unwrap_or(StatusCode::BAD_GATEWAY);
    match error {
        EngineError::InvalidRequest { param, message } => {
            ApiError::bad_request("invalid_request", message).with_param(param)
        }
        EngineError::UnknownModel(message) => ApiError::not_found("model_not_found", message).with_param("model"),
        EngineError::Admission(AdmissionError::LimitReached(refusal)) => super::rate_limits::refusal_error(&refusal),
        EngineError::Admission(AdmissionError::Database(cause)) => ApiError::unavailable(cause),
        EngineError::NotRecorded(cause) => ApiError::unavailable(cause),
        EngineError::NoDeployment(_) => ApiError::new(status, "no_available_deployment", error.to_string()),
        EngineError::Upstream(error) => ApiError::new(status, error.kind(), error.to_string()),
    }
}
