//! Monthly limits: exact request limits under concurrency, across two gateway
//! processes sharing one database; token and cost limits overshoot at most by the
//! requests already in flight; counters agree with the events.

use std::time::Duration;

use futures::future::join_all;
use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::helpers::{spawn_app, start_other_process, user_message, TestApp};

fn echo(text: &str) -> Value {
    json!({"model": "echo/limits", "messages": user_message(text)})
}

/// Sends `n` concurrent completions spread over the given base URLs; answers the statuses.
async fn burst(client: &reqwest::Client, bases: &[String], key: &str, n: usize) -> Vec<(StatusCode, Value)> {
    join_all((0..n).map(|i| {
        let url = format!("{}/v1/chat/completions", bases[i % bases.len()]);
        async move {
            let response = client.post(url).bearer_auth(key).json(&echo("a b c d")).send().await.unwrap();
            let status = response.status();
            (status, response.json::<Value>().await.unwrap_or(Value::Null))
        }
    }))
    .await
}

async fn counters(app: &TestApp, scope: &str) -> (i64, i64, i64, i64) {
    sqlx::query_as::<_, (i64, i64, i64, i64)>(
        "SELECT coalesce(sum(requests),0)::bigint, coalesce(sum(tokens),0)::bigint, \
                coalesce(sum(cost_nanos),0)::bigint, coalesce(sum(reserved_requests),0)::bigint \
         FROM quota_usage WHERE scope = $1 AND period = 'month'",
    )
    .bind(scope)
    .fetch_one(&app.state.pool)
    .await
    .unwrap()
}

/// Counters equal the sums over the RequestCompleted events, and nothing stays reserved.
async fn assert_counters_agree_with_events(app: &TestApp) {
    let events = app.request_events().await;
    let tokens: i64 =
        events.iter().map(|e| e["prompt_tokens"].as_i64().unwrap() + e["completion_tokens"].as_i64().unwrap()).sum();
    let cost: i64 = events.iter().map(|e| e["cost"].as_i64().unwrap()).sum();
    assert!(app.leases_all_returned().await, "the leases are all given back");
    for scope in ["organization", "api_key"] {
        assert_eq!(counters(app, scope).await, (events.len() as i64, tokens, cost, 0), "{scope} counters vs events");
    }
    assert!(app.leases_all_returned().await, "the leases are all given back");
}

#[tokio::test]
async fn a_request_limit_of_100_admits_exactly_100_of_400_concurrent_requests() {
    let app = spawn_app().await;
    let org = app.create_org("Limited").await;
    let (_, key) =
        app.issue_key_with(json!({"organization_id": org, "name": "capped", "permission": "read", "limits": {"monthly_requests": 100}})).await;
    let answers = burst(&app.client, &[app.url("")], &key, 400).await;
    let ok = answers.iter().filter(|(s, _)| *s == StatusCode::OK).count();
    let limited: Vec<&Value> =
        answers.iter().filter(|(s, _)| *s == StatusCode::TOO_MANY_REQUESTS).map(|(_, b)| b).collect();
    assert_eq!((ok, limited.len()), (100, 300));
    assert!(limited
        .iter()
        .all(|b| b["error"]["code"] == "api_key_monthly_requests_limit" && b["error"]["type"] == "rate_limit_error"));
    assert_eq!(app.request_events().await.len(), 100);
    assert_counters_agree_with_events(&app).await;
}

#[tokio::test]
async fn the_request_limit_is_exact_across_two_gateway_processes_sharing_one_database() {
    let app = spawn_app().await;
    let other = start_other_process(&app.database_url).await;
    let org = app.create_org("Shared").await;
    let (key_id, key) =
        app.issue_key_with(json!({"organization_id": org, "name": "shared", "permission": "read", "limits": {"monthly_requests": 100}})).await;
    // The other process learns of the new key through NOTIFY.
    let mut known = false;
    for _ in 0..50 {
        let probe = app.client.get(format!("{}/v1/models", other.base)).bearer_auth(&key).send().await.unwrap();
        if probe.status() == StatusCode::OK {
            known = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(known, "the second process never learned of the key");

    let answers = burst(&app.client, &[app.url(""), other.base.clone()], &key, 400).await;
    let ok = answers.iter().filter(|(s, _)| *s == StatusCode::OK).count();
    let limited = answers.iter().filter(|(s, _)| *s == StatusCode::TOO_MANY_REQUESTS).count();
    assert_eq!((ok, limited), (100, 300));
    assert_eq!(app.request_events().await.len(), 100);
    assert_counters_agree_with_events(&app).await;

    // Revoking in one process stops the key in the other within moments.
    app.delete(&format!("/v1/api-keys/{key_id}"), &app.admin_token).await;
    let mut refused = false;
    for _ in 0..50 {
        let probe = app.client.get(format!("{}/v1/models", other.base)).bearer_auth(&key).send().await.unwrap();
        if probe.status() == StatusCode::UNAUTHORIZED {
            refused = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(refused, "the second process kept accepting a revoked key");
}

#[tokio::test]
async fn an_organization_limit_applies_to_all_its_keys_together() {
    let app = spawn_app().await;
    let created = app
        .post("/v1/organizations", &app.admin_token, json!({"name": "Pooled", "limits": {"monthly_requests": 30}}))
        .await;
    let org = created.id();
    let (_, first) = app.issue_key(&org, "read").await;
    let (_, second) = app.issue_key(&org, "read").await;
    let mut answers = burst(&app.client, &[app.url("")], &first, 40).await;
    answers.extend(burst(&app.client, &[app.url("")], &second, 40).await);
    let ok = answers.iter().filter(|(s, _)| *s == StatusCode::OK).count();
    assert_eq!(ok, 30);
    assert!(answers
        .iter()
        .filter(|(s, _)| *s != StatusCode::OK)
        .all(|(_, b)| b["error"]["code"] == "organization_monthly_requests_limit"));
    assert_counters_agree_with_events(&app).await;
}

#[tokio::test]
async fn token_limits_stop_requests_once_reached_and_overshoot_only_by_requests_in_flight() {
    let app = spawn_app().await;
    let org = app.create_org("Tokens").await;
    // Each echo of "a b c d" uses 7 prompt + 4 completion = 11 tokens.
    let (_, key) = app
        .issue_key_with(
            json!({"organization_id": org, "name": "t", "permission": "read", "limits": {"monthly_tokens": 50}}),
        )
        .await;
    let mut statuses = Vec::new();
    for _ in 0..8 {
        statuses.push(app.chat(&key, echo("a b c d")).await.status);
    }
    let ok = statuses.iter().filter(|s| **s == StatusCode::OK).count();
    assert_eq!(ok, 5, "0, 11, 22, 33, 44 are under 50; 55 is not: {statuses:?}");
    let refused = app.chat(&key, echo("a b c d")).await;
    assert_eq!(refused.error_code(), "api_key_monthly_tokens_limit");
    assert_counters_agree_with_events(&app).await;

    // Concurrently, the overshoot is bounded by what was in flight. With C clients
    // at most C requests are in flight, and each was admitted while usage was under
    // the limit, so the total is at most (limit - 1) + C × 11 — whatever the order.
    // Every client stops at its first refusal; a cap keeps a broken limit finite.
    const CLIENTS: i64 = 8;
    const LIMIT: i64 = 200;
    let (_, concurrent) = app
        .issue_key_with(
            json!({"organization_id": org, "name": "c", "permission": "read", "limits": {"monthly_tokens": LIMIT}}),
        )
        .await;
    let clients = (0..CLIENTS).map(|_| {
        let (app, key) = (&app, concurrent.clone());
        async move {
            let mut admitted = 0_i64;
            for _ in 0..40 {
                let answer = app.chat(&key, echo("a b c d")).await;
                if answer.status != StatusCode::OK {
                    assert_eq!(answer.error_code(), "api_key_monthly_tokens_limit");
                    break;
                }
                admitted += 1;
            }
            admitted
        }
    });
    let ok: i64 = join_all(clients).await.into_iter().sum();
    let used = ok * 11;
    assert!(used >= LIMIT, "requests are admitted until the limit is reached: {ok} admitted");
    assert!(used <= LIMIT - 1 + CLIENTS * 11, "overshoot beyond the requests in flight: {ok} admitted, {used} tokens");
    assert_eq!(app.chat(&concurrent, echo("a b c d")).await.status, StatusCode::TOO_MANY_REQUESTS);
    assert_counters_agree_with_events(&app).await;
}

#[tokio::test]
async fn cost_limits_are_enforced_in_integer_nano_usd() {
    let upstream = crate::fakes::FakeUpstream::start(
        crate::fakes::openai::router,
        vec![crate::fakes::Behaviour::Answer(crate::fakes::Reply::Text("priced".into()))],
    )
    .await;
    let providers = gaiarouter::gateway::ProvidersConfig {
        openai: Some(gaiarouter::gateway::providers::Upstream {
            base_url: format!("{}/v1", upstream.origin),
            api_key: Some(gaiarouter::gateway::providers::ApiKey::new("k").unwrap()),
        }),
        ..Default::default()
    };
    let app = crate::helpers::spawn_app_with(&crate::helpers::fresh_database().await, providers).await;
    let org = app.create_org("Spenders").await;
    let request = json!({"model": "openai/gpt-4o", "messages": user_message("hi")});
    // Learn the price of one call, then allow a little less than three.
    let (_, probe_key) = app.issue_key(&org, "read").await;
    assert_eq!(app.chat(&probe_key, request.clone()).await.status, StatusCode::OK);
    let one_call = app.request_events().await[0]["cost"].as_i64().unwrap();
    assert!(one_call > 0);
    let limit_nanos = one_call * 3 - 1;
    let limit_usd: f64 = format!("{}.{:09}", limit_nanos / 1_000_000_000, limit_nanos % 1_000_000_000).parse().unwrap();
    let (_, key) = app
        .issue_key_with(json!({"organization_id": org, "name": "budget", "permission": "read", "limits": {"monthly_cost_usd": limit_usd}}))
        .await;
    let mut statuses = Vec::new();
    for _ in 0..5 {
        statuses.push(app.chat(&key, request.clone()).await);
    }
    let ok = statuses.iter().filter(|a| a.status == StatusCode::OK).count();
    assert_eq!(ok, 3, "spent 0, 1x, 2x are under the limit; 3x is not");
    assert_eq!(statuses[4].error_code(), "api_key_monthly_cost_limit");
    assert_counters_agree_with_events(&app).await;
}
