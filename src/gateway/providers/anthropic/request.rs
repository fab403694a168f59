use serde_json::{json, Map, Value};

use crate::gateway::openai::{
    ChatCompletionRequest, ChatMessage, ContentPart, MessageContent, Role, ToolChoice, ToolChoiceMode,
};
use crate::gateway::providers::content::{arguments_object, parse_data_url};
use crate::gateway::providers::ProviderError;

/// Anthropic requires `max_tokens`; this is used when the client gave no limit.
pub(crate) const DEFAULT_MAX_TOKENS: u32 = 4096;

/// The Messages API body for an OpenAI request.
pub(crate) fn messages_request(
    request: &ChatCompletionRequest,
    model: &str,
    stream: bool,
) -> Result<Value, ProviderError> {
    if request.n.is_some_and(|n| n > 1) {
        return Err(ProviderError::UnsupportedRequest("Anthropic models return one choice: `n` must be 1".into()));
    }
    if let Some(format) = &request.response_format {
        if format.get("type").and_then(Value::as_str) != Some("text") {
            return Err(ProviderError::UnsupportedRequest(
                "Anthropic models do not support `response_format`; describe the format in the prompt".into(),
            ));
        }
    }
    let mut system = Vec::new();
    let mut turns: Vec<(&'static str, Vec<Value>)> = Vec::new();
    for message in &request.messages {
        let (role, blocks) = match message.role {
            Role::System | Role::Developer => {
                system.push(message.text());
                continue;
            }
            Role::User => ("user", content_blocks(message.content.as_ref())?),
            Role::Assistant => ("assistant", assistant_blocks(message)?),
            Role::Tool => ("user", vec![tool_result_block(message)]),
        };
        // Anthropic wants alternating turns: consecutive tool results (and a user
        // message following them) become one user turn.
        match turns.last_mut() {
            Some((last_role, last_blocks)) if *last_role == role => last_blocks.extend(blocks),
            _ => turns.push((role, blocks)),
        }
    }

    let mut body = Map::new();
    body.insert("model".into(), json!(model));
    body.insert("max_tokens".into(), json!(request.output_token_limit().unwrap_or(DEFAULT_MAX_TOKENS)));
    body.insert(
        "messages".into(),
        Value::Array(turns.into_iter().map(|(role, content)| json!({"role": role, "content": content})).collect()),
    );
    if !system.is_empty() {
        body.insert("system".into(), json!(system.join("\n\n")));
    }
    if stream {
        body.insert("stream".into(), json!(true));
    }
    if let Some(t) = request.temperature {
        body.insert("temperature".into(), json!(t));
    }
    if let Some(p) = request.top_p {
        body.insert("top_p".into(), json!(p));
    }
    let stops = request.stop_sequences();
    if !stops.is_empty() {
        body.insert("stop_sequences".into(), json!(stops));
    }
    if let Some(tools) = request.tools.as_ref().filter(|tools| !tools.is_empty()) {
        let tools: Vec<Value> = tools
            .iter()
            .map(|tool| {
                let function = tool.as_function().ok_or_else(|| {
                    ProviderError::UnsupportedRequest(format!(
                        "tools of type \"{}\" are not supported by Anthropic models; use function tools",
                        tool.kind
                    ))
                })?;
                let mut out = Map::new();
                out.insert("name".into(), json!(function.name));
                if let Some(description) = &function.description {
                    out.insert("description".into(), json!(description));
                }
                let schema = function.parameters.clone().unwrap_or_else(|| json!({"type": "object", "properties": {}}));
                out.insert("input_schema".into(), schema);
                Ok(Value::Object(out))
            })
            .collect::<Result<_, ProviderError>>()?;
        body.insert("tools".into(), Value::Array(tools));
    }
    if let Some(choice) = tool_choice(request)? {
        body.insert("tool_choice".into(), choice);
    }
    if let Some(user) = &request.user {
        body.insert("metadata".into(), json!({"user_id": user}));
    }
    Ok(Value::Object(body))
}

fn tool_choice(request: &ChatCompletionRequest) -> Result<Option<Value>, ProviderError> {
    let mut choice = match &request.tool_choice {
        None if request.parallel_tool_calls == Some(false) && request.tools.is_some() => {
            json!({"type": "auto"})
        }
        None => return Ok(None),
        Some(ToolChoice::Mode(ToolChoiceMode::None)) => return Ok(Some(json!({"type": "none"}))),
        Some(ToolChoice::Mode(ToolChoiceMode::Auto)) => json!({"type": "auto"}),
        Some(ToolChoice::Mode(ToolChoiceMode::Required)) => json!({"type": "any"}),
        Some(ToolChoice::Named(named)) => json!({"type": "tool", "name": named.function.name}),
        Some(ToolChoice::Other(_)) => {
            return Err(ProviderError::UnsupportedRequest(
                "this `tool_choice` is not supported by Anthropic models; use \"none\", \"auto\", \"required\" or a named function".into(),
            ))
        }
    };
    if request.parallel_tool_calls == Some(false) {
        choice["disable_parallel_tool_use"] = json!(true);
    }
    Ok(Some(choice))
}

fn text_block(text: &str) -> Value {
    json!({"type": "text", "text": text})
}

fn content_blocks(content: Option<&MessageContent>) -> Result<Vec<Value>, ProviderError> {
    match content {
        None => Ok(Vec::new()),
        // Anthropic refuses empty text blocks.
        Some(MessageContent::Text(text)) if text.is_empty() => Ok(Vec::new()),
        Some(MessageContent::Text(text)) => Ok(vec![text_block(text)]),
        Some(MessageContent::Parts(parts)) => parts
            .iter()
            .filter(|part| !matches!(part, ContentPart::Text { text, .. } if text.is_empty()))
            .map(|part| match part {
                ContentPart::Text { text, .. } => Ok(text_block(text)),
                ContentPart::ImageUrl { image_url, .. } => image_block(&image_url.url),
                ContentPart::Other(other) => Err(ProviderError::UnsupportedRequest(format!(
                    "Anthropic models do not accept content parts of type {}",
                    other.get("type").unwrap_or(&Value::Null)
                ))),
            })
            .collect(),
    }
}

/// `data:` URLs become base64 sources, web URLs URL sources.
fn image_block(url: &str) -> Result<Value, ProviderError> {
    if let Some((media_type, data)) = parse_data_url(url) {
        return Ok(json!({"type": "image", "source": {"type": "base64", "media_type": media_type, "data": data}}));
    }
    if url.starts_with("http://") || url.starts_with("https://") {
        return Ok(json!({"type": "image", "source": {"type": "url", "url": url}}));
    }
    Err(ProviderError::UnsupportedRequest("image_url must be an http(s) URL or a base64 data: URL".into()))
}

fn assistant_blocks(message: &ChatMessage) -> Result<Vec<Value>, ProviderError> {
    let mut blocks = content_blocks(message.content.as_ref())?;
    for call in message.tool_calls.iter().flatten() {
        blocks.push(json!({
            "type": "tool_use",
            "id": call.id,
            "name": call.function.name,
            "input": arguments_object(&call.function.arguments)?,
        }));
    }
    Ok(blocks)
}

fn tool_result_block(message: &ChatMessage) -> Value {
    json!({
        "type": "tool_result",
        "tool_use_id": message.tool_call_id.clone().unwrap_or_default(),
        "content": message.text(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn translate(body: Value) -> Value {
        let request: ChatCompletionRequest = serde_json::from_value(body).unwrap();
        messages_request(&request, "claude-sonnet-4-5-20250929", false).unwrap()
    }

    #[test]
    fn hoists_system_and_developer_messages_and_defaults_max_tokens() {
        let body = translate(json!({
            "model": "anthropic/claude-sonnet-4-5",
            "messages": [
                {"role": "system", "content": "Be terse."},
                {"role": "developer", "content": [{"type": "text", "text": "Answer in French."}]},
                {"role": "user", "content": "Hi"},
                {"role": "assistant", "content": "Bonjour"},
                {"role": "user", "content": "How are you?"}
            ],
            "temperature": 0.5, "top_p": 0.9, "stop": ["END"], "user": "u-1"
        }));
        assert_eq!(
            body,
            json!({
                "model": "claude-sonnet-4-5-20250929",
                "max_tokens": 4096,
                "system": "Be terse.\n\nAnswer in French.",
                "messages": [
                    {"role": "user", "content": [{"type": "text", "text": "Hi"}]},
                    {"role": "assistant", "content": [{"type": "text", "text": "Bonjour"}]},
                    {"role": "user", "content": [{"type": "text", "text": "How are you?"}]}
                ],
                "temperature": 0.5, "top_p": 0.9, "stop_sequences": ["END"],
                "metadata": {"user_id": "u-1"}
            })
        );
    }

    #[test]
    fn prefers_max_completion_tokens_and_marks_streams() {
        let request: ChatCompletionRequest = serde_json::from_value(json!({
            "model": "m", "messages": [{"role": "user", "content": "x"}],
            "max_tokens": 100, "max_completion_tokens": 50
        }))
        .unwrap();
        let body = messages_request(&request, "m", true).unwrap();
        assert_eq!(body["max_tokens"], json!(50));
        assert_eq!(body["stream"], json!(true));
    }

    #[test]
    fn translates_images_from_data_and_web_urls() {
        let body = translate(json!({
            "model": "m",
            "messages": [{"role": "user", "content": [
                {"type": "text", "text": "Compare"},
                {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="}},
                {"type": "image_url", "image_url": {"url": "https://example.com/cat.jpg"}}
            ]}]
        }));
        assert_eq!(
            body["messages"][0]["content"],
            json!([
                {"type": "text", "text": "Compare"},
                {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "iVBORw0KGgo="}},
                {"type": "image", "source": {"type": "url", "url": "https://example.com/cat.jpg"}}
            ])
        );
    }

    #[test]
    fn translates_tools_tool_calls_and_merges_consecutive_tool_results_into_one_user_turn() {
        let body = translate(json!({
            "model": "m",
            "messages": [
                {"role": "user", "content": "Weather in Paris and Rome?"},
                {"role": "assistant", "content": null, "tool_calls": [
                    {"id": "toolu_1", "type": "function", "function": {"name": "get_weather", "arguments": "{\"city\":\"Paris\"}"}},
                    {"id": "toolu_2", "type": "function", "function": {"name": "get_weather", "arguments": "{\"city\":\"Rome\"}"}}
                ]},
                {"role": "tool", "tool_call_id": "toolu_1", "content": "21C"},
                {"role": "tool", "tool_call_id": "toolu_2", "content": "25C"},
                {"role": "user", "content": "Thanks. Which is warmer?"}
            ],
            "tools": [{"type": "function", "function": {"name": "get_weather", "description": "Current weather",
                "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}}],
            "tool_choice": "required",
            "parallel_tool_calls": false
        }));
        assert_eq!(
            body["tools"],
            json!([{"name": "get_weather", "description": "Current weather",
                "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}])
        );
        assert_eq!(body["tool_choice"], json!({"type": "any", "disable_parallel_tool_use": true}));
        assert_eq!(
            body["messages"],
            json!([
                {"role": "user", "content": [{"type": "text", "text": "Weather in Paris and Rome?"}]},
                {"role": "assistant", "content": [
                    {"type": "tool_use", "id": "toolu_1", "name": "get_weather", "input": {"city": "Paris"}},
                    {"type": "tool_use", "id": "toolu_2", "name": "get_weather", "input": {"city": "Rome"}}
                ]},
                {"role": "user", "content": [
                    {"type": "tool_result", "tool_use_id": "toolu_1", "content": "21C"},
                    {"type": "tool_result", "tool_use_id": "toolu_2", "content": "25C"},
                    {"type": "text", "text": "Thanks. Which is warmer?"}
                ]}
            ])
        );
    }

    #[test]
    fn maps_every_tool_choice() {
        let with_choice = |choice: Value| {
            translate(json!({
                "model": "m", "messages": [{"role": "user", "content": "x"}],
                "tools": [{"type": "function", "function": {"name": "f"}}],
                "tool_choice": choice
            }))
        };
        assert_eq!(with_choice(json!("auto"))["tool_choice"], json!({"type": "auto"}));
        assert_eq!(with_choice(json!("none"))["tool_choice"], json!({"type": "none"}));
        assert_eq!(with_choice(json!("required"))["tool_choice"], json!({"type": "any"}));
        assert_eq!(
            with_choice(json!({"type": "function", "function": {"name": "f"}}))["tool_choice"],
            json!({"type": "tool", "name": "f"})
        );
        assert_eq!(with_choice(json!("auto"))["tools"][0]["input_schema"], json!({"type": "object", "properties": {}}));
    }

    #[test]
    fn refuses_what_anthropic_cannot_express() {
        let refuse = |body: Value| {
            let request: ChatCompletionRequest = serde_json::from_value(body).unwrap();
            messages_request(&request, "m", false).unwrap_err()
        };
        let error = refuse(json!({"model": "m", "messages": [{"role": "user", "content": "x"}], "n": 2}));
        assert_eq!(error.http_status(), 400);
        refuse(json!({"model": "m", "messages": [{"role": "user", "content": "x"}],
            "response_format": {"type": "json_object"}}));
        refuse(json!({"model": "m", "messages": [{"role": "user", "content": [
            {"type": "input_audio", "input_audio": {"data": "AA", "format": "wav"}}]}]}));
        refuse(json!({"model": "m", "messages": [{"role": "user", "content": "x"},
            {"role": "assistant", "tool_calls": [{"id": "a", "type": "function", "function": {"name": "f", "arguments": "[1]"}}]}]}));
    }
}
