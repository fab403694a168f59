//! When a failed attempt is worth another: upstream 429, 5xx, timeouts and
//! connection errors are (the next deployment, or the same one later, may
//! answer); any other 4xx is the request's own fault and never retried. Between
//! attempts: exponential backoff with full jitter, or the upstream's
//! `Retry-After` when it asks for less than the client's deadline allows.

use std::time::Duration;

use crate::gateway::ProviderError;

/// Whether another attempt could succeed where this one failed.
pub fn is_retryable(error: &ProviderError) -> bool {
    match error {
        ProviderError::UpstreamClientError { status, .. } => *status == 429 || *status == 408,
        ProviderError::UpstreamServerError { .. }
        | ProviderError::Timeout
        | ProviderError::Connection(_)
        | ProviderError::StreamCut
        | ProviderError::InvalidResponse(_) => true,
        ProviderError::UnsupportedRequest(_) => false,
    }
}

/// Whether the failure counts against the deployment's health (towards a cooldown):
/// what another attempt could fix, and a refusal of the gateway's own credentials
/// (the deployment is misconfigured). A request the deployment cannot take (any
/// other 4xx, a feature its provider lacks) is the request's fault: a client
/// sending such requests must not take the deployment away from everyone else.
pub fn counts_against_deployment(error: &ProviderError) -> bool {
    is_retryable(error) || matches!(error, ProviderError::UpstreamClientError { status: 401 | 403, .. })
}

/// Whether the failure says the deployment is overloaded (cool it down at once).
pub fn is_rate_limit(error: &ProviderError) -> bool {
    matches!(error, ProviderError::UpstreamClientError { status: 429, .. })
}

/// The pause before attempt `attempt` (1 = the first retry): 50 ms × 2^(n−1),
/// at most 2 s, times a uniform jitter `draw` in [0, 1) ("full jitter").
pub fn backoff(attempt: u32, draw: f64) -> Duration {
    let base_ms = 50_u64.saturating_mul(1_u64 << attempt.saturating_sub(1).min(10)).min(2_000);
    Duration::from_millis((base_ms as f64 * draw.clamp(0.0, 1.0)) as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn given_upstream_failures_when_classified_then_only_transient_ones_are_retried() {
        let retried = [
            ProviderError::from_status(429, "slow down"),
            ProviderError::from_status(500, "boom"),
            ProviderError::from_status(503, "overloaded"),
            ProviderError::Timeout,
            ProviderError::Connection("refused".into()),
        ];
        assert!(retried.iter().all(is_retryable));
        let final_ = [
            ProviderError::from_status(400, "bad"),
            ProviderError::from_status(404, "no model"),
            ProviderError::from_status(401, "key"),
            ProviderError::UnsupportedRequest("n > 1".into()),
        ];
        assert!(!final_.iter().any(is_retryable));
        assert!(retried.iter().all(counts_against_deployment));
        assert!(counts_against_deployment(&ProviderError::from_status(401, "key")));
        assert!(!counts_against_deployment(&ProviderError::from_status(400, "bad")));
        assert!(!counts_against_deployment(&ProviderError::UnsupportedRequest("n > 1".into())));
        assert!(is_rate_limit(&ProviderError::from_status(429, "x")));
        assert!(!is_rate_limit(&ProviderError::from_status(500, "x")));
    }

    #[test]
    fn given_more_attempts_when_backing_off_then_the_pause_doubles_up_to_two_seconds() {
        assert_eq!(backoff(1, 1.0), Duration::from_millis(50));
        assert_eq!(backoff(2, 1.0), Duration::from_millis(100));
        assert_eq!(backoff(3, 0.5), Duration::from_millis(100));
        assert_eq!(backoff(30, 1.0), Duration::from_millis(2_000));
        assert_eq!(backoff(4, 0.0), Duration::ZERO);
    }
}
