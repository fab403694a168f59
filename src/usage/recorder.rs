//! The group-commit writer. Callers hand over a `RequestCompleted` and wait for its
//! commit; the writer drains what has queued meanwhile and writes it in one
//! transaction: a multi-row insert into `events` (one `Request` aggregate per
//! request, so appends never conflict), the monthly counter upserts, and the release
//! of the requests' reservations. A retried append of the same id is a no-op.

use std::collections::BTreeMap;
use std::sync::Mutex;

use chrono::NaiveDate;
use gaiarouter_domain::request::{RequestCompleted, RequestEvent, AGGREGATE_TYPE};
use serde_json::json;
use sqlx::PgPool;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;
use uuid::Uuid;

use super::admission::Reservation;
use gaiarouter_projections::monthly_usage::{self, Scope};

/// Largest batch written in one transaction.
const MAX_BATCH: usize = 512;
/// Requests waiting for the writer; callers wait (backpressure) beyond this.
const QUEUE: usize = 8192;

pub struct PendingRecord {
    pub request_id: Uuid,
    pub event: RequestCompleted,
    pub reservation: Option<Reservation>,
}

#[derive(Debug, Clone, thiserror::Error)]
pub enum RecordError {
    #[error("recording failed: {0}")]
    Database(String),
    #[error("the recorder has stopped")]
    Stopped,
}

type Job = (PendingRecord, Option<oneshot::Sender<Result<(), RecordError>>>);

pub struct Recorder {
    queue: mpsc::Sender<Job>,
    stop: Mutex<Option<oneshot::Sender<()>>>,
    writer: Mutex<Option<JoinHandle<()>>>,
}

impl Recorder {
    pub fn start(pool: PgPool) -> Self {
        let (queue, jobs) = mpsc::channel(QUEUE);
        let (stop, stopped) = oneshot::channel();
        let writer = tokio::spawn(write_loop(pool, jobs, stopped));
        Recorder { queue, stop: Mutex::new(Some(stop)), writer: Mutex::new(Some(writer)) }
    }

    /// Records and waits until the event is durably committed.
    pub async fn record(&self, record: PendingRecord) -> Result<(), RecordError> {
        let (done, committed) = oneshot::channel();
        self.queue.send((record, Some(done))).await.map_err(|_| RecordError::Stopped)?;
        committed.await.map_err(|_| RecordError::Stopped)?
    }

    /// Records without waiting: for requests whose client went away mid-stream.
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

async fn write_loop(pool: PgPool, mut jobs: mpsc::Receiver<Job>, mut stopped: oneshot::Receiver<()>) {
    loop {
        let first = tokio::select! {
            job = jobs.recv() => job,
            _ = &mut stopped => None,
        };
        let Some(first) = first else { break };
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match jobs.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        write_and_answer(&pool, batch).await;
    }
    // Drain: whatever was queued before the stop is still written.
    jobs.close();
    let mut rest = Vec::new();
    while let Some(job) = jobs.recv().await {
        rest.push(job);
        if rest.len() == MAX_BATCH {
            write_and_answer(&pool, std::mem::take(&mut rest)).await;
        }
    }
    if !rest.is_empty() {
        write_and_answer(&pool, rest).await;
    }
}

async fn write_and_answer(pool: &PgPool, batch: Vec<Job>) {
    let (records, waiters): (Vec<PendingRecord>, Vec<_>) = batch.into_iter().unzip();
    let result = write_batch(pool, &records).await.map_err(|e| {
        tracing::error!(error = %e, batch = records.len(), "writing RequestCompleted events failed");
        RecordError::Database(e.to_string())
    });
    for waiter in waiters.into_iter().flatten() {
        let _ = waiter.send(result.clone());
    }
}

/// Counter deltas of one (scope, owner, month) row.
#[derive(Default)]
struct Delta {
    requests: i64,
    tokens: i64,
    cost: i64,
    released_requests: i64,
    released_tokens: i64,
    released_cost: i64,
}

pub async fn write_batch(pool: &PgPool, records: &[PendingRecord]) -> Result<(), sqlx::Error> {
    let mut ids = Vec::with_capacity(records.len());
    let mut payloads = Vec::with_capacity(records.len());
    let mut metadata = Vec::with_capacity(records.len());
    for record in records {
        ids.push(record.request_id.to_string());
        payloads.push(serde_json::to_value(RequestEvent::RequestCompleted(record.event.clone())).unwrap_or_default());
        metadata.push(json!({"actor_type": "api_key", "actor_id": record.event.api_key_id.to_string()}));
    }
    let mut tx = pool.begin().await?;
    // A conflict means this request is already recorded (a retried append): skip it,
    // and count only what was inserted now.
    let inserted: Vec<String> = sqlx::query_scalar(
        "INSERT INTO events (aggregate_type, aggregate_id, sequence, event_type, event_version, payload, metadata) \
         SELECT $1, id, 1, 'RequestCompleted', '1.0', payload, meta \
           FROM UNNEST($2::text[], $3::jsonb[], $4::jsonb[]) AS t(id, payload, meta) \
         ON CONFLICT DO NOTHING RETURNING aggregate_id",
    )
    .bind(AGGREGATE_TYPE)
    .bind(&ids)
    .bind(&payloads)
    .bind(&metadata)
    .fetch_all(&mut *tx)
    .await?;
    let inserted: std::collections::HashSet<String> = inserted.into_iter().collect();

    // What the inserted requests add (the same arithmetic the monthly_usage
    // projection uses), plus the reservations they give back. Organizations sort
    // before keys, each by id: the lock order admission uses too.
    let recorded: Vec<&PendingRecord> =
        records.iter().filter(|r| inserted.contains(&r.request_id.to_string())).collect();
    let mut deltas: BTreeMap<(Scope, Uuid, NaiveDate), Delta> = BTreeMap::new();
    for (key, usage) in monthly_usage::deltas(recorded.iter().map(|r| &r.event)) {
        let delta = deltas.entry(key).or_default();
        delta.requests = usage.requests;
        delta.tokens = usage.tokens;
        delta.cost = usage.cost_nanos;
    }
    let mut released = Vec::new();
    for record in &recorded {
        let Some(reservation) = &record.reservation else { continue };
        released.push(record.request_id);
        for owner in [(Scope::Organization, record.event.organization_id), (Scope::ApiKey, record.event.api_key_id)] {
            let delta = deltas.entry((owner.0, owner.1, reservation.month)).or_default();
            delta.released_requests += 1;
            delta.released_tokens += reservation.tokens;
            delta.released_cost += reservation.cost_nanos;
        }
    }
    if !deltas.is_empty() {
        let mut scopes = Vec::new();
        let mut owners = Vec::new();
        let mut months = Vec::new();
        let mut columns: [Vec<i64>; 6] = Default::default();
        for ((scope, owner, month), d) in &deltas {
            scopes.push(scope.as_str());
            owners.push(*owner);
            months.push(*month);
            for (column, value) in columns.iter_mut().zip([
                d.requests,
                d.tokens,
                d.cost,
                d.released_requests,
                d.released_tokens,
                d.released_cost,
            ]) {
                column.push(value);
            }
        }
        sqlx::query(
            "INSERT INTO usage_counters AS u (scope, owner_id, month, requests, tokens, cost_nanos) \
             SELECT scope, owner_id, month, requests, tokens, cost \
               FROM UNNEST($1::text[], $2::uuid[], $3::date[], $4::bigint[], $5::bigint[], $6::bigint[]) \
                 AS t(scope, owner_id, month, requests, tokens, cost) \
             ON CONFLICT (scope, owner_id, month) DO UPDATE SET \
               requests = u.requests + EXCLUDED.requests, tokens = u.tokens + EXCLUDED.tokens, \
               cost_nanos = u.cost_nanos + EXCLUDED.cost_nanos",
        )
        .bind(&scopes)
        .bind(&owners)
        .bind(&months)
        .bind(&columns[0])
        .bind(&columns[1])
        .bind(&columns[2])
        .execute(&mut *tx)
        .await?;
        if !released.is_empty() {
            sqlx::query(
                "UPDATE usage_counters u SET reserved_requests = u.reserved_requests - t.n, \
                   reserved_tokens = u.reserved_tokens - t.tokens, reserved_cost_nanos = u.reserved_cost_nanos - t.cost \
                 FROM UNNEST($1::text[], $2::uuid[], $3::date[], $4::bigint[], $5::bigint[], $6::bigint[]) \
                   AS t(scope, owner_id, month, n, tokens, cost) \
                 WHERE t.n > 0 AND u.scope = t.scope AND u.owner_id = t.owner_id AND u.month = t.month",
            )
            .bind(&scopes)
            .bind(&owners)
            .bind(&months)
            .bind(&columns[3])
            .bind(&columns[4])
            .bind(&columns[5])
            .execute(&mut *tx)
            .await?;
            sqlx::query("DELETE FROM usage_reservations WHERE request_id = ANY($1)")
                .bind(&released)
                .execute(&mut *tx)
                .await?;
        }
    }
    tx.commit().await
}
