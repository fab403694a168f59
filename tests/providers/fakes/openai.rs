//! OpenAI Chat Completions (also what OpenRouter and vLLM/Ollama speak).

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Uri};
use axum::response::Response;
use axum::routing::post;
use axum::Router;
use serde_json::{json, Value};

use super::openai_rules::{check_body, check_key};
use super::{
    data_frame, hang, json_response, parse_body, words, Behaviour, Ending, FakeState, FakeUpstream, Refusal, Reply,
    Tokens,
};

pub const TOOL_CALL_ID: &str = "call_fake_1";

/// The SSE comment OpenRouter sends while a model has not answered yet, and between
/// chunks to keep the connection alive.
pub const OPENROUTER_KEEP_ALIVE: &str = ": OPENROUTER PROCESSING\n\n";

/// Who is speaking the OpenAI format: they differ in error bodies and stream extras.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Flavour {
    OpenAi,
    OpenRouter,
}

/// What only the OpenAI-format fakes can do, on top of the shared script.
#[derive(Clone, Debug, Default)]
pub struct Options {
    /// Stream tool-call pieces without `index`, as Gemini's OpenAI endpoint and older
    /// vLLM and SGLang do.
    pub omit_tool_call_index: bool,
    /// Assistant messages (OpenAI JSON) answered instead of the script's reply, one per
    /// answer, in order: custom tool calls, parallel calls, `reasoning_content`, ids of
    /// the test's choosing. Streamed, they are cut into the deltas OpenAI sends.
    pub messages: Vec<Value>,
    /// The `usage` object answered instead of the script's tokens.
    pub usage: Option<Value>,
}

#[derive(Clone)]
struct OpenAiState {
    fake: FakeState,
    flavour: Flavour,
    omit_tool_call_index: bool,
    messages: Arc<Mutex<VecDeque<Value>>>,
    usage: Option<Value>,
}

/// OpenAI itself (and vLLM, Ollama...: the same shapes).
pub fn router(state: FakeState) -> Router {
    router_with(state, Flavour::OpenAi, Options::default())
}

/// OpenRouter: OpenAI's request and chunk shapes, its own error body
/// `{"error": {"code": <int>, "message", "metadata"}}`, comments in streams, and
/// failures after the 200 sent as a chunk with `error` and `finish_reason: "error"`.
pub fn openrouter_router(state: FakeState) -> Router {
    router_with(state, Flavour::OpenRouter, Options::default())
}

fn router_with(fake: FakeState, flavour: Flavour, options: Options) -> Router {
    let state = OpenAiState {
        fake,
        flavour,
        omit_tool_call_index: options.omit_tool_call_index,
        messages: Arc::new(Mutex::new(options.messages.into())),
        usage: options.usage,
    };
    Router::new().route("/v1/chat/completions", post(handle)).with_state(state)
}

/// Starts an OpenAI-format fake with [`Options`] (the plain routers take none).
pub async fn start(flavour: Flavour, options: Options, script: Vec<Behaviour>) -> FakeUpstream {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let origin = format!("http://{}", listener.local_addr().unwrap());
    let state = FakeState::new(super::chunking::seed_for(&origin));
    *state.script.lock().unwrap() = script;
    let app = router_with(state.clone(), flavour, options);
    tokio::spawn(async move { axum::serve(listener, app).await });
    FakeUpstream { origin, state }
}

async fn handle(State(state): State<OpenAiState>, uri: Uri, headers: HeaderMap, body: Bytes) -> Response {
    let flavour = state.flavour;
    let checked = check_key(&state.fake, &headers)
        .and_then(|()| parse_body(&body))
        .and_then(|value| check_body(&value).map(|()| value));
    let body = match checked {
        Ok(body) => body,
        Err(refusal) => {
            state.fake.record(uri.to_string(), headers, parse_body(&body).unwrap_or(Value::Null));
            return error_response(flavour, &refusal_for(flavour, refusal));
        }
    };
    let stream = body["stream"] == json!(true);
    let include_usage = body.pointer("/stream_options/include_usage") == Some(&json!(true));
    let model = body["model"].as_str().unwrap_or_default().to_owned();
    let behaviour = state.fake.next(uri.to_string(), headers, body);
    if let Some((reply, tokens)) = behaviour.answer() {
        state.fake.think().await;
        let scripted = state.messages.lock().unwrap().pop_front();
        let message = scripted.unwrap_or_else(|| reply_message(reply));
        let usage = state.usage.clone().unwrap_or_else(|| usage(tokens));
        if !stream {
            return json_response(200, completion(&model, message, usage));
        }
        let mut frames = state.message_frames(&model, &message);
        frames.push(chunk(&model, json!({}), Some(finish_reason(&message))));
        if include_usage {
            frames.push(data_frame(&json!({
                "id": "chatcmpl-fake", "object": "chat.completion.chunk", "created": 1, "model": model,
                "choices": [], "usage": usage
            })));
        }
        frames.push("data: [DONE]\n\n".into());
        return state.fake.sse(frames, Ending::Close);
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
        Behaviour::CutStream(reply) => {
            state.fake.sse(state.message_frames(&model, &reply_message(&reply)), Ending::Close)
        }
        Behaviour::StallStream(reply) => {
            state.fake.sse(state.message_frames(&model, &reply_message(&reply)), Ending::Stall)
        }
        Behaviour::ErrorMidStream(reply) => {
            let mut frames = state.message_frames(&model, &reply_message(&reply));
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
            state.fake.sse(frames, Ending::Close)
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

fn finish_reason(message: &Value) -> &'static str {
    match message.get("tool_calls").and_then(Value::as_array) {
        Some(calls) if !calls.is_empty() => "tool_calls",
        _ => "stop",
    }
}

/// The assistant message OpenAI answers for a scripted reply.
fn reply_message(reply: &Reply) -> Value {
    match reply {
        Reply::Text(text) => json!({"role": "assistant", "content": text, "refusal": null, "annotations": []}),
        Reply::ToolCall { name, arguments } => json!({"role": "assistant", "content": null, "refusal": null,
            "tool_calls": [{"id": TOOL_CALL_ID, "type": "function",
                            "function": {"name": name, "arguments": arguments.to_string()}}]}),
    }
}

fn completion(model: &str, message: Value, usage: Value) -> Value {
    let finish_reason = finish_reason(&message);
    json!({
        "id": "chatcmpl-fake", "object": "chat.completion", "created": 1_700_000_000, "model": model,
        "choices": [{"index": 0, "message": message, "logprobs": null, "finish_reason": finish_reason}],
        "usage": usage, "service_tier": "default", "system_fingerprint": "fp_fake"
    })
}

fn chunk(model: &str, delta: Value, finish_reason: Option<&str>) -> String {
    data_frame(&json!({
        "id": "chatcmpl-fake", "object": "chat.completion.chunk", "created": 1_700_000_000, "model": model,
        "system_fingerprint": "fp_fake",
        "choices": [{"index": 0, "delta": delta, "logprobs": null, "finish_reason": finish_reason}]
    }))
}

/// A text in two pieces cut at a character boundary near its middle.
fn halves(text: &str) -> [String; 2] {
    let middle = (0..=text.len() / 2).rev().find(|i| text.is_char_boundary(*i)).unwrap_or(0);
    [text[..middle].to_owned(), text[middle..].to_owned()]
}

impl OpenAiState {
    /// The chunks of an assistant message, without finish, usage or `[DONE]`, cut as
    /// OpenAI cuts them: the role first, reasoning and text word by word, then each tool
    /// call: its id, type and name with empty arguments (or custom `input`), then the
    /// arguments in two pieces. OpenRouter's start with its processing comments and
    /// carry one between chunks.
    fn message_frames(&self, model: &str, message: &Value) -> Vec<String> {
        let mut frames = vec![chunk(model, json!({"role": "assistant", "content": "", "refusal": null}), None)];
        if self.flavour == Flavour::OpenRouter {
            frames.insert(0, OPENROUTER_KEEP_ALIVE.repeat(2));
        }
        if let Some(reasoning) = message.get("reasoning_content").and_then(Value::as_str) {
            frames.extend(words(reasoning).into_iter().map(|w| chunk(model, json!({"reasoning_content": w}), None)));
        }
        if let Some(text) = message.get("content").and_then(Value::as_str) {
            frames.extend(words(text).into_iter().map(|w| chunk(model, json!({"content": w}), None)));
        }
        let calls = message.get("tool_calls").and_then(Value::as_array).cloned().unwrap_or_default();
        for (index, call) in calls.iter().enumerate() {
            let kind = call["type"].as_str().unwrap_or("function");
            // Custom calls carry free text in `custom.input`; function calls JSON text in
            // `function.arguments` (openai-python `ChoiceDeltaToolCall`).
            let (field, text_field) = if kind == "custom" { ("custom", "input") } else { ("function", "arguments") };
            let name = call[field]["name"].clone();
            let text = call[field][text_field].as_str().unwrap_or_default();
            let mut start = json!({"index": index, "id": call["id"], "type": kind});
            start[field] = json!({"name": name, text_field: ""});
            frames.push(chunk(model, json!({"tool_calls": [self.indexed(start)]}), None));
            for piece in halves(text) {
                let mut delta = json!({"index": index});
                delta[field] = json!({text_field: piece});
                frames.push(chunk(model, json!({"tool_calls": [self.indexed(delta)]}), None));
            }
        }
        if self.flavour == Flavour::OpenRouter && frames.len() > 3 {
            frames.insert(3, OPENROUTER_KEEP_ALIVE.to_owned());
        }
        frames
    }

    /// The piece as sent: without its `index` when the fake plays a server that omits it.
    fn indexed(&self, mut piece: Value) -> Value {
        if self.omit_tool_call_index {
            if let Some(piece) = piece.as_object_mut() {
                piece.remove("index");
            }
        }
        piece
    }
}
