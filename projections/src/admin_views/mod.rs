//! Admin read models (organizations, API keys, operators, routes, webhook endpoints), one row per aggregate.
//!
//! A row is always written from the fold of the aggregate's whole stream (admin
//! streams are short), guarded by `version`, so refreshing is idempotent, never
//! moves a row backwards, and also repairs a row that a crash left behind.

mod api_keys;
mod operators;
mod organizations;
mod routes;
mod webhooks;

use cqrs_es::Aggregate;
use gaiarouter_domain::api_key::ApiKey;
use gaiarouter_domain::operator::Operator;
use gaiarouter_domain::organization::Organization;
use gaiarouter_domain::route::Route;
use gaiarouter_domain::webhook::WebhookEndpoint;
use gaiarouter_domain::Limits;
use sqlx::PgPool;
use uuid::Uuid;

use crate::event_log::{load_aggregate, EventLogError};

/// An aggregate whose current state is kept in a view table.
pub trait AdminView: Aggregate {
    /// The view table (a constant, never user input).
    const TABLE: &'static str;

    fn upsert(
        &self,
        pool: &PgPool,
        id: Uuid,
        version: i64,
    ) -> impl std::future::Future<Output = Result<(), sqlx::Error>> + Send;
}

/// Brings one aggregate's view row up to date with its stream.
pub async fn refresh<A: AdminView>(pool: &PgPool, id: Uuid) -> Result<(), EventLogError> {
    let (aggregate, version) = load_aggregate::<A>(pool, &id.to_string(), None).await?;
    if version > 0 {
        aggregate.upsert(pool, id, version).await?;
    }
    Ok(())
}

/// Finds aggregates whose view row is missing or behind their stream and refreshes
/// them. Returns how many rows were repaired.
pub async fn repair<A: AdminView>(pool: &PgPool) -> Result<usize, EventLogError> {
    let sql = format!(
        "SELECT e.aggregate_id FROM events e LEFT JOIN {table} v ON v.id::text = e.aggregate_id \
         WHERE e.aggregate_type = $1 GROUP BY e.aggregate_id, v.version \
         HAVING v.version IS NULL OR max(e.sequence) > v.version",
        table = A::TABLE
    );
    let behind: Vec<String> = sqlx::query_scalar(&sql).bind(A::TYPE).fetch_all(pool).await?;
    let mut repaired = 0;
    for id in behind {
        match Uuid::parse_str(&id) {
            Ok(uuid) => {
                refresh::<A>(pool, uuid).await?;
                repaired += 1;
            }
            Err(_) => tracing::warn!(aggregate_type = A::TYPE, aggregate_id = %id, "skipping non-UUID aggregate id"),
        }
    }
    Ok(repaired)
}

/// Repairs every admin view; run at start, before serving.
pub async fn repair_all(pool: &PgPool) -> Result<usize, EventLogError> {
    Ok(repair::<Organization>(pool).await?
        + repair::<ApiKey>(pool).await?
        + repair::<Operator>(pool).await?
        + repair::<Route>(pool).await?
        + repair::<WebhookEndpoint>(pool).await?)
}

fn to_i64(value: Option<u64>) -> Option<i64> {
    value.map(|v| i64::try_from(v).unwrap_or(i64::MAX))
}

/// Limits as read back from the `limits` column these views write. The views are
/// written from the events' own limits, so a value that does not decode is a
/// bug; it reads as unlimited rather than failing every read, and says so.
pub fn limits_from_json(limits: serde_json::Value) -> Limits {
    serde_json::from_value(limits).unwrap_or_else(|error| {
        tracing::error!(%error, "an admin view holds limits that do not decode");
        Limits::UNLIMITED
    })
}

/// The `limits` column's value.
pub fn limits_to_json(limits: &Limits) -> serde_json::Value {
    serde_json::to_value(limits).unwrap_or_default()
}
