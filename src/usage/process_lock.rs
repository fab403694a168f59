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
/// The advisory-lock namespace of stripe blocks ("GWST"); the key is the block.
const STRIPE_NAMESPACE: i32 = 0x4757_5354;
/// How many blocks of usage-counter stripes there are (see the recorder).
pub const STRIPE_BLOCKS: i32 = 5;
/// How often the lock's connection is checked (and re-established if lost).
const CHECK_EVERY: Duration = Duration::from_secs(15);

pub struct ProcessLock {
    /// Stored with every reservation this process makes.
    pub id: i32,
    /// The block of usage-counter stripes this process's recorder writes to, one no
    /// other live process holds while there are blocks free (`0..STRIPE_BLOCKS`).
    /// Only a hint against contention: two processes sharing a block count
    /// correctly, they just wait on each other's rows.
    pub stripe_block: i32,
    keeper: JoinHandle<()>,
}

impl ProcessLock {
    /// Takes a free id (random, retried on the rare collision) on a connection
    /// of its own, kept for the life of the process.
    pub async fn acquire(pool: &PgPool) -> Result<ProcessLock, sqlx::Error> {
        let mut connection = pool.acquire().await?.detach();
        let id = loop {
            let id = rand::random_range(1..i32::MAX);
            if try_lock(&mut connection, NAMESPACE, id).await? {
                break id;
            }
        };
        let stripe_block = take_stripe_block(&mut connection, id).await?;
        let keeper = tokio::spawn(keep(pool.clone(), connection, id));
        Ok(ProcessLock { id, stripe_block, keeper })
    }

    pub fn stop(&self) {
        self.keeper.abort();
    }
}

/// A session-level advisory lock on `key` in `namespace`, if no other session holds it.
async fn try_lock(connection: &mut PgConnection, namespace: i32, key: i32) -> Result<bool, sqlx::Error> {
    sqlx::query_scalar("SELECT pg_try_advisory_lock($1, $2)").bind(namespace).bind(key).fetch_one(connection).await
}

/// The first block no live process holds, held on the lock's connection; when all
/// are taken, one picked by the id. (Not taken again if the connection is lost:
/// another process may then share the block, which costs waiting, not counts.)
async fn take_stripe_block(connection: &mut PgConnection, id: i32) -> Result<i32, sqlx::Error> {
    for block in 0..STRIPE_BLOCKS {
        if try_lock(connection, STRIPE_NAMESPACE, block).await? {
            return Ok(block);
        }
    }
    Ok(id.rem_euclid(STRIPE_BLOCKS))
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
                match try_lock(&mut connection, NAMESPACE, id).await {
                    Ok(true) => {}
                    Ok(false) => tracing::error!(id, "another process holds this process's lock id"),
                    Err(error) => tracing::warn!(%error, "taking the process lock failed; retrying"),
                }
            }
            Err(error) => tracing::warn!(%error, "no connection for the process lock; retrying"),
        }
    }
}
