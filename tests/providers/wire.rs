//! Reads a recorded upstream request in each wire format, so one suite can assert on
//! what every provider sent.

use serde_json::Value;

use crate::fakes::Recorded;
use crate::subjects::{Wire, API_KEY};

fn texts_of(content: &Value) -> String {
    match content {
        Value::String(text) => text.clone(),
        Value::Array(parts) => {
            parts.iter().filter_map(|p| p.get("text").and_then(Value::as_str)).collect::<Vec<_>>().join("")
        }
        _ => String::new(),
    }
}

pub fn model(wire: Wire, request: &Recorded) -> String {
    match wire {
        Wire::OpenAi | Wire::Anthropic => request.body["model"].as_str().unwrap().to_owned(),
        Wire::Gemini => {
            let path = request.path_and_query.split('?').next().unwrap();
            let rest = path.strip_prefix("/v1beta/models/").unwrap();
            rest.split(':').next().unwrap().to_owned()
        }
    }
}

/// The credential header carries our provider key.
pub fn sent_api_key(wire: Wire, request: &Recorded) -> bool {
    let header = |name: &str| request.headers.get(name).and_then(|v| v.to_str().ok()).map(str::to_owned);
    match wire {
        Wire::OpenAi => header("authorization") == Some(format!("Bearer {API_KEY}")),
        Wire::Anthropic => {
            header("x-api-key").as_deref() == Some(API_KEY)
                && header("anthropic-version").as_deref() == Some("2023-06-01")
        }
        Wire::Gemini => header("x-goog-api-key").as_deref() == Some(API_KEY),
    }
}

pub fn system_prompt(wire: Wire, body: &Value) -> Option<String> {
    match wire {
        Wire::OpenAi => {
            body["messages"].as_array()?.iter().find(|m| m["role"] == "system").map(|m| texts_of(&m["content"]))
        }
        Wire::Anthropic => body.get("system").map(texts_of),
        Wire::Gemini => body.pointer("/systemInstruction/parts").map(texts_of),
    }
}

/// The conversation as (user|assistant, text) pairs, system prompt and tool turns excluded.
pub fn text_turns(wire: Wire, body: &Value) -> Vec<(String, String)> {
    let (list, content_key) = match wire {
        Wire::OpenAi => (&body["messages"], "content"),
        Wire::Anthropic => (&body["messages"], "content"),
        Wire::Gemini => (&body["contents"], "parts"),
    };
    list.as_array()
        .unwrap()
        .iter()
        .filter_map(|turn| {
            let role = match turn["role"].as_str().unwrap() {
                "model" => "assistant",
                "user" => "user",
                "assistant" => "assistant",
                _ => return None,
            };
            let text = texts_of(&turn[content_key]);
            (!text.is_empty()).then(|| (role.to_owned(), text))
        })
        .collect()
}

pub fn tool_names(wire: Wire, body: &Value) -> Vec<String> {
    let names = |list: &Value, pointer: &str| -> Vec<String> {
        list.as_array()
            .map(|tools| {
                tools.iter().filter_map(|t| t.pointer(pointer).and_then(Value::as_str).map(str::to_owned)).collect()
            })
            .unwrap_or_default()
    };
    match wire {
        Wire::OpenAi => names(&body["tools"], "/function/name"),
        Wire::Anthropic => names(&body["tools"], "/name"),
        Wire::Gemini => names(&body["tools"][0]["functionDeclarations"], "/name"),
    }
}

/// The parameters schema sent for the first tool.
pub fn first_tool_schema(wire: Wire, body: &Value) -> Value {
    match wire {
        Wire::OpenAi => body["tools"][0]["function"]["parameters"].clone(),
        Wire::Anthropic => body["tools"][0]["input_schema"].clone(),
        Wire::Gemini => body["tools"][0]["functionDeclarations"][0]["parametersJsonSchema"].clone(),
    }
}

/// Every content block / part of every message, flattened.
fn blocks(wire: Wire, body: &Value) -> Vec<Value> {
    let (list, key) = match wire {
        Wire::Gemini => (&body["contents"], "parts"),
        _ => (&body["messages"], "content"),
    };
    list.as_array().unwrap().iter().flat_map(|m| m[key].as_array().cloned().unwrap_or_default()).collect()
}

/// The assistant's earlier tool call: (id if the wire has ids, name, arguments object).
pub fn assistant_tool_call(wire: Wire, body: &Value) -> (Option<String>, String, Value) {
    match wire {
        Wire::OpenAi => {
            let message = body["messages"].as_array().unwrap().iter().find(|m| m.get("tool_calls").is_some()).unwrap();
            let call = &message["tool_calls"][0];
            let arguments = serde_json::from_str(call["function"]["arguments"].as_str().unwrap()).unwrap();
            (
                Some(call["id"].as_str().unwrap().to_owned()),
                call["function"]["name"].as_str().unwrap().to_owned(),
                arguments,
            )
        }
        Wire::Anthropic => {
            let block = blocks(wire, body).into_iter().find(|b| b["type"] == "tool_use").unwrap();
            (
                Some(block["id"].as_str().unwrap().to_owned()),
                block["name"].as_str().unwrap().to_owned(),
                block["input"].clone(),
            )
        }
        Wire::Gemini => {
            let part = blocks(wire, body).into_iter().find(|p| p.get("functionCall").is_some()).unwrap();
            (None, part["functionCall"]["name"].as_str().unwrap().to_owned(), part["functionCall"]["args"].clone())
        }
    }
}

/// The tool result sent back: (call id or function name it answers, result as JSON).
pub fn tool_result(wire: Wire, body: &Value) -> (String, Value) {
    match wire {
        Wire::OpenAi => {
            let message = body["messages"].as_array().unwrap().iter().find(|m| m["role"] == "tool").unwrap();
            let result = serde_json::from_str(message["content"].as_str().unwrap()).unwrap();
            (message["tool_call_id"].as_str().unwrap().to_owned(), result)
        }
        Wire::Anthropic => {
            let block = blocks(wire, body).into_iter().find(|b| b["type"] == "tool_result").unwrap();
            let result = serde_json::from_str(block["content"].as_str().unwrap()).unwrap();
            (block["tool_use_id"].as_str().unwrap().to_owned(), result)
        }
        Wire::Gemini => {
            let part = blocks(wire, body).into_iter().find(|p| p.get("functionResponse").is_some()).unwrap();
            let response = &part["functionResponse"];
            (response["name"].as_str().unwrap().to_owned(), response["response"].clone())
        }
    }
}

/// Whether a streamed request asked the upstream to report usage.
pub fn asked_for_stream_with_usage(wire: Wire, request: &Recorded) -> bool {
    match wire {
        Wire::OpenAi => {
            request.body["stream"] == Value::Bool(true)
                && request.body.pointer("/stream_options/include_usage") == Some(&Value::Bool(true))
        }
        // Anthropic always reports usage in message_start / message_delta.
        Wire::Anthropic => request.body["stream"] == Value::Bool(true),
        // Gemini always sends usageMetadata.
        Wire::Gemini => request.path_and_query.ends_with(":streamGenerateContent?alt=sse"),
    }
}
