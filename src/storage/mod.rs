//! Bounded storage: the `Request` events and the request log live in one
//! partition per UTC month (see migration 20261201000100_monthly_partitions.sql).
//! This module keeps partitions ahead of time, expires the request log past its
//! retention, and archives old months of events (`archive`).

pub mod archive;

use std::time::Duration;

use chrono::{DateTime, Utc};
use sqlx::PgPool;
use tokio::task::JoinHandle;

/// Besides the current month, this many next months always have partitions, so
/// a month boundary never finds its partition missing (a missing one would only
/// send rows to the DEFAULT partition, never lose them).
pub const MONTHS_AHEAD: i32 = 2;

/// How often the maintenance task runs: partitions are made two months ahead, so
/// an hour is plenty; retention is counted in days.
const MAINTENANCE_EVERY: Duration = Duration::from_secs(3600);

/// Makes the partitions of the month holding `now` and of the next
/// [`MONTHS_AHEAD`]; answers how many months were new.
pub async fn ensure_partitions(pool: &PgPool, now: DateTime<Utc>) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT count(*) FILTER (WHERE made) FROM ( \
           SELECT ensure_month_partitions((date_trunc('month', $1 AT TIME ZONE 'UTC') + n * interval '1 month') \
                                          AT TIME ZONE 'UTC') AS made \
             FROM generate_series(0, $2) AS n) m",
    )
    .bind(now)
    .bind(MONTHS_AHEAD)
    .fetch_one(pool)
    .await
}

/// Makes the partitions of every month from `from`'s to `to`'s, for requests
/// recorded into the past (the demo's month of traffic); answers how many months
/// were new.
pub async fn ensure_partitions_between(
    pool: &PgPool,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT count(*) FILTER (WHERE made) FROM ( \
           SELECT ensure_month_partitions(m AT TIME ZONE 'UTC') AS made \
             FROM generate_series(date_trunc('month', $1 AT TIME ZONE 'UTC'), \
                                  date_trunc('month', $2 AT TIME ZONE 'UTC'), interval '1 month') AS m) made",
    )
    .bind(from)
    .bind(to)
    .fetch_one(pool)
    .await
}

/// What retention removed from the request log.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Expired {
    /// Whole month partitions dropped.
    pub partitions: Vec<String>,
    /// Rows deleted from the partitions that straddle the cutoff.
    pub rows: u64,
}

/// Removes the request log rows of requests that started before `cutoff`: month
/// partitions that end by then are dropped whole (cheap, and the space goes back
/// to the system at once), the rest is deleted. A row's id is made when its
/// request starts or later (a folded refusal's id is made when the fold is
/// written), so a partition that ends before the cutoff holds only older rows.
/// Events, rollups and counters are untouched.
pub async fn expire_request_log(pool: &PgPool, cutoff: DateTime<Utc>) -> Result<Expired, sqlx::Error> {
    let old: Vec<String> = sqlx::query_scalar(
        "SELECT partition FROM month_partitions('request_log') \
          WHERE ((month + interval '1 month') AT TIME ZONE 'UTC') <= $1 ORDER BY month",
    )
    .bind(cutoff)
    .fetch_all(pool)
    .await?;
    let mut expired = Expired::default();
    for partition in old {
        // The name comes from the catalog and matches request_log_YYYY_MM.
        sqlx::query(&format!("DROP TABLE IF EXISTS \"{partition}\"")).execute(pool).await?;
        expired.partitions.push(partition);
    }
    expired.rows =
        sqlx::query("DELETE FROM request_log WHERE started_at < $1").bind(cutoff).execute(pool).await?.rows_affected();
    Ok(expired)
}

/// Keeps partitions ahead and, with a retention, expires the request log: once
/// now, then every hour. Errors are logged and retried at the next run.
pub fn spawn_maintenance(pool: PgPool, retention_days: Option<u32>) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut every = tokio::time::interval(MAINTENANCE_EVERY);
        loop {
            every.tick().await;
            maintain(&pool, Utc::now(), retention_days).await;
        }
    })
}

async fn maintain(pool: &PgPool, now: DateTime<Utc>, retention_days: Option<u32>) {
    match ensure_partitions(pool, now).await {
        Ok(0) => {}
        Ok(made) => tracing::info!(months = made, "made the partitions of the months ahead"),
        Err(error) => tracing::warn!(%error, "making the partitions of the months ahead failed"),
    }
    let Some(days) = retention_days else { return };
    let cutoff = now - chrono::Duration::days(i64::from(days));
    match expire_request_log(pool, cutoff).await {
        Ok(expired) if expired.partitions.is_empty() && expired.rows == 0 => {}
        Ok(expired) => tracing::info!(
            partitions = ?expired.partitions, rows = expired.rows, %cutoff, "request log expired past its retention"
        ),
        Err(error) => tracing::warn!(%error, "expiring the request log failed"),
    }
}
