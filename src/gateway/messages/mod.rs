//! Anthropic Messages API (`POST /v1/messages`) for deployments that are not Anthropic:
//! the body is parsed and validated the way Anthropic does it, translated to
//! GaiaRouter's internal OpenAI chat request, and the completion (or its chunks)
//! translated back to a Messages answer (or its events). Pure functions: no HTTP, no
//! engine.

mod request;
mod response;
mod stream;
mod to_chat;
mod validate;

pub use request::*;
pub use response::{
    message_from_completion, message_id, stop_reason, tool_input, usage_from_chat, MessagesResponse, MessagesUsage,
};
pub use stream::{error_event, SseEvent, StreamTranslator};
pub use to_chat::{chat_request, reasoning_effort_for_budget, Unsupported};
pub use validate::{validate, MessagesInputError};
