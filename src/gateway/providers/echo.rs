//! A provider with no network: it answers with the last user message. It lets a new
//! install show the whole flow without provider keys, and benchmarks measure the
//! gateway rather than an upstream.

use crate::gateway::openai::{
    ChatCompletion, ChatCompletionChunk, ChatCompletionRequest, ChatMessage, Choice, ChunkChoice, Delta, FinishReason,
    Role, Usage,
};

use super::http::{completion_id, unix_now};
use super::{ChunkStream, Provider, ProviderError};

#[derive(Debug, Default, Clone, Copy)]
pub struct EchoProvider;

/// Tokens charged per message on top of its words, like OpenAI's per-message overhead.
const TOKENS_PER_MESSAGE: u64 = 3;

impl EchoProvider {
    pub fn new() -> Self {
        EchoProvider
    }

    /// The reply (the last user message's text) and its deterministic usage:
    /// prompt = words in all messages + 3 per message, completion = words in the reply.
    fn answer(request: &ChatCompletionRequest) -> (String, Usage) {
        let reply =
            request.messages.iter().rev().find(|m| m.role == Role::User).map(ChatMessage::text).unwrap_or_default();
        let prompt_words: u64 = request.messages.iter().map(|m| word_count(&m.text())).sum();
        let prompt = prompt_words + TOKENS_PER_MESSAGE * request.messages.len() as u64;
        let completion = word_count(&reply);
        (reply, Usage::new(prompt, completion, 0))
    }
}

fn word_count(text: &str) -> u64 {
    text.split_whitespace().count() as u64
}

/// Splits text into words each followed by its whitespace; leading whitespace stays
/// with the first word, so the pieces concatenate back to the text.
fn words_with_trailing_space(text: &str) -> Vec<&str> {
    let mut pieces = Vec::new();
    let mut start = 0;
    let mut in_space = false;
    let mut seen_word = false;
    for (i, c) in text.char_indices() {
        if c.is_whitespace() {
            in_space = true;
        } else {
            if in_space && seen_word {
                pieces.push(&text[start..i]);
                start = i;
            }
            in_space = false;
            seen_word = true;
        }
    }
    if start < text.len() {
        pieces.push(&text[start..]);
    }
    pieces
}

#[async_trait::async_trait]
impl Provider for EchoProvider {
    fn name(&self) -> &str {
        "echo"
    }

    async fn complete(
        &self,
        request: &ChatCompletionRequest,
        upstream_model: &str,
    ) -> Result<ChatCompletion, ProviderError> {
        let (reply, usage) = Self::answer(request);
        Ok(ChatCompletion {
            id: completion_id(),
            object: "chat.completion".into(),
            created: unix_now(),
            model: upstream_model.to_owned(),
            choices: vec![Choice {
                index: 0,
                message: ChatMessage::assistant(reply),
                finish_reason: Some(FinishReason::Stop),
                logprobs: None,
            }],
            usage: Some(usage),
            system_fingerprint: None,
        })
    }

    async fn stream(
        &self,
        request: &ChatCompletionRequest,
        upstream_model: &str,
    ) -> Result<ChunkStream, ProviderError> {
        let (reply, usage) = Self::answer(request);
        let (id, created) = (completion_id(), unix_now());
        let chunk = |choices| ChatCompletionChunk::new(&id, created, upstream_model, choices);
        let mut chunks = vec![chunk(vec![ChunkChoice::delta(0, Delta::role(Role::Assistant))])];
        chunks.extend(
            words_with_trailing_space(&reply)
                .into_iter()
                .map(|word| chunk(vec![ChunkChoice::delta(0, Delta::content(word))])),
        );
        chunks.push(chunk(vec![ChunkChoice::finish(0, FinishReason::Stop)]));
        chunks.push(ChatCompletionChunk::usage_only(&id, created, upstream_model, usage));
        Ok(Box::pin(futures::stream::iter(chunks.into_iter().map(Ok))))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gateway::openai::CompletionAccumulator;
    use futures::StreamExt;

    fn request() -> ChatCompletionRequest {
        ChatCompletionRequest::new(
            "echo/test",
            vec![
                ChatMessage::system("You are terse."),
                ChatMessage::user("first question"),
                ChatMessage::assistant("an answer"),
                ChatMessage::user("say  hello world\n"),
            ],
        )
    }

    #[tokio::test]
    async fn answers_with_the_last_user_message_and_deterministic_usage() {
        let completion = EchoProvider.complete(&request(), "test").await.unwrap();
        assert_eq!(completion.choices[0].message.text(), "say  hello world\n");
        assert_eq!(completion.choices[0].finish_reason, Some(FinishReason::Stop));
        // words: 3 + 2 + 2 + 3 = 10, plus 3 per message for 4 messages.
        assert_eq!(completion.usage, Some(Usage::new(22, 3, 0)));
        assert_eq!(completion.model, "test");
    }

    #[tokio::test]
    async fn streams_word_by_word_then_finish_then_usage() {
        let chunks: Vec<_> = EchoProvider.stream(&request(), "test").await.unwrap().map(Result::unwrap).collect().await;
        let contents: Vec<_> =
            chunks.iter().filter_map(|c| c.choices.first().and_then(|ch| ch.delta.content.clone())).collect();
        assert_eq!(contents, vec!["", "say  ", "hello ", "world\n"]);
        assert_eq!(chunks[0].choices[0].delta.role, Some(Role::Assistant));
        let last = chunks.last().unwrap();
        assert!(last.choices.is_empty());
        assert_eq!(last.usage, Some(Usage::new(22, 3, 0)));
        let mut all = CompletionAccumulator::new();
        chunks.iter().for_each(|c| all.push(c));
        assert_eq!(all.finish().choices[0].finish_reason, Some(FinishReason::Stop));
    }

    #[test]
    fn splits_words_keeping_all_whitespace() {
        assert_eq!(words_with_trailing_space("  a b\t c "), vec!["  a ", "b\t ", "c "]);
        assert_eq!(words_with_trailing_space(""), Vec::<&str>::new());
        assert_eq!(words_with_trailing_space("one"), vec!["one"]);
    }
}
