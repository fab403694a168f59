//! Optional request and response bodies for the request log (per organization,
//! off by default). Bodies are kept apart from the event store — never in an
//! event: they are large, may hold personal data and must be deletable — in
//! `request_bodies`, keyed by request id, with their own retention.
//!
//! Best effort, never in the way of a completion: a captured pair is handed to a
//! bounded queue without waiting; a writer of its own inserts the queue in
//! batches. A full queue or a failed write drops bodies (with a warning), never a
//! request or its answer. Only requests that got an answer have a body pair:
//! refusals and requests whose every upstream attempt failed store nothing.

mod capture;
mod retention;
pub mod store;
mod writer;

pub use capture::{Bounded, CapturedBody};
pub use store::StoredBodies;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use sqlx::PgPool;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;
use uuid::Uuid;

/// Pairs waiting to be written; beyond it new ones are dropped.
const QUEUE: usize = 1_024;

/// One request's bodies, bounded, ready to be written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BodyRecord {
    pub request_id: Uuid,
    pub organization_id: Uuid,
    pub request: CapturedBody,
    pub response: CapturedBody,
}

pub struct BodyLog {
    max_bytes: usize,
    queue: mpsc::Sender<BodyRecord>,
    dropped: AtomicU64,
    stop: Mutex<Option<oneshot::Sender<()>>>,
    writer: Mutex<Option<JoinHandle<()>>>,
    retention: JoinHandle<()>,
}

impl BodyLog {
    /// Starts the writer and the retention task.
    pub fn start(pool: PgPool, max_bytes: usize, retention_days: u32) -> Self {
        let (queue, queued) = mpsc::channel(QUEUE);
        let (stop, stopped) = oneshot::channel();
        let writer = tokio::spawn(writer::write_loop(pool.clone(), queued, stopped));
        let retention =
            tokio::spawn(retention::delete_loop(pool, Duration::from_secs(u64::from(retention_days.max(1)) * 86_400)));
        BodyLog {
            max_bytes,
            queue,
            dropped: AtomicU64::new(0),
            stop: Mutex::new(Some(stop)),
            writer: Mutex::new(Some(writer)),
            retention,
        }
    }

    /// The most of one body that is kept.
    pub fn max_bytes(&self) -> usize {
        self.max_bytes
    }

    /// Queues a pair to be written; never waits.
    pub fn submit(&self, record: BodyRecord) {
        if self.queue.try_send(record).is_err() {
            let dropped = self.dropped.fetch_add(1, Ordering::Relaxed) + 1;
            // Once per thousand: a writer that cannot keep up must not flood the log.
            if dropped % 1_000 == 1 {
                tracing::warn!(dropped, "request bodies dropped: the body writer is behind or stopped");
            }
        }
    }

    /// Writes what is queued, then stops the writer and the retention task.
    pub async fn shutdown(&self) {
        self.retention.abort();
        if let Some(stop) = self.stop.lock().ok().and_then(|mut stop| stop.take()) {
            let _ = stop.send(());
        }
        let writer = self.writer.lock().ok().and_then(|mut writer| writer.take());
        if let Some(writer) = writer {
            let _ = writer.await;
        }
    }

    /// Deletes the bodies recorded before `before`, in batches; answers how many.
    pub async fn delete_recorded_before(
        pool: &PgPool,
        before: chrono::DateTime<chrono::Utc>,
    ) -> Result<u64, sqlx::Error> {
        retention::delete_before(pool, before).await
    }
}

/// What the request log's edge needs to capture one answered request.
pub struct Capture {
    pub log: Arc<BodyLog>,
    pub request_id: Uuid,
    pub organization_id: Uuid,
    pub request: CapturedBody,
}
