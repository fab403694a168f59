//! Finding 10: operators can be managed (API), every change is audited, guard rails
//! hold, and only operators may do it (permission matrix).

use gaiarouter::admin::Actor;
use gaiarouter::error::ApiError;
use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::helpers::{spawn_app, TestApp, ADMIN_PASSWORD};

const PASSWORD: &str = "operator password 1";

async fn create(app: &TestApp, username: &str) -> String {
    let answer = app.post("/v1/operators", &app.admin_token, json!({"username": username, "password": PASSWORD})).await;
    assert_eq!(answer.status, StatusCode::CREATED, "{}", answer.body);
    answer.id()
}

async fn login_status(app: &TestApp, username: &str, password: &str) -> StatusCode {
    app.post("/v1/auth/login", "", json!({"username": username, "password": password})).await.status
}

#[tokio::test]
async fn operators_are_listed_created_disabled_enabled_and_deleted() {
    let app = spawn_app().await;
    let id = create(&app, "Carol").await;
    let listed = app.get("/v1/operators", &app.admin_token).await;
    let names: Vec<&str> =
        listed.body["data"].as_array().unwrap().iter().map(|o| o["username"].as_str().unwrap()).collect();
    assert_eq!(names, ["admin", "Carol"]);
    assert!(!listed.body.to_string().contains("password"), "no hash is ever answered");

    let disabled = app.post(&format!("/v1/operators/{id}/disable"), &app.admin_token, json!({})).await;
    assert_eq!((disabled.status, disabled.body["status"].as_str()), (StatusCode::OK, Some("disabled")));
    assert_eq!(login_status(&app, "carol", PASSWORD).await, StatusCode::UNAUTHORIZED);
    let twice = app.post(&format!("/v1/operators/{id}/disable"), &app.admin_token, json!({})).await;
    assert_eq!(twice.status, StatusCode::CONFLICT);

    let enabled = app.post(&format!("/v1/operators/{id}/enable"), &app.admin_token, json!({})).await;
    assert_eq!((enabled.status, enabled.body["status"].as_str()), (StatusCode::OK, Some("active")));
    assert_eq!(login_status(&app, "carol", PASSWORD).await, StatusCode::OK);

    assert_eq!(app.delete(&format!("/v1/operators/{id}"), &app.admin_token).await.status, StatusCode::OK);
    assert_eq!(app.get(&format!("/v1/operators/{id}"), &app.admin_token).await.status, StatusCode::NOT_FOUND);
    assert_eq!(login_status(&app, "carol", PASSWORD).await, StatusCode::UNAUTHORIZED);
    assert_eq!(app.delete(&format!("/v1/operators/{id}"), &app.admin_token).await.status, StatusCode::NOT_FOUND);
    // The username is released: a new operator may take it (a different id).
    let again = create(&app, "carol").await;
    assert_ne!(again, id);
    assert_eq!(login_status(&app, "carol", PASSWORD).await, StatusCode::OK);
    let duplicate =
        app.post("/v1/operators", &app.admin_token, json!({"username": "CAROL", "password": PASSWORD})).await;
    assert_eq!(duplicate.status, StatusCode::CONFLICT);
}

#[tokio::test]
async fn every_operator_change_is_in_the_audit_with_actor_ip_and_user_agent() {
    let app = spawn_app().await;
    let id = create(&app, "dave").await;
    for path in ["disable", "enable", "sessions/end"] {
        assert!(app.post(&format!("/v1/operators/{id}/{path}"), &app.admin_token, json!({})).await.status.is_success());
    }
    let changed = app
        .post(&format!("/v1/operators/{id}/password"), &app.admin_token, json!({"password": "new password 22"}))
        .await;
    assert_eq!(changed.status, StatusCode::NO_CONTENT);
    assert_eq!(app.delete(&format!("/v1/operators/{id}"), &app.admin_token).await.status, StatusCode::OK);

    let audit = app.get(&format!("/v1/audit?aggregate_type=Operator&aggregate_id={id}"), &app.admin_token).await;
    let entries = audit.body["data"].as_array().unwrap();
    let mut types = TestApp::event_types(entries);
    types.reverse();
    assert_eq!(
        types,
        [
            "OperatorCreated",
            "OperatorDisabled",
            "OperatorEnabled",
            "OperatorSessionsEnded",
            "OperatorPasswordChanged",
            "OperatorDeleted"
        ]
    );
    let me = app.get("/v1/auth/me", &app.admin_token).await;
    for entry in entries {
        assert_eq!(entry["actor"]["type"], "operator");
        assert_eq!(entry["actor"]["id"], me.body["id"]);
        assert_eq!(entry["client_ip"], "127.0.0.1");
        assert!(entry["user_agent"].is_string() || entry["user_agent"].is_null());
        assert!(!entry.to_string().contains("$argon2"), "hashes are redacted");
    }
}

#[tokio::test]
async fn nobody_locks_themselves_or_everyone_out() {
    let app = spawn_app().await;
    let me = app.get("/v1/auth/me", &app.admin_token).await.id();
    for (method, path) in
        [(Method::POST, format!("/v1/operators/{me}/disable")), (Method::DELETE, format!("/v1/operators/{me}"))]
    {
        let answer = app.call(method, &path, &app.admin_token, Some(json!({}))).await;
        assert_eq!((answer.status, answer.error_code().as_str()), (StatusCode::CONFLICT, "self_lockout"), "{path}");
    }
    // The CLI acts as `system`, not as an operator: only the last-active rule stops it.
    let system = Actor::system("cli");
    let me_id = me.parse().unwrap();
    let error = ApiError::from(app.state.admin.disable_operator(me_id, &system).await.unwrap_err());
    assert_eq!((error.status.as_u16(), error.code), (409, "last_operator"));
    let error = ApiError::from(app.state.admin.delete_operator(me_id, &system).await.unwrap_err());
    assert_eq!(error.code, "last_operator");
    // With a second active operator, the first may go; then the second is the last.
    let other = create(&app, "erin").await;
    app.state.admin.disable_operator(me_id, &system).await.unwrap();
    let error = ApiError::from(app.state.admin.disable_operator(other.parse().unwrap(), &system).await.unwrap_err());
    assert_eq!(error.code, "last_operator");
}

#[tokio::test]
async fn changing_ones_own_password_needs_the_current_one() {
    let app = spawn_app().await;
    let me = app.get("/v1/auth/me", &app.admin_token).await.id();
    let path = format!("/v1/operators/{me}/password");
    let missing = app.post(&path, &app.admin_token, json!({"password": "brand new pass"})).await;
    assert_eq!((missing.status, missing.error_code().as_str()), (StatusCode::BAD_REQUEST, "current_password_required"));
    let wrong =
        app.post(&path, &app.admin_token, json!({"password": "brand new pass", "current_password": "nope nope"})).await;
    assert_eq!(wrong.status, StatusCode::FORBIDDEN);
    let short =
        app.post(&path, &app.admin_token, json!({"password": "short", "current_password": ADMIN_PASSWORD})).await;
    assert_eq!(short.status, StatusCode::BAD_REQUEST);
    let ok = app
        .post(&path, &app.admin_token, json!({"password": "brand new pass", "current_password": ADMIN_PASSWORD}))
        .await;
    assert_eq!(ok.status, StatusCode::NO_CONTENT, "{}", ok.body);
    assert_eq!(app.get("/v1/auth/me", &app.admin_token).await.status, StatusCode::UNAUTHORIZED);
    assert_eq!(login_status(&app, "admin", ADMIN_PASSWORD).await, StatusCode::UNAUTHORIZED);
    assert_eq!(login_status(&app, "admin", "brand new pass").await, StatusCode::OK);
}

/// Caller × action × target → status. Keys (any permission, any organization) may
/// not manage operators; operators may, except locking themselves out.
#[tokio::test]
async fn permission_matrix_for_operator_management() {
    let app = spawn_app().await;
    let org = app.create_org("Matrix").await;
    let other_org = app.create_org("Matrix other").await;
    let (_, admin_key) = app.issue_key(&org, "admin").await;
    let (_, write_key) = app.issue_key(&org, "write").await;
    let (_, read_key) = app.issue_key(&org, "read").await;
    let (_, foreign_key) = app.issue_key(&other_org, "admin").await;
    let key_session = app.post("/v1/auth/login", "", json!({"api_key": admin_key})).await.body["access_token"]
        .as_str()
        .unwrap()
        .to_string();
    let me = app.get("/v1/auth/me", &app.admin_token).await.id();

    let actions = ["list", "create", "get", "disable", "enable", "delete", "password", "end_sessions"];
    let callers = [
        ("admin key", admin_key.as_str()),
        ("admin key session", key_session.as_str()),
        ("write key", write_key.as_str()),
        ("read key", read_key.as_str()),
        ("other org key", foreign_key.as_str()),
        ("nobody", ""),
    ];
    let mut n = 0;
    let mut call = |token: String, action: &'static str, target: String| {
        n += 1;
        let app = &app;
        let body = json!({"username": format!("new-{n}"), "password": PASSWORD});
        async move {
            let (method, path, body) = match action {
                "list" => (Method::GET, "/v1/operators".to_string(), None),
                "create" => (Method::POST, "/v1/operators".to_string(), Some(body)),
                "get" => (Method::GET, format!("/v1/operators/{target}"), None),
                "disable" | "enable" => (Method::POST, format!("/v1/operators/{target}/{action}"), Some(json!({}))),
                "delete" => (Method::DELETE, format!("/v1/operators/{target}"), None),
                "password" => (
                    Method::POST,
                    format!("/v1/operators/{target}/password"),
                    Some(json!({"password": "x-password-9"})),
                ),
                _ => (Method::POST, format!("/v1/operators/{target}/sessions/end"), Some(json!({}))),
            };
            app.call(method, &path, &token, body).await.status
        }
    };
    for (caller, token) in callers {
        let target = create(&app, &format!("target-{}", caller.replace(' ', "-"))).await;
        for action in actions {
            let expected = if token.is_empty() { StatusCode::UNAUTHORIZED } else { StatusCode::FORBIDDEN };
            let got = call(token.to_string(), action, target.clone()).await;
            assert_eq!(got, expected, "{caller} × {action} × other operator");
        }
    }
    // An operator on another operator: everything works (enable after disable).
    let expected_on_other = [
        ("list", 200),
        ("create", 201),
        ("get", 200),
        ("disable", 200),
        ("enable", 200),
        ("password", 204),
        ("end_sessions", 204),
        ("delete", 200),
    ];
    let target = create(&app, "target-of-operator").await;
    for (action, status) in expected_on_other {
        let got = call(app.admin_token.clone(), action, target.clone()).await;
        assert_eq!(got.as_u16(), status, "operator × {action} × other operator");
    }
    // An operator on itself: no lockout; a password change needs the current one.
    let expected_on_self =
        [("get", 200), ("disable", 409), ("delete", 409), ("enable", 409), ("password", 400), ("end_sessions", 204)];
    for (action, status) in expected_on_self {
        let got = call(app.admin_token.clone(), action, me.clone()).await;
        assert_eq!(got.as_u16(), status, "operator × {action} × self");
    }
}
