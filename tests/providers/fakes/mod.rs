//! Fake upstreams on 127.0.0.1:0 that speak each provider's wire format, play a script
//! of behaviours and record every request they receive.
//!
//! They are meant to be as strict as the real APIs, so that a translation the real
//! provider would refuse fails here too:
//! - every request is checked against the provider's documented shape and credentials
//!   first, and refused with the provider's own status and error body (see `*_rules.rs`);
//! - streams carry what real streams carry: SSE comments and keep-alives (OpenRouter's
//!   `: OPENROUTER PROCESSING`, Anthropic's `ping`), CRLF line endings (Gemini), and are
//!   written in pieces cut at random byte offsets, also inside a line and inside a
//!   multi-byte UTF-8 character (see `chunking.rs`; the seed is printed);
//! - usage is whatever the behaviour says ([`Tokens`]), with cached and reasoning tokens
//!   in each provider's own fields.

pub mod anthropic;
mod anthropic_rules;
pub mod chunking;
pub mod gemini;
mod gemini_rules;
pub mod openai;
mod openai_rules;

use std::convert::Infallible;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Body;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Router;
use futures::StreamExt;
use serde_json::Value;

/// Token counts [`Behaviour::Answer`] reports, so tests can check usage end to end.
/// Use [`Behaviour::AnswerWith`] for any other figures.
pub const PROMPT_TOKENS: u64 = 11;
pub const COMPLETION_TOKENS: u64 = 7;

/// The usage a fake reports for one reply, in OpenAI's terms; each fake spells it the
/// way its provider does (Anthropic splits the prompt into uncached, cache-read and
/// cache-write; Gemini splits the completion into candidates and thoughts).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tokens {
    /// All prompt tokens, cached and cache writes included.
    pub prompt: u64,
    /// All completion tokens, reasoning included.
    pub completion: u64,
    /// Prompt tokens read from the provider's cache.
    pub cached: u64,
    /// Completion tokens spent thinking (OpenAI `reasoning_tokens`, Gemini `thoughtsTokenCount`).
    pub reasoning: u64,
    /// Prompt tokens written to the cache (Anthropic `cache_creation_input_tokens`).
    pub cache_write: u64,
}

impl Tokens {
    pub const DEFAULT: Tokens =
        Tokens { prompt: PROMPT_TOKENS, completion: COMPLETION_TOKENS, cached: 0, reasoning: 0, cache_write: 0 };
}

#[derive(Debug, Clone)]
pub enum Reply {
    Text(String),
    ToolCall { name: String, arguments: Value },
}

#[derive(Debug, Clone)]
pub enum Behaviour {
    /// Answer with [`Tokens::DEFAULT`] usage.
    Answer(Reply),
    /// Answer and report this usage.
    AnswerWith(Reply, Tokens),
    /// An error status with the provider's error JSON.
    Fail { status: u16, message: String },
    /// 429 in the provider's error shape with `Retry-After: <seconds>`.
    RateLimited { retry_after_secs: u64 },
    /// Accept the connection, never answer.
    Hang,
    /// Stream the start of the reply, then close without the end marker.
    CutStream(Reply),
    /// Stream the start of the reply, then go silent with the connection open.
    StallStream(Reply),
    /// Stream the start of the reply, then send the provider's error event.
    ErrorMidStream(Reply),
}

impl Behaviour {
    /// The reply and usage of an answer, `None` for every other behaviour.
    pub fn answer(&self) -> Option<(&Reply, Tokens)> {
        match self {
            Behaviour::Answer(reply) => Some((reply, Tokens::DEFAULT)),
            Behaviour::AnswerWith(reply, tokens) => Some((reply, *tokens)),
            _ => None,
        }
    }
}

#[derive(Debug, Clone)]
pub struct Recorded {
    pub path_and_query: String,
    pub headers: HeaderMap,
    pub body: Value,
}

/// Why a fake refused a request before playing its script: the provider's status and
/// message, and the machine-readable code some providers add.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub status: u16,
    pub message: String,
    pub code: Option<&'static str>,
    /// The request field at fault, where the provider names it (OpenAI `param`).
    pub param: Option<String>,
}

impl Refusal {
    pub fn bad_request(message: impl Into<String>) -> Self {
        Refusal { status: 400, message: message.into(), code: None, param: None }
    }

    pub fn new(status: u16, message: impl Into<String>, code: Option<&'static str>) -> Self {
        Refusal { status, message: message.into(), code, param: None }
    }

    pub fn at(mut self, param: impl Into<String>) -> Self {
        self.param = Some(param.into());
        self
    }

    pub fn code(mut self, code: &'static str) -> Self {
        self.code = Some(code);
        self
    }
}

#[derive(Clone)]
pub struct FakeState {
    script: Arc<Mutex<Vec<Behaviour>>>,
    received: Arc<Mutex<Vec<Recorded>>>,
    /// The provider key the fake accepts; `None` accepts any non-empty key.
    key: Arc<Mutex<Option<String>>>,
    /// Seeds the byte offsets streams are cut at (see `chunking.rs`).
    seed: u64,
    streams: Arc<AtomicU64>,
    /// How long each answer takes (a slow model), zero by default.
    answer_delay: Arc<Mutex<std::time::Duration>>,
}

impl FakeState {
    /// Waits as long as a slow model would before answering.
    pub async fn think(&self) {
        let delay = *self.answer_delay.lock().unwrap();
        if !delay.is_zero() {
            tokio::time::sleep(delay).await;
        }
    }

    fn new(seed: u64) -> Self {
        FakeState {
            script: Arc::default(),
            received: Arc::default(),
            key: Arc::default(),
            seed,
            streams: Arc::default(),
            answer_delay: Arc::default(),
        }
    }

    /// Records the request and returns the next behaviour; the last one repeats.
    pub fn next(&self, path_and_query: String, headers: HeaderMap, body: Value) -> Behaviour {
        self.record(path_and_query, headers, body);
        let mut script = self.script.lock().unwrap();
        if script.len() > 1 {
            script.remove(0)
        } else {
            script.first().cloned().expect("a fake needs a script")
        }
    }

    /// Records a request the fake refuses; the script does not advance, as a real
    /// provider refusing a request does not produce an answer either.
    pub fn record(&self, path_and_query: String, headers: HeaderMap, body: Value) {
        self.received.lock().unwrap().push(Recorded { path_and_query, headers, body });
    }

    /// Whether `sent` is a key this fake accepts.
    pub fn accepts_key(&self, sent: &str) -> bool {
        match self.key.lock().unwrap().as_deref() {
            Some(expected) => sent == expected,
            None => !sent.trim().is_empty(),
        }
    }

    /// An SSE response of `frames`, written in pieces cut at seeded random offsets.
    pub fn sse(&self, frames: Vec<String>, ending: Ending) -> Response {
        let stream_seed = self.seed.wrapping_add(self.streams.fetch_add(1, Ordering::Relaxed));
        sse_pieces(chunking::pieces(&frames.concat(), stream_seed), ending)
    }
}

pub struct FakeUpstream {
    /// `http://127.0.0.1:<port>`, with no path.
    pub origin: String,
    state: FakeState,
}

impl FakeUpstream {
    pub async fn start(router: fn(FakeState) -> Router, script: Vec<Behaviour>) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let origin = format!("http://{}", listener.local_addr().unwrap());
        let state = FakeState::new(chunking::seed_for(&origin));
        *state.script.lock().unwrap() = script;
        let app = router(state.clone());
        tokio::spawn(async move { axum::serve(listener, app).await });
        FakeUpstream { origin, state }
    }

    /// From now on only `key` is accepted; any other answers the provider's 401 (400
    /// with `API_KEY_INVALID` on Gemini, as Google does).
    pub fn require_key(&self, key: &str) {
        *self.state.key.lock().unwrap() = Some(key.to_owned());
    }

    /// From now on every answer comes after `delay` (OpenAI fake). Only the API
    /// tests (requests in flight) need a slow model; the provider tests do not.
    #[allow(dead_code)]
    pub fn delay_answers(&self, delay: std::time::Duration) {
        *self.state.answer_delay.lock().unwrap() = delay;
    }

    pub fn requests(&self) -> Vec<Recorded> {
        self.state.received.lock().unwrap().clone()
    }

    /// Replaces the script: an upstream that recovers, or starts failing.
    pub fn set_script(&self, script: Vec<Behaviour>) {
        *self.state.script.lock().unwrap() = script;
    }

    pub fn last_request(&self) -> Recorded {
        self.requests().pop().expect("the fake received no request")
    }
}

/// How an SSE body ends after its frames.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Ending {
    Close,
    Stall,
}

fn sse_pieces(pieces: Vec<Vec<u8>>, ending: Ending) -> Response {
    let pieces = futures::stream::iter(pieces).then(|piece| async move {
        // Separate TCP writes, like a real upstream producing tokens, so the reader
        // really sees the cuts.
        tokio::time::sleep(Duration::from_millis(1)).await;
        Ok::<_, Infallible>(piece)
    });
    let body = if ending == Ending::Stall {
        Body::from_stream(pieces.chain(futures::stream::pending()))
    } else {
        Body::from_stream(pieces)
    };
    ([("content-type", "text/event-stream")], body).into_response()
}

pub fn data_frame(data: &Value) -> String {
    format!("data: {data}\n\n")
}

pub fn named_frame(event: &str, data: &Value) -> String {
    format!("event: {event}\ndata: {data}\n\n")
}

pub fn json_response(status: u16, body: Value) -> Response {
    let status = StatusCode::from_u16(status).unwrap();
    (status, axum::Json(body)).into_response()
}

/// A 429 whose body is `error` and whose `Retry-After` asks for `seconds`.
pub fn rate_limited(error: Response, seconds: u64) -> Response {
    let mut response = error;
    response.headers_mut().insert("retry-after", seconds.to_string().parse().unwrap());
    *response.status_mut() = StatusCode::TOO_MANY_REQUESTS;
    response
}

pub async fn hang() -> Response {
    futures::future::pending::<()>().await;
    unreachable!()
}

/// The reply's text in pieces of one word each (with its trailing space).
pub fn words(text: &str) -> Vec<String> {
    text.split_inclusive(' ').map(str::to_owned).collect()
}

/// The tool call arguments as JSON text, split in two pieces as providers stream them.
pub fn argument_pieces(arguments: &Value) -> (String, String) {
    let text = arguments.to_string();
    let middle = (0..=text.len() / 2).rev().find(|i| text.is_char_boundary(*i)).unwrap_or(0);
    (text[..middle].to_owned(), text[middle..].to_owned())
}

/// The body as JSON, or the provider's refusal of a body that is not JSON.
pub fn parse_body(body: &[u8]) -> Result<Value, Refusal> {
    serde_json::from_slice(body).map_err(|e| Refusal::bad_request(format!("the request body is not valid JSON: {e}")))
}

/// The value of a header, if it is present and text.
pub fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}
