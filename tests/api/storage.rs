//! Bounded storage: monthly partitions of the `Request` events and the request
//! log, the migration of an existing database to them, partitions made ahead
//! across a month boundary, request log retention, and archiving old months to
//! files with rebuilds that replay those files.

use std::collections::BTreeMap;
use std::time::Duration;

use chrono::{DateTime, Datelike, NaiveDate, TimeZone, Utc};
use gaiarouter::app::{projection_runner, projection_runner_with};
use gaiarouter::storage::{self, archive};
use gaiarouter::usage::recorder::{write_batch, PendingRecord, Writer};
use gaiarouter_domain::request::{Attempt, RequestCompleted, RequestStatus};
use gaiarouter_domain::Money;
use gaiarouter_projections::request_log::RequestLog;
use gaiarouter_projections::Runner;
use reqwest::StatusCode;
use serde_json::{json, Value};
use sqlx::PgPool;
use uuid::Uuid;

use crate::helpers::{fresh_database, migrations_before, spawn_app, user_message, TestApp};

/// A UUIDv7 made at `at`, as a request started then would have.
fn id_at(at: DateTime<Utc>) -> Uuid {
    let ms = u64::try_from(at.timestamp_millis()).unwrap();
    Uuid::new_v7(uuid::Timestamp::from_unix(uuid::NoContext, ms / 1000, (ms % 1000) as u32 * 1_000_000))
}

fn month_start(at: DateTime<Utc>) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(at.year(), at.month(), 1, 0, 0, 0).single().unwrap()
}

fn months_before(at: DateTime<Utc>, months: u32) -> DateTime<Utc> {
    let index = at.year() * 12 + at.month0() as i32 - months as i32;
    Utc.with_ymd_and_hms(index.div_euclid(12), index.rem_euclid(12) as u32 + 1, 1, 0, 0, 0).single().unwrap()
}

/// A completed request of `org`/`key` that started at `at`, with some variety.
fn request(org: Uuid, key: Uuid, at: DateTime<Utc>, i: u64) -> RequestCompleted {
    let mut event = RequestCompleted {
        organization_id: org,
        api_key_id: key,
        model: ["openai/gpt-4o", "anthropic/claude-sonnet-4-5"][(i % 2) as usize].into(),
        provider: ["openai", "anthropic"][(i % 2) as usize].into(),
        prompt_tokens: 100 + i,
        completion_tokens: 20 + i % 7,
        cached_tokens: 0,
        cost: Money::from_nanos(1_000_000 + i as i64 * 37),
        latency_ms: 200 + i * 13 % 900,
        time_to_first_token_ms: Some(50 + i % 40),
        status: if i % 9 == 0 { RequestStatus::Error } else { RequestStatus::Success },
        http_status: if i % 9 == 0 { 502 } else { 200 },
        error_kind: (i % 9 == 0).then(|| "upstream_error".to_string()),
        streamed: i % 3 == 0,
        started_at: at,
        finished_at: at + chrono::Duration::milliseconds(200),
        deployment: ["openai", "anthropic"][(i % 2) as usize].into(),
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

/// Records requests through the group-commit writer's statement (`record_requests`),
/// each with a UUIDv7 id of its start time.
async fn record(pool: &PgPool, requests: &[RequestCompleted]) {
    let records: Vec<PendingRecord> = requests
        .iter()
        .map(|r| PendingRecord { request_id: id_at(r.started_at), event: r.clone(), reservation: Default::default() })
        .collect();
    write_batch(&Writer { pool: pool.clone(), process: 1, stripe: 1 }, &records).await.unwrap();
}

async fn scalar(pool: &PgPool, sql: &str) -> i64 {
    sqlx::query_scalar::<_, i64>(sql).fetch_one(pool).await.unwrap()
}

async fn exists(pool: &PgPool, table: &str) -> bool {
    sqlx::query_scalar::<_, bool>("SELECT to_regclass($1) IS NOT NULL").bind(table).fetch_one(pool).await.unwrap()
}

/// Rows of a query as sorted JSON text.
async fn rows(pool: &PgPool, sql: &str) -> Vec<String> {
    let mut rows: Vec<String> =
        sqlx::query_scalar(&format!("SELECT row_to_json(t)::text FROM ({sql}) t")).fetch_all(pool).await.unwrap();
    rows.sort();
    rows
}

/// Everything the archive must leave as it was: the stats the API answers and
/// the monthly usage (the projection and the inline counters limits read).
async fn stats(app: &TestApp, org: Uuid, from: NaiveDate, to: NaiveDate) -> BTreeMap<String, Value> {
    let mut out = BTreeMap::new();
    for path in [
        format!("/v1/stats?group_by=day&from={from}&to={to}"),
        format!("/v1/stats?group_by=model&from={from}&to={to}"),
        format!("/v1/organizations/{org}/stats?group_by=day&from={from}&to={to}"),
    ] {
        let answer = app.get(&path, &app.admin_token).await;
        assert_eq!(answer.status, StatusCode::OK, "{path}: {}", answer.body);
        out.insert(path, answer.body);
    }
    let pool = &app.state.pool;
    out.insert("usage_monthly".into(), json!(rows(pool, "SELECT * FROM usage_monthly").await));
    out.insert(
        "quota_counters".into(),
        json!(rows(pool, "SELECT scope, owner_id, period, start, requests, tokens, cost_nanos FROM quota_usage").await),
    );
    out
}

async fn caught_up(pool: &PgPool) {
    caught_up_with(&projection_runner(pool), pool).await;
}

/// Projects until every projector of requests has applied every `Request` event.
/// Projectors read below the cluster-wide `pg_snapshot_xmin` horizon, so while
/// other tests hold transactions open one pass may stop short of the newest events.
async fn caught_up_with(runner: &Runner, pool: &PgPool) {
    let names = archive::request_projectors(runner);
    for _ in 0..300 {
        runner.catch_up_all().await.unwrap();
        let behind: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM projection_checkpoints c JOIN events e \
                 ON (e.tx_id, e.global_position) > (c.last_tx_id, c.last_position) \
              WHERE c.name = ANY($1) AND e.aggregate_type = 'Request'",
        )
        .bind(&names)
        .fetch_one(pool)
        .await
        .unwrap();
        if behind == 0 {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the projectors did not catch up");
}

/// Rebuilds every projection (through the running server if there is one), then
/// catches up with what the rebuild's horizon left for later.
async fn rebuild_all(pool: &PgPool) {
    let runner = projection_runner(pool);
    for name in runner.projectors().iter().map(|p| p.name()).collect::<Vec<_>>() {
        runner.rebuild_now_or_request(name).await.unwrap();
    }
    caught_up_with(&runner, pool).await;
}

/// The projectors that must have applied a month before it is archived.
fn request_projectors(pool: &PgPool) -> Vec<&'static str> {
    archive::request_projectors(&projection_runner(pool))
}

#[tokio::test]
async fn archiving_an_old_month_drops_its_partition_keeps_every_stat_and_a_rebuild_replays_the_archive() {
    let app = spawn_app().await;
    let pool = app.state.pool.clone();
    // A real request through the gateway: its id is a UUIDv7 of this month.
    let org = app.create_org("Archivist").await;
    let (key, secret) = app.issue_key(&org, "write").await;
    let answer = app.chat(&secret, json!({"model": "echo/demo", "messages": user_message("hello")})).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
    // And a refused one (its own event type, written by the refusals' writer).
    let (_, limited) = app
        .issue_key_with(json!({"organization_id": org, "name": "one", "permission": "read",
            "limits": {"monthly_requests": 1}}))
        .await;
    for expected in [StatusCode::OK, StatusCode::TOO_MANY_REQUESTS] {
        let answer = app.chat(&limited, json!({"model": "echo/demo", "messages": user_message("hello")})).await;
        assert_eq!(answer.status, expected, "{}", answer.body);
    }
    let mut refusals = 0;
    for _ in 0..100 {
        refusals = scalar(&app.state.pool, "SELECT count(*) FROM events WHERE event_type = 'RequestRefused'").await;
        if refusals > 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(refusals > 0, "the refusal is recorded");

    let now = Utc::now();
    let this_month = month_start(now);
    let old_month = months_before(now, 2);
    let (org_id, key_id) = (Uuid::parse_str(&org).unwrap(), Uuid::parse_str(&key).unwrap());
    let old: Vec<_> =
        (0..60).map(|i| request(org_id, key_id, old_month + chrono::Duration::hours(3 * i as i64 + 1), i)).collect();
    let live: Vec<_> =
        (0..40).map(|i| request(org_id, key_id, now - chrono::Duration::milliseconds(i as i64), i)).collect();
    record(&pool, &old).await;
    record(&pool, &live).await;
    // The old month had no partition yet (written late, for the test): its events
    // waited in the DEFAULT partition, and making the partition moves them there.
    assert_eq!(scalar(&pool, "SELECT count(*) FROM events_request_default").await, 60);
    let made: bool =
        sqlx::query_scalar("SELECT ensure_month_partitions($1)").bind(old_month).fetch_one(&pool).await.unwrap();
    assert!(made);
    assert_eq!(scalar(&pool, "SELECT count(*) FROM events_request_default").await, 0, "every request id is a UUIDv7");
    assert_eq!(scalar(&pool, "SELECT count(*) FROM request_log_default").await, 0);
    let old_partition = format!("events_request_{}", old_month.format("%Y_%m"));
    assert_eq!(scalar(&pool, &format!("SELECT count(*) FROM {old_partition}")).await, 60);

    caught_up(&pool).await;
    let (from, to) = (old_month.date_naive(), now.date_naive());
    let before = stats(&app, org_id, from, to).await;
    let summary = &before[&format!("/v1/organizations/{org_id}/stats?group_by=day&from={from}&to={to}")]["summary"];
    assert_eq!(summary["requests"], json!(102), "both months are in the stats");
    let log_before = rows(&pool, "SELECT * FROM request_log").await;
    assert_eq!(log_before.len() as i64, 102 + refusals);
    let request_events = scalar(&pool, "SELECT count(*) FROM events WHERE aggregate_type = 'Request'").await;
    let admin_events = scalar(&pool, "SELECT count(*) FROM events WHERE aggregate_type <> 'Request'").await;

    // The current month is never archived.
    let dir = std::env::temp_dir().join(format!("gaiarouter-archive-{}", Uuid::now_v7()));
    let next = months_before(now, 0) + chrono::Duration::days(40);
    let refused =
        archive::archive_before(&pool, month_start(next).date_naive(), &dir, &request_projectors(&pool), now).await;
    assert!(matches!(refused, Err(archive::ArchiveError::CurrentMonth { .. })), "{refused:?}");

    let report =
        archive::archive_before(&pool, this_month.date_naive(), &dir, &request_projectors(&pool), now).await.unwrap();
    let archived: Vec<_> = report.archived.iter().filter(|m| m.events > 0).collect();
    assert_eq!(archived.len(), 1, "{:?}", report.archived);
    assert_eq!((archived[0].month, archived[0].events), (old_month.date_naive(), 60));
    assert!(!exists(&pool, &old_partition).await, "the archived month's partition is gone");
    let left = scalar(&pool, "SELECT count(*) FROM events WHERE aggregate_type = 'Request'").await;
    assert_eq!(left, request_events - 60);
    assert_eq!(
        scalar(&pool, "SELECT count(*) FROM events WHERE aggregate_type <> 'Request'").await,
        admin_events,
        "admin events are never archived"
    );
    let manifest: Value = serde_json::from_slice(&std::fs::read(&report.manifest).unwrap()).unwrap();
    assert_eq!(manifest["months"].as_array().map(Vec::len), Some(report.archived.len()));
    assert_eq!(stats(&app, org_id, from, to).await, before, "stats and monthly usage untouched by the archive");

    // Re-running is a no-op: the month is reported as archived before.
    let again =
        archive::archive_before(&pool, this_month.date_naive(), &dir, &request_projectors(&pool), now).await.unwrap();
    assert!(again.archived.is_empty());
    assert!(again.already_archived.contains(&old_month.date_naive()));

    rebuild_all(&pool).await;
    assert_eq!(stats(&app, org_id, from, to).await, before, "a rebuild from archive + live gives the same stats");
    assert_eq!(rows(&pool, "SELECT * FROM request_log").await, log_before, "and the same request log");

    // Without its file a rebuild fails loudly rather than losing a month.
    std::fs::remove_dir_all(&dir).unwrap();
    let runner = projection_runner(&pool);
    let rollups = runner.find("usage_rollups").unwrap();
    assert!(runner.rebuild(rollups.as_ref()).await.is_err());
    assert_eq!(stats(&app, org_id, from, to).await, before, "the failed rebuild changed nothing");
}

#[tokio::test]
async fn a_month_a_projector_has_not_applied_is_not_archived() {
    let url = fresh_database().await;
    let pool = gaiarouter::postgres::connect(&url, 5).await.unwrap();
    gaiarouter::postgres::migrate(&pool).await.unwrap();
    let now = Utc::now();
    let old_month = months_before(now, 3);
    sqlx::query("SELECT ensure_month_partitions($1)").bind(old_month).execute(&pool).await.unwrap();
    record(&pool, &[request(Uuid::now_v7(), Uuid::now_v7(), old_month + chrono::Duration::hours(5), 1)]).await;
    let dir = std::env::temp_dir().join(format!("gaiarouter-archive-{}", Uuid::now_v7()));
    let refused =
        archive::archive_before(&pool, month_start(now).date_naive(), &dir, &request_projectors(&pool), now).await;
    assert!(matches!(refused, Err(archive::ArchiveError::NotProjected { .. })), "{refused:?}");
    assert!(exists(&pool, &format!("events_request_{}", old_month.format("%Y_%m"))).await);
    std::fs::remove_dir_all(&dir).ok();
}

#[tokio::test]
async fn partitions_are_made_ahead_and_requests_either_side_of_a_month_boundary_land_in_their_month() {
    let url = fresh_database().await;
    let pool = gaiarouter::postgres::connect(&url, 5).await.unwrap();
    gaiarouter::postgres::migrate(&pool).await.unwrap();
    let eve = Utc.with_ymd_and_hms(2031, 12, 31, 23, 59, 59).single().unwrap() + chrono::Duration::milliseconds(999);
    assert_eq!(storage::ensure_partitions(&pool, eve).await.unwrap(), 3, "December and the next two months");
    assert_eq!(storage::ensure_partitions(&pool, eve).await.unwrap(), 0, "made once");
    for table in ["events_request_2031_12", "events_request_2032_01", "events_request_2032_02", "request_log_2032_02"] {
        assert!(exists(&pool, table).await, "{table}");
    }
    assert!(!exists(&pool, "events_request_2032_03").await);
    let midnight = eve + chrono::Duration::milliseconds(1);
    let (org, key) = (Uuid::now_v7(), Uuid::now_v7());
    record(&pool, &[request(org, key, eve, 1), request(org, key, midnight, 2)]).await;
    let placed =
        rows(&pool, "SELECT tableoid::regclass::text AS partition, count(*) FROM events_request GROUP BY 1").await;
    assert_eq!(
        placed,
        [r#"{"partition":"events_request_2031_12","count":1}"#, r#"{"partition":"events_request_2032_01","count":1}"#]
    );
    // A retried append of a recorded id is still a no-op across the partitions.
    let ids: Vec<String> =
        sqlx::query_scalar("SELECT aggregate_id FROM events_request").fetch_all(&pool).await.unwrap();
    let retried: i32 = sqlx::query_scalar(
        "SELECT record_requests('3.0', $1, $2::jsonb[]::json[], $3::jsonb[]::json[], $4, $5, $6, $7, $8, 1, \
                                '{}', '{}', '{}', '{}', '{}', '{}', '{}', '{}', '{}', 1::smallint)",
    )
    .bind(&ids)
    .bind(ids.iter().map(|_| json!({})).collect::<Vec<_>>())
    .bind(ids.iter().map(|_| json!({})).collect::<Vec<_>>())
    .bind(ids.iter().map(|_| org).collect::<Vec<_>>())
    .bind(ids.iter().map(|_| key).collect::<Vec<_>>())
    .bind(ids.iter().map(|_| eve).collect::<Vec<_>>())
    .bind(ids.iter().map(|_| 1_i64).collect::<Vec<_>>())
    .bind(ids.iter().map(|_| 1_i64).collect::<Vec<_>>())
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(retried, 0, "every id was recorded already");
    assert_eq!(scalar(&pool, "SELECT count(*) FROM events_request").await, 2);
}

#[tokio::test]
async fn retention_drops_old_months_of_the_request_log_and_a_rebuild_does_not_bring_them_back() {
    let url = fresh_database().await;
    let pool = gaiarouter::postgres::connect(&url, 5).await.unwrap();
    gaiarouter::postgres::migrate(&pool).await.unwrap();
    // Microseconds, as PostgreSQL keeps times.
    let now = DateTime::from_timestamp_micros(Utc::now().timestamp_micros()).unwrap();
    let (org, key) = (Uuid::now_v7(), Uuid::now_v7());
    let three_months_ago = months_before(now, 3);
    sqlx::query("SELECT ensure_month_partitions($1)").bind(three_months_ago).execute(&pool).await.unwrap();
    let ancient = request(org, key, three_months_ago + chrono::Duration::days(2), 1);
    let stale = request(org, key, now - chrono::Duration::days(20), 2);
    let fresh = request(org, key, now - chrono::Duration::days(5), 3);
    record(&pool, &[ancient, stale, fresh.clone()]).await;
    caught_up(&pool).await;
    let rollups_before = rows(&pool, "SELECT * FROM usage_daily").await;
    assert_eq!(scalar(&pool, "SELECT count(*) FROM request_log").await, 3);

    let cutoff = now - chrono::Duration::days(10);
    let expired = storage::expire_request_log(&pool, cutoff).await.unwrap();
    let old_log = format!("request_log_{}", three_months_ago.format("%Y_%m"));
    assert!(expired.partitions.contains(&old_log), "{expired:?}");
    assert!(!exists(&pool, &old_log).await);
    assert_eq!(expired.rows, 1, "the row past retention in a kept month is deleted");
    let left: Vec<DateTime<Utc>> =
        sqlx::query_scalar("SELECT started_at FROM request_log").fetch_all(&pool).await.unwrap();
    assert_eq!(left, [fresh.started_at]);
    assert_eq!(rows(&pool, "SELECT * FROM usage_daily").await, rollups_before, "rollups untouched");
    assert_eq!(scalar(&pool, "SELECT count(*) FROM events_request").await, 3, "events untouched");

    let runner = projection_runner_with(&pool, RequestLog { retention_days: Some(10) });
    runner.rebuild(runner.find("request_log").unwrap().as_ref()).await.unwrap();
    caught_up_with(&runner, &pool).await;
    let rebuilt: Vec<DateTime<Utc>> =
        sqlx::query_scalar("SELECT started_at FROM request_log").fetch_all(&pool).await.unwrap();
    assert_eq!(rebuilt, [fresh.started_at], "a rebuild keeps to the retention");
}

/// Records requests as the group-commit writer did before usage counters were striped
/// (its `record_requests` took no stripe): a database built with old migrations, or
/// a process of that version on a migrated one.
async fn record_with_old_schema(pool: &PgPool, requests: &[RequestCompleted]) {
    let ids: Vec<String> = requests.iter().map(|r| id_at(r.started_at).to_string()).collect();
    let payloads: Vec<serde_json::Value> = requests.iter().map(|r| json!({ "RequestCompleted": r })).collect();
    let metadata: Vec<serde_json::Value> =
        requests.iter().map(|r| json!({"actor_type": "api_key", "actor_id": r.api_key_id})).collect();
    sqlx::query(
        "SELECT record_requests($1, $2, $3, $4, $5, $6, $7, $8, $9, 1, \
                '{}', '{}', '{}', '{}', '{}', '{}', '{}', '{}', '{}')",
    )
    .bind(gaiarouter_domain::request::EVENT_VERSION)
    .bind(&ids)
    .bind(&payloads)
    .bind(&metadata)
    .bind(requests.iter().map(|r| r.organization_id).collect::<Vec<_>>())
    .bind(requests.iter().map(|r| r.api_key_id).collect::<Vec<_>>())
    .bind(requests.iter().map(|r| r.started_at).collect::<Vec<_>>())
    .bind(requests.iter().map(|r| i64::try_from(r.total_tokens()).unwrap()).collect::<Vec<_>>())
    .bind(requests.iter().map(|r| r.cost.nanos()).collect::<Vec<_>>())
    .execute(pool)
    .await
    .unwrap();
}

/// A process of the previous version, still running after a new one migrated the
/// database (a rolling upgrade), records through the call without a stripe: its
/// usage lands in stripe 0 and counts with the new process's stripes.
#[tokio::test]
async fn the_previous_versions_recording_call_still_records_and_counts_in_stripe_zero() {
    let url = fresh_database().await;
    let pool = gaiarouter::postgres::connect(&url, 5).await.unwrap();
    gaiarouter::postgres::migrate(&pool).await.unwrap();
    let (org, key) = (Uuid::now_v7(), Uuid::now_v7());
    let now = Utc::now();
    let requests: Vec<_> = (0..3).map(|i| request(org, key, now, i)).collect();
    record_with_old_schema(&pool, &requests[..2]).await;
    record(&pool, &requests[2..]).await;

    assert_eq!(scalar(&pool, "SELECT count(*) FROM events_request").await, 3);
    let stripes = crate::helpers::counter_stripes(&pool, key).await;
    assert_eq!(stripes, [0, 1], "the old call's stripe, then the new writer's");
    let total: i64 = sqlx::query_scalar("SELECT requests FROM quota_usage WHERE owner_id = $1 AND period = 'total'")
        .bind(key)
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(total, 3);
}

#[tokio::test]
async fn migrating_a_database_with_events_keeps_every_event_and_every_projection() {
    let url = fresh_database().await;
    let pool = gaiarouter::postgres::connect(&url, 5).await.unwrap();
    // The migrations before partitioning, to build a database as it was.
    migrations_before(20261201000100).run(&pool).await.unwrap();
    assert!(!exists(&pool, "events_admin").await, "the old schema");
    // The old schema is projected by today's projectors, which write the request
    // log's columns added since (the partitioning copies the rest and drops them; a
    // later migration adds them back with the same defaults).
    sqlx::query("ALTER TABLE request_log ADD COLUMN usage_estimated boolean NOT NULL DEFAULT false")
        .execute(&pool)
        .await
        .unwrap();
    crate::projections::admin_event(&pool).await;
    let now = Utc::now();
    let (org, key) = (Uuid::now_v7(), Uuid::now_v7());
    let requests: Vec<_> = (0..30)
        .map(|i| request(org, key, months_before(now, i % 3) + chrono::Duration::hours(i as i64 + 1), u64::from(i)))
        .collect();
    record_with_old_schema(&pool, &requests).await;
    // An id that is not a UUIDv7 (none is written today, but nothing may be lost).
    sqlx::query(
        "INSERT INTO events (aggregate_type, aggregate_id, sequence, event_type, event_version, payload, metadata) \
         VALUES ('Request', $1, 1, 'RequestCompleted', $2, $3, '{}')",
    )
    .bind(Uuid::new_v4().to_string())
    .bind(gaiarouter_domain::request::EVENT_VERSION)
    .bind(json!({"RequestCompleted": request(org, key, now, 99)}))
    .execute(&pool)
    .await
    .unwrap();
    crate::projections::admin_event(&pool).await;
    caught_up(&pool).await;
    let events_sql = "SELECT aggregate_type, aggregate_id, sequence, event_type, event_version, payload::text, \
                      metadata::text, global_position, tx_id::text, recorded_at FROM events";
    let events_before = rows(&pool, events_sql).await;
    let mut projections_before = BTreeMap::new();
    // The counters as their columns were (a later migration adds their stripe).
    let projected_sql = |table: &str| match table {
        "quota_counters" => {
            "SELECT scope, owner_id, period, start, model, requests, tokens, cost_nanos, reserved_requests, \
                             reserved_tokens, reserved_cost_nanos FROM quota_counters"
                .to_string()
        }
        _ => format!("SELECT * FROM {table}"),
    };
    for table in ["usage_daily", "usage_hourly", "usage_monthly", "request_log", "quota_counters"] {
        projections_before.insert(table, rows(&pool, &projected_sql(table)).await);
    }
    assert_eq!(projections_before["request_log"].len(), 31);
    let last_position = scalar(&pool, "SELECT max(global_position) FROM events").await;

    gaiarouter::postgres::migrate(&pool).await.unwrap();
    // New connections, as a restarted server has: statements cached before the
    // migration describe the old tables (the id column's collation changed).
    pool.close().await;
    let pool = gaiarouter::postgres::connect(&url, 5).await.unwrap();
    assert_eq!(rows(&pool, events_sql).await, events_before, "every event, with its position, tx and time");
    for (table, before) in &projections_before {
        assert_eq!(&rows(&pool, &projected_sql(table)).await, before, "{table}");
    }
    assert_eq!(scalar(&pool, "SELECT count(*) FROM events_admin").await, 2);
    assert_eq!(scalar(&pool, "SELECT count(*) FROM events_request_default").await, 1, "the id that is not a UUIDv7");
    for i in 0..3 {
        let partition = format!("events_request_{}", months_before(now, i).format("%Y_%m"));
        assert_eq!(scalar(&pool, &format!("SELECT count(*) FROM {partition}")).await, 10, "{partition}");
    }
    // New events continue the positions; admin ones still announce themselves.
    let mut listener = sqlx::postgres::PgListener::connect_with(&pool).await.unwrap();
    listener.listen_all(["gaiarouter_admin", "gaiarouter_events"]).await.unwrap();
    crate::projections::admin_event(&pool).await;
    let mut channels = Vec::new();
    while channels.len() < 2 {
        let notification = tokio::time::timeout(Duration::from_secs(5), listener.recv()).await.unwrap().unwrap();
        channels.push(notification.channel().to_string());
    }
    channels.sort();
    assert_eq!(channels, ["gaiarouter_admin", "gaiarouter_events"]);
    assert!(scalar(&pool, "SELECT max(global_position) FROM events").await > last_position);
    record(&pool, &[request(org, key, now, 100)]).await;
    caught_up(&pool).await;
    assert_eq!(scalar(&pool, "SELECT count(*) FROM request_log").await, 32, "projectors go on after the migration");
    // And a rebuild on the new schema gives the same projections.
    let mut projected = BTreeMap::new();
    for table in ["usage_daily", "usage_hourly", "usage_monthly", "request_log"] {
        projected.insert(table, rows(&pool, &format!("SELECT * FROM {table}")).await);
    }
    rebuild_all(&pool).await;
    for (table, before) in &projected {
        assert_eq!(&rows(&pool, &format!("SELECT * FROM {table}")).await, before, "{table} rebuilt");
    }
}
