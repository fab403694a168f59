//! OpenAI Chat Completions (also what OpenRouter and vLLM/Ollama speak).

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Uri};
use axum::response::Response;
use axum::routing::post;
use axum::Router;
use serde_json::{json, Value};

use super::{
    argument_pieces, data_frame, hang, json_response, sse, words, Behaviour, Ending, FakeState, Reply,
    COMPLETION_TOKENS, PROMPT_TOKENS,
};

pub const TOOL_CALL_ID: &str = "call_fake_1";

pub fn router(state: FakeState) -> Router {
    Router::new().route("/v1/chat/completions", post(handle)).with_state(state)
}

async fn handle(State(state): State<FakeState>, uri: Uri, headers: HeaderMap, body: Bytes) -> Response {
    let body: Value = serde_json::from_slice(&body).unwrap();
    let stream = body["stream"] == json!(true);
    let include_usage = body.pointer("/stream_options/include_usage") == Some(&json!(true));
    let model = body["model"].as_str().unwrap_or_default().to_owned();
    match state.next(uri.to_string(), headers, body) {
        Behaviour::Answer(reply) if stream => {
            let mut frames = reply_frames(&model, &reply);
            frames.push(chunk(&model, json!({}), Some(finish_reason(&reply))));
            if include_usage {
                frames.push(data_frame(&json!({
                    "id": "chatcmpl-fake", "object": "chat.completion.chunk", "created": 1, "model": model,
                    "choices": [], "usage": usage()
                })));
            }
            frames.push("data: [DONE]\n\n".into());
            sse(frames, Ending::Close)
        }
        Behaviour::Answer(reply) => json_response(200, completion(&model, &reply)),
        Behaviour::Fail { status, message } => json_response(
            status,
            json!({"error": {"message": message, "type": "invalid_request_error", "param": null, "code": null}}),
        ),
        Behaviour::Hang => hang().await,
        Behaviour::CutStream(reply) => sse(reply_frames(&model, &reply), Ending::Close),
        Behaviour::StallStream(reply) => sse(reply_frames(&model, &reply), Ending::Stall),
        Behaviour::ErrorMidStream(reply) => {
            let mut frames = reply_frames(&model, &reply);
            frames.push(data_frame(&json!({"error": {"message": "The server had an error while processing your request.", "type": "server_error", "param": null, "code": null}})));
            sse(frames, Ending::Close)
        }
    }
}

fn usage() -> Value {
    json!({"prompt_tokens": PROMPT_TOKENS, "completion_tokens": COMPLETION_TOKENS,
           "total_tokens": PROMPT_TOKENS + COMPLETION_TOKENS,
           "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
           "completion_tokens_details": {"reasoning_tokens": 0, "audio_tokens": 0}})
}

fn finish_reason(reply: &Reply) -> &'static str {
    match reply {
        Reply::Text(_) => "stop",
        Reply::ToolCall { .. } => "tool_calls",
    }
}

fn completion(model: &str, reply: &Reply) -> Value {
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
        "usage": usage(), "service_tier": "default", "system_fingerprint": "fp_fake"
    })
}

fn chunk(model: &str, delta: Value, finish_reason: Option<&str>) -> String {
    data_frame(&json!({
        "id": "chatcmpl-fake", "object": "chat.completion.chunk", "created": 1_700_000_000, "model": model,
        "system_fingerprint": "fp_fake",
        "choices": [{"index": 0, "delta": delta, "logprobs": null, "finish_reason": finish_reason}]
    }))
}

/// The chunks of a reply, without finish, usage or `[DONE]`.
fn reply_frames(model: &str, reply: &Reply) -> Vec<String> {
    let mut frames = vec![chunk(model, json!({"role": "assistant", "content": "", "refusal": null}), None)];
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
    frames
}
