//! The lease functions in PostgreSQL (see migrations/20261130000900_quota_leases.sql).

use sqlx::PgPool;

use super::plan::{QuotaKey, QuotaSpec};

/// What one quota's lease was granted, and what was left of it after.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Grant {
    pub requests: i64,
    pub tokens: i64,
    pub cost: i64,
    pub left_requests: Option<i64>,
    pub left_tokens: Option<i64>,
}

/// Amounts taken from or given back to a lease.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Amounts {
    pub requests: i64,
    pub tokens: i64,
    pub cost: i64,
}

impl std::ops::AddAssign for Amounts {
    fn add_assign(&mut self, other: Amounts) {
        self.requests += other.requests;
        self.tokens += other.tokens;
        self.cost += other.cost;
    }
}

impl std::ops::SubAssign for Amounts {
    fn sub_assign(&mut self, other: Amounts) {
        self.requests -= other.requests;
        self.tokens -= other.tokens;
        self.cost -= other.cost;
    }
}

impl std::ops::Sub for Amounts {
    type Output = Amounts;

    fn sub(mut self, other: Amounts) -> Amounts {
        self -= other;
        self
    }
}

pub enum Taken {
    /// One grant per quota asked for, in order.
    Granted(Vec<Grant>),
    /// The quota at this index is exhausted on this metric; nothing was granted.
    Refused { index: usize, metric: gaiarouter_domain::limits::Metric },
}

struct KeyColumns {
    scopes: Vec<&'static str>,
    owners: Vec<uuid::Uuid>,
    periods: Vec<&'static str>,
    starts: Vec<chrono::DateTime<chrono::Utc>>,
    models: Vec<String>,
}

fn columns<'a>(keys: impl Iterator<Item = &'a QuotaKey>) -> KeyColumns {
    let mut c = KeyColumns { scopes: vec![], owners: vec![], periods: vec![], starts: vec![], models: vec![] };
    for key in keys {
        c.scopes.push(key.holder.as_str());
        c.owners.push(key.owner);
        c.periods.push(key.window.as_str());
        c.starts.push(key.start);
        c.models.push(key.model.to_string());
    }
    c
}

/// Largest limit `take_leases` is given. It adds a window's usage (which
/// `quota_usage` answers at most 2^62 - 1) to its reservations (never more than the
/// limit): with limits up to this, that sum stays inside bigint. A larger limit is
/// this one for admission, which no window reaches.
const LARGEST_LIMIT: i64 = (1 << 62) - 1;

fn in_database(limit: i64) -> i64 {
    limit.min(LARGEST_LIMIT)
}

/// Takes leases on `quotas` (in key order), all or none; `wants` says how much
/// of each the caller would like (the database gives less near a limit).
pub async fn take(pool: &PgPool, process: i32, quotas: &[&QuotaSpec], wants: &[Amounts]) -> Result<Taken, sqlx::Error> {
    let keys = columns(quotas.iter().map(|q| &q.key));
    let names: Vec<String> = (0..quotas.len()).map(|i| i.to_string()).collect();
    type Row = (Option<String>, i64, i64, i64, Option<i64>, Option<i64>, Option<i64>);
    let rows: Vec<Row> =
        sqlx::query_as("SELECT * FROM take_leases($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)")
            .bind(process)
            .bind(&keys.scopes)
            .bind(&keys.owners)
            .bind(&keys.periods)
            .bind(&keys.starts)
            .bind(&keys.models)
            .bind(quotas.iter().map(|q| q.requests.map(in_database)).collect::<Vec<_>>())
            .bind(quotas.iter().map(|q| q.tokens.map(in_database)).collect::<Vec<_>>())
            .bind(quotas.iter().map(|q| q.cost.map(in_database)).collect::<Vec<_>>())
            .bind(wants.iter().map(|w| w.requests).collect::<Vec<_>>())
            .bind(wants.iter().map(|w| w.tokens).collect::<Vec<_>>())
            .bind(wants.iter().map(|w| w.cost).collect::<Vec<_>>())
            .bind(&names)
            .fetch_all(pool)
            .await?;
    if let Some((Some(refused), ..)) = rows.first() {
        return refusal(refused);
    }
    if rows.len() != quotas.len() {
        return Err(sqlx::Error::Protocol(format!("take_leases answered {} rows for {}", rows.len(), quotas.len())));
    }
    Ok(Taken::Granted(
        rows.into_iter()
            .map(|(_, requests, tokens, cost, left_requests, left_tokens, _)| Grant {
                requests,
                tokens,
                cost,
                left_requests,
                left_tokens,
            })
            .collect(),
    ))
}

/// `"<index>:<metric>"`, as `take_leases` names an exhausted quota.
fn refusal(refused: &str) -> Result<Taken, sqlx::Error> {
    use gaiarouter_domain::limits::Metric;
    let bad = || sqlx::Error::Protocol(format!("take_leases refused with an unknown name {refused}"));
    let (index, metric) = refused.split_once(':').ok_or_else(bad)?;
    let index = index.parse().map_err(|_| bad())?;
    let metric = match metric {
        "requests" => Metric::Requests,
        "tokens" => Metric::Tokens,
        "cost" => Metric::Cost,
        _ => return Err(bad()),
    };
    Ok(Taken::Refused { index, metric })
}

/// Gives back unspent parts of this process's leases.
pub async fn give_back(pool: &PgPool, process: i32, returns: &[(QuotaKey, Amounts)]) -> Result<(), sqlx::Error> {
    if returns.is_empty() {
        return Ok(());
    }
    let keys = columns(returns.iter().map(|(k, _)| k));
    sqlx::query("SELECT return_leases($1, $2, $3, $4, $5, $6, $7, $8, $9)")
        .bind(process)
        .bind(&keys.scopes)
        .bind(&keys.owners)
        .bind(&keys.periods)
        .bind(&keys.starts)
        .bind(&keys.models)
        .bind(returns.iter().map(|(_, a)| a.requests).collect::<Vec<_>>())
        .bind(returns.iter().map(|(_, a)| a.tokens).collect::<Vec<_>>())
        .bind(returns.iter().map(|(_, a)| a.cost).collect::<Vec<_>>())
        .execute(pool)
        .await?;
    Ok(())
}

/// Gives back the leases of processes that died; answers how many.
pub async fn release_orphaned(pool: &PgPool) -> Result<i32, sqlx::Error> {
    sqlx::query_scalar("SELECT release_orphaned_leases()").fetch_one(pool).await
}
