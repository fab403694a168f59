//! Monthly usage per organization and per key, as a rebuildable projection. The
//! inline limit counters (the `record_requests` SQL function) apply the same
//! arithmetic; the property tests check that the two always agree (below the
//! ceilings no real usage reaches, where each stops: a row at bigint's maximum,
//! a window as admission reads it at 2^62 - 1).

use std::collections::BTreeMap;
use std::sync::LazyLock;

use chrono::NaiveDate;
use gaiarouter_domain::request::{RequestCompleted, AGGREGATE_TYPE};
use sqlx::PgConnection;
use uuid::Uuid;

use crate::event_log::{EventLogError, StoredEvent};
use crate::{request_events, saturating, Projector};

/// Organizations sort before keys: the lock order every counter writer uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Scope {
    Organization,
    ApiKey,
}

impl Scope {
    pub fn as_str(self) -> &'static str {
        match self {
            Scope::Organization => "organization",
            Scope::ApiKey => "api_key",
        }
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Usage {
    pub requests: i64,
    pub tokens: i64,
    pub cost_nanos: i64,
}

/// What requests add to the monthly counters: every request counts (failures too,
/// with the tokens they used), in the month it started, for its org and its key.
pub fn deltas<'a>(
    requests: impl IntoIterator<Item = &'a RequestCompleted>,
) -> BTreeMap<(Scope, Uuid, NaiveDate), Usage> {
    let mut out: BTreeMap<(Scope, Uuid, NaiveDate), Usage> = BTreeMap::new();
    for request in requests {
        for owner in [(Scope::Organization, request.organization_id), (Scope::ApiKey, request.api_key_id)] {
            let usage = out.entry((owner.0, owner.1, request.month())).or_default();
            usage.requests += 1;
            usage.tokens = usage.tokens.saturating_add(i64::try_from(request.total_tokens()).unwrap_or(i64::MAX));
            usage.cost_nanos = usage.cost_nanos.saturating_add(request.cost.nanos());
        }
    }
    out
}

pub struct MonthlyUsage;

#[async_trait::async_trait]
impl Projector for MonthlyUsage {
    fn name(&self) -> &'static str {
        "monthly_usage"
    }

    fn tables(&self) -> &'static [&'static str] {
        &["usage_monthly"]
    }

    fn aggregate_types(&self) -> &'static [&'static str] {
        &[AGGREGATE_TYPE]
    }

    async fn apply(&self, tx: &mut PgConnection, events: &[StoredEvent]) -> Result<(), EventLogError> {
        let requests = request_events(events)?;
        let deltas = deltas(&requests);
        if deltas.is_empty() {
            return Ok(());
        }
        let (mut scopes, mut owners, mut months, mut reqs, mut tokens, mut costs) =
            (Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new());
        for ((scope, owner, month), usage) in deltas {
            scopes.push(scope.as_str());
            owners.push(owner);
            months.push(month);
            reqs.push(usage.requests);
            tokens.push(usage.tokens);
            costs.push(usage.cost_nanos);
        }
        static ADD_USAGE: LazyLock<String> = LazyLock::new(|| {
            format!(
                "INSERT INTO usage_monthly AS m (scope, owner_id, month, requests, tokens, cost_nanos) \
                 SELECT * FROM UNNEST($1::text[], $2::uuid[], $3::date[], $4::bigint[], $5::bigint[], $6::bigint[]) \
                 ON CONFLICT (scope, owner_id, month) DO UPDATE SET {}",
                saturating::add_all_excluded("m", &["requests", "tokens", "cost_nanos"])
            )
        });
        sqlx::query(ADD_USAGE.as_str())
            .bind(&scopes)
            .bind(&owners)
            .bind(&months)
            .bind(&reqs)
            .bind(&tokens)
            .bind(&costs)
            .execute(&mut *tx)
            .await?;
        Ok(())
    }
}
