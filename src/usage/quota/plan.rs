//! Which quotas a request counts against: pure, from the caller's limits, the
//! model and the time. One quota per limited window (a budget period, the
//! minute, the requests in flight) of each holder (the organization, the key,
//! and either of them for the model), each with the limits it checks.

use std::cmp::Ordering;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use gaiarouter_domain::limits::{budget_name, Metric, Period, RateLimits, BUDGET_PERIODS};
use gaiarouter_domain::Limits;
use uuid::Uuid;

/// Whose limit: stored as `quota_counters.scope`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Holder {
    Organization,
    ApiKey,
}

impl Holder {
    pub fn as_str(self) -> &'static str {
        match self {
            Holder::Organization => "organization",
            Holder::ApiKey => "api_key",
        }
    }
}

/// The window a quota counts in: a calendar period, or the requests in flight.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Window {
    Period(Period),
    Concurrent,
}

impl Window {
    pub fn as_str(self) -> &'static str {
        match self {
            Window::Period(period) => period.as_str(),
            Window::Concurrent => "concurrent",
        }
    }
}

/// One quota window's counter row (`quota_counters`' primary key). Ordered as
/// PostgreSQL orders that key (text in the "C" collation, UUIDs by bytes), so
/// every writer locks rows in the same order.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct QuotaKey {
    pub holder: Holder,
    pub owner: Uuid,
    pub window: Window,
    pub start: DateTime<Utc>,
    /// `""` for limits on all models.
    pub model: Arc<str>,
}

impl Ord for QuotaKey {
    fn cmp(&self, other: &Self) -> Ordering {
        (self.holder.as_str(), self.owner, self.window.as_str(), self.start, self.model.as_bytes()).cmp(&(
            other.holder.as_str(),
            other.owner,
            other.window.as_str(),
            other.start,
            other.model.as_bytes(),
        ))
    }
}

impl PartialOrd for QuotaKey {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

/// A quota and what it allows in its window. `None` = that metric is not limited
/// here. Costs are nano-USD.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QuotaSpec {
    pub key: QuotaKey,
    pub requests: Option<i64>,
    pub tokens: Option<i64>,
    pub cost: Option<i64>,
}

impl QuotaSpec {
    /// The limit on `metric`, with its name in the API and in refusal codes.
    pub fn limit_of(&self, metric: Metric) -> Option<(i64, &'static str)> {
        let limit = match metric {
            Metric::Requests => self.requests,
            Metric::Tokens => self.tokens,
            Metric::Cost => self.cost,
        }?;
        let name = match self.key.window {
            Window::Concurrent => "concurrent_requests",
            Window::Period(period) => budget_name(period, metric),
        };
        Some((limit, name))
    }
}

/// Who is asking, for what, when.
pub struct QuotaSubject<'a> {
    pub organization_id: Uuid,
    pub api_key_id: Uuid,
    pub organization_limits: &'a Limits,
    pub key_limits: &'a Limits,
    /// The model as the client named it, the route it resolved to and the route's
    /// other name (a built-in model's id without its provider): a per-model limit
    /// set under any of them applies, counted under the route's name.
    pub model: &'a str,
    pub route: &'a str,
    pub alias: Option<&'a str>,
    pub now: DateTime<Utc>,
}

fn count(value: Option<u64>) -> Option<i64> {
    value.map(|v| i64::try_from(v).unwrap_or(i64::MAX))
}

/// Every quota the request counts against, in key order (the lock order).
pub fn quotas_for(subject: &QuotaSubject<'_>) -> Vec<QuotaSpec> {
    let mut quotas = Vec::new();
    let holders = [
        (Holder::Organization, subject.organization_id, subject.organization_limits),
        (Holder::ApiKey, subject.api_key_id, subject.key_limits),
    ];
    for (holder, owner, limits) in holders {
        for period in BUDGET_PERIODS {
            let spec = QuotaSpec {
                key: key(holder, owner, Window::Period(period), period.window_start(subject.now), ""),
                requests: limits.budget(period, Metric::Requests),
                tokens: limits.budget(period, Metric::Tokens),
                cost: limits.budget(period, Metric::Cost),
            };
            if spec.requests.is_some() || spec.tokens.is_some() || spec.cost.is_some() {
                quotas.push(spec);
            }
        }
        rate_quotas(&mut quotas, holder, owner, &limits.rates, "", subject.now);
        let for_model = limits
            .model_rates(subject.model)
            .or_else(|| limits.model_rates(subject.route))
            .or_else(|| subject.alias.and_then(|alias| limits.model_rates(alias)));
        if let Some(rates) = for_model {
            rate_quotas(&mut quotas, holder, owner, rates, subject.route, subject.now);
        }
    }
    quotas.sort_by(|a, b| a.key.cmp(&b.key));
    quotas
}

fn rate_quotas(
    quotas: &mut Vec<QuotaSpec>,
    holder: Holder,
    owner: Uuid,
    rates: &RateLimits,
    model: &str,
    now: DateTime<Utc>,
) {
    if rates.requests_per_minute.is_some() || rates.tokens_per_minute.is_some() {
        quotas.push(QuotaSpec {
            key: key(holder, owner, Window::Period(Period::Minute), Period::Minute.window_start(now), model),
            requests: count(rates.requests_per_minute),
            tokens: count(rates.tokens_per_minute),
            cost: None,
        });
    }
    if let Some(cap) = rates.concurrent_requests {
        quotas.push(QuotaSpec {
            key: key(holder, owner, Window::Concurrent, DateTime::<Utc>::UNIX_EPOCH, model),
            requests: count(Some(cap)),
            tokens: None,
            cost: None,
        });
    }
}

fn key(holder: Holder, owner: Uuid, window: Window, start: DateTime<Utc>, model: &str) -> QuotaKey {
    QuotaKey { holder, owner, window, start, model: Arc::from(model) }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;
    use gaiarouter_domain::limits::RateLimits;
    use gaiarouter_domain::Money;

    use super::*;

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 12, 2, 23, 59, 59).single().unwrap()
    }

    fn subject<'a>(org: &'a Limits, key: &'a Limits) -> QuotaSubject<'a> {
        QuotaSubject {
            organization_id: Uuid::from_u128(2),
            api_key_id: Uuid::from_u128(1),
            organization_limits: org,
            key_limits: key,
            model: "gpt-4o",
            route: "openai/gpt-4o",
            alias: Some("gpt-4o"),
            now: now(),
        }
    }

    #[test]
    fn given_no_limits_then_there_is_no_quota() {
        assert!(quotas_for(&subject(&Limits::UNLIMITED, &Limits::UNLIMITED)).is_empty());
    }

    #[test]
    fn given_budgets_of_one_period_then_they_share_one_quota_of_that_window() {
        let key = Limits { daily_requests: Some(10), daily_cost: Some(Money::from_nanos(5)), ..Limits::UNLIMITED };
        let quotas = quotas_for(&subject(&Limits::UNLIMITED, &key));
        assert_eq!(quotas.len(), 1);
        assert_eq!(quotas[0].key.window, Window::Period(Period::Day));
        assert_eq!(quotas[0].key.start, Utc.with_ymd_and_hms(2026, 12, 2, 0, 0, 0).single().unwrap());
        assert_eq!((quotas[0].requests, quotas[0].tokens, quotas[0].cost), (Some(10), None, Some(5)));
        assert_eq!(quotas[0].limit_of(Metric::Cost), Some((5, "daily_cost")));
    }

    #[test]
    fn given_rates_and_model_rates_then_each_holder_gets_its_own_in_lock_order() {
        let mut org = Limits { monthly_tokens: Some(100), ..Limits::UNLIMITED };
        org.rates.requests_per_minute = Some(60);
        org.models.insert("gpt-4o".into(), RateLimits { concurrent_requests: Some(2), ..Default::default() });
        let mut key = Limits::UNLIMITED;
        key.rates.concurrent_requests = Some(5);
        let quotas = quotas_for(&subject(&org, &key));
        let shape: Vec<_> =
            quotas.iter().map(|q| (q.key.holder, q.key.window.as_str(), q.key.model.to_string())).collect();
        assert_eq!(
            shape,
            vec![
                (Holder::ApiKey, "concurrent", String::new()),
                (Holder::Organization, "concurrent", "openai/gpt-4o".to_string()),
                (Holder::Organization, "minute", String::new()),
                (Holder::Organization, "month", String::new()),
            ],
            "api_key sorts before organization, periods by name, as PostgreSQL orders them"
        );
        assert_eq!(quotas[1].limit_of(Metric::Requests), Some((2, "concurrent_requests")));
        assert_eq!(quotas[2].limit_of(Metric::Requests), Some((60, "requests_per_minute")));
    }

    #[test]
    fn given_a_model_limit_under_the_route_name_then_it_applies_to_the_alias_too() {
        let mut org = Limits::UNLIMITED;
        org.models.insert("openai/gpt-4o".into(), RateLimits { requests_per_minute: Some(3), ..Default::default() });
        let quotas = quotas_for(&subject(&org, &Limits::UNLIMITED));
        assert_eq!(quotas.len(), 1);
        assert_eq!(&*quotas[0].key.model, "openai/gpt-4o");
    }

    #[test]
    fn given_a_model_limit_under_the_bare_id_then_the_provider_spelling_counts_under_the_same_quota() {
        // Given a limit set under `gpt-4o`
        let mut org = Limits::UNLIMITED;
        org.models.insert("gpt-4o".into(), RateLimits { requests_per_minute: Some(3), ..Default::default() });
        // When a client asks for `openai/gpt-4o` (the built-in plan's other name is `gpt-4o`)
        let unlimited = Limits::UNLIMITED;
        let spelled_out = QuotaSubject { model: "openai/gpt-4o", ..subject(&org, &unlimited) };
        let quotas = quotas_for(&spelled_out);
        // Then the limit holds, in the one quota both spellings count under
        assert_eq!(quotas.len(), 1);
        assert_eq!(&*quotas[0].key.model, "openai/gpt-4o");
        assert_eq!(quotas, quotas_for(&subject(&org, &Limits::UNLIMITED)));
    }
}
