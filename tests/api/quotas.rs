//! Issue 11: rates per minute, requests in flight, budgets per day, week and
//! total, per-model rates, the headers that report them, and quota leases that
//! keep them exact across gateway processes (also when one is killed).

use std::time::Duration;

use chrono::{TimeZone, Timelike, Utc};
use futures::stream::{self, StreamExt};
use gaiarouter::gateway::providers::{ApiKey, Timeouts, Upstream};
use gaiarouter::gateway::ProvidersConfig;
use gaiarouter::usage::quota::{quotas_for, AdmissionError, Amounts, QuotaSubject, Quotas};
use gaiarouter::usage::recorder::{write_batch, PendingRecord, Writer};
use gaiarouter_domain::request::RequestCompleted;
use gaiarouter_domain::{Limits, Money};
use reqwest::StatusCode;
use serde_json::{json, Value};
use sqlx::Connection;
use uuid::Uuid;

use crate::fakes::{self, Behaviour, FakeUpstream, Reply};
use crate::helpers::{
    fresh_database, spawn_app, spawn_app_with, start_other_process, start_other_process_with, user_message,
    OtherProcess, TestApp,
};

fn echo(text: &str) -> Value {
    json!({"model": "echo/quotas", "messages": user_message(text)})
}

struct Reply429 {
    status: StatusCode,
    code: String,
    retry_after: Option<u64>,
    should_retry: Option<String>,
}

/// Sends `n` completions, at most 128 at a time, spread over `bases`.
async fn fire(client: &reqwest::Client, bases: &[String], key: &str, body: Value, n: usize) -> Vec<Reply429> {
    stream::iter(0..n)
        .map(|i| {
            let url = format!("{}/v1/chat/completions", bases[i % bases.len()]);
            let (client, body) = (client.clone(), body.clone());
            let key = key.to_string();
            async move {
                match client.post(url).bearer_auth(key).json(&body).send().await {
                    Ok(response) => {
                        let status = response.status();
                        let header =
                            |name: &str| response.headers().get(name).and_then(|v| v.to_str().ok()).map(str::to_string);
                        let retry_after = header("retry-after").and_then(|v| v.parse().ok());
                        let should_retry = header("x-should-retry");
                        let body: Value = response.json().await.unwrap_or(Value::Null);
                        let code = body["error"]["code"].as_str().unwrap_or_default().to_string();
                        Reply429 { status, code, retry_after, should_retry }
                    }
                    // A killed process answers nothing.
                    Err(_) => Reply429 {
                        status: StatusCode::BAD_GATEWAY,
                        code: "connection".into(),
                        retry_after: None,
                        should_retry: None,
                    },
                }
            }
        })
        .buffer_unordered(128)
        .collect()
        .await
}

fn count(replies: &[Reply429], status: StatusCode) -> usize {
    replies.iter().filter(|r| r.status == status).count()
}

/// Waits until the other process accepts `key` (it learns of new keys by NOTIFY).
async fn until_known(app: &TestApp, other: &OtherProcess, key: &str) {
    for _ in 0..100 {
        let probe = app.client.get(format!("{}/v1/models", other.base)).bearer_auth(key).send().await.unwrap();
        if probe.status() == StatusCode::OK {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the second process never learned of the key");
}

/// So a burst does not straddle two minutes: waits for the next minute when
/// fewer than `need` seconds are left in this one.
async fn with_seconds_left(need: u32) {
    let second = Utc::now().second();
    if second + need >= 60 {
        tokio::time::sleep(Duration::from_secs(u64::from(61 - second))).await;
    }
}

async fn key_with_limits(app: &TestApp, limits: Value) -> (String, String, String) {
    let org = app.create_org(&format!("Org {}", Uuid::now_v7())).await;
    let (id, key) = app
        .issue_key_with(json!({"organization_id": org, "name": "limited", "permission": "read", "limits": limits}))
        .await;
    (org, id, key)
}

#[tokio::test]
async fn a_limit_of_60_requests_per_minute_admits_exactly_60_of_300_across_two_processes_then_the_next_minute_again() {
    let app = spawn_app().await;
    let other = start_other_process(&app.database_url).await;
    let (_, _, key) = key_with_limits(&app, json!({"requests_per_minute": 60})).await;
    until_known(&app, &other, &key).await;
    with_seconds_left(20).await;
    let bases = [app.url(""), other.base.clone()];
    let replies = fire(&app.client, &bases, &key, echo("hi"), 300).await;
    assert_eq!(count(&replies, StatusCode::OK), 60, "exactly the limit is admitted in one minute");
    let refused: Vec<&Reply429> = replies.iter().filter(|r| r.status == StatusCode::TOO_MANY_REQUESTS).collect();
    assert_eq!(refused.len(), 240);
    for reply in &refused {
        assert_eq!(reply.code, "api_key_requests_per_minute_limit");
        let retry = reply.retry_after.expect("retry-after on every refusal");
        assert!((1..=60).contains(&retry), "retry-after is the rest of the minute: {retry}");
        assert_eq!(reply.should_retry, None, "a rate limit may be retried after its window");
    }
    assert_eq!(app.request_events().await.len(), 60);

    // The next minute admits again.
    let wait = 61 - Utc::now().second();
    tokio::time::sleep(Duration::from_secs(u64::from(wait))).await;
    let again = fire(&app.client, &bases, &key, echo("hi"), 10).await;
    assert_eq!(count(&again, StatusCode::OK), 10, "a new minute, a new window");
    assert!(app.leases_all_returned().await);
}

#[tokio::test]
async fn a_cap_of_5_requests_in_flight_admits_exactly_5_slow_requests_at_once_across_two_processes() {
    let upstream =
        FakeUpstream::start(fakes::openai::router, vec![Behaviour::Answer(Reply::Text("slow".into()))]).await;
    upstream.delay_answers(Duration::from_millis(1500));
    let base_url = format!("{}/v1", upstream.origin);
    let providers = ProvidersConfig {
        openai: Some(Upstream { base_url: base_url.clone(), api_key: Some(ApiKey::new("upstream-key").unwrap()) }),
        timeouts: Timeouts {
            connect: Duration::from_secs(2),
            total: Duration::from_secs(20),
            idle: Duration::from_secs(20),
            stream: Duration::from_secs(20),
        },
        ..ProvidersConfig::default()
    };
    let app = spawn_app_with(&fresh_database().await, providers).await;
    let other = start_other_process_with(
        &app.database_url,
        &[("OPENAI_BASE_URL", base_url.as_str()), ("OPENAI_API_KEY", "upstream-key")],
    )
    .await;
    let (_, _, key) = key_with_limits(&app, json!({"concurrent_requests": 5})).await;
    until_known(&app, &other, &key).await;
    let body = json!({"model": "openai/gpt-4o-mini", "messages": user_message("hi")});
    let bases = [app.url(""), other.base.clone()];
    let replies = fire(&app.client, &bases, &key, body.clone(), 40).await;
    assert_eq!(count(&replies, StatusCode::OK), 5, "five slow requests at once, no more");
    let refused: Vec<&Reply429> = replies.iter().filter(|r| r.status == StatusCode::TOO_MANY_REQUESTS).collect();
    assert_eq!(refused.len(), 35);
    assert!(refused.iter().all(|r| r.code == "api_key_concurrent_requests_limit" && r.retry_after == Some(1)));

    // Once they are done, the slots are free again: five more at once. (Slots
    // freed while the cap was reached go back to the database at once; moments.)
    tokio::time::sleep(Duration::from_millis(300)).await;
    let replies = fire(&app.client, &bases, &key, body, 5).await;
    assert_eq!(count(&replies, StatusCode::OK), 5, "finished requests give their slots back");
    assert!(app.leases_all_returned().await);
}

#[tokio::test]
async fn a_monthly_limit_of_1000_holds_over_4000_requests_and_two_processes_when_one_is_killed_mid_burst() {
    let app = spawn_app().await;
    let mut victim = start_other_process(&app.database_url).await;
    let (_, _, key) = key_with_limits(&app, json!({"monthly_requests": 1000})).await;
    until_known(&app, &victim, &key).await;
    let bases = [app.url(""), victim.base.clone()];
    let burst = fire(&app.client, &bases, &key, echo("hi"), 4000);
    let kill = async {
        // Kill the second process once it has served some of the burst.
        for _ in 0..400 {
            let recorded = app.scalar("SELECT count(*) FROM events WHERE event_type = 'RequestCompleted'").await;
            if recorded >= 300 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        victim.kill_hard().await;
    };
    let (replies, ()) = tokio::join!(burst, kill);
    let ok = count(&replies, StatusCode::OK);
    assert!(ok <= 1000, "never more than the limit: {ok}");
    let recorded = app.scalar("SELECT count(*) FROM events WHERE event_type = 'RequestCompleted'").await;
    assert!(recorded <= 1000, "never more than the limit recorded: {recorded}");

    // The dead process's leases come back (the survivor sweeps them every few
    // seconds), so the rest of the limit can still be used, and not one more.
    let mut admitted = recorded;
    for _ in 0..40 {
        let more = fire(&app.client, &[app.url("")], &key, echo("hi"), 100).await;
        admitted += count(&more, StatusCode::OK) as i64;
        if admitted >= 1000 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let recorded = app.scalar("SELECT count(*) FROM events WHERE event_type = 'RequestCompleted'").await;
    assert_eq!(recorded, 1000, "the whole limit is usable after the kill, and no more");
    assert_eq!(admitted, 1000);
    let after = fire(&app.client, &[app.url("")], &key, echo("hi"), 50).await;
    assert_eq!(count(&after, StatusCode::TOO_MANY_REQUESTS), 50);
    assert!(app.leases_all_returned().await, "the dead process's leases were given back");
}

#[tokio::test]
async fn completions_under_a_rate_limit_carry_openai_and_anthropic_rate_limit_headers() {
    let app = spawn_app().await;
    let (_, _, key) = key_with_limits(&app, json!({"requests_per_minute": 100, "tokens_per_minute": 100000})).await;
    with_seconds_left(5).await;
    let response = app.client.post(app.url("/v1/chat/completions")).bearer_auth(&key).json(&echo("hi")).send().await;
    let response = response.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let header = |name: &str| response.headers().get(name).map(|v| v.to_str().unwrap().to_string());
    assert_eq!(header("x-ratelimit-limit-requests").as_deref(), Some("100"));
    assert_eq!(header("x-ratelimit-remaining-requests").as_deref(), Some("99"));
    assert!(header("x-ratelimit-reset-requests").unwrap().ends_with('s'));
    assert_eq!(header("x-ratelimit-limit-tokens").as_deref(), Some("100000"));
    assert!(header("x-ratelimit-remaining-tokens").unwrap().parse::<i64>().unwrap() < 100000);

    let messages = app
        .client
        .post(app.url("/v1/messages"))
        .header("x-api-key", &key)
        .header("anthropic-version", "2023-06-01")
        .json(&json!({"model": "echo/quotas", "max_tokens": 10, "messages": [{"role": "user", "content": "hi"}]}))
        .send()
        .await
        .unwrap();
    assert_eq!(messages.status(), StatusCode::OK);
    let header = |name: &str| messages.headers().get(name).map(|v| v.to_str().unwrap().to_string());
    assert_eq!(header("anthropic-ratelimit-requests-limit").as_deref(), Some("100"));
    assert_eq!(header("anthropic-ratelimit-requests-remaining").as_deref(), Some("98"));
    assert!(header("anthropic-ratelimit-requests-reset").unwrap().ends_with('Z'));

    // An unlimited key's answers carry none.
    let org = app.create_org("Free").await;
    let (_, free) = app.issue_key(&org, "read").await;
    let response = app.client.post(app.url("/v1/chat/completions")).bearer_auth(&free).json(&echo("hi")).send().await;
    assert!(response.unwrap().headers().get("x-ratelimit-limit-requests").is_none());
}

#[tokio::test]
async fn a_per_model_rate_of_an_organization_limits_that_model_only() {
    let app = spawn_app().await;
    let created = app
        .post(
            "/v1/organizations",
            &app.admin_token,
            json!({"name": "Per model", "limits": {"models": {"echo/capped": {"requests_per_minute": 3}}}}),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    assert_eq!(created.body["limits"]["models"]["echo/capped"]["requests_per_minute"], 3);
    let (_, key) = app.issue_key(&created.id(), "read").await;
    with_seconds_left(10).await;
    let capped = json!({"model": "echo/capped", "messages": user_message("hi")});
    let mut statuses = Vec::new();
    for _ in 0..4 {
        statuses.push(app.chat(&key, capped.clone()).await);
    }
    assert!(statuses[..3].iter().all(|a| a.status == StatusCode::OK));
    assert_eq!(statuses[3].status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(statuses[3].error_code(), "organization_model_requests_per_minute_limit");
    assert!(statuses[3].body["error"]["message"].as_str().unwrap().contains("echo/capped"));
    assert_eq!(app.chat(&key, echo("other model")).await.status, StatusCode::OK, "other models are not limited");
}

#[tokio::test]
async fn budgets_of_several_periods_apply_together_and_show_their_usage() {
    let app = spawn_app().await;
    let (org, key_id, key) =
        key_with_limits(&app, json!({"daily_requests": 3, "weekly_requests": 10, "total_tokens": 100000})).await;
    for _ in 0..3 {
        assert_eq!(app.chat(&key, echo("a b c d")).await.status, StatusCode::OK);
    }
    let refused = app.chat(&key, echo("a b c d")).await;
    assert_eq!(refused.status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(refused.error_code(), "api_key_daily_requests_limit");

    let shown = app.get(&format!("/v1/api-keys/{key_id}"), &app.admin_token).await;
    let budgets = shown.body["usage"]["budgets"].as_array().unwrap().clone();
    let daily = budgets.iter().find(|b| b["name"] == "daily_requests").unwrap();
    assert_eq!((daily["limit"].as_f64(), daily["used"].as_f64()), (Some(3.0), Some(3.0)));
    assert_eq!(daily["percent_used"].as_f64(), Some(100.0));
    assert_eq!(daily["period"], "day");
    let tomorrow = Utc::now().date_naive().succ_opt().unwrap().and_hms_opt(0, 0, 0).unwrap().and_utc();
    assert_eq!(daily["resets_at"].as_str().unwrap(), tomorrow.to_rfc3339_opts(chrono::SecondsFormat::Secs, true));
    let weekly = budgets.iter().find(|b| b["name"] == "weekly_requests").unwrap();
    assert_eq!(weekly["used"].as_f64(), Some(3.0));
    let total = budgets.iter().find(|b| b["name"] == "total_tokens").unwrap();
    assert_eq!(total["used"].as_f64(), Some(33.0), "three echoes of 11 tokens");
    assert!(total["resets_at"].is_null(), "a total budget never resets");
    assert_eq!(shown.body["usage"]["periods"]["day"]["requests"], 3);
    let org_view = app.get(&format!("/v1/organizations/{org}"), &app.admin_token).await;
    assert_eq!(org_view.body["usage"]["periods"]["total"]["requests"], 3);
}

/// A 5-token request of `key` that started at `at`.
fn completed(org: Uuid, key: Uuid, at: chrono::DateTime<Utc>) -> RequestCompleted {
    let event = crate::projections::tests_event();
    RequestCompleted {
        organization_id: org,
        api_key_id: key,
        prompt_tokens: 3,
        completion_tokens: 2,
        cost: Money::ZERO,
        started_at: at,
        finished_at: at,
        ..event
    }
}

#[tokio::test]
async fn a_daily_budget_starts_again_at_utc_midnight() {
    let app = spawn_app().await;
    let quotas = Quotas::new(app.state.pool.clone(), app.state.completions.quotas.process());
    let writer = Writer { pool: app.state.pool.clone(), process: app.state.completions.quotas.process(), stripe: 1 };
    let (org, key) = (Uuid::now_v7(), Uuid::now_v7());
    let limits = Limits { daily_requests: Some(2), ..Limits::UNLIMITED };
    let admit = |at: chrono::DateTime<Utc>| {
        let quotas = &quotas;
        let limits = &limits;
        async move {
            let specs = quotas_for(&QuotaSubject {
                organization_id: org,
                api_key_id: key,
                organization_limits: &Limits::UNLIMITED,
                key_limits: limits,
                model: "echo/x",
                route: "echo/x",
                alias: None,
                now: at,
            });
            quotas.admit(&specs, Amounts { requests: 1, tokens: 5, cost: 0 }, at).await
        }
    };
    let late = Utc.with_ymd_and_hms(2026, 12, 2, 23, 59, 59).single().unwrap();
    for _ in 0..2 {
        let reservation = admit(late).await.expect("under the daily budget");
        let record = PendingRecord { request_id: Uuid::now_v7(), event: completed(org, key, late), reservation };
        write_batch(&writer, std::slice::from_ref(&record)).await.unwrap();
        let PendingRecord { event, reservation, .. } = record;
        reservation.recorded(i64::try_from(event.total_tokens()).unwrap(), 0);
    }
    match admit(late).await {
        Err(AdmissionError::LimitReached(refusal)) => {
            assert_eq!(refusal.code(), "api_key_daily_requests_limit");
            assert_eq!(refusal.retry_after_secs(late), Some(1), "one second to midnight");
        }
        other => panic!("the third request of the day must be refused: {:?}", other.map(|_| ())),
    }
    let early = Utc.with_ymd_and_hms(2026, 12, 3, 0, 0, 1).single().unwrap();
    admit(early).await.expect("a new day, a new budget");
    let days: Vec<(chrono::DateTime<Utc>, i64)> =
        sqlx::query_as("SELECT start, requests FROM quota_usage WHERE owner_id = $1 AND period = 'day' ORDER BY start")
            .bind(key)
            .fetch_all(&app.state.pool)
            .await
            .unwrap();
    assert_eq!(days[0], (Utc.with_ymd_and_hms(2026, 12, 2, 0, 0, 0).single().unwrap(), 2));
}

/// Batches in flight side by side (the recorder's, or two processes') add a key's usage
/// to stripes of their own: one held before its commit (its stripe's rows locked, as
/// while its fsync runs) does not hold up another, and what the key used is their sum.
#[tokio::test]
async fn batches_of_one_key_in_different_stripes_do_not_wait_on_each_other_and_sum() {
    let app = spawn_app().await;
    let pool = app.state.pool.clone();
    let process = app.state.completions.quotas.process();
    let (org, key) = (Uuid::now_v7(), Uuid::now_v7());
    let record = || PendingRecord {
        request_id: Uuid::now_v7(),
        event: completed(org, key, Utc::now()),
        reservation: Default::default(),
    };
    let first = Writer { pool: pool.clone(), process, stripe: 1 };
    let second = Writer { pool: pool.clone(), process, stripe: 2 };
    write_batch(&first, &[record()]).await.unwrap();

    let mut holder = sqlx::PgConnection::connect(&app.database_url).await.unwrap();
    sqlx::query("BEGIN").execute(&mut holder).await.unwrap();
    let held = sqlx::query("SELECT 1 FROM quota_counters WHERE owner_id IN ($1, $2) AND stripe = 1 FOR UPDATE")
        .bind(org)
        .bind(key)
        .execute(&mut holder)
        .await
        .unwrap();
    assert_eq!(held.rows_affected(), 8, "day, week, month and total of the organization and the key");
    tokio::time::timeout(Duration::from_secs(5), write_batch(&second, &[record(), record()]))
        .await
        .expect("a batch in another stripe does not wait")
        .unwrap();
    let same_stripe = tokio::spawn({
        let (first, record) = (first.clone(), record());
        async move { write_batch(&first, &[record]).await }
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(!same_stripe.is_finished(), "a batch in the held stripe waits for it");
    sqlx::query("ROLLBACK").execute(&mut holder).await.unwrap();
    same_stripe.await.unwrap().unwrap();

    for (scope, owner) in [("organization", org), ("api_key", key)] {
        let used: Vec<(String, i64, i64)> = sqlx::query_as(
            "SELECT period, requests, tokens FROM quota_usage WHERE scope = $1 AND owner_id = $2 ORDER BY period",
        )
        .bind(scope)
        .bind(owner)
        .fetch_all(&pool)
        .await
        .unwrap();
        let expected: Vec<(String, i64, i64)> =
            ["day", "month", "total", "week"].iter().map(|p| (p.to_string(), 4, 20)).collect();
        assert_eq!(used, expected, "{scope}: four 5-token requests over two stripes");
    }
    let stripes = crate::helpers::counter_stripes(&pool, key).await;
    assert_eq!(stripes, [1, 2]);
}

/// Live processes take blocks of stripes no other live one holds; a block is free
/// again once the process holding it is gone.
#[tokio::test]
async fn live_processes_take_different_stripe_blocks() {
    use gaiarouter::usage::process_lock::ProcessLock;
    let app = spawn_app().await;
    let pool = &app.state.pool;
    let running = app.state.completions.quotas.process();
    let second = ProcessLock::acquire(pool).await.unwrap();
    let third = ProcessLock::acquire(pool).await.unwrap();
    assert_ne!(second.id, running);
    assert_ne!(second.stripe_block, third.stripe_block);
    let held: Vec<i64> = sqlx::query_scalar(
        // Advisory locks are per database; tests beside this one hold blocks in theirs.
        "SELECT objid::bigint FROM pg_locks WHERE locktype = 'advisory' AND classid = $1::oid AND granted \
         AND database = (SELECT oid FROM pg_database WHERE datname = current_database()) ORDER BY objid",
    )
    .bind(0x4757_5354_i64)
    .fetch_all(pool)
    .await
    .unwrap();
    assert_eq!(held.len(), 3, "the running app's block and the two new ones: {held:?}");
    assert!(held.contains(&i64::from(second.stripe_block)) && held.contains(&i64::from(third.stripe_block)));
    // The third process ends (its lock's connection closes): its block is the next one taken.
    let freed = third.stripe_block;
    third.stop();
    let mut next = None;
    for _ in 0..50 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        let fourth = ProcessLock::acquire(pool).await.unwrap();
        if fourth.stripe_block == freed {
            next = Some(fourth.stripe_block);
            break;
        }
        fourth.stop();
    }
    assert_eq!(next, Some(freed));
}

#[tokio::test]
async fn patching_limits_merges_field_by_field_and_null_removes_one() {
    let app = spawn_app().await;
    let created = app
        .post(
            "/v1/organizations",
            &app.admin_token,
            json!({"name": "Merge", "limits": {"monthly_tokens": 500, "monthly_cost_usd": 12.5, "daily_requests": 7}}),
        )
        .await;
    let org = created.id();
    let path = format!("/v1/organizations/{org}");
    let patched = app.patch(&path, &app.admin_token, json!({"limits": {"monthly_requests": 20000}})).await;
    assert_eq!(patched.status, StatusCode::OK, "{}", patched.body);
    let limits = &patched.body["limits"];
    assert_eq!(limits["monthly_requests"], 20000);
    assert_eq!(limits["monthly_tokens"], 500, "limits the patch did not name are kept");
    assert_eq!(limits["monthly_cost_usd"], 12.5);
    assert_eq!(limits["daily_requests"], 7);
    let patched = app.patch(&path, &app.admin_token, json!({"limits": {"monthly_tokens": null}})).await;
    assert!(patched.body["limits"]["monthly_tokens"].is_null(), "null removes one limit");
    assert_eq!(patched.body["limits"]["monthly_requests"], 20000);
    let patched =
        app.patch(&path, &app.admin_token, json!({"limits": {"models": {"gpt-4o": {"concurrent_requests": 2}}}})).await;
    assert_eq!(patched.body["limits"]["models"]["gpt-4o"]["concurrent_requests"], 2);
    let patched = app.patch(&path, &app.admin_token, json!({"limits": {"models": {"gpt-4o": null}}})).await;
    assert_eq!(patched.body["limits"]["models"], json!({}));
    let patched = app.patch(&path, &app.admin_token, json!({"limits": null})).await;
    assert!(patched.body["limits"]["monthly_requests"].is_null() && patched.body["limits"]["daily_requests"].is_null());

    // Keys merge the same way.
    let (key_id, _) = app
        .issue_key_with(json!({"organization_id": org, "name": "k", "permission": "read",
            "limits": {"daily_tokens": 10, "requests_per_minute": 5}}))
        .await;
    let key_path = format!("/v1/api-keys/{key_id}");
    let patched = app.patch(&key_path, &app.admin_token, json!({"limits": {"requests_per_minute": 9}})).await;
    assert_eq!(patched.status, StatusCode::OK, "{}", patched.body);
    assert_eq!(
        (patched.body["limits"]["requests_per_minute"].as_u64(), patched.body["limits"]["daily_tokens"].as_u64()),
        (Some(9), Some(10))
    );
    let patched = app.patch(&key_path, &app.admin_token, json!({"limits": null})).await;
    assert!(patched.body["limits"]["daily_tokens"].is_null(), "`limits: null` removes them all");

    // Unknown names and bad values are 400s naming the field.
    for bad in [
        json!({"limits": {"hourly_requests": 5}}),
        json!({"limits": {"daily_cost_usd": -1}}),
        json!({"limits": {"alert_thresholds_percent": [80, 50]}}),
        json!({"limits": [1]}),
    ] {
        let answer = app.patch(&key_path, &app.admin_token, bad.clone()).await;
        assert_eq!(answer.status, StatusCode::BAD_REQUEST, "{bad}: {}", answer.body);
        assert_eq!(answer.error_code(), "invalid_limits", "{bad}");
    }
}

#[tokio::test]
async fn a_limited_write_key_cannot_lift_its_own_rates_or_budgets() {
    let app = spawn_app().await;
    let org = app.create_org("Self lift").await;
    let (key_id, key) = app
        .issue_key_with(json!({"organization_id": org, "name": "w", "permission": "write",
            "limits": {"requests_per_minute": 10, "daily_cost_usd": 1}}))
        .await;
    let path = format!("/v1/api-keys/{key_id}");
    for lift in [
        json!({"limits": {"requests_per_minute": 11}}),
        json!({"limits": {"requests_per_minute": null}}),
        json!({"limits": {"daily_cost_usd": 2}}),
        json!({"limits": null}),
    ] {
        let answer = app.patch(&path, &key, lift.clone()).await;
        assert_eq!(answer.status, StatusCode::FORBIDDEN, "{lift}: {}", answer.body);
    }
    let tighter = app.patch(&path, &key, json!({"limits": {"requests_per_minute": 5}})).await;
    assert_eq!(tighter.status, StatusCode::OK, "{}", tighter.body);
    // Nor hand out a key with looser rates.
    let issued = app
        .post(
            "/v1/api-keys",
            &key,
            json!({"organization_id": org, "name": "child", "permission": "read", "limits": {"daily_cost_usd": 1}}),
        )
        .await;
    assert_eq!(issued.status, StatusCode::FORBIDDEN, "{}", issued.body);
}

#[tokio::test]
async fn a_limit_change_is_an_event_that_names_who_made_it() {
    let app = spawn_app().await;
    let org = app.create_org("Audited").await;
    app.patch(&format!("/v1/organizations/{org}"), &app.admin_token, json!({"limits": {"weekly_cost_usd": 20}})).await;
    let history = app.history(&format!("/v1/organizations/{org}/history")).await;
    let changed = history.iter().find(|e| e["event_type"] == "OrganizationLimitsChanged").expect("an event");
    assert_eq!(changed["actor"]["type"], "operator");
    assert_eq!(changed["actor"]["name"], "admin");
    assert_eq!(changed["payload"]["limits"]["weekly_cost"], 20_000_000_000_i64, "nano-USD in the event");
}

#[tokio::test]
async fn a_lowered_limit_holds_at_once_although_a_block_of_the_old_one_is_held() {
    let app = spawn_app().await;
    let (_, key_id, key) = key_with_limits(&app, json!({"monthly_requests": 1000})).await;
    for _ in 0..5 {
        assert_eq!(app.chat(&key, echo("hi")).await.status, StatusCode::OK);
    }
    // This process now holds a block of the old limit (an eighth of what was left).
    let held = app.scalar("SELECT coalesce(sum(requests), 0)::bigint FROM quota_leases").await;
    assert!(held > 1, "a block is held: {held}");
    let lowered = app
        .patch(&format!("/v1/api-keys/{key_id}"), &app.admin_token, json!({"limits": {"monthly_requests": 6}}))
        .await;
    assert_eq!(lowered.status, StatusCode::OK, "{}", lowered.body);
    let mut statuses = Vec::new();
    for _ in 0..5 {
        statuses.push(app.chat(&key, echo("hi")).await.status);
    }
    assert_eq!(statuses.iter().filter(|s| **s == StatusCode::OK).count(), 1, "6 in all: {statuses:?}");
    assert!(app.leases_all_returned().await);
}

#[tokio::test]
async fn limits_far_from_reached_refuse_nothing_under_load() {
    let app = spawn_app().await;
    let created = app
        .post(
            "/v1/organizations",
            &app.admin_token,
            json!({"name": "Roomy", "limits": {"monthly_requests": 1_000_000_000_i64, "monthly_cost_usd": 1_000_000,
                "daily_tokens": 100_000_000_000_i64, "requests_per_minute": 100_000_000}}),
        )
        .await;
    let (_, key) = app
        .issue_key_with(json!({"organization_id": created.id(), "name": "roomy", "permission": "read",
            "limits": {"monthly_requests": 1_000_000_000_i64, "requests_per_minute": 100_000_000,
                "tokens_per_minute": 100_000_000_000_i64, "concurrent_requests": 100_000}}))
        .await;
    let replies = fire(&app.client, &[app.url("")], &key, echo("hello there"), 1500).await;
    let refused: Vec<&String> = replies.iter().filter(|r| r.status != StatusCode::OK).map(|r| &r.code).collect();
    assert!(refused.is_empty(), "{} refused: {:?}", refused.len(), refused.iter().take(5).collect::<Vec<_>>());
    // Blocks of tokens are taken when the process runs out of them, not with every
    // block of requests: what is reserved stays one block (an eighth of the limit).
    let reserved = app.scalar("SELECT max(reserved_tokens) FROM quota_usage WHERE period = 'day'").await;
    assert!(reserved <= 100_000_000_000 / 8 + 100_000, "reserved tokens crept up: {reserved}");
    assert!(app.leases_all_returned().await);
}

/// A client hammering a key over its limit is refused from memory: with the
/// quota's rows locked by another transaction (so any database admission would
/// wait), the refusals still come at once. A raised limit is not answered from
/// memory: the next request is admitted.
#[tokio::test]
async fn refusals_of_an_exhausted_quota_come_from_memory_and_a_raised_limit_admits_at_once() {
    let app = spawn_app().await;
    let org = app.create_org("Hammered").await;
    let (key_id, key) = app
        .issue_key_with(json!({"organization_id": org, "name": "one", "permission": "read",
            "limits": {"monthly_requests": 1}}))
        .await;
    assert_eq!(app.chat(&key, echo("a")).await.status, StatusCode::OK);
    assert_eq!(app.chat(&key, echo("b")).await.status, StatusCode::TOO_MANY_REQUESTS);

    let mut lock = sqlx::PgConnection::connect(&app.database_url).await.unwrap();
    sqlx::query("BEGIN").execute(&mut lock).await.unwrap();
    sqlx::query("SELECT * FROM quota_counters WHERE owner_id = $1::uuid FOR UPDATE")
        .bind(&key_id)
        .execute(&mut lock)
        .await
        .unwrap();
    let started = std::time::Instant::now();
    for _ in 0..20 {
        let answer = tokio::time::timeout(Duration::from_secs(3), app.chat(&key, echo("c"))).await;
        assert_eq!(answer.expect("answered without the database").status, StatusCode::TOO_MANY_REQUESTS);
    }
    assert!(started.elapsed() < Duration::from_secs(1), "{:?}", started.elapsed());
    sqlx::query("ROLLBACK").execute(&mut lock).await.unwrap();

    let raised = app
        .patch(&format!("/v1/api-keys/{key_id}"), &app.admin_token, json!({"limits": {"monthly_requests": 5}}))
        .await;
    assert_eq!(raised.status, StatusCode::OK, "{}", raised.body);
    let mut status = StatusCode::TOO_MANY_REQUESTS;
    for _ in 0..20 {
        status = app.chat(&key, echo("d")).await.status;
        if status == StatusCode::OK {
            break;
        }
        // The key cache follows the change within moments.
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test]
async fn a_per_model_rate_holds_whichever_way_the_model_is_spelled() {
    // Given an OpenAI upstream and two keys, each limited to 2 requests a minute of
    // gpt-4o: one under the bare id, one under the provider's spelling
    let upstream = FakeUpstream::start(fakes::openai::router, vec![Behaviour::Answer(Reply::Text("hi".into()))]).await;
    let providers = ProvidersConfig {
        openai: Some(Upstream {
            base_url: format!("{}/v1", upstream.origin),
            api_key: Some(ApiKey::new("upstream-key").unwrap()),
        }),
        ..ProvidersConfig::default()
    };
    let app = spawn_app_with(&fresh_database().await, providers).await;
    for limited_as in ["gpt-4o", "openai/gpt-4o"] {
        let (_, _, key) = key_with_limits(&app, json!({"models": {limited_as: {"requests_per_minute": 2}}})).await;
        // When the key alternates spellings
        let mut statuses = Vec::new();
        for model in ["gpt-4o", "openai/gpt-4o", "gpt-4o", "openai/gpt-4o"] {
            let answer = app.chat(&key, json!({"model": model, "messages": user_message("hi")})).await;
            let code = if answer.status == StatusCode::OK { String::new() } else { answer.error_code() };
            statuses.push((answer.status.as_u16(), code));
        }
        // Then both spellings count against the one limit: two served, then refused
        assert_eq!(statuses[..2].iter().map(|s| s.0).collect::<Vec<_>>(), [200, 200], "limited as {limited_as}");
        for (status, code) in &statuses[2..] {
            assert_eq!((*status, code.as_str()), (429, "api_key_model_requests_per_minute_limit"), "{limited_as}");
        }
    }
}
