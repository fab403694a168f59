use serde::Deserialize;
use serde_json::{Map, Value};

use super::request::JSON_TOOL_NAME;
use crate::gateway::openai::{
    ChatCompletion, ChatMessage, Choice, FinishReason, MessageContent, PromptTokensDetails, Role, ToolCall, Usage,
};
use crate::gateway::providers::http::unix_now;

/// The Messages API response body (`"type": "message"`).
#[derive(Debug, Deserialize)]
pub(crate) struct MessagesResponse {
    pub id: String,
    #[serde(default)]
    pub model: String,
    #[serde(default)]
    pub content: Vec<Value>,
    #[serde(default)]
    pub stop_reason: Option<String>,
    #[serde(default)]
    pub usage: AnthropicUsage,
}

#[derive(Debug, Default, Clone, Copy, Deserialize)]
pub struct AnthropicUsage {
    #[serde(default)]
    pub input_tokens: Option<u64>,
    #[serde(default)]
    pub output_tokens: Option<u64>,
    #[serde(default)]
    pub cache_creation_input_tokens: Option<u64>,
    #[serde(default)]
    pub cache_read_input_tokens: Option<u64>,
    /// The cache writes by lifetime (5 minutes, 1 hour).
    #[serde(default)]
    pub cache_creation: Option<CacheCreation>,
    /// Server tools Anthropic ran (web search is billed per search).
    #[serde(default)]
    pub server_tool_use: Option<ServerToolUse>,
}

#[derive(Debug, Default, Clone, Copy, Deserialize)]
pub struct ServerToolUse {
    #[serde(default)]
    pub web_search_requests: Option<u64>,
}

#[derive(Debug, Default, Clone, Copy, Deserialize)]
pub struct CacheCreation {
    #[serde(default)]
    pub ephemeral_5m_input_tokens: Option<u64>,
    #[serde(default)]
    pub ephemeral_1h_input_tokens: Option<u64>,
}

impl AnthropicUsage {
    /// Merges a stream's `message_delta` usage: as [`merge`](Self::merge), except that
    /// the output count is the delta's or none. `message_start`'s count (1, as the
    /// answer begins) stands for a stream cut before its end; a stream that ends with
    /// a `message_delta` that does not say how much it wrote has no output count, not
    /// one token.
    pub fn merge_final(&mut self, delta: AnthropicUsage) {
        let output_tokens = delta.output_tokens;
        self.merge(delta);
        self.output_tokens = output_tokens;
    }

    /// Later reports (in `message_delta`) override earlier ones field by field.
    pub fn merge(&mut self, later: AnthropicUsage) {
        self.input_tokens = later.input_tokens.or(self.input_tokens);
        self.output_tokens = later.output_tokens.or(self.output_tokens);
        self.cache_creation_input_tokens = later.cache_creation_input_tokens.or(self.cache_creation_input_tokens);
        self.cache_read_input_tokens = later.cache_read_input_tokens.or(self.cache_read_input_tokens);
        self.cache_creation = later.cache_creation.or(self.cache_creation);
        self.server_tool_use = later.server_tool_use.or(self.server_tool_use);
    }

    /// Anthropic counts cache reads and writes apart from `input_tokens`; OpenAI's
    /// `prompt_tokens` includes them, with reads as `cached_tokens` and writes as
    /// `cache_write_tokens` (of which `cache_write_1h_tokens` are kept an hour).
    /// Anthropic reports no reasoning count of its own: thinking is part of
    /// `output_tokens`, and `reasoning_tokens` stays unset.
    pub fn to_openai(self) -> Usage {
        let cache_read = self.cache_read_input_tokens.unwrap_or(0);
        let by_lifetime = self.cache_creation.unwrap_or_default();
        let write_1h = by_lifetime.ephemeral_1h_input_tokens.unwrap_or(0);
        let cache_write = self
            .cache_creation_input_tokens
            .unwrap_or_else(|| by_lifetime.ephemeral_5m_input_tokens.unwrap_or(0).saturating_add(write_1h));
        // Saturating: the figures are the upstream's to state, and may be absurd.
        let prompt = self.input_tokens.unwrap_or(0).saturating_add(cache_write).saturating_add(cache_read);
        let completion = self.output_tokens.unwrap_or(0);
        Usage {
            prompt_tokens: prompt,
            completion_tokens: completion,
            total_tokens: prompt.saturating_add(completion),
            prompt_tokens_details: Some(PromptTokensDetails {
                cached_tokens: cache_read,
                cache_write_tokens: cache_write,
                cache_write_1h_tokens: write_1h.min(cache_write),
                audio_tokens: None,
            }),
            completion_tokens_details: None,
            web_search_requests: self.server_tool_use.and_then(|used| used.web_search_requests).unwrap_or(0),
        }
    }
}

pub(crate) fn finish_reason(stop_reason: Option<&str>) -> FinishReason {
    match stop_reason {
        Some("max_tokens") | Some("model_context_window_exceeded") => FinishReason::Length,
        Some("tool_use") => FinishReason::ToolCalls,
        Some("refusal") => FinishReason::ContentFilter,
        // end_turn, stop_sequence, pause_turn
        _ => FinishReason::Stop,
    }
}

/// Thinking blocks become `reasoning_content` (their text) and `thinking_blocks` (the
/// blocks with their signatures, and redacted ones), which a client sends back on its
/// next turn. A call of GaiaRouter's JSON tool (see `JSON_TOOL_NAME`) is the answer of a
/// `response_format` request: its input is the content, and the answer stops normally.
pub(crate) fn completion_from_message(message: MessagesResponse) -> ChatCompletion {
    let mut text: Option<String> = None;
    let mut json_answer: Option<String> = None;
    let mut reasoning: Option<String> = None;
    let mut thinking_blocks = Vec::new();
    let mut tool_calls = Vec::new();
    for block in &message.content {
        let field = |name| block.get(name).and_then(Value::as_str).unwrap_or_default().to_owned();
        match block.get("type").and_then(Value::as_str) {
            Some("text") => {
                let piece = block.get("text").and_then(Value::as_str).unwrap_or_default();
                text.get_or_insert_with(String::new).push_str(piece);
            }
            Some("thinking") => {
                reasoning.get_or_insert_with(String::new).push_str(&field("thinking"));
                thinking_blocks.push(block.clone());
            }
            Some("redacted_thinking") => thinking_blocks.push(block.clone()),
            Some("tool_use") => {
                let input = block.get("input").cloned().unwrap_or_else(|| Value::Object(Map::new()));
                if field("name") == JSON_TOOL_NAME {
                    json_answer = Some(input.to_string());
                } else {
                    tool_calls.push(ToolCall::function(field("id"), field("name"), input.to_string()));
                }
            }
            // Server tool blocks and blocks Anthropic may add later: no OpenAI equivalent.
            _ => {}
        }
    }
    let mut finish = finish_reason(message.stop_reason.as_deref());
    if json_answer.is_some() && tool_calls.is_empty() && finish == FinishReason::ToolCalls {
        finish = FinishReason::Stop;
    }
    ChatCompletion {
        id: message.id,
        object: "chat.completion".into(),
        created: unix_now(),
        model: message.model,
        choices: vec![Choice {
            index: 0,
            message: ChatMessage {
                role: Role::Assistant,
                content: json_answer.or(text).map(MessageContent::Text),
                name: None,
                tool_calls: (!tool_calls.is_empty()).then_some(tool_calls),
                tool_call_id: None,
                reasoning_content: reasoning,
                thinking_blocks: (!thinking_blocks.is_empty()).then_some(thinking_blocks),
                extra: Map::new(),
            },
            finish_reason: Some(finish),
            logprobs: None,
        }],
        usage: Some(message.usage.to_openai()),
        system_fingerprint: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn given_web_searches_in_the_usage_then_they_are_counted_for_pricing() {
        let usage: AnthropicUsage = serde_json::from_value(serde_json::json!({
            "input_tokens": 10, "output_tokens": 5, "server_tool_use": {"web_search_requests": 2}
        }))
        .unwrap();
        assert_eq!(usage.to_openai().web_search_requests, 2);
        assert_eq!(AnthropicUsage::default().to_openai().web_search_requests, 0);
    }

    #[test]
    fn given_usage_figures_summing_past_u64_then_the_translation_saturates_instead_of_overflowing() {
        let usage: AnthropicUsage = serde_json::from_value(serde_json::json!({
            "input_tokens": u64::MAX, "output_tokens": u64::MAX,
            "cache_read_input_tokens": u64::MAX,
            "cache_creation": {"ephemeral_5m_input_tokens": u64::MAX, "ephemeral_1h_input_tokens": u64::MAX}
        }))
        .unwrap();
        let usage = usage.to_openai();
        assert_eq!((usage.prompt_tokens, usage.completion_tokens, usage.total_tokens), (u64::MAX, u64::MAX, u64::MAX));
        assert_eq!(usage.cache_write_tokens(), u64::MAX);
    }
    use serde_json::json;

    fn parse(body: Value) -> ChatCompletion {
        completion_from_message(serde_json::from_value(body).unwrap())
    }

    #[test]
    fn translates_a_text_message_with_cache_usage() {
        let completion = parse(json!({
            "id": "msg_01XFDUDYJgAACzvnptvVoYEL", "type": "message", "role": "assistant",
            "model": "claude-sonnet-4-5-20250929",
            "content": [{"type": "text", "text": "Hello!"}],
            "stop_reason": "end_turn", "stop_sequence": null,
            "usage": {"input_tokens": 12, "output_tokens": 6, "cache_creation_input_tokens": 100, "cache_read_input_tokens": 50}
        }));
        assert_eq!(completion.id, "msg_01XFDUDYJgAACzvnptvVoYEL");
        assert_eq!(completion.model, "claude-sonnet-4-5-20250929");
        assert_eq!(completion.choices[0].message.text(), "Hello!");
        assert_eq!(completion.choices[0].finish_reason, Some(FinishReason::Stop));
        let usage = completion.usage.unwrap();
        assert_eq!((usage.prompt_tokens, usage.completion_tokens, usage.total_tokens), (162, 6, 168));
        assert_eq!((usage.cached_tokens(), usage.cache_write_tokens(), usage.cache_write_1h_tokens()), (50, 100, 0));
    }

    #[test]
    fn translates_tool_use_blocks_to_tool_calls() {
        let completion = parse(json!({
            "id": "msg_1", "type": "message", "role": "assistant", "model": "claude-sonnet-4-5",
            "content": [
                {"type": "text", "text": "Let me check."},
                {"type": "tool_use", "id": "toolu_01A09q90qw90lq917835lq9", "name": "get_weather", "input": {"city": "Paris"}}
            ],
            "stop_reason": "tool_use", "stop_sequence": null,
            "usage": {"input_tokens": 30, "output_tokens": 20}
        }));
        let choice = &completion.choices[0];
        assert_eq!(choice.finish_reason, Some(FinishReason::ToolCalls));
        let call = &choice.message.tool_calls.as_ref().unwrap()[0];
        assert_eq!(call.id, "toolu_01A09q90qw90lq917835lq9");
        assert_eq!(call.function.name, "get_weather");
        assert_eq!(serde_json::from_str::<Value>(&call.function.arguments).unwrap(), json!({"city": "Paris"}));
        let usage = completion.usage.unwrap();
        assert_eq!((usage.prompt_tokens, usage.completion_tokens, usage.cached_tokens()), (30, 20, 0));
    }

    #[test]
    fn maps_stop_reasons() {
        assert_eq!(finish_reason(Some("end_turn")), FinishReason::Stop);
        assert_eq!(finish_reason(Some("stop_sequence")), FinishReason::Stop);
        assert_eq!(finish_reason(Some("max_tokens")), FinishReason::Length);
        assert_eq!(finish_reason(Some("tool_use")), FinishReason::ToolCalls);
        assert_eq!(finish_reason(Some("refusal")), FinishReason::ContentFilter);
    }

    #[test]
    fn answers_thinking_as_reasoning_content_and_thinking_blocks() {
        let thinking = json!({"type": "thinking", "thinking": "Two and two.", "signature": "EqQBCgIYAhIM"});
        let redacted = json!({"type": "redacted_thinking", "data": "EmwKAhgBEgy3va3pzix"});
        let completion = parse(json!({
            "id": "msg_1", "type": "message", "role": "assistant", "model": "claude-sonnet-4-5",
            "content": [thinking, redacted, {"type": "text", "text": "Four."}],
            "stop_reason": "end_turn", "usage": {"input_tokens": 10, "output_tokens": 30}
        }));
        let message = &completion.choices[0].message;
        assert_eq!(message.text(), "Four.");
        assert_eq!(message.reasoning_content.as_deref(), Some("Two and two."));
        assert_eq!(message.thinking_blocks, Some(vec![thinking, redacted]));
        assert_eq!(completion.usage.unwrap().reasoning_tokens(), 0);
    }

    #[test]
    fn answers_the_json_tool_input_as_content_with_a_normal_stop() {
        let completion = parse(json!({
            "id": "msg_1", "type": "message", "role": "assistant", "model": "claude-opus-4-1",
            "content": [{"type": "tool_use", "id": "toolu_1", "name": JSON_TOOL_NAME, "input": {"city": "Paris"}}],
            "stop_reason": "tool_use", "usage": {"input_tokens": 10, "output_tokens": 5}
        }));
        let choice = &completion.choices[0];
        assert_eq!(serde_json::from_str::<Value>(&choice.message.text()).unwrap(), json!({"city": "Paris"}));
        assert_eq!(choice.message.tool_calls, None);
        assert_eq!(choice.finish_reason, Some(FinishReason::Stop));
    }

    #[test]
    fn counts_cache_writes_by_lifetime_inside_prompt_tokens() {
        let usage = AnthropicUsage {
            input_tokens: Some(5),
            output_tokens: Some(2),
            cache_creation_input_tokens: Some(30),
            cache_read_input_tokens: Some(100),
            cache_creation: Some(CacheCreation {
                ephemeral_5m_input_tokens: Some(10),
                ephemeral_1h_input_tokens: Some(20),
            }),
            server_tool_use: None,
        }
        .to_openai();
        assert_eq!((usage.prompt_tokens, usage.total_tokens), (135, 137));
        assert_eq!((usage.cached_tokens(), usage.cache_write_tokens(), usage.cache_write_1h_tokens()), (100, 30, 20));
    }
}
