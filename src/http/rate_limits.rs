//! Limits as HTTP sees them: a refusal is a 429 naming the limit, with when to
//! retry; every admitted completion under a per-minute limit carries OpenAI's
//! `x-ratelimit-*` headers (limit, remaining, reset) for requests and tokens.

use axum::http::{HeaderName, HeaderValue, StatusCode};
use chrono::{DateTime, Utc};

use crate::error::ApiError;
use crate::usage::quota::{RateLimit, RateLimitStatus, Refusal};

/// A refused request: 429, the limit's code, and `retry-after`. Budgets say no
/// retry can succeed before their period ends (`x-should-retry: false`); rates
/// and requests in flight let the client retry after the window.
pub fn refusal_error(refusal: &Refusal) -> ApiError {
    let now = Utc::now();
    let error = ApiError::new(StatusCode::TOO_MANY_REQUESTS, refusal.code(), capitalized(&refusal.to_string()));
    if !refusal.is_transient() {
        return error.not_before(refusal.retry_after_secs(now));
    }
    let error = error.retry_in(refusal.retry_after_secs(now).unwrap_or(1));
    match (refusal.window, refusal.resets_at) {
        (crate::usage::quota::plan::Window::Period(_), Some(resets_at)) => {
            let exhausted = RateLimit { limit: refusal.limit, remaining: 0, resets_at };
            let metric = match refusal.metric {
                gaiarouter_domain::limits::Metric::Tokens => "tokens",
                _ => "requests",
            };
            error.with_headers(headers_of(metric, &exhausted, now))
        }
        _ => error,
    }
}

fn capitalized(message: &str) -> String {
    let mut chars = message.chars();
    chars.next().map(|first| first.to_uppercase().chain(chars).collect()).unwrap_or_default()
}

/// `x-ratelimit-{limit,remaining,reset}-{requests,tokens}` for the tightest
/// per-minute limits.
pub fn rate_limit_headers(status: &RateLimitStatus) -> Vec<(HeaderName, HeaderValue)> {
    let now = Utc::now();
    let mut headers = Vec::new();
    if let Some(requests) = &status.requests {
        headers.extend(headers_of("requests", requests, now));
    }
    if let Some(tokens) = &status.tokens {
        headers.extend(headers_of("tokens", tokens, now));
    }
    headers
}

/// The same limits as Anthropic's API reports its own:
/// `anthropic-ratelimit-{requests,tokens}-{limit,remaining,reset}`, the reset as
/// an RFC 3339 time.
pub fn anthropic_rate_limit_headers(status: &RateLimitStatus) -> Vec<(HeaderName, HeaderValue)> {
    let mut headers = Vec::new();
    for (metric, limit) in [("requests", &status.requests), ("tokens", &status.tokens)] {
        let Some(limit) = limit else { continue };
        let reset = limit.resets_at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
        let values = [
            ("limit", HeaderValue::from(limit.limit)),
            ("remaining", HeaderValue::from(limit.remaining)),
            ("reset", HeaderValue::from_str(&reset).unwrap_or(HeaderValue::from_static(""))),
        ];
        for (what, value) in values {
            if let Ok(name) = HeaderName::try_from(format!("anthropic-ratelimit-{metric}-{what}")) {
                headers.push((name, value));
            }
        }
    }
    headers
}

fn headers_of(metric: &str, limit: &RateLimit, now: DateTime<Utc>) -> Vec<(HeaderName, HeaderValue)> {
    let name = |what: &str| HeaderName::try_from(format!("x-ratelimit-{what}-{metric}")).ok();
    let mut headers = Vec::new();
    let values = [
        ("limit", HeaderValue::from(limit.limit)),
        ("remaining", HeaderValue::from(limit.remaining)),
        ("reset", HeaderValue::from_str(&reset_text(limit.resets_at, now)).unwrap_or(HeaderValue::from_static("0s"))),
    ];
    for (what, value) in values {
        if let Some(name) = name(what) {
            headers.push((name, value));
        }
    }
    headers
}

/// How long until the window resets, as OpenAI writes it: `20ms`, `1.5s`, `1m0s`.
fn reset_text(resets_at: DateTime<Utc>, now: DateTime<Utc>) -> String {
    let ms = (resets_at - now).num_milliseconds().max(0);
    if ms < 1000 {
        return format!("{ms}ms");
    }
    let (minutes, rest_ms) = (ms / 60_000, ms % 60_000);
    let seconds = format!("{}", rest_ms as f64 / 1000.0);
    if minutes > 0 {
        format!("{minutes}m{seconds}s")
    } else {
        format!("{seconds}s")
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    #[test]
    fn given_times_to_a_reset_then_they_are_written_as_openai_writes_them() {
        let now = Utc.with_ymd_and_hms(2026, 12, 1, 0, 0, 0).single().unwrap();
        let later = |ms: i64| now + chrono::Duration::milliseconds(ms);
        assert_eq!(reset_text(later(20), now), "20ms");
        assert_eq!(reset_text(later(1500), now), "1.5s");
        assert_eq!(reset_text(later(60_000), now), "1m0s");
        assert_eq!(reset_text(later(-5), now), "0ms");
    }

    #[test]
    fn given_a_status_then_both_metrics_get_three_headers() {
        let resets_at = Utc::now() + chrono::Duration::seconds(30);
        let status = RateLimitStatus {
            requests: Some(RateLimit { limit: 60, remaining: 59, resets_at }),
            tokens: Some(RateLimit { limit: 1000, remaining: 0, resets_at }),
        };
        let headers = rate_limit_headers(&status);
        let get = |n: &str| headers.iter().find(|(k, _)| k == n).map(|(_, v)| v.to_str().unwrap().to_string());
        assert_eq!(get("x-ratelimit-limit-requests").as_deref(), Some("60"));
        assert_eq!(get("x-ratelimit-remaining-requests").as_deref(), Some("59"));
        assert_eq!(get("x-ratelimit-remaining-tokens").as_deref(), Some("0"));
        assert!(get("x-ratelimit-reset-tokens").unwrap().ends_with('s'));
    }
}
