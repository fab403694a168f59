//! Finding 5: sessions die with what they were minted from — on every replica, at once.

use jsonwebtoken::{encode, Algorithm, EncodingKey, Header};
use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::{spawn_app, spawn_app_on, ADMIN_PASSWORD, ADMIN_USER, JWT_SECRET};

async fn key_session(app: &crate::helpers::TestApp, key: &str) -> String {
    let answer = app.post("/v1/auth/login", "", json!({"api_key": key})).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
    answer.body["access_token"].as_str().unwrap().to_string()
}

#[tokio::test]
async fn a_session_minted_from_a_key_dies_when_the_key_is_rotated_or_revoked() {
    let app = spawn_app().await;
    let org = app.create_org("Rotated sessions").await;
    let (key_id, key) = app.issue_key(&org, "admin").await;
    let session = key_session(&app, &key).await;
    assert_eq!(app.get("/v1/auth/me", &session).await.status, StatusCode::OK);

    let rotated = app.post(&format!("/v1/api-keys/{key_id}/rotate"), &app.admin_token, json!({})).await;
    assert_eq!(rotated.status, StatusCode::OK);

    assert_eq!(app.get("/v1/auth/me", &session).await.status, StatusCode::UNAUTHORIZED);
    // The attack: the old session rotates again to read the new secret.
    let again = app.post(&format!("/v1/api-keys/{key_id}/rotate"), &session, json!({})).await;
    assert_eq!(again.status, StatusCode::UNAUTHORIZED, "{}", again.body);
    assert!(again.body.get("key").is_none());
    // A session minted from the new secret works.
    let new_key = rotated.body["key"].as_str().unwrap();
    let fresh = key_session(&app, new_key).await;
    assert_eq!(app.get("/v1/auth/me", &fresh).await.status, StatusCode::OK);
    // Revoking ends it too.
    assert_eq!(app.delete(&format!("/v1/api-keys/{key_id}"), &app.admin_token).await.status, StatusCode::OK);
    assert_eq!(app.get("/v1/auth/me", &fresh).await.status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn a_token_without_a_session_version_is_refused() {
    let app = spawn_app().await;
    let me = app.get("/v1/auth/me", &app.admin_token).await;
    let now = chrono::Utc::now().timestamp();
    let claims = json!({"sub": me.body["id"], "kind": "operator", "iss": "gaiarouter", "iat": now,
        "exp": now + 600, "jti": uuid::Uuid::now_v7()});
    let old_style =
        encode(&Header::new(Algorithm::HS256), &claims, &EncodingKey::from_secret(JWT_SECRET.as_bytes())).unwrap();
    assert_eq!(app.get("/v1/auth/me", &old_style).await.status, StatusCode::UNAUTHORIZED);
    let mut stale = claims.clone();
    stale["sv"] = json!("-1");
    let stale =
        encode(&Header::new(Algorithm::HS256), &stale, &EncodingKey::from_secret(JWT_SECRET.as_bytes())).unwrap();
    assert_eq!(app.get("/v1/auth/me", &stale).await.status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn logout_ends_every_session_of_the_operator_on_every_replica() {
    let app = spawn_app().await;
    let replica = spawn_app_on(&app.database_url).await;
    let laptop = app.login(ADMIN_USER, ADMIN_PASSWORD).await;
    let phone = replica.login(ADMIN_USER, ADMIN_PASSWORD).await;
    assert_eq!(replica.get("/v1/auth/me", &laptop).await.status, StatusCode::OK);

    let answer = app.post("/v1/auth/logout", &laptop, json!({})).await;
    assert_eq!(answer.status, StatusCode::NO_CONTENT, "{}", answer.body);

    for token in [&laptop, &phone, &app.admin_token] {
        assert_eq!(app.get("/v1/auth/me", token).await.status, StatusCode::UNAUTHORIZED);
        assert_eq!(replica.get("/v1/auth/me", token).await.status, StatusCode::UNAUTHORIZED);
    }
    let again = replica.login(ADMIN_USER, ADMIN_PASSWORD).await;
    assert_eq!(app.get("/v1/auth/me", &again).await.status, StatusCode::OK);
}

#[tokio::test]
async fn logout_with_a_key_says_to_rotate_it() {
    let app = spawn_app().await;
    let org = app.create_org("Key logout").await;
    let (_, key) = app.issue_key(&org, "admin").await;
    let answer = app.post("/v1/auth/logout", &key, json!({})).await;
    assert_eq!((answer.status, answer.error_code().as_str()), (StatusCode::BAD_REQUEST, "not_an_operator"));
}

#[tokio::test]
async fn password_change_disable_delete_and_ending_sessions_each_end_an_operators_sessions() {
    let app = spawn_app().await;
    let password = "initial password 1";
    for action in ["password", "disable", "delete", "end_sessions"] {
        let name = format!("victim-{action}");
        let created =
            app.post("/v1/operators", &app.admin_token, json!({"username": name, "password": password})).await;
        assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
        let id = created.id();
        let session = app.login(&name, password).await;
        assert_eq!(app.get("/v1/auth/me", &session).await.status, StatusCode::OK);
        let answer = match action {
            "password" => {
                app.post(
                    &format!("/v1/operators/{id}/password"),
                    &app.admin_token,
                    json!({"password": "another one 2"}),
                )
                .await
            }
            "disable" => app.post(&format!("/v1/operators/{id}/disable"), &app.admin_token, json!({})).await,
            "delete" => app.delete(&format!("/v1/operators/{id}"), &app.admin_token).await,
            _ => app.post(&format!("/v1/operators/{id}/sessions/end"), &app.admin_token, json!({})).await,
        };
        assert!(answer.status.is_success(), "{action}: {} {}", answer.status, answer.body);
        assert_eq!(app.get("/v1/auth/me", &session).await.status, StatusCode::UNAUTHORIZED, "{action}");
    }
    assert_eq!(app.get("/v1/auth/me", &app.admin_token).await.status, StatusCode::OK, "the acting admin is untouched");
}
