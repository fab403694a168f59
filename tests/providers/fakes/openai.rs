//! OpenAI Chat Completions (also what OpenRouter and vLLM/Ollama speak).

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Uri};
use axum::response::Response;
use axum::routing::post;
use axum::Router;
use serde_json::{json, Value};

use super::openai_rules::{check_body, check_key};
use super::{
    argument_pieces, data_frame, hang, json_response, parse_body, words, Behaviour, Ending, FakeState, Refusal, Reply,
    Tokens,
};

pub const TOOL_CALL_ID: &str = "call_fake_1";

/// The SSE comment OpenRouter sends while a model has not answered yet, and between
/// chunks to keep the connection alive.
pub const OPENROUTER_KEEP_ALIVE: &str = ": OPENROUTER PROCESSING\n\n";

/// Who is speaking the OpenAI format: they differ in error bodies and stream extras.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Flavour {
    OpenAi,
    OpenRouter,
}

/// OpenAI itself (and vLLM, Ollama...: the same shapes).
pub fn router(state: FakeState) -> Router {
    Router::new().route("/v1/chat/completions", post(handle_openai)).with_state(state)
}

/// OpenRouter: OpenAI's request and chunk shapes, its own error body
/// `{"error": {"code": <int>, "message", "metadata"}}`, comments in streams, and
/// failures after the 200 sent as a chunk with `error` and `finish_reason: "error"`.
pub fn openrouter_router(state: FakeState) -> Router {
    Router::new().route("/v1/chat/completions", post(handle_openrouter)).with_state(state)
}

async fn handle_openai(state: State<FakeState>, uri: Uri, headers: HeaderMap, body: Bytes) -> Response {
    handle(Flavour::OpenAi, state, uri, headers, body).await
}

async fn handle_openrouter(state: State<FakeState>, uri: Uri, headers: HeaderMap, body: Bytes) -> Response {
    handle(Flavour::OpenRouter, state, uri, headers, body).await
}

async fn handle(
    flavour: Flavour,
    State(state): State<FakeState>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let checked = check_key(&state, &headers)
        .and_then(|()| parse_body(&body))
        .and_then(|value| check_body(&value).map(|()| value));
    let body = match checked {
        Ok(body) => body,
        Err(refusal) => {
            state.record(uri.to_string(), headers, parse_body(&body).unwrap_or(Value::Null));
            return error_response(flavour, &refusal_for(flavour, refusal));
        }
    };
    let stream = body["stream"] == json!(true);
    let include_usage = body.pointer("/stream_options/include_usage") == Some(&json!(true));
    let model = body["model"].as_str().unwrap_or_default().to_owned();
    let behaviour = state.next(uri.to_string(), headers, body);
    if let Some((reply, tokens)) = behaviour.answer() {
        if !stream {
            return json_response(200, completion(&model, reply, tokens));
        }
        let mut frames = reply_frames(flavour, &model, reply);
        frames.push(chunk(&model, json!({}), Some(finish_reason(reply))));
        if include_usage {
            frames.push(data_frame(&json!({
                "id": "chatcmpl-fake", "object": "chat.completion.chunk", "created": 1, "model": model,
                "choices": [], "usage": usage(tokens)
            })));
        }
        frames.push("data: [DONE]\n\n".into());
        return state.sse(frames, Ending::Close);
    }
    match behaviour {
        Behaviour::Answer(_) | Behaviour::AnswerWith(..) => unreachable!("answers are handled above"),
        Behaviour::Fail { status, message } => {
            error_response(flavour, &Refusal::new(status, message, default_code(flavour, status)))
        }
        Behaviour::RateLimited { retry_after_secs } => super::rate_limited(
            error_response(flavour, &Refusal::new(429, "Rate limit reached", default_code(flavour, 429))),
            retry_after_secs,
        ),
        Behaviour::Hang => hang().await,
        Behaviour::CutStream(reply) => state.sse(reply_frames(flavour, &model, &reply), Ending::Close),
        Behaviour::StallStream(reply) => state.sse(reply_frames(flavour, &model, &reply), Ending::Stall),
        Behaviour::ErrorMidStream(reply) => {
            let mut frames = reply_frames(flavour, &model, &reply);
            frames.push(match flavour {
                Flavour::OpenAi => data_frame(&json!({"error": {"message": "The server had an error while processing your request.", "type": "server_error", "param": null, "code": null}})),
                // OpenRouter: the status stays 200; the error rides in a chunk.
                Flavour::OpenRouter => data_frame(&json!({
                    "id": "gen-fake", "object": "chat.completion.chunk", "created": 1_700_000_000,
                    "model": model, "provider": "Anthropic",
                    "error": {"code": 502, "message": "Provider returned error", "metadata": {"provider_name": "Anthropic", "raw": "overloaded"}},
                    "choices": [{"index": 0, "delta": {"content": ""}, "finish_reason": "error"}]
                })),
            });
            state.sse(frames, Ending::Close)
        }
    }
}

/// OpenRouter words its credential refusals differently.
fn refusal_for(flavour: Flavour, refusal: Refusal) -> Refusal {
    match (flavour, refusal.status, refusal.code) {
        (Flavour::OpenRouter, 401, None) => Refusal::new(401, "No auth credentials found", None),
        (Flavour::OpenRouter, 401, Some(_)) => Refusal::new(401, "User not found.", None),
        _ => refusal,
    }
}

fn default_code(flavour: Flavour, status: u16) -> Option<&'static str> {
    match (flavour, status) {
        (Flavour::OpenAi, 401) => Some("invalid_api_key"),
        (Flavour::OpenAi, 403) => Some("unsupported_country_region_territory"),
        (Flavour::OpenAi, 429) => Some("rate_limit_exceeded"),
        _ => None,
    }
}

/// The provider's own error body.
fn error_response(flavour: Flavour, refusal: &Refusal) -> Response {
    let body = match flavour {
        Flavour::OpenAi => {
            let error_type = match refusal.status {
                403 => "request_forbidden",
                429 => "requests",
                500..=599 => "server_error",
                _ => "invalid_request_error",
            };
            json!({"error": {"message": refusal.message, "type": error_type, "param": refusal.param, "code": refusal.code}})
        }
        Flavour::OpenRouter => {
            let metadata = match refusal.status {
                // 403: the input was flagged by the moderation of the chosen model.
                403 => {
                    json!({"reasons": ["harassment"], "flagged_input": "...", "provider_name": "OpenAI", "model_slug": "openai/gpt-4o"})
                }
                500..=599 => json!({"provider_name": "Anthropic", "raw": refusal.message}),
                _ => Value::Null,
            };
            let mut error = json!({"code": refusal.status, "message": refusal.message});
            if !metadata.is_null() {
                error["metadata"] = metadata;
            }
            json!({"error": error})
        }
    };
    json_response(refusal.status, body)
}

fn usage(tokens: Tokens) -> Value {
    json!({"prompt_tokens": tokens.prompt, "completion_tokens": tokens.completion,
           "total_tokens": tokens.prompt + tokens.completion,
           "prompt_tokens_details": {"cached_tokens": tokens.cached, "audio_tokens": 0},
           "completion_tokens_details": {"reasoning_tokens": tokens.reasoning, "audio_tokens": 0,
                                         "accepted_prediction_tokens": 0, "rejected_prediction_tokens": 0}})
}

fn finish_reason(reply: &Reply) -> &'static str {
    match reply {
        Reply::Text(_) => "stop",
        Reply::ToolCall { .. } => "tool_calls",
    }
}

fn completion(model: &str, reply: &Reply, tokens: Tokens) -> Value {
    let message = match reply {
        Reply::Text(text) => {
            json!({"role": "assistant", "content": text, "refusal": null, "annotations": []})
        }
        Reply::ToolCall { name, arguments } => {
            json!({"role": "assistant", "content": null, "refusal": null,
            "tool_calls": [{"id": TOOL_CALL_ID, "type": "function",
                            "function": {"name": name, "arguments": arguments.to_string()}}]})
        }
    };
    json!({
        "id": "chatcmpl-fake", "object": "chat.completion", "created": 1_700_000_000, "model": model,
        "choices": [{"index": 0, "message": message, "logprobs": null, "finish_reason": finish_reason(reply)}],
        "usage": usage(tokens), "service_tier": "default", "system_fingerprint": "fp_fake"
    })
}

fn chunk(model: &str, delta: Value, finish_reason: Option<&str>) -> String {
    data_frame(&json!({
        "id": "chatcmpl-fake", "object": "chat.completion.chunk", "created": 1_700_000_000, "model": model,
        "system_fingerprint": "fp_fake",
        "choices": [{"index": 0, "delta": delta, "logprobs": null, "finish_reason": finish_reason}]
    }))
}

/// The chunks of a reply, without finish, usage or `[DONE]`; OpenRouter's start with
/// its processing comments and carry one between chunks.
fn reply_frames(flavour: Flavour, model: &str, reply: &Reply) -> Vec<String> {
    let mut frames = vec![chunk(model, json!({"role": "assistant", "content": "", "refusal": null}), None)];
    if flavour == Flavour::OpenRouter {
        frames.insert(0, OPENROUTER_KEEP_ALIVE.repeat(2));
    }
    match reply {
        Reply::Text(text) => {
            frames.extend(words(text).into_iter().map(|w| chunk(model, json!({"content": w}), None)));
        }
        Reply::ToolCall { name, arguments } => {
            let (first, second) = argument_pieces(arguments);
            frames.push(chunk(
                model,
                json!({"tool_calls": [{"index": 0, "id": TOOL_CALL_ID, "type": "function",
                "function": {"name": name, "arguments": ""}}]}),
                None,
            ));
            for piece in [first, second] {
                frames.push(chunk(
                    model,
                    json!({"tool_calls": [{"index": 0, "function": {"arguments": piece}}]}),
                    None,
                ));
            }
        }
    }
    if flavour == Flavour::OpenRouter && frames.len() > 3 {
        frames.insert(3, OPENROUTER_KEEP_ALIVE.to_owned());
    }
    frames
}
