//! What OpenAI's Chat Completions API refuses, with its own messages: a missing or
//! wrong bearer key (401), then the body's required fields, types, ranges, roles and
//! the tool-call sequence rules (400). OpenRouter and vLLM accept the same shape.

use std::collections::BTreeSet;

use axum::http::HeaderMap;
use serde_json::{Map, Value};

use super::{header, FakeState, Refusal};

const ROLES: [&str; 6] = ["system", "developer", "user", "assistant", "tool", "function"];

pub fn check_key(state: &FakeState, headers: &HeaderMap) -> Result<(), Refusal> {
    let Some(key) = header(headers, "authorization").and_then(|v| v.strip_prefix("Bearer ")) else {
        return Err(Refusal::new(
            401,
            "You didn't provide an API key. You need to provide your API key in an Authorization header \
             using Bearer auth (i.e. Authorization: Bearer YOUR_KEY).",
            None,
        ));
    };
    if state.accepts_key(key) {
        return Ok(());
    }
    // OpenAI echoes a masked form of the wrong key: its start and its last four characters.
    let chars: Vec<char> = key.chars().collect();
    let head: String = chars.iter().take(3).collect();
    let tail: String = chars.iter().skip(chars.len().saturating_sub(4)).collect();
    Err(Refusal::new(
        401,
        format!(
            "Incorrect API key provided: {head}{}{tail}. You can find your API key at \
             https://platform.openai.com/account/api-keys.",
            "*".repeat(chars.len().saturating_sub(7))
        ),
        Some("invalid_api_key"),
    ))
}

pub fn check_body(body: &Value) -> Result<(), Refusal> {
    let Some(body) = body.as_object() else {
        return Err(Refusal::bad_request(
            "We could not parse the JSON body of your request. The OpenAI API expects a JSON payload.",
        ));
    };
    match body.get("model") {
        Some(Value::String(model)) if !model.is_empty() => {}
        _ => return Err(Refusal::bad_request("you must provide a model parameter")),
    }
    let messages = match body.get("messages") {
        None => {
            return Err(Refusal::bad_request("Missing required parameter: 'messages'.")
                .at("messages")
                .code("missing_required_parameter"))
        }
        Some(Value::Array(messages)) if messages.is_empty() => return Err(Refusal::bad_request(
            "Invalid 'messages': empty array. Expected an array with minimum length 1, but got an empty array instead.",
        )
        .at("messages")
        .code("empty_array")),
        Some(Value::Array(messages)) => messages,
        Some(other) => return Err(invalid_type("messages", "an array", other)),
    };
    for (i, message) in messages.iter().enumerate() {
        check_message(i, message)?;
    }
    check_tool_sequence(messages)?;
    check_numbers(body)?;
    if body.contains_key("stream_options") && body.get("stream") != Some(&Value::Bool(true)) {
        return Err(Refusal::bad_request("The 'stream_options' parameter is only allowed when 'stream' is enabled.")
            .at("stream_options"));
    }
    if let Some(tools) = body.get("tools") {
        check_tools(tools)?;
    }
    if let Some(choice) = body.get("tool_choice") {
        check_tool_choice(choice, body.get("tools"))?;
    }
    if let Some(effort) = body.get("reasoning_effort") {
        check_reasoning_effort(effort)?;
    }
    Ok(())
}

/// `reasoning_effort` is one of OpenAI's levels (openai-python `shared/reasoning_effort.py`).
fn check_reasoning_effort(effort: &Value) -> Result<(), Refusal> {
    const LEVELS: [&str; 7] = ["none", "minimal", "low", "medium", "high", "xhigh", "max"];
    match effort {
        Value::Null => Ok(()),
        Value::String(level) if LEVELS.contains(&level.as_str()) => Ok(()),
        Value::String(level) => Err(Refusal::bad_request(format!(
            "Invalid value: '{level}'. Supported values are: {}.",
            LEVELS.iter().map(|l| format!("'{l}'")).collect::<Vec<_>>().join(", ")
        ))
        .at("reasoning_effort")
        .code("invalid_value")),
        other => Err(invalid_type("reasoning_effort", "a string", other)),
    }
}

/// `tool_choice` is `none` | `auto` | `required`, or one of the objects of openai-python's
/// `ChatCompletionToolChoiceOptionParam`: `{"type":"function","function":{"name"}}`,
/// `{"type":"custom","custom":{"name"}}` or
/// `{"type":"allowed_tools","allowed_tools":{"mode":"auto"|"required","tools":[...]}}`.
/// Any of them but `none` needs `tools`.
fn check_tool_choice(choice: &Value, tools: Option<&Value>) -> Result<(), Refusal> {
    let invalid = |what: &str| {
        Refusal::bad_request(format!("Invalid value for 'tool_choice': {what}")).at("tool_choice").code("invalid_value")
    };
    match choice {
        Value::String(mode) if ["none", "auto", "required"].contains(&mode.as_str()) => {}
        Value::String(mode) => {
            return Err(invalid(&format!("'{mode}' is not one of 'none', 'auto' or 'required'.")));
        }
        Value::Object(object) => {
            let kind = object.get("type").and_then(Value::as_str).unwrap_or_default();
            let named = |field: &str| choice.pointer(&format!("/{field}/name")).is_some_and(Value::is_string);
            let ok = match kind {
                "function" => named("function"),
                "custom" => named("custom"),
                "allowed_tools" => {
                    let mode = choice.pointer("/allowed_tools/mode").and_then(Value::as_str);
                    matches!(mode, Some("auto" | "required"))
                        && choice.pointer("/allowed_tools/tools").is_some_and(Value::is_array)
                }
                _ => false,
            };
            if !ok {
                return Err(invalid(&format!("an object of type '{kind}' is malformed or unknown.")));
            }
        }
        Value::Null => return Ok(()),
        other => return Err(invalid_type("tool_choice", "one of a string or object", other)),
    }
    if choice != "none" && tools.is_none_or(|tools| tools.as_array().is_none_or(Vec::is_empty)) {
        return Err(invalid("'tool_choice' is only allowed when 'tools' are specified."));
    }
    Ok(())
}

fn type_name(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(n) if n.is_f64() => "a decimal",
        Value::Number(_) => "an integer",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

fn invalid_type(param: &str, expected: &str, got: &Value) -> Refusal {
    Refusal::bad_request(format!(
        "Invalid type for '{param}': expected {expected}, but got {} instead.",
        type_name(got)
    ))
    .at(param)
    .code("invalid_type")
}

fn check_message(i: usize, message: &Value) -> Result<(), Refusal> {
    let at = |field: &str| format!("messages[{i}].{field}");
    let Some(message) = message.as_object() else {
        return Err(invalid_type(&format!("messages[{i}]"), "an object", message));
    };
    let role = match message.get("role") {
        Some(Value::String(role)) if ROLES.contains(&role.as_str()) => role.as_str(),
        Some(Value::String(role)) => {
            return Err(Refusal::bad_request(format!(
                "Invalid value: '{role}'. Supported values are: 'system', 'assistant', 'user', 'function', 'tool', and 'developer'."
            ))
            .at(at("role"))
            .code("invalid_value"))
        }
        Some(other) => return Err(invalid_type(&at("role"), "a string", other)),
        None => {
            return Err(Refusal::bad_request(format!("Missing required parameter: '{}'.", at("role")))
                .at(at("role"))
                .code("missing_required_parameter"))
        }
    };
    let has_tool_calls = message.get("tool_calls").is_some_and(|c| !c.is_null());
    match message.get("content") {
        None | Some(Value::Null) if role == "assistant" && has_tool_calls => {}
        None | Some(Value::Null) => {
            return Err(Refusal::bad_request(format!("Missing required parameter: '{}'.", at("content")))
                .at(at("content"))
                .code("missing_required_parameter"))
        }
        Some(Value::String(_)) => {}
        Some(Value::Array(parts)) => {
            for (j, part) in parts.iter().enumerate() {
                check_part(&format!("messages[{i}].content[{j}]"), role, part)?;
            }
        }
        Some(other) => return Err(invalid_type(&at("content"), "one of a string or array of objects", other)),
    }
    if role == "tool" && !message.get("tool_call_id").is_some_and(Value::is_string) {
        return Err(Refusal::bad_request(format!("Missing required parameter: '{}'.", at("tool_call_id")))
            .at(at("tool_call_id"))
            .code("missing_required_parameter"));
    }
    if let Some(calls) = message.get("tool_calls").filter(|c| !c.is_null()) {
        let Some(calls) = calls.as_array() else {
            return Err(invalid_type(&at("tool_calls"), "an array", calls));
        };
        for (j, call) in calls.iter().enumerate() {
            let path = format!("messages[{i}].tool_calls[{j}]");
            // A custom tool call is `{"id", "type": "custom", "custom": {"name", "input"}}`,
            // all required (openai-python `ChatCompletionMessageCustomToolCallParam`).
            if call.get("type").and_then(Value::as_str) == Some("custom") {
                check_custom_call(&path, call)?;
                continue;
            }
            let id_ok = call.get("id").is_some_and(Value::is_string);
            let name_ok = call.pointer("/function/name").is_some_and(Value::is_string);
            if !id_ok || !name_ok {
                return Err(Refusal::bad_request(format!(
                    "Missing required parameter: '{path}.id' or '{path}.function.name'."
                ))
                .at(path)
                .code("missing_required_parameter"));
            }
            match call.pointer("/function/arguments") {
                Some(Value::String(_)) => {}
                Some(other) => return Err(invalid_type(&format!("{path}.function.arguments"), "a string", other)),
                None => {
                    return Err(Refusal::bad_request(format!(
                        "Missing required parameter: '{path}.function.arguments'."
                    ))
                    .at(format!("{path}.function.arguments"))
                    .code("missing_required_parameter"))
                }
            }
        }
    }
    Ok(())
}

fn check_custom_call(path: &str, call: &Value) -> Result<(), Refusal> {
    for field in ["id", "custom.name", "custom.input"] {
        let pointer = format!("/{}", field.replace('.', "/"));
        match call.pointer(&pointer) {
            Some(Value::String(_)) => {}
            Some(other) => return Err(invalid_type(&format!("{path}.{field}"), "a string", other)),
            None => {
                return Err(Refusal::bad_request(format!("Missing required parameter: '{path}.{field}'."))
                    .at(format!("{path}.{field}"))
                    .code("missing_required_parameter"))
            }
        }
    }
    Ok(())
}

fn check_part(path: &str, role: &str, part: &Value) -> Result<(), Refusal> {
    let kind = part.get("type").and_then(Value::as_str).unwrap_or_default();
    let allowed: &[&str] = match role {
        "user" => &["text", "image_url", "input_audio", "file"],
        "assistant" => &["text", "refusal"],
        _ => &["text"],
    };
    if !allowed.contains(&kind) {
        return Err(Refusal::bad_request(format!(
            "Invalid value: '{kind}'. Supported values are: {}.",
            allowed.iter().map(|k| format!("'{k}'")).collect::<Vec<_>>().join(", ")
        ))
        .at(format!("{path}.type"))
        .code("invalid_value"));
    }
    if kind == "text" && !part.get("text").is_some_and(Value::is_string) {
        return Err(invalid_type(&format!("{path}.text"), "a string", part.get("text").unwrap_or(&Value::Null)));
    }
    Ok(())
}

/// An assistant turn with tool calls must be followed by one tool message per call id,
/// and a tool message must answer such a call.
fn check_tool_sequence(messages: &[Value]) -> Result<(), Refusal> {
    let mut pending: BTreeSet<String> = BTreeSet::new();
    for (i, message) in messages.iter().enumerate() {
        let role = message["role"].as_str().unwrap_or_default();
        if role == "tool" {
            let id = message["tool_call_id"].as_str().unwrap_or_default();
            if !pending.remove(id) {
                return Err(Refusal::bad_request(
                    "Invalid parameter: messages with role 'tool' must be a response to a preceeding message with 'tool_calls'.",
                )
                .at(format!("messages.[{i}].role")));
            }
            continue;
        }
        if !pending.is_empty() {
            return Err(unanswered(i, &pending));
        }
        if let Some(calls) = message.get("tool_calls").and_then(Value::as_array) {
            pending = calls.iter().filter_map(|c| c["id"].as_str().map(str::to_owned)).collect();
        }
    }
    if pending.is_empty() {
        Ok(())
    } else {
        Err(unanswered(messages.len(), &pending))
    }
}

fn unanswered(i: usize, pending: &BTreeSet<String>) -> Refusal {
    Refusal::bad_request(format!(
        "An assistant message with 'tool_calls' must be followed by tool messages responding to each \
         'tool_call_id'. The following tool_call_ids did not have response messages: {}",
        pending.iter().cloned().collect::<Vec<_>>().join(", ")
    ))
    .at(format!("messages.[{i}].role"))
}

fn check_numbers(body: &Map<String, Value>) -> Result<(), Refusal> {
    let ranges: [(&str, f64, f64); 4] = [
        ("temperature", 0.0, 2.0),
        ("top_p", 0.0, 1.0),
        ("presence_penalty", -2.0, 2.0),
        ("frequency_penalty", -2.0, 2.0),
    ];
    for (name, min, max) in ranges {
        match body.get(name) {
            None | Some(Value::Null) => {}
            Some(Value::Number(n)) => {
                let v = n.as_f64().unwrap_or(f64::NAN);
                if v > max {
                    return Err(Refusal::bad_request(format!(
                        "Invalid '{name}': decimal above maximum value. Expected a value <= {max}, but got {v} instead."
                    ))
                    .at(name)
                    .code("decimal_above_max_value"));
                }
                if v < min {
                    return Err(Refusal::bad_request(format!(
                        "Invalid '{name}': decimal below minimum value. Expected a value >= {min}, but got {v} instead."
                    ))
                    .at(name)
                    .code("decimal_below_min_value"));
                }
            }
            Some(other) => return Err(invalid_type(name, "a decimal", other)),
        }
    }
    for name in ["n", "max_tokens", "max_completion_tokens", "seed"] {
        match body.get(name) {
            None | Some(Value::Null) => {}
            Some(v) if v.is_i64() || v.is_u64() => {}
            Some(other) => return Err(invalid_type(name, "an integer", other)),
        }
    }
    match body.get("stream") {
        None | Some(Value::Null) | Some(Value::Bool(_)) => Ok(()),
        Some(other) => Err(invalid_type("stream", "a boolean", other)),
    }
}

fn check_tools(tools: &Value) -> Result<(), Refusal> {
    let Some(tools) = tools.as_array() else {
        return Err(invalid_type("tools", "an array", tools));
    };
    for (i, tool) in tools.iter().enumerate() {
        match tool.get("type").and_then(Value::as_str) {
            Some("function") => {}
            Some("custom") => {
                check_custom_tool(i, tool)?;
                continue;
            }
            _ => {
                return Err(Refusal::bad_request(format!("Missing required parameter: 'tools[{i}].type'."))
                    .at(format!("tools[{i}].type"))
                    .code("missing_required_parameter"))
            }
        }
        let name = tool.pointer("/function/name").and_then(Value::as_str).unwrap_or_default();
        let valid = !name.is_empty()
            && name.len() <= 64
            && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
        if !valid {
            return Err(Refusal::bad_request(format!(
                "Invalid 'tools[{i}].function.name': string does not match pattern. Expected a string that \
                 matches the pattern '^[a-zA-Z0-9_-]+$'."
            ))
            .at(format!("tools[{i}].function.name"))
            .code("invalid_value"));
        }
        if let Some(parameters) = tool.pointer("/function/parameters") {
            if !parameters.is_object() {
                return Err(invalid_type(&format!("tools[{i}].function.parameters"), "an object", parameters));
            }
        }
    }
    Ok(())
}

/// A custom tool is `{"type":"custom","custom":{"name", "description"?, "format"?}}`, its
/// format `{"type":"text"}` or `{"type":"grammar","grammar":{"definition","syntax":"lark"|"regex"}}`
/// (openai-python `ChatCompletionCustomToolParam`).
fn check_custom_tool(i: usize, tool: &Value) -> Result<(), Refusal> {
    let name = tool.pointer("/custom/name").and_then(Value::as_str).unwrap_or_default();
    if name.is_empty() {
        return Err(Refusal::bad_request(format!("Missing required parameter: 'tools[{i}].custom.name'."))
            .at(format!("tools[{i}].custom.name"))
            .code("missing_required_parameter"));
    }
    let Some(format) = tool.pointer("/custom/format") else {
        return Ok(());
    };
    let ok = match format.get("type").and_then(Value::as_str) {
        Some("text") => true,
        Some("grammar") => {
            format.pointer("/grammar/definition").is_some_and(Value::is_string)
                && matches!(format.pointer("/grammar/syntax").and_then(Value::as_str), Some("lark" | "regex"))
        }
        _ => false,
    };
    if ok {
        Ok(())
    } else {
        Err(Refusal::bad_request(format!("Invalid value for 'tools[{i}].custom.format'."))
            .at(format!("tools[{i}].custom.format"))
            .code("invalid_value"))
    }
}
