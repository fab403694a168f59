//! Budget alerts: a budget's usage crossed one of its alert thresholds (by
//! default 50 %, 80 % and 100 %). One event per crossing, never two: its
//! aggregate id names the budget window, the threshold and the limit, and each
//! such aggregate has a single event, so writing it again is a no-op.

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::limits::{Budget, Metric, Period};

pub const AGGREGATE_TYPE: &str = "BudgetAlert";
pub const EVENT_TYPE: &str = "BudgetThresholdReached";
pub const EVENT_VERSION: &str = "1.0";

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum BudgetAlertEvent {
    BudgetThresholdReached(BudgetThresholdReached),
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BudgetThresholdReached {
    /// `organization` or `api_key`: whose budget.
    pub scope: String,
    pub organization_id: Uuid,
    /// `None` for an organization's budget.
    pub api_key_id: Option<Uuid>,
    pub period: Period,
    /// The first day of the window (UTC); 1970-01-01 for `total`.
    pub period_start: NaiveDate,
    pub metric: Metric,
    /// Requests, tokens, or nano-USD.
    pub limit: i64,
    /// Usage when the threshold was crossed (same unit).
    pub used: i64,
    pub threshold_percent: u32,
    pub reached_at: DateTime<Utc>,
}

impl BudgetThresholdReached {
    /// The aggregate id: one per budget window, threshold and limit (a limit
    /// raised and crossed again is a new alert).
    pub fn aggregate_id(&self) -> String {
        let owner = self.api_key_id.unwrap_or(self.organization_id);
        format!(
            "{}:{owner}:{}:{}:{}:{}:{}",
            self.scope,
            self.period.as_str(),
            self.period_start,
            self.metric.as_str(),
            self.threshold_percent,
            self.limit
        )
    }
}

/// The usage at which `percent` of `limit` is reached (at least 1).
pub fn threshold_value(limit: i64, percent: u32) -> i64 {
    let scaled = i128::from(limit) * i128::from(percent);
    let value = (scaled + 99) / 100;
    i64::try_from(value).unwrap_or(i64::MAX).max(1)
}

/// The thresholds of `budget` that usage crossed going from `before` to `after`.
pub fn crossed(budget: &Budget, thresholds: &[u32], before: i64, after: i64) -> Vec<u32> {
    thresholds
        .iter()
        .copied()
        .filter(|&percent| {
            let at = threshold_value(budget.limit, percent);
            before < at && at <= after
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn budget(limit: i64) -> Budget {
        Budget { period: Period::Day, metric: Metric::Requests, limit }
    }

    #[test]
    fn given_usage_rising_past_thresholds_then_each_is_crossed_once() {
        let thresholds = [50, 80, 100];
        assert_eq!(crossed(&budget(10), &thresholds, 0, 4), Vec::<u32>::new());
        assert_eq!(crossed(&budget(10), &thresholds, 4, 5), vec![50]);
        assert_eq!(crossed(&budget(10), &thresholds, 5, 10), vec![80, 100]);
        assert_eq!(crossed(&budget(10), &thresholds, 10, 12), Vec::<u32>::new(), "already past them all");
    }

    #[test]
    fn given_odd_limits_then_thresholds_round_up() {
        assert_eq!(threshold_value(3, 50), 2);
        assert_eq!(threshold_value(1, 1), 1);
        assert_eq!(threshold_value(i64::MAX, 100), i64::MAX);
    }

    #[test]
    fn given_an_alert_then_its_id_names_window_threshold_and_limit() {
        let alert = BudgetThresholdReached {
            scope: "api_key".into(),
            organization_id: Uuid::from_u128(1),
            api_key_id: Some(Uuid::from_u128(2)),
            period: Period::Week,
            period_start: NaiveDate::from_ymd_opt(2026, 11, 30).unwrap(),
            metric: Metric::Cost,
            limit: 5,
            used: 5,
            threshold_percent: 100,
            reached_at: Utc::now(),
        };
        assert_eq!(alert.aggregate_id(), "api_key:00000000-0000-0000-0000-000000000002:week:2026-11-30:cost:100:5");
        let json = serde_json::to_value(BudgetAlertEvent::BudgetThresholdReached(alert)).unwrap();
        assert_eq!(json["BudgetThresholdReached"]["period"], "week");
        assert_eq!(json["BudgetThresholdReached"]["metric"], "cost");
    }
}
