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

use super::{
    data_frame, hang, json_response, sse, words, Behaviour, Ending, FakeState, Reply, COMPLETION_TOKENS, PROMPT_TOKENS,
};

pub fn router(state: FakeState) -> Router {
    Router::new().route("/v1beta/models/{*model_and_method}", post(handle)).with_state(state)
}

async fn handle(State(state): State<FakeState>, uri: Uri, headers: HeaderMap, body: Bytes) -> Response {
    let body: Value = serde_json::from_slice(&body).unwrap();
    let stream = uri.path().ends_with(":streamGenerateContent") && uri.query() == Some("alt=sse");
    let known_method = stream || uri.path().ends_with(":generateContent");
    let behaviour = state.next(uri.to_string(), headers, body);
    if !known_method {
        return json_response(404, json!({"error": {"code": 404, "message": "unknown method", "status": "NOT_FOUND"}}));
    }
    match behaviour {
        Behaviour::Answer(reply) if stream => {
            let mut frames = reply_frames(&reply);
            frames.push(data_frame(&response(vec![json!({"text": ""})], Some("STOP"), true)));
            sse(frames, Ending::Close)
        }
        Behaviour::Answer(reply) => json_response(200, response(parts(&reply), Some("STOP"), true)),
        Behaviour::Fail { status, message } => {
            let status_name = match status {
                400 => "INVALID_ARGUMENT",
                401 => "UNAUTHENTICATED",
                403 => "PERMISSION_DENIED",
                404 => "NOT_FOUND",
                429 => "RESOURCE_EXHAUSTED",
                503 => "UNAVAILABLE",
                _ => "INTERNAL",
            };
            json_response(status, json!({"error": {"code": status, "message": message, "status": status_name}}))
        }
        Behaviour::Hang => hang().await,
        Behaviour::CutStream(reply) => sse(reply_frames(&reply), Ending::Close),
        Behaviour::StallStream(reply) => sse(reply_frames(&reply), Ending::Stall),
        Behaviour::ErrorMidStream(reply) => {
            let mut frames = reply_frames(&reply);
            frames.push(data_frame(
                &json!({"error": {"code": 500, "message": "An internal error has occurred.", "status": "INTERNAL"}}),
            ));
            sse(frames, Ending::Close)
        }
    }
}

fn parts(reply: &Reply) -> Vec<Value> {
    match reply {
        Reply::Text(text) => vec![json!({"text": text})],
        Reply::ToolCall { name, arguments } => {
            vec![json!({"functionCall": {"name": name, "args": arguments}})]
        }
    }
}

fn response(parts: Vec<Value>, finish_reason: Option<&str>, final_usage: bool) -> Value {
    let mut candidate = json!({"content": {"parts": parts, "role": "model"}, "index": 0});
    if let Some(reason) = finish_reason {
        candidate["finishReason"] = json!(reason);
    }
    let usage = if final_usage {
        json!({"promptTokenCount": PROMPT_TOKENS, "candidatesTokenCount": COMPLETION_TOKENS,
               "totalTokenCount": PROMPT_TOKENS + COMPLETION_TOKENS,
               "promptTokensDetails": [{"modality": "TEXT", "tokenCount": PROMPT_TOKENS}]})
    } else {
        json!({"promptTokenCount": PROMPT_TOKENS, "totalTokenCount": PROMPT_TOKENS})
    };
    json!({"candidates": [candidate], "usageMetadata": usage, "modelVersion": "gemini-2.5-flash",
           "responseId": "mAitaLmkHPPlz7IPvtfUqQ4"})
}

/// The reply's events without the final one (finishReason + usage).
fn reply_frames(reply: &Reply) -> Vec<String> {
    match reply {
        Reply::Text(text) => {
            words(text).iter().map(|w| data_frame(&response(vec![json!({"text": w})], None, false))).collect()
        }
        Reply::ToolCall { .. } => vec![data_frame(&response(parts(reply), None, false))],
    }
}
