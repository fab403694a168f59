//! Every gateway process holds a session-level advisory lock under a random id
//! for as long as it lives, and its reservations carry that id. A process that
//! dies (crash, SIGKILL, lost host) loses the lock with its connection, so any
//! other process — or its own restart — can tell its reservations from live ones
//! and release them at once instead of after they expire.

use std::time::Duration;

use sqlx::{PgConnection, PgPool};
use tokio::task::JoinHandle;

/// The advisory-lock namespace of gateway processes ("GWAY"); the key is the id.
pub const NAMESPACE: i32 = 0x4757_4159;
/// How often the lock's connection is checked (and re-established if lost).
const CHECK_EVERY: Duration = Duration::from_secs(15);

pub struct ProcessLock {
    /// Stored with every reservation this process makes.
    pub id: i32,
    keeper: JoinHandle<()>,
}

impl ProcessLock {
    /// Takes a free id (random, retried on the rare collision) on a connection
    /// of its own, kept for the life of the process.
    pub async fn acquire(pool: &PgPool) -> Result<ProcessLock, sqlx::Error> {
        let mut connection = pool.acquire().await?.detach();
        let id = loop {
            let id = rand::random_range(1..i32::MAX);
            if try_lock(&mut connection, id).await? {
                break id;
            }
        };
        let keeper = tokio::spawn(keep(pool.clone(), connection, id));
        Ok(ProcessLock { id, keeper })
    }

    pub fn stop(&self) {
        self.keeper.abort();
    }
}

async fn try_lock(connection: &mut PgConnection, id: i32) -> Result<bool, sqlx::Error> {
    sqlx::query_scalar("SELECT pg_try_advisory_lock($1, $2)").bind(NAMESPACE).bind(id).fetch_one(connection).await
}

/// Holds the connection; if it breaks (the database restarted), takes the same
/// id again on a new one. Meanwhile a sweep may release this process's
/// reservations early: the recorder then records without releasing twice.
async fn keep(pool: PgPool, mut connection: PgConnection, id: i32) {
    loop {
        tokio::time::sleep(CHECK_EVERY).await;
        if sqlx::query("SELECT 1").execute(&mut connection).await.is_ok() {
            continue;
        }
        tracing::warn!("the process lock's connection was lost; taking the lock again");
        match pool.acquire().await {
            Ok(fresh) => {
                connection = fresh.detach();
                match try_lock(&mut connection, id).await {
                    Ok(true) => {}
                    Ok(false) => tracing::error!(id, "another process holds this process's lock id"),
                    Err(error) => tracing::warn!(%error, "taking the process lock failed; retrying"),
                }
            }
            Err(error) => tracing::warn!(%error, "no connection for the process lock; retrying"),
        }
    }
}
