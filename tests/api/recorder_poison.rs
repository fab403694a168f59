//! Finding 3 of issue 8: a record the database refuses (a NUL character, which
//! jsonb cannot hold) failed its whole group-commit batch, so other tenants'
//! requests got 503 after the provider had answered and nothing was recorded. Now
//! the refused record fails alone and the rest of its batch commits.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::Poll;
use std::time::Duration;

use chrono::Utc;
use gaiarouter::usage::quota::{quotas_for, Amounts, QuotaSubject, Quotas, Reservation};
use gaiarouter::usage::recorder::{PendingRecord, RecordError, Recorder};
use gaiarouter_domain::request::{RequestCompleted, RequestStatus};
use gaiarouter_domain::{Limits, Money};
use sqlx::{Connection, Executor, PgConnection, PgPool};
use uuid::Uuid;

use crate::helpers::spawn_app;

type Recording = Pin<Box<dyn Future<Output = Result<(), RecordError>> + Send>>;

fn event(organization_id: Uuid, api_key_id: Uuid, model: &str, provider: &str) -> RequestCompleted {
    let at = Utc::now();
    RequestCompleted {
        organization_id,
        api_key_id,
        model: model.into(),
        provider: provider.into(),
        prompt_tokens: 10,
        completion_tokens: 5,
        cached_tokens: 0,
        cost: Money::from_nanos(1000),
        latency_ms: 12,
        time_to_first_token_ms: None,
        status: RequestStatus::Success,
        http_status: 200,
        error_kind: None,
        streamed: false,
        started_at: at,
        finished_at: at,
        deployment: provider.into(),
        attempts: Vec::new(),
        ingress: "chat_completions".into(),
        cache_write_tokens: 0,
        cache_write_1h_tokens: 0,
        reasoning_tokens: 0,
        usage_estimated: false,
    }
}

/// Admits a request against limits, as the gateway does, so it holds a share of
/// this process's quota leases.
async fn reserve(quotas: &Quotas, organization_id: Uuid, api_key_id: Uuid) -> Reservation {
    let limits = Limits { monthly_requests: Some(1000), ..Limits::default() };
    let specs = quotas_for(&QuotaSubject {
        organization_id,
        api_key_id,
        organization_limits: &limits,
        key_limits: &limits,
        model: "echo/x",
        route: "echo/x",
        alias: None,
        now: Utc::now(),
    });
    quotas.admit(&specs, Amounts { requests: 1, tokens: 50, cost: 5000 }, Utc::now()).await.unwrap()
}

async fn record(quotas: &Quotas, org: Uuid, key: Uuid, model: &str, provider: &str, reserved: bool) -> PendingRecord {
    let request_id = Uuid::now_v7();
    let reservation = if reserved { reserve(quotas, org, key).await } else { Reservation::default() };
    PendingRecord { request_id, event: event(org, key, model, provider), reservation }
}

/// Polls once: the recorder queues the record on the first poll, then waits for
/// the commit.
async fn queue(recorder: &Arc<Recorder>, record: PendingRecord) -> Recording {
    let recorder = recorder.clone();
    let mut recording: Recording = Box::pin(async move { recorder.record(record).await });
    let first = std::future::poll_fn(|cx| Poll::Ready(recording.as_mut().poll(cx))).await;
    assert!(first.is_pending(), "the writer is held back, nothing can be committed yet");
    recording
}

async fn wait_until<F, Fut>(mut check: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    for _ in 0..200 {
        if check().await {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    false
}

async fn counter(pool: &PgPool, owner: Uuid) -> (i64, i64) {
    sqlx::query_as("SELECT requests, reserved_requests FROM quota_usage WHERE owner_id = $1 AND period = 'month'")
        .bind(owner)
        .fetch_one(pool)
        .await
        .unwrap()
}

#[tokio::test]
async fn a_record_the_database_refuses_fails_alone_and_the_rest_of_its_batch_is_recorded() {
    let app = spawn_app().await;
    let pool = app.state.pool.clone();
    // Leases in the name of the running app, as its own requests would take them.
    let quotas = app.state.completions.quotas.clone();
    let recorder = app.state.completions.recorder.clone();
    let (org_a, key_a) = (Uuid::now_v7(), Uuid::now_v7());
    let (org_b, key_b) = (Uuid::now_v7(), Uuid::now_v7());
    let (org_c, key_c) = (Uuid::now_v7(), Uuid::now_v7());

    // Hold the writer inside its first batch: it waits for a counter row we lock,
    // so everything queued meanwhile lands in ONE next batch.
    let blocker = record(&quotas, org_c, key_c, "echo/x", "echo", true).await;
    let mut lock = PgConnection::connect(&app.database_url).await.unwrap();
    lock.execute("BEGIN").await.unwrap();
    sqlx::query("SELECT 1 FROM quota_counters WHERE owner_id = $1 AND period = 'month' FOR UPDATE")
        .bind(org_c)
        .execute(&mut lock)
        .await
        .unwrap();
    let blocked = queue(&recorder, blocker).await;
    let writer_waits = || async {
        sqlx::query_scalar::<_, i64>(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'",
        )
        .fetch_one(&pool)
        .await
        .unwrap()
            == 1
    };
    assert!(wait_until(writer_waits).await, "the writer waits for the locked row");

    // Good and poison records of two organizations, awaited and detached.
    let good = vec![
        record(&quotas, org_a, key_a, "echo/x", "echo", true).await,
        record(&quotas, org_b, key_b, "echo/y", "echo", false).await,
        record(&quotas, org_a, key_a, "echo/z", "echo", true).await,
    ];
    let poison = vec![
        record(&quotas, org_a, key_a, "echo/\u{0}x", "echo", true).await,
        record(&quotas, org_b, key_b, "echo/x", "ec\u{0}ho", false).await,
    ];
    let good_detached = record(&quotas, org_a, key_a, "echo/d", "echo", true).await;
    let poison_detached = record(&quotas, org_b, key_b, "echo/\u{0}", "echo", true).await;
    let good_ids: Vec<String> = good.iter().chain([&good_detached]).map(|r| r.request_id.to_string()).collect();

    // Interleaved: good, poison, detached poison, good, poison, detached good, good.
    let (mut good, mut poison) = (good.into_iter(), poison.into_iter());
    let mut good_waiting = Vec::new();
    let mut poison_waiting = Vec::new();
    good_waiting.push(queue(&recorder, good.next().unwrap()).await);
    poison_waiting.push(queue(&recorder, poison.next().unwrap()).await);
    recorder.record_detached(poison_detached);
    good_waiting.push(queue(&recorder, good.next().unwrap()).await);
    poison_waiting.push(queue(&recorder, poison.next().unwrap()).await);
    recorder.record_detached(good_detached);
    good_waiting.push(queue(&recorder, good.next().unwrap()).await);

    lock.execute("COMMIT").await.unwrap();
    blocked.await.unwrap();
    for waiting in good_waiting {
        waiting.await.expect("a good record of the batch is recorded");
    }
    for waiting in poison_waiting {
        assert!(matches!(waiting.await, Err(RecordError::Refused(_))), "a poison record fails alone");
    }

    let recorded = || async {
        sqlx::query_scalar::<_, i64>("SELECT count(*) FROM events WHERE aggregate_type = 'Request'")
            .fetch_one(&pool)
            .await
            .unwrap()
            == 5
    };
    assert!(wait_until(recorded).await, "the blocker and the four good records are recorded");
    let ids: Vec<String> = sqlx::query_scalar(
        "SELECT aggregate_id FROM events WHERE aggregate_type = 'Request' AND aggregate_id <> ALL($1) ORDER BY 1",
    )
    .bind(&good_ids)
    .fetch_all(&pool)
    .await
    .unwrap();
    assert_eq!(ids.len(), 1, "only the blocker besides the good records: {ids:?}");

    // No reservation leaks, the detached poison one included: once the leases'
    // unused blocks are given back, nothing is held.
    let released = || async {
        quotas.give_back_unused(true).await.unwrap();
        sqlx::query_scalar::<_, i64>("SELECT count(*) FROM quota_leases").fetch_one(&pool).await.unwrap() == 0
    };
    assert!(wait_until(released).await, "every lease is given back");
    assert_eq!(counter(&pool, org_a).await, (3, 0), "org A: three good records counted, nothing reserved");
    assert_eq!(counter(&pool, key_a).await, (3, 0));
    assert_eq!(counter(&pool, org_b).await, (1, 0), "org B: the one good record counted");
    assert_eq!(counter(&pool, key_b).await, (1, 0));
    assert_eq!(counter(&pool, org_c).await, (1, 0));
}

/// Only a NUL is refused: the text `\u0000` (a backslash, then `u0000`), which JSON
/// writes as `\\u0000`, is recorded as it is, and a NUL after an escaped backslash
/// is still refused.
#[tokio::test]
async fn the_text_backslash_u0000_is_recorded_and_only_a_nul_is_refused() {
    let app = spawn_app().await;
    let pool = app.state.pool.clone();
    let quotas = app.state.completions.quotas.clone();
    let recorder = app.state.completions.recorder.clone();
    let (org, key) = (Uuid::now_v7(), Uuid::now_v7());
    let text = record(&quotas, org, key, r"echo/a\u0000b", "echo", false).await;
    let id = text.request_id.to_string();
    recorder.record(text).await.expect("the text \\u0000 is not a NUL");
    let model: String =
        sqlx::query_scalar("SELECT payload -> 'RequestCompleted' ->> 'model' FROM events WHERE aggregate_id = $1")
            .bind(&id)
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!(model, r"echo/a\u0000b");
    let nul_after_backslash = record(&quotas, org, key, "echo/a\\\u{0}", "echo", false).await;
    assert!(matches!(recorder.record(nul_after_backslash).await, Err(RecordError::Refused(_))));
    assert_eq!(counter(&pool, org).await, (1, 0), "the refused record is not counted");
}
