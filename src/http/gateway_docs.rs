//! The gateway's bodies as the OpenAPI document shows them. The engine's own
//! request types pass every field they do not interpret through to the upstream
//! (and the Messages API reads raw JSON), so these describe the fields GaiaRouter
//! itself reads and answers; other fields are allowed and forwarded. Answers list
//! only what is always there, so that every provider's answer conforms.

use serde::Serialize;
use utoipa::ToSchema;

/// `POST /v1/chat/completions` (OpenAI's format; other fields are forwarded).
#[derive(Serialize, ToSchema)]
pub struct ChatCompletionRequestDoc {
    /// A built-in model id (`openai/gpt-4o`, `echo/demo`) or a route name; see `GET /v1/models`.
    #[schema(example = "echo/demo")]
    pub model: String,
    #[schema(min_items = 1)]
    pub messages: Vec<ChatMessageDoc>,
    /// `true`: the answer is an SSE stream (`text/event-stream`) ending with `data: [DONE]`.
    pub stream: Option<bool>,
    pub stream_options: Option<StreamOptionsDoc>,
    pub max_tokens: Option<u32>,
    pub max_completion_tokens: Option<u32>,
    pub temperature: Option<f64>,
    pub top_p: Option<f64>,
    /// `minimal`, `low`, `medium` or `high`.
    pub reasoning_effort: Option<String>,
    /// Tool definitions in OpenAI's format.
    pub tools: Option<Vec<serde_json::Value>>,
    pub user: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct ChatMessageDoc {
    pub role: ChatRoleDoc,
    pub content: ContentDoc,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
#[allow(dead_code)] // a shape for the document, never built
pub enum ChatRoleDoc {
    System,
    Developer,
    User,
    Assistant,
    Tool,
}

/// Text, or an array of content parts (objects with a `type`).
#[derive(Serialize, ToSchema)]
#[serde(untagged)]
#[allow(dead_code)] // a shape for the document, never built
pub enum ContentDoc {
    Text(String),
    Parts(Vec<serde_json::Map<String, serde_json::Value>>),
}

/// A turn of an Anthropic conversation.
#[derive(Serialize, ToSchema)]
pub struct MessageParamDoc {
    pub role: MessageRoleDoc,
    pub content: ContentDoc,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
#[allow(dead_code)] // a shape for the document, never built
pub enum MessageRoleDoc {
    User,
    Assistant,
}

#[derive(Serialize, ToSchema)]
pub struct StreamOptionsDoc {
    /// Send a last chunk with the usage of the whole request.
    pub include_usage: Option<bool>,
}

/// A chat completion in OpenAI's format.
#[derive(Serialize, ToSchema)]
pub struct ChatCompletionDoc {
    pub id: String,
    /// `chat.completion`.
    pub object: String,
    pub created: i64,
    pub model: String,
    pub choices: Vec<serde_json::Value>,
    /// Prompt, completion and total tokens (with their details when the provider gives them).
    pub usage: Option<serde_json::Value>,
}

/// `POST /v1/messages` (Anthropic's format; other fields are forwarded).
#[derive(Serialize, ToSchema)]
pub struct MessagesRequestDoc {
    #[schema(example = "echo/demo")]
    pub model: String,
    #[schema(minimum = 1)]
    pub max_tokens: u32,
    #[schema(min_items = 1)]
    pub messages: Vec<MessageParamDoc>,
    /// Text, or an array of text blocks.
    pub system: Option<serde_json::Value>,
    /// `true`: the answer is an SSE stream of Anthropic's events.
    pub stream: Option<bool>,
    pub temperature: Option<f64>,
    /// Tool definitions in Anthropic's format.
    pub tools: Option<Vec<serde_json::Value>>,
}

/// `POST /v1/messages/count_tokens`: a Messages body without `max_tokens`.
#[derive(Serialize, ToSchema)]
pub struct CountTokensRequestDoc {
    #[schema(example = "echo/demo")]
    pub model: String,
    #[schema(min_items = 1)]
    pub messages: Vec<MessageParamDoc>,
    pub system: Option<serde_json::Value>,
    pub tools: Option<Vec<serde_json::Value>>,
}

/// A message in Anthropic's format.
#[derive(Serialize, ToSchema)]
pub struct MessageDoc {
    pub id: String,
    /// `message`.
    #[serde(rename = "type")]
    pub kind: String,
    /// `assistant`.
    pub role: String,
    pub model: String,
    pub content: Vec<serde_json::Value>,
    pub stop_reason: Option<String>,
    pub usage: serde_json::Value,
}

#[derive(Serialize, ToSchema)]
pub struct TokenCountDoc {
    pub input_tokens: u64,
}
