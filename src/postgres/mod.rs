//! The database: connect (to `DATABASE_URL` or the embedded cluster) and migrate.

pub mod embedded;
pub mod follow;

use std::time::Duration;

use sqlx::postgres::PgPoolOptions;
use sqlx::PgPool;

/// A pooled connection idle at least this long is pinged before it is handed
/// out. sqlx pings every connection it hands out by default, and again when it
/// comes back; under load that first ping was ~3 % of the gateway's CPU (a round
/// trip per acquire, for connections used a millisecond before). The ping on
/// return stays, so a connection is only unchecked if its backend ended in the
/// under-a-second gap between its return and its next use; one idle longer
/// (after a database restart in a quiet moment) is tested and replaced.
pub const PING_IF_IDLE_FOR: Duration = Duration::from_secs(1);

pub async fn connect(url: &str, max_connections: u32) -> anyhow::Result<PgPool> {
    let pool = PgPoolOptions::new()
        .max_connections(max_connections)
        .acquire_timeout(Duration::from_secs(10))
        .test_before_acquire(false)
        .before_acquire(|connection, meta| {
            Box::pin(async move {
                if meta.idle_for >= PING_IF_IDLE_FOR {
                    sqlx::Connection::ping(connection).await?;
                }
                Ok(true)
            })
        })
        .connect(url)
        .await
        .map_err(|e| anyhow::anyhow!("cannot connect to PostgreSQL: {e}"))?;
    Ok(pool)
}

/// Seconds since the oldest open transaction holding a snapshot in this database
/// began (0 when none; the asking session left out). PostgreSQL cannot prune a row
/// version such a snapshot may still see, so while one stays open every update of a
/// hot row — the usage counters take one per group commit — walks a longer chain of
/// dead versions: a session idle in a REPEATABLE READ transaction for half a minute
/// made a one-client request 2.5 times slower (scripts/bench/README.md). Sessions of
/// other roles count only when this role may read their activity
/// (`pg_read_all_stats`).
pub async fn oldest_snapshot_age(pool: &PgPool) -> Result<f64, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT coalesce(extract(epoch FROM max(now() - xact_start)), 0)::float8 FROM pg_stat_activity \
          WHERE datname = current_database() AND backend_xmin IS NOT NULL AND pid <> pg_backend_pid()",
    )
    .fetch_one(pool)
    .await
}

/// The migrations built into this binary.
static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

pub async fn migrate(pool: &PgPool) -> anyhow::Result<()> {
    MIGRATOR.run(pool).await.map_err(|e| anyhow::anyhow!("migration failed: {e}"))?;
    Ok(())
}

/// The versions of this binary's migrations that the database has not applied
/// successfully, or applied from a different text (checksum); empty when the
/// schema is the one this binary expects.
pub async fn unapplied_migrations(pool: &PgPool) -> Result<Vec<i64>, sqlx::Error> {
    let applied: Vec<(i64, bool, Vec<u8>)> =
        sqlx::query_as("SELECT version, success, checksum FROM _sqlx_migrations").fetch_all(pool).await?;
    let applied: std::collections::HashMap<i64, (bool, Vec<u8>)> =
        applied.into_iter().map(|(version, success, checksum)| (version, (success, checksum))).collect();
    Ok(MIGRATOR
        .iter()
        .filter(|m| !m.migration_type.is_down_migration())
        .filter(|m| {
            applied.get(&m.version).is_none_or(|(success, checksum)| !success || checksum[..] != m.checksum[..])
        })
        .map(|m| m.version)
        .collect())
}
