//! Finding 11a: the audit `request_id` is the server's own; a client's
//! `x-request-id` is kept apart as `client_request_id`, or dropped when unfit.

use reqwest::header::HeaderValue;
use reqwest::StatusCode;
use serde_json::{json, Value};
use uuid::Uuid;

use crate::helpers::{spawn_app, user_message, TestApp};

/// Creates an organization sending the given `x-request-id`; answers the
/// response's `x-request-id` and the audit entry of the creation.
async fn create_org_with_request_id(app: &TestApp, name: &str, client_id: HeaderValue) -> (String, Value) {
    let response = app
        .client
        .post(app.url("/v1/organizations"))
        .bearer_auth(&app.admin_token)
        .header("x-request-id", client_id)
        .json(&json!({"name": name}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::CREATED);
    let answered = response.headers()["x-request-id"].to_str().unwrap().to_string();
    let org: Value = response.json().await.unwrap();
    let history = app.history(&format!("/v1/organizations/{}/history", org["id"].as_str().unwrap())).await;
    (answered, history[0].clone())
}

fn assert_server_made(id: &str) {
    let parsed = Uuid::parse_str(id).unwrap_or_else(|_| panic!("not a UUID: {id}"));
    assert_eq!(parsed.get_version_num(), 7, "not a UUIDv7: {id}");
}

#[tokio::test]
async fn a_forged_request_id_is_kept_apart_from_the_servers_own() {
    let app = spawn_app().await;
    // Given a client that claims another request's id
    let forged = "0190b6e4-0000-7000-8000-000000000001";
    // When it changes something
    let (answered, entry) = create_org_with_request_id(&app, "Forged Id Org", HeaderValue::from_static(forged)).await;
    // Then the audit trail and the response carry the server's own id
    assert_server_made(&answered);
    assert_ne!(answered, forged);
    assert_eq!(entry["request_id"], answered.as_str());
    // And the client's value is there, labelled as the client's
    assert_eq!(entry["client_request_id"], forged);
    // Also in the global audit log
    let audit = app.history("/v1/audit?aggregate_type=Organization").await;
    let logged = audit.iter().find(|e| e["request_id"] == answered.as_str()).expect("in /v1/audit");
    assert_eq!(logged["client_request_id"], forged);
}

#[tokio::test]
async fn unfit_client_request_ids_are_dropped() {
    let app = spawn_app().await;
    let huge = "a".repeat(10 * 1024);
    let unfit = [
        ("control character", HeaderValue::from_static("abc\tdef")),
        ("10 kB", HeaderValue::from_str(&huge).unwrap()),
        ("not ASCII", HeaderValue::from_bytes("bidi\u{202e}override".as_bytes()).unwrap()),
    ];
    for (index, (what, value)) in unfit.into_iter().enumerate() {
        let (answered, entry) = create_org_with_request_id(&app, &format!("Unfit Id Org {index}"), value).await;
        assert_server_made(&answered);
        assert_eq!(entry["request_id"], answered.as_str(), "{what}");
        assert_eq!(entry["client_request_id"], Value::Null, "{what}: {entry}");
    }
}

#[tokio::test]
async fn the_gateway_request_id_is_unaffected_by_the_clients() {
    let app = spawn_app().await;
    let org = app.create_org("Gateway Id Org").await;
    let (_, key) = app.issue_key(&org, "write").await;
    let forged = "client-chosen-id";
    let response = app
        .client
        .post(app.url("/v1/chat/completions"))
        .bearer_auth(&key)
        .header("x-request-id", forged)
        .json(&json!({"model": "echo/x", "messages": user_message("hi")}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let gateway_id = response.headers()["x-gaiarouter-request-id"].to_str().unwrap().to_string();
    let http_id = response.headers()["x-request-id"].to_str().unwrap().to_string();
    assert_server_made(&gateway_id);
    assert_server_made(&http_id);
    assert_ne!(http_id, forged);
    // The recorded request is the one the gateway named.
    let recorded: Vec<String> = sqlx::query_scalar("SELECT aggregate_id FROM events WHERE aggregate_type = 'Request'")
        .fetch_all(&app.state.pool)
        .await
        .unwrap();
    assert_eq!(recorded, [gateway_id]);
}
