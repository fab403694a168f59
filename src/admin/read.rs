//! Queries on the admin views.

use chrono::{DateTime, Utc};
use sqlx::{FromRow, PgPool, Postgres, QueryBuilder};
use uuid::Uuid;

use gaiarouter_domain::limits::{Period, BUDGET_PERIODS};

use super::AdminError;

#[derive(Debug, Clone, FromRow)]
pub struct OrganizationRow {
    pub id: Uuid,
    pub version: i64,
    pub name: String,
    pub status: String,
    pub limits: serde_json::Value,
    pub log_bodies: bool,
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
    pub limits: serde_json::Value,
    pub public_id: String,
    pub expires_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

pub use gaiarouter_projections::admin_views::limits_from_json;

const ORG_COLUMNS: &str = "id, version, name, status, limits, log_bodies, created_at, updated_at";
const KEY_COLUMNS: &str = "id, version, organization_id, name, permission, limits, public_id, expires_at, revoked_at, \
     created_at, updated_at";

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

/// Usage in the current day, week, month and total (UTC) from the inline usage
/// counters: exact, includes requests that have not reached the analytics
/// projections yet.
#[derive(Debug, Clone, Default)]
pub struct CurrentUsage {
    pub at: DateTime<Utc>,
    pub by_period: std::collections::BTreeMap<Period, Counts>,
    /// When the owner's last request that was not refused started (from the request log).
    pub last_used_at: Option<DateTime<Utc>>,
    /// This month's refusals by reason, the latest first (from the request log).
    pub refusals: Vec<RefusalSummary>,
}

/// Refusals of one reason in the current month.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefusalSummary {
    pub reason: String,
    pub http_status: i32,
    pub first_at: DateTime<Utc>,
    pub last_at: DateTime<Utc>,
    pub count: i64,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    pub requests: i64,
    pub tokens: i64,
    pub cost_nanos: i64,
}

impl CurrentUsage {
    pub fn of(&self, period: Period) -> Counts {
        self.by_period.get(&period).copied().unwrap_or_default()
    }
}

/// `scope` is `organization` or `api_key`; owners without usage get zeros.
pub async fn current_usage(
    pool: &PgPool,
    scope: &str,
    ids: &[Uuid],
) -> Result<std::collections::HashMap<Uuid, CurrentUsage>, AdminError> {
    let now = Utc::now();
    let periods: Vec<&str> = BUDGET_PERIODS.iter().map(|p| p.as_str()).collect();
    let starts: Vec<DateTime<Utc>> = BUDGET_PERIODS.iter().map(|p| p.window_start(now)).collect();
    let rows: Vec<(Uuid, String, i64, i64, i64)> = sqlx::query_as(
        "SELECT c.owner_id, c.period, c.requests, c.tokens, c.cost_nanos \
           FROM quota_usage c JOIN UNNEST($3::text[], $4::timestamptz[]) AS w(period, start) \
             ON c.period = w.period AND c.start = w.start \
          WHERE c.scope = $1 AND c.owner_id = ANY($2) AND c.model = ''",
    )
    .bind(scope)
    .bind(ids)
    .bind(&periods)
    .bind(&starts)
    .fetch_all(pool)
    .await?;
    let mut usage: std::collections::HashMap<Uuid, CurrentUsage> =
        ids.iter().map(|id| (*id, CurrentUsage { at: now, ..CurrentUsage::default() })).collect();
    for (owner, period, requests, tokens, cost_nanos) in rows {
        let Some(period) = BUDGET_PERIODS.into_iter().find(|p| p.as_str() == period) else { continue };
        if let Some(entry) = usage.get_mut(&owner) {
            entry.by_period.insert(period, Counts { requests, tokens, cost_nanos });
        }
    }
    // A fixed whitelist, never input.
    let column = if scope == "organization" { "organization_id" } else { "api_key_id" };
    let last_used: Vec<(Uuid, Option<DateTime<Utc>>)> = sqlx::query_as(&format!(
        "SELECT o.id, (SELECT l.started_at FROM request_log l WHERE l.{column} = o.id AND l.status <> 'refused' \
                         ORDER BY l.id DESC LIMIT 1) \
           FROM UNNEST($1::uuid[]) AS o(id)"
    ))
    .bind(ids)
    .fetch_all(pool)
    .await?;
    for (owner, at) in last_used {
        if let Some(entry) = usage.get_mut(&owner) {
            entry.last_used_at = at;
        }
    }
    type RefusalRow = (Uuid, String, i32, DateTime<Utc>, DateTime<Utc>, i64);
    let refusals: Vec<RefusalRow> = sqlx::query_as(&format!(
        "SELECT {column}, coalesce(error_kind, ''), http_status, min(started_at), max(finished_at), \
                sum(refused_count)::bigint \
           FROM request_log WHERE status = 'refused' AND {column} = ANY($1) AND started_at >= $2 \
          GROUP BY 1, 2, 3 ORDER BY 5 DESC"
    ))
    .bind(ids)
    .bind(Period::Month.window_start(now))
    .fetch_all(pool)
    .await?;
    for (owner, reason, http_status, first_at, last_at, count) in refusals {
        if let Some(entry) = usage.get_mut(&owner) {
            entry.refusals.push(RefusalSummary { reason, http_status, first_at, last_at, count });
        }
    }
    Ok(usage)
}
