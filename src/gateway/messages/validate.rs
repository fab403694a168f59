//! Checks serde cannot make, answered the way Anthropic answers them (same `param`
//! path and, where Anthropic's wording is known, the same message), so a client sees
//! the same 400 whatever deployment serves it.

use std::collections::HashSet;

use gaiarouter_domain::request::check_model_id;

use super::request::{ContentBlock, MediaSource, MessagesRequest, TextOrBlocks, ToolDefinition};

/// Bounds on what a client may send. Content text is bounded by the HTTP body limit;
/// these bound counts and identifiers, generously above anything Claude Code sends.
pub const MAX_MESSAGES: usize = 10_000;
pub const MAX_BLOCKS_PER_MESSAGE: usize = 10_000;
pub const MAX_TOOLS: usize = 1_000;
pub const MAX_STOP_SEQUENCES: usize = 1_000;
pub const MAX_STOP_SEQUENCE_LEN: usize = 1_000;
/// Longest `tool_use` id; Anthropic's are ~30 characters, other providers' up to ~64.
/// Tool ids hold what the gateway itself hands out (Gemini's thought signatures).
pub const MAX_TOOL_USE_ID_LEN: usize = crate::gateway::openai::MAX_TOOL_CALL_ID_LEN;
pub const MAX_TOOL_NAME_LEN: usize = 128;
pub const MAX_USER_ID_LEN: usize = 256;
/// `budget_tokens` below this is refused by Anthropic.
pub const MIN_THINKING_BUDGET: u32 = 1024;

const IMAGE_MEDIA_TYPES: [&str; 4] = ["image/jpeg", "image/png", "image/gif", "image/webp"];

/// A Messages request GaiaRouter refuses (400 `invalid_request_error`). `param` is the
/// path of the offending field (`messages.0.content.1`), `message` the text Anthropic
/// would answer (it already starts with the path where Anthropic's does).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct MessagesInputError {
    pub param: String,
    pub message: String,
}

impl MessagesInputError {
    /// Both parts are cut to [`MAX_ERROR_MESSAGE_LEN`]: serde's messages quote the
    /// offending value, and a client may send a megabyte of it.
    pub fn new(param: impl Into<String>, message: impl Into<String>) -> Self {
        MessagesInputError { param: bounded(param.into()), message: bounded(message.into()) }
    }

    /// An error whose message is `"<param>: <text>"`, Anthropic's usual form.
    fn at(param: impl Into<String>, text: impl AsRef<str>) -> Self {
        let param = param.into();
        let message = format!("{param}: {}", text.as_ref());
        MessagesInputError::new(param, message)
    }
}

/// The longest error message (and `param`) answered: client strings quoted in it are cut.
pub const MAX_ERROR_MESSAGE_LEN: usize = 1_024;

/// `text` cut to [`MAX_ERROR_MESSAGE_LEN`] bytes (at a character boundary), marked `…` when cut.
pub fn bounded(mut text: String) -> String {
    if text.len() > MAX_ERROR_MESSAGE_LEN {
        let end = truncate(&text, MAX_ERROR_MESSAGE_LEN).len();
        text.truncate(end);
        text.push('…');
    }
    text
}

fn valid_tool_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= MAX_TOOL_NAME_LEN
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

fn check_unit_interval(param: &str, value: Option<f64>) -> Result<(), MessagesInputError> {
    match value {
        Some(v) if v.is_nan() || v < 0.0 => {
            Err(MessagesInputError::at(param, "Input should be greater than or equal to 0"))
        }
        Some(v) if v > 1.0 => Err(MessagesInputError::at(param, "Input should be less than or equal to 1")),
        _ => Ok(()),
    }
}

/// Checks the request the way Anthropic does before any model runs.
pub fn validate(request: &MessagesRequest) -> Result<(), MessagesInputError> {
    check_model_id(&request.model).map_err(|error| MessagesInputError::at("model", error.to_string()))?;
    if request.max_tokens == 0 {
        return Err(MessagesInputError::at("max_tokens", "Input should be greater than or equal to 1"));
    }
    if request.messages.is_empty() {
        return Err(MessagesInputError::at("messages", "at least one message is required"));
    }
    if request.messages.len() > MAX_MESSAGES {
        return Err(MessagesInputError::at("messages", format!("at most {MAX_MESSAGES} messages are allowed")));
    }
    check_unit_interval("temperature", request.temperature)?;
    check_unit_interval("top_p", request.top_p)?;
    check_stop_sequences(request)?;
    check_thinking(request)?;
    check_metadata(request)?;
    if let Some(system) = &request.system {
        check_system(system)?;
    }
    check_tools(request)?;
    check_messages(request)
}

fn check_stop_sequences(request: &MessagesRequest) -> Result<(), MessagesInputError> {
    let Some(stops) = &request.stop_sequences else { return Ok(()) };
    if stops.len() > MAX_STOP_SEQUENCES {
        return Err(MessagesInputError::at("stop_sequences", format!("at most {MAX_STOP_SEQUENCES} are allowed")));
    }
    for (i, stop) in stops.iter().enumerate() {
        if stop.len() > MAX_STOP_SEQUENCE_LEN {
            return Err(MessagesInputError::at(
                format!("stop_sequences.{i}"),
                format!("String should have at most {MAX_STOP_SEQUENCE_LEN} characters"),
            ));
        }
        if stop.trim().is_empty() {
            return Err(MessagesInputError::at(
                format!("stop_sequences.{i}"),
                "stop sequences must contain non-whitespace",
            ));
        }
    }
    Ok(())
}

fn check_thinking(request: &MessagesRequest) -> Result<(), MessagesInputError> {
    let Some(thinking) = &request.thinking else { return Ok(()) };
    match thinking.kind.as_str() {
        "enabled" => {
            let Some(budget) = thinking.budget_tokens else {
                return Err(MessagesInputError::at("thinking.enabled.budget_tokens", "Field required"));
            };
            if budget < MIN_THINKING_BUDGET {
                return Err(MessagesInputError::at(
                    "thinking.enabled.budget_tokens",
                    format!("Input should be greater than or equal to {MIN_THINKING_BUDGET}"),
                ));
            }
            if budget >= request.max_tokens {
                return Err(MessagesInputError::new(
                    "max_tokens",
                    "`max_tokens` must be greater than `thinking.budget_tokens`",
                ));
            }
            Ok(())
        }
        "disabled" | "adaptive" => Ok(()),
        other => Err(MessagesInputError::at(
            "thinking.type",
            format!("Input tag '{other}' found using 'type' does not match any of the expected tags: 'enabled', 'disabled', 'adaptive'"),
        )),
    }
}

fn check_metadata(request: &MessagesRequest) -> Result<(), MessagesInputError> {
    let user_id = request.metadata.as_ref().and_then(|m| m.user_id.as_deref());
    match user_id {
        // Anthropic counts characters, not bytes.
        Some(id) if id.chars().count() > MAX_USER_ID_LEN => Err(MessagesInputError::at(
            "metadata.user_id",
            format!("String should have at most {MAX_USER_ID_LEN} characters"),
        )),
        _ => Ok(()),
    }
}

fn check_system(system: &TextOrBlocks<ContentBlock>) -> Result<(), MessagesInputError> {
    for (i, block) in system.blocks().iter().enumerate() {
        match block {
            ContentBlock::Text(text) if text.text.is_empty() => {
                return Err(MessagesInputError::at("system", "text content blocks must be non-empty"));
            }
            ContentBlock::Text(_) => {}
            other => {
                return Err(MessagesInputError::at(
                    format!("system.{i}.type"),
                    format!("Input should be 'text', not '{}'", other.kind()),
                ));
            }
        }
    }
    Ok(())
}

fn check_tools(request: &MessagesRequest) -> Result<(), MessagesInputError> {
    let tools = request.tools.as_deref().unwrap_or_default();
    if tools.len() > MAX_TOOLS {
        return Err(MessagesInputError::at("tools", format!("at most {MAX_TOOLS} tools are allowed")));
    }
    let mut names = HashSet::new();
    for (i, tool) in tools.iter().enumerate() {
        let name = tool.name().unwrap_or_default();
        if let ToolDefinition::Custom(_) = tool {
            if !valid_tool_name(name) {
                return Err(MessagesInputError::at(
                    format!("tools.{i}.custom.name"),
                    "String should match pattern '^[a-zA-Z0-9_-]{1,128}$'",
                ));
            }
        } else if name.len() > MAX_TOOL_NAME_LEN {
            return Err(MessagesInputError::at(format!("tools.{i}.name"), "String should have at most 128 characters"));
        }
        if !names.insert(name) {
            return Err(MessagesInputError::at("tools", "Tool names must be unique."));
        }
    }
    let Some(choice) = &request.tool_choice else { return Ok(()) };
    match choice.kind.as_str() {
        "auto" | "any" | "none" => Ok(()),
        "tool" => match choice.name.as_deref() {
            None => Err(MessagesInputError::at("tool_choice.tool.name", "Field required")),
            Some(name) if !names.contains(name) => Err(MessagesInputError::at(
                "tool_choice.tool.name",
                format!("Tool '{}' not found in provided tools", truncate(name, MAX_TOOL_NAME_LEN)),
            )),
            Some(_) => Ok(()),
        },
        other => Err(MessagesInputError::at(
            "tool_choice.type",
            format!(
                "Input tag '{}' found using 'type' does not match any of the expected tags: 'auto', 'any', 'tool', 'none'",
                truncate(other, 64)
            ),
        )),
    }
}

/// A client string echoed in an error, cut so the answer stays small.
fn truncate(s: &str, max: usize) -> &str {
    let mut end = s.len().min(max);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

fn check_text(param: String, text: &str) -> Result<(), MessagesInputError> {
    if text.is_empty() {
        return Err(MessagesInputError::new(param, "messages: text content blocks must be non-empty"));
    }
    if text.trim().is_empty() {
        return Err(MessagesInputError::new(param, "messages: text content blocks must contain non-whitespace text"));
    }
    Ok(())
}

fn check_source(param: &str, source: &MediaSource, image: bool) -> Result<(), MessagesInputError> {
    let missing =
        |field: &str| MessagesInputError::at(format!("{param}.source.{}.{field}", source.kind), "Field required");
    match source.kind.as_str() {
        "base64" => {
            let media_type = source.media_type.as_deref().ok_or_else(|| missing("media_type"))?;
            if image && !IMAGE_MEDIA_TYPES.contains(&media_type) {
                return Err(MessagesInputError::at(
                    format!("{param}.source.base64.media_type"),
                    "Input should be 'image/jpeg', 'image/png', 'image/gif' or 'image/webp'",
                ));
            }
            if !image && media_type != "application/pdf" {
                return Err(MessagesInputError::at(
                    format!("{param}.source.base64.media_type"),
                    "Input should be 'application/pdf'",
                ));
            }
            let data = source.data.as_deref().ok_or_else(|| missing("data"))?;
            if !is_base64(data) {
                // Refused here rather than by the upstream: an upstream's 400 counts
                // against the deployment's health, which every tenant shares.
                return Err(MessagesInputError::at(
                    format!("{param}.source.base64.data"),
                    "the data is not valid base64 (standard alphabet, padded)",
                ));
            }
            Ok(())
        }
        "url" => source.url.as_ref().map(|_| ()).ok_or_else(|| missing("url")),
        "file" => source.file_id.as_ref().map(|_| ()).ok_or_else(|| missing("file_id")),
        "text" if !image => source.data.as_ref().map(|_| ()).ok_or_else(|| missing("data")),
        "content" if !image => source.content.as_ref().map(|_| ()).ok_or_else(|| missing("content")),
        other => Err(MessagesInputError::at(
            format!("{param}.source.type"),
            format!("Input tag '{}' found using 'type' does not match any of the expected tags", truncate(other, 64)),
        )),
    }
}

/// Standard base64 (`A-Z a-z 0-9 + /`, `=` padding to a multiple of 4), not empty:
/// what Anthropic decodes. One pass, nothing allocated.
fn is_base64(data: &str) -> bool {
    let bytes = data.as_bytes();
    if bytes.is_empty() || bytes.len() % 4 != 0 {
        return false;
    }
    let body = data.trim_end_matches('=');
    let padding = bytes.len() - body.len();
    padding <= 2 && body.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'+' || b == b'/')
}

fn tool_use_ids(content: &TextOrBlocks<ContentBlock>) -> Vec<&str> {
    content
        .blocks()
        .iter()
        .filter_map(|block| match block {
            ContentBlock::ToolUse(tool_use) => Some(tool_use.id.as_str()),
            _ => None,
        })
        .collect()
}

fn check_messages(request: &MessagesRequest) -> Result<(), MessagesInputError> {
    let last = request.messages.len() - 1;
    for (n, message) in request.messages.iter().enumerate() {
        let is_assistant = match message.role.as_str() {
            "user" => false,
            "assistant" => true,
            _ => {
                return Err(MessagesInputError::at(
                    format!("messages.{n}.role"),
                    "Input should be 'user' or 'assistant'",
                ))
            }
        };
        let empty = match &message.content {
            TextOrBlocks::Text(text) => text.is_empty(),
            TextOrBlocks::Blocks(blocks) => blocks.is_empty(),
        };
        // Anthropic lets only a final assistant message (a prefill) be empty.
        if empty && !(is_assistant && n == last) {
            return Err(MessagesInputError::at(
                format!("messages.{n}"),
                "all messages must have non-empty content except for the optional final assistant message",
            ));
        }
        let blocks = message.content.blocks();
        if blocks.len() > MAX_BLOCKS_PER_MESSAGE {
            return Err(MessagesInputError::at(
                format!("messages.{n}.content"),
                format!("at most {MAX_BLOCKS_PER_MESSAGE} content blocks are allowed"),
            ));
        }
        // A set: 10k results each looked up among 10k calls stays linear.
        let previous_tool_uses: HashSet<&str> = match n.checked_sub(1).map(|p| &request.messages[p]) {
            Some(previous) if previous.role == "assistant" => tool_use_ids(&previous.content).into_iter().collect(),
            _ => HashSet::new(),
        };
        // Ids are unique within a turn (results are matched to calls by id); the same
        // id in a later turn is no ambiguity, and some upstreams number their calls
        // afresh every turn.
        let mut calls: HashSet<&str> = HashSet::new();
        let mut answered: HashSet<&str> = HashSet::new();
        for (m, block) in blocks.iter().enumerate() {
            let param = format!("messages.{n}.content.{m}");
            check_block(&param, block, is_assistant, &previous_tool_uses)?;
            match block {
                ContentBlock::ToolUse(tool_use) if !calls.insert(tool_use.id.as_str()) => {
                    return Err(MessagesInputError::at(param, "`tool_use` ids must be unique"));
                }
                ContentBlock::ToolResult(result) if !answered.insert(result.tool_use_id.as_str()) => {
                    return Err(MessagesInputError::at(
                        param,
                        format!(
                            "each `tool_use` must have a single result. Found multiple `tool_result` blocks with id: {}",
                            truncate(&result.tool_use_id, 256)
                        ),
                    ));
                }
                _ => {}
            }
        }
    }
    // Second pass: a stray `tool_result` is the more precise error when both apply.
    for (n, message) in request.messages.iter().enumerate() {
        if message.role == "assistant" {
            check_tool_uses_answered(request, n)?;
        }
    }
    Ok(())
}

fn check_block(
    param: &str,
    block: &ContentBlock,
    is_assistant: bool,
    previous_tool_uses: &HashSet<&str>,
) -> Result<(), MessagesInputError> {
    match block {
        ContentBlock::Text(text) => check_text(param.to_owned(), &text.text),
        ContentBlock::Image(image) => check_source(param, &image.source, true),
        ContentBlock::Document(document) => check_source(param, &document.source, false),
        ContentBlock::ToolUse(tool_use) => {
            if !is_assistant {
                return Err(MessagesInputError::at(param, "`tool_use` blocks can only be in `assistant` messages"));
            }
            if tool_use.id.is_empty() || tool_use.id.len() > MAX_TOOL_USE_ID_LEN {
                return Err(MessagesInputError::at(
                    format!("{param}.id"),
                    format!("String should have between 1 and {MAX_TOOL_USE_ID_LEN} characters"),
                ));
            }
            if !valid_tool_name(&tool_use.name) {
                return Err(MessagesInputError::at(
                    format!("{param}.name"),
                    "String should match pattern '^[a-zA-Z0-9_-]{1,128}$'",
                ));
            }
            if !tool_use.input.is_object() {
                return Err(MessagesInputError::at(format!("{param}.input"), "Input should be a valid dictionary"));
            }
            Ok(())
        }
        ContentBlock::ToolResult(result) => {
            if is_assistant {
                return Err(MessagesInputError::at(param, "`tool_result` blocks can only be in `user` messages"));
            }
            if !previous_tool_uses.contains(result.tool_use_id.as_str()) {
                return Err(MessagesInputError::new(
                    param,
                    format!(
                        "{param}: unexpected `tool_use_id` found in `tool_result` blocks: {}. Each `tool_result` block must have a corresponding `tool_use` block in the previous message.",
                        truncate(&result.tool_use_id, 256)
                    ),
                ));
            }
            for (k, inner) in result.content.as_ref().map(TextOrBlocks::blocks).unwrap_or_default().iter().enumerate() {
                let inner_param = format!("{param}.content.{k}");
                match inner {
                    ContentBlock::Text(text) => check_text(inner_param, &text.text)?,
                    ContentBlock::Image(image) => check_source(&inner_param, &image.source, true)?,
                    ContentBlock::Document(document) => check_source(&inner_param, &document.source, false)?,
                    _ => {}
                }
            }
            Ok(())
        }
        ContentBlock::Thinking(_) | ContentBlock::RedactedThinking(_) if !is_assistant => {
            Err(MessagesInputError::at(param, "thinking blocks can only be in `assistant` messages"))
        }
        ContentBlock::Thinking(_) | ContentBlock::RedactedThinking(_) | ContentBlock::Other(_) => Ok(()),
    }
}

/// How many unanswered `tool_use` ids an error lists.
const MISSING_IDS_LISTED: usize = 5;

/// Every `tool_use` of assistant message `n` needs its `tool_result` in message `n + 1`.
fn check_tool_uses_answered(request: &MessagesRequest, n: usize) -> Result<(), MessagesInputError> {
    let ids = tool_use_ids(&request.messages[n].content);
    if ids.is_empty() {
        return Ok(());
    }
    let answered: HashSet<&str> = match request.messages.get(n + 1) {
        Some(next) if next.role == "user" => next
            .content
            .blocks()
            .iter()
            .filter_map(|block| match block {
                ContentBlock::ToolResult(result) => Some(result.tool_use_id.as_str()),
                _ => None,
            })
            .collect(),
        _ => HashSet::new(),
    };
    let missing: Vec<&str> = ids.into_iter().filter(|id| !answered.contains(id)).collect();
    if missing.is_empty() {
        return Ok(());
    }
    // The first few name the problem; all 10k would make the answer megabytes long.
    let mut listed: Vec<&str> = missing.iter().take(MISSING_IDS_LISTED).map(|id| truncate(id, 64)).collect();
    if missing.len() > MISSING_IDS_LISTED {
        listed.push("…");
    }
    Err(MessagesInputError::at(
        format!("messages.{n}"),
        format!(
            "`tool_use` ids were found without `tool_result` blocks immediately after: {}. Each `tool_use` block must have a corresponding `tool_result` block in the next message.",
            listed.join(", ")
        ),
    ))
}

#[cfg(test)]
mod tests {
    use super::super::request::parse;
    use super::*;
    use serde_json::{json, Value};

    fn body(messages: Value) -> Value {
        json!({"model": "claude-sonnet-4-5", "max_tokens": 4096, "messages": messages})
    }

    fn check(body: Value) -> Result<(), MessagesInputError> {
        validate(&parse(&body).unwrap())
    }

    fn tool_loop() -> Value {
        json!([
            {"role": "user", "content": "weather?"},
            {"role": "assistant", "content": [{"type": "tool_use", "id": "toolu_1", "name": "get_weather", "input": {}}]},
            {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_1", "content": "sunny"}]}
        ])
    }

    #[test]
    fn given_a_valid_tool_loop_when_validated_then_it_passes() {
        assert_eq!(check(body(tool_loop())), Ok(()));
    }

    #[test]
    fn given_no_messages_when_validated_then_anthropic_answer() {
        let error = check(body(json!([]))).unwrap_err();
        assert_eq!(error.param, "messages");
        assert_eq!(error.message, "messages: at least one message is required");
    }

    #[test]
    fn given_max_tokens_zero_when_validated_then_refused() {
        let mut b = body(json!([{"role": "user", "content": "x"}]));
        b["max_tokens"] = json!(0);
        assert_eq!(check(b).unwrap_err().param, "max_tokens");
    }

    #[test]
    fn given_a_system_role_message_when_validated_then_role_is_named() {
        let error = check(body(json!([{"role": "system", "content": "x"}]))).unwrap_err();
        assert_eq!(error.message, "messages.0.role: Input should be 'user' or 'assistant'");
    }

    #[test]
    fn given_a_tool_result_without_its_tool_use_when_validated_then_anthropic_exact_message() {
        let mut messages = tool_loop();
        messages[2]["content"][0]["tool_use_id"] = json!("toolu_9");
        let error = check(body(messages)).unwrap_err();
        assert_eq!(error.param, "messages.2.content.0");
        assert_eq!(
            error.message,
            "messages.2.content.0: unexpected `tool_use_id` found in `tool_result` blocks: toolu_9. Each `tool_result` block must have a corresponding `tool_use` block in the previous message."
        );
    }

    #[test]
    fn given_a_tool_use_without_a_result_when_validated_then_the_assistant_message_is_named() {
        let mut messages = tool_loop();
        messages[2] = json!({"role": "user", "content": "never mind"});
        let error = check(body(messages)).unwrap_err();
        assert_eq!(error.param, "messages.1");
        assert!(error.message.contains("toolu_1"), "{}", error.message);
        let mut messages = tool_loop();
        messages.as_array_mut().unwrap().pop();
        assert_eq!(check(body(messages)).unwrap_err().param, "messages.1");
    }

    #[test]
    fn given_sampling_out_of_range_when_validated_then_the_parameter_is_named() {
        let mut b = body(json!([{"role": "user", "content": "x"}]));
        b["temperature"] = json!(1.5);
        assert_eq!(check(b.clone()).unwrap_err().message, "temperature: Input should be less than or equal to 1");
        b["temperature"] = json!(0.5);
        b["top_p"] = json!(-0.1);
        assert_eq!(check(b).unwrap_err().param, "top_p");
    }

    #[test]
    fn given_thinking_budgets_when_validated_then_small_or_too_large_are_refused() {
        let mut b = body(json!([{"role": "user", "content": "x"}]));
        b["thinking"] = json!({"type": "enabled", "budget_tokens": 512});
        assert_eq!(check(b.clone()).unwrap_err().param, "thinking.enabled.budget_tokens");
        b["thinking"] = json!({"type": "enabled", "budget_tokens": 4096});
        assert_eq!(check(b.clone()).unwrap_err().message, "`max_tokens` must be greater than `thinking.budget_tokens`");
        b["thinking"] = json!({"type": "enabled", "budget_tokens": 2048});
        assert_eq!(check(b.clone()), Ok(()));
        b["thinking"] = json!({"type": "sometimes"});
        assert_eq!(check(b).unwrap_err().param, "thinking.type");
    }

    #[test]
    fn given_empty_text_when_validated_then_refused_but_a_final_empty_assistant_prefill_is_allowed() {
        let error = check(body(json!([{"role": "user", "content": [{"type": "text", "text": ""}]}]))).unwrap_err();
        assert_eq!(error.message, "messages: text content blocks must be non-empty");
        assert_eq!(error.param, "messages.0.content.0");
        assert!(check(body(json!([{"role": "user", "content": ""}]))).is_err());
        assert_eq!(
            check(body(json!([{"role": "user", "content": "x"}, {"role": "assistant", "content": ""}]))),
            Ok(())
        );
    }

    #[test]
    fn given_bad_tool_names_or_duplicates_when_validated_then_refused() {
        let mut b = body(json!([{"role": "user", "content": "x"}]));
        b["tools"] = json!([{"name": "bad name", "input_schema": {"type": "object"}}]);
        assert_eq!(check(b.clone()).unwrap_err().param, "tools.0.custom.name");
        b["tools"] = json!([{"name": "a".repeat(129), "input_schema": {}}]);
        assert!(check(b.clone()).is_err());
        b["tools"] = json!([{"name": "a", "input_schema": {}}, {"name": "a", "input_schema": {}}]);
        assert_eq!(check(b.clone()).unwrap_err().message, "tools: Tool names must be unique.");
        b["tools"] = json!([{"name": "a", "input_schema": {}}]);
        b["tool_choice"] = json!({"type": "tool", "name": "b"});
        assert_eq!(check(b.clone()).unwrap_err().param, "tool_choice.tool.name");
        b["tool_choice"] = json!({"type": "tool", "name": "a"});
        assert_eq!(check(b), Ok(()));
    }

    #[test]
    fn given_a_bad_model_id_when_validated_then_model_is_named() {
        let mut b = body(json!([{"role": "user", "content": "x"}]));
        b["model"] = json!("");
        assert_eq!(check(b).unwrap_err().param, "model");
    }

    #[test]
    fn given_an_image_with_an_unsupported_media_type_when_validated_then_refused() {
        let error = check(body(json!([{"role": "user", "content": [
            {"type": "image", "source": {"type": "base64", "media_type": "image/bmp", "data": "x"}}
        ]}])))
        .unwrap_err();
        assert_eq!(error.param, "messages.0.content.0.source.base64.media_type");
    }

    #[test]
    fn given_too_many_messages_when_validated_then_refused() {
        let messages: Vec<Value> = (0..=MAX_MESSAGES).map(|_| json!({"role": "user", "content": "x"})).collect();
        assert_eq!(check(body(Value::Array(messages))).unwrap_err().param, "messages");
    }
}
