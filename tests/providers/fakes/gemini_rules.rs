//! What the Gemini API refuses, with Google's own messages: no key (403
//! PERMISSION_DENIED), a wrong key (400 INVALID_ARGUMENT with reason API_KEY_INVALID),
//! then the body: `contents` required, roles `user`/`model` only, no empty `parts`, no
//! field the protobuf schema does not know (Gemini rejects unknown names everywhere,
//! tool schemas included), a function call turn only after a user or function response
//! turn, and as many function responses as the calls they answer.
//!
//! Also, after the API reference and guides:
//! - thought signatures (https://ai.google.dev/gemini-api/docs/thought-signatures): on
//!   Gemini 3, the first function call of every step of the current turn must come back
//!   with its `thoughtSignature` (400 otherwise), untouched (a signature this fake did
//!   not issue for that function is "corrupted"); Google's documented placeholders
//!   pass. Any signature must be base64 (a protobuf `bytes` field);
//! - `FunctionDeclaration`: `parameters` (OpenAPI subset, no `$ref`/`$defs`/`const`) and
//!   `parametersJsonSchema` (JSON Schema) are mutually exclusive; the latter must be an
//!   object schema whose local `$ref`s resolve;
//! - `thinkingConfig` (https://ai.google.dev/gemini-api/docs/thinking): `thinkingLevel`
//!   on Gemini 3 only (Pro has no `minimal`, 3.0 Pro no `medium`), never together with
//!   `thinkingBudget`; budgets within the 2.5 model's range;
//! - `inlineData` needs a MIME type Gemini reads and base64 `data`; `fileData` a `fileUri`.

use axum::http::{HeaderMap, Uri};
use base64::Engine;
use serde_json::{Map, Value};

use super::gemini::SIGNATURE_PREFIX;
use super::{header, FakeState, Refusal};

/// Google's placeholders for a function call whose signature is unknown.
const PLACEHOLDER_SIGNATURES: [&str; 2] = ["skip_thought_signature_validator", "context_engineering_is_the_way_to_go"];
const THINKING_FIELDS: [&str; 3] = ["includeThoughts", "thinkingBudget", "thinkingLevel"];
const INLINE_DATA_FIELDS: [&str; 3] = ["mimeType", "data", "displayName"];
const FILE_DATA_FIELDS: [&str; 3] = ["mimeType", "fileUri", "displayName"];
/// Inline MIME types Gemini reads (images, audio, video, documents and text).
const INLINE_MIME_PREFIXES: [&str; 5] = ["image/", "audio/", "video/", "text/", "application/pdf"];

/// `(major, minor)` of a `gemini-<major>[.<minor>]` model name.
pub fn gemini_version(model: &str) -> Option<(u32, u32)> {
    let number = model.strip_prefix("gemini-")?.split('-').next()?;
    let (major, minor) = number.split_once('.').unwrap_or((number, "0"));
    Some((major.parse().ok()?, minor.parse().ok()?))
}

pub fn is_gemini_3_or_later(model: &str) -> bool {
    gemini_version(model).is_some_and(|(major, _)| major >= 3)
}

const REQUEST_FIELDS: [&str; 7] =
    ["contents", "tools", "toolConfig", "safetySettings", "systemInstruction", "generationConfig", "cachedContent"];
const CONTENT_FIELDS: [&str; 2] = ["role", "parts"];
const PART_FIELDS: [&str; 11] = [
    "text",
    "inlineData",
    "fileData",
    "functionCall",
    "functionResponse",
    "thought",
    "thoughtSignature",
    "executableCode",
    "codeExecutionResult",
    "videoMetadata",
    "partMetadata",
];
const GENERATION_FIELDS: [&str; 20] = [
    "stopSequences",
    "responseMimeType",
    "responseSchema",
    "responseJsonSchema",
    "responseModalities",
    "candidateCount",
    "maxOutputTokens",
    "temperature",
    "topP",
    "topK",
    "seed",
    "presencePenalty",
    "frequencyPenalty",
    "responseLogprobs",
    "logprobs",
    "enableEnhancedCivicAnswers",
    "speechConfig",
    "thinkingConfig",
    "mediaResolution",
    "imageConfig",
];
const TOOL_FIELDS: [&str; 6] =
    ["functionDeclarations", "googleSearch", "googleSearchRetrieval", "codeExecution", "urlContext", "fileSearch"];
const DECLARATION_FIELDS: [&str; 6] =
    ["name", "description", "parameters", "parametersJsonSchema", "response", "responseJsonSchema"];
/// The OpenAPI subset `FunctionDeclaration.parameters` takes (a `Schema` message).
const SCHEMA_FIELDS: [&str; 22] = [
    "type",
    "format",
    "title",
    "description",
    "nullable",
    "enum",
    "maxItems",
    "minItems",
    "properties",
    "required",
    "minProperties",
    "maxProperties",
    "minLength",
    "maxLength",
    "pattern",
    "example",
    "anyOf",
    "propertyOrdering",
    "default",
    "items",
    "minimum",
    "maximum",
];

pub fn check_key(state: &FakeState, uri: &Uri, headers: &HeaderMap) -> Result<(), Refusal> {
    let from_query = uri
        .query()
        .into_iter()
        .flat_map(|q| q.split('&'))
        .find_map(|pair| pair.strip_prefix("key="))
        .map(str::to_owned);
    let key = header(headers, "x-goog-api-key").map(str::to_owned).or(from_query);
    match key {
        None => Err(Refusal::new(
            403,
            "Method doesn't allow unregistered callers (callers without established identity). Please use API Key \
             or other form of API consumer identity to call this API.",
            None,
        )),
        Some(key) if !state.accepts_key(&key) => {
            Err(Refusal::new(400, "API key not valid. Please pass a valid API key.", Some("API_KEY_INVALID")))
        }
        Some(_) => Ok(()),
    }
}

fn unknown(name: &str, at: &str) -> Refusal {
    let place = if at.is_empty() { String::new() } else { format!(" at '{at}'") };
    Refusal::bad_request(format!("Invalid JSON payload received. Unknown name \"{name}\"{place}: Cannot find field."))
}

fn known_fields(object: &Map<String, Value>, fields: &[&str], at: &str) -> Result<(), Refusal> {
    match object.keys().find(|k| !fields.contains(&k.as_str())) {
        Some(name) => Err(unknown(name, at)),
        None => Ok(()),
    }
}

pub fn check_body(body: &Value, model: &str) -> Result<(), Refusal> {
    let Some(body) = body.as_object() else {
        return Err(Refusal::bad_request("Invalid JSON payload received. Expected an object."));
    };
    known_fields(body, &REQUEST_FIELDS, "")?;
    let contents = match body.get("contents") {
        Some(Value::Array(contents)) if !contents.is_empty() => contents,
        _ => return Err(Refusal::bad_request("* GenerateContentRequest.contents: contents is not specified\n")),
    };
    for (i, content) in contents.iter().enumerate() {
        check_content(&format!("contents[{i}]"), content, true)?;
    }
    check_turns(contents)?;
    if is_gemini_3_or_later(model) {
        check_signatures(contents)?;
    }
    if let Some(system) = body.get("systemInstruction") {
        check_content("system_instruction", system, false)?;
    }
    if let Some(config) = body.get("generationConfig") {
        let Some(config) = config.as_object() else {
            return Err(Refusal::bad_request("Invalid value at 'generation_config': expected an object"));
        };
        known_fields(config, &GENERATION_FIELDS, "generation_config")?;
        if let Some(thinking) = config.get("thinkingConfig") {
            check_thinking(thinking, model)?;
        }
        if config.get("topK").is_some_and(|k| k.as_u64().is_none()) {
            return Err(Refusal::bad_request("Invalid value at 'generation_config.top_k' (TYPE_INT32)"));
        }
    }
    if let Some(tools) = body.get("tools").and_then(Value::as_array) {
        for (i, tool) in tools.iter().enumerate() {
            check_tool(i, tool)?;
        }
    }
    Ok(())
}

fn check_content(at: &str, content: &Value, role_required: bool) -> Result<(), Refusal> {
    let Some(content) = content.as_object() else {
        return Err(Refusal::bad_request(format!("Invalid value at '{at}': expected an object")));
    };
    known_fields(content, &CONTENT_FIELDS, at)?;
    match content.get("role").and_then(Value::as_str) {
        Some("user" | "model") => {}
        None if !role_required => {}
        _ => return Err(Refusal::bad_request("Please use a valid role: user, model.")),
    }
    let parts = content.get("parts").and_then(Value::as_array).filter(|p| !p.is_empty());
    let Some(parts) = parts else {
        return Err(Refusal::bad_request(format!(
            "* GenerateContentRequest.{at}.parts: contents.parts must not be empty.\n"
        )));
    };
    for (j, part) in parts.iter().enumerate() {
        let at = format!("{at}.parts[{j}]");
        let Some(part) = part.as_object() else {
            return Err(Refusal::bad_request(format!("Invalid value at '{at}': expected an object")));
        };
        known_fields(part, &PART_FIELDS, &at)?;
        if part.get("text").is_some_and(|t| !t.is_string()) {
            return Err(Refusal::bad_request(format!("Invalid value at '{at}.text' (TYPE_STRING)")));
        }
        if let Some(signature) = part.get("thoughtSignature") {
            if signature.as_str().and_then(decode_bytes).is_none() {
                return Err(Refusal::bad_request(format!(
                    "Invalid value at '{at}.thought_signature' (TYPE_BYTES), Base64 decoding failed"
                )));
            }
        }
        if let Some(inline) = part.get("inlineData") {
            check_inline_data(&format!("{at}.inline_data"), inline)?;
        }
        if let Some(file) = part.get("fileData") {
            let at = format!("{at}.file_data");
            let Some(file) = file.as_object() else {
                return Err(Refusal::bad_request(format!("Invalid value at '{at}': expected an object")));
            };
            known_fields(file, &FILE_DATA_FIELDS, &at)?;
            if !file.get("fileUri").is_some_and(Value::is_string) {
                return Err(Refusal::bad_request(format!(
                    "* GenerateContentRequest.{at}.file_uri: file_uri is required\n"
                )));
            }
        }
        if let Some(response) = part.get("functionResponse") {
            if !response["name"].is_string() || !response["response"].is_object() {
                return Err(Refusal::bad_request(format!(
                    "* GenerateContentRequest.{at}.function_response: name and response (a Struct) are required\n"
                )));
            }
        }
        if let Some(call) = part.get("functionCall") {
            if !call["name"].is_string() || call.get("args").is_some_and(|a| !a.is_object()) {
                return Err(Refusal::bad_request(format!(
                    "* GenerateContentRequest.{at}.function_call: name is required and args must be a Struct\n"
                )));
            }
        }
    }
    Ok(())
}

fn count(content: &Value, kind: &str) -> usize {
    content["parts"].as_array().map(|parts| parts.iter().filter(|p| p.get(kind).is_some()).count()).unwrap_or(0)
}

/// Gemini's turn rules for function calling.
fn check_turns(contents: &[Value]) -> Result<(), Refusal> {
    for (i, content) in contents.iter().enumerate() {
        let calls = count(content, "functionCall");
        if calls == 0 {
            continue;
        }
        let previous_ok = i == 0 || contents[i - 1]["role"] == "user";
        if content["role"] != "model" || !previous_ok {
            return Err(Refusal::bad_request(
                "Please ensure that function call turn comes immediately after a user turn or after a function \
                 response turn.",
            ));
        }
        if let Some(next) = contents.get(i + 1) {
            if count(next, "functionResponse") != calls {
                return Err(Refusal::bad_request(
                    "Please ensure that the number of function response parts is equal to the number of function \
                     call parts of the function call turn.",
                ));
            }
        }
    }
    Ok(())
}

fn check_tool(i: usize, tool: &Value) -> Result<(), Refusal> {
    let at = format!("tools[{i}]");
    let Some(tool) = tool.as_object() else {
        return Err(Refusal::bad_request(format!("Invalid value at '{at}': expected an object")));
    };
    known_fields(tool, &TOOL_FIELDS, &at)?;
    for (j, declaration) in tool.get("functionDeclarations").and_then(Value::as_array).into_iter().flatten().enumerate()
    {
        let at = format!("{at}.function_declarations[{j}]");
        let Some(declaration) = declaration.as_object() else {
            return Err(Refusal::bad_request(format!("Invalid value at '{at}': expected an object")));
        };
        known_fields(declaration, &DECLARATION_FIELDS, &at)?;
        if !declaration.get("name").is_some_and(Value::is_string) {
            return Err(Refusal::bad_request(format!("* GenerateContentRequest.{at}.name: name cannot be empty.\n")));
        }
        if declaration.contains_key("parameters") && declaration.contains_key("parametersJsonSchema") {
            return Err(Refusal::bad_request(format!(
                "* GenerateContentRequest.{at}: parameters and parameters_json_schema are mutually exclusive\n"
            )));
        }
        if let Some(parameters) = declaration.get("parameters") {
            check_schema(&format!("{at}.parameters"), parameters)?;
        }
        if let Some(schema) = declaration.get("parametersJsonSchema") {
            check_json_schema(&format!("{at}.parameters_json_schema"), schema)?;
        }
    }
    Ok(())
}

/// A `Schema` knows only its own fields, recursively: `additionalProperties`, `$ref`,
/// `const` and the like are unknown names.
fn check_schema(at: &str, schema: &Value) -> Result<(), Refusal> {
    let Some(schema) = schema.as_object() else {
        return Err(Refusal::bad_request(format!("Invalid value at '{at}': expected an object")));
    };
    known_fields(schema, &SCHEMA_FIELDS, at)?;
    for (name, property) in schema.get("properties").and_then(Value::as_object).into_iter().flatten() {
        check_schema(&format!("{at}.properties[{name}].value"), property)?;
    }
    if let Some(items) = schema.get("items") {
        check_schema(&format!("{at}.items"), items)?;
    }
    for (k, option) in schema.get("anyOf").and_then(Value::as_array).into_iter().flatten().enumerate() {
        check_schema(&format!("{at}.any_of[{k}]"), option)?;
    }
    Ok(())
}

/// Protobuf `bytes` in JSON: standard or URL-safe base64, padded or not.
fn decode_bytes(text: &str) -> Option<Vec<u8>> {
    use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig};
    use base64::engine::DecodePaddingMode;
    let config = GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent);
    GeneralPurpose::new(&base64::alphabet::STANDARD, config)
        .decode(text)
        .or_else(|_| GeneralPurpose::new(&base64::alphabet::URL_SAFE, config).decode(text))
        .ok()
}

fn check_inline_data(at: &str, inline: &Value) -> Result<(), Refusal> {
    let Some(inline) = inline.as_object() else {
        return Err(Refusal::bad_request(format!("Invalid value at '{at}': expected an object")));
    };
    known_fields(inline, &INLINE_DATA_FIELDS, at)?;
    let mime_type = inline.get("mimeType").and_then(Value::as_str).unwrap_or_default();
    if !INLINE_MIME_PREFIXES.iter().any(|prefix| mime_type.starts_with(prefix)) {
        return Err(Refusal::bad_request(format!("Unsupported MIME type: {mime_type}")));
    }
    if inline.get("data").and_then(Value::as_str).and_then(decode_bytes).is_none() {
        return Err(Refusal::bad_request(format!("Invalid value at '{at}.data' (TYPE_BYTES), Base64 decoding failed")));
    }
    Ok(())
}

/// `parametersJsonSchema` is plain JSON Schema: any keywords, but it must describe the
/// arguments object, and a `$ref` must point at something.
fn check_json_schema(at: &str, schema: &Value) -> Result<(), Refusal> {
    let Some(object) = schema.as_object() else {
        return Err(Refusal::bad_request(format!("Invalid value at '{at}': the schema must be an object")));
    };
    if object.get("type").is_some_and(|t| t != "object") {
        return Err(Refusal::bad_request(format!(
            "* GenerateContentRequest.{at}: the schema must describe an object\n"
        )));
    }
    let mut refs = Vec::new();
    collect_refs(schema, &mut refs);
    for reference in refs {
        let resolved = reference.strip_prefix('#').is_some_and(|pointer| schema.pointer(pointer).is_some());
        if !resolved {
            return Err(Refusal::bad_request(format!("* GenerateContentRequest.{at}: unresolved $ref {reference}\n")));
        }
    }
    Ok(())
}

fn collect_refs<'a>(schema: &'a Value, refs: &mut Vec<&'a str>) {
    match schema {
        Value::Object(map) => {
            if let Some(reference) = map.get("$ref").and_then(Value::as_str) {
                refs.push(reference);
            }
            map.values().for_each(|value| collect_refs(value, refs));
        }
        Value::Array(items) => items.iter().for_each(|value| collect_refs(value, refs)),
        _ => {}
    }
}

fn check_thinking(thinking: &Value, model: &str) -> Result<(), Refusal> {
    let at = "generation_config.thinking_config";
    let Some(thinking) = thinking.as_object() else {
        return Err(Refusal::bad_request(format!("Invalid value at '{at}': expected an object")));
    };
    known_fields(thinking, &THINKING_FIELDS, at)?;
    if thinking.get("includeThoughts").is_some_and(|v| !v.is_boolean()) {
        return Err(Refusal::bad_request(format!("Invalid value at '{at}.include_thoughts' (TYPE_BOOL)")));
    }
    let version = gemini_version(model);
    let flash = model.contains("flash");
    match (thinking.get("thinkingLevel"), thinking.get("thinkingBudget")) {
        (Some(_), Some(_)) => Err(Refusal::bad_request("You can only set one of thinking budget and thinking level.")),
        (Some(level), None) => {
            let level = level.as_str().map(str::to_ascii_lowercase).unwrap_or_default();
            if !matches!(level.as_str(), "minimal" | "low" | "medium" | "high") {
                return Err(Refusal::bad_request(format!("Invalid value at '{at}.thinking_level' (type.googleapis.com/google.ai.generativelanguage.v1beta.ThinkingConfig.ThinkingLevel)")));
            }
            let supported = match version {
                Some((major, _)) if major < 3 => false,
                None => false,
                _ if flash => true,
                Some((3, 0)) => level == "low" || level == "high",
                _ => level != "minimal",
            };
            if supported {
                Ok(())
            } else {
                Err(Refusal::bad_request(format!("Thinking level {level} is not supported for this model.")))
            }
        }
        (None, Some(budget)) => {
            let Some(budget) = budget.as_i64() else {
                return Err(Refusal::bad_request(format!("Invalid value at '{at}.thinking_budget' (TYPE_INT32)")));
            };
            let range = match version {
                Some((2, _)) if model.contains("flash-lite") => budget == 0 || (512..=24_576).contains(&budget),
                Some((2, _)) if flash => (0..=24_576).contains(&budget),
                Some((2, _)) => (128..=32_768).contains(&budget),
                _ => budget >= 0,
            };
            if budget == -1 || range {
                Ok(())
            } else {
                Err(Refusal::bad_request(format!("The thinking budget {budget} is invalid for this model.")))
            }
        }
        (None, None) => Ok(()),
    }
}

/// Gemini 3: within the current turn (after the last user content that is not only
/// function responses), the first function call of each step needs its signature.
fn check_signatures(contents: &[Value]) -> Result<(), Refusal> {
    let is_user_text = |content: &Value| {
        content["role"] == "user"
            && content["parts"]
                .as_array()
                .is_some_and(|parts| parts.iter().any(|p| p.get("functionResponse").is_none()))
    };
    let turn_start = contents.iter().rposition(is_user_text).map_or(0, |index| index + 1);
    for (i, content) in contents.iter().enumerate().skip(turn_start) {
        if content["role"] != "model" {
            continue;
        }
        let Some(first_call) =
            content["parts"].as_array().and_then(|parts| parts.iter().find(|p| p.get("functionCall").is_some()))
        else {
            continue;
        };
        let name = first_call["functionCall"]["name"].as_str().unwrap_or_default();
        let Some(signature) = first_call.get("thoughtSignature").and_then(Value::as_str) else {
            return Err(Refusal::bad_request(format!(
                "Function call `{name}` in the `{}.` content block is missing a `thought_signature`. Learn more: \
                 https://ai.google.dev/gemini-api/docs/thought-signatures",
                i + 1
            )));
        };
        if PLACEHOLDER_SIGNATURES.contains(&signature) {
            continue;
        }
        let decoded = decode_bytes(signature).and_then(|bytes| String::from_utf8(bytes).ok()).unwrap_or_default();
        let issued_for = decoded
            .strip_prefix(SIGNATURE_PREFIX)
            .and_then(|rest| rest.split_once(':'))
            .map(|(_, what)| what.split_once('\0').map_or(what, |(what, _padding)| what));
        if issued_for != Some(name) {
            return Err(Refusal::bad_request("Corrupted thought signature."));
        }
    }
    Ok(())
}
