//! Secrets, tokens and permissions.

use base64::Engine;
use jsonwebtoken::{encode, Algorithm, EncodingKey, Header};
use reqwest::StatusCode;
use serde_json::{json, Value};
use sqlx::{Connection, PgConnection, Row};

use crate::helpers::{spawn_app, ADMIN_PASSWORD, JWT_SECRET};

#[tokio::test]
async fn the_database_holds_no_plaintext_secret() {
    let app = spawn_app().await;
    let org = app.create_org("Secretive").await;
    let (key_id, key) = app.issue_key(&org, "write").await;
    let rotated = app.post(&format!("/v1/api-keys/{key_id}/rotate"), &app.admin_token, json!({})).await;
    let new_key = rotated.body["key"].as_str().unwrap().to_string();
    let secrets: Vec<String> = [key.as_str(), new_key.as_str()]
        .iter()
        .map(|k| k.rsplit('-').next().unwrap().to_string())
        .chain([ADMIN_PASSWORD.to_string()])
        .collect();

    let mut db = PgConnection::connect(&app.database_url).await.unwrap();
    let tables: Vec<String> = sqlx::query_scalar("SELECT tablename::text FROM pg_tables WHERE schemaname = 'public'")
        .fetch_all(&mut db)
        .await
        .unwrap();
    assert!(tables.contains(&"events".to_string()) && tables.contains(&"api_key_view".to_string()));
    let mut rows_scanned = 0;
    for table in tables {
        let rows = sqlx::query(&format!(r#"SELECT row_to_json(t)::text AS row FROM "{table}" t"#))
            .fetch_all(&mut db)
            .await
            .unwrap();
        for row in rows {
            let text: String = row.get("row");
            rows_scanned += 1;
            for secret in &secrets {
                assert!(!text.contains(secret.as_str()), "plaintext secret found in {table}: {text}");
            }
        }
    }
    assert!(rows_scanned > 5);
    // Responses never carry hashes either.
    let listed = app.get("/v1/api-keys", &app.admin_token).await.body.to_string();
    assert!(!listed.contains("secret_hash") && !listed.contains(&secrets[0]));
}

#[tokio::test]
async fn rotating_a_key_stops_the_old_secret_at_once() {
    let app = spawn_app().await;
    let org = app.create_org("Rotators").await;
    let (key_id, old_key) = app.issue_key(&org, "read").await;
    assert_eq!(app.get("/v1/auth/me", &old_key).await.status, StatusCode::OK);
    let rotated = app.post(&format!("/v1/api-keys/{key_id}/rotate"), &app.admin_token, json!({})).await;
    assert_eq!(rotated.status, StatusCode::OK);
    let new_key = rotated.body["key"].as_str().unwrap();
    assert_eq!(&new_key[..15], &old_key[..15], "the public prefix is kept");
    assert_eq!(app.get("/v1/auth/me", &old_key).await.status, StatusCode::UNAUTHORIZED);
    assert_eq!(app.get("/v1/auth/me", new_key).await.status, StatusCode::OK);

    assert_eq!(app.delete(&format!("/v1/api-keys/{key_id}"), &app.admin_token).await.status, StatusCode::OK);
    let refused = app.get("/v1/auth/me", new_key).await;
    assert_eq!((refused.status, refused.error_code().as_str()), (StatusCode::UNAUTHORIZED, "invalid_api_key"));
    let again = app.post(&format!("/v1/api-keys/{key_id}/rotate"), &app.admin_token, json!({})).await;
    assert_eq!(again.status, StatusCode::CONFLICT, "a revoked key cannot be revived by rotation");
}

#[tokio::test]
async fn a_session_token_of_a_revoked_key_stops_working() {
    let app = spawn_app().await;
    let org = app.create_org("Sessions").await;
    let (key_id, key) = app.issue_key(&org, "read").await;
    let login = app.post("/v1/auth/login", "", json!({"api_key": key})).await;
    assert_eq!(login.body["token_type"], "Bearer");
    assert!(login.body["expires_in"].as_i64().unwrap() > 0);
    let token = login.body["access_token"].as_str().unwrap().to_string();
    assert_eq!(app.get("/v1/auth/me", &token).await.body["permission"], "read");
    app.delete(&format!("/v1/api-keys/{key_id}"), &app.admin_token).await;
    assert_eq!(app.get("/v1/auth/me", &token).await.status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn wrong_passwords_and_bad_logins_are_refused() {
    let app = spawn_app().await;
    let wrong = app.post("/v1/auth/login", "", json!({"username": "admin", "password": "nope-nope"})).await;
    assert_eq!(wrong.status, StatusCode::UNAUTHORIZED);
    assert_eq!(wrong.error_code(), "invalid_credentials", "a password is not an API key");
    let unknown = app.post("/v1/auth/login", "", json!({"username": "ghost", "password": "nope-nope"})).await;
    assert_eq!(unknown.status, StatusCode::UNAUTHORIZED);
    assert_eq!(unknown.error_code(), "invalid_credentials", "the same answer as a wrong password");
    let both = app.post("/v1/auth/login", "", json!({"username": "admin", "password": "x", "api_key": "gr-a-b"})).await;
    assert_eq!(both.status, StatusCode::BAD_REQUEST);
    let bad_key = app.post("/v1/auth/login", "", json!({"api_key": "gr-abc-def"})).await;
    assert_eq!(bad_key.status, StatusCode::UNAUTHORIZED);
}

fn claims(sub: &str, exp_offset: i64) -> Value {
    let now = chrono::Utc::now().timestamp();
    json!({"sub": sub, "kind": "operator", "iss": "gaiarouter", "iat": now, "exp": now + exp_offset, "jti": uuid::Uuid::now_v7(), "sv": "0"})
}

#[tokio::test]
async fn tampered_expired_and_algorithm_swapped_tokens_are_refused() {
    let app = spawn_app().await;
    let me = app.get("/v1/auth/me", &app.admin_token).await;
    let operator = me.body["id"].as_str().unwrap().to_string();
    let key = EncodingKey::from_secret(JWT_SECRET.as_bytes());

    let valid = encode(&Header::new(Algorithm::HS256), &claims(&operator, 60), &key).unwrap();
    assert_eq!(app.get("/v1/auth/me", &valid).await.status, StatusCode::OK, "control: a well-formed token works");

    let expired = encode(&Header::new(Algorithm::HS256), &claims(&operator, -3600), &key).unwrap();
    let hs512 = encode(&Header::new(Algorithm::HS512), &claims(&operator, 60), &key).unwrap();
    let other_secret = encode(
        &Header::new(Algorithm::HS256),
        &claims(&operator, 60),
        &EncodingKey::from_secret(b"x".repeat(40).as_slice()),
    )
    .unwrap();
    let b64 = |v: &Value| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string());
    let unsigned = format!("{}.{}.", b64(&json!({"alg": "none", "typ": "JWT"})), b64(&claims(&operator, 60)));
    let mut parts: Vec<String> = app.admin_token.split('.').map(str::to_string).collect();
    parts[1] = b64(&claims(&uuid::Uuid::now_v7().to_string(), 60));
    let tampered = parts.join(".");

    for (what, token) in [
        ("expired", expired),
        ("HS512", hs512),
        ("other secret", other_secret),
        ("alg none", unsigned),
        ("tampered", tampered),
    ] {
        let answer = app.get("/v1/organizations", &token).await;
        assert_eq!(answer.status, StatusCode::UNAUTHORIZED, "{what} token must be refused");
        assert_eq!(answer.body["error"]["type"], "authentication_error");
    }
    assert_eq!(app.get("/v1/organizations", "").await.status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn a_write_key_cannot_see_or_change_another_organization() {
    let app = spawn_app().await;
    let org_a = app.create_org("Org A").await;
    let org_b = app.create_org("Org B").await;
    let (_, key_a) = app.issue_key(&org_a, "write").await;
    let (key_b_id, _) = app.issue_key(&org_b, "read").await;

    assert_eq!(app.get(&format!("/v1/organizations/{org_b}"), &key_a).await.status, StatusCode::NOT_FOUND);
    assert_eq!(app.get(&format!("/v1/organizations/{org_b}/history"), &key_a).await.status, StatusCode::NOT_FOUND);
    assert_eq!(app.get(&format!("/v1/api-keys/{key_b_id}"), &key_a).await.status, StatusCode::NOT_FOUND);
    assert_eq!(app.get(&format!("/v1/api-keys/{key_b_id}/history"), &key_a).await.status, StatusCode::NOT_FOUND);
    assert_eq!(
        app.patch(&format!("/v1/api-keys/{key_b_id}"), &key_a, json!({"name": "x"})).await.status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(app.delete(&format!("/v1/api-keys/{key_b_id}"), &key_a).await.status, StatusCode::NOT_FOUND);
    assert_eq!(
        app.post(&format!("/v1/api-keys/{key_b_id}/rotate"), &key_a, json!({})).await.status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(app.get(&format!("/v1/api-keys?organization_id={org_b}"), &key_a).await.status, StatusCode::NOT_FOUND);
    let into_b = app
        .post("/v1/api-keys", &key_a, json!({"organization_id": org_b, "name": "sneaky", "permission": "read"}))
        .await;
    assert_eq!(into_b.status, StatusCode::NOT_FOUND);
    assert_eq!(
        app.patch(&format!("/v1/organizations/{org_b}"), &key_a, json!({"name": "Mine"})).await.status,
        StatusCode::NOT_FOUND
    );

    let listed = app.get("/v1/organizations", &key_a).await;
    let ids: Vec<&str> = listed.body["data"].as_array().unwrap().iter().map(|o| o["id"].as_str().unwrap()).collect();
    assert_eq!(ids, [org_a.as_str()]);
    let keys = app.get("/v1/api-keys", &key_a).await;
    assert!(keys.body["data"].as_array().unwrap().iter().all(|k| k["organization_id"] == org_a.as_str()));

    // Within its own organization a write key manages keys, but not the organization,
    // and cannot grant more than it has.
    let own = app.post("/v1/api-keys", &key_a, json!({"name": "deploy", "permission": "read"})).await;
    assert_eq!(own.status, StatusCode::CREATED, "{}", own.body);
    assert_eq!(own.body["organization_id"], org_a.as_str());
    let escalate = app.post("/v1/api-keys", &key_a, json!({"name": "root", "permission": "admin"})).await;
    assert_eq!(escalate.status, StatusCode::FORBIDDEN);
    assert_eq!(
        app.patch(&format!("/v1/organizations/{org_a}"), &key_a, json!({"name": "Renamed"})).await.status,
        StatusCode::FORBIDDEN
    );
    assert_eq!(app.post("/v1/organizations", &key_a, json!({"name": "New"})).await.status, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn a_read_key_can_read_its_organization_but_change_nothing() {
    let app = spawn_app().await;
    let org = app.create_org("Readers").await;
    let (read_id, read_key) = app.issue_key(&org, "read").await;
    let (other_id, _) = app.issue_key(&org, "write").await;
    assert_eq!(app.get(&format!("/v1/organizations/{org}"), &read_key).await.status, StatusCode::OK);
    assert_eq!(app.get(&format!("/v1/api-keys/{other_id}"), &read_key).await.status, StatusCode::OK);
    assert_eq!(app.get(&format!("/v1/api-keys/{other_id}/history"), &read_key).await.status, StatusCode::OK);
    let forbidden = [
        app.post("/v1/api-keys", &read_key, json!({"name": "x", "permission": "read"})).await,
        app.patch(&format!("/v1/api-keys/{other_id}"), &read_key, json!({"name": "y"})).await,
        app.post(&format!("/v1/api-keys/{other_id}/rotate"), &read_key, json!({})).await,
        app.delete(&format!("/v1/api-keys/{read_id}"), &read_key).await,
        app.patch(&format!("/v1/organizations/{org}"), &read_key, json!({"name": "z"})).await,
        app.delete(&format!("/v1/organizations/{org}"), &read_key).await,
    ];
    for answer in forbidden {
        assert_eq!((answer.status, answer.error_code().as_str()), (StatusCode::FORBIDDEN, "permission_denied"));
    }
}

#[tokio::test]
async fn keys_of_suspended_organizations_and_expired_keys_are_refused() {
    let app = spawn_app().await;
    let org = app.create_org("Sleepy").await;
    let (_, key) = app.issue_key(&org, "read").await;
    app.patch(&format!("/v1/organizations/{org}"), &app.admin_token, json!({"status": "suspended"})).await;
    assert_eq!(app.get("/v1/auth/me", &key).await.status, StatusCode::FORBIDDEN);
    app.patch(&format!("/v1/organizations/{org}"), &app.admin_token, json!({"status": "active"})).await;
    assert_eq!(app.get("/v1/auth/me", &key).await.status, StatusCode::OK);

    let expiry = chrono::Utc::now() + chrono::Duration::seconds(3);
    let (_, expiring) = app
        .issue_key_with(json!({"organization_id": org, "name": "short", "permission": "read", "expires_at": expiry}))
        .await;
    // Decided by the clock, not by a margin: valid whenever asked before its expiry...
    let status = app.get("/v1/auth/me", &expiring).await.status;
    let asked_before_expiry = chrono::Utc::now() < expiry;
    assert!(!asked_before_expiry || status == StatusCode::OK, "{status} before expiry");
    // ... and refused once the expiry has passed, however late that is.
    crate::helpers::sleep_past(expiry).await;
    assert_eq!(app.get("/v1/auth/me", &expiring).await.status, StatusCode::UNAUTHORIZED);

    app.delete(&format!("/v1/organizations/{org}"), &app.admin_token).await;
    assert_eq!(app.get("/v1/auth/me", &key).await.status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn health_and_the_generated_api_description_are_served() {
    let app = spawn_app().await;
    let health = app.get("/health", "").await;
    assert_eq!((health.status, health.body["database"].as_str()), (StatusCode::OK, Some("ok")));
    let spec = app.get("/openapi.json", "").await;
    for path in ["/v1/organizations", "/v1/api-keys/{id}/rotate", "/v1/audit", "/v1/auth/login"] {
        assert!(spec.body["paths"][path].is_object(), "{path} missing from the OpenAPI document");
    }
    let docs = app.client.get(app.url("/docs")).send().await.unwrap();
    assert_eq!(docs.status(), StatusCode::OK);
    assert!(docs.text().await.unwrap().contains("<html"));
}

/// Issue 13's first-day finding: query parameters (`limit`, `after`, `from`, `group_by`...)
/// were declared as required path parameters, so a client generated from the document
/// was broken. Every path parameter must be in its path, and the filters are queries.
#[tokio::test]
async fn the_api_description_declares_path_parameters_in_paths_and_filters_as_queries() {
    let app = spawn_app().await;
    let spec = app.get("/openapi.json", "").await.body;
    let paths = spec["paths"].as_object().unwrap();
    let mut queries = 0;
    for (path, operations) in paths {
        for (method, operation) in operations.as_object().unwrap() {
            for parameter in operation["parameters"].as_array().into_iter().flatten() {
                let name = parameter["name"].as_str().unwrap();
                match parameter["in"].as_str() {
                    Some("path") => {
                        assert!(path.contains(&format!("{{{name}}}")), "{method} {path}: path parameter {name}")
                    }
                    Some("query") => {
                        queries += 1;
                        assert_ne!(parameter["required"], json!(true), "{method} {path}: {name} is optional");
                    }
                    // Anthropic's version and beta headers, forwarded upstream.
                    Some("header") => assert!(path.starts_with("/v1/messages"), "{method} {path}: header {name}"),
                    other => panic!("{method} {path}: {name} in {other:?}"),
                }
            }
        }
    }
    let logs = &paths["/v1/logs"]["get"]["parameters"];
    let limit = logs.as_array().unwrap().iter().find(|p| p["name"] == "limit").unwrap();
    assert_eq!(limit["in"], "query");
    assert!(queries >= 30, "{queries} query parameters");
}
