//! Budget alerts: a checkpointed projector over `RequestCompleted` that keeps
//! each organization's and key's usage per budget window (day, week, month,
//! total) and, when a batch takes a budget past one of its alert thresholds,
//! appends a `BudgetThresholdReached` event in the same transaction that
//! advances its checkpoint. So an alert is never lost (the checkpoint does not
//! move without it) and never doubled (its aggregate id is the budget window,
//! threshold and limit, and each such aggregate has one event: a replay or a
//! rebuild writes nothing new).
//!
//! Limits are read from the admin views when the batch is applied (the projector
//! runs moments behind the requests). Windows that have already ended raise no
//! alert: a rebuild does not announce old crossings again under new limits.

use std::collections::{BTreeMap, HashMap};
use std::sync::LazyLock;

use chrono::{DateTime, Utc};
use gaiarouter_domain::budget_alert::{self, BudgetAlertEvent, BudgetThresholdReached};
use gaiarouter_domain::limits::{Metric, Period, BUDGET_PERIODS};
use gaiarouter_domain::request::AGGREGATE_TYPE;
use gaiarouter_domain::Limits;
use sqlx::PgConnection;
use uuid::Uuid;

use crate::admin_views::limits_from_json;
use crate::event_log::{EventLogError, StoredEvent};
use crate::{request_events, saturating, Projector};

/// (scope, owner, period, window start)
type Window = (&'static str, Uuid, Period, DateTime<Utc>);

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Counts {
    requests: i64,
    tokens: i64,
    cost: i64,
}

impl Counts {
    fn of(&self, metric: Metric) -> i64 {
        match metric {
            Metric::Requests => self.requests,
            Metric::Tokens => self.tokens,
            Metric::Cost => self.cost,
        }
    }
}

pub struct BudgetAlerts;

#[async_trait::async_trait]
impl Projector for BudgetAlerts {
    fn name(&self) -> &'static str {
        "budget_alerts"
    }

    fn tables(&self) -> &'static [&'static str] {
        &["budget_alert_usage"]
    }

    fn aggregate_types(&self) -> &'static [&'static str] {
        &[AGGREGATE_TYPE]
    }

    async fn apply(&self, tx: &mut PgConnection, events: &[StoredEvent]) -> Result<(), EventLogError> {
        let requests = request_events(events)?;
        if requests.is_empty() {
            return Ok(());
        }
        let mut deltas: BTreeMap<Window, Counts> = BTreeMap::new();
        let mut organization_of: HashMap<Uuid, Uuid> = HashMap::new();
        for request in &requests {
            organization_of.insert(request.api_key_id, request.organization_id);
            organization_of.insert(request.organization_id, request.organization_id);
            let tokens = i64::try_from(request.total_tokens()).unwrap_or(i64::MAX);
            for period in BUDGET_PERIODS {
                let start = period.window_start(request.started_at);
                for owner in [("organization", request.organization_id), ("api_key", request.api_key_id)] {
                    let counts = deltas.entry((owner.0, owner.1, period, start)).or_default();
                    counts.requests += 1;
                    counts.tokens = counts.tokens.saturating_add(tokens);
                    counts.cost = counts.cost.saturating_add(request.cost.nanos());
                }
            }
        }
        let after = add_usage(tx, &deltas).await?;
        let limits = limits_of(tx, &deltas).await?;
        let now = Utc::now();
        let mut alerts = Vec::new();
        for (window, delta) in &deltas {
            let (scope, owner, period, start) = *window;
            let Some(limits) = limits.get(&(scope, owner)) else { continue };
            if period.window_end(start).is_some_and(|end| end <= now) {
                continue;
            }
            let Some(after) = after.get(window) else { continue };
            for budget in limits.budgets().filter(|b| b.period == period) {
                let (used, added) = (after.of(budget.metric), delta.of(budget.metric));
                for percent in budget_alert::crossed(&budget, limits.alert_thresholds(), used - added, used) {
                    let organization_id = organization_of.get(&owner).copied().unwrap_or(owner);
                    alerts.push(BudgetThresholdReached {
                        scope: scope.to_string(),
                        organization_id,
                        api_key_id: (scope == "api_key").then_some(owner),
                        period,
                        period_start: start.date_naive(),
                        metric: budget.metric,
                        limit: budget.limit,
                        used,
                        threshold_percent: percent,
                        reached_at: now,
                    });
                }
            }
        }
        append_alerts(tx, alerts).await
    }
}

type UsageRow = (String, Uuid, String, DateTime<Utc>, i64, i64, i64);

/// Adds the batch's usage; answers each window's usage after it.
async fn add_usage(
    tx: &mut PgConnection,
    deltas: &BTreeMap<Window, Counts>,
) -> Result<HashMap<Window, Counts>, EventLogError> {
    let (mut scopes, mut owners, mut periods, mut starts) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let (mut requests, mut tokens, mut costs) = (Vec::new(), Vec::new(), Vec::new());
    for ((scope, owner, period, start), counts) in deltas {
        scopes.push(*scope);
        owners.push(*owner);
        periods.push(period.as_str());
        starts.push(*start);
        requests.push(counts.requests);
        tokens.push(counts.tokens);
        costs.push(counts.cost);
    }
    static ADD_USAGE: LazyLock<String> = LazyLock::new(|| {
        format!(
            "INSERT INTO budget_alert_usage AS u (scope, owner_id, period, start, requests, tokens, cost_nanos) \
             SELECT * FROM UNNEST($1::text[], $2::uuid[], $3::text[], $4::timestamptz[], $5::bigint[], \
                                  $6::bigint[], $7::bigint[]) \
             ON CONFLICT (scope, owner_id, period, start) DO UPDATE SET {} \
             RETURNING scope, owner_id, period, start, requests, tokens, cost_nanos",
            saturating::add_all_excluded("u", &["requests", "tokens", "cost_nanos"])
        )
    });
    let rows: Vec<UsageRow> = sqlx::query_as(ADD_USAGE.as_str())
        .bind(&scopes)
        .bind(&owners)
        .bind(&periods)
        .bind(&starts)
        .bind(&requests)
        .bind(&tokens)
        .bind(&costs)
        .fetch_all(&mut *tx)
        .await?;
    let mut after = HashMap::new();
    for (scope, owner, period, start, requests, tokens, cost) in rows {
        let scope = if scope == "organization" { "organization" } else { "api_key" };
        let Some(period) = BUDGET_PERIODS.into_iter().find(|p| p.as_str() == period) else { continue };
        after.insert((scope, owner, period, start), Counts { requests, tokens, cost });
    }
    Ok(after)
}

/// The current limits of the batch's organizations and keys that have budgets.
async fn limits_of(
    tx: &mut PgConnection,
    deltas: &BTreeMap<Window, Counts>,
) -> Result<HashMap<(&'static str, Uuid), Limits>, EventLogError> {
    let mut wanted: HashMap<&'static str, Vec<Uuid>> = HashMap::new();
    for (scope, owner, _, _) in deltas.keys() {
        let ids = wanted.entry(scope).or_default();
        if ids.last() != Some(owner) {
            ids.push(*owner);
        }
    }
    let mut limits = HashMap::new();
    for (scope, table) in [("organization", "organization_view"), ("api_key", "api_key_view")] {
        let Some(ids) = wanted.get(scope) else { continue };
        let rows: Vec<(Uuid, serde_json::Value)> =
            sqlx::query_as(&format!("SELECT id, limits FROM {table} WHERE id = ANY($1)"))
                .bind(ids)
                .fetch_all(&mut *tx)
                .await?;
        for (id, value) in rows {
            let owner_limits = limits_from_json(value);
            if owner_limits.budgets().next().is_some() {
                limits.insert((scope, id), owner_limits);
            }
        }
    }
    Ok(limits)
}

async fn append_alerts(tx: &mut PgConnection, alerts: Vec<BudgetThresholdReached>) -> Result<(), EventLogError> {
    if alerts.is_empty() {
        return Ok(());
    }
    let ids: Vec<String> = alerts.iter().map(BudgetThresholdReached::aggregate_id).collect();
    let metadata: Vec<serde_json::Value> = alerts
        .iter()
        .map(|a| serde_json::json!({"actor_type": "system", "actor_id": "budget_alerts", "organization_id": a.organization_id}))
        .collect();
    let payloads: Vec<serde_json::Value> = alerts
        .into_iter()
        .map(|alert| serde_json::to_value(BudgetAlertEvent::BudgetThresholdReached(alert)).unwrap_or_default())
        .collect();
    sqlx::query(
        "INSERT INTO events (aggregate_type, aggregate_id, sequence, event_type, event_version, payload, metadata) \
         SELECT $1, id, 1, $2, $3, payload, meta FROM UNNEST($4::text[], $5::jsonb[], $6::jsonb[]) AS a(id, payload, meta) \
         ON CONFLICT DO NOTHING",
    )
    .bind(budget_alert::AGGREGATE_TYPE)
    .bind(budget_alert::EVENT_TYPE)
    .bind(budget_alert::EVENT_VERSION)
    .bind(&ids)
    .bind(&payloads)
    .bind(&metadata)
    .execute(&mut *tx)
    .await?;
    Ok(())
}
