//! Usage statistics read from the daily or hourly rollups (never from raw
//! requests), so a query costs the same at a thousand or a billion requests.

use std::collections::BTreeMap;

use chrono::{DateTime, NaiveDate, TimeDelta, Utc};
use sqlx::postgres::PgArguments;
use sqlx::query::QueryAs;
use sqlx::PgPool;
use sqlx::Postgres;
use uuid::Uuid;

use crate::latency::quantile;
use crate::saturating;
use crate::usage_rollups::{self, Tables, DAILY, HOURLY};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GroupBy {
    Day,
    /// UTC hours: read from the hourly rollups.
    Hour,
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
            GroupBy::Hour => "to_char(hour AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:00:00\"Z\"')",
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
            "hour" => GroupBy::Hour,
            "model" => GroupBy::Model,
            "provider" => GroupBy::Provider,
            "deployment" => GroupBy::Deployment,
            "organization" => GroupBy::Organization,
            "key" | "api_key" => GroupBy::Key,
            _ => return None,
        })
    }
}

/// A range of whole UTC days, read from the daily rollups or (for hourly groups)
/// from the hourly ones.
#[derive(Debug, Clone, Copy)]
pub struct Range {
    pub from: NaiveDate,
    /// Inclusive.
    pub to: NaiveDate,
    pub hourly: bool,
}

impl Range {
    /// The grain's tables: the ones its projector writes.
    fn tables(&self) -> &'static Tables {
        if self.hourly {
            &HOURLY
        } else {
            &DAILY
        }
    }

    /// The WHERE clause over $1..$4 (range, organization, key).
    fn filter(&self) -> &'static str {
        if self.hourly {
            "hour >= $1 AND hour < $2 AND ($3::uuid IS NULL OR organization_id = $3) \
             AND ($4::uuid IS NULL OR api_key_id = $4)"
        } else {
            "day >= $1 AND day <= $2 AND ($3::uuid IS NULL OR organization_id = $3) \
             AND ($4::uuid IS NULL OR api_key_id = $4)"
        }
    }

    fn bind<'q, O>(
        &self,
        query: QueryAs<'q, Postgres, O, PgArguments>,
        scope: StatsScope,
    ) -> QueryAs<'q, Postgres, O, PgArguments> {
        let query = if self.hourly {
            let start = |day: NaiveDate| day.and_time(Default::default()).and_utc();
            query.bind(start(self.from)).bind(start(self.to) + TimeDelta::days(1))
        } else {
            query.bind(self.from).bind(self.to)
        };
        query.bind(scope.organization_id).bind(scope.api_key_id)
    }

    /// Every hour of the range, as the hourly group keys read.
    pub fn hours(&self) -> Vec<DateTime<Utc>> {
        let start = self.from.and_time(Default::default()).and_utc();
        let end = self.to.and_time(Default::default()).and_utc() + TimeDelta::days(1);
        let mut hours = Vec::new();
        let mut hour = start;
        while hour < end {
            hours.push(hour);
            hour += TimeDelta::hours(1);
        }
        hours
    }
}

/// The key an hourly group reads as (`2026-11-30T14:00:00Z`).
pub fn hour_key(hour: DateTime<Utc>) -> String {
    hour.format("%Y-%m-%dT%H:00:00Z").to_string()
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
    /// Requests refused before any provider (not part of `requests`).
    pub refused: i64,
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
        self.requests = self.requests.saturating_add(other.requests);
        self.successes = self.successes.saturating_add(other.successes);
        self.errors = self.errors.saturating_add(other.errors);
        self.prompt_tokens = self.prompt_tokens.saturating_add(other.prompt_tokens);
        self.completion_tokens = self.completion_tokens.saturating_add(other.completion_tokens);
        self.cached_tokens = self.cached_tokens.saturating_add(other.cached_tokens);
        self.cache_write_tokens = self.cache_write_tokens.saturating_add(other.cache_write_tokens);
        self.cache_write_1h_tokens = self.cache_write_1h_tokens.saturating_add(other.cache_write_1h_tokens);
        self.reasoning_tokens = self.reasoning_tokens.saturating_add(other.reasoning_tokens);
        self.refused = self.refused.saturating_add(other.refused);
        self.cost_nanos = self.cost_nanos.saturating_add(other.cost_nanos);
        self.latency_sum_ms = self.latency_sum_ms.saturating_add(other.latency_sum_ms);
        self.latency_min_ms = match (self.latency_min_ms, other.latency_min_ms) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        self.latency_max_ms = match (self.latency_max_ms, other.latency_max_ms) {
            (Some(a), Some(b)) => Some(a.max(b)),
            (a, b) => a.or(b),
        };
        self.ttft_sum_ms = self.ttft_sum_ms.saturating_add(other.ttft_sum_ms);
        self.ttft_count = self.ttft_count.saturating_add(other.ttft_count);
        let mut merged: BTreeMap<i16, i64> = self.histogram.iter().copied().collect();
        for (bucket, count) in &other.histogram {
            let merged = merged.entry(*bucket).or_default();
            *merged = merged.saturating_add(*count);
        }
        self.histogram = merged.into_iter().collect();
    }
}

#[derive(sqlx::FromRow)]
struct TotalsRow {
    key: String,
    requests: i64,
    successes: i64,
    errors: i64,
    prompt_tokens: i64,
    completion_tokens: i64,
    cached_tokens: i64,
    cost_nanos: i64,
    latency_sum_ms: i64,
    latency_min_ms: Option<i64>,
    latency_max_ms: Option<i64>,
    ttft_sum_ms: i64,
    ttft_count: i64,
    cache_write_tokens: i64,
    cache_write_1h_tokens: i64,
    reasoning_tokens: i64,
    refused: i64,
}

/// The summary over the whole range and scope, and one aggregate per group.
pub async fn query(
    pool: &PgPool,
    range: Range,
    scope: StatsScope,
    group_by: GroupBy,
) -> Result<(Aggregate, Vec<(String, Aggregate)>), sqlx::Error> {
    let key = group_by.column();
    let (totals_table, latency_table) = (range.tables().totals(), range.tables().latency());
    let filter = range.filter();
    // A group of refusals only has no latency: its min/max are left out. Sums are
    // held at bigint's bounds: rows near them cannot fail a read.
    let sums: Vec<String> =
        usage_rollups::SUMMED.iter().map(|column| format!("{} AS {column}", saturating::sum(column))).collect();
    let sql = format!(
        "SELECT {key} AS key, {sums}, \
           min(latency_min_ms) FILTER (WHERE requests > 0) AS latency_min_ms, \
           max(latency_max_ms) FILTER (WHERE requests > 0) AS latency_max_ms \
         FROM {totals_table} WHERE {filter} GROUP BY 1 ORDER BY 1",
        sums = sums.join(", "),
    );
    let totals: Vec<TotalsRow> = range.bind(sqlx::query_as(&sql), scope).fetch_all(pool).await?;
    let sql = format!(
        "SELECT {key} AS key, bucket, {count} FROM {latency_table} WHERE {filter} GROUP BY 1, 2",
        count = saturating::sum("count"),
    );
    let buckets: Vec<(String, i16, i64)> = range.bind(sqlx::query_as(&sql), scope).fetch_all(pool).await?;
    let mut histograms: BTreeMap<String, Vec<(i16, i64)>> = BTreeMap::new();
    for (key, bucket, count) in buckets {
        histograms.entry(key).or_default().push((bucket, count));
    }
    let mut summary = Aggregate::default();
    let mut groups = Vec::with_capacity(totals.len());
    for row in totals {
        let aggregate = Aggregate {
            requests: row.requests,
            successes: row.successes,
            errors: row.errors,
            prompt_tokens: row.prompt_tokens,
            completion_tokens: row.completion_tokens,
            cached_tokens: row.cached_tokens,
            cost_nanos: row.cost_nanos,
            latency_sum_ms: row.latency_sum_ms,
            latency_min_ms: row.latency_min_ms,
            latency_max_ms: row.latency_max_ms,
            ttft_sum_ms: row.ttft_sum_ms,
            ttft_count: row.ttft_count,
            cache_write_tokens: row.cache_write_tokens,
            cache_write_1h_tokens: row.cache_write_1h_tokens,
            reasoning_tokens: row.reasoning_tokens,
            refused: row.refused,
            histogram: histograms.remove(&row.key).unwrap_or_default(),
        };
        summary.merge(&aggregate);
        groups.push((row.key, aggregate));
    }
    Ok((summary, groups))
}

/// Errors by kind over the range and scope.
pub async fn errors_by_kind(pool: &PgPool, range: Range, scope: StatsScope) -> Result<Vec<(String, i64)>, sqlx::Error> {
    let errors = range.tables().errors();
    let sql = format!(
        "SELECT error_kind, {count} FROM {errors} WHERE {filter} GROUP BY 1 ORDER BY 2 DESC",
        count = saturating::sum("count"),
        filter = range.filter()
    );
    range.bind(sqlx::query_as(&sql), scope).fetch_all(pool).await
}

/// Refused requests by reason over the range and scope.
pub async fn refused_by_reason(
    pool: &PgPool,
    range: Range,
    scope: StatsScope,
) -> Result<Vec<(String, i64)>, sqlx::Error> {
    let refusals = range.tables().refusals();
    let sql = format!(
        "SELECT reason, {count} FROM {refusals} WHERE {filter} GROUP BY 1 ORDER BY 2 DESC",
        count = saturating::sum("count"),
        filter = range.filter()
    );
    range.bind(sqlx::query_as(&sql), scope).fetch_all(pool).await
}

/// One point of a series: a bucket (day or hour) of one split value.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SeriesPoint {
    pub requests: i64,
    pub refused: i64,
    pub errors: i64,
    pub cost_nanos: i64,
    pub total_tokens: i64,
}

impl SeriesPoint {
    pub fn add(&mut self, other: &SeriesPoint) {
        self.requests = self.requests.saturating_add(other.requests);
        self.refused = self.refused.saturating_add(other.refused);
        self.errors = self.errors.saturating_add(other.errors);
        self.cost_nanos = self.cost_nanos.saturating_add(other.cost_nanos);
        self.total_tokens = self.total_tokens.saturating_add(other.total_tokens);
    }
}

type SeriesRow = (String, String, i64, i64, i64, i64, i64);

/// Every (bucket, split value) of the range with its totals: the stacked charts'
/// data (`bucket` is `GroupBy::Day` or `GroupBy::Hour`).
pub async fn series(
    pool: &PgPool,
    range: Range,
    scope: StatsScope,
    bucket: GroupBy,
    split: GroupBy,
) -> Result<Vec<(String, String, SeriesPoint)>, sqlx::Error> {
    let totals = range.tables().totals();
    let sql = format!(
        "SELECT {bucket} AS bucket, {split} AS split, {requests}, {refused}, {errors}, {cost_nanos}, {tokens} \
         FROM {totals} WHERE {filter} GROUP BY 1, 2",
        bucket = bucket.column(),
        split = split.column(),
        filter = range.filter(),
        requests = saturating::sum("requests"),
        refused = saturating::sum("refused"),
        errors = saturating::sum("errors"),
        cost_nanos = saturating::sum("cost_nanos"),
        tokens = saturating::sum("prompt_tokens::numeric + completion_tokens"),
    );
    let rows: Vec<SeriesRow> = range.bind(sqlx::query_as(&sql), scope).fetch_all(pool).await?;
    Ok(rows
        .into_iter()
        .map(|(bucket, split, requests, refused, errors, cost_nanos, total_tokens)| {
            (bucket, split, SeriesPoint { requests, refused, errors, cost_nanos, total_tokens })
        })
        .collect())
}
