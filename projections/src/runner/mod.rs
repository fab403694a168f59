//! The checkpointed projector runner.
//!
//! Each projector tails `events` in `(tx_id, global_position)` order, reading only
//! events of transactions older than the oldest one still running
//! (`tx_id < pg_snapshot_xmin(pg_current_snapshot())`): identity values are handed
//! out at insert, not at commit, so without that horizon a projector could pass an
//! event whose transaction commits later. A batch and the checkpoint move in one
//! transaction, so every event is applied exactly once, even across crashes.
//!
//! One process projects at a time (a session-level advisory lock); the others stand
//! by and take over when its connection goes away. A rebuild clears the projector's
//! tables and replays the whole log in ONE transaction, so readers keep seeing the
//! old data (MVCC) until the rebuilt data is complete and commits.
//!
//! An event a projector cannot apply is quarantined and skipped (see `quarantine`):
//! the checkpoint moves past it in the same transaction, and a rebuild finds it again.

pub mod quarantine;
mod status;

pub use quarantine::{Applied, QuarantinedEvent};
pub use status::{projector_status, ProjectorStatus};

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use sqlx::postgres::PgListener;
use sqlx::{Acquire, Connection, PgConnection, PgPool};

use crate::archive;
use crate::event_log::{EventLogError, StoredEvent, TAIL_COLUMNS};

/// The advisory lock key held by the projecting process ("GaiaProj").
pub const RUNNER_LOCK: i64 = 0x4761_6961_5072_6f6a;
pub const EVENTS_CHANNEL: &str = "gaiarouter_events";
const BATCH: i64 = 1_000;
/// Rebuilds read bigger batches: aggregating projectors then write each group
/// once per batch instead of once per few events.
const REPLAY_BATCH: i64 = 50_000;
/// After a catch-up that found events, the runner waits this long before the next
/// one, however often it is woken. Under load a notification comes with every group
/// commit (a hundred or more a second), and catching up on each costs every projector
/// a transaction for a handful of events, on the cores that serve the requests;
/// waiting lets one catch-up take what many commits wrote. Idle, a notification is
/// answered at once. Views lag the log by up to this much more under load.
pub const COALESCE: Duration = Duration::from_millis(250);

/// How often a process standing by asks for the runner lock again.
const STANDBY_RETRY: Duration = Duration::from_secs(1);

#[async_trait::async_trait]
pub trait Projector: Send + Sync {
    /// Stable name: checkpoint key, API and CLI name.
    fn name(&self) -> &'static str;
    /// The tables it owns: cleared on rebuild (constants, never input).
    fn tables(&self) -> &'static [&'static str];
    /// The aggregate types whose events it reads.
    fn aggregate_types(&self) -> &'static [&'static str];
    /// Applies a batch inside the caller's transaction.
    async fn apply(&self, tx: &mut PgConnection, events: &[StoredEvent]) -> Result<(), EventLogError>;
    /// True for a projector of rare events (the webhook outbox): when none of its
    /// events are pending, its checkpoint moves past the other types' events, so it
    /// does not rescan the same tail of requests on every wake-up.
    fn skips_ahead(&self) -> bool {
        false
    }
}

/// Replay progress of a rebuild running in this process: (applied, total).
pub type Progress = Arc<Mutex<HashMap<&'static str, (i64, i64)>>>;

pub struct Runner {
    pool: PgPool,
    projectors: Vec<Arc<dyn Projector>>,
    pub progress: Progress,
}

/// The next events after a checkpoint, in commit-safe order. `ORDER BY` names the
/// table's columns: the selected `tx_id` is text, and text order is not xid order.
async fn read_batch(
    tx: &mut PgConnection,
    types: &[&str],
    after: (&str, i64),
    limit: i64,
) -> Result<Vec<StoredEvent>, sqlx::Error> {
    let sql = format!(
        "SELECT {TAIL_COLUMNS} FROM events \
         WHERE aggregate_type = ANY($1) AND (tx_id, global_position) > ($2::text::xid8, $3) \
           AND tx_id < pg_snapshot_xmin(pg_current_snapshot()) \
         ORDER BY events.tx_id, events.global_position LIMIT $4"
    );
    let types: Vec<String> = types.iter().map(|t| t.to_string()).collect();
    // Walk the (tx_id, global_position) index in order and stop at the limit, even
    // when statistics are stale (right after a bulk load the planner would otherwise
    // bitmap-scan and sort the whole tail of the log for every batch).
    sqlx::query("SET LOCAL enable_bitmapscan = off").execute(&mut *tx).await?;
    sqlx::query("SET LOCAL enable_sort = off").execute(&mut *tx).await?;
    sqlx::query_as(&sql).bind(types).bind(after.0).bind(after.1).bind(limit).fetch_all(&mut *tx).await
}

/// The last event after `after` that every reader sees alike (its transaction is
/// older than any running one), provided no event of `types` lies between: the
/// furthest a checkpoint can move without skipping one of them. One statement,
/// so one snapshot judges both.
async fn last_without(
    tx: &mut PgConnection,
    types: &[&str],
    after: (&str, i64),
) -> Result<Option<(String, i64)>, sqlx::Error> {
    let types: Vec<String> = types.iter().map(|t| t.to_string()).collect();
    sqlx::query_as(
        "WITH h AS (SELECT pg_snapshot_xmin(pg_current_snapshot()) AS xmin) \
         SELECT e.tx_id::text, e.global_position FROM events e, h \
         WHERE e.tx_id < h.xmin AND (e.tx_id, e.global_position) > ($1::text::xid8, $2) \
           AND NOT EXISTS (SELECT 1 FROM events o WHERE o.aggregate_type = ANY($3) AND o.tx_id < h.xmin \
                             AND (o.tx_id, o.global_position) > ($1::text::xid8, $2)) \
         ORDER BY e.tx_id DESC, e.global_position DESC LIMIT 1",
    )
    .bind(after.0)
    .bind(after.1)
    .bind(types)
    .fetch_optional(&mut *tx)
    .await
}

impl Runner {
    pub fn new(pool: PgPool, projectors: Vec<Arc<dyn Projector>>) -> Self {
        Runner { pool, projectors, progress: Progress::default() }
    }

    pub fn projectors(&self) -> &[Arc<dyn Projector>] {
        &self.projectors
    }

    pub fn find(&self, name: &str) -> Option<Arc<dyn Projector>> {
        self.projectors.iter().find(|p| p.name() == name).cloned()
    }

    /// Makes sure every projector has a checkpoint row.
    pub async fn register(&self) -> Result<(), sqlx::Error> {
        for projector in &self.projectors {
            sqlx::query("INSERT INTO projection_checkpoints (name) VALUES ($1) ON CONFLICT DO NOTHING")
                .bind(projector.name())
                .execute(&self.pool)
                .await?;
        }
        Ok(())
    }

    /// Applies one batch; answers how many events it moved past, applied or
    /// quarantined (0 = caught up).
    pub async fn step(&self, projector: &dyn Projector) -> Result<usize, EventLogError> {
        let mut tx = self.pool.begin().await?;
        let checkpoint = lock_checkpoint(&mut tx, projector.name()).await?;
        let Some((last_tx, last_position)) = checkpoint else {
            // A projector new to this database starts at the beginning of the log.
            tx.rollback().await?;
            self.register().await?;
            return Box::pin(self.step(projector)).await;
        };
        let events = read_batch(&mut tx, projector.aggregate_types(), (&last_tx, last_position), BATCH).await?;
        let Some(last) = events.last() else {
            let skip = match projector.skips_ahead() {
                true => last_without(&mut tx, projector.aggregate_types(), (&last_tx, last_position)).await?,
                false => None,
            };
            match skip {
                Some((skip_tx, skip_position)) => {
                    advance_to(&mut tx, projector.name(), (&skip_tx, skip_position), 0).await?;
                    tx.commit().await?;
                }
                None => tx.rollback().await?,
            }
            return Ok(0);
        };
        let applied = quarantine::apply_isolating(&mut tx, projector, &events).await?;
        advance(&mut tx, projector.name(), last, applied.applied).await?;
        tx.commit().await?;
        Ok(events.len())
    }

    /// Applies batches until the projector has caught up with the log.
    pub async fn catch_up(&self, projector: &dyn Projector) -> Result<usize, EventLogError> {
        let mut total = 0;
        loop {
            let applied = self.step(projector).await?;
            total += applied;
            if applied < BATCH as usize {
                return Ok(total);
            }
        }
    }

    /// Brings every projector up to the log; answers how many events the reads
    /// moved past. The log is read once for all of them (see `shared_step`).
    pub async fn catch_up_all(&self) -> Result<usize, EventLogError> {
        let mut total = 0;
        loop {
            match self.shared_step().await? {
                Some(read) => {
                    total += read;
                    if read < BATCH as usize {
                        return Ok(total);
                    }
                }
                None => {
                    for projector in &self.projectors {
                        total += self.catch_up(projector.as_ref()).await?;
                    }
                    return Ok(total);
                }
            }
        }
    }

    /// Reads one batch after the furthest-behind checkpoint, of every type some
    /// projector reads, and hands it to each projector in its own transaction: the
    /// events it has not applied yet, of its types, and its checkpoint moved to the
    /// end of the batch. One read and one decoding of each event (`request_events`
    /// keeps what the first projector decoded) instead of one per projector. The
    /// batch is in commit-safe order with nothing missing up to its last event (see
    /// `read_batch`), so every checkpoint can move there. `None`: a checkpoint is
    /// missing or unreadable; the caller steps each projector alone.
    async fn shared_step(&self) -> Result<Option<usize>, EventLogError> {
        let names: Vec<&str> = self.projectors.iter().map(|p| p.name()).collect();
        let checkpoints: Vec<(String, i64)> =
            sqlx::query_as("SELECT last_tx_id::text, last_position FROM projection_checkpoints WHERE name = ANY($1)")
                .bind(&names)
                .fetch_all(&self.pool)
                .await?;
        let positions: Option<Vec<LogKey>> = checkpoints.iter().map(|(tx, position)| log_key(tx, *position)).collect();
        let (Some(positions), true) = (positions, checkpoints.len() == names.len()) else { return Ok(None) };
        let Some(from) = positions.into_iter().min() else { return Ok(None) };
        let mut types: Vec<&str> = self.projectors.iter().flat_map(|p| p.aggregate_types().iter().copied()).collect();
        types.sort_unstable();
        types.dedup();
        let mut tx = self.pool.begin().await?;
        let events = read_batch(&mut tx, &types, (&from.0.to_string(), from.1), BATCH).await?;
        tx.rollback().await?;
        let keys: Option<Vec<LogKey>> = events.iter().map(|e| log_key(&e.tx_id, e.global_position)).collect();
        let Some(keys) = keys else { return Ok(None) };
        if events.is_empty() {
            return Ok(Some(0));
        }
        for projector in &self.projectors {
            self.apply_shared(projector.as_ref(), &events, &keys).await?;
        }
        Ok(Some(events.len()))
    }

    /// One projector's part of a shared batch (`keys`: each event's place in the log).
    async fn apply_shared(
        &self,
        projector: &dyn Projector,
        events: &[StoredEvent],
        keys: &[LogKey],
    ) -> Result<(), EventLogError> {
        let Some(last) = events.last() else { return Ok(()) };
        let mut tx = self.pool.begin().await?;
        let checkpoint = lock_checkpoint(&mut tx, projector.name()).await?;
        let after = checkpoint.and_then(|(tx_id, position)| log_key(&tx_id, position));
        let Some(after) = after else {
            tx.rollback().await?;
            return Ok(());
        };
        let start = keys.partition_point(|key| *key <= after);
        let Some(pending) = events.get(start..).filter(|p| !p.is_empty()) else {
            // Already past this batch (rebuilt meanwhile, say).
            tx.rollback().await?;
            return Ok(());
        };
        let types = projector.aggregate_types();
        let mine = |e: &StoredEvent| types.contains(&e.aggregate_type.as_str());
        let applied = if pending.iter().all(mine) {
            quarantine::apply_isolating(&mut tx, projector, pending).await?.applied
        } else {
            let own: Vec<StoredEvent> = pending.iter().filter(|e| mine(e)).cloned().collect();
            match own.is_empty() {
                true => 0,
                false => quarantine::apply_isolating(&mut tx, projector, &own).await?.applied,
            }
        };
        advance_to(&mut tx, projector.name(), (&last.tx_id, last.global_position), applied).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Clears the projector's tables and replays the log in one transaction.
    /// Answers the number of events replayed.
    pub async fn rebuild(&self, projector: &dyn Projector) -> Result<i64, EventLogError> {
        let name = projector.name();
        sqlx::query(
            "UPDATE projection_checkpoints SET state = 'rebuilding', rebuild_started_at = now(), updated_at = now() \
             WHERE name = $1",
        )
        .bind(name)
        .execute(&self.pool)
        .await?;
        let types: Vec<String> = projector.aggregate_types().iter().map(|t| t.to_string()).collect();
        let mut total: i64 = sqlx::query_scalar("SELECT count(*) FROM events WHERE aggregate_type = ANY($1)")
            .bind(&types)
            .fetch_one(&self.pool)
            .await?;
        if reads_archives(projector) {
            total += archive::count(&mut *self.pool.acquire().await?).await?;
        }
        self.set_progress(name, 0, total);
        let result = self.replay_in_one_transaction(projector, total).await;
        if let Ok(mut progress) = self.progress.lock() {
            progress.remove(name);
        }
        if result.is_err() {
            sqlx::query("UPDATE projection_checkpoints SET state = 'running', updated_at = now() WHERE name = $1")
                .bind(name)
                .execute(&self.pool)
                .await?;
        }
        result
    }

    async fn replay_in_one_transaction(&self, projector: &dyn Projector, total: i64) -> Result<i64, EventLogError> {
        let name = projector.name();
        let mut connection = self.pool.acquire().await?;
        let mut tx = connection.begin().await?;
        sqlx::query("SELECT 1 FROM projection_checkpoints WHERE name = $1 FOR UPDATE")
            .bind(name)
            .execute(&mut *tx)
            .await?;
        for table in projector.tables() {
            // DELETE, not TRUNCATE: TRUNCATE would block readers until the commit.
            sqlx::query(&format!("DELETE FROM {table}")).execute(&mut *tx).await?;
        }
        quarantine::reset(&mut tx, name).await?;
        let (mut read, mut applied) = (0_i64, 0_i64);
        // The archived months first (merged by position), then the live log from its
        // very start, not from the last archived event: a request recorded late can
        // sit in an archived month with a later (tx_id, position) than live events.
        let mut last_archived = None;
        if reads_archives(projector) {
            let months = archive::list(&mut tx).await?;
            let mut archived = archive::Merged::open(&months)?;
            loop {
                let events = archived.next_batch(REPLAY_BATCH as usize)?;
                let Some(last) = events.last() else { break };
                applied += quarantine::apply_isolating(&mut tx, projector, &events).await?.applied as i64;
                last_archived = Some((last.tx_id.clone(), last.global_position));
                read += events.len() as i64;
                self.set_progress(name, read, total.max(read));
            }
        }
        let mut after = ("0".to_string(), 0_i64);
        let mut live = false;
        loop {
            let events = read_batch(&mut tx, projector.aggregate_types(), (&after.0, after.1), REPLAY_BATCH).await?;
            let Some(last) = events.last() else { break };
            applied += quarantine::apply_isolating(&mut tx, projector, &events).await?.applied as i64;
            after = (last.tx_id.clone(), last.global_position);
            live = true;
            read += events.len() as i64;
            self.set_progress(name, read, total.max(read));
            if (events.len() as i64) < REPLAY_BATCH {
                break;
            }
        }
        // Only archived events: the checkpoint stands after the last of them.
        if let (false, Some(archived)) = (live, last_archived) {
            after = archived;
        }
        sqlx::query(
            "UPDATE projection_checkpoints SET last_tx_id = $2::text::xid8, last_position = $3, events_applied = $4, \
               state = 'running', rebuild_requested = false, updated_at = now() WHERE name = $1",
        )
        .bind(name)
        .bind(&after.0)
        .bind(after.1)
        .bind(applied)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(read)
    }

    fn set_progress(&self, name: &'static str, applied: i64, total: i64) {
        if let Ok(mut progress) = self.progress.lock() {
            progress.insert(name, (applied, total));
        }
    }

    /// Asks the projecting process (whichever holds the lock) to rebuild.
    pub async fn request_rebuild(pool: &PgPool, name: &str) -> Result<bool, sqlx::Error> {
        let updated = sqlx::query(
            "UPDATE projection_checkpoints SET rebuild_requested = true, state = 'rebuilding', updated_at = now() \
             WHERE name = $1",
        )
        .bind(name)
        .execute(pool)
        .await?;
        sqlx::query("SELECT pg_notify($1, '')").bind(EVENTS_CHANNEL).execute(pool).await?;
        Ok(updated.rows_affected() == 1)
    }

    async fn rebuild_requested(&self) -> Result<(), EventLogError> {
        let requested: Vec<String> =
            sqlx::query_scalar("SELECT name FROM projection_checkpoints WHERE rebuild_requested")
                .fetch_all(&self.pool)
                .await?;
        for name in requested {
            if let Some(projector) = self.find(&name) {
                let replayed = self.rebuild(projector.as_ref()).await?;
                tracing::info!(projector = %name, replayed, "projection rebuilt");
            }
        }
        Ok(())
    }

    /// Projects while this process holds the runner lock; stands by otherwise.
    /// Runs until the task is aborted.
    pub fn spawn(self: Arc<Self>) -> tokio::task::JoinHandle<()> {
        tokio::spawn(async move {
            loop {
                if let Err(error) = self.hold_lock_and_project().await {
                    tracing::warn!(%error, "projector runner interrupted");
                }
                tokio::time::sleep(STANDBY_RETRY).await;
            }
        })
    }

    /// Stands by while another process holds the lock, asking again every
    /// [`STANDBY_RETRY`] on the same connection of its own: taking a pooled
    /// connection for each try and closing it cost the pool a warm connection a
    /// second (a new backend, its caches and prepared statements cold). Returns only
    /// on an error.
    async fn hold_lock_and_project(&self) -> Result<(), EventLogError> {
        let mut lock = self.pool.acquire().await?.detach();
        loop {
            let acquired: bool =
                sqlx::query_scalar("SELECT pg_try_advisory_lock($1)").bind(RUNNER_LOCK).fetch_one(&mut lock).await?;
            if acquired {
                break;
            }
            tokio::time::sleep(STANDBY_RETRY).await;
        }
        tracing::info!("this process now runs the projectors");
        self.register().await?;
        let mut listener = PgListener::connect_with(&self.pool).await?;
        listener.listen(EVENTS_CHANNEL).await?;
        loop {
            self.rebuild_requested().await?;
            if self.catch_up_all().await? > 0 {
                tokio::time::sleep(COALESCE).await;
                // What was notified meanwhile is what the next catch-up takes.
                while listener.next_buffered().is_some() {}
                continue;
            }
            // Woken by NOTIFY, or polling every second in case a notification was missed.
            tokio::select! {
                notified = listener.recv() => { notified?; }
                _ = tokio::time::sleep(Duration::from_secs(1)) => {
                    // Still holding the lock? A broken connection means it is gone.
                    sqlx::query("SELECT 1").execute(&mut lock).await?;
                }
            }
        }
    }

    /// For the CLI: run the rebuild here when no server is projecting, or ask the
    /// projecting server to and wait until it is done.
    pub async fn rebuild_now_or_request(&self, name: &str) -> Result<String, EventLogError> {
        let projector = self.find(name).ok_or_else(|| EventLogError::Database(sqlx::Error::RowNotFound))?;
        self.register().await?;
        let mut lock = self.pool.acquire().await?.detach();
        let acquired: bool =
            sqlx::query_scalar("SELECT pg_try_advisory_lock($1)").bind(RUNNER_LOCK).fetch_one(&mut lock).await?;
        if acquired {
            let replayed = self.rebuild(projector.as_ref()).await?;
            self.catch_up(projector.as_ref()).await?;
            lock.close().await?;
            return Ok(format!("{name}: rebuilt from {replayed} events"));
        }
        Self::request_rebuild(&self.pool, name).await?;
        loop {
            tokio::time::sleep(Duration::from_millis(500)).await;
            let requested: bool =
                sqlx::query_scalar("SELECT rebuild_requested FROM projection_checkpoints WHERE name = $1")
                    .bind(name)
                    .fetch_one(&self.pool)
                    .await?;
            if !requested {
                return Ok(format!("{name}: rebuilt by the running server"));
            }
        }
    }
}

/// A place in the log in the order projectors read it: (transaction id, position).
/// `xid8` compares as a number, not as its text.
type LogKey = (u64, i64);

fn log_key(tx_id: &str, position: i64) -> Option<LogKey> {
    Some((tx_id.parse().ok()?, position))
}

/// Projectors of `Request` events replay the archived months too.
fn reads_archives(projector: &dyn Projector) -> bool {
    projector.aggregate_types().contains(&archive::ARCHIVED_TYPE)
}

/// A projector's checkpoint, locked until the transaction ends (one writer of a
/// projection at a time, whatever else runs).
async fn lock_checkpoint(tx: &mut PgConnection, name: &str) -> Result<Option<(String, i64)>, sqlx::Error> {
    sqlx::query_as("SELECT last_tx_id::text, last_position FROM projection_checkpoints WHERE name = $1 FOR UPDATE")
        .bind(name)
        .fetch_optional(&mut *tx)
        .await
}

async fn advance(tx: &mut PgConnection, name: &str, last: &StoredEvent, count: usize) -> Result<(), sqlx::Error> {
    advance_to(tx, name, (&last.tx_id, last.global_position), count).await
}

async fn advance_to(tx: &mut PgConnection, name: &str, to: (&str, i64), count: usize) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE projection_checkpoints SET last_tx_id = $2::text::xid8, last_position = $3, \
           events_applied = events_applied + $4, updated_at = now() WHERE name = $1",
    )
    .bind(name)
    .bind(to.0)
    .bind(to.1)
    .bind(count as i64)
    .execute(&mut *tx)
    .await?;
    Ok(())
}
