//! "No lost usage", proved the hard way: a real gateway process killed with SIGKILL
//! under load, and the answer held back while the event store cannot commit.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::StreamExt;
use reqwest::StatusCode;
use serde_json::json;
use sqlx::{Connection, PgConnection};

use crate::helpers::{spawn_app, start_other_process, user_message};

const REQUEST_ID: &str = "x-gaiarouter-request-id";

/// Sends one completion and answers its request id only if the client saw the whole
/// answer succeed: the JSON body, or a stream through `[DONE]`.
async fn complete(client: &reqwest::Client, base: &str, key: &str, stream: bool) -> Option<String> {
    let body = json!({"model": "echo/crash", "stream": stream, "messages": user_message("one two three")});
    let response = client.post(format!("{base}/v1/chat/completions")).bearer_auth(key).json(&body).send().await.ok()?;
    if response.status() != StatusCode::OK {
        return None;
    }
    let id = response.headers().get(REQUEST_ID)?.to_str().ok()?.to_string();
    let text = response.text().await.ok()?;
    let whole = if stream { text.contains("data: [DONE]") } else { text.contains("\"chat.completion\"") };
    whole.then_some(id)
}

#[tokio::test]
async fn a_gateway_killed_under_load_lost_no_answered_request_and_its_restart_frees_its_reservations() {
    let app = spawn_app().await;
    let org = app.create_org("Crash Org").await;
    // A limit makes every request hold a reservation while in flight.
    let body = json!({"organization_id": org, "name": "load", "permission": "write", "limits": {"monthly_requests": 1_000_000}});
    let (_, key) = app.issue_key_with(body).await;
    let mut victim = start_other_process(&app.database_url).await;

    let answered = Arc::new(Mutex::new(Vec::<String>::new()));
    let stop = Arc::new(AtomicBool::new(false));
    let client = reqwest::Client::builder().timeout(Duration::from_secs(10)).build().unwrap();
    let workers: Vec<_> = (0..16)
        .map(|worker| {
            let (client, base, key) = (client.clone(), victim.base.clone(), key.clone());
            let (answered, stop) = (answered.clone(), stop.clone());
            tokio::spawn(async move {
                let mut sent = 0;
                while !stop.load(Ordering::Relaxed) && sent < 2_000 {
                    sent += 1;
                    if let Some(id) = complete(&client, &base, &key, (worker + sent) % 2 == 0).await {
                        answered.lock().unwrap().push(id);
                    }
                }
            })
        })
        .collect();
    // Kill it mid-load, once it has answered a good number of requests.
    for _ in 0..600 {
        if answered.lock().unwrap().len() >= 200 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    victim.kill_hard().await;
    stop.store(true, Ordering::Relaxed);
    for worker in workers {
        worker.await.unwrap();
    }
    let answered = answered.lock().unwrap().clone();
    assert!(answered.len() >= 200, "the load reached the victim: {} answered", answered.len());

    // Every answer the clients saw has exactly one event.
    let recorded: i64 =
        sqlx::query_scalar("SELECT count(*) FROM events WHERE aggregate_type = 'Request' AND aggregate_id = ANY($1)")
            .bind(&answered)
            .fetch_one(&app.state.pool)
            .await
            .unwrap();
    assert_eq!(recorded as usize, answered.len(), "an answered request has no event");
    let doubled = app
        .scalar(
            "SELECT count(*) FROM (SELECT aggregate_id FROM events WHERE aggregate_type = 'Request' \
             GROUP BY aggregate_id HAVING count(*) > 1) d",
        )
        .await;
    assert_eq!(doubled, 0);

    // A restart gives back what the dead process held in flight.
    let restarted = start_other_process(&app.database_url).await;
    assert!(app.leases_all_returned().await, "a lease outlived the restart");
    let counters: (i64, i64) = sqlx::query_as(
        "SELECT coalesce(sum(requests), 0)::bigint, coalesce(sum(reserved_requests), 0)::bigint \
         FROM quota_usage WHERE scope = 'api_key' AND period = 'month'",
    )
    .fetch_one(&app.state.pool)
    .await
    .unwrap();
    let events = app.scalar("SELECT count(*) FROM events WHERE event_type = 'RequestCompleted'").await;
    assert_eq!(counters, (events, 0), "counters equal the events, nothing stays reserved");
    // And the restarted process serves.
    assert!(complete(&client, &restarted.base, &key, false).await.is_some());
}

/// Holds every insert into the event store until released.
async fn hold_event_store(database_url: &str) -> PgConnection {
    let mut connection = PgConnection::connect(database_url).await.unwrap();
    sqlx::query("BEGIN").execute(&mut connection).await.unwrap();
    sqlx::query("LOCK TABLE events IN EXCLUSIVE MODE").execute(&mut connection).await.unwrap();
    connection
}

async fn release(mut connection: PgConnection) {
    sqlx::query("COMMIT").execute(&mut connection).await.unwrap();
}

#[tokio::test]
async fn no_answer_is_finished_before_its_event_is_committed() {
    let app = spawn_app().await;
    let org = app.create_org("Commit Order").await;
    let (_, key) = app.issue_key(&org, "write").await;
    let url = app.url("/v1/chat/completions");

    // A JSON answer: nothing arrives while the commit is held.
    let held = hold_event_store(&app.database_url).await;
    let body = json!({"model": "echo/order", "messages": user_message("hello there")});
    let pending = tokio::spawn(app.client.post(url.clone()).bearer_auth(&key).json(&body).send());
    tokio::time::sleep(Duration::from_millis(700)).await;
    assert!(!pending.is_finished(), "the answer arrived before its event could be committed");
    release(held).await;
    let response = pending.await.unwrap().unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(app.request_events().await.len(), 1);

    // A stream: content may flow, but `[DONE]` waits for the commit.
    let held = hold_event_store(&app.database_url).await;
    let body = json!({"model": "echo/order", "stream": true, "messages": user_message("one two three four")});
    let response = app.client.post(url).bearer_auth(&key).json(&body).send().await.unwrap();
    let mut chunks = response.bytes_stream();
    let mut seen = String::new();
    let until_held = tokio::time::timeout(Duration::from_millis(700), async {
        while let Some(chunk) = chunks.next().await {
            seen.push_str(&String::from_utf8_lossy(&chunk.unwrap()));
        }
    })
    .await;
    assert!(until_held.is_err(), "the stream ended while its event could not be committed: {seen}");
    assert!(!seen.contains("[DONE]"), "[DONE] before the commit: {seen}");
    release(held).await;
    while let Some(chunk) = chunks.next().await {
        seen.push_str(&String::from_utf8_lossy(&chunk.unwrap()));
    }
    assert!(seen.contains("data: [DONE]"), "{seen}");
    assert_eq!(app.request_events().await.len(), 2);
}

#[tokio::test]
async fn a_lease_released_early_is_not_given_back_twice_when_its_request_is_recorded() {
    use gaiarouter::usage::quota::{quotas_for, store, Amounts, QuotaSubject, Quotas};
    use gaiarouter::usage::recorder::{write_batch, PendingRecord, Writer};
    use gaiarouter_domain::request::RequestCompleted;
    use gaiarouter_domain::{Limits, Money};

    let app = spawn_app().await;
    let pool = &app.state.pool;
    let (org, key, request_id) = (uuid::Uuid::now_v7(), uuid::Uuid::now_v7(), uuid::Uuid::now_v7());
    let now = chrono::Utc::now();
    let limits = Limits { monthly_requests: Some(10), monthly_tokens: Some(1000), ..Limits::UNLIMITED };
    // A process that holds no lock: it looks dead to every sweep.
    let ghost = Quotas::new(pool.clone(), -7);
    let specs = quotas_for(&QuotaSubject {
        organization_id: org,
        api_key_id: key,
        organization_limits: &limits,
        key_limits: &limits,
        model: "echo/x",
        route: "echo/x",
        alias: None,
        now,
    });
    let reservation = ghost.admit(&specs, Amounts { requests: 1, tokens: 40, cost: 900 }, now).await.unwrap();
    // A sweep gives its leases back early (the process looked dead)...
    assert_eq!(store::release_orphaned(pool).await.unwrap(), 2, "the org's and the key's monthly leases");
    // ... and then its request is recorded after all.
    let event = RequestCompleted {
        organization_id: org,
        api_key_id: key,
        prompt_tokens: 3,
        completion_tokens: 2,
        cost: Money::ZERO,
        started_at: now,
        finished_at: now,
        ..crate::projections::tests_event()
    };
    let writer = Writer { pool: pool.clone(), process: -7, stripe: 1 };
    write_batch(&writer, &[PendingRecord { request_id, event, reservation }]).await.unwrap();
    let reserved: (i64, i64, i64, i64, i64) = sqlx::query_as(
        "SELECT min(reserved_requests), min(reserved_tokens), min(reserved_cost_nanos), sum(requests)::bigint, \
                sum(tokens)::bigint FROM quota_usage WHERE period = 'month'",
    )
    .fetch_one(pool)
    .await
    .unwrap();
    assert_eq!(reserved, (0, 0, 0, 2, 10), "reserved counters went negative: released twice");
}
