//! `POST /v1/messages` (Anthropic's Messages API) through the real server: natively
//! to an Anthropic deployment (the body passes through), by translation to OpenAI,
//! Gemini and echo deployments, streamed and not; Anthropic's error shapes and
//! status codes; recorded like any request, with its ingress.

use std::time::Duration;

use gaiarouter::gateway::providers::ProvidersConfig;
use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::fakes::{self, Behaviour, FakeUpstream, Reply};
use crate::helpers::{fake_upstream_providers, fresh_database, spawn_app_with, TestApp, UPSTREAM_KEY};

fn providers() -> ProvidersConfig {
    fake_upstream_providers()
}

struct Setup {
    app: TestApp,
    key: String,
    upstream: FakeUpstream,
}

/// A gateway with a route `model` to one fake upstream of `provider`.
async fn setup(provider: &str, script: Vec<Behaviour>) -> Setup {
    let app = spawn_app_with(&fresh_database().await, providers()).await;
    let (router, base_suffix, upstream_model): (fn(fakes::FakeState) -> axum::Router, &str, &str) = match provider {
        "anthropic" => (fakes::anthropic::router, "", "claude-sonnet-4-5"),
        "openai" => (fakes::openai::router, "/v1", "gpt-4o-mini"),
        "gemini-3" => (fakes::gemini::router, "", "gemini-3-pro-preview"),
        _ => (fakes::gemini::router, "", "gemini-2.5-flash"),
    };
    let provider = match provider {
        "gemini" | "gemini-3" => "google",
        other => other,
    };
    let upstream = FakeUpstream::start(router, script).await;
    app.single_deployment_route("model", provider, upstream_model, format!("{}{base_suffix}", upstream.origin)).await;
    let org = app.create_org("Messages").await;
    let key = app.issue_key(&org, "write").await.1;
    Setup { app, key, upstream }
}

fn text(reply: &str) -> Behaviour {
    Behaviour::Answer(Reply::Text(reply.into()))
}

fn weather_call() -> Behaviour {
    Behaviour::Answer(Reply::ToolCall { name: "get_weather".into(), arguments: json!({"city": "Paris"}) })
}

fn ask(stream: bool) -> Value {
    json!({"model": "model", "max_tokens": 256, "stream": stream,
           "system": [{"type": "text", "text": "Be brief.", "cache_control": {"type": "ephemeral"}}],
           "messages": [{"role": "user", "content": "Weather in Paris?"}],
           "tools": [{"name": "get_weather", "description": "Current weather",
                      "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}]})
}

/// Posts to `/v1/messages` the Anthropic way: `x-api-key` and `anthropic-version`.
async fn messages(app: &TestApp, key: &str, body: &Value) -> reqwest::Response {
    app.client
        .post(app.url("/v1/messages"))
        .header("x-api-key", key)
        .header("anthropic-version", "2023-06-01")
        .header("anthropic-beta", "interleaved-thinking-2025-05-14")
        .json(body)
        .send()
        .await
        .unwrap()
}

async fn json_answer(app: &TestApp, key: &str, body: &Value) -> (StatusCode, Value) {
    let response = messages(app, key, body).await;
    let status = response.status();
    (status, response.json().await.unwrap_or(Value::Null))
}

/// The events of a Messages stream: (event name, data).
async fn events(app: &TestApp, key: &str, body: &Value) -> (StatusCode, Vec<(String, Value)>) {
    let response = messages(app, key, body).await;
    let status = response.status();
    let text = response.text().await.unwrap();
    let mut out = Vec::new();
    let mut name = String::new();
    for line in text.lines() {
        if let Some(event) = line.strip_prefix("event:") {
            name = event.trim().to_string();
        } else if let Some(data) = line.strip_prefix("data:") {
            out.push((name.clone(), serde_json::from_str(data.trim()).unwrap()));
        }
    }
    (status, out)
}

fn names(events: &[(String, Value)]) -> Vec<&str> {
    events.iter().map(|(name, _)| name.as_str()).collect()
}

/// Every event's `type` is its name; the stream ends with message_delta, message_stop.
fn assert_well_formed(events: &[(String, Value)]) {
    for (name, data) in events {
        assert_eq!(data["type"], json!(name), "{name}: {data}");
    }
    let names = names(events);
    assert_eq!(names.first(), Some(&"message_start"), "{names:?}");
    assert_eq!(&names[names.len() - 2..], ["message_delta", "message_stop"], "{names:?}");
}

async fn wait_for_record(app: &TestApp) -> Value {
    for _ in 0..100 {
        if let Some(event) = app.request_events().await.pop() {
            return event;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("no request was recorded");
}

#[tokio::test]
async fn to_anthropic_the_body_passes_through_and_claudes_answer_comes_back_as_sent() {
    let s = setup("anthropic", vec![weather_call()]).await;
    let mut body = ask(false);
    body["metadata"] = json!({"user_id": "user_123"});
    body["thinking"] = json!({"type": "enabled", "budget_tokens": 1024});
    body["max_tokens"] = json!(2048);
    let (status, message) = json_answer(&s.app, &s.key, &body).await;
    assert_eq!(status, StatusCode::OK, "{message}");
    assert_eq!(message["type"], "message");
    assert_eq!(message["model"], "model", "clients see the model id they asked for");
    assert_eq!(message["stop_reason"], "tool_use");
    let tool_use = message["content"].as_array().unwrap().iter().find(|b| b["type"] == "tool_use").unwrap();
    assert_eq!(tool_use["input"], json!({"city": "Paris"}));

    let sent = s.upstream.last_request();
    let mut expected = body.clone();
    expected["model"] = json!("claude-sonnet-4-5");
    assert_eq!(sent.body, expected, "everything the client sent reaches Claude, only the model changes");
    assert_eq!(fakes::header(&sent.headers, "anthropic-beta"), Some("interleaved-thinking-2025-05-14"));
    assert_eq!(fakes::header(&sent.headers, "anthropic-version"), Some("2023-06-01"));
    assert_eq!(fakes::header(&sent.headers, "x-api-key"), Some(UPSTREAM_KEY), "the gateway's key, never the client's");

    let event = wait_for_record(&s.app).await;
    assert_eq!(event["ingress"], "messages");
    assert_eq!(event["deployment"], "model/only");
    assert_eq!(event["provider"], "anthropic");
    assert!(event["prompt_tokens"].as_u64().unwrap() > 0);
    // The request log (a projection) shows the ingress and filters by it.
    let mut shown = Value::Null;
    for _ in 0..100 {
        shown = s.app.get("/v1/logs?ingress=messages", &s.app.admin_token).await.body;
        if shown["data"].as_array().is_some_and(|rows| !rows.is_empty()) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(shown["data"][0]["ingress"], "messages", "{shown}");
    let other = s.app.get("/v1/logs?ingress=chat_completions", &s.app.admin_token).await;
    assert_eq!(other.body["data"], json!([]));
}

#[tokio::test]
async fn to_anthropic_a_stream_passes_through_event_by_event_and_is_recorded_with_its_usage() {
    let s = setup("anthropic", vec![weather_call()]).await;
    let (status, events) = events(&s.app, &s.key, &ask(true)).await;
    assert_eq!(status, StatusCode::OK);
    assert_well_formed(&events);
    assert!(names(&events).contains(&"content_block_start"));
    let json: String = events
        .iter()
        .filter(|(_, d)| d["delta"]["type"] == "input_json_delta")
        .map(|(_, d)| d["delta"]["partial_json"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(serde_json::from_str::<Value>(&json).unwrap(), json!({"city": "Paris"}));
    assert_eq!(events[0].1["message"]["model"], "model");
    let event = wait_for_record(&s.app).await;
    assert_eq!((event["ingress"].as_str(), event["streamed"].as_bool()), (Some("messages"), Some(true)));
    assert!(event["completion_tokens"].as_u64().unwrap() > 0);
}

#[tokio::test]
async fn to_openai_a_tool_call_is_translated_both_ways_streamed_and_not() {
    let s = setup("openai", vec![weather_call()]).await;
    let (status, message) = json_answer(&s.app, &s.key, &ask(false)).await;
    assert_eq!(status, StatusCode::OK, "{message}");
    assert_eq!(message["stop_reason"], "tool_use");
    let tool_use = message["content"].as_array().unwrap().iter().find(|b| b["type"] == "tool_use").unwrap().clone();
    assert_eq!(tool_use["input"], json!({"city": "Paris"}));
    assert!(message["usage"]["input_tokens"].as_u64().unwrap() > 0);
    let sent = s.upstream.last_request().body;
    assert_eq!(sent["model"], "gpt-4o-mini");
    assert_eq!(sent["tools"][0]["function"]["name"], "get_weather");
    assert_eq!(sent["messages"][0]["role"], "system");

    // The answer to the call goes back as a tool result; the stream carries the next call.
    let mut next = ask(true);
    next["messages"] = json!([
        {"role": "user", "content": "Weather in Paris?"},
        {"role": "assistant", "content": [tool_use.clone()]},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": tool_use["id"], "content": "18°C"}]}
    ]);
    let (status, events) = events(&s.app, &s.key, &next).await;
    assert_eq!(status, StatusCode::OK);
    assert_well_formed(&events);
    let sent = s.upstream.last_request().body;
    assert_eq!(sent["messages"][3]["role"], "tool");
    assert_eq!(sent["messages"][3]["tool_call_id"], tool_use["id"]);
    let delta = &events[events.len() - 2].1;
    assert_eq!(delta["delta"]["stop_reason"], "tool_use");
    assert!(delta["usage"]["output_tokens"].as_u64().unwrap() > 0);
    let recorded = s.app.request_events().await;
    assert!(recorded.iter().all(|e| e["ingress"] == "messages" && e["provider"] == "openai"));
}

#[tokio::test]
async fn to_gemini_and_echo_text_is_translated_streamed_and_not() {
    let s = setup("gemini", vec![text("Sunny in Paris")]).await;
    let (status, message) = json_answer(&s.app, &s.key, &ask(false)).await;
    assert_eq!(status, StatusCode::OK, "{message}");
    assert_eq!(message["content"][0], json!({"type": "text", "text": "Sunny in Paris"}));
    assert_eq!(message["stop_reason"], "end_turn");
    let (status, events) = events(&s.app, &s.key, &ask(true)).await;
    assert_eq!(status, StatusCode::OK);
    assert_well_formed(&events);
    let streamed: String = events.iter().filter_map(|(_, d)| d["delta"]["text"].as_str()).collect::<Vec<_>>().join("");
    assert_eq!(streamed, "Sunny in Paris");

    let mut echo = ask(false);
    echo["model"] = json!("echo/claude");
    echo["tools"] = json!([]);
    let (status, message) = json_answer(&s.app, &s.key, &echo).await;
    assert_eq!(status, StatusCode::OK, "{message}");
    assert_eq!(message["model"], "echo/claude");
    assert!(message["content"][0]["text"].as_str().unwrap().contains("Weather in Paris?"));
}

#[tokio::test]
async fn bad_input_is_answered_as_anthropic_answers_it() {
    let s = setup("openai", vec![text("never")]).await;
    let cases = [
        (json!({"model": "model", "messages": [{"role": "user", "content": "hi"}]}), "max_tokens"),
        (json!({"model": "model", "max_tokens": 10, "messages": []}), "messages"),
        (
            json!({"model": "model", "max_tokens": 10, "messages": [
                {"role": "user", "content": "hi"},
                {"role": "assistant", "content": "hello"},
                {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_missing", "content": "x"}]}]}),
            "tool_use_id",
        ),
        (
            json!({"model": "model", "max_tokens": 10, "messages": [{"role": "user", "content": "hi"}],
                   "tools": [{"type": "web_search_20250305", "name": "web_search"}]}),
            "web_search_20250305",
        ),
    ];
    for (body, mentioned) in cases {
        let (status, error) = json_answer(&s.app, &s.key, &body).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}: {error}");
        assert_eq!(error["type"], "error", "{error}");
        assert_eq!(error["error"]["type"], "invalid_request_error", "{error}");
        assert!(error["error"]["message"].as_str().unwrap().contains(mentioned), "{mentioned}: {error}");
    }
    let response = s
        .app
        .client
        .post(s.app.url("/v1/messages"))
        .header("x-api-key", &s.key)
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let error: Value = response.json().await.unwrap();
    assert_eq!(error["error"]["type"], "invalid_request_error");
    assert!(s.upstream.requests().is_empty(), "nothing bad reaches the upstream");
}

#[tokio::test]
async fn auth_limits_and_unknown_models_fail_with_anthropics_types_and_statuses() {
    let s = setup("anthropic", vec![text("hi")]).await;
    let body = ask(false);
    let (status, error) = json_answer(&s.app, "gr-nope", &body).await;
    assert_eq!((status, error["error"]["type"].as_str()), (StatusCode::UNAUTHORIZED, Some("authentication_error")));
    let anonymous = s.app.client.post(s.app.url("/v1/messages")).json(&body).send().await.unwrap();
    assert_eq!(anonymous.status(), StatusCode::UNAUTHORIZED);
    // Bearer works too (OpenAI-style clients).
    let bearer = s.app.client.post(s.app.url("/v1/messages")).bearer_auth(&s.key).json(&body).send().await.unwrap();
    assert_eq!(bearer.status(), StatusCode::OK);

    let mut unknown = body.clone();
    unknown["model"] = json!("nobody/nothing");
    let (status, error) = json_answer(&s.app, &s.key, &unknown).await;
    assert_eq!((status, error["error"]["type"].as_str()), (StatusCode::NOT_FOUND, Some("not_found_error")));

    let org = s.app.create_org("Limited").await;
    let (_, limited) = s
        .app
        .issue_key_with(json!({"organization_id": org, "permission": "write",
        "name": "one", "limits": {"monthly_requests": 1}}))
        .await;
    let (status, _) = json_answer(&s.app, &limited, &body).await;
    assert_eq!(status, StatusCode::OK);
    let refused = messages(&s.app, &limited, &body).await;
    // A monthly limit holds until the month ends: the SDKs are told not to retry at once.
    assert_eq!(refused.headers().get("x-should-retry").and_then(|v| v.to_str().ok()), Some("false"));
    let wait: u64 = refused.headers()["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=31 * 86_400).contains(&wait), "{wait}");
    let (status, error) = (refused.status(), refused.json::<Value>().await.unwrap());
    assert_eq!((status, error["error"]["type"].as_str()), (StatusCode::TOO_MANY_REQUESTS, Some("rate_limit_error")));

    s.upstream.set_script(vec![Behaviour::Fail { status: 529, message: "Overloaded".into() }]);
    let (status, error) = json_answer(&s.app, &s.key, &body).await;
    assert_eq!((status.as_u16(), error["error"]["type"].as_str()), (529, Some("overloaded_error")), "{error}");

    s.upstream.set_script(vec![Behaviour::RateLimited { retry_after_secs: 1 }]);
    let (status, error) = json_answer(&s.app, &s.key, &body).await;
    assert_eq!((status, error["error"]["type"].as_str()), (StatusCode::TOO_MANY_REQUESTS, Some("rate_limit_error")));
}

#[tokio::test]
async fn an_upstream_failure_mid_stream_ends_with_an_error_event_and_no_message_stop() {
    let s = setup("openai", vec![Behaviour::ErrorMidStream(Reply::Text("partial answer".into()))]).await;
    let (status, events) = events(&s.app, &s.key, &ask(true)).await;
    assert_eq!(status, StatusCode::OK);
    let names = names(&events);
    assert_eq!(names.last(), Some(&"error"), "{names:?}");
    assert!(!names.contains(&"message_stop"), "{names:?}");
    let event = wait_for_record(&s.app).await;
    assert_eq!(event["status"], "error");
}

#[tokio::test]
async fn count_tokens_counts_locally_for_openai_deployments() {
    let s = setup("openai", vec![text("never")]).await;
    let count = |text: &str| {
        let body = json!({"model": "model", "messages": [{"role": "user", "content": text}]});
        let app = &s.app;
        let key = s.key.clone();
        async move {
            let response = app
                .client
                .post(app.url("/v1/messages/count_tokens"))
                .header("x-api-key", key)
                .json(&body)
                .send()
                .await
                .unwrap();
            assert_eq!(response.status(), StatusCode::OK);
            response.json::<Value>().await.unwrap()["input_tokens"].as_u64().unwrap()
        }
    };
    let short = count("Hello world").await;
    let long = count(&"Hello world ".repeat(50)).await;
    assert_eq!(short, 3 + 3 + 2, "OpenAI's framing and o200k_base");
    assert!(long > short + 90);
    assert!(s.upstream.requests().is_empty());
    assert_eq!(s.app.request_events().await.len(), 0, "counting is free and unrecorded");
}

/// The assistant message a Messages stream carries, rebuilt the way the Anthropic
/// SDKs accumulate it (blocks by index; tool input from its `input_json_delta`s).
fn accumulate(events: &[(String, Value)]) -> Value {
    let mut blocks: Vec<Value> = Vec::new();
    let mut partial: Vec<String> = Vec::new();
    let mut stop_reason = Value::Null;
    for (name, data) in events {
        match name.as_str() {
            "content_block_start" => {
                blocks.push(data["content_block"].clone());
                partial.push(String::new());
            }
            "content_block_delta" => {
                let index = data["index"].as_u64().unwrap() as usize;
                let delta = &data["delta"];
                match delta["type"].as_str().unwrap() {
                    "text_delta" => {
                        let text = blocks[index]["text"].as_str().unwrap_or_default().to_string();
                        blocks[index]["text"] = json!(text + delta["text"].as_str().unwrap());
                    }
                    "input_json_delta" => partial[index].push_str(delta["partial_json"].as_str().unwrap()),
                    "thinking_delta" => {
                        let text = blocks[index]["thinking"].as_str().unwrap_or_default().to_string();
                        blocks[index]["thinking"] = json!(text + delta["thinking"].as_str().unwrap());
                    }
                    "signature_delta" => blocks[index]["signature"] = delta["signature"].clone(),
                    other => panic!("unexpected delta {other}"),
                }
            }
            "content_block_stop" => {
                let index = data["index"].as_u64().unwrap() as usize;
                if blocks[index]["type"] == "tool_use" && !partial[index].is_empty() {
                    blocks[index]["input"] = serde_json::from_str(&partial[index]).unwrap();
                }
            }
            "message_delta" => stop_reason = data["delta"]["stop_reason"].clone(),
            _ => {}
        }
    }
    json!({"role": "assistant", "content": blocks, "stop_reason": stop_reason})
}

/// A client's tool loop: every turn the model calls `get_weather`, the client answers
/// with a `tool_result` for each call, 20 times, streamed and not in turn; the ids
/// (and, where the provider needs them, thinking blocks or thought signatures) go
/// back as the answer gave them, and the upstream accepts every turn.
async fn twenty_turn_tool_loop(provider: &str, thinking: bool) {
    let turns = 20;
    let mut script = vec![weather_call(); turns];
    script.push(text("Done: sunny all week."));
    let s = setup(provider, script).await;
    let mut conversation = vec![json!({"role": "user", "content": "Weather in Paris, every day?"})];
    for turn in 0..=turns {
        let stream = turn % 2 == 1;
        let mut body = ask(stream);
        body["messages"] = json!(conversation);
        if thinking {
            body["thinking"] = json!({"type": "enabled", "budget_tokens": 1024});
            body["max_tokens"] = json!(4096);
        }
        let message = if stream {
            let (status, events) = events(&s.app, &s.key, &body).await;
            assert_eq!(status, StatusCode::OK, "{provider} turn {turn}: {events:?}");
            assert_well_formed(&events);
            accumulate(&events)
        } else {
            let (status, message) = json_answer(&s.app, &s.key, &body).await;
            assert_eq!(status, StatusCode::OK, "{provider} turn {turn}: {message}");
            message
        };
        let content = message["content"].as_array().unwrap().clone();
        if turn == turns {
            assert_eq!(message["stop_reason"], "end_turn", "{provider}: {message}");
            let text: String = content.iter().filter_map(|b| b["text"].as_str()).collect();
            assert_eq!(text, "Done: sunny all week.");
            break;
        }
        assert_eq!(message["stop_reason"], "tool_use", "{provider} turn {turn}: {message}");
        let calls: Vec<&Value> = content.iter().filter(|b| b["type"] == "tool_use").collect();
        assert_eq!(calls.len(), 1, "{provider} turn {turn}: {message}");
        assert_eq!(calls[0]["input"], json!({"city": "Paris"}));
        if thinking {
            assert_eq!(content[0]["type"], "thinking", "{provider}: thinking comes first: {message}");
        }
        let results: Vec<Value> = calls
            .iter()
            .map(|call| json!({"type": "tool_result", "tool_use_id": call["id"], "content": format!("day {turn}: 18°C")}))
            .collect();
        conversation.push(json!({"role": "assistant", "content": content}));
        conversation.push(json!({"role": "user", "content": results}));
    }
    let recorded = s.app.request_events().await;
    assert_eq!(recorded.len(), turns + 1);
    assert!(recorded.iter().all(|e| e["status"] == "success" && e["ingress"] == "messages"));
    assert_eq!(s.upstream.requests().len(), turns + 1, "every turn reached the upstream once and was accepted");
}

#[tokio::test]
async fn a_20_turn_tool_loop_with_thinking_works_natively_on_anthropic() {
    twenty_turn_tool_loop("anthropic", true).await;
}

#[tokio::test]
async fn a_20_turn_tool_loop_works_translated_onto_openai() {
    twenty_turn_tool_loop("openai", false).await;
}

#[tokio::test]
async fn a_20_turn_tool_loop_works_translated_onto_gemini_3_with_its_thought_signatures() {
    twenty_turn_tool_loop("gemini-3", false).await;
}

#[tokio::test]
async fn requests_a_deployment_cannot_take_do_not_cool_it_down_for_everyone_else() {
    let s = setup("openai", vec![text("still here")]).await;
    let cool = json!({"cooldown_after_failures": 1, "cooldown_seconds": 600});
    let routes = s.app.get("/v1/routes", &s.app.admin_token).await;
    let id = routes.body["data"][0]["id"].as_str().unwrap().to_string();
    let patched = s.app.patch(&format!("/v1/routes/{id}"), &s.app.admin_token, cool).await;
    assert!(patched.status.is_success(), "{}", patched.body);
    let mut server_tool = ask(false);
    server_tool["tools"] = json!([{"type": "web_search_20250305", "name": "web_search"}]);
    for _ in 0..5 {
        let (status, error) = json_answer(&s.app, &s.key, &server_tool).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{error}");
    }
    let (status, message) = json_answer(&s.app, &s.key, &ask(false)).await;
    assert_eq!(status, StatusCode::OK, "the deployment still serves: {message}");
}

#[tokio::test]
async fn a_claude_only_request_on_a_mixed_route_goes_to_its_claude_deployment() {
    let app = spawn_app_with(&fresh_database().await, providers()).await;
    let openai = FakeUpstream::start(fakes::openai::router, vec![text("from gpt")]).await;
    let claude = FakeUpstream::start(fakes::anthropic::router, vec![text("from claude")]).await;
    // GPT first by priority; Claude behind it.
    let route = json!({"name": "model", "deployments": [
        {"id": "gpt", "provider": "openai", "model": "gpt-4o-mini", "base_url": format!("{}/v1", openai.origin), "priority": 0},
        {"id": "claude", "provider": "anthropic", "model": "claude-sonnet-4-5", "base_url": claude.origin, "priority": 1}]});
    assert_eq!(app.post("/v1/routes", &app.admin_token, route).await.status, StatusCode::CREATED);
    let org = app.create_org("Mixed").await;
    let key = app.issue_key(&org, "write").await.1;

    let mut server_tool = ask(false);
    server_tool["tools"] = json!([{"type": "web_search_20250305", "name": "web_search", "max_uses": 1}]);
    for _ in 0..3 {
        let (status, message) = json_answer(&app, &key, &server_tool).await;
        assert_eq!(status, StatusCode::OK, "{message}");
        assert_eq!(message["content"][0]["text"], "from claude");
    }
    assert!(openai.requests().is_empty(), "GPT cannot take it and is never called");
    let (status, message) = json_answer(&app, &key, &ask(false)).await;
    assert_eq!(status, StatusCode::OK, "{message}");
    assert_eq!(message["content"][0]["text"], "from gpt", "a plain request still goes to GPT first");
    let recorded = app.request_events().await;
    assert_eq!(recorded.len(), 4);
    for event in &recorded[..3] {
        assert_eq!(event["deployment"], "model/claude");
        assert_eq!(event["attempts"].as_array().unwrap().len(), 1, "the skipped deployment is no attempt: {event}");
    }
}

#[tokio::test]
async fn code_execution_is_refused_because_its_container_hours_cannot_be_metered() {
    let s = setup("anthropic", vec![text("never")]).await;
    let mut tool = ask(false);
    tool["tools"] = json!([{"type": "code_execution_20250825", "name": "code_execution"}]);
    let mut container = ask(false);
    container["container"] = json!("container_011");
    for body in [tool, container] {
        let (status, error) = json_answer(&s.app, &s.key, &body).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{error}");
        assert!(error["error"]["message"].as_str().unwrap().contains("container-hour"), "{error}");
    }
    assert!(s.upstream.requests().is_empty());
    assert!(s.app.request_events().await.is_empty(), "refused before admission");
}

#[tokio::test]
async fn other_methods_and_paths_under_messages_answer_in_anthropics_shape() {
    let s = setup("anthropic", vec![text("never")]).await;
    let get = s.app.client.get(s.app.url("/v1/messages")).header("x-api-key", &s.key).send().await.unwrap();
    assert_eq!(get.status(), StatusCode::METHOD_NOT_ALLOWED);
    let body: Value = get.json().await.unwrap();
    assert_eq!((body["type"].as_str(), body["error"]["type"].as_str()), (Some("error"), Some("api_error")));
    let batches = s
        .app
        .client
        .post(s.app.url("/v1/messages/batches"))
        .header("x-api-key", &s.key)
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(batches.status(), StatusCode::NOT_FOUND);
    let body: Value = batches.json().await.unwrap();
    assert_eq!(body["error"]["type"], "not_found_error", "{body}");
    assert!(s.upstream.requests().is_empty());
}
