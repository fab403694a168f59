use std::collections::{HashMap, HashSet};

use serde_json::{json, Value};

use super::error_from_type;
use super::request::JSON_TOOL_NAME;
use super::response::{finish_reason, AnthropicUsage};
use crate::gateway::openai::{ChatCompletionChunk, ChunkChoice, Delta, FinishReason, Role, ToolCallDelta};
use crate::gateway::providers::http::{unix_now, StreamTranslator, Translated};
use crate::gateway::providers::ProviderError;

/// Turns Anthropic's stream (`message_start`, `content_block_start|delta|stop`,
/// `message_delta`, `message_stop`, `ping`, `error`) into OpenAI chunks: a role chunk,
/// content, reasoning and tool-call deltas, a finish chunk, then a usage chunk. A
/// stream that closes before `message_stop` is cut.
///
/// `thinking_delta` becomes `delta.reasoning_content`; when a thinking block stops, the
/// whole block with its signature (gathered from `signature_delta`) is sent as a
/// `delta.thinking_blocks` entry, and a `redacted_thinking` block is sent as it starts.
/// The input of GaiaRouter's JSON tool streams as content (see `completion_from_message`).
pub(crate) struct AnthropicStream {
    id: String,
    model: String,
    created: i64,
    usage: AnthropicUsage,
    /// Content block index → OpenAI tool call index, for `tool_use` blocks.
    tool_indexes: HashMap<u64, u32>,
    /// Content block indexes of the JSON tool's blocks.
    json_blocks: HashSet<u64>,
    /// Content block index → the thinking block being streamed.
    thinking: HashMap<u64, ThinkingBlock>,
    finished: bool,
}

#[derive(Default)]
struct ThinkingBlock {
    thinking: String,
    signature: String,
}

impl AnthropicStream {
    pub(crate) fn new(model: &str) -> Self {
        AnthropicStream {
            id: String::new(),
            model: model.to_owned(),
            created: unix_now(),
            usage: AnthropicUsage::default(),
            tool_indexes: HashMap::new(),
            json_blocks: HashSet::new(),
            thinking: HashMap::new(),
            finished: false,
        }
    }

    fn chunk(&self, choice: ChunkChoice) -> ChatCompletionChunk {
        ChatCompletionChunk::new(&self.id, self.created, &self.model, vec![choice])
    }

    fn delta(&self, delta: Delta) -> Vec<ChatCompletionChunk> {
        vec![self.chunk(ChunkChoice::delta(0, delta))]
    }

    fn reasoning(&self, text: &str) -> Vec<ChatCompletionChunk> {
        if text.is_empty() {
            return Vec::new();
        }
        self.delta(Delta { reasoning_content: Some(text.to_owned()), ..Delta::default() })
    }

    fn thinking_block(&self, block: Value) -> Vec<ChatCompletionChunk> {
        self.delta(Delta { thinking_blocks: Some(vec![block]), ..Delta::default() })
    }
}

fn invalid(what: &str) -> ProviderError {
    ProviderError::InvalidResponse(format!("Anthropic stream event without {what}"))
}

fn usage_of(value: Option<&Value>) -> Result<AnthropicUsage, ProviderError> {
    match value {
        None => Ok(AnthropicUsage::default()),
        Some(value) => serde_json::from_value(value.clone()).map_err(|e| ProviderError::InvalidResponse(e.to_string())),
    }
}

impl StreamTranslator for AnthropicStream {
    fn on_event(&mut self, event: &str, data: &str) -> Result<Translated, ProviderError> {
        let data: Value = serde_json::from_str(data).map_err(|e| ProviderError::InvalidResponse(e.to_string()))?;
        let kind = data.get("type").and_then(Value::as_str).unwrap_or(event);
        let str_at = |pointer: &str| data.pointer(pointer).and_then(Value::as_str);
        let block_index = || data.get("index").and_then(Value::as_u64).ok_or_else(|| invalid("index"));
        let chunks = match kind {
            "message_start" => {
                if let Some(id) = str_at("/message/id") {
                    self.id = id.to_owned();
                }
                if let Some(model) = str_at("/message/model") {
                    self.model = model.to_owned();
                }
                self.usage.merge(usage_of(data.pointer("/message/usage"))?);
                self.delta(Delta::role(Role::Assistant))
            }
            "content_block_start" => {
                let block_index = block_index()?;
                match str_at("/content_block/type") {
                    Some("tool_use") if str_at("/content_block/name") == Some(JSON_TOOL_NAME) => {
                        self.json_blocks.insert(block_index);
                        Vec::new()
                    }
                    Some("tool_use") => {
                        let tool_index = self.tool_indexes.len() as u32;
                        self.tool_indexes.insert(block_index, tool_index);
                        let id = str_at("/content_block/id").ok_or_else(|| invalid("tool id"))?;
                        let name = str_at("/content_block/name").ok_or_else(|| invalid("tool name"))?;
                        self.delta(Delta::tool_call(ToolCallDelta::start(tool_index, id, name, "")))
                    }
                    Some("text") => match str_at("/content_block/text") {
                        Some(text) if !text.is_empty() => self.delta(Delta::content(text)),
                        _ => Vec::new(),
                    },
                    Some("thinking") => {
                        let block = ThinkingBlock {
                            thinking: str_at("/content_block/thinking").unwrap_or_default().to_owned(),
                            signature: str_at("/content_block/signature").unwrap_or_default().to_owned(),
                        };
                        let chunks = self.reasoning(&block.thinking);
                        self.thinking.insert(block_index, block);
                        chunks
                    }
                    Some("redacted_thinking") => {
                        let block = data.get("content_block").cloned().unwrap_or(Value::Null);
                        self.thinking_block(block)
                    }
                    _ => Vec::new(),
                }
            }
            "content_block_delta" => match str_at("/delta/type") {
                Some("text_delta") => {
                    let text = str_at("/delta/text").ok_or_else(|| invalid("text"))?;
                    self.delta(Delta::content(text))
                }
                Some("input_json_delta") => {
                    let block_index = block_index()?;
                    let json = str_at("/delta/partial_json").unwrap_or_default();
                    if self.json_blocks.contains(&block_index) {
                        if json.is_empty() {
                            Vec::new()
                        } else {
                            self.delta(Delta::content(json))
                        }
                    } else {
                        let tool_index =
                            *self.tool_indexes.get(&block_index).ok_or_else(|| invalid("a tool_use block start"))?;
                        if json.is_empty() {
                            Vec::new()
                        } else {
                            self.delta(Delta::tool_call(ToolCallDelta::arguments(tool_index, json)))
                        }
                    }
                }
                Some("thinking_delta") => {
                    let block_index = block_index()?;
                    let text = str_at("/delta/thinking").ok_or_else(|| invalid("thinking"))?;
                    let block = self.thinking.get_mut(&block_index).ok_or_else(|| invalid("a thinking block start"))?;
                    block.thinking.push_str(text);
                    self.reasoning(text)
                }
                Some("signature_delta") => {
                    let block_index = block_index()?;
                    let signature = str_at("/delta/signature").ok_or_else(|| invalid("signature"))?;
                    let block = self.thinking.get_mut(&block_index).ok_or_else(|| invalid("a thinking block start"))?;
                    block.signature.push_str(signature);
                    Vec::new()
                }
                // citations_delta and deltas Anthropic may add later: no OpenAI equivalent.
                _ => Vec::new(),
            },
            "content_block_stop" => match self.thinking.remove(&block_index()?) {
                Some(block) => self.thinking_block(json!({
                    "type": "thinking", "thinking": block.thinking, "signature": block.signature
                })),
                None => Vec::new(),
            },
            "message_delta" => {
                self.usage.merge_final(usage_of(data.get("usage"))?);
                let mut reason = finish_reason(str_at("/delta/stop_reason"));
                if reason == FinishReason::ToolCalls && self.tool_indexes.is_empty() && !self.json_blocks.is_empty() {
                    reason = FinishReason::Stop;
                }
                self.finished = true;
                vec![self.chunk(ChunkChoice::finish(0, reason))]
            }
            "message_stop" => {
                let mut chunks = Vec::new();
                if !self.finished {
                    chunks.push(self.chunk(ChunkChoice::finish(0, finish_reason(None))));
                }
                chunks.push(ChatCompletionChunk::usage_only(
                    &self.id,
                    self.created,
                    &self.model,
                    self.usage.to_openai(),
                ));
                return Ok(Translated { chunks, finished: true });
            }
            "error" => {
                let error_type = str_at("/error/type").unwrap_or("api_error");
                let message = str_at("/error/message").unwrap_or("Anthropic stream error").to_owned();
                return Err(error_from_type(error_type, message));
            }
            // ping, and event types Anthropic may add later.
            _ => Vec::new(),
        };
        Ok(Translated::chunks(chunks))
    }

    fn on_close(&mut self) -> Result<Vec<ChatCompletionChunk>, ProviderError> {
        Err(ProviderError::StreamCut)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gateway::openai::{CompletionAccumulator, FinishReason};
    use serde_json::json;

    /// Feeds `(event, data)` pairs; returns the chunks and how the stream ended.
    fn run(events: &[(&str, Value)]) -> (Vec<ChatCompletionChunk>, Result<bool, ProviderError>) {
        let mut stream = AnthropicStream::new("claude-sonnet-4-5");
        let mut chunks = Vec::new();
        for (event, data) in events {
            match stream.on_event(event, &data.to_string()) {
                Ok(translated) => {
                    chunks.extend(translated.chunks);
                    if translated.finished {
                        return (chunks, Ok(true));
                    }
                }
                Err(error) => return (chunks, Err(error)),
            }
        }
        match stream.on_close() {
            Ok(more) => {
                chunks.extend(more);
                (chunks, Ok(false))
            }
            Err(error) => (chunks, Err(error)),
        }
    }

    fn message_start() -> (&'static str, Value) {
        (
            "message_start",
            json!({"type": "message_start", "message": {
            "id": "msg_1nZdL29xx5MUA1yADyHTEsnR8uuvGzszyY", "type": "message", "role": "assistant", "content": [],
            "model": "claude-sonnet-4-5-20250929", "stop_reason": null, "stop_sequence": null,
            "usage": {"input_tokens": 25, "output_tokens": 1, "cache_read_input_tokens": 10}}}),
        )
    }

    fn text_events() -> Vec<(&'static str, Value)> {
        vec![
            message_start(),
            (
                "content_block_start",
                json!({"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}}),
            ),
            ("ping", json!({"type": "ping"})),
            (
                "content_block_delta",
                json!({"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "Hello"}}),
            ),
            (
                "content_block_delta",
                json!({"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "!"}}),
            ),
            ("content_block_stop", json!({"type": "content_block_stop", "index": 0})),
            (
                "message_delta",
                json!({"type": "message_delta", "delta": {"stop_reason": "end_turn", "stop_sequence": null}, "usage": {"output_tokens": 15}}),
            ),
            ("message_stop", json!({"type": "message_stop"})),
        ]
    }

    #[test]
    fn a_text_stream_yields_role_content_finish_and_usage_chunks() {
        let (chunks, ended) = run(&text_events());
        assert_eq!(ended, Ok(true));
        assert_eq!(chunks[0].choices[0].delta.role, Some(Role::Assistant));
        assert_eq!(chunks[0].id, "msg_1nZdL29xx5MUA1yADyHTEsnR8uuvGzszyY");
        assert_eq!(chunks[0].model, "claude-sonnet-4-5-20250929");
        let last = chunks.last().unwrap();
        assert!(last.choices.is_empty());
        let usage = last.usage.unwrap();
        assert_eq!((usage.prompt_tokens, usage.completion_tokens, usage.cached_tokens()), (35, 15, 10));
        let mut all = CompletionAccumulator::new();
        chunks.iter().for_each(|c| all.push(c));
        let completion = all.finish();
        assert_eq!(completion.choices[0].message.text(), "Hello!");
        assert_eq!(completion.choices[0].finish_reason, Some(FinishReason::Stop));
    }

    #[test]
    fn tool_use_blocks_stream_as_openai_tool_call_deltas() {
        let (chunks, ended) = run(&[
            message_start(),
            (
                "content_block_start",
                json!({"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}}),
            ),
            (
                "content_block_delta",
                json!({"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "Checking."}}),
            ),
            ("content_block_stop", json!({"type": "content_block_stop", "index": 0})),
            (
                "content_block_start",
                json!({"type": "content_block_start", "index": 1, "content_block": {"type": "tool_use", "id": "toolu_01T1x1fJ34qAmk2tNTrN7Up6", "name": "get_weather", "input": {}}}),
            ),
            (
                "content_block_delta",
                json!({"type": "content_block_delta", "index": 1, "delta": {"type": "input_json_delta", "partial_json": ""}}),
            ),
            (
                "content_block_delta",
                json!({"type": "content_block_delta", "index": 1, "delta": {"type": "input_json_delta", "partial_json": "{\"city\": \"Pa"}}),
            ),
            (
                "content_block_delta",
                json!({"type": "content_block_delta", "index": 1, "delta": {"type": "input_json_delta", "partial_json": "ris\"}"}}),
            ),
            ("content_block_stop", json!({"type": "content_block_stop", "index": 1})),
            (
                "message_delta",
                json!({"type": "message_delta", "delta": {"stop_reason": "tool_use", "stop_sequence": null}, "usage": {"output_tokens": 89}}),
            ),
            ("message_stop", json!({"type": "message_stop"})),
        ]);
        assert_eq!(ended, Ok(true));
        let first_call_chunk =
            chunks.iter().find(|c| c.choices.first().is_some_and(|ch| ch.delta.tool_calls.is_some())).unwrap();
        let start = &first_call_chunk.choices[0].delta.tool_calls.as_ref().unwrap()[0];
        assert_eq!(
            (start.index, start.id.as_deref(), start.kind.as_deref()),
            (0, Some("toolu_01T1x1fJ34qAmk2tNTrN7Up6"), Some("function"))
        );
        let mut all = CompletionAccumulator::new();
        chunks.iter().for_each(|c| all.push(c));
        let completion = all.finish();
        let call = &completion.choices[0].message.tool_calls.as_ref().unwrap()[0];
        assert_eq!(call.function.name, "get_weather");
        assert_eq!(serde_json::from_str::<Value>(&call.function.arguments).unwrap(), json!({"city": "Paris"}));
        assert_eq!(completion.choices[0].finish_reason, Some(FinishReason::ToolCalls));
        assert_eq!(completion.usage.unwrap().completion_tokens, 89);
    }

    #[test]
    fn an_error_event_ends_the_stream_with_its_error() {
        let mut events = text_events();
        events.truncate(4);
        events
            .push(("error", json!({"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}})));
        let (chunks, ended) = run(&events);
        assert_eq!(chunks.len(), 2);
        let error = ended.unwrap_err();
        assert_eq!(error, ProviderError::UpstreamServerError { status: 529, message: "Overloaded".into() });
        assert_eq!(error.http_status(), 502);
        let (_, limited) = run(&[
            message_start(),
            ("error", json!({"type": "error", "error": {"type": "rate_limit_error", "message": "slow"}})),
        ]);
        assert_eq!(limited.unwrap_err().http_status(), 429);
    }

    #[test]
    fn a_stream_that_closes_before_message_stop_is_cut() {
        for cut_at in [1, 4, 7] {
            let (_, ended) = run(&text_events()[..cut_at]);
            assert_eq!(ended, Err(ProviderError::StreamCut), "cut after {cut_at} events");
        }
    }

    #[test]
    fn malformed_event_data_is_an_invalid_response() {
        let mut stream = AnthropicStream::new("m");
        assert!(matches!(stream.on_event("message_start", "{oops"), Err(ProviderError::InvalidResponse(_))));
    }

    fn block_start(index: u64, block: Value) -> (&'static str, Value) {
        ("content_block_start", json!({"type": "content_block_start", "index": index, "content_block": block}))
    }

    fn block_delta(index: u64, delta: Value) -> (&'static str, Value) {
        ("content_block_delta", json!({"type": "content_block_delta", "index": index, "delta": delta}))
    }

    fn block_stop(index: u64) -> (&'static str, Value) {
        ("content_block_stop", json!({"type": "content_block_stop", "index": index}))
    }

    fn end(stop_reason: &str) -> Vec<(&'static str, Value)> {
        vec![
            (
                "message_delta",
                json!({"type": "message_delta", "delta": {"stop_reason": stop_reason},
                    "usage": {"output_tokens": 40, "cache_creation_input_tokens": 7,
                              "cache_creation": {"ephemeral_5m_input_tokens": 0, "ephemeral_1h_input_tokens": 7}}}),
            ),
            ("message_stop", json!({"type": "message_stop"})),
        ]
    }

    #[test]
    fn thinking_streams_as_reasoning_deltas_then_the_signed_block() {
        let mut events = vec![
            message_start(),
            block_start(0, json!({"type": "thinking", "thinking": ""})),
            block_delta(0, json!({"type": "thinking_delta", "thinking": "Two and "})),
            block_delta(0, json!({"type": "thinking_delta", "thinking": "two."})),
            block_delta(0, json!({"type": "signature_delta", "signature": "EqQBCgIYAhIM"})),
            block_stop(0),
            block_start(1, json!({"type": "redacted_thinking", "data": "EmwKAhgB"})),
            block_stop(1),
            block_start(2, json!({"type": "text", "text": ""})),
            block_delta(2, json!({"type": "text_delta", "text": "Four."})),
            block_stop(2),
        ];
        events.extend(end("end_turn"));
        let (chunks, ended) = run(&events);
        assert_eq!(ended, Ok(true));
        let deltas: Vec<&Delta> = chunks.iter().filter_map(|c| c.choices.first()).map(|c| &c.delta).collect();
        let reasoning: String = deltas.iter().filter_map(|d| d.reasoning_content.as_deref()).collect();
        assert_eq!(reasoning, "Two and two.");
        let blocks: Vec<Value> = deltas.iter().flat_map(|d| d.thinking_blocks.clone().unwrap_or_default()).collect();
        assert_eq!(
            blocks,
            vec![
                json!({"type": "thinking", "thinking": "Two and two.", "signature": "EqQBCgIYAhIM"}),
                json!({"type": "redacted_thinking", "data": "EmwKAhgB"})
            ]
        );
        let usage = chunks.last().unwrap().usage.unwrap();
        assert_eq!((usage.prompt_tokens, usage.cached_tokens(), usage.cache_write_1h_tokens()), (42, 10, 7));
    }

    #[test]
    fn the_json_tool_streams_as_content_and_stops_normally() {
        let mut events = vec![
            message_start(),
            block_start(0, json!({"type": "tool_use", "id": "toolu_1", "name": JSON_TOOL_NAME, "input": {}})),
            block_delta(0, json!({"type": "input_json_delta", "partial_json": ""})),
            block_delta(0, json!({"type": "input_json_delta", "partial_json": "{\"city\": "})),
            block_delta(0, json!({"type": "input_json_delta", "partial_json": "\"Paris\"}"})),
            block_stop(0),
        ];
        events.extend(end("tool_use"));
        let (chunks, ended) = run(&events);
        assert_eq!(ended, Ok(true));
        let mut all = CompletionAccumulator::new();
        chunks.iter().for_each(|c| all.push(c));
        let completion = all.finish();
        assert_eq!(completion.choices[0].message.text(), "{\"city\": \"Paris\"}");
        assert_eq!(completion.choices[0].message.tool_calls, None);
        assert_eq!(completion.choices[0].finish_reason, Some(FinishReason::Stop));
    }
}
