//! The echo provider needs no upstream; it is always in the provider set.

use futures::StreamExt;
use gaiarouter::gateway::openai::{ChatCompletionRequest, ChatMessage, CompletionAccumulator, FinishReason, Usage};
use gaiarouter::gateway::providers::{ProviderSet, ProvidersConfig};
use gaiarouter::gateway::ModelRegistry;

fn echo() -> std::sync::Arc<dyn gaiarouter::gateway::Provider> {
    ProviderSet::from_config(&ProvidersConfig::default()).unwrap().get("echo").unwrap()
}

fn conversation() -> ChatCompletionRequest {
    ChatCompletionRequest::new(
        "echo/echo",
        vec![
            ChatMessage::system("Repeat after me."),
            ChatMessage::user("one two"),
            ChatMessage::assistant("one two"),
            ChatMessage::user("three four five"),
        ],
    )
}

#[tokio::test]
async fn echo_is_always_configured_and_free() {
    let model = ModelRegistry::new().resolve("echo/echo").unwrap();
    assert_eq!(model.provider, "echo");
    assert_eq!(model.price.cost(1_000, 1_000, 0).nanos(), 0);
    assert!(ProviderSet::from_config(&ProvidersConfig::default()).unwrap().names().contains(&"echo"));
}

#[tokio::test]
async fn echo_answers_the_last_user_message_in_a_multi_turn_conversation() {
    let completion = echo().complete(&conversation(), "echo").await.unwrap();
    assert_eq!(completion.choices[0].message.text(), "three four five");
    assert_eq!(completion.choices[0].finish_reason, Some(FinishReason::Stop));
    // 3 + 2 + 2 + 3 words, plus 3 per message.
    assert_eq!(completion.usage, Some(Usage::new(22, 3, 0)));
}

#[tokio::test]
async fn echo_streams_word_by_word_and_ends_with_usage() {
    let items: Vec<_> = echo().stream(&conversation(), "echo").await.unwrap().collect().await;
    let mut all = CompletionAccumulator::new();
    items.iter().for_each(|i| all.push(i.as_ref().unwrap()));
    assert_eq!(all.chunk_count(), 1 + 3 + 1 + 1);
    let last = items.last().unwrap().as_ref().unwrap();
    assert!(last.choices.is_empty());
    assert_eq!(last.usage, Some(Usage::new(22, 3, 0)));
    assert_eq!(all.finish().choices[0].message.text(), "three four five");
}
