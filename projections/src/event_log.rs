//! Reading the event store directly: one aggregate's stream (for views, history
//! and "as of" queries) and the global audit log.

use chrono::{DateTime, Utc};
use cqrs_es::Aggregate;
use serde_json::Value;
use sqlx::{FromRow, PgPool, Postgres, QueryBuilder};

/// One row of the `events` table.
#[derive(Debug, Clone, FromRow)]
pub struct StoredEvent {
    pub aggregate_type: String,
    pub aggregate_id: String,
    pub sequence: i64,
    pub event_type: String,
    pub event_version: String,
    pub payload: Value,
    pub metadata: Value,
    pub global_position: i64,
    pub recorded_at: DateTime<Utc>,
    /// The writing transaction's id (`xid8` as text), for checkpoints.
    pub tx_id: String,
    /// The payload as JSON text, when read for a projector: decoding text straight
    /// into the event type is several times cheaper than through `payload`.
    #[sqlx(default)]
    pub payload_text: Option<String>,
    /// The payload decoded as a `RequestCompleted` by the first projector of a batch
    /// that read it: the runner hands one batch to every projector, and the others
    /// take this instead of decoding the JSON again (see `request_events`).
    #[sqlx(skip)]
    pub decoded_request: std::sync::OnceLock<gaiarouter_domain::request::RequestCompleted>,
}

#[derive(Debug, thiserror::Error)]
pub enum EventLogError {
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    #[error("event {aggregate_type}/{aggregate_id}#{sequence} cannot be read: {source}")]
    Corrupt { aggregate_type: String, aggregate_id: String, sequence: i64, source: serde_json::Error },
    #[error("event archive {file} cannot be read: {reason}")]
    Archive { file: String, reason: String },
}

/// The projector runner's columns: the payload as text only (see `payload_text`).
pub(crate) const TAIL_COLUMNS: &str = "aggregate_type, aggregate_id, sequence, event_type, event_version, \
     'null'::json AS payload, metadata, global_position, recorded_at, tx_id::text AS tx_id, payload::text AS payload_text";

pub(crate) const COLUMNS: &str =
    "aggregate_type, aggregate_id, sequence, event_type, event_version, payload, metadata, \
     global_position, recorded_at, tx_id::text AS tx_id";

/// The events of one aggregate in sequence order, optionally only those recorded
/// at or before `as_of`.
pub async fn load_stream(
    pool: &PgPool,
    aggregate_type: &str,
    aggregate_id: &str,
    as_of: Option<DateTime<Utc>>,
) -> Result<Vec<StoredEvent>, EventLogError> {
    let sql = format!(
        "SELECT {COLUMNS} FROM events WHERE aggregate_type = $1 AND aggregate_id = $2 \
         AND ($3::timestamptz IS NULL OR recorded_at <= $3) ORDER BY sequence"
    );
    Ok(sqlx::query_as::<_, StoredEvent>(&sql)
        .bind(aggregate_type)
        .bind(aggregate_id)
        .bind(as_of)
        .fetch_all(pool)
        .await?)
}

/// Deserializes a stored payload into the aggregate's event type.
pub fn decode<A: Aggregate>(event: &StoredEvent) -> Result<A::Event, EventLogError> {
    serde_json::from_value(event.payload.clone()).map_err(|source| EventLogError::Corrupt {
        aggregate_type: event.aggregate_type.clone(),
        aggregate_id: event.aggregate_id.clone(),
        sequence: event.sequence,
        source,
    })
}

/// Folds stored events into an aggregate; returns it with the last sequence applied.
pub fn fold<A: Aggregate>(events: &[StoredEvent]) -> Result<(A, i64), EventLogError> {
    let mut aggregate = A::default();
    let mut version = 0;
    for event in events {
        aggregate.apply(decode::<A>(event)?);
        version = event.sequence;
    }
    Ok((aggregate, version))
}

/// Loads and folds one aggregate (`as_of` = its state at that moment).
pub async fn load_aggregate<A: Aggregate>(
    pool: &PgPool,
    aggregate_id: &str,
    as_of: Option<DateTime<Utc>>,
) -> Result<(A, i64), EventLogError> {
    fold(&load_stream(pool, A::TYPE, aggregate_id, as_of).await?)
}

/// Filters of the global audit log; every field narrows the result.
#[derive(Debug, Clone, Default)]
pub struct AuditFilter {
    pub aggregate_types: Vec<String>,
    pub aggregate_id: Option<String>,
    pub actor_id: Option<String>,
    pub from: Option<DateTime<Utc>>,
    pub to: Option<DateTime<Utc>>,
    /// Only events older (lower position) than this cursor.
    pub before_position: Option<i64>,
}

/// Newest first, at most `limit` events.
pub async fn audit_page(pool: &PgPool, filter: &AuditFilter, limit: i64) -> Result<Vec<StoredEvent>, EventLogError> {
    let mut query = QueryBuilder::<Postgres>::new(format!("SELECT {COLUMNS} FROM events WHERE aggregate_type = ANY("));
    query.push_bind(filter.aggregate_types.clone()).push(")");
    if let Some(id) = &filter.aggregate_id {
        query.push(" AND aggregate_id = ").push_bind(id.clone());
    }
    if let Some(actor) = &filter.actor_id {
        query.push(" AND metadata->>'actor_id' = ").push_bind(actor.clone());
    }
    if let Some(from) = filter.from {
        query.push(" AND recorded_at >= ").push_bind(from);
    }
    if let Some(to) = filter.to {
        query.push(" AND recorded_at < ").push_bind(to);
    }
    if let Some(position) = filter.before_position {
        query.push(" AND global_position < ").push_bind(position);
    }
    query.push(" ORDER BY global_position DESC LIMIT ").push_bind(limit);
    Ok(query.build_query_as::<StoredEvent>().fetch_all(pool).await?)
}
