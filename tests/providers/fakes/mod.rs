//! Fake upstreams on 127.0.0.1:0 that speak each provider's wire format, play a script
//! of behaviours and record every request they receive.

pub mod anthropic;
pub mod gemini;
pub mod openai;

use std::convert::Infallible;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Body;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Router;
use futures::StreamExt;
use serde_json::Value;

/// Token counts every fake reports, so tests can check usage end to end.
pub const PROMPT_TOKENS: u64 = 11;
pub const COMPLETION_TOKENS: u64 = 7;

#[derive(Debug, Clone)]
pub enum Reply {
    Text(String),
    ToolCall { name: String, arguments: Value },
}

#[derive(Debug, Clone)]
pub enum Behaviour {
    Answer(Reply),
    /// An error status with the provider's error JSON.
    Fail {
        status: u16,
        message: String,
    },
    /// Accept the connection, never answer.
    Hang,
    /// Stream the start of the reply, then close without the end marker.
    CutStream(Reply),
    /// Stream the start of the reply, then go silent with the connection open.
    StallStream(Reply),
    /// Stream the start of the reply, then send the provider's error event.
    ErrorMidStream(Reply),
}

#[derive(Debug, Clone)]
pub struct Recorded {
    pub path_and_query: String,
    pub headers: HeaderMap,
    pub body: Value,
}

#[derive(Clone, Default)]
pub struct FakeState {
    script: Arc<Mutex<Vec<Behaviour>>>,
    received: Arc<Mutex<Vec<Recorded>>>,
}

impl FakeState {
    /// Records the request and returns the next behaviour; the last one repeats.
    pub fn next(&self, path_and_query: String, headers: HeaderMap, body: Value) -> Behaviour {
        self.received.lock().unwrap().push(Recorded { path_and_query, headers, body });
        let mut script = self.script.lock().unwrap();
        if script.len() > 1 {
            script.remove(0)
        } else {
            script.first().cloned().expect("a fake needs a script")
        }
    }
}

pub struct FakeUpstream {
    /// `http://127.0.0.1:<port>`, with no path.
    pub origin: String,
    state: FakeState,
}

impl FakeUpstream {
    pub async fn start(router: fn(FakeState) -> Router, script: Vec<Behaviour>) -> Self {
        let state = FakeState::default();
        *state.script.lock().unwrap() = script;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let origin = format!("http://{}", listener.local_addr().unwrap());
        let app = router(state.clone());
        tokio::spawn(async move { axum::serve(listener, app).await });
        FakeUpstream { origin, state }
    }

    pub fn requests(&self) -> Vec<Recorded> {
        self.state.received.lock().unwrap().clone()
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

pub fn sse(frames: Vec<String>, ending: Ending) -> Response {
    let frames = futures::stream::iter(frames).then(|frame| async move {
        // Separate TCP writes, like a real upstream producing tokens.
        tokio::time::sleep(Duration::from_millis(2)).await;
        Ok::<_, Infallible>(frame)
    });
    let body = if ending == Ending::Stall {
        Body::from_stream(frames.chain(futures::stream::pending()))
    } else {
        Body::from_stream(frames)
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
    let middle = text.len() / 2;
    (text[..middle].to_owned(), text[middle..].to_owned())
}
