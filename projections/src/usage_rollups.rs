//! Rollups per UTC day (and per UTC hour) × organization × key × model × provider ×
//! deployment: counts, tokens, cost, latency sum/min/max and histogram, errors by
//! kind, refusals by reason. Dashboards and the stats API read these, never the raw
//! requests. The daily and hourly grains are two projectors over the same code.

use std::collections::BTreeMap;

use chrono::{DateTime, DurationRound, NaiveDate, TimeDelta, Utc};
use gaiarouter_domain::request::{RequestCompleted, RequestRefused, RequestStatus, AGGREGATE_TYPE};
use sqlx::PgConnection;
use uuid::Uuid;

use crate::event_log::{EventLogError, StoredEvent};
use crate::latency::bucket_of;
use crate::saturating;
use crate::{refused_events, request_events, Projector};

/// (bucket: the day or the hour, organization, key, model, provider, deployment).
pub type GroupKey<B = NaiveDate> = (B, Uuid, Uuid, String, String, String);

/// The totals of one rollup group.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Totals {
    pub requests: i64,
    pub successes: i64,
    pub errors: i64,
    pub streamed: i64,
    pub prompt_tokens: i64,
    pub completion_tokens: i64,
    pub cached_tokens: i64,
    pub cost_nanos: i64,
    pub latency_sum_ms: i64,
    pub latency_min_ms: i64,
    pub latency_max_ms: i64,
    pub ttft_sum_ms: i64,
    pub ttft_count: i64,
    pub cache_write_tokens: i64,
    pub cache_write_1h_tokens: i64,
    pub reasoning_tokens: i64,
    /// Requests refused before any provider (not part of `requests`).
    pub refused: i64,
}

/// What a set of requests adds to the rollups (pure; also the reference the tests
/// recompute against).
#[derive(Debug, PartialEq, Eq)]
pub struct Rollup<B: Ord = NaiveDate> {
    pub totals: BTreeMap<GroupKey<B>, Totals>,
    pub latency: BTreeMap<(GroupKey<B>, i16), i64>,
    pub errors: BTreeMap<(GroupKey<B>, String), i64>,
    pub refusals: BTreeMap<(GroupKey<B>, String), i64>,
}

impl<B: Ord> Default for Rollup<B> {
    fn default() -> Self {
        Rollup { totals: BTreeMap::new(), latency: BTreeMap::new(), errors: BTreeMap::new(), refusals: BTreeMap::new() }
    }
}

fn n(value: u64) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}

/// The totals' columns an upsert adds to and a read sums (the latency's minimum and
/// maximum are kept apart).
pub(crate) const SUMMED: [&str; 15] = [
    "requests",
    "successes",
    "errors",
    "streamed",
    "prompt_tokens",
    "completion_tokens",
    "cached_tokens",
    "cost_nanos",
    "latency_sum_ms",
    "ttft_sum_ms",
    "ttft_count",
    "cache_write_tokens",
    "cache_write_1h_tokens",
    "reasoning_tokens",
    "refused",
];

/// A group with no request yet has no latency: its minimum starts above any.
fn empty_totals() -> Totals {
    Totals { latency_min_ms: i64::MAX, ..Totals::default() }
}

impl<B: Ord + Clone> Rollup<B> {
    pub fn add_in(&mut self, bucket: B, request: &RequestCompleted) {
        let key: GroupKey<B> = (
            bucket,
            request.organization_id,
            request.api_key_id,
            request.model.clone(),
            request.provider.clone(),
            request.deployment.clone(),
        );
        let latency = n(request.latency_ms);
        let totals = self.totals.entry(key.clone()).or_insert_with(empty_totals);
        totals.requests += 1;
        match request.status {
            RequestStatus::Success => totals.successes += 1,
            RequestStatus::Error => totals.errors += 1,
        }
        totals.streamed += i64::from(request.streamed);
        totals.prompt_tokens = totals.prompt_tokens.saturating_add(n(request.prompt_tokens));
        totals.completion_tokens = totals.completion_tokens.saturating_add(n(request.completion_tokens));
        totals.cached_tokens = totals.cached_tokens.saturating_add(n(request.cached_tokens));
        totals.cache_write_tokens = totals.cache_write_tokens.saturating_add(n(request.cache_write_tokens));
        totals.cache_write_1h_tokens = totals.cache_write_1h_tokens.saturating_add(n(request.cache_write_1h_tokens));
        totals.reasoning_tokens = totals.reasoning_tokens.saturating_add(n(request.reasoning_tokens));
        totals.cost_nanos = totals.cost_nanos.saturating_add(request.cost.nanos());
        totals.latency_sum_ms = totals.latency_sum_ms.saturating_add(latency);
        totals.latency_min_ms = totals.latency_min_ms.min(latency);
        totals.latency_max_ms = totals.latency_max_ms.max(latency);
        if let Some(ttft) = request.time_to_first_token_ms {
            totals.ttft_sum_ms = totals.ttft_sum_ms.saturating_add(n(ttft));
            totals.ttft_count += 1;
        }
        *self.latency.entry((key.clone(), bucket_of(request.latency_ms))).or_default() += 1;
        if let Some(kind) = &request.error_kind {
            *self.errors.entry((key, kind.clone())).or_default() += 1;
        }
    }

    /// A refusal counts in the bucket of its first refused request, under no
    /// provider or deployment (none was tried).
    pub fn refuse_in(&mut self, bucket: B, refusal: &RequestRefused) {
        let key: GroupKey<B> = (
            bucket,
            refusal.organization_id,
            refusal.api_key_id,
            refusal.rollup_model().to_string(),
            String::new(),
            String::new(),
        );
        let count = n(refusal.count);
        self.totals.entry(key.clone()).or_insert_with(empty_totals).refused += count;
        *self.refusals.entry((key, refusal.reason.clone())).or_default() += count;
    }
}

impl<B: Ord + Clone> Rollup<B> {
    /// What requests and refusals add to the rollups, each in the bucket `bucket`
    /// puts its start in (a request's `started_at`, a refusal's `first_at`).
    pub fn of_events(
        requests: &[RequestCompleted],
        refusals: &[RequestRefused],
        bucket: impl Fn(DateTime<Utc>) -> B,
    ) -> Self {
        let mut rollup = Rollup::default();
        for request in requests {
            rollup.add_in(bucket(request.started_at), request);
        }
        for refusal in refusals {
            rollup.refuse_in(bucket(refusal.first_at), refusal);
        }
        rollup
    }
}

impl Rollup<NaiveDate> {
    pub fn of(requests: &[RequestCompleted]) -> Self {
        Self::of_events(requests, &[], day_of)
    }
}

/// The UTC day `at` falls in (what `RequestCompleted::day` answers).
pub fn day_of(at: DateTime<Utc>) -> NaiveDate {
    at.date_naive()
}

/// The UTC hour `at` falls in.
pub fn hour_of(at: DateTime<Utc>) -> DateTime<Utc> {
    at.duration_trunc(TimeDelta::hours(1)).unwrap_or(at)
}

/// Column vectors of the group keys, for UNNEST.
struct KeyColumns<B> {
    buckets: Vec<B>,
    orgs: Vec<Uuid>,
    keys: Vec<Uuid>,
    models: Vec<String>,
    providers: Vec<String>,
    deployments: Vec<String>,
}

impl<B: Clone> KeyColumns<B> {
    fn new() -> Self {
        KeyColumns {
            buckets: Vec::new(),
            orgs: Vec::new(),
            keys: Vec::new(),
            models: Vec::new(),
            providers: Vec::new(),
            deployments: Vec::new(),
        }
    }

    fn push(&mut self, key: &GroupKey<B>) {
        self.buckets.push(key.0.clone());
        self.orgs.push(key.1);
        self.keys.push(key.2);
        self.models.push(key.3.clone());
        self.providers.push(key.4.clone());
        self.deployments.push(key.5.clone());
    }
}

/// One grain's tables: constants, never input.
pub(crate) struct Tables {
    /// `day` or `hour`.
    bucket: &'static str,
    /// The SQL array type of the bucket column.
    bucket_array: &'static str,
    /// Totals, latency histograms, errors by kind, refusals by reason: what the
    /// grain's projector owns (and clears on rebuild).
    all: [&'static str; 4],
}

impl Tables {
    pub(crate) fn totals(&self) -> &'static str {
        self.all[0]
    }

    pub(crate) fn latency(&self) -> &'static str {
        self.all[1]
    }

    pub(crate) fn errors(&self) -> &'static str {
        self.all[2]
    }

    pub(crate) fn refusals(&self) -> &'static str {
        self.all[3]
    }
}

pub(crate) const DAILY: Tables = Tables {
    bucket: "day",
    bucket_array: "date[]",
    all: ["usage_daily", "usage_daily_latency", "usage_daily_errors", "usage_daily_refusals"],
};

pub(crate) const HOURLY: Tables = Tables {
    bucket: "hour",
    bucket_array: "timestamptz[]",
    all: ["usage_hourly", "usage_hourly_latency", "usage_hourly_errors", "usage_hourly_refusals"],
};

/// The refusals of a batch (their ids are not needed here).
fn refusals_of(events: &[StoredEvent]) -> Result<Vec<RequestRefused>, EventLogError> {
    Ok(refused_events(events)?.into_iter().map(|(_, refusal)| refusal).collect())
}

pub struct UsageRollups;

#[async_trait::async_trait]
impl Projector for UsageRollups {
    fn name(&self) -> &'static str {
        "usage_rollups"
    }

    fn tables(&self) -> &'static [&'static str] {
        &DAILY.all
    }

    fn aggregate_types(&self) -> &'static [&'static str] {
        &[AGGREGATE_TYPE]
    }

    async fn apply(&self, tx: &mut PgConnection, events: &[StoredEvent]) -> Result<(), EventLogError> {
        let rollup = Rollup::of_events(&request_events(events)?, &refusals_of(events)?, day_of);
        write(tx, &DAILY, &rollup).await?;
        Ok(())
    }
}

/// The same rollups by UTC hour: what the dashboard charts for ranges of up to three days.
pub struct HourlyRollups;

#[async_trait::async_trait]
impl Projector for HourlyRollups {
    fn name(&self) -> &'static str {
        "usage_hourly"
    }

    fn tables(&self) -> &'static [&'static str] {
        &HOURLY.all
    }

    fn aggregate_types(&self) -> &'static [&'static str] {
        &[AGGREGATE_TYPE]
    }

    async fn apply(&self, tx: &mut PgConnection, events: &[StoredEvent]) -> Result<(), EventLogError> {
        let rollup = Rollup::of_events(&request_events(events)?, &refusals_of(events)?, hour_of);
        write(tx, &HOURLY, &rollup).await?;
        Ok(())
    }
}

async fn write<B>(tx: &mut PgConnection, tables: &Tables, rollup: &Rollup<B>) -> Result<(), sqlx::Error>
where
    B: Ord + Clone + Send + Sync,
    for<'q> Vec<B>: sqlx::Encode<'q, sqlx::Postgres> + sqlx::Type<sqlx::Postgres>,
{
    if rollup.totals.is_empty() {
        return Ok(());
    }
    let mut keys = KeyColumns::new();
    let mut columns: [Vec<i64>; 17] = Default::default();
    for (key, t) in &rollup.totals {
        keys.push(key);
        let values = [
            t.requests,
            t.successes,
            t.errors,
            t.streamed,
            t.prompt_tokens,
            t.completion_tokens,
            t.cached_tokens,
            t.cost_nanos,
            t.latency_sum_ms,
            t.latency_min_ms,
            t.latency_max_ms,
            t.ttft_sum_ms,
            t.ttft_count,
            t.cache_write_tokens,
            t.cache_write_1h_tokens,
            t.reasoning_tokens,
            t.refused,
        ];
        for (column, value) in columns.iter_mut().zip(values) {
            column.push(value);
        }
    }
    let sql = format!(
        "INSERT INTO {totals} AS u ({bucket}, organization_id, api_key_id, model, provider, deployment, requests, successes, \
           errors, streamed, prompt_tokens, completion_tokens, cached_tokens, cost_nanos, latency_sum_ms, latency_min_ms, \
           latency_max_ms, ttft_sum_ms, ttft_count, cache_write_tokens, cache_write_1h_tokens, reasoning_tokens, refused) \
         SELECT * FROM UNNEST($1::{array}, $2::uuid[], $3::uuid[], $4::text[], $5::text[], $6::text[], $7::bigint[], \
           $8::bigint[], $9::bigint[], $10::bigint[], $11::bigint[], $12::bigint[], $13::bigint[], $14::bigint[], \
           $15::bigint[], $16::bigint[], $17::bigint[], $18::bigint[], $19::bigint[], $20::bigint[], $21::bigint[], \
           $22::bigint[], $23::bigint[]) \
         ON CONFLICT ({bucket}, organization_id, api_key_id, model, provider, deployment) DO UPDATE SET \
           {sums}, \
           latency_min_ms = LEAST(u.latency_min_ms, EXCLUDED.latency_min_ms), \
           latency_max_ms = GREATEST(u.latency_max_ms, EXCLUDED.latency_max_ms)",
        totals = tables.totals(),
        bucket = tables.bucket,
        array = tables.bucket_array,
        sums = saturating::add_all_excluded("u", &SUMMED),
    );
    let mut query = sqlx::query(&sql)
        .bind(&keys.buckets)
        .bind(&keys.orgs)
        .bind(&keys.keys)
        .bind(&keys.models)
        .bind(&keys.providers)
        .bind(&keys.deployments);
    for column in &columns {
        query = query.bind(column);
    }
    query.execute(&mut *tx).await?;

    let mut keys = KeyColumns::new();
    let (mut buckets, mut counts) = (Vec::new(), Vec::new());
    for ((key, bucket), count) in &rollup.latency {
        keys.push(key);
        buckets.push(*bucket);
        counts.push(*count);
    }
    if rollup.latency.is_empty() {
        return write_kinds(tx, tables, rollup).await;
    }
    let sql = format!(
        "INSERT INTO {latency} AS l ({bucket}, organization_id, api_key_id, model, provider, deployment, bucket, \
           count) \
         SELECT * FROM UNNEST($1::{array}, $2::uuid[], $3::uuid[], $4::text[], $5::text[], $6::text[], $7::smallint[], \
           $8::bigint[]) \
         ON CONFLICT ({bucket}, organization_id, api_key_id, model, provider, deployment, bucket) \
           DO UPDATE SET count = l.count + EXCLUDED.count",
        latency = tables.latency(),
        bucket = tables.bucket,
        array = tables.bucket_array,
    );
    sqlx::query(&sql)
        .bind(&keys.buckets)
        .bind(&keys.orgs)
        .bind(&keys.keys)
        .bind(&keys.models)
        .bind(&keys.providers)
        .bind(&keys.deployments)
        .bind(&buckets)
        .bind(&counts)
        .execute(&mut *tx)
        .await?;

    write_kinds(tx, tables, rollup).await
}

/// Errors by kind and refusals by reason: the same shape, two tables.
async fn write_kinds<B>(tx: &mut PgConnection, tables: &Tables, rollup: &Rollup<B>) -> Result<(), sqlx::Error>
where
    B: Ord + Clone + Send + Sync,
    for<'q> Vec<B>: sqlx::Encode<'q, sqlx::Postgres> + sqlx::Type<sqlx::Postgres>,
{
    for (table, column, counts) in
        [(tables.errors(), "error_kind", &rollup.errors), (tables.refusals(), "reason", &rollup.refusals)]
    {
        if counts.is_empty() {
            continue;
        }
        let mut keys = KeyColumns::new();
        let (mut kinds, mut values) = (Vec::new(), Vec::new());
        for ((key, kind), count) in counts {
            keys.push(key);
            kinds.push(kind.clone());
            values.push(*count);
        }
        let sql = format!(
            "INSERT INTO {table} AS e ({bucket}, organization_id, api_key_id, model, provider, deployment, \
               {column}, count) \
             SELECT * FROM UNNEST($1::{array}, $2::uuid[], $3::uuid[], $4::text[], $5::text[], $6::text[], \
               $7::text[], $8::bigint[]) \
             ON CONFLICT ({bucket}, organization_id, api_key_id, model, provider, deployment, {column}) \
               DO UPDATE SET count = e.count + EXCLUDED.count",
            bucket = tables.bucket,
            array = tables.bucket_array,
        );
        sqlx::query(&sql)
            .bind(&keys.buckets)
            .bind(&keys.orgs)
            .bind(&keys.keys)
            .bind(&keys.models)
            .bind(&keys.providers)
            .bind(&keys.deployments)
            .bind(&kinds)
            .bind(&values)
            .execute(&mut *tx)
            .await?;
    }
    Ok(())
}
