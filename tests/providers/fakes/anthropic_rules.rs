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

const FIELDS: [&str; 17] = [
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
    "output_config",
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
    check_thinking(body, messages)?;
    check_cache_control(body)?;
    check_output_config(body)?;
    if let Some(tools) = body.get("tools") {
        check_tools(tools)?;
    }
    if let Some(name) = body.get("tool_choice").filter(|c| c["type"] == "tool").map(|c| &c["name"]) {
        let known = body["tools"].as_array().is_some_and(|tools| tools.iter().any(|t| &t["name"] == name));
        if !known {
            return Err(Refusal::bad_request(format!("tool_choice: tool {name} was not found in `tools`")));
        }
    }
    if let Some(metadata) = body.get("metadata").and_then(Value::as_object) {
        if let Some(extra) = metadata.keys().find(|k| *k != "user_id") {
            return Err(Refusal::bad_request(format!("metadata.{extra}: Extra inputs are not permitted")));
        }
        // Anthropic refuses personal data here (litellm#10106).
        if metadata.get("user_id").and_then(Value::as_str).is_some_and(looks_like_an_email) {
            return Err(Refusal::bad_request("metadata.user_id: user_id appears to contain an email address"));
        }
        // The API reference: `user_id` is a string of at most 256 characters.
        if metadata.get("user_id").and_then(Value::as_str).is_some_and(|id| id.chars().count() > 256) {
            return Err(Refusal::bad_request("metadata.user_id: String should have at most 256 characters"));
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
        if kind == "document" {
            check_document(i, j, block)?;
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
        // Anthropic's server tools are versioned types without a schema
        // (https://docs.anthropic.com/en/docs/agents-and-tools/tool-use/overview).
        let kind = tool["type"].as_str().unwrap_or("custom");
        if kind != "custom" {
            const SERVER_TOOLS: [&str; 8] = [
                "web_search_",
                "web_fetch_",
                "code_execution_",
                "bash_",
                "text_editor_",
                "computer_",
                "memory_",
                "tool_search_tool_",
            ];
            if !SERVER_TOOLS.iter().any(|prefix| kind.starts_with(prefix)) {
                return Err(Refusal::bad_request(format!(
                    "tools.{i}: Input tag '{kind}' found using 'type' does not match any of the expected tags"
                )));
            }
            continue;
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

/// A `document` block: a PDF as base64 (`media_type` `application/pdf`) or by URL.
fn check_document(i: usize, j: usize, block: &Value) -> Result<(), Refusal> {
    let source = &block["source"];
    let valid = match source["type"].as_str() {
        Some("base64") => {
            source["media_type"] == "application/pdf" && source["data"].as_str().is_some_and(|d| !d.is_empty())
        }
        Some("url") => source["url"].as_str().is_some_and(|u| u.starts_with("http")),
        Some("text") => source["media_type"] == "text/plain" && source["data"].is_string(),
        _ => false,
    };
    if valid {
        Ok(())
    } else {
        Err(Refusal::bad_request(format!("messages.{i}.content.{j}.document.source: invalid document source")))
    }
}

/// The signature the fake gives a thinking block it issues: Anthropic's are opaque and
/// checked server-side; this one is a hash of the thinking text, so an altered or made-up
/// block is refused as the real API refuses it.
pub fn thinking_signature(thinking: &str) -> String {
    use sha2::{Digest, Sha256};
    format!("EqFake{}", hex::encode(Sha256::digest(format!("fake-anthropic-thinking:{thinking}").as_bytes())))
}

fn thinking_enabled(body: &Map<String, Value>) -> bool {
    matches!(body.get("thinking").and_then(|t| t["type"].as_str()), Some("enabled") | Some("adaptive"))
}

fn check_thinking(body: &Map<String, Value>, messages: &[Value]) -> Result<(), Refusal> {
    let Some(thinking) = body.get("thinking") else {
        return Ok(());
    };
    match thinking["type"].as_str() {
        Some("disabled") | Some("adaptive") => {}
        Some("enabled") => {
            let Some(budget) = thinking["budget_tokens"].as_u64() else {
                return Err(Refusal::bad_request("thinking.enabled.budget_tokens: Field required"));
            };
            if budget < 1024 {
                return Err(Refusal::bad_request(
                    "thinking.enabled.budget_tokens: Input should be greater than or equal to 1024",
                ));
            }
            if body["max_tokens"].as_u64().is_some_and(|max| budget >= max) {
                return Err(Refusal::bad_request(
                    "`max_tokens` must be greater than `thinking.budget_tokens`. Please consult our documentation at \
                     https://docs.claude.com/en/docs/build-with-claude/extended-thinking#max-tokens-and-context-window-size",
                ));
            }
        }
        _ => {
            return Err(Refusal::bad_request(
                "thinking: Input tag found using 'type' does not match any of the expected tags",
            ))
        }
    }
    if !thinking_enabled(body) {
        return Ok(());
    }
    if body.get("temperature").and_then(Value::as_f64).is_some_and(|t| t != 1.0) {
        return Err(Refusal::bad_request(
            "`temperature` may only be set to 1 when thinking is enabled. Please consult our documentation at \
             https://docs.claude.com/en/docs/build-with-claude/extended-thinking#important-considerations-when-using-extended-thinking",
        ));
    }
    if body.contains_key("top_k") {
        return Err(Refusal::bad_request("`top_k` must be unset when thinking is enabled."));
    }
    if body.get("top_p").and_then(Value::as_f64).is_some_and(|p| p < 0.95) {
        return Err(Refusal::bad_request(
            "`top_p` must be greater than or equal to 0.95 or unset when thinking is enabled.",
        ));
    }
    if matches!(body.get("tool_choice").and_then(|c| c["type"].as_str()), Some("any") | Some("tool")) {
        return Err(Refusal::bad_request("Thinking may not be enabled when tool_choice forces tool use."));
    }
    // A tool result answers the last assistant turn; with thinking on, that turn must
    // start with the thinking block the model issued.
    let Some(last) = messages.last() else {
        return Ok(());
    };
    let answers_tools =
        last["content"].as_array().is_some_and(|blocks| blocks.iter().any(|b| b["type"] == "tool_result"));
    if last["role"] != "user" || !answers_tools || messages.len() < 2 {
        return Ok(());
    }
    let at = messages.len() - 2;
    let blocks = messages[at]["content"].as_array().cloned().unwrap_or_default();
    let first = blocks.first().and_then(|b| b["type"].as_str()).unwrap_or("text");
    if first != "thinking" && first != "redacted_thinking" {
        return Err(Refusal::bad_request(format!(
            "messages.{at}.content.0.type: Expected `thinking` or `redacted_thinking`, but found `{first}`. When \
             `thinking` is enabled, a final `assistant` message must start with a thinking block (preceeding the \
             lastmost set of `tool_use` and `tool_result` blocks). We recommend you include thinking blocks from \
             previous turns. To avoid this requirement, disable `thinking`."
        )));
    }
    for (j, block) in blocks.iter().enumerate().filter(|(_, b)| b["type"] == "thinking") {
        let text = block["thinking"].as_str().unwrap_or_default();
        if block["signature"].as_str() != Some(thinking_signature(text).as_str()) {
            return Err(Refusal::bad_request(format!(
                "messages.{at}.content.{j}: Invalid `signature` in `thinking` block"
            )));
        }
    }
    Ok(())
}

/// Every `cache_control` in the request, wherever Anthropic takes one.
pub fn cache_controls(body: &Value) -> Vec<Value> {
    let mut found = Vec::new();
    let mut visit = |blocks: &Value| {
        for block in blocks.as_array().into_iter().flatten() {
            if let Some(cache_control) = block.get("cache_control") {
                found.push(cache_control.clone());
            }
            for inner in block["content"].as_array().into_iter().flatten() {
                if let Some(cache_control) = inner.get("cache_control") {
                    found.push(cache_control.clone());
                }
            }
        }
    };
    visit(&body["tools"]);
    visit(&body["system"]);
    for message in body["messages"].as_array().into_iter().flatten() {
        visit(&message["content"]);
    }
    found
}

fn check_cache_control(body: &Map<String, Value>) -> Result<(), Refusal> {
    let found = cache_controls(&Value::Object(body.clone()));
    if found.len() > 4 {
        return Err(Refusal::bad_request(format!(
            "A maximum of 4 blocks with cache_control may be provided. Found {}.",
            found.len()
        )));
    }
    for cache_control in found {
        let ttl_ok = matches!(cache_control.get("ttl").map(Value::as_str), None | Some(Some("5m")) | Some(Some("1h")));
        if cache_control["type"] != "ephemeral" || !ttl_ok {
            return Err(Refusal::bad_request("cache_control: Input tag does not match the expected tag 'ephemeral'"));
        }
    }
    Ok(())
}

/// Structured outputs are generally available on Sonnet 4.5, Opus 4.5, Haiku 4.5 and later.
fn has_structured_outputs(model: &str) -> bool {
    [
        "claude-sonnet-4-5",
        "claude-haiku-4-5",
        "claude-opus-4-5",
        "claude-sonnet-4-6",
        "claude-opus-4-6",
        "claude-opus-4-7",
    ]
    .iter()
    .any(|m| model.starts_with(m))
}

fn objects_closed(schema: &Value) -> bool {
    match schema {
        Value::Object(map) => {
            let is_object = map.get("type") == Some(&Value::String("object".into())) || map.contains_key("properties");
            (!is_object || map.get("additionalProperties") == Some(&Value::Bool(false)))
                && map.iter().all(|(key, value)| key == "enum" || key == "const" || objects_closed(value))
        }
        Value::Array(items) => items.iter().all(objects_closed),
        _ => true,
    }
}

fn check_output_config(body: &Map<String, Value>) -> Result<(), Refusal> {
    let Some(config) = body.get("output_config") else {
        return Ok(());
    };
    let Some(config) = config.as_object() else {
        return Err(Refusal::bad_request("output_config: Input should be an object"));
    };
    if let Some(extra) = config.keys().find(|k| *k != "format" && *k != "effort") {
        return Err(Refusal::bad_request(format!("output_config.{extra}: Extra inputs are not permitted")));
    }
    if let Some(effort) = config.get("effort") {
        if !matches!(effort.as_str(), Some("low" | "medium" | "high" | "max")) {
            return Err(Refusal::bad_request("output_config.effort: Input should be 'low', 'medium', 'high' or 'max'"));
        }
    }
    if let Some(format) = config.get("format") {
        let model = body.get("model").and_then(Value::as_str).unwrap_or_default();
        if !has_structured_outputs(model) {
            return Err(Refusal::bad_request(format!(
                "output_config.format: structured outputs are not supported for the model '{model}'"
            )));
        }
        if format["type"] != "json_schema" || !format["schema"].is_object() {
            return Err(Refusal::bad_request(
                "output_config.format: type 'json_schema' and a `schema` object are required",
            ));
        }
        if !objects_closed(&format["schema"]) {
            return Err(Refusal::bad_request(
                "output_config.format.schema: For 'object' type, 'additionalProperties' must be explicitly set to false",
            ));
        }
    }
    Ok(())
}
