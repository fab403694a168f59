//! Limits of an organization or an API key: budgets over calendar periods (UTC),
//! rates per minute, a cap on requests in flight, and the same rates per model.
//! `None` means unlimited. Every limit is enforced by admission in the gateway;
//! this module only says what the limits are and which windows they count in.
//!
//! Events written before budgets and rates existed carry only the `monthly_*`
//! fields: every other field has a serde default, so they still load, and a
//! limits value with only monthly limits serializes exactly as it did then.

use std::collections::BTreeMap;

use chrono::{DateTime, Datelike, Duration, NaiveDate, NaiveTime, Timelike, Utc};
use serde::{Deserialize, Serialize};

use crate::Money;

/// The calendar window a limit counts in. Budgets use day, week (ISO, starting
/// Monday), month and total; rates use minute.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Period {
    Minute,
    Day,
    Week,
    Month,
    Total,
}

/// What a limit counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Metric {
    Requests,
    Tokens,
    /// nano-USD
    Cost,
}

/// The periods a budget can have, in the order they are reported.
pub const BUDGET_PERIODS: [Period; 4] = [Period::Day, Period::Week, Period::Month, Period::Total];
pub const METRICS: [Metric; 3] = [Metric::Requests, Metric::Tokens, Metric::Cost];
/// Alert thresholds when none are set: half, most, and all of a budget.
pub const DEFAULT_ALERT_THRESHOLDS: [u32; 3] = [50, 80, 100];
/// Per-model rate limits of one organization or key.
pub const MAX_MODEL_LIMITS: usize = 64;
pub const MAX_MODEL_NAME_CHARS: usize = 256;
pub const MAX_ALERT_THRESHOLDS: usize = 10;

impl Period {
    pub fn as_str(self) -> &'static str {
        match self {
            Period::Minute => "minute",
            Period::Day => "day",
            Period::Week => "week",
            Period::Month => "month",
            Period::Total => "total",
        }
    }

    /// The start of the window that `at` falls in (UTC). `Total` has one window,
    /// starting at the Unix epoch.
    pub fn window_start(self, at: DateTime<Utc>) -> DateTime<Utc> {
        let midnight = |day: NaiveDate| day.and_time(NaiveTime::MIN).and_utc();
        match self {
            Period::Minute => at.with_second(0).and_then(|t| t.with_nanosecond(0)).unwrap_or(at),
            Period::Day => midnight(at.date_naive()),
            Period::Week => {
                let day = at.date_naive();
                midnight(day - Duration::days(i64::from(day.weekday().num_days_from_monday())))
            }
            Period::Month => midnight(crate::request::month_of(at)),
            Period::Total => DateTime::<Utc>::UNIX_EPOCH,
        }
    }

    /// When the window that `at` falls in ends; `None` for `Total`, which never resets.
    pub fn window_end(self, at: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let start = self.window_start(at);
        match self {
            Period::Minute => Some(start + Duration::minutes(1)),
            Period::Day => Some(start + Duration::days(1)),
            Period::Week => Some(start + Duration::weeks(1)),
            Period::Month => start.checked_add_months(chrono::Months::new(1)),
            Period::Total => None,
        }
    }
}

impl Metric {
    pub fn as_str(self) -> &'static str {
        match self {
            Metric::Requests => "requests",
            Metric::Tokens => "tokens",
            Metric::Cost => "cost",
        }
    }
}

/// Rates that apply per minute, and the cap on requests in flight.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct RateLimits {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub requests_per_minute: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tokens_per_minute: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub concurrent_requests: Option<u64>,
}

impl RateLimits {
    pub fn is_unlimited(&self) -> bool {
        *self == RateLimits::default()
    }

    /// Each rate with its name in the API.
    pub fn named(&self) -> [(&'static str, Option<u64>); 3] {
        [
            ("requests_per_minute", self.requests_per_minute),
            ("tokens_per_minute", self.tokens_per_minute),
            ("concurrent_requests", self.concurrent_requests),
        ]
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Limits {
    pub monthly_requests: Option<u64>,
    pub monthly_tokens: Option<u64>,
    pub monthly_cost: Option<Money>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub daily_requests: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub daily_tokens: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub daily_cost: Option<Money>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub weekly_requests: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub weekly_tokens: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub weekly_cost: Option<Money>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub total_requests: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub total_tokens: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub total_cost: Option<Money>,
    #[serde(flatten)]
    pub rates: RateLimits,
    /// Rates per model (route name, or model id as clients send it).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub models: BTreeMap<String, RateLimits>,
    /// Percentages of each budget at which an alert is raised; `None` = the defaults.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alert_thresholds_percent: Option<Vec<u32>>,
}

/// One budget: a limit on a metric over a period.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Budget {
    pub period: Period,
    pub metric: Metric,
    /// Requests, tokens, or nano-USD.
    pub limit: i64,
}

impl Budget {
    /// The stable name of this budget in answers and events (`daily_tokens`).
    pub fn name(&self) -> &'static str {
        budget_name(self.period, self.metric)
    }
}

pub fn budget_name(period: Period, metric: Metric) -> &'static str {
    use Metric::*;
    use Period::*;
    match (period, metric) {
        (Day, Requests) => "daily_requests",
        (Day, Tokens) => "daily_tokens",
        (Day, Cost) => "daily_cost",
        (Week, Requests) => "weekly_requests",
        (Week, Tokens) => "weekly_tokens",
        (Week, Cost) => "weekly_cost",
        (Month, Requests) => "monthly_requests",
        (Month, Tokens) => "monthly_tokens",
        (Month, Cost) => "monthly_cost",
        (Total, Requests) => "total_requests",
        (Total, Tokens) => "total_tokens",
        (Total, Cost) => "total_cost",
        (Minute, Requests) => "requests_per_minute",
        (Minute, Tokens) => "tokens_per_minute",
        (Minute, Cost) => "cost_per_minute",
    }
}

fn count(value: Option<u64>) -> Option<i64> {
    value.map(|v| i64::try_from(v).unwrap_or(i64::MAX))
}

impl Limits {
    pub const UNLIMITED: Limits = Limits {
        monthly_requests: None,
        monthly_tokens: None,
        monthly_cost: None,
        daily_requests: None,
        daily_tokens: None,
        daily_cost: None,
        weekly_requests: None,
        weekly_tokens: None,
        weekly_cost: None,
        total_requests: None,
        total_tokens: None,
        total_cost: None,
        rates: RateLimits { requests_per_minute: None, tokens_per_minute: None, concurrent_requests: None },
        models: BTreeMap::new(),
        alert_thresholds_percent: None,
    };

    /// Nothing to enforce (alert thresholds alone enforce nothing).
    pub fn is_unlimited(&self) -> bool {
        self.budgets().next().is_none() && self.rates.is_unlimited() && self.models.values().all(|m| m.is_unlimited())
    }

    /// The limit of one budget, in requests, tokens or nano-USD.
    pub fn budget(&self, period: Period, metric: Metric) -> Option<i64> {
        use Metric::*;
        use Period::*;
        match (period, metric) {
            (Day, Requests) => count(self.daily_requests),
            (Day, Tokens) => count(self.daily_tokens),
            (Day, Cost) => self.daily_cost.map(Money::nanos),
            (Week, Requests) => count(self.weekly_requests),
            (Week, Tokens) => count(self.weekly_tokens),
            (Week, Cost) => self.weekly_cost.map(Money::nanos),
            (Month, Requests) => count(self.monthly_requests),
            (Month, Tokens) => count(self.monthly_tokens),
            (Month, Cost) => self.monthly_cost.map(Money::nanos),
            (Total, Requests) => count(self.total_requests),
            (Total, Tokens) => count(self.total_tokens),
            (Total, Cost) => self.total_cost.map(Money::nanos),
            (Minute, Requests) => count(self.rates.requests_per_minute),
            (Minute, Tokens) => count(self.rates.tokens_per_minute),
            (Minute, Cost) => None,
        }
    }

    /// Every budget that is set, day before week before month before total.
    pub fn budgets(&self) -> impl Iterator<Item = Budget> + '_ {
        BUDGET_PERIODS.into_iter().flat_map(move |period| {
            METRICS
                .into_iter()
                .filter_map(move |metric| self.budget(period, metric).map(|limit| Budget { period, metric, limit }))
        })
    }

    /// The rates that apply to a request for `model`: the general ones and, when
    /// set, the model's own.
    pub fn model_rates(&self, model: &str) -> Option<&RateLimits> {
        self.models.get(model)
    }

    pub fn alert_thresholds(&self) -> &[u32] {
        self.alert_thresholds_percent.as_deref().unwrap_or(&DEFAULT_ALERT_THRESHOLDS)
    }

    /// Every numeric limit with its name in the API, for rules that treat them
    /// alike (a key may not hand out more than it holds). Costs in nano-USD.
    pub fn named_limits(&self) -> Vec<(String, Option<i64>)> {
        let mut named: Vec<(String, Option<i64>)> = BUDGET_PERIODS
            .into_iter()
            .flat_map(|period| METRICS.into_iter().map(move |metric| (period, metric)))
            .map(|(period, metric)| (api_name(budget_name(period, metric)), self.budget(period, metric)))
            .collect();
        for (name, value) in self.rates.named() {
            named.push((name.to_string(), count(value)));
        }
        for (model, rates) in &self.models {
            for (name, value) in rates.named() {
                named.push((format!("models.{model}.{name}"), count(value)));
            }
        }
        named
    }

    /// Events come from anywhere (and from older versions), so the domain checks
    /// what the API also checks.
    pub fn validate(&self) -> Result<(), LimitsError> {
        let costs = [self.daily_cost, self.weekly_cost, self.monthly_cost, self.total_cost];
        if costs.iter().flatten().any(|cost| cost.nanos() < 0) {
            return Err(LimitsError::NegativeCost);
        }
        if self.models.len() > MAX_MODEL_LIMITS {
            return Err(LimitsError::TooManyModels);
        }
        if self.models.keys().any(|m| m.is_empty() || m.chars().count() > MAX_MODEL_NAME_CHARS) {
            return Err(LimitsError::ModelName);
        }
        if let Some(thresholds) = &self.alert_thresholds_percent {
            let ordered = thresholds.windows(2).all(|pair| pair[0] < pair[1]);
            let in_range = thresholds.iter().all(|t| (1..=100).contains(t));
            if thresholds.len() > MAX_ALERT_THRESHOLDS || !ordered || !in_range {
                return Err(LimitsError::Thresholds);
            }
        }
        Ok(())
    }
}

/// `monthly_cost` is `monthly_cost_usd` in the API.
fn api_name(name: &str) -> String {
    if name.ends_with("_cost") {
        format!("{name}_usd")
    } else {
        name.to_string()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum LimitsError {
    #[error("cost limits must not be negative")]
    NegativeCost,
    #[error("at most {MAX_MODEL_LIMITS} models may have their own limits")]
    TooManyModels,
    #[error("a model name in `models` must have 1 to {MAX_MODEL_NAME_CHARS} characters")]
    ModelName,
    #[error("alert_thresholds_percent must be at most {MAX_ALERT_THRESHOLDS} rising percentages from 1 to 100")]
    Thresholds,
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    fn at(y: i32, m: u32, d: u32, h: u32, min: u32, s: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(y, m, d, h, min, s).single().unwrap()
    }

    #[test]
    fn given_an_old_event_payload_when_loaded_then_only_monthly_limits_are_set() {
        let old = r#"{"monthly_requests":10,"monthly_tokens":null,"monthly_cost":5000000000}"#;
        let limits: Limits = serde_json::from_str(old).unwrap();
        assert_eq!(limits.monthly_requests, Some(10));
        assert_eq!(limits.monthly_cost, Some(Money::from_nanos(5_000_000_000)));
        assert_eq!(limits.daily_requests, None);
        assert!(limits.models.is_empty());
        // and serializes back in the same shape, so old readers still read it
        assert_eq!(serde_json::to_value(&limits).unwrap(), serde_json::from_str::<serde_json::Value>(old).unwrap());
    }

    #[test]
    fn given_new_limits_then_they_round_trip_flat() {
        let mut limits = Limits { daily_tokens: Some(7), ..Limits::UNLIMITED };
        limits.rates.requests_per_minute = Some(60);
        limits.models.insert("gpt-4o".into(), RateLimits { concurrent_requests: Some(2), ..Default::default() });
        let json = serde_json::to_value(&limits).unwrap();
        assert_eq!(json["requests_per_minute"], 60);
        assert_eq!(json["models"]["gpt-4o"]["concurrent_requests"], 2);
        assert_eq!(serde_json::from_value::<Limits>(json).unwrap(), limits);
    }

    #[test]
    fn given_budgets_then_they_are_listed_day_first_with_costs_in_nanos() {
        let limits = Limits {
            total_requests: Some(5),
            daily_cost: Some(Money::from_nanos(9)),
            monthly_tokens: Some(3),
            ..Limits::UNLIMITED
        };
        let budgets: Vec<_> = limits.budgets().map(|b| (b.name(), b.limit)).collect();
        assert_eq!(budgets, vec![("daily_cost", 9), ("monthly_tokens", 3), ("total_requests", 5)]);
        assert!(!limits.is_unlimited());
        assert!(Limits::UNLIMITED.is_unlimited());
        let only_alerts = Limits { alert_thresholds_percent: Some(vec![90]), ..Limits::UNLIMITED };
        assert!(only_alerts.is_unlimited());
    }

    #[test]
    fn given_a_time_then_each_window_starts_and_ends_in_utc() {
        let t = at(2026, 12, 2, 23, 59, 59); // a Wednesday
        assert_eq!(Period::Minute.window_start(t), at(2026, 12, 2, 23, 59, 0));
        assert_eq!(Period::Day.window_start(t), at(2026, 12, 2, 0, 0, 0));
        assert_eq!(Period::Day.window_end(t), Some(at(2026, 12, 3, 0, 0, 0)));
        assert_eq!(Period::Week.window_start(t), at(2026, 11, 30, 0, 0, 0), "ISO weeks start on Monday");
        assert_eq!(Period::Week.window_end(t), Some(at(2026, 12, 7, 0, 0, 0)));
        assert_eq!(Period::Month.window_start(t), at(2026, 12, 1, 0, 0, 0));
        assert_eq!(Period::Month.window_end(t), Some(at(2027, 1, 1, 0, 0, 0)));
        assert_eq!(Period::Total.window_end(t), None);
        // one second later is another day, the same week
        let next = at(2026, 12, 3, 0, 0, 1);
        assert_ne!(Period::Day.window_start(next), Period::Day.window_start(t));
        assert_eq!(Period::Week.window_start(next), Period::Week.window_start(t));
    }

    #[test]
    fn given_invalid_limits_then_validation_names_the_problem() {
        let negative = Limits { weekly_cost: Some(Money::from_nanos(-1)), ..Limits::UNLIMITED };
        assert_eq!(negative.validate(), Err(LimitsError::NegativeCost));
        let falling = Limits { alert_thresholds_percent: Some(vec![80, 50]), ..Limits::UNLIMITED };
        assert_eq!(falling.validate(), Err(LimitsError::Thresholds));
        let over = Limits { alert_thresholds_percent: Some(vec![101]), ..Limits::UNLIMITED };
        assert_eq!(over.validate(), Err(LimitsError::Thresholds));
        let mut models = Limits::UNLIMITED;
        models.models.insert(String::new(), RateLimits::default());
        assert_eq!(models.validate(), Err(LimitsError::ModelName));
    }

    #[test]
    fn given_limits_then_named_limits_use_the_api_names() {
        let mut limits = Limits { monthly_cost: Some(Money::from_nanos(1)), ..Limits::UNLIMITED };
        limits.models.insert("m".into(), RateLimits { tokens_per_minute: Some(4), ..Default::default() });
        let named = limits.named_limits();
        assert!(named.contains(&("monthly_cost_usd".to_string(), Some(1))));
        assert!(named.contains(&("models.m.tokens_per_minute".to_string(), Some(4))));
        assert!(named.contains(&("concurrent_requests".to_string(), None)));
    }
}
