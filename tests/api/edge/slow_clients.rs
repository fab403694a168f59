//! Finding 8 (slowloris): unfinished headers, bodies that never end and idle
//! keep-alive connections are closed after configurable timeouts, while a slow
//! but alive answer (SSE) is never cut.

use std::time::{Duration, Instant};

use axum::response::IntoResponse;
use axum::routing::post;
use futures::StreamExt;
use gaiarouter::config::Config;
use gaiarouter::gateway::providers::{ApiKey, ProvidersConfig, Timeouts, Upstream};
use serde_json::{json, Value};
use tokio::net::TcpStream;

use super::{config_with_timeouts, read_until_closed, send, Server};

/// Well past every timeout these tests configure; today's main never closes.
const PATIENCE: Duration = Duration::from_secs(6);

#[tokio::test]
async fn headers_dribbled_byte_by_byte_are_cut_off_after_the_header_timeout() {
    // Given a server with a short header timeout and a long idle timeout
    let server = Server::start(config_with_timeouts(500, 10_000, 30_000), ProvidersConfig::default()).await;
    let mut stream = TcpStream::connect(server.address).await.unwrap();
    // When a client starts a request and then sends one header byte every 100 ms
    send(&mut stream, b"GET /health HTTP/1.1\r\nHost: gaiarouter\r\n").await;
    let started = Instant::now();
    let mut closed = false;
    while started.elapsed() < PATIENCE {
        send(&mut stream, b"x").await;
        let outcome = read_until_closed(&mut stream, Duration::from_millis(100)).await;
        assert!(outcome.received.is_empty(), "no answer to an unfinished request: {}", outcome.received);
        if outcome.closed {
            closed = true;
            break;
        }
    }
    // Then the server closes the connection: the bytes do not keep it open
    assert!(closed, "the connection was still open after {PATIENCE:?}");
    assert!(started.elapsed() < Duration::from_secs(4), "closed only after {:?}", started.elapsed());
}

#[tokio::test]
async fn an_idle_keep_alive_connection_is_closed_after_the_idle_timeout() {
    // Given a server with a short idle timeout (and a longer header timeout)
    let server = Server::start(config_with_timeouts(5_000, 10_000, 500), ProvidersConfig::default()).await;
    let mut stream = TcpStream::connect(server.address).await.unwrap();
    // When a client makes one keep-alive request and then says nothing
    send(&mut stream, b"GET /health HTTP/1.1\r\nHost: gaiarouter\r\n\r\n").await;
    let started = Instant::now();
    let outcome = read_until_closed(&mut stream, PATIENCE).await;
    // Then it got its answer, and the connection was closed afterwards
    assert!(outcome.received.starts_with("HTTP/1.1 200"), "{}", outcome.received);
    assert!(outcome.closed, "an idle keep-alive connection stayed open for {PATIENCE:?}");
    assert!(started.elapsed() < Duration::from_secs(4), "closed only after {:?}", started.elapsed());

    // And a connection that never sends anything is closed too
    let mut silent = TcpStream::connect(server.address).await.unwrap();
    let outcome = read_until_closed(&mut silent, PATIENCE).await;
    assert!(outcome.closed && outcome.received.is_empty(), "a silent connection stayed open");
}

#[tokio::test]
async fn a_body_that_never_ends_is_answered_408_and_the_connection_closed() {
    // Given a server with a short body timeout
    // When a client sends a chunked body that keeps trickling and never ends
    let server = Server::start(config_with_timeouts(5_000, 500, 30_000), ProvidersConfig::default()).await;
    let body = trickled_body_answer(&server, "/v1/auth/login", "").await;
    // Then it is answered 408 in the JSON error shape, and the connection closed
    assert_eq!(body["error"]["code"], "request_timeout");
    assert_eq!(body["error"]["type"], "invalid_request_error");
}

#[tokio::test]
async fn on_the_messages_api_a_body_that_never_ends_is_answered_408_in_anthropics_shape() {
    let server = Server::start(config_with_timeouts(5_000, 500, 30_000), ProvidersConfig::default()).await;
    let key = server.write_key().await;
    let body = trickled_body_answer(&server, "/v1/messages", &format!("x-api-key: {key}\r\n")).await;
    assert_eq!(body["type"], "error", "{body}");
    assert_eq!(body["error"]["type"], "timeout_error", "{body}");
}

/// What a server with a short body timeout answers a chunked body to `path` (with
/// the extra header lines `headers`) that keeps trickling and never ends: a 408 that
/// closes the connection (checked), and its body.
async fn trickled_body_answer(server: &Server, path: &str, headers: &str) -> Value {
    let mut stream = TcpStream::connect(server.address).await.unwrap();
    let head = format!(
        "POST {path} HTTP/1.1\r\nHost: gaiarouter\r\nContent-Type: application/json\r\n{headers}\
         Transfer-Encoding: chunked\r\n\r\n1\r\n{{\r\n"
    );
    send(&mut stream, head.as_bytes()).await;
    let (mut reader, mut writer) = stream.into_split();
    let trickle = tokio::spawn(async move {
        for _ in 0..60 {
            tokio::time::sleep(Duration::from_millis(100)).await;
            if tokio::io::AsyncWriteExt::write_all(&mut writer, b"1\r\n \r\n").await.is_err() {
                break;
            }
        }
    });
    let mut received = Vec::new();
    let read = tokio::time::timeout(PATIENCE, tokio::io::AsyncReadExt::read_to_end(&mut reader, &mut received)).await;
    trickle.abort();
    let received = String::from_utf8_lossy(&received);
    assert!(read.is_ok(), "the connection was still open after {PATIENCE:?}: {received}");
    assert!(received.starts_with("HTTP/1.1 408"), "{received}");
    assert!(received.to_ascii_lowercase().contains("connection: close"), "{received}");
    serde_json::from_str(received.split("\r\n\r\n").nth(1).unwrap_or_default()).unwrap()
}

/// An OpenAI-style upstream that streams its reply slowly: each gap is longer
/// than every server timeout of the test below.
async fn slow_upstream(gap: Duration, words: usize) -> String {
    let router = axum::Router::new().route(
        "/v1/chat/completions",
        post(move || async move {
            let chunk = |delta: Value, finish: Value| {
                let frame = json!({"id": "chatcmpl-slow", "object": "chat.completion.chunk", "created": 1,
                    "model": "gpt-4o-mini", "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]});
                format!("data: {frame}\n\n")
            };
            let mut frames = vec![chunk(json!({"role": "assistant", "content": ""}), Value::Null)];
            frames.extend((0..words).map(|i| chunk(json!({"content": format!("w{i} ")}), Value::Null)));
            frames.push(chunk(json!({}), json!("stop")));
            frames.push("data: [DONE]\n\n".to_string());
            let body = futures::stream::iter(frames).then(move |frame| async move {
                tokio::time::sleep(gap).await;
                Ok::<_, std::convert::Infallible>(frame)
            });
            ([("content-type", "text/event-stream")], axum::body::Body::from_stream(body)).into_response()
        }),
    );
    crate::helpers::serve_router(router).await
}

#[tokio::test]
async fn a_slow_but_alive_stream_outlives_every_server_timeout() {
    // Given server timeouts of 300 ms and an upstream that pauses 400 ms between events
    let origin = slow_upstream(Duration::from_millis(400), 4).await;
    let providers = ProvidersConfig {
        openai: Some(Upstream { base_url: format!("{origin}/v1"), api_key: Some(ApiKey::new("upstream").unwrap()) }),
        timeouts: Timeouts {
            connect: Duration::from_secs(2),
            total: Duration::from_secs(30),
            idle: Duration::from_secs(5),
            stream: Duration::from_secs(30),
        },
        ..ProvidersConfig::default()
    };
    let server = Server::start(config_with_timeouts(300, 300, 300), providers).await;
    let key = server.write_key().await;
    // When a client streams a completion that takes about 3 s
    let started = Instant::now();
    let response = server
        .client
        .post(server.url("/v1/chat/completions"))
        .bearer_auth(&key)
        .json(&json!({"model": "openai/gpt-4o-mini", "stream": true, "messages": [{"role": "user", "content": "hi"}]}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), reqwest::StatusCode::OK);
    let text = response.text().await.unwrap();
    // Then every event arrived, up to the end marker
    assert!(started.elapsed() > Duration::from_millis(1200), "the stream was not slow: {:?}", started.elapsed());
    for i in 0..4 {
        assert!(text.contains(&format!("w{i} ")), "word {i} missing: {text}");
    }
    assert!(text.trim_end().ends_with("data: [DONE]"), "{text}");
}

#[tokio::test]
async fn connections_past_the_maximum_are_refused_until_one_closes() {
    // Given a server that allows two connections, both open and kept alive
    let config = Config { max_connections: 2, ..config_with_timeouts(5_000, 5_000, 30_000) };
    let server = Server::start(config, ProvidersConfig::default()).await;
    let mut open = Vec::new();
    for _ in 0..2 {
        let mut stream = TcpStream::connect(server.address).await.unwrap();
        send(&mut stream, b"GET /health HTTP/1.1\r\nHost: gaiarouter\r\n\r\n").await;
        let outcome = read_until_closed(&mut stream, Duration::from_millis(700)).await;
        assert!(outcome.received.starts_with("HTTP/1.1 200") && !outcome.closed, "{}", outcome.received);
        open.push(stream);
    }
    // When a third client connects, it is closed without an answer
    let mut third = TcpStream::connect(server.address).await.unwrap();
    send(&mut third, b"GET /health HTTP/1.1\r\nHost: gaiarouter\r\n\r\n").await;
    let outcome = read_until_closed(&mut third, PATIENCE).await;
    assert!(outcome.closed && outcome.received.is_empty(), "answered past the maximum: {}", outcome.received);
    // And once one of the two goes away, a new client is served again
    drop(open.pop());
    let started = Instant::now();
    loop {
        let mut next = TcpStream::connect(server.address).await.unwrap();
        send(&mut next, b"GET /health HTTP/1.1\r\nHost: gaiarouter\r\nConnection: close\r\n\r\n").await;
        let outcome = read_until_closed(&mut next, PATIENCE).await;
        if outcome.received.starts_with("HTTP/1.1 200") {
            break;
        }
        assert!(started.elapsed() < PATIENCE, "no connection accepted after one closed");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
