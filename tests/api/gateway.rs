//! The completion path through the real server: every provider's wire format via
//! fake upstreams, recording of every call, and bad input.

use std::time::Duration;

use gaiarouter::gateway::providers::{ApiKey, ProvidersConfig, Timeouts, Upstream};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::fakes::{self, Behaviour, FakeUpstream, Reply, COMPLETION_TOKENS, PROMPT_TOKENS};
use crate::helpers::{fresh_database, spawn_app, spawn_app_with, user_message, TestApp};

/// An upstream fake per wire format and a gateway whose providers point at them.
struct Upstreams {
    openai: FakeUpstream,
    anthropic: FakeUpstream,
    gemini: FakeUpstream,
}

async fn gateway_with(script: Vec<Behaviour>) -> (TestApp, Upstreams, String) {
    let upstreams = Upstreams {
        openai: FakeUpstream::start(fakes::openai::router, script.clone()).await,
        anthropic: FakeUpstream::start(fakes::anthropic::router, script.clone()).await,
        gemini: FakeUpstream::start(fakes::gemini::router, script).await,
    };
    let key = Some(ApiKey::new("upstream-key").unwrap());
    let providers = ProvidersConfig {
        openai: Some(Upstream { base_url: format!("{}/v1", upstreams.openai.origin), api_key: key.clone() }),
        openrouter: Some(Upstream { base_url: format!("{}/v1", upstreams.openai.origin), api_key: key.clone() }),
        anthropic: Some(Upstream { base_url: upstreams.anthropic.origin.clone(), api_key: key.clone() }),
        gemini: Some(Upstream { base_url: upstreams.gemini.origin.clone(), api_key: key }),
        custom: Vec::new(),
        timeouts: Timeouts {
            connect: Duration::from_secs(2),
            total: Duration::from_millis(1500),
            idle: Duration::from_millis(800),
            stream: Duration::from_millis(1500),
        },
    };
    let app = spawn_app_with(&fresh_database().await, providers).await;
    let org = app.create_org("Gateway Org").await;
    let (_, key) = app.issue_key(&org, "write").await;
    (app, upstreams, key)
}

const MODELS: [&str; 4] = [
    "openai/gpt-4o-mini",
    "openrouter/anthropic/claude-sonnet-4.5",
    "anthropic/claude-sonnet-4-5",
    "google/gemini-2.5-flash",
];

#[tokio::test]
async fn every_provider_answers_through_the_gateway_and_each_call_is_recorded() {
    let (app, upstreams, key) = gateway_with(vec![Behaviour::Answer(Reply::Text("Hello from upstream".into()))]).await;
    for model in MODELS {
        let answer = app
            .chat(&key, json!({"model": model, "messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"}]}))
            .await;
        assert_eq!(answer.status, StatusCode::OK, "{model}: {}", answer.body);
        assert_eq!(answer.body["object"], "chat.completion");
        assert_eq!(answer.body["model"], model, "the client's model id is answered");
        assert_eq!(answer.body["choices"][0]["message"]["content"], "Hello from upstream");
        assert_eq!(answer.body["usage"]["prompt_tokens"], json!(PROMPT_TOKENS));
        assert_eq!(answer.body["usage"]["completion_tokens"], json!(COMPLETION_TOKENS));
    }
    // Translated upstream: the system prompt went where each provider wants it.
    assert_eq!(upstreams.anthropic.last_request().body["system"], json!("Be brief."));
    assert!(upstreams.gemini.last_request().body["systemInstruction"].is_object());
    assert_eq!(
        upstreams.openai.requests().last().unwrap().body["model"],
        "anthropic/claude-sonnet-4.5",
        "openrouter/ prefix stripped"
    );

    let events = app.request_events().await;
    assert_eq!(events.len(), MODELS.len());
    let providers: Vec<&str> = events.iter().map(|e| e["provider"].as_str().unwrap()).collect();
    assert_eq!(providers, ["openai", "openrouter", "anthropic", "google"]);
    for event in &events {
        assert_eq!(event["status"], "success");
        assert_eq!(event["prompt_tokens"], json!(PROMPT_TOKENS));
        assert_eq!(event["streamed"], json!(false));
        assert!(event["latency_ms"].is_u64());
    }
    let openai_cost = events[0]["cost"].as_i64().unwrap();
    assert!(openai_cost > 0, "a priced model costs something: {}", events[0]);

    let models = app.get("/v1/models", &key).await;
    let listed = models.body["data"].as_array().unwrap();
    let gpt = listed.iter().find(|m| m["id"] == "openai/gpt-4o-mini").expect("configured providers' models are listed");
    assert!(gpt["pricing"]["input_per_million"].as_f64().unwrap() > 0.0);
    assert!(listed.iter().any(|m| m["id"].as_str().unwrap().starts_with("anthropic/")));
}

#[tokio::test]
async fn streams_end_with_usage_and_done_only_after_the_event_is_committed() {
    let (app, _upstreams, key) = gateway_with(vec![Behaviour::Answer(Reply::Text("one two three".into()))]).await;
    for model in MODELS {
        let (status, data) = app
            .chat_stream(&key, json!({"model": model, "stream": true, "stream_options": {"include_usage": true}, "messages": user_message("Hi")}))
            .await;
        assert_eq!(status, StatusCode::OK, "{model}");
        assert_eq!(data.last().unwrap(), "[DONE]", "{model}: {data:?}");
        let chunks: Vec<Value> = data[..data.len() - 1].iter().map(|d| serde_json::from_str(d).unwrap()).collect();
        assert!(chunks.iter().all(|c| c["object"] == "chat.completion.chunk" && c["model"] == model));
        let text: String = chunks.iter().filter_map(|c| c["choices"][0]["delta"]["content"].as_str()).collect();
        assert_eq!(text, "one two three", "{model}");
        let usage = &chunks.last().unwrap()["usage"];
        assert_eq!(usage["completion_tokens"], json!(COMPLETION_TOKENS), "{model}: {chunks:?}");
    }
    // Without include_usage no usage chunk is sent, yet usage is recorded.
    let (_, data) =
        app.chat_stream(&key, json!({"model": MODELS[2], "stream": true, "messages": user_message("Hi")})).await;
    assert!(data.iter().all(|d| !d.contains("\"usage\"")), "{data:?}");
    let events = app.request_events().await;
    assert_eq!(events.len(), MODELS.len() + 1);
    assert!(events.iter().all(|e| e["streamed"] == json!(true) && e["completion_tokens"] == json!(COMPLETION_TOKENS)));
    assert!(events.iter().all(|e| e["time_to_first_token_ms"].is_u64()));
}

#[tokio::test]
async fn upstream_failures_keep_their_status_class_and_are_recorded() {
    let cases = [
        (
            Behaviour::Fail { status: 400, message: "bad things".into() },
            StatusCode::BAD_REQUEST,
            "upstream_client_error",
        ),
        (
            Behaviour::Fail { status: 429, message: "slow down".into() },
            StatusCode::TOO_MANY_REQUESTS,
            "upstream_rate_limited",
        ),
        (Behaviour::Fail { status: 500, message: "boom".into() }, StatusCode::BAD_GATEWAY, "upstream_server_error"),
        (Behaviour::Hang, StatusCode::GATEWAY_TIMEOUT, "upstream_timeout"),
    ];
    for (behaviour, expected, kind) in cases {
        let (app, _upstreams, key) = gateway_with(vec![behaviour]).await;
        for model in MODELS {
            let started = std::time::Instant::now();
            let answer = app.chat(&key, json!({"model": model, "messages": user_message("Hi")})).await;
            assert_eq!(answer.status, expected, "{model}: {}", answer.body);
            assert_eq!(answer.error_code(), kind, "{model}");
            assert!(started.elapsed() < Duration::from_secs(5), "never a hang");
        }
        let events = app.request_events().await;
        assert_eq!(events.len(), MODELS.len());
        assert!(events
            .iter()
            .all(|e| e["status"] == "error" && e["error_kind"] == kind && e["http_status"] == expected.as_u16()));
    }
}

#[tokio::test]
async fn a_stream_cut_mid_way_ends_with_an_error_event_and_is_recorded_as_failed() {
    let (app, _upstreams, key) =
        gateway_with(vec![Behaviour::CutStream(Reply::Text("partial answer here".into()))]).await;
    for model in MODELS {
        let (status, data) =
            app.chat_stream(&key, json!({"model": model, "stream": true, "messages": user_message("Hi")})).await;
        assert_eq!(status, StatusCode::OK, "{model}");
        let error: Value = serde_json::from_str(&data[data.len() - 2]).unwrap();
        assert_eq!(error["error"]["code"], "upstream_stream_cut", "{model}: {data:?}");
        assert_eq!(data.last().unwrap(), "[DONE]");
    }
    let events = app.request_events().await;
    assert_eq!(events.len(), MODELS.len());
    assert!(events.iter().all(|e| e["status"] == "error" && e["error_kind"] == "upstream_stream_cut"));
}

#[tokio::test]
async fn tools_round_trip_through_the_gateway() {
    let (app, upstreams, key) = gateway_with(vec![Behaviour::Answer(Reply::ToolCall {
        name: "get_weather".into(),
        arguments: json!({"city": "Paris"}),
    })])
    .await;
    let tools = json!([{"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}}]);
    let answer = app
        .chat(
            &key,
            json!({"model": "anthropic/claude-sonnet-4-5", "messages": user_message("Weather?"), "tools": tools}),
        )
        .await;
    assert_eq!(answer.body["choices"][0]["finish_reason"], "tool_calls");
    let call = &answer.body["choices"][0]["message"]["tool_calls"][0];
    assert_eq!(call["function"]["name"], "get_weather");
    let follow_up = json!([
        {"role": "user", "content": "Weather?"},
        {"role": "assistant", "content": null, "tool_calls": [call]},
        {"role": "tool", "tool_call_id": call["id"], "content": "{\"temp\": 21}"}
    ]);
    let second =
        app.chat(&key, json!({"model": "anthropic/claude-sonnet-4-5", "messages": follow_up, "tools": tools})).await;
    assert_eq!(second.status, StatusCode::OK);
    let sent = upstreams.anthropic.last_request().body;
    assert_eq!(sent["messages"][2]["content"][0]["type"], "tool_result");
    assert_eq!(sent["messages"][2]["content"][0]["tool_use_id"], call["id"]);
}

#[tokio::test]
async fn the_echo_model_answers_streams_and_lists_models() {
    let app = spawn_app().await;
    let org = app.create_org("Echoes").await;
    let (_, key) = app.issue_key(&org, "read").await;
    let answer = app.chat(&key, json!({"model": "echo/anything", "messages": user_message("say this back")})).await;
    assert_eq!(answer.body["choices"][0]["message"]["content"], "say this back");
    let (_, data) =
        app.chat_stream(&key, json!({"model": "echo/x", "stream": true, "messages": user_message("a b c")})).await;
    let words: Vec<String> = data
        .iter()
        .filter_map(|d| serde_json::from_str::<Value>(d).ok())
        .filter_map(|c| c["choices"][0]["delta"]["content"].as_str().map(str::to_string))
        .filter(|w| !w.is_empty())
        .collect();
    assert_eq!(words, ["a ", "b ", "c"]);
    let models = app.get("/v1/models", &key).await;
    assert_eq!(models.body["object"], "list");
    assert!(models.body["data"].as_array().unwrap().iter().any(|m| m["id"] == "echo/demo"));
    assert_eq!(app.get("/v1/models", "gr-nope-nope").await.status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn bad_chat_input_is_a_4xx_in_openai_shape_and_records_nothing() {
    let app = spawn_app().await;
    let org = app.create_org("Careless").await;
    let (_, key) = app.issue_key(&org, "write").await;
    let huge = "x".repeat(9 * 1024 * 1024);
    let cases = vec![
        ("no model", app.chat(&key, json!({"messages": user_message("hi")})).await),
        ("empty model", app.chat(&key, json!({"model": "", "messages": user_message("hi")})).await),
        ("unknown model", app.chat(&key, json!({"model": "nobody/model", "messages": user_message("hi")})).await),
        (
            "unconfigured provider",
            app.chat(&key, json!({"model": "anthropic/claude-sonnet-4-5", "messages": user_message("hi")})).await,
        ),
        ("empty messages", app.chat(&key, json!({"model": "echo/x", "messages": []})).await),
        ("messages not an array", app.chat(&key, json!({"model": "echo/x", "messages": "hi"})).await),
        (
            "bad role",
            app.chat(&key, json!({"model": "echo/x", "messages": [{"role": "wizard", "content": "hi"}]})).await,
        ),
        (
            "wrong type",
            app.chat(&key, json!({"model": "echo/x", "messages": user_message("hi"), "temperature": "hot"})).await,
        ),
        (
            "malformed JSON",
            app.send_raw(Method::POST, "/v1/chat/completions", &key, "application/json", b"{\"model\":".to_vec()).await,
        ),
        (
            "huge body",
            app.send_raw(
                Method::POST,
                "/v1/chat/completions",
                &key,
                "application/json",
                format!("{{\"model\":\"echo/x\",\"messages\":[{{\"role\":\"user\",\"content\":\"{huge}\"}}]}}")
                    .into_bytes(),
            )
            .await,
        ),
        ("no key", app.chat("", json!({"model": "echo/x", "messages": user_message("hi")})).await),
        (
            "wrong key",
            app.chat(
                "gr-AAAAAAAAAAAA-BBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBB",
                json!({"model": "echo/x", "messages": user_message("hi")}),
            )
            .await,
        ),
    ];
    for (what, answer) in cases {
        assert!(answer.status.is_client_error(), "{what}: {} {}", answer.status, answer.body);
        assert!(answer.body["error"]["type"].is_string(), "{what}: {}", answer.body);
        assert!(!answer.error_code().is_empty(), "{what}");
    }
    // Refused before any provider: no completed request (each is recorded as a refusal, see refusals.rs).
    assert_eq!(app.scalar("SELECT count(*) FROM events WHERE event_type = 'RequestCompleted'").await, 0);
}

#[tokio::test]
async fn revoked_rotated_expired_and_suspended_keys_are_refused_by_the_gateway() {
    let app = spawn_app().await;
    let org = app.create_org("Gatekeepers").await;
    let body = json!({"model": "echo/x", "messages": user_message("hi")});
    let (key_id, key) = app.issue_key(&org, "read").await;
    assert_eq!(app.chat(&key, body.clone()).await.status, StatusCode::OK);

    let rotated = app.post(&format!("/v1/api-keys/{key_id}/rotate"), &app.admin_token, json!({})).await;
    let new_key = rotated.body["key"].as_str().unwrap().to_string();
    assert_eq!(app.chat(&key, body.clone()).await.status, StatusCode::UNAUTHORIZED, "rotated-out secret");
    assert_eq!(app.chat(&new_key, body.clone()).await.status, StatusCode::OK);

    app.patch(&format!("/v1/organizations/{org}"), &app.admin_token, json!({"status": "suspended"})).await;
    assert_eq!(app.chat(&new_key, body.clone()).await.status, StatusCode::FORBIDDEN);
    app.patch(&format!("/v1/organizations/{org}"), &app.admin_token, json!({"status": "active"})).await;
    assert_eq!(app.chat(&new_key, body.clone()).await.status, StatusCode::OK);

    app.delete(&format!("/v1/api-keys/{key_id}"), &app.admin_token).await;
    assert_eq!(app.chat(&new_key, body.clone()).await.status, StatusCode::UNAUTHORIZED, "revoked");

    let expiry = chrono::Utc::now() + chrono::Duration::seconds(3);
    let (_, expiring) = app
        .issue_key_with(json!({"organization_id": org, "name": "brief", "permission": "read", "expires_at": expiry}))
        .await;
    let status = app.chat(&expiring, body.clone()).await.status;
    assert!(chrono::Utc::now() >= expiry || status == StatusCode::OK, "{status} before expiry");
    crate::helpers::sleep_past(expiry).await;
    assert_eq!(app.chat(&expiring, body.clone()).await.status, StatusCode::UNAUTHORIZED, "expired");

    app.delete(&format!("/v1/organizations/{org}"), &app.admin_token).await;
    let (_, other) = app.issue_key(&app.create_org("Elsewhere").await, "read").await;
    assert_eq!(app.chat(&other, body).await.status, StatusCode::OK);
}
