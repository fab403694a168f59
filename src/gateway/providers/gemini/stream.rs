use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;

use super::response::{
    finish_reason, part_outputs, text_signature_extra, GenerateContentResponse, PartOut, UsageMetadata,
};
use super::signature::tool_call_id;
use crate::gateway::openai::{ChatCompletionChunk, ChunkChoice, Delta, FinishReason, Role, ToolCallDelta};
use crate::gateway::providers::http::{completion_id, unix_now, StreamTranslator, Translated};
use crate::gateway::providers::ProviderError;

/// Turns Gemini's SSE stream (each event a whole `GenerateContentResponse`, no end
/// marker: the connection closes) into OpenAI chunks. The last event carries
/// `finishReason` and the final `usageMetadata`; a stream that closes without any
/// `finishReason` was cut.
pub(crate) struct GeminiStream {
    id: Option<String>,
    model: String,
    created: i64,
    usage: UsageMetadata,
    /// Per candidate: how many tool calls it made so far (the next tool call index).
    tool_calls: BTreeMap<u32, u32>,
    started: BTreeSet<u32>,
    finished: BTreeSet<u32>,
}

impl GeminiStream {
    pub(crate) fn new(model: &str) -> Self {
        GeminiStream {
            id: None,
            model: model.to_owned(),
            created: unix_now(),
            usage: UsageMetadata::default(),
            tool_calls: BTreeMap::new(),
            started: BTreeSet::new(),
            finished: BTreeSet::new(),
        }
    }

    fn chunk(&self, choice: ChunkChoice) -> ChatCompletionChunk {
        ChatCompletionChunk::new(self.id.as_deref().unwrap_or_default(), self.created, &self.model, vec![choice])
    }
}

/// `{"error": {"code": 429, "message": "...", "status": "RESOURCE_EXHAUSTED"}}`
fn stream_error(error: &Value) -> ProviderError {
    let status = error
        .get("code")
        .and_then(Value::as_u64)
        .and_then(|code| u16::try_from(code).ok())
        .filter(|code| (400..600).contains(code))
        .unwrap_or(500);
    let message = error.get("message").and_then(Value::as_str).unwrap_or("Gemini stream error").to_owned();
    ProviderError::from_status(status, message)
}

impl StreamTranslator for GeminiStream {
    fn on_event(&mut self, _event: &str, data: &str) -> Result<Translated, ProviderError> {
        let value: Value = serde_json::from_str(data).map_err(|e| ProviderError::InvalidResponse(e.to_string()))?;
        if let Some(error) = value.get("error") {
            return Err(stream_error(error));
        }
        let response: GenerateContentResponse =
            serde_json::from_value(value).map_err(|e| ProviderError::InvalidResponse(e.to_string()))?;
        if self.id.is_none() {
            self.id = Some(response.response_id.clone().unwrap_or_else(completion_id));
            if let Some(model) = &response.model_version {
                self.model.clone_from(model);
            }
        }
        if let Some(usage) = response.usage_metadata.clone() {
            self.usage = usage;
        }
        let mut chunks = Vec::new();
        if response.prompt_blocked() {
            self.finished.insert(0);
            chunks.push(self.chunk(ChunkChoice::finish(0, FinishReason::ContentFilter)));
        }
        for (position, candidate) in response.candidates.iter().enumerate() {
            let index = candidate.index.unwrap_or(position as u32);
            if self.started.insert(index) {
                chunks.push(self.chunk(ChunkChoice::delta(index, Delta::role(Role::Assistant))));
            }
            for output in part_outputs(candidate) {
                let delta = match output {
                    PartOut::Text(text) => Delta::content(text),
                    PartOut::Reasoning(text) => Delta { reasoning_content: Some(text), ..Delta::default() },
                    PartOut::Call { name, arguments, signature } => {
                        let next = self.tool_calls.entry(index).or_insert(0);
                        let call = ToolCallDelta::start(*next, tool_call_id(signature.as_deref()), name, arguments);
                        *next += 1;
                        Delta::tool_call(call)
                    }
                    // Often on the empty text part of the last event.
                    PartOut::TextSignature(signature) => {
                        Delta { extra: text_signature_extra(&signature), ..Delta::default() }
                    }
                };
                chunks.push(self.chunk(ChunkChoice::delta(index, delta)));
            }
            if let Some(reason) = &candidate.finish_reason {
                self.finished.insert(index);
                let called = self.tool_calls.get(&index).is_some_and(|count| *count > 0);
                chunks.push(self.chunk(ChunkChoice::finish(index, finish_reason(reason, called))));
            }
        }
        Ok(Translated::chunks(chunks))
    }

    fn on_close(&mut self) -> Result<Vec<ChatCompletionChunk>, ProviderError> {
        if self.finished.is_empty() {
            return Err(ProviderError::StreamCut);
        }
        Ok(vec![ChatCompletionChunk::usage_only(
            self.id.as_deref().unwrap_or_default(),
            self.created,
            &self.model,
            self.usage.to_openai(),
        )])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gateway::openai::{CompletionAccumulator, Usage};
    use serde_json::json;

    fn run(events: &[Value]) -> (Vec<ChatCompletionChunk>, Result<(), ProviderError>) {
        let mut stream = GeminiStream::new("gemini-2.5-flash");
        let mut chunks = Vec::new();
        for data in events {
            match stream.on_event("message", &data.to_string()) {
                Ok(translated) => chunks.extend(translated.chunks),
                Err(error) => return (chunks, Err(error)),
            }
        }
        match stream.on_close() {
            Ok(more) => {
                chunks.extend(more);
                (chunks, Ok(()))
            }
            Err(error) => (chunks, Err(error)),
        }
    }

    fn text_events() -> Vec<Value> {
        vec![
            json!({"candidates": [{"content": {"parts": [{"text": "The"}], "role": "model"}, "index": 0}],
                "usageMetadata": {"promptTokenCount": 9, "totalTokenCount": 9}, "modelVersion": "gemini-2.5-flash", "responseId": "resp-1"}),
            json!({"candidates": [{"content": {"parts": [{"text": " sky is blue."}], "role": "model"}, "index": 0}],
                "usageMetadata": {"promptTokenCount": 9, "totalTokenCount": 9}, "modelVersion": "gemini-2.5-flash", "responseId": "resp-1"}),
            json!({"candidates": [{"content": {"parts": [{"text": ""}], "role": "model"}, "finishReason": "STOP", "index": 0}],
                "usageMetadata": {"promptTokenCount": 9, "candidatesTokenCount": 5, "totalTokenCount": 14},
                "modelVersion": "gemini-2.5-flash", "responseId": "resp-1"}),
        ]
    }

    #[test]
    fn a_text_stream_yields_role_content_finish_and_a_usage_chunk_at_close() {
        let (chunks, ended) = run(&text_events());
        assert_eq!(ended, Ok(()));
        assert_eq!(chunks[0].choices[0].delta.role, Some(Role::Assistant));
        assert!(chunks.iter().all(|c| c.id == "resp-1"));
        let last = chunks.last().unwrap();
        assert!(last.choices.is_empty());
        assert_eq!(last.usage, Some(Usage::new(9, 5, 0)));
        let mut all = CompletionAccumulator::new();
        chunks.iter().for_each(|c| all.push(c));
        let completion = all.finish();
        assert_eq!(completion.choices[0].message.text(), "The sky is blue.");
        assert_eq!(completion.choices[0].finish_reason, Some(FinishReason::Stop));
    }

    #[test]
    fn function_calls_stream_as_whole_tool_calls() {
        let (chunks, ended) = run(&[json!({
            "candidates": [{"content": {"parts": [{"functionCall": {"name": "get_weather", "args": {"city": "Paris"}}}], "role": "model"},
                "finishReason": "STOP", "index": 0}],
            "usageMetadata": {"promptTokenCount": 20, "candidatesTokenCount": 7, "totalTokenCount": 27}
        })]);
        assert_eq!(ended, Ok(()));
        let mut all = CompletionAccumulator::new();
        chunks.iter().for_each(|c| all.push(c));
        let completion = all.finish();
        let call = &completion.choices[0].message.tool_calls.as_ref().unwrap()[0];
        assert!(call.id.starts_with("call_"));
        assert_eq!(call.function.name, "get_weather");
        assert_eq!(completion.choices[0].finish_reason, Some(FinishReason::ToolCalls));
        assert_eq!(completion.usage, Some(Usage::new(20, 7, 0)));
    }

    #[test]
    fn a_stream_closing_without_finish_reason_is_cut() {
        let (chunks, ended) = run(&text_events()[..2]);
        assert_eq!(ended, Err(ProviderError::StreamCut));
        assert!(chunks.iter().all(|c| c.usage.is_none()));
        let (_, empty) = run(&[]);
        assert_eq!(empty, Err(ProviderError::StreamCut));
    }

    #[test]
    fn an_error_object_mid_stream_is_a_provider_error() {
        let mut events = text_events()[..1].to_vec();
        events.push(json!({"error": {"code": 503, "message": "The model is overloaded.", "status": "UNAVAILABLE"}}));
        let (_, ended) = run(&events);
        assert_eq!(
            ended,
            Err(ProviderError::UpstreamServerError { status: 503, message: "The model is overloaded.".into() })
        );
    }

    #[test]
    fn thoughts_stream_as_reasoning_and_a_closing_signature_as_extra_content() {
        let (chunks, ended) = run(&[
            json!({"candidates": [{"content": {"parts": [{"text": "Thinking it over.", "thought": true}], "role": "model"}, "index": 0}]}),
            json!({"candidates": [{"content": {"parts": [{"text": "Blue."}], "role": "model"}, "index": 0}]}),
            json!({"candidates": [{"content": {"parts": [{"text": "", "thoughtSignature": "c2ln"}], "role": "model"},
                "finishReason": "STOP", "index": 0}],
                "usageMetadata": {"promptTokenCount": 9, "candidatesTokenCount": 2, "thoughtsTokenCount": 4}}),
        ]);
        assert_eq!(ended, Ok(()));
        let deltas: Vec<&Delta> = chunks.iter().flat_map(|c| c.choices.iter().map(|choice| &choice.delta)).collect();
        let reasoning: String = deltas.iter().filter_map(|d| d.reasoning_content.clone()).collect();
        let content: String = deltas.iter().filter_map(|d| d.content.clone()).collect();
        assert_eq!((reasoning.as_str(), content.as_str()), ("Thinking it over.", "Blue."));
        assert!(deltas
            .iter()
            .any(|d| d.extra.get("extra_content") == Some(&json!({"google": {"thought_signature": "c2ln"}}))));
        let usage = chunks.last().unwrap().usage.unwrap();
        assert_eq!((usage.completion_tokens, usage.reasoning_tokens()), (6, 4));
    }

    #[test]
    fn a_streamed_function_call_carries_its_signature_in_its_id() {
        let (chunks, _) = run(&[json!({
            "candidates": [{"content": {"parts": [{"functionCall": {"name": "f", "args": {}}, "thoughtSignature": "c2ln"}],
                "role": "model"}, "finishReason": "STOP", "index": 0}]
        })]);
        let mut all = CompletionAccumulator::new();
        chunks.iter().for_each(|c| all.push(c));
        let id = all.finish().choices[0].message.tool_calls.as_ref().unwrap()[0].id.clone();
        assert_eq!(super::super::signature::signature_of(&id).as_deref(), Some("c2ln"));
    }
}
