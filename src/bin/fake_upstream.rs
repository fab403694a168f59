//! A fast fake OpenAI Chat Completions upstream for the load benchmark
//! (`scripts/bench/run.sh`). It answers `POST /v1/chat/completions` at once with a
//! fixed small `chat.completion` (with `usage`), or with `"stream": true` an SSE stream
//! of a few `chat.completion.chunk` events, a usage chunk when
//! `stream_options.include_usage` is set, and `data: [DONE]`. No model, no state,
//! no latency: it measures what sits in front of it.
//!
//! Listens on `--listen ADDR` or `FAKE_UPSTREAM_LISTEN` (default `127.0.0.1:9900`).

use std::io::Write;
use std::process::ExitCode;

use axum::body::{Body, Bytes};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::serve::ListenerExt;
use axum::Router;
use serde::Deserialize;
use serde_json::json;

const DEFAULT_LISTEN: &str = "127.0.0.1:9900";
const ID: &str = "chatcmpl-fake";
const CREATED: u64 = 1_700_000_000;
/// The streamed reply, one content delta per piece.
const PIECES: [&str; 3] = ["Hello", " from the", " fake upstream."];
const PROMPT_TOKENS: u64 = 12;
const COMPLETION_TOKENS: u64 = 5;

#[derive(Deserialize)]
struct Request {
    #[serde(default)]
    model: Option<String>,
    #[serde(default)]
    stream: Option<bool>,
    #[serde(default)]
    stream_options: Option<StreamOptions>,
}

#[derive(Deserialize)]
struct StreamOptions {
    #[serde(default)]
    include_usage: Option<bool>,
}

fn usage() -> serde_json::Value {
    json!({
        "prompt_tokens": PROMPT_TOKENS,
        "completion_tokens": COMPLETION_TOKENS,
        "total_tokens": PROMPT_TOKENS + COMPLETION_TOKENS,
    })
}

fn error(status: StatusCode, message: &str) -> Response {
    let body = json!({"error": {"message": message, "type": "invalid_request_error", "param": null, "code": null}});
    (status, [(header::CONTENT_TYPE, "application/json")], body.to_string()).into_response()
}

fn completion(model: &str) -> Response {
    let body = json!({
        "id": ID,
        "object": "chat.completion",
        "created": CREATED,
        "model": model,
        "choices": [{
            "index": 0,
            "message": {"role": "assistant", "content": PIECES.concat()},
            "finish_reason": "stop",
            "logprobs": null,
        }],
        "usage": usage(),
    });
    ([(header::CONTENT_TYPE, "application/json")], body.to_string()).into_response()
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

/// Role chunk, content chunks, finish chunk, optional usage chunk, `[DONE]`.
fn stream(model: &str, include_usage: bool) -> Response {
    let mut events = Vec::with_capacity(PIECES.len() + 4);
    events.push(chunk(
        model,
        json!([{"index": 0, "delta": {"role": "assistant", "content": ""}, "finish_reason": null}]),
        None,
    ));
    for piece in PIECES {
        events.push(chunk(model, json!([{"index": 0, "delta": {"content": piece}, "finish_reason": null}]), None));
    }
    events.push(chunk(model, json!([{"index": 0, "delta": {}, "finish_reason": "stop"}]), None));
    if include_usage {
        events.push(chunk(model, json!([]), Some(usage())));
    }
    events.push(Bytes::from_static(b"data: [DONE]\n\n"));
    let body = Body::from_stream(futures::stream::iter(events.into_iter().map(Ok::<_, std::convert::Infallible>)));
    ([(header::CONTENT_TYPE, "text/event-stream"), (header::CACHE_CONTROL, "no-cache")], body).into_response()
}

async fn chat_completions(body: Bytes) -> Response {
    let request: Request = match serde_json::from_slice(&body) {
        Ok(request) => request,
        Err(e) => return error(StatusCode::BAD_REQUEST, &format!("invalid JSON body: {e}")),
    };
    let model = request.model.as_deref().unwrap_or("gpt-4o-mini");
    if request.stream.unwrap_or(false) {
        let include_usage = request.stream_options.and_then(|o| o.include_usage).unwrap_or(false);
        stream(model, include_usage)
    } else {
        completion(model)
    }
}

async fn models() -> Response {
    let body = json!({"object": "list", "data": [{"id": "gpt-4o-mini", "object": "model", "created": CREATED, "owned_by": "fake"}]});
    ([(header::CONTENT_TYPE, "application/json")], body.to_string()).into_response()
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
