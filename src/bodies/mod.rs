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

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use sqlx::PgPool;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;
use uuid::Uuid;

/// Pairs waiting to be written; beyond it new ones are dropped.
const QUEUE: usize = 1_024;
/// Bytes of bodies waiting to be written; beyond it new ones are dropped (the
/// queue's count alone would let large bodies hold gigabytes).
const QUEUE_BYTES: usize = 64 * 1024 * 1024;

/// One request's bodies, bounded, ready to be written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BodyRecord {
    pub request_id: Uuid,
    pub organization_id: Uuid,
    pub request: CapturedBody,
    pub response: CapturedBody,
}

impl BodyRecord {
    pub(crate) fn size(&self) -> usize {
        self.request.text.len() + self.response.text.len()
    }
}

pub struct BodyLog {
    max_bytes: usize,
    queue: mpsc::Sender<BodyRecord>,
    /// Bytes queued and not yet written (shared with the writer, which gives them back).
    queued_bytes: Arc<AtomicUsize>,
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
        let queued_bytes = Arc::new(AtomicUsize::new(0));
        let writer = tokio::spawn(writer::write_loop(pool.clone(), queued, Arc::clone(&queued_bytes), stopped));
        let retention =
            tokio::spawn(retention::delete_loop(pool, Duration::from_secs(u64::from(retention_days.max(1)) * 86_400)));
        BodyLog {
            max_bytes,
            queue,
            queued_bytes,
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
        let size = record.size();
        let taken = take_room(&self.queued_bytes, size, QUEUE_BYTES);
        let queued = taken && self.queue.try_send(record).is_ok();
        if taken && !queued {
            self.queued_bytes.fetch_sub(size, Ordering::AcqRel);
        }
        if !queued {
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

/// Counts `size` more bytes as queued if they fit under `max`; answers whether they did.
fn take_room(queued: &AtomicUsize, size: usize, max: usize) -> bool {
    queued
        .fetch_update(Ordering::AcqRel, Ordering::Acquire, |now| now.checked_add(size).filter(|after| *after <= max))
        .is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn given_room_when_bodies_are_queued_then_they_count_until_the_bound_refuses_more() {
        let queued = AtomicUsize::new(0);
        assert!(take_room(&queued, 60, 100));
        assert!(!take_room(&queued, 41, 100), "over the bound");
        assert_eq!(queued.load(Ordering::Acquire), 60, "a refused body takes no room");
        assert!(take_room(&queued, 40, 100), "exactly up to the bound");
        queued.fetch_sub(60, Ordering::AcqRel);
        assert!(take_room(&queued, 60, 100), "written bodies give their room back");
    }
}
