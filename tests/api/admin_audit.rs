//! The audit trail and "as of" queries.

use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::{spawn_app, TestApp};

#[tokio::test]
async fn history_lists_every_change_in_order_with_actor_and_as_of_returns_each_past_state() {
    let app = spawn_app().await;
    let token = app.admin_token.clone();
    let org = app.create_org("Acme").await;
    let (key, _) = app.issue_key(&org, "write").await;
    let renamed = app.patch(&format!("/v1/organizations/{org}"), &token, json!({"name": "Acme Corp"})).await;
    assert_eq!(renamed.status, StatusCode::OK, "{}", renamed.body);
    let limited = app
        .patch(
            &format!("/v1/organizations/{org}"),
            &token,
            json!({"limits": {"monthly_requests": 1000, "monthly_cost_usd": 25.5}}),
        )
        .await;
    assert_eq!(limited.body["limits"]["monthly_cost_usd"], json!(25.5));
    assert_eq!(app.delete(&format!("/v1/api-keys/{key}"), &token).await.status, StatusCode::OK);

    let org_history = app.history(&format!("/v1/organizations/{org}/history")).await;
    assert_eq!(
        TestApp::event_types(&org_history),
        ["OrganizationCreated", "OrganizationRenamed", "OrganizationLimitsChanged"]
    );
    let key_history = app.history(&format!("/v1/api-keys/{key}/history")).await;
    assert_eq!(TestApp::event_types(&key_history), ["ApiKeyIssued", "ApiKeyRevoked"]);
    for (i, event) in org_history.iter().enumerate() {
        assert_eq!(event["sequence"], json!(i + 1));
        assert_eq!(event["actor"]["type"], "operator");
        assert_eq!(event["actor"]["name"], "admin");
        assert_eq!(event["client_ip"], "127.0.0.1");
        assert!(event["recorded_at"].is_string());
        assert!(event["request_id"].is_string());
    }
    assert_eq!(org_history[1]["payload"]["name"], "Acme Corp");
    assert_eq!(key_history[0]["payload"]["secret_hash"], "[redacted]");

    // Each past moment answers the state of that moment.
    let at = |i: usize| org_history[i]["recorded_at"].as_str().unwrap().to_string();
    let as_of = |time: String| {
        let app = &app;
        let path = format!("/v1/organizations/{org}?as_of={}", urlencode(&time));
        async move { app.get(&path, &app.admin_token).await }
    };
    let first = as_of(at(0)).await;
    assert_eq!((first.body["name"].as_str(), first.body["version"].as_i64()), (Some("Acme"), Some(1)));
    assert_eq!(first.body["limits"]["monthly_requests"], json!(null));
    let second = as_of(at(1)).await;
    assert_eq!((second.body["name"].as_str(), second.body["version"].as_i64()), (Some("Acme Corp"), Some(2)));
    let third = as_of(at(2)).await;
    assert_eq!(third.body["limits"]["monthly_requests"], json!(1000));
    let before = as_of("2000-01-01T00:00:00Z".into()).await;
    assert_eq!(before.status, StatusCode::NOT_FOUND);

    let key_at = key_history[0]["recorded_at"].as_str().unwrap().to_string();
    let past_key = app.get(&format!("/v1/api-keys/{key}?as_of={}", urlencode(&key_at)), &token).await;
    assert_eq!(past_key.body["status"], "active");
    assert_eq!(app.get(&format!("/v1/api-keys/{key}"), &token).await.body["status"], "revoked");
}

#[tokio::test]
async fn the_global_audit_log_filters_by_type_actor_and_time_and_pages_newest_first() {
    let app = spawn_app().await;
    let token = app.admin_token.clone();
    let org = app.create_org("Globex").await;
    let (_, admin_key) = app.issue_key(&org, "admin").await;
    let by_key = app.post("/v1/organizations", &admin_key, json!({"name": "Initech"})).await;
    assert_eq!(by_key.status, StatusCode::CREATED);
    let key_actor = app.get("/v1/auth/me", &admin_key).await.body["id"].as_str().unwrap().to_string();

    let all = app.get("/v1/audit?limit=100", &token).await;
    let types = TestApp::event_types(all.body["data"].as_array().unwrap());
    assert_eq!(types[0], "OrganizationCreated", "newest first: {types:?}");
    assert!(types.contains(&"OperatorCreated".to_string()));

    let keys_only = app.get("/v1/audit?aggregate_type=ApiKey", &token).await;
    assert_eq!(TestApp::event_types(keys_only.body["data"].as_array().unwrap()), ["ApiKeyIssued"]);

    let by_actor = app.get(&format!("/v1/audit?actor={key_actor}"), &token).await;
    let entries = by_actor.body["data"].as_array().unwrap();
    assert_eq!(entries.len(), 1);
    assert_eq!(entries[0]["actor"]["type"], "api_key");
    assert_eq!(entries[0]["payload"]["name"], "Initech");

    let future = app.get("/v1/audit?from=2999-01-01T00:00:00Z", &token).await;
    assert_eq!(future.body["data"], json!([]));

    let first_page = app.get("/v1/audit?limit=2", &token).await;
    assert_eq!(first_page.body["has_more"], json!(true));
    let cursor = first_page.body["data"][1]["position"].as_i64().unwrap();
    let second_page = app.get(&format!("/v1/audit?limit=2&after={cursor}"), &token).await;
    assert!(second_page.body["data"][0]["position"].as_i64().unwrap() < cursor);

    let bad_type = app.get("/v1/audit?aggregate_type=Request", &token).await;
    assert_eq!(bad_type.status, StatusCode::BAD_REQUEST);
    let (_, write_key) = app.issue_key(&org, "write").await;
    assert_eq!(app.get("/v1/audit", &write_key).await.status, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn a_view_left_behind_by_a_failed_update_is_repaired_at_the_next_start() {
    let app = spawn_app().await;
    let org = app.create_org("Umbrella").await;
    let id = uuid::Uuid::parse_str(&org).unwrap();
    // The event commits but the view update never happens, as if the process died in between.
    let actor = gaiarouter::admin::Actor::system("test");
    let command = gaiarouter_domain::organization::OrganizationCommand::Rename {
        name: "Umbrella Corp".into(),
        at: chrono::Utc::now(),
    };
    app.state.admin.commit_without_view_update(id, command, &actor).await.unwrap();
    let stale = app.get(&format!("/v1/organizations/{org}"), &app.admin_token).await;
    assert_eq!(stale.body["name"], "Umbrella", "the view is behind its stream");

    let restarted = crate::helpers::spawn_app_on(&app.database_url).await;
    let repaired = restarted.get(&format!("/v1/organizations/{org}"), &restarted.admin_token).await;
    assert_eq!(repaired.body["name"], "Umbrella Corp");
    assert_eq!(repaired.body["version"], json!(2));
    let history = restarted.history(&format!("/v1/organizations/{org}/history")).await;
    assert_eq!(history.len(), 2);
    assert_eq!(history[1]["actor"]["type"], "system");
}

#[tokio::test]
async fn deleting_an_organization_keeps_its_history_and_frees_its_name() {
    let app = spawn_app().await;
    let token = app.admin_token.clone();
    let org = app.create_org("Hooli").await;
    let duplicate = app.post("/v1/organizations", &token, json!({"name": "hooli "})).await;
    assert_eq!((duplicate.status, duplicate.error_code().as_str()), (StatusCode::CONFLICT, "name_taken"));
    assert_eq!(app.delete(&format!("/v1/organizations/{org}"), &token).await.status, StatusCode::OK);
    assert_eq!(app.get(&format!("/v1/organizations/{org}"), &token).await.status, StatusCode::NOT_FOUND);
    let listed = app.get("/v1/organizations", &token).await;
    assert_eq!(listed.body["data"], json!([]));
    let history = app.history(&format!("/v1/organizations/{org}/history")).await;
    assert_eq!(TestApp::event_types(&history), ["OrganizationCreated", "OrganizationDeleted"]);
    let again = app.post("/v1/organizations", &token, json!({"name": "Hooli"})).await;
    assert_eq!(again.status, StatusCode::CREATED);
    assert_ne!(again.id(), org);
}

#[tokio::test]
async fn renaming_frees_the_old_name_and_suspension_round_trips() {
    let app = spawn_app().await;
    let token = app.admin_token.clone();
    let org = app.create_org("Pied Piper").await;
    let other = app.create_org("Raviga").await;
    let taken = app.patch(&format!("/v1/organizations/{other}"), &token, json!({"name": "pied piper"})).await;
    assert_eq!(taken.status, StatusCode::CONFLICT);
    app.patch(&format!("/v1/organizations/{org}"), &token, json!({"name": "PiperNet"})).await;
    let freed = app.patch(&format!("/v1/organizations/{other}"), &token, json!({"name": "Pied Piper"})).await;
    assert_eq!(freed.status, StatusCode::OK, "{}", freed.body);
    let suspended = app.patch(&format!("/v1/organizations/{org}"), &token, json!({"status": "suspended"})).await;
    assert_eq!(suspended.body["status"], "suspended");
    let again = app.patch(&format!("/v1/organizations/{org}"), &token, json!({"status": "suspended"})).await;
    assert_eq!(again.status, StatusCode::OK, "setting the same status is idempotent");
    let active = app.patch(&format!("/v1/organizations/{org}"), &token, json!({"status": "active"})).await;
    assert_eq!(active.body["status"], "active");
    let history = app.history(&format!("/v1/organizations/{org}/history")).await;
    assert_eq!(
        TestApp::event_types(&history),
        ["OrganizationCreated", "OrganizationRenamed", "OrganizationSuspended", "OrganizationReactivated"]
    );
}

pub fn urlencode(text: &str) -> String {
    text.replace('+', "%2B").replace(':', "%3A")
}
