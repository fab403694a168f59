//! Usage statistics read from the daily rollups (never from raw requests), so a
//! query costs the same at a thousand or a billion requests.

use std::collections::BTreeMap;

use chrono::NaiveDate;
use sqlx::PgPool;
use uuid::Uuid;

use crate::latency::quantile;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GroupBy {
    Day,
    Model,
    Provider,
    /// The deployment that served ("<route>/<deployment id>", or the provider of a built-in id).
    Deployment,
    Organization,
    Key,
}

impl GroupBy {
    /// The SQL expression of the group key: a fixed whitelist, never input.
    fn column(self) -> &'static str {
        match self {
            GroupBy::Day => "day::text",
            GroupBy::Model => "model",
            GroupBy::Provider => "provider",
            GroupBy::Deployment => "deployment",
            GroupBy::Organization => "organization_id::text",
            GroupBy::Key => "api_key_id::text",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Some(match text {
            "day" => GroupBy::Day,
            "model" => GroupBy::Model,
            "provider" => GroupBy::Provider,
            "deployment" => GroupBy::Deployment,
            "organization" => GroupBy::Organization,
            "key" | "api_key" => GroupBy::Key,
            _ => return None,
        })
    }
}

/// Which requests: all, one organization's, or one key's.
#[derive(Debug, Clone, Copy, Default)]
pub struct StatsScope {
    pub organization_id: Option<Uuid>,
    pub api_key_id: Option<Uuid>,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Aggregate {
    pub requests: i64,
    pub successes: i64,
    pub errors: i64,
    pub prompt_tokens: i64,
    pub completion_tokens: i64,
    pub cached_tokens: i64,
    pub cost_nanos: i64,
    pub latency_sum_ms: i64,
    pub latency_min_ms: Option<i64>,
    pub latency_max_ms: Option<i64>,
    pub ttft_sum_ms: i64,
    pub ttft_count: i64,
    pub cache_write_tokens: i64,
    pub cache_write_1h_tokens: i64,
    pub reasoning_tokens: i64,
    pub histogram: Vec<(i16, i64)>,
}

impl Aggregate {
    pub fn latency_avg_ms(&self) -> Option<f64> {
        (self.requests > 0).then(|| self.latency_sum_ms as f64 / self.requests as f64)
    }

    pub fn latency_quantile(&self, q: f64) -> Option<f64> {
        let min = self.latency_min_ms.unwrap_or(0) as f64;
        let max = self.latency_max_ms.unwrap_or(0) as f64;
        quantile(&self.histogram, q, min, max)
    }

    fn merge(&mut self, other: &Aggregate) {
        self.requests += other.requests;
        self.successes += other.successes;
        self.errors += other.errors;
        self.prompt_tokens += other.prompt_tokens;
        self.completion_tokens += other.completion_tokens;
        self.cached_tokens += other.cached_tokens;
        self.cache_write_tokens += other.cache_write_tokens;
        self.cache_write_1h_tokens += other.cache_write_1h_tokens;
        self.reasoning_tokens += other.reasoning_tokens;
        self.cost_nanos += other.cost_nanos;
        self.latency_sum_ms += other.latency_sum_ms;
        self.latency_min_ms = match (self.latency_min_ms, other.latency_min_ms) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        self.latency_max_ms = match (self.latency_max_ms, other.latency_max_ms) {
            (Some(a), Some(b)) => Some(a.max(b)),
            (a, b) => a.or(b),
        };
        self.ttft_sum_ms += other.ttft_sum_ms;
        self.ttft_count += other.ttft_count;
        let mut merged: BTreeMap<i16, i64> = self.histogram.iter().copied().collect();
        for (bucket, count) in &other.histogram {
            *merged.entry(*bucket).or_default() += count;
        }
        self.histogram = merged.into_iter().collect();
    }
}

type TotalsRow = (String, i64, i64, i64, i64, i64, i64, i64, i64, Option<i64>, Option<i64>, i64, i64, i64, i64, i64);

/// The summary over the whole range and scope, and one aggregate per group.
pub async fn query(
    pool: &PgPool,
    from: NaiveDate,
    to: NaiveDate,
    scope: StatsScope,
    group_by: GroupBy,
) -> Result<(Aggregate, Vec<(String, Aggregate)>), sqlx::Error> {
    let key = group_by.column();
    let filter = "day >= $1 AND day <= $2 AND ($3::uuid IS NULL OR organization_id = $3) \
                  AND ($4::uuid IS NULL OR api_key_id = $4)";
    let totals: Vec<TotalsRow> = sqlx::query_as(&format!(
        "SELECT {key} AS key, sum(requests)::bigint, sum(successes)::bigint, sum(errors)::bigint, \
           sum(prompt_tokens)::bigint, sum(completion_tokens)::bigint, sum(cached_tokens)::bigint, \
           sum(cost_nanos)::bigint, sum(latency_sum_ms)::bigint, min(latency_min_ms), max(latency_max_ms), \
           sum(ttft_sum_ms)::bigint, sum(ttft_count)::bigint, sum(cache_write_tokens)::bigint, \
           sum(cache_write_1h_tokens)::bigint, sum(reasoning_tokens)::bigint \
         FROM usage_daily WHERE {filter} GROUP BY 1 ORDER BY 1"
    ))
    .bind(from)
    .bind(to)
    .bind(scope.organization_id)
    .bind(scope.api_key_id)
    .fetch_all(pool)
    .await?;
    let buckets: Vec<(String, i16, i64)> = sqlx::query_as(&format!(
        "SELECT {key} AS key, bucket, sum(count)::bigint FROM usage_daily_latency WHERE {filter} GROUP BY 1, 2"
    ))
    .bind(from)
    .bind(to)
    .bind(scope.organization_id)
    .bind(scope.api_key_id)
    .fetch_all(pool)
    .await?;
    let mut histograms: BTreeMap<String, Vec<(i16, i64)>> = BTreeMap::new();
    for (key, bucket, count) in buckets {
        histograms.entry(key).or_default().push((bucket, count));
    }
    let mut summary = Aggregate::default();
    let mut groups = Vec::with_capacity(totals.len());
    for row in totals {
        let aggregate = Aggregate {
            requests: row.1,
            successes: row.2,
            errors: row.3,
            prompt_tokens: row.4,
            completion_tokens: row.5,
            cached_tokens: row.6,
            cost_nanos: row.7,
            latency_sum_ms: row.8,
            latency_min_ms: row.9,
            latency_max_ms: row.10,
            ttft_sum_ms: row.11,
            ttft_count: row.12,
            cache_write_tokens: row.13,
            cache_write_1h_tokens: row.14,
            reasoning_tokens: row.15,
            histogram: histograms.remove(&row.0).unwrap_or_default(),
        };
        summary.merge(&aggregate);
        groups.push((row.0, aggregate));
    }
    Ok((summary, groups))
}

/// Errors by kind over the range and scope.
pub async fn errors_by_kind(
    pool: &PgPool,
    from: NaiveDate,
    to: NaiveDate,
    scope: StatsScope,
) -> Result<Vec<(String, i64)>, sqlx::Error> {
    sqlx::query_as(
        "SELECT error_kind, sum(count)::bigint FROM usage_daily_errors WHERE day >= $1 AND day <= $2 \
           AND ($3::uuid IS NULL OR organization_id = $3) AND ($4::uuid IS NULL OR api_key_id = $4) \
         GROUP BY 1 ORDER BY 2 DESC",
    )
    .bind(from)
    .bind(to)
    .bind(scope.organization_id)
    .bind(scope.api_key_id)
    .fetch_all(pool)
    .await
}
