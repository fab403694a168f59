//! A month of believable gateway traffic, generated from a seed: busier on weekdays
//! and in working hours, slowly growing, spread over several keys and models with
//! their own token sizes and latencies, a few upstream errors (some rescued by a
//! retry), some streamed, and bursts of refusals from an over-eager key.
//!
//! Pure: the same plan and seed give the same traffic (the demo is reproducible and
//! its shape is tested); recording it is `super::seed`'s job.

use chrono::{DateTime, Datelike, Duration, NaiveTime, Utc};
use gaiarouter_domain::request::{Attempt, RequestCompleted, RequestRefused, RequestStatus};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use rand_distr::{Distribution, LogNormal};
use uuid::Uuid;

use crate::gateway::registry::Price;

/// A model the demo traffic uses, with how it usually behaves.
#[derive(Debug, Clone)]
pub struct ModelProfile {
    /// The id as clients send it (`openai/gpt-4o-mini`).
    pub id: String,
    pub provider: String,
    pub price: Price,
    /// Typical prompt and completion sizes (medians, in tokens).
    pub prompt_tokens: f64,
    pub completion_tokens: f64,
    /// Typical time to the last byte, in milliseconds, for a typical completion.
    pub latency_ms: f64,
}

/// An API key of the demo and how its owners use it.
#[derive(Debug, Clone)]
pub struct KeyProfile {
    pub organization_id: Uuid,
    pub api_key_id: Uuid,
    /// Its share of all traffic (relative to the other keys).
    pub weight: f64,
    /// Indexes into the plan's models, with relative weights.
    pub models: Vec<(usize, f64)>,
    /// Share of its requests that stream.
    pub streamed: f64,
    /// "chat_completions" or "messages".
    pub ingress: &'static str,
    /// Its per-minute request limit, which it sometimes hammers past (refusals).
    pub requests_per_minute: Option<u64>,
}

#[derive(Debug, Clone)]
pub struct TrafficPlan {
    pub models: Vec<ModelProfile>,
    pub keys: Vec<KeyProfile>,
    /// The traffic ends here and starts `days` days before.
    pub end: DateTime<Utc>,
    pub days: u32,
    /// Served requests on an average weekday at the start of the period.
    pub requests_per_day: u32,
    pub seed: u64,
}

/// One generated request: served (or failed upstream), or refused at the door.
#[derive(Debug, Clone)]
pub enum Generated {
    Completed(Uuid, RequestCompleted),
    Refused(Uuid, RequestRefused),
}

impl Generated {
    pub fn at(&self) -> DateTime<Utc> {
        match self {
            Generated::Completed(_, event) => event.started_at,
            Generated::Refused(_, event) => event.first_at,
        }
    }
}

/// Upstream failures the demo shows: the upstream status and the code the gateway
/// records for it (`ProviderError::kind`; 0 = no answer).
const UPSTREAM_FAILURES: [(u16, &str); 4] = [
    (500, "upstream_server_error"),
    (503, "upstream_server_error"),
    (0, "upstream_timeout"),
    (429, "upstream_rate_limited"),
];
/// Share of requests whose first upstream attempt fails.
const FIRST_ATTEMPT_FAILS: f64 = 0.035;
/// Share of those a retry on the next deployment rescues.
const RETRY_RESCUES: f64 = 0.6;
/// Share of requests a client sends malformed or for a model nobody serves.
const CLIENT_MISTAKES: f64 = 0.004;
/// Share of days a bursty key floods past its rate limit, and how many it then sends.
const BURST_DAYS: f64 = 0.3;
const BURST_REFUSALS: (u64, u64) = (20, 400);
/// Weekend traffic against a weekday's, and daily growth over the period.
const WEEKEND: f64 = 0.45;
const GROWTH_PER_DAY: f64 = 0.012;

/// The whole period's traffic, in time order.
pub fn generate(plan: &TrafficPlan) -> Vec<Generated> {
    let mut rng = StdRng::seed_from_u64(plan.seed);
    let mut traffic = Vec::new();
    if plan.keys.is_empty() || plan.models.is_empty() {
        return traffic;
    }
    let start = first_midnight(plan);
    let key_weights: Vec<(usize, f64)> = plan.keys.iter().enumerate().map(|(i, k)| (i, k.weight)).collect();
    // The period's first day is whole, its last (today) ends at `end`.
    for day in 0..=plan.days {
        let day_start = start + Duration::days(i64::from(day));
        let weekend = day_start.weekday().number_from_monday() >= 6;
        let volume = f64::from(plan.requests_per_day)
            * (1.0 + GROWTH_PER_DAY * f64::from(day))
            * if weekend { WEEKEND } else { 1.0 }
            * rng.random_range(0.85..1.15);
        for _ in 0..volume.round() as u64 {
            let at = day_start + busy_hour_offset(&mut rng);
            if at >= plan.end {
                continue;
            }
            traffic.extend(request(plan, &key_weights, &mut rng, at));
        }
        for key in &plan.keys {
            let Some(limit) = key.requests_per_minute else { continue };
            if rng.random_bool(BURST_DAYS) {
                let at = day_start + busy_hour_offset(&mut rng);
                if at < plan.end {
                    traffic.extend(burst(plan, key, limit, &mut rng, at));
                }
            }
        }
    }
    traffic.sort_by_key(Generated::at);
    traffic
}

/// Midnight (UTC) of the period's first day.
pub fn first_midnight(plan: &TrafficPlan) -> DateTime<Utc> {
    (plan.end - Duration::days(i64::from(plan.days))).date_naive().and_time(NaiveTime::MIN).and_utc()
}

/// A moment in the day, more likely in (UTC) working hours: the hour is drawn from
/// a day curve peaking mid-afternoon, the minute uniformly.
fn busy_hour_offset(rng: &mut StdRng) -> Duration {
    // Relative traffic per UTC hour: quiet nights, a morning ramp, a 13–17 h peak.
    const HOURS: [f64; 24] = [
        0.15, 0.1, 0.08, 0.08, 0.1, 0.15, 0.3, 0.55, 0.8, 0.95, 1.0, 1.0, 0.95, 1.0, 1.1, 1.15, 1.1, 0.95, 0.8, 0.65,
        0.5, 0.4, 0.3, 0.2,
    ];
    let hours: Vec<(i64, f64)> = HOURS.iter().enumerate().map(|(hour, w)| (hour as i64, *w)).collect();
    let hour = pick(rng, &hours).unwrap_or(12);
    Duration::hours(hour) + Duration::milliseconds(rng.random_range(0..3_600_000))
}

/// Picks one of weighted items (none when there are none).
fn pick<T: Copy>(rng: &mut StdRng, items: &[(T, f64)]) -> Option<T> {
    let total: f64 = items.iter().map(|(_, w)| w.max(0.0)).sum();
    let mut target = rng.random_range(0.0..total.max(f64::MIN_POSITIVE));
    for (item, weight) in items {
        if target < *weight {
            return Some(*item);
        }
        target -= weight.max(0.0);
    }
    // Rounding left the target past the end: the last item.
    items.last().map(|(item, _)| *item)
}

/// A sample around `median` with a long tail (sizes and latencies are log-normal).
fn around(rng: &mut StdRng, median: f64, spread: f64) -> f64 {
    LogNormal::new(median.max(1.0).ln(), spread).map(|d| d.sample(rng)).unwrap_or(median)
}

fn request(plan: &TrafficPlan, key_weights: &[(usize, f64)], rng: &mut StdRng, at: DateTime<Utc>) -> Option<Generated> {
    let key = plan.keys.get(pick(rng, key_weights)?)?;
    let model = plan.models.get(pick(rng, &key.models)?)?;
    let id = uuid_at(rng, at);
    if rng.random_bool(CLIENT_MISTAKES) {
        return Some(Generated::Refused(id, mistake(key, model, rng, at)));
    }
    let streamed = rng.random_bool(key.streamed.clamp(0.0, 1.0));
    let prompt_tokens = around(rng, model.prompt_tokens, 0.9).round() as u64;
    let completion_tokens = around(rng, model.completion_tokens, 0.7).round() as u64;
    // A third of long prompts hit the provider's prompt cache.
    let cached_tokens = if prompt_tokens > 1024 && rng.random_bool(0.33) { prompt_tokens / 2 } else { 0 };
    let latency = |rng: &mut StdRng| {
        let per_token = model.latency_ms / model.completion_tokens.max(1.0);
        (around(rng, model.latency_ms * 0.3, 0.5) + per_token * completion_tokens as f64).round() as u64
    };
    let mut attempts = Vec::new();
    let mut total_latency = 0;
    let failed_first = rng.random_bool(FIRST_ATTEMPT_FAILS);
    if failed_first {
        let (status, code) = UPSTREAM_FAILURES[rng.random_range(0..UPSTREAM_FAILURES.len())];
        let waited = if status == 0 { 30_000 } else { around(rng, 400.0, 0.6).round() as u64 };
        attempts.push(attempt(model, status, Some(code), waited));
        total_latency += waited;
    }
    let rescued = !failed_first || rng.random_bool(RETRY_RESCUES);
    let (status, http_status, error_kind, prompt, completion, cached) = if rescued {
        let took = latency(rng);
        attempts.push(attempt(model, 200, None, took));
        total_latency += took;
        (RequestStatus::Success, 200, None, prompt_tokens, completion_tokens, cached_tokens)
    } else {
        // What the client is answered for an upstream failure (`ProviderError::http_status`).
        let (upstream, code) = attempts.last().map(|a| (a.http_status, a.error_kind.clone())).unwrap_or((500, None));
        let answered = match upstream {
            0 => 504,
            429 => 429,
            _ => 502,
        };
        (RequestStatus::Error, answered, code, 0, 0, 0)
    };
    let time_to_first_token_ms =
        (streamed && rescued).then(|| around(rng, model.latency_ms * 0.15, 0.5).round() as u64 + total_latency / 10);
    let event = RequestCompleted {
        organization_id: key.organization_id,
        api_key_id: key.api_key_id,
        model: model.id.clone(),
        provider: model.provider.clone(),
        prompt_tokens: prompt,
        completion_tokens: completion,
        cached_tokens: cached,
        cost: model.price.cost(prompt, completion, cached),
        latency_ms: total_latency,
        time_to_first_token_ms,
        status,
        http_status,
        error_kind,
        streamed,
        started_at: at,
        finished_at: at + Duration::milliseconds(total_latency as i64),
        deployment: model.provider.clone(),
        attempts,
        ingress: key.ingress.to_string(),
        cache_write_tokens: 0,
        cache_write_1h_tokens: 0,
        reasoning_tokens: 0,
        usage_estimated: false,
    };
    Some(Generated::Completed(id, event))
}

fn attempt(model: &ModelProfile, status: u16, code: Option<&str>, latency_ms: u64) -> Attempt {
    Attempt {
        deployment: model.provider.clone(),
        provider: model.provider.clone(),
        model: model.id.split_once('/').map_or(model.id.as_str(), |(_, m)| m).to_string(),
        http_status: status,
        error_kind: code.map(str::to_string),
        latency_ms,
    }
}

/// A request the gateway turns away before any provider: a malformed body or a
/// misspelt model.
fn mistake(key: &KeyProfile, model: &ModelProfile, rng: &mut StdRng, at: DateTime<Utc>) -> RequestRefused {
    let (model, http_status, reason, message) = if rng.random_bool(0.5) {
        let typo = format!("{}-latest", model.id);
        let message = format!("The model `{typo}` does not exist or you do not have access to it.");
        (typo, 404, "model_not_found", message)
    } else {
        (model.id.clone(), 400, "invalid_request", "messages: must not be empty".to_string())
    };
    refusal(key, model, http_status, reason, message, 1, at, at)
}

/// A key past its per-minute limit that keeps sending for a few minutes: one folded
/// refusal standing for every request it sent meanwhile.
fn burst(plan: &TrafficPlan, key: &KeyProfile, limit: u64, rng: &mut StdRng, at: DateTime<Utc>) -> Option<Generated> {
    let model = plan.models.get(pick(rng, &key.models)?)?;
    let count = rng.random_range(BURST_REFUSALS.0..=BURST_REFUSALS.1);
    let last = at + Duration::seconds(rng.random_range(30..600));
    // The code and message the gateway answers (`usage::quota::refusal`).
    let message = format!("the API key's requests per minute limit ({limit}) has been reached");
    let event = refusal(key, model.id.clone(), 429, "api_key_requests_per_minute_limit", message, count, at, last);
    Some(Generated::Refused(uuid_at(rng, at), event))
}

#[allow(clippy::too_many_arguments)]
fn refusal(
    key: &KeyProfile,
    model: String,
    http_status: u16,
    reason: &str,
    message: String,
    count: u64,
    first_at: DateTime<Utc>,
    last_at: DateTime<Utc>,
) -> RequestRefused {
    RequestRefused {
        organization_id: key.organization_id,
        api_key_id: key.api_key_id,
        model,
        ingress: key.ingress.to_string(),
        http_status,
        reason: reason.to_string(),
        message,
        count,
        first_at,
        last_at,
    }
}

/// A UUIDv7 of the request's own moment (ids sort by time, as live ones do), its
/// random bits from the seeded generator.
fn uuid_at(rng: &mut StdRng, at: DateTime<Utc>) -> Uuid {
    let millis = u64::try_from(at.timestamp_millis()).unwrap_or(0);
    uuid::Builder::from_unix_timestamp_millis(millis, &rng.random()).into_uuid()
}

#[cfg(test)]
mod tests {
    use chrono::{Datelike, TimeZone, Timelike};
    use gaiarouter_domain::Money;

    use super::*;

    fn price() -> Price {
        Price {
            input_per_million: Money::from_nanos(150_000_000),
            output_per_million: Money::from_nanos(600_000_000),
            cached_input_per_million: Some(Money::from_nanos(75_000_000)),
            ..Price::default()
        }
    }

    fn plan(seed: u64) -> TrafficPlan {
        let model = |id: &str, latency_ms: f64| ModelProfile {
            id: id.to_string(),
            provider: "openai".to_string(),
            price: price(),
            prompt_tokens: 1_500.0,
            completion_tokens: 300.0,
            latency_ms,
        };
        let key = |weight: f64, requests_per_minute: Option<u64>| KeyProfile {
            organization_id: Uuid::now_v7(),
            api_key_id: Uuid::now_v7(),
            weight,
            models: vec![(0, 3.0), (1, 1.0)],
            streamed: 0.5,
            ingress: "chat_completions",
            requests_per_minute,
        };
        TrafficPlan {
            models: vec![model("openai/gpt-4o-mini", 900.0), model("openai/gpt-4.1", 2_500.0)],
            keys: vec![key(3.0, None), key(1.0, Some(60))],
            end: Utc.with_ymd_and_hms(2026, 11, 30, 12, 0, 0).single().unwrap_or_default(),
            days: 28,
            requests_per_day: 400,
            seed,
        }
    }

    fn completed(traffic: &[Generated]) -> Vec<&RequestCompleted> {
        traffic
            .iter()
            .filter_map(|g| match g {
                Generated::Completed(_, e) => Some(e),
                Generated::Refused(..) => None,
            })
            .collect()
    }

    #[test]
    fn the_same_seed_gives_the_same_traffic() {
        // Given one plan, when generated twice with the same seed and once with another
        let (a, b, other) = (generate(&plan(7)), generate(&plan(7)), generate(&plan(8)));
        let ids = |t: &[Generated]| {
            t.iter()
                .map(|g| match g {
                    Generated::Completed(id, e) => (*id, e.cost.nanos(), e.latency_ms),
                    Generated::Refused(id, e) => (*id, 0, e.count),
                })
                .collect::<Vec<_>>()
        };
        // Then the first two agree, id by id, and the third does not
        assert!(!a.is_empty());
        assert_eq!(ids(&a), ids(&b));
        assert_ne!(ids(&a), ids(&other));
    }

    #[test]
    fn every_request_lies_in_the_period_is_priced_and_has_an_id_of_its_moment() {
        // Given a 28-day plan ending at noon
        let plan = plan(1);
        // When generated
        let traffic = generate(&plan);
        let start = Utc.with_ymd_and_hms(2026, 11, 2, 0, 0, 0).single().unwrap_or_default();
        assert_eq!(first_midnight(&plan), start);
        // Then every item is in [start, end), in time order, ids carry its moment
        assert!(traffic.windows(2).all(|w| w[0].at() <= w[1].at()));
        for item in &traffic {
            assert!(item.at() >= start && item.at() < plan.end, "{:?} outside the period", item.at());
            let id = match item {
                Generated::Completed(id, _) | Generated::Refused(id, _) => id,
            };
            assert_eq!(id.get_version_num(), 7);
            let (secs, _) = id.get_timestamp().map(|t| t.to_unix()).unwrap_or_default();
            assert_eq!(secs as i64, item.at().timestamp());
        }
        // And served requests cost their tokens at the model's price; failed ones nothing
        for event in completed(&traffic) {
            assert!(event.finished_at >= event.started_at);
            assert_eq!(event.cost, price().cost(event.prompt_tokens, event.completion_tokens, event.cached_tokens));
            assert_eq!(
                event.attempts.last().map(|a| a.http_status == 200),
                Some(event.status == RequestStatus::Success)
            );
            if event.status == RequestStatus::Error {
                assert_eq!((event.prompt_tokens, event.cost), (0, Money::ZERO));
                assert!([429, 502, 504].contains(&event.http_status), "{}", event.http_status);
                assert!(event.error_kind.is_some());
            }
        }
    }

    #[test]
    fn weekdays_and_working_hours_are_busier() {
        // Given a month of traffic
        let traffic = generate(&plan(3));
        let served = completed(&traffic);
        // When counted by kind of day and by hour
        // (Nov 2, a Monday, to Nov 30 noon: 8 weekend days, 20 and a half weekdays)
        let weekend = served.iter().filter(|e| e.started_at.weekday().number_from_monday() >= 6).count() as f64;
        let weekday = served.len() as f64 - weekend;
        let afternoon = served.iter().filter(|e| (13..17).contains(&e.started_at.hour())).count();
        let night = served.iter().filter(|e| (1..5).contains(&e.started_at.hour())).count();
        // Then a weekday has well over a weekend day's traffic, and afternoons beat nights
        assert!(weekday / 20.5 > 1.5 * weekend / 8.0, "weekday {weekday}, weekend {weekend}");
        assert!(afternoon > 5 * night, "afternoon {afternoon}, night {night}");
    }

    #[test]
    fn the_traffic_mixes_outcomes_models_streams_and_refusals() {
        // Given a month of traffic
        let traffic = generate(&plan(5));
        let served = completed(&traffic);
        let refused: Vec<&RequestRefused> = traffic
            .iter()
            .filter_map(|g| match g {
                Generated::Refused(_, e) => Some(e),
                Generated::Completed(..) => None,
            })
            .collect();
        // Then some fail upstream, some were rescued by a retry, both models serve,
        // about half stream, and the key with a rate limit floods past it
        let failed = served.iter().filter(|e| e.status == RequestStatus::Error).count();
        let rescued = served.iter().filter(|e| e.status == RequestStatus::Success && e.attempts.len() == 2).count();
        assert!(failed > 0 && failed * 20 < served.len(), "{failed} of {}", served.len());
        assert!(rescued > 0);
        assert!(served.iter().any(|e| e.model == "openai/gpt-4.1"));
        let streamed = served.iter().filter(|e| e.streamed).count() as f64 / served.len() as f64;
        assert!((0.4..0.6).contains(&streamed), "{streamed}");
        assert!(served
            .iter()
            .filter(|e| e.streamed && e.status == RequestStatus::Success)
            .all(|e| e.time_to_first_token_ms.is_some()));
        let bursts: Vec<_> = refused.iter().filter(|e| e.http_status == 429).collect();
        assert!(!bursts.is_empty());
        assert!(bursts.iter().all(|e| e.count >= BURST_REFUSALS.0 && e.last_at > e.first_at));
        assert!(bursts.iter().all(|e| e.reason == "api_key_requests_per_minute_limit"));
    }

    #[test]
    fn no_keys_or_models_means_no_traffic() {
        let mut empty = plan(1);
        empty.keys.clear();
        assert!(generate(&empty).is_empty());
        let mut no_models = plan(1);
        no_models.models.clear();
        assert!(generate(&no_models).is_empty());
    }
}
