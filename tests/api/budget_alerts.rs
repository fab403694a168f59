//! Budget alerts: crossing 50 %, 80 % and 100 % of a budget (or the thresholds
//! set) appends one `BudgetThresholdReached` event each, exactly once — across a
//! restart of the gateway and a rebuild of the projector.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::helpers::{spawn_app, spawn_app_on, user_message, TestApp};

fn echo() -> Value {
    json!({"model": "echo/alerts", "messages": user_message("a b c d")})
}

async fn alerts(app: &TestApp) -> Vec<Value> {
    sqlx::query_scalar(
        "SELECT payload -> 'BudgetThresholdReached' FROM events \
         WHERE aggregate_type = 'BudgetAlert' AND event_type = 'BudgetThresholdReached' ORDER BY global_position",
    )
    .fetch_all(&app.state.pool)
    .await
    .unwrap()
}

/// Waits until the alert projector has applied every request.
async fn caught_up(app: &TestApp) {
    for _ in 0..200 {
        let status = app.get("/v1/projections", &app.admin_token).await;
        let done = status.body["data"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|p| p["name"] == "budget_alerts" && p["lag_events"] == json!(0) && p["state"] == "running");
        if done {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the budget_alerts projection did not catch up");
}

fn summary(alerts: &[Value]) -> Vec<(String, String, String, u64)> {
    alerts
        .iter()
        .map(|a| {
            (
                a["scope"].as_str().unwrap().to_string(),
                a["period"].as_str().unwrap().to_string(),
                a["metric"].as_str().unwrap().to_string(),
                a["threshold_percent"].as_u64().unwrap(),
            )
        })
        .collect()
}

#[tokio::test]
async fn crossing_each_threshold_of_a_budget_raises_one_alert_and_a_restart_or_rebuild_raises_none_again() {
    let app = spawn_app().await;
    let created = app
        .post(
            "/v1/organizations",
            &app.admin_token,
            json!({"name": "Alerted", "limits": {"monthly_requests": 100, "alert_thresholds_percent": [2, 100]}}),
        )
        .await;
    let org = created.id();
    let (key_id, key) = app
        .issue_key_with(json!({"organization_id": org, "name": "daily", "permission": "read",
            "limits": {"daily_requests": 4, "total_tokens": 1000}}))
        .await;
    for _ in 0..4 {
        assert_eq!(app.chat(&key, echo()).await.status, StatusCode::OK);
    }
    caught_up(&app).await;
    let raised = alerts(&app).await;
    let mut seen = summary(&raised);
    seen.sort();
    assert_eq!(
        seen,
        vec![
            ("api_key".into(), "day".into(), "requests".into(), 50),
            ("api_key".into(), "day".into(), "requests".into(), 80),
            ("api_key".into(), "day".into(), "requests".into(), 100),
            ("organization".into(), "month".into(), "requests".into(), 2),
        ],
        "44 tokens of 1,000 cross nothing; 2 of 100 monthly requests cross the org's 2 %"
    );
    let daily_full = raised.iter().find(|a| a["threshold_percent"] == 100).unwrap();
    assert_eq!(daily_full["api_key_id"], json!(key_id));
    assert_eq!(daily_full["organization_id"], json!(org));
    assert_eq!((daily_full["limit"].as_i64(), daily_full["used"].as_i64()), (Some(4), Some(4)));
    assert_eq!(daily_full["period_start"], json!(chrono::Utc::now().date_naive().to_string()));
    let org_alert = raised.iter().find(|a| a["scope"] == "organization").unwrap();
    assert!(org_alert["api_key_id"].is_null());

    // A rebuild replays every request: nothing is raised twice.
    let answer = app.post("/v1/projections/budget_alerts/rebuild", &app.admin_token, json!({})).await;
    assert_eq!(answer.status, StatusCode::ACCEPTED);
    tokio::time::sleep(Duration::from_millis(300)).await;
    caught_up(&app).await;
    assert_eq!(alerts(&app).await.len(), 4, "a rebuild raises no alert again");

    // A restarted gateway goes on from its checkpoint: still exactly once. More
    // usage crosses what is left (the token budget's 50 % at 500 tokens).
    let database_url = app.database_url.clone();
    app.state.shutdown().await;
    drop(app);
    let app = spawn_app_on(&database_url).await;
    caught_up(&app).await;
    assert_eq!(alerts(&app).await.len(), 4, "a restart raises no alert again");
    let big = json!({"model": "echo/alerts", "messages": user_message(&"word ".repeat(600))});
    let refused = app.chat(&key, big.clone()).await;
    assert_eq!(refused.error_code(), "api_key_daily_requests_limit", "the daily budget is spent");
    app.patch(&format!("/v1/api-keys/{key_id}"), &app.admin_token, json!({"limits": {"daily_requests": null}})).await;
    assert_eq!(app.chat(&key, big).await.status, StatusCode::OK);
    caught_up(&app).await;
    let raised = alerts(&app).await;
    let tokens: Vec<u64> =
        raised.iter().filter(|a| a["metric"] == "tokens").map(|a| a["threshold_percent"].as_u64().unwrap()).collect();
    assert_eq!(tokens, vec![50, 80, 100], "600 words take the total token budget past all three at once");
}
