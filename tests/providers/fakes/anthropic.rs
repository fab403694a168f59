//! Anthropic Messages API, streaming events as documented: message_start,
//! content_block_start/delta/stop, ping, message_delta, message_stop, error.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Uri};
use axum::response::Response;
use axum::routing::post;
use axum::Router;
use serde_json::{json, Value};

use super::{
    argument_pieces, hang, json_response, named_frame, sse, words, Behaviour, Ending, FakeState, Reply,
    COMPLETION_TOKENS, PROMPT_TOKENS,
};

pub const TOOL_USE_ID: &str = "toolu_01A09q90qw90lq917835lq9";

pub fn router(state: FakeState) -> Router {
    Router::new().route("/v1/messages", post(handle)).with_state(state)
}

async fn handle(State(state): State<FakeState>, uri: Uri, headers: HeaderMap, body: Bytes) -> Response {
    let body: Value = serde_json::from_slice(&body).unwrap();
    let stream = body["stream"] == json!(true);
    let model = body["model"].as_str().unwrap_or_default().to_owned();
    match state.next(uri.to_string(), headers, body) {
        Behaviour::Answer(reply) if stream => {
            let mut frames = reply_frames(&model, &reply);
            frames.push(named_frame(
                "message_delta",
                &json!({"type": "message_delta",
                "delta": {"stop_reason": stop_reason(&reply), "stop_sequence": null},
                "usage": {"output_tokens": COMPLETION_TOKENS}}),
            ));
            frames.push(named_frame("message_stop", &json!({"type": "message_stop"})));
            sse(frames, Ending::Close)
        }
        Behaviour::Answer(reply) => json_response(200, message(&model, &reply)),
        Behaviour::Fail { status, message } => {
            let error_type = match status {
                401 => "authentication_error",
                403 => "permission_error",
                404 => "not_found_error",
                429 => "rate_limit_error",
                529 => "overloaded_error",
                500..=599 => "api_error",
                _ => "invalid_request_error",
            };
            json_response(status, json!({"type": "error", "error": {"type": error_type, "message": message}}))
        }
        Behaviour::Hang => hang().await,
        Behaviour::CutStream(reply) => sse(reply_frames(&model, &reply), Ending::Close),
        Behaviour::StallStream(reply) => sse(reply_frames(&model, &reply), Ending::Stall),
        Behaviour::ErrorMidStream(reply) => {
            let mut frames = reply_frames(&model, &reply);
            frames.push(named_frame(
                "error",
                &json!({"type": "error",
                "error": {"type": "overloaded_error", "message": "Overloaded"}}),
            ));
            sse(frames, Ending::Close)
        }
    }
}

fn stop_reason(reply: &Reply) -> &'static str {
    match reply {
        Reply::Text(_) => "end_turn",
        Reply::ToolCall { .. } => "tool_use",
    }
}

fn message(model: &str, reply: &Reply) -> Value {
    let content = match reply {
        Reply::Text(text) => json!([{"type": "text", "text": text}]),
        Reply::ToolCall { name, arguments } => json!([
            {"type": "text", "text": "Let me check."},
            {"type": "tool_use", "id": TOOL_USE_ID, "name": name, "input": arguments}
        ]),
    };
    json!({
        "id": "msg_01XFDUDYJgAACzvnptvVoYEL", "type": "message", "role": "assistant", "model": model,
        "content": content, "stop_reason": stop_reason(reply), "stop_sequence": null,
        "usage": {"input_tokens": PROMPT_TOKENS, "output_tokens": COMPLETION_TOKENS,
                  "cache_creation_input_tokens": 0, "cache_read_input_tokens": 0}
    })
}

/// message_start and the content blocks, without message_delta / message_stop.
fn reply_frames(model: &str, reply: &Reply) -> Vec<String> {
    let mut frames = vec![
        named_frame(
            "message_start",
            &json!({"type": "message_start", "message": {
            "id": "msg_1nZdL29xx5MUA1yADyHTEsnR8uuvGzszyY", "type": "message", "role": "assistant",
            "content": [], "model": model, "stop_reason": null, "stop_sequence": null,
            "usage": {"input_tokens": PROMPT_TOKENS, "cache_creation_input_tokens": 0,
                      "cache_read_input_tokens": 0, "output_tokens": 1}}}),
        ),
        named_frame(
            "content_block_start",
            &json!({"type": "content_block_start", "index": 0,
            "content_block": {"type": "text", "text": ""}}),
        ),
        named_frame("ping", &json!({"type": "ping"})),
    ];
    let text_delta = |text: &str| {
        named_frame(
            "content_block_delta",
            &json!({"type": "content_block_delta", "index": 0,
            "delta": {"type": "text_delta", "text": text}}),
        )
    };
    match reply {
        Reply::Text(text) => frames.extend(words(text).iter().map(|w| text_delta(w))),
        Reply::ToolCall { name, arguments } => {
            frames.push(text_delta("Let me check."));
            frames.push(named_frame("content_block_stop", &json!({"type": "content_block_stop", "index": 0})));
            frames.push(named_frame(
                "content_block_start",
                &json!({"type": "content_block_start", "index": 1,
                "content_block": {"type": "tool_use", "id": TOOL_USE_ID, "name": name, "input": {}}}),
            ));
            let (first, second) = argument_pieces(arguments);
            for piece in ["".to_owned(), first, second] {
                frames.push(named_frame(
                    "content_block_delta",
                    &json!({"type": "content_block_delta", "index": 1,
                    "delta": {"type": "input_json_delta", "partial_json": piece}}),
                ));
            }
            frames.push(named_frame("content_block_stop", &json!({"type": "content_block_stop", "index": 1})));
            return frames;
        }
    }
    frames.push(named_frame("content_block_stop", &json!({"type": "content_block_stop", "index": 0})));
    frames
}
