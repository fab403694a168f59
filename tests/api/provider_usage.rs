//! Usage through the real server: whatever figures a provider reports, in its own
//! spelling (Anthropic's cache reads and writes apart from input, Gemini's thoughts
//! apart from candidates), the client and the recorded event get the same prompt,
//! completion and cached counts, and the cost is priced on them.

use gaiarouter::gateway::registry::TokenCounts;
use gaiarouter::gateway::ModelRegistry;
use gaiarouter_domain::request::{MAX_RECORDED_COST_NANOS, MAX_RECORDED_TOKENS};
use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::fakes::{self, Behaviour, FakeUpstream, Reply, Tokens};
use crate::helpers::{four_providers_at, fresh_database, serve_router, spawn_app_with, user_message};

const MODELS: [&str; 4] = [
    "openai/gpt-4o-mini",
    "openrouter/anthropic/claude-sonnet-4.5",
    "anthropic/claude-sonnet-4-5",
    "google/gemini-2.5-flash",
];

/// Different for every call, so that no figure can come from a default or an earlier call.
fn tokens(call: u64) -> Tokens {
    Tokens {
        prompt: 20_000 + call * 1_111,
        completion: 900 + call * 37,
        cached: 15_000 + call,
        reasoning: 300,
        cache_write: 2_000,
    }
}

#[tokio::test]
async fn every_provider_reports_the_exact_prompt_completion_and_cached_tokens_to_client_and_event() {
    // Each fake answers 2 calls (plain, then streamed) with the figures of its 2 calls.
    let script = |first: u64| {
        vec![
            Behaviour::AnswerWith(Reply::Text("Réponse complète 日本 🦀".into()), tokens(first)),
            Behaviour::AnswerWith(Reply::Text("Réponse en flux 日本 🦀".into()), tokens(first + 1)),
        ]
    };
    let fakes = [
        FakeUpstream::start(fakes::openai::router, script(0)).await,
        FakeUpstream::start(fakes::openai::openrouter_router, script(2)).await,
        FakeUpstream::start(fakes::anthropic::router, script(4)).await,
        FakeUpstream::start(fakes::gemini::router, script(6)).await,
    ];
    let app = spawn_app_with(
        &fresh_database().await,
        four_providers_at(fakes.each_ref().map(|fake| fake.origin.as_str()), "upstream-key"),
    )
    .await;
    let org = app.create_org("Usage Org").await;
    let (_, client_key) = app.issue_key(&org, "write").await;

    let mut expected = Vec::new();
    for (i, model) in MODELS.iter().enumerate() {
        let (plain, streamed) = (tokens(2 * i as u64), tokens(2 * i as u64 + 1));
        let answer = app.chat(&client_key, json!({"model": model, "messages": user_message("Hi")})).await;
        assert_eq!(answer.status, StatusCode::OK, "{model}: {}", answer.body);
        assert_eq!(answer.body["choices"][0]["message"]["content"], "Réponse complète 日本 🦀");
        assert_usage(model, &answer.body["usage"], plain);

        let (status, data) = app
            .chat_stream(&client_key, json!({"model": model, "stream": true, "stream_options": {"include_usage": true}, "messages": user_message("Hi")}))
            .await;
        assert_eq!(status, StatusCode::OK, "{model}");
        assert_eq!(data.last().map(String::as_str), Some("[DONE]"), "{model}: {data:?}");
        let chunks: Vec<Value> = data[..data.len() - 1].iter().map(|d| serde_json::from_str(d).unwrap()).collect();
        let text: String = chunks.iter().filter_map(|c| c["choices"][0]["delta"]["content"].as_str()).collect();
        assert_eq!(text, "Réponse en flux 日本 🦀", "{model}");
        assert_usage(model, &chunks.last().unwrap()["usage"], streamed);
        expected.extend([(model, plain), (model, streamed)]);
    }

    let events = app.request_events().await;
    assert_eq!(events.len(), expected.len());
    let registry = ModelRegistry::new();
    for (event, (model, tokens)) in events.iter().zip(expected) {
        let recorded = (&event["prompt_tokens"], &event["completion_tokens"], &event["cached_tokens"]);
        assert_eq!(
            recorded,
            (&json!(tokens.prompt), &json!(tokens.completion), &json!(tokens.cached)),
            "{model}: {event}"
        );
        // Anthropic reports cache writes apart (the others fold them into the prompt);
        // they are recorded and priced at Claude's write price.
        let cache_write = if model.starts_with("anthropic/") { tokens.cache_write } else { 0 };
        // Zero counts are left out of the payload.
        assert_eq!(event["cache_write_tokens"].as_u64().unwrap_or(0), cache_write, "{model}: {event}");
        let price = registry.resolve(model).unwrap().price;
        let counts = TokenCounts {
            prompt: tokens.prompt,
            completion: tokens.completion,
            cached: tokens.cached,
            cache_write,
            cache_write_1h: event["cache_write_1h_tokens"].as_u64().unwrap_or(0),
            web_searches: 0,
        };
        assert_eq!(event["cost"], json!(price.cost_of(&counts).nanos()), "{model}: priced on the exact figures");
    }
}

fn assert_usage(model: &str, usage: &Value, tokens: Tokens) {
    assert_eq!(usage["prompt_tokens"], json!(tokens.prompt), "{model}: {usage}");
    assert_eq!(usage["completion_tokens"], json!(tokens.completion), "{model}: {usage}");
    assert_eq!(usage["total_tokens"], json!(tokens.prompt + tokens.completion), "{model}: {usage}");
    assert_eq!(usage["prompt_tokens_details"]["cached_tokens"], json!(tokens.cached), "{model}: {usage}");
}

/// What a lying (or glitching) upstream reports, below `u64::MAX` only because the
/// fakes add prompt and completion themselves.
const LIE: u64 = i64::MAX as u64;

/// An upstream answering with absurd usage (every provider, plain and streamed) is
/// recorded at the bound of one answer's figures; the organization's counters,
/// rollups and later requests carry on. Before the bound, the first lie put the
/// organization's counters at `i64::MAX` and every later request of it failed as
/// not recorded, for good in the `total` window.
#[tokio::test]
async fn an_upstream_reporting_absurd_usage_is_recorded_at_the_bound_and_the_organization_carries_on() {
    let lie = Tokens { prompt: LIE, completion: LIE, cached: 0, reasoning: 0, cache_write: 0 };
    let script = || {
        vec![
            Behaviour::AnswerWith(Reply::Text("lie".into()), lie),
            Behaviour::AnswerWith(Reply::Text("lie again".into()), lie),
        ]
    };
    let fakes = [
        FakeUpstream::start(fakes::openai::router, script()).await,
        FakeUpstream::start(fakes::openai::openrouter_router, script()).await,
        FakeUpstream::start(fakes::anthropic::router, script()).await,
        FakeUpstream::start(fakes::gemini::router, script()).await,
    ];
    let app = spawn_app_with(
        &fresh_database().await,
        four_providers_at(fakes.each_ref().map(|fake| fake.origin.as_str()), "upstream-key"),
    )
    .await;
    let org = app.create_org("Lied To").await;
    let (key_id, client_key) = app.issue_key(&org, "write").await;

    for model in MODELS {
        let answer = app.chat(&client_key, json!({"model": model, "messages": user_message("Hi")})).await;
        assert_eq!(answer.status, StatusCode::OK, "{model}: {}", answer.body);
        // The client is shown what the upstream said; the bound is the record's.
        assert_eq!(answer.body["usage"]["prompt_tokens"], json!(LIE), "{model}: {}", answer.body);
        let (status, data) =
            app.chat_stream(&client_key, json!({"model": model, "stream": true, "messages": user_message("Hi")})).await;
        assert_eq!(status, StatusCode::OK, "{model}");
        assert_eq!(data.last().map(String::as_str), Some("[DONE]"), "{model}: {data:?}");
    }
    let honest = app.chat(&client_key, json!({"model": "echo/after", "messages": user_message("still here")})).await;
    assert_eq!(honest.status, StatusCode::OK, "{}", honest.body);

    let events = app.request_events().await;
    assert_eq!(events.len(), 2 * MODELS.len() + 1);
    let registry = ModelRegistry::new();
    let bounded =
        TokenCounts { prompt: MAX_RECORDED_TOKENS, completion: MAX_RECORDED_TOKENS, ..TokenCounts::default() };
    for (event, model) in events.iter().zip(MODELS.iter().flat_map(|model| [model, model])) {
        assert_eq!(event["prompt_tokens"], json!(MAX_RECORDED_TOKENS), "{event}");
        assert_eq!(event["completion_tokens"], json!(MAX_RECORDED_TOKENS), "{event}");
        let price = registry.resolve(model).unwrap().price;
        let cost = price.cost_of(&bounded).nanos().min(MAX_RECORDED_COST_NANOS);
        assert_eq!(event["cost"], json!(cost), "{model}: priced on the bound, at most the bound of a cost");
    }
    let tokens: i64 =
        events.iter().map(|e| e["prompt_tokens"].as_i64().unwrap() + e["completion_tokens"].as_i64().unwrap()).sum();
    let cost: i64 = events.iter().map(|e| e["cost"].as_i64().unwrap()).sum();

    for path in [format!("/v1/organizations/{org}"), format!("/v1/api-keys/{key_id}")] {
        let owner = app.get(&path, &app.admin_token).await;
        assert_eq!(owner.status, StatusCode::OK, "{}", owner.body);
        let total = &owner.body["usage"]["periods"]["total"];
        assert_eq!(total["requests"], json!(events.len()), "{path}: {total}");
        assert_eq!(total["tokens"], json!(tokens), "{path}: {total}");
    }
    app.wait_for_projections().await;
    assert_eq!(app.scalar("SELECT count(*) FROM projection_quarantine").await, 0);
    let stats = app.get(&format!("/v1/organizations/{org}/stats?group_by=model"), &app.admin_token).await;
    assert_eq!(stats.status, StatusCode::OK, "{}", stats.body);
    assert_eq!(stats.body["summary"]["total_tokens"], json!(tokens), "{}", stats.body);
    assert_eq!(stats.body["summary"]["cost_nanos"], json!(cost), "{}", stats.body);
}

/// An OpenAI-compatible server that reports no usage (`"usage": null`, as some
/// self-hosted servers and proxies answer), plain and streamed: the request is
/// recorded at the gateway's estimate (the prompt as admission estimates it, the
/// answer's text at 4 bytes a token), marked as estimated in the event and the
/// request log, priced, and counted against the key's token limit. Before, it was
/// recorded as zero tokens and zero cost: free, whatever the limits said.
#[tokio::test]
async fn an_upstream_reporting_no_usage_is_recorded_at_the_gateways_estimate_and_counted() {
    let reply = "estimate me ".repeat(100);
    let options = fakes::openai::Options { usage: Some(Value::Null), ..Default::default() };
    let script = vec![Behaviour::Answer(Reply::Text(reply.clone())), Behaviour::Answer(Reply::Text(reply.clone()))];
    let fake = fakes::openai::start(fakes::openai::Flavour::OpenAi, options, script).await;
    let origin = fake.origin.as_str();
    let app = spawn_app_with(&fresh_database().await, four_providers_at([origin; 4], "upstream-key")).await;
    let org = app.create_org("Unreported").await;
    let body = json!({"organization_id": org, "name": "limited", "permission": "write",
                      "limits": {"monthly_tokens": 1_000_000}});
    let (key_id, client_key) = app.issue_key_with(body).await;
    // 4,000 bytes of prompt: 1,000 tokens and one of framing, as admission estimates.
    let prompt = "p".repeat(4_000);
    let (prompt_estimate, completion_estimate) = (1_001, reply.len().div_ceil(4) as u64);

    let answer = app.chat(&client_key, json!({"model": MODELS[0], "messages": user_message(&prompt)})).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
    let (status, data) = app
        .chat_stream(
            &client_key,
            json!({"model": MODELS[0], "stream": true, "stream_options": {"include_usage": true},
                   "messages": user_message(&prompt)}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(data.last().map(String::as_str), Some("[DONE]"), "{data:?}");

    let events = app.request_events().await;
    assert_eq!(events.len(), 2);
    let price = ModelRegistry::new().resolve(MODELS[0]).unwrap().price;
    let estimate = TokenCounts { prompt: prompt_estimate, completion: completion_estimate, ..TokenCounts::default() };
    for event in &events {
        assert_eq!(event["status"], "success", "{event}");
        assert_eq!(event["prompt_tokens"], json!(prompt_estimate), "{event}");
        assert_eq!(event["completion_tokens"], json!(completion_estimate), "{event}");
        assert_eq!(event["usage_estimated"], json!(true), "{event}");
        assert_eq!(event["cost"], json!(price.cost_of(&estimate).nanos()), "priced on the estimate: {event}");
    }
    let key = app.get(&format!("/v1/api-keys/{key_id}"), &app.admin_token).await;
    let total = &key.body["usage"]["periods"]["total"];
    assert_eq!(total["tokens"], json!(2 * (prompt_estimate + completion_estimate)), "{}", key.body);
    app.wait_for_projections().await;
    let logs = app.get(&format!("/v1/logs?api_key_id={key_id}"), &app.admin_token).await;
    let rows = logs.body["data"].as_array().unwrap();
    assert_eq!(rows.len(), 2, "{}", logs.body);
    assert!(rows.iter().all(|row| row["usage_estimated"] == json!(true)), "{}", logs.body);
}

/// An upstream that reports its usage gets it recorded as reported, not estimated.
#[tokio::test]
async fn reported_usage_is_not_marked_as_estimated() {
    let fake = FakeUpstream::start(fakes::openai::router, vec![Behaviour::Answer(Reply::Text("hi".into()))]).await;
    let origin = fake.origin.as_str();
    let app = spawn_app_with(&fresh_database().await, four_providers_at([origin; 4], "upstream-key")).await;
    let org = app.create_org("Reported").await;
    let (key_id, client_key) = app.issue_key(&org, "write").await;
    let answer = app.chat(&client_key, json!({"model": MODELS[0], "messages": user_message("Hi")})).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
    let events = app.request_events().await;
    assert_eq!(events[0]["prompt_tokens"], answer.body["usage"]["prompt_tokens"]);
    assert!(events[0].get("usage_estimated").is_none(), "written only when true: {}", events[0]);
    app.wait_for_projections().await;
    let logs = app.get(&format!("/v1/logs?api_key_id={key_id}"), &app.admin_token).await;
    assert_eq!(logs.body["data"][0]["usage_estimated"], json!(false), "{}", logs.body);
}

/// An Anthropic-type upstream that reports no usage (`"usage": {}` in a message, no
/// usage in `message_delta`) is estimated like an OpenAI one sending `"usage": null`,
/// on every path: chat completions translated, plain and streamed, and Anthropic's
/// Messages API passed through, plain and streamed. A stream's `message_start` count
/// of one output token is Anthropic's placeholder, not a report of the answer.
#[tokio::test]
async fn an_anthropic_upstream_reporting_no_usage_is_estimated_on_every_path() {
    const TEXT_BYTES: usize = 1_000;
    let text = "word ".repeat(TEXT_BYTES / 5);
    let upstream = axum::Router::new().fallback(move |axum::Json(request): axum::Json<Value>| {
        let text = text.clone();
        async move {
            use axum::response::IntoResponse;
            if request["stream"] != json!(true) {
                return axum::Json(json!({"id": "msg_1", "type": "message", "role": "assistant",
                    "model": "claude-sonnet-4-5", "content": [{"type": "text", "text": text}],
                    "stop_reason": "end_turn", "stop_sequence": null, "usage": {}}))
                .into_response();
            }
            let events = [
                (
                    "message_start",
                    json!({"type": "message_start", "message": {"id": "msg_1", "type": "message",
                    "role": "assistant", "model": "claude-sonnet-4-5", "content": [], "stop_reason": null,
                    "stop_sequence": null, "usage": {"input_tokens": 30, "output_tokens": 1}}}),
                ),
                (
                    "content_block_start",
                    json!({"type": "content_block_start", "index": 0,
                    "content_block": {"type": "text", "text": ""}}),
                ),
                (
                    "content_block_delta",
                    json!({"type": "content_block_delta", "index": 0,
                    "delta": {"type": "text_delta", "text": text}}),
                ),
                ("content_block_stop", json!({"type": "content_block_stop", "index": 0})),
                (
                    "message_delta",
                    json!({"type": "message_delta", "delta": {"stop_reason": "end_turn", "stop_sequence": null}}),
                ),
                ("message_stop", json!({"type": "message_stop"})),
            ];
            let body: String = events.iter().map(|(name, data)| format!("event: {name}\ndata: {data}\n\n")).collect();
            ([(axum::http::header::CONTENT_TYPE, "text/event-stream")], body).into_response()
        }
    });
    let origin = serve_router(upstream).await;
    let app = spawn_app_with(&fresh_database().await, crate::helpers::fake_upstream_providers()).await;
    app.single_deployment_route("quiet-claude", "anthropic", "claude-sonnet-4-5", origin).await;
    let org = app.create_org("Quiet Claude").await;
    let (_, client_key) = app.issue_key(&org, "write").await;

    let asked = |stream: bool| json!({"model": "quiet-claude", "stream": stream, "max_tokens": 500, "messages": user_message("Hi")});
    assert_eq!(app.chat(&client_key, asked(false)).await.status, StatusCode::OK);
    let (status, _) = app.chat_stream(&client_key, asked(true)).await;
    assert_eq!(status, StatusCode::OK);
    for stream in [false, true] {
        let answer = app
            .client
            .post(app.url("/v1/messages"))
            .header("x-api-key", &client_key)
            .header("anthropic-version", "2023-06-01")
            .json(&asked(stream))
            .send()
            .await
            .unwrap();
        assert_eq!(answer.status(), StatusCode::OK);
        answer.bytes().await.unwrap();
    }
    let events = app.request_events().await;
    assert_eq!(events.len(), 4);
    let completion_estimate = json!(TEXT_BYTES.div_ceil(4));
    for event in &events {
        assert_eq!(event["status"], "success", "{event}");
        assert_eq!(event["usage_estimated"], json!(true), "{event}");
        assert_eq!(event["completion_tokens"], completion_estimate, "{event}");
        assert!(event["prompt_tokens"].as_u64() > Some(0), "{event}");
        if event["streamed"] == json!(true) {
            assert_eq!(event["prompt_tokens"], json!(30), "message_start's input count stands: {event}");
        }
    }
}
