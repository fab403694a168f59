//! Issue 10, Gemini: each translation fix against the strict fake (whose rules follow
//! Google's API reference, see `fakes/gemini_rules.rs`), and a 20-turn Gemini 3 tool
//! loop, streamed and not in turn, with a fresh thought signature every step.

use std::collections::HashSet;
use std::time::Duration;

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use futures::StreamExt;
use gaiarouter::gateway::openai::{
    ChatCompletion, ChatCompletionRequest, ChatMessage, CompletionAccumulator, ContentPart, Delta, FinishReason,
    MessageContent, Tool, ToolChoice,
};
use gaiarouter::gateway::providers::{Provider, ProviderError};
use serde_json::{json, Map, Value};

use crate::fakes::gemini::{SIGNATURE_PREFIX, THOUGHT_SUMMARY};
use crate::fakes::{self, Behaviour, FakeUpstream, Reply, Tokens};
use crate::subjects::{provider_for, Kind, API_KEY};

const GEMINI_3: &str = "gemini-3-flash-preview";
const GEMINI_25: &str = "gemini-2.5-flash";
const NEVER: Duration = Duration::from_secs(10);

struct Gemini {
    provider: std::sync::Arc<dyn Provider>,
    fake: FakeUpstream,
}

async fn gemini(script: Vec<Behaviour>) -> Gemini {
    let fake = FakeUpstream::start(fakes::gemini::router, script).await;
    fake.require_key(API_KEY);
    Gemini { provider: provider_for(Kind::Gemini, &fake.origin), fake }
}

impl Gemini {
    async fn complete(&self, request: &ChatCompletionRequest, model: &str) -> Result<ChatCompletion, ProviderError> {
        tokio::time::timeout(NEVER, self.provider.complete(request, model)).await.expect("complete() hung")
    }

    /// The stream's deltas and the completion they add up to.
    async fn stream(
        &self,
        request: &ChatCompletionRequest,
        model: &str,
    ) -> Result<(Vec<Delta>, ChatCompletion), ProviderError> {
        let mut request = request.clone();
        request.stream = Some(true);
        let call = async {
            let chunks = self.provider.stream(&request, model).await?;
            Ok::<_, ProviderError>(chunks.collect::<Vec<_>>().await)
        };
        let items = tokio::time::timeout(NEVER, call).await.expect("stream() hung")?;
        let mut all = CompletionAccumulator::new();
        let mut deltas = Vec::new();
        for item in items {
            let chunk = item?;
            all.push(&chunk);
            deltas.extend(chunk.choices.into_iter().map(|choice| choice.delta));
        }
        Ok((deltas, all.finish()))
    }
}

fn ask(question: &str) -> ChatCompletionRequest {
    ChatCompletionRequest::new("client/gemini", vec![ChatMessage::user(question)])
}

fn weather_tool() -> Tool {
    Tool::function(
        "get_weather",
        "Current weather in a city",
        json!({"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}),
    )
}

fn weather_call(city: &str) -> Behaviour {
    Behaviour::Answer(Reply::ToolCall { name: "get_weather".into(), arguments: json!({"city": city}) })
}

/// The signature a tool-call id carries, decoded the documented way:
/// `call_<hex>__ts_<base64url of the signature bytes>`, as Gemini sends it (base64).
fn carried_signature(id: &str) -> Option<String> {
    let (_, carried) = id.split_once("__ts_")?;
    Some(STANDARD.encode(URL_SAFE_NO_PAD.decode(carried).ok()?))
}

/// What a fake signature says: `gaia-fake-thought:<serial>:<what>`.
/// What a fake signature was issued for (its padding left out).
fn decoded(signature: &str) -> String {
    let text = String::from_utf8(STANDARD.decode(signature).unwrap()).unwrap();
    text.split_once('\0').map_or(text.clone(), |(issued, _padding)| issued.to_string())
}

/// Every (function name, thoughtSignature) of the function calls a request replays.
fn replayed_calls(body: &Value) -> Vec<(String, Option<String>)> {
    body["contents"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|content| content["role"] == "model")
        .flat_map(|content| content["parts"].as_array().cloned().unwrap_or_default())
        .filter(|part| part.get("functionCall").is_some())
        .map(|part| {
            let name = part["functionCall"]["name"].as_str().unwrap().to_owned();
            (name, part.get("thoughtSignature").and_then(Value::as_str).map(str::to_owned))
        })
        .collect()
}

async fn post(url: &str, body: &Value) -> (u16, Value) {
    let response = reqwest::Client::new().post(url).header("x-goog-api-key", API_KEY).json(body).send().await.unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap())
}

fn generate_url(fake: &FakeUpstream, model: &str) -> String {
    format!("{}/v1beta/models/{model}:generateContent", fake.origin)
}

fn assert_invalid_argument(status: u16, answer: &Value, needle: &str) {
    assert_eq!(status, 400, "{answer}");
    assert_eq!(answer["error"]["status"], "INVALID_ARGUMENT", "{answer}");
    let message = answer["error"]["message"].as_str().unwrap();
    assert!(message.contains(needle), "{message:?} should mention {needle:?}");
}

// Fix 1: thought signatures.

#[tokio::test]
async fn the_fake_refuses_a_gemini_3_function_call_replayed_without_its_signature() {
    let subject = gemini(vec![Behaviour::Answer(Reply::Text("ok".into()))]).await;
    let signature = fakes::gemini::issue_signature("get_weather");
    let turn = |call: Value| {
        json!({"contents": [
            {"role": "user", "parts": [{"text": "Weather in Paris?"}]},
            {"role": "model", "parts": [call]},
            {"role": "user", "parts": [{"functionResponse": {"name": "get_weather", "response": {"temp_c": 21}}}]}
        ]})
    };
    let unsigned = turn(json!({"functionCall": {"name": "get_weather", "args": {"city": "Paris"}}}));
    let (status, answer) = post(&generate_url(&subject.fake, GEMINI_3), &unsigned).await;
    assert_invalid_argument(status, &answer, "thought_signature");
    // Gemini 2.5 does not check.
    let (status, _) = post(&generate_url(&subject.fake, GEMINI_25), &unsigned).await;
    assert_eq!(status, 200);

    let signed = turn(
        json!({"functionCall": {"name": "get_weather", "args": {"city": "Paris"}}, "thoughtSignature": signature}),
    );
    assert_eq!(post(&generate_url(&subject.fake, GEMINI_3), &signed).await.0, 200);
    let foreign = fakes::gemini::issue_signature("another_function");
    let corrupted = turn(json!({"functionCall": {"name": "get_weather", "args": {}}, "thoughtSignature": foreign}));
    let (status, answer) = post(&generate_url(&subject.fake, GEMINI_3), &corrupted).await;
    assert_invalid_argument(status, &answer, "Corrupted");
    let not_bytes = turn(json!({"functionCall": {"name": "get_weather", "args": {}}, "thoughtSignature": "!!"}));
    let (status, answer) = post(&generate_url(&subject.fake, GEMINI_3), &not_bytes).await;
    assert_invalid_argument(status, &answer, "TYPE_BYTES");
    let placeholder = turn(
        json!({"functionCall": {"name": "get_weather", "args": {}}, "thoughtSignature": "skip_thought_signature_validator"}),
    );
    assert_eq!(post(&generate_url(&subject.fake, GEMINI_3), &placeholder).await.0, 200);
}

#[tokio::test]
async fn a_gemini_3_tool_call_keeps_its_thought_signature_in_the_id_and_sends_it_back() {
    let subject =
        gemini(vec![weather_call("Paris"), weather_call("Rome"), Behaviour::Answer(Reply::Text("Done.".into()))]).await;
    let mut request = ask("Weather in Paris, then Rome?");
    request.tools = Some(vec![weather_tool()]);

    let first = subject.complete(&request, GEMINI_3).await.unwrap();
    let call = first.choices[0].message.tool_calls.clone().unwrap().remove(0);
    assert!(call.id.starts_with("call_"));
    assert!(call.id.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-'), "{}", call.id);
    let signature = carried_signature(&call.id).expect("the id carries the signature");
    assert!(decoded(&signature).ends_with(":get_weather"));
    request.messages.push(first.choices[0].message.clone());
    request.messages.push(ChatMessage::tool_result(&call.id, r#"{"temp_c": 21}"#));

    // The streamed call keeps its signature too.
    let (_, second) = subject.stream(&request, GEMINI_3).await.unwrap();
    let sent = subject.fake.last_request().body;
    assert_eq!(replayed_calls(&sent), vec![("get_weather".to_owned(), Some(signature.clone()))]);
    assert_eq!(sent["contents"][2]["parts"][0]["functionResponse"]["name"], "get_weather");
    let streamed = second.choices[0].message.tool_calls.clone().unwrap().remove(0);
    let streamed_signature = carried_signature(&streamed.id).expect("the streamed id carries the signature");
    assert_ne!(streamed_signature, signature, "every step has its own signature");
    request.messages.push(second.choices[0].message.clone());
    request.messages.push(ChatMessage::tool_result(&streamed.id, "25"));

    let last = subject.complete(&request, GEMINI_3).await.unwrap();
    assert_eq!(last.choices[0].message.text(), "Done.");
    let sent = subject.fake.last_request().body;
    assert_eq!(
        replayed_calls(&sent),
        vec![("get_weather".to_owned(), Some(signature)), ("get_weather".to_owned(), Some(streamed_signature))]
    );
}

#[tokio::test]
async fn a_signature_on_a_text_answer_comes_back_on_that_text() {
    let subject = gemini(vec![Behaviour::Answer(Reply::Text("Hello there".into()))]).await;
    let first = subject.complete(&ask("Hi"), GEMINI_3).await.unwrap();
    let message = first.choices[0].message.clone();
    assert_eq!(message.text(), "Hello there");
    let signature = message.extra["extra_content"]["google"]["thought_signature"].as_str().unwrap().to_owned();
    assert!(decoded(&signature).ends_with(":text"));

    // Streamed: on the empty text part of the last event, as a delta's extra_content.
    let (deltas, _) = subject.stream(&ask("Hi"), GEMINI_3).await.unwrap();
    assert!(deltas
        .iter()
        .any(|d| d.extra.get("extra_content").is_some_and(|e| e["google"]["thought_signature"].is_string())));
    assert!(
        deltas.iter().all(|d| d.content.as_deref() != Some("") || d.role.is_some()),
        "no empty content delta for the signature-only part"
    );

    let mut request = ask("Hi");
    request.messages.push(message);
    request.messages.push(ChatMessage::user("And?"));
    subject.complete(&request, GEMINI_3).await.unwrap();
    let sent = subject.fake.last_request().body;
    assert_eq!(sent["contents"][1]["parts"], json!([{"text": "Hello there", "thoughtSignature": signature}]));
}

#[tokio::test]
async fn a_gemini_3_history_without_signatures_gets_googles_placeholder() {
    // A conversation begun on another model, or by a client that made its own ids.
    let subject = gemini(vec![Behaviour::Answer(Reply::Text("It is 21°C.".into()))]).await;
    let mut request = ask("Weather in Paris?");
    request.tools = Some(vec![weather_tool()]);
    let mut assistant = ChatMessage::assistant("");
    assistant.content = None;
    assistant.tool_calls =
        Some(vec![gaiarouter::gateway::openai::ToolCall::function("toolu_01", "get_weather", r#"{"city":"Paris"}"#)]);
    request.messages.push(assistant);
    request.messages.push(ChatMessage::tool_result("toolu_01", "21"));
    let answer = subject.complete(&request, GEMINI_3).await.unwrap();
    assert_eq!(answer.choices[0].message.text(), "It is 21°C.");
    let sent = subject.fake.last_request().body;
    assert_eq!(
        replayed_calls(&sent),
        vec![("get_weather".to_owned(), Some("skip_thought_signature_validator".to_owned()))]
    );
}

#[tokio::test]
async fn a_twenty_turn_gemini_3_tool_loop_keeps_every_signature() {
    const TURNS: usize = 20;
    let mut script: Vec<Behaviour> = (0..TURNS).map(|turn| weather_call(&format!("city-{turn}"))).collect();
    script.push(Behaviour::Answer(Reply::Text("All twenty checked.".into())));
    let subject = gemini(script).await;
    let mut request = ask("Check the weather in twenty cities, one at a time.");
    request.tools = Some(vec![weather_tool()]);

    let mut issued: Vec<String> = Vec::new();
    for turn in 0..=TURNS {
        let answer = if turn % 2 == 0 {
            subject.complete(&request, GEMINI_3).await
        } else {
            subject.stream(&request, GEMINI_3).await.map(|(_, completion)| completion)
        };
        let answer = answer.unwrap_or_else(|error| panic!("turn {turn}: {error}"));
        // The fake checked every earlier step of this turn; check what it was sent too.
        let sent = subject.fake.last_request().body;
        let replayed: Vec<String> =
            replayed_calls(&sent).into_iter().map(|(_, signature)| signature.unwrap()).collect();
        assert_eq!(replayed, issued, "turn {turn}: every earlier call with its own signature");

        let message = answer.choices[0].message.clone();
        if turn == TURNS {
            assert_eq!(message.text(), "All twenty checked.");
            assert_eq!(answer.choices[0].finish_reason, Some(FinishReason::Stop));
            break;
        }
        assert_eq!(answer.choices[0].finish_reason, Some(FinishReason::ToolCalls), "turn {turn}");
        let call = message.tool_calls.clone().unwrap().remove(0);
        let arguments: Value = serde_json::from_str(&call.function.arguments).unwrap();
        assert_eq!(arguments, json!({"city": format!("city-{turn}")}));
        let signature =
            carried_signature(&call.id).unwrap_or_else(|| panic!("turn {turn}: no signature in {}", call.id));
        assert!(decoded(&signature).starts_with(SIGNATURE_PREFIX));
        issued.push(signature);
        request.messages.push(message);
        request.messages.push(ChatMessage::tool_result(&call.id, format!(r#"{{"temp_c": {turn}}}"#)));
    }
    assert_eq!(issued.iter().collect::<HashSet<_>>().len(), TURNS, "a fresh signature every step");
    assert_eq!(subject.fake.requests().len(), TURNS + 1, "no request was refused");
}

// Fix 3: tool schemas as JSON Schema.

fn mcp_schema() -> Value {
    json!({"type": "object",
           "$defs": {"Kind": {"type": "string", "const": "user"},
                     "Filter": {"anyOf": [{"type": "string"}, {"type": "null"}]}},
           "properties": {"kind": {"$ref": "#/$defs/Kind"}, "filter": {"$ref": "#/$defs/Filter"},
                          "id": {"type": "string"}},
           "required": ["id"], "additionalProperties": false})
}

#[tokio::test]
async fn tool_schemas_go_as_parameters_json_schema_which_takes_refs_const_and_any_of() {
    let subject = gemini(vec![Behaviour::Answer(Reply::Text("ok".into()))]).await;
    let mut request = ask("Look user 7 up");
    request.tools = Some(vec![Tool::function("lookup", "Looks a record up", mcp_schema())]);
    subject.complete(&request, GEMINI_25).await.unwrap();
    let declaration = &subject.fake.last_request().body["tools"][0]["functionDeclarations"][0];
    assert_eq!(declaration["parametersJsonSchema"], mcp_schema());
    assert_eq!(declaration.get("parameters"), None);

    // The same schema as `parameters` (the OpenAPI subset) is what Google refuses.
    let with = |declaration: Value| json!({"contents": [{"role": "user", "parts": [{"text": "hi"}]}], "tools": [{"functionDeclarations": [declaration]}]});
    let url = generate_url(&subject.fake, GEMINI_25);
    let (status, answer) = post(&url, &with(json!({"name": "lookup", "parameters": mcp_schema()}))).await;
    assert_invalid_argument(status, &answer, "Unknown name");
    let both = json!({"name": "lookup", "parameters": {"type": "object"}, "parametersJsonSchema": mcp_schema()});
    let (status, answer) = post(&url, &with(both)).await;
    assert_invalid_argument(status, &answer, "mutually exclusive");
    let dangling = json!({"name": "lookup", "parametersJsonSchema": {"type": "object", "properties": {"a": {"$ref": "#/$defs/Nope"}}}});
    let (status, answer) = post(&url, &with(dangling)).await;
    assert_invalid_argument(status, &answer, "$ref");
}

// Fix 7: reasoning.

#[tokio::test]
async fn reasoning_effort_becomes_a_thinking_level_and_thoughts_come_back_as_reasoning_content() {
    let tokens = Tokens { prompt: 40, completion: 30, cached: 12, reasoning: 18, cache_write: 0 };
    let subject = gemini(vec![Behaviour::AnswerWith(Reply::Text("Blue, mostly.".into()), tokens)]).await;
    let mut request = ask("What colour is the sky?");
    request.reasoning_effort = Some("high".into());

    let answer = subject.complete(&request, GEMINI_3).await.unwrap();
    let config = &subject.fake.last_request().body["generationConfig"]["thinkingConfig"];
    assert_eq!(config, &json!({"thinkingLevel": "high", "includeThoughts": true}));
    let message = &answer.choices[0].message;
    assert_eq!(message.reasoning_content.as_deref(), Some(THOUGHT_SUMMARY));
    assert_eq!(message.text(), "Blue, mostly.", "thoughts never mixed into content");
    let usage = answer.usage.unwrap();
    assert_eq!((usage.prompt_tokens, usage.completion_tokens, usage.total_tokens), (40, 30, 70));
    assert_eq!((usage.reasoning_tokens(), usage.cached_tokens()), (18, 12));

    let (deltas, streamed) = subject.stream(&request, GEMINI_3).await.unwrap();
    let reasoning: String = deltas.iter().filter_map(|d| d.reasoning_content.clone()).collect();
    let content: String = deltas.iter().filter_map(|d| d.content.clone()).collect();
    assert_eq!(reasoning, THOUGHT_SUMMARY);
    assert_eq!(content, "Blue, mostly.");
    assert!(deltas.iter().all(|d| d.reasoning_content.is_none() || d.content.is_none()));
    assert_eq!(streamed.usage.unwrap().reasoning_tokens(), 18);

    // Gemini 2.5 takes a budget; "none" turns thinking off and asks for no thoughts.
    request.reasoning_effort = Some("none".into());
    let answer = subject.complete(&request, GEMINI_25).await.unwrap();
    let config = &subject.fake.last_request().body["generationConfig"]["thinkingConfig"];
    assert_eq!(config, &json!({"thinkingBudget": 0, "includeThoughts": false}));
    assert_eq!(answer.choices[0].message.reasoning_content, None);
    request.reasoning_effort = Some("medium".into());
    subject.complete(&request, GEMINI_25).await.unwrap();
    assert_eq!(subject.fake.last_request().body["generationConfig"]["thinkingConfig"]["thinkingBudget"], 8192);

    request.reasoning_effort = Some("maximal".into());
    let refused = subject.complete(&request, GEMINI_3).await.unwrap_err();
    assert_eq!(refused.http_status(), 400);
}

#[tokio::test]
async fn the_fake_validates_thinking_config_like_google() {
    let subject = gemini(vec![Behaviour::Answer(Reply::Text("ok".into()))]).await;
    let with = |thinking: Value| json!({"contents": [{"role": "user", "parts": [{"text": "hi"}]}], "generationConfig": {"thinkingConfig": thinking}});
    let ok = [
        (GEMINI_3, json!({"thinkingLevel": "minimal", "includeThoughts": true})),
        ("gemini-3-pro-preview", json!({"thinkingLevel": "LOW"})),
        (GEMINI_25, json!({"thinkingBudget": 0})),
        ("gemini-2.5-pro", json!({"thinkingBudget": -1})),
    ];
    for (model, thinking) in ok {
        let (status, answer) = post(&generate_url(&subject.fake, model), &with(thinking.clone())).await;
        assert_eq!(status, 200, "{model} {thinking} -> {answer}");
    }
    let refused = [
        (GEMINI_25, json!({"thinkingLevel": "low"}), "not supported"),
        (GEMINI_3, json!({"thinkingLevel": "low", "thinkingBudget": 1024}), "only set one"),
        ("gemini-3-pro-preview", json!({"thinkingLevel": "minimal"}), "not supported"),
        (GEMINI_3, json!({"thinkingLevel": "extreme"}), "thinking_level"),
        ("gemini-2.5-pro", json!({"thinkingBudget": 0}), "invalid"),
        (GEMINI_25, json!({"thinkingBudget": 1024, "showThoughts": true}), "Unknown name"),
    ];
    for (model, thinking, needle) in refused {
        let (status, answer) = post(&generate_url(&subject.fake, model), &with(thinking)).await;
        assert_invalid_argument(status, &answer, needle);
    }
}

// Fix 10: audio and files.

fn part(value: Value) -> ContentPart {
    serde_json::from_value(value).unwrap()
}

#[tokio::test]
async fn audio_and_pdf_parts_reach_gemini_as_inline_and_file_data() {
    let subject = gemini(vec![Behaviour::Answer(Reply::Text("A short memo.".into()))]).await;
    let request = ChatCompletionRequest::new(
        "client/gemini",
        vec![ChatMessage {
            content: Some(MessageContent::Parts(vec![
                part(json!({"type": "text", "text": "Summarise these."})),
                part(json!({"type": "input_audio", "input_audio": {"data": "UklGRiQAAABXQVZF", "format": "wav"}})),
                part(json!({"type": "input_audio", "input_audio": {"data": "SUQzBAAAAAAA", "format": "mp3"}})),
                part(
                    json!({"type": "file", "file": {"file_data": "data:application/pdf;base64,JVBERi0xLjQK", "filename": "memo.pdf"}}),
                ),
                part(json!({"type": "file", "file": {"file_data": "gs://bucket/report.pdf"}})),
            ])),
            ..ChatMessage::user("")
        }],
    );
    let answer = subject.complete(&request, GEMINI_25).await.unwrap();
    assert_eq!(answer.choices[0].message.text(), "A short memo.");
    assert_eq!(
        subject.fake.last_request().body["contents"][0]["parts"],
        json!([
            {"text": "Summarise these."},
            {"inlineData": {"mimeType": "audio/wav", "data": "UklGRiQAAABXQVZF"}},
            {"inlineData": {"mimeType": "audio/mp3", "data": "SUQzBAAAAAAA"}},
            {"inlineData": {"mimeType": "application/pdf", "data": "JVBERi0xLjQK"}},
            {"fileData": {"mimeType": "application/pdf", "fileUri": "gs://bucket/report.pdf"}}
        ])
    );

    // An OpenAI file id names a file Gemini cannot read: a clear 400, nothing sent.
    let sent_before = subject.fake.requests().len();
    let request = ChatCompletionRequest::new(
        "client/gemini",
        vec![ChatMessage {
            content: Some(MessageContent::Parts(vec![part(
                json!({"type": "file", "file": {"file_id": "file-abc123"}}),
            )])),
            ..ChatMessage::user("")
        }],
    );
    let refused = subject.complete(&request, GEMINI_25).await.unwrap_err();
    assert_eq!(refused.http_status(), 400);
    assert!(refused.to_string().contains("file ids"), "{refused}");
    assert_eq!(subject.fake.requests().len(), sent_before);

    // The fake refuses what Google refuses: an unreadable MIME type, data that is not base64.
    let inline = |mime: &str, data: &str| json!({"contents": [{"role": "user", "parts": [{"inlineData": {"mimeType": mime, "data": data}}]}]});
    let url = generate_url(&subject.fake, GEMINI_25);
    let (status, answer) = post(&url, &inline("application/x-msdownload", "TVqQ")).await;
    assert_invalid_argument(status, &answer, "Unsupported MIME type");
    let (status, answer) = post(&url, &inline("audio/wav", "not base64!")).await;
    assert_invalid_argument(status, &answer, "Base64");
}

// Also: top_k, and what stays a clear 400.

#[tokio::test]
async fn top_k_is_sent_as_top_k() {
    let subject = gemini(vec![Behaviour::Answer(Reply::Text("ok".into()))]).await;
    let mut request = ask("hi");
    request.extra = Map::from_iter([("top_k".to_owned(), json!(32))]);
    subject.complete(&request, GEMINI_25).await.unwrap();
    assert_eq!(subject.fake.last_request().body["generationConfig"]["topK"], 32);
}

#[tokio::test]
async fn tools_and_tool_choices_gemini_cannot_express_are_refused_before_any_call() {
    let subject = gemini(vec![Behaviour::Answer(Reply::Text("ok".into()))]).await;
    let mut request = ask("hi");
    request.tools = Some(vec![serde_json::from_value(json!({"type": "custom", "custom": {"name": "grep"}})).unwrap()]);
    assert_eq!(subject.complete(&request, GEMINI_25).await.unwrap_err().http_status(), 400);
    let mut request = ask("hi");
    request.tools = Some(vec![weather_tool()]);
    request.tool_choice = Some(ToolChoice::Other(Map::from_iter([("type".to_owned(), json!("allowed_tools"))])));
    assert_eq!(subject.complete(&request, GEMINI_25).await.unwrap_err().http_status(), 400);
    assert!(subject.fake.requests().is_empty());
}
