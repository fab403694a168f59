//! A client's 20-turn tool loop through `POST /v1/chat/completions` on each provider,
//! through the real server: every turn the model calls `get_weather`, the client sends
//! back the assistant message as it got it (tool-call ids, and where the provider needs
//! them thinking blocks or thought signatures) with a tool result, streamed and not in
//! turn; the strict fakes refuse any turn that lost what the provider requires. The
//! same loop through `/v1/messages` is in `messages.rs`.

use std::collections::BTreeMap;

use gaiarouter::gateway::providers::ProvidersConfig;
use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::fakes::{self, Behaviour, FakeUpstream, Reply};
use crate::helpers::{fake_upstream_providers, fresh_database, spawn_app_with};

fn providers() -> ProvidersConfig {
    fake_upstream_providers()
}

/// The assistant message of an OpenAI stream, rebuilt as the OpenAI SDKs do (tool
/// calls by index), keeping GaiaRouter's `reasoning_content` and `thinking_blocks`.
fn accumulate(chunks: &[Value]) -> Value {
    let mut content = String::new();
    let mut reasoning = String::new();
    let mut thinking_blocks: Vec<Value> = Vec::new();
    let mut calls: BTreeMap<u64, Value> = BTreeMap::new();
    let mut finish = Value::Null;
    for chunk in chunks {
        let Some(choice) = chunk["choices"].get(0) else { continue };
        let delta = &choice["delta"];
        content.push_str(delta["content"].as_str().unwrap_or_default());
        reasoning.push_str(delta["reasoning_content"].as_str().unwrap_or_default());
        thinking_blocks.extend(delta["thinking_blocks"].as_array().cloned().unwrap_or_default());
        for piece in delta["tool_calls"].as_array().into_iter().flatten() {
            let call = calls
                .entry(piece["index"].as_u64().unwrap())
                .or_insert_with(|| json!({"id": "", "type": "function", "function": {"name": "", "arguments": ""}}));
            if let Some(id) = piece["id"].as_str() {
                call["id"] = json!(id);
            }
            if let Some(name) = piece["function"]["name"].as_str() {
                call["function"]["name"] = json!(name);
            }
            let arguments = call["function"]["arguments"].as_str().unwrap().to_string();
            call["function"]["arguments"] =
                json!(arguments + piece["function"]["arguments"].as_str().unwrap_or_default());
        }
        if !choice["finish_reason"].is_null() {
            finish = choice["finish_reason"].clone();
        }
    }
    let mut message = json!({"role": "assistant", "content": content});
    if !calls.is_empty() {
        message["tool_calls"] = json!(calls.into_values().collect::<Vec<_>>());
    }
    if !reasoning.is_empty() {
        message["reasoning_content"] = json!(reasoning);
    }
    if !thinking_blocks.is_empty() {
        message["thinking_blocks"] = json!(thinking_blocks);
    }
    json!({"message": message, "finish_reason": finish})
}

async fn twenty_turn_tool_loop(provider: &str, upstream_model: &str, reasoning: bool) {
    let app = spawn_app_with(&fresh_database().await, providers()).await;
    let (router, suffix): (fn(fakes::FakeState) -> axum::Router, &str) = match provider {
        "anthropic" => (fakes::anthropic::router, ""),
        "openai" => (fakes::openai::router, "/v1"),
        _ => (fakes::gemini::router, ""),
    };
    let turns = 20;
    let mut script =
        vec![
            Behaviour::Answer(Reply::ToolCall { name: "get_weather".into(), arguments: json!({"city": "Paris"}) });
            turns
        ];
    script.push(Behaviour::Answer(Reply::Text("Sunny all week.".into())));
    let upstream = FakeUpstream::start(router, script).await;
    app.single_deployment_route("loop", provider, upstream_model, format!("{}{suffix}", upstream.origin)).await;
    let org = app.create_org("Loops").await;
    let key = app.issue_key(&org, "write").await.1;

    let tools = json!([{"type": "function", "function": {"name": "get_weather", "description": "Current weather",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}}]);
    let mut messages = vec![json!({"role": "user", "content": "Weather in Paris, every day?"})];
    for turn in 0..=turns {
        let stream = turn % 2 == 1;
        let mut body = json!({"model": "loop", "messages": messages, "tools": tools, "max_tokens": 4096});
        if reasoning {
            body["reasoning_effort"] = json!("low");
        }
        let (message, finish) = if stream {
            body["stream"] = json!(true);
            let (status, data) = app.chat_stream(&key, body).await;
            assert_eq!(status, StatusCode::OK, "{provider} turn {turn}: {data:?}");
            assert_eq!(data.last().map(String::as_str), Some("[DONE]"), "{provider} turn {turn}: {data:?}");
            let chunks: Vec<Value> = data[..data.len() - 1].iter().map(|d| serde_json::from_str(d).unwrap()).collect();
            let all = accumulate(&chunks);
            (all["message"].clone(), all["finish_reason"].clone())
        } else {
            let answer = app.chat(&key, body).await;
            assert_eq!(answer.status, StatusCode::OK, "{provider} turn {turn}: {}", answer.body);
            (answer.body["choices"][0]["message"].clone(), answer.body["choices"][0]["finish_reason"].clone())
        };
        if turn == turns {
            assert_eq!(finish, "stop", "{provider}: {message}");
            assert_eq!(message["content"], "Sunny all week.");
            break;
        }
        assert_eq!(finish, "tool_calls", "{provider} turn {turn}: {message}");
        let calls = message["tool_calls"].as_array().unwrap().clone();
        assert_eq!(calls.len(), 1, "{provider} turn {turn}: {message}");
        let arguments: Value = serde_json::from_str(calls[0]["function"]["arguments"].as_str().unwrap()).unwrap();
        assert_eq!(arguments, json!({"city": "Paris"}));
        if reasoning {
            assert!(message["thinking_blocks"].is_array(), "{provider}: signed thinking comes back: {message}");
        }
        messages.push(message);
        messages.push(json!({"role": "tool", "tool_call_id": calls[0]["id"], "content": format!("day {turn}: 18°C")}));
    }
    let recorded = app.request_events().await;
    assert_eq!(recorded.len(), turns + 1);
    assert!(recorded.iter().all(|e| e["status"] == "success" && e["ingress"] == "chat_completions"));
    assert_eq!(upstream.requests().len(), turns + 1, "every turn reached the upstream once and was accepted");
}

#[tokio::test]
async fn a_20_turn_chat_tool_loop_with_thinking_works_on_anthropic() {
    twenty_turn_tool_loop("anthropic", "claude-sonnet-4-5", true).await;
}

#[tokio::test]
async fn a_20_turn_chat_tool_loop_works_on_openai() {
    twenty_turn_tool_loop("openai", "gpt-4o-mini", false).await;
}

#[tokio::test]
async fn a_20_turn_chat_tool_loop_works_on_gemini_3_with_its_thought_signatures() {
    twenty_turn_tool_loop("google", "gemini-3-pro-preview", false).await;
}
