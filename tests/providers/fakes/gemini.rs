//! Google Gemini generateContent / streamGenerateContent?alt=sse: every SSE event is a
//! whole GenerateContentResponse, the last one has finishReason and usage, and the
//! stream ends by closing the connection.
//!
//! Like the thinking models (https://ai.google.dev/gemini-api/docs/thought-signatures),
//! every function call part carries a fresh `thoughtSignature` (see [`issue_signature`]),
//! and Gemini 3 answers without a function call carry one on their last part (in a
//! stream: on the empty text part of the last event). With
//! `thinkingConfig.includeThoughts`, a thought summary part (`"thought": true`) comes
//! before the answer.

use std::sync::atomic::{AtomicU64, Ordering};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Uri};
use axum::response::Response;
use axum::routing::post;
use axum::Router;
use serde_json::{json, Value};

use super::gemini_rules::{check_body, check_key, is_gemini_3_or_later};
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
    let model = model_of(uri.path());
    let checked = check_key(&state, &uri, &headers)
        .and_then(|()| parse_body(&body))
        .and_then(|value| check_body(&value, &model).map(|()| value));
    let body = match checked {
        Ok(body) => body,
        Err(refusal) => {
            state.record(uri.to_string(), headers, parse_body(&body).unwrap_or(Value::Null));
            return error_response(&refusal);
        }
    };
    let answer = Answering {
        model: &model,
        thoughts: body.pointer("/generationConfig/thinkingConfig/includeThoughts") == Some(&json!(true)),
    };
    let behaviour = state.next(uri.to_string(), headers, body);
    if let Some((reply, tokens)) = behaviour.answer() {
        if !stream {
            let mut parts = answer.thought_parts();
            parts.extend(parts_of(reply));
            if let (Reply::Text(_), Some(signature)) = (reply, answer.text_signature()) {
                if let Some(last) = parts.last_mut() {
                    last["thoughtSignature"] = json!(signature);
                }
            }
            return json_response(200, answer.response(parts, Some("STOP"), tokens, true));
        }
        let mut frames = answer.reply_frames(reply, tokens);
        let mut closing = json!({"text": ""});
        if let (Reply::Text(_), Some(signature)) = (reply, answer.text_signature()) {
            closing["thoughtSignature"] = json!(signature);
        }
        frames.push(crlf_frame(&answer.response(vec![closing], Some("STOP"), tokens, true)));
        return state.sse(frames, Ending::Close);
    }
    match behaviour {
        Behaviour::Answer(_) | Behaviour::AnswerWith(..) => unreachable!("answers are handled above"),
        Behaviour::Fail { status, message } => error_response(&Refusal::new(status, message, None)),
        Behaviour::RateLimited { retry_after_secs } => {
            super::rate_limited(error_response(&Refusal::new(429, "Rate limit reached", None)), retry_after_secs)
        }
        Behaviour::Hang => hang().await,
        Behaviour::CutStream(reply) => state.sse(answer.reply_frames(&reply, Tokens::DEFAULT), Ending::Close),
        Behaviour::StallStream(reply) => state.sse(answer.reply_frames(&reply, Tokens::DEFAULT), Ending::Stall),
        Behaviour::ErrorMidStream(reply) => {
            let mut frames = answer.reply_frames(&reply, Tokens::DEFAULT);
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

/// The model named in `/v1beta/models/{model}:{method}`.
fn model_of(path: &str) -> String {
    let tail = path.rsplit('/').next().unwrap_or_default();
    tail.split(':').next().unwrap_or_default().to_owned()
}

/// The thought summary a fake thinking model returns when asked for its thoughts.
pub const THOUGHT_SUMMARY: &str = "**Weighing the request**\n\nThe user wants a short answer; I will give one.";

/// What the fake's signatures say once decoded: `gaia-fake-thought:<serial>:<what>`,
/// `<what>` being the function name, or `text` for an answer's closing signature, then
/// `\0` and opaque padding: real signatures run to a few KiB, and every id or field
/// that carries one must hold that. The rules check a replayed function call against it.
pub const SIGNATURE_PREFIX: &str = "gaia-fake-thought:";

static SIGNATURES: AtomicU64 = AtomicU64::new(1);

/// A fresh signature, base64 as Gemini sends the `bytes` field.
pub fn issue_signature(what: &str) -> String {
    use base64::Engine;
    let serial = SIGNATURES.fetch_add(1, Ordering::Relaxed);
    let padding: String = (0..1_200).map(|i| char::from(b'!' + ((serial as usize * 31 + i * 7) % 90) as u8)).collect();
    base64::engine::general_purpose::STANDARD.encode(format!("{SIGNATURE_PREFIX}{serial}:{what}\0{padding}"))
}

fn parts_of(reply: &Reply) -> Vec<Value> {
    match reply {
        Reply::Text(text) => vec![json!({"text": text})],
        Reply::ToolCall { name, arguments } => {
            vec![json!({"functionCall": {"name": name, "args": arguments}, "thoughtSignature": issue_signature(name)})]
        }
    }
}

/// How this request is answered: which model, and whether thoughts were asked for.
#[derive(Clone, Copy)]
struct Answering<'a> {
    model: &'a str,
    thoughts: bool,
}

impl Answering<'_> {
    fn thought_parts(self) -> Vec<Value> {
        if self.thoughts {
            vec![json!({"text": THOUGHT_SUMMARY, "thought": true})]
        } else {
            Vec::new()
        }
    }

    /// Gemini 3 signs answers without function calls on their last part.
    fn text_signature(self) -> Option<String> {
        is_gemini_3_or_later(self.model).then(|| issue_signature("text"))
    }

    /// Gemini's usage: `promptTokenCount` includes the cached tokens, thoughts are counted
    /// apart from the candidates; the events before the last carry the prompt count only.
    fn response(self, parts: Vec<Value>, finish_reason: Option<&str>, tokens: Tokens, last: bool) -> Value {
        let mut candidate = json!({"content": {"parts": parts, "role": "model"}, "index": 0});
        if let Some(reason) = finish_reason {
            candidate["finishReason"] = json!(reason);
        }
        let usage = if last {
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
        } else {
            json!({"promptTokenCount": tokens.prompt, "totalTokenCount": tokens.prompt})
        };
        json!({"candidates": [candidate], "usageMetadata": usage, "modelVersion": self.model,
               "responseId": "mAitaLmkHPPlz7IPvtfUqQ4"})
    }

    /// The reply's events without the final one (finishReason + usage).
    fn reply_frames(self, reply: &Reply, tokens: Tokens) -> Vec<String> {
        let event = |parts: Vec<Value>| crlf_frame(&self.response(parts, None, tokens, false));
        let mut frames: Vec<String> = self.thought_parts().into_iter().map(|part| event(vec![part])).collect();
        match reply {
            Reply::Text(text) => frames.extend(words(text).iter().map(|w| event(vec![json!({"text": w})]))),
            Reply::ToolCall { .. } => frames.push(event(parts_of(reply))),
        }
        frames
    }
}
