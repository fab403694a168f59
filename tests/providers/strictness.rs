//! The fakes refuse what the real providers refuse, the providers' way: a wrong or
//! missing key and malformed bodies, each with the provider's own status and error
//! body. Without this, a translation that the real API would refuse passes here.

use serde_json::{json, Value};

use crate::fakes::{self, Behaviour, FakeUpstream, Reply};

const KEY: &str = "sk-test-0123456789abcdef";

async fn fake(router: fn(fakes::FakeState) -> axum::Router) -> FakeUpstream {
    let fake = FakeUpstream::start(router, vec![Behaviour::Answer(Reply::Text("fine".into()))]).await;
    fake.require_key(KEY);
    fake
}

/// Posts `body` with `headers` and returns the status and JSON body.
async fn post(url: &str, headers: &[(&str, &str)], body: &Value) -> (u16, Value) {
    let mut request = reqwest::Client::new().post(url).json(body);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap())
}

fn chat(messages: Value) -> Value {
    json!({"model": "gpt-4o-mini", "messages": messages})
}

#[tokio::test]
async fn openai_refuses_bad_keys_and_bodies_with_its_own_error_object() {
    let fake = fake(fakes::openai::router).await;
    let url = format!("{}/v1/chat/completions", fake.origin);
    let bearer = format!("Bearer {KEY}");
    let good = chat(json!([{"role": "user", "content": "hi"}]));
    let (status, _) = post(&url, &[("authorization", &bearer)], &good).await;
    assert_eq!(status, 200, "a valid request is answered");

    let (status, body) = post(&url, &[], &good).await;
    assert_eq!(status, 401);
    assert_eq!(body["error"]["type"], "invalid_request_error");
    assert!(body["error"]["message"].as_str().unwrap().starts_with("You didn't provide an API key"));
    let (status, body) = post(&url, &[("authorization", "Bearer sk-wrong-key-9876")], &good).await;
    assert_eq!(status, 401);
    assert_eq!(body["error"]["code"], "invalid_api_key");
    assert!(body["error"]["message"].as_str().unwrap().contains("9876"), "OpenAI echoes the key's last characters");

    let malformed = [
        (json!({"messages": [{"role": "user", "content": "hi"}]}), Value::Null),
        (json!({"model": "gpt-4o-mini"}), json!("messages")),
        (chat(json!([])), json!("messages")),
        (chat(json!([{"role": "bot", "content": "hi"}])), json!("messages[0].role")),
        (chat(json!([{"role": "user", "content": 42}])), json!("messages[0].content")),
        (chat(json!([{"role": "user"}])), json!("messages[0].content")),
        (chat(json!([{"role": "tool", "tool_call_id": "call_1", "content": "{}"}])), json!("messages.[0].role")),
        (
            chat(json!([
                {"role": "user", "content": "weather?"},
                {"role": "assistant", "content": null, "tool_calls": [{"id": "call_1", "type": "function", "function": {"name": "f", "arguments": "{}"}}]},
                {"role": "user", "content": "well?"}
            ])),
            json!("messages.[2].role"),
        ),
        (
            json!({"model": "m", "messages": [{"role": "user", "content": "hi"}], "temperature": 2.5}),
            json!("temperature"),
        ),
        (
            json!({"model": "m", "messages": [{"role": "user", "content": "hi"}], "stream_options": {"include_usage": true}}),
            json!("stream_options"),
        ),
    ];
    for (body, param) in malformed {
        let (status, answer) = post(&url, &[("authorization", &bearer)], &body).await;
        assert_eq!(status, 400, "{body} -> {answer}");
        let error = &answer["error"];
        assert_eq!(error["type"], "invalid_request_error", "{answer}");
        assert!(error["message"].as_str().is_some_and(|m| !m.is_empty()), "{answer}");
        assert_eq!(error["param"], param, "{body} -> {answer}");
        assert!(error.get("code").is_some(), "OpenAI's error object always has code: {answer}");
    }
    assert_eq!(fake.requests().len(), 13, "refused requests are recorded too");
}

#[tokio::test]
async fn openrouter_refuses_with_a_numeric_code_and_no_openai_type() {
    let fake = fake(fakes::openai::openrouter_router).await;
    let url = format!("{}/v1/chat/completions", fake.origin);
    let (status, body) = post(&url, &[], &chat(json!([{"role": "user", "content": "hi"}]))).await;
    assert_eq!(status, 401);
    assert_eq!(body, json!({"error": {"code": 401, "message": "No auth credentials found"}}));
    let (status, body) =
        post(&url, &[("authorization", "Bearer sk-or-v1-wrong")], &chat(json!([{"role": "user", "content": "hi"}])))
            .await;
    assert_eq!(status, 401);
    assert_eq!(body["error"]["code"], 401);
    let bearer = format!("Bearer {KEY}");
    let (status, body) = post(&url, &[("authorization", &bearer)], &chat(json!([]))).await;
    assert_eq!(status, 400);
    assert_eq!(body["error"]["code"], 400);
    assert!(body["error"].get("type").is_none(), "OpenRouter's error has no `type`: {body}");
}

#[tokio::test]
async fn anthropic_refuses_bad_keys_headers_and_bodies_with_its_error_envelope() {
    let fake = fake(fakes::anthropic::router).await;
    let url = format!("{}/v1/messages", fake.origin);
    let version = ("anthropic-version", "2023-06-01");
    let good =
        json!({"model": "claude-sonnet-4-5", "max_tokens": 100, "messages": [{"role": "user", "content": "hi"}]});
    let (status, _) = post(&url, &[("x-api-key", KEY), version], &good).await;
    assert_eq!(status, 200, "a valid request is answered");

    for (headers, status, error_type) in [
        (vec![version], 401, "authentication_error"),
        (vec![("x-api-key", "sk-ant-wrong"), version], 401, "authentication_error"),
        (vec![("x-api-key", KEY)], 400, "invalid_request_error"),
        // OpenAI-style auth is not Anthropic's.
        (vec![("authorization", "Bearer sk-test-0123456789abcdef"), version], 401, "authentication_error"),
    ] {
        let (got, body) = post(&url, &headers, &good).await;
        assert_eq!(got, status, "{headers:?}: {body}");
        assert_eq!(body["type"], "error");
        assert_eq!(body["error"]["type"], error_type, "{body}");
    }

    let user = |text: &str| json!({"role": "user", "content": text});
    let malformed = [
        json!({"max_tokens": 100, "messages": [user("hi")]}),
        json!({"model": "claude-sonnet-4-5", "messages": [user("hi")]}),
        json!({"model": "claude-sonnet-4-5", "max_tokens": 100}),
        json!({"model": "claude-sonnet-4-5", "max_tokens": 100, "messages": [{"role": "system", "content": "be brief"}, user("hi")]}),
        json!({"model": "claude-sonnet-4-5", "max_tokens": 100, "messages": [user("hi"), user("again")]}),
        json!({"model": "claude-sonnet-4-5", "max_tokens": 100, "messages": [{"role": "assistant", "content": "hi"}]}),
        json!({"model": "claude-sonnet-4-5", "max_tokens": 100, "messages": [user("")]}),
        json!({"model": "claude-sonnet-4-5", "max_tokens": 100, "messages": [user("hi")], "temperature": 1.5}),
        json!({"model": "claude-sonnet-4-5", "max_tokens": 100, "messages": [user("hi")], "response_format": {"type": "json_object"}}),
        json!({"model": "claude-sonnet-4-5", "max_tokens": 100, "messages": [
            user("weather?"),
            {"role": "assistant", "content": [{"type": "tool_use", "id": "toolu_1", "name": "f", "input": {}}]},
            user("well?")
        ]}),
        json!({"model": "claude-sonnet-4-5", "max_tokens": 100, "messages": [
            {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_9", "content": "{}"}]}
        ]}),
    ];
    for body in malformed {
        let (status, answer) = post(&url, &[("x-api-key", KEY), version], &body).await;
        assert_eq!(status, 400, "{body} -> {answer}");
        assert_eq!(answer["type"], "error");
        assert_eq!(answer["error"]["type"], "invalid_request_error", "{answer}");
        assert!(answer["error"]["message"].as_str().is_some_and(|m| !m.is_empty()));
    }
}

#[tokio::test]
async fn gemini_refuses_like_google_including_400_for_a_wrong_key() {
    let fake = fake(fakes::gemini::router).await;
    let url = format!("{}/v1beta/models/gemini-2.5-flash:generateContent", fake.origin);
    let good = json!({"contents": [{"role": "user", "parts": [{"text": "hi"}]}]});
    let (status, _) = post(&url, &[("x-goog-api-key", KEY)], &good).await;
    assert_eq!(status, 200, "a valid request is answered");
    let (status, _) = post(&format!("{url}?key={KEY}"), &[], &good).await;
    assert_eq!(status, 200, "the key may come as a query parameter");

    let (status, body) = post(&url, &[], &good).await;
    assert_eq!(status, 403);
    assert_eq!(body["error"]["status"], "PERMISSION_DENIED");
    let (status, body) = post(&url, &[("x-goog-api-key", "AIza-wrong")], &good).await;
    assert_eq!(status, 400, "Google answers a wrong key with 400, not 401");
    assert_eq!(body["error"]["status"], "INVALID_ARGUMENT");
    assert_eq!(body["error"]["details"][0]["reason"], "API_KEY_INVALID");

    let text = |t: &str| json!([{"text": t}]);
    let malformed = [
        json!({}),
        json!({"contents": []}),
        json!({"contents": [{"role": "assistant", "parts": text("hi")}]}),
        json!({"contents": [{"role": "user", "parts": []}]}),
        json!({"contents": [{"role": "user", "parts": text("hi")}], "temperature": 0.5}),
        json!({"contents": [{"role": "user", "parts": text("hi")}], "generationConfig": {"max_tokens": 5}}),
        json!({"contents": [{"role": "system", "parts": text("be brief")}, {"role": "user", "parts": text("hi")}]}),
        json!({"contents": [{"role": "user", "parts": [{"text": "hi", "type": "text"}]}]}),
        json!({"contents": [{"role": "user", "parts": text("hi")}], "tools": [{"functionDeclarations": [
            {"name": "f", "parameters": {"type": "object", "additionalProperties": false}}
        ]}]}),
        json!({"contents": [
            {"role": "user", "parts": text("weather?")},
            {"role": "model", "parts": [{"functionCall": {"name": "f", "args": {}}}, {"functionCall": {"name": "g", "args": {}}}]},
            {"role": "user", "parts": [{"functionResponse": {"name": "f", "response": {}}}]}
        ]}),
    ];
    for body in malformed {
        let (status, answer) = post(&url, &[("x-goog-api-key", KEY)], &body).await;
        assert_eq!(status, 400, "{body} -> {answer}");
        assert_eq!(answer["error"]["code"], 400);
        assert_eq!(answer["error"]["status"], "INVALID_ARGUMENT", "{answer}");
    }
}
