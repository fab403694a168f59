//! Issue 10, fix 9: pass-through fidelity for OpenAI-format upstreams (OpenAI,
//! OpenRouter, any OpenAI-compatible server). What the client sends reaches the upstream
//! as sent (custom tools, `allowed_tools`, unknown fields of parts, messages and tools,
//! `reasoning_effort`), and what the upstream answers reaches the client as answered
//! (custom tool calls, `reasoning_content`, every usage detail), streamed or not, also
//! from servers that stream tool-call pieces without `index`.

use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use gaiarouter::gateway::openai::{
    validate, ChatCompletion, ChatCompletionChunk, ChatCompletionRequest, ChatMessage, CompletionAccumulator,
    CompletionTokensDetails, PromptTokensDetails, Usage,
};
use gaiarouter::gateway::providers::{Provider, ProviderError};
use serde_json::{json, Value};

use crate::fakes::openai::{self, Flavour, Options};
use crate::fakes::{Behaviour, FakeUpstream, Reply};
use crate::subjects::{provider_for, Kind, API_KEY};

/// Every provider that speaks OpenAI's format upstream.
const KINDS: [Kind; 3] = [Kind::OpenAi, Kind::OpenRouter, Kind::CustomOpenAiCompatible];

/// Longer than any configured timeout: a case that reaches it has hung.
const NEVER: Duration = Duration::from_secs(10);

struct Upstream {
    provider: Arc<dyn Provider>,
    fake: FakeUpstream,
    model: &'static str,
}

async fn upstream(kind: Kind, options: Options) -> Upstream {
    let flavour = if kind == Kind::OpenRouter { Flavour::OpenRouter } else { Flavour::OpenAi };
    let script = vec![Behaviour::Answer(Reply::Text("scripted messages come first".into()))];
    let fake = openai::start(flavour, options, script).await;
    fake.require_key(API_KEY);
    let model = match kind {
        Kind::OpenRouter => "openai/gpt-5",
        Kind::CustomOpenAiCompatible => "Qwen/Qwen3-8B",
        _ => "gpt-5",
    };
    Upstream { provider: provider_for(kind, &fake.origin), fake, model }
}

impl Upstream {
    async fn complete(&self, request: &ChatCompletionRequest) -> ChatCompletion {
        tokio::time::timeout(NEVER, self.provider.complete(request, self.model))
            .await
            .expect("complete() hung")
            .unwrap()
    }

    async fn stream(&self, request: &ChatCompletionRequest) -> Vec<ChatCompletionChunk> {
        let mut request = request.clone();
        request.stream = Some(true);
        let call = async {
            let chunks = self.provider.stream(&request, self.model).await?;
            Ok::<_, ProviderError>(chunks.collect::<Vec<_>>().await)
        };
        let items = tokio::time::timeout(NEVER, call).await.expect("stream() hung").unwrap();
        items.into_iter().map(|item| item.expect("an error item in a stream that should succeed")).collect()
    }

    /// The body the fake upstream received last.
    fn received(&self) -> Value {
        self.fake.last_request().body
    }
}

/// A request as a client sends it: parsed from its JSON and checked like the chat route does.
fn client_request(body: Value) -> ChatCompletionRequest {
    let request: ChatCompletionRequest = serde_json::from_value(body).unwrap();
    validate(&request).unwrap();
    request
}

fn accumulate(chunks: &[ChatCompletionChunk]) -> ChatCompletion {
    let mut all = CompletionAccumulator::new();
    chunks.iter().for_each(|chunk| all.push(chunk));
    all.finish()
}

fn custom_tools() -> Value {
    json!([
        {"type": "function", "function": {"name": "get_weather", "description": "Weather in a city",
            "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"],
                           "additionalProperties": false},
            "strict": true}},
        {"type": "custom", "custom": {"name": "run_sql", "description": "Runs one SQL statement",
            "format": {"type": "grammar", "grammar": {"syntax": "lark", "definition": "start: \"SELECT\" /.+/"}}}},
        {"type": "custom", "custom": {"name": "free_text"}}
    ])
}

#[tokio::test]
async fn forwards_custom_tools_and_every_tool_choice_shape_as_sent() {
    let choices = [
        json!({"type": "allowed_tools", "allowed_tools": {"mode": "auto",
            "tools": [{"type": "function", "function": {"name": "get_weather"}}, {"type": "custom", "custom": {"name": "run_sql"}}]}}),
        json!({"type": "allowed_tools", "allowed_tools": {"mode": "required", "tools": [{"type": "custom", "custom": {"name": "run_sql"}}]}}),
        json!({"type": "custom", "custom": {"name": "run_sql"}}),
        json!({"type": "function", "function": {"name": "get_weather"}}),
        json!("required"),
    ];
    for kind in KINDS {
        let upstream = upstream(kind, Options::default()).await;
        for (n, choice) in choices.iter().enumerate() {
            let request = client_request(json!({
                "model": "client/alias", "messages": [{"role": "user", "content": "count the users"}],
                "tools": custom_tools(), "tool_choice": choice, "parallel_tool_calls": false
            }));
            if n % 2 == 0 {
                upstream.complete(&request).await;
            } else {
                upstream.stream(&request).await;
            }
            let body = upstream.received();
            assert_eq!(body["tools"], custom_tools(), "{kind:?}");
            assert_eq!(&body["tool_choice"], choice, "{kind:?}");
            assert_eq!(body["parallel_tool_calls"], json!(false));
        }
    }
}

/// An answer with a custom tool call and a function call side by side.
fn custom_call_message() -> Value {
    json!({"role": "assistant", "content": null, "refusal": null, "tool_calls": [
        {"id": "call_sql_1", "type": "custom", "custom": {"name": "run_sql", "input": "SELECT count(*) FROM users"}},
        {"id": "call_fn_2", "type": "function", "function": {"name": "get_weather", "arguments": "{\"city\":\"Paris\"}"}}
    ]})
}

#[tokio::test]
async fn custom_tool_calls_survive_in_answers_streamed_and_not_and_go_back_upstream() {
    for kind in KINDS {
        let options = Options { messages: vec![custom_call_message(), custom_call_message()], ..Options::default() };
        let upstream = upstream(kind, options).await;
        let mut request = client_request(json!({
            "model": "client/alias", "messages": [{"role": "user", "content": "count the users"}], "tools": custom_tools()
        }));

        let completion = upstream.complete(&request).await;
        let message = completion.choices[0].message.clone();
        assert_eq!(serde_json::to_value(&message.tool_calls).unwrap(), custom_call_message()["tool_calls"], "{kind:?}");
        let calls = message.tool_calls.as_deref().unwrap();
        assert!(calls[0].as_function().is_none(), "a custom call is no function call");
        assert_eq!(calls[1].as_function().map(|f| f.name.as_str()), Some("get_weather"));

        let chunks = upstream.stream(&request).await;
        let pieces: Vec<_> = chunks
            .iter()
            .flat_map(|c| c.choices.iter())
            .flat_map(|c| c.delta.tool_calls.clone().unwrap_or_default())
            .collect();
        let custom: Vec<_> = pieces.iter().filter(|p| p.index == 0).collect();
        assert_eq!(custom[0].id.as_deref(), Some("call_sql_1"));
        assert_eq!(custom[0].kind.as_deref(), Some("custom"));
        assert_eq!(custom[0].extra["custom"]["name"], "run_sql");
        let input: String = custom.iter().filter_map(|p| p.extra["custom"]["input"].as_str()).collect();
        assert_eq!(input, "SELECT count(*) FROM users", "{kind:?}");
        let streamed = accumulate(&chunks);
        let function_call = &streamed.choices[0].message.tool_calls.as_ref().unwrap()[1];
        assert_eq!(
            (function_call.id.as_str(), function_call.function.arguments.as_str()),
            ("call_fn_2", "{\"city\":\"Paris\"}")
        );

        // The next turn sends the custom call back with its result: the strict fake
        // checks the call's shape and that every call id is answered.
        request.messages.push(message);
        request.messages.push(ChatMessage::tool_result("call_sql_1", "42"));
        request.messages.push(ChatMessage::tool_result("call_fn_2", "sunny"));
        let answer = upstream.complete(&request).await;
        assert_eq!(answer.choices[0].message.text(), "scripted messages come first");
        let body = upstream.received();
        assert_eq!(body["messages"][1]["tool_calls"], custom_call_message()["tool_calls"], "{kind:?}");
        assert_eq!(body["messages"][2], json!({"role": "tool", "tool_call_id": "call_sql_1", "content": "42"}));
    }
}

/// Two calls in parallel, as a server that sends no `index` streams them.
fn parallel_calls() -> Value {
    json!({"role": "assistant", "content": null, "tool_calls": [
        {"id": "call_a", "type": "function", "function": {"name": "get_weather", "arguments": "{\"city\":\"Paris\"}"}},
        {"id": "call_b", "type": "function", "function": {"name": "get_weather", "arguments": "{\"city\":\"Oslo\"}"}}
    ]})
}

#[tokio::test]
async fn the_fake_really_omits_the_index_when_asked() {
    let options = Options { omit_tool_call_index: true, messages: vec![parallel_calls()], ..Options::default() };
    let fake = openai::start(Flavour::OpenAi, options, vec![Behaviour::Answer(Reply::Text("x".into()))]).await;
    let text = reqwest::Client::new()
        .post(format!("{}/v1/chat/completions", fake.origin))
        .bearer_auth("any")
        .json(&json!({"model": "m", "messages": [{"role": "user", "content": "hi"}], "stream": true}))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let pieces: Vec<Value> = text
        .lines()
        .filter_map(|line| line.strip_prefix("data: "))
        .filter_map(|data| serde_json::from_str::<Value>(data).ok())
        .filter_map(|chunk| chunk.pointer("/choices/0/delta/tool_calls").cloned())
        .flat_map(|calls| calls.as_array().cloned().unwrap_or_default())
        .collect();
    assert_eq!(pieces.len(), 6);
    assert!(pieces.iter().all(|piece| piece.get("index").is_none()), "{pieces:?}");
}

#[tokio::test]
async fn accepts_streamed_tool_call_pieces_without_index() {
    for kind in KINDS {
        let options = Options { omit_tool_call_index: true, messages: vec![parallel_calls()], ..Options::default() };
        let upstream = upstream(kind, options).await;
        let chunks = upstream
            .stream(&client_request(json!({
                "model": "client/alias", "messages": [{"role": "user", "content": "weather in Paris and Oslo?"}],
                "tools": custom_tools()
            })))
            .await;
        // The client gets OpenAI's shape back: every piece numbered.
        let indexes: Vec<u32> = chunks
            .iter()
            .flat_map(|c| c.choices.iter())
            .flat_map(|c| c.delta.tool_calls.clone().unwrap_or_default())
            .map(|piece| piece.index)
            .collect();
        assert_eq!(indexes, vec![0, 0, 0, 1, 1, 1], "{kind:?}");
        let completion = accumulate(&chunks);
        assert_eq!(
            serde_json::to_value(&completion.choices[0].message.tool_calls).unwrap(),
            parallel_calls()["tool_calls"]
        );
    }
}

fn detailed_usage() -> Value {
    json!({"prompt_tokens": 1200, "completion_tokens": 300, "total_tokens": 1500,
           "prompt_tokens_details": {"cached_tokens": 1024, "audio_tokens": 40},
           "completion_tokens_details": {"reasoning_tokens": 128, "audio_tokens": 12,
                                         "accepted_prediction_tokens": 30, "rejected_prediction_tokens": 5}})
}

#[tokio::test]
async fn keeps_every_usage_detail_streamed_and_not() {
    let expected = Usage {
        prompt_tokens: 1200,
        completion_tokens: 300,
        total_tokens: 1500,
        prompt_tokens_details: Some(PromptTokensDetails {
            cached_tokens: 1024,
            audio_tokens: Some(40),
            ..PromptTokensDetails::default()
        }),
        completion_tokens_details: Some(CompletionTokensDetails {
            reasoning_tokens: 128,
            audio_tokens: Some(12),
            accepted_prediction_tokens: Some(30),
            rejected_prediction_tokens: Some(5),
        }),
        web_search_requests: 0,
    };
    for kind in KINDS {
        let upstream = upstream(kind, Options { usage: Some(detailed_usage()), ..Options::default() }).await;
        let request = client_request(json!({"model": "client/alias", "messages": [{"role": "user", "content": "hi"}]}));
        let completion = upstream.complete(&request).await;
        assert_eq!(completion.usage, Some(expected), "{kind:?}");
        assert_eq!(serde_json::to_value(completion.usage).unwrap(), detailed_usage());

        let streamed = accumulate(&upstream.stream(&request).await);
        assert_eq!(streamed.usage, Some(expected), "{kind:?}");
    }
}

#[tokio::test]
async fn keeps_unknown_fields_of_parts_messages_and_tools() {
    let messages = json!([
        {"role": "system", "content": [
            {"type": "text", "text": "You are terse.", "cache_control": {"type": "ephemeral", "ttl": "1h"}}]},
        {"role": "user", "name": "jane", "x_trace": {"span": 7}, "content": [
            {"type": "text", "text": "What is in this picture?", "cache_control": {"type": "ephemeral"}, "x_lang": "en"},
            {"type": "image_url", "image_url": {"url": "https://example.com/cat.png", "detail": "high"},
             "cache_control": {"type": "ephemeral"}, "x_source": "upload"},
            {"type": "input_audio", "input_audio": {"data": "UklGRg==", "format": "wav"}},
            {"type": "file", "file": {"file_id": "file-abc123"}}
        ]}
    ]);
    let tools = json!([
        {"type": "function", "cache_control": {"type": "ephemeral"}, "x_group": "weather",
         "function": {"name": "get_weather", "description": "Weather in a city", "strict": true,
                      "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
                      "x_examples": [{"city": "Paris"}]}}
    ]);
    for kind in KINDS {
        let upstream = upstream(kind, Options::default()).await;
        let request = client_request(json!({
            "model": "client/alias", "messages": messages, "tools": tools,
            "metadata": {"run": "42"}, "store": false, "prediction": {"type": "content", "content": "A cat"}
        }));
        // OpenAI caches by itself and reads no `cache_control`: only that marker is left out.
        let (messages, tools) = if kind == Kind::OpenAi {
            (without_cache_control(&messages), without_cache_control(&tools))
        } else {
            (messages.clone(), tools.clone())
        };
        upstream.complete(&request).await;
        let body = upstream.received();
        assert_eq!(body["messages"], messages, "{kind:?}");
        assert_eq!(body["tools"], tools, "{kind:?}");
        assert_eq!(body["prediction"], json!({"type": "content", "content": "A cat"}));
        assert_eq!((&body["metadata"], &body["store"]), (&json!({"run": "42"}), &json!(false)));

        upstream.stream(&request).await;
        let body = upstream.received();
        assert_eq!((&body["messages"], &body["tools"]), (&messages, &tools), "{kind:?}");
    }
}

fn without_cache_control(value: &Value) -> Value {
    match value {
        Value::Object(map) => Value::Object(
            map.iter()
                .filter(|(k, _)| *k != "cache_control")
                .map(|(k, v)| (k.clone(), without_cache_control(v)))
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.iter().map(without_cache_control).collect()),
        other => other.clone(),
    }
}

/// DeepSeek, vLLM and OpenRouter answer the model's thinking next to the text.
fn reasoning_message() -> Value {
    json!({"role": "assistant", "content": "It is 4.", "reasoning_content": "Two plus two makes four.",
           "reasoning": "Two plus two makes four.",
           "reasoning_details": [{"type": "reasoning.text", "text": "Two plus two makes four.", "format": "unknown", "index": 0}]})
}

#[tokio::test]
async fn keeps_reasoning_effort_and_reasoning_content_both_ways() {
    for kind in KINDS {
        let options = Options { messages: vec![reasoning_message(), reasoning_message()], ..Options::default() };
        let upstream = upstream(kind, options).await;
        let request = client_request(json!({
            "model": "client/alias", "reasoning_effort": "high", "messages": [
                {"role": "user", "content": "2+2?"},
                {"role": "assistant", "content": "Let me think.", "reasoning_content": "An earlier thought."},
                {"role": "user", "content": "And now?"}
            ]
        }));
        let completion = upstream.complete(&request).await;
        let body = upstream.received();
        assert_eq!(body["reasoning_effort"], "high", "{kind:?}");
        assert_eq!(body["messages"][1]["reasoning_content"], "An earlier thought.");
        let message = &completion.choices[0].message;
        assert_eq!(message.reasoning_content.as_deref(), Some("Two plus two makes four."), "{kind:?}");
        assert_eq!(message.text(), "It is 4.");
        assert_eq!(message.extra["reasoning_details"], reasoning_message()["reasoning_details"]);
        assert_eq!(message.extra["reasoning"], reasoning_message()["reasoning"]);

        let chunks = upstream.stream(&request).await;
        assert_eq!(upstream.received()["reasoning_effort"], "high");
        let reasoning: String =
            chunks.iter().flat_map(|c| c.choices.iter()).filter_map(|c| c.delta.reasoning_content.clone()).collect();
        assert_eq!(reasoning, "Two plus two makes four.", "{kind:?}");
        assert_eq!(accumulate(&chunks).choices[0].message.text(), "It is 4.");
    }
}

const TURNS: usize = 20;

/// The upstream's answer on turn `n` of the loop: a tool call (two in parallel every
/// fifth turn, a custom call every seventh) until the last turn, which answers text.
fn loop_answer(n: usize) -> Value {
    if n + 1 == TURNS {
        return json!({"role": "assistant", "content": format!("Done after {n} tool turns.")});
    }
    let mut calls = vec![json!({"id": format!("call_{n}_a"), "type": "function",
        "function": {"name": "get_weather", "arguments": json!({"city": format!("City {n}")}).to_string()}})];
    if n % 5 == 4 {
        calls.push(json!({"id": format!("call_{n}_b"), "type": "function",
            "function": {"name": "get_weather", "arguments": "{\"city\":\"Oslo\"}"}}));
    }
    if n % 7 == 6 {
        calls.push(json!({"id": format!("call_{n}_c"), "type": "custom",
            "custom": {"name": "run_sql", "input": format!("SELECT {n}")}}));
    }
    json!({"role": "assistant", "content": null, "tool_calls": calls})
}

fn expected_ids(n: usize) -> Vec<String> {
    loop_answer(n)["tool_calls"]
        .as_array()
        .map(|calls| calls.iter().map(|c| c["id"].as_str().unwrap().to_owned()).collect())
        .unwrap_or_default()
}

/// Rebuilds a streamed custom call the way a client does: the accumulator knows
/// function calls; the custom pieces are joined here.
fn streamed_message(chunks: &[ChatCompletionChunk]) -> ChatMessage {
    let mut message = accumulate(chunks).choices.remove(0).message;
    for call in message.tool_calls.iter_mut().flatten() {
        let pieces: Vec<_> = chunks
            .iter()
            .flat_map(|c| c.choices.iter())
            .flat_map(|c| c.delta.tool_calls.clone().unwrap_or_default())
            .filter(|piece| piece.extra.contains_key("custom"))
            .collect();
        let Some(start) = pieces.iter().find(|p| p.id.as_deref() == Some(call.id.as_str())) else {
            continue;
        };
        let input: String = pieces
            .iter()
            .filter(|p| p.index == start.index)
            .filter_map(|p| p.extra["custom"]["input"].as_str())
            .collect();
        call.kind = "custom".into();
        call.function = Default::default();
        call.extra.insert("custom".into(), json!({"name": start.extra["custom"]["name"], "input": input}));
    }
    message
}

#[tokio::test]
async fn a_twenty_turn_tool_loop_alternating_streamed_and_not_keeps_every_id() {
    for (kind, omit_tool_call_index) in
        [(Kind::OpenAi, false), (Kind::OpenRouter, false), (Kind::CustomOpenAiCompatible, true)]
    {
        let options =
            Options { omit_tool_call_index, messages: (0..TURNS).map(loop_answer).collect(), ..Options::default() };
        let upstream = upstream(kind, options).await;
        let mut request = client_request(json!({
            "model": "client/alias", "tools": custom_tools(),
            "messages": [{"role": "system", "content": "Use the tools."}, {"role": "user", "content": "Go."}]
        }));
        for n in 0..TURNS {
            let message = if n % 2 == 0 {
                upstream.complete(&request).await.choices.remove(0).message
            } else {
                streamed_message(&upstream.stream(&request).await)
            };
            let calls = message.tool_calls.clone().unwrap_or_default();
            let ids: Vec<String> = calls.iter().map(|c| c.id.clone()).collect();
            assert_eq!(ids, expected_ids(n), "{kind:?} turn {n}");
            if calls.is_empty() {
                assert_eq!(message.text(), format!("Done after {n} tool turns."));
                break;
            }
            // The calls go back exactly as answered, whichever way they came.
            assert_eq!(serde_json::to_value(&calls).unwrap(), loop_answer(n)["tool_calls"], "{kind:?} turn {n}");
            request.messages.push(message);
            for id in ids {
                request.messages.push(ChatMessage::tool_result(id.clone(), format!("result of {id}")));
            }
        }
        let requests = upstream.fake.requests();
        assert_eq!(requests.len(), TURNS, "{kind:?}: every turn was accepted by the strict fake");
        let sent_ids: Vec<String> = requests.last().unwrap().body["messages"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|m| m["tool_call_id"].as_str().map(str::to_owned))
            .collect();
        assert_eq!(sent_ids, (0..TURNS).flat_map(expected_ids).collect::<Vec<_>>());
    }
}

/// The fake refuses what OpenAI refuses in the shapes above, so the cases accepting them
/// prove something.
#[tokio::test]
async fn the_fake_refuses_malformed_custom_tools_tool_choices_and_custom_calls() {
    let fake =
        openai::start(Flavour::OpenAi, Options::default(), vec![Behaviour::Answer(Reply::Text("x".into()))]).await;
    let ask = |extra: Value| {
        let mut body = json!({"model": "m", "messages": [{"role": "user", "content": "hi"}]});
        body.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
        body
    };
    let refused = [
        (ask(json!({"tools": [{"type": "custom", "custom": {"description": "no name"}}]})), "tools[0].custom.name"),
        (
            ask(json!({"tools": [{"type": "custom", "custom": {"name": "q",
                "format": {"type": "grammar", "grammar": {"syntax": "ebnf", "definition": "x"}}}}]})),
            "tools[0].custom.format",
        ),
        (
            ask(json!({"tools": custom_tools(),
                "tool_choice": {"type": "allowed_tools", "allowed_tools": {"mode": "sometimes", "tools": []}}})),
            "tool_choice",
        ),
        (ask(json!({"tools": custom_tools(), "tool_choice": {"type": "custom", "custom": {}}})), "tool_choice"),
        (ask(json!({"tool_choice": {"type": "custom", "custom": {"name": "run_sql"}}})), "tool_choice"),
        (ask(json!({"reasoning_effort": "extreme"})), "reasoning_effort"),
        (
            json!({"model": "m", "messages": [
                {"role": "user", "content": "hi"},
                {"role": "assistant", "tool_calls": [{"id": "c1", "type": "custom", "custom": {"name": "run_sql"}}]},
                {"role": "tool", "tool_call_id": "c1", "content": "1"}
            ]}),
            "messages[1].tool_calls[0].custom.input",
        ),
    ];
    let client = reqwest::Client::new();
    for (body, param) in refused {
        let response = client
            .post(format!("{}/v1/chat/completions", fake.origin))
            .bearer_auth("any")
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 400, "{body}");
        let error: Value = response.json().await.unwrap();
        assert_eq!(error["error"]["param"], param, "{error}");
    }
}
