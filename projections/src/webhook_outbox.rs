//! The webhook outbox: a checkpointed projector that turns each subscribed event
//! into one `webhook_deliveries` row per matching endpoint, in the transaction
//! that moves its checkpoint, so no event is lost or queued twice across
//! restarts. Sending is someone else's job (the server's webhook sender), which
//! only ever reads rows.
//!
//! Scope: an organization's endpoint receives only events about its organization;
//! a gateway-wide endpoint (no organization) receives every subscribed event.
//! Route and deployment events concern no organization. An endpoint receives only
//! events recorded after it was created, so a rebuild of this projection never
//! sends old history to a new endpoint (and `(endpoint, event)` is unique, so a
//! rebuild never sends anything twice).

use chrono::SecondsFormat;
use serde_json::{json, Map, Value};
use sqlx::PgConnection;
use uuid::Uuid;

use crate::event_log::{EventLogError, StoredEvent};
use crate::runner::Projector;

pub const NAME: &str = "webhook_outbox";
/// Woken senders pick new deliveries at once instead of at their next poll.
pub const DELIVERIES_CHANNEL: &str = "gaiarouter_webhook_deliveries";

/// Fields recorded in events that no receiver may see (hashes of secrets).
const SECRET_FIELDS: [&str; 3] = ["secret_hash", "password_hash", "secret"];

pub struct WebhookOutbox;

/// The idempotency key of an event: stable across retries, restarts and replays.
pub fn message_id(global_position: i64) -> String {
    format!("evt_{global_position}")
}

/// The event's fields as receivers see them: unwrapped from `{"Type": {...}}`,
/// secret hashes removed, the id of what it is about added.
fn data(event: &StoredEvent, payload: &Value, organization_id: Option<Uuid>) -> Value {
    let mut fields = match payload.get(&event.event_type).cloned().unwrap_or_else(|| payload.clone()) {
        Value::Object(fields) => fields,
        other => Map::from_iter([("value".to_string(), other)]),
    };
    for field in SECRET_FIELDS {
        fields.remove(field);
    }
    let id_field = match event.aggregate_type.as_str() {
        "ApiKey" => Some("api_key_id"),
        "Organization" => Some("organization_id"),
        "Route" => Some("route_id"),
        _ => None,
    };
    if let Some(id_field) = id_field {
        fields.entry(id_field).or_insert_with(|| Value::String(event.aggregate_id.clone()));
    }
    if let (Some(org), "ApiKey") = (organization_id, event.aggregate_type.as_str()) {
        fields.entry("organization_id").or_insert_with(|| Value::String(org.to_string()));
    }
    Value::Object(fields)
}

/// The organization an event concerns (`None`: gateway-wide events, or one that
/// names no organization we can tell).
async fn organization_of(
    tx: &mut PgConnection,
    event: &StoredEvent,
    payload: &Value,
) -> Result<Option<Uuid>, sqlx::Error> {
    let parse = |text: Option<&str>| text.and_then(|t| Uuid::parse_str(t).ok());
    Ok(match event.aggregate_type.as_str() {
        "Organization" => parse(Some(&event.aggregate_id)),
        "ApiKey" => match parse(Some(&event.aggregate_id)) {
            // A key never changes organization; its view row exists once issued.
            Some(key) => sqlx::query_scalar("SELECT organization_id FROM api_key_view WHERE id = $1")
                .bind(key)
                .fetch_optional(&mut *tx)
                .await?
                .or_else(|| parse(payload["ApiKeyIssued"]["organization_id"].as_str())),
            None => None,
        },
        "BudgetAlert" => parse(payload[&event.event_type]["organization_id"].as_str()),
        _ => None,
    })
}

#[async_trait::async_trait]
impl Projector for WebhookOutbox {
    fn name(&self) -> &'static str {
        NAME
    }

    /// None: a rebuild must not clear the outbox (that would resend everything);
    /// replayed events find their deliveries already there.
    fn tables(&self) -> &'static [&'static str] {
        &[]
    }

    fn aggregate_types(&self) -> &'static [&'static str] {
        &["ApiKey", "Organization", "Route", "BudgetAlert", "Deployment"]
    }

    /// Its events are rare among requests: move past those while idle.
    fn skips_ahead(&self) -> bool {
        true
    }

    async fn apply(&self, tx: &mut PgConnection, events: &[StoredEvent]) -> Result<(), EventLogError> {
        let mut queued = 0_u64;
        for event in events {
            if !gaiarouter_domain::webhook::is_event_type(&event.event_type) {
                continue;
            }
            let payload: Value = match &event.payload_text {
                Some(text) => serde_json::from_str(text),
                None => Ok(event.payload.clone()),
            }
            .map_err(|source| EventLogError::Corrupt {
                aggregate_type: event.aggregate_type.clone(),
                aggregate_id: event.aggregate_id.clone(),
                sequence: event.sequence,
                source,
            })?;
            let organization_id = organization_of(tx, event, &payload).await?;
            let endpoints: Vec<Uuid> = sqlx::query_scalar(
                "SELECT id FROM webhook_endpoint_view \
                 WHERE NOT deleted AND enabled AND $1 = ANY(event_types) AND created_at <= $2 \
                   AND (organization_id IS NULL OR organization_id = $3)",
            )
            .bind(&event.event_type)
            .bind(event.recorded_at)
            .bind(organization_id)
            .fetch_all(&mut *tx)
            .await?;
            if endpoints.is_empty() {
                continue;
            }
            let id = message_id(event.global_position);
            let body = json!({
                "id": id,
                "type": event.event_type,
                "created_at": event.recorded_at.to_rfc3339_opts(SecondsFormat::Millis, true),
                "organization_id": organization_id,
                "data": data(event, &payload, organization_id),
            })
            .to_string();
            for endpoint in endpoints {
                let inserted = sqlx::query(
                    "INSERT INTO webhook_deliveries \
                       (id, endpoint_id, event_position, message_id, event_type, organization_id, body) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (endpoint_id, event_position) DO NOTHING",
                )
                .bind(Uuid::now_v7())
                .bind(endpoint)
                .bind(event.global_position)
                .bind(&id)
                .bind(&event.event_type)
                .bind(organization_id)
                .bind(&body)
                .execute(&mut *tx)
                .await?;
                queued += inserted.rows_affected();
            }
        }
        if queued > 0 {
            // Delivered to listeners when this transaction commits, not before.
            sqlx::query("SELECT pg_notify($1, '')").bind(DELIVERIES_CHANNEL).execute(&mut *tx).await?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use chrono::{TimeZone, Utc};

    use super::*;

    fn stored(aggregate_type: &str, event_type: &str, payload: Value) -> StoredEvent {
        StoredEvent {
            aggregate_type: aggregate_type.into(),
            aggregate_id: Uuid::from_u128(9).to_string(),
            sequence: 1,
            event_type: event_type.into(),
            event_version: "1.0".into(),
            payload,
            metadata: Value::Null,
            global_position: 42,
            recorded_at: Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).single().unwrap_or_default(),
            tx_id: "1".into(),
            payload_text: None,
            decoded_request: Default::default(),
        }
    }

    #[test]
    fn secret_hashes_never_reach_a_receiver_and_the_subject_id_is_added() {
        let event = stored(
            "ApiKey",
            "ApiKeySecretRotated",
            json!({"ApiKeySecretRotated": {"secret_hash": "abc", "at": "2026-01-01T00:00:00Z"}}),
        );
        let org = Uuid::from_u128(3);
        let data = data(&event, &event.payload, Some(org));
        assert_eq!(data.get("secret_hash"), None);
        assert_eq!(data["api_key_id"], Uuid::from_u128(9).to_string());
        assert_eq!(data["organization_id"], org.to_string());
        assert_eq!(message_id(42), "evt_42");
    }
}
