//! The group-commit writer. Callers hand over a `RequestCompleted` and wait for its
//! commit; the writer drains what has queued meanwhile and writes it in one
//! statement: a multi-row insert into `events` (one `Request` aggregate per request,
//! so appends never conflict), the usage counter upserts (day, week, month, total),
//! and the settling of what the requests drew from this process's quota leases.
//! A retried append of the same id is a no-op.
//!
//! [`IN_FLIGHT`] says how many batches are written at once (answers need not come in
//! order; each waits for its own commit). The transactions do not announce themselves to
//! the projectors (a NOTIFY would make every commit wait for the one before it);
//! the [`Announcer`] does, after the commits.
//!
//! A record the database refuses (a data error, e.g. `\u0000` in a string, which
//! no text column can hold) fails alone: the failed batch is split in halves until the
//! refused records are alone, and everything else commits. A database outage fails
//! the whole batch at once (no per-record retries against a database that is down).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::stream::{FuturesUnordered, StreamExt};
use gaiarouter_domain::request::RequestCompleted;
use gaiarouter_projections::runner::quarantine::{bounded, is_data_error};
use gaiarouter_projections::runner::EVENTS_CHANNEL;
use sqlx::PgPool;
use tokio::sync::{mpsc, oneshot, Notify};
use tokio::task::JoinHandle;
use uuid::Uuid;

use super::quota::Reservation;
use crate::observability::{self, Metrics};
use isolate::{isolate, Failure};

mod isolate;

/// Largest batch written in one transaction.
const MAX_BATCH: usize = 512;
/// Batches being written at once. Each adds its usage to a stripe of the counters of
/// its own (see `20261203000100_striped_usage_counters.sql`), so batches of the same
/// organization do not wait on each other's rows; only draws on limited quotas meet,
/// in the quota's own row. One: every batch pays a fixed cost (its eight counter rows
/// per key, its commit record, its WAL flush), and what queues while one commits makes
/// the next batch larger. Measured against three (alternating runs, 64 clients): 24
/// events a commit instead of 10.6, PostgreSQL CPU per request 0.094 ms instead of
/// 0.11–0.15, more requests served per second by one process, two, and a limited key
/// (scripts/bench/README.md); one client's latency unchanged.
const IN_FLIGHT: usize = 1;
/// Requests waiting for the writer; callers wait (backpressure) beyond this.
const QUEUE: usize = 8192;
/// Longest database error passed on to callers and logs.
const MAX_ERROR_CHARS: usize = 300;

pub struct PendingRecord {
    pub request_id: Uuid,
    pub event: RequestCompleted,
    /// Settled by the database when the record is written, given back to this
    /// process's leases when it is not.
    pub reservation: Reservation,
}

#[derive(Debug, Clone, thiserror::Error)]
pub enum RecordError {
    #[error("recording failed: {0}")]
    Database(String),
    /// The database refused this record itself (the other records of its batch
    /// were written).
    #[error("the usage record was refused: {0}")]
    Refused(String),
    #[error("the recorder has stopped")]
    Stopped,
}

type Job = (PendingRecord, Option<oneshot::Sender<Result<(), RecordError>>>);

pub struct Recorder {
    queue: mpsc::Sender<Job>,
    stop: Mutex<Option<oneshot::Sender<()>>>,
    writer: Mutex<Option<JoinHandle<()>>>,
    busy: Arc<Busy>,
}

/// How long the writer has been writing without finishing a batch: longer than a
/// readiness probe allows means requests are waiting for commits that do not come
/// (a hung database, a lock held elsewhere).
struct Busy {
    epoch: Instant,
    /// Milliseconds after `epoch` (plus one) since when batches have been writing
    /// with none finished; 0 when none is writing.
    since: AtomicU64,
}

impl Busy {
    fn now(&self) -> u64 {
        u64::try_from(self.epoch.elapsed().as_millis()).unwrap_or(u64::MAX).saturating_add(1)
    }

    /// A batch starts: the clock runs from now unless one is already writing.
    fn begin(&self) {
        let _ = self.since.compare_exchange(0, self.now(), Ordering::Relaxed, Ordering::Relaxed);
    }

    /// A batch finished: the writer made progress; the clock restarts for those
    /// still writing, or stops.
    fn finished(&self, still_writing: bool) {
        self.since.store(if still_writing { self.now() } else { 0 }, Ordering::Relaxed);
    }

    fn for_how_long(&self) -> Option<Duration> {
        match self.since.load(Ordering::Relaxed) {
            0 => None,
            began => Some(self.epoch.elapsed().saturating_sub(Duration::from_millis(began - 1))),
        }
    }
}

/// Whether the writer can commit what it is handed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecorderHealth {
    Healthy,
    /// The writer task has ended (shut down, or failed): nothing is committed.
    Stopped,
    /// One batch has been writing for this long.
    Stuck(Duration),
}

impl Recorder {
    /// `process` is this process's lock id: the owner of the leases its records
    /// draw from. `metrics` counts each record once it is committed.
    /// `stripe_block` is the block of counter stripes it writes usage to (see
    /// [`ProcessLock`](super::process_lock::ProcessLock)).
    pub fn start(pool: PgPool, process: i32, stripe_block: i32, metrics: Arc<Metrics>) -> Self {
        let (queue, jobs) = mpsc::channel(QUEUE);
        let (stop, stopped) = oneshot::channel();
        let busy = Arc::new(Busy { epoch: Instant::now(), since: AtomicU64::new(0) });
        let announcer = Announcer::start(pool.clone());
        let writer = Writer { pool, process, stripe: 0 };
        let stripes = Stripes::of_block(stripe_block);
        let writer = tokio::spawn(write_loop(writer, stripes, jobs, stopped, Arc::clone(&busy), metrics, announcer));
        Recorder { queue, stop: Mutex::new(Some(stop)), writer: Mutex::new(Some(writer)), busy }
    }

    /// Stopped when the writer has ended, stuck when one batch has been writing
    /// for longer than `patience`.
    pub fn health(&self, patience: Duration) -> RecorderHealth {
        let running = self.writer.lock().ok().is_some_and(|w| w.as_ref().is_some_and(|w| !w.is_finished()));
        if !running || self.queue.is_closed() {
            return RecorderHealth::Stopped;
        }
        match self.busy.for_how_long() {
            Some(writing) if writing > patience => RecorderHealth::Stuck(writing),
            _ => RecorderHealth::Healthy,
        }
    }

    /// Records and waits until the event is durably committed.
    pub async fn record(&self, record: PendingRecord) -> Result<(), RecordError> {
        let (done, committed) = oneshot::channel();
        self.queue.send((record, Some(done))).await.map_err(|_| RecordError::Stopped)?;
        committed.await.map_err(|_| RecordError::Stopped)?
    }

    /// Records what `build` makes once the queue has room, and waits for the
    /// commit. The record is built only then, so a caller cancelled while waiting
    /// for room still owns what it meant to record (a ticket records itself when
    /// dropped). `None` from `build` means there is nothing left to record.
    pub async fn record_with(&self, build: impl FnOnce() -> Option<PendingRecord>) -> Result<(), RecordError> {
        let permit = self.queue.reserve().await.map_err(|_| RecordError::Stopped)?;
        let Some(record) = build() else { return Ok(()) };
        let (done, committed) = oneshot::channel();
        permit.send((record, Some(done)));
        committed.await.map_err(|_| RecordError::Stopped)?
    }

    /// Records without waiting: for requests whose client went away.
    pub fn record_detached(&self, record: PendingRecord) {
        match self.queue.try_send((record, None)) {
            Ok(()) => {}
            Err(mpsc::error::TrySendError::Full(job)) => {
                let queue = self.queue.clone();
                tokio::spawn(async move {
                    if queue.send(job).await.is_err() {
                        tracing::error!("usage of a disconnected request could not be queued: recorder stopped");
                    }
                });
            }
            Err(mpsc::error::TrySendError::Closed(_)) => {
                tracing::error!("usage of a disconnected request could not be queued: recorder stopped");
            }
        }
    }

    /// Stops taking work, writes everything already queued, and waits for it.
    pub async fn shutdown(&self) {
        let stop = self.stop.lock().ok().and_then(|mut s| s.take());
        if let Some(stop) = stop {
            let _ = stop.send(());
        }
        let writer = self.writer.lock().ok().and_then(|mut w| w.take());
        if let Some(writer) = writer {
            if let Err(error) = writer.await {
                tracing::error!(%error, "recorder task failed");
            }
        }
    }
}

/// Where records go: the pool, the process whose leases they draw from, and the
/// stripe of the usage counters they add to.
#[derive(Clone)]
pub struct Writer {
    pub pool: PgPool,
    pub process: i32,
    pub stripe: i16,
}

/// The counter stripes of one process: one per batch in flight, none shared by two
/// of its batches at once. Stripe 0 is no batch's: it is the quotas' own rows.
struct Stripes {
    free: Vec<i16>,
}

impl Stripes {
    fn of_block(block: i32) -> Self {
        let first = 1 + block.rem_euclid(super::process_lock::STRIPE_BLOCKS) * IN_FLIGHT as i32;
        Stripes { free: (first..first + IN_FLIGHT as i32).rev().filter_map(|s| i16::try_from(s).ok()).collect() }
    }
}

async fn write_loop(
    writer: Writer,
    mut stripes: Stripes,
    mut jobs: mpsc::Receiver<Job>,
    mut stopped: oneshot::Receiver<()>,
    busy: Arc<Busy>,
    metrics: Arc<Metrics>,
    announcer: Announcer,
) {
    let (metrics, announcer) = (&metrics, &announcer);
    let mut writing = FuturesUnordered::new();
    loop {
        tokio::select! {
            job = jobs.recv(), if !stripes.free.is_empty() => {
                let Some(first) = job else { break };
                let batch = take_batch(first, &mut jobs);
                busy.begin();
                let stripe = stripes.free.pop().unwrap_or_default();
                let writer = Writer { stripe, ..writer.clone() };
                writing.push(async move {
                    write_and_answer(&writer, batch, metrics, announcer).await;
                    stripe
                });
            }
            Some(stripe) = writing.next(), if !writing.is_empty() => {
                stripes.free.push(stripe);
                busy.finished(!writing.is_empty());
            }
            _ = &mut stopped => break,
        }
    }
    while writing.next().await.is_some() {
        busy.finished(!writing.is_empty());
    }
    let writer = Writer { stripe: stripes.free.pop().unwrap_or_default(), ..writer };
    // Drain: whatever was queued before the stop is still written.
    jobs.close();
    let mut rest = Vec::new();
    while let Some(job) = jobs.recv().await {
        rest.push(job);
        if rest.len() == MAX_BATCH {
            write_and_answer(&writer, std::mem::take(&mut rest), metrics, announcer).await;
        }
    }
    if !rest.is_empty() {
        write_and_answer(&writer, rest, metrics, announcer).await;
    }
}

/// `first` and whatever else is queued, up to a batch.
fn take_batch(first: Job, jobs: &mut mpsc::Receiver<Job>) -> Vec<Job> {
    let mut batch = vec![first];
    while batch.len() < MAX_BATCH {
        match jobs.try_recv() {
            Ok(job) => batch.push(job),
            Err(_) => break,
        }
    }
    batch
}

async fn write_and_answer(writer: &Writer, batch: Vec<Job>, metrics: &Metrics, announcer: &Announcer) {
    let (records, waiters): (Vec<PendingRecord>, Vec<_>) = batch.into_iter().unzip();
    let started = Instant::now();
    let results = write_isolating(writer, &records).await;
    metrics.batch_committed(records.len(), started.elapsed());
    if results.iter().any(Result::is_ok) {
        announcer.announce();
    }
    // Settle before answering: a caller that records again at once (a client
    // with requests in flight capped) finds its slot back.
    let mut committed = Vec::with_capacity(records.len());
    for (record, result) in records.into_iter().zip(&results) {
        if result.is_ok() {
            let (tokens, cost) = used(&record.event);
            record.reservation.recorded(tokens, cost);
            committed.push((record.request_id, record.event));
        }
    }
    for (waiter, result) in waiters.into_iter().zip(results) {
        if let Some(waiter) = waiter {
            let _ = waiter.send(result);
        }
    }
    // Counted and logged after the callers are answered: a log line written
    // to a slow stderr never delays an answer.
    for (request_id, event) in &committed {
        observability::request_recorded(metrics, *request_id, event);
    }
}

/// Writes a batch; one result per record, in order. When the database refuses the
/// batch because of some of its records (a data error), the batch is bisected: the
/// other records are written, and each refused record fails alone.
pub async fn write_isolating(writer: &Writer, records: &[PendingRecord]) -> Vec<Result<(), RecordError>> {
    let results = isolate(records.len(), |part| async move {
        let part = records.get(part).unwrap_or_default();
        write_batch_retrying(writer, part).await.map_err(|error| {
            let message = bounded(&error.to_string(), MAX_ERROR_CHARS);
            if is_data_error(&error) {
                Failure::Refused(message)
            } else {
                tracing::error!(error = %message, batch = part.len(), "writing RequestCompleted events failed");
                Failure::Outage(message)
            }
        })
    })
    .await;
    for (record, result) in records.iter().zip(&results) {
        if let Err(RecordError::Refused(reason)) = result {
            // The request id and the error only: the payload may be what was refused.
            tracing::error!(request_id = %record.request_id, error = %reason, "the database refused a usage record");
        }
    }
    results
}

/// A deadlock between two writers of the same counters is not an outage: one of
/// them is aborted by PostgreSQL and succeeds when tried again.
async fn write_batch_retrying(writer: &Writer, records: &[PendingRecord]) -> Result<(), sqlx::Error> {
    let mut tries = 0;
    loop {
        match write_batch(writer, records).await {
            Err(sqlx::Error::Database(e)) if tries < 3 && matches!(e.code().as_deref(), Some("40P01" | "40001")) => {
                tries += 1;
                tracing::warn!(tries, "recording met a deadlock; trying again");
            }
            other => return other,
        }
    }
}

/// What a request used, as limits count it: all its tokens, and its cost.
fn used(event: &RequestCompleted) -> (i64, i64) {
    (saturating_i64(event.total_tokens()), event.cost.nanos())
}

fn saturating_i64(value: u64) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}

/// Writes one batch in a single statement (see the `record_requests` function):
/// one round trip, so the commit cycle stays short under load.
pub async fn write_batch(writer: &Writer, records: &[PendingRecord]) -> Result<(), sqlx::Error> {
    let n = records.len();
    let (mut ids, mut payloads, mut metadata) = (Vec::with_capacity(n), Vec::with_capacity(n), Vec::with_capacity(n));
    let (mut orgs, mut keys, mut starts) = (Vec::with_capacity(n), Vec::with_capacity(n), Vec::with_capacity(n));
    let (mut tokens, mut costs) = (Vec::with_capacity(n), Vec::with_capacity(n));
    let mut draws = DrawColumns::default();
    for (index, record) in records.iter().enumerate() {
        let event = &record.event;
        ids.push(record.request_id.to_string());
        // JSON text, serialized from the borrowed event: no tree of values built
        // and dropped per request; PostgreSQL checks it and stores it as it is
        // (`json`, not parsed into `jsonb` and printed back).
        payloads.push(serde_json::to_string(&StoredPayload::RequestCompleted(event)).unwrap_or_default());
        metadata.push(format!(r#"{{"actor_type":"api_key","actor_id":"{}"}}"#, event.api_key_id));
        orgs.push(event.organization_id);
        keys.push(event.api_key_id);
        starts.push(event.started_at);
        tokens.push(saturating_i64(event.total_tokens()));
        costs.push(event.cost.nanos());
        let (used_tokens, used_cost) = used(event);
        for draw in record.reservation.draws(used_tokens, used_cost) {
            draws.push(i32::try_from(index + 1).unwrap_or(i32::MAX), &draw);
        }
    }
    // `gaiarouter.quiet`: the insert does not NOTIFY (see the `Announcer`). The
    // volatile subquery in FROM is evaluated before the call.
    sqlx::query(
        "SELECT record_requests($1, $2, $3::json[], $4::json[], $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, \
         $16, $17, $18, $19, $20) \
         FROM (SELECT set_config('gaiarouter.quiet', 'on', true)) AS quiet",
    )
    .bind(gaiarouter_domain::request::EVENT_VERSION)
    .bind(&ids)
    .bind(&payloads)
    .bind(&metadata)
    .bind(&orgs)
    .bind(&keys)
    .bind(&starts)
    .bind(&tokens)
    .bind(&costs)
    .bind(writer.process)
    .bind(&draws.of)
    .bind(&draws.scopes)
    .bind(&draws.owners)
    .bind(&draws.periods)
    .bind(&draws.starts)
    .bind(&draws.models)
    .bind(&draws.requests)
    .bind(&draws.tokens)
    .bind(&draws.costs)
    .bind(writer.stripe)
    .execute(&writer.pool)
    .await?;
    Ok(())
}

/// Tells the projectors (in whichever process runs them) that events were committed:
/// one NOTIFY outside any transaction, at most every [`ANNOUNCE_EVERY`] however many
/// batches commit meanwhile. Without it they would only find new events by polling.
struct Announcer {
    pending: Arc<Notify>,
    task: JoinHandle<()>,
}

/// The projectors gather what commits meanwhile anyway (`runner::COALESCE`).
const ANNOUNCE_EVERY: Duration = Duration::from_millis(50);

impl Announcer {
    fn start(pool: PgPool) -> Self {
        let pending = Arc::new(Notify::new());
        let wake = Arc::clone(&pending);
        let task = tokio::spawn(async move {
            loop {
                wake.notified().await;
                if let Err(error) = sqlx::query("SELECT pg_notify($1, '')").bind(EVENTS_CHANNEL).execute(&pool).await {
                    tracing::warn!(%error, "announcing recorded events failed; projectors will find them by polling");
                }
                tokio::time::sleep(ANNOUNCE_EVERY).await;
            }
        });
        Announcer { pending, task }
    }

    fn announce(&self) {
        // One stored permit: many announcements between two NOTIFYs make one.
        self.pending.notify_one();
    }
}

impl Drop for Announcer {
    fn drop(&mut self) {
        // The write loop ended (it owns the announcer): its last commits are
        // found by the projectors' polling.
        self.task.abort();
    }
}

/// A `RequestEvent::RequestCompleted` as it is stored, serialized from a borrow.
/// Serializes exactly as `RequestEvent` does (externally tagged; tested below).
#[derive(serde::Serialize)]
enum StoredPayload<'a> {
    RequestCompleted(&'a RequestCompleted),
}

/// The draws of a batch as the columns `record_requests` takes.
#[derive(Default)]
struct DrawColumns {
    of: Vec<i32>,
    scopes: Vec<&'static str>,
    owners: Vec<Uuid>,
    periods: Vec<&'static str>,
    starts: Vec<chrono::DateTime<chrono::Utc>>,
    models: Vec<String>,
    requests: Vec<i64>,
    tokens: Vec<i64>,
    costs: Vec<i64>,
}

impl DrawColumns {
    fn push(&mut self, of: i32, draw: &crate::usage::quota::Draw<'_>) {
        self.of.push(of);
        self.scopes.push(draw.key.holder.as_str());
        self.owners.push(draw.key.owner);
        self.periods.push(draw.key.window.as_str());
        self.starts.push(draw.key.start);
        self.models.push(draw.key.model.to_string());
        self.requests.push(draw.amounts.requests);
        self.tokens.push(draw.amounts.tokens);
        self.costs.push(draw.amounts.cost);
    }
}

#[cfg(test)]
mod tests {
    use gaiarouter_domain::request::{RequestEvent, RequestStatus};
    use gaiarouter_domain::Money;

    use super::*;

    #[test]
    fn the_stored_payload_serializes_as_the_domain_event_does() {
        // Given a completed request
        let at = chrono::DateTime::from_timestamp(1_790_000_000, 0).unwrap_or_default();
        let event = RequestCompleted {
            organization_id: Uuid::now_v7(),
            api_key_id: Uuid::now_v7(),
            model: "openai/gpt-4o-mini".into(),
            provider: "openai".into(),
            prompt_tokens: 12,
            completion_tokens: 5,
            cached_tokens: 1,
            cost: Money::from_nanos(1_234),
            latency_ms: 7,
            time_to_first_token_ms: Some(3),
            status: RequestStatus::Success,
            http_status: 200,
            error_kind: None,
            streamed: true,
            started_at: at,
            finished_at: at,
            deployment: "openai".into(),
            attempts: Vec::new(),
            ingress: "chat_completions".into(),
            cache_write_tokens: 0,
            cache_write_1h_tokens: 0,
            reasoning_tokens: 0,
            usage_estimated: false,
        };
        // When it is serialized borrowed, and as the domain's event
        let borrowed = serde_json::to_string(&StoredPayload::RequestCompleted(&event)).unwrap();
        let owned = serde_json::to_string(&RequestEvent::RequestCompleted(event.clone())).unwrap();
        // Then the two are the same text, and it reads back as the event
        assert_eq!(borrowed, owned);
        let back: RequestEvent = serde_json::from_str(&borrowed).unwrap();
        assert_eq!(back, RequestEvent::RequestCompleted(event));
    }
}
