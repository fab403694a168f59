//! Counting a chat request's input tokens without calling a provider, for
//! `count_tokens` on deployments whose provider has no counting endpoint. The
//! count uses OpenAI's `o200k_base` encoding and OpenAI's chat framing (3 tokens
//! per message, 3 to prime the answer): exact for OpenAI's current models, an
//! estimate for other tokenizers. An image counts as 85 tokens (OpenAI's
//! low-detail price); other media count their text only.

use crate::gateway::openai::{ChatCompletionRequest, ContentPart, MessageContent};

const TOKENS_PER_MESSAGE: u64 = 3;
const REPLY_PRIMING: u64 = 3;
const IMAGE_TOKENS: u64 = 85;

fn text_tokens(text: &str) -> u64 {
    tiktoken_rs::o200k_base_singleton().encode_ordinary(text).len() as u64
}

/// The input tokens of `request` in OpenAI's reckoning.
pub fn count_chat_tokens(request: &ChatCompletionRequest) -> u64 {
    let mut tokens = REPLY_PRIMING;
    for message in &request.messages {
        tokens += TOKENS_PER_MESSAGE;
        match &message.content {
            Some(MessageContent::Text(text)) => tokens += text_tokens(text),
            Some(MessageContent::Parts(parts)) => {
                for part in parts {
                    tokens += match part {
                        ContentPart::Text { text, .. } => text_tokens(text),
                        ContentPart::ImageUrl { .. } => IMAGE_TOKENS,
                        ContentPart::Other(_) => 0,
                    };
                }
            }
            None => {}
        }
        for call in message.tool_calls.iter().flatten() {
            tokens += text_tokens(&call.function.name) + text_tokens(&call.function.arguments);
        }
        if let Some(reasoning) = &message.reasoning_content {
            tokens += text_tokens(reasoning);
        }
    }
    if let Some(tools) = &request.tools {
        // Tools reach the model as their JSON definitions.
        tokens += text_tokens(&serde_json::to_string(tools).unwrap_or_default());
    }
    tokens
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gateway::openai::ChatMessage;

    #[test]
    fn given_a_short_conversation_then_it_counts_openais_framing_and_the_text() {
        // "Hello world" is 2 tokens in o200k_base.
        let request = ChatCompletionRequest::new("m", vec![ChatMessage::user("Hello world")]);
        assert_eq!(count_chat_tokens(&request), REPLY_PRIMING + TOKENS_PER_MESSAGE + 2);
    }

    #[test]
    fn given_more_text_then_more_tokens() {
        let short = ChatCompletionRequest::new("m", vec![ChatMessage::user("hi")]);
        let long = ChatCompletionRequest::new("m", vec![ChatMessage::user("hi ".repeat(100))]);
        assert!(count_chat_tokens(&long) > count_chat_tokens(&short) + 50);
    }
}
