use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::request::{ChatMessage, Role};

/// A non-streamed answer (`"object": "chat.completion"`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChatCompletion {
    pub id: String,
    #[serde(default = "completion_object")]
    pub object: String,
    #[serde(default)]
    pub created: i64,
    #[serde(default)]
    pub model: String,
    pub choices: Vec<Choice>,
    /// Always set by GaiaRouter's translating providers; `None` only when an
    /// OpenAI-compatible upstream omitted it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub usage: Option<Usage>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub system_fingerprint: Option<String>,
}

fn completion_object() -> String {
    "chat.completion".into()
}

fn chunk_object() -> String {
    "chat.completion.chunk".into()
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Choice {
    #[serde(default)]
    pub index: u32,
    pub message: ChatMessage,
    #[serde(default)]
    pub finish_reason: Option<FinishReason>,
    #[serde(default)]
    pub logprobs: Option<Value>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FinishReason {
    Stop,
    Length,
    ToolCalls,
    ContentFilter,
    FunctionCall,
    /// A value some OpenAI-compatible server invented; kept verbatim.
    #[serde(untagged)]
    Other(String),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Usage {
    pub prompt_tokens: u64,
    pub completion_tokens: u64,
    pub total_tokens: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prompt_tokens_details: Option<PromptTokensDetails>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub completion_tokens_details: Option<CompletionTokensDetails>,
    /// Web searches the provider ran for the answer (Anthropic's server tool),
    /// billed per search on top of the tokens. A GaiaRouter field, absent when 0.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub web_search_requests: u64,
}

impl Usage {
    pub fn new(prompt_tokens: u64, completion_tokens: u64, cached_tokens: u64) -> Self {
        Usage {
            prompt_tokens,
            completion_tokens,
            total_tokens: prompt_tokens.saturating_add(completion_tokens),
            prompt_tokens_details: Some(PromptTokensDetails { cached_tokens, ..PromptTokensDetails::default() }),
            completion_tokens_details: None,
            web_search_requests: 0,
        }
    }

    /// Prompt tokens served from the provider's cache (billed at the cached price).
    pub fn cached_tokens(&self) -> u64 {
        self.prompt_tokens_details.map(|d| d.cached_tokens).unwrap_or(0)
    }

    /// Prompt tokens written to the provider's cache, all durations (part of `prompt_tokens`).
    pub fn cache_write_tokens(&self) -> u64 {
        self.prompt_tokens_details.map(|d| d.cache_write_tokens).unwrap_or(0)
    }

    /// Of the cache writes, those kept for an hour (Anthropic `ttl: "1h"`, priced higher).
    pub fn cache_write_1h_tokens(&self) -> u64 {
        self.prompt_tokens_details.map(|d| d.cache_write_1h_tokens.min(d.cache_write_tokens)).unwrap_or(0)
    }

    /// Completion tokens spent on reasoning (part of `completion_tokens`).
    pub fn reasoning_tokens(&self) -> u64 {
        self.completion_tokens_details.map(|d| d.reasoning_tokens).unwrap_or(0)
    }
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

/// OpenAI's `prompt_tokens_details`. Every count is part of `prompt_tokens`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct PromptTokensDetails {
    /// Read from the provider's prompt cache.
    #[serde(default)]
    pub cached_tokens: u64,
    /// Written to the provider's prompt cache (Anthropic `cache_creation_input_tokens`;
    /// OpenRouter's name for it).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub cache_write_tokens: u64,
    /// Of `cache_write_tokens`, those written with a one-hour lifetime.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub cache_write_1h_tokens: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub audio_tokens: Option<u64>,
}

/// OpenAI's `completion_tokens_details`. Every count is part of `completion_tokens`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct CompletionTokensDetails {
    #[serde(default)]
    pub reasoning_tokens: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub audio_tokens: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub accepted_prediction_tokens: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rejected_prediction_tokens: Option<u64>,
}

/// One streamed event (`"object": "chat.completion.chunk"`). The last chunk of a
/// stream carries `usage` and no choices.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChatCompletionChunk {
    pub id: String,
    #[serde(default = "chunk_object")]
    pub object: String,
    #[serde(default)]
    pub created: i64,
    #[serde(default)]
    pub model: String,
    #[serde(default)]
    pub choices: Vec<ChunkChoice>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub usage: Option<Usage>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub system_fingerprint: Option<String>,
}

impl ChatCompletionChunk {
    pub fn new(id: &str, created: i64, model: &str, choices: Vec<ChunkChoice>) -> Self {
        ChatCompletionChunk {
            id: id.to_owned(),
            object: chunk_object(),
            created,
            model: model.to_owned(),
            choices,
            usage: None,
            system_fingerprint: None,
        }
    }

    /// The closing chunk: no choices, only usage.
    pub fn usage_only(id: &str, created: i64, model: &str, usage: Usage) -> Self {
        ChatCompletionChunk { usage: Some(usage), ..Self::new(id, created, model, Vec::new()) }
    }

    /// Bytes of generated text in this chunk: content, reasoning, tool names and
    /// arguments (what an estimate of the completion counts when no usage comes).
    pub fn output_bytes(&self) -> usize {
        let text = |text: &Option<String>| text.as_deref().map_or(0, str::len);
        self.choices
            .iter()
            .map(|choice| {
                let delta = &choice.delta;
                let calls = delta.tool_calls.iter().flatten().filter_map(|call| call.function.as_ref());
                text(&delta.content)
                    + text(&delta.reasoning_content)
                    + calls.map(|f| text(&f.name) + text(&f.arguments)).sum::<usize>()
            })
            .sum()
    }
}

impl ChatCompletion {
    /// Bytes of generated text in the answer (see [`ChatCompletionChunk::output_bytes`]).
    pub fn output_bytes(&self) -> usize {
        self.choices.iter().map(|choice| choice.message.output_bytes()).sum()
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChunkChoice {
    #[serde(default)]
    pub index: u32,
    #[serde(default)]
    pub delta: Delta,
    #[serde(default)]
    pub finish_reason: Option<FinishReason>,
    #[serde(default)]
    pub logprobs: Option<Value>,
}

impl ChunkChoice {
    pub fn delta(index: u32, delta: Delta) -> Self {
        ChunkChoice { index, delta, finish_reason: None, logprobs: None }
    }

    pub fn finish(index: u32, reason: FinishReason) -> Self {
        ChunkChoice { finish_reason: Some(reason), ..Self::delta(index, Delta::default()) }
    }
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Delta {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<Role>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_calls: Option<Vec<ToolCallDelta>>,
    /// A piece of the model's reasoning text (see `ChatMessage::reasoning_content`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reasoning_content: Option<String>,
    /// Thinking blocks completed in this chunk, with their signatures (Anthropic).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub thinking_blocks: Option<Vec<Value>>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl Delta {
    pub fn role(role: Role) -> Self {
        Delta { role: Some(role), content: Some(String::new()), ..Delta::default() }
    }

    pub fn content(text: impl Into<String>) -> Self {
        Delta { content: Some(text.into()), ..Delta::default() }
    }

    pub fn tool_call(call: ToolCallDelta) -> Self {
        Delta { tool_calls: Some(vec![call]), ..Delta::default() }
    }
}

/// A piece of a streamed tool call: the first piece of a call carries `id`, `type` and
/// the function name; later pieces append to `function.arguments`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ToolCallDelta {
    pub index: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub function: Option<FunctionCallDelta>,
    /// Other fields (`custom: {name, input}` pieces of a custom tool call), kept as-is.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl ToolCallDelta {
    pub fn start(index: u32, id: impl Into<String>, name: impl Into<String>, arguments: impl Into<String>) -> Self {
        ToolCallDelta {
            index,
            id: Some(id.into()),
            kind: Some(super::request::function_kind()),
            function: Some(FunctionCallDelta { name: Some(name.into()), arguments: Some(arguments.into()) }),
            extra: Map::new(),
        }
    }

    pub fn arguments(index: u32, arguments: impl Into<String>) -> Self {
        ToolCallDelta {
            index,
            id: None,
            kind: None,
            function: Some(FunctionCallDelta { name: None, arguments: Some(arguments.into()) }),
            extra: Map::new(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct FunctionCallDelta {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub arguments: Option<String>,
}

/// `GET /v1/models` list item.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ModelInfo {
    pub id: String,
    pub object: String,
    pub created: i64,
    pub owned_by: String,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn given_text_reasoning_and_tool_call_pieces_then_their_bytes_are_the_output() {
        let chunk: ChatCompletionChunk = serde_json::from_value(json!({"id": "c", "choices": [
            {"index": 0, "delta": {"role": "assistant", "content": "hello", "reasoning_content": "hmm"}},
            {"index": 1, "delta": {"tool_calls": [{"index": 0, "function": {"name": "get", "arguments": "{\"a\":1}"}}]}}
        ]}))
        .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(chunk.output_bytes(), 5 + 3 + 3 + 7);
        let usage_only = ChatCompletionChunk::usage_only("c", 0, "m", Usage::new(1, 1, 0));
        assert_eq!(usage_only.output_bytes(), 0);
    }

    #[test]
    fn completion_serializes_in_openai_shape_with_null_finish_and_logprobs() {
        let completion = ChatCompletion {
            id: "chatcmpl-1".into(),
            object: "chat.completion".into(),
            created: 1_700_000_000,
            model: "gpt-4o".into(),
            choices: vec![Choice {
                index: 0,
                message: ChatMessage::assistant("Hi"),
                finish_reason: Some(FinishReason::Stop),
                logprobs: None,
            }],
            usage: Some(Usage::new(5, 1, 2)),
            system_fingerprint: None,
        };
        assert_eq!(
            serde_json::to_value(&completion).unwrap(),
            json!({
                "id": "chatcmpl-1", "object": "chat.completion", "created": 1_700_000_000, "model": "gpt-4o",
                "choices": [{"index": 0, "message": {"role": "assistant", "content": "Hi"},
                             "finish_reason": "stop", "logprobs": null}],
                "usage": {"prompt_tokens": 5, "completion_tokens": 1, "total_tokens": 6,
                          "prompt_tokens_details": {"cached_tokens": 2}}
            })
        );
    }

    #[test]
    fn parses_openai_stream_chunks_including_tool_call_pieces_and_the_usage_chunk() {
        let chunk: ChatCompletionChunk = serde_json::from_value(json!({
            "id": "chatcmpl-1", "object": "chat.completion.chunk", "created": 1, "model": "gpt-4o",
            "system_fingerprint": "fp_1",
            "choices": [{"index": 0, "delta": {"tool_calls": [{"index": 0, "id": "call_1", "type": "function",
                "function": {"name": "get_weather", "arguments": ""}}]}, "logprobs": null, "finish_reason": null}],
            "usage": null
        }))
        .unwrap();
        let call = &chunk.choices[0].delta.tool_calls.as_ref().unwrap()[0];
        assert_eq!(call.id.as_deref(), Some("call_1"));
        assert_eq!(call.function.as_ref().unwrap().name.as_deref(), Some("get_weather"));

        let usage_chunk: ChatCompletionChunk = serde_json::from_value(json!({
            "id": "chatcmpl-1", "object": "chat.completion.chunk", "created": 1, "model": "gpt-4o", "choices": [],
            "usage": {"prompt_tokens": 9, "completion_tokens": 3, "total_tokens": 12,
                      "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
                      "completion_tokens_details": {"reasoning_tokens": 0}}
        }))
        .unwrap();
        assert_eq!(usage_chunk.usage.unwrap().total_tokens, 12);
    }

    #[test]
    fn unknown_finish_reasons_are_kept_verbatim() {
        let reason: FinishReason = serde_json::from_value(json!("eos")).unwrap();
        assert_eq!(reason, FinishReason::Other("eos".into()));
        assert_eq!(serde_json::to_value(FinishReason::ToolCalls).unwrap(), json!("tool_calls"));
    }
}
