//! Anthropic Messages API request body (`POST /v1/messages`), typed where GaiaRouter
//! translates it and kept verbatim (`extra`, `Other`) everywhere else, so a body that
//! passes through to an Anthropic deployment loses nothing.

use serde::de::{self, DeserializeOwned, Deserializer, SeqAccess, Visitor};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::fmt;
use std::marker::PhantomData;

use super::validate::MessagesInputError;

/// The `POST /v1/messages` body.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MessagesRequest {
    pub model: String,
    pub max_tokens: u32,
    pub messages: Vec<InputMessage>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub system: Option<TextOrBlocks<ContentBlock>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stop_sequences: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stream: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub temperature: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub top_p: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub top_k: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tools: Option<Vec<ToolDefinition>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_choice: Option<ToolChoice>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub thinking: Option<ThinkingConfig>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata: Option<Metadata>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_tier: Option<String>,
    /// `container`, `mcp_servers`, `context_management`, `output_config`, ...: kept for
    /// Anthropic deployments; translation refuses what it cannot express.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl MessagesRequest {
    pub fn is_stream(&self) -> bool {
        self.stream.unwrap_or(false)
    }
}

/// One turn of the conversation. `role` stays a string so validation can answer the
/// way Anthropic does (`messages.0.role: Input should be 'user' or 'assistant'`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InputMessage {
    pub role: String,
    pub content: TextOrBlocks<ContentBlock>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// Anthropic's "a string, or an array of blocks" fields (`content`, `system`,
/// `tool_result.content`). Deserialized by hand rather than `untagged` so a wrong
/// block names its exact path instead of "did not match any variant".
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum TextOrBlocks<T> {
    Text(String),
    Blocks(Vec<T>),
}

impl<T> TextOrBlocks<T> {
    pub fn blocks(&self) -> &[T] {
        match self {
            TextOrBlocks::Text(_) => &[],
            TextOrBlocks::Blocks(blocks) => blocks,
        }
    }
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for TextOrBlocks<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct TextOrBlocksVisitor<T>(PhantomData<T>);

        impl<'de, T: Deserialize<'de>> Visitor<'de> for TextOrBlocksVisitor<T> {
            type Value = TextOrBlocks<T>;

            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a string or an array of content blocks")
            }

            fn visit_str<E: de::Error>(self, value: &str) -> Result<Self::Value, E> {
                Ok(TextOrBlocks::Text(value.to_owned()))
            }

            fn visit_string<E: de::Error>(self, value: String) -> Result<Self::Value, E> {
                Ok(TextOrBlocks::Text(value))
            }

            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
                let mut blocks = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(1024));
                while let Some(block) = seq.next_element()? {
                    blocks.push(block);
                }
                Ok(TextOrBlocks::Blocks(blocks))
            }
        }

        deserializer.deserialize_any(TextOrBlocksVisitor(PhantomData))
    }
}

/// A content block of a message, the system prompt or a tool result. Unknown types
/// (`server_tool_use`, `web_search_tool_result`, `search_result`, future ones) are kept
/// as JSON.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ContentBlock {
    Text(TextBlock),
    Image(ImageBlock),
    Document(DocumentBlock),
    ToolUse(ToolUseBlock),
    ToolResult(ToolResultBlock),
    Thinking(ThinkingBlock),
    RedactedThinking(RedactedThinkingBlock),
    #[serde(untagged)]
    Other(Value),
}

impl ContentBlock {
    /// The block's `type`, as the client wrote it.
    pub fn kind(&self) -> &str {
        match self {
            ContentBlock::Text(_) => "text",
            ContentBlock::Image(_) => "image",
            ContentBlock::Document(_) => "document",
            ContentBlock::ToolUse(_) => "tool_use",
            ContentBlock::ToolResult(_) => "tool_result",
            ContentBlock::Thinking(_) => "thinking",
            ContentBlock::RedactedThinking(_) => "redacted_thinking",
            ContentBlock::Other(value) => value.get("type").and_then(Value::as_str).unwrap_or("unknown"),
        }
    }
}

/// Marks an error raised inside a block so [`parse`] can join its inner path to the
/// outer one (`messages.0.content.1` + `.text`).
const INNER_PATH_MARK: char = '\u{1}';

fn block_from_map<T: DeserializeOwned, E: de::Error>(map: Map<String, Value>) -> Result<T, E> {
    serde_path_to_error::deserialize(Value::Object(map)).map_err(|error| {
        let (path, inner) = split_error(&error);
        E::custom(format!("{INNER_PATH_MARK}{path}{INNER_PATH_MARK}{inner}"))
    })
}

impl<'de> Deserialize<'de> for ContentBlock {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let value = Value::deserialize(deserializer)?;
        let Value::Object(mut map) = value else {
            return Err(de::Error::custom(format!("{INNER_PATH_MARK}{INNER_PATH_MARK}Input should be an object")));
        };
        let kind = match map.get("type") {
            None => return Err(de::Error::custom(format!("{INNER_PATH_MARK}type{INNER_PATH_MARK}Field required"))),
            Some(Value::String(kind)) => kind.clone(),
            Some(_) => {
                return Err(de::Error::custom(format!(
                    "{INNER_PATH_MARK}type{INNER_PATH_MARK}Input should be a valid string"
                )))
            }
        };
        let known = matches!(
            kind.as_str(),
            "text" | "image" | "document" | "tool_use" | "tool_result" | "thinking" | "redacted_thinking"
        );
        if !known {
            return Ok(ContentBlock::Other(Value::Object(map)));
        }
        // The tag is the enum's; left in the map it would land in `extra` and be written twice.
        map.remove("type");
        Ok(match kind.as_str() {
            "text" => ContentBlock::Text(block_from_map(map)?),
            "image" => ContentBlock::Image(block_from_map(map)?),
            "document" => ContentBlock::Document(block_from_map(map)?),
            "tool_use" => ContentBlock::ToolUse(block_from_map(map)?),
            "tool_result" => ContentBlock::ToolResult(block_from_map(map)?),
            "thinking" => ContentBlock::Thinking(block_from_map(map)?),
            _ => ContentBlock::RedactedThinking(block_from_map(map)?),
        })
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TextBlock {
    pub text: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cache_control: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub citations: Option<Value>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// `source` of an image or document: `base64` {media_type, data}, `url` {url},
/// `text` {media_type, data}, `content` {content}, `file` {file_id}. One struct for all
/// kinds keeps unknown ones intact; validation checks each kind's required fields.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MediaSource {
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub media_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content: Option<TextOrBlocks<ContentBlock>>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ImageBlock {
    pub source: MediaSource,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cache_control: Option<Value>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DocumentBlock {
    pub source: MediaSource,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub context: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub citations: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cache_control: Option<Value>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ToolUseBlock {
    pub id: String,
    pub name: String,
    pub input: Value,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cache_control: Option<Value>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ToolResultBlock {
    pub tool_use_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content: Option<TextOrBlocks<ContentBlock>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub is_error: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cache_control: Option<Value>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ThinkingBlock {
    pub thinking: String,
    pub signature: String,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RedactedThinkingBlock {
    pub data: String,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// A tool the model may call: a client (`custom`) tool with a JSON schema, or one of
/// Anthropic's server/built-in tools (`web_search_20250305`, `bash_20250124`,
/// `text_editor_*`, `computer_*`, ...) kept as JSON.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum ToolDefinition {
    Custom(CustomTool),
    Server(Value),
}

impl ToolDefinition {
    /// The tool's name (server tools have one too, e.g. `web_search`).
    pub fn name(&self) -> Option<&str> {
        match self {
            ToolDefinition::Custom(tool) => Some(&tool.name),
            ToolDefinition::Server(value) => value.get("name").and_then(Value::as_str),
        }
    }
}

impl<'de> Deserialize<'de> for ToolDefinition {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let value = Value::deserialize(deserializer)?;
        let Value::Object(map) = value else {
            return Err(de::Error::custom(format!("{INNER_PATH_MARK}{INNER_PATH_MARK}Input should be an object")));
        };
        match map.get("type") {
            None | Some(Value::Null) => Ok(ToolDefinition::Custom(block_from_map(map)?)),
            Some(Value::String(kind)) if kind == "custom" => Ok(ToolDefinition::Custom(block_from_map(map)?)),
            Some(_) => Ok(ToolDefinition::Server(Value::Object(map))),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CustomTool {
    /// Absent or `"custom"`.
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    pub input_schema: Value,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cache_control: Option<Value>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// `{"type": "auto"|"any"|"tool"|"none", "name"?, "disable_parallel_tool_use"?}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ToolChoice {
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disable_parallel_tool_use: Option<bool>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// `{"type": "enabled", "budget_tokens": N}`, `{"type": "disabled"}` or
/// `{"type": "adaptive"}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ThinkingConfig {
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub budget_tokens: Option<u32>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Metadata {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_id: Option<String>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// The path and message of a serde error, with Anthropic's wording for a missing field
/// (`max_tokens: Field required`) and the inner path of a block error joined on.
fn split_error(error: &serde_path_to_error::Error<serde_json::Error>) -> (String, String) {
    // Anthropic writes paths with dots only (`messages.0.content`), serde_path_to_error
    // with brackets (`messages[0].content`).
    let outer = error
        .path()
        .iter()
        .filter_map(|segment| match segment {
            serde_path_to_error::Segment::Seq { index } => Some(index.to_string()),
            serde_path_to_error::Segment::Map { key } => Some(key.clone()),
            serde_path_to_error::Segment::Enum { variant } => Some(variant.clone()),
            serde_path_to_error::Segment::Unknown => None,
        })
        .collect::<Vec<_>>()
        .join(".");
    let message = error.inner().to_string();
    // serde_json appends " at line X column Y" only when reading text; values have none.
    let message = message.split(" at line ").next().unwrap_or(&message).to_owned();
    if let Some(rest) = message.strip_prefix(INNER_PATH_MARK) {
        let (inner_path, inner_message) = rest.split_once(INNER_PATH_MARK).unwrap_or(("", rest));
        return (join_path(&outer, inner_path), inner_message.to_owned());
    }
    if let Some(field) = message.strip_prefix("missing field `").and_then(|rest| rest.strip_suffix('`')) {
        return (join_path(&outer, field), "Field required".to_owned());
    }
    (outer, message)
}

fn join_path(outer: &str, inner: &str) -> String {
    match (outer.is_empty(), inner.is_empty()) {
        (_, true) => outer.to_owned(),
        (true, false) => inner.to_owned(),
        (false, false) => format!("{outer}.{inner}"),
    }
}

/// Reads a Messages body, naming the offending field the way Anthropic does
/// (`max_tokens: Field required`, `messages.0.content.1.text: invalid type: ...`).
pub fn parse(body: &Value) -> Result<MessagesRequest, MessagesInputError> {
    if !body.is_object() {
        return Err(MessagesInputError::new("", "the request body must be a JSON object"));
    }
    serde_path_to_error::deserialize(body).map_err(|error| {
        let (path, message) = split_error(&error);
        if path.is_empty() {
            MessagesInputError::new("", message)
        } else {
            MessagesInputError::new(path.clone(), format!("{path}: {message}"))
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn minimal() -> Value {
        json!({"model": "claude-sonnet-4-5", "max_tokens": 1024, "messages": [{"role": "user", "content": "Hi"}]})
    }

    #[test]
    fn given_a_minimal_body_when_parsed_then_fields_are_typed_and_it_round_trips() {
        let request = parse(&minimal()).unwrap();
        assert_eq!(request.model, "claude-sonnet-4-5");
        assert_eq!(request.max_tokens, 1024);
        assert_eq!(request.messages[0].content, TextOrBlocks::Text("Hi".into()));
        assert_eq!(serde_json::to_value(&request).unwrap(), minimal());
    }

    #[test]
    fn given_no_max_tokens_when_parsed_then_the_error_names_the_field_like_anthropic() {
        let error = parse(&json!({"model": "m", "messages": []})).unwrap_err();
        assert_eq!(error.param, "max_tokens");
        assert_eq!(error.message, "max_tokens: Field required");
    }

    #[test]
    fn given_a_bad_field_inside_a_block_when_parsed_then_the_path_reaches_the_field() {
        let mut body = minimal();
        body["messages"][0]["content"] = json!([{"type": "text", "text": "ok"}, {"type": "text", "text": 5}]);
        let error = parse(&body).unwrap_err();
        assert_eq!(error.param, "messages.0.content.1.text");
        assert!(error.message.starts_with("messages.0.content.1.text: invalid type"), "{}", error.message);

        body["messages"][0]["content"] = json!([{"text": "no type"}]);
        let error = parse(&body).unwrap_err();
        assert_eq!(error.message, "messages.0.content.0.type: Field required");

        body["messages"][0]["content"] = json!([{"type": "tool_result"}]);
        let error = parse(&body).unwrap_err();
        assert_eq!(error.message, "messages.0.content.0.tool_use_id: Field required");
    }

    #[test]
    fn given_every_block_kind_when_parsed_then_each_is_typed_and_serializes_back_unchanged() {
        let mut body = minimal();
        body["system"] = json!([{"type": "text", "text": "Be brief.", "cache_control": {"type": "ephemeral"}}]);
        body["messages"] = json!([
            {"role": "user", "content": [
                {"type": "text", "text": "look", "cache_control": {"type": "ephemeral", "ttl": "1h"}},
                {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "iVBO"}},
                {"type": "image", "source": {"type": "url", "url": "https://x.test/a.png"}},
                {"type": "document", "source": {"type": "base64", "media_type": "application/pdf", "data": "JVBE"},
                 "title": "Spec", "context": "ctx"},
                {"type": "search_result", "source": "s", "title": "t", "content": []}
            ]},
            {"role": "assistant", "content": [
                {"type": "thinking", "thinking": "hmm", "signature": "sig"},
                {"type": "redacted_thinking", "data": "enc"},
                {"type": "tool_use", "id": "toolu_1", "name": "get_weather", "input": {"city": "Paris"}}
            ]},
            {"role": "user", "content": [
                {"type": "tool_result", "tool_use_id": "toolu_1", "content": [{"type": "text", "text": "sunny"}],
                 "is_error": false, "future_field": 1}
            ]}
        ]);
        body["tools"] = json!([
            {"name": "get_weather", "description": "d", "input_schema": {"type": "object"}},
            {"type": "web_search_20250305", "name": "web_search", "max_uses": 5}
        ]);
        body["tool_choice"] = json!({"type": "auto", "disable_parallel_tool_use": true});
        body["thinking"] = json!({"type": "enabled", "budget_tokens": 2048});
        body["metadata"] = json!({"user_id": "u1"});
        body["mcp_servers"] = json!([]);
        let request = parse(&body).unwrap();
        let kinds: Vec<&str> = request.messages[0].content.blocks().iter().map(ContentBlock::kind).collect();
        assert_eq!(kinds, ["text", "image", "image", "document", "search_result"]);
        assert!(matches!(request.messages[0].content.blocks()[4], ContentBlock::Other(_)));
        assert!(matches!(request.tools.as_ref().unwrap()[1], ToolDefinition::Server(_)));
        assert!(request.extra.contains_key("mcp_servers"));
        assert_eq!(serde_json::to_value(&request).unwrap(), body);
    }

    #[test]
    fn given_a_non_object_body_when_parsed_then_it_is_refused() {
        assert!(parse(&json!([1])).is_err());
    }
}
