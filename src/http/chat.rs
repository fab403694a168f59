//! The gateway: `POST /v1/chat/completions` (JSON or SSE) and `GET /v1/models`,
//! authenticated by API key from the in-memory cache, answered in OpenAI's format.

use std::convert::Infallible;

use axum::extract::{FromRequestParts, State};
use axum::http::request::Parts;
use axum::http::{HeaderName, HeaderValue};
use axum::response::sse::{Event, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use futures::StreamExt;
use serde::Serialize;

use super::extract::ApiJson;
use crate::app::AppState;
use crate::auth::bearer_token;
use crate::auth::key_cache::GatewayCaller;
use crate::completion::{provider_error, Admitted, Outcome};
use crate::error::{ApiError, ApiResult};
use crate::gateway::openai::ModelInfo;
use crate::gateway::{ChatCompletionRequest, ProviderError};

const REQUEST_HEADER: &str = "x-gaiarouter-request-id";

pub fn router() -> Router<AppState> {
    Router::new().route("/v1/chat/completions", post(chat_completions)).route("/v1/models", get(list_models))
}

impl FromRequestParts<AppState> for GatewayCaller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let token = bearer_token(parts)
            .ok_or_else(|| ApiError::unauthorized("missing API key: send `Authorization: Bearer gr-...`"))?;
        state.keys.authenticate(token)
    }
}

#[derive(Serialize)]
struct ModelList {
    object: &'static str,
    data: Vec<ModelEntry>,
}

/// OpenAI's model object plus GaiaRouter's price list (USD per million tokens).
#[derive(Serialize)]
struct ModelEntry {
    #[serde(flatten)]
    info: ModelInfo,
    #[serde(skip_serializing_if = "Option::is_none")]
    pricing: Option<Pricing>,
}

#[derive(Serialize)]
struct Pricing {
    input_per_million: f64,
    output_per_million: f64,
}

async fn list_models(State(state): State<AppState>, _caller: GatewayCaller) -> Json<ModelList> {
    let names = state.completions.providers.names();
    let registry = &state.completions.registry;
    let data = registry
        .list(&names)
        .into_iter()
        .map(|info| {
            let pricing = registry.resolve(&info.id).ok().filter(|r| r.price_known).map(|r| Pricing {
                input_per_million: r.price.input_per_million.to_usd_f64(),
                output_per_million: r.price.output_per_million.to_usd_f64(),
            });
            ModelEntry { info, pricing }
        })
        .collect();
    Json(ModelList { object: "list", data })
}

async fn chat_completions(
    State(state): State<AppState>,
    caller: GatewayCaller,
    ApiJson(request): ApiJson<ChatCompletionRequest>,
) -> ApiResult<Response> {
    let admitted = state.completions.admit(&caller, &request).await?;
    let request_id = admitted.ticket.request_id;
    let mut response = if request.is_stream() {
        stream(state, admitted, request).await?
    } else {
        complete(state, admitted, request).await?
    };
    if let Ok(value) = HeaderValue::from_str(&request_id.to_string()) {
        response.headers_mut().insert(HeaderName::from_static(REQUEST_HEADER), value);
    }
    Ok(response)
}

async fn complete(state: AppState, admitted: Admitted, request: ChatCompletionRequest) -> ApiResult<Response> {
    let Admitted { provider, upstream_model, mut ticket } = admitted;
    let result = provider.complete(&request, &upstream_model).await;
    ticket.mark_first_token();
    match result {
        Ok(mut completion) => {
            completion.model = request.model;
            state.completions.finish(ticket, Outcome::success(completion.usage)).await?;
            Ok(Json(completion).into_response())
        }
        Err(error) => Err(fail(&state, ticket, &error).await),
    }
}

/// Records a failed call and answers its error (or a 503 if even that failed).
async fn fail(state: &AppState, ticket: crate::completion::Ticket, error: &ProviderError) -> ApiError {
    let api_error = provider_error(error);
    match state.completions.finish(ticket, Outcome::failure(error.kind(), api_error.status.as_u16(), None)).await {
        Ok(()) => api_error,
        Err(unrecorded) => unrecorded,
    }
}

fn chunk_event<T: Serialize>(value: &T) -> Event {
    Event::default().data(serde_json::to_string(value).unwrap_or_default())
}

async fn stream(state: AppState, admitted: Admitted, request: ChatCompletionRequest) -> ApiResult<Response> {
    let Admitted { provider, upstream_model, mut ticket } = admitted;
    let include_usage = request.stream_options.as_ref().and_then(|o| o.include_usage).unwrap_or(false);
    let mut upstream = match provider.stream(&request, &upstream_model).await {
        Ok(upstream) => upstream,
        Err(error) => return Err(fail(&state, ticket, &error).await),
    };
    // Peek the first item so that failures before any content are real HTTP errors.
    let first = match upstream.next().await {
        Some(Ok(chunk)) => chunk,
        Some(Err(error)) => return Err(fail(&state, ticket, &error).await),
        None => return Err(fail(&state, ticket, &ProviderError::StreamCut).await),
    };
    ticket.mark_first_token();
    let model = request.model;
    let body = async_stream::stream! {
        let mut pending = Some(first);
        let mut failure: Option<ProviderError> = None;
        let mut usage_chunk = None;
        loop {
            let item = match pending.take() {
                Some(chunk) => Some(Ok(chunk)),
                None => upstream.next().await,
            };
            match item {
                None => break,
                Some(Err(error)) => {
                    failure = Some(error);
                    break;
                }
                Some(Ok(mut chunk)) => {
                    chunk.model.clone_from(&model);
                    if let Some(usage) = chunk.usage.take() {
                        ticket.set_usage(usage);
                        if chunk.choices.is_empty() {
                            chunk.usage = Some(usage);
                            usage_chunk = Some(chunk);
                            continue;
                        }
                        if include_usage {
                            chunk.usage = Some(usage);
                        }
                    }
                    yield Ok::<Event, Infallible>(chunk_event(&chunk));
                }
            }
        }
        // The stream is only finished ([DONE]) once its event is committed.
        let usage = ticket.usage().copied();
        let outcome = match &failure {
            None => Outcome::success(usage),
            Some(error) => Outcome::failure(error.kind(), provider_error(error).status.as_u16(), usage),
        };
        if let Err(unrecorded) = state.completions.finish(ticket, outcome).await {
            yield Ok(Event::default().data(unrecorded.body_json()));
            return;
        }
        if include_usage {
            if let Some(chunk) = usage_chunk {
                yield Ok(chunk_event(&chunk));
            }
        }
        if let Some(error) = failure {
            yield Ok(Event::default().data(provider_error(&error).body_json()));
        }
        yield Ok(Event::default().data("[DONE]"));
    };
    Ok(Sse::new(body).into_response())
}
