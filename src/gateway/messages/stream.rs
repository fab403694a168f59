//! Chat completion chunks → Anthropic Messages stream events, for deployments that are
//! not Anthropic. Events follow Anthropic's order: `message_start`, `ping`, then content
//! blocks one at a time (`content_block_start`, deltas, `content_block_stop`) with
//! indices from 0, then `message_delta` (stop reason, usage) and `message_stop`.
//!
//! Anthropic blocks never interleave, OpenAI tool calls may (pieces tagged by index).
//! A tool call is streamed live while it is the open block; a call that starts while
//! the open call's arguments are not yet complete JSON is buffered and streamed as soon
//! as the open call's arguments are complete (or at the end). Only choice 0 is
//! translated (Messages has no `n`). Argument pieces for a call whose block was
//! already closed (by text arriving mid-call, which no known upstream does) are
//! dropped.

use std::collections::BTreeMap;

use serde_json::{json, Value};

use super::response::{new_tool_use_id, stop_reason, usage_from_chat};
use super::streamed_json::StreamedJson;
use crate::gateway::openai::{ChatCompletionChunk, FinishReason, ToolCallDelta, Usage};

/// One server-sent event of a Messages stream.
#[derive(Debug, Clone, PartialEq)]
pub struct SseEvent {
    pub event: String,
    pub data: Value,
}

impl SseEvent {
    /// Bytes of generated text in this event: a delta's text, thinking or tool
    /// input JSON, a started block's text or tool name (what an estimate of the
    /// completion counts when no usage comes).
    pub fn output_bytes(&self) -> usize {
        match self.event.as_str() {
            "content_block_delta" => self.data.get("delta").map_or(0, |delta| {
                ["text", "thinking", "partial_json"]
                    .iter()
                    .filter_map(|field| delta.get(*field)?.as_str())
                    .map(str::len)
                    .sum()
            }),
            "content_block_start" => self.data.get("content_block").map_or(0, super::block_output_bytes),
            _ => 0,
        }
    }

    /// An event named after its data's `type`, as Anthropic names every event.
    fn typed(data: Value) -> Self {
        let event = data.get("type").and_then(Value::as_str).unwrap_or("error").to_owned();
        SseEvent { event, data }
    }
}

/// An `error` event, sent when the upstream fails after the stream has started.
pub fn error_event(error_type: &str, message: &str) -> SseEvent {
    SseEvent::typed(json!({"type": "error", "error": {"type": error_type, "message": message}}))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum OpenBlock {
    Thinking { index: u32, has_text: bool },
    Text { index: u32 },
    Tool { call: u32, index: u32 },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum LaneState {
    Pending,
    Open,
    Closed,
}

/// One tool call of the stream, keyed by its OpenAI index.
#[derive(Debug)]
struct ToolLane {
    id: String,
    name: String,
    arguments: StreamedJson,
    state: LaneState,
}

/// Turns one upstream chat stream into Messages events; `push` each chunk, then
/// `finish` once.
#[derive(Debug)]
pub struct StreamTranslator {
    message_id: String,
    model: String,
    started: bool,
    finished: bool,
    next_index: u32,
    open: Option<OpenBlock>,
    tools: BTreeMap<u32, ToolLane>,
    finish_reason: Option<FinishReason>,
    usage: Option<Usage>,
}

impl StreamTranslator {
    pub fn new(message_id: String, model: String) -> Self {
        StreamTranslator {
            message_id,
            model,
            started: false,
            finished: false,
            next_index: 0,
            open: None,
            tools: BTreeMap::new(),
            finish_reason: None,
            usage: None,
        }
    }

    fn start(&mut self, events: &mut Vec<SseEvent>) {
        if self.started {
            return;
        }
        self.started = true;
        events.push(SseEvent::typed(json!({"type": "message_start", "message": {
            "id": self.message_id, "type": "message", "role": "assistant", "content": [], "model": self.model,
            "stop_reason": null, "stop_sequence": null, "usage": {"input_tokens": 0, "output_tokens": 0}
        }})));
        events.push(SseEvent::typed(json!({"type": "ping"})));
    }

    pub fn push(&mut self, chunk: &ChatCompletionChunk) -> Vec<SseEvent> {
        let mut events = Vec::new();
        if self.finished {
            return events;
        }
        self.start(&mut events);
        if chunk.usage.is_some() {
            self.usage = chunk.usage;
        }
        for choice in chunk.choices.iter().filter(|c| c.index == 0) {
            let delta = &choice.delta;
            if let Some(reasoning) = delta.reasoning_content.as_deref().filter(|r| !r.is_empty()) {
                self.thinking_text(reasoning, &mut events);
            }
            for block in delta.thinking_blocks.iter().flatten() {
                self.thinking_block(block, &mut events);
            }
            if let Some(text) = delta.content.as_deref().filter(|t| !t.is_empty()) {
                self.text(text, &mut events);
            }
            for piece in delta.tool_calls.iter().flatten() {
                self.tool_piece(piece, &mut events);
            }
            if choice.finish_reason.is_some() {
                self.finish_reason.clone_from(&choice.finish_reason);
            }
        }
        events
    }

    /// Closes the stream: open and buffered blocks, `message_delta` with the stop reason
    /// and usage (`usage`, else the one a chunk carried), `message_stop`.
    pub fn finish(&mut self, usage: Option<&Usage>) -> Vec<SseEvent> {
        let mut events = Vec::new();
        if self.finished {
            return events;
        }
        self.start(&mut events);
        self.close(&mut events);
        let pending: Vec<u32> =
            self.tools.iter().filter(|(_, lane)| lane.state == LaneState::Pending).map(|(call, _)| *call).collect();
        for call in pending {
            self.open_tool(call, &mut events);
            self.close(&mut events);
        }
        self.finished = true;
        let usage = usage.copied().or(self.usage).map(|u| usage_from_chat(&u)).unwrap_or_default();
        events.push(SseEvent::typed(json!({
            "type": "message_delta",
            "delta": {"stop_reason": stop_reason(self.finish_reason.as_ref()), "stop_sequence": null},
            "usage": {"output_tokens": usage.output_tokens, "input_tokens": usage.input_tokens,
                      "cache_read_input_tokens": usage.cache_read_input_tokens,
                      "cache_creation_input_tokens": usage.cache_creation_input_tokens}
        })));
        events.push(SseEvent::typed(json!({"type": "message_stop"})));
        events
    }

    fn open_block(&mut self, content_block: Value, events: &mut Vec<SseEvent>) -> u32 {
        self.close(events);
        let index = self.next_index;
        self.next_index += 1;
        events.push(SseEvent::typed(
            json!({"type": "content_block_start", "index": index, "content_block": content_block}),
        ));
        index
    }

    fn close(&mut self, events: &mut Vec<SseEvent>) {
        let Some(open) = self.open.take() else { return };
        let index = match open {
            OpenBlock::Thinking { index, .. } | OpenBlock::Text { index } => index,
            OpenBlock::Tool { call, index } => {
                if let Some(lane) = self.tools.get_mut(&call) {
                    lane.state = LaneState::Closed;
                }
                index
            }
        };
        events.push(SseEvent::typed(json!({"type": "content_block_stop", "index": index})));
    }

    fn delta(index: u32, delta: Value, events: &mut Vec<SseEvent>) {
        events.push(SseEvent::typed(json!({"type": "content_block_delta", "index": index, "delta": delta})));
    }

    fn thinking_text(&mut self, text: &str, events: &mut Vec<SseEvent>) {
        let index = match self.open {
            Some(OpenBlock::Thinking { index, .. }) => index,
            _ => self.open_block(json!({"type": "thinking", "thinking": "", "signature": ""}), events),
        };
        self.open = Some(OpenBlock::Thinking { index, has_text: true });
        Self::delta(index, json!({"type": "thinking_delta", "thinking": text}), events);
    }

    /// A completed thinking block: its signature ends the streamed thinking (or, when no
    /// reasoning text was streamed, the whole block is sent now).
    fn thinking_block(&mut self, block: &Value, events: &mut Vec<SseEvent>) {
        let field = |name: &str| block.get(name).and_then(Value::as_str).unwrap_or_default();
        match field("type") {
            "thinking" => {
                let (index, has_text) = match self.open {
                    Some(OpenBlock::Thinking { index, has_text }) => (index, has_text),
                    _ => (self.open_block(json!({"type": "thinking", "thinking": "", "signature": ""}), events), false),
                };
                self.open = Some(OpenBlock::Thinking { index, has_text: true });
                if !has_text && !field("thinking").is_empty() {
                    Self::delta(index, json!({"type": "thinking_delta", "thinking": field("thinking")}), events);
                }
                if !field("signature").is_empty() {
                    Self::delta(index, json!({"type": "signature_delta", "signature": field("signature")}), events);
                }
                self.close(events);
            }
            _ => {
                // redacted_thinking (and anything newer) arrives whole: one block as-is.
                let index = self.open_block(block.clone(), events);
                self.open = Some(OpenBlock::Text { index });
                self.close(events);
            }
        }
    }

    fn text(&mut self, text: &str, events: &mut Vec<SseEvent>) {
        let index = match self.open {
            Some(OpenBlock::Text { index }) => index,
            _ => self.open_block(json!({"type": "text", "text": ""}), events),
        };
        self.open = Some(OpenBlock::Text { index });
        Self::delta(index, json!({"type": "text_delta", "text": text}), events);
    }

    fn tool_piece(&mut self, piece: &ToolCallDelta, events: &mut Vec<SseEvent>) {
        let lane = self.tools.entry(piece.index).or_insert_with(|| ToolLane {
            id: String::new(),
            name: String::new(),
            arguments: StreamedJson::default(),
            state: LaneState::Pending,
        });
        if let Some(id) = piece.id.as_deref().filter(|_| lane.id.is_empty()) {
            lane.id = id.to_owned();
        }
        let function = piece.function.as_ref();
        if let Some(name) = function.and_then(|f| f.name.as_deref()) {
            lane.name.push_str(name);
        }
        let arguments = function.and_then(|f| f.arguments.as_deref()).unwrap_or_default();
        match lane.state {
            LaneState::Open => {
                lane.arguments.push(arguments);
                if let (false, Some(OpenBlock::Tool { index, .. })) = (arguments.is_empty(), self.open) {
                    Self::delta(index, json!({"type": "input_json_delta", "partial_json": arguments}), events);
                }
            }
            LaneState::Closed => {}
            LaneState::Pending => {
                lane.arguments.push(arguments);
                if self.can_switch() {
                    self.open_tool(piece.index, events);
                }
            }
        }
        self.advance(events);
    }

    /// A new block may start unless a tool call is open with arguments still incomplete.
    fn can_switch(&self) -> bool {
        match self.open {
            Some(OpenBlock::Tool { call, .. }) => self.tools.get(&call).is_none_or(|lane| lane.arguments.is_complete()),
            _ => true,
        }
    }

    /// Streams buffered calls once the open call's arguments are complete (asked
    /// after every piece while a call waits: `StreamedJson` answers without
    /// parsing the text again).
    fn advance(&mut self, events: &mut Vec<SseEvent>) {
        while matches!(self.open, Some(OpenBlock::Tool { .. })) {
            let next = self.tools.iter().find(|(_, lane)| lane.state == LaneState::Pending).map(|(call, _)| *call);
            let Some(call) = next else { break };
            if !self.can_switch() {
                break;
            }
            self.open_tool(call, events);
        }
    }

    fn open_tool(&mut self, call: u32, events: &mut Vec<SseEvent>) {
        let (id, name, arguments) = match self.tools.get(&call) {
            Some(lane) => (lane.id.clone(), lane.name.clone(), lane.arguments.as_str().to_owned()),
            None => return,
        };
        let id = if id.is_empty() { new_tool_use_id() } else { id };
        let index = self.open_block(json!({"type": "tool_use", "id": id, "name": name, "input": {}}), events);
        if let Some(lane) = self.tools.get_mut(&call) {
            lane.state = LaneState::Open;
        }
        self.open = Some(OpenBlock::Tool { call, index });
        if !arguments.is_empty() {
            Self::delta(index, json!({"type": "input_json_delta", "partial_json": arguments}), events);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::response::{message_from_completion, tool_input};
    use super::*;

    #[test]
    fn given_deltas_of_text_thinking_and_tool_input_then_their_bytes_are_the_output() {
        let event = |data: Value| SseEvent::typed(data);
        let text =
            event(json!({"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "hello"}}));
        let thinking = event(
            json!({"type": "content_block_delta", "index": 0, "delta": {"type": "thinking_delta", "thinking": "hm"}}),
        );
        let input = event(
            json!({"type": "content_block_delta", "index": 1, "delta": {"type": "input_json_delta", "partial_json": "{\"a\""}}),
        );
        let tool = event(json!({"type": "content_block_start", "index": 1,
                                "content_block": {"type": "tool_use", "id": "t", "name": "get", "input": {}}}));
        let usage = event(
            json!({"type": "message_delta", "delta": {"stop_reason": "end_turn"}, "usage": {"output_tokens": 9}}),
        );
        let bytes: Vec<usize> = [text, thinking, input, tool, usage].iter().map(SseEvent::output_bytes).collect();
        assert_eq!(bytes, [5, 2, 4, 3 + 2, 0]);
    }

    /// `event: <name>\ndata: <json>\n\n`, as the edge renders an event.
    fn sse_bytes(event: &SseEvent) -> String {
        format!("event: {}\ndata: {}\n\n", event.event, event.data)
    }
    use crate::gateway::openai::{
        ChatCompletion, ChatMessage, Choice, ChunkChoice, Delta, MessageContent, Role, ToolCall,
    };
    use proptest::prelude::*;

    fn chunk(delta: Delta) -> ChatCompletionChunk {
        ChatCompletionChunk::new("chatcmpl-1", 1, "gpt-4o", vec![ChunkChoice::delta(0, delta)])
    }

    fn finish_chunk(reason: FinishReason) -> ChatCompletionChunk {
        ChatCompletionChunk::new("chatcmpl-1", 1, "gpt-4o", vec![ChunkChoice::finish(0, reason)])
    }

    fn run(chunks: &[ChatCompletionChunk], usage: Option<&Usage>) -> Vec<SseEvent> {
        let mut translator = StreamTranslator::new("msg_1".into(), "claude-x".into());
        let mut events: Vec<SseEvent> = chunks.iter().flat_map(|c| translator.push(c)).collect();
        events.extend(translator.finish(usage));
        events
    }

    /// What an Anthropic SDK rebuilds from the events, checking Anthropic's stream rules
    /// on the way: each `data.type` is its event name, blocks are sequential with indices
    /// from 0, deltas only reach the open block, every started block is stopped.
    fn accumulate(events: &[SseEvent]) -> (Vec<Value>, Option<String>) {
        assert_eq!(events[0].event, "message_start");
        assert_eq!(events[1].event, "ping");
        assert_eq!(events.last().unwrap().event, "message_stop");
        let mut content: Vec<Value> = Vec::new();
        let mut json_buffer = String::new();
        let mut open: Option<usize> = None;
        let mut stop = None;
        for event in events {
            assert_eq!(event.data["type"], event.event.as_str(), "{event:?}");
            let index = event.data["index"].as_u64().map(|i| i as usize);
            match event.event.as_str() {
                "content_block_start" => {
                    assert_eq!(open, None, "a block started while another was open");
                    assert_eq!(index, Some(content.len()));
                    content.push(event.data["content_block"].clone());
                    json_buffer.clear();
                    open = index;
                }
                "content_block_delta" => {
                    assert_eq!(index, open, "delta to a block that is not open");
                    let block = &mut content[open.unwrap()];
                    let delta = &event.data["delta"];
                    match delta["type"].as_str().unwrap() {
                        "text_delta" => {
                            block["text"] =
                                json!(format!("{}{}", block["text"].as_str().unwrap(), delta["text"].as_str().unwrap()))
                        }
                        "thinking_delta" => {
                            block["thinking"] = json!(format!(
                                "{}{}",
                                block["thinking"].as_str().unwrap(),
                                delta["thinking"].as_str().unwrap()
                            ))
                        }
                        "signature_delta" => block["signature"] = delta["signature"].clone(),
                        "input_json_delta" => json_buffer.push_str(delta["partial_json"].as_str().unwrap()),
                        other => panic!("unknown delta {other}"),
                    }
                }
                "content_block_stop" => {
                    assert_eq!(index, open);
                    let block = &mut content[open.unwrap()];
                    if block["type"] == "tool_use" && !json_buffer.is_empty() {
                        block["input"] = serde_json::from_str(&json_buffer).expect("partial_json reassembles to JSON");
                    }
                    open = None;
                }
                "message_delta" => stop = event.data["delta"]["stop_reason"].as_str().map(str::to_owned),
                _ => {}
            }
        }
        assert_eq!(open, None, "a block was never stopped");
        (content, stop)
    }

    #[test]
    fn given_a_long_tool_call_streamed_in_tiny_pieces_when_translated_then_time_stays_linear() {
        // A tenant can ask the model for a huge tool input; each piece must not re-read
        // all the arguments so far (200 KB in 5-byte pieces was 40k parses of up to 200 KB).
        let value = "x".repeat(200_000);
        let arguments = format!("{{\"v\": \"{value}\"}}");
        let mut chunks = vec![chunk(Delta::tool_call(ToolCallDelta::start(0, "call_1", "f", "")))];
        let pieces: Vec<char> = arguments.chars().collect();
        chunks.extend(
            pieces
                .chunks(5)
                .map(|piece| chunk(Delta::tool_call(ToolCallDelta::arguments(0, piece.iter().collect::<String>())))),
        );
        chunks.push(finish_chunk(FinishReason::ToolCalls));
        let started = std::time::Instant::now();
        let events = run(&chunks, None);
        let elapsed = started.elapsed();
        let (content, _) = accumulate(&events);
        assert_eq!(content[0]["input"]["v"].as_str().map(str::len), Some(value.len()));
        assert!(elapsed < std::time::Duration::from_secs(3), "{elapsed:?}");
    }

    #[test]
    fn given_a_text_stream_when_translated_then_one_text_block_and_the_closing_events() {
        let usage = Usage::new(12, 3, 2);
        let events = run(
            &[
                chunk(Delta::role(Role::Assistant)),
                chunk(Delta::content("Hel")),
                chunk(Delta::content("lo")),
                finish_chunk(FinishReason::Stop),
            ],
            Some(&usage),
        );
        let names: Vec<&str> = events.iter().map(|e| e.event.as_str()).collect();
        assert_eq!(
            names,
            [
                "message_start",
                "ping",
                "content_block_start",
                "content_block_delta",
                "content_block_delta",
                "content_block_stop",
                "message_delta",
                "message_stop"
            ]
        );
        assert_eq!(
            events[0].data["message"],
            json!({"id": "msg_1", "type": "message", "role": "assistant", "content": [],
            "model": "claude-x", "stop_reason": null, "stop_sequence": null, "usage": {"input_tokens": 0, "output_tokens": 0}})
        );
        assert_eq!(
            events[2].data,
            json!({"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}})
        );
        assert_eq!(
            events[3].data,
            json!({"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "Hel"}})
        );
        assert_eq!(
            events[6].data,
            json!({"type": "message_delta", "delta": {"stop_reason": "end_turn", "stop_sequence": null},
            "usage": {"output_tokens": 3, "input_tokens": 10, "cache_read_input_tokens": 2, "cache_creation_input_tokens": 0}})
        );
        assert_eq!(accumulate(&events).0, vec![json!({"type": "text", "text": "Hello"})]);
        assert_eq!(
            sse_bytes(&events[2]).as_bytes(),
            b"event: content_block_start\ndata: {\"content_block\":{\"text\":\"\",\"type\":\"text\"},\"index\":0,\"type\":\"content_block_start\"}\n\n"
        );
    }

    #[test]
    fn given_tool_arguments_split_in_many_pieces_when_translated_then_partial_json_reassembles_to_the_input() {
        let arguments = r#"{"city": "Paris", "days": [1, 2, 3], "unit": "°C"}"#;
        let mut chunks = vec![chunk(Delta::tool_call(ToolCallDelta::start(0, "call_abc", "get_weather", "")))];
        let chars: Vec<char> = arguments.chars().collect();
        chunks.extend(
            chars
                .chunks(3)
                .map(|piece| chunk(Delta::tool_call(ToolCallDelta::arguments(0, piece.iter().collect::<String>())))),
        );
        chunks.push(finish_chunk(FinishReason::ToolCalls));
        let events = run(&chunks, None);
        assert_eq!(
            events[2].data["content_block"],
            json!({"type": "tool_use", "id": "call_abc", "name": "get_weather", "input": {}})
        );
        let (content, stop) = accumulate(&events);
        assert_eq!(
            content,
            vec![json!({"type": "tool_use", "id": "call_abc", "name": "get_weather", "input": tool_input(arguments)})]
        );
        assert_eq!(stop.as_deref(), Some("tool_use"));
    }

    #[test]
    fn given_thinking_signature_text_and_two_parallel_calls_when_translated_then_blocks_in_anthropic_order() {
        let signed = Delta {
            thinking_blocks: Some(vec![json!({"type": "thinking", "thinking": "Two cities.", "signature": "sig=="})]),
            ..Delta::default()
        };
        let chunks = [
            chunk(Delta { reasoning_content: Some("Two ".into()), ..Delta::default() }),
            chunk(Delta { reasoning_content: Some("cities.".into()), ..Delta::default() }),
            chunk(signed),
            chunk(Delta::content("Checking both.")),
            chunk(Delta::tool_call(ToolCallDelta::start(0, "call_1", "get_weather", "{\"city\":"))),
            chunk(Delta::tool_call(ToolCallDelta::arguments(0, "\"Paris\"}"))),
            chunk(Delta::tool_call(ToolCallDelta::start(1, "call_2", "get_weather", "{\"city\":\"Rome\"}"))),
            finish_chunk(FinishReason::ToolCalls),
        ];
        let events = run(&chunks, None);
        assert!(events.iter().any(|e| e.data["delta"] == json!({"type": "signature_delta", "signature": "sig=="})));
        let (content, stop) = accumulate(&events);
        assert_eq!(
            content,
            vec![
                json!({"type": "thinking", "thinking": "Two cities.", "signature": "sig=="}),
                json!({"type": "text", "text": "Checking both."}),
                json!({"type": "tool_use", "id": "call_1", "name": "get_weather", "input": {"city": "Paris"}}),
                json!({"type": "tool_use", "id": "call_2", "name": "get_weather", "input": {"city": "Rome"}}),
            ]
        );
        assert_eq!(stop.as_deref(), Some("tool_use"));
    }

    #[test]
    fn given_parallel_calls_interleaved_by_index_when_translated_then_each_call_is_one_whole_block() {
        let chunks = [
            chunk(Delta::tool_call(ToolCallDelta::start(0, "call_a", "f", "{\"x\""))),
            chunk(Delta::tool_call(ToolCallDelta::start(1, "call_b", "g", "{\"y\""))),
            chunk(Delta::tool_call(ToolCallDelta::arguments(1, ":2}"))),
            chunk(Delta::tool_call(ToolCallDelta::arguments(0, ":1}"))),
            chunk(Delta::tool_call(ToolCallDelta::start(2, "call_c", "h", ""))),
            finish_chunk(FinishReason::ToolCalls),
        ];
        let (content, _) = accumulate(&run(&chunks, None));
        assert_eq!(
            content,
            vec![
                json!({"type": "tool_use", "id": "call_a", "name": "f", "input": {"x": 1}}),
                json!({"type": "tool_use", "id": "call_b", "name": "g", "input": {"y": 2}}),
                json!({"type": "tool_use", "id": "call_c", "name": "h", "input": {}}),
            ]
        );
    }

    #[test]
    fn given_an_empty_stream_when_finished_then_start_delta_and_stop_only() {
        let events = run(&[], None);
        let names: Vec<&str> = events.iter().map(|e| e.event.as_str()).collect();
        assert_eq!(names, ["message_start", "ping", "message_delta", "message_stop"]);
        assert_eq!(accumulate(&events), (vec![], Some("end_turn".into())));
    }

    #[test]
    fn given_a_redacted_thinking_block_and_a_length_stop_when_translated_then_kept_whole() {
        let chunks = [
            chunk(Delta {
                thinking_blocks: Some(vec![json!({"type": "redacted_thinking", "data": "enc"})]),
                ..Delta::default()
            }),
            chunk(Delta::content("partial")),
            finish_chunk(FinishReason::Length),
        ];
        let (content, stop) = accumulate(&run(&chunks, None));
        assert_eq!(content[0], json!({"type": "redacted_thinking", "data": "enc"}));
        assert_eq!(stop.as_deref(), Some("max_tokens"));
    }

    #[test]
    fn given_a_usage_only_chunk_when_finished_without_usage_then_the_chunk_usage_is_reported() {
        let chunks = [chunk(Delta::content("x")), ChatCompletionChunk::usage_only("c", 1, "m", Usage::new(4, 1, 0))];
        let events = run(&chunks, None);
        let delta = events.iter().find(|e| e.event == "message_delta").unwrap();
        assert_eq!(delta.data["usage"]["input_tokens"], 4);
        assert_eq!(delta.data["usage"]["output_tokens"], 1);
    }

    #[test]
    fn given_an_error_event_when_rendered_then_anthropic_error_shape() {
        let event = error_event("overloaded_error", "Overloaded");
        assert_eq!(event.event, "error");
        assert_eq!(
            event.data,
            json!({"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}})
        );
    }

    fn pieces(text: &str, size: usize) -> Vec<String> {
        let chars: Vec<char> = text.chars().collect();
        chars.chunks(size.max(1)).map(|c| c.iter().collect()).collect()
    }

    fn json_object() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            any::<i64>().prop_map(Value::from),
            any::<bool>().prop_map(Value::from),
            ".{0,12}".prop_map(Value::from),
        ];
        proptest::collection::btree_map("[a-z]{1,6}", leaf, 0..4).prop_map(|m| Value::Object(m.into_iter().collect()))
    }

    proptest! {
        #[test]
        fn given_any_text_and_tool_calls_when_streamed_then_events_accumulate_to_the_non_streamed_message(
            reasoning in ".{0,20}",
            text in ".{0,40}",
            calls in proptest::collection::vec(("[a-z_]{1,10}", json_object()), 0..4),
            piece_size in 1usize..8,
            interleave in any::<bool>(),
            finish in prop_oneof![Just(FinishReason::Stop), Just(FinishReason::Length),
                                  Just(FinishReason::ToolCalls), Just(FinishReason::ContentFilter)],
        ) {
            let tool_calls: Vec<ToolCall> = calls.iter().enumerate()
                .map(|(i, (name, input))| ToolCall::function(format!("call_{i}"), name.clone(), input.to_string()))
                .collect();
            let mut message = ChatMessage::assistant("");
            message.content = (!text.is_empty()).then(|| MessageContent::Text(text.clone()));
            message.reasoning_content = (!reasoning.is_empty()).then(|| reasoning.clone());
            message.tool_calls = (!tool_calls.is_empty()).then(|| tool_calls.clone());
            let completion = ChatCompletion {
                id: "chatcmpl-1".into(), object: "chat.completion".into(), created: 1, model: "gpt".into(),
                choices: vec![Choice { index: 0, message, finish_reason: Some(finish.clone()), logprobs: None }],
                usage: None, system_fingerprint: None,
            };

            let mut chunks = vec![chunk(Delta::role(Role::Assistant))];
            chunks.extend(pieces(&reasoning, piece_size).into_iter()
                .map(|p| chunk(Delta { reasoning_content: Some(p), ..Delta::default() })));
            chunks.extend(pieces(&text, piece_size).into_iter().map(|p| chunk(Delta::content(p))));
            let mut lanes: Vec<Vec<ToolCallDelta>> = tool_calls.iter().enumerate().map(|(i, call)| {
                let mut lane = vec![ToolCallDelta::start(i as u32, call.id.clone(), call.function.name.clone(), "")];
                lane.extend(pieces(&call.function.arguments, piece_size).into_iter().map(|p| ToolCallDelta::arguments(i as u32, p)));
                lane
            }).collect();
            if interleave {
                while lanes.iter().any(|l| !l.is_empty()) {
                    for lane in lanes.iter_mut().filter(|l| !l.is_empty()) {
                        chunks.push(chunk(Delta::tool_call(lane.remove(0))));
                    }
                }
            } else {
                chunks.extend(lanes.into_iter().flatten().map(|p| chunk(Delta::tool_call(p))));
            }
            chunks.push(finish_chunk(finish));

            let expected = message_from_completion(&completion, "claude-x");
            let (content, stop) = accumulate(&run(&chunks, None));
            prop_assert_eq!(content, expected.content);
            prop_assert_eq!(stop, expected.stop_reason);
        }
    }
}
