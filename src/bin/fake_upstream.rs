//! A fast fake upstream for the load benchmark (`scripts/bench/run.sh`) and the SDK
//! checks of `scripts/e2e.sh`. No model, no state, no latency: it measures (or
//! exercises) what sits in front of it. It speaks three providers' wire formats:
//!
//! - OpenAI Chat Completions, `POST /v1/chat/completions`: a fixed small
//!   `chat.completion` (with `usage`), or with `"stream": true` an SSE stream of a few
//!   `chat.completion.chunk` events, a usage chunk when `stream_options.include_usage`
//!   is set, and `data: [DONE]`.
//! - Anthropic Messages, `POST /v1/messages` (a `message`, or with `"stream": true`
//!   message_start, ping, content_block_start/delta/stop, message_delta with the usage,
//!   message_stop) and `POST /v1/messages/count_tokens` (`{"input_tokens": n}`).
//!   Requires `x-api-key` (else 401 `authentication_error`), `anthropic-version` and
//!   `max_tokens` (else 400 `invalid_request_error`), as Anthropic does.
//! - Gemini, `POST /v1beta/models/{model}:generateContent`,
//!   `:streamGenerateContent?alt=sse` (every event a whole `GenerateContentResponse`,
//!   the last with `finishReason` and `usageMetadata`, CRLF-framed as Google frames
//!   them) and `:countTokens`. Requires `x-goog-api-key` or `?key=` (else 403).
//!
//! The answer is scripted by the request: when it offers tools (OpenAI `tools`,
//! Anthropic `tools`, Gemini `functionDeclarations`) and its last message is not a
//! tool result, the model calls the FIRST tool with the fixed arguments
//! `{"city":"Paris"}` ([`TOOL_ARGUMENTS`]), streamed in several pieces; otherwise it
//! answers the text "Hello from the fake upstream." ([`PIECES`]). So one tool round
//! is: call, then (after the client sends the result) text.
//!
//! Listens on `--listen ADDR` or `FAKE_UPSTREAM_LISTEN` (default `127.0.0.1:9900`).

use std::io::Write;
use std::process::ExitCode;

use axum::body::{Body, Bytes};
use axum::extract::{Path, RawQuery};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::serve::ListenerExt;
use axum::Router;
use serde::Deserialize;
use serde_json::{json, Value};

const DEFAULT_LISTEN: &str = "127.0.0.1:9900";
const ID: &str = "chatcmpl-fake";
const CREATED: u64 = 1_700_000_000;
/// The streamed reply, one content delta per piece.
const PIECES: [&str; 3] = ["Hello", " from the", " fake upstream."];
const PROMPT_TOKENS: u64 = 12;
const COMPLETION_TOKENS: u64 = 5;
/// The arguments of every scripted tool call, as JSON text.
const TOOL_ARGUMENTS: &str = r#"{"city":"Paris"}"#;
/// Where the arguments are cut when streamed: `{"city"`, `:"Pa`, `ris"}`.
const TOOL_ARGUMENT_PIECES: [&str; 3] = [r#"{"city""#, r#":"Pa"#, r#"ris"}"#];
const TOOL_CALL_ID: &str = "call_fake_weather_0001";
const TOOL_USE_ID: &str = "toolu_01FakeUpstreamWeather01";
const MESSAGE_ID: &str = "msg_01FakeUpstreamMessage001";
/// Claude usually says something before it calls a tool.
const TOOL_LEAD_IN: &str = "Let me check.";

#[derive(Deserialize)]
struct Request {
    #[serde(default)]
    model: Option<String>,
    #[serde(default)]
    stream: Option<bool>,
    #[serde(default)]
    stream_options: Option<StreamOptions>,
    /// Only the first tool's name matters; absent on the benchmark's requests.
    #[serde(default)]
    tools: Option<Vec<OpenAiTool>>,
}

#[derive(Deserialize)]
struct StreamOptions {
    #[serde(default)]
    include_usage: Option<bool>,
}

#[derive(Deserialize)]
struct OpenAiTool {
    #[serde(default)]
    function: Option<NamedFunction>,
}

#[derive(Deserialize)]
struct NamedFunction {
    name: String,
}

fn usage() -> serde_json::Value {
    json!({
        "prompt_tokens": PROMPT_TOKENS,
        "completion_tokens": COMPLETION_TOKENS,
        "total_tokens": PROMPT_TOKENS + COMPLETION_TOKENS,
    })
}

fn json_response(status: StatusCode, body: &Value) -> Response {
    (status, [(header::CONTENT_TYPE, "application/json")], body.to_string()).into_response()
}

fn error(status: StatusCode, message: &str) -> Response {
    let body = json!({"error": {"message": message, "type": "invalid_request_error", "param": null, "code": null}});
    json_response(status, &body)
}

fn sse(events: Vec<Bytes>) -> Response {
    let body = Body::from_stream(futures::stream::iter(events.into_iter().map(Ok::<_, std::convert::Infallible>)));
    ([(header::CONTENT_TYPE, "text/event-stream"), (header::CACHE_CONTROL, "no-cache")], body).into_response()
}

fn completion(model: &str, tool: Option<&str>) -> Response {
    let (message, finish_reason) = match tool {
        None => (json!({"role": "assistant", "content": PIECES.concat(), "refusal": null}), "stop"),
        Some(name) => (
            json!({"role": "assistant", "content": null, "refusal": null, "tool_calls": [{
                "id": TOOL_CALL_ID, "type": "function",
                "function": {"name": name, "arguments": TOOL_ARGUMENTS}}]}),
            "tool_calls",
        ),
    };
    let body = json!({
        "id": ID,
        "object": "chat.completion",
        "created": CREATED,
        "model": model,
        "choices": [{"index": 0, "message": message, "finish_reason": finish_reason, "logprobs": null}],
        "usage": usage(),
    });
    json_response(StatusCode::OK, &body)
}

fn chunk(model: &str, choices: serde_json::Value, usage: Option<serde_json::Value>) -> Bytes {
    let mut value = json!({
        "id": ID,
        "object": "chat.completion.chunk",
        "created": CREATED,
        "model": model,
        "choices": choices,
    });
    if let (Some(usage), Some(object)) = (usage, value.as_object_mut()) {
        object.insert("usage".into(), usage);
    }
    Bytes::from(format!("data: {value}\n\n"))
}

/// Role chunk, content chunks (or a tool call: its id, type and name with empty
/// arguments, then the arguments in pieces, as OpenAI cuts them), finish chunk,
/// optional usage chunk, `[DONE]`.
fn stream(model: &str, include_usage: bool, tool: Option<&str>) -> Response {
    let mut events = Vec::with_capacity(PIECES.len() + 4);
    let delta = |delta: Value| json!([{"index": 0, "delta": delta, "finish_reason": null}]);
    let finish_reason = match tool {
        None => {
            events.push(chunk(model, delta(json!({"role": "assistant", "content": ""})), None));
            for piece in PIECES {
                events.push(chunk(model, delta(json!({"content": piece})), None));
            }
            "stop"
        }
        Some(name) => {
            events.push(chunk(model, delta(json!({"role": "assistant", "content": null})), None));
            let start = json!({"index": 0, "id": TOOL_CALL_ID, "type": "function",
                               "function": {"name": name, "arguments": ""}});
            events.push(chunk(model, delta(json!({"tool_calls": [start]})), None));
            for piece in TOOL_ARGUMENT_PIECES {
                let piece = json!({"index": 0, "function": {"arguments": piece}});
                events.push(chunk(model, delta(json!({"tool_calls": [piece]})), None));
            }
            "tool_calls"
        }
    };
    events.push(chunk(model, json!([{"index": 0, "delta": {}, "finish_reason": finish_reason}]), None));
    if include_usage {
        events.push(chunk(model, json!([]), Some(usage())));
    }
    events.push(Bytes::from_static(b"data: [DONE]\n\n"));
    sse(events)
}

/// Whether the last OpenAI message is a tool result (then the model answers text).
/// Parsed only for requests with tools, so the benchmark's path stays as cheap as before.
fn openai_answers_a_tool_result(body: &[u8]) -> bool {
    let value: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
    value["messages"].as_array().and_then(|m| m.last()).is_some_and(|m| m["role"] == "tool")
}

async fn chat_completions(body: Bytes) -> Response {
    let request: Request = match serde_json::from_slice(&body) {
        Ok(request) => request,
        Err(e) => return error(StatusCode::BAD_REQUEST, &format!("invalid JSON body: {e}")),
    };
    let model = request.model.as_deref().unwrap_or("gpt-4o-mini");
    let first_tool = request.tools.as_deref().and_then(|t| t.first()).and_then(|t| t.function.as_ref());
    let tool = first_tool.map(|f| f.name.as_str()).filter(|_| !openai_answers_a_tool_result(&body));
    if request.stream.unwrap_or(false) {
        let include_usage = request.stream_options.and_then(|o| o.include_usage).unwrap_or(false);
        stream(model, include_usage, tool)
    } else {
        completion(model, tool)
    }
}

async fn models() -> Response {
    let body = json!({"object": "list", "data": [{"id": "gpt-4o-mini", "object": "model", "created": CREATED, "owned_by": "fake"}]});
    json_response(StatusCode::OK, &body)
}

// ---------------------------------------------------------------- Anthropic Messages

/// `{"type": "error", "error": {"type", "message"}}`, Anthropic's error shape.
fn anthropic_error(status: StatusCode, kind: &str, message: &str) -> Response {
    json_response(
        status,
        &json!({"type": "error", "error": {"type": kind, "message": message}, "request_id": "req_fake_upstream"}),
    )
}

/// Why Anthropic refuses a request: status, error type, message.
type AnthropicRefusal = (StatusCode, &'static str, String);

/// The body of an authenticated, versioned Anthropic request, or Anthropic's refusal.
fn anthropic_request(headers: &HeaderMap, body: &[u8]) -> Result<Value, AnthropicRefusal> {
    let present = |name: &str| headers.get(name).is_some_and(|v| !v.is_empty());
    if !present("x-api-key") {
        return Err((StatusCode::UNAUTHORIZED, "authentication_error", "x-api-key header is required".into()));
    }
    if !present("anthropic-version") {
        return Err((StatusCode::BAD_REQUEST, "invalid_request_error", "anthropic-version: header is required".into()));
    }
    let value: Value = serde_json::from_slice(body)
        .map_err(|e| (StatusCode::BAD_REQUEST, "invalid_request_error", format!("invalid JSON body: {e}")))?;
    if !value["messages"].is_array() {
        return Err((StatusCode::BAD_REQUEST, "invalid_request_error", "messages: Field required".into()));
    }
    Ok(value)
}

/// The tool Claude calls: the first offered, unless the last user turn carries a tool result.
fn anthropic_tool(request: &Value) -> Option<String> {
    let name = request["tools"].as_array()?.first()?["name"].as_str()?.to_owned();
    let last = request["messages"].as_array()?.last()?;
    let answered = last["content"].as_array().is_some_and(|blocks| blocks.iter().any(|b| b["type"] == "tool_result"));
    (!answered).then_some(name)
}

/// Anthropic's usage: `input_tokens` are the prompt tokens neither read from nor
/// written to the cache (none here).
fn anthropic_usage(output_tokens: u64) -> Value {
    json!({"input_tokens": PROMPT_TOKENS, "cache_creation_input_tokens": 0, "cache_read_input_tokens": 0,
           "output_tokens": output_tokens})
}

fn named_event(name: &str, data: &Value) -> Bytes {
    Bytes::from(format!("event: {name}\ndata: {data}\n\n"))
}

async fn anthropic_messages(headers: HeaderMap, body: Bytes) -> Response {
    let request = match anthropic_request(&headers, &body) {
        Ok(request) => request,
        Err((status, kind, message)) => return anthropic_error(status, kind, &message),
    };
    if !request["max_tokens"].is_u64() {
        return anthropic_error(StatusCode::BAD_REQUEST, "invalid_request_error", "max_tokens: Field required");
    }
    let model = request["model"].as_str().unwrap_or("claude-sonnet-4-5");
    let tool = anthropic_tool(&request);
    let stop_reason = if tool.is_some() { "tool_use" } else { "end_turn" };
    if request["stream"] != json!(true) {
        let content = match &tool {
            None => json!([{"type": "text", "text": PIECES.concat()}]),
            Some(name) => json!([
                {"type": "text", "text": TOOL_LEAD_IN},
                {"type": "tool_use", "id": TOOL_USE_ID, "name": name, "input": {"city": "Paris"}}
            ]),
        };
        let message = json!({"id": MESSAGE_ID, "type": "message", "role": "assistant", "model": model,
            "content": content, "stop_reason": stop_reason, "stop_sequence": null,
            "usage": anthropic_usage(COMPLETION_TOKENS)});
        return json_response(StatusCode::OK, &message);
    }
    let block_start = |index: u32, block: Value| {
        named_event(
            "content_block_start",
            &json!({"type": "content_block_start", "index": index, "content_block": block}),
        )
    };
    let block_delta = |index: u32, delta: Value| {
        named_event("content_block_delta", &json!({"type": "content_block_delta", "index": index, "delta": delta}))
    };
    let block_stop =
        |index: u32| named_event("content_block_stop", &json!({"type": "content_block_stop", "index": index}));
    let mut events = vec![
        named_event(
            "message_start",
            &json!({"type": "message_start", "message": {"id": MESSAGE_ID, "type": "message", "role": "assistant",
                "content": [], "model": model, "stop_reason": null, "stop_sequence": null,
                "usage": anthropic_usage(1)}}),
        ),
        named_event("ping", &json!({"type": "ping"})),
        block_start(0, json!({"type": "text", "text": ""})),
    ];
    match &tool {
        None => events.extend(PIECES.iter().map(|piece| block_delta(0, json!({"type": "text_delta", "text": piece})))),
        Some(name) => {
            events.push(block_delta(0, json!({"type": "text_delta", "text": TOOL_LEAD_IN})));
            events.push(block_stop(0));
            events.push(block_start(1, json!({"type": "tool_use", "id": TOOL_USE_ID, "name": name, "input": {}})));
            // Anthropic's first input_json_delta is often empty.
            for piece in std::iter::once("").chain(TOOL_ARGUMENT_PIECES) {
                events.push(block_delta(1, json!({"type": "input_json_delta", "partial_json": piece})));
            }
        }
    }
    events.push(block_stop(if tool.is_some() { 1 } else { 0 }));
    // message_delta's usage is cumulative: the whole output, and the input figures again.
    events.push(named_event(
        "message_delta",
        &json!({"type": "message_delta", "delta": {"stop_reason": stop_reason, "stop_sequence": null},
                "usage": anthropic_usage(COMPLETION_TOKENS)}),
    ));
    events.push(named_event("message_stop", &json!({"type": "message_stop"})));
    sse(events)
}

/// A rough count (a token per four bytes of the body), never zero.
fn rough_tokens(body: &[u8]) -> u64 {
    (body.len() as u64 / 4).max(1)
}

async fn anthropic_count_tokens(headers: HeaderMap, body: Bytes) -> Response {
    match anthropic_request(&headers, &body) {
        Ok(_) => json_response(StatusCode::OK, &json!({"input_tokens": rough_tokens(&body)})),
        Err((status, kind, message)) => anthropic_error(status, kind, &message),
    }
}

// ---------------------------------------------------------------- Gemini

/// `{"error": {"code", "message", "status"}}`, Google's error shape.
fn gemini_error(status: StatusCode, name: &str, message: &str) -> Response {
    json_response(status, &json!({"error": {"code": status.as_u16(), "message": message, "status": name}}))
}

/// The function Gemini calls: the first declared, unless the last turn answers a call.
fn gemini_tool(request: &Value) -> Option<String> {
    let tools = request["tools"].as_array()?;
    let name = tools.iter().find_map(|t| t["functionDeclarations"].as_array()?.first()?["name"].as_str())?;
    let last = request["contents"].as_array()?.last()?;
    let answered =
        last["parts"].as_array().is_some_and(|parts| parts.iter().any(|p| p.get("functionResponse").is_some()));
    (!answered).then(|| name.to_owned())
}

/// One `GenerateContentResponse`; only the last event has `finishReason` and the full usage.
fn gemini_response(model: &str, parts: Value, last: bool) -> Value {
    let mut candidate = json!({"content": {"parts": parts, "role": "model"}, "index": 0});
    let usage = if last {
        candidate["finishReason"] = json!("STOP");
        json!({"promptTokenCount": PROMPT_TOKENS, "candidatesTokenCount": COMPLETION_TOKENS,
               "totalTokenCount": PROMPT_TOKENS + COMPLETION_TOKENS,
               "promptTokensDetails": [{"modality": "TEXT", "tokenCount": PROMPT_TOKENS}]})
    } else {
        json!({"promptTokenCount": PROMPT_TOKENS, "totalTokenCount": PROMPT_TOKENS})
    };
    json!({"candidates": [candidate], "usageMetadata": usage, "modelVersion": model,
           "responseId": "fakeUpstreamGeminiResponse01"})
}

/// `POST /v1beta/models/{model}:{method}`.
async fn gemini(
    Path(model_and_method): Path<String>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let Some((model, method)) = model_and_method.rsplit_once(':') else {
        return gemini_error(StatusCode::NOT_FOUND, "NOT_FOUND", "unknown method");
    };
    let query = query.unwrap_or_default();
    let keyed = headers.get("x-goog-api-key").is_some_and(|v| !v.is_empty())
        || query.split('&').any(|p| p.strip_prefix("key=").is_some_and(|k| !k.is_empty()));
    if !keyed {
        return gemini_error(
            StatusCode::FORBIDDEN,
            "PERMISSION_DENIED",
            "Method doesn't allow unregistered callers (callers without established identity). Please use API Key or other form of API consumer identity to call this API.",
        );
    }
    let request: Value = match serde_json::from_slice(&body) {
        Ok(request) => request,
        Err(e) => {
            return gemini_error(StatusCode::BAD_REQUEST, "INVALID_ARGUMENT", &format!("Invalid JSON payload: {e}"))
        }
    };
    let streamed = match method {
        "generateContent" => false,
        "streamGenerateContent" => true,
        "countTokens" => return json_response(StatusCode::OK, &json!({"totalTokens": rough_tokens(&body)})),
        _ => return gemini_error(StatusCode::NOT_FOUND, "NOT_FOUND", "unknown method"),
    };
    if !request["contents"].is_array() {
        return gemini_error(StatusCode::BAD_REQUEST, "INVALID_ARGUMENT", "contents is not specified");
    }
    let tool = gemini_tool(&request);
    let call = |name: &str| json!([{"functionCall": {"name": name, "args": {"city": "Paris"}}}]);
    if !streamed {
        let parts = match &tool {
            None => json!([{"text": PIECES.concat()}]),
            Some(name) => call(name),
        };
        return json_response(StatusCode::OK, &gemini_response(model, parts, true));
    }
    // Without alt=sse Google streams a JSON array; only SSE is served here.
    if !query.split('&').any(|p| p == "alt=sse") {
        return gemini_error(StatusCode::BAD_REQUEST, "INVALID_ARGUMENT", "only alt=sse is served by the fake");
    }
    let frame = |value: Value| Bytes::from(format!("data: {value}\r\n\r\n"));
    let events = match &tool {
        // Gemini sends a function call whole, in one event.
        Some(name) => vec![frame(gemini_response(model, call(name), true))],
        None => {
            let (last, first) = PIECES.split_last().map_or((&"", &[][..]), |(l, f)| (l, f));
            let mut events: Vec<Bytes> =
                first.iter().map(|p| frame(gemini_response(model, json!([{"text": p}]), false))).collect();
            events.push(frame(gemini_response(model, json!([{"text": last}]), true)));
            events
        }
    };
    sse(events)
}

/// `--listen ADDR` / `--listen=ADDR`, else `FAKE_UPSTREAM_LISTEN`, else the default.
fn listen_address() -> Result<String, String> {
    let mut args = std::env::args().skip(1);
    let mut listen = None;
    while let Some(arg) = args.next() {
        if arg == "--listen" {
            listen = Some(args.next().ok_or("--listen needs an address")?);
        } else if let Some(value) = arg.strip_prefix("--listen=") {
            listen = Some(value.to_owned());
        } else if arg == "--help" || arg == "-h" {
            return Err(
                "usage: fake_upstream [--listen ADDR]   (or FAKE_UPSTREAM_LISTEN; default 127.0.0.1:9900)".into()
            );
        } else {
            return Err(format!("unknown argument: {arg}"));
        }
    }
    Ok(listen.or_else(|| std::env::var("FAKE_UPSTREAM_LISTEN").ok()).unwrap_or_else(|| DEFAULT_LISTEN.to_owned()))
}

async fn serve(listen: &str) -> Result<(), String> {
    let app = Router::new()
        .route("/v1/chat/completions", post(chat_completions))
        .route("/v1/models", get(models))
        .route("/v1/messages", post(anthropic_messages))
        .route("/v1/messages/count_tokens", post(anthropic_count_tokens))
        .route("/v1beta/models/{model_and_method}", post(gemini))
        .route("/health", get(|| async { "ok" }));
    let listener =
        tokio::net::TcpListener::bind(listen).await.map_err(|e| format!("cannot listen on {listen}: {e}"))?;
    // No Nagle: small SSE writes go out at once instead of waiting for the client's ACK.
    let listener = listener.tap_io(|tcp| {
        let _ = tcp.set_nodelay(true);
    });
    let shutdown = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let shutdown = async move {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = shutdown => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => shutdown.await,
        }
    };
    axum::serve(listener, app).with_graceful_shutdown(shutdown).await.map_err(|e| format!("server error: {e}"))
}

fn main() -> ExitCode {
    let fail = |message: &str| {
        let _ = writeln!(std::io::stderr(), "fake_upstream: {message}");
        ExitCode::FAILURE
    };
    let listen = match listen_address() {
        Ok(listen) => listen,
        Err(message) => return fail(&message),
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(e) => return fail(&format!("cannot start the runtime: {e}")),
    };
    let _ = writeln!(std::io::stderr(), "fake_upstream listening on {listen}");
    match runtime.block_on(serve(&listen)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => fail(&message),
    }
}
