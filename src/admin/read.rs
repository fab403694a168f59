//! Queries on the admin views.

use chrono::{DateTime, Utc};
use sqlx::{FromRow, PgPool, Postgres, QueryBuilder};
use uuid::Uuid;

use super::AdminError;

#[derive(Debug, Clone, FromRow)]
pub struct OrganizationRow {
    pub id: Uuid,
    pub version: i64,
    pub name: String,
    pub status: String,
    pub monthly_requests: Option<i64>,
    pub monthly_tokens: Option<i64>,
    pub monthly_cost_nanos: Option<i64>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[derive(Debug, Clone, FromRow)]
pub struct ApiKeyRow {
    pub id: Uuid,
    pub version: i64,
    pub organization_id: Uuid,
    pub name: String,
    pub permission: String,
    pub monthly_requests: Option<i64>,
    pub monthly_tokens: Option<i64>,
    pub monthly_cost_nanos: Option<i64>,
    pub public_id: String,
    pub expires_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

pub use gaiarouter_projections::admin_views::limits_from_columns;

const ORG_COLUMNS: &str =
    "id, version, name, status, monthly_requests, monthly_tokens, monthly_cost_nanos, created_at, updated_at";
const KEY_COLUMNS: &str = "id, version, organization_id, name, permission, monthly_requests, monthly_tokens, \
     monthly_cost_nanos, public_id, expires_at, revoked_at, created_at, updated_at";

/// A page of a list: `limit` rows after the cursor, and whether more follow.
pub struct Page<T> {
    pub rows: Vec<T>,
    pub has_more: bool,
}

fn page<T>(mut rows: Vec<T>, limit: i64) -> Page<T> {
    let has_more = rows.len() as i64 > limit;
    rows.truncate(limit.max(0) as usize);
    Page { rows, has_more }
}

pub async fn organization(pool: &PgPool, id: Uuid) -> Result<Option<OrganizationRow>, AdminError> {
    Ok(sqlx::query_as(&format!("SELECT {ORG_COLUMNS} FROM organization_view WHERE id = $1 AND status <> 'deleted'"))
        .bind(id)
        .fetch_optional(pool)
        .await?)
}

/// Organizations in creation order (ids are UUIDv7), optionally only one.
pub async fn organizations(
    pool: &PgPool,
    only: Option<Uuid>,
    after: Option<Uuid>,
    limit: i64,
) -> Result<Page<OrganizationRow>, AdminError> {
    let mut query =
        QueryBuilder::<Postgres>::new(format!("SELECT {ORG_COLUMNS} FROM organization_view WHERE status <> 'deleted'"));
    if let Some(id) = only {
        query.push(" AND id = ").push_bind(id);
    }
    if let Some(after) = after {
        query.push(" AND id > ").push_bind(after);
    }
    query.push(" ORDER BY id LIMIT ").push_bind(limit + 1);
    Ok(page(query.build_query_as().fetch_all(pool).await?, limit))
}

pub async fn api_key(pool: &PgPool, id: Uuid) -> Result<Option<ApiKeyRow>, AdminError> {
    Ok(sqlx::query_as(&format!("SELECT {KEY_COLUMNS} FROM api_key_view WHERE id = $1"))
        .bind(id)
        .fetch_optional(pool)
        .await?)
}

pub async fn api_keys(
    pool: &PgPool,
    organization_id: Option<Uuid>,
    after: Option<Uuid>,
    limit: i64,
) -> Result<Page<ApiKeyRow>, AdminError> {
    let mut query = QueryBuilder::<Postgres>::new(format!("SELECT {KEY_COLUMNS} FROM api_key_view WHERE true"));
    if let Some(org) = organization_id {
        query.push(" AND organization_id = ").push_bind(org);
    }
    if let Some(after) = after {
        query.push(" AND id > ").push_bind(after);
    }
    query.push(" ORDER BY id LIMIT ").push_bind(limit + 1);
    Ok(page(query.build_query_as().fetch_all(pool).await?, limit))
}

/// This month's usage (UTC) from the inline limit counters: exact, includes
/// requests that have not reached the analytics projections yet.
#[derive(Debug, Clone, Copy, Default)]
pub struct MonthUsage {
    pub month: chrono::NaiveDate,
    pub requests: i64,
    pub tokens: i64,
    pub cost_nanos: i64,
}

/// `scope` is `organization` or `api_key`; owners without usage get zeros.
pub async fn usage_this_month(
    pool: &PgPool,
    scope: &str,
    ids: &[Uuid],
) -> Result<std::collections::HashMap<Uuid, MonthUsage>, AdminError> {
    let month = gaiarouter_domain::request::month_of(Utc::now());
    let rows: Vec<(Uuid, i64, i64, i64)> = sqlx::query_as(
        "SELECT owner_id, requests, tokens, cost_nanos FROM usage_counters \
         WHERE scope = $1 AND month = $2 AND owner_id = ANY($3)",
    )
    .bind(scope)
    .bind(month)
    .bind(ids)
    .fetch_all(pool)
    .await?;
    let mut usage: std::collections::HashMap<Uuid, MonthUsage> =
        ids.iter().map(|id| (*id, MonthUsage { month, ..MonthUsage::default() })).collect();
    for (owner, requests, tokens, cost_nanos) in rows {
        usage.insert(owner, MonthUsage { month, requests, tokens, cost_nanos });
    }
    Ok(usage)
}
