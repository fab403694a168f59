//! An upstream is the gateway's to distrust: whatever answers at a deployment's base
//! URL may send an event name that breaks an SSE line, an answer of gigabytes or a
//! stream line that never ends. Each is an invalid answer: the client gets an error
//! in its API's shape, the request is recorded as failed (not lost, not a panic),
//! and the gateway's memory stays bounded.

use axum::body::Body;
use axum::http::header::CONTENT_TYPE;
use axum::response::{IntoResponse, Response};
use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::helpers::{fake_upstream_providers, fresh_database, serve_router, spawn_app_with, user_message, TestApp};

const MIB: usize = 1 << 20;

/// An OpenAI chat completion around its content.
const COMPLETION_START: &str = r#"{"id":"chatcmpl-1","object":"chat.completion","created":1,"model":"m","choices":[{"index":0,"message":{"role":"assistant","content":""#;
const COMPLETION_END: &str =
    r#""},"finish_reason":"stop"}],"usage":{"prompt_tokens":1,"completion_tokens":1,"total_tokens":2}}"#;

/// An upstream answering every request with what `answer` makes.
async fn upstream(answer: fn() -> Response) -> String {
    serve_router(axum::Router::new().fallback(move || async move { answer() })).await
}

/// A gateway whose route `model` goes to `provider`'s `base_url`, and a tenant's key.
async fn gateway(provider: &str, base_url: String) -> (TestApp, String) {
    let app = spawn_app_with(&fresh_database().await, fake_upstream_providers()).await;
    app.single_deployment_route("model", provider, "upstream-model", base_url).await;
    let org = app.create_org("Distrustful").await;
    let key = app.issue_key(&org, "write").await.1;
    (app, key)
}

/// A gateway whose route `model` is one OpenAI-compatible deployment at `origin` with
/// these timeout fields (`total_timeout_ms`, ...), and a tenant's key.
async fn gateway_with_timeouts(origin: String, timeouts: Value, org: &str) -> (TestApp, String) {
    let app = spawn_app_with(&fresh_database().await, fake_upstream_providers()).await;
    let mut deployment = json!({"id": "only", "provider": "openai", "model": "m", "base_url": origin});
    if let (Some(deployment), Some(timeouts)) = (deployment.as_object_mut(), timeouts.as_object()) {
        deployment.extend(timeouts.clone());
    }
    let route = json!({"name": "model", "deployments": [deployment]});
    assert_eq!(app.post("/v1/routes", &app.admin_token, route).await.status, StatusCode::CREATED);
    let org = app.create_org(org).await;
    let key = app.issue_key(&org, "write").await.1;
    (app, key)
}

fn event_stream(body: Body) -> Response {
    ([(CONTENT_TYPE, "text/event-stream")], body).into_response()
}

/// The single recorded request: its status and error kind.
async fn recorded(app: &TestApp) -> (String, String) {
    let events = app.request_events().await;
    assert_eq!(events.len(), 1, "{events:?}");
    let event = &events[0];
    (event["status"].as_str().unwrap().to_owned(), event["error_kind"].as_str().unwrap_or_default().to_owned())
}

#[tokio::test]
async fn an_anthropic_event_named_with_a_line_break_ends_the_stream_with_an_error_and_is_recorded() {
    let origin = upstream(|| {
        event_stream(Body::from(
            "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\"msg_1\",\"type\":\"message\",\
             \"role\":\"assistant\",\"model\":\"m\",\"content\":[],\"usage\":{\"input_tokens\":3,\"output_tokens\":1}}}\n\n\
             data: {\"type\":\"content_block_start\\nevent: forged\",\"index\":0}\n\n",
        ))
    })
    .await;
    let (app, key) = gateway("anthropic", origin).await;
    let answer = reqwest::Client::new()
        .post(app.url("/v1/messages"))
        .bearer_auth(&key)
        .json(&json!({"model": "model", "max_tokens": 64, "stream": true, "messages": user_message("Hi")}))
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), StatusCode::OK);
    let text = answer.text().await.unwrap();
    assert!(text.contains("event: error"), "{text}");
    assert!(!text.lines().any(|line| line == "event: forged"), "{text}");
    let (status, kind) = recorded(&app).await;
    assert_eq!(status, "error");
    assert_ne!(kind, "client_disconnected", "the stream ended as the gateway's, not as a dropped connection");
}

#[tokio::test]
async fn an_answer_larger_than_the_bound_is_an_invalid_answer_with_or_without_its_length() {
    // A valid completion: its content alone passes the bound.
    let sized = upstream(|| {
        let body = [COMPLETION_START.as_bytes(), &vec![b'a'; 33 * MIB], COMPLETION_END.as_bytes()].concat();
        ([(CONTENT_TYPE, "application/json")], body).into_response()
    })
    .await;
    let unsized_ = upstream(|| {
        // Chunked, no content-length: read until the bound, then refused.
        let chunks = std::iter::once(COMPLETION_START.as_bytes().to_vec())
            .chain(std::iter::repeat_n(vec![b'a'; MIB], 33))
            .chain(std::iter::once(COMPLETION_END.as_bytes().to_vec()))
            .map(Ok::<_, std::io::Error>);
        ([(CONTENT_TYPE, "application/json")], Body::from_stream(futures::stream::iter(chunks))).into_response()
    })
    .await;
    for origin in [sized, unsized_] {
        let (app, key) = gateway("openai", format!("{origin}/v1")).await;
        let answer = app.chat(&key, json!({"model": "model", "messages": user_message("Hi")})).await;
        assert_eq!(answer.status, StatusCode::BAD_GATEWAY, "{}", answer.body);
        let message = answer.body["error"]["message"].as_str().unwrap_or_default();
        assert!(message.len() < 1000, "{message}");
        let (status, kind) = recorded(&app).await;
        assert_eq!((status.as_str(), kind.as_str()), ("error", "upstream_invalid_response"));
    }
}

#[tokio::test]
async fn a_stream_line_that_never_ends_is_refused_at_the_bound_and_recorded() {
    let origin = upstream(|| {
        let start = "data: {\"id\":\"c\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"m\",\
                     \"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"Hi\"}}]}\n\ndata: {\"x\":\"";
        let chunks = std::iter::once(start.as_bytes().to_vec())
            .chain(std::iter::repeat_n(vec![b'a'; MIB], 40))
            .map(Ok::<_, std::io::Error>);
        event_stream(Body::from_stream(futures::stream::iter(chunks)))
    })
    .await;
    let (app, key) = gateway("openai", format!("{origin}/v1")).await;
    let (status, data) =
        app.chat_stream(&key, json!({"model": "model", "stream": true, "messages": user_message("Hi")})).await;
    assert_eq!(status, StatusCode::OK);
    let error = data.iter().rev().find_map(|d| serde_json::from_str::<Value>(d).ok()).unwrap();
    assert!(error["error"]["message"].is_string(), "the stream ends with an error: {data:?}");
    let (status, kind) = recorded(&app).await;
    assert_eq!((status.as_str(), kind.as_str()), ("error", "upstream_invalid_response"));
}

/// An upstream that takes its time before even its headers, inside the deployment's
/// first-byte timeout but past its total: the stream's deadline bounds that wait too.
#[tokio::test]
async fn a_stream_whose_headers_never_come_is_cut_at_the_deployments_total_timeout() {
    let router = axum::Router::new().fallback(|| async {
        tokio::time::sleep(std::time::Duration::from_secs(30)).await;
        event_stream(Body::from("data: [DONE]\n\n"))
    });
    let timeouts = json!({"total_timeout_ms": 400, "first_byte_timeout_ms": 60_000});
    let (app, key) = gateway_with_timeouts(serve_router(router).await, timeouts, "Patient").await;
    let started = std::time::Instant::now();
    let (status, _) =
        app.chat_stream(&key, json!({"model": "model", "stream": true, "messages": user_message("Hi")})).await;
    assert!(started.elapsed() < std::time::Duration::from_secs(10), "cut, not kept waiting: {:?}", started.elapsed());
    assert_eq!(status, StatusCode::GATEWAY_TIMEOUT);
    assert_eq!(recorded(&app).await, ("error".to_owned(), "upstream_timeout".to_owned()));
}

/// An upstream that sends a piece of text now and then, each well within the idle
/// time, and never ends: a deployment's `total_timeout_ms` bounds the stream as a
/// whole. The client gets the text, then an error event and the end; the request is
/// recorded as a timeout with the text it was sent (estimated: no usage ever came).
#[tokio::test]
async fn a_stream_that_never_ends_is_cut_at_the_deployments_total_timeout_and_recorded() {
    let origin = upstream(|| {
        let ticks = futures::stream::unfold(0_u64, |n| async move {
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
            let chunk = json!({"id": "c", "object": "chat.completion.chunk", "created": 1, "model": "m",
                               "choices": [{"index": 0, "delta": {"content": "tick "}, "finish_reason": null}]});
            Some((Ok::<_, std::io::Error>(format!("data: {chunk}\n\n")), n + 1))
        });
        event_stream(Body::from_stream(ticks))
    })
    .await;
    let (app, key) = gateway_with_timeouts(origin, json!({"total_timeout_ms": 400}), "Endless").await;
    let started = std::time::Instant::now();
    let (status, data) =
        app.chat_stream(&key, json!({"model": "model", "stream": true, "messages": user_message("Hi")})).await;
    assert_eq!(status, StatusCode::OK);
    assert!(started.elapsed() < std::time::Duration::from_secs(5), "cut, not endless: {:?}", started.elapsed());
    assert!(data.iter().any(|d| d.contains("tick")), "the text came first: {data:?}");
    assert!(data.iter().any(|d| d.contains("\"error\"")), "then an error: {data:?}");
    assert_eq!(data.last().map(String::as_str), Some("[DONE]"));
    let events = app.request_events().await;
    assert_eq!(events.len(), 1);
    assert_eq!(events[0]["error_kind"], "upstream_timeout", "{}", events[0]);
    assert_eq!(events[0]["usage_estimated"], true, "{}", events[0]);
    assert!(events[0]["completion_tokens"].as_u64() > Some(0), "{}", events[0]);
}
