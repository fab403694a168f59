//! What the Gemini API refuses, with Google's own messages: no key (403
//! PERMISSION_DENIED), a wrong key (400 INVALID_ARGUMENT with reason API_KEY_INVALID),
//! then the body: `contents` required, roles `user`/`model` only, no empty `parts`, no
//! field the protobuf schema does not know (Gemini rejects unknown names everywhere,
//! tool schemas included), a function call turn only after a user or function response
//! turn, and as many function responses as the calls they answer.

use axum::http::{HeaderMap, Uri};
use serde_json::{Map, Value};

use super::{header, FakeState, Refusal};

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

pub fn check_body(body: &Value) -> Result<(), Refusal> {
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
    if let Some(system) = body.get("systemInstruction") {
        check_content("system_instruction", system, false)?;
    }
    if let Some(config) = body.get("generationConfig") {
        let Some(config) = config.as_object() else {
            return Err(Refusal::bad_request("Invalid value at 'generation_config': expected an object"));
        };
        known_fields(config, &GENERATION_FIELDS, "generation_config")?;
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
        if let Some(parameters) = declaration.get("parameters") {
            check_schema(&format!("{at}.parameters"), parameters)?;
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
