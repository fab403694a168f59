//! Body retention: bodies older than the retention are deleted, a batch at a time
//! (one long DELETE would hold its locks and bloat the table's WAL at once).

use std::time::Duration;

use chrono::{DateTime, Utc};
use sqlx::PgPool;

/// How often expired bodies are looked for.
const EVERY: Duration = Duration::from_secs(3_600);
/// Rows one DELETE removes.
const BATCH: i64 = 5_000;

pub(super) async fn delete_loop(pool: PgPool, retention: Duration) {
    let mut every = tokio::time::interval(EVERY);
    let retention = chrono::Duration::from_std(retention).unwrap_or(chrono::Duration::days(30));
    loop {
        every.tick().await;
        match delete_before(&pool, Utc::now() - retention).await {
            Ok(0) => {}
            Ok(deleted) => tracing::info!(deleted, "deleted request bodies past their retention"),
            Err(error) => tracing::warn!(%error, "deleting request bodies past their retention failed"),
        }
    }
}

/// Deletes every body recorded before `before`; answers how many. Several
/// processes may run it at once: each batch deletes what is still there.
pub(super) async fn delete_before(pool: &PgPool, before: DateTime<Utc>) -> Result<u64, sqlx::Error> {
    let mut deleted = 0;
    loop {
        let batch = sqlx::query(
            "DELETE FROM request_bodies WHERE request_id IN \
               (SELECT request_id FROM request_bodies WHERE recorded_at < $1 ORDER BY recorded_at LIMIT $2)",
        )
        .bind(before)
        .bind(BATCH)
        .execute(pool)
        .await?
        .rows_affected();
        deleted += batch;
        if batch < BATCH as u64 {
            return Ok(deleted);
        }
    }
}
