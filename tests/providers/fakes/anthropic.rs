//! Anthropic Messages API, streaming events as documented: message_start,
//! content_block_start/delta/stop, ping, message_delta, message_stop, error.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Uri};
use axum::response::Response;
use axum::routing::post;
use axum::Router;
use serde_json::{json, Value};

use super::anthropic_rules::{check_body, check_headers};
use super::{
    argument_pieces, hang, json_response, named_frame, parse_body, words, Behaviour, Ending, FakeState, Refusal, Reply,
    Tokens,
};

pub const TOOL_USE_ID: &str = "toolu_01A09q90qw90lq917835lq9";

pub fn router(state: FakeState) -> Router {
    Router::new().route("/v1/messages", post(handle)).with_state(state)
}

async fn handle(State(state): State<FakeState>, uri: Uri, headers: HeaderMap, body: Bytes) -> Response {
    let checked = check_headers(&state, &headers)
        .and_then(|()| parse_body(&body))
        .and_then(|value| check_body(&value).map(|()| value));
    let body = match checked {
        Ok(body) => body,
        Err(refusal) => {
            state.record(uri.to_string(), headers, parse_body(&body).unwrap_or(Value::Null));
            return error_response(&refusal);
        }
    };
    let stream = body["stream"] == json!(true);
    let model = body["model"].as_str().unwrap_or_default().to_owned();
    let behaviour = state.next(uri.to_string(), headers, body);
    if let Some((reply, tokens)) = behaviour.answer() {
        if !stream {
            return json_response(200, message(&model, reply, tokens));
        }
        let mut frames = reply_frames(&model, reply, tokens);
        // message_delta's usage is cumulative: the whole output, and the input figures again.
        frames.push(named_frame(
            "message_delta",
            &json!({"type": "message_delta",
            "delta": {"stop_reason": stop_reason(reply), "stop_sequence": null},
            "usage": usage(tokens, tokens.completion)}),
        ));
        frames.push(named_frame("message_stop", &json!({"type": "message_stop"})));
        return state.sse(frames, Ending::Close);
    }
    match behaviour {
        Behaviour::Answer(_) | Behaviour::AnswerWith(..) => unreachable!("answers are handled above"),
        Behaviour::Fail { status, message } => error_response(&Refusal::new(status, message, None)),
        Behaviour::RateLimited { retry_after_secs } => {
            super::rate_limited(error_response(&Refusal::new(429, "Rate limit reached", None)), retry_after_secs)
        }
        Behaviour::Hang => hang().await,
        Behaviour::CutStream(reply) => state.sse(reply_frames(&model, &reply, Tokens::DEFAULT), Ending::Close),
        Behaviour::StallStream(reply) => state.sse(reply_frames(&model, &reply, Tokens::DEFAULT), Ending::Stall),
        Behaviour::ErrorMidStream(reply) => {
            let mut frames = reply_frames(&model, &reply, Tokens::DEFAULT);
            frames.push(named_frame(
                "error",
                &json!({"type": "error",
                "error": {"type": "overloaded_error", "message": "Overloaded"}}),
            ));
            state.sse(frames, Ending::Close)
        }
    }
}

/// `{"type": "error", "error": {"type", "message"}, "request_id"}` with the error type
/// Anthropic documents for the status.
fn error_response(refusal: &Refusal) -> Response {
    let error_type = match refusal.status {
        400 => "invalid_request_error",
        401 => "authentication_error",
        402 => "billing_error",
        403 => "permission_error",
        404 => "not_found_error",
        413 => "request_too_large",
        429 => "rate_limit_error",
        529 => "overloaded_error",
        500..=599 => "api_error",
        _ => "invalid_request_error",
    };
    json_response(
        refusal.status,
        json!({"type": "error", "error": {"type": error_type, "message": refusal.message},
               "request_id": "req_011CSHoEeqs5C35K2UUqR7Fy"}),
    )
}

/// Anthropic's usage: `input_tokens` counts only the prompt tokens neither read from
/// nor written to the cache.
fn usage(tokens: Tokens, output_tokens: u64) -> Value {
    json!({"input_tokens": tokens.prompt - tokens.cached - tokens.cache_write,
           "cache_creation_input_tokens": tokens.cache_write,
           "cache_read_input_tokens": tokens.cached,
           "output_tokens": output_tokens})
}

fn stop_reason(reply: &Reply) -> &'static str {
    match reply {
        Reply::Text(_) => "end_turn",
        Reply::ToolCall { .. } => "tool_use",
    }
}

fn message(model: &str, reply: &Reply, tokens: Tokens) -> Value {
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
        "usage": usage(tokens, tokens.completion)
    })
}

/// message_start and the content blocks, without message_delta / message_stop.
/// A ping follows message_start, as in Anthropic's streams, and another one comes
/// between the deltas (Anthropic sends them whenever it likes).
fn reply_frames(model: &str, reply: &Reply, tokens: Tokens) -> Vec<String> {
    let mut frames = vec![
        named_frame(
            "message_start",
            &json!({"type": "message_start", "message": {
            "id": "msg_1nZdL29xx5MUA1yADyHTEsnR8uuvGzszyY", "type": "message", "role": "assistant",
            "content": [], "model": model, "stop_reason": null, "stop_sequence": null,
            "usage": usage(tokens, 1)}}),
        ),
        named_frame("ping", &json!({"type": "ping"})),
        named_frame(
            "content_block_start",
            &json!({"type": "content_block_start", "index": 0,
            "content_block": {"type": "text", "text": ""}}),
        ),
    ];
    let text_delta = |text: &str| {
        named_frame(
            "content_block_delta",
            &json!({"type": "content_block_delta", "index": 0,
            "delta": {"type": "text_delta", "text": text}}),
        )
    };
    match reply {
        Reply::Text(text) => {
            let words = words(text);
            let (first, rest) = words.split_at(words.len().min(1));
            frames.extend(first.iter().map(|w| text_delta(w)));
            frames.push(named_frame("ping", &json!({"type": "ping"})));
            frames.extend(rest.iter().map(|w| text_delta(w)));
        }
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
