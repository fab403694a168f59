use gaiarouter_domain::request::{check_model_id, ModelIdError};

use super::request::{ChatCompletionRequest, ContentPart, MessageContent, Role, ToolChoice};

/// Longest `user` (the caller's end-user id) forwarded upstream.
const MAX_USER_LEN: usize = 256;

/// A request GaiaRouter refuses before calling any upstream (answered with 400).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GatewayInputError {
    #[error("`model` must not be empty")]
    EmptyModel,
    #[error("`model` {0}")]
    InvalidModel(ModelIdError),
    #[error("`messages` must contain at least one message")]
    NoMessages,
    #[error("messages[{index}]: a {role} message needs non-empty `content`")]
    MissingContent { index: usize, role: &'static str },
    #[error("messages[{index}]: an assistant message needs `content` or `tool_calls`")]
    EmptyAssistantMessage { index: usize },
    #[error("messages[{index}]: a tool message needs `tool_call_id`")]
    MissingToolCallId { index: usize },
    #[error("messages[{index}]: only assistant messages may carry `tool_calls`")]
    UnexpectedToolCalls { index: usize },
    #[error("messages[{index}]: {role} messages may only contain text parts")]
    NonTextPart { index: usize, role: &'static str },
    #[error("tools[{index}]: a tool needs a `type`, and a function tool a non-empty `function.name`")]
    InvalidTool { index: usize },
    #[error("`tool_choice` names a function but no tools were given")]
    ToolChoiceWithoutTools,
    #[error("`{param}` {reason}")]
    InvalidParameter { param: &'static str, reason: &'static str },
}

impl GatewayInputError {
    /// The request field the error is about, for OpenAI's `error.param`.
    pub fn param(&self) -> String {
        match self {
            GatewayInputError::EmptyModel | GatewayInputError::InvalidModel(_) => "model".into(),
            GatewayInputError::NoMessages => "messages".into(),
            GatewayInputError::MissingContent { index, .. }
            | GatewayInputError::EmptyAssistantMessage { index }
            | GatewayInputError::NonTextPart { index, .. } => format!("messages[{index}].content"),
            GatewayInputError::MissingToolCallId { index } => {
                format!("messages[{index}].tool_call_id")
            }
            GatewayInputError::UnexpectedToolCalls { index } => {
                format!("messages[{index}].tool_calls")
            }
            GatewayInputError::InvalidTool { index } => format!("tools[{index}]"),
            GatewayInputError::ToolChoiceWithoutTools => "tool_choice".into(),
            GatewayInputError::InvalidParameter { param, .. } => (*param).into(),
        }
    }
}

fn role_name(role: Role) -> &'static str {
    match role {
        Role::System => "system",
        Role::Developer => "developer",
        Role::User => "user",
        Role::Assistant => "assistant",
        Role::Tool => "tool",
    }
}

fn has_content(content: Option<&MessageContent>) -> bool {
    match content {
        None => false,
        Some(MessageContent::Text(text)) => !text.is_empty(),
        Some(MessageContent::Parts(parts)) => !parts.is_empty(),
    }
}

/// Checks what serde cannot: non-empty model and messages, per-role message rules,
/// tools and parameter ranges. Wrong JSON types are already refused by deserialization.
pub fn validate(request: &ChatCompletionRequest) -> Result<(), GatewayInputError> {
    if request.model.trim().is_empty() {
        return Err(GatewayInputError::EmptyModel);
    }
    check_model_id(&request.model).map_err(GatewayInputError::InvalidModel)?;
    if request.user.as_ref().is_some_and(|user| user.chars().count() > MAX_USER_LEN) {
        return Err(GatewayInputError::InvalidParameter { param: "user", reason: "must be at most 256 characters" });
    }
    if request.messages.is_empty() {
        return Err(GatewayInputError::NoMessages);
    }
    for (index, message) in request.messages.iter().enumerate() {
        let role = role_name(message.role);
        if message.tool_calls.is_some() && message.role != Role::Assistant {
            return Err(GatewayInputError::UnexpectedToolCalls { index });
        }
        match message.role {
            Role::Assistant => {
                let has_calls = message.tool_calls.as_ref().is_some_and(|calls| !calls.is_empty());
                if !has_calls && !has_content(message.content.as_ref()) {
                    return Err(GatewayInputError::EmptyAssistantMessage { index });
                }
            }
            Role::Tool => {
                if message.tool_call_id.as_deref().is_none_or(str::is_empty) {
                    return Err(GatewayInputError::MissingToolCallId { index });
                }
                if message.content.is_none() {
                    return Err(GatewayInputError::MissingContent { index, role });
                }
            }
            Role::System | Role::Developer | Role::User => {
                if !has_content(message.content.as_ref()) {
                    return Err(GatewayInputError::MissingContent { index, role });
                }
            }
        }
        if matches!(message.role, Role::System | Role::Developer | Role::Tool | Role::Assistant) {
            if let Some(MessageContent::Parts(parts)) = &message.content {
                let text_only = parts.iter().all(|p| matches!(p, ContentPart::Text { .. }) || is_refusal(p));
                if !text_only {
                    return Err(GatewayInputError::NonTextPart { index, role });
                }
            }
        }
    }
    if let Some(tools) = &request.tools {
        for (index, tool) in tools.iter().enumerate() {
            let unnamed_function = tool.kind == "function"
                && tool.function.as_ref().is_none_or(|function| function.name.trim().is_empty());
            if tool.kind.is_empty() || unnamed_function {
                return Err(GatewayInputError::InvalidTool { index });
            }
        }
    }
    if matches!(request.tool_choice, Some(ToolChoice::Named(_))) && request.tools.as_ref().is_none_or(Vec::is_empty) {
        return Err(GatewayInputError::ToolChoiceWithoutTools);
    }
    check_range("temperature", request.temperature, 0.0, 2.0)?;
    check_range("top_p", request.top_p, 0.0, 1.0)?;
    check_range("presence_penalty", request.presence_penalty, -2.0, 2.0)?;
    check_range("frequency_penalty", request.frequency_penalty, -2.0, 2.0)?;
    if request.n == Some(0) {
        return Err(GatewayInputError::InvalidParameter { param: "n", reason: "must be at least 1" });
    }
    if request.max_tokens == Some(0) {
        return Err(GatewayInputError::InvalidParameter { param: "max_tokens", reason: "must be at least 1" });
    }
    if request.max_completion_tokens == Some(0) {
        return Err(GatewayInputError::InvalidParameter {
            param: "max_completion_tokens",
            reason: "must be at least 1",
        });
    }
    if request.stop_sequences().len() > 4 {
        return Err(GatewayInputError::InvalidParameter { param: "stop", reason: "accepts at most 4 sequences" });
    }
    Ok(())
}

/// Assistant messages sent back by clients may carry `{"type":"refusal"}` parts.
fn is_refusal(part: &ContentPart) -> bool {
    matches!(part, ContentPart::Other(value) if value.get("type").and_then(|t| t.as_str()) == Some("refusal"))
}

fn check_range(param: &'static str, value: Option<f64>, min: f64, max: f64) -> Result<(), GatewayInputError> {
    match value {
        Some(v) if !(min..=max).contains(&v) => {
            Err(GatewayInputError::InvalidParameter { param, reason: "is out of range" })
        }
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gateway::openai::{ChatMessage, ToolCall};
    use serde_json::json;

    fn parse(body: serde_json::Value) -> Result<ChatCompletionRequest, serde_json::Error> {
        serde_json::from_value(body)
    }

    fn valid() -> ChatCompletionRequest {
        ChatCompletionRequest::new("openai/gpt-4o", vec![ChatMessage::user("hi")])
    }

    #[test]
    fn accepts_a_minimal_request() {
        assert_eq!(validate(&valid()), Ok(()));
    }

    #[test]
    fn keeps_unknown_fields_for_passthrough() {
        let request = parse(json!({
            "model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}],
            "logit_bias": {"50256": -100}, "reasoning_effort": "low"
        }))
        .unwrap();
        assert_eq!(request.reasoning_effort.as_deref(), Some("low"));
        let round_trip = serde_json::to_value(&request).unwrap();
        assert_eq!(round_trip["logit_bias"], json!({"50256": -100}));
    }

    #[test]
    fn parses_content_parts_stop_variants_tools_and_tool_choice() {
        let request = parse(json!({
            "model": "gpt-4o",
            "messages": [
                {"role": "developer", "content": [{"type": "text", "text": "be brief"}]},
                {"role": "user", "content": [
                    {"type": "text", "text": "what is this?"},
                    {"type": "image_url", "image_url": {"url": "https://x/cat.png", "detail": "low"}},
                    {"type": "input_audio", "input_audio": {"data": "AAA", "format": "wav"}}
                ]},
                {"role": "assistant", "content": null, "tool_calls": [
                    {"id": "call_1", "type": "function", "function": {"name": "f", "arguments": "{}"}}]},
                {"role": "tool", "tool_call_id": "call_1", "content": "42"}
            ],
            "stop": "END",
            "tools": [{"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}],
            "tool_choice": {"type": "function", "function": {"name": "f"}}
        }))
        .unwrap();
        assert_eq!(validate(&request), Ok(()));
        assert_eq!(request.stop_sequences(), vec!["END".to_owned()]);
        let MessageContent::Parts(parts) = request.messages[1].content.as_ref().unwrap() else {
            panic!("expected parts")
        };
        assert!(matches!(parts[1], ContentPart::ImageUrl { .. }));
        assert!(matches!(parts[2], ContentPart::Other(_)));
        assert_eq!(request.messages[2].tool_calls.as_ref().unwrap()[0], ToolCall::function("call_1", "f", "{}"));
        assert!(parse(json!({"model": "m", "messages": [{"role": "user", "content": "x"}], "stop": ["a", "b"]}))
            .unwrap()
            .stop
            .is_some());
        assert!(parse(
            json!({"model": "m", "messages": [{"role": "user", "content": "x"}], "tool_choice": "required"})
        )
        .is_ok());
    }

    #[test]
    fn deserialization_rejects_wrong_types() {
        let cases = [
            json!({"model": "m", "messages": "hi"}),
            json!({"model": 5, "messages": []}),
            json!({"messages": [{"role": "user", "content": "x"}]}),
            json!({"model": "m", "messages": [{"role": "robot", "content": "x"}]}),
            json!({"model": "m", "messages": [{"role": "user", "content": 7}]}),
            json!({"model": "m", "messages": [{"role": "user", "content": "x"}], "stream": "yes"}),
            json!({"model": "m", "messages": [{"role": "user", "content": "x"}], "max_tokens": -1}),
            json!({"model": "m", "messages": [{"role": "user", "content": "x"}], "tool_choice": "sometimes"}),
        ];
        for body in cases {
            assert!(parse(body.clone()).is_err(), "accepted {body}");
        }
    }

    #[test]
    fn rejects_requests_that_parse_but_make_no_sense() {
        let mut empty_model = valid();
        empty_model.model = " ".into();
        assert_eq!(validate(&empty_model), Err(GatewayInputError::EmptyModel));

        let mut no_messages = valid();
        no_messages.messages.clear();
        assert_eq!(validate(&no_messages), Err(GatewayInputError::NoMessages));

        let mut tool_without_id = valid();
        tool_without_id.messages.push(ChatMessage::new(Role::Tool, "42"));
        assert_eq!(validate(&tool_without_id), Err(GatewayInputError::MissingToolCallId { index: 1 }));

        let mut empty_user = valid();
        empty_user.messages.push(ChatMessage::user(""));
        assert_eq!(validate(&empty_user), Err(GatewayInputError::MissingContent { index: 1, role: "user" }));

        let mut user_with_calls = valid();
        user_with_calls.messages[0].tool_calls = Some(vec![ToolCall::function("c", "f", "{}")]);
        assert_eq!(validate(&user_with_calls), Err(GatewayInputError::UnexpectedToolCalls { index: 0 }));

        let mut hot = valid();
        hot.temperature = Some(2.5);
        assert_eq!(validate(&hot).unwrap_err().param(), "temperature");

        let mut zero_n = valid();
        zero_n.n = Some(0);
        assert!(validate(&zero_n).is_err());
    }

    #[test]
    fn given_hostile_model_ids_and_users_when_validated_then_refused_before_any_upstream() {
        let hostile = [
            ("x".repeat(3_000), ModelIdError::TooLong),
            ("gpt-4o\u{0}".to_string(), ModelIdError::InvalidCharacter),
            ("gpt 4o".to_string(), ModelIdError::InvalidCharacter),
            ("gpt-4о".to_string(), ModelIdError::InvalidCharacter), // Cyrillic о
        ];
        for (model, error) in hostile {
            let mut request = valid();
            request.model = model;
            assert_eq!(validate(&request), Err(GatewayInputError::InvalidModel(error)));
        }
        let mut longest = valid();
        longest.model = format!("openai/{}", "m".repeat(249));
        assert_eq!(validate(&longest), Ok(()));

        let mut long_user = valid();
        long_user.user = Some("u".repeat(257));
        assert_eq!(validate(&long_user).unwrap_err().param(), "user");
    }
}
