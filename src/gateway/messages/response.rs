//! Chat completion → Anthropic Messages response, for deployments that are not
//! Anthropic.
//!
//! Choices:
//! - Thinking comes first: the message's `thinking_blocks` verbatim, else its
//!   `reasoning_content` as one `thinking` block with an empty `signature` (as LiteLLM
//!   does; the field is required by the SDK types, and only Anthropic checks it, on
//!   Anthropic deployments).
//! - Tool arguments that are not a JSON object (an upstream's broken JSON) become `{}`:
//!   Anthropic's `input` is always an object, and the tool then reports the missing
//!   arguments to the model, which retries.
//! - Tool call ids are kept verbatim whatever their prefix (Claude Code echoes them back
//!   in `tool_result`); a missing one gets `toolu_` + a UUIDv7.

use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};
use uuid::Uuid;

use crate::gateway::openai::{ChatCompletion, ChatMessage, FinishReason, ToolCall, Usage};

/// A non-streamed `POST /v1/messages` answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MessagesResponse {
    pub id: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub role: String,
    pub content: Vec<Value>,
    pub model: String,
    pub stop_reason: Option<String>,
    pub stop_sequence: Option<String>,
    pub usage: MessagesUsage,
}

/// Anthropic's usage: unlike OpenAI's, `input_tokens` excludes the cache reads and
/// writes, which are counted apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct MessagesUsage {
    pub input_tokens: u64,
    pub output_tokens: u64,
    #[serde(default)]
    pub cache_creation_input_tokens: u64,
    #[serde(default)]
    pub cache_read_input_tokens: u64,
}

pub fn usage_from_chat(usage: &Usage) -> MessagesUsage {
    let cached = usage.cached_tokens();
    let written = usage.cache_write_tokens();
    MessagesUsage {
        input_tokens: usage.prompt_tokens.saturating_sub(cached).saturating_sub(written),
        output_tokens: usage.completion_tokens,
        cache_creation_input_tokens: written,
        cache_read_input_tokens: cached,
    }
}

/// Bytes of generated text in a Messages answer (a message, as Anthropic or the
/// translation wrote it): its text and thinking blocks, tool names and inputs.
/// What an estimate of the completion counts when the answer carries no usage.
pub fn message_output_bytes(message: &Value) -> usize {
    let blocks = message.get("content").and_then(Value::as_array).map(Vec::as_slice).unwrap_or_default();
    blocks.iter().map(block_output_bytes).sum()
}

/// Bytes of generated text in one content block (or a `content_block_start`'s block).
pub fn block_output_bytes(block: &Value) -> usize {
    let text = ["text", "thinking", "name"].iter().filter_map(|field| block.get(*field)?.as_str()).map(str::len);
    let input = block.get("input").filter(|input| !input.is_null()).map_or(0, |input| input.to_string().len());
    text.sum::<usize>() + input
}

/// `msg_` + a UUIDv7 unless the upstream id already is a Messages id.
pub fn message_id(chat_id: &str) -> String {
    if chat_id.starts_with("msg_") {
        chat_id.to_owned()
    } else {
        format!("msg_{}", Uuid::now_v7().simple())
    }
}

pub(crate) fn new_tool_use_id() -> String {
    format!("toolu_{}", Uuid::now_v7().simple())
}

/// Anthropic's `stop_reason` for an OpenAI `finish_reason`.
pub fn stop_reason(reason: Option<&FinishReason>) -> &'static str {
    match reason {
        Some(FinishReason::Length) => "max_tokens",
        Some(FinishReason::ToolCalls | FinishReason::FunctionCall) => "tool_use",
        Some(FinishReason::ContentFilter) => "refusal",
        Some(FinishReason::Stop | FinishReason::Other(_)) | None => "end_turn",
    }
}

/// The `input` object of a tool call's JSON arguments (`{}` when empty or not an object).
pub fn tool_input(arguments: &str) -> Value {
    match serde_json::from_str::<Value>(arguments) {
        Ok(value @ Value::Object(_)) => value,
        _ => Value::Object(Map::new()),
    }
}

fn tool_use_block(call: &ToolCall) -> Value {
    let id = if call.id.is_empty() { new_tool_use_id() } else { call.id.clone() };
    json!({"type": "tool_use", "id": id, "name": call.function.name, "input": tool_input(&call.function.arguments)})
}

fn content_blocks(message: &ChatMessage) -> Vec<Value> {
    let mut content = Vec::new();
    match &message.thinking_blocks {
        Some(blocks) if !blocks.is_empty() => content.extend(blocks.iter().cloned()),
        _ => {
            if let Some(reasoning) = message.reasoning_content.as_deref().filter(|r| !r.is_empty()) {
                content.push(json!({"type": "thinking", "thinking": reasoning, "signature": ""}));
            }
        }
    }
    let text = message.text();
    let refusal = message.extra.get("refusal").and_then(Value::as_str).filter(|r| !r.is_empty());
    if !text.is_empty() {
        content.push(json!({"type": "text", "text": text}));
    } else if let Some(refusal) = refusal {
        content.push(json!({"type": "text", "text": refusal}));
    }
    content.extend(message.tool_calls.iter().flatten().map(tool_use_block));
    content
}

/// The Messages answer for a completion; `model` is the model the client asked for.
pub fn message_from_completion(completion: &ChatCompletion, model: &str) -> MessagesResponse {
    let choice = completion.choices.first();
    MessagesResponse {
        id: message_id(&completion.id),
        kind: "message".into(),
        role: "assistant".into(),
        content: choice.map(|c| content_blocks(&c.message)).unwrap_or_default(),
        model: model.to_owned(),
        stop_reason: Some(stop_reason(choice.and_then(|c| c.finish_reason.as_ref())).to_owned()),
        stop_sequence: None,
        usage: completion.usage.as_ref().map(usage_from_chat).unwrap_or_default(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gateway::openai::{Choice, PromptTokensDetails};

    #[test]
    fn given_a_message_with_text_thinking_and_a_tool_call_then_their_bytes_are_the_output() {
        let message = json!({"type": "message", "role": "assistant", "content": [
            {"type": "thinking", "thinking": "let me see", "signature": "sig"},
            {"type": "text", "text": "hello"},
            {"type": "tool_use", "id": "toolu_1", "name": "get", "input": {"a": 1}}
        ]});
        assert_eq!(message_output_bytes(&message), 10 + 5 + 3 + r#"{"a":1}"#.len());
        assert_eq!(message_output_bytes(&json!({"content": "not blocks"})), 0);
    }

    fn completion(message: ChatMessage, finish: FinishReason) -> ChatCompletion {
        ChatCompletion {
            id: "chatcmpl-1".into(),
            object: "chat.completion".into(),
            created: 1,
            model: "gpt-4o-2024".into(),
            choices: vec![Choice { index: 0, message, finish_reason: Some(finish), logprobs: None }],
            usage: Some(Usage::new(10, 5, 0)),
            system_fingerprint: None,
        }
    }

    #[test]
    fn given_a_text_completion_when_translated_then_an_anthropic_message() {
        let response =
            message_from_completion(&completion(ChatMessage::assistant("Hi"), FinishReason::Stop), "claude-x");
        let wire = serde_json::to_value(&response).unwrap();
        assert!(response.id.starts_with("msg_") && response.id.len() == 36, "{}", response.id);
        assert_eq!(wire["type"], "message");
        assert_eq!(wire["role"], "assistant");
        assert_eq!(wire["model"], "claude-x");
        assert_eq!(wire["content"], json!([{"type": "text", "text": "Hi"}]));
        assert_eq!(wire["stop_reason"], "end_turn");
        assert_eq!(wire["stop_sequence"], Value::Null);
        assert_eq!(
            wire["usage"],
            json!({"input_tokens": 10, "output_tokens": 5,
            "cache_creation_input_tokens": 0, "cache_read_input_tokens": 0})
        );
    }

    #[test]
    fn given_reasoning_text_and_tool_calls_when_translated_then_thinking_text_tool_use_in_order() {
        let mut message = ChatMessage::assistant("Let me check.");
        message.reasoning_content = Some("think".into());
        message.tool_calls = Some(vec![
            ToolCall::function("call_1", "get_weather", r#"{"city":"Paris"}"#),
            ToolCall::function("toolu_2", "noop", ""),
            ToolCall::function("", "broken", "{not json"),
        ]);
        let response = message_from_completion(&completion(message, FinishReason::ToolCalls), "m");
        assert_eq!(response.content[0], json!({"type": "thinking", "thinking": "think", "signature": ""}));
        assert_eq!(response.content[1], json!({"type": "text", "text": "Let me check."}));
        assert_eq!(
            response.content[2],
            json!({"type": "tool_use", "id": "call_1", "name": "get_weather", "input": {"city": "Paris"}})
        );
        assert_eq!(response.content[3]["input"], json!({}));
        assert_eq!(response.content[4]["input"], json!({}));
        assert!(response.content[4]["id"].as_str().unwrap().starts_with("toolu_"));
        assert_eq!(response.stop_reason.as_deref(), Some("tool_use"));
    }

    #[test]
    fn given_signed_thinking_blocks_when_translated_then_they_are_kept_verbatim_over_reasoning_text() {
        let mut message = ChatMessage::assistant("ok");
        message.reasoning_content = Some("t".into());
        message.thinking_blocks = Some(vec![
            json!({"type": "thinking", "thinking": "t", "signature": "sig"}),
            json!({"type": "redacted_thinking", "data": "enc"}),
        ]);
        let response = message_from_completion(&completion(message, FinishReason::Stop), "m");
        assert_eq!(response.content.len(), 3);
        assert_eq!(response.content[0]["signature"], "sig");
        assert_eq!(response.content[1]["type"], "redacted_thinking");
    }

    #[test]
    fn given_finish_reasons_when_mapped_then_anthropic_stop_reasons() {
        assert_eq!(stop_reason(Some(&FinishReason::Length)), "max_tokens");
        assert_eq!(stop_reason(Some(&FinishReason::ContentFilter)), "refusal");
        assert_eq!(stop_reason(Some(&FinishReason::Other("eos".into()))), "end_turn");
        assert_eq!(stop_reason(None), "end_turn");
    }

    #[test]
    fn given_cached_and_written_prompt_tokens_when_usage_is_translated_then_input_excludes_them() {
        let usage = Usage {
            prompt_tokens: 100,
            completion_tokens: 7,
            total_tokens: 107,
            prompt_tokens_details: Some(PromptTokensDetails {
                cached_tokens: 60,
                cache_write_tokens: 30,
                ..PromptTokensDetails::default()
            }),
            completion_tokens_details: None,
            web_search_requests: 0,
        };
        assert_eq!(
            usage_from_chat(&usage),
            MessagesUsage {
                input_tokens: 10,
                output_tokens: 7,
                cache_creation_input_tokens: 30,
                cache_read_input_tokens: 60
            }
        );
        let odd = Usage { prompt_tokens: 5, ..usage };
        assert_eq!(usage_from_chat(&odd).input_tokens, 0);
    }

    #[test]
    fn given_a_msg_prefixed_id_when_translated_then_it_is_kept() {
        let mut c = completion(ChatMessage::assistant("x"), FinishReason::Stop);
        c.id = "msg_abc".into();
        assert_eq!(message_from_completion(&c, "m").id, "msg_abc");
    }

    #[test]
    fn given_an_empty_refusal_message_when_translated_then_the_refusal_text_is_the_content() {
        let mut message = ChatMessage::assistant("");
        message.content = None;
        message.extra.insert("refusal".into(), json!("I can't help with that."));
        let response = message_from_completion(&completion(message, FinishReason::ContentFilter), "m");
        assert_eq!(response.content, vec![json!({"type": "text", "text": "I can't help with that."})]);
        assert_eq!(response.stop_reason.as_deref(), Some("refusal"));
    }
}
