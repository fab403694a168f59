//! Google Gemini generateContent / streamGenerateContent?alt=sse: every SSE event is a
//! whole GenerateContentResponse, the last one has finishReason and usage, and the
//! stream ends by closing the connection.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Uri};
use axum::response::Response;
use axum::routing::post;
use axum::Router;
use serde_json::{json, Value};

use super::gemini_rules::{check_body, check_key};
use super::{hang, json_response, parse_body, words, Behaviour, Ending, FakeState, Refusal, Reply, Tokens};

pub fn router(state: FakeState) -> Router {
    Router::new().route("/v1beta/models/{*model_and_method}", post(handle)).with_state(state)
}

/// One SSE event as Google's servers frame it: CRLF line endings.
pub fn crlf_frame(data: &Value) -> String {
    format!("data: {data}\r\n\r\n")
}

async fn handle(State(state): State<FakeState>, uri: Uri, headers: HeaderMap, body: Bytes) -> Response {
    let stream = uri.path().ends_with(":streamGenerateContent")
        && uri.query().is_some_and(|q| q.split('&').any(|p| p == "alt=sse"));
    let known_method = stream || uri.path().ends_with(":generateContent");
    if !known_method {
        state.record(uri.to_string(), headers, parse_body(&body).unwrap_or(Value::Null));
        return error_response(&Refusal::new(404, "unknown method", None));
    }
    let checked = check_key(&state, &uri, &headers)
        .and_then(|()| parse_body(&body))
        .and_then(|value| check_body(&value).map(|()| value));
    let body = match checked {
        Ok(body) => body,
        Err(refusal) => {
            state.record(uri.to_string(), headers, parse_body(&body).unwrap_or(Value::Null));
            return error_response(&refusal);
        }
    };
    let behaviour = state.next(uri.to_string(), headers, body);
    if let Some((reply, tokens)) = behaviour.answer() {
        if !stream {
            return json_response(200, response(parts(reply), Some("STOP"), tokens, true));
        }
        let mut frames = reply_frames(reply, tokens);
        frames.push(crlf_frame(&response(vec![json!({"text": ""})], Some("STOP"), tokens, true)));
        return state.sse(frames, Ending::Close);
    }
    match behaviour {
        Behaviour::Answer(_) | Behaviour::AnswerWith(..) => unreachable!("answers are handled above"),
        Behaviour::Fail { status, message } => error_response(&Refusal::new(status, message, None)),
        Behaviour::RateLimited { retry_after_secs } => {
            super::rate_limited(error_response(&Refusal::new(429, "Rate limit reached", None)), retry_after_secs)
        }
        Behaviour::Hang => hang().await,
        Behaviour::CutStream(reply) => state.sse(reply_frames(&reply, Tokens::DEFAULT), Ending::Close),
        Behaviour::StallStream(reply) => state.sse(reply_frames(&reply, Tokens::DEFAULT), Ending::Stall),
        Behaviour::ErrorMidStream(reply) => {
            let mut frames = reply_frames(&reply, Tokens::DEFAULT);
            frames.push(crlf_frame(
                &json!({"error": {"code": 500, "message": "An internal error has occurred.", "status": "INTERNAL"}}),
            ));
            state.sse(frames, Ending::Close)
        }
    }
}

/// `{"error": {"code", "message", "status"}}`, with `details` naming the reason where
/// Google gives one (API_KEY_INVALID).
fn error_response(refusal: &Refusal) -> Response {
    let status_name = match refusal.status {
        400 => "INVALID_ARGUMENT",
        401 => "UNAUTHENTICATED",
        403 => "PERMISSION_DENIED",
        404 => "NOT_FOUND",
        429 => "RESOURCE_EXHAUSTED",
        503 => "UNAVAILABLE",
        504 => "DEADLINE_EXCEEDED",
        _ => "INTERNAL",
    };
    let mut error = json!({"code": refusal.status, "message": refusal.message, "status": status_name});
    if let Some(reason) = refusal.code {
        error["details"] = json!([
            {"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": reason, "domain": "googleapis.com",
             "metadata": {"service": "generativelanguage.googleapis.com"}},
            {"@type": "type.googleapis.com/google.rpc.LocalizedMessage", "locale": "en-US", "message": refusal.message}
        ]);
    }
    json_response(refusal.status, json!({"error": error}))
}

fn parts(reply: &Reply) -> Vec<Value> {
    match reply {
        Reply::Text(text) => vec![json!({"text": text})],
        Reply::ToolCall { name, arguments } => {
            vec![json!({"functionCall": {"name": name, "args": arguments}})]
        }
    }
}

/// Gemini's usage: `promptTokenCount` includes the cached tokens, thoughts are counted
/// apart from the candidates; the events before the last carry the prompt count only.
fn response(parts: Vec<Value>, finish_reason: Option<&str>, tokens: Tokens, last: bool) -> Value {
    let mut candidate = json!({"content": {"parts": parts, "role": "model"}, "index": 0});
    if let Some(reason) = finish_reason {
        candidate["finishReason"] = json!(reason);
    }
    let usage = if last {
        {
            let mut usage = json!({"promptTokenCount": tokens.prompt,
                "candidatesTokenCount": tokens.completion - tokens.reasoning,
                "totalTokenCount": tokens.prompt + tokens.completion,
                "promptTokensDetails": [{"modality": "TEXT", "tokenCount": tokens.prompt}]});
            if tokens.cached > 0 {
                usage["cachedContentTokenCount"] = json!(tokens.cached);
                usage["cacheTokensDetails"] = json!([{"modality": "TEXT", "tokenCount": tokens.cached}]);
            }
            if tokens.reasoning > 0 {
                usage["thoughtsTokenCount"] = json!(tokens.reasoning);
            }
            usage
        }
    } else {
        json!({"promptTokenCount": tokens.prompt, "totalTokenCount": tokens.prompt})
    };
    json!({"candidates": [candidate], "usageMetadata": usage, "modelVersion": "gemini-2.5-flash",
           "responseId": "mAitaLmkHPPlz7IPvtfUqQ4"})
}

/// The reply's events without the final one (finishReason + usage).
fn reply_frames(reply: &Reply, tokens: Tokens) -> Vec<String> {
    match reply {
        Reply::Text(text) => {
            words(text).iter().map(|w| crlf_frame(&response(vec![json!({"text": w})], None, tokens, false))).collect()
        }
        Reply::ToolCall { .. } => vec![crlf_frame(&response(parts(reply), None, tokens, false))],
    }
}
