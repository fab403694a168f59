//! The conformance suite: every case runs against every provider (see `main.rs`).

use std::time::{Duration, Instant};

use futures::StreamExt;
use gaiarouter::gateway::openai::{
    ChatCompletion, ChatCompletionChunk, ChatCompletionRequest, ChatMessage, CompletionAccumulator, FinishReason, Role,
    Tool, Usage,
};
use gaiarouter::gateway::providers::ProviderError;
use serde_json::{json, Value};

use crate::fakes::{Behaviour, Reply, Tokens, COMPLETION_TOKENS, PROMPT_TOKENS};
use crate::subjects::{Kind, Subject};
use crate::wire;

/// Longer than any configured timeout: a case that reaches it has hung.
const NEVER: Duration = Duration::from_secs(10);

fn text(reply: &str) -> Behaviour {
    Behaviour::Answer(Reply::Text(reply.into()))
}

fn weather_call() -> Reply {
    Reply::ToolCall { name: "get_weather".into(), arguments: json!({"city": "Paris", "unit": "celsius"}) }
}

/// The counts every provider must get right; the details (cache writes, reasoning,
/// audio) are each provider's own and checked by its own cases.
fn counts(usage: Option<Usage>) -> Option<(u64, u64, u64, u64)> {
    usage.map(|u| (u.prompt_tokens, u.completion_tokens, u.total_tokens, u.cached_tokens()))
}

fn expected_usage() -> Usage {
    Usage::new(PROMPT_TOKENS, COMPLETION_TOKENS, 0)
}

fn ask(question: &str) -> ChatCompletionRequest {
    ChatCompletionRequest::new("client/model", vec![ChatMessage::user(question)])
}

fn weather_tool() -> Tool {
    Tool::function(
        "get_weather",
        "Current weather in a city",
        json!({"type": "object", "properties": {"city": {"type": "string"}, "unit": {"type": "string"}}, "required": ["city"]}),
    )
}

async fn complete(subject: &Subject, request: &ChatCompletionRequest) -> Result<ChatCompletion, ProviderError> {
    tokio::time::timeout(NEVER, subject.provider.complete(request, subject.upstream_model))
        .await
        .expect("complete() hung")
}

/// Opens a stream and drains it; the error, if any, is the last item.
async fn stream(
    subject: &Subject,
    request: &ChatCompletionRequest,
) -> Result<Vec<Result<ChatCompletionChunk, ProviderError>>, ProviderError> {
    let mut request = request.clone();
    request.stream = Some(true);
    let call = async {
        let chunks = subject.provider.stream(&request, subject.upstream_model).await?;
        Ok(chunks.collect::<Vec<_>>().await)
    };
    tokio::time::timeout(NEVER, call).await.expect("stream() hung")
}

fn accumulate(items: &[Result<ChatCompletionChunk, ProviderError>]) -> CompletionAccumulator {
    let mut all = CompletionAccumulator::new();
    for item in items {
        all.push(item.as_ref().expect("an error item in a stream that should succeed"));
    }
    all
}

pub async fn answers_plain_text(kind: Kind) {
    let subject = Subject::start(kind, vec![text("Hello from the fake upstream")]).await;
    let completion = complete(&subject, &ask("Say hello")).await.unwrap();

    assert_eq!(completion.object, "chat.completion");
    let choice = &completion.choices[0];
    assert_eq!(choice.message.role, Role::Assistant);
    assert_eq!(choice.message.text(), "Hello from the fake upstream");
    assert_eq!(choice.finish_reason, Some(FinishReason::Stop));
    assert_eq!(counts(completion.usage), counts(Some(expected_usage())));

    let request = subject.fake.last_request();
    let wire = kind.wire();
    assert_eq!(wire::model(wire, &request), subject.upstream_model);
    assert!(wire::sent_api_key(wire, &request), "provider key not sent: {:?}", request.headers);
    assert_eq!(wire::text_turns(wire, &request.body), vec![("user".to_owned(), "Say hello".to_owned())]);
}

pub async fn translates_a_multi_turn_conversation_with_a_system_prompt(kind: Kind) {
    let subject = Subject::start(kind, vec![text("Paris.")]).await;
    let request = ChatCompletionRequest::new(
        "client/model",
        vec![
            ChatMessage::system("Answer in one word."),
            ChatMessage::user("Capital of Italy?"),
            ChatMessage::assistant("Rome."),
            ChatMessage::user("And of France?"),
        ],
    );
    let completion = complete(&subject, &request).await.unwrap();
    assert_eq!(completion.choices[0].message.text(), "Paris.");

    let body = subject.fake.last_request().body;
    let wire = kind.wire();
    assert_eq!(wire::system_prompt(wire, &body).as_deref(), Some("Answer in one word."));
    let turns: Vec<(&str, &str)> =
        vec![("user", "Capital of Italy?"), ("assistant", "Rome."), ("user", "And of France?")];
    let sent = wire::text_turns(wire, &body);
    let sent: Vec<(&str, &str)> = sent.iter().map(|(r, t)| (r.as_str(), t.as_str())).collect();
    assert_eq!(sent, turns);
}

pub async fn round_trips_a_tool_call(kind: Kind) {
    let subject = Subject::start(kind, vec![Behaviour::Answer(weather_call()), text("It is 21°C in Paris.")]).await;
    let wire = kind.wire();
    let mut request = ask("What's the weather in Paris?");
    request.tools = Some(vec![weather_tool()]);

    // 1. The model asks for the tool.
    let first = complete(&subject, &request).await.unwrap();
    let choice = &first.choices[0];
    assert_eq!(choice.finish_reason, Some(FinishReason::ToolCalls));
    let calls = choice.message.tool_calls.clone().expect("no tool calls");
    assert_eq!(calls.len(), 1);
    let call = &calls[0];
    assert!(!call.id.is_empty());
    assert_eq!(call.kind, "function");
    assert_eq!(call.function.name, "get_weather");
    let arguments: Value = serde_json::from_str(&call.function.arguments).unwrap();
    assert_eq!(arguments, json!({"city": "Paris", "unit": "celsius"}));

    let sent = subject.fake.last_request().body;
    assert_eq!(wire::tool_names(wire, &sent), vec!["get_weather"]);
    assert_eq!(wire::first_tool_schema(wire, &sent)["required"], json!(["city"]));

    // 2. The client runs it and sends the result back.
    request.messages.push(choice.message.clone());
    request.messages.push(ChatMessage::tool_result(&call.id, r#"{"temp_c": 21}"#));
    let second = complete(&subject, &request).await.unwrap();
    assert_eq!(second.choices[0].message.text(), "It is 21°C in Paris.");
    assert_eq!(second.choices[0].finish_reason, Some(FinishReason::Stop));

    let sent = subject.fake.last_request().body;
    let (sent_call_id, sent_name, sent_arguments) = wire::assistant_tool_call(wire, &sent);
    assert_eq!(sent_name, "get_weather");
    assert_eq!(sent_arguments, json!({"city": "Paris", "unit": "celsius"}));
    let (answered, result) = wire::tool_result(wire, &sent);
    assert_eq!(result, json!({"temp_c": 21}));
    match sent_call_id {
        // OpenAI and Anthropic link the result to the call by id...
        Some(id) => {
            assert_eq!(id, call.id);
            assert_eq!(answered, call.id);
        }
        // ...Gemini by function name.
        None => assert_eq!(answered, "get_weather"),
    }
}

pub async fn streams_text_and_ends_with_the_upstream_usage(kind: Kind) {
    let subject = Subject::start(kind, vec![text("The quick brown fox jumps")]).await;
    let items = stream(&subject, &ask("Tell me about foxes")).await.unwrap();

    assert!(items.len() >= 4, "expected role, content, finish and usage chunks: {items:?}");
    let first = items[0].as_ref().unwrap();
    assert_eq!(first.object, "chat.completion.chunk");
    assert_eq!(first.choices[0].delta.role, Some(Role::Assistant));
    let last = items.last().unwrap().as_ref().unwrap();
    assert!(last.choices.is_empty(), "the usage chunk carries no choices");
    assert_eq!(counts(last.usage), counts(Some(expected_usage())));
    let content_chunks = items
        .iter()
        .filter(|i| {
            i.as_ref()
                .unwrap()
                .choices
                .first()
                .is_some_and(|c| c.delta.content.as_deref().is_some_and(|t| !t.is_empty()))
        })
        .count();
    assert!(content_chunks >= 2, "the text should arrive in pieces");

    let completion = accumulate(&items).finish();
    assert_eq!(completion.choices[0].message.text(), "The quick brown fox jumps");
    assert_eq!(completion.choices[0].finish_reason, Some(FinishReason::Stop));
    assert!(wire::asked_for_stream_with_usage(kind.wire(), &subject.fake.last_request()));
}

pub async fn streams_a_tool_call(kind: Kind) {
    let subject = Subject::start(kind, vec![Behaviour::Answer(weather_call())]).await;
    let mut request = ask("Weather in Paris?");
    request.tools = Some(vec![weather_tool()]);
    let items = stream(&subject, &request).await.unwrap();
    let all = accumulate(&items);
    assert_eq!(counts(all.usage()), counts(Some(expected_usage())));
    let completion = all.finish();
    let choice = &completion.choices[0];
    assert_eq!(choice.finish_reason, Some(FinishReason::ToolCalls));
    let call = &choice.message.tool_calls.as_ref().unwrap()[0];
    assert!(!call.id.is_empty());
    assert_eq!(call.function.name, "get_weather");
    let arguments: Value = serde_json::from_str(&call.function.arguments).unwrap();
    assert_eq!(arguments, json!({"city": "Paris", "unit": "celsius"}));
}

pub async fn keeps_upstream_client_errors_status_and_message(kind: Kind) {
    for (status, message) in [
        (400, "Invalid value for 'temperature'"),
        (404, "The model does not exist"),
        (429, "Rate limit reached for requests"),
    ] {
        let subject = Subject::start(kind, vec![Behaviour::Fail { status, message: message.into() }]).await;
        let error = complete(&subject, &ask("hi")).await.unwrap_err();
        assert_eq!(
            error,
            ProviderError::UpstreamClientError { status, message: message.into(), retry_after_secs: None }
        );
        assert_eq!(error.http_status(), status);

        let error = stream(&subject, &ask("hi")).await.unwrap_err();
        assert_eq!(error.http_status(), status, "streamed call, upstream {status}");
        assert!(error.to_string().contains(message));
    }
}

/// The router cools a rate-limited deployment down for as long as it asks.
pub async fn keeps_the_retry_after_of_a_rate_limit(kind: Kind) {
    let subject = Subject::start(kind, vec![Behaviour::RateLimited { retry_after_secs: 7 }]).await;
    let error = complete(&subject, &ask("hi")).await.unwrap_err();
    assert_eq!(error.retry_after(), Some(Duration::from_secs(7)), "{error:?}");
    assert_eq!(error.http_status(), 429);
    let error = stream(&subject, &ask("hi")).await.unwrap_err();
    assert_eq!(error.retry_after(), Some(Duration::from_secs(7)), "streamed: {error:?}");
    // Once the upstream recovers, the same provider answers again.
    subject.fake.set_script(vec![Behaviour::Answer(Reply::Text("back".into()))]);
    assert!(complete(&subject, &ask("hi")).await.is_ok());
}

pub async fn reports_a_rejected_provider_key_as_a_bad_gateway(kind: Kind) {
    let subject = Subject::start(kind, vec![Behaviour::Fail { status: 401, message: "invalid api key".into() }]).await;
    let error = complete(&subject, &ask("hi")).await.unwrap_err();
    assert_eq!(error.http_status(), 502);
    assert_eq!(error.kind(), "upstream_auth_failed");
    assert!(error.to_string().contains("GaiaRouter's credentials"), "{error}");
}

pub async fn maps_upstream_server_errors_to_bad_gateway(kind: Kind) {
    for status in [500, 503] {
        let subject = Subject::start(kind, vec![Behaviour::Fail { status, message: "upstream exploded".into() }]).await;
        let error = complete(&subject, &ask("hi")).await.unwrap_err();
        assert_eq!(error, ProviderError::UpstreamServerError { status, message: "upstream exploded".into() });
        assert_eq!(error.http_status(), 502);
        let error = stream(&subject, &ask("hi")).await.unwrap_err();
        assert_eq!(error.http_status(), 502);
    }
}

pub async fn times_out_a_silent_upstream(kind: Kind) {
    let subject = Subject::start(kind, vec![Behaviour::Hang]).await;
    let started = Instant::now();
    let error = complete(&subject, &ask("hi")).await.unwrap_err();
    assert_eq!(error, ProviderError::Timeout);
    assert_eq!(error.http_status(), 504);
    assert!(started.elapsed() < Duration::from_secs(3), "took {:?}", started.elapsed());

    let started = Instant::now();
    let error = stream(&subject, &ask("hi")).await.unwrap_err();
    assert_eq!(error, ProviderError::Timeout);
    assert!(started.elapsed() < Duration::from_secs(3), "took {:?}", started.elapsed());
}

pub async fn times_out_a_stream_that_goes_silent(kind: Kind) {
    let subject = Subject::start(kind, vec![Behaviour::StallStream(Reply::Text("half an answer".into()))]).await;
    let started = Instant::now();
    let items = stream(&subject, &ask("hi")).await.unwrap();
    assert!(items.iter().any(Result::is_ok), "the start of the answer arrives");
    assert_eq!(items.last(), Some(&Err(ProviderError::Timeout)));
    assert!(started.elapsed() < Duration::from_secs(3), "took {:?}", started.elapsed());
}

pub async fn ends_a_cut_stream_with_an_error(kind: Kind) {
    let subject =
        Subject::start(kind, vec![Behaviour::CutStream(Reply::Text("an answer that never ends".into()))]).await;
    let items = stream(&subject, &ask("hi")).await.unwrap();
    assert!(items.len() >= 2);
    assert!(items[..items.len() - 1].iter().all(Result::is_ok));
    assert!(items.iter().filter_map(|i| i.as_ref().ok()).all(|c| c.usage.is_none()));
    let error = items.last().unwrap().as_ref().unwrap_err();
    assert_eq!(*error, ProviderError::StreamCut);
    assert_eq!(error.http_status(), 502);
}

pub async fn ends_the_stream_on_an_upstream_error_event(kind: Kind) {
    let subject = Subject::start(kind, vec![Behaviour::ErrorMidStream(Reply::Text("partial answer".into()))]).await;
    let items = stream(&subject, &ask("hi")).await.unwrap();
    assert!(items[0].is_ok());
    let error = items.last().unwrap().as_ref().unwrap_err();
    assert!(matches!(error, ProviderError::UpstreamServerError { .. }), "{error:?}");
    assert_eq!(error.http_status(), 502);
}

pub async fn reports_an_unreachable_upstream(kind: Kind) {
    // A port that was just free: nothing listens there any more.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let origin = format!("http://{}", listener.local_addr().unwrap());
    drop(listener);
    let provider = crate::subjects::provider_for(kind, &origin);
    let error = provider.complete(&ask("hi"), "model").await.unwrap_err();
    assert!(matches!(error, ProviderError::Connection(_)), "{error:?}");
    assert_eq!(error.http_status(), 502);
    assert!(!error.to_string().contains(&origin), "the upstream URL is not leaked to clients");
}

/// A wrong key, refused the provider's own way (401; Gemini: 400 API_KEY_INVALID), is
/// our misconfiguration: a bad gateway, never the client's 4xx, and the refusal's text
/// (OpenAI echoes the key's last characters) does not reach the client.
pub async fn reports_a_wrong_provider_key_as_a_bad_gateway_without_echoing_it(kind: Kind) {
    let subject = Subject::start(kind, vec![text("never sent")]).await;
    let provider = crate::subjects::provider_with_key(kind, &subject.fake.origin, "sk-wrong-key-0042wxyz");
    let error =
        tokio::time::timeout(NEVER, provider.complete(&ask("hi"), subject.upstream_model)).await.unwrap().unwrap_err();
    assert_eq!((error.http_status(), error.kind()), (502, "upstream_auth_failed"), "{error:?}");
    assert!(!error.to_string().contains("wxyz"), "the provider key leaks to the client: {error}");

    let mut request = ask("hi");
    request.stream = Some(true);
    let error = match tokio::time::timeout(NEVER, provider.stream(&request, subject.upstream_model)).await.unwrap() {
        Ok(_) => panic!("a stream opened with a wrong key"),
        Err(error) => error,
    };
    assert_eq!((error.http_status(), error.kind()), (502, "upstream_auth_failed"), "{error:?}");
    assert!(!error.to_string().contains("wxyz"), "the provider key leaks to the client: {error}");
}

/// 403 (OpenAI: region not supported; Anthropic: permission_error; Gemini:
/// PERMISSION_DENIED): the gateway's credentials may not do this, so a bad gateway.
pub async fn reports_a_forbidden_provider_key_as_a_bad_gateway(kind: Kind) {
    let subject =
        Subject::start(kind, vec![Behaviour::Fail { status: 403, message: "not allowed to use this model".into() }])
            .await;
    let error = complete(&subject, &ask("hi")).await.unwrap_err();
    assert_eq!(
        error,
        ProviderError::UpstreamClientError {
            status: 403,
            message: "not allowed to use this model".into(),
            retry_after_secs: None,
        }
    );
    assert_eq!((error.http_status(), error.kind()), (502, "upstream_auth_failed"));
    let error = stream(&subject, &ask("hi")).await.unwrap_err();
    assert_eq!((error.http_status(), error.kind()), (502, "upstream_auth_failed"));
}

/// Usage unlike any default, with cache reads, cache writes and reasoning, spelled the
/// provider's way; the gateway must arrive at the same prompt, completion and cached counts.
fn unusual_tokens(seed: u64) -> Tokens {
    Tokens { prompt: 1_234 + seed, completion: 567 + seed, cached: 1_000 + seed, reasoning: 120, cache_write: 34 }
}

fn usage_of(tokens: Tokens) -> Usage {
    Usage::new(tokens.prompt, tokens.completion, tokens.cached)
}

pub async fn passes_the_exact_usage_through_with_cached_tokens(kind: Kind) {
    let (first, second) = (unusual_tokens(0), unusual_tokens(77));
    let subject = Subject::start(
        kind,
        vec![Behaviour::AnswerWith(Reply::Text("one".into()), first), Behaviour::AnswerWith(weather_call(), second)],
    )
    .await;
    let completion = complete(&subject, &ask("hi")).await.unwrap();
    assert_eq!(counts(completion.usage), counts(Some(usage_of(first))));
    let mut request = ask("weather?");
    request.tools = Some(vec![weather_tool()]);
    let completion = complete(&subject, &request).await.unwrap();
    assert_eq!(counts(completion.usage), counts(Some(usage_of(second))), "usage differs per reply");
}

pub async fn streams_the_exact_usage_through_with_cached_tokens(kind: Kind) {
    let tokens = unusual_tokens(5);
    let subject =
        Subject::start(kind, vec![Behaviour::AnswerWith(Reply::Text("a streamed answer".into()), tokens)]).await;
    let items = stream(&subject, &ask("hi")).await.unwrap();
    let last = items.last().unwrap().as_ref().unwrap();
    assert_eq!(counts(last.usage), counts(Some(usage_of(tokens))));
    assert_eq!(counts(accumulate(&items).usage()), counts(Some(usage_of(tokens))));
}

/// The fakes cut streams at random byte offsets, inside characters and line endings,
/// and mix in comments and pings; the text must come out whole all the same.
pub async fn reassembles_unicode_text_from_a_stream_cut_anywhere(kind: Kind) {
    let answer = "Café crème brûlée, 日本語のテキスト, and emoji 🦀🚀👩‍💻 too.";
    for _ in 0..5 {
        let subject = Subject::start(kind, vec![text(answer)]).await;
        let items = stream(&subject, &ask("Say something international")).await.unwrap();
        let completion = accumulate(&items).finish();
        assert_eq!(completion.choices[0].message.text(), answer);
        assert_eq!(completion.choices[0].finish_reason, Some(FinishReason::Stop));
        assert_eq!(counts(items.last().unwrap().as_ref().unwrap().usage), counts(Some(expected_usage())));
    }
    let subject = Subject::start(kind, vec![text(answer)]).await;
    assert_eq!(complete(&subject, &ask("again")).await.unwrap().choices[0].message.text(), answer);
}
