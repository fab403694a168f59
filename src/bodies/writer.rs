//! The body writer: drains the queue in batches, one multi-row insert each.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use sqlx::PgPool;
use tokio::sync::{mpsc, oneshot};

use super::BodyRecord;

/// The most pairs one insert writes.
const BATCH: usize = 256;

pub(super) async fn write_loop(
    pool: PgPool,
    mut queued: mpsc::Receiver<BodyRecord>,
    queued_bytes: Arc<AtomicUsize>,
    mut stopped: oneshot::Receiver<()>,
) {
    let writer = Writer { pool, queued_bytes };
    loop {
        let first = tokio::select! {
            record = queued.recv() => record,
            _ = &mut stopped => None,
        };
        let Some(first) = first else { break };
        let mut batch = vec![first];
        while batch.len() < BATCH {
            match queued.try_recv() {
                Ok(record) => batch.push(record),
                Err(_) => break,
            }
        }
        writer.write(batch).await;
    }
    // Stopping: what is already queued is still written.
    queued.close();
    let mut rest = Vec::new();
    while let Some(record) = queued.recv().await {
        rest.push(record);
        if rest.len() == BATCH {
            writer.write(std::mem::take(&mut rest)).await;
        }
    }
    if !rest.is_empty() {
        writer.write(rest).await;
    }
}

struct Writer {
    pool: PgPool,
    queued_bytes: Arc<AtomicUsize>,
}

impl Writer {
    /// Writes a batch and gives its bytes back to the queue's bound.
    async fn write(&self, batch: Vec<BodyRecord>) {
        let size: usize = batch.iter().map(BodyRecord::size).sum();
        write(&self.pool, batch).await;
        self.queued_bytes.fetch_sub(size, Ordering::AcqRel);
    }
}

/// Best effort: a batch that cannot be written is dropped with a warning.
async fn write(pool: &PgPool, batch: Vec<BodyRecord>) {
    let count = batch.len();
    if let Err(error) = insert(pool, batch).await {
        tracing::warn!(%error, count, "request bodies could not be written and were dropped");
    }
}

async fn insert(pool: &PgPool, batch: Vec<BodyRecord>) -> Result<(), sqlx::Error> {
    let mut request_ids = Vec::with_capacity(batch.len());
    let mut organization_ids = Vec::with_capacity(batch.len());
    let mut requests = Vec::with_capacity(batch.len());
    let mut request_truncated = Vec::with_capacity(batch.len());
    let mut responses = Vec::with_capacity(batch.len());
    let mut response_truncated = Vec::with_capacity(batch.len());
    for record in batch {
        request_ids.push(record.request_id);
        organization_ids.push(record.organization_id);
        requests.push(record.request.text);
        request_truncated.push(record.request.truncated);
        responses.push(record.response.text);
        response_truncated.push(record.response.truncated);
    }
    sqlx::query(
        "INSERT INTO request_bodies \
           (request_id, organization_id, request_body, request_truncated, response_body, response_truncated) \
         SELECT * FROM UNNEST($1::uuid[], $2::uuid[], $3::text[], $4::bool[], $5::text[], $6::bool[]) \
         ON CONFLICT (request_id) DO NOTHING",
    )
    .bind(request_ids)
    .bind(organization_ids)
    .bind(requests)
    .bind(request_truncated)
    .bind(responses)
    .bind(response_truncated)
    .execute(pool)
    .await?;
    Ok(())
}
