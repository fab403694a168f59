//! JSON shapes shared by the management routes.

use gaiarouter_domain::{Limits, Money};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::error::ApiError;

/// Monthly limits as clients see them; `null` = unlimited. Cost in USD.
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
}

impl LimitsDto {
    pub fn from_limits(limits: &Limits) -> Self {
        LimitsDto {
            monthly_requests: limits.monthly_requests,
            monthly_tokens: limits.monthly_tokens,
            monthly_cost_usd: limits.monthly_cost.and_then(|m| serde_json::Number::from_f64(m.to_usd_f64())),
        }
    }

    /// Parses the cost from its decimal text, so `0.1` is exactly 100,000,000 nano-USD.
    pub fn to_limits(&self) -> Result<Limits, ApiError> {
        let monthly_cost = match &self.monthly_cost_usd {
            None => None,
            Some(number) => Some(Money::from_usd_decimal(&number.to_string()).map_err(|e| {
                ApiError::bad_request("invalid_limits", format!("monthly_cost_usd: {e}"))
                    .with_param("limits.monthly_cost_usd")
            })?),
        };
        let too_big = |v: Option<u64>| v.is_some_and(|v| v > i64::MAX as u64);
        if too_big(self.monthly_requests) || too_big(self.monthly_tokens) {
            return Err(ApiError::bad_request("invalid_limits", "limit is too large").with_param("limits"));
        }
        Ok(Limits { monthly_requests: self.monthly_requests, monthly_tokens: self.monthly_tokens, monthly_cost })
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

/// `?limit=` (1–100, default 20) and `?after=<id>` (the last id of the previous page).
#[derive(Debug, Deserialize, utoipa::IntoParams)]
pub struct PageParams {
    pub limit: Option<i64>,
    pub after: Option<Uuid>,
}

pub fn page_limit(limit: Option<i64>) -> Result<i64, ApiError> {
    match limit {
        None => Ok(20),
        Some(n @ 1..=100) => Ok(n),
        Some(_) => Err(ApiError::bad_request("invalid_limit", "limit must be between 1 and 100").with_param("limit")),
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

/// Usage in the current UTC month, next to the limits it counts against.
#[derive(Debug, Serialize, ToSchema)]
pub struct UsageDto {
    /// `YYYY-MM`.
    pub month: String,
    pub requests: i64,
    pub tokens: i64,
    pub cost_usd: f64,
}

impl From<crate::admin::read::MonthUsage> for UsageDto {
    fn from(u: crate::admin::read::MonthUsage) -> Self {
        UsageDto {
            month: u.month.format("%Y-%m").to_string(),
            requests: u.requests,
            tokens: u.tokens,
            cost_usd: Money::from_nanos(u.cost_nanos).to_usd_f64(),
        }
    }
}

/// A resource answered with this month's usage attached.
pub trait WithUsage {
    fn usage_owner(&self) -> Uuid;
    fn set_usage(&mut self, usage: UsageDto);
}

/// Attaches this month's usage (`scope`: `organization` or `api_key`) in one query.
pub async fn attach_usage<T: WithUsage>(
    pool: &sqlx::PgPool,
    scope: &str,
    mut items: Vec<T>,
) -> Result<Vec<T>, ApiError> {
    let ids: Vec<Uuid> = items.iter().map(WithUsage::usage_owner).collect();
    let mut usage = crate::admin::read::usage_this_month(pool, scope, &ids).await?;
    for item in &mut items {
        if let Some(found) = usage.remove(&item.usage_owner()) {
            item.set_usage(found.into());
        }
    }
    Ok(items)
}
