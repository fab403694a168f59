//! Admission: checks org and key monthly limits against used + reserved, and
//! reserves, atomically in PostgreSQL (one round trip; exact across processes).

use chrono::NaiveDate;
use gaiarouter_domain::Limits;
use sqlx::PgPool;
use uuid::Uuid;

/// What an admitted request holds until it is recorded or released.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Reservation {
    pub month: NaiveDate,
    pub tokens: i64,
    pub cost_nanos: i64,
}

/// The request to admit: who, and what it is estimated to use.
pub struct AdmissionRequest {
    pub request_id: Uuid,
    pub month: NaiveDate,
    pub organization_id: Uuid,
    pub api_key_id: Uuid,
    pub organization_limits: Limits,
    pub key_limits: Limits,
    pub estimated_tokens: i64,
    pub estimated_cost_nanos: i64,
    /// The admitting process's lock id (see `process_lock`).
    pub owner: i32,
}

fn as_i64(value: Option<u64>) -> Option<i64> {
    value.map(|v| i64::try_from(v).unwrap_or(i64::MAX))
}

/// Why a request was not admitted.
#[derive(Debug, thiserror::Error)]
pub enum AdmissionError {
    /// `limit` names it: `organization_monthly_requests`, `api_key_monthly_cost`, ...
    #[error("the {} monthly {} limit has been reached", owner_name(limit), what_name(limit))]
    /// `code` is the limit's stable name in answers (`api_key_monthly_requests_limit`).
    LimitReached { limit: &'static str, code: &'static str },
    #[error("admission failed: {0}")]
    Database(#[from] sqlx::Error),
}

/// Every limit admission can refuse by, with its stable code.
const LIMITS: [(&str, &str); 6] = [
    ("organization_monthly_requests", "organization_monthly_requests_limit"),
    ("organization_monthly_tokens", "organization_monthly_tokens_limit"),
    ("organization_monthly_cost", "organization_monthly_cost_limit"),
    ("api_key_monthly_requests", "api_key_monthly_requests_limit"),
    ("api_key_monthly_tokens", "api_key_monthly_tokens_limit"),
    ("api_key_monthly_cost", "api_key_monthly_cost_limit"),
];

fn owner_name(limit: &str) -> &'static str {
    if limit.starts_with("organization") {
        "organization's"
    } else {
        "API key's"
    }
}

fn what_name(limit: &str) -> &str {
    limit.rsplit('_').next().unwrap_or(limit)
}

/// Admits (reserving) or refuses with a 429 naming the limit. Unlimited keys of
/// unlimited organizations need no database round trip at all: `Ok(None)`.
pub async fn admit(pool: &PgPool, request: &AdmissionRequest) -> Result<Option<Reservation>, AdmissionError> {
    if request.organization_limits.is_unlimited() && request.key_limits.is_unlimited() {
        return Ok(None);
    }
    let refused: Option<String> =
        sqlx::query_scalar("SELECT admit_request($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)")
            .bind(request.request_id)
            .bind(request.month)
            .bind(request.organization_id)
            .bind(request.api_key_id)
            .bind(as_i64(request.organization_limits.monthly_requests))
            .bind(as_i64(request.organization_limits.monthly_tokens))
            .bind(request.organization_limits.monthly_cost.map(|m| m.nanos()))
            .bind(as_i64(request.key_limits.monthly_requests))
            .bind(as_i64(request.key_limits.monthly_tokens))
            .bind(request.key_limits.monthly_cost.map(|m| m.nanos()))
            .bind(request.estimated_tokens)
            .bind(request.estimated_cost_nanos)
            .bind(request.owner)
            .fetch_one(pool)
            .await?;
    match refused {
        // Codes are a fixed set; anything else from the database is a bug, not a limit.
        Some(refused) => match LIMITS.iter().find(|(limit, _)| *limit == refused) {
            Some((limit, code)) => Err(AdmissionError::LimitReached { limit, code }),
            None => Err(AdmissionError::Database(sqlx::Error::Protocol(format!("unknown limit code {refused}")))),
        },
        None => Ok(Some(Reservation {
            month: request.month,
            tokens: request.estimated_tokens,
            cost_nanos: request.estimated_cost_nanos,
        })),
    }
}

/// Gives back the reservations of requests that will not be recorded.
pub async fn release(pool: &PgPool, request_ids: &[Uuid]) -> Result<(), sqlx::Error> {
    sqlx::query("SELECT release_reservations($1)").bind(request_ids).execute(pool).await?;
    Ok(())
}

/// Releases reservations older than any request can live (their process died).
pub async fn release_stale(pool: &PgPool, older_than_seconds: i64) -> Result<(), sqlx::Error> {
    let stale: Vec<Uuid> = sqlx::query_scalar(
        "SELECT request_id FROM usage_reservations WHERE created_at < now() - make_interval(secs => $1)",
    )
    .bind(older_than_seconds as f64)
    .fetch_all(pool)
    .await?;
    if !stale.is_empty() {
        tracing::warn!(count = stale.len(), "releasing stale usage reservations");
        release(pool, &stale).await?;
    }
    Ok(())
}

/// Releases the reservations of processes that died (their lock is gone).
pub async fn release_orphaned(pool: &PgPool) -> Result<(), sqlx::Error> {
    let released: i32 = sqlx::query_scalar("SELECT release_orphaned_reservations()").fetch_one(pool).await?;
    if released > 0 {
        tracing::warn!(released, "released the reservations of gateway processes that stopped");
    }
    Ok(())
}
