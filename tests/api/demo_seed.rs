//! `gaiarouter demo seed`: demo organizations and keys through the admin use cases,
//! traffic through the real recording path, seen by every projection.

use gaiarouter::demo::{seed, SeedOptions};
use gaiarouter::gateway::ModelRegistry;
use serde_json::{json, Value};

use crate::helpers::*;

fn keys_of(answer: &Value) -> Vec<String> {
    let mut keys: Vec<String> =
        answer["data"].as_array().into_iter().flatten().filter_map(|g| g["key"].as_str().map(String::from)).collect();
    keys.sort();
    keys
}

#[tokio::test]
async fn a_seeded_installation_shows_the_traffic_everywhere_and_a_second_run_adds_to_it() {
    // Given a running server and 32 days of demo traffic recorded beside it (so
    // across a month's end, into a month whose partition the server did not make)
    let app = spawn_app().await;
    let now = chrono::Utc::now();
    let options = SeedOptions { days: 32, requests_per_day: 60, seed: 9, end: now };
    let range = format!("from={}&to={}", (now - chrono::Duration::days(40)).date_naive(), now.date_naive());
    let report = seed(&app.state.pool, &ModelRegistry::new(), &options).await.unwrap();
    assert_eq!((report.organizations, report.api_keys), (3, 5));
    assert!(report.requests > 1_000 && report.failed > 0, "{report:?}");
    // When the projectors have applied it
    app.wait_for_projections().await;

    // Then every request is in the partition of its month, none in the default one
    let unpartitioned = app.scalar("SELECT count(*) FROM events_request_default").await;
    assert_eq!(unpartitioned, 0, "demo traffic of past months has its partitions");
    // Then the stats count every request, failure, refusal and nano-dollar recorded
    let stats = app.get(&format!("/v1/stats?{range}"), &app.admin_token).await;
    let summary = &stats.body["summary"];
    assert_eq!(summary["requests"], json!(report.requests), "{summary}");
    assert_eq!(summary["errors"], json!(report.failed));
    assert_eq!(summary["refused"], json!(report.refused_requests));
    assert_eq!(summary["cost_nanos"], json!(report.cost.nanos()));
    // Across several providers, models, organizations and days
    // (refusals reached no provider: they count under none, "")
    let providers = keys_of(&app.get(&format!("/v1/stats?group_by=provider&{range}"), &app.admin_token).await.body);
    assert_eq!(providers, ["", "anthropic", "google", "openai"]);
    let models = keys_of(&app.get(&format!("/v1/stats?group_by=model&{range}"), &app.admin_token).await.body);
    assert!(models.len() >= 8, "{models:?}");
    let days = app.get(&format!("/v1/stats?group_by=day&{range}"), &app.admin_token).await;
    let busy_days = days.body["data"].as_array().unwrap().iter().filter(|d| d["requests"].as_i64() > Some(0)).count();
    assert!(busy_days >= 32, "{}", days.body);

    // And the organizations have budgets the month's spend fills, set in the audit trail
    let organizations = app.get("/v1/organizations?limit=100", &app.admin_token).await;
    let demo: Vec<&Value> = organizations.body["data"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|o| ["Acme Robotics", "Globex Research", "Initech Support"].contains(&o["name"].as_str().unwrap()))
        .collect();
    assert_eq!(demo.len(), 3);
    let planned = [("Acme Robotics", 55.0), ("Globex Research", 82.0), ("Initech Support", 93.0)];
    for organization in &demo {
        let name = organization["name"].as_str().unwrap();
        let planned = planned.iter().find(|(n, _)| *n == name).unwrap().1;
        let budget = &organization["usage"]["budgets"][0];
        let used = budget["percent_used"].as_f64().unwrap();
        if budget["used"].as_f64() == Some(0.0) {
            // The month began minutes ago and this organization has spent nothing yet.
            assert_eq!(used, 0.0, "{name}: {budget}");
            continue;
        }
        // (a budget of a dollar or more is rounded up to a cent: it fills a bit less)
        assert!(used <= planned + 0.1 && used > planned - 1.0, "{name}: {used} % used, planned {planned} %");
    }
    for organization in &demo {
        let history = app.history(&format!("/v1/organizations/{}/history", organization["id"].as_str().unwrap())).await;
        assert_eq!(history.len(), 2, "created, then its budget set");
        assert!(
            history.iter().all(|e| e["actor"]["type"] == "system" && e["actor"]["id"] == "demo-seed"),
            "{history:?}"
        );
    }
    // And the request log holds served, failed and refused rows
    let refused = app.get("/v1/logs?status=refused&limit=5", &app.admin_token).await;
    assert!(!refused.body["data"].as_array().unwrap().is_empty());
    let failed = app.get("/v1/logs?status=error&limit=5", &app.admin_token).await;
    assert!(!failed.body["data"].as_array().unwrap().is_empty());

    // When seeded again
    let again = seed(&app.state.pool, &ModelRegistry::new(), &SeedOptions { seed: 10, ..options }).await.unwrap();
    app.wait_for_projections().await;
    // Then the same organizations and keys get more traffic
    let organizations = app.get("/v1/organizations?limit=100", &app.admin_token).await;
    assert_eq!(organizations.body["data"].as_array().unwrap().len(), 3);
    let stats = app.get(&format!("/v1/stats?{range}"), &app.admin_token).await;
    assert_eq!(stats.body["summary"]["requests"], json!(report.requests + again.requests));
}
