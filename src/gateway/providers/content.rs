//! Content conversions shared by the translating providers (Anthropic, Gemini).

use serde_json::{json, Value};

use super::ProviderError;

/// `data:image/png;base64,AAAA` → (`image/png`, `AAAA`); `None` for anything else.
pub(crate) fn parse_data_url(url: &str) -> Option<(&str, &str)> {
    let rest = url.strip_prefix("data:")?;
    let (header, data) = rest.split_once(',')?;
    let media_type = header.strip_suffix(";base64")?;
    Some((media_type, data))
}

/// OpenAI carries tool call arguments as JSON text; Anthropic and Gemini as an object.
pub(crate) fn arguments_object(arguments: &str) -> Result<Value, ProviderError> {
    if arguments.trim().is_empty() {
        return Ok(json!({}));
    }
    match serde_json::from_str::<Value>(arguments) {
        Ok(value @ Value::Object(_)) => Ok(value),
        _ => Err(ProviderError::UnsupportedRequest("tool call arguments must be a JSON object".into())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_base64_data_urls_only() {
        assert_eq!(parse_data_url("data:image/jpeg;base64,/9j/4AAQ"), Some(("image/jpeg", "/9j/4AAQ")));
        assert_eq!(parse_data_url("data:text/plain,hello"), None);
        assert_eq!(parse_data_url("https://x/y.png"), None);
    }

    #[test]
    fn tool_arguments_must_be_an_object_or_empty() {
        assert_eq!(arguments_object("").unwrap(), json!({}));
        assert_eq!(arguments_object("{\"a\":1}").unwrap(), json!({"a": 1}));
        assert!(arguments_object("[1]").is_err());
        assert!(arguments_object("{oops").is_err());
    }
}
