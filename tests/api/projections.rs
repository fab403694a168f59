//! Checkpointed projectors: interleaved commits, crashes mid-batch, one active
//! process, rebuilds through the API. (Equality with an independent oracle over
//! generated histories is in `projection_oracle.rs`.)

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use chrono::{TimeZone, Utc};
use gaiarouter::app::projection_runner;
use gaiarouter::usage::recorder::{write_batch, PendingRecord, Writer};
use gaiarouter_domain::request::{Attempt, RequestCompleted, RequestStatus};
use gaiarouter_domain::Money;
use gaiarouter_projections::event_log::{EventLogError, StoredEvent};
use gaiarouter_projections::usage_rollups::{Rollup, Totals, UsageRollups};
use gaiarouter_projections::{Projector, Runner};
use serde_json::json;
use sqlx::{Connection, Executor, PgConnection, PgPool};
use uuid::Uuid;

use crate::helpers::{fresh_database, spawn_app, spawn_app_on, user_message};

async fn migrated_pool() -> PgPool {
    let url = fresh_database().await;
    let pool = gaiarouter::postgres::connect(&url, 5).await.unwrap();
    gaiarouter::postgres::migrate(&pool).await.unwrap();
    pool
}

const TABLES: [&str; 5] = ["usage_daily", "usage_daily_latency", "usage_daily_errors", "usage_monthly", "request_log"];

/// Every projection table as sorted JSON rows.
pub(crate) async fn snapshot(pool: &PgPool) -> BTreeMap<&'static str, Vec<String>> {
    let mut out = BTreeMap::new();
    for table in TABLES {
        let rows: Vec<String> = sqlx::query_scalar(&format!("SELECT row_to_json(t)::text FROM {table} t ORDER BY 1"))
            .fetch_all(pool)
            .await
            .unwrap();
        out.insert(table, rows);
    }
    out
}

/// The rollups as stored, in the shape of the pure reference computation.
pub(crate) async fn stored_rollup(pool: &PgPool) -> Rollup {
    #[derive(sqlx::FromRow)]
    struct Row {
        day: chrono::NaiveDate,
        organization_id: Uuid,
        api_key_id: Uuid,
        model: String,
        provider: String,
        deployment: String,
        requests: i64,
        successes: i64,
        errors: i64,
        streamed: i64,
        prompt_tokens: i64,
        completion_tokens: i64,
        cached_tokens: i64,
        cost_nanos: i64,
        latency_sum_ms: i64,
        latency_min_ms: i64,
        latency_max_ms: i64,
        ttft_sum_ms: i64,
        ttft_count: i64,
        cache_write_tokens: i64,
        cache_write_1h_tokens: i64,
        reasoning_tokens: i64,
        refused: i64,
    }
    let rows: Vec<Row> = sqlx::query_as("SELECT * FROM usage_daily").fetch_all(pool).await.unwrap();
    let mut rollup = Rollup::default();
    for r in rows {
        rollup.totals.insert(
            (r.day, r.organization_id, r.api_key_id, r.model, r.provider, r.deployment),
            Totals {
                requests: r.requests,
                successes: r.successes,
                errors: r.errors,
                streamed: r.streamed,
                prompt_tokens: r.prompt_tokens,
                completion_tokens: r.completion_tokens,
                cached_tokens: r.cached_tokens,
                cost_nanos: r.cost_nanos,
                latency_sum_ms: r.latency_sum_ms,
                latency_min_ms: r.latency_min_ms,
                latency_max_ms: r.latency_max_ms,
                ttft_sum_ms: r.ttft_sum_ms,
                ttft_count: r.ttft_count,
                cache_write_tokens: r.cache_write_tokens,
                cache_write_1h_tokens: r.cache_write_1h_tokens,
                reasoning_tokens: r.reasoning_tokens,
                refused: r.refused,
            },
        );
    }
    type LatencyRow = (chrono::NaiveDate, Uuid, Uuid, String, String, String, i16, i64);
    let latency: Vec<LatencyRow> = sqlx::query_as(
        "SELECT day, organization_id, api_key_id, model, provider, deployment, bucket, count FROM usage_daily_latency",
    )
    .fetch_all(pool)
    .await
    .unwrap();
    for (d, o, k, m, p, dep, b, c) in latency {
        rollup.latency.insert(((d, o, k, m, p, dep), b), c);
    }
    type ErrorRow = (chrono::NaiveDate, Uuid, Uuid, String, String, String, String, i64);
    let errors: Vec<ErrorRow> = sqlx::query_as(
        "SELECT day, organization_id, api_key_id, model, provider, deployment, error_kind, count FROM usage_daily_errors",
    )
    .fetch_all(pool)
    .await
    .unwrap();
    for (d, o, k, m, p, dep, e, c) in errors {
        rollup.errors.insert(((d, o, k, m, p, dep), e), c);
    }
    rollup
}

fn writer(pool: &PgPool) -> Writer {
    Writer { pool: pool.clone(), process: 1, stripe: 1 }
}

fn pending(event: &RequestCompleted) -> PendingRecord {
    PendingRecord { request_id: Uuid::now_v7(), event: event.clone(), reservation: Default::default() }
}

/// An admin event in the same log, which the request projectors must skip.
pub(crate) async fn admin_event(pool: &PgPool) {
    sqlx::query(
        "INSERT INTO events (aggregate_type, aggregate_id, sequence, event_type, event_version, payload, metadata) \
         VALUES ('Organization', $1, 1, 'OrganizationCreated', '1.0', $2, '{}')",
    )
    .bind(Uuid::now_v7().to_string())
    .bind(json!({"OrganizationCreated": {"name": "x", "limits": {"monthly_requests": null, "monthly_tokens": null, "monthly_cost": null}, "at": "2026-01-01T00:00:00Z"}}))
    .execute(pool)
    .await
    .unwrap();
}

#[tokio::test]
async fn transactions_that_commit_out_of_position_order_are_neither_skipped_nor_doubled() {
    let pool = migrated_pool().await;
    let runner = projection_runner(&pool);
    runner.register().await.unwrap();
    let url = pool.connect_options().clone();
    let mut a = PgConnection::connect_with(&url).await.unwrap();
    let mut b = PgConnection::connect_with(&url).await.unwrap();
    let request = |minute: u32| {
        let mut event = tests_event();
        event.started_at = Utc.with_ymd_and_hms(2026, 5, 1, 12, minute, 0).single().unwrap();
        event
    };
    // A takes its transaction id first, B inserts first (lower position) and commits first.
    a.execute("BEGIN").await.unwrap();
    let _: (String,) = sqlx::query_as("SELECT pg_current_xact_id()::text").fetch_one(&mut a).await.unwrap();
    b.execute("BEGIN").await.unwrap();
    insert_request(&mut b, &request(1)).await;
    insert_request(&mut a, &request(2)).await;
    b.execute("COMMIT").await.unwrap();
    // B is committed, but A (older) is still open: the horizon holds both back.
    assert_eq!(runner.catch_up_all().await.unwrap(), 0);
    a.execute("COMMIT").await.unwrap();
    // The horizon is cluster-wide: other tests' open transactions may delay (never
    // reorder) what becomes visible, so poll until both are applied.
    assert_eq!(apply_until(&runner, 2).await, 2);
    insert_request(&mut a, &request(3)).await;
    assert_eq!(apply_until(&runner, 1).await, 1);
    assert_eq!(runner.catch_up_all().await.unwrap(), 0, "nothing is applied twice");
    let logged: i64 = sqlx::query_scalar("SELECT count(*) FROM request_log").fetch_one(&pool).await.unwrap();
    let rolled: i64 =
        sqlx::query_scalar("SELECT sum(requests)::bigint FROM usage_daily").fetch_one(&pool).await.unwrap();
    assert_eq!((logged, rolled), (3, 3));
}

/// Catches up every projector until none lags behind the log. The visibility horizon
/// is cluster-wide, so another test's open transaction may delay (never reorder) it.
async fn catch_up_fully(runner: &Runner, pool: &PgPool) {
    for _ in 0..200 {
        runner.catch_up_all().await.unwrap();
        let statuses = gaiarouter_projections::runner::projector_status(pool, runner).await.unwrap();
        if statuses.iter().all(|s| s.lag_events == 0) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("projections did not catch up");
}

/// Catches up the rollups until `expected` events were applied (or 20 s passed).
async fn apply_until(runner: &Runner, expected: usize) -> usize {
    let mut applied = 0;
    for _ in 0..200 {
        applied += runner.catch_up(&UsageRollups).await.unwrap();
        if applied >= expected {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    runner.catch_up_all().await.unwrap();
    applied
}

pub(crate) fn tests_event() -> RequestCompleted {
    let at = Utc.with_ymd_and_hms(2026, 5, 1, 12, 0, 0).single().unwrap();
    let mut event = RequestCompleted {
        organization_id: Uuid::from_u128(1),
        api_key_id: Uuid::from_u128(2),
        model: "echo/x".into(),
        provider: "echo".into(),
        prompt_tokens: 10,
        completion_tokens: 5,
        cached_tokens: 0,
        cost: Money::from_nanos(1234),
        latency_ms: 42,
        time_to_first_token_ms: Some(7),
        status: RequestStatus::Success,
        http_status: 200,
        error_kind: None,
        streamed: false,
        started_at: at,
        finished_at: at,
        deployment: "echo".into(),
        attempts: Vec::new(),
        ingress: "chat_completions".into(),
        cache_write_tokens: 0,
        cache_write_1h_tokens: 0,
        reasoning_tokens: 0,
        usage_estimated: false,
    };
    event.attempts.push(Attempt::single(&event));
    event
}

async fn insert_request(connection: &mut PgConnection, event: &RequestCompleted) {
    sqlx::query(
        "INSERT INTO events (aggregate_type, aggregate_id, sequence, event_type, event_version, payload, metadata) \
         VALUES ('Request', $1, 1, 'RequestCompleted', '2.0', $2, '{}')",
    )
    .bind(Uuid::now_v7().to_string())
    .bind(json!({"RequestCompleted": event}))
    .execute(connection)
    .await
    .unwrap();
}

/// Applies the real projector's batch, then fails, as a process killed mid-batch would.
struct DiesAfterApplying(UsageRollups);

#[async_trait::async_trait]
impl Projector for DiesAfterApplying {
    fn name(&self) -> &'static str {
        self.0.name()
    }
    fn tables(&self) -> &'static [&'static str] {
        self.0.tables()
    }
    fn aggregate_types(&self) -> &'static [&'static str] {
        self.0.aggregate_types()
    }
    async fn apply(&self, tx: &mut PgConnection, events: &[StoredEvent]) -> Result<(), EventLogError> {
        self.0.apply(tx, events).await?;
        Err(EventLogError::Database(sqlx::Error::PoolClosed))
    }
}

#[tokio::test]
async fn a_projector_that_dies_mid_batch_resumes_with_nothing_lost_or_doubled() {
    let pool = migrated_pool().await;
    let events: Vec<RequestCompleted> =
        (0..25).map(|i| RequestCompleted { latency_ms: i * 3, ..tests_event() }).collect();
    write_batch(&writer(&pool), &events.iter().map(pending).collect::<Vec<_>>()).await.unwrap();
    let dying = Runner::new(pool.clone(), vec![Arc::new(DiesAfterApplying(UsageRollups))]);
    dying.register().await.unwrap();
    let mut died = false;
    for _ in 0..200 {
        if dying.catch_up_all().await.is_err() {
            died = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(died, "the batch became visible and the projector died applying it");
    let (position, rows): (i64, i64) = sqlx::query_as(
        "SELECT (SELECT last_position FROM projection_checkpoints WHERE name = 'usage_rollups'), (SELECT count(*) FROM usage_daily)",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!((position, rows), (0, 0), "the failed batch left no trace");
    let healthy = projection_runner(&pool);
    catch_up_fully(&healthy, &pool).await;
    assert_eq!(stored_rollup(&pool).await, Rollup::of(&events));
    more_events_then_compare(&pool, &healthy, events).await;
}

async fn more_events_then_compare(pool: &PgPool, runner: &Runner, mut events: Vec<RequestCompleted>) {
    let more: Vec<RequestCompleted> = (0..5).map(|_| tests_event()).collect();
    write_batch(&writer(pool), &more.iter().map(pending).collect::<Vec<_>>()).await.unwrap();
    catch_up_fully(runner, pool).await;
    events.extend(more);
    assert_eq!(stored_rollup(pool).await, Rollup::of(&events));
}

async fn lock_holders(pool: &PgPool) -> i64 {
    sqlx::query_scalar(
        "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted \
           AND database = (SELECT oid FROM pg_database WHERE datname = current_database()) \
           AND ((classid::bigint << 32) | objid::bigint) = $1",
    )
    .bind(gaiarouter_projections::runner::RUNNER_LOCK)
    .fetch_one(pool)
    .await
    .unwrap()
}

pub(crate) async fn wait_until<F, Fut>(mut check: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    for _ in 0..100 {
        if check().await {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    false
}

/// The backends asking for the runner lock without holding it: a server standing by.
async fn standby_askers(pool: &PgPool) -> Vec<i32> {
    sqlx::query_scalar(
        "SELECT pid FROM pg_stat_activity WHERE datname = current_database() \
           AND query = 'SELECT pg_try_advisory_lock($1)' \
           AND pid NOT IN (SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND granted \
                            AND ((classid::bigint << 32) | objid::bigint) = $1) \
         ORDER BY pid",
    )
    .bind(gaiarouter_projections::runner::RUNNER_LOCK)
    .fetch_all(pool)
    .await
    .unwrap()
}

/// A server standing by asks again on one connection of its own. It used to take a
/// pooled connection for each try and close it: a warm backend lost every second.
#[tokio::test]
async fn a_server_standing_by_asks_for_the_lock_on_one_connection() {
    let first = spawn_app().await;
    let pool = first.state.pool.clone();
    assert!(wait_until(|| async { lock_holders(&pool).await == 1 }).await, "the first server takes the lock");
    let _second = spawn_app_on(&first.database_url).await;
    assert!(wait_until(|| async { standby_askers(&pool).await.len() == 1 }).await, "the second server stands by");
    let asker = standby_askers(&pool).await;
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert_eq!(standby_askers(&pool).await, asker, "two more tries, on the same backend");
    assert_eq!(lock_holders(&pool).await, 1);
}

#[tokio::test]
async fn with_two_servers_exactly_one_projects_and_the_other_takes_over_when_it_stops() {
    let first = spawn_app().await;
    let pool = first.state.pool.clone();
    assert!(wait_until(|| async { lock_holders(&pool).await == 1 }).await, "the first server takes the lock");
    let second = spawn_app_on(&first.database_url).await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(lock_holders(&pool).await, 1, "exactly one server projects");

    let org = second.create_org("Failover").await;
    let (_, key) = second.issue_key(&org, "read").await;
    for _ in 0..3 {
        second.chat(&key, json!({"model": "echo/x", "messages": user_message("one")})).await;
    }
    let logged =
        || async { sqlx::query_scalar::<_, i64>("SELECT count(*) FROM request_log").fetch_one(&pool).await.unwrap() };
    assert!(wait_until(|| async { logged().await == 3 }).await, "the first server projects");

    first.state.shutdown().await;
    assert!(wait_until(|| async { lock_holders(&pool).await == 1 }).await, "the second server takes over");
    for _ in 0..2 {
        second.chat(&key, json!({"model": "echo/x", "messages": user_message("two")})).await;
    }
    assert!(wait_until(|| async { logged().await == 5 }).await, "the second server projects now");
    let status = second.get("/v1/projections", &second.admin_token).await;
    assert!(status.body["data"].as_array().unwrap().iter().all(|p| p["lag_events"] == json!(0)), "{}", status.body);
}

#[tokio::test]
async fn a_rebuild_through_the_api_replays_to_the_same_result_and_reports_status() {
    let app = spawn_app().await;
    let org = app.create_org("Rebuilders").await;
    let (_, key) = app.issue_key(&org, "read").await;
    for i in 0..12 {
        app.chat(&key, json!({"model": "echo/x", "messages": user_message(&"word ".repeat(i + 1))})).await;
    }
    let pool = app.state.pool.clone();
    let caught_up = || async {
        let status = app.get("/v1/projections", &app.admin_token).await;
        status.body["data"]
            .as_array()
            .map(|d| d.len() == 6 && d.iter().all(|p| p["lag_events"] == json!(0) && p["state"] == "running"))
            .unwrap_or(false)
    };
    assert!(wait_until(caught_up).await);
    let before = snapshot(&pool).await;
    for name in ["usage_rollups", "usage_hourly", "monthly_usage", "request_log", "budget_alerts"] {
        let answer = app.post(&format!("/v1/projections/{name}/rebuild"), &app.admin_token, json!({})).await;
        assert_eq!(answer.status, reqwest::StatusCode::ACCEPTED, "{}", answer.body);
    }
    assert!(wait_until(caught_up).await, "rebuilds finish");
    assert_eq!(snapshot(&pool).await, before);
    let unknown = app.post("/v1/projections/nope/rebuild", &app.admin_token, json!({})).await;
    assert_eq!(unknown.status, reqwest::StatusCode::NOT_FOUND);
    assert_eq!(app.get("/v1/projections", &key).await.status, reqwest::StatusCode::FORBIDDEN);
}

/// xid8 values ordered as text would put 100000 before 99999: a projector must order
/// by the number, or it doubles or skips events when ids gain a digit.
#[tokio::test]
async fn events_on_both_sides_of_a_digit_boundary_of_transaction_ids_are_applied_exactly_once() {
    let pool = migrated_pool().await;
    sqlx::query(
        "CREATE PROCEDURE burn_xids(n integer) LANGUAGE plpgsql AS $$ \
         BEGIN FOR i IN 1..n LOOP PERFORM pg_current_xact_id(); COMMIT; END LOOP; END $$",
    )
    .execute(&pool)
    .await
    .unwrap();
    // Transaction ids are cluster-wide and other tests take them too (hundreds while
    // this one runs, in the full suite): burn to a margin before the next power of
    // ten wide enough for them, then insert one event per transaction until some
    // land on each side of it.
    let mut connection = pool.acquire().await.unwrap();
    let mut sides = (0_i64, 0_i64);
    for _ in 0..3 {
        let current: i64 =
            sqlx::query_scalar("SELECT pg_current_xact_id()::text::bigint").fetch_one(&pool).await.unwrap();
        let boundary = 10_i64.pow(current.to_string().len() as u32);
        const MARGIN: i64 = 1_000;
        if boundary - current > MARGIN {
            sqlx::query("CALL burn_xids($1)").bind((boundary - current - MARGIN) as i32).execute(&pool).await.unwrap();
        }
        for _ in 0..2 * MARGIN {
            insert_request(&mut connection, &tests_event()).await;
            let last: i64 =
                sqlx::query_scalar("SELECT tx_id::text::bigint FROM events ORDER BY global_position DESC LIMIT 1")
                    .fetch_one(&mut *connection)
                    .await
                    .unwrap();
            if last < boundary {
                sides.0 += 1;
            } else {
                sides.1 += 1;
            }
            if sides.1 >= 3 {
                break;
            }
        }
        if sides.0 > 0 {
            break;
        }
    }
    drop(connection);
    assert!(sides.0 > 0 && sides.1 > 0, "the events straddle a digit boundary of transaction ids: {sides:?}");
    let inserted = sides.0 + sides.1;
    let runner = projection_runner(&pool);
    catch_up_fully(&runner, &pool).await;
    catch_up_fully(&runner, &pool).await;
    let (logged, rolled): (i64, i64) =
        sqlx::query_as("SELECT (SELECT count(*) FROM request_log), (SELECT sum(requests)::bigint FROM usage_daily)")
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!((logged, rolled), (inserted, inserted));
}

#[tokio::test]
async fn projectors_at_different_checkpoints_share_one_read_and_each_applies_only_what_it_lacks() {
    // Given requests the projectors have applied, and more that only the rollups have
    let pool = migrated_pool().await;
    let runner = projection_runner(&pool);
    runner.register().await.unwrap();
    let records: Vec<PendingRecord> = (0..30).map(|_| pending(&tests_event())).collect();
    write_batch(&writer(&pool), &records).await.unwrap();
    catch_up_fully(&runner, &pool).await;
    let records: Vec<PendingRecord> = (0..20).map(|_| pending(&tests_event())).collect();
    write_batch(&writer(&pool), &records).await.unwrap();
    admin_event(&pool).await;
    assert_eq!(apply_until(&runner, 20).await, 20);
    let records: Vec<PendingRecord> = (0..10).map(|_| pending(&tests_event())).collect();
    write_batch(&writer(&pool), &records).await.unwrap();

    // When every projector catches up from one shared read
    catch_up_fully(&runner, &pool).await;

    // Then each counted every request once, and the views equal a replay of the log
    let logged: i64 = sqlx::query_scalar("SELECT count(*) FROM request_log").fetch_one(&pool).await.unwrap();
    let rolled: i64 =
        sqlx::query_scalar("SELECT sum(requests)::bigint FROM usage_daily").fetch_one(&pool).await.unwrap();
    assert_eq!((logged, rolled), (60, 60));
    let positions: Vec<(String, i64)> =
        sqlx::query_as("SELECT DISTINCT last_tx_id::text, last_position FROM projection_checkpoints")
            .fetch_all(&pool)
            .await
            .unwrap();
    assert_eq!(positions.len(), 1, "every checkpoint at the end of the log: {positions:?}");
    let live = snapshot(&pool).await;
    for projector in runner.projectors() {
        runner.rebuild(projector.as_ref()).await.unwrap();
    }
    assert_eq!(snapshot(&pool).await, live);
}

#[tokio::test]
async fn the_group_commit_does_not_notify_inside_its_transaction_but_admin_events_still_do() {
    // Given a listener on the projectors' channel
    let pool = migrated_pool().await;
    let mut listener = sqlx::postgres::PgListener::connect_with(&pool).await.unwrap();
    listener.listen(gaiarouter_projections::runner::EVENTS_CHANNEL).await.unwrap();

    // When a batch of requests is recorded by the group-commit statement
    write_batch(&writer(&pool), &[pending(&tests_event())]).await.unwrap();

    // Then it announces nothing itself (the recorder's announcer does, after the commit:
    // a NOTIFY inside would serialize every commit on the notify queue's lock)
    let quiet = tokio::time::timeout(Duration::from_millis(500), listener.recv()).await;
    assert!(quiet.is_err(), "the group commit notified: {quiet:?}");
    let recorded: i64 = sqlx::query_scalar("SELECT count(*) FROM events WHERE aggregate_type = 'Request'")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(recorded, 1);

    // And an admin event still wakes the projectors
    admin_event(&pool).await;
    let woken = tokio::time::timeout(Duration::from_secs(5), listener.recv()).await;
    assert!(matches!(woken, Ok(Ok(_))), "{woken:?}");
}
