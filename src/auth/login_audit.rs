//! Writes login failures and lockouts to the event store as `Login` events (one
//! stream per event, sequence 1, like `Request`), so they show in `/v1/audit`.

use std::collections::HashMap;

use cqrs_es::DomainEvent;
use gaiarouter_domain::login::{LoginEvent, AGGREGATE_TYPE};
use sqlx::PgPool;
use uuid::Uuid;

use super::{Actor, AuthError};

/// The actor of a login attempt: nobody yet, known by the username tried (the
/// caller adds where the request came from).
pub fn anonymous(username: &str) -> Actor {
    Actor { kind: "anonymous".into(), id: username.into(), name: username.into(), ..Actor::default() }
}

fn metadata(actor: &Actor) -> serde_json::Value {
    let mut fields = HashMap::from([
        ("actor_type", Some(actor.kind.clone())),
        ("actor_id", Some(actor.id.clone())),
        ("actor_name", Some(actor.name.clone())),
        ("request_id", actor.request_id.clone()),
        ("client_ip", actor.client_ip.clone()),
        ("user_agent", actor.user_agent.clone()),
    ]);
    fields.retain(|_, value| value.is_some());
    serde_json::json!(fields)
}

pub async fn record(pool: &PgPool, events: &[LoginEvent], actor: &Actor) -> Result<(), AuthError> {
    if events.is_empty() {
        return Ok(());
    }
    let metadata = metadata(actor);
    let mut tx = pool.begin().await?;
    for event in events {
        let payload = serde_json::to_value(event)?;
        sqlx::query(
            "INSERT INTO events (aggregate_type, aggregate_id, sequence, event_type, event_version, payload, metadata) \
             VALUES ($1, $2, 1, $3, $4, $5, $6)",
        )
        .bind(AGGREGATE_TYPE)
        .bind(Uuid::now_v7().to_string())
        .bind(event.event_type())
        .bind(event.event_version())
        .bind(payload)
        .bind(&metadata)
        .execute(&mut *tx)
        .await?;
    }
    tx.commit().await?;
    Ok(())
}
