//! Anthropic Messages API (`POST /v1/messages`) for deployments that are not Anthropic:
//! the body is parsed and validated the way Anthropic does it, translated to
//! GaiaRouter's internal OpenAI chat request, and the completion (or its chunks)
//! translated back to a Messages answer (or its events). Pure functions: no HTTP, no
//! engine.

mod request;
mod response;
mod stream;
mod streamed_json;
mod to_chat;
mod validate;

pub use request::*;
pub use response::{
    block_output_bytes, message_from_completion, message_id, message_output_bytes, stop_reason, tool_input,
    usage_from_chat, MessagesResponse, MessagesUsage,
};
pub use stream::{error_event, SseEvent, StreamTranslator};
pub use to_chat::{chat_request, reasoning_effort_for_budget, Unsupported};
pub use validate::{
    bounded, validate, MessagesInputError, MAX_ERROR_MESSAGE_LEN, MAX_USER_ID_LEN, MIN_THINKING_BUDGET,
};

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn given_a_claude_code_style_turn_when_parsed_validated_and_translated_then_the_chat_request_carries_it() {
        let body = json!({
            "model": "claude-sonnet-4-5", "max_tokens": 32000, "temperature": 1, "stream": true,
            "system": [
                {"type": "text", "text": "You are Claude Code.", "cache_control": {"type": "ephemeral"}},
                {"type": "text", "text": "Env: linux"}
            ],
            "messages": [
                {"role": "user", "content": [{"type": "text", "text": "list files"}]},
                {"role": "assistant", "content": [
                    {"type": "thinking", "thinking": "Use Bash.", "signature": ""},
                    {"type": "tool_use", "id": "toolu_01A", "name": "Bash", "input": {"command": "ls"}}
                ]},
                {"role": "user", "content": [
                    {"type": "tool_result", "tool_use_id": "toolu_01A", "content": "a.rs\nb.rs",
                     "cache_control": {"type": "ephemeral"}}
                ]}
            ],
            "tools": [{"name": "Bash", "description": "Run a command",
                       "input_schema": {"$schema": "http://json-schema.org/draft-07/schema#", "type": "object",
                                        "properties": {"command": {"type": "string"}}, "required": ["command"]}}],
            "thinking": {"type": "enabled", "budget_tokens": 31999},
            "metadata": {"user_id": "user_abc_account__session_1"}
        });
        let request = parse(&body).unwrap();
        validate(&request).unwrap();
        let chat = serde_json::to_value(chat_request(&request).unwrap()).unwrap();
        assert_eq!(chat["messages"].as_array().unwrap().len(), 4);
        assert_eq!(chat["messages"][0]["content"][0]["cache_control"], json!({"type": "ephemeral"}));
        assert_eq!(chat["messages"][1], json!({"role": "user", "content": "list files"}));
        assert_eq!(chat["messages"][2]["tool_calls"][0]["id"], "toolu_01A");
        assert_eq!(
            chat["messages"][3],
            json!({"role": "tool", "tool_call_id": "toolu_01A",
            "content": [{"type": "text", "text": "a.rs\nb.rs", "cache_control": {"type": "ephemeral"}}]})
        );
        assert_eq!(chat["tools"][0]["function"]["parameters"]["required"], json!(["command"]));
        assert_eq!(chat["reasoning_effort"], "high");
        assert_eq!(chat["temperature"], 1.0);
        assert_eq!(chat["user"], "user_abc_account__session_1");
        assert_eq!(chat["stream_options"]["include_usage"], true);
    }
}
