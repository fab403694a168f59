//! Usage sums stop at a ceiling instead of overflowing. Counter and rollup rows at
//! bigint's maximum (what one upstream's absurd report once made them, or what a
//! long life at a price nobody meant adds up to) must not fail a recording,
//! admission, a projector or a read: the organization carries on, refused only by
//! its limits.

use chrono::Utc;
use gaiarouter::usage::recorder::{write_batch, PendingRecord, Writer};
use gaiarouter_domain::request::{RequestCompleted, MAX_RECORDED_COST_NANOS, MAX_RECORDED_TOKENS};
use gaiarouter_domain::Money;
use reqwest::StatusCode;
use serde_json::{json, Value};
use sqlx::Executor;
use uuid::Uuid;

use crate::helpers::{fresh_database, migrations_before, spawn_app, user_message};
use crate::projections::tests_event;

const NEAR_MAX: i64 = i64::MAX - 1;
/// What `quota_usage` answers at most for a window (so that usage plus
/// reservations stays inside bigint in admission).
const WINDOW_CEILING: i64 = (1 << 62) - 1;

fn ask(text: &str) -> Value {
    json!({"model": "echo/ceiling", "messages": user_message(text)})
}

#[tokio::test]
async fn counters_and_rollups_at_bigints_maximum_keep_recording_admitting_and_reading() {
    let app = spawn_app().await;
    let org = app.create_org("Ceiling").await;
    let (key_id, key) = app.issue_key(&org, "write").await;
    // A budget admission reads (and reserves against), far from used before the rows
    // are filled below.
    let (limited_id, limited) = app
        .issue_key_with(
            json!({"organization_id": org, "name": "limited", "permission": "write", "limits": {"total_tokens": 1000}}),
        )
        .await;
    for caller in [&key, &limited] {
        let answer = app.chat(caller, ask("first")).await;
        assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
    }
    app.wait_for_projections().await;
    // Nothing left on lease in this process: the next admissions read the counters.
    assert!(app.leases_all_returned().await);

    // Every usage row of the organization and its keys at bigint's maximum (less one,
    // so that the next addition is the one that would overflow).
    let owners = format!("('{org}', '{key_id}', '{limited_id}')");
    let at_max = [
        format!(
            "UPDATE quota_counters SET requests = {NEAR_MAX}, tokens = {NEAR_MAX}, cost_nanos = {NEAR_MAX} \
             WHERE owner_id IN {owners}"
        ),
        format!(
            "UPDATE usage_monthly SET requests = {NEAR_MAX}, tokens = {NEAR_MAX}, cost_nanos = {NEAR_MAX} \
             WHERE owner_id IN {owners}"
        ),
        format!(
            "UPDATE budget_alert_usage SET requests = {NEAR_MAX}, tokens = {NEAR_MAX}, cost_nanos = {NEAR_MAX} \
             WHERE owner_id IN {owners}"
        ),
    ];
    let rollups = ["usage_daily", "usage_hourly"].map(|table| {
        format!(
            "UPDATE {table} SET requests = {NEAR_MAX}, successes = {NEAR_MAX}, prompt_tokens = {NEAR_MAX}, \
               completion_tokens = {NEAR_MAX}, cost_nanos = {NEAR_MAX}, latency_sum_ms = {NEAR_MAX} \
             WHERE organization_id = '{org}'"
        )
    });
    for sql in at_max.iter().chain(&rollups) {
        app.state.pool.execute(sql.as_str()).await.unwrap();
    }

    // Recording goes on: plain and streamed.
    for text in ["after", "after again"] {
        let answer = app.chat(&key, ask(text)).await;
        assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
    }
    let (status, data) = app
        .chat_stream(&key, json!({"model": "echo/ceiling", "stream": true, "messages": user_message("streamed")}))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(data.last().map(String::as_str), Some("[DONE]"), "{data:?}");
    // The limited key is refused by its limit, as it should be: not by an overflow
    // (admission added the window's usage, at its ceiling, to its reservations).
    let refused = app.chat(&limited, ask("over")).await;
    assert_eq!(refused.status, StatusCode::TOO_MANY_REQUESTS, "{}", refused.body);
    assert_eq!(refused.error_code(), "api_key_total_tokens_limit", "{}", refused.body);
    assert_eq!(app.request_events().await.len(), 5);

    // The counters stopped at their ceilings instead of failing.
    let most = app.scalar(&format!("SELECT max(tokens) FROM quota_counters WHERE owner_id = '{org}'")).await;
    assert_eq!(most, i64::MAX);
    for path in [format!("/v1/organizations/{org}"), format!("/v1/api-keys/{key_id}")] {
        let owner = app.get(&path, &app.admin_token).await;
        assert_eq!(owner.status, StatusCode::OK, "{}", owner.body);
        assert_eq!(owner.body["usage"]["periods"]["total"]["tokens"], json!(WINDOW_CEILING), "{}", owner.body);
    }

    // The projectors applied the new requests over rows at the maximum, and the
    // analytics read sums past bigint.
    app.wait_for_projections().await;
    assert_eq!(app.scalar("SELECT count(*) FROM projection_quarantine").await, 0);
    for path in [
        format!("/v1/organizations/{org}/stats"),
        format!("/v1/organizations/{org}/stats?group_by=day&split_by=model"),
        format!("/v1/api-keys/{key_id}/stats?group_by=model"),
        "/v1/stats?group_by=organization".to_string(),
    ] {
        let stats = app.get(&path, &app.admin_token).await;
        assert_eq!(stats.status, StatusCode::OK, "{path}: {}", stats.body);
        assert_eq!(stats.body["summary"]["total_tokens"], json!(i64::MAX), "{path}: {}", stats.body);
        // (echo is free: a key's single row keeps its cost)
        let cost = stats.body["summary"]["cost_nanos"].as_i64();
        assert!(cost.is_some_and(|cost| cost >= NEAR_MAX), "{path}: {}", stats.body);
    }
    let monthly = app.scalar(&format!("SELECT tokens FROM usage_monthly WHERE owner_id = '{org}'")).await;
    assert_eq!(monthly, i64::MAX);
}

/// The migration that bounds usage recounts the windows an absurd report already
/// filled (under the previous version, which recorded reports as given) from their
/// events, each read within today's bounds; other windows stay as they were.
#[tokio::test]
async fn windows_filled_by_an_absurd_report_before_the_bound_are_recounted_by_the_migration() {
    let url = fresh_database().await;
    let pool = gaiarouter::postgres::connect(&url, 5).await.unwrap();
    migrations_before(20261205000100).run(&pool).await.unwrap();
    let writer = Writer { pool: pool.clone(), process: 1, stripe: 3 };
    let (lied_to, key, other) = (Uuid::now_v7(), Uuid::now_v7(), Uuid::now_v7());
    let honest = completed(lied_to, key, 100, 20, 1_000);
    let absurd = completed(lied_to, key, 1 << 61, 1 << 61, 1 << 62);
    let elsewhere = completed(other, Uuid::now_v7(), 7, 3, 500);
    for event in [honest, absurd, elsewhere] {
        let record = PendingRecord { request_id: Uuid::now_v7(), event, reservation: Default::default() };
        write_batch(&writer, &[record]).await.unwrap();
    }
    let usage = |owner: Uuid| {
        let pool = pool.clone();
        async move {
            let rows: Vec<(String, i64, i64, i64)> = sqlx::query_as(
                "SELECT period, requests, tokens, cost_nanos FROM quota_usage WHERE owner_id = $1 ORDER BY period",
            )
            .bind(owner)
            .fetch_all(&pool)
            .await
            .unwrap();
            rows
        }
    };
    assert!(usage(lied_to).await.iter().all(|(_, _, tokens, _)| *tokens > 1 << 62), "filled before the bound");
    let elsewhere_before = usage(other).await;

    gaiarouter::postgres::migrate(&pool).await.unwrap();

    let bounded_tokens = 120 + 2 * MAX_RECORDED_TOKENS as i64;
    let bounded_cost = 1_000 + MAX_RECORDED_COST_NANOS;
    for owner in [lied_to, key] {
        let windows = usage(owner).await;
        assert_eq!(windows.len(), 4, "day, week, month, total: {windows:?}");
        for (period, requests, tokens, cost) in windows {
            assert_eq!((requests, tokens, cost), (2, bounded_tokens, bounded_cost), "{owner} {period}");
        }
    }
    assert_eq!(usage(other).await, elsewhere_before, "a window nothing filled is left as it was");
    // And it records again.
    let record = PendingRecord {
        request_id: Uuid::now_v7(),
        event: completed(lied_to, key, 5, 5, 5),
        reservation: Default::default(),
    };
    write_batch(&writer, &[record]).await.unwrap();
    assert!(usage(lied_to)
        .await
        .iter()
        .all(|(_, requests, tokens, _)| (*requests, *tokens) == (3, bounded_tokens + 10)));
}

/// A request of `organization_id` and `api_key_id` started now, with these figures.
fn completed(organization_id: Uuid, api_key_id: Uuid, prompt: u64, completion: u64, cost: i64) -> RequestCompleted {
    let now = Utc::now();
    RequestCompleted {
        organization_id,
        api_key_id,
        prompt_tokens: prompt,
        completion_tokens: completion,
        cost: Money::from_nanos(cost),
        started_at: now,
        finished_at: now,
        ..tests_event()
    }
}
