//! Why admission refused a request: which limit of whom, and when retrying can
//! succeed. The code names the limit (`api_key_requests_per_minute_limit`,
//! `organization_model_concurrent_requests_limit`, `organization_daily_cost_limit`).

use std::collections::HashMap;
use std::sync::LazyLock;

use chrono::{DateTime, Utc};
use gaiarouter_domain::limits::{Metric, Period};

use super::plan::{Holder, QuotaSpec, Window};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub holder: Holder,
    /// The model a per-model limit is for; `None` for limits on all models.
    pub model: Option<String>,
    /// The limit's name in the API (`daily_requests`, `requests_per_minute`).
    pub name: &'static str,
    /// Requests, tokens or nano-USD.
    pub limit: i64,
    pub metric: Metric,
    pub window: Window,
    /// When the window ends (`None`: a total budget, or requests in flight).
    pub resets_at: Option<DateTime<Utc>>,
}

impl Refusal {
    pub fn of(spec: &QuotaSpec, metric: Metric, now: DateTime<Utc>) -> Refusal {
        let (limit, name) = spec.limit_of(metric).unwrap_or((0, "requests"));
        Refusal {
            holder: spec.key.holder,
            model: (!spec.key.model.is_empty()).then(|| spec.key.model.to_string()),
            name,
            limit,
            metric,
            window: spec.key.window,
            resets_at: match spec.key.window {
                Window::Period(period) => period.window_end(now),
                Window::Concurrent => None,
            },
        }
    }

    /// The stable code in answers.
    pub fn code(&self) -> &'static str {
        let holder = match (self.holder, self.model.is_some()) {
            (Holder::Organization, false) => "organization",
            (Holder::ApiKey, false) => "api_key",
            (Holder::Organization, true) => "organization_model",
            (Holder::ApiKey, true) => "api_key_model",
        };
        CODES.get(&(holder, self.name)).copied().unwrap_or("limit_reached")
    }

    /// Seconds until a retry can succeed: the end of the window, or a second for
    /// requests in flight. `None` for a total budget, which never resets.
    pub fn retry_after_secs(&self, now: DateTime<Utc>) -> Option<u64> {
        match (self.window, self.resets_at) {
            (Window::Concurrent, _) => Some(1),
            (_, Some(at)) => Some(u64::try_from((at - now).num_seconds()).unwrap_or(0).max(1)),
            (_, None) => None,
        }
    }

    /// Retrying soon can succeed only for rates and requests in flight: budgets
    /// last until their period ends.
    pub fn is_transient(&self) -> bool {
        matches!(self.window, Window::Concurrent | Window::Period(Period::Minute))
    }
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let whose = match self.holder {
            Holder::Organization => "organization's",
            Holder::ApiKey => "API key's",
        };
        let what = self.name.replace('_', " ");
        let limit = match self.metric {
            Metric::Cost => format!("${}", gaiarouter_domain::Money::from_nanos(self.limit).to_usd_decimal()),
            _ => self.limit.to_string(),
        };
        match &self.model {
            Some(model) => write!(f, "the {whose} {what} limit for model {model} ({limit}) has been reached"),
            None => write!(f, "the {whose} {what} limit ({limit}) has been reached"),
        }
    }
}

/// Every code, made once: holder × limit name.
static CODES: LazyLock<HashMap<(&'static str, &'static str), &'static str>> = LazyLock::new(|| {
    use gaiarouter_domain::limits::{budget_name, BUDGET_PERIODS, METRICS};
    let mut names: Vec<&'static str> =
        BUDGET_PERIODS.into_iter().flat_map(|p| METRICS.into_iter().map(move |m| budget_name(p, m))).collect();
    names.extend(["requests_per_minute", "tokens_per_minute", "concurrent_requests"]);
    let holders = ["organization", "api_key", "organization_model", "api_key_model"];
    let mut codes = HashMap::new();
    for holder in holders {
        for name in &names {
            // Leaked once at start-up: a fixed set of 60 short strings.
            let code: &'static str = Box::leak(format!("{holder}_{name}_limit").into_boxed_str());
            codes.insert((holder, *name), code);
        }
    }
    codes
});

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use chrono::TimeZone;
    use uuid::Uuid;

    use super::*;
    use crate::usage::quota::plan::QuotaKey;

    fn spec(holder: Holder, window: Window, model: &str) -> QuotaSpec {
        QuotaSpec {
            key: QuotaKey { holder, owner: Uuid::nil(), window, start: Utc::now(), model: Arc::from(model) },
            requests: Some(60),
            tokens: Some(1000),
            cost: Some(5_000_000_000),
        }
    }

    #[test]
    fn given_a_refusal_then_its_code_message_and_retry_name_the_limit() {
        let now = Utc.with_ymd_and_hms(2026, 12, 2, 23, 59, 30).single().unwrap();
        let minute = Refusal::of(&spec(Holder::ApiKey, Window::Period(Period::Minute), ""), Metric::Requests, now);
        assert_eq!(minute.code(), "api_key_requests_per_minute_limit");
        assert_eq!(minute.to_string(), "the API key's requests per minute limit (60) has been reached");
        assert_eq!(minute.retry_after_secs(now), Some(30));
        assert!(minute.is_transient());

        let daily = Refusal::of(&spec(Holder::Organization, Window::Period(Period::Day), ""), Metric::Cost, now);
        assert_eq!(daily.code(), "organization_daily_cost_limit");
        assert_eq!(daily.to_string(), "the organization's daily cost limit ($5) has been reached");
        assert_eq!(daily.retry_after_secs(now), Some(30), "the day ends at midnight UTC");
        assert!(!daily.is_transient());

        let model = Refusal::of(&spec(Holder::Organization, Window::Concurrent, "gpt-4o"), Metric::Requests, now);
        assert_eq!(model.code(), "organization_model_concurrent_requests_limit");
        assert!(model.to_string().contains("for model gpt-4o"));
        assert_eq!(model.retry_after_secs(now), Some(1));

        let total = Refusal::of(&spec(Holder::ApiKey, Window::Period(Period::Total), ""), Metric::Tokens, now);
        assert_eq!(total.code(), "api_key_total_tokens_limit");
        assert_eq!(total.retry_after_secs(now), None);

        let monthly = Refusal::of(&spec(Holder::ApiKey, Window::Period(Period::Month), ""), Metric::Requests, now);
        assert_eq!(monthly.code(), "api_key_monthly_requests_limit", "the codes of monthly limits did not change");
    }
}
