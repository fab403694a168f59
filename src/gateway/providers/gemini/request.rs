use std::collections::HashMap;

use serde_json::{json, Map, Value};

use super::signature::{signature_of, SKIP_VALIDATOR};
use crate::gateway::openai::{
    ChatCompletionRequest, ChatMessage, ContentPart, MessageContent, Role, ToolChoice, ToolChoiceMode,
};
use crate::gateway::providers::content::{arguments_object, parse_data_url};
use crate::gateway::providers::ProviderError;

/// Where a thought signature that came on a text part (not on a function call) rides
/// in OpenAI terms: Google's own OpenAI-compatible endpoint calls it
/// `extra_content.google.thought_signature`, on the assistant message.
pub(crate) const TEXT_SIGNATURE_POINTER: &str = "/google/thought_signature";
pub(crate) const EXTRA_CONTENT: &str = "extra_content";

/// What the request translation needs to know of the upstream model, read from its
/// name (`gemini-2.5-flash`, `models/gemini-3-pro-preview`, `gemini-3.1-flash-lite`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ModelFamily {
    /// `(major, minor)` of a `gemini-<major>[.<minor>]` name; `None` for other names.
    version: Option<(u32, u32)>,
    flash: bool,
    flash_lite: bool,
}

impl ModelFamily {
    pub(crate) fn of(model: &str) -> Self {
        let name = model.rsplit('/').next().unwrap_or(model).to_ascii_lowercase();
        let version = name.strip_prefix("gemini-").and_then(|rest| {
            let number = rest.split('-').next().unwrap_or_default();
            let (major, minor) = number.split_once('.').unwrap_or((number, "0"));
            Some((major.parse().ok()?, minor.parse().ok()?))
        });
        ModelFamily { version, flash: name.contains("flash"), flash_lite: name.contains("flash-lite") }
    }

    /// Gemini 3 and later: `thinkingLevel`, and thought signatures enforced on function calls.
    pub(crate) fn is_gemini_3_or_later(self) -> bool {
        self.version.is_some_and(|(major, _)| major >= 3)
    }
}

/// The `generateContent` body for an OpenAI request (the model goes in the URL).
pub(crate) fn generate_content_request(
    request: &ChatCompletionRequest,
    upstream_model: &str,
) -> Result<Value, ProviderError> {
    let family = ModelFamily::of(upstream_model);
    let mut system = Vec::new();
    let mut contents: Vec<(&'static str, Vec<Value>)> = Vec::new();
    // Gemini answers tool results by function name, OpenAI by call id.
    let mut names_by_call_id: HashMap<&str, &str> = HashMap::new();
    for message in &request.messages {
        let (role, parts) = match message.role {
            Role::System | Role::Developer => {
                system.push(json!({"text": message.text()}));
                continue;
            }
            Role::User => ("user", parts(message.content.as_ref())?),
            Role::Assistant => ("model", model_parts(message, &mut names_by_call_id)?),
            Role::Tool => ("user", vec![function_response(message, &names_by_call_id)?]),
        };
        // Parallel function responses must share one turn; so must consecutive user turns.
        match contents.last_mut() {
            Some((last_role, last_parts)) if *last_role == role => last_parts.extend(parts),
            _ => contents.push((role, parts)),
        }
    }
    if family.is_gemini_3_or_later() {
        sign_unsigned_steps(&mut contents);
    }

    let mut body = Map::new();
    body.insert(
        "contents".into(),
        Value::Array(contents.into_iter().map(|(role, parts)| json!({"role": role, "parts": parts})).collect()),
    );
    if !system.is_empty() {
        body.insert("systemInstruction".into(), json!({"parts": system}));
    }
    if let Some(tools) = request.tools.as_ref().filter(|tools| !tools.is_empty()) {
        let declarations: Vec<Value> = tools
            .iter()
            .map(|tool| {
                let function = tool.as_function().ok_or_else(|| {
                    ProviderError::UnsupportedRequest(format!(
                        "tools of type \"{}\" are not supported by Gemini models; use function tools",
                        tool.kind
                    ))
                })?;
                let mut declaration = Map::new();
                declaration.insert("name".into(), json!(function.name));
                if let Some(description) = &function.description {
                    declaration.insert("description".into(), json!(description));
                }
                // `parameters` is an OpenAPI subset that refuses `$ref`, `$defs`, `const`
                // and more; `parametersJsonSchema` takes the JSON Schema MCP servers and
                // Pydantic models produce (FunctionDeclaration in the API reference).
                if let Some(parameters) = &function.parameters {
                    declaration.insert("parametersJsonSchema".into(), json_schema(parameters));
                }
                Ok(Value::Object(declaration))
            })
            .collect::<Result<_, ProviderError>>()?;
        body.insert("tools".into(), json!([{"functionDeclarations": declarations}]));
    }
    if let Some(choice) = &request.tool_choice {
        let config = match choice {
            ToolChoice::Mode(ToolChoiceMode::Auto) => json!({"mode": "AUTO"}),
            ToolChoice::Mode(ToolChoiceMode::None) => json!({"mode": "NONE"}),
            ToolChoice::Mode(ToolChoiceMode::Required) => json!({"mode": "ANY"}),
            ToolChoice::Named(named) => {
                json!({"mode": "ANY", "allowedFunctionNames": [named.function.name]})
            }
            ToolChoice::Other(_) => {
                return Err(ProviderError::UnsupportedRequest(
                    "this `tool_choice` is not supported by Gemini models; use \"none\", \"auto\", \"required\" or a named function".into(),
                ))
            }
        };
        body.insert("toolConfig".into(), json!({"functionCallingConfig": config}));
    }
    let config = generation_config(request, family)?;
    if !config.is_empty() {
        body.insert("generationConfig".into(), Value::Object(config));
    }
    Ok(Value::Object(body))
}

/// An assistant message as a `model` turn: its text, then its function calls, each with
/// the thought signature its id carries, in the part Gemini attached it to.
fn model_parts<'a>(
    message: &'a ChatMessage,
    names_by_call_id: &mut HashMap<&'a str, &'a str>,
) -> Result<Vec<Value>, ProviderError> {
    let mut parts = parts(message.content.as_ref())?;
    let text_signature = message
        .extra
        .get(EXTRA_CONTENT)
        .and_then(|extra| extra.pointer(TEXT_SIGNATURE_POINTER))
        .and_then(Value::as_str)
        .filter(|signature| !signature.is_empty());
    if let Some(signature) = text_signature {
        // Gemini returns it on the last part of an answer without function calls.
        if let Some(last_text) = parts.iter_mut().rev().find(|part| part.get("text").is_some()) {
            last_text["thoughtSignature"] = json!(signature);
        }
    }
    for call in message.tool_calls.iter().flatten() {
        if call.as_function().is_none() {
            return Err(ProviderError::UnsupportedRequest(format!(
                "tool calls of type \"{}\" are not supported by Gemini models; use function tools",
                call.kind
            )));
        }
        names_by_call_id.insert(&call.id, &call.function.name);
        let mut part = json!({"functionCall": {
            "name": call.function.name,
            "args": arguments_object(&call.function.arguments)?,
        }});
        if let Some(signature) = signature_of(&call.id) {
            part["thoughtSignature"] = json!(signature);
        }
        parts.push(part);
    }
    Ok(parts)
}

/// Gemini 3 refuses the current turn (everything after the last user message that is
/// not only function responses) if the first function call of any of its steps has no
/// signature. Where none came back (history from another model, a client that rewrote
/// the ids, a signature too long to carry), Google documents a placeholder that skips
/// the check, at some cost in reasoning quality.
fn sign_unsigned_steps(contents: &mut [(&'static str, Vec<Value>)]) {
    let turn_start = contents
        .iter()
        .rposition(|(role, parts)| *role == "user" && parts.iter().any(|part| part.get("functionResponse").is_none()))
        .map_or(0, |index| index + 1);
    for (role, parts) in &mut contents[turn_start..] {
        if *role != "model" {
            continue;
        }
        if let Some(first_call) = parts.iter_mut().find(|part| part.get("functionCall").is_some()) {
            if first_call.get("thoughtSignature").is_none() {
                first_call["thoughtSignature"] = json!(SKIP_VALIDATOR);
            }
        }
    }
}

/// OpenAI `reasoning_effort` values GaiaRouter translates.
const EFFORTS: &str = "\"none\", \"minimal\", \"low\", \"medium\", \"high\" or \"xhigh\"";

/// `reasoning_effort` as Gemini's `thinkingConfig`. Gemini 3 takes a `thinkingLevel`
/// (Pro has no `minimal`, and Gemini 3.0 Pro no `medium`); Gemini 2.5 and any model
/// whose name GaiaRouter does not recognise take a `thinkingBudget`, the budgets
/// Google's own OpenAI-compatible endpoint uses (1K, 8K, 24K for low, medium, high;
/// `minimal` is 512, the least every 2.5 model accepts). `none` turns thinking off
/// where the model allows it (2.5 Pro cannot: its least budget; Gemini 3: its lowest
/// level). Thoughts are asked for whenever reasoning is, to answer them as
/// `reasoning_content`.
fn thinking_config(effort: &str, family: ModelFamily) -> Result<Value, ProviderError> {
    let effort = effort.to_ascii_lowercase();
    let known = matches!(effort.as_str(), "none" | "minimal" | "low" | "medium" | "high" | "xhigh");
    if !known {
        return Err(ProviderError::UnsupportedRequest(format!(
            "`reasoning_effort` must be {EFFORTS} for Gemini models"
        )));
    }
    let include_thoughts = effort != "none";
    if family.is_gemini_3_or_later() {
        let lowest = if family.flash { "minimal" } else { "low" };
        let level = match effort.as_str() {
            "none" | "minimal" => lowest,
            "low" => "low",
            "medium" if !family.flash && family.version == Some((3, 0)) => "high",
            "medium" => "medium",
            _ => "high",
        };
        return Ok(json!({"thinkingLevel": level, "includeThoughts": include_thoughts}));
    }
    let pro = !family.flash && family.version.is_some();
    let budget = match effort.as_str() {
        "none" if pro => 128,
        "none" => 0,
        "minimal" => 512,
        "low" => 1024,
        "medium" => 8192,
        _ => 24_576,
    };
    // Flash-Lite takes 0 or 512 and more; 128 is only for Pro.
    let budget = if family.flash_lite && budget > 0 { budget.max(512) } else { budget };
    Ok(json!({"thinkingBudget": budget, "includeThoughts": include_thoughts}))
}

fn generation_config(
    request: &ChatCompletionRequest,
    family: ModelFamily,
) -> Result<Map<String, Value>, ProviderError> {
    let mut config = Map::new();
    let mut set = |key: &str, value: Option<Value>| {
        if let Some(value) = value {
            config.insert(key.into(), value);
        }
    };
    set("maxOutputTokens", request.output_token_limit().map(|v| json!(v)));
    set("temperature", request.temperature.map(|v| json!(v)));
    set("topP", request.top_p.map(|v| json!(v)));
    let top_k = match request.extra.get("top_k") {
        None | Some(Value::Null) => None,
        Some(value) => Some(value.as_u64().filter(|k| *k > 0).ok_or_else(|| {
            ProviderError::UnsupportedRequest("`top_k` must be a positive integer for Gemini models".into())
        })?),
    };
    set("topK", top_k.map(|v| json!(v)));
    let stops = request.stop_sequences();
    set("stopSequences", (!stops.is_empty()).then(|| json!(stops)));
    set("candidateCount", request.n.map(|v| json!(v)));
    set("presencePenalty", request.presence_penalty.map(|v| json!(v)));
    set("frequencyPenalty", request.frequency_penalty.map(|v| json!(v)));
    set("seed", request.seed.map(|v| json!(v)));
    if let Some(effort) = &request.reasoning_effort {
        set("thinkingConfig", Some(thinking_config(effort, family)?));
    }
    if let Some(format) = &request.response_format {
        match format.get("type").and_then(Value::as_str) {
            Some("text") | None => {}
            Some("json_object") => set("responseMimeType", Some(json!("application/json"))),
            Some("json_schema") => {
                set("responseMimeType", Some(json!("application/json")));
                set("responseJsonSchema", format.pointer("/json_schema/schema").cloned());
            }
            Some(other) => {
                return Err(ProviderError::UnsupportedRequest(format!(
                    "Gemini models do not support response_format type `{other}`"
                )))
            }
        }
    }
    Ok(config)
}

fn parts(content: Option<&MessageContent>) -> Result<Vec<Value>, ProviderError> {
    match content {
        None => Ok(Vec::new()),
        Some(MessageContent::Text(text)) if text.is_empty() => Ok(Vec::new()),
        Some(MessageContent::Text(text)) => Ok(vec![json!({"text": text})]),
        Some(MessageContent::Parts(items)) => items
            .iter()
            .map(|part| match part {
                ContentPart::Text { text, .. } => Ok(json!({"text": text})),
                ContentPart::ImageUrl { image_url, .. } => image_part(&image_url.url),
                ContentPart::Other(other) => other_part(other),
            })
            .collect(),
    }
}

/// OpenAI's `input_audio` and `file` parts as Gemini `inlineData` / `fileData`.
fn other_part(part: &Value) -> Result<Value, ProviderError> {
    match part.get("type").and_then(Value::as_str) {
        Some("input_audio") => audio_part(part.get("input_audio").unwrap_or(&Value::Null)),
        Some("file") => file_part(part.get("file").unwrap_or(&Value::Null)),
        kind => Err(ProviderError::UnsupportedRequest(format!(
            "Gemini models do not accept content parts of type {} through GaiaRouter",
            kind.map_or_else(|| "(none)".to_owned(), |kind| format!("\"{}\"", bounded(kind)))
        ))),
    }
}

/// A client string quoted back in an error, cut to a readable length.
fn bounded(text: &str) -> String {
    const MAX: usize = 64;
    match text.char_indices().nth(MAX) {
        Some((end, _)) => format!("{}…", &text[..end]),
        None => text.to_owned(),
    }
}

/// `{"data": <base64>, "format": "wav" | "mp3"}`. Gemini's audio MIME types are
/// `audio/<format>` for every format both APIs know.
fn audio_part(audio: &Value) -> Result<Value, ProviderError> {
    let data = audio.get("data").and_then(Value::as_str).filter(|data| !data.is_empty());
    let format = audio.get("format").and_then(Value::as_str).map(str::to_ascii_lowercase);
    let (Some(data), Some(format)) = (data, format) else {
        return Err(ProviderError::UnsupportedRequest(
            "an `input_audio` part needs `input_audio.data` (base64) and `input_audio.format`".into(),
        ));
    };
    let mime_type = match format.as_str() {
        "wav" | "mp3" | "aiff" | "aac" | "ogg" | "flac" => format!("audio/{format}"),
        "mpeg" => "audio/mp3".to_owned(),
        other => {
            return Err(ProviderError::UnsupportedRequest(format!(
                "Gemini models do not accept audio in format \"{}\"; use wav, mp3, aiff, aac, ogg or flac",
                bounded(other)
            )))
        }
    };
    Ok(json!({"inlineData": {"mimeType": mime_type, "data": data}}))
}

/// `{"file_data": "data:<mime>;base64,..." | <URL>, "filename": ..}`, or `file_id`.
/// Inline data becomes `inlineData`; a `gs://` or `http(s)://` URL (in `file_data`, or
/// `file_uri` as some clients spell it) becomes `fileData`. OpenAI file ids name files
/// in OpenAI's storage, which Gemini cannot read.
fn file_part(file: &Value) -> Result<Value, ProviderError> {
    let text = |key: &str| file.get(key).and_then(Value::as_str).filter(|value| !value.is_empty());
    let filename = text("filename");
    let declared = text("format").or_else(|| text("mime_type"));
    if let Some(data) = text("file_data") {
        if let Some((mime_type, data)) = parse_data_url(data) {
            return Ok(json!({"inlineData": {"mimeType": mime_type, "data": data}}));
        }
        if !is_remote(data) {
            // Raw base64, as some clients send it: the MIME type must come from somewhere.
            let mime_type = declared.or_else(|| filename.and_then(document_mime_type)).ok_or_else(|| {
                ProviderError::UnsupportedRequest(
                    "a `file` part's `file_data` must be a data: URL (data:<mime type>;base64,...) or name a file \
                     whose type Gemini can read"
                        .into(),
                )
            })?;
            return Ok(json!({"inlineData": {"mimeType": mime_type, "data": data}}));
        }
    }
    if let Some(uri) = text("file_data").or_else(|| text("file_uri")).filter(|uri| is_remote(uri)) {
        let mime_type = declared.or_else(|| document_mime_type(uri)).or_else(|| filename.and_then(document_mime_type));
        let mime_type = mime_type.ok_or_else(|| {
            ProviderError::UnsupportedRequest(
                "a `file` part with a URL needs its MIME type for Gemini: give `file.format` (e.g. \"application/pdf\")"
                    .into(),
            )
        })?;
        return Ok(json!({"fileData": {"mimeType": mime_type, "fileUri": uri}}));
    }
    if text("file_id").is_some() {
        return Err(ProviderError::UnsupportedRequest(
            "Gemini models cannot read OpenAI file ids (`file.file_id`); send the file inline as `file.file_data` \
             (a base64 data: URL) or as a gs:// or https URL"
                .into(),
        ));
    }
    Err(ProviderError::UnsupportedRequest(
        "a `file` part needs `file.file_data` (a base64 data: URL, or a gs:// or https URL)".into(),
    ))
}

fn is_remote(uri: &str) -> bool {
    uri.starts_with("https://") || uri.starts_with("http://") || uri.starts_with("gs://")
}

/// The MIME type of a document Gemini reads, from its name's extension.
fn document_mime_type(name: &str) -> Option<&'static str> {
    let path = name.split(['?', '#']).next().unwrap_or(name).to_ascii_lowercase();
    let extension = path.rsplit_once('.').map(|(_, extension)| extension)?;
    Some(match extension {
        "pdf" => "application/pdf",
        "txt" => "text/plain",
        "md" => "text/markdown",
        "html" | "htm" => "text/html",
        "csv" => "text/csv",
        "xml" => "text/xml",
        "json" => "application/json",
        "wav" => "audio/wav",
        "mp3" => "audio/mp3",
        "flac" => "audio/flac",
        "ogg" => "audio/ogg",
        "aac" => "audio/aac",
        "mp4" => "video/mp4",
        "mov" => "video/mov",
        "webm" => "video/webm",
        "png" => "image/png",
        "jpg" | "jpeg" => "image/jpeg",
        "webp" => "image/webp",
        "heic" => "image/heic",
        "gif" => "image/gif",
        _ => return None,
    })
}

fn image_part(url: &str) -> Result<Value, ProviderError> {
    if let Some((mime_type, data)) = parse_data_url(url) {
        return Ok(json!({"inlineData": {"mimeType": mime_type, "data": data}}));
    }
    if url.starts_with("http://") || url.starts_with("https://") {
        return Ok(json!({"fileData": {"mimeType": mime_type_of(url), "fileUri": url}}));
    }
    Err(ProviderError::UnsupportedRequest("image_url must be an http(s) URL or a base64 data: URL".into()))
}

/// Gemini's `fileData` needs a MIME type; guess it from the URL's extension.
fn mime_type_of(url: &str) -> &'static str {
    let path = url.split(['?', '#']).next().unwrap_or(url).to_ascii_lowercase();
    match path.rsplit('.').next() {
        Some("png") => "image/png",
        Some("webp") => "image/webp",
        Some("gif") => "image/gif",
        Some("heic") => "image/heic",
        _ => "image/jpeg",
    }
}

/// A tool result as a `functionResponse`. Gemini wants an object: a JSON object result
/// is sent as is, anything else as `{"result": <value or text>}`.
fn function_response(message: &ChatMessage, names: &HashMap<&str, &str>) -> Result<Value, ProviderError> {
    let call_id = message.tool_call_id.as_deref().unwrap_or_default();
    let name = names.get(call_id).copied().or(message.name.as_deref()).ok_or_else(|| {
        ProviderError::UnsupportedRequest(format!(
            "tool message answers tool_call_id `{}`, which no earlier assistant message called",
            bounded(call_id)
        ))
    })?;
    let text = message.text();
    let response = match serde_json::from_str::<Value>(&text) {
        Ok(object @ Value::Object(_)) => object,
        Ok(other) => json!({"result": other}),
        Err(_) => json!({"result": text}),
    };
    Ok(json!({"functionResponse": {"name": name, "response": response}}))
}

/// The client's JSON Schema as `parametersJsonSchema` takes it: as is, but for the
/// root `$schema` dialect marker, which the endpoint does not need.
fn json_schema(schema: &Value) -> Value {
    match schema {
        Value::Object(map) => Value::Object(
            map.iter().filter(|(key, _)| *key != "$schema").map(|(k, v)| (k.clone(), v.clone())).collect(),
        ),
        other => other.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn translate(body: Value) -> Value {
        let request: ChatCompletionRequest = serde_json::from_value(body).unwrap();
        generate_content_request(&request, "gemini-2.5-flash").unwrap()
    }

    #[test]
    fn maps_roles_system_instruction_and_generation_config() {
        let body = translate(json!({
            "model": "google/gemini-2.5-flash",
            "messages": [
                {"role": "system", "content": "Be terse."},
                {"role": "user", "content": "Hi"},
                {"role": "assistant", "content": "Hello"},
                {"role": "user", "content": "Bye"}
            ],
            "max_tokens": 256, "temperature": 0.3, "top_p": 0.8, "stop": "END", "n": 2
        }));
        assert_eq!(
            body,
            json!({
                "contents": [
                    {"role": "user", "parts": [{"text": "Hi"}]},
                    {"role": "model", "parts": [{"text": "Hello"}]},
                    {"role": "user", "parts": [{"text": "Bye"}]}
                ],
                "systemInstruction": {"parts": [{"text": "Be terse."}]},
                "generationConfig": {"maxOutputTokens": 256, "temperature": 0.3, "topP": 0.8,
                    "stopSequences": ["END"], "candidateCount": 2}
            })
        );
    }

    #[test]
    fn translates_tools_function_calls_and_function_responses_by_name() {
        let body = translate(json!({
            "model": "m",
            "messages": [
                {"role": "user", "content": "Weather in Paris?"},
                {"role": "assistant", "content": null, "tool_calls": [
                    {"id": "call_abc", "type": "function", "function": {"name": "get_weather", "arguments": "{\"city\":\"Paris\"}"}}]},
                {"role": "tool", "tool_call_id": "call_abc", "content": "{\"temp_c\":21}"},
                {"role": "tool", "tool_call_id": "call_abc", "content": "sunny"}
            ],
            "tools": [{"type": "function", "function": {"name": "get_weather", "description": "Current weather",
                "parameters": {"$schema": "http://json-schema.org/draft-07/schema#", "type": "object",
                    "properties": {"city": {"type": "string"}, "additionalProperties": {"type": "string"}},
                    "required": ["city"], "additionalProperties": false}}}],
            "tool_choice": {"type": "function", "function": {"name": "get_weather"}}
        }));
        assert_eq!(
            body["tools"],
            json!([{"functionDeclarations": [{"name": "get_weather", "description": "Current weather",
                "parametersJsonSchema": {"type": "object",
                    "properties": {"city": {"type": "string"}, "additionalProperties": {"type": "string"}},
                    "required": ["city"], "additionalProperties": false}}]}])
        );
        assert_eq!(
            body["toolConfig"],
            json!({"functionCallingConfig": {"mode": "ANY", "allowedFunctionNames": ["get_weather"]}})
        );
        assert_eq!(
            body["contents"],
            json!([
                {"role": "user", "parts": [{"text": "Weather in Paris?"}]},
                {"role": "model", "parts": [{"functionCall": {"name": "get_weather", "args": {"city": "Paris"}}}]},
                {"role": "user", "parts": [
                    {"functionResponse": {"name": "get_weather", "response": {"temp_c": 21}}},
                    {"functionResponse": {"name": "get_weather", "response": {"result": "sunny"}}}
                ]}
            ])
        );
    }

    #[test]
    fn maps_tool_choice_modes_and_response_formats() {
        let with = |extra: Value| {
            let mut body = json!({"model": "m", "messages": [{"role": "user", "content": "x"}],
                "tools": [{"type": "function", "function": {"name": "f"}}]});
            body.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
            translate(body)
        };
        assert_eq!(
            with(json!({"tool_choice": "auto"}))["toolConfig"]["functionCallingConfig"],
            json!({"mode": "AUTO"})
        );
        assert_eq!(
            with(json!({"tool_choice": "none"}))["toolConfig"]["functionCallingConfig"],
            json!({"mode": "NONE"})
        );
        assert_eq!(
            with(json!({"tool_choice": "required"}))["toolConfig"]["functionCallingConfig"],
            json!({"mode": "ANY"})
        );
        let schema = json!({"type": "object", "properties": {"a": {"type": "integer"}}});
        let body =
            with(json!({"response_format": {"type": "json_schema", "json_schema": {"name": "x", "schema": schema}}}));
        assert_eq!(
            body["generationConfig"],
            json!({"responseMimeType": "application/json", "responseJsonSchema": schema})
        );
    }

    #[test]
    fn translates_images_to_inline_and_file_data() {
        let body = translate(json!({
            "model": "m",
            "messages": [{"role": "user", "content": [
                {"type": "text", "text": "What is it?"},
                {"type": "image_url", "image_url": {"url": "data:image/webp;base64,UklGR"}},
                {"type": "image_url", "image_url": {"url": "https://example.com/a.PNG?x=1"}}
            ]}]
        }));
        assert_eq!(
            body["contents"][0]["parts"],
            json!([
                {"text": "What is it?"},
                {"inlineData": {"mimeType": "image/webp", "data": "UklGR"}},
                {"fileData": {"mimeType": "image/png", "fileUri": "https://example.com/a.PNG?x=1"}}
            ])
        );
    }

    #[test]
    fn a_tool_result_for_an_unknown_call_is_refused() {
        let request: ChatCompletionRequest = serde_json::from_value(json!({
            "model": "m", "messages": [{"role": "user", "content": "x"}, {"role": "tool", "tool_call_id": "nope", "content": "1"}]
        }))
        .unwrap();
        assert_eq!(generate_content_request(&request, "gemini-2.5-flash").unwrap_err().http_status(), 400);
    }

    fn translate_for(model: &str, body: Value) -> Result<Value, ProviderError> {
        let request: ChatCompletionRequest = serde_json::from_value(body).unwrap();
        generate_content_request(&request, model)
    }

    fn tool_loop(first_id: &str, second_id: &str) -> Value {
        json!({"model": "m", "messages": [
            {"role": "user", "content": "Weather in Paris and Rome?"},
            {"role": "assistant", "content": null, "tool_calls": [
                {"id": first_id, "type": "function", "function": {"name": "get_weather", "arguments": "{\"city\":\"Paris\"}"}},
                {"id": second_id, "type": "function", "function": {"name": "get_weather", "arguments": "{\"city\":\"Rome\"}"}}]},
            {"role": "tool", "tool_call_id": first_id, "content": "21"},
            {"role": "tool", "tool_call_id": second_id, "content": "25"}
        ]})
    }

    #[test]
    fn a_signature_carried_in_a_call_id_goes_back_on_that_function_call() {
        let signed = super::super::signature::tool_call_id(Some("c2lnbmF0dXJl"));
        let body = translate_for("gemini-3-pro-preview", tool_loop(&signed, "call_plain")).unwrap();
        let parts = &body["contents"][1]["parts"];
        assert_eq!(parts[0]["thoughtSignature"], json!("c2lnbmF0dXJl"));
        assert_eq!(parts[1].get("thoughtSignature"), None);
        assert_eq!(body["contents"][2]["parts"][0]["functionResponse"]["name"], json!("get_weather"));
    }

    #[test]
    fn gemini_3_gets_googles_placeholder_where_no_signature_came_back() {
        let body = translate_for("gemini-3-flash-preview", tool_loop("call_a", "call_b")).unwrap();
        assert_eq!(body["contents"][1]["parts"][0]["thoughtSignature"], json!(SKIP_VALIDATOR));
        assert_eq!(body["contents"][1]["parts"][1].get("thoughtSignature"), None);
        // Gemini 2.5 does not check signatures: nothing invented for it.
        let body = translate_for("gemini-2.5-flash", tool_loop("call_a", "call_b")).unwrap();
        assert_eq!(body["contents"][1]["parts"][0].get("thoughtSignature"), None);
        // Only the current turn is checked: an earlier turn is left as it came.
        let mut earlier = tool_loop("call_a", "call_b");
        earlier["messages"]
            .as_array_mut()
            .unwrap()
            .extend([json!({"role": "assistant", "content": "Done."}), json!({"role": "user", "content": "Thanks"})]);
        let body = translate_for("gemini-3-pro-preview", earlier).unwrap();
        assert_eq!(body["contents"][1]["parts"][0].get("thoughtSignature"), None);
    }

    #[test]
    fn a_text_signature_goes_back_on_the_last_text_part() {
        let body = translate_for(
            "gemini-3-pro-preview",
            json!({"model": "m", "messages": [
                {"role": "user", "content": "Hi"},
                {"role": "assistant", "content": "Hello", "extra_content": {"google": {"thought_signature": "c2ln"}}},
                {"role": "user", "content": "Bye"}
            ]}),
        )
        .unwrap();
        assert_eq!(body["contents"][1]["parts"], json!([{"text": "Hello", "thoughtSignature": "c2ln"}]));
    }

    #[test]
    fn reasoning_effort_is_a_thinking_level_on_gemini_3_and_a_budget_before() {
        let config = |model: &str, effort: &str| {
            translate_for(
                model,
                json!({"model": "m", "messages": [{"role": "user", "content": "x"}],
                "reasoning_effort": effort}),
            )
            .map(|body| body["generationConfig"]["thinkingConfig"].clone())
        };
        assert_eq!(
            config("gemini-3-pro-preview", "low").unwrap(),
            json!({"thinkingLevel": "low", "includeThoughts": true})
        );
        assert_eq!(config("gemini-3-pro-preview", "medium").unwrap()["thinkingLevel"], json!("high"));
        assert_eq!(config("gemini-3.1-pro-preview", "medium").unwrap()["thinkingLevel"], json!("medium"));
        assert_eq!(config("gemini-3-pro-preview", "minimal").unwrap()["thinkingLevel"], json!("low"));
        assert_eq!(config("gemini-3-flash-preview", "minimal").unwrap()["thinkingLevel"], json!("minimal"));
        assert_eq!(
            config("models/gemini-3-flash-preview", "none").unwrap(),
            json!({"thinkingLevel": "minimal", "includeThoughts": false})
        );
        assert_eq!(config("gemini-3-pro-preview", "xhigh").unwrap()["thinkingLevel"], json!("high"));
        assert_eq!(
            config("gemini-2.5-flash", "low").unwrap(),
            json!({"thinkingBudget": 1024, "includeThoughts": true})
        );
        assert_eq!(config("gemini-2.5-flash", "high").unwrap()["thinkingBudget"], json!(24_576));
        assert_eq!(config("gemini-2.5-flash", "none").unwrap(), json!({"thinkingBudget": 0, "includeThoughts": false}));
        assert_eq!(config("gemini-2.5-pro", "none").unwrap()["thinkingBudget"], json!(128));
        assert_eq!(config("gemini-2.5-flash-lite", "minimal").unwrap()["thinkingBudget"], json!(512));
        assert_eq!(config("some-tuned-model", "medium").unwrap()["thinkingBudget"], json!(8192));
        assert_eq!(config("gemini-2.5-flash", "extreme").unwrap_err().http_status(), 400);
    }

    #[test]
    fn top_k_from_the_extra_fields_is_top_k() {
        let body = translate(json!({"model": "m", "messages": [{"role": "user", "content": "x"}], "top_k": 40}));
        assert_eq!(body["generationConfig"]["topK"], json!(40));
        let refused = translate_for(
            "gemini-2.5-flash",
            json!({"model": "m", "messages": [{"role": "user", "content": "x"}], "top_k": "many"}),
        );
        assert_eq!(refused.unwrap_err().http_status(), 400);
    }

    #[test]
    fn audio_and_file_parts_become_inline_or_file_data() {
        let body = translate(json!({"model": "m", "messages": [{"role": "user", "content": [
            {"type": "input_audio", "input_audio": {"data": "UklGRg==", "format": "wav"}},
            {"type": "input_audio", "input_audio": {"data": "SUQz", "format": "mp3"}},
            {"type": "file", "file": {"file_data": "data:application/pdf;base64,JVBERi0=", "filename": "a.pdf"}},
            {"type": "file", "file": {"file_data": "JVBERi0=", "filename": "report.PDF"}},
            {"type": "file", "file": {"file_data": "gs://bucket/doc.pdf"}},
            {"type": "file", "file": {"file_uri": "https://generativelanguage.googleapis.com/v1beta/files/abc", "format": "audio/ogg"}}
        ]}]}));
        assert_eq!(
            body["contents"][0]["parts"],
            json!([
                {"inlineData": {"mimeType": "audio/wav", "data": "UklGRg=="}},
                {"inlineData": {"mimeType": "audio/mp3", "data": "SUQz"}},
                {"inlineData": {"mimeType": "application/pdf", "data": "JVBERi0="}},
                {"inlineData": {"mimeType": "application/pdf", "data": "JVBERi0="}},
                {"fileData": {"mimeType": "application/pdf", "fileUri": "gs://bucket/doc.pdf"}},
                {"fileData": {"mimeType": "audio/ogg", "fileUri": "https://generativelanguage.googleapis.com/v1beta/files/abc"}}
            ])
        );
        let refused = |part: Value| {
            translate_for("gemini-2.5-flash", json!({"model": "m", "messages": [{"role": "user", "content": [part]}]}))
                .unwrap_err()
        };
        let file_id = refused(json!({"type": "file", "file": {"file_id": "file-abc123"}}));
        assert!(file_id.to_string().contains("file ids"), "{file_id}");
        assert_eq!(
            refused(json!({"type": "input_audio", "input_audio": {"data": "x", "format": "m4a"}})).http_status(),
            400
        );
        assert_eq!(
            refused(json!({"type": "file", "file": {"file_data": "https://x.example/blob"}})).http_status(),
            400
        );
        assert_eq!(refused(json!({"type": "video_url", "video_url": {}})).http_status(), 400);
    }
}
