use std::collections::HashMap;

use serde_json::{json, Map, Value};

use crate::gateway::openai::{
    ChatCompletionRequest, ChatMessage, ContentPart, MessageContent, Role, ToolChoice, ToolChoiceMode,
};
use crate::gateway::providers::content::{arguments_object, parse_data_url};
use crate::gateway::providers::ProviderError;

/// The `generateContent` body for an OpenAI request (the model goes in the URL).
pub(crate) fn generate_content_request(request: &ChatCompletionRequest) -> Result<Value, ProviderError> {
    let mut system = Vec::new();
    let mut contents: Vec<(&'static str, Vec<Value>)> = Vec::new();
    // Gemini answers tool results by function name, OpenAI by call id.
    let mut names_by_call_id: HashMap<&str, &str> = HashMap::new();
    for message in &request.messages {
        let (role, parts) = match message.role {
            Role::System | Role::Developer => {
                system.push(json!({"text": message.text()}));
                continue;
            }
            Role::User => ("user", parts(message.content.as_ref())?),
            Role::Assistant => {
                let mut parts = parts(message.content.as_ref())?;
                for call in message.tool_calls.iter().flatten() {
                    names_by_call_id.insert(&call.id, &call.function.name);
                    parts.push(json!({"functionCall": {
                        "name": call.function.name,
                        "args": arguments_object(&call.function.arguments)?,
                    }}));
                }
                ("model", parts)
            }
            Role::Tool => ("user", vec![function_response(message, &names_by_call_id)?]),
        };
        // Parallel function responses must share one turn; so must consecutive user turns.
        match contents.last_mut() {
            Some((last_role, last_parts)) if *last_role == role => last_parts.extend(parts),
            _ => contents.push((role, parts)),
        }
    }

    let mut body = Map::new();
    body.insert(
        "contents".into(),
        Value::Array(contents.into_iter().map(|(role, parts)| json!({"role": role, "parts": parts})).collect()),
    );
    if !system.is_empty() {
        body.insert("systemInstruction".into(), json!({"parts": system}));
    }
    if let Some(tools) = request.tools.as_ref().filter(|tools| !tools.is_empty()) {
        let declarations: Vec<Value> = tools
            .iter()
            .map(|tool| {
                let function = tool.as_function().ok_or_else(|| {
                    ProviderError::UnsupportedRequest(format!(
                        "tools of type \"{}\" are not supported by Gemini models; use function tools",
                        tool.kind
                    ))
                })?;
                let mut declaration = Map::new();
                declaration.insert("name".into(), json!(function.name));
                if let Some(description) = &function.description {
                    declaration.insert("description".into(), json!(description));
                }
                if let Some(parameters) = &function.parameters {
                    declaration.insert("parameters".into(), gemini_schema(parameters));
                }
                Ok(Value::Object(declaration))
            })
            .collect::<Result<_, ProviderError>>()?;
        body.insert("tools".into(), json!([{"functionDeclarations": declarations}]));
    }
    if let Some(choice) = &request.tool_choice {
        let config = match choice {
            ToolChoice::Mode(ToolChoiceMode::Auto) => json!({"mode": "AUTO"}),
            ToolChoice::Mode(ToolChoiceMode::None) => json!({"mode": "NONE"}),
            ToolChoice::Mode(ToolChoiceMode::Required) => json!({"mode": "ANY"}),
            ToolChoice::Named(named) => {
                json!({"mode": "ANY", "allowedFunctionNames": [named.function.name]})
            }
            ToolChoice::Other(_) => {
                return Err(ProviderError::UnsupportedRequest(
                    "this `tool_choice` is not supported by Gemini models; use \"none\", \"auto\", \"required\" or a named function".into(),
                ))
            }
        };
        body.insert("toolConfig".into(), json!({"functionCallingConfig": config}));
    }
    let config = generation_config(request)?;
    if !config.is_empty() {
        body.insert("generationConfig".into(), Value::Object(config));
    }
    Ok(Value::Object(body))
}

fn generation_config(request: &ChatCompletionRequest) -> Result<Map<String, Value>, ProviderError> {
    let mut config = Map::new();
    let mut set = |key: &str, value: Option<Value>| {
        if let Some(value) = value {
            config.insert(key.into(), value);
        }
    };
    set("maxOutputTokens", request.output_token_limit().map(|v| json!(v)));
    set("temperature", request.temperature.map(|v| json!(v)));
    set("topP", request.top_p.map(|v| json!(v)));
    let stops = request.stop_sequences();
    set("stopSequences", (!stops.is_empty()).then(|| json!(stops)));
    set("candidateCount", request.n.map(|v| json!(v)));
    set("presencePenalty", request.presence_penalty.map(|v| json!(v)));
    set("frequencyPenalty", request.frequency_penalty.map(|v| json!(v)));
    set("seed", request.seed.map(|v| json!(v)));
    if let Some(format) = &request.response_format {
        match format.get("type").and_then(Value::as_str) {
            Some("text") | None => {}
            Some("json_object") => set("responseMimeType", Some(json!("application/json"))),
            Some("json_schema") => {
                set("responseMimeType", Some(json!("application/json")));
                set("responseJsonSchema", format.pointer("/json_schema/schema").cloned());
            }
            Some(other) => {
                return Err(ProviderError::UnsupportedRequest(format!(
                    "Gemini models do not support response_format type `{other}`"
                )))
            }
        }
    }
    Ok(config)
}

fn parts(content: Option<&MessageContent>) -> Result<Vec<Value>, ProviderError> {
    match content {
        None => Ok(Vec::new()),
        Some(MessageContent::Text(text)) if text.is_empty() => Ok(Vec::new()),
        Some(MessageContent::Text(text)) => Ok(vec![json!({"text": text})]),
        Some(MessageContent::Parts(items)) => items
            .iter()
            .map(|part| match part {
                ContentPart::Text { text, .. } => Ok(json!({"text": text})),
                ContentPart::ImageUrl { image_url, .. } => image_part(&image_url.url),
                ContentPart::Other(other) => Err(ProviderError::UnsupportedRequest(format!(
                    "Gemini models do not accept content parts of type {} through GaiaRouter",
                    other.get("type").unwrap_or(&Value::Null)
                ))),
            })
            .collect(),
    }
}

fn image_part(url: &str) -> Result<Value, ProviderError> {
    if let Some((mime_type, data)) = parse_data_url(url) {
        return Ok(json!({"inlineData": {"mimeType": mime_type, "data": data}}));
    }
    if url.starts_with("http://") || url.starts_with("https://") {
        return Ok(json!({"fileData": {"mimeType": mime_type_of(url), "fileUri": url}}));
    }
    Err(ProviderError::UnsupportedRequest("image_url must be an http(s) URL or a base64 data: URL".into()))
}

/// Gemini's `fileData` needs a MIME type; guess it from the URL's extension.
fn mime_type_of(url: &str) -> &'static str {
    let path = url.split(['?', '#']).next().unwrap_or(url).to_ascii_lowercase();
    match path.rsplit('.').next() {
        Some("png") => "image/png",
        Some("webp") => "image/webp",
        Some("gif") => "image/gif",
        Some("heic") => "image/heic",
        _ => "image/jpeg",
    }
}

/// A tool result as a `functionResponse`. Gemini wants an object: a JSON object result
/// is sent as is, anything else as `{"result": <value or text>}`.
fn function_response(message: &ChatMessage, names: &HashMap<&str, &str>) -> Result<Value, ProviderError> {
    let call_id = message.tool_call_id.as_deref().unwrap_or_default();
    let name = names.get(call_id).copied().or(message.name.as_deref()).ok_or_else(|| {
        ProviderError::UnsupportedRequest(format!(
            "tool message answers tool_call_id `{call_id}`, which no earlier assistant message called"
        ))
    })?;
    let text = message.text();
    let response = match serde_json::from_str::<Value>(&text) {
        Ok(object @ Value::Object(_)) => object,
        Ok(other) => json!({"result": other}),
        Err(_) => json!({"result": text}),
    };
    Ok(json!({"functionResponse": {"name": name, "response": response}}))
}

/// Gemini's `parameters` is an OpenAPI schema subset that refuses some JSON Schema
/// keywords OpenAI clients commonly send.
fn gemini_schema(schema: &Value) -> Value {
    match schema {
        Value::Object(map) => Value::Object(
            map.iter()
                .filter(|(key, _)| !matches!(key.as_str(), "$schema" | "additionalProperties" | "strict"))
                .map(|(key, value)| {
                    // Property names are user data, not keywords: keep them all.
                    let value = if key == "properties" {
                        match value {
                            Value::Object(props) => Value::Object(
                                props.iter().map(|(name, prop)| (name.clone(), gemini_schema(prop))).collect(),
                            ),
                            other => other.clone(),
                        }
                    } else {
                        gemini_schema(value)
                    };
                    (key.clone(), value)
                })
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.iter().map(gemini_schema).collect()),
        other => other.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn translate(body: Value) -> Value {
        let request: ChatCompletionRequest = serde_json::from_value(body).unwrap();
        generate_content_request(&request).unwrap()
    }

    #[test]
    fn maps_roles_system_instruction_and_generation_config() {
        let body = translate(json!({
            "model": "google/gemini-2.5-flash",
            "messages": [
                {"role": "system", "content": "Be terse."},
                {"role": "user", "content": "Hi"},
                {"role": "assistant", "content": "Hello"},
                {"role": "user", "content": "Bye"}
            ],
            "max_tokens": 256, "temperature": 0.3, "top_p": 0.8, "stop": "END", "n": 2
        }));
        assert_eq!(
            body,
            json!({
                "contents": [
                    {"role": "user", "parts": [{"text": "Hi"}]},
                    {"role": "model", "parts": [{"text": "Hello"}]},
                    {"role": "user", "parts": [{"text": "Bye"}]}
                ],
                "systemInstruction": {"parts": [{"text": "Be terse."}]},
                "generationConfig": {"maxOutputTokens": 256, "temperature": 0.3, "topP": 0.8,
                    "stopSequences": ["END"], "candidateCount": 2}
            })
        );
    }

    #[test]
    fn translates_tools_function_calls_and_function_responses_by_name() {
        let body = translate(json!({
            "model": "m",
            "messages": [
                {"role": "user", "content": "Weather in Paris?"},
                {"role": "assistant", "content": null, "tool_calls": [
                    {"id": "call_abc", "type": "function", "function": {"name": "get_weather", "arguments": "{\"city\":\"Paris\"}"}}]},
                {"role": "tool", "tool_call_id": "call_abc", "content": "{\"temp_c\":21}"},
                {"role": "tool", "tool_call_id": "call_abc", "content": "sunny"}
            ],
            "tools": [{"type": "function", "function": {"name": "get_weather", "description": "Current weather",
                "parameters": {"$schema": "http://json-schema.org/draft-07/schema#", "type": "object",
                    "properties": {"city": {"type": "string"}, "additionalProperties": {"type": "string"}},
                    "required": ["city"], "additionalProperties": false}}}],
            "tool_choice": {"type": "function", "function": {"name": "get_weather"}}
        }));
        assert_eq!(
            body["tools"],
            json!([{"functionDeclarations": [{"name": "get_weather", "description": "Current weather",
                "parameters": {"type": "object",
                    "properties": {"city": {"type": "string"}, "additionalProperties": {"type": "string"}},
                    "required": ["city"]}}]}])
        );
        assert_eq!(
            body["toolConfig"],
            json!({"functionCallingConfig": {"mode": "ANY", "allowedFunctionNames": ["get_weather"]}})
        );
        assert_eq!(
            body["contents"],
            json!([
                {"role": "user", "parts": [{"text": "Weather in Paris?"}]},
                {"role": "model", "parts": [{"functionCall": {"name": "get_weather", "args": {"city": "Paris"}}}]},
                {"role": "user", "parts": [
                    {"functionResponse": {"name": "get_weather", "response": {"temp_c": 21}}},
                    {"functionResponse": {"name": "get_weather", "response": {"result": "sunny"}}}
                ]}
            ])
        );
    }

    #[test]
    fn maps_tool_choice_modes_and_response_formats() {
        let with = |extra: Value| {
            let mut body = json!({"model": "m", "messages": [{"role": "user", "content": "x"}],
                "tools": [{"type": "function", "function": {"name": "f"}}]});
            body.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
            translate(body)
        };
        assert_eq!(
            with(json!({"tool_choice": "auto"}))["toolConfig"]["functionCallingConfig"],
            json!({"mode": "AUTO"})
        );
        assert_eq!(
            with(json!({"tool_choice": "none"}))["toolConfig"]["functionCallingConfig"],
            json!({"mode": "NONE"})
        );
        assert_eq!(
            with(json!({"tool_choice": "required"}))["toolConfig"]["functionCallingConfig"],
            json!({"mode": "ANY"})
        );
        let schema = json!({"type": "object", "properties": {"a": {"type": "integer"}}});
        let body =
            with(json!({"response_format": {"type": "json_schema", "json_schema": {"name": "x", "schema": schema}}}));
        assert_eq!(
            body["generationConfig"],
            json!({"responseMimeType": "application/json", "responseJsonSchema": schema})
        );
    }

    #[test]
    fn translates_images_to_inline_and_file_data() {
        let body = translate(json!({
            "model": "m",
            "messages": [{"role": "user", "content": [
                {"type": "text", "text": "What is it?"},
                {"type": "image_url", "image_url": {"url": "data:image/webp;base64,UklGR"}},
                {"type": "image_url", "image_url": {"url": "https://example.com/a.PNG?x=1"}}
            ]}]
        }));
        assert_eq!(
            body["contents"][0]["parts"],
            json!([
                {"text": "What is it?"},
                {"inlineData": {"mimeType": "image/webp", "data": "UklGR"}},
                {"fileData": {"mimeType": "image/png", "fileUri": "https://example.com/a.PNG?x=1"}}
            ])
        );
    }

    #[test]
    fn a_tool_result_for_an_unknown_call_is_refused() {
        let request: ChatCompletionRequest = serde_json::from_value(json!({
            "model": "m", "messages": [{"role": "user", "content": "x"}, {"role": "tool", "tool_call_id": "nope", "content": "1"}]
        }))
        .unwrap();
        assert_eq!(generate_content_request(&request).unwrap_err().http_status(), 400);
    }
}
