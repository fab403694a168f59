//! Daily rollups per UTC day × organization × key × model × provider × deployment: counts,
//! tokens, cost, latency sum/min/max and histogram, errors by kind. Dashboards and
//! the stats API read these, never the raw requests.

use std::collections::BTreeMap;

use chrono::NaiveDate;
use gaiarouter_domain::request::{RequestCompleted, RequestStatus, AGGREGATE_TYPE};
use sqlx::PgConnection;
use uuid::Uuid;

use crate::event_log::{EventLogError, StoredEvent};
use crate::latency::bucket_of;
use crate::{request_events, Projector};

/// (day, organization, key, model, provider, deployment).
pub type GroupKey = (NaiveDate, Uuid, Uuid, String, String, String);

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
}

/// What a set of requests adds to the rollups (pure; also the reference the tests
/// recompute against).
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Rollup {
    pub totals: BTreeMap<GroupKey, Totals>,
    pub latency: BTreeMap<(GroupKey, i16), i64>,
    pub errors: BTreeMap<(GroupKey, String), i64>,
}

fn n(value: u64) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}

impl Rollup {
    pub fn add(&mut self, request: &RequestCompleted) {
        let key: GroupKey = (
            request.day(),
            request.organization_id,
            request.api_key_id,
            request.model.clone(),
            request.provider.clone(),
            request.deployment.clone(),
        );
        let latency = n(request.latency_ms);
        let totals =
            self.totals.entry(key.clone()).or_insert_with(|| Totals { latency_min_ms: i64::MAX, ..Totals::default() });
        totals.requests += 1;
        match request.status {
            RequestStatus::Success => totals.successes += 1,
            RequestStatus::Error => totals.errors += 1,
        }
        totals.streamed += i64::from(request.streamed);
        totals.prompt_tokens += n(request.prompt_tokens);
        totals.completion_tokens += n(request.completion_tokens);
        totals.cached_tokens += n(request.cached_tokens);
        totals.cache_write_tokens += n(request.cache_write_tokens);
        totals.cache_write_1h_tokens += n(request.cache_write_1h_tokens);
        totals.reasoning_tokens += n(request.reasoning_tokens);
        totals.cost_nanos += request.cost.nanos();
        totals.latency_sum_ms += latency;
        totals.latency_min_ms = totals.latency_min_ms.min(latency);
        totals.latency_max_ms = totals.latency_max_ms.max(latency);
        if let Some(ttft) = request.time_to_first_token_ms {
            totals.ttft_sum_ms += n(ttft);
            totals.ttft_count += 1;
        }
        *self.latency.entry((key.clone(), bucket_of(request.latency_ms))).or_default() += 1;
        if let Some(kind) = &request.error_kind {
            *self.errors.entry((key, kind.clone())).or_default() += 1;
        }
    }

    pub fn of(requests: &[RequestCompleted]) -> Self {
        let mut rollup = Rollup::default();
        for request in requests {
            rollup.add(request);
        }
        rollup
    }
}

/// Column vectors of the group keys, for UNNEST.
#[derive(Default)]
struct KeyColumns {
    days: Vec<NaiveDate>,
    orgs: Vec<Uuid>,
    keys: Vec<Uuid>,
    models: Vec<String>,
    providers: Vec<String>,
    deployments: Vec<String>,
}

impl KeyColumns {
    fn push(&mut self, key: &GroupKey) {
        self.days.push(key.0);
        self.orgs.push(key.1);
        self.keys.push(key.2);
        self.models.push(key.3.clone());
        self.providers.push(key.4.clone());
        self.deployments.push(key.5.clone());
    }
}

pub struct UsageRollups;

#[async_trait::async_trait]
impl Projector for UsageRollups {
    fn name(&self) -> &'static str {
        "usage_rollups"
    }

    fn tables(&self) -> &'static [&'static str] {
        &["usage_daily", "usage_daily_latency", "usage_daily_errors"]
    }

    fn aggregate_types(&self) -> &'static [&'static str] {
        &[AGGREGATE_TYPE]
    }

    async fn apply(&self, tx: &mut PgConnection, events: &[StoredEvent]) -> Result<(), EventLogError> {
        let rollup = Rollup::of(&request_events(events)?);
        write(tx, &rollup).await?;
        Ok(())
    }
}

async fn write(tx: &mut PgConnection, rollup: &Rollup) -> Result<(), sqlx::Error> {
    if rollup.totals.is_empty() {
        return Ok(());
    }
    let mut keys = KeyColumns::default();
    let mut columns: [Vec<i64>; 16] = Default::default();
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
        ];
        for (column, value) in columns.iter_mut().zip(values) {
            column.push(value);
        }
    }
    let mut query = sqlx::query(
        "INSERT INTO usage_daily AS u (day, organization_id, api_key_id, model, provider, deployment, requests, successes, \
           errors, streamed, prompt_tokens, completion_tokens, cached_tokens, cost_nanos, latency_sum_ms, latency_min_ms, \
           latency_max_ms, ttft_sum_ms, ttft_count, cache_write_tokens, cache_write_1h_tokens, reasoning_tokens) \
         SELECT * FROM UNNEST($1::date[], $2::uuid[], $3::uuid[], $4::text[], $5::text[], $6::text[], $7::bigint[], \
           $8::bigint[], $9::bigint[], $10::bigint[], $11::bigint[], $12::bigint[], $13::bigint[], $14::bigint[], \
           $15::bigint[], $16::bigint[], $17::bigint[], $18::bigint[], $19::bigint[], $20::bigint[], $21::bigint[], \
           $22::bigint[]) \
         ON CONFLICT (day, organization_id, api_key_id, model, provider, deployment) DO UPDATE SET \
           requests = u.requests + EXCLUDED.requests, successes = u.successes + EXCLUDED.successes, \
           errors = u.errors + EXCLUDED.errors, streamed = u.streamed + EXCLUDED.streamed, \
           prompt_tokens = u.prompt_tokens + EXCLUDED.prompt_tokens, \
           completion_tokens = u.completion_tokens + EXCLUDED.completion_tokens, \
           cached_tokens = u.cached_tokens + EXCLUDED.cached_tokens, cost_nanos = u.cost_nanos + EXCLUDED.cost_nanos, \
           latency_sum_ms = u.latency_sum_ms + EXCLUDED.latency_sum_ms, \
           latency_min_ms = LEAST(u.latency_min_ms, EXCLUDED.latency_min_ms), \
           latency_max_ms = GREATEST(u.latency_max_ms, EXCLUDED.latency_max_ms), \
           ttft_sum_ms = u.ttft_sum_ms + EXCLUDED.ttft_sum_ms, ttft_count = u.ttft_count + EXCLUDED.ttft_count, \
           cache_write_tokens = u.cache_write_tokens + EXCLUDED.cache_write_tokens, \
           cache_write_1h_tokens = u.cache_write_1h_tokens + EXCLUDED.cache_write_1h_tokens, \
           reasoning_tokens = u.reasoning_tokens + EXCLUDED.reasoning_tokens",
    )
    .bind(&keys.days)
    .bind(&keys.orgs)
    .bind(&keys.keys)
    .bind(&keys.models)
    .bind(&keys.providers)
    .bind(&keys.deployments);
    for column in &columns {
        query = query.bind(column);
    }
    query.execute(&mut *tx).await?;

    let mut keys = KeyColumns::default();
    let (mut buckets, mut counts) = (Vec::new(), Vec::new());
    for ((key, bucket), count) in &rollup.latency {
        keys.push(key);
        buckets.push(*bucket);
        counts.push(*count);
    }
    sqlx::query(
        "INSERT INTO usage_daily_latency AS l (day, organization_id, api_key_id, model, provider, deployment, bucket, \
           count) \
         SELECT * FROM UNNEST($1::date[], $2::uuid[], $3::uuid[], $4::text[], $5::text[], $6::text[], $7::smallint[], \
           $8::bigint[]) \
         ON CONFLICT (day, organization_id, api_key_id, model, provider, deployment, bucket) \
           DO UPDATE SET count = l.count + EXCLUDED.count",
    )
    .bind(&keys.days)
    .bind(&keys.orgs)
    .bind(&keys.keys)
    .bind(&keys.models)
    .bind(&keys.providers)
    .bind(&keys.deployments)
    .bind(&buckets)
    .bind(&counts)
    .execute(&mut *tx)
    .await?;

    if !rollup.errors.is_empty() {
        let mut keys = KeyColumns::default();
        let (mut kinds, mut counts) = (Vec::new(), Vec::new());
        for ((key, kind), count) in &rollup.errors {
            keys.push(key);
            kinds.push(kind.clone());
            counts.push(*count);
        }
        sqlx::query(
            "INSERT INTO usage_daily_errors AS e (day, organization_id, api_key_id, model, provider, deployment, \
               error_kind, count) \
             SELECT * FROM UNNEST($1::date[], $2::uuid[], $3::uuid[], $4::text[], $5::text[], $6::text[], $7::text[], \
               $8::bigint[]) \
             ON CONFLICT (day, organization_id, api_key_id, model, provider, deployment, error_kind) \
               DO UPDATE SET count = e.count + EXCLUDED.count",
        )
        .bind(&keys.days)
        .bind(&keys.orgs)
        .bind(&keys.keys)
        .bind(&keys.models)
        .bind(&keys.providers)
        .bind(&keys.deployments)
        .bind(&kinds)
        .bind(&counts)
        .execute(&mut *tx)
        .await?;
    }
    Ok(())
}
