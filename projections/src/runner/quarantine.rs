//! Poison events: an event a projector cannot apply (its payload does not decode,
//! or a value in it does not fit the projector's tables) is recorded in
//! `projection_quarantine` and skipped, so one bad event never stops a projector.
//!
//! The happy path pays one savepoint per batch, not per event: only a batch that
//! fails is split in halves (bisection) until the failing events are alone, so a
//! batch of n events with k poison events costs O(k log n) extra applies.

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::{Connection, PgConnection, PgPool};

use super::Projector;
use crate::event_log::{EventLogError, StoredEvent};

/// Longest reason stored or shown, in characters: error texts may quote data.
pub const MAX_REASON_CHARS: usize = 500;
/// Longest identifier (aggregate id, event type) copied into the quarantine.
const MAX_ID_CHARS: usize = 200;

/// What applying a batch did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Applied {
    pub applied: usize,
    pub quarantined: usize,
}

/// One quarantined event, as the API lists it.
#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct QuarantinedEvent {
    pub projection: String,
    pub global_position: i64,
    pub aggregate_type: String,
    pub aggregate_id: String,
    pub sequence: i64,
    pub event_type: String,
    pub event_version: String,
    pub reason: String,
    pub quarantined_at: DateTime<Utc>,
}

/// A failure that belongs to the event, not to the database: retrying the same
/// event can never succeed, so it is quarantined. Anything else (connection lost,
/// serialization failure, a bug in a statement) fails the batch, which is retried
/// later as a whole.
pub fn is_poison(error: &EventLogError) -> bool {
    match error {
        EventLogError::Corrupt { .. } => true,
        EventLogError::Database(error) => is_data_error(error),
        // A missing or damaged archive file is not one event's fault: the rebuild fails.
        EventLogError::Archive { .. } => false,
    }
}

/// SQLSTATE classes of errors caused by the data itself: 22 data exception (e.g.
/// `\u0000` in jsonb, numeric overflow), 23 integrity constraint violation, 54
/// program limit exceeded (e.g. an index row too large for a btree).
pub fn is_data_error(error: &sqlx::Error) -> bool {
    match error {
        sqlx::Error::Database(db) => db.code().is_some_and(|code| matches!(code.get(..2), Some("22" | "23" | "54"))),
        sqlx::Error::Encode(_) => true,
        _ => false,
    }
}

/// At most `max` characters, control characters replaced (text columns refuse NUL,
/// and a reason is shown in the dashboard).
pub fn bounded(text: &str, max: usize) -> String {
    let mut out: String = text.chars().take(max).map(|c| if c.is_control() { '\u{fffd}' } else { c }).collect();
    if text.chars().nth(max).is_some() {
        out.push('…');
    }
    out
}

/// Applies `events` in a savepoint. `Ok(Some(error))`: a poison error, rolled back
/// to the savepoint (the transaction is usable again); `Err`: any other failure.
async fn try_apply(
    connection: &mut PgConnection,
    projector: &dyn Projector,
    events: &[StoredEvent],
) -> Result<Option<EventLogError>, EventLogError> {
    let mut savepoint = connection.begin().await?;
    match projector.apply(&mut savepoint, events).await {
        Ok(()) => {
            savepoint.commit().await?;
            Ok(None)
        }
        Err(error) if is_poison(&error) => {
            savepoint.rollback().await?;
            Ok(Some(error))
        }
        Err(error) => Err(error),
    }
}

/// Applies a batch inside the caller's transaction; when it fails because of some
/// of its events, applies everything else and quarantines those events.
pub(super) async fn apply_isolating(
    connection: &mut PgConnection,
    projector: &dyn Projector,
    events: &[StoredEvent],
) -> Result<Applied, EventLogError> {
    let Some(error) = try_apply(connection, projector, events).await? else {
        return Ok(Applied { applied: events.len(), quarantined: 0 });
    };
    let mut quarantined = 0;
    // Depth-first, left half first: events are applied in log order.
    let mut parts: Vec<(&[StoredEvent], Option<EventLogError>)> = vec![(events, Some(error))];
    while let Some((part, known)) = parts.pop() {
        let error = match known {
            Some(error) => Some(error),
            None => try_apply(connection, projector, part).await?,
        };
        let Some(error) = error else { continue };
        match part {
            [event] => {
                quarantine(connection, projector.name(), event, &error).await?;
                quarantined += 1;
            }
            _ => {
                let (left, right) = part.split_at(part.len() / 2);
                parts.push((right, None));
                parts.push((left, None));
            }
        }
    }
    Ok(Applied { applied: events.len() - quarantined, quarantined })
}

/// Records the event (never its payload) with a bounded reason.
async fn quarantine(
    connection: &mut PgConnection,
    projection: &str,
    event: &StoredEvent,
    error: &EventLogError,
) -> Result<(), sqlx::Error> {
    let reason = bounded(&error.to_string(), MAX_REASON_CHARS);
    let aggregate_id = bounded(&event.aggregate_id, MAX_ID_CHARS);
    let event_type = bounded(&event.event_type, MAX_ID_CHARS);
    // The hook for a metric (a later issue adds /metrics): count this event, e.g.
    // `gaiarouter_projection_quarantined_total{projection}`; the table is the gauge.
    tracing::warn!(
        target: "gaiarouter::projections::quarantine",
        projection,
        position = event.global_position,
        aggregate_type = %event.aggregate_type,
        %aggregate_id,
        %event_type,
        %reason,
        "projector skipped an event it cannot apply; it is quarantined"
    );
    sqlx::query(
        "INSERT INTO projection_quarantine (projection, global_position, tx_id, aggregate_type, aggregate_id, sequence, \
           event_type, event_version, reason) \
         VALUES ($1, $2, $3::text::xid8, $4, $5, $6, $7, $8, $9) \
         ON CONFLICT (projection, global_position) DO UPDATE SET reason = EXCLUDED.reason, quarantined_at = now()",
    )
    .bind(projection)
    .bind(event.global_position)
    .bind(&event.tx_id)
    .bind(bounded(&event.aggregate_type, MAX_ID_CHARS))
    .bind(aggregate_id)
    .bind(event.sequence)
    .bind(event_type)
    .bind(bounded(&event.event_version, MAX_ID_CHARS))
    .bind(reason)
    .execute(&mut *connection)
    .await?;
    Ok(())
}

/// A rebuild finds its quarantined events again: clear them in its transaction.
pub(super) async fn reset(connection: &mut PgConnection, projection: &str) -> Result<(), sqlx::Error> {
    sqlx::query("DELETE FROM projection_quarantine WHERE projection = $1").bind(projection).execute(connection).await?;
    Ok(())
}

/// How many events a projection skipped, and the reason of the latest one.
pub async fn summary(pool: &PgPool, projection: &str) -> Result<(i64, Option<String>), sqlx::Error> {
    sqlx::query_as(
        "SELECT count(*), (SELECT reason FROM projection_quarantine WHERE projection = $1 \
                            ORDER BY global_position DESC LIMIT 1) \
         FROM projection_quarantine WHERE projection = $1",
    )
    .bind(projection)
    .fetch_one(pool)
    .await
}

/// A projection's quarantined events, newest (highest position) first, before a cursor.
pub async fn list(
    pool: &PgPool,
    projection: &str,
    before_position: Option<i64>,
    limit: i64,
) -> Result<Vec<QuarantinedEvent>, sqlx::Error> {
    sqlx::query_as(
        "SELECT projection, global_position, aggregate_type, aggregate_id, sequence, event_type, event_version, \
           reason, quarantined_at \
         FROM projection_quarantine WHERE projection = $1 AND ($2::bigint IS NULL OR global_position < $2) \
         ORDER BY global_position DESC LIMIT $3",
    )
    .bind(projection)
    .bind(before_position)
    .bind(limit)
    .fetch_all(pool)
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reasons_are_bounded_and_free_of_control_characters() {
        assert_eq!(bounded("a\u{0}b\nc", 10), "a\u{fffd}b\u{fffd}c");
        let long = "x".repeat(3000);
        let cut = bounded(&long, MAX_REASON_CHARS);
        assert_eq!(cut.chars().count(), MAX_REASON_CHARS + 1);
        assert!(cut.ends_with('…'));
        assert_eq!(bounded("exact", 5), "exact");
    }

    #[test]
    fn a_corrupt_payload_is_poison_but_a_lost_connection_is_not() {
        let source = serde_json::from_str::<u8>("x").err();
        let corrupt = source.map(|source| EventLogError::Corrupt {
            aggregate_type: "Request".into(),
            aggregate_id: "x".into(),
            sequence: 1,
            source,
        });
        assert!(corrupt.is_some_and(|e| is_poison(&e)));
        assert!(!is_poison(&EventLogError::Database(sqlx::Error::PoolClosed)));
        assert!(!is_poison(&EventLogError::Database(sqlx::Error::Io(std::io::Error::other("reset")))));
    }
}
