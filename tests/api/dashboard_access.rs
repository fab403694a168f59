//! Who may use what the dashboard's daily views added: one request of the log by
//! id, the playground acting as a key (`X-GaiaRouter-Key-Id`), and names in the
//! audit trail. Caller permission × target × organization.

use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::{spawn_app, user_message, TestApp};

async fn session_of(app: &TestApp, key: &str) -> String {
    let answer = app.post("/v1/auth/login", "", json!({"api_key": key})).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
    answer.body["access_token"].as_str().unwrap().to_string()
}

async fn chat_as(app: &TestApp, token: &str, key_id: &str) -> (StatusCode, serde_json::Value) {
    let response = app
        .client
        .post(app.url("/v1/chat/completions"))
        .bearer_auth(token)
        .header("x-gaiarouter-key-id", key_id)
        .json(&json!({"model": "echo/playground", "messages": user_message("hi")}))
        .send()
        .await
        .unwrap();
    let status = response.status();
    (status, response.json().await.unwrap_or_default())
}

#[tokio::test]
async fn one_request_of_the_log_is_shown_only_to_who_may_see_its_organization() {
    let app = spawn_app().await;
    let (mine, theirs) = (app.create_org("Mine").await, app.create_org("Theirs").await);
    let (_, reader) = app.issue_key(&mine, "read").await;
    let (_, admin) = app.issue_key(&mine, "admin").await;
    let (_, other_admin) = app.issue_key(&theirs, "admin").await;
    let (_, other_writer) = app.issue_key(&theirs, "write").await;
    let answer = app.chat(&reader, json!({"model": "echo/x", "messages": user_message("hi")})).await;
    assert_eq!(answer.status, StatusCode::OK);
    let id = answer.id();
    let request_id = {
        let mut found = None;
        for _ in 0..50 {
            let log = app.get("/v1/logs", &app.admin_token).await;
            if let Some(row) = log.body["data"].as_array().and_then(|d| d.first()) {
                found = row["id"].as_str().map(str::to_string);
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        found.unwrap_or_else(|| panic!("the request {id} reached the log"))
    };
    let path = format!("/v1/logs/{request_id}");
    for (who, token, expected) in [
        ("operator", app.admin_token.clone(), StatusCode::OK),
        ("read key of its organization", reader.clone(), StatusCode::OK),
        ("admin key of its organization", admin.clone(), StatusCode::OK),
        // `admin` keys administer the whole gateway, as operators do.
        ("admin key of another organization", other_admin.clone(), StatusCode::OK),
        ("write key of another organization", other_writer.clone(), StatusCode::NOT_FOUND),
        ("nobody", String::new(), StatusCode::UNAUTHORIZED),
    ] {
        let answer = app.get(&path, &token).await;
        assert_eq!(answer.status, expected, "{who}: {}", answer.body);
        if expected == StatusCode::OK {
            assert_eq!(answer.body["organization_name"], "Mine", "{who}");
        }
    }
    let unknown = app.get(&format!("/v1/logs/{}", uuid::Uuid::now_v7()), &app.admin_token).await;
    assert_eq!(unknown.error_code(), "request_not_found");
    assert_eq!(
        app.get("/v1/logs/not-a-uuid", &app.admin_token).await.status,
        StatusCode::NOT_FOUND,
        "as every id route"
    );
}

#[tokio::test]
async fn only_a_signed_in_administrator_of_its_organization_can_try_a_key_in_the_playground() {
    let app = spawn_app().await;
    let (mine, theirs) = (app.create_org("Playful").await, app.create_org("Elsewhere").await);
    let (target_id, target) = app.issue_key(&mine, "read").await;
    let (_, admin) = app.issue_key(&mine, "admin").await;
    let (_, writer) = app.issue_key(&mine, "write").await;
    let (_, other_admin) = app.issue_key(&theirs, "admin").await;
    let (_, other_reader) = app.issue_key(&theirs, "read").await;
    let admin_session = session_of(&app, &admin).await;
    let writer_session = session_of(&app, &writer).await;
    let other_session = session_of(&app, &other_admin).await;
    let other_reader_session = session_of(&app, &other_reader).await;
    for (who, token, expected) in [
        ("operator session", app.admin_token.as_str(), StatusCode::OK),
        ("admin key session of its organization", admin_session.as_str(), StatusCode::OK),
        ("write key session of its organization", writer_session.as_str(), StatusCode::FORBIDDEN),
        // `admin` keys administer the whole gateway, as operators do.
        ("admin key session of another organization", other_session.as_str(), StatusCode::OK),
        ("read key session of another organization", other_reader_session.as_str(), StatusCode::FORBIDDEN),
        ("an API key itself", admin.as_str(), StatusCode::BAD_REQUEST),
        ("nobody", "", StatusCode::UNAUTHORIZED),
    ] {
        let (status, body) = chat_as(&app, token, &target_id).await;
        assert_eq!(status, expected, "{who}: {body}");
    }
    let (status, _) = chat_as(&app, &app.admin_token, &uuid::Uuid::now_v7().to_string()).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "an unknown key");
    let (status, _) = chat_as(&app, &app.admin_token, "not-a-uuid").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    // The three requests ran as the key: recorded against it.
    let mut recorded = 0;
    for _ in 0..50 {
        let log = app.get(&format!("/v1/logs?api_key_id={target_id}&status=success"), &app.admin_token).await;
        recorded = log.body["data"].as_array().map_or(0, Vec::len);
        if recorded == 3 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(recorded, 3);
    // A revoked key cannot be tried either.
    assert_eq!(app.delete(&format!("/v1/api-keys/{target_id}"), &app.admin_token).await.status, StatusCode::OK);
    let mut status = StatusCode::OK;
    for _ in 0..50 {
        status = chat_as(&app, &app.admin_token, &target_id).await.0;
        if status == StatusCode::UNAUTHORIZED {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    drop(target);
}

#[tokio::test]
async fn the_audit_trail_names_its_subjects_and_actors() {
    let app = spawn_app().await;
    let org = app.create_org("Named").await;
    let (key_id, _) = app.issue_key(&org, "admin").await;
    let audit = app.get("/v1/audit", &app.admin_token).await;
    let entries = audit.body["data"].as_array().unwrap();
    let issued = entries.iter().find(|e| e["aggregate_id"] == key_id.as_str()).unwrap();
    assert!(issued["subject_name"].is_string(), "{issued}");
    let created = entries.iter().find(|e| e["aggregate_id"] == org.as_str()).unwrap();
    assert_eq!(created["subject_name"], "Named");
    assert_eq!(created["actor"]["name"], "admin");
    let history = app.get(&format!("/v1/organizations/{org}/history"), &app.admin_token).await;
    assert_eq!(history.body["data"][0]["subject_name"], "Named");
}
