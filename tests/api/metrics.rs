//! `GET /metrics` through the real server: after a mixed load (served, failed
//! upstream, refused by a limit, streamed and not, both ingresses, invented model
//! names) the request counters equal the request log's counts, model by model and
//! outcome by outcome; invented names never become a label; and who may scrape.

use std::collections::BTreeMap;
use std::time::Duration;

use gaiarouter::config::Secret;
use reqwest::StatusCode;
use serde_json::{json, Value};
use sqlx::Connection;

use crate::fakes::{self, Behaviour, FakeUpstream, Reply};
use crate::helpers::{
    fake_upstream_providers, fresh_database, spawn_app_configured, test_config, user_message, TestApp,
};

fn answer(text: &str) -> Behaviour {
    Behaviour::Answer(Reply::Text(text.into()))
}

fn chat(model: &str, stream: bool) -> Value {
    json!({"model": model, "messages": user_message("hi"), "stream": stream})
}

async fn messages(app: &TestApp, key: &str, model: &str, stream: bool) -> StatusCode {
    let body = json!({"model": model, "max_tokens": 32, "stream": stream,
                      "messages": [{"role": "user", "content": "hi"}]});
    let response = app
        .client
        .post(app.url("/v1/messages"))
        .header("x-api-key", key)
        .header("anthropic-version", "2023-06-01")
        .json(&body)
        .send()
        .await
        .unwrap();
    let status = response.status();
    let _ = response.bytes().await;
    status
}

async fn route(app: &TestApp, name: &str, provider: &str, model: &str, base_url: String) {
    app.single_deployment_route(name, provider, model, base_url).await;
}

/// One sample line: `name{a="x",b="y"} value` (labels in the order written).
fn samples(text: &str, name: &str) -> Vec<(BTreeMap<String, String>, f64)> {
    text.lines()
        .filter(|line| line.starts_with(&format!("{name}{{")) || line.starts_with(&format!("{name} ")))
        .map(|line| {
            let (series, value) = line.rsplit_once(' ').unwrap();
            let labels = series
                .split_once('{')
                .map(|(_, rest)| rest.trim_end_matches('}'))
                .unwrap_or("")
                .split("\",")
                .filter(|pair| !pair.is_empty())
                .map(|pair| {
                    let (key, value) = pair.split_once('=').unwrap();
                    (key.to_string(), value.trim_matches('"').to_string())
                })
                .collect();
            (labels, value.parse().unwrap())
        })
        .collect()
}

async fn scrape(app: &TestApp) -> String {
    let response = app.client.get(app.url("/metrics")).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    response.text().await.unwrap()
}

/// The request log's counts by (model as labelled, status as labelled).
async fn logged(app: &TestApp) -> BTreeMap<(String, String), i64> {
    let rows: Vec<(String, String, i64)> =
        sqlx::query_as("SELECT model, status, sum(refused_count)::bigint FROM request_log GROUP BY model, status")
            .fetch_all(&app.state.pool)
            .await
            .unwrap();
    let mut counts = BTreeMap::new();
    for (model, status, count) in rows {
        // What the test invented is labelled `unknown`; the rest is known.
        let model = if model.contains("invented") { "unknown".to_string() } else { model };
        let status = if status == "success" { "ok".to_string() } else { status };
        *counts.entry((model, status)).or_insert(0) += count;
    }
    counts
}

async fn logged_total(app: &TestApp) -> i64 {
    app.scalar("SELECT coalesce(sum(refused_count), 0)::bigint FROM request_log").await
}

#[tokio::test]
async fn after_a_mixed_load_the_request_counters_equal_the_request_log_per_model_and_status() {
    let app = spawn_app_configured(test_config(), &fresh_database().await, fake_upstream_providers()).await;
    let openai = FakeUpstream::start(fakes::openai::router, vec![answer("fine")]).await;
    let broken =
        FakeUpstream::start(fakes::openai::router, vec![Behaviour::Fail { status: 500, message: "boom".into() }]).await;
    let claude = FakeUpstream::start(fakes::anthropic::router, vec![answer("claude")]).await;
    route(&app, "fast", "openai", "gpt-4o-mini", format!("{}/v1", openai.origin)).await;
    route(&app, "broken", "openai", "gpt-4o-mini", format!("{}/v1", broken.origin)).await;
    route(&app, "claude", "anthropic", "claude-sonnet-4-5", claude.origin.clone()).await;
    let org = app.create_org("Metered").await;
    let (_, key) = app.issue_key(&org, "write").await;
    let (_, one_a_month) = app
        .issue_key_with(json!({"organization_id": org, "name": "one", "permission": "write",
                               "limits": {"monthly_requests": 1}}))
        .await;

    for stream in [false, false, true, true, true] {
        let (status, _) = app.chat_stream(&key, chat("fast", stream)).await;
        assert_eq!(status, StatusCode::OK);
    }
    for stream in [false, true] {
        let (status, _) = app.chat_stream(&key, chat("broken", stream)).await;
        assert!(status.is_server_error(), "{status}");
    }
    assert_eq!(messages(&app, &key, "claude", false).await, StatusCode::OK);
    assert_eq!(messages(&app, &key, "claude", true).await, StatusCode::OK);
    // Served, but a name the client made up: counted under `unknown`.
    assert_eq!(app.chat(&key, chat("echo/invented-one", false)).await.status, StatusCode::OK);
    // Refused: an unknown model, and a key over its monthly limit.
    assert_eq!(app.chat(&key, chat("invented-two", false)).await.status, StatusCode::NOT_FOUND);
    assert_eq!(app.chat(&one_a_month, chat("fast", false)).await.status, StatusCode::OK);
    for _ in 0..3 {
        assert_eq!(app.chat(&one_a_month, chat("fast", false)).await.status, StatusCode::TOO_MANY_REQUESTS);
    }
    assert_eq!(messages(&app, &one_a_month, "claude", false).await, StatusCode::TOO_MANY_REQUESTS);

    let expected_total = 5 + 2 + 2 + 1 + 1 + 1 + 3 + 1;
    let mut total = 0;
    for _ in 0..200 {
        total = logged_total(&app).await;
        if total == expected_total {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(total, expected_total, "the request log caught up");

    let text = scrape(&app).await;
    let mut counted: BTreeMap<(String, String), i64> = BTreeMap::new();
    for (labels, value) in samples(&text, "gaiarouter_requests_total") {
        *counted.entry((labels["model"].clone(), labels["status"].clone())).or_insert(0) += value as i64;
    }
    assert_eq!(counted, logged(&app).await, "\n{text}");
    assert_eq!(counted[&("fast".to_string(), "refused".to_string())], 3);
    assert_eq!(counted[&("unknown".to_string(), "refused".to_string())], 1);
    assert!(!text.contains("invented"), "an invented model name became a label:\n{text}");

    let by_ingress = |ingress: &str, status: &str| -> f64 {
        samples(&text, "gaiarouter_requests_total")
            .iter()
            .filter(|(l, _)| l["ingress"] == ingress && l["status"] == status)
            .map(|(_, v)| v)
            .sum()
    };
    assert_eq!((by_ingress("messages", "ok"), by_ingress("messages", "refused")), (2.0, 1.0));
    let broken_5xx: f64 = samples(&text, "gaiarouter_requests_total")
        .iter()
        .filter(|(l, _)| {
            l["deployment"] == "broken/only" && l["http_status_class"] == "5xx" && l["provider"] == "openai"
        })
        .map(|(_, v)| v)
        .sum();
    assert_eq!(broken_5xx, 2.0);

    let prompt_logged = app.scalar("SELECT coalesce(sum(prompt_tokens), 0)::bigint FROM request_log").await;
    let prompt_counted: f64 =
        samples(&text, "gaiarouter_tokens_total").iter().filter(|(l, _)| l["kind"] == "prompt").map(|(_, v)| v).sum();
    assert!(prompt_logged > 0);
    assert_eq!(prompt_counted as i64, prompt_logged);
    let cost_logged = app.scalar("SELECT coalesce(sum(cost_nanos), 0)::bigint FROM request_log").await;
    let cost_counted: f64 = samples(&text, "gaiarouter_cost_nanos_total").iter().map(|(_, v)| v).sum();
    assert_eq!(cost_counted as i64, cost_logged);

    let refused_by_limit: f64 = samples(&text, "gaiarouter_admissions_refused_total")
        .iter()
        .filter(|(l, _)| l["reason"] == "api_key_monthly_requests_limit")
        .map(|(_, v)| v)
        .sum();
    assert_eq!(refused_by_limit, 4.0);
    let streamed_ttft: f64 =
        samples(&text, "gaiarouter_time_to_first_token_seconds_count").iter().map(|(_, v)| v).sum();
    assert_eq!(streamed_ttft, 9.0, "every answered request has a first token");
    let attempts: f64 = samples(&text, "gaiarouter_upstream_duration_seconds_count").iter().map(|(_, v)| v).sum();
    assert_eq!(attempts, 11.0, "one attempt per request that reached a provider");
    let batches: f64 = samples(&text, "gaiarouter_recorder_batch_size_sum").iter().map(|(_, v)| v).sum();
    assert_eq!(batches, 11.0, "every served request went through a group commit");
    assert!(samples(&text, "gaiarouter_recorder_commit_seconds_count")[0].1 >= 1.0);
    let lags = samples(&text, "gaiarouter_projector_lag_events");
    assert!(lags.iter().any(|(l, _)| l["projector"] == "request_log"), "{text}");
    assert!(samples(&text, "gaiarouter_db_pool_connections").iter().any(|(l, v)| l["state"] == "size" && *v >= 1.0));
    assert!(samples(&text, "process_resident_memory_bytes")[0].1 > 1_000_000.0);
    dashboard_reads_only_series_that_exist(&text);
}

/// Every series the Grafana dashboard queries is one `/metrics` serves.
fn dashboard_reads_only_series_that_exist(scraped: &str) {
    let dashboard: Value = serde_json::from_str(include_str!("../../scripts/grafana/gaiarouter.json")).unwrap();
    let mut queried = Vec::new();
    for panel in dashboard["panels"].as_array().unwrap() {
        for target in panel["targets"].as_array().unwrap() {
            let expr = target["expr"].as_str().unwrap();
            for (start, _) in expr.match_indices("gaiarouter_").chain(expr.match_indices("process_")) {
                let name: String = expr[start..].chars().take_while(|c| c.is_ascii_lowercase() || *c == '_').collect();
                queried.push(name);
            }
        }
    }
    assert!(queried.len() >= 15, "{queried:?}");
    for name in queried {
        assert!(scraped.lines().any(|line| line.starts_with(&name)), "the dashboard queries `{name}`, not served");
    }
}

/// A transaction that holds a snapshot holds back the pruning of every hot row (the
/// usage counters): `/metrics` shows how long the oldest has been open.
#[tokio::test]
async fn the_age_of_the_oldest_open_snapshot_is_a_gauge() {
    let app = spawn_app_configured(test_config(), &fresh_database().await, Default::default()).await;
    let oldest = |text: &str| samples(text, "gaiarouter_db_oldest_snapshot_seconds")[0].1;
    assert!(oldest(&scrape(&app).await) < 1.0, "no long transaction yet");
    let mut idle = sqlx::PgConnection::connect(&app.database_url).await.unwrap();
    sqlx::query("BEGIN ISOLATION LEVEL REPEATABLE READ").execute(&mut idle).await.unwrap();
    sqlx::query("SELECT 1").execute(&mut idle).await.unwrap();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let held = oldest(&scrape(&app).await);
    assert!((1.4..60.0).contains(&held), "{held}");
    sqlx::query("COMMIT").execute(&mut idle).await.unwrap();
    assert!(oldest(&scrape(&app).await) < 1.0, "released");
}

#[tokio::test]
async fn with_a_metrics_token_only_a_scraper_sending_it_is_answered() {
    let config = gaiarouter::config::Config { metrics_token: Some(Secret::new("scrape-token-1")), ..test_config() };
    let app = spawn_app_configured(config, &fresh_database().await, Default::default()).await;
    let get = |token: Option<&str>| {
        let mut request = app.client.get(app.url("/metrics"));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        request.send()
    };
    let refused = get(None).await.unwrap();
    assert_eq!(refused.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(refused.json::<Value>().await.unwrap()["error"]["code"], "invalid_metrics_token");
    assert_eq!(get(Some("scrape-token-2")).await.unwrap().status(), StatusCode::UNAUTHORIZED);
    assert_eq!(get(Some(&app.admin_token)).await.unwrap().status(), StatusCode::UNAUTHORIZED, "not an admin token");
    let answered = get(Some("scrape-token-1")).await.unwrap();
    assert_eq!(answered.status(), StatusCode::OK);
    assert!(answered.headers()["content-type"].to_str().unwrap().starts_with("text/plain"));
}

#[tokio::test]
async fn without_a_metrics_token_only_a_direct_client_on_this_host_is_answered() {
    let app = spawn_app_configured(test_config(), &fresh_database().await, Default::default()).await;
    assert_eq!(app.client.get(app.url("/metrics")).send().await.unwrap().status(), StatusCode::OK);
    let proxied = app.client.get(app.url("/metrics")).header("x-forwarded-for", "203.0.113.9").send().await.unwrap();
    assert_eq!(proxied.status(), StatusCode::FORBIDDEN);
}
