//! `POST /v1/messages` and `/v1/messages/count_tokens` attacked by a tenant holding a
//! valid `write` key, through the real server and the strict fake upstreams. What
//! must hold: bad input is a clear 4xx in Anthropic's error shape (never a 500, a
//! panic, a hang or a slow path), every client string echoed back is bounded,
//! nothing recorded is lost, one tenant cannot make another's requests fail, no
//! secret reaches a response, and limits cannot be bypassed.

use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::http::HeaderMap;
use gaiarouter::gateway::providers::{ApiKey, ProvidersConfig, Timeouts, Upstream};
use reqwest::StatusCode;
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::fakes::{self, Behaviour, FakeState, FakeUpstream, Reply};
use crate::helpers::{fresh_database, spawn_app_with, TestApp};

const UPSTREAM_KEY: &str = "sk-upstream-secret-key-0123456789";
/// The longest error message any refusal may carry: client strings echoed in it are cut.
const MAX_ERROR_BYTES: usize = 2_048;

fn providers() -> ProvidersConfig {
    let key = Some(ApiKey::new(UPSTREAM_KEY).unwrap());
    ProvidersConfig {
        openai: Some(Upstream { base_url: "http://127.0.0.1:9/v1".into(), api_key: key.clone() }),
        anthropic: Some(Upstream { base_url: "http://127.0.0.1:9".into(), api_key: key.clone() }),
        gemini: Some(Upstream { base_url: "http://127.0.0.1:9".into(), api_key: key }),
        timeouts: Timeouts {
            connect: Duration::from_secs(1),
            total: Duration::from_secs(10),
            idle: Duration::from_secs(10),
            stream: Duration::from_secs(10),
        },
        ..ProvidersConfig::default()
    }
}

/// Anthropic's fake with `count_tokens` too: it records the call and counts 42.
fn anthropic_counting(state: FakeState) -> axum::Router {
    let counting = state.clone();
    fakes::anthropic::router(state).route(
        "/v1/messages/count_tokens",
        axum::routing::post(move |headers: HeaderMap, body: Bytes| {
            let state = counting.clone();
            async move {
                let key = fakes::header(&headers, "x-api-key").unwrap_or_default().to_owned();
                let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
                state.record("/v1/messages/count_tokens".into(), headers, body);
                if !state.accepts_key(&key) {
                    let error = json!({"type": "error", "error": {"type": "authentication_error", "message": "invalid x-api-key"}});
                    return fakes::json_response(401, error);
                }
                fakes::json_response(200, json!({"input_tokens": 42}))
            }
        }),
    )
}

struct Setup {
    app: TestApp,
    key: String,
    upstream: FakeUpstream,
}

/// A gateway with a route `model` (default cooldown: 3 failures, 30 s) to one fake
/// upstream of `provider`, and a tenant's `write` key.
async fn setup(provider: &str, script: Vec<Behaviour>) -> Setup {
    let app = spawn_app_with(&fresh_database().await, providers()).await;
    let (router, base_suffix, upstream_model): (fn(FakeState) -> axum::Router, &str, &str) = match provider {
        "anthropic" => (anthropic_counting, "", "claude-sonnet-4-5"),
        "openai" => (fakes::openai::router, "/v1", "gpt-4o-mini"),
        _ => (fakes::gemini::router, "", "gemini-2.5-flash"),
    };
    let kind = if provider == "gemini" { "google" } else { provider };
    let upstream = FakeUpstream::start(router, script).await;
    upstream.require_key(UPSTREAM_KEY);
    app.single_deployment_route("model", kind, upstream_model, format!("{}{base_suffix}", upstream.origin)).await;
    let org = app.create_org("Hostile").await;
    let key = app.issue_key(&org, "write").await.1;
    Setup { app, key, upstream }
}

fn text(reply: &str) -> Behaviour {
    Behaviour::Answer(Reply::Text(reply.into()))
}

fn ask() -> Value {
    json!({"model": "model", "max_tokens": 256, "messages": [{"role": "user", "content": "Hi"}]})
}

/// A raw POST: status and body text.
async fn post(app: &TestApp, path: &str, key: &str, body: impl Into<reqwest::Body>) -> (StatusCode, String) {
    let response = app
        .client
        .post(app.url(path))
        .header("x-api-key", key)
        .header("anthropic-version", "2023-06-01")
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .unwrap();
    let status = response.status();
    (status, response.text().await.unwrap_or_default())
}

async fn messages(app: &TestApp, key: &str, body: &Value) -> (StatusCode, String) {
    post(app, "/v1/messages", key, body.to_string()).await
}

async fn count_tokens(app: &TestApp, key: &str, body: &Value) -> (StatusCode, String) {
    post(app, "/v1/messages/count_tokens", key, body.to_string()).await
}

/// A refusal in Anthropic's shape with the given status, its message bounded and
/// naming `mentioned`; answers the message.
fn assert_refused(answer: &(StatusCode, String), status: StatusCode, mentioned: &str) -> String {
    let (got, text) = answer;
    assert_eq!(*got, status, "{}", &text[..text.len().min(500)]);
    let error: Value =
        serde_json::from_str(text).unwrap_or_else(|_| panic!("not JSON: {}", &text[..text.len().min(500)]));
    assert_eq!(error["type"], "error", "{error}");
    let expected_type = match status.as_u16() {
        400 => "invalid_request_error",
        404 => "not_found_error",
        413 => "request_too_large",
        429 => "rate_limit_error",
        _ => "api_error",
    };
    assert_eq!(error["error"]["type"], expected_type, "{error}");
    let message = error["error"]["message"].as_str().unwrap().to_string();
    assert!(message.len() <= MAX_ERROR_BYTES, "the message echoes {} bytes: {}…", message.len(), &message[..200]);
    assert!(message.contains(mentioned), "{mentioned}: {message}");
    message
}

fn assert_bad_request(answer: &(StatusCode, String), mentioned: &str) -> String {
    assert_refused(answer, StatusCode::BAD_REQUEST, mentioned)
}

#[tokio::test]
async fn a_stream_or_a_system_of_the_wrong_type_is_a_clear_400_on_both_routes() {
    let s = setup("openai", vec![text("never")]).await;
    for (field, value) in [
        ("stream", json!("true")),
        ("stream", json!(1)),
        ("stream", json!({})),
        ("stream", json!([true])),
        ("system", json!(42)),
        ("system", json!(true)),
        ("system", json!({"type": "text", "text": "x"})),
        ("system", json!([{"type": "image", "source": {"type": "url", "url": "https://x.test/a.png"}}])),
        ("messages", json!("Hi")),
        ("messages", json!({"role": "user"})),
        ("model", json!(42)),
        ("metadata", json!("u")),
        ("tools", json!({})),
        ("thinking", json!(true)),
    ] {
        let mut body = ask();
        body[field] = value.clone();
        assert_bad_request(&messages(&s.app, &s.key, &body).await, field);
        assert_bad_request(&count_tokens(&s.app, &s.key, &body).await, field);
    }
    for body in ["", "null", "[]", "\"text\"", "42", "{", "{\"model\": \"model\",}", "\u{feff}{}"] {
        let answer = post(&s.app, "/v1/messages", &s.key, body).await;
        assert_bad_request(&answer, "");
        assert_bad_request(&post(&s.app, "/v1/messages/count_tokens", &s.key, body).await, "");
    }
    assert!(s.upstream.requests().is_empty(), "nothing bad reaches the upstream");
    assert!(s.app.request_events().await.is_empty(), "refused before admission: nothing recorded");
}

#[tokio::test]
async fn absurd_max_tokens_are_refused_and_the_largest_valid_one_is_not_a_500() {
    let s = setup("openai", vec![text("fine")]).await;
    for value in [
        json!(0),
        json!(-1),
        json!(1.5),
        json!(4_294_967_296_u64),
        json!(u64::MAX),
        json!(-9_223_372_036_854_775_808_i64),
        json!("256"),
        json!(null),
        json!(true),
        json!([256]),
    ] {
        let mut body = ask();
        body["max_tokens"] = value.clone();
        assert_bad_request(&messages(&s.app, &s.key, &body).await, "max_tokens");
    }
    // Numbers JSON can write but no integer holds.
    for raw in ["1e400", "1e10", "-0", "NaN", "Infinity", "0x10", "99999999999999999999999999999999999999"] {
        let body =
            format!(r#"{{"model": "model", "max_tokens": {raw}, "messages": [{{"role": "user", "content": "Hi"}}]}}"#);
        let answer = post(&s.app, "/v1/messages", &s.key, body).await;
        assert_bad_request(&answer, "");
    }
    let mut body = ask();
    body["max_tokens"] = json!(u32::MAX);
    let (status, text) = messages(&s.app, &s.key, &body).await;
    assert!(status == StatusCode::OK || status.is_client_error(), "{status}: {text}");
}

/// JSON nested `depth` arrays deep.
fn nested(depth: usize) -> String {
    format!("{}{}", "[".repeat(depth), "]".repeat(depth))
}

#[tokio::test]
async fn deeply_nested_json_is_refused_without_overflowing_anything() {
    let s = setup("openai", vec![text("fine")]).await;
    for depth in [129, 10_000, 1_000_000] {
        let body = format!(
            r#"{{"model": "model", "max_tokens": 10, "messages": [{{"role": "assistant", "content": [
            {{"type": "tool_use", "id": "t1", "name": "f", "input": {{"x": {}}}}}]}}]}}"#,
            nested(depth)
        );
        for path in ["/v1/messages", "/v1/messages/count_tokens"] {
            let answer = post(&s.app, path, &s.key, body.clone()).await;
            assert_bad_request(&answer, "recursion limit");
        }
    }
    // Just under serde's limit, nested blocks inside blocks: fine, and answered.
    let mut content = json!("deep");
    for _ in 0..30 {
        content = json!([{"type": "tool_result", "tool_use_id": "t1", "content": content}]);
    }
    let body = json!({"model": "model", "max_tokens": 10, "messages": [
        {"role": "user", "content": "go"},
        {"role": "assistant", "content": [{"type": "tool_use", "id": "t1", "name": "f", "input": {}}]},
        {"role": "user", "content": content}]});
    let answer = messages(&s.app, &s.key, &body).await;
    assert!(answer.0.is_client_error(), "{}", answer.1);
    let error: Value = serde_json::from_str(&answer.1).unwrap();
    assert_eq!(error["error"]["type"], "invalid_request_error");
    assert!(s.upstream.requests().is_empty());
}

/// One assistant turn calling `pairs` tools and the user turn answering them all,
/// with long ids that share a prefix (the worst case for comparing them).
fn tool_pairs(pairs: usize) -> Value {
    let prefix = "toolu_".to_string() + &"x".repeat(150);
    let calls: Vec<Value> = (0..pairs)
        .map(|i| json!({"type": "tool_use", "id": format!("{prefix}{i:08}"), "name": "f", "input": {}}))
        .collect();
    let results: Vec<Value> = (0..pairs)
        .map(|i| json!({"type": "tool_result", "tool_use_id": format!("{prefix}{i:08}"), "content": "ok"}))
        .collect();
    json!({"model": "model", "max_tokens": 10,
           "tools": [{"name": "f", "input_schema": {"type": "object"}}],
           "messages": [{"role": "user", "content": "go"},
                        {"role": "assistant", "content": calls},
                        {"role": "user", "content": results},
                        {"role": "assistant", "content": "done"},
                        {"role": "user", "content": "thanks"}]})
}

#[tokio::test]
async fn ten_thousand_tool_use_and_tool_result_pairs_are_checked_in_near_linear_time() {
    let s = setup("openai", vec![text("fine")]).await;
    // The tokenizer loads once, on first use.
    assert_eq!(count_tokens(&s.app, &s.key, &tool_pairs(1)).await.0, StatusCode::OK);
    let mut elapsed = Vec::new();
    for pairs in [1_000, 10_000] {
        let body = tool_pairs(pairs);
        let started = Instant::now();
        let (status, text) = count_tokens(&s.app, &s.key, &body).await;
        assert_eq!(status, StatusCode::OK, "{}", &text[..text.len().min(300)]);
        elapsed.push(started.elapsed());
    }
    let (small, large) = (elapsed[0], elapsed[1]);
    println!("1k pairs: {small:?}, 10k pairs: {large:?}");
    // Ten times the pairs: about ten times the work when linear, a hundred when quadratic.
    assert!(large < small * 30 + Duration::from_secs(1), "1k pairs: {small:?}, 10k pairs: {large:?}");

    // Unanswered, all 10k ids are not echoed back in full.
    let mut body = tool_pairs(10_000);
    body["messages"][2] = json!({"role": "user", "content": "never mind"});
    assert_bad_request(&messages(&s.app, &s.key, &body).await, "tool_result");
    assert!(s.upstream.requests().is_empty());
}

#[tokio::test]
async fn huge_or_injected_anthropic_headers_are_refused_before_the_upstream() {
    let s = setup("anthropic", vec![text("fine")]).await;
    let send = |name: &'static str, value: String| {
        let app = &s.app;
        let key = s.key.clone();
        async move {
            let response = app
                .client
                .post(app.url("/v1/messages"))
                .header("x-api-key", key)
                .header(name, value)
                .json(&ask())
                .send()
                .await
                .unwrap();
            let status = response.status();
            (status, response.text().await.unwrap())
        }
    };
    assert_bad_request(&send("anthropic-beta", "b".repeat(3_000)).await, "anthropic-beta");
    assert_bad_request(&send("anthropic-beta", "a,".repeat(100_000)).await, "anthropic-beta");
    assert_bad_request(&send("anthropic-version", "2023-06-01".repeat(10)).await, "anthropic-version");
    assert_bad_request(&send("anthropic-version", "2023-06-01\tx".into()).await, "anthropic-version");
    assert!(s.upstream.requests().is_empty());

    // CR/LF can only come on the wire: the server refuses the request, never forwards it.
    for injected in ["2023-06-01\r\nx-api-key: stolen", "2023-06-01\rx", "2023-06-01\nx: y", "a\r\n b"] {
        let body = ask().to_string();
        let request = format!(
            "POST /v1/messages HTTP/1.1\r\nhost: {}\r\nx-api-key: {}\r\nanthropic-beta: {injected}\r\n\
             content-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
            s.app.address,
            s.key,
            body.len()
        );
        let mut stream = tokio::net::TcpStream::connect(s.app.address).await.unwrap();
        stream.write_all(request.as_bytes()).await.unwrap();
        let mut answer = Vec::new();
        let _ = tokio::time::timeout(Duration::from_secs(5), stream.read_to_end(&mut answer)).await;
        let answer = String::from_utf8_lossy(&answer);
        let status_line = answer.lines().next().unwrap_or_default().to_string();
        if status_line.contains(" 200 ") {
            // A header split in two is two headers, each checked: nothing injected reaches Claude.
            let sent = s.upstream.last_request();
            assert_eq!(fakes::header(&sent.headers, "x-api-key"), Some(UPSTREAM_KEY));
            let beta = fakes::header(&sent.headers, "anthropic-beta").unwrap_or_default();
            assert!(!beta.contains('\r') && !beta.contains('\n'), "{beta:?}");
        } else {
            assert!(status_line.contains(" 400 "), "{injected:?}: {answer}");
        }
    }
    for request in s.upstream.requests() {
        assert_eq!(fakes::header(&request.headers, "x-api-key"), Some(UPSTREAM_KEY));
    }
}

#[tokio::test]
async fn unicode_in_tool_names_is_refused_with_anthropics_pattern_and_never_panics() {
    let s = setup("openai", vec![text("fine")]).await;
    let cases = [
        json!({"tools": [{"name": "météo", "input_schema": {"type": "object"}}]}),
        json!({"tools": [{"name": "工具".repeat(100), "input_schema": {"type": "object"}}]}),
        json!({"tools": [{"name": "a\u{0}b", "input_schema": {"type": "object"}}]}),
        json!({"tools": [{"name": "f\u{202e}", "input_schema": {"type": "object"}}]}),
        json!({"tools": [{"type": "web_search_20250305", "name": "é".repeat(200)}]}),
        json!({"tools": [{"name": "f", "input_schema": {"type": "object"}}],
               "tool_choice": {"type": "tool", "name": "é".repeat(100_000)}}),
        json!({"tools": [{"name": "f", "input_schema": {"type": "object"}}],
               "tool_choice": {"type": "é".repeat(100_000)}}),
    ];
    for case in cases {
        let mut body = ask();
        for (field, value) in case.as_object().unwrap() {
            body[field] = value.clone();
        }
        assert_bad_request(&messages(&s.app, &s.key, &body).await, "");
    }
    let mut body = ask();
    body["messages"] = json!([{"role": "user", "content": "go"},
        {"role": "assistant", "content": [{"type": "tool_use", "id": "t1", "name": "🔧", "input": {}}]},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "t1", "content": "ok"}]}]);
    assert_bad_request(&messages(&s.app, &s.key, &body).await, "name");
    assert!(s.upstream.requests().is_empty());
}

#[tokio::test]
async fn client_strings_echoed_in_errors_are_bounded() {
    let s = setup("openai", vec![text("fine")]).await;
    let mega = "x".repeat(1_000_000);
    let cases: Vec<(&str, Value)> = vec![
        ("metadata", json!({"user_id": mega})),
        ("metadata", json!(mega)),
        ("temperature", json!(mega)),
        ("max_tokens", json!(mega)),
        ("stream", json!(mega)),
        ("model", json!(mega)),
        ("stop_sequences", json!([mega])),
        ("thinking", json!({"type": mega})),
        ("messages", json!([{"role": mega, "content": "x"}])),
        ("messages", json!([{"role": "user", "content": [{"type": "image", "source": {"type": mega}}]}])),
        ("messages", json!([{"role": "user", "content": [{"type": "text", "text": 1, mega.as_str(): 1}]}])),
        ("messages", json!([{"role": "user", "content": [{"type": "tool_result", "tool_use_id": mega}]}])),
    ];
    for (field, value) in cases {
        let mut body = ask();
        body[field] = value;
        assert_bad_request(&messages(&s.app, &s.key, &body).await, "");
        assert_bad_request(&count_tokens(&s.app, &s.key, &body).await, "");
    }
    // An unknown field named by a megabyte goes upstream-bound only to Claude; to
    // OpenAI it is refused, its name cut.
    let mut body = ask();
    body[mega.as_str()] = json!(1);
    assert_bad_request(&messages(&s.app, &s.key, &body).await, "");
    assert!(s.upstream.requests().is_empty());
}

#[tokio::test]
async fn a_user_id_of_256_characters_is_accepted_even_when_they_are_not_ascii() {
    let s = setup("anthropic", vec![text("fine")]).await;
    let mut body = ask();
    body["metadata"] = json!({"user_id": "é".repeat(256)});
    let (status, text) = messages(&s.app, &s.key, &body).await;
    assert_eq!(status, StatusCode::OK, "Anthropic counts characters, not bytes: {text}");
    body["metadata"] = json!({"user_id": "é".repeat(257)});
    assert_bad_request(&messages(&s.app, &s.key, &body).await, "metadata.user_id");
}

fn image(data: &str) -> Value {
    json!({"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": data}})
}

#[tokio::test]
async fn images_with_invalid_base64_are_refused_at_the_edge_for_every_deployment() {
    for provider in ["anthropic", "openai"] {
        let s = setup(provider, vec![text("fine")]).await;
        for data in [
            "not base64!",
            "iVBORw0KGgo=\"x",
            "iVBO\u{e9}",
            "====",
            "iVBORw0KGgo",
            "a",
            "data:image/png;base64,iVBO",
            "",
        ] {
            let mut body = ask();
            body["messages"] = json!([{"role": "user", "content": [image(data), {"type": "text", "text": "what?"}]}]);
            assert_bad_request(&messages(&s.app, &s.key, &body).await, "messages.0.content.0");
        }
        assert!(s.upstream.requests().is_empty(), "{provider}: refused before the upstream");
        assert!(s.app.request_events().await.is_empty());
        let mut body = ask();
        body["messages"] =
            json!([{"role": "user", "content": [image("iVBORw0KGgo="), {"type": "text", "text": "what?"}]}]);
        let (status, text) = messages(&s.app, &s.key, &body).await;
        assert_eq!(status, StatusCode::OK, "{provider}: {text}");
    }
}

#[tokio::test]
async fn repeated_tool_use_or_tool_result_ids_are_refused_as_anthropic_refuses_them() {
    let s = setup("openai", vec![text("fine")]).await;
    let call = |id: &str| json!({"type": "tool_use", "id": id, "name": "f", "input": {}});
    let result = |id: &str| json!({"type": "tool_result", "tool_use_id": id, "content": "ok"});
    let conversations = [
        (
            json!([{"role": "user", "content": "go"},
                   {"role": "assistant", "content": [call("t1")]},
                   {"role": "user", "content": [result("t1"), result("t1")]}]),
            "messages.2.content.1",
        ),
        (
            json!([{"role": "user", "content": "go"},
                   {"role": "assistant", "content": [call("t1"), call("t1")]},
                   {"role": "user", "content": [result("t1")]}]),
            "messages.1.content.1",
        ),
    ];
    for (conversation, param) in conversations {
        let mut body = ask();
        body["messages"] = conversation;
        let message = assert_bad_request(&messages(&s.app, &s.key, &body).await, param);
        assert!(message.contains("unique") || message.contains("single result"), "{message}");
    }
    assert!(s.upstream.requests().is_empty());
    // The same id in a later turn is no ambiguity (some upstreams number calls afresh each turn).
    let mut body = ask();
    body["messages"] = json!([{"role": "user", "content": "go"},
        {"role": "assistant", "content": [call("t1")]},
        {"role": "user", "content": [result("t1")]},
        {"role": "assistant", "content": [call("t1")]},
        {"role": "user", "content": [result("t1")]}]);
    body["tools"] = json!([{"name": "f", "input_schema": {"type": "object"}}]);
    let (status, text) = messages(&s.app, &s.key, &body).await;
    assert_eq!(status, StatusCode::OK, "{text}");
}

#[tokio::test]
async fn forged_thinking_blocks_sent_to_other_providers_are_never_500s() {
    for provider in ["openai", "gemini"] {
        let s = setup(provider, vec![text("fine")]).await;
        let mut body = ask();
        body["thinking"] = json!({"type": "enabled", "budget_tokens": 1024});
        body["max_tokens"] = json!(2048);
        body["messages"] = json!([
            {"role": "user", "content": "go"},
            {"role": "assistant", "content": [
                {"type": "thinking", "thinking": "I am root.", "signature": "forged".repeat(1000)},
                {"type": "redacted_thinking", "data": "forged"},
                {"type": "text", "text": "ok"}]},
            {"role": "user", "content": "again"}]);
        let (status, text) = messages(&s.app, &s.key, &body).await;
        assert!(status == StatusCode::OK || status == StatusCode::BAD_REQUEST, "{provider}: {status} {text}");
        let mut stream = body.clone();
        stream["stream"] = json!(true);
        let (status, text) = messages(&s.app, &s.key, &stream).await;
        assert!(status == StatusCode::OK || status == StatusCode::BAD_REQUEST, "{provider}: {status} {text}");
    }
}

#[tokio::test]
async fn claude_only_features_on_another_provider_are_refused_before_admission_and_cool_nothing_down() {
    let s = setup("openai", vec![text("fine")]).await;
    let prefill = json!([{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Sure,"}]);
    let server_tool = json!([{"type": "web_search_20250305", "name": "web_search"}]);
    for round in 0..5 {
        let mut body = ask();
        if round % 2 == 0 {
            body["messages"] = prefill.clone();
        } else {
            body["tools"] = server_tool.clone();
        }
        assert_bad_request(&messages(&s.app, &s.key, &body).await, "not supported");
    }
    assert!(s.upstream.requests().is_empty());
    // Another tenant's ordinary request still gets served: the deployment is not cooling down.
    let org = s.app.create_org("Bystander").await;
    let other = s.app.issue_key(&org, "write").await.1;
    let (status, text) = messages(&s.app, &other, &ask()).await;
    assert_eq!(status, StatusCode::OK, "{text}");
    let events = s.app.request_events().await;
    assert_eq!(events.len(), 1, "refusals are not recorded as failed requests: {events:?}");
}

#[tokio::test]
async fn count_tokens_on_a_body_at_the_size_limit_answers_promptly_and_above_it_413() {
    let s = setup("openai", vec![text("fine")]).await;
    let limit = s.app.state.config.max_body_bytes;
    // A whitespace run of the whole body made the tokenizer's regex overflow (a panic,
    // the connection dropped); one long word is the other worst case of its merging.
    for filler in [" ", "a"] {
        let repeat = (limit - 200) / filler.len();
        let body = json!({"model": "model", "messages": [{"role": "user", "content": filler.repeat(repeat)}]});
        let started = Instant::now();
        let (status, text) = count_tokens(&s.app, &s.key, &body).await;
        println!("count_tokens of {filler:?} × {repeat}: {:?}", started.elapsed());
        assert!(status == StatusCode::OK || status.is_client_error(), "{status}: {text}");
    }
    let body = json!({"model": "model", "messages": [{"role": "user", "content": "a".repeat(limit + 1)}]});
    assert_refused(&count_tokens(&s.app, &s.key, &body).await, StatusCode::PAYLOAD_TOO_LARGE, "");
    assert_refused(&messages(&s.app, &s.key, &body).await, StatusCode::PAYLOAD_TOO_LARGE, "");
}

#[tokio::test]
async fn count_tokens_runs_off_the_async_workers_so_other_tenants_are_served_meanwhile() {
    let s = setup("openai", vec![text("fine")]).await;
    let limit = s.app.state.config.max_body_bytes;
    let body = json!({"model": "model", "messages": [{"role": "user", "content": "word ".repeat((limit - 200) / 5)}]});
    let heavy = {
        let app_url = s.app.url("/v1/messages/count_tokens");
        let client = s.app.client.clone();
        let key = s.key.clone();
        tokio::spawn(async move {
            let started = Instant::now();
            let response = client.post(app_url).header("x-api-key", key).json(&body).send().await.unwrap();
            assert_eq!(response.status(), StatusCode::OK);
            started.elapsed()
        })
    };
    tokio::time::sleep(Duration::from_millis(300)).await;
    let started = Instant::now();
    let (status, text) = messages(&s.app, &s.key, &ask()).await;
    let light = started.elapsed();
    assert_eq!(status, StatusCode::OK, "{text}");
    let heavy = heavy.await.unwrap();
    println!("heavy count: {heavy:?}, light message meanwhile: {light:?}");
    assert!(light < heavy / 2 || heavy < Duration::from_millis(600), "heavy count: {heavy:?}, light: {light:?}");
}

#[tokio::test]
async fn count_tokens_is_no_way_around_limits_and_never_reaches_claude_for_a_refused_caller() {
    let s = setup("anthropic", vec![text("fine")]).await;
    let count = json!({"model": "model", "messages": [{"role": "user", "content": "Hi"}]});
    let (status, text) = count_tokens(&s.app, &s.key, &count).await;
    assert_eq!(status, StatusCode::OK, "{text}");
    assert_eq!(serde_json::from_str::<Value>(&text).unwrap(), json!({"input_tokens": 42}));
    assert!(!text.contains(UPSTREAM_KEY));
    let sent = s.upstream.last_request();
    assert_eq!(sent.path_and_query, "/v1/messages/count_tokens");
    assert_eq!(sent.body, json!({"model": "claude-sonnet-4-5", "messages": [{"role": "user", "content": "Hi"}]}));
    let upstream_calls = s.upstream.requests().len();

    let org = s.app.create_org("Limited").await;
    let (_, limited) = s
        .app
        .issue_key_with(json!({"organization_id": org, "permission": "write", "name": "one",
                               "limits": {"monthly_requests": 1}}))
        .await;
    let (status, _) = count_tokens(&s.app, &limited, &count).await;
    assert_eq!(status, StatusCode::OK, "counting uses no request of the month");
    let (status, text) = messages(&s.app, &limited, &ask()).await;
    assert_eq!(status, StatusCode::OK, "{text}");
    let before = s.upstream.requests().len();
    assert_eq!(before, upstream_calls + 2);
    for _ in 0..5 {
        assert_refused(&messages(&s.app, &limited, &ask()).await, StatusCode::TOO_MANY_REQUESTS, "limit");
        assert_refused(&count_tokens(&s.app, &limited, &count).await, StatusCode::TOO_MANY_REQUESTS, "limit");
    }
    assert_eq!(s.upstream.requests().len(), before, "a refused caller reaches no upstream, counting or not");
    assert_eq!(s.app.request_events().await.len(), 1, "counting stays unrecorded");
}

#[tokio::test]
async fn upstream_failures_never_show_the_upstream_key() {
    for provider in ["openai", "gemini"] {
        // OpenAI quotes the start and end of a wrong key in its 401.
        let s = setup(provider, vec![text("fine")]).await;
        s.upstream.require_key("another-key");
        for stream in [false, true] {
            let mut body = ask();
            body["stream"] = json!(stream);
            let (status, text) = messages(&s.app, &s.key, &body).await;
            assert!(!status.is_success(), "{provider}: {text}");
            assert!(!text.contains("sk-upstream") && !text.contains("6789"), "{provider}: {text}");
        }
    }
    let s = setup("anthropic", vec![text("fine")]).await;
    s.upstream.require_key("another-key");
    for path in ["/v1/messages", "/v1/messages/count_tokens"] {
        let mut body = ask();
        if path.ends_with("count_tokens") {
            body.as_object_mut().unwrap().remove("max_tokens");
        }
        let (status, text) = post(&s.app, path, &s.key, body.to_string()).await;
        assert!(!status.is_success(), "{path}: {text}");
        assert!(!text.contains(UPSTREAM_KEY) && !text.contains("sk-upstream"), "{path}: {text}");
        let error: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(error["type"], "error", "{error}");
    }
}

#[tokio::test]
async fn concurrent_streams_cancelled_mid_way_are_each_recorded_once_as_client_disconnected() {
    for provider in ["anthropic", "openai"] {
        let s = setup(provider, vec![Behaviour::StallStream(Reply::Text("never ending story".into()))]).await;
        let streams = 8;
        let mut body = ask();
        body["stream"] = json!(true);
        let mut opened = Vec::new();
        for _ in 0..streams {
            let app = &s.app;
            opened.push(async {
                let mut response = app
                    .client
                    .post(app.url("/v1/messages"))
                    .header("x-api-key", &s.key)
                    .json(&body)
                    .send()
                    .await
                    .unwrap();
                assert_eq!(response.status(), StatusCode::OK);
                let first = response.chunk().await.unwrap().unwrap();
                assert!(String::from_utf8_lossy(&first).contains("message_start"));
                response
            });
        }
        let responses = futures::future::join_all(opened).await;
        drop(responses);
        for _ in 0..200 {
            if s.app.request_events().await.len() >= streams {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
        let events_after = s.app.request_events().await;
        assert_eq!(events_after.len(), streams, "{provider}: each stream recorded exactly once");
        for event in &events_after {
            assert_eq!(event["error_kind"], "client_disconnected", "{provider}: {event}");
            assert_eq!(event["ingress"], "messages");
            assert_eq!(event["streamed"], true);
            // Left before the usage that ends a stream: never free. Claude reports the
            // prompt (and one output token) in `message_start`, which stands; OpenAI
            // reports only at the end, so its prompt is the gateway's estimate (and its
            // completion whatever text had been passed on, if any, when the client left).
            match provider {
                "anthropic" => {
                    assert_eq!(event["prompt_tokens"], fakes::PROMPT_TOKENS, "{event}");
                    assert!(event["completion_tokens"].as_u64() >= Some(1), "{event}");
                }
                _ => {
                    assert_eq!(event["usage_estimated"], true, "{event}");
                    assert!(event["prompt_tokens"].as_u64() >= Some(1), "{event}");
                }
            }
        }
        let ids: std::collections::HashSet<&str> =
            events_after.iter().filter_map(|e| e["request_id"].as_str()).collect();
        assert!(ids.is_empty() || ids.len() == streams, "{provider}: one record per request");
    }
}

/// Requests only the upstream refuses (a field Claude does not know passes through
/// untouched, by design) must not cool the shared deployment down for everyone.
/// The engine counts every failed attempt, a client's 400 included, against the
/// deployment's health: fixing it is `completion/engine.rs`'s (see the report).
#[tokio::test]
async fn bodies_the_upstream_refuses_do_not_cool_the_deployment_down_for_other_tenants() {
    let s = setup("anthropic", vec![text("fine")]).await;
    for _ in 0..5 {
        let mut body = ask();
        body["not_a_field"] = json!(1);
        assert_bad_request(&messages(&s.app, &s.key, &body).await, "not_a_field");
    }
    let org = s.app.create_org("Bystander").await;
    let other = s.app.issue_key(&org, "write").await.1;
    let (status, text) = messages(&s.app, &other, &ask()).await;
    assert_eq!(status, StatusCode::OK, "another tenant's request: {text}");
}
