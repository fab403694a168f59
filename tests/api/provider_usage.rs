//! Usage through the real server: whatever figures a provider reports, in its own
//! spelling (Anthropic's cache reads and writes apart from input, Gemini's thoughts
//! apart from candidates), the client and the recorded event get the same prompt,
//! completion and cached counts, and the cost is priced on them.

use std::time::Duration;

use gaiarouter::gateway::providers::{ApiKey, ProvidersConfig, Timeouts, Upstream};
use gaiarouter::gateway::registry::TokenCounts;
use gaiarouter::gateway::ModelRegistry;
use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::fakes::{self, Behaviour, FakeUpstream, Reply, Tokens};
use crate::helpers::{fresh_database, spawn_app_with, user_message};

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
    let key = Some(ApiKey::new("upstream-key").unwrap());
    let upstream = |origin: String| Some(Upstream { base_url: origin, api_key: key.clone() });
    let providers = ProvidersConfig {
        openai: upstream(format!("{}/v1", fakes[0].origin)),
        openrouter: upstream(format!("{}/v1", fakes[1].origin)),
        anthropic: upstream(fakes[2].origin.clone()),
        gemini: upstream(fakes[3].origin.clone()),
        custom: Vec::new(),
        timeouts: Timeouts {
            connect: Duration::from_secs(2),
            total: Duration::from_secs(10),
            idle: Duration::from_secs(10),
        },
    };
    let app = spawn_app_with(&fresh_database().await, providers).await;
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
