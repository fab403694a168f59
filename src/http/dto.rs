//! JSON shapes shared by the management routes.

use std::collections::BTreeMap;

use gaiarouter_domain::limits::RateLimits;
use gaiarouter_domain::{Limits, Money};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::error::ApiError;

/// Limits as clients see them; `null` = unlimited. Costs in USD. Budgets count
/// in UTC calendar periods (ISO weeks start on Monday; `total` never resets);
/// rates count per UTC minute; `concurrent_requests` caps requests in flight.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LimitsDto {
    #[schema(minimum = 0)]
    pub monthly_requests: Option<u64>,
    #[schema(minimum = 0)]
    pub monthly_tokens: Option<u64>,
    /// USD, up to 9 decimal places; stored exactly as integer nano-USD.
    #[schema(value_type = Option<f64>, minimum = 0)]
    pub monthly_cost_usd: Option<serde_json::Number>,
    #[schema(minimum = 0)]
    pub daily_requests: Option<u64>,
    #[schema(minimum = 0)]
    pub daily_tokens: Option<u64>,
    #[schema(value_type = Option<f64>, minimum = 0)]
    pub daily_cost_usd: Option<serde_json::Number>,
    #[schema(minimum = 0)]
    pub weekly_requests: Option<u64>,
    #[schema(minimum = 0)]
    pub weekly_tokens: Option<u64>,
    #[schema(value_type = Option<f64>, minimum = 0)]
    pub weekly_cost_usd: Option<serde_json::Number>,
    #[schema(minimum = 0)]
    pub total_requests: Option<u64>,
    #[schema(minimum = 0)]
    pub total_tokens: Option<u64>,
    #[schema(value_type = Option<f64>, minimum = 0)]
    pub total_cost_usd: Option<serde_json::Number>,
    #[schema(minimum = 0)]
    pub requests_per_minute: Option<u64>,
    #[schema(minimum = 0)]
    pub tokens_per_minute: Option<u64>,
    #[schema(minimum = 0)]
    pub concurrent_requests: Option<u64>,
    /// Rates per model: the model id or route name a client sends.
    #[serde(default)]
    pub models: BTreeMap<String, RateLimitsDto>,
    /// Percentages of each budget at which a `BudgetThresholdReached` event is
    /// raised (rising, 1–100, at most 10). `null`: 50, 80 and 100.
    pub alert_thresholds_percent: Option<Vec<u32>>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RateLimitsDto {
    #[schema(minimum = 0)]
    pub requests_per_minute: Option<u64>,
    #[schema(minimum = 0)]
    pub tokens_per_minute: Option<u64>,
    #[schema(minimum = 0)]
    pub concurrent_requests: Option<u64>,
}

const COST_FIELDS: [&str; 4] = ["daily_cost_usd", "weekly_cost_usd", "monthly_cost_usd", "total_cost_usd"];

fn usd(cost: Option<Money>) -> Option<serde_json::Number> {
    cost.and_then(|m| serde_json::Number::from_f64(m.to_usd_f64()))
}

fn invalid_limits(message: impl Into<String>, param: &str) -> ApiError {
    ApiError::bad_request("invalid_limits", message).with_param(format!("limits.{param}"))
}

/// Parses a cost from its decimal text, so `0.1` is exactly 100,000,000 nano-USD.
fn nanos(cost: &Option<serde_json::Number>, param: &str) -> Result<Option<Money>, ApiError> {
    match cost {
        None => Ok(None),
        Some(number) => Money::from_usd_decimal(&number.to_string())
            .map(Some)
            .map_err(|e| invalid_limits(format!("{param}: {e}"), param)),
    }
}

fn count(value: Option<u64>, param: &str) -> Result<Option<u64>, ApiError> {
    match value {
        Some(v) if v > i64::MAX as u64 => Err(invalid_limits(format!("{param} is too large"), param)),
        other => Ok(other),
    }
}

impl RateLimitsDto {
    fn from_rates(rates: &RateLimits) -> Self {
        RateLimitsDto {
            requests_per_minute: rates.requests_per_minute,
            tokens_per_minute: rates.tokens_per_minute,
            concurrent_requests: rates.concurrent_requests,
        }
    }

    fn to_rates(&self, param: &str) -> Result<RateLimits, ApiError> {
        Ok(RateLimits {
            requests_per_minute: count(self.requests_per_minute, &format!("{param}.requests_per_minute"))?,
            tokens_per_minute: count(self.tokens_per_minute, &format!("{param}.tokens_per_minute"))?,
            concurrent_requests: count(self.concurrent_requests, &format!("{param}.concurrent_requests"))?,
        })
    }
}

impl LimitsDto {
    pub fn from_limits(limits: &Limits) -> Self {
        LimitsDto {
            monthly_requests: limits.monthly_requests,
            monthly_tokens: limits.monthly_tokens,
            monthly_cost_usd: usd(limits.monthly_cost),
            daily_requests: limits.daily_requests,
            daily_tokens: limits.daily_tokens,
            daily_cost_usd: usd(limits.daily_cost),
            weekly_requests: limits.weekly_requests,
            weekly_tokens: limits.weekly_tokens,
            weekly_cost_usd: usd(limits.weekly_cost),
            total_requests: limits.total_requests,
            total_tokens: limits.total_tokens,
            total_cost_usd: usd(limits.total_cost),
            requests_per_minute: limits.rates.requests_per_minute,
            tokens_per_minute: limits.rates.tokens_per_minute,
            concurrent_requests: limits.rates.concurrent_requests,
            models: limits.models.iter().map(|(m, r)| (m.clone(), RateLimitsDto::from_rates(r))).collect(),
            alert_thresholds_percent: limits.alert_thresholds_percent.clone(),
        }
    }

    pub fn to_limits(&self) -> Result<Limits, ApiError> {
        let rates = RateLimitsDto {
            requests_per_minute: self.requests_per_minute,
            tokens_per_minute: self.tokens_per_minute,
            concurrent_requests: self.concurrent_requests,
        };
        let mut models = BTreeMap::new();
        for (model, limits) in &self.models {
            models.insert(model.clone(), limits.to_rates(&format!("models.{model}"))?);
        }
        let limits = Limits {
            monthly_requests: count(self.monthly_requests, "monthly_requests")?,
            monthly_tokens: count(self.monthly_tokens, "monthly_tokens")?,
            monthly_cost: nanos(&self.monthly_cost_usd, "monthly_cost_usd")?,
            daily_requests: count(self.daily_requests, "daily_requests")?,
            daily_tokens: count(self.daily_tokens, "daily_tokens")?,
            daily_cost: nanos(&self.daily_cost_usd, "daily_cost_usd")?,
            weekly_requests: count(self.weekly_requests, "weekly_requests")?,
            weekly_tokens: count(self.weekly_tokens, "weekly_tokens")?,
            weekly_cost: nanos(&self.weekly_cost_usd, "weekly_cost_usd")?,
            total_requests: count(self.total_requests, "total_requests")?,
            total_tokens: count(self.total_tokens, "total_tokens")?,
            total_cost: nanos(&self.total_cost_usd, "total_cost_usd")?,
            rates: rates.to_rates("")?,
            models,
            alert_thresholds_percent: self.alert_thresholds_percent.clone(),
        };
        limits.validate().map_err(|e| ApiError::bad_request("invalid_limits", e.to_string()).with_param("limits"))?;
        Ok(limits)
    }

    /// Applies a JSON merge patch (RFC 7396) to `current`: a field present
    /// replaces that limit, `null` removes it (unlimited), an absent field is
    /// kept; in `models`, each model merges the same way (`null` removes its
    /// limits). `{"limits": {"daily_requests": 100}}` changes that one limit.
    pub fn merge_patch(current: &Limits, patch: &serde_json::Value) -> Result<Limits, ApiError> {
        if !patch.is_object() {
            return Err(ApiError::bad_request("invalid_limits", "limits must be an object (a JSON merge patch)")
                .with_param("limits"));
        }
        let mut merged = serde_json::to_value(LimitsDto::from_limits(current)).unwrap_or_default();
        // Costs the patch leaves alone are kept exactly, not through a float.
        let untouched_costs: Vec<&str> = COST_FIELDS.into_iter().filter(|f| patch.get(f).is_none()).collect();
        for field in &untouched_costs {
            if let Some(value) = merged.get_mut(field) {
                *value = serde_json::Value::Null;
            }
        }
        json_patch::merge(&mut merged, patch);
        let dto: LimitsDto = serde_json::from_value(merged)
            .map_err(|e| ApiError::bad_request("invalid_limits", format!("limits: {e}")).with_param("limits"))?;
        let mut limits = dto.to_limits()?;
        for field in untouched_costs {
            match field {
                "daily_cost_usd" => limits.daily_cost = current.daily_cost,
                "weekly_cost_usd" => limits.weekly_cost = current.weekly_cost,
                "monthly_cost_usd" => limits.monthly_cost = current.monthly_cost,
                _ => limits.total_cost = current.total_cost,
            }
        }
        Ok(limits)
    }
}

/// OpenAI-style list envelope.
#[derive(Debug, Serialize, ToSchema)]
pub struct ListResponse<T> {
    pub object: &'static str,
    pub data: Vec<T>,
    pub has_more: bool,
}

impl<T> ListResponse<T> {
    pub fn new(data: Vec<T>, has_more: bool) -> Self {
        ListResponse { object: "list", data, has_more }
    }
}

/// Every list route pages by the one rule: `?limit=` from 1 to [`PAGE_LIMIT_MAX`]
/// (default [`PAGE_LIMIT_DEFAULT`]) and `?after=` (the last id, or position, of the
/// previous page). [`page_limit`] enforces it and the OpenAPI document states it
/// on every `limit` parameter (see `openapi`), so the two cannot disagree.
pub const PAGE_LIMIT_DEFAULT: i64 = 20;
pub const PAGE_LIMIT_MAX: i64 = 100;

/// `?limit=` and `?after=<id>` (the last id of the previous page).
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PageParams {
    pub limit: Option<i64>,
    pub after: Option<Uuid>,
}

/// The page size a list answers: the pagination rule above.
pub fn page_limit(limit: Option<i64>) -> Result<i64, ApiError> {
    match limit {
        None => Ok(PAGE_LIMIT_DEFAULT),
        Some(n @ 1..=PAGE_LIMIT_MAX) => Ok(n),
        Some(_) => Err(ApiError::bad_request("invalid_limit", format!("limit must be between 1 and {PAGE_LIMIT_MAX}"))
            .with_param("limit")),
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Deleted {
    pub id: Uuid,
    pub object: &'static str,
    pub deleted: bool,
}

/// Deserializes a field that may be absent, `null` or a value into `Option<Option<T>>`.
pub fn double_option<'de, D, T>(deserializer: D) -> Result<Option<Option<T>>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(deserializer).map(Some)
}

/// Usage in the current UTC month, next to the limits it counts against, and
/// every budget with what is used of it.
#[derive(Debug, Serialize, ToSchema)]
pub struct UsageDto {
    /// `YYYY-MM`.
    pub month: String,
    pub requests: i64,
    pub tokens: i64,
    pub cost_usd: f64,
    /// Usage in the current day, ISO week, month and in total (UTC).
    pub periods: BTreeMap<&'static str, PeriodUsageDto>,
    /// Each budget that is set, with what is used of it now.
    pub budgets: Vec<BudgetDto>,
    /// When the last request that was not refused started.
    pub last_used_at: Option<chrono::DateTime<chrono::Utc>>,
    /// This month's refused requests by reason, the latest first.
    pub refusals: Vec<RefusalSummaryDto>,
}

/// Requests refused for one reason this month: "hit its monthly request limit at
/// 14:02 (`first_at`), 37 refused since".
#[derive(Debug, Serialize, ToSchema)]
pub struct RefusalSummaryDto {
    /// The code the requests were answered with.
    pub reason: String,
    pub http_status: i32,
    pub first_at: chrono::DateTime<chrono::Utc>,
    pub last_at: chrono::DateTime<chrono::Utc>,
    pub count: i64,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct PeriodUsageDto {
    /// When this period started (UTC); the Unix epoch for `total`.
    pub start: chrono::DateTime<chrono::Utc>,
    pub requests: i64,
    pub tokens: i64,
    pub cost_usd: f64,
}

/// A budget and what is used of it. Requests and tokens are counts, cost in USD.
#[derive(Debug, Serialize, ToSchema)]
pub struct BudgetDto {
    /// The limit's name in `limits` (`daily_requests`, `monthly_cost_usd`).
    pub name: String,
    /// `day`, `week`, `month` or `total`.
    pub period: &'static str,
    /// `requests`, `tokens` or `cost_usd`.
    pub metric: &'static str,
    pub limit: f64,
    pub used: f64,
    pub remaining: f64,
    /// Used as a percentage of the limit (may pass 100: token and cost limits
    /// admit a request while any is left).
    pub percent_used: f64,
    /// When the period ends and the budget starts again; `null` for `total`.
    pub resets_at: Option<chrono::DateTime<chrono::Utc>>,
}

impl UsageDto {
    pub fn new(usage: &crate::admin::read::CurrentUsage, limits: &Limits) -> Self {
        use gaiarouter_domain::limits::{Metric, Period, BUDGET_PERIODS};
        let month = usage.of(Period::Month);
        let periods = BUDGET_PERIODS
            .into_iter()
            .map(|period| {
                let counts = usage.of(period);
                let dto = PeriodUsageDto {
                    start: period.window_start(usage.at),
                    requests: counts.requests,
                    tokens: counts.tokens,
                    cost_usd: Money::from_nanos(counts.cost_nanos).to_usd_f64(),
                };
                (period.as_str(), dto)
            })
            .collect();
        let budgets = limits
            .budgets()
            .map(|budget| {
                let counts = usage.of(budget.period);
                let (used, metric, as_number): (i64, &'static str, fn(i64) -> f64) = match budget.metric {
                    Metric::Requests => (counts.requests, "requests", |v| v as f64),
                    Metric::Tokens => (counts.tokens, "tokens", |v| v as f64),
                    Metric::Cost => (counts.cost_nanos, "cost_usd", |v| Money::from_nanos(v).to_usd_f64()),
                };
                let percent = if budget.limit > 0 { used as f64 * 100.0 / budget.limit as f64 } else { 100.0 };
                let name = match budget.metric {
                    Metric::Cost => format!("{}_usd", budget.name()),
                    _ => budget.name().to_string(),
                };
                BudgetDto {
                    name,
                    period: budget.period.as_str(),
                    metric,
                    limit: as_number(budget.limit),
                    used: as_number(used),
                    remaining: as_number((budget.limit - used).max(0)),
                    percent_used: (percent * 10.0).round() / 10.0,
                    resets_at: budget.period.window_end(usage.at),
                }
            })
            .collect();
        UsageDto {
            month: period_month(usage.at),
            requests: month.requests,
            tokens: month.tokens,
            cost_usd: Money::from_nanos(month.cost_nanos).to_usd_f64(),
            periods,
            budgets,
            last_used_at: usage.last_used_at,
            refusals: usage
                .refusals
                .iter()
                .map(|r| RefusalSummaryDto {
                    reason: r.reason.clone(),
                    http_status: r.http_status,
                    first_at: r.first_at,
                    last_at: r.last_at,
                    count: r.count,
                })
                .collect(),
        }
    }
}

fn period_month(at: chrono::DateTime<chrono::Utc>) -> String {
    at.format("%Y-%m").to_string()
}

/// A resource answered with its current usage attached.
pub trait WithUsage {
    fn usage_owner(&self) -> Uuid;
    /// The limits its budgets are weighed against.
    fn limits(&self) -> Result<Limits, ApiError>;
    fn set_usage(&mut self, usage: UsageDto);
}

/// Attaches the current usage (`scope`: `organization` or `api_key`) in one query.
pub async fn attach_usage<T: WithUsage>(
    pool: &sqlx::PgPool,
    scope: &str,
    mut items: Vec<T>,
) -> Result<Vec<T>, ApiError> {
    let ids: Vec<Uuid> = items.iter().map(WithUsage::usage_owner).collect();
    let usage = crate::admin::read::current_usage(pool, scope, &ids).await?;
    for item in &mut items {
        if let Some(found) = usage.get(&item.usage_owner()) {
            let limits = item.limits().unwrap_or_default();
            item.set_usage(UsageDto::new(found, &limits));
        }
    }
    Ok(items)
}
