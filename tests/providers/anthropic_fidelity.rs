//! The Anthropic adapter against the strict fake, one case per translation fix of the
//! review (`shared/reviews/provider-translation.md`): structured outputs or the forced
//! JSON tool (#2), sampling (#4), prompt caching (#5), opaque user ids (#6), thinking
//! both ways (#7), `max_tokens` from the catalog (#8), PDF documents (#10); and a long
//! tool loop with thinking on, streamed and not in turn.

use std::time::Duration;

use futures::StreamExt;
use gaiarouter::gateway::openai::{
    ChatCompletion, ChatCompletionRequest, ChatMessage, CompletionAccumulator, ContentPart, FinishReason,
    MessageContent, Tool, Usage,
};
use gaiarouter::gateway::providers::ProviderError;
use serde_json::{json, Value};

use crate::fakes::anthropic::{thinking_signature, CACHED_PREFIX_TOKENS};
use crate::fakes::{Behaviour, Reply, PROMPT_TOKENS};
use crate::subjects::{Kind, Subject};

const NEVER: Duration = Duration::from_secs(10);

fn text(reply: &str) -> Behaviour {
    Behaviour::Answer(Reply::Text(reply.into()))
}

fn ask(question: &str) -> ChatCompletionRequest {
    ChatCompletionRequest::new("client/model", vec![ChatMessage::user(question)])
}

async fn start(script: Vec<Behaviour>) -> Subject {
    Subject::start(Kind::Anthropic, script).await
}

async fn complete_on(subject: &Subject, request: &ChatCompletionRequest, model: &str) -> ChatCompletion {
    let answer = tokio::time::timeout(NEVER, subject.provider.complete(request, model)).await.expect("hung");
    answer.unwrap_or_else(|e| panic!("refused: {e}; sent {}", subject.fake.last_request().body))
}

async fn complete(subject: &Subject, request: &ChatCompletionRequest) -> ChatCompletion {
    complete_on(subject, request, subject.upstream_model).await
}

/// A stream folded into a completion, with what `CompletionAccumulator` leaves aside:
/// the reasoning deltas joined and the thinking blocks gathered.
async fn stream_on(subject: &Subject, request: &ChatCompletionRequest, model: &str) -> ChatCompletion {
    let mut request = request.clone();
    request.stream = Some(true);
    let call = async {
        let chunks = subject.provider.stream(&request, model).await?;
        Ok::<_, ProviderError>(chunks.collect::<Vec<_>>().await)
    };
    let items = tokio::time::timeout(NEVER, call).await.expect("hung").expect("stream refused");
    let mut all = CompletionAccumulator::new();
    let mut reasoning: Option<String> = None;
    let mut blocks: Vec<Value> = Vec::new();
    for item in &items {
        let chunk = item.as_ref().expect("an error in a stream that should succeed");
        all.push(chunk);
        for choice in &chunk.choices {
            if let Some(piece) = &choice.delta.reasoning_content {
                reasoning.get_or_insert_with(String::new).push_str(piece);
            }
            blocks.extend(choice.delta.thinking_blocks.iter().flatten().cloned());
        }
    }
    let mut completion = all.finish();
    completion.choices[0].message.reasoning_content = reasoning;
    completion.choices[0].message.thinking_blocks = (!blocks.is_empty()).then_some(blocks);
    completion
}

async fn stream(subject: &Subject, request: &ChatCompletionRequest) -> ChatCompletion {
    stream_on(subject, request, subject.upstream_model).await
}

fn sent(subject: &Subject) -> Value {
    subject.fake.last_request().body
}

fn weather_tool() -> Tool {
    Tool::function(
        "get_weather",
        "Current weather in a city",
        json!({"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}),
    )
}

fn place_format(strict_schema: bool) -> Value {
    let mut schema = json!({"type": "object", "properties": {"city": {"type": "string"}, "country": {"type": "string"}},
        "required": ["city", "country"]});
    if strict_schema {
        schema["additionalProperties"] = json!(false);
    }
    json!({"type": "json_schema", "json_schema": {"name": "place", "strict": strict_schema, "schema": schema}})
}

const PLACE: &str = r#"{"city":"Paris","country":"France"}"#;

fn place_of(completion: &ChatCompletion) -> Value {
    serde_json::from_str(&completion.choices[0].message.text()).expect("the content is JSON")
}

// #2: response_format.

#[tokio::test]
async fn json_schema_uses_structured_outputs_on_models_that_have_them() {
    let subject = start(vec![text(PLACE)]).await;
    let mut request = ask("Where is the Eiffel Tower?");
    request.response_format = Some(place_format(true));
    for streamed in [false, true] {
        let completion = if streamed { stream(&subject, &request).await } else { complete(&subject, &request).await };
        assert_eq!(place_of(&completion), json!({"city": "Paris", "country": "France"}));
        assert_eq!(completion.choices[0].finish_reason, Some(FinishReason::Stop));
        let body = sent(&subject);
        assert_eq!(body["output_config"]["format"]["type"], "json_schema");
        assert_eq!(body["output_config"]["format"]["schema"]["required"], json!(["city", "country"]));
        assert!(body.get("tools").is_none());
    }
}

#[tokio::test]
async fn json_answers_come_from_a_forced_tool_on_models_without_structured_outputs() {
    let subject = start(vec![text(PLACE)]).await;
    for (model, format) in [
        ("claude-opus-4-1", place_format(true)),
        // A schema outside structured outputs' subset, on a model that has them.
        ("claude-sonnet-4-5", place_format(false)),
        ("claude-sonnet-4-5", json!({"type": "json_object"})),
    ] {
        let mut request = ask("Where is the Eiffel Tower?");
        request.response_format = Some(format);
        for streamed in [false, true] {
            let completion = if streamed {
                stream_on(&subject, &request, model).await
            } else {
                complete_on(&subject, &request, model).await
            };
            let message = &completion.choices[0].message;
            assert_eq!(place_of(&completion), json!({"city": "Paris", "country": "France"}), "{model}");
            assert!(message.tool_calls.is_none(), "the JSON tool is not a tool call of the client");
            assert_eq!(completion.choices[0].finish_reason, Some(FinishReason::Stop));
            let body = sent(&subject);
            assert!(body.get("output_config").is_none());
            assert_eq!(body["tool_choice"]["type"], "tool");
            assert_eq!(body["tool_choice"]["name"], body["tools"][0]["name"]);
        }
    }
}

// #4: sampling.

#[tokio::test]
async fn temperature_is_clamped_and_one_sampler_goes_to_models_that_take_one() {
    let subject = start(vec![text("ok")]).await;
    let mut request = ask("hi");
    request.temperature = Some(1.6);
    request.top_p = Some(0.9);
    request.extra.insert("top_k".into(), json!(40));
    complete(&subject, &request).await;
    let body = sent(&subject);
    assert_eq!(body["temperature"], json!(1.0), "OpenAI's 0-2 clamped to Claude's 0-1");
    assert!(body.get("top_p").is_none(), "Sonnet 4.5 refuses temperature with top_p");
    assert_eq!(body["top_k"], json!(40));

    request.temperature = Some(0.4);
    complete_on(&subject, &request, "claude-sonnet-4-0").await;
    let body = sent(&subject);
    assert_eq!(
        (body["temperature"].clone(), body["top_p"].clone()),
        (json!(0.4), json!(0.9)),
        "older models take both"
    );
}

// #5: prompt caching.

fn cached_request(ttl: Option<&str>) -> ChatCompletionRequest {
    let cache_control = match ttl {
        Some(ttl) => json!({"type": "ephemeral", "ttl": ttl}),
        None => json!({"type": "ephemeral"}),
    };
    let mut tool = weather_tool();
    tool.cache_control = Some(cache_control.clone());
    let rules = format!("You answer questions about the weather ({}).", ttl.unwrap_or("5m"));
    let system = ChatMessage {
        content: Some(MessageContent::Parts(vec![ContentPart::Text {
            text: rules,
            cache_control: Some(cache_control.clone()),
            extra: Default::default(),
        }])),
        ..ChatMessage::system("")
    };
    let user = ChatMessage {
        content: Some(MessageContent::Parts(vec![
            ContentPart::Text {
                text: "A long report to keep in the cache.".into(),
                cache_control: Some(cache_control),
                extra: Default::default(),
            },
            ContentPart::Text { text: "Is it sunny?".into(), cache_control: None, extra: Default::default() },
        ])),
        ..ChatMessage::user("")
    };
    let mut request = ChatCompletionRequest::new("client/model", vec![system, user]);
    request.tools = Some(vec![tool]);
    request
}

fn cache_figures(usage: Option<Usage>) -> (u64, u64, u64, u64) {
    let usage = usage.expect("usage");
    (usage.prompt_tokens, usage.cached_tokens(), usage.cache_write_tokens(), usage.cache_write_1h_tokens())
}

#[tokio::test]
async fn cache_control_is_kept_and_cache_writes_and_reads_are_counted() {
    let subject = start(vec![text("Sunny.")]).await;
    let request = cached_request(None);
    let first = complete(&subject, &request).await;
    let body = sent(&subject);
    assert_eq!(body["system"][0]["cache_control"], json!({"type": "ephemeral"}));
    assert_eq!(body["tools"][0]["cache_control"], json!({"type": "ephemeral"}));
    assert_eq!(body["messages"][0]["content"][0]["cache_control"], json!({"type": "ephemeral"}));
    assert!(body["messages"][0]["content"][1].get("cache_control").is_none());
    // prompt_tokens includes cache writes and reads (OpenAI's convention).
    assert_eq!(cache_figures(first.usage), (PROMPT_TOKENS, 0, CACHED_PREFIX_TOKENS, 0));
    let second = stream(&subject, &request).await;
    assert_eq!(cache_figures(second.usage), (PROMPT_TOKENS, CACHED_PREFIX_TOKENS, 0, 0));

    let one_hour = cached_request(Some("1h"));
    let streamed = stream(&subject, &one_hour).await;
    assert_eq!(cache_figures(streamed.usage), (PROMPT_TOKENS, 0, CACHED_PREFIX_TOKENS, CACHED_PREFIX_TOKENS));
    let again = complete(&subject, &one_hour).await;
    assert_eq!(cache_figures(again.usage), (PROMPT_TOKENS, CACHED_PREFIX_TOKENS, 0, 0));
}

#[tokio::test]
async fn cache_control_on_a_tool_result_is_kept() {
    let subject = start(vec![text("21°C it is.")]).await;
    let mut request = ask("Weather in Paris?");
    request.tools = Some(vec![weather_tool()]);
    let mut call = ChatMessage::assistant("");
    call.content = None;
    call.tool_calls =
        Some(vec![gaiarouter::gateway::openai::ToolCall::function("toolu_1", "get_weather", r#"{"city":"Paris"}"#)]);
    let mut result = ChatMessage::tool_result("toolu_1", r#"{"temp_c": 21}"#);
    result.extra.insert("cache_control".into(), json!({"type": "ephemeral"}));
    request.messages.extend([call, result]);
    complete(&subject, &request).await;
    let body = sent(&subject);
    assert_eq!(body["messages"][2]["content"][0]["type"], "tool_result");
    assert_eq!(body["messages"][2]["content"][0]["cache_control"], json!({"type": "ephemeral"}));
}

// #6: user ids.

#[tokio::test]
async fn a_user_that_looks_like_an_email_is_sent_as_an_opaque_hash() {
    let subject = start(vec![text("ok")]).await;
    let mut request = ask("hi");
    request.user = Some("jane.doe@example.com".into());
    complete(&subject, &request).await;
    let user_id = sent(&subject)["metadata"]["user_id"].as_str().unwrap().to_owned();
    assert!(user_id.starts_with("u_") && !user_id.contains("jane"), "{user_id}");
    complete(&subject, &request).await;
    assert_eq!(sent(&subject)["metadata"]["user_id"], json!(user_id), "the same user keeps the same id");

    request.user = Some("customer-42".into());
    complete(&subject, &request).await;
    assert_eq!(sent(&subject)["metadata"]["user_id"], "customer-42", "an opaque id is sent as it is");
}

// #7: thinking.

fn is_signed_thinking(block: &Value) -> bool {
    let thinking = block["thinking"].as_str().unwrap_or_default();
    block["type"] == "thinking" && block["signature"].as_str() == Some(thinking_signature(thinking).as_str())
}

#[tokio::test]
async fn reasoning_effort_thinks_and_answers_reasoning_and_signed_thinking_blocks() {
    let subject = start(vec![text("42.")]).await;
    let mut request = ask("The answer?");
    request.reasoning_effort = Some("medium".into());
    request.temperature = Some(0.3);
    for streamed in [false, true] {
        let completion = if streamed { stream(&subject, &request).await } else { complete(&subject, &request).await };
        let message = &completion.choices[0].message;
        assert_eq!(message.text(), "42.");
        let blocks = message.thinking_blocks.clone().expect("thinking blocks");
        assert_eq!(blocks.len(), 1);
        assert!(is_signed_thinking(&blocks[0]), "{blocks:?}");
        assert_eq!(message.reasoning_content.as_deref(), blocks[0]["thinking"].as_str());
        assert_eq!(completion.usage.unwrap().reasoning_tokens(), 0, "Anthropic reports no separate count");
        let body = sent(&subject);
        assert_eq!(body["thinking"], json!({"type": "enabled", "budget_tokens": 8192}));
        assert!(body.get("temperature").is_none(), "thinking refuses a temperature other than 1");
    }
    // From 4.6 on, Claude thinks adaptively, its effort in output_config.
    let completion = complete_on(&subject, &request, "claude-opus-4-7").await;
    assert!(completion.choices[0].message.thinking_blocks.is_some());
    let body = sent(&subject);
    assert_eq!(
        (body["thinking"].clone(), body["output_config"].clone()),
        (json!({"type": "adaptive"}), json!({"effort": "medium"}))
    );
}

#[tokio::test]
async fn a_tool_turn_without_its_thinking_block_is_refused_as_anthropic_refuses_it() {
    let subject = start(vec![Behaviour::Answer(Reply::ToolCall {
        name: "get_weather".into(),
        arguments: json!({"city": "Paris"}),
    })])
    .await;
    let mut request = ask("Weather in Paris?");
    request.tools = Some(vec![weather_tool()]);
    request.reasoning_effort = Some("low".into());
    let first = complete(&subject, &request).await;
    let mut assistant = first.choices[0].message.clone();
    let call_id = assistant.tool_calls.as_ref().unwrap()[0].id.clone();
    assistant.thinking_blocks = None;
    request.messages.extend([assistant, ChatMessage::tool_result(call_id, "21C")]);
    let refused = subject.provider.complete(&request, subject.upstream_model).await.unwrap_err();
    assert_eq!(refused.http_status(), 400);
    assert!(refused.to_string().contains("must start with a thinking block"), "{refused}");
}

// #8: max_tokens.

#[tokio::test]
async fn max_tokens_defaults_to_the_models_maximum_output() {
    let subject = start(vec![text("ok")]).await;
    for (model, expected) in [
        ("claude-sonnet-4-5", 64_000),
        ("claude-sonnet-4-5-20250929", 64_000),
        ("claude-opus-4-1", 32_000),
        ("claude-3-5-haiku-latest", 8_192),
        // Not in the catalog: the fallback every Claude model accepts.
        ("claude-experimental", 4_096),
    ] {
        complete_on(&subject, &ask("hi"), model).await;
        assert_eq!(sent(&subject)["max_tokens"], json!(expected), "{model}");
    }
    let mut capped = ask("hi");
    capped.max_completion_tokens = Some(300);
    complete(&subject, &capped).await;
    assert_eq!(sent(&subject)["max_tokens"], json!(300), "the client's cap wins");
}

// #10: PDF documents.

#[tokio::test]
async fn pdf_file_parts_become_document_blocks_and_file_ids_are_refused() {
    let subject = start(vec![text("A short paper.")]).await;
    let file = |file: Value| ContentPart::Other(json!({"type": "file", "file": file}));
    let mut inline = file(json!({"file_data": "data:application/pdf;base64,JVBERi0xLjQK", "filename": "paper.pdf"}));
    if let ContentPart::Other(part) = &mut inline {
        part["cache_control"] = json!({"type": "ephemeral"});
    }
    let parts = vec![
        ContentPart::Text { text: "Summarise these.".into(), cache_control: None, extra: Default::default() },
        inline,
        file(json!({"file_data": "https://example.com/paper.pdf"})),
    ];
    let request = ChatCompletionRequest::new(
        "client/model",
        vec![ChatMessage { content: Some(MessageContent::Parts(parts)), ..ChatMessage::user("") }],
    );
    assert_eq!(complete(&subject, &request).await.choices[0].message.text(), "A short paper.");
    let content = &sent(&subject)["messages"][0]["content"];
    assert_eq!(
        content[1],
        json!({"type": "document", "source": {"type": "base64", "media_type": "application/pdf", "data": "JVBERi0xLjQK"},
               "cache_control": {"type": "ephemeral"}})
    );
    assert_eq!(
        content[2],
        json!({"type": "document", "source": {"type": "url", "url": "https://example.com/paper.pdf"}})
    );

    let asked = subject.fake.requests().len();
    let by_id = ChatCompletionRequest::new(
        "client/model",
        vec![ChatMessage {
            content: Some(MessageContent::Parts(vec![file(json!({"file_id": "file-abc123"}))])),
            ..ChatMessage::user("")
        }],
    );
    let refused = subject.provider.complete(&by_id, subject.upstream_model).await.unwrap_err();
    assert!(matches!(refused, ProviderError::UnsupportedRequest(_)), "{refused:?}");
    assert_eq!(refused.http_status(), 400);
    assert_eq!(subject.fake.requests().len(), asked, "refused before reaching Anthropic");
}

// A long tool loop with thinking on.

#[tokio::test]
async fn a_twenty_turn_tool_loop_with_thinking_keeps_working_streamed_and_not() {
    const TURNS: usize = 20;
    let mut script: Vec<Behaviour> = (0..TURNS - 1)
        .map(|turn| {
            Behaviour::Answer(Reply::ToolCall {
                name: "get_weather".into(),
                arguments: json!({"city": format!("City {turn}")}),
            })
        })
        .collect();
    script.push(text("That was every city."));
    let subject = start(script).await;
    let mut request = ask("Check the weather of twenty cities, one by one.");
    request.tools = Some(vec![weather_tool()]);
    request.reasoning_effort = Some("low".into());

    for turn in 0..TURNS {
        let completion =
            if turn % 2 == 0 { complete(&subject, &request).await } else { stream(&subject, &request).await };
        let message = completion.choices[0].message.clone();
        let blocks = message.thinking_blocks.clone().unwrap_or_default();
        assert!(blocks.len() == 1 && is_signed_thinking(&blocks[0]), "turn {turn}: {blocks:?}");
        let body = sent(&subject);
        assert_eq!(body["thinking"]["type"], "enabled", "turn {turn}");
        if turn > 0 {
            // The previous assistant turn went back with its thinking block first.
            let messages = body["messages"].as_array().unwrap();
            let previous = &messages[messages.len() - 2]["content"];
            assert!(is_signed_thinking(&previous[0]), "turn {turn}: {previous}");
        }
        if turn == TURNS - 1 {
            assert_eq!(message.text(), "That was every city.");
            assert_eq!(completion.choices[0].finish_reason, Some(FinishReason::Stop));
            break;
        }
        assert_eq!(completion.choices[0].finish_reason, Some(FinishReason::ToolCalls), "turn {turn}");
        let call = message.tool_calls.clone().expect("a tool call")[0].clone();
        let arguments: Value = serde_json::from_str(&call.function.arguments).unwrap();
        assert_eq!(arguments, json!({"city": format!("City {turn}")}));
        request.messages.push(message);
        request.messages.push(ChatMessage::tool_result(call.id, format!(r#"{{"turn": {turn}, "temp_c": 20}}"#)));
    }
    assert_eq!(subject.fake.requests().len(), TURNS);
}

// The fake's rules for these features, checked on raw requests.

#[tokio::test]
async fn the_fake_refuses_what_anthropic_refuses_about_these_features() {
    let subject = start(vec![text("fine")]).await;
    let url = format!("{}/v1/messages", subject.fake.origin);
    let post = |body: Value| {
        let url = url.clone();
        async move {
            let response = reqwest::Client::new()
                .post(&url)
                .header("x-api-key", crate::subjects::API_KEY)
                .header("anthropic-version", "2023-06-01")
                .json(&body)
                .send()
                .await
                .unwrap();
            let status = response.status().as_u16();
            (status, response.json::<Value>().await.unwrap())
        }
    };
    let with = |model: &str, extra: Value| {
        let mut body = json!({"model": model, "max_tokens": 4000, "messages": [{"role": "user", "content": "hi"}]});
        body.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
        body
    };
    let thinking = json!({"type": "enabled", "budget_tokens": 2000});
    let closed = json!({"type": "object", "properties": {"a": {"type": "string"}}, "additionalProperties": false});
    let open = json!({"type": "object", "properties": {"a": {"type": "string"}}});
    let ephemeral = json!({"type": "text", "text": "x", "cache_control": {"type": "ephemeral"}});
    let signed = |text: &str| json!({"type": "thinking", "thinking": text, "signature": thinking_signature(text)});
    let tool_turns = |first: Value| {
        json!([
            {"role": "user", "content": "weather?"},
            {"role": "assistant", "content": [first, {"type": "tool_use", "id": "toolu_1", "name": "f", "input": {}}]},
            {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_1", "content": "sunny"}]}
        ])
    };
    let tools = json!([{"name": "f", "input_schema": {"type": "object"}}]);

    let accepted = [
        with("claude-sonnet-4-5", json!({"thinking": thinking, "top_p": 0.95})),
        with("claude-sonnet-4-5", json!({"output_config": {"format": {"type": "json_schema", "schema": closed}}})),
        with("claude-sonnet-4-0", json!({"temperature": 0.5, "top_p": 0.5})),
        with("claude-sonnet-4-5", json!({"system": [ephemeral], "metadata": {"user_id": "u_1234"}})),
        with("claude-sonnet-4-5", json!({"thinking": thinking, "tools": tools, "messages": tool_turns(signed("hmm"))})),
        with(
            "claude-sonnet-4-5",
            json!({"messages": [{"role": "user", "content": [
                {"type": "document", "source": {"type": "base64", "media_type": "application/pdf", "data": "JVBERi0="}},
                {"type": "document", "source": {"type": "url", "url": "https://example.com/a.pdf"}}
            ]}]}),
        ),
    ];
    for body in accepted {
        let (status, answer) = post(body.clone()).await;
        assert_eq!(status, 200, "{body} -> {answer}");
    }

    let refused = [
        with("claude-sonnet-4-5", json!({"temperature": 1.2})),
        with("claude-haiku-4-5", json!({"temperature": 0.5, "top_p": 0.5})),
        with("claude-opus-4-1", json!({"temperature": 0.5, "top_p": 0.5})),
        with("claude-sonnet-4-5", json!({"metadata": {"user_id": "jane@example.com"}})),
        with("claude-sonnet-4-5", json!({"metadata": {"user_id": "x".repeat(257)}})),
        with("claude-sonnet-4-5", json!({"thinking": {"type": "enabled", "budget_tokens": 1000}})),
        with("claude-sonnet-4-5", json!({"thinking": {"type": "enabled", "budget_tokens": 4000}})),
        with("claude-sonnet-4-5", json!({"thinking": thinking, "temperature": 0.5})),
        with("claude-sonnet-4-5", json!({"thinking": thinking, "top_k": 5})),
        with("claude-sonnet-4-5", json!({"thinking": thinking, "top_p": 0.5})),
        with("claude-sonnet-4-5", json!({"thinking": thinking, "tools": tools, "tool_choice": {"type": "any"}})),
        with(
            "claude-sonnet-4-5",
            json!({"thinking": thinking, "tools": tools,
            "messages": tool_turns(json!({"type": "text", "text": "Checking."}))}),
        ),
        with(
            "claude-sonnet-4-5",
            json!({"thinking": thinking, "tools": tools,
            "messages": tool_turns(json!({"type": "thinking", "thinking": "hmm", "signature": "forged"}))}),
        ),
        with("claude-opus-4-1", json!({"output_config": {"format": {"type": "json_schema", "schema": closed}}})),
        with("claude-sonnet-4-5", json!({"output_config": {"format": {"type": "json_schema", "schema": open}}})),
        with("claude-sonnet-4-5", json!({"tools": tools, "tool_choice": {"type": "tool", "name": "g"}})),
        with("claude-sonnet-4-5", json!({"system": [ephemeral, ephemeral, ephemeral, ephemeral, ephemeral]})),
        with(
            "claude-sonnet-4-5",
            json!({"system": [{"type": "text", "text": "x", "cache_control": {"type": "persistent"}}]}),
        ),
        with(
            "claude-sonnet-4-5",
            json!({"messages": [{"role": "user", "content": [
                {"type": "document", "source": {"type": "base64", "media_type": "application/zip", "data": "UEs="}}
            ]}]}),
        ),
    ];
    for body in refused {
        let (status, answer) = post(body.clone()).await;
        assert_eq!(status, 400, "{body} -> {answer}");
        assert_eq!(answer["error"]["type"], "invalid_request_error", "{answer}");
    }
}
