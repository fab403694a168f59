//! Optional request and response bodies in the request log: per organization, off
//! by default, stored apart from the events, bounded, with their own retention.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::helpers::{fresh_database, spawn_app, spawn_app_configured, test_config, user_message, TestApp};

const REQUEST_ID: &str = "x-gaiarouter-request-id";

/// An organization with body logging on, and a write key of it.
async fn logging_org(app: &TestApp, name: &str) -> (String, String) {
    let org = app.create_org(name).await;
    let on = app.patch(&format!("/v1/organizations/{org}"), &app.admin_token, json!({"log_bodies": true})).await;
    assert_eq!((on.status, &on.body["log_bodies"]), (StatusCode::OK, &json!(true)), "{}", on.body);
    let (_, key) = app.issue_key(&org, "write").await;
    (org, key)
}

/// Posts `body` to an ingress; answers the request id and the body as text.
async fn send(app: &TestApp, path: &str, key: &str, body: &Value) -> (String, String) {
    let mut request = app.client.post(app.url(path)).json(body);
    request = if path == "/v1/messages" {
        request.header("x-api-key", key).header("anthropic-version", "2023-06-01")
    } else {
        request.bearer_auth(key)
    };
    let response = request.send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let id = response.headers()[REQUEST_ID].to_str().unwrap().to_string();
    (id, response.text().await.unwrap())
}

fn chat(stream: bool, text: &str) -> Value {
    json!({"model": "echo/demo", "stream": stream, "messages": user_message(text)})
}

fn message(stream: bool, text: &str) -> Value {
    json!({"model": "echo/claude", "max_tokens": 64, "stream": stream, "messages": user_message(text)})
}

/// The log entry of `id` once it is projected and (when `with_bodies`) its bodies written.
async fn entry(app: &TestApp, id: &str, with_bodies: bool) -> Value {
    for _ in 0..100 {
        let answer = app.get(&format!("/v1/logs/{id}"), &app.admin_token).await;
        if answer.status == StatusCode::OK && (!with_bodies || answer.body.get("response_body").is_some()) {
            return answer.body;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the request {id} reached the log (with bodies: {with_bodies})");
}

async fn stored_rows(app: &TestApp) -> i64 {
    app.scalar("SELECT count(*) FROM request_bodies").await
}

#[tokio::test]
async fn body_logging_is_off_by_default_and_only_the_organization_that_turned_it_on_stores_bodies() {
    let app = spawn_app().await;
    let quiet = app.create_org("Quiet").await;
    let created = app.get(&format!("/v1/organizations/{quiet}"), &app.admin_token).await;
    assert_eq!(created.body["log_bodies"], json!(false));
    let (_, quiet_key) = app.issue_key(&quiet, "write").await;
    let (_, key) = logging_org(&app, "Loud").await;

    let (quiet_id, _) = send(&app, "/v1/chat/completions", &quiet_key, &chat(false, "keep this to yourself")).await;
    let (id, answered) = send(&app, "/v1/chat/completions", &key, &chat(false, "write this down")).await;
    let logged = entry(&app, &id, true).await;
    let request: Value = serde_json::from_str(logged["request_body"].as_str().unwrap()).unwrap();
    assert_eq!(request["messages"][0]["content"], "write this down");
    assert_eq!(logged["response_body"].as_str(), Some(answered.as_str()), "the answer as sent");
    assert_eq!((&logged["request_body_truncated"], &logged["response_body_truncated"]), (&json!(false), &json!(false)));

    let quiet_entry = entry(&app, &quiet_id, false).await;
    assert!(quiet_entry.get("request_body").is_none() && quiet_entry.get("response_body").is_none());
    assert_eq!(stored_rows(&app).await, 1, "nothing for the organization that did not turn it on");
    // Headers are never stored, so neither is the key.
    let secret = key.rsplit('-').next().unwrap();
    let leaked = app.scalar(&format!("SELECT count(*) FROM request_bodies WHERE request_body LIKE '%{secret}%'")).await;
    assert_eq!(leaked, 0);
    // Never in an event either.
    let in_events = app.scalar("SELECT count(*) FROM events WHERE payload::text LIKE '%write this down%'").await;
    assert_eq!(in_events, 0);
}

#[tokio::test]
async fn both_ingresses_store_what_they_answered_streamed_and_not() {
    let app = spawn_app().await;
    let (_, key) = logging_org(&app, "Both").await;
    for (path, body, ends_with) in [
        ("/v1/chat/completions", chat(false, "plain chat"), None),
        ("/v1/chat/completions", chat(true, "streamed chat"), Some("data: [DONE]\n\n")),
        ("/v1/messages", message(false, "plain message"), None),
        (
            "/v1/messages",
            message(true, "streamed message"),
            Some("event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n"),
        ),
    ] {
        let (id, answered) = send(&app, path, &key, &body).await;
        let logged = entry(&app, &id, true).await;
        let request: Value = serde_json::from_str(logged["request_body"].as_str().unwrap()).unwrap();
        assert_eq!(request, body, "{path}: the request as received");
        let response = logged["response_body"].as_str().unwrap();
        assert_eq!(response, answered, "{path}: the answer as sent");
        if let Some(end) = ends_with {
            assert!(response.ends_with(end), "{path}: the whole stream: {response}");
        }
    }
    assert_eq!(stored_rows(&app).await, 4);
}

#[tokio::test]
async fn a_body_longer_than_the_bound_is_cut_and_flagged() {
    let config = gaiarouter::config::Config { body_log_max_bytes: 200, ..test_config() };
    let app = spawn_app_configured(config, &fresh_database().await, Default::default()).await;
    let (_, key) = logging_org(&app, "Verbose").await;
    let long = "é".repeat(500);
    let (id, answered) = send(&app, "/v1/chat/completions", &key, &chat(true, &long)).await;
    assert!(answered.len() > 200);
    let logged = entry(&app, &id, true).await;
    let (request, response) = (logged["request_body"].as_str().unwrap(), logged["response_body"].as_str().unwrap());
    assert!(request.len() <= 200 && request.len() > 150, "{}", request.len());
    assert!(response.len() <= 200 && answered.starts_with(response));
    assert_eq!((&logged["request_body_truncated"], &logged["response_body_truncated"]), (&json!(true), &json!(true)));
}

#[tokio::test]
async fn refused_requests_and_requests_before_logging_was_on_store_nothing() {
    let app = spawn_app().await;
    let org = app.create_org("Later").await;
    let (_, key) = app.issue_key(&org, "write").await;
    let (before, _) = send(&app, "/v1/chat/completions", &key, &chat(false, "before")).await;
    app.patch(&format!("/v1/organizations/{org}"), &app.admin_token, json!({"log_bodies": true})).await;
    let refused = app.chat(&key, json!({"model": "nowhere/nothing", "messages": user_message("refused")})).await;
    assert_eq!(refused.status, StatusCode::NOT_FOUND);
    let (after, _) = send(&app, "/v1/chat/completions", &key, &chat(false, "after")).await;
    entry(&app, &after, true).await;
    assert!(entry(&app, &before, false).await.get("request_body").is_none());
    assert_eq!(stored_rows(&app).await, 1, "only the request answered while logging was on");
    let refused_bodies = app.scalar("SELECT count(*) FROM request_bodies WHERE request_body LIKE '%refused%'").await;
    assert_eq!(refused_bodies, 0);
}

#[tokio::test]
async fn bodies_past_their_retention_are_deleted_and_newer_ones_kept() {
    let app = spawn_app().await;
    let (_, key) = logging_org(&app, "Forgetful").await;
    let (old, _) = send(&app, "/v1/chat/completions", &key, &chat(false, "old")).await;
    let (new, _) = send(&app, "/v1/chat/completions", &key, &chat(false, "new")).await;
    entry(&app, &old, true).await;
    entry(&app, &new, true).await;
    sqlx::query("UPDATE request_bodies SET recorded_at = now() - interval '31 days' WHERE request_id = $1::uuid")
        .bind(&old)
        .execute(&app.state.pool)
        .await
        .unwrap();
    let cutoff = chrono::Utc::now() - chrono::Duration::days(30);
    let deleted = gaiarouter::bodies::BodyLog::delete_recorded_before(&app.state.pool, cutoff).await.unwrap();
    assert_eq!(deleted, 1);
    assert!(entry(&app, &old, false).await.get("request_body").is_none(), "the log entry stays, its bodies go");
    assert!(entry(&app, &new, false).await.get("request_body").is_some());
}

#[tokio::test]
async fn another_organizations_key_cannot_read_the_bodies() {
    let app = spawn_app().await;
    let (org, key) = logging_org(&app, "Private").await;
    let other = app.create_org("Nosy").await;
    let (_, nosy_writer) = app.issue_key(&other, "write").await;
    let (_, nosy_reader) = app.issue_key(&other, "read").await;
    let (_, own_reader) = app.issue_key(&org, "read").await;
    let (id, _) = send(&app, "/v1/chat/completions", &key, &chat(false, "secret plans")).await;
    entry(&app, &id, true).await;
    let path = format!("/v1/logs/{id}");
    for (who, token, expected) in [
        ("read key of its organization", own_reader.as_str(), StatusCode::OK),
        ("write key of another organization", nosy_writer.as_str(), StatusCode::NOT_FOUND),
        ("read key of another organization", nosy_reader.as_str(), StatusCode::NOT_FOUND),
        ("nobody", "", StatusCode::UNAUTHORIZED),
    ] {
        let answer = app.get(&path, token).await;
        assert_eq!(answer.status, expected, "{who}: {}", answer.body);
        assert_eq!(answer.body.to_string().contains("secret plans"), expected == StatusCode::OK, "{who}");
    }
    let export = app
        .client
        .get(app.url("/v1/logs?format=csv&include_bodies=true"))
        .bearer_auth(&nosy_writer)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(!export.contains("secret plans"), "another organization's export: {export}");
}

#[tokio::test]
async fn the_csv_export_carries_the_bodies_only_when_asked() {
    let app = spawn_app().await;
    let (_, key) = logging_org(&app, "Exporters").await;
    let (id, _) = send(&app, "/v1/chat/completions", &key, &chat(false, "export me, \"quoted\"")).await;
    entry(&app, &id, true).await;
    let csv = |query: &'static str| {
        let app = &app;
        async move {
            let response = app.client.get(app.url(&format!("/v1/logs?{query}"))).bearer_auth(&app.admin_token);
            let response = response.send().await.unwrap();
            (response.status(), response.text().await.unwrap())
        }
    };
    let (status, plain) = csv("format=csv").await;
    assert_eq!(status, StatusCode::OK);
    assert!(!plain.contains("request_body") && !plain.contains("export me"));
    let (status, with_bodies) = csv("format=csv&include_bodies=true").await;
    assert_eq!(status, StatusCode::OK);
    let header = with_bodies.lines().next().unwrap();
    assert!(header.ends_with(",request_body,request_body_truncated,response_body,response_body_truncated"));
    assert!(with_bodies.contains(r#"export me, \""quoted\"""#), "quoted as CSV: {with_bodies}");
    let (status, _) = csv("format=json&include_bodies=true").await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "bodies are for the export");
    let (status, too_many) = csv("format=csv&include_bodies=true&limit=100000").await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "bounded: {too_many}");
}

#[tokio::test]
async fn who_may_turn_body_logging_on_and_the_audit_trail_says_who_did() {
    let app = spawn_app().await;
    let org = app.create_org("Target").await;
    let other = app.create_org("Elsewhere").await;
    let (_, own_admin) = app.issue_key(&org, "admin").await;
    let (_, own_writer) = app.issue_key(&org, "write").await;
    let (_, own_reader) = app.issue_key(&org, "read").await;
    let (_, other_admin) = app.issue_key(&other, "admin").await;
    let (_, other_writer) = app.issue_key(&other, "write").await;
    let (_, other_reader) = app.issue_key(&other, "read").await;
    let path = format!("/v1/organizations/{org}");
    let mut enabled = false;
    // As for limits: `admin` keys administer the whole gateway, as operators do;
    // a tenant's write or read key changes nothing, and sees no other organization.
    for (who, token, expected) in [
        ("write key of the organization", own_writer.as_str(), StatusCode::FORBIDDEN),
        ("read key of the organization", own_reader.as_str(), StatusCode::FORBIDDEN),
        ("write key of another organization", other_writer.as_str(), StatusCode::NOT_FOUND),
        ("read key of another organization", other_reader.as_str(), StatusCode::NOT_FOUND),
        ("nobody", "", StatusCode::UNAUTHORIZED),
        ("operator", app.admin_token.as_str(), StatusCode::OK),
        ("admin key of the organization", own_admin.as_str(), StatusCode::OK),
        ("admin key of another organization", other_admin.as_str(), StatusCode::OK),
    ] {
        let answer = app.patch(&path, token, json!({"log_bodies": !enabled})).await;
        assert_eq!(answer.status, expected, "{who}: {}", answer.body);
        if expected == StatusCode::OK {
            enabled = !enabled;
        }
        let current = app.get(&path, &app.admin_token).await;
        assert_eq!(current.body["log_bodies"], json!(enabled), "{who}");
    }
    let history = app.history(&format!("{path}/history")).await;
    let changes: Vec<&Value> = history.iter().filter(|e| e["event_type"] == "OrganizationBodyLoggingChanged").collect();
    assert_eq!(changes.len(), 3, "one event per change");
    assert_eq!(changes[0]["actor"]["type"], "operator");
    assert_eq!(changes[0]["actor"]["name"], "admin");
    assert_eq!(changes[1]["actor"]["type"], "api_key");
}

#[tokio::test]
async fn null_turns_body_logging_off_and_keeps_everything_else() {
    let app = spawn_app().await;
    let org = app.create_org("Patchy").await;
    let path = format!("/v1/organizations/{org}");
    let set = json!({"log_bodies": true, "limits": {"monthly_requests": 10}});
    assert_eq!(app.patch(&path, &app.admin_token, set).await.status, StatusCode::OK);
    let renamed = app.patch(&path, &app.admin_token, json!({"name": "Patchier"})).await;
    assert_eq!(renamed.body["log_bodies"], json!(true), "absent: kept");
    let off = app.patch(&path, &app.admin_token, json!({"log_bodies": null})).await;
    assert_eq!(off.body["log_bodies"], json!(false));
    assert_eq!(off.body["limits"]["monthly_requests"], json!(10));
    let invalid = app.patch(&path, &app.admin_token, json!({"log_bodies": "yes"})).await;
    assert_eq!(invalid.status, StatusCode::BAD_REQUEST);
}
