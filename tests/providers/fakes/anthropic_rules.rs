//! What Anthropic's Messages API refuses, with its own messages: a missing or wrong
//! `x-api-key` (401), a missing `anthropic-version` header, then the body: required
//! `model`, `max_tokens` and `messages`, no fields it does not know, user/assistant
//! roles only and alternating, `system` at the top level only, non-empty text, every
//! `tool_use` answered by a `tool_result` in the next turn and no result without its
//! call, temperature at most 1 (400, `invalid_request_error`).

use std::collections::BTreeSet;

use axum::http::HeaderMap;
use serde_json::{Map, Value};

use super::{header, FakeState, Refusal};

const FIELDS: [&str; 16] = [
    "model",
    "messages",
    "max_tokens",
    "system",
    "metadata",
    "stop_sequences",
    "stream",
    "temperature",
    "top_p",
    "top_k",
    "tools",
    "tool_choice",
    "thinking",
    "service_tier",
    "container",
    "context_management",
];

const BLOCKS: [&str; 7] = ["text", "image", "document", "tool_use", "tool_result", "thinking", "redacted_thinking"];

pub fn check_headers(state: &FakeState, headers: &HeaderMap) -> Result<(), Refusal> {
    match header(headers, "x-api-key") {
        None => return Err(Refusal::new(401, "x-api-key header is required", None)),
        Some(key) if !state.accepts_key(key) => return Err(Refusal::new(401, "invalid x-api-key", None)),
        Some(_) => {}
    }
    if header(headers, "anthropic-version").is_none() {
        return Err(Refusal::bad_request("anthropic-version: header is required"));
    }
    Ok(())
}

pub fn check_body(body: &Value) -> Result<(), Refusal> {
    let Some(body) = body.as_object() else {
        return Err(Refusal::bad_request("Input should be a valid dictionary or object to extract fields from"));
    };
    if let Some(extra) = body.keys().find(|k| !FIELDS.contains(&k.as_str())) {
        return Err(Refusal::bad_request(format!("{extra}: Extra inputs are not permitted")));
    }
    for required in ["model", "max_tokens", "messages"] {
        if !body.contains_key(required) {
            return Err(Refusal::bad_request(format!("{required}: Field required")));
        }
    }
    if !body["model"].is_string() {
        return Err(Refusal::bad_request("model: Input should be a valid string"));
    }
    if body["max_tokens"].as_u64().is_none_or(|n| n < 1) {
        return Err(Refusal::bad_request("max_tokens: Input should be a valid integer greater than or equal to 1"));
    }
    let Some(messages) = body["messages"].as_array() else {
        return Err(Refusal::bad_request("messages: Input should be a valid list"));
    };
    check_system(body.get("system"))?;
    check_messages(messages)?;
    check_sampling(body)?;
    if let Some(tools) = body.get("tools") {
        check_tools(tools)?;
    }
    if let Some(metadata) = body.get("metadata").and_then(Value::as_object) {
        if let Some(extra) = metadata.keys().find(|k| *k != "user_id") {
            return Err(Refusal::bad_request(format!("metadata.{extra}: Extra inputs are not permitted")));
        }
        // Anthropic refuses personal data here (litellm#10106).
        if metadata.get("user_id").and_then(Value::as_str).is_some_and(looks_like_an_email) {
            return Err(Refusal::bad_request("metadata.user_id: user_id appears to contain an email address"));
        }
    }
    Ok(())
}

fn check_system(system: Option<&Value>) -> Result<(), Refusal> {
    match system {
        None | Some(Value::String(_)) => Ok(()),
        Some(Value::Array(blocks)) => {
            for (i, block) in blocks.iter().enumerate() {
                if block["type"] != "text" || block["text"].as_str().is_none_or(str::is_empty) {
                    return Err(Refusal::bad_request(format!("system.{i}: text content blocks must be non-empty")));
                }
            }
            Ok(())
        }
        Some(_) => Err(Refusal::bad_request("system: Input should be a valid string or a valid list")),
    }
}

fn check_messages(messages: &[Value]) -> Result<(), Refusal> {
    let mut previous_role = "";
    let mut open_tool_uses: BTreeSet<String> = BTreeSet::new();
    for (i, message) in messages.iter().enumerate() {
        let role = message["role"].as_str().unwrap_or_default();
        match role {
            "user" | "assistant" => {}
            "system" => {
                return Err(Refusal::bad_request(
                    "messages: Unexpected role \"system\". The Messages API accepts a top-level `system` parameter, \
                     not \"system\" as an input message role.",
                ))
            }
            other => {
                return Err(Refusal::bad_request(format!(
                    "messages.{i}.role: Input should be 'user' or 'assistant' (got \"{other}\")"
                )))
            }
        }
        if i == 0 && role != "user" {
            return Err(Refusal::bad_request("messages: first message must use the \"user\" role"));
        }
        if role == previous_role {
            return Err(Refusal::bad_request(format!(
                "messages: roles must alternate between \"user\" and \"assistant\", but found multiple \"{role}\" roles in a row"
            )));
        }
        previous_role = role;
        let is_last = i + 1 == messages.len();
        let blocks = content_blocks(i, &message["content"], is_last && role == "assistant")?;
        let results: BTreeSet<String> = blocks
            .iter()
            .filter(|b| b["type"] == "tool_result")
            .filter_map(|b| b["tool_use_id"].as_str().map(str::to_owned))
            .collect();
        if let Some(unexpected) = results.difference(&open_tool_uses).next() {
            return Err(Refusal::bad_request(format!(
                "messages.{i}.content: unexpected `tool_use_id` found in `tool_result` blocks: {unexpected}. \
                 Each `tool_result` block must have a corresponding `tool_use` block in the previous message."
            )));
        }
        if let Some(missing) = open_tool_uses.difference(&results).next() {
            return Err(Refusal::bad_request(format!(
                "messages.{}: `tool_use` ids were found without `tool_result` blocks immediately after: {missing}. \
                 Each `tool_use` block must have a corresponding `tool_result` block in the next message.",
                i - 1
            )));
        }
        open_tool_uses = blocks
            .iter()
            .filter(|b| b["type"] == "tool_use")
            .filter_map(|b| b["id"].as_str().map(str::to_owned))
            .collect();
        if role == "user" && !open_tool_uses.is_empty() {
            return Err(Refusal::bad_request(format!(
                "messages.{i}.content: tool_use blocks can only be sent by the assistant"
            )));
        }
    }
    if let Some(missing) = open_tool_uses.iter().next() {
        return Err(Refusal::bad_request(format!(
            "messages.{}: `tool_use` ids were found without `tool_result` blocks immediately after: {missing}.",
            messages.len() - 1
        )));
    }
    Ok(())
}

/// The message's content as blocks; a string is one text block.
fn content_blocks(i: usize, content: &Value, may_be_empty: bool) -> Result<Vec<Value>, Refusal> {
    let empty = || {
        Refusal::bad_request(format!(
            "messages.{i}: all messages must have non-empty content except for the optional final assistant message"
        ))
    };
    let blocks = match content {
        Value::String(text) if text.is_empty() && !may_be_empty => return Err(empty()),
        Value::String(text) => vec![serde_json::json!({"type": "text", "text": text})],
        Value::Array(blocks) if blocks.is_empty() && !may_be_empty => return Err(empty()),
        Value::Array(blocks) => blocks.clone(),
        Value::Null => return Err(Refusal::bad_request(format!("messages.{i}.content: Field required"))),
        _ => return Err(Refusal::bad_request(format!("messages.{i}.content: Input should be a valid list"))),
    };
    for (j, block) in blocks.iter().enumerate() {
        let kind = block["type"].as_str().unwrap_or_default();
        if !BLOCKS.contains(&kind) {
            return Err(Refusal::bad_request(format!(
                "messages.{i}.content.{j}: Input tag '{kind}' found using 'type' does not match any of the expected tags"
            )));
        }
        if kind == "text" && block["text"].as_str().is_none_or(str::is_empty) {
            return Err(Refusal::bad_request("messages: text content blocks must be non-empty"));
        }
        if kind == "tool_use" && !(block["id"].is_string() && block["name"].is_string() && block["input"].is_object()) {
            return Err(Refusal::bad_request(format!(
                "messages.{i}.content.{j}.tool_use: id, name and input (an object) are required"
            )));
        }
    }
    Ok(blocks)
}

fn looks_like_an_email(text: &str) -> bool {
    text.split_once('@').is_some_and(|(user, domain)| !user.is_empty() && domain.contains('.'))
}

/// Claude 4.5-generation models (and Opus 4.1) take one of the two, not both.
fn one_sampler_only(model: &str) -> bool {
    ["claude-sonnet-4-5", "claude-haiku-4-5", "claude-opus-4-1", "claude-opus-4-5"].iter().any(|m| model.starts_with(m))
}

fn check_sampling(body: &Map<String, Value>) -> Result<(), Refusal> {
    let model = body.get("model").and_then(Value::as_str).unwrap_or_default();
    if one_sampler_only(model) && body.contains_key("temperature") && body.contains_key("top_p") {
        return Err(Refusal::bad_request(
            "`temperature` and `top_p` cannot both be specified for this model. Please use only one.",
        ));
    }
    for (name, max) in [("temperature", 1.0), ("top_p", 1.0)] {
        if let Some(value) = body.get(name) {
            let Some(v) = value.as_f64() else {
                return Err(Refusal::bad_request(format!("{name}: Input should be a valid number")));
            };
            if !(0.0..=max).contains(&v) {
                return Err(Refusal::bad_request(format!("{name}: range: 0..{max}")));
            }
        }
    }
    Ok(())
}

fn check_tools(tools: &Value) -> Result<(), Refusal> {
    let Some(tools) = tools.as_array() else {
        return Err(Refusal::bad_request("tools: Input should be a valid list"));
    };
    for (i, tool) in tools.iter().enumerate() {
        let name = tool["name"].as_str().unwrap_or_default();
        let valid = !name.is_empty()
            && name.len() <= 64
            && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
        if !valid {
            return Err(Refusal::bad_request(format!(
                "tools.{i}.custom.name: String should match pattern '^[a-zA-Z0-9_-]{{1,64}}$'"
            )));
        }
        match tool.get("input_schema") {
            None => return Err(Refusal::bad_request(format!("tools.{i}.custom.input_schema: Field required"))),
            Some(schema) if schema["type"] != "object" => {
                return Err(Refusal::bad_request(format!(
                    "tools.{i}.custom.input_schema.type: Input should be 'object'"
                )))
            }
            Some(_) => {}
        }
    }
    Ok(())
}
