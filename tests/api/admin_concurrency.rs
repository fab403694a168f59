//! Optimistic concurrency: concurrent changes are neither lost nor duplicated.

use futures::future::join_all;
use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::spawn_app;

#[tokio::test]
async fn fifty_concurrent_patches_on_one_organization_lose_nothing() {
    let app = spawn_app().await;
    let org = app.create_org("Busy").await;
    let path = format!("/v1/organizations/{org}");
    let answers = join_all((1..=50).map(|i| {
        let app = &app;
        let path = path.clone();
        async move { (i, app.patch(&path, &app.admin_token, json!({"limits": {"monthly_requests": i}})).await) }
    }))
    .await;
    let mut succeeded = Vec::new();
    for (i, answer) in &answers {
        match answer.status {
            StatusCode::OK => succeeded.push(*i),
            StatusCode::CONFLICT => assert_eq!(answer.error_code(), "concurrent_modification"),
            other => panic!("unexpected {other}: {}", answer.body),
        }
    }
    assert!(!succeeded.is_empty());

    let history = app.history(&format!("{path}/history")).await;
    let changes: Vec<u64> = history
        .iter()
        .filter(|e| e["event_type"] == "OrganizationLimitsChanged")
        .map(|e| e["payload"]["limits"]["monthly_requests"].as_u64().unwrap())
        .collect();
    // Every accepted PATCH is recorded exactly once, and nothing else is.
    let mut recorded = changes.clone();
    recorded.sort_unstable();
    succeeded.sort_unstable();
    assert_eq!(recorded, succeeded);
    for (i, event) in history.iter().enumerate() {
        assert_eq!(event["sequence"], json!(i + 1), "sequences are gapless");
    }
    let current = app.get(&path, &app.admin_token).await;
    assert_eq!(current.body["limits"]["monthly_requests"], json!(changes.last().unwrap()));
    assert_eq!(current.body["version"], json!(history.len()));
}

#[tokio::test]
async fn concurrent_creates_with_one_name_make_exactly_one_organization() {
    let app = spawn_app().await;
    let answers =
        join_all((0..20).map(|_| app.post("/v1/organizations", &app.admin_token, json!({"name": "Contested"})))).await;
    let created = answers.iter().filter(|a| a.status == StatusCode::CREATED).count();
    assert_eq!(created, 1);
    assert!(answers.iter().all(|a| a.status == StatusCode::CREATED || a.status == StatusCode::CONFLICT));
    let listed = app.get("/v1/organizations", &app.admin_token).await;
    assert_eq!(listed.body["data"].as_array().unwrap().len(), 1);
}
