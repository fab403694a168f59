//! Anthropic Messages API, streaming events as documented: message_start,
//! content_block_start/delta/stop, ping, message_delta, message_stop, error.
//! With thinking on, answers start with a signed thinking block (streamed as
//! `thinking_delta` and `signature_delta`); a forced tool (`tool_choice` of type `tool`)
//! is answered by a call of it; requests with `cache_control` report a cache write the
//! first time and a cache read after.

use std::collections::BTreeSet;
use std::sync::Mutex;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Uri};
use axum::response::Response;
use axum::routing::post;
use axum::Router;
use serde_json::{json, Value};

pub use super::anthropic_rules::thinking_signature;
use super::anthropic_rules::{cache_controls, check_body, check_headers};
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
    let shape = Shape::of(&body);
    let behaviour = state.next(uri.to_string(), headers, body);
    if let Some((reply, tokens)) = behaviour.answer() {
        // The script's own figures win; the default ones show the cache at work.
        let (tokens, one_hour) = match (&behaviour, &shape.cache) {
            (Behaviour::Answer(_), Some(cache)) => (cache.tokens(), cache.one_hour),
            _ => (tokens, false),
        };
        let blocks = shape.blocks(reply);
        if !stream {
            return json_response(200, message(&model, &blocks, tokens, one_hour));
        }
        let mut frames = reply_frames(&model, &blocks, tokens, one_hour);
        // message_delta's usage is cumulative: the whole output, and the input figures again.
        frames.push(named_frame(
            "message_delta",
            &json!({"type": "message_delta",
            "delta": {"stop_reason": stop_reason(&blocks), "stop_sequence": null},
            "usage": usage(tokens, tokens.completion, one_hour)}),
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
        Behaviour::CutStream(reply) => {
            state.sse(reply_frames(&model, &shape.blocks(&reply), Tokens::DEFAULT, false), Ending::Close)
        }
        Behaviour::StallStream(reply) => {
            state.sse(reply_frames(&model, &shape.blocks(&reply), Tokens::DEFAULT, false), Ending::Stall)
        }
        Behaviour::ErrorMidStream(reply) => {
            let mut frames = reply_frames(&model, &shape.blocks(&reply), Tokens::DEFAULT, false);
            frames.push(named_frame(
                "error",
                &json!({"type": "error",
                "error": {"type": "overloaded_error", "message": "Overloaded"}}),
            ));
            state.sse(frames, Ending::Close)
        }
    }
}

/// What the request asks of the answer's shape: thinking, a forced tool, the cache.
struct Shape {
    /// With thinking on, the answer starts with a signed thinking block about the turn.
    thinking: Option<String>,
    /// `tool_choice: {"type": "tool", "name": ...}`: the model calls that tool.
    forced_tool: Option<String>,
    cache: Option<CacheUse>,
}

/// Prompt caching as the API reports it: the first request with a breakpoint writes
/// the prefix to the cache, later ones with the same breakpoints read it.
struct CacheUse {
    read: bool,
    one_hour: bool,
}

/// Breakpoints the fakes of this process have seen, as the cache of a real account.
static CACHED_PREFIXES: Mutex<BTreeSet<String>> = Mutex::new(BTreeSet::new());

/// Prompt tokens behind the breakpoints in the default figures (of `PROMPT_TOKENS`).
pub const CACHED_PREFIX_TOKENS: u64 = 8;

impl CacheUse {
    fn tokens(&self) -> Tokens {
        let (cached, cache_write) = if self.read { (CACHED_PREFIX_TOKENS, 0) } else { (0, CACHED_PREFIX_TOKENS) };
        Tokens { cached, cache_write, ..Tokens::DEFAULT }
    }
}

impl Shape {
    fn of(body: &Value) -> Shape {
        let thinking = matches!(body["thinking"]["type"].as_str(), Some("enabled") | Some("adaptive")).then(|| {
            let turns = body["messages"].as_array().map_or(0, Vec::len);
            format!("The conversation has {turns} messages; I answer the last one.")
        });
        let forced_tool = (body["tool_choice"]["type"] == "tool")
            .then(|| body["tool_choice"]["name"].as_str().map(str::to_owned))
            .flatten();
        let controls = cache_controls(body);
        let cache = (!controls.is_empty()).then(|| {
            let key = format!("{}:{}:{}:{}", body["model"], body["tools"], body["system"], json!(controls));
            let read = !CACHED_PREFIXES.lock().unwrap().insert(key);
            CacheUse { read, one_hour: controls.iter().any(|c| c["ttl"] == "1h") }
        });
        Shape { thinking, forced_tool, cache }
    }

    /// The answer's content blocks.
    fn blocks(&self, reply: &Reply) -> Vec<Value> {
        let mut blocks = Vec::new();
        if let Some(thinking) = &self.thinking {
            blocks.push(json!({"type": "thinking", "thinking": thinking, "signature": thinking_signature(thinking)}));
        }
        match (reply, &self.forced_tool) {
            // A model forced to a tool answers with that call alone; its input is what
            // the script says (JSON text), as the model would fill the tool's schema.
            (Reply::Text(text), Some(name)) => {
                let input =
                    serde_json::from_str::<Value>(text).ok().filter(Value::is_object).unwrap_or_else(|| json!({}));
                blocks.push(json!({"type": "tool_use", "id": TOOL_USE_ID, "name": name, "input": input}));
            }
            (Reply::Text(text), None) => blocks.push(json!({"type": "text", "text": text})),
            (Reply::ToolCall { name, arguments }, forced) => {
                if forced.is_none() {
                    blocks.push(json!({"type": "text", "text": "Let me check."}));
                }
                blocks.push(json!({"type": "tool_use", "id": TOOL_USE_ID, "name": name, "input": arguments}));
            }
        }
        blocks
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
/// nor written to the cache; `cache_creation` splits the writes by lifetime.
fn usage(tokens: Tokens, output_tokens: u64, one_hour: bool) -> Value {
    let (five_minutes, hour) = if one_hour { (0, tokens.cache_write) } else { (tokens.cache_write, 0) };
    json!({"input_tokens": tokens.prompt - tokens.cached - tokens.cache_write,
           "cache_creation_input_tokens": tokens.cache_write,
           "cache_read_input_tokens": tokens.cached,
           "cache_creation": {"ephemeral_5m_input_tokens": five_minutes, "ephemeral_1h_input_tokens": hour},
           "output_tokens": output_tokens})
}

fn stop_reason(blocks: &[Value]) -> &'static str {
    if blocks.iter().any(|b| b["type"] == "tool_use") {
        "tool_use"
    } else {
        "end_turn"
    }
}

fn message(model: &str, blocks: &[Value], tokens: Tokens, one_hour: bool) -> Value {
    json!({
        "id": "msg_01XFDUDYJgAACzvnptvVoYEL", "type": "message", "role": "assistant", "model": model,
        "content": blocks, "stop_reason": stop_reason(blocks), "stop_sequence": null,
        "usage": usage(tokens, tokens.completion, one_hour)
    })
}

/// message_start and the content blocks, without message_delta / message_stop.
/// A ping follows message_start, as in Anthropic's streams, and another one comes
/// between the deltas of a text block (Anthropic sends them whenever it likes).
fn reply_frames(model: &str, blocks: &[Value], tokens: Tokens, one_hour: bool) -> Vec<String> {
    let mut frames = vec![
        named_frame(
            "message_start",
            &json!({"type": "message_start", "message": {
            "id": "msg_1nZdL29xx5MUA1yADyHTEsnR8uuvGzszyY", "type": "message", "role": "assistant",
            "content": [], "model": model, "stop_reason": null, "stop_sequence": null,
            "usage": usage(tokens, 1, one_hour)}}),
        ),
        named_frame("ping", &json!({"type": "ping"})),
    ];
    for (index, block) in blocks.iter().enumerate() {
        let delta = |delta: Value| {
            named_frame("content_block_delta", &json!({"type": "content_block_delta", "index": index, "delta": delta}))
        };
        let start = |content_block: Value| {
            named_frame(
                "content_block_start",
                &json!({"type": "content_block_start", "index": index, "content_block": content_block}),
            )
        };
        match block["type"].as_str() {
            Some("thinking") => {
                frames.push(start(json!({"type": "thinking", "thinking": ""})));
                for word in words(block["thinking"].as_str().unwrap_or_default()) {
                    frames.push(delta(json!({"type": "thinking_delta", "thinking": word})));
                }
                frames.push(delta(json!({"type": "signature_delta", "signature": block["signature"]})));
            }
            Some("text") => {
                frames.push(start(json!({"type": "text", "text": ""})));
                let words = words(block["text"].as_str().unwrap_or_default());
                let (first, rest) = words.split_at(words.len().min(1));
                frames.extend(first.iter().map(|w| delta(json!({"type": "text_delta", "text": w}))));
                frames.push(named_frame("ping", &json!({"type": "ping"})));
                frames.extend(rest.iter().map(|w| delta(json!({"type": "text_delta", "text": w}))));
            }
            _ => {
                frames.push(start(json!({"type": "tool_use", "id": block["id"], "name": block["name"], "input": {}})));
                let (first, second) = argument_pieces(&block["input"]);
                for piece in ["".to_owned(), first, second] {
                    frames.push(delta(json!({"type": "input_json_delta", "partial_json": piece})));
                }
            }
        }
        frames.push(named_frame("content_block_stop", &json!({"type": "content_block_stop", "index": index})));
    }
    frames
}
