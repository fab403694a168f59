//! Bad input is a 4xx in the error shape, never a 500.

use reqwest::Method;
use serde_json::json;

use crate::helpers::spawn_app;

#[tokio::test]
async fn bad_input_is_answered_with_4xx_in_the_error_shape() {
    let app = spawn_app().await;
    let token = app.admin_token.clone();
    let org = app.create_org("Validators").await;
    let (key, _) = app.issue_key(&org, "read").await;

    let cases = vec![
        ("malformed JSON", app.send_raw(Method::POST, "/v1/organizations", &token, "application/json", b"{\"name\":".to_vec()).await),
        ("not JSON content type", app.send_raw(Method::POST, "/v1/organizations", &token, "text/plain", b"name=x".to_vec()).await),
        ("wrong type", app.post("/v1/organizations", &token, json!({"name": 42})).await),
        ("array body", app.post("/v1/organizations", &token, json!(["x"])).await),
        ("unknown field", app.post("/v1/organizations", &token, json!({"name": "x", "plan": "gold"})).await),
        ("unknown limit field", app.post("/v1/organizations", &token, json!({"name": "x", "limits": {"daily": 1}})).await),
        ("empty name", app.post("/v1/organizations", &token, json!({"name": "   "})).await),
        ("missing name", app.post("/v1/organizations", &token, json!({})).await),
        ("huge name", app.post("/v1/organizations", &token, json!({"name": "x".repeat(300)})).await),
        ("negative request limit", app.post("/v1/organizations", &token, json!({"name": "x", "limits": {"monthly_requests": -1}})).await),
        ("negative cost limit", app.post("/v1/organizations", &token, json!({"name": "x", "limits": {"monthly_cost_usd": -0.5}})).await),
        ("too precise cost", app.post("/v1/organizations", &token, json!({"name": "x", "limits": {"monthly_cost_usd": 0.0000000001}})).await),
        ("fractional request limit", app.post("/v1/organizations", &token, json!({"name": "x", "limits": {"monthly_requests": 1.5}})).await),
        ("oversized body", app.post("/v1/organizations", &token, json!({"name": "x".repeat(200_000)})).await),
        ("bad permission", app.post("/v1/api-keys", &token, json!({"organization_id": org, "name": "k", "permission": "root"})).await),
        ("missing organization", app.post("/v1/api-keys", &token, json!({"name": "k", "permission": "read"})).await),
        ("past expiry", app.post("/v1/api-keys", &token, json!({"organization_id": org, "name": "k", "permission": "read", "expires_at": "2001-01-01T00:00:00Z"})).await),
        ("bad timestamp", app.post("/v1/api-keys", &token, json!({"organization_id": org, "name": "k", "permission": "read", "expires_at": "tomorrow"})).await),
        ("unknown organization for key", app.post("/v1/api-keys", &token, json!({"organization_id": uuid::Uuid::now_v7(), "name": "k", "permission": "read"})).await),
        ("unknown organization id", app.get(&format!("/v1/organizations/{}", uuid::Uuid::now_v7()), &token).await),
        ("malformed organization id", app.get("/v1/organizations/123", &token).await),
        ("unknown key id", app.patch(&format!("/v1/api-keys/{}", uuid::Uuid::now_v7()), &token, json!({"name": "x"})).await),
        ("bad patch field", app.patch(&format!("/v1/api-keys/{key}"), &token, json!({"secret_hash": "x"})).await),
        ("deleted status via patch", app.patch(&format!("/v1/organizations/{org}"), &token, json!({"status": "deleted"})).await),
        ("bad status", app.patch(&format!("/v1/organizations/{org}"), &token, json!({"status": "sleeping"})).await),
        ("bad page limit", app.get("/v1/organizations?limit=0", &token).await),
        ("bad cursor", app.get("/v1/organizations?after=xyz", &token).await),
        ("bad as_of", app.get(&format!("/v1/organizations/{org}?as_of=yesterday"), &token).await),
        ("unknown route", app.get("/v1/nothing-here", &token).await),
        ("wrong method", app.call(Method::PUT, "/v1/organizations", &token, Some(json!({}))).await),
    ];
    for (what, answer) in cases {
        assert!(answer.status.is_client_error(), "{what}: expected 4xx, got {} {}", answer.status, answer.body);
        assert!(!answer.error_code().is_empty(), "{what}: error code missing in {}", answer.body);
    }
    // Nothing above was recorded.
    let history = app.history(&format!("/v1/organizations/{org}/history")).await;
    assert_eq!(history.len(), 1);
    let orgs = app.get("/v1/organizations", &token).await;
    assert_eq!(orgs.body["data"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn exact_cost_limits_round_trip_without_float_error() {
    let app = spawn_app().await;
    let created = app
        .post(
            "/v1/organizations",
            &app.admin_token,
            json!({"name": "Exact", "limits": {"monthly_cost_usd": 0.1, "monthly_tokens": 5}}),
        )
        .await;
    let limits = &created.body["limits"];
    assert_eq!(
        (&limits["monthly_requests"], &limits["monthly_tokens"], &limits["monthly_cost_usd"]),
        (&json!(null), &json!(5), &json!(0.1))
    );
    let history = app.history(&format!("/v1/organizations/{}/history", created.id())).await;
    assert_eq!(history[0]["payload"]["limits"]["monthly_cost"], json!(100_000_000), "0.1 USD is exactly 10^8 nano-USD");
}

#[tokio::test]
async fn lists_page_with_a_cursor() {
    let app = spawn_app().await;
    let mut ids = Vec::new();
    for i in 0..5 {
        ids.push(app.create_org(&format!("Org {i}")).await);
    }
    let first = app.get("/v1/organizations?limit=2", &app.admin_token).await;
    assert_eq!(first.body["object"], "list");
    assert_eq!(first.body["has_more"], json!(true));
    let mut seen: Vec<String> =
        first.body["data"].as_array().unwrap().iter().map(|o| o["id"].as_str().unwrap().to_string()).collect();
    let mut cursor = seen.last().unwrap().clone();
    loop {
        let page = app.get(&format!("/v1/organizations?limit=2&after={cursor}"), &app.admin_token).await;
        let data = page.body["data"].as_array().unwrap();
        seen.extend(data.iter().map(|o| o["id"].as_str().unwrap().to_string()));
        if page.body["has_more"] != json!(true) {
            break;
        }
        cursor = seen.last().unwrap().clone();
    }
    assert_eq!(seen, ids);
}
