//! Reading stored bodies for the request log.

use std::collections::HashMap;

use sqlx::{FromRow, PgPool};
use uuid::Uuid;

#[derive(Debug, Clone, FromRow)]
pub struct StoredBodies {
    pub request_id: Uuid,
    pub organization_id: Uuid,
    pub request_body: String,
    pub request_truncated: bool,
    pub response_body: String,
    pub response_truncated: bool,
}

const COLUMNS: &str = "request_id, organization_id, request_body, request_truncated, response_body, response_truncated";

pub async fn for_request(pool: &PgPool, id: Uuid) -> Result<Option<StoredBodies>, sqlx::Error> {
    sqlx::query_as(&format!("SELECT {COLUMNS} FROM request_bodies WHERE request_id = $1"))
        .bind(id)
        .fetch_optional(pool)
        .await
}

/// The bodies of those of `ids` that have some.
pub async fn for_requests(pool: &PgPool, ids: &[Uuid]) -> Result<HashMap<Uuid, StoredBodies>, sqlx::Error> {
    let rows: Vec<StoredBodies> =
        sqlx::query_as(&format!("SELECT {COLUMNS} FROM request_bodies WHERE request_id = ANY($1)"))
            .bind(ids)
            .fetch_all(pool)
            .await?;
    Ok(rows.into_iter().map(|row| (row.request_id, row)).collect())
}
