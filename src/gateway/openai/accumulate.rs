use std::collections::BTreeMap;

use serde_json::Map;

use super::request::{ChatMessage, MessageContent, Role, ToolCall};
use super::response::{ChatCompletion, ChatCompletionChunk, Choice, FinishReason, Usage};

/// Folds streamed chunks back into the completion they describe: text appended, tool
/// call pieces joined by index, the last finish reason and usage kept. Useful to record
/// or log what a stream said, and to test providers.
#[derive(Debug, Default)]
pub struct CompletionAccumulator {
    id: String,
    created: i64,
    model: String,
    choices: BTreeMap<u32, ChoiceState>,
    usage: Option<Usage>,
    chunks: usize,
}

#[derive(Debug, Default)]
struct ChoiceState {
    content: Option<String>,
    tool_calls: BTreeMap<u32, ToolCall>,
    finish_reason: Option<FinishReason>,
}

impl CompletionAccumulator {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn push(&mut self, chunk: &ChatCompletionChunk) {
        self.chunks += 1;
        if self.id.is_empty() {
            self.id.clone_from(&chunk.id);
            self.created = chunk.created;
            self.model.clone_from(&chunk.model);
        }
        if chunk.usage.is_some() {
            self.usage = chunk.usage;
        }
        for choice in &chunk.choices {
            let state = self.choices.entry(choice.index).or_default();
            if let Some(text) = &choice.delta.content {
                state.content.get_or_insert_with(String::new).push_str(text);
            }
            for piece in choice.delta.tool_calls.iter().flatten() {
                let call = state.tool_calls.entry(piece.index).or_insert_with(|| ToolCall::function("", "", ""));
                if let Some(id) = &piece.id {
                    call.id.clone_from(id);
                }
                if let Some(function) = &piece.function {
                    if let Some(name) = &function.name {
                        call.function.name.push_str(name);
                    }
                    if let Some(arguments) = &function.arguments {
                        call.function.arguments.push_str(arguments);
                    }
                }
            }
            if choice.finish_reason.is_some() {
                state.finish_reason.clone_from(&choice.finish_reason);
            }
        }
    }

    /// How many chunks were pushed.
    pub fn chunk_count(&self) -> usize {
        self.chunks
    }

    pub fn usage(&self) -> Option<Usage> {
        self.usage
    }

    pub fn finish(self) -> ChatCompletion {
        let choices = self
            .choices
            .into_iter()
            .map(|(index, state)| {
                let tool_calls: Vec<ToolCall> = state.tool_calls.into_values().collect();
                Choice {
                    index,
                    message: ChatMessage {
                        role: Role::Assistant,
                        content: state.content.map(MessageContent::Text),
                        name: None,
                        tool_calls: (!tool_calls.is_empty()).then_some(tool_calls),
                        tool_call_id: None,
                        reasoning_content: None,
                        thinking_blocks: None,
                        extra: Map::new(),
                    },
                    finish_reason: state.finish_reason,
                    logprobs: None,
                }
            })
            .collect();
        ChatCompletion {
            id: self.id,
            object: "chat.completion".into(),
            created: self.created,
            model: self.model,
            choices,
            usage: self.usage,
            system_fingerprint: None,
        }
    }
}
