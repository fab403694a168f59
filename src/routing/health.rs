//! The health of each deployment, as this process sees it: consecutive failures,
//! cooldown (a circuit breaker) and requests in flight. State is per process on
//! purpose: it reacts in microseconds and costs no round trip; each replica
//! learns a failing deployment from its own few requests.
//!
//! A deployment that failed `threshold` times in a row, or answered 429, is
//! skipped until its cooldown ends (429: the upstream's `Retry-After` when given);
//! then exactly one request probes it: success closes the breaker, failure opens
//! it again.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

/// What the breaker of one deployment says about a new request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Availability {
    Available,
    /// Cooled down until then; skip it.
    CoolingDown,
    /// The cooldown is over and another request is already probing it.
    Probing,
}

#[derive(Debug, Default)]
struct Breaker {
    consecutive_failures: u32,
    cooled_until: Option<Instant>,
    probe_in_flight: bool,
}

/// What a deployment was sent in the current minute, against its capacity.
#[derive(Debug, Default)]
struct Minute {
    started: Option<Instant>,
    requests: u64,
    tokens: u64,
}

/// What a deployment is allowed per minute (`None`: no bound).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Capacity {
    pub rpm: Option<u64>,
    pub tpm: Option<u64>,
}

/// Why a deployment entered a cooldown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CooldownReason {
    /// The upstream answered 429.
    RateLimited,
    /// `threshold` failures in a row, or the probe after a cooldown failed.
    Failures,
}

/// Told once each time a deployment enters a cooldown. Called on the request
/// path, so implementations must only hand the news over (never block or wait).
pub trait CooldownListener: Send + Sync {
    fn cooled_down(&self, deployment: &str, reason: CooldownReason, consecutive_failures: u32, cooldown: Duration);
}

/// A deployment's label and where to tell its cooldowns.
struct Hook {
    label: String,
    listener: Arc<dyn CooldownListener>,
}

impl std::fmt::Debug for Hook {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Hook").field("label", &self.label).finish_non_exhaustive()
    }
}

/// One deployment's live figures, shared by every request that uses it.
#[derive(Debug, Default)]
pub struct DeploymentHealth {
    hook: Option<Hook>,
    breaker: Mutex<Breaker>,
    /// False while the breaker is closed with no failure counted: the hot path
    /// (every request to a healthy deployment) then takes no lock at all.
    troubled: AtomicBool,
    in_flight: AtomicU32,
    minute: Mutex<Minute>,
}

/// A snapshot for the admin API and logs.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct HealthView {
    pub consecutive_failures: u32,
    /// Seconds left in the cooldown, if cooling down.
    pub cooldown_remaining_ms: Option<u64>,
    pub in_flight: u32,
}

impl DeploymentHealth {
    /// Whether a request may use the deployment now. An expired cooldown lets one
    /// request through as a probe (the caller then reports its outcome).
    pub fn availability(&self, now: Instant) -> Availability {
        if !self.troubled.load(Ordering::Acquire) {
            return Availability::Available;
        }
        let Ok(mut breaker) = self.breaker.lock() else { return Availability::Available };
        match breaker.cooled_until {
            None => Availability::Available,
            Some(until) if now < until => Availability::CoolingDown,
            Some(_) if breaker.probe_in_flight => Availability::Probing,
            Some(_) => {
                breaker.probe_in_flight = true;
                Availability::Available
            }
        }
    }

    /// Whether `availability` would let a request through now, without claiming
    /// the probe: for ranking candidates before one is picked.
    pub fn looks_available(&self, now: Instant) -> bool {
        if !self.troubled.load(Ordering::Acquire) {
            return true;
        }
        self.breaker.lock().is_ok_and(|b| match b.cooled_until {
            None => true,
            Some(until) => now >= until && !b.probe_in_flight,
        })
    }

    /// Whether the deployment is under its per-minute capacity (counted by this
    /// process: each replica allows the capacity on its own).
    pub fn has_capacity(&self, capacity: Capacity, now: Instant) -> bool {
        if capacity.rpm.is_none() && capacity.tpm.is_none() {
            return true;
        }
        let Ok(mut minute) = self.minute.lock() else { return true };
        roll(&mut minute, now);
        capacity.rpm.is_none_or(|rpm| minute.requests < rpm) && capacity.tpm.is_none_or(|tpm| minute.tokens < tpm)
    }

    /// Counts a request sent to the deployment in the current minute (only
    /// where a capacity is set: nothing else reads the count).
    pub fn sent(&self, capacity: Capacity, now: Instant) {
        if capacity.rpm.is_none() {
            return;
        }
        if let Ok(mut minute) = self.minute.lock() {
            roll(&mut minute, now);
            minute.requests += 1;
        }
    }

    /// Takes back a count of [`sent`](Self::sent): the request was not sent after
    /// all (the deployment's provider cannot express it).
    pub fn unsent(&self, capacity: Capacity, now: Instant) {
        if capacity.rpm.is_none() {
            return;
        }
        if let Ok(mut minute) = self.minute.lock() {
            roll(&mut minute, now);
            minute.requests = minute.requests.saturating_sub(1);
        }
    }

    /// Counts the tokens a request used, once known (only where a TPM is set).
    pub fn used_tokens(&self, capacity: Capacity, tokens: u64, now: Instant) {
        if capacity.tpm.is_none() {
            return;
        }
        if let Ok(mut minute) = self.minute.lock() {
            roll(&mut minute, now);
            minute.tokens = minute.tokens.saturating_add(tokens);
        }
    }

    pub fn succeeded(&self) {
        if !self.troubled.load(Ordering::Acquire) {
            return;
        }
        if let Ok(mut breaker) = self.breaker.lock() {
            *breaker = Breaker::default();
            self.troubled.store(false, Ordering::Release);
        }
    }

    /// Counts a failure; opens the breaker at `threshold` consecutive failures,
    /// at once for a rate limit (`cool_for` overrides the cooldown, e.g. from
    /// `Retry-After`). Answers whether the breaker is now open.
    pub fn failed(&self, now: Instant, threshold: u32, cooldown: Duration, rate_limited: Option<Duration>) -> bool {
        let Ok(mut breaker) = self.breaker.lock() else { return false };
        let was_open = breaker.cooled_until.is_some_and(|until| until > now);
        self.troubled.store(true, Ordering::Release);
        breaker.consecutive_failures = breaker.consecutive_failures.saturating_add(1);
        let was_probe = std::mem::take(&mut breaker.probe_in_flight);
        let open_for = match rate_limited {
            Some(wait) => Some(wait),
            None if was_probe || breaker.consecutive_failures >= threshold.max(1) => Some(cooldown),
            None => None,
        };
        if let Some(wait) = open_for {
            breaker.cooled_until = Some(now + wait);
        }
        let open = breaker.cooled_until.is_some_and(|until| until > now);
        let failures = breaker.consecutive_failures;
        drop(breaker);
        // Once per cooldown: a failure while already cooling down is no news.
        if let (Some(hook), Some(wait), false) = (&self.hook, open_for.filter(|_| open), was_open) {
            let reason = if rate_limited.is_some() { CooldownReason::RateLimited } else { CooldownReason::Failures };
            hook.listener.cooled_down(&hook.label, reason, failures, wait);
        }
        open
    }

    pub fn view(&self, now: Instant) -> HealthView {
        let (failures, until) = match self.breaker.lock() {
            Ok(b) => (b.consecutive_failures, b.cooled_until),
            Err(_) => (0, None),
        };
        HealthView {
            consecutive_failures: failures,
            cooldown_remaining_ms: until
                .filter(|u| *u > now)
                .map(|u| u64::try_from((u - now).as_millis()).unwrap_or(u64::MAX)),
            in_flight: self.in_flight.load(Ordering::Relaxed),
        }
    }

    pub fn in_flight(&self) -> u32 {
        self.in_flight.load(Ordering::Relaxed)
    }

    /// Counts a request in flight until the guard is dropped.
    pub fn enter(self: &Arc<Self>) -> InFlight {
        self.in_flight.fetch_add(1, Ordering::Relaxed);
        InFlight(Arc::clone(self))
    }
}

/// Starts a new minute when the current one is over (fixed windows: simple,
/// and at most twice the capacity across a window edge).
fn roll(minute: &mut Minute, now: Instant) {
    if minute.started.is_none_or(|started| now.duration_since(started) >= Duration::from_secs(60)) {
        *minute = Minute { started: Some(now), requests: 0, tokens: 0 };
    }
}

pub struct InFlight(Arc<DeploymentHealth>);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::Relaxed);
    }
}

/// The health of every deployment this process has used, by deployment label.
#[derive(Default)]
pub struct HealthBoard {
    deployments: Mutex<HashMap<String, Arc<DeploymentHealth>>>,
    listener: OnceLock<Arc<dyn CooldownListener>>,
}

impl HealthBoard {
    /// Where deployments seen from now on tell their cooldowns (set once, at start).
    pub fn set_cooldown_listener(&self, listener: Arc<dyn CooldownListener>) {
        let _ = self.listener.set(listener);
    }

    pub fn of(&self, deployment: &str) -> Arc<DeploymentHealth> {
        let Ok(mut map) = self.deployments.lock() else { return Arc::default() };
        // Built-in model ids look theirs up on every request: no allocation once known.
        if let Some(health) = map.get(deployment) {
            return Arc::clone(health);
        }
        let hook =
            self.listener.get().map(|listener| Hook { label: deployment.to_string(), listener: Arc::clone(listener) });
        Arc::clone(
            map.entry(deployment.to_string())
                .or_insert_with(|| Arc::new(DeploymentHealth { hook, ..Default::default() })),
        )
    }

    pub fn view(&self, deployment: &str) -> Option<HealthView> {
        let map = self.deployments.lock().ok()?;
        map.get(deployment).map(|h| h.view(Instant::now()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const COOL: Duration = Duration::from_secs(30);

    #[test]
    fn given_fewer_failures_than_the_threshold_when_asked_then_still_available() {
        let health = DeploymentHealth::default();
        let now = Instant::now();
        assert!(!health.failed(now, 3, COOL, None));
        assert!(!health.failed(now, 3, COOL, None));
        assert_eq!(health.availability(now), Availability::Available);
    }

    #[test]
    fn given_threshold_failures_in_a_row_when_asked_then_cooling_down_until_the_cooldown_ends() {
        let health = DeploymentHealth::default();
        let now = Instant::now();
        for _ in 0..2 {
            health.failed(now, 3, COOL, None);
        }
        assert!(health.failed(now, 3, COOL, None), "the third failure opens the breaker");
        assert_eq!(health.availability(now + Duration::from_secs(29)), Availability::CoolingDown);
        assert_eq!(health.view(now).cooldown_remaining_ms, Some(30_000));
    }

    #[test]
    fn given_a_success_between_failures_when_counted_then_the_streak_restarts() {
        let health = DeploymentHealth::default();
        let now = Instant::now();
        health.failed(now, 3, COOL, None);
        health.failed(now, 3, COOL, None);
        health.succeeded();
        assert!(!health.failed(now, 3, COOL, None));
        assert_eq!(health.availability(now), Availability::Available);
    }

    #[test]
    fn given_a_rate_limit_when_counted_then_cooled_for_the_upstreams_retry_after_at_once() {
        let health = DeploymentHealth::default();
        let now = Instant::now();
        assert!(health.failed(now, 3, COOL, Some(Duration::from_secs(2))));
        assert_eq!(health.availability(now + Duration::from_millis(1_900)), Availability::CoolingDown);
        assert_eq!(health.availability(now + Duration::from_millis(2_100)), Availability::Available);
    }

    #[test]
    fn given_an_expired_cooldown_when_two_requests_come_then_one_probes_and_the_other_skips() {
        let health = DeploymentHealth::default();
        let now = Instant::now();
        health.failed(now, 1, COOL, None);
        let later = now + COOL;
        assert_eq!(health.availability(later), Availability::Available, "the probe");
        assert_eq!(health.availability(later), Availability::Probing);
        // The probe fails: cooled down again at once, whatever the threshold.
        assert!(health.failed(later, 5, COOL, None));
        assert_eq!(health.availability(later + Duration::from_secs(1)), Availability::CoolingDown);
        // The next probe succeeds: closed.
        let again = later + COOL;
        assert_eq!(health.availability(again), Availability::Available);
        health.succeeded();
        assert_eq!(health.availability(again), Availability::Available);
        assert_eq!(health.view(again).consecutive_failures, 0);
    }

    #[test]
    fn given_a_capacity_when_the_minute_is_used_up_then_no_capacity_until_the_next_minute() {
        let health = DeploymentHealth::default();
        let now = Instant::now();
        let capacity = Capacity { rpm: Some(2), tpm: Some(100) };
        assert!(health.has_capacity(capacity, now));
        health.sent(capacity, now);
        health.sent(capacity, now);
        assert!(!health.has_capacity(capacity, now), "2 requests per minute used");
        assert!(health.has_capacity(capacity, now + Duration::from_secs(60)), "a new minute");
        health.used_tokens(capacity, 100, now + Duration::from_secs(61));
        assert!(!health.has_capacity(capacity, now + Duration::from_secs(62)), "100 tokens per minute used");
        assert!(health.has_capacity(Capacity::default(), now), "no capacity set: never bounded");
    }

    #[derive(Default)]
    struct Recorded(Mutex<Vec<(String, CooldownReason, u32)>>);

    impl CooldownListener for Recorded {
        fn cooled_down(&self, deployment: &str, reason: CooldownReason, failures: u32, _: Duration) {
            if let Ok(mut seen) = self.0.lock() {
                seen.push((deployment.to_string(), reason, failures));
            }
        }
    }

    #[test]
    fn given_a_listener_when_a_deployment_cools_down_then_it_is_told_once_per_cooldown() {
        let board = HealthBoard::default();
        let recorded = Arc::new(Recorded::default());
        board.set_cooldown_listener(recorded.clone());
        let health = board.of("smart/d1");
        let now = Instant::now();
        health.failed(now, 2, COOL, None);
        assert!(recorded.0.lock().unwrap().is_empty(), "below the threshold: no cooldown");
        health.failed(now, 2, COOL, None);
        health.failed(now, 2, COOL, None);
        health.failed(now, 2, COOL, Some(Duration::from_secs(5)));
        assert_eq!(*recorded.0.lock().unwrap(), vec![("smart/d1".to_string(), CooldownReason::Failures, 2)]);
        // The probe after the cooldown fails: a new cooldown, told again.
        let later = now + COOL;
        assert_eq!(health.availability(later), Availability::Available);
        health.failed(later, 2, COOL, Some(Duration::from_secs(5)));
        assert_eq!(recorded.0.lock().unwrap().len(), 2);
        assert_eq!(recorded.0.lock().unwrap()[1].1, CooldownReason::RateLimited);
    }

    #[test]
    fn in_flight_counts_until_the_guard_drops() {
        let health = Arc::new(DeploymentHealth::default());
        let first = health.enter();
        let second = health.enter();
        assert_eq!(health.in_flight(), 2);
        drop(first);
        drop(second);
        assert_eq!(health.in_flight(), 0);
    }
}
