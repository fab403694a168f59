//! The OpenAPI document tells the truth (issue 13): every route is in it with the
//! statuses it answers, its error body and who may call it; lists page by one
//! rule; the CSV export carries what the JSON does. `scripts/fuzz_api.sh` fuzzes
//! the document against the server; these pin what the fuzzer cannot see.

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::helpers::{spawn_app, user_message, TestApp};

/// Every route the server serves, as a client would call it.
const ROUTES: &[(&str, &str)] = &[
    ("post", "/v1/auth/login"),
    ("get", "/v1/auth/me"),
    ("post", "/v1/auth/logout"),
    ("get", "/v1/operators"),
    ("post", "/v1/operators"),
    ("get", "/v1/operators/{id}"),
    ("delete", "/v1/operators/{id}"),
    ("post", "/v1/operators/{id}/disable"),
    ("post", "/v1/operators/{id}/enable"),
    ("post", "/v1/operators/{id}/password"),
    ("post", "/v1/operators/{id}/sessions/end"),
    ("get", "/v1/organizations"),
    ("post", "/v1/organizations"),
    ("get", "/v1/organizations/{id}"),
    ("patch", "/v1/organizations/{id}"),
    ("delete", "/v1/organizations/{id}"),
    ("get", "/v1/organizations/{id}/history"),
    ("get", "/v1/organizations/{id}/stats"),
    ("get", "/v1/api-keys"),
    ("post", "/v1/api-keys"),
    ("get", "/v1/api-keys/{id}"),
    ("patch", "/v1/api-keys/{id}"),
    ("delete", "/v1/api-keys/{id}"),
    ("post", "/v1/api-keys/{id}/rotate"),
    ("get", "/v1/api-keys/{id}/history"),
    ("get", "/v1/api-keys/{id}/stats"),
    ("get", "/v1/audit"),
    ("get", "/v1/stats"),
    ("get", "/v1/logs"),
    ("get", "/v1/logs/{id}"),
    ("get", "/v1/projections"),
    ("post", "/v1/projections/{name}/rebuild"),
    ("get", "/v1/projections/{name}/quarantine"),
    ("get", "/v1/routes"),
    ("post", "/v1/routes"),
    ("get", "/v1/routes/{id}"),
    ("patch", "/v1/routes/{id}"),
    ("delete", "/v1/routes/{id}"),
    ("get", "/v1/routes/{id}/history"),
    ("get", "/v1/webhooks"),
    ("post", "/v1/webhooks"),
    ("get", "/v1/webhooks/{id}"),
    ("patch", "/v1/webhooks/{id}"),
    ("delete", "/v1/webhooks/{id}"),
    ("post", "/v1/webhooks/{id}/rotate_secret"),
    ("post", "/v1/webhooks/{id}/test"),
    ("get", "/v1/webhooks/{id}/history"),
    ("get", "/v1/webhooks/{id}/deliveries"),
    ("post", "/v1/webhooks/{id}/deliveries/{delivery_id}/redeliver"),
    ("get", "/v1/catalogue"),
    ("post", "/v1/chat/completions"),
    ("get", "/v1/models"),
    ("post", "/v1/messages"),
    ("post", "/v1/messages/count_tokens"),
    ("get", "/health"),
    ("get", "/ready"),
    ("get", "/metrics"),
];

/// Outside the bearer scheme: login, the probes, and `/metrics` (a metrics token
/// of its own, or none from this host).
const PUBLIC: &[&str] = &["/v1/auth/login", "/health", "/ready", "/metrics"];

async fn document(app: &TestApp) -> Value {
    let answer = app.get("/openapi.json", "").await;
    assert_eq!(answer.status, StatusCode::OK);
    answer.body
}

fn operations(spec: &Value) -> Vec<(String, String, Value)> {
    let mut found = Vec::new();
    for (path, item) in spec["paths"].as_object().unwrap() {
        for (method, operation) in item.as_object().unwrap() {
            found.push((method.clone(), path.clone(), operation.clone()));
        }
    }
    found
}

/// The path with each parameter filled (a fresh id, or a known projection name).
fn concrete(path: &str) -> String {
    let id = uuid::Uuid::now_v7().to_string();
    path.replace("{id}", &id).replace("{delivery_id}", &id).replace("{name}", "usage_rollups")
}

#[tokio::test]
async fn every_route_is_described_and_every_secured_one_refuses_a_caller_without_credentials_as_documented() {
    let app = spawn_app().await;
    let spec = document(&app).await;
    for (method, path) in ROUTES {
        assert!(spec["paths"][path][method].is_object(), "{method} {path} is missing from the document");
    }
    let bearer = &spec["components"]["securitySchemes"]["bearer"];
    assert_eq!((bearer["type"].as_str(), bearer["scheme"].as_str()), (Some("http"), Some("bearer")));
    assert_eq!(spec["security"], Value::Null, "security is declared per operation");
    for (method, path, operation) in operations(&spec) {
        let public = operation["security"] == json!([]);
        assert_eq!(public, PUBLIC.contains(&path.as_str()), "{method} {path}: {}", operation["security"]);
        if public {
            continue;
        }
        assert!(
            operation["security"].as_array().unwrap().contains(&json!({"bearer": []})),
            "{method} {path} names the bearer scheme"
        );
        let verb = Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
        let answer = app
            .client
            .request(verb, app.url(&concrete(&path)))
            .header("content-type", "application/json")
            .body("{}")
            .send()
            .await
            .unwrap();
        assert_eq!(answer.status(), StatusCode::UNAUTHORIZED, "{method} {path} without a credential");
        let documented = &operation["responses"]["401"];
        let schema = documented["content"]["application/json"]["schema"]["$ref"].as_str().unwrap_or_default();
        let body: Value = answer.json().await.unwrap();
        if path.starts_with("/v1/messages") {
            assert_eq!(schema, "#/components/schemas/AnthropicErrorBody", "{method} {path}");
            assert_eq!(body["type"], "error", "{method} {path}: {body}");
        } else {
            assert_eq!(schema, "#/components/schemas/Error", "{method} {path}");
            assert_eq!(body["error"]["code"], "invalid_api_key", "{method} {path}: {body}");
        }
        for status in ["403", "503"] {
            assert!(operation["responses"][status].is_object(), "{method} {path} documents {status}");
        }
    }
}

#[tokio::test]
async fn the_shared_extractors_answers_are_documented_where_they_apply() {
    let app = spawn_app().await;
    let spec = document(&app).await;
    let create = &spec["paths"]["/v1/organizations"]["post"]["responses"];
    for status in ["201", "400", "401", "403", "408", "409", "413", "415", "503"] {
        assert!(create[status].is_object(), "POST /v1/organizations documents {status}");
    }
    // Sending no JSON content type really is a 415, in the documented shape.
    let answer = app.send_raw(Method::POST, "/v1/organizations", &app.admin_token, "text/plain", b"{}".to_vec()).await;
    assert_eq!(
        (answer.status, answer.error_code()),
        (StatusCode::UNSUPPORTED_MEDIA_TYPE, "invalid_content_type".into())
    );
    // An id that does not parse names nothing: 404, documented on every route with one.
    let answer = app.get("/v1/organizations/not-an-id", &app.admin_token).await;
    assert_eq!(answer.status, StatusCode::NOT_FOUND);
    for (method, path, operation) in operations(&spec) {
        if path.contains('{') {
            assert!(operation["responses"]["404"].is_object(), "{method} {path} documents 404");
        }
    }
    let chat = &spec["paths"]["/v1/chat/completions"]["post"];
    for status in ["200", "400", "401", "403", "404", "413", "415", "429", "502", "503", "504"] {
        assert!(chat["responses"][status].is_object(), "chat completions documents {status}");
    }
    let content = chat["responses"]["200"]["content"].as_object().unwrap();
    assert!(content.contains_key("application/json") && content.contains_key("text/event-stream"));
    let login = &spec["paths"]["/v1/auth/login"]["post"]["responses"];
    assert!(login["429"].is_object() && login["401"].is_object());
}

/// Issue 13's first-day finding: `limit` was 1–100 on most lists, 1–500 on the
/// quarantine and 1–1000 on the log, while the README said 1–100 for all.
#[tokio::test]
async fn every_list_pages_by_one_rule_that_the_document_states() {
    let app = spawn_app().await;
    let spec = document(&app).await;
    let mut lists = Vec::new();
    for (method, path, operation) in operations(&spec) {
        let Some(limit) = operation["parameters"].as_array().into_iter().flatten().find(|p| p["name"] == "limit")
        else {
            continue;
        };
        assert_eq!(limit["in"], "query", "{method} {path}");
        let schema = &limit["schema"];
        assert_eq!((&schema["minimum"], &schema["maximum"], &schema["default"]), (&json!(1), &json!(100), &json!(20)));
        lists.push(path);
    }
    for path in ["/v1/organizations", "/v1/api-keys", "/v1/audit", "/v1/logs", "/v1/projections/{name}/quarantine"] {
        assert!(lists.contains(&path.to_string()), "{path} has a documented limit");
        let url = concrete(path);
        let over = app.get(&format!("{url}?limit=101"), &app.admin_token).await;
        assert_eq!((over.status, over.error_code()), (StatusCode::BAD_REQUEST, "invalid_limit".into()), "{path}");
        assert_eq!(over.body["error"]["message"], "limit must be between 1 and 100", "{path}");
        let most = app.get(&format!("{url}?limit=100"), &app.admin_token).await;
        assert_eq!(most.status, StatusCode::OK, "{path}: {}", most.body);
    }
    // The default page is 20 rows.
    for n in 0..21 {
        app.create_org(&format!("Paged {n}")).await;
    }
    let page = app.get("/v1/organizations", &app.admin_token).await;
    assert_eq!((page.body["data"].as_array().unwrap().len(), &page.body["has_more"]), (20, &json!(true)));
}

/// Issue 13's first-day finding: the CSV export carried only a count of the
/// attempts that the JSON lists one by one.
#[tokio::test]
async fn the_csv_export_has_every_field_of_the_json_log_with_the_same_values() {
    let app = spawn_app().await;
    let org = app.create_org("Exporters").await;
    let (_, key) = app.issue_key(&org, "write").await;
    let ok = app.chat(&key, json!({"model": "echo/demo", "messages": user_message("hello, \"csv\"")})).await;
    assert_eq!(ok.status, StatusCode::OK, "{}", ok.body);
    let refused = app.chat(&key, json!({"model": "nope/none", "messages": user_message("x")})).await;
    assert_eq!(refused.status, StatusCode::NOT_FOUND);
    let mut json_rows = Vec::new();
    for _ in 0..100 {
        json_rows = app.get("/v1/logs", &app.admin_token).await.body["data"].as_array().cloned().unwrap_or_default();
        if json_rows.len() == 2 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(json_rows.len(), 2, "both requests are in the log");
    let csv = app.client.get(app.url("/v1/logs?format=csv")).bearer_auth(&app.admin_token).send().await.unwrap();
    assert!(csv.headers()["content-type"].to_str().unwrap().starts_with("text/csv"));
    let text = csv.text().await.unwrap();
    let mut rows = parse_csv(&text).into_iter();
    let header = rows.next().unwrap();
    let mut json_keys: Vec<String> = json_rows[0].as_object().unwrap().keys().cloned().collect();
    let mut csv_keys = header.clone();
    json_keys.sort();
    csv_keys.sort();
    assert_eq!(csv_keys, json_keys, "the CSV header names exactly the JSON fields");
    let records: Vec<Vec<String>> = rows.collect();
    assert_eq!(records.len(), 2);
    for (record, entry) in records.iter().zip(&json_rows) {
        assert_eq!(record.len(), header.len());
        for (field, text) in header.iter().zip(record) {
            let value = &entry[field];
            let same = match value {
                Value::Null => text.is_empty(),
                Value::String(s) => s == text || same_instant(s, text),
                Value::Number(n) => text.parse::<f64>().ok() == n.as_f64(),
                Value::Bool(b) => *text == b.to_string(),
                Value::Array(_) | Value::Object(_) => serde_json::from_str::<Value>(text).ok().as_ref() == Some(value),
            };
            assert!(same, "{field}: CSV `{text}`, JSON {value}");
        }
    }
}

/// RFC 4180: fields quoted when they hold a comma, a quote or a line break.
fn parse_csv(text: &str) -> Vec<Vec<String>> {
    let (mut rows, mut row, mut field) = (Vec::new(), Vec::new(), String::new());
    let (mut quoted, mut chars) = (false, text.chars().peekable());
    while let Some(c) = chars.next() {
        match (quoted, c) {
            (true, '"') if chars.peek() == Some(&'"') => {
                chars.next();
                field.push('"');
            }
            (true, '"') => quoted = false,
            (true, c) => field.push(c),
            (false, '"') => quoted = true,
            (false, ',') => row.push(std::mem::take(&mut field)),
            (false, '\n') => {
                row.push(std::mem::take(&mut field));
                rows.push(std::mem::take(&mut row));
            }
            (false, c) => field.push(c),
        }
    }
    rows
}

fn same_instant(a: &str, b: &str) -> bool {
    match (chrono::DateTime::parse_from_rfc3339(a), chrono::DateTime::parse_from_rfc3339(b)) {
        (Ok(a), Ok(b)) => a == b,
        _ => false,
    }
}
