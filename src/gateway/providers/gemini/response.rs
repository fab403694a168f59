use serde::Deserialize;
use serde_json::{json, Map, Value};

use super::request::EXTRA_CONTENT;
use super::signature::tool_call_id;
use crate::gateway::openai::{
    ChatCompletion, ChatMessage, Choice, CompletionTokensDetails, FinishReason, MessageContent, Role, ToolCall, Usage,
};
use crate::gateway::providers::http::{completion_id, unix_now};

/// `GenerateContentResponse`: the `generateContent` body and each streamed event.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct GenerateContentResponse {
    #[serde(default)]
    pub candidates: Vec<Candidate>,
    #[serde(default)]
    pub usage_metadata: Option<UsageMetadata>,
    #[serde(default)]
    pub model_version: Option<String>,
    #[serde(default)]
    pub response_id: Option<String>,
    #[serde(default)]
    pub prompt_feedback: Option<Value>,
}

impl GenerateContentResponse {
    /// The prompt itself was blocked: no candidates, only `promptFeedback.blockReason`.
    pub fn prompt_blocked(&self) -> bool {
        self.candidates.is_empty()
            && self.prompt_feedback.as_ref().is_some_and(|feedback| feedback.get("blockReason").is_some())
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Candidate {
    #[serde(default)]
    pub content: Option<Content>,
    #[serde(default)]
    pub finish_reason: Option<String>,
    #[serde(default)]
    pub index: Option<u32>,
}

#[derive(Debug, Default, Deserialize)]
pub(crate) struct Content {
    #[serde(default)]
    pub parts: Vec<Value>,
}

#[derive(Debug, Default, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct UsageMetadata {
    #[serde(default)]
    pub prompt_token_count: u64,
    #[serde(default)]
    pub candidates_token_count: u64,
    #[serde(default)]
    pub thoughts_token_count: u64,
    #[serde(default)]
    pub cached_content_token_count: u64,
    /// Prompt tokens per modality (`TEXT`, `IMAGE`, `AUDIO`, ...).
    #[serde(default)]
    pub prompt_tokens_details: Vec<ModalityTokenCount>,
}

#[derive(Debug, Default, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ModalityTokenCount {
    #[serde(default)]
    pub modality: String,
    #[serde(default)]
    pub token_count: u64,
}

impl UsageMetadata {
    /// Thinking tokens are billed as output, so they count as completion tokens and are
    /// told apart as `reasoning_tokens`, OpenAI's convention. `promptTokenCount` already
    /// includes the cached tokens.
    pub fn to_openai(&self) -> Usage {
        // Saturating: the figures are the upstream's to state, and may be absurd.
        let mut usage = Usage::new(
            self.prompt_token_count,
            self.candidates_token_count.saturating_add(self.thoughts_token_count),
            self.cached_content_token_count,
        );
        let audio = self
            .prompt_tokens_details
            .iter()
            .filter(|detail| detail.modality == "AUDIO")
            .fold(0u64, |sum, detail| sum.saturating_add(detail.token_count));
        if audio > 0 {
            if let Some(details) = usage.prompt_tokens_details.as_mut() {
                details.audio_tokens = Some(audio);
            }
        }
        if self.thoughts_token_count > 0 {
            usage.completion_tokens_details = Some(CompletionTokensDetails {
                reasoning_tokens: self.thoughts_token_count,
                ..CompletionTokensDetails::default()
            });
        }
        usage
    }
}

/// What one candidate's parts say in OpenAI terms.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum PartOut {
    Text(String),
    /// A thought summary (`"thought": true`): `reasoning_content`, never `content`.
    Reasoning(String),
    /// A function call, with the thought signature Gemini attached to its part.
    Call {
        name: String,
        arguments: String,
        signature: Option<String>,
    },
    /// A thought signature on a text or thought part (or on an empty part of its own,
    /// as the last event of a stream may carry it).
    TextSignature(String),
}

/// Text, thoughts, function calls and signatures of a candidate, in order.
pub(crate) fn part_outputs(candidate: &Candidate) -> Vec<PartOut> {
    let parts = candidate.content.as_ref().map(|c| c.parts.as_slice()).unwrap_or_default();
    let mut outputs = Vec::new();
    for part in parts {
        let signature =
            part.get("thoughtSignature").and_then(Value::as_str).filter(|s| !s.is_empty()).map(str::to_owned);
        if let Some(call) = part.get("functionCall") {
            let name = call.get("name").and_then(Value::as_str).unwrap_or_default().to_owned();
            let args = call.get("args").cloned().unwrap_or_else(|| Value::Object(Map::new()));
            outputs.push(PartOut::Call { name, arguments: args.to_string(), signature });
            continue;
        }
        if let Some(text) = part.get("text").and_then(Value::as_str).filter(|text| !text.is_empty()) {
            if part.get("thought").and_then(Value::as_bool) == Some(true) {
                outputs.push(PartOut::Reasoning(text.to_owned()));
            } else {
                outputs.push(PartOut::Text(text.to_owned()));
            }
        }
        if let Some(signature) = signature {
            outputs.push(PartOut::TextSignature(signature));
        }
    }
    outputs
}

/// `extra_content` of an assistant message or delta carrying a text part's signature
/// (the field Google's OpenAI-compatible endpoint uses); `request.rs` reads it back.
pub(crate) fn text_signature_extra(signature: &str) -> Map<String, Value> {
    let mut extra = Map::new();
    extra.insert(EXTRA_CONTENT.into(), json!({"google": {"thought_signature": signature}}));
    extra
}

pub(crate) fn finish_reason(reason: &str, called_functions: bool) -> FinishReason {
    match reason {
        "MAX_TOKENS" => FinishReason::Length,
        "SAFETY" | "RECITATION" | "BLOCKLIST" | "PROHIBITED_CONTENT" | "SPII" | "IMAGE_SAFETY" => {
            FinishReason::ContentFilter
        }
        _ if called_functions => FinishReason::ToolCalls,
        _ => FinishReason::Stop,
    }
}

pub(crate) fn completion_from_response(response: GenerateContentResponse, model: &str) -> ChatCompletion {
    let mut choices: Vec<Choice> = response
        .candidates
        .iter()
        .enumerate()
        .map(|(position, candidate)| {
            let mut text: Option<String> = None;
            let mut reasoning: Option<String> = None;
            let mut text_signature: Option<String> = None;
            let mut tool_calls = Vec::new();
            for output in part_outputs(candidate) {
                match output {
                    PartOut::Text(piece) => text.get_or_insert_with(String::new).push_str(&piece),
                    PartOut::Reasoning(piece) => reasoning.get_or_insert_with(String::new).push_str(&piece),
                    PartOut::Call { name, arguments, signature } => {
                        tool_calls.push(ToolCall::function(tool_call_id(signature.as_deref()), name, arguments))
                    }
                    PartOut::TextSignature(signature) => text_signature = Some(signature),
                }
            }
            let reason = candidate.finish_reason.as_deref().unwrap_or("STOP");
            Choice {
                index: candidate.index.unwrap_or(position as u32),
                finish_reason: Some(finish_reason(reason, !tool_calls.is_empty())),
                message: ChatMessage {
                    role: Role::Assistant,
                    content: text.map(MessageContent::Text),
                    name: None,
                    tool_calls: (!tool_calls.is_empty()).then_some(tool_calls),
                    tool_call_id: None,
                    reasoning_content: reasoning,
                    thinking_blocks: None,
                    extra: text_signature.as_deref().map(text_signature_extra).unwrap_or_default(),
                },
                logprobs: None,
            }
        })
        .collect();
    if choices.is_empty() && response.prompt_blocked() {
        choices.push(Choice {
            index: 0,
            message: ChatMessage { content: None, ..ChatMessage::assistant("") },
            finish_reason: Some(FinishReason::ContentFilter),
            logprobs: None,
        });
    }
    ChatCompletion {
        id: response.response_id.clone().unwrap_or_else(completion_id),
        object: "chat.completion".into(),
        created: unix_now(),
        model: response.model_version.clone().unwrap_or_else(|| model.to_owned()),
        choices,
        usage: Some(response.usage_metadata.unwrap_or_default().to_openai()),
        system_fingerprint: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn parse(body: Value) -> ChatCompletion {
        completion_from_response(serde_json::from_value(body).unwrap(), "gemini-2.5-flash")
    }

    #[test]
    fn translates_text_and_usage_with_thinking_tokens_as_completion() {
        let completion = parse(json!({
            "candidates": [{"content": {"parts": [{"text": "Hello"}, {"text": " there"}], "role": "model"},
                "finishReason": "STOP", "index": 0}],
            "usageMetadata": {"promptTokenCount": 10, "candidatesTokenCount": 4, "totalTokenCount": 34,
                "thoughtsTokenCount": 20, "cachedContentTokenCount": 6,
                "promptTokensDetails": [{"modality": "TEXT", "tokenCount": 10}]},
            "modelVersion": "gemini-2.5-flash", "responseId": "mAitaLmkHPPlz7IPvtfUqQ4"
        }));
        assert_eq!(completion.id, "mAitaLmkHPPlz7IPvtfUqQ4");
        assert_eq!(completion.choices[0].message.text(), "Hello there");
        assert_eq!(completion.choices[0].finish_reason, Some(FinishReason::Stop));
        let usage = completion.usage.unwrap();
        assert_eq!((usage.prompt_tokens, usage.completion_tokens, usage.total_tokens), (10, 24, 34));
        assert_eq!((usage.cached_tokens(), usage.reasoning_tokens()), (6, 20));
    }

    #[test]
    fn usage_figures_summing_past_u64_saturate_instead_of_overflowing() {
        let completion = parse(json!({
            "candidates": [{"content": {"parts": [{"text": "Hello"}], "role": "model"}, "finishReason": "STOP"}],
            "usageMetadata": {"promptTokenCount": u64::MAX, "candidatesTokenCount": u64::MAX,
                "thoughtsTokenCount": u64::MAX,
                "promptTokensDetails": [{"modality": "AUDIO", "tokenCount": u64::MAX},
                                        {"modality": "AUDIO", "tokenCount": u64::MAX}]}
        }));
        let usage = completion.usage.unwrap();
        assert_eq!((usage.prompt_tokens, usage.completion_tokens, usage.total_tokens), (u64::MAX, u64::MAX, u64::MAX));
        assert_eq!(usage.prompt_tokens_details.unwrap().audio_tokens, Some(u64::MAX));
    }

    #[test]
    fn translates_function_calls_with_invented_ids() {
        let completion = parse(json!({
            "candidates": [{"content": {"parts": [
                {"functionCall": {"name": "get_weather", "args": {"city": "Paris"}}},
                {"functionCall": {"name": "get_time", "args": {}}}
            ], "role": "model"}, "finishReason": "STOP", "index": 0}],
            "usageMetadata": {"promptTokenCount": 30, "candidatesTokenCount": 12, "totalTokenCount": 42}
        }));
        let choice = &completion.choices[0];
        assert_eq!(choice.finish_reason, Some(FinishReason::ToolCalls));
        let calls = choice.message.tool_calls.as_ref().unwrap();
        assert_eq!(calls.len(), 2);
        assert!(calls[0].id.starts_with("call_"));
        assert_ne!(calls[0].id, calls[1].id);
        assert_eq!(serde_json::from_str::<Value>(&calls[0].function.arguments).unwrap(), json!({"city": "Paris"}));
        assert_eq!(choice.message.content, None);
    }

    #[test]
    fn maps_finish_reasons_and_blocked_prompts() {
        assert_eq!(finish_reason("MAX_TOKENS", false), FinishReason::Length);
        assert_eq!(finish_reason("SAFETY", false), FinishReason::ContentFilter);
        assert_eq!(finish_reason("RECITATION", true), FinishReason::ContentFilter);
        assert_eq!(finish_reason("STOP", false), FinishReason::Stop);
        let blocked = parse(json!({"promptFeedback": {"blockReason": "SAFETY"},
            "usageMetadata": {"promptTokenCount": 8, "totalTokenCount": 8}}));
        assert_eq!(blocked.choices[0].finish_reason, Some(FinishReason::ContentFilter));
        assert_eq!(blocked.usage, Some(Usage::new(8, 0, 0)));
    }

    #[test]
    fn thoughts_are_reasoning_and_signatures_are_kept() {
        let completion = parse(json!({
            "candidates": [{"content": {"parts": [
                {"text": "Weighing the cities.", "thought": true},
                {"text": "Checking."},
                {"functionCall": {"name": "get_weather", "args": {"city": "Paris"}}, "thoughtSignature": "c2lnLTE="},
                {"functionCall": {"name": "get_weather", "args": {"city": "Rome"}}}
            ], "role": "model"}, "finishReason": "STOP", "index": 0}],
            "usageMetadata": {"promptTokenCount": 30, "candidatesTokenCount": 12, "thoughtsTokenCount": 5}
        }));
        let message = &completion.choices[0].message;
        assert_eq!(message.reasoning_content.as_deref(), Some("Weighing the cities."));
        assert_eq!(message.text(), "Checking.");
        let calls = message.tool_calls.as_ref().unwrap();
        assert_eq!(super::super::signature::signature_of(&calls[0].id).as_deref(), Some("c2lnLTE="));
        assert_eq!(super::super::signature::signature_of(&calls[1].id), None);
        assert_eq!(completion.usage.unwrap().reasoning_tokens(), 5);
        assert_eq!(completion.usage.unwrap().completion_tokens, 17);

        let text_only = parse(json!({
            "candidates": [{"content": {"parts": [{"text": "Hi", "thoughtSignature": "c2lnLTI="}], "role": "model"},
                "finishReason": "STOP"}]
        }));
        let message = &text_only.choices[0].message;
        assert_eq!(message.text(), "Hi");
        assert_eq!(message.extra["extra_content"], json!({"google": {"thought_signature": "c2lnLTI="}}));
    }

    #[test]
    fn audio_prompt_tokens_are_reported() {
        let completion = parse(json!({"candidates": [], "usageMetadata": {"promptTokenCount": 40,
            "promptTokensDetails": [{"modality": "TEXT", "tokenCount": 8}, {"modality": "AUDIO", "tokenCount": 32}]}}));
        assert_eq!(completion.usage.unwrap().prompt_tokens_details.unwrap().audio_tokens, Some(32));
    }
}
