//! OpenAI chat request → Anthropic Messages request. The rules that depend on the model
//! are decided from the upstream model's name (see [`ClaudeModel`]).

use serde_json::{json, Map, Value};
use sha2::{Digest, Sha256};

use crate::gateway::openai::{
    ChatCompletionRequest, ChatMessage, ContentPart, MessageContent, Role, Tool, ToolChoice, ToolChoiceMode,
};
use crate::gateway::providers::content::{arguments_object, parse_data_url};
use crate::gateway::providers::ProviderError;
use crate::gateway::registry::anthropic_max_output_tokens;

/// `max_tokens` when the client gave no limit and the catalog does not know the model's
/// maximum output: the smallest maximum of any Claude model still served (Claude 3
/// Haiku, 4,096), so the default is never refused.
pub(crate) const DEFAULT_MAX_TOKENS: u32 = 4096;

/// The tool that carries a `response_format` answer on models without structured
/// outputs. Its input is answered as the message content; the name is GaiaRouter's own
/// so that it cannot be mistaken for a client's tool.
pub(crate) const JSON_TOOL_NAME: &str = "gaiarouter_json_response";

/// Anthropic's limit on `metadata.user_id`.
use crate::gateway::messages::MAX_USER_ID_LEN as USER_ID_MAX_CHARS;

/// Anthropic's smallest thinking budget (`budget_tokens` ≥ 1024).
use crate::gateway::messages::MIN_THINKING_BUDGET;

/// What the name of a Claude model tells: its family (`opus`, `sonnet`, `haiku`) and
/// version. Names put the version after the family (`claude-sonnet-4-5-20250929`,
/// `claude-opus-4-1`) or before it (`claude-3-7-sonnet-latest`); the first number of one
/// or two digits is the major version, a number right after it the minor one, and an
/// eight-digit date is not a version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ClaudeModel {
    family: Option<String>,
    version: Option<(u32, u32)>,
}

impl ClaudeModel {
    pub(crate) fn parse(model: &str) -> Self {
        let name = model.rsplit('/').next().unwrap_or(model).to_ascii_lowercase();
        let Some(rest) = name.find("claude-").map(|at| &name[at + "claude-".len()..]) else {
            return ClaudeModel { family: None, version: None };
        };
        let small_number = |token: &str| {
            (!token.is_empty() && token.len() <= 2 && token.chars().all(|c| c.is_ascii_digit()))
                .then(|| token.parse::<u32>().ok())
                .flatten()
        };
        let tokens: Vec<&str> = rest.split(['-', '.', '@']).collect();
        let mut version = None;
        for (i, token) in tokens.iter().enumerate() {
            if let Some(major) = small_number(token) {
                let minor = tokens.get(i + 1).and_then(|next| small_number(next)).unwrap_or(0);
                version = Some((major, minor));
                break;
            }
        }
        let family =
            tokens.iter().find(|token| matches!(**token, "opus" | "sonnet" | "haiku")).map(|token| (*token).to_owned());
        ClaudeModel { family, version }
    }

    fn at_least(&self, major: u32, minor: u32) -> bool {
        self.version.is_some_and(|version| version >= (major, minor))
    }

    /// Structured outputs (`output_config.format`) are generally available from the 4.5
    /// generation on (Sonnet 4.5, Opus 4.5, Haiku 4.5 and later); older or unrecognised
    /// models get the forced tool instead.
    pub(crate) fn has_structured_outputs(&self) -> bool {
        self.at_least(4, 5)
    }

    /// Opus 4.1 and every model from the 4.5 generation on refuse `temperature` and
    /// `top_p` together; a name GaiaRouter cannot read is treated the same way, since
    /// sending one of the two is always accepted.
    pub(crate) fn takes_one_sampler_only(&self) -> bool {
        match self.version {
            None => true,
            Some(_) if self.at_least(4, 5) => true,
            Some(version) => self.family.as_deref() == Some("opus") && version >= (4, 1),
        }
    }

    /// From 4.6 on, thinking is `{"type":"adaptive"}` with `output_config.effort`
    /// (4.7 and later refuse a `budget_tokens` budget); before, a token budget.
    pub(crate) fn thinks_adaptively(&self) -> bool {
        self.at_least(4, 6)
    }
}

/// The Messages API body for an OpenAI request. Anthropic needs no beta header for
/// anything this builds (structured outputs are generally available under
/// `output_config.format`).
pub(crate) fn messages_request(
    request: &ChatCompletionRequest,
    model: &str,
    stream: bool,
) -> Result<Value, ProviderError> {
    if request.n.is_some_and(|n| n > 1) {
        return Err(ProviderError::UnsupportedRequest("Anthropic models return one choice: `n` must be 1".into()));
    }
    let claude = ClaudeModel::parse(model);
    let mut system: Vec<Value> = Vec::new();
    let mut turns: Vec<(&'static str, Vec<Value>)> = Vec::new();
    for message in &request.messages {
        let (role, blocks) = match message.role {
            Role::System | Role::Developer => {
                system.extend(system_blocks(message)?);
                continue;
            }
            Role::User => ("user", content_blocks(message)?),
            Role::Assistant => ("assistant", assistant_blocks(message)?),
            Role::Tool => ("user", vec![tool_result_block(message)?]),
        };
        // Anthropic wants alternating turns: consecutive tool results (and a user
        // message following them) become one user turn.
        match turns.last_mut() {
            Some((last_role, last_blocks)) if *last_role == role => last_blocks.extend(blocks),
            _ => turns.push((role, blocks)),
        }
    }

    let max_tokens =
        request.output_token_limit().or_else(|| anthropic_max_output_tokens(model)).unwrap_or(DEFAULT_MAX_TOKENS);
    let mut body = Map::new();
    body.insert("model".into(), json!(model));
    body.insert("max_tokens".into(), json!(max_tokens));
    body.insert(
        "messages".into(),
        Value::Array(turns.into_iter().map(|(role, content)| json!({"role": role, "content": content})).collect()),
    );
    if !system.is_empty() {
        body.insert("system".into(), system_value(system));
    }
    if stream {
        body.insert("stream".into(), json!(true));
    }
    let mut output_config = Map::new();
    let thinking = thinking(request, &claude, max_tokens, &mut output_config)?;
    sampling(request, &claude, thinking.is_some(), &mut body)?;
    if let Some(thinking) = &thinking {
        body.insert("thinking".into(), thinking.clone());
    }
    let stops = request.stop_sequences();
    if !stops.is_empty() {
        body.insert("stop_sequences".into(), json!(stops));
    }
    let mut tools = match request.tools.as_ref() {
        Some(tools) => tools.iter().map(tool).collect::<Result<Vec<_>, _>>()?,
        None => Vec::new(),
    };
    let mut choice = tool_choice(request)?;
    if thinking.is_some() && choice.as_ref().is_some_and(|c| c["type"] == "any" || c["type"] == "tool") {
        return Err(ProviderError::UnsupportedRequest(
            "with `reasoning_effort`, Claude accepts only `tool_choice` \"auto\" or \"none\"; \
             drop `reasoning_effort` to force a tool"
                .into(),
        ));
    }
    match json_format(request)? {
        None => {}
        Some(format) => match format.schema {
            Some(schema) if claude.has_structured_outputs() && fits_structured_outputs(&schema) => {
                output_config.insert("format".into(), json!({"type": "json_schema", "schema": schema}));
            }
            schema => {
                // The forced tool: forced only when nothing else may be called and
                // thinking (which refuses forced tools) is off; offered otherwise.
                let forced = tools.is_empty() && thinking.is_none();
                tools.push(json_tool(schema)?);
                if forced {
                    choice = Some(json!({"type": "tool", "name": JSON_TOOL_NAME}));
                } else if choice.is_none() {
                    choice = Some(json!({"type": "auto"}));
                }
            }
        },
    }
    if !tools.is_empty() {
        body.insert("tools".into(), Value::Array(tools));
    }
    if let Some(choice) = choice {
        body.insert("tool_choice".into(), choice);
    }
    if !output_config.is_empty() {
        body.insert("output_config".into(), Value::Object(output_config));
    }
    if let Some(user_id) = request.user.as_deref().and_then(opaque_user_id) {
        body.insert("metadata".into(), json!({"user_id": user_id}));
    }
    Ok(Value::Object(body))
}

/// `temperature` is clamped to Claude's range 0–1 (OpenAI allows up to 2): values up to
/// 1 mean the same on both, and a higher one asks for the most variety, which is 1 on
/// Claude. Models that take one sampler get `temperature` alone when both are given.
/// With thinking on, Anthropic refuses `temperature` and `top_k` and takes `top_p` only
/// from 0.95 to 1, so those are left out or raised.
fn sampling(
    request: &ChatCompletionRequest,
    claude: &ClaudeModel,
    thinking: bool,
    body: &mut Map<String, Value>,
) -> Result<(), ProviderError> {
    let temperature = request.temperature.filter(|_| !thinking).map(|t| t.clamp(0.0, 1.0));
    let top_p = request.top_p.map(|p| if thinking { p.clamp(0.95, 1.0) } else { p.clamp(0.0, 1.0) });
    let top_p = top_p.filter(|_| temperature.is_none() || !claude.takes_one_sampler_only());
    if let Some(t) = temperature {
        body.insert("temperature".into(), json!(t));
    }
    if let Some(p) = top_p {
        body.insert("top_p".into(), json!(p));
    }
    if let Some(top_k) = request.extra.get("top_k") {
        let Some(top_k) = top_k.as_u64().filter(|k| *k > 0) else {
            return Err(ProviderError::UnsupportedRequest("`top_k` must be a positive integer".into()));
        };
        if !thinking {
            body.insert("top_k".into(), json!(top_k));
        }
    }
    Ok(())
}

/// `reasoning_effort` → Claude's thinking. Budgets (tokens): minimal 1,024, low 2,048,
/// medium 8,192, high 16,384, each kept below `max_tokens` as Anthropic requires; a
/// `max_tokens` of 1,024 or less leaves no room for thinking and is refused. Models that
/// think adaptively get `{"type":"adaptive"}` and the effort in `output_config.effort`.
/// `none` turns thinking off.
fn thinking(
    request: &ChatCompletionRequest,
    claude: &ClaudeModel,
    max_tokens: u32,
    output_config: &mut Map<String, Value>,
) -> Result<Option<Value>, ProviderError> {
    let Some(effort) = request.reasoning_effort.as_deref() else {
        return Ok(None);
    };
    let (budget, adaptive_effort) = match effort {
        "none" => return Ok(None),
        "minimal" => (MIN_THINKING_BUDGET, "low"),
        "low" => (2_048, "low"),
        "medium" => (8_192, "medium"),
        "high" => (16_384, "high"),
        _ => {
            return Err(ProviderError::UnsupportedRequest(
                "`reasoning_effort` must be \"none\", \"minimal\", \"low\", \"medium\" or \"high\"".into(),
            ))
        }
    };
    if claude.thinks_adaptively() {
        output_config.insert("effort".into(), json!(adaptive_effort));
        return Ok(Some(json!({"type": "adaptive"})));
    }
    let budget = budget.min(max_tokens.saturating_sub(1));
    if budget < MIN_THINKING_BUDGET {
        return Err(ProviderError::UnsupportedRequest(format!(
            "Claude thinks with at least {MIN_THINKING_BUDGET} tokens, which must be fewer than `max_tokens`; \
             raise `max_tokens` above {MIN_THINKING_BUDGET} or drop `reasoning_effort`"
        )));
    }
    Ok(Some(json!({"type": "enabled", "budget_tokens": budget})))
}

/// A `response_format` asking for JSON, with its schema if it has one.
struct JsonFormat {
    schema: Option<Value>,
}

fn json_format(request: &ChatCompletionRequest) -> Result<Option<JsonFormat>, ProviderError> {
    let Some(format) = &request.response_format else {
        return Ok(None);
    };
    match format.get("type").and_then(Value::as_str) {
        Some("text") => Ok(None),
        Some("json_object") => Ok(Some(JsonFormat { schema: None })),
        Some("json_schema") => {
            let schema = format.pointer("/json_schema/schema").cloned();
            if schema.as_ref().is_some_and(|s| !s.is_object()) {
                return Err(ProviderError::UnsupportedRequest(
                    "`response_format.json_schema.schema` must be an object".into(),
                ));
            }
            Ok(Some(JsonFormat { schema }))
        }
        _ => Err(ProviderError::UnsupportedRequest(
            "`response_format.type` must be \"text\", \"json_object\" or \"json_schema\"".into(),
        )),
    }
}

/// Whether Anthropic's structured outputs take `schema`: its subset of JSON Schema wants
/// `additionalProperties: false` on every object and knows no numeric, length or item
/// count bounds (`minItems` only 0 or 1). Other schemas go through the forced tool,
/// whose `input_schema` takes any JSON Schema.
fn fits_structured_outputs(schema: &Value) -> bool {
    const UNSUPPORTED: [&str; 9] = [
        "minimum",
        "maximum",
        "exclusiveMinimum",
        "exclusiveMaximum",
        "multipleOf",
        "minLength",
        "maxLength",
        "maxItems",
        "uniqueItems",
    ];
    match schema {
        Value::Object(map) => {
            if UNSUPPORTED.iter().any(|key| map.contains_key(*key)) {
                return false;
            }
            if map.get("minItems").and_then(Value::as_u64).is_some_and(|n| n > 1) {
                return false;
            }
            let is_object = map.get("type") == Some(&json!("object")) || map.contains_key("properties");
            if is_object && map.get("additionalProperties") != Some(&Value::Bool(false)) {
                return false;
            }
            map.iter().all(|(key, value)| match key.as_str() {
                // Values of these are data, not schemas.
                "enum" | "const" | "default" | "examples" | "required" | "description" | "title" => true,
                _ => fits_structured_outputs(value),
            })
        }
        Value::Array(items) => items.iter().all(fits_structured_outputs),
        _ => true,
    }
}

/// The forced tool for a JSON answer; without a schema any object is accepted.
fn json_tool(schema: Option<Value>) -> Result<Value, ProviderError> {
    let input_schema = match schema {
        None => json!({"type": "object", "additionalProperties": true, "properties": {}}),
        Some(schema) if schema.get("type").is_some_and(|t| t != "object") => {
            return Err(ProviderError::UnsupportedRequest(
                "on this Claude model a `json_schema` response must be an object (\"type\": \"object\")".into(),
            ))
        }
        Some(schema) => schema,
    };
    Ok(json!({
        "name": JSON_TOOL_NAME,
        "description": "Give your final answer by calling this tool with it as the input; it must follow the input schema.",
        "input_schema": input_schema,
    }))
}

fn tool(tool: &Tool) -> Result<Value, ProviderError> {
    let function = tool.as_function().ok_or_else(|| {
        ProviderError::UnsupportedRequest(format!(
            "tools of type \"{}\" are not supported by Anthropic models; use function tools",
            tool.kind
        ))
    })?;
    if function.name == JSON_TOOL_NAME {
        return Err(ProviderError::UnsupportedRequest(format!(
            "the tool name \"{JSON_TOOL_NAME}\" is reserved by GaiaRouter"
        )));
    }
    let mut out = Map::new();
    out.insert("name".into(), json!(function.name));
    if let Some(description) = &function.description {
        out.insert("description".into(), json!(description));
    }
    let schema = function.parameters.clone().unwrap_or_else(|| json!({"type": "object", "properties": {}}));
    out.insert("input_schema".into(), schema);
    // Prompt caching: on the tool, or (LiteLLM's spelling) on its function.
    if let Some(cache_control) = tool.cache_control.as_ref().or_else(|| function.extra.get("cache_control")) {
        out.insert("cache_control".into(), cache_control.clone());
    }
    Ok(Value::Object(out))
}

fn tool_choice(request: &ChatCompletionRequest) -> Result<Option<Value>, ProviderError> {
    let mut choice = match &request.tool_choice {
        None if request.parallel_tool_calls == Some(false) && request.tools.is_some() => {
            json!({"type": "auto"})
        }
        None => return Ok(None),
        Some(ToolChoice::Mode(ToolChoiceMode::None)) => return Ok(Some(json!({"type": "none"}))),
        Some(ToolChoice::Mode(ToolChoiceMode::Auto)) => json!({"type": "auto"}),
        Some(ToolChoice::Mode(ToolChoiceMode::Required)) => json!({"type": "any"}),
        Some(ToolChoice::Named(named)) => json!({"type": "tool", "name": named.function.name}),
        Some(ToolChoice::Other(_)) => {
            return Err(ProviderError::UnsupportedRequest(
                "this `tool_choice` is not supported by Anthropic models; use \"none\", \"auto\", \"required\" or a named function".into(),
            ))
        }
    };
    if request.parallel_tool_calls == Some(false) {
        choice["disable_parallel_tool_use"] = json!(true);
    }
    Ok(Some(choice))
}

/// `user` as `metadata.user_id`, which Anthropic wants opaque: it refuses email
/// addresses. A value with an `@`, a phone-like run of 7 or more digits, or more than
/// 256 characters is sent as `u_` + its SHA-256 (hex), so the same user keeps the same
/// id and the address or number itself is not sent. The hash is unsalted: whoever can
/// guess an address can confirm it, so it keeps Anthropic's rule, not a secret.
fn opaque_user_id(user: &str) -> Option<String> {
    let user = user.trim();
    if user.is_empty() {
        return None;
    }
    if looks_personal(user) || user.chars().count() > USER_ID_MAX_CHARS {
        return Some(format!("u_{}", hex::encode(Sha256::digest(user.as_bytes()))));
    }
    Some(user.to_owned())
}

fn looks_personal(user: &str) -> bool {
    if user.contains('@') {
        return true;
    }
    // Digits separated only by what phone numbers are written with.
    let mut digits = 0;
    for c in user.chars() {
        if c.is_ascii_digit() {
            digits += 1;
            if digits >= 7 {
                return true;
            }
        } else if !matches!(c, ' ' | '-' | '.' | '(' | ')' | '+') {
            digits = 0;
        }
    }
    false
}

/// A `cache_control` given on the message itself (LiteLLM's and OpenRouter's spelling
/// for string contents).
fn message_cache_control(message: &ChatMessage) -> Option<&Value> {
    message.extra.get("cache_control")
}

fn with_cache_control(mut block: Value, cache_control: Option<&Value>) -> Value {
    if let (Some(cache_control), Some(map)) = (cache_control, block.as_object_mut()) {
        map.insert("cache_control".into(), cache_control.clone());
    }
    block
}

fn text_block(text: &str) -> Value {
    json!({"type": "text", "text": text})
}

/// A system or developer message as system text blocks, each keeping its
/// `cache_control`.
fn system_blocks(message: &ChatMessage) -> Result<Vec<Value>, ProviderError> {
    blocks_of(message, |part| match part {
        ContentPart::Text { text, cache_control, .. } => {
            Ok(with_cache_control(text_block(text), cache_control.as_ref()))
        }
        _ => Err(ProviderError::UnsupportedRequest(
            "Anthropic models take only text in system and developer messages".into(),
        )),
    })
}

/// A message's content as Anthropic blocks, each part by `part`. Anthropic refuses
/// empty text blocks, so empty text is left out.
fn blocks_of(
    message: &ChatMessage,
    part: impl Fn(&ContentPart) -> Result<Value, ProviderError>,
) -> Result<Vec<Value>, ProviderError> {
    match &message.content {
        None => Ok(Vec::new()),
        Some(MessageContent::Text(text)) if text.is_empty() => Ok(Vec::new()),
        Some(MessageContent::Text(text)) => {
            Ok(vec![with_cache_control(text_block(text), message_cache_control(message))])
        }
        Some(MessageContent::Parts(parts)) => parts
            .iter()
            .filter(|part| !matches!(part, ContentPart::Text { text, .. } if text.is_empty()))
            .map(part)
            .collect(),
    }
}

/// The system prompt as one string when no block carries `cache_control`, else as the
/// blocks themselves.
fn system_value(blocks: Vec<Value>) -> Value {
    if blocks.iter().any(|block| block.get("cache_control").is_some()) {
        return Value::Array(blocks);
    }
    let texts: Vec<&str> = blocks.iter().filter_map(|block| block["text"].as_str()).collect();
    json!(texts.join("\n\n"))
}

fn content_blocks(message: &ChatMessage) -> Result<Vec<Value>, ProviderError> {
    blocks_of(message, part_block)
}

fn part_block(part: &ContentPart) -> Result<Value, ProviderError> {
    match part {
        ContentPart::Text { text, cache_control, .. } => {
            Ok(with_cache_control(text_block(text), cache_control.as_ref()))
        }
        ContentPart::ImageUrl { image_url, cache_control, .. } => {
            Ok(with_cache_control(image_block(&image_url.url)?, cache_control.as_ref()))
        }
        ContentPart::Other(other) if other.get("type").and_then(Value::as_str) == Some("file") => {
            Ok(with_cache_control(document_block(other)?, other.get("cache_control")))
        }
        ContentPart::Other(other) => Err(ProviderError::UnsupportedRequest(format!(
            "Anthropic models do not accept content parts of type {}",
            other.get("type").unwrap_or(&Value::Null)
        ))),
    }
}

/// `data:` URLs become base64 sources, web URLs URL sources.
fn image_block(url: &str) -> Result<Value, ProviderError> {
    if let Some((media_type, data)) = parse_data_url(url) {
        return Ok(json!({"type": "image", "source": {"type": "base64", "media_type": media_type, "data": data}}));
    }
    if url.starts_with("http://") || url.starts_with("https://") {
        return Ok(json!({"type": "image", "source": {"type": "url", "url": url}}));
    }
    Err(ProviderError::UnsupportedRequest("image_url must be an http(s) URL or a base64 data: URL".into()))
}

/// An OpenAI `file` part → a Claude PDF `document` block: `file_data` as a base64
/// `data:application/pdf` URL, or an https URL of the PDF. A `file_id` names a file
/// uploaded to OpenAI, which Anthropic cannot read.
fn document_block(part: &Value) -> Result<Value, ProviderError> {
    let file = part.get("file").unwrap_or(&Value::Null);
    if file.get("file_id").is_some() {
        return Err(ProviderError::UnsupportedRequest(
            "Anthropic models cannot read OpenAI `file_id`s; send the PDF inline as `file_data` (a base64 data: URL)"
                .into(),
        ));
    }
    let Some(data) = file.get("file_data").and_then(Value::as_str) else {
        return Err(ProviderError::UnsupportedRequest("a `file` part needs `file.file_data`".into()));
    };
    if let Some((media_type, base64)) = parse_data_url(data) {
        if media_type != "application/pdf" {
            return Err(ProviderError::UnsupportedRequest(format!(
                "Anthropic models read PDF files only, not {}",
                media_type.chars().take(100).collect::<String>()
            )));
        }
        return Ok(json!({"type": "document", "source": {"type": "base64", "media_type": media_type, "data": base64}}));
    }
    if data.starts_with("https://") {
        return Ok(json!({"type": "document", "source": {"type": "url", "url": data}}));
    }
    Err(ProviderError::UnsupportedRequest(
        "`file.file_data` must be a base64 data:application/pdf URL or an https URL of a PDF".into(),
    ))
}

/// The assistant's earlier thinking blocks first (Anthropic requires them before the
/// tool calls of a turn made with thinking on), then its text, then its tool calls.
fn assistant_blocks(message: &ChatMessage) -> Result<Vec<Value>, ProviderError> {
    let mut blocks = Vec::new();
    for block in message.thinking_blocks.iter().flatten() {
        match block.get("type").and_then(Value::as_str) {
            Some("thinking") | Some("redacted_thinking") => blocks.push(block.clone()),
            _ => {
                return Err(ProviderError::UnsupportedRequest(
                    "`thinking_blocks` may hold only \"thinking\" and \"redacted_thinking\" blocks".into(),
                ))
            }
        }
    }
    blocks.extend(content_blocks(message)?);
    for call in message.tool_calls.iter().flatten() {
        if call.as_function().is_none() {
            return Err(ProviderError::UnsupportedRequest(format!(
                "tool calls of type \"{}\" are not supported by Anthropic models; use function tools",
                call.kind
            )));
        }
        blocks.push(json!({
            "type": "tool_use",
            "id": call.id,
            "name": call.function.name,
            "input": arguments_object(&call.function.arguments)?,
        }));
    }
    Ok(blocks)
}

/// A tool message → a `tool_result` block: text stays a string, parts become text and
/// image blocks with their `cache_control`; a `cache_control` on the message goes on
/// the result itself.
fn tool_result_block(message: &ChatMessage) -> Result<Value, ProviderError> {
    let content = match &message.content {
        Some(MessageContent::Parts(parts)) => Value::Array(
            parts
                .iter()
                .filter(|part| !matches!(part, ContentPart::Text { text, .. } if text.is_empty()))
                .map(|part| match part {
                    ContentPart::Text { .. } | ContentPart::ImageUrl { .. } => part_block(part),
                    _ => Err(ProviderError::UnsupportedRequest(
                        "Anthropic tool results hold only text and images".into(),
                    )),
                })
                .collect::<Result<_, _>>()?,
        ),
        _ => json!(message.text()),
    };
    let block = json!({
        "type": "tool_result",
        "tool_use_id": message.tool_call_id.clone().unwrap_or_default(),
        "content": content,
    });
    Ok(with_cache_control(block, message_cache_control(message)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn translate(body: Value) -> Value {
        let request: ChatCompletionRequest = serde_json::from_value(body).unwrap();
        messages_request(&request, "claude-sonnet-4-5-20250929", false).unwrap()
    }

    #[test]
    fn hoists_system_and_developer_messages_and_defaults_max_tokens() {
        let body = translate(json!({
            "model": "anthropic/claude-sonnet-4-5",
            "messages": [
                {"role": "system", "content": "Be terse."},
                {"role": "developer", "content": [{"type": "text", "text": "Answer in French."}]},
                {"role": "user", "content": "Hi"},
                {"role": "assistant", "content": "Bonjour"},
                {"role": "user", "content": "How are you?"}
            ],
            "temperature": 0.5, "top_p": 0.9, "stop": ["END"], "user": "u-1"
        }));
        assert_eq!(
            body,
            json!({
                "model": "claude-sonnet-4-5-20250929",
                "max_tokens": 64000,
                "system": "Be terse.\n\nAnswer in French.",
                "messages": [
                    {"role": "user", "content": [{"type": "text", "text": "Hi"}]},
                    {"role": "assistant", "content": [{"type": "text", "text": "Bonjour"}]},
                    {"role": "user", "content": [{"type": "text", "text": "How are you?"}]}
                ],
                "temperature": 0.5, "stop_sequences": ["END"],
                "metadata": {"user_id": "u-1"}
            })
        );
    }

    #[test]
    fn prefers_max_completion_tokens_and_marks_streams() {
        let request: ChatCompletionRequest = serde_json::from_value(json!({
            "model": "m", "messages": [{"role": "user", "content": "x"}],
            "max_tokens": 100, "max_completion_tokens": 50
        }))
        .unwrap();
        let body = messages_request(&request, "m", true).unwrap();
        assert_eq!(body["max_tokens"], json!(50));
        assert_eq!(body["stream"], json!(true));
    }

    #[test]
    fn translates_images_from_data_and_web_urls() {
        let body = translate(json!({
            "model": "m",
            "messages": [{"role": "user", "content": [
                {"type": "text", "text": "Compare"},
                {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="}},
                {"type": "image_url", "image_url": {"url": "https://example.com/cat.jpg"}}
            ]}]
        }));
        assert_eq!(
            body["messages"][0]["content"],
            json!([
                {"type": "text", "text": "Compare"},
                {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "iVBORw0KGgo="}},
                {"type": "image", "source": {"type": "url", "url": "https://example.com/cat.jpg"}}
            ])
        );
    }

    #[test]
    fn translates_tools_tool_calls_and_merges_consecutive_tool_results_into_one_user_turn() {
        let body = translate(json!({
            "model": "m",
            "messages": [
                {"role": "user", "content": "Weather in Paris and Rome?"},
                {"role": "assistant", "content": null, "tool_calls": [
                    {"id": "toolu_1", "type": "function", "function": {"name": "get_weather", "arguments": "{\"city\":\"Paris\"}"}},
                    {"id": "toolu_2", "type": "function", "function": {"name": "get_weather", "arguments": "{\"city\":\"Rome\"}"}}
                ]},
                {"role": "tool", "tool_call_id": "toolu_1", "content": "21C"},
                {"role": "tool", "tool_call_id": "toolu_2", "content": "25C"},
                {"role": "user", "content": "Thanks. Which is warmer?"}
            ],
            "tools": [{"type": "function", "function": {"name": "get_weather", "description": "Current weather",
                "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}}],
            "tool_choice": "required",
            "parallel_tool_calls": false
        }));
        assert_eq!(
            body["tools"],
            json!([{"name": "get_weather", "description": "Current weather",
                "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}])
        );
        assert_eq!(body["tool_choice"], json!({"type": "any", "disable_parallel_tool_use": true}));
        assert_eq!(
            body["messages"],
            json!([
                {"role": "user", "content": [{"type": "text", "text": "Weather in Paris and Rome?"}]},
                {"role": "assistant", "content": [
                    {"type": "tool_use", "id": "toolu_1", "name": "get_weather", "input": {"city": "Paris"}},
                    {"type": "tool_use", "id": "toolu_2", "name": "get_weather", "input": {"city": "Rome"}}
                ]},
                {"role": "user", "content": [
                    {"type": "tool_result", "tool_use_id": "toolu_1", "content": "21C"},
                    {"type": "tool_result", "tool_use_id": "toolu_2", "content": "25C"},
                    {"type": "text", "text": "Thanks. Which is warmer?"}
                ]}
            ])
        );
    }

    #[test]
    fn maps_every_tool_choice() {
        let with_choice = |choice: Value| {
            translate(json!({
                "model": "m", "messages": [{"role": "user", "content": "x"}],
                "tools": [{"type": "function", "function": {"name": "f"}}],
                "tool_choice": choice
            }))
        };
        assert_eq!(with_choice(json!("auto"))["tool_choice"], json!({"type": "auto"}));
        assert_eq!(with_choice(json!("none"))["tool_choice"], json!({"type": "none"}));
        assert_eq!(with_choice(json!("required"))["tool_choice"], json!({"type": "any"}));
        assert_eq!(
            with_choice(json!({"type": "function", "function": {"name": "f"}}))["tool_choice"],
            json!({"type": "tool", "name": "f"})
        );
        assert_eq!(with_choice(json!("auto"))["tools"][0]["input_schema"], json!({"type": "object", "properties": {}}));
    }

    #[test]
    fn refuses_what_anthropic_cannot_express() {
        let refuse = |body: Value| {
            let request: ChatCompletionRequest = serde_json::from_value(body).unwrap();
            messages_request(&request, "m", false).unwrap_err()
        };
        let error = refuse(json!({"model": "m", "messages": [{"role": "user", "content": "x"}], "n": 2}));
        assert_eq!(error.http_status(), 400);
        refuse(json!({"model": "m", "messages": [{"role": "user", "content": "x"}],
            "response_format": {"type": "yaml"}}));
        refuse(json!({"model": "m", "messages": [{"role": "user", "content": [
            {"type": "file", "file": {"file_id": "file-abc123"}}]}]}));
        refuse(json!({"model": "m", "messages": [{"role": "user", "content": "x"}], "reasoning_effort": "extreme"}));
        refuse(json!({"model": "m", "messages": [{"role": "user", "content": "x"}], "reasoning_effort": "low",
            "max_tokens": 1024}));
        refuse(json!({"model": "m", "messages": [{"role": "user", "content": "x"}], "reasoning_effort": "low",
            "tools": [{"type": "function", "function": {"name": "f"}}], "tool_choice": "required"}));
        refuse(json!({"model": "m", "messages": [{"role": "user", "content": "x"}],
            "tools": [{"type": "function", "function": {"name": JSON_TOOL_NAME}}]}));
        refuse(json!({"model": "m", "messages": [{"role": "user", "content": [
            {"type": "input_audio", "input_audio": {"data": "AA", "format": "wav"}}]}]}));
        refuse(json!({"model": "m", "messages": [{"role": "user", "content": "x"},
            {"role": "assistant", "tool_calls": [{"id": "a", "type": "function", "function": {"name": "f", "arguments": "[1]"}}]}]}));
    }

    fn translate_for(model: &str, body: Value) -> Value {
        let request: ChatCompletionRequest = serde_json::from_value(body).unwrap();
        messages_request(&request, model, false).unwrap()
    }

    #[test]
    fn reads_family_and_version_from_claude_model_names() {
        let parsed = |name: &str| {
            let model = ClaudeModel::parse(name);
            (model.family, model.version)
        };
        assert_eq!(parsed("claude-sonnet-4-5-20250929"), (Some("sonnet".into()), Some((4, 5))));
        assert_eq!(parsed("claude-opus-4-20250514"), (Some("opus".into()), Some((4, 0))));
        assert_eq!(parsed("claude-opus-4-1"), (Some("opus".into()), Some((4, 1))));
        assert_eq!(parsed("claude-3-7-sonnet-latest"), (Some("sonnet".into()), Some((3, 7))));
        assert_eq!(parsed("claude-3-5-haiku-20241022"), (Some("haiku".into()), Some((3, 5))));
        assert_eq!(parsed("claude-sonnet-5"), (Some("sonnet".into()), Some((5, 0))));
        assert_eq!(parsed("my-finetune"), (None, None));
        let rules = |name: &str| {
            let model = ClaudeModel::parse(name);
            (model.has_structured_outputs(), model.takes_one_sampler_only(), model.thinks_adaptively())
        };
        assert_eq!(rules("claude-sonnet-4-5"), (true, true, false));
        assert_eq!(rules("claude-haiku-4-5-20251001"), (true, true, false));
        assert_eq!(rules("claude-opus-4-1"), (false, true, false));
        assert_eq!(rules("claude-opus-4-0"), (false, false, false));
        assert_eq!(rules("claude-sonnet-4-0"), (false, false, false));
        assert_eq!(rules("claude-3-7-sonnet-latest"), (false, false, false));
        assert_eq!(rules("claude-opus-4-7"), (true, true, true));
        assert_eq!(rules("something-else"), (false, true, false));
    }

    #[test]
    fn clamps_temperature_and_sends_one_sampler_to_models_that_take_one() {
        let ask = |temperature: f64, top_p: f64| {
            json!({"model": "m", "messages": [{"role": "user", "content": "x"}],
                "temperature": temperature, "top_p": top_p, "top_k": 40})
        };
        let body = translate_for("claude-sonnet-4-5", ask(1.6, 0.9));
        assert_eq!((body.get("temperature"), body.get("top_p")), (Some(&json!(1.0)), None));
        assert_eq!(body["top_k"], json!(40));
        let body = translate_for("claude-sonnet-4-0", ask(0.3, 0.9));
        assert_eq!((body["temperature"].clone(), body["top_p"].clone()), (json!(0.3), json!(0.9)));
        let only_top_p: ChatCompletionRequest = serde_json::from_value(json!({
            "model": "m", "messages": [{"role": "user", "content": "x"}], "top_p": 0.5}))
        .unwrap();
        let body = messages_request(&only_top_p, "claude-haiku-4-5", false).unwrap();
        assert_eq!((body.get("temperature"), body["top_p"].clone()), (None, json!(0.5)));
    }

    #[test]
    fn asks_for_json_by_structured_outputs_or_a_forced_tool() {
        let schema = json!({"type": "object", "properties": {"city": {"type": "string"}},
            "required": ["city"], "additionalProperties": false});
        let ask = json!({"model": "m", "messages": [{"role": "user", "content": "x"}],
            "response_format": {"type": "json_schema", "json_schema": {"name": "place", "strict": true, "schema": schema}}});
        let body = translate_for("claude-sonnet-4-5", ask.clone());
        assert_eq!(body["output_config"], json!({"format": {"type": "json_schema", "schema": schema}}));
        assert!(body.get("tools").is_none());

        let body = translate_for("claude-opus-4-1", ask);
        assert!(body.get("output_config").is_none());
        assert_eq!(body["tools"][0]["name"], JSON_TOOL_NAME);
        assert_eq!(body["tools"][0]["input_schema"], schema);
        assert_eq!(body["tool_choice"], json!({"type": "tool", "name": JSON_TOOL_NAME}));

        // Outside Anthropic's subset (no additionalProperties: false): the forced tool.
        let loose = json!({"model": "m", "messages": [{"role": "user", "content": "x"}],
            "response_format": {"type": "json_schema", "json_schema": {"name": "n",
                "schema": {"type": "object", "properties": {"n": {"type": "integer", "minimum": 1}}}}}});
        let body = translate_for("claude-sonnet-4-5", loose);
        assert_eq!(body["tool_choice"]["name"], JSON_TOOL_NAME);

        let json_mode = json!({"model": "m", "messages": [{"role": "user", "content": "x"}],
            "response_format": {"type": "json_object"}});
        let body = translate_for("claude-sonnet-4-5", json_mode);
        assert_eq!(body["tools"][0]["input_schema"]["additionalProperties"], json!(true));
    }

    #[test]
    fn keeps_cache_control_on_parts_system_blocks_tools_and_tool_results() {
        let ephemeral = json!({"type": "ephemeral"});
        let body = translate(json!({
            "model": "m",
            "messages": [
                {"role": "system", "content": [{"type": "text", "text": "Long rules", "cache_control": {"type": "ephemeral", "ttl": "1h"}}]},
                {"role": "system", "content": "More"},
                {"role": "user", "content": [
                    {"type": "text", "text": "Big document", "cache_control": ephemeral},
                    {"type": "image_url", "image_url": {"url": "https://example.com/a.png"}, "cache_control": ephemeral}
                ]},
                {"role": "assistant", "tool_calls": [{"id": "toolu_1", "type": "function", "function": {"name": "f", "arguments": "{}"}}]},
                {"role": "tool", "tool_call_id": "toolu_1", "content": "result", "cache_control": ephemeral}
            ],
            "tools": [{"type": "function", "function": {"name": "f"}, "cache_control": ephemeral}]
        }));
        assert_eq!(
            body["system"],
            json!([{"type": "text", "text": "Long rules", "cache_control": {"type": "ephemeral", "ttl": "1h"}},
                   {"type": "text", "text": "More"}])
        );
        assert_eq!(body["messages"][0]["content"][0]["cache_control"], ephemeral);
        assert_eq!(body["messages"][0]["content"][1]["cache_control"], ephemeral);
        assert_eq!(body["messages"][2]["content"][0]["cache_control"], ephemeral);
        assert_eq!(body["tools"][0]["cache_control"], ephemeral);
    }

    #[test]
    fn sends_user_ids_that_look_personal_as_a_hash() {
        let user_id = |user: &str| {
            translate(json!({"model": "m", "messages": [{"role": "user", "content": "x"}], "user": user}))["metadata"]
                ["user_id"]
                .clone()
        };
        assert_eq!(user_id("u-1234"), json!("u-1234"));
        let hashed = user_id("jane.doe@example.com");
        let hashed = hashed.as_str().unwrap();
        assert!(hashed.starts_with("u_") && hashed.len() == 66, "{hashed}");
        assert_eq!(user_id("jane.doe@example.com"), json!(hashed), "stable");
        assert!(user_id("+1 (555) 123-4567").as_str().unwrap().starts_with("u_"));
        assert!(user_id(&"x".repeat(300)).as_str().unwrap().starts_with("u_"));
        assert_eq!(user_id(&"x".repeat(256)), json!("x".repeat(256)));
    }

    #[test]
    fn maps_reasoning_effort_to_a_thinking_budget_below_max_tokens() {
        let think = |effort: &str, extra: Value| {
            let mut body = json!({"model": "m", "messages": [{"role": "user", "content": "x"}],
                "reasoning_effort": effort, "temperature": 0.2, "top_p": 0.5, "top_k": 5});
            body.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
            translate_for("claude-sonnet-4-5", body)
        };
        let body = think("high", json!({}));
        assert_eq!(body["thinking"], json!({"type": "enabled", "budget_tokens": 16384}));
        assert_eq!((body.get("temperature"), body.get("top_k")), (None, None));
        assert_eq!(body["top_p"], json!(0.95));
        assert_eq!(think("low", json!({}))["thinking"]["budget_tokens"], json!(2048));
        assert_eq!(think("minimal", json!({}))["thinking"]["budget_tokens"], json!(1024));
        assert_eq!(think("high", json!({"max_tokens": 5000}))["thinking"]["budget_tokens"], json!(4999));
        assert!(think("none", json!({})).get("thinking").is_none());
        let adaptive = translate_for(
            "claude-opus-4-7",
            json!({"model": "m", "messages": [{"role": "user", "content": "x"}], "reasoning_effort": "medium"}),
        );
        assert_eq!(adaptive["thinking"], json!({"type": "adaptive"}));
        assert_eq!(adaptive["output_config"], json!({"effort": "medium"}));
    }

    #[test]
    fn sends_thinking_blocks_back_first_and_pdfs_as_documents() {
        let thinking = json!({"type": "thinking", "thinking": "Let me think.", "signature": "sig"});
        let body = translate(json!({
            "model": "m",
            "messages": [
                {"role": "user", "content": [
                    {"type": "text", "text": "Summarise"},
                    {"type": "file", "file": {"file_data": "data:application/pdf;base64,JVBERi0=", "filename": "a.pdf"},
                     "cache_control": {"type": "ephemeral"}},
                    {"type": "file", "file": {"file_data": "https://example.com/b.pdf"}}
                ]},
                {"role": "assistant", "content": "Checking.", "reasoning_content": "Let me think.",
                 "thinking_blocks": [thinking, {"type": "redacted_thinking", "data": "abc"}],
                 "tool_calls": [{"id": "toolu_1", "type": "function", "function": {"name": "f", "arguments": "{}"}}]},
                {"role": "tool", "tool_call_id": "toolu_1", "content": "done"}
            ]
        }));
        assert_eq!(
            body["messages"][0]["content"][1],
            json!({"type": "document", "source": {"type": "base64", "media_type": "application/pdf", "data": "JVBERi0="},
                   "cache_control": {"type": "ephemeral"}})
        );
        assert_eq!(
            body["messages"][0]["content"][2],
            json!({"type": "document", "source": {"type": "url", "url": "https://example.com/b.pdf"}})
        );
        let assistant = body["messages"][1]["content"].as_array().unwrap();
        let kinds: Vec<&str> = assistant.iter().map(|b| b["type"].as_str().unwrap()).collect();
        assert_eq!(kinds, ["thinking", "redacted_thinking", "text", "tool_use"]);
        assert_eq!(assistant[0], thinking);
    }

    #[test]
    fn defaults_max_tokens_to_the_models_maximum_output_or_4096() {
        let ask = json!({"model": "m", "messages": [{"role": "user", "content": "x"}]});
        assert_eq!(translate_for("claude-opus-4-1", ask.clone())["max_tokens"], json!(32000));
        assert_eq!(translate_for("claude-3-5-haiku-20241022", ask.clone())["max_tokens"], json!(8192));
        assert_eq!(translate_for("claude-unknown-9", ask)["max_tokens"], json!(DEFAULT_MAX_TOKENS));
    }
}
