//! Messages request → GaiaRouter's internal OpenAI chat request, for deployments that
//! are not Anthropic (OpenAI-format, Gemini, echo). What chat completions cannot express
//! is refused with [`Unsupported`] (answered 400 `invalid_request_error`), never dropped.
//!
//! Choices where Anthropic and OpenAI differ:
//! - `system` blocks become one system message: a plain string unless a block carries
//!   `cache_control`, then text parts keeping it.
//! - A user turn's `tool_result` blocks become one `tool` message each, in order, before
//!   the turn's other content (OpenAI needs tool answers right after the tool calls);
//!   images a tool returned follow in that turn's user message, labelled with the call.
//! - `is_error: true` on a tool result prefixes its text with `Error: ` — chat tool
//!   messages have no error flag, and the model must still learn the call failed.
//! - Text documents become a text part: title and context (when given) on their own
//!   lines, a blank line, then the text. PDF documents become an OpenAI `file` part.
//! - `thinking.budget_tokens` becomes `reasoning_effort`: ≤ 4096 `low`, ≤ 16384
//!   `medium`, else `high`. `adaptive` thinking sets nothing (the upstream decides);
//!   `output_config.effort` (`low`|`medium`|`high`|`max`→`high`) wins when given.
//! - A final assistant message (Anthropic's prefill, continued by the model) is refused
//!   unless empty: chat completions would answer a new turn instead.
//! - Text blocks' `citations` (references of an earlier Anthropic answer) are not sent;
//!   documents asking for citations are refused.
//! - `service_tier` (Anthropic's capacity choice) has no meaning elsewhere and is not
//!   sent; any other top-level field outside the typed ones is refused, except the
//!   hints below.
//! - Hints that only save Anthropic context, which Claude Code sends on every turn, are
//!   accepted and not applied: `context_management` (Anthropic clears old tool results
//!   or thinking once the context passes a trigger; here the whole context is sent, as
//!   when the trigger is not reached, so the answer means the same) and a tool's
//!   `defer_loading` (Anthropic loads the definition on demand; here it is sent with
//!   the others). Without them Claude Code could not use any other provider.

use serde_json::{json, Map, Value};

use super::request::{
    ContentBlock, DocumentBlock, ImageBlock, InputMessage, MediaSource, MessagesRequest, TextBlock, TextOrBlocks,
    ToolDefinition, ToolResultBlock,
};
use crate::gateway::openai::{
    ChatCompletionRequest, ChatMessage, ContentPart, ImageUrl, MessageContent, NamedFunction, NamedToolChoice, Stop,
    StreamOptions, Tool, ToolCall, ToolChoice, ToolChoiceMode,
};

/// A Messages feature the chat-completions format cannot carry.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Unsupported(pub String);

fn unsupported(what: impl std::fmt::Display) -> Unsupported {
    Unsupported(format!("{what} is not supported by this model's deployment (only Anthropic deployments support it)"))
}

/// Thinking budgets up to these map to `low` and `medium`; above is `high`.
pub const LOW_EFFORT_MAX_BUDGET: u32 = 4096;
pub const MEDIUM_EFFORT_MAX_BUDGET: u32 = 16384;

pub fn reasoning_effort_for_budget(budget: u32) -> &'static str {
    if budget <= LOW_EFFORT_MAX_BUDGET {
        "low"
    } else if budget <= MEDIUM_EFFORT_MAX_BUDGET {
        "medium"
    } else {
        "high"
    }
}

/// Translates a validated Messages request to a chat request for `request.model`.
pub fn chat_request(request: &MessagesRequest) -> Result<ChatCompletionRequest, Unsupported> {
    let mut messages = Vec::new();
    if let Some(system) = &request.system {
        messages.push(system_message(system)?);
    }
    let last = request.messages.len().saturating_sub(1);
    for (n, message) in request.messages.iter().enumerate() {
        if n == last && message.role == "assistant" {
            // Anthropic continues a final assistant message (prefill); chat completions
            // answer a new turn instead, which would silently change the answer.
            if message_is_empty(message) {
                continue;
            }
            return Err(unsupported("prefilling the answer (a final `assistant` message)"));
        }
        if message.role == "assistant" {
            messages.push(assistant_message(message)?);
        } else {
            user_messages(message, &mut messages)?;
        }
    }
    let mut chat = ChatCompletionRequest::new(request.model.clone(), messages);
    chat.max_tokens = Some(request.max_tokens);
    chat.temperature = request.temperature;
    chat.top_p = request.top_p;
    if let Some(top_k) = request.top_k {
        chat.extra.insert("top_k".into(), json!(top_k));
    }
    if let Some(stops) = request.stop_sequences.as_ref().filter(|s| !s.is_empty()) {
        chat.stop = Some(Stop::Many(stops.clone()));
    }
    if request.is_stream() {
        chat.stream = Some(true);
        chat.stream_options = Some(StreamOptions { include_usage: Some(true), extra: Map::new() });
    }
    chat.user = request.metadata.as_ref().and_then(|m| m.user_id.clone());
    chat.reasoning_effort = reasoning_effort(request)?;
    set_tools(request, &mut chat)?;
    for key in request.extra.keys() {
        if key == "output_config" || key == "context_management" {
            continue;
        }
        return Err(unsupported(format_args!("`{key}`")));
    }
    Ok(chat)
}

fn reasoning_effort(request: &MessagesRequest) -> Result<Option<String>, Unsupported> {
    if let Some(config) = request.extra.get("output_config") {
        let Some(config) = config.as_object() else { return Err(unsupported("this `output_config`")) };
        if let Some(key) = config.keys().find(|k| *k != "effort") {
            return Err(unsupported(format_args!("`output_config.{key}`")));
        }
        match config.get("effort").and_then(Value::as_str) {
            Some(effort @ ("low" | "medium" | "high")) => return Ok(Some(effort.to_owned())),
            Some("max") => return Ok(Some("high".to_owned())),
            None => {}
            Some(_) => return Err(unsupported("this `output_config.effort`")),
        }
    }
    let Some(thinking) = &request.thinking else { return Ok(None) };
    match thinking.kind.as_str() {
        "enabled" => Ok(thinking.budget_tokens.map(|b| reasoning_effort_for_budget(b).to_owned())),
        "disabled" | "adaptive" => Ok(None),
        _ => Err(unsupported("this `thinking.type`")),
    }
}

fn message_is_empty(message: &InputMessage) -> bool {
    match &message.content {
        TextOrBlocks::Text(text) => text.is_empty(),
        TextOrBlocks::Blocks(blocks) => blocks.is_empty(),
    }
}

fn set_tools(request: &MessagesRequest, chat: &mut ChatCompletionRequest) -> Result<(), Unsupported> {
    let tools = request.tools.as_deref().unwrap_or_default();
    let mut chat_tools = Vec::with_capacity(tools.len());
    for tool in tools {
        match tool {
            ToolDefinition::Custom(custom) => {
                if let Some(key) = custom.extra.keys().find(|key| *key != "defer_loading") {
                    return Err(unsupported(format_args!("the tool field `{key}` (tool `{}`)", custom.name)));
                }
                let mut function = Tool::function(custom.name.clone(), "", custom.input_schema.clone());
                if let Some(f) = function.function.as_mut() {
                    f.description.clone_from(&custom.description);
                }
                function.cache_control.clone_from(&custom.cache_control);
                chat_tools.push(function);
            }
            ToolDefinition::Server(value) => {
                let kind = value.get("type").and_then(Value::as_str).unwrap_or("unknown");
                return Err(unsupported(format_args!("the Anthropic server tool `{kind}`")));
            }
        }
    }
    if chat_tools.is_empty() {
        // OpenAI refuses tool_choice and parallel_tool_calls without tools.
        return Ok(());
    }
    chat.tools = Some(chat_tools);
    if let Some(choice) = &request.tool_choice {
        chat.tool_choice = Some(match choice.kind.as_str() {
            "auto" => ToolChoice::Mode(ToolChoiceMode::Auto),
            "any" => ToolChoice::Mode(ToolChoiceMode::Required),
            "none" => ToolChoice::Mode(ToolChoiceMode::None),
            "tool" => ToolChoice::Named(NamedToolChoice {
                kind: "function".into(),
                function: NamedFunction { name: choice.name.clone().unwrap_or_default() },
            }),
            _ => return Err(unsupported("this `tool_choice.type`")),
        });
        if choice.disable_parallel_tool_use == Some(true) {
            chat.parallel_tool_calls = Some(false);
        }
    }
    Ok(())
}

/// Documents asking for citations (`citations: {"enabled": true}`) need Anthropic's
/// citation engine; nothing else can honour them.
fn refuse_citations(citations: Option<&Value>) -> Result<(), Unsupported> {
    match citations.and_then(|c| c.get("enabled")) {
        Some(Value::Bool(true)) => Err(unsupported("`citations` on documents")),
        _ => Ok(()),
    }
}

/// A text block's `citations` (an earlier Anthropic answer's references to its sources)
/// are not sent: the cited text itself is, and nothing else can read them.
fn text_part(block: &TextBlock) -> Result<ContentPart, Unsupported> {
    Ok(ContentPart::Text { text: block.text.clone(), cache_control: block.cache_control.clone(), extra: Map::new() })
}

/// Parts as a plain string when they are all text without cache_control (what every
/// OpenAI-compatible server accepts), else as parts.
fn content_of(parts: Vec<ContentPart>) -> MessageContent {
    let plain: Option<Vec<&str>> = parts
        .iter()
        .map(|part| match part {
            ContentPart::Text { text, cache_control: None, .. } => Some(text.as_str()),
            _ => None,
        })
        .collect();
    match plain {
        Some(texts) if texts.len() == 1 => MessageContent::Text(texts.concat()),
        _ => MessageContent::Parts(parts),
    }
}

fn system_message(system: &TextOrBlocks<ContentBlock>) -> Result<ChatMessage, Unsupported> {
    let blocks = match system {
        TextOrBlocks::Text(text) => return Ok(ChatMessage::system(text.clone())),
        TextOrBlocks::Blocks(blocks) => blocks,
    };
    let mut parts = Vec::with_capacity(blocks.len());
    for block in blocks {
        match block {
            ContentBlock::Text(text) => parts.push(text_part(text)?),
            other => return Err(unsupported(format_args!("a `{}` block in `system`", other.kind()))),
        }
    }
    let any_cache = parts.iter().any(|p| matches!(p, ContentPart::Text { cache_control: Some(_), .. }));
    let content = if any_cache {
        MessageContent::Parts(parts)
    } else {
        MessageContent::Text(
            parts
                .iter()
                .filter_map(|p| match p {
                    ContentPart::Text { text, .. } => Some(text.as_str()),
                    _ => None,
                })
                .collect::<Vec<_>>()
                .join("\n"),
        )
    };
    Ok(ChatMessage { content: Some(content), ..ChatMessage::system("") })
}

fn image_part(image: &ImageBlock) -> Result<ContentPart, Unsupported> {
    let url = media_url(&image.source, "image")?;
    Ok(ContentPart::ImageUrl {
        image_url: ImageUrl { url, detail: None },
        cache_control: image.cache_control.clone(),
        extra: Map::new(),
    })
}

fn media_url(source: &MediaSource, what: &str) -> Result<String, Unsupported> {
    match source.kind.as_str() {
        "base64" => Ok(format!(
            "data:{};base64,{}",
            source.media_type.as_deref().unwrap_or_default(),
            source.data.as_deref().unwrap_or_default()
        )),
        "url" => Ok(source.url.clone().unwrap_or_default()),
        "file" => Err(unsupported(format_args!("an {what} from the Anthropic Files API (`source.type: file`)"))),
        other => Err(unsupported(format_args!("an {what} source of type `{other}`"))),
    }
}

fn document_part(document: &DocumentBlock) -> Result<ContentPart, Unsupported> {
    refuse_citations(document.citations.as_ref())?;
    let source = &document.source;
    let text = match source.kind.as_str() {
        "base64" => {
            let filename = document.title.clone().unwrap_or_else(|| "document.pdf".into());
            return Ok(ContentPart::Other(json!({"type": "file", "file": {
                "filename": filename,
                "file_data": format!("data:application/pdf;base64,{}", source.data.as_deref().unwrap_or_default()),
            }})));
        }
        "text" => source.data.clone().unwrap_or_default(),
        "content" => {
            let mut texts = Vec::new();
            for block in source.content.as_ref().map(TextOrBlocks::blocks).unwrap_or_default() {
                match block {
                    ContentBlock::Text(text) => texts.push(text.text.as_str()),
                    other => return Err(unsupported(format_args!("a `{}` block inside a document", other.kind()))),
                }
            }
            match &source.content {
                Some(TextOrBlocks::Text(text)) => text.clone(),
                _ => texts.join("\n"),
            }
        }
        "url" => return Err(unsupported("a document given by URL")),
        "file" => return Err(unsupported("a document from the Anthropic Files API (`source.type: file`)")),
        other => return Err(unsupported(format_args!("a document source of type `{other}`"))),
    };
    let header: Vec<&str> = [document.title.as_deref(), document.context.as_deref()].into_iter().flatten().collect();
    let text = if header.is_empty() { text } else { format!("{}\n\n{text}", header.join("\n")) };
    Ok(ContentPart::Text { text, cache_control: document.cache_control.clone(), extra: Map::new() })
}

/// A `tool_result` as a chat `tool` message. Chat tool messages hold text only, so
/// the images a tool returned (Claude Code's Read of a screenshot) come back apart:
/// the user turn that carries the results shows them, each labelled with its call.
fn tool_message(result: &ToolResultBlock) -> Result<(ChatMessage, Vec<ContentPart>), Unsupported> {
    let mut texts = Vec::new();
    let mut images = Vec::new();
    match &result.content {
        None => {}
        Some(TextOrBlocks::Text(text)) => texts.push(text.clone()),
        Some(TextOrBlocks::Blocks(blocks)) => {
            for block in blocks {
                match block {
                    ContentBlock::Text(text) => texts.push(text.text.clone()),
                    ContentBlock::Image(image) => {
                        images.push(ContentPart::Text {
                            text: format!("(an image returned by tool call {})", result.tool_use_id),
                            cache_control: None,
                            extra: Map::new(),
                        });
                        images.push(image_part(image)?);
                    }
                    other => {
                        return Err(unsupported(format_args!("a `{}` block inside a `tool_result`", other.kind())))
                    }
                }
            }
        }
    }
    let mut text = texts.join("\n");
    if result.is_error == Some(true) {
        text = if text.is_empty() { "Error".to_owned() } else { format!("Error: {text}") };
    }
    let mut message = ChatMessage::tool_result(result.tool_use_id.clone(), text.clone());
    if result.cache_control.is_some() {
        message.content = Some(MessageContent::Parts(vec![ContentPart::Text {
            text,
            cache_control: result.cache_control.clone(),
            extra: Map::new(),
        }]));
    }
    Ok((message, images))
}

fn user_messages(message: &InputMessage, out: &mut Vec<ChatMessage>) -> Result<(), Unsupported> {
    let blocks = match &message.content {
        TextOrBlocks::Text(text) => {
            out.push(ChatMessage::user(text.clone()));
            return Ok(());
        }
        TextOrBlocks::Blocks(blocks) => blocks,
    };
    let mut parts = Vec::new();
    for block in blocks {
        match block {
            ContentBlock::ToolResult(result) => {
                let (message, images) = tool_message(result)?;
                out.push(message);
                parts.extend(images);
            }
            ContentBlock::Text(text) => parts.push(text_part(text)?),
            ContentBlock::Image(image) => parts.push(image_part(image)?),
            ContentBlock::Document(document) => parts.push(document_part(document)?),
            other => return Err(unsupported(format_args!("a `{}` block in a user message", other.kind()))),
        }
    }
    if !parts.is_empty() {
        out.push(ChatMessage { content: Some(content_of(parts)), ..ChatMessage::user("") });
    }
    Ok(())
}

fn assistant_message(message: &InputMessage) -> Result<ChatMessage, Unsupported> {
    let mut chat = ChatMessage::assistant("");
    let blocks = match &message.content {
        TextOrBlocks::Text(text) => {
            chat.content = Some(MessageContent::Text(text.clone()));
            return Ok(chat);
        }
        TextOrBlocks::Blocks(blocks) => blocks,
    };
    let mut parts = Vec::new();
    let mut calls = Vec::new();
    let mut thinking_blocks = Vec::new();
    let mut reasoning = Vec::new();
    for block in blocks {
        match block {
            ContentBlock::Text(text) => parts.push(text_part(text)?),
            ContentBlock::ToolUse(tool_use) => {
                calls.push(ToolCall::function(tool_use.id.clone(), tool_use.name.clone(), tool_use.input.to_string()))
            }
            ContentBlock::Thinking(thinking) => {
                reasoning.push(thinking.thinking.as_str());
                thinking_blocks.push(serde_json::to_value(block).unwrap_or(Value::Null));
            }
            ContentBlock::RedactedThinking(_) => {
                thinking_blocks.push(serde_json::to_value(block).unwrap_or(Value::Null));
            }
            other => return Err(unsupported(format_args!("a `{}` block in an assistant message", other.kind()))),
        }
    }
    chat.content = if parts.is_empty() { None } else { Some(content_of(parts)) };
    chat.tool_calls = (!calls.is_empty()).then_some(calls);
    chat.thinking_blocks = (!thinking_blocks.is_empty()).then_some(thinking_blocks);
    chat.reasoning_content = (!reasoning.is_empty()).then(|| reasoning.concat());
    Ok(chat)
}

#[cfg(test)]
mod tests {
    use super::super::request::parse;
    use super::*;

    fn translate(body: Value) -> Result<ChatCompletionRequest, Unsupported> {
        chat_request(&parse(&body).unwrap())
    }

    fn base(messages: Value) -> Value {
        json!({"model": "gpt-4o", "max_tokens": 100, "messages": messages})
    }

    fn wire(chat: &ChatCompletionRequest) -> Value {
        serde_json::to_value(chat).unwrap()
    }

    #[test]
    fn given_system_blocks_and_user_text_when_translated_then_cache_control_is_kept() {
        let mut body = base(json!([{"role": "user", "content": [
            {"type": "text", "text": "hi", "cache_control": {"type": "ephemeral"}}
        ]}]));
        body["system"] = json!([{"type": "text", "text": "A"}, {"type": "text", "text": "B", "cache_control": {"type": "ephemeral"}}]);
        let chat = wire(&translate(body).unwrap());
        assert_eq!(chat["model"], "gpt-4o");
        assert_eq!(chat["max_tokens"], 100);
        assert_eq!(
            chat["messages"][0],
            json!({"role": "system", "content": [
                {"type": "text", "text": "A"}, {"type": "text", "text": "B", "cache_control": {"type": "ephemeral"}}
            ]})
        );
        assert_eq!(chat["messages"][1]["content"][0]["cache_control"], json!({"type": "ephemeral"}));
    }

    #[test]
    fn given_plain_system_blocks_when_translated_then_one_string_system_message() {
        let mut body = base(json!([{"role": "user", "content": "hi"}]));
        body["system"] = json!([{"type": "text", "text": "A"}, {"type": "text", "text": "B"}]);
        let chat = wire(&translate(body).unwrap());
        assert_eq!(chat["messages"][0], json!({"role": "system", "content": "A\nB"}));
        assert_eq!(chat["messages"][1], json!({"role": "user", "content": "hi"}));
    }

    #[test]
    fn given_images_and_documents_when_translated_then_openai_parts() {
        let body = base(json!([{"role": "user", "content": [
            {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "AAA"}},
            {"type": "image", "source": {"type": "url", "url": "https://x.test/a.png"}},
            {"type": "document", "source": {"type": "base64", "media_type": "application/pdf", "data": "JVB"}},
            {"type": "document", "source": {"type": "text", "media_type": "text/plain", "data": "body"}, "title": "T"},
            {"type": "text", "text": "summarize"}
        ]}]));
        let chat = wire(&translate(body).unwrap());
        assert_eq!(
            chat["messages"][0]["content"],
            json!([
                {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAA"}},
                {"type": "image_url", "image_url": {"url": "https://x.test/a.png"}},
                {"type": "file", "file": {"filename": "document.pdf", "file_data": "data:application/pdf;base64,JVB"}},
                {"type": "text", "text": "T\n\nbody"},
                {"type": "text", "text": "summarize"}
            ])
        );
    }

    #[test]
    fn given_a_tool_loop_with_thinking_when_translated_then_tool_calls_and_tool_messages_in_order() {
        let mut body = base(json!([
            {"role": "user", "content": "weather in Paris and Rome?"},
            {"role": "assistant", "content": [
                {"type": "thinking", "thinking": "two cities", "signature": "sig"},
                {"type": "redacted_thinking", "data": "enc"},
                {"type": "text", "text": "Checking."},
                {"type": "tool_use", "id": "toolu_1", "name": "get_weather", "input": {"city": "Paris"}},
                {"type": "tool_use", "id": "call_2", "name": "get_weather", "input": {"city": "Rome"}}
            ]},
            {"role": "user", "content": [
                {"type": "tool_result", "tool_use_id": "toolu_1", "content": [{"type": "text", "text": "sunny"}]},
                {"type": "tool_result", "tool_use_id": "call_2", "content": "boom", "is_error": true},
                {"type": "text", "text": "and tomorrow?"}
            ]}
        ]));
        body["tools"] = json!([{"name": "get_weather", "description": "Weather", "input_schema": {"type": "object"},
                                "cache_control": {"type": "ephemeral"}}]);
        body["tool_choice"] = json!({"type": "any", "disable_parallel_tool_use": true});
        let chat = wire(&translate(body).unwrap());
        let messages = chat["messages"].as_array().unwrap();
        assert_eq!(
            messages[1],
            json!({
                "role": "assistant", "content": "Checking.",
                "tool_calls": [
                    {"id": "toolu_1", "type": "function", "function": {"name": "get_weather", "arguments": "{\"city\":\"Paris\"}"}},
                    {"id": "call_2", "type": "function", "function": {"name": "get_weather", "arguments": "{\"city\":\"Rome\"}"}}
                ],
                "reasoning_content": "two cities",
                "thinking_blocks": [{"type": "thinking", "thinking": "two cities", "signature": "sig"},
                                    {"type": "redacted_thinking", "data": "enc"}]
            })
        );
        assert_eq!(messages[2], json!({"role": "tool", "content": "sunny", "tool_call_id": "toolu_1"}));
        assert_eq!(messages[3], json!({"role": "tool", "content": "Error: boom", "tool_call_id": "call_2"}));
        assert_eq!(messages[4], json!({"role": "user", "content": "and tomorrow?"}));
        assert_eq!(
            chat["tools"],
            json!([{"type": "function", "function": {"name": "get_weather", "description": "Weather",
            "parameters": {"type": "object"}}, "cache_control": {"type": "ephemeral"}}])
        );
        assert_eq!(chat["tool_choice"], "required");
        assert_eq!(chat["parallel_tool_calls"], false);
    }

    #[test]
    fn given_sampling_stop_thinking_metadata_and_stream_when_translated_then_chat_fields() {
        let mut body = base(json!([{"role": "user", "content": "x"}]));
        body["max_tokens"] = json!(20000);
        body["temperature"] = json!(0.2);
        body["top_p"] = json!(0.9);
        body["top_k"] = json!(40);
        body["stop_sequences"] = json!(["END"]);
        body["thinking"] = json!({"type": "enabled", "budget_tokens": 8000});
        body["metadata"] = json!({"user_id": "u-1"});
        body["stream"] = json!(true);
        let chat = wire(&translate(body).unwrap());
        assert_eq!(chat["temperature"], 0.2);
        assert_eq!(chat["top_p"], 0.9);
        assert_eq!(chat["top_k"], 40);
        assert_eq!(chat["stop"], json!(["END"]));
        assert_eq!(chat["reasoning_effort"], "medium");
        assert_eq!(chat["user"], "u-1");
        assert_eq!(chat["stream"], true);
        assert_eq!(chat["stream_options"], json!({"include_usage": true}));
        assert_eq!(reasoning_effort_for_budget(4096), "low");
        assert_eq!(reasoning_effort_for_budget(16385), "high");
    }

    #[test]
    fn given_tool_choice_tool_and_none_when_translated_then_named_and_none() {
        let mut body = base(json!([{"role": "user", "content": "x"}]));
        body["tools"] = json!([{"name": "f", "input_schema": {}}]);
        body["tool_choice"] = json!({"type": "tool", "name": "f"});
        assert_eq!(
            wire(&translate(body.clone()).unwrap())["tool_choice"],
            json!({"type": "function", "function": {"name": "f"}})
        );
        body["tool_choice"] = json!({"type": "none"});
        assert_eq!(wire(&translate(body).unwrap())["tool_choice"], "none");
    }

    #[test]
    fn given_features_chat_cannot_express_when_translated_then_unsupported_names_them() {
        let mut body = base(json!([{"role": "user", "content": "x"}]));
        body["tools"] = json!([{"type": "web_search_20250305", "name": "web_search"}]);
        assert!(translate(body).unwrap_err().0.contains("web_search_20250305"));

        let mut body = base(json!([{"role": "user", "content": "x"}]));
        body["mcp_servers"] = json!([]);
        assert!(translate(body).unwrap_err().0.contains("mcp_servers"));

        let mut body = base(json!([{"role": "user", "content": "x"}]));
        body["container"] = json!("c");
        assert!(translate(body).unwrap_err().0.contains("container"));

        let body = base(json!([{"role": "user", "content": [{"type": "document", "citations": {"enabled": true},
            "source": {"type": "text", "media_type": "text/plain", "data": "d"}}]}]));
        assert!(translate(body).unwrap_err().0.contains("citations"));

        let body = base(json!([
            {"role": "assistant", "content": [{"type": "tool_use", "id": "t", "name": "f", "input": {}}]},
            {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "t", "content": [
                {"type": "image", "source": {"type": "url", "url": "https://x.test/a.png"}}]}]}
        ]));
        let chat = serde_json::to_value(translate(body).unwrap()).unwrap();
        assert_eq!(chat["messages"][1], json!({"role": "tool", "tool_call_id": "t", "content": ""}));
        assert_eq!(
            chat["messages"][2],
            json!({"role": "user", "content": [{"type": "text", "text": "(an image returned by tool call t)"},
                {"type": "image_url", "image_url": {"url": "https://x.test/a.png"}}]}),
            "a tool's image goes to the user turn that carries the results"
        );

        let body = base(json!([{"role": "user", "content": [{"type": "search_result", "source": "s"}]}]));
        assert!(translate(body).unwrap_err().0.contains("search_result"));

        let body = base(json!([{"role": "user", "content": "x"}, {"role": "assistant", "content": "{"}]));
        assert!(translate(body).unwrap_err().0.contains("prefill"));
    }

    #[test]
    fn given_an_empty_final_assistant_message_and_cited_history_when_translated_then_accepted() {
        let body = base(json!([
            {"role": "user", "content": "x"},
            {"role": "assistant", "content": [{"type": "text", "text": "Paris.",
                "citations": [{"type": "char_location", "cited_text": "Paris", "document_index": 0}]}]},
            {"role": "user", "content": "thanks"},
            {"role": "assistant", "content": []}
        ]));
        let chat = wire(&translate(body).unwrap());
        assert_eq!(
            chat["messages"],
            json!([
                {"role": "user", "content": "x"}, {"role": "assistant", "content": "Paris."}, {"role": "user", "content": "thanks"}
            ])
        );
    }

    #[test]
    fn given_claude_codes_context_hints_when_translated_then_accepted_and_every_tool_is_sent() {
        let body = json!({
            "model": "m", "max_tokens": 32000, "stream": true,
            "messages": [{"role": "user", "content": "hi"}],
            "context_management": {"edits": [{"type": "clear_thinking_20251015", "keep": "all"}]},
            "output_config": {"effort": "medium"},
            "thinking": {"type": "adaptive", "display": "omitted"},
            "tools": [
                {"name": "Bash", "description": "Run", "input_schema": {"type": "object"}},
                {"name": "Read", "description": "Read", "input_schema": {"type": "object"}, "defer_loading": true}
            ]
        });
        let chat = chat_request(&crate::gateway::messages::parse(&body).unwrap()).unwrap();
        let names: Vec<&str> =
            chat.tools.iter().flatten().filter_map(|t| t.as_function()).map(|f| f.name.as_str()).collect();
        assert_eq!(names, ["Bash", "Read"]);
        assert_eq!(chat.reasoning_effort.as_deref(), Some("medium"));
        assert!(chat.extra.get("context_management").is_none(), "not sent to a deployment that cannot apply it");
        // Other unknown tool fields are still refused, naming them.
        let mut odd = body.clone();
        odd["tools"][0]["strict_mode"] = json!(true);
        let refused = chat_request(&crate::gateway::messages::parse(&odd).unwrap()).unwrap_err();
        assert!(refused.0.contains("strict_mode"), "{}", refused.0);
    }
}
