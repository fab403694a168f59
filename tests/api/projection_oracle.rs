//! Rebuild equality against an independent oracle. The expected read models are
//! folded here, in a few lines written apart from the projectors (no shared
//! function: not `Rollup::of`, not `monthly_usage::deltas`, not `month_of`), from
//! histories that reach the edges: requests that start a millisecond before
//! midnight, at month and year ends and on 29 February, Unicode and 200-character
//! model ids, costs up to the most a request is recorded at (~$17,592), latencies of hours, and refusals
//! folded by the thousand. Checked: live == oracle (daily and hourly rollups,
//! refusals by reason, the request log), inline limit counters == oracle,
//! rebuilt == live; 256 cases. (It
//! replaced a property test whose expectations came from the projectors' own code.)

use std::collections::BTreeMap;
use std::time::Duration;

use chrono::{DateTime, Datelike, NaiveDate, TimeZone, Utc};
use gaiarouter::app::projection_runner;
use gaiarouter::usage::recorder::{write_batch, PendingRecord, Writer};
use gaiarouter_domain::request::{Attempt, RequestCompleted, RequestRefused, RequestStatus, MAX_RECORDED_COST_NANOS};
use gaiarouter_domain::Money;
use gaiarouter_projections::Runner;
use proptest::prelude::*;
use sqlx::PgPool;
use uuid::Uuid;

use crate::helpers::fresh_database;

// --- The oracle -------------------------------------------------------------

/// (day or hour as text, organization, key, model, provider, deployment).
type DayKey = (String, Uuid, Uuid, String, String, String);

/// One usage_daily row: requests, successes, errors, streamed, prompt, completion,
/// cached, cost, latency sum/min/max, ttft sum/count, cache writes (all, 1h),
/// reasoning, refused.
type DayRow = [i64; 17];

/// The day (`2028-02-29`) or the hour (`2028-02-29 23`) a time falls in, as the
/// stored rows are read back.
fn day(at: DateTime<Utc>) -> String {
    at.format("%Y-%m-%d").to_string()
}

fn hour(at: DateTime<Utc>) -> String {
    at.format("%Y-%m-%d %H").to_string()
}

/// Refusals of unknown or malformed models count under no model.
fn refused_model(r: &RequestRefused) -> String {
    if r.reason == "model_not_found" || r.reason == "invalid_request" {
        String::new()
    } else {
        r.model.clone()
    }
}

fn refusal_key(bucket: fn(DateTime<Utc>) -> String, r: &RequestRefused) -> DayKey {
    (bucket(r.first_at), r.organization_id, r.api_key_id, refused_model(r), String::new(), String::new())
}

fn oracle_rollup(
    bucket: fn(DateTime<Utc>) -> String,
    requests: &[(Uuid, RequestCompleted)],
    refusals: &[(Uuid, RequestRefused)],
) -> BTreeMap<DayKey, DayRow> {
    let mut rows: BTreeMap<DayKey, DayRow> = BTreeMap::new();
    let empty = [0, 0, 0, 0, 0, 0, 0, 0, 0, i64::MAX, 0, 0, 0, 0, 0, 0, 0];
    for (_, r) in refusals {
        rows.entry(refusal_key(bucket, r)).or_insert(empty)[16] += r.count as i64;
    }
    for (_, r) in requests {
        let key = (
            bucket(r.started_at),
            r.organization_id,
            r.api_key_id,
            r.model.clone(),
            r.provider.clone(),
            r.deployment.clone(),
        );
        let row = rows.entry(key).or_insert(empty);
        let ok = r.status == RequestStatus::Success;
        let latency = r.latency_ms as i64;
        row[0] += 1;
        row[1] += i64::from(ok);
        row[2] += i64::from(!ok);
        row[3] += i64::from(r.streamed);
        row[4] += r.prompt_tokens as i64;
        row[5] += r.completion_tokens as i64;
        row[6] += r.cached_tokens as i64;
        row[7] += r.cost.nanos();
        row[8] += latency;
        row[9] = row[9].min(latency);
        row[10] = row[10].max(latency);
        row[11] += r.time_to_first_token_ms.map_or(0, |t| t as i64);
        row[12] += i64::from(r.time_to_first_token_ms.is_some());
        row[13] += r.cache_write_tokens as i64;
        row[14] += r.cache_write_1h_tokens as i64;
        row[15] += r.reasoning_tokens as i64;
    }
    rows
}

fn oracle_refusals(
    bucket: fn(DateTime<Utc>) -> String,
    refusals: &[(Uuid, RequestRefused)],
) -> BTreeMap<(DayKey, String), i64> {
    let mut rows = BTreeMap::new();
    for (_, r) in refusals {
        *rows.entry((refusal_key(bucket, r), r.reason.clone())).or_insert(0) += r.count as i64;
    }
    rows
}

fn oracle_errors(
    bucket: fn(DateTime<Utc>) -> String,
    requests: &[(Uuid, RequestCompleted)],
) -> BTreeMap<(DayKey, String), i64> {
    let mut rows = BTreeMap::new();
    for (_, r) in requests {
        if let Some(kind) = &r.error_kind {
            let key = (
                bucket(r.started_at),
                r.organization_id,
                r.api_key_id,
                r.model.clone(),
                r.provider.clone(),
                r.deployment.clone(),
            );
            *rows.entry((key, kind.clone())).or_insert(0) += 1;
        }
    }
    rows
}

/// (scope, owner, first day of the UTC month the request started in) -> (requests, tokens, cost).
fn oracle_monthly(requests: &[(Uuid, RequestCompleted)]) -> BTreeMap<(String, Uuid, NaiveDate), [i64; 3]> {
    let mut rows = BTreeMap::new();
    for (_, r) in requests {
        let month = NaiveDate::from_ymd_opt(r.started_at.year(), r.started_at.month(), 1).unwrap();
        for (scope, owner) in [("organization", r.organization_id), ("api_key", r.api_key_id)] {
            let row = rows.entry((scope.to_string(), owner, month)).or_insert([0, 0, 0]);
            row[0] += 1;
            row[1] += (r.prompt_tokens + r.completion_tokens) as i64;
            row[2] += r.cost.nanos();
        }
    }
    rows
}

type PeriodKey = (String, Uuid, String, DateTime<Utc>);

/// The inline usage counters: each request counts in the day, ISO week, month
/// and total (UTC) it started in, for its organization and its key.
fn oracle_periods(requests: &[(Uuid, RequestCompleted)]) -> BTreeMap<PeriodKey, [i64; 3]> {
    use gaiarouter_domain::limits::BUDGET_PERIODS;
    let mut rows = BTreeMap::new();
    for (_, r) in requests {
        for period in BUDGET_PERIODS {
            let start = period.window_start(r.started_at);
            for (scope, owner) in [("organization", r.organization_id), ("api_key", r.api_key_id)] {
                let key = (scope.to_string(), owner, period.as_str().to_string(), start);
                let row = rows.entry(key).or_insert([0, 0, 0]);
                row[0] += 1;
                row[1] += (r.prompt_tokens + r.completion_tokens) as i64;
                row[2] += r.cost.nanos();
            }
        }
    }
    rows
}

// --- What is stored ----------------------------------------------------------

type PeriodRow = (String, Uuid, String, DateTime<Utc>, i64, i64, i64);

async fn stored_periods(pool: &PgPool) -> BTreeMap<PeriodKey, [i64; 3]> {
    let rows: Vec<PeriodRow> = sqlx::query_as(
        "SELECT scope, owner_id, period, start, requests, tokens, cost_nanos FROM quota_usage \
         WHERE model = '' AND period IN ('day', 'week', 'month', 'total')",
    )
    .fetch_all(pool)
    .await
    .unwrap();
    rows.into_iter().map(|(s, o, p, st, r, t, c)| ((s, o, p, st), [r, t, c])).collect()
}

/// The bucket column of a grain read as text like `day` and `hour` above.
const DAY_SQL: &str = "day::text";
const HOUR_SQL: &str = "to_char(hour AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24')";

async fn stored_rollup(pool: &PgPool, table: &str, bucket: &str) -> BTreeMap<DayKey, DayRow> {
    type Row = (String, Uuid, Uuid, String, String, String, Vec<i64>);
    let rows: Vec<Row> = sqlx::query_as(&format!(
        "SELECT {bucket}, organization_id, api_key_id, model, provider, deployment, ARRAY[requests, successes, errors, \
                streamed, prompt_tokens, completion_tokens, cached_tokens, cost_nanos, latency_sum_ms, latency_min_ms, \
                latency_max_ms, ttft_sum_ms, ttft_count, cache_write_tokens, cache_write_1h_tokens, \
                reasoning_tokens, refused] FROM {table}"
    ))
    .fetch_all(pool)
    .await
    .unwrap();
    rows.into_iter().map(|(d, o, k, m, p, dep, v)| ((d, o, k, m, p, dep), v.try_into().unwrap())).collect()
}

/// Errors by kind or refusals by reason (`column`) of one grain's table.
async fn stored_kinds(pool: &PgPool, table: &str, bucket: &str, column: &str) -> BTreeMap<(DayKey, String), i64> {
    type Row = (String, Uuid, Uuid, String, String, String, String, i64);
    let rows: Vec<Row> = sqlx::query_as(&format!(
        "SELECT {bucket}, organization_id, api_key_id, model, provider, deployment, {column}, count FROM {table}"
    ))
    .fetch_all(pool)
    .await
    .unwrap();
    rows.into_iter().map(|(d, o, k, m, p, dep, e, c)| (((d, o, k, m, p, dep), e), c)).collect()
}

async fn stored_monthly(pool: &PgPool, table: &str) -> BTreeMap<(String, Uuid, NaiveDate), [i64; 3]> {
    let rows: Vec<(String, Uuid, NaiveDate, i64, i64, i64)> =
        sqlx::query_as(&format!("SELECT scope, owner_id, month, requests, tokens, cost_nanos FROM {table}"))
            .fetch_all(pool)
            .await
            .unwrap();
    rows.into_iter().map(|(s, o, m, r, t, c)| ((s, o, m), [r, t, c])).collect()
}

/// Histogram buckets per rollup row add up to its requests.
async fn latency_counts(pool: &PgPool) -> BTreeMap<DayKey, i64> {
    let rows: Vec<(String, Uuid, Uuid, String, String, String, i64)> = sqlx::query_as(
        "SELECT day::text, organization_id, api_key_id, model, provider, deployment, sum(count)::bigint \
         FROM usage_daily_latency GROUP BY 1, 2, 3, 4, 5, 6",
    )
    .fetch_all(pool)
    .await
    .unwrap();
    rows.into_iter().map(|(d, o, k, m, p, dep, c)| ((d, o, k, m, p, dep), c)).collect()
}

/// A request-log row: model, tokens, cost, latency, status, started_at, deployment,
/// each attempt's deployment and upstream status, and how many requests it stands
/// for with its status and reason (a folded refusal: many).
type LogRow = (String, i64, i64, i64, String, DateTime<Utc>, String, Vec<String>, (i64, i32, Option<String>));

/// The request log, row by row.
async fn stored_log(pool: &PgPool) -> BTreeMap<Uuid, LogRow> {
    type Row = (Uuid, String, i64, i64, i64, String, DateTime<Utc>, String, Vec<String>, i64, i32, Option<String>);
    let rows: Vec<Row> = sqlx::query_as(
        "SELECT id, model, prompt_tokens + completion_tokens, cost_nanos, latency_ms, status, started_at, deployment, \
           ARRAY(SELECT (a->>'deployment') || ' ' || (a->>'http_status') FROM jsonb_array_elements(attempts) a), \
           refused_count, http_status, error_kind \
         FROM request_log",
    )
    .fetch_all(pool)
    .await
    .unwrap();
    rows.into_iter().map(|(id, m, t, c, l, s, at, d, a, n, h, e)| (id, (m, t, c, l, s, at, d, a, (n, h, e)))).collect()
}

fn oracle_log(requests: &[(Uuid, RequestCompleted)], refusals: &[(Uuid, RequestRefused)]) -> BTreeMap<Uuid, LogRow> {
    let refused = refusals.iter().map(|(id, r)| {
        let how = (r.count as i64, i32::from(r.http_status), Some(r.reason.clone()));
        (*id, (r.model.clone(), 0, 0, 0, "refused".to_string(), r.first_at, String::new(), Vec::new(), how))
    });
    requests
        .iter()
        .map(|(id, r)| {
            let status = if r.status == RequestStatus::Success { "success" } else { "error" };
            let tokens = (r.prompt_tokens + r.completion_tokens) as i64;
            let attempts = r.attempts.iter().map(|a| format!("{} {}", a.deployment, a.http_status)).collect();
            let row = (
                r.model.clone(),
                tokens,
                r.cost.nanos(),
                r.latency_ms as i64,
                status.to_string(),
                r.started_at,
                r.deployment.clone(),
                attempts,
                (1, i32::from(r.http_status), r.error_kind.clone()),
            );
            (*id, row)
        })
        .chain(refused)
        .collect()
}

async fn snapshot(pool: &PgPool) -> Vec<Vec<String>> {
    let mut out = Vec::new();
    for table in [
        "usage_daily",
        "usage_daily_latency",
        "usage_daily_errors",
        "usage_daily_refusals",
        "usage_hourly",
        "usage_hourly_latency",
        "usage_hourly_errors",
        "usage_hourly_refusals",
        "usage_monthly",
        "request_log",
    ] {
        let rows: Vec<String> = sqlx::query_scalar(&format!("SELECT row_to_json(t)::text FROM {table} t ORDER BY 1"))
            .fetch_all(pool)
            .await
            .unwrap();
        out.push(rows);
    }
    out
}

// --- Histories that reach the edges ------------------------------------------

fn instant() -> impl Strategy<Value = DateTime<Utc>> {
    // Days on both sides of a month end, the year end and a leap day.
    let days = prop_oneof![
        Just((2027, 12, 31)),
        Just((2028, 1, 1)),
        Just((2028, 2, 28)),
        Just((2028, 2, 29)),
        Just((2028, 3, 1)),
        Just((2028, 4, 30)),
        Just((2028, 5, 1)),
    ];
    // Often the last or first second of the day, otherwise any millisecond.
    let millis_of_day = prop_oneof![
        2 => 86_399_000_u32..86_400_000,
        1 => 0_u32..1_000,
        3 => 0_u32..86_400_000,
    ];
    (days, millis_of_day).prop_map(|((y, m, d), ms)| {
        Utc.with_ymd_and_hms(y, m, d, 0, 0, 0).single().unwrap() + chrono::Duration::milliseconds(i64::from(ms))
    })
}

fn model() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("openai/gpt-4o".to_string()),
        Just("anthropic/claude-sonnet-4-5".to_string()),
        Just("custom/модель-日本語-🚀".to_string()),
        "[a-z]{1,8}/[a-zA-Z0-9é日\\-]{1,191}",
        Just(format!("echo/{}", "x".repeat(195))),
    ]
}

fn request() -> impl Strategy<Value = RequestCompleted> {
    (
        (0_usize..3, 0_u128..2, model()),
        instant(),
        (0_u64..2_000_000, 0_u64..2_000_000, 0_u64..2_000_000),
        prop_oneof![4 => 0_i64..10_000_000, 1 => 0_i64..=MAX_RECORDED_COST_NANOS],
        (prop_oneof![3 => 0_u64..60_000, 1 => 0_u64..4 * 3_600_000], proptest::option::of(0_u64..60_000)),
        prop_oneof![3 => Just(None), 1 => Just(Some("upstream_timeout")), 1 => Just(Some("client_disconnected"))],
        (any::<bool>(), 0_u64..100_000, 0_u64..2, 0_u64..50_000, any::<bool>()),
        // The serving deployment (a route's, or the provider itself) and the upstream
        // statuses of the attempts before it (0 = no answer).
        (
            prop_oneof![Just(None), Just(Some("smart/a")), Just(Some("smart/b"))],
            proptest::collection::vec(prop_oneof![Just(0_u16), Just(429), Just(503)], 0..3),
        ),
    )
        .prop_map(
            |(
                (org, key, model),
                started_at,
                (prompt, completion, cached),
                cost,
                (latency, ttft),
                error,
                (streamed, cache_write, one_hour_share, reasoning, by_messages),
                (deployment, failed),
            )| {
                let provider = model.split('/').next().unwrap_or("x").to_string();
                let deployment = deployment.map_or_else(|| provider.clone(), str::to_string);
                let mut attempts: Vec<Attempt> = failed
                    .into_iter()
                    .map(|status| Attempt {
                        deployment: "smart/c".into(),
                        provider: provider.clone(),
                        model: "upstream-model".into(),
                        http_status: status,
                        error_kind: Some("upstream_error".into()),
                        latency_ms: 1,
                    })
                    .collect();
                attempts.push(Attempt {
                    deployment: deployment.clone(),
                    provider: provider.clone(),
                    model: "upstream-model".into(),
                    http_status: if error.is_some() { 504 } else { 200 },
                    error_kind: error.map(str::to_string),
                    latency_ms: latency,
                });
                RequestCompleted {
                    deployment,
                    attempts,
                    organization_id: Uuid::from_u128(1 + org as u128),
                    api_key_id: Uuid::from_u128(100 + org as u128 * 10 + key),
                    provider,
                    model,
                    prompt_tokens: prompt,
                    completion_tokens: completion,
                    cached_tokens: cached.min(prompt),
                    cost: Money::from_nanos(cost),
                    latency_ms: latency,
                    time_to_first_token_ms: ttft.map(|t| t.min(latency)),
                    status: if error.is_some() { RequestStatus::Error } else { RequestStatus::Success },
                    http_status: if error.is_some() { 504 } else { 200 },
                    error_kind: error.map(str::to_string),
                    streamed,
                    started_at,
                    finished_at: started_at + chrono::Duration::milliseconds(latency as i64),
                    ingress: if by_messages { "messages" } else { "chat_completions" }.into(),
                    cache_write_tokens: cache_write,
                    cache_write_1h_tokens: cache_write * one_hour_share,
                    reasoning_tokens: reasoning.min(completion),
                    usage_estimated: streamed && error.is_some(),
                }
            },
        )
}

/// Refusals as the gateway folds them: one to thousands of requests over up to
/// two seconds, of any key, for a limit (a model kept) or an unknown model (none).
fn refusal() -> impl Strategy<Value = RequestRefused> {
    let reasons = prop_oneof![
        Just(("api_key_monthly_requests_limit", 429_u16)),
        Just(("organization_requests_per_minute_limit", 429)),
        Just(("model_not_found", 404)),
        Just(("invalid_request", 400)),
        Just(("organization_suspended", 403)),
    ];
    (
        (0_usize..3, 0_u128..2, model()),
        instant(),
        reasons,
        prop_oneof![3 => 1_u64..3, 1 => 1_u64..100_000],
        0_i64..2_000,
    )
        .prop_map(|((org, key, model), first_at, (reason, http_status), count, span)| RequestRefused {
            organization_id: Uuid::from_u128(1 + org as u128),
            api_key_id: Uuid::from_u128(100 + org as u128 * 10 + key),
            model,
            ingress: "chat_completions".into(),
            http_status,
            reason: reason.into(),
            message: "refused".into(),
            count,
            first_at,
            last_at: first_at + chrono::Duration::milliseconds(span),
        })
}

// --- The property ------------------------------------------------------------

/// Each case starts from an empty log in the same database (cheaper than a
/// database per case, so 256 cases fit in the suite's time).
async fn reset(pool: &PgPool) {
    sqlx::query(
        "TRUNCATE events, usage_daily, usage_daily_latency, usage_daily_errors, usage_daily_refusals, usage_hourly, \
         usage_hourly_latency, usage_hourly_errors, usage_hourly_refusals, usage_monthly, request_log, \
         quota_counters, quota_leases",
    )
    .execute(pool)
    .await
    .unwrap();
    sqlx::query("UPDATE projection_checkpoints SET last_tx_id = '0', last_position = 0, events_applied = 0")
        .execute(pool)
        .await
        .unwrap();
}

async fn catch_up(runner: &Runner, pool: &PgPool, expected: usize) {
    for _ in 0..1_000 {
        runner.catch_up_all().await.unwrap();
        let logged: i64 = sqlx::query_scalar("SELECT count(*) FROM request_log").fetch_one(pool).await.unwrap();
        let statuses = gaiarouter_projections::runner::projector_status(pool, runner).await.unwrap();
        if logged as usize == expected && statuses.iter().all(|s| s.lag_events == 0) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("projections did not catch up");
}

#[test]
fn projections_built_live_and_rebuilt_equal_an_independent_oracle_at_every_edge() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let (pool, runner) = runtime.block_on(async {
        let url = fresh_database().await;
        let pool = gaiarouter::postgres::connect(&url, 5).await.unwrap();
        gaiarouter::postgres::migrate(&pool).await.unwrap();
        let runner = projection_runner(&pool);
        runner.register().await.unwrap();
        (pool, runner)
    });
    let config = ProptestConfig { cases: 256, max_shrink_iters: 64, ..ProptestConfig::default() };
    let batch = (proptest::collection::vec(request(), 0..12), proptest::collection::vec(refusal(), 0..4));
    proptest!(config, |(batches in proptest::collection::vec(batch, 1..4))| {
        runtime.block_on(async {
            reset(&pool).await;
            let mut all: Vec<(Uuid, RequestCompleted)> = Vec::new();
            let mut refused: Vec<(Uuid, RequestRefused)> = Vec::new();
            for (batch, refusals) in &batches {
                // Admin events share the log; the request projectors skip them.
                crate::projections::admin_event(&pool).await;
                let records: Vec<PendingRecord> = batch
                    .iter()
                    .map(|event| PendingRecord {
                        request_id: Uuid::now_v7(),
                        event: event.clone(),
                        reservation: Default::default(),
                    })
                    .collect();
                write_batch(&Writer { pool: pool.clone(), process: 1, stripe: 1 }, &records).await.unwrap();
                all.extend(records.into_iter().map(|r| (r.request_id, r.event)));
                let refusals: Vec<(Uuid, RequestRefused)> = refusals.iter().map(|r| (Uuid::now_v7(), r.clone())).collect();
                gaiarouter::usage::refusals::append(&pool, &refusals).await.unwrap();
                refused.extend(refusals);
                catch_up(&runner, &pool, all.len() + refused.len()).await;
            }
            let daily = oracle_rollup(day, &all, &refused);
            prop_assert_eq!(stored_rollup(&pool, "usage_daily", DAY_SQL).await, daily.clone());
            prop_assert_eq!(stored_rollup(&pool, "usage_hourly", HOUR_SQL).await, oracle_rollup(hour, &all, &refused));
            prop_assert_eq!(stored_kinds(&pool, "usage_daily_errors", DAY_SQL, "error_kind").await, oracle_errors(day, &all));
            prop_assert_eq!(stored_kinds(&pool, "usage_hourly_errors", HOUR_SQL, "error_kind").await, oracle_errors(hour, &all));
            prop_assert_eq!(stored_kinds(&pool, "usage_daily_refusals", DAY_SQL, "reason").await, oracle_refusals(day, &refused));
            prop_assert_eq!(stored_kinds(&pool, "usage_hourly_refusals", HOUR_SQL, "reason").await, oracle_refusals(hour, &refused));
            let requests: BTreeMap<DayKey, i64> =
                daily.iter().filter(|(_, row)| row[0] > 0).map(|(k, row)| (k.clone(), row[0])).collect();
            prop_assert_eq!(latency_counts(&pool).await, requests);
            prop_assert_eq!(stored_monthly(&pool, "usage_monthly").await, oracle_monthly(&all));
            prop_assert_eq!(stored_periods(&pool).await, oracle_periods(&all), "the limit counters agree with the log");
            prop_assert_eq!(stored_log(&pool).await, oracle_log(&all, &refused));
            // What the stats read and what the log lists agree on refusals.
            let log_refused: i64 = sqlx::query_scalar(
                "SELECT coalesce(sum(refused_count), 0)::bigint FROM request_log WHERE status = 'refused'",
            )
            .fetch_one(&pool)
            .await
            .unwrap();
            let rolled_up: i64 = sqlx::query_scalar("SELECT coalesce(sum(refused), 0)::bigint FROM usage_daily")
                .fetch_one(&pool)
                .await
                .unwrap();
            prop_assert_eq!(log_refused, rolled_up);

            let live = snapshot(&pool).await;
            for projector in runner.projectors() {
                runner.rebuild(projector.as_ref()).await.unwrap();
            }
            catch_up(&runner, &pool, all.len() + refused.len()).await;
            prop_assert_eq!(snapshot(&pool).await, live, "rebuilt == live");
            Ok::<(), TestCaseError>(())
        })?;
    });
}
