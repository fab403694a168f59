//! Failed-login throttling per username and per client address, with exponential
//! back-off: after `max_failures` failures the key is locked for `base_lock`, each
//! further failure (once the lock has passed) doubles it, up to `max_lock`.
//!
//! - A success resets the username's count. It does not reset the address's count:
//!   else an attacker holding one valid account could log into it between guesses
//!   and spray other usernames forever. An address's count is forgotten after a
//!   quiet period of `max_lock` without failures.
//! - Memory is bounded: each table tracks at most `max_entries` keys and evicts the
//!   oldest tracked key first.
//! - The state is per process (replicas throttle independently): an attacker gets
//!   at most (replicas × threshold) guesses per lock period.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use gaiarouter_domain::login::LockScope;

#[derive(Debug, Clone)]
pub struct ThrottleConfig {
    pub max_failures_per_username: u32,
    pub max_failures_per_ip: u32,
    pub base_lock: Duration,
    pub max_lock: Duration,
    pub max_entries: usize,
}

impl Default for ThrottleConfig {
    fn default() -> Self {
        ThrottleConfig {
            max_failures_per_username: 5,
            max_failures_per_ip: 20,
            base_lock: Duration::from_secs(1),
            max_lock: Duration::from_secs(15 * 60),
            max_entries: 10_000,
        }
    }
}

/// Attempts are refused until `retry_after` has passed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Locked {
    pub scope: LockScope,
    pub retry_after: Duration,
}

/// A lockout that a failure just started.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Lockout {
    pub scope: LockScope,
    pub failures: u32,
    pub duration: Duration,
}

#[derive(Debug, Clone, Copy)]
struct Entry {
    failures: u32,
    locked_until: Option<Instant>,
    last_failure: Instant,
    /// Which push into `order` this entry belongs to (older pushes are stale).
    serial: u64,
}

#[derive(Debug, Default)]
struct Table {
    entries: HashMap<String, Entry>,
    order: VecDeque<(String, u64)>,
    next_serial: u64,
}

impl Table {
    fn locked(&self, key: &str, now: Instant) -> Option<Duration> {
        let until = self.entries.get(key)?.locked_until?;
        (until > now).then(|| until - now)
    }

    /// Counts a failure; answers the lock it starts, if any.
    fn fail(&mut self, key: &str, threshold: u32, config: &ThrottleConfig, now: Instant) -> Option<(u32, Duration)> {
        let serial = self.next_serial;
        let entry = match self.entries.get_mut(key) {
            Some(entry) => entry,
            None => {
                self.next_serial += 1;
                self.order.push_back((key.to_string(), serial));
                self.entries.entry(key.to_string()).or_insert(Entry {
                    failures: 0,
                    locked_until: None,
                    last_failure: now,
                    serial,
                })
            }
        };
        if now.saturating_duration_since(entry.last_failure) > config.max_lock {
            entry.failures = 0;
        }
        entry.failures = entry.failures.saturating_add(1);
        entry.last_failure = now;
        let lock = (entry.failures >= threshold).then(|| {
            let doublings = (entry.failures - threshold).min(30);
            config.base_lock.saturating_mul(1u32 << doublings).min(config.max_lock)
        });
        if let Some(duration) = lock {
            entry.locked_until = Some(now + duration);
        }
        let failures = entry.failures;
        self.evict(config.max_entries);
        lock.map(|duration| (failures, duration))
    }

    fn forget(&mut self, key: &str) {
        self.entries.remove(key);
    }

    fn evict(&mut self, max_entries: usize) {
        while self.entries.len() > max_entries {
            let Some((key, serial)) = self.order.pop_front() else {
                break;
            };
            if self.entries.get(&key).is_some_and(|entry| entry.serial == serial) {
                self.entries.remove(&key);
            }
        }
        // Forgotten keys leave stale positions behind: drop them before they pile up.
        if self.order.len() > max_entries.saturating_mul(2).max(64) {
            let entries = &self.entries;
            self.order.retain(|(key, serial)| entries.get(key).is_some_and(|entry| entry.serial == *serial));
        }
    }
}

pub struct LoginThrottle {
    config: ThrottleConfig,
    tables: Mutex<(Table, Table)>,
}

impl LoginThrottle {
    pub fn new(config: ThrottleConfig) -> Self {
        LoginThrottle { config, tables: Mutex::new((Table::default(), Table::default())) }
    }

    fn with<T>(&self, f: impl FnOnce(&mut Table, &mut Table) -> T) -> T {
        // A panic while holding the lock cannot leave the tables inconsistent in a way
        // that matters (worst case a count is off by one): keep using them.
        let mut guard = self.tables.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let (users, ips) = &mut *guard;
        f(users, ips)
    }

    /// Refuses an attempt while its username or its address is locked.
    pub fn check(&self, username: &str, ip: Option<&str>, now: Instant) -> Result<(), Locked> {
        self.with(|users, ips| {
            let by_user = users.locked(username, now).map(|d| Locked { scope: LockScope::Username, retry_after: d });
            let by_ip =
                ip.and_then(|ip| ips.locked(ip, now)).map(|d| Locked { scope: LockScope::ClientIp, retry_after: d });
            match (by_user, by_ip) {
                (Some(a), Some(b)) => Err(if a.retry_after >= b.retry_after { a } else { b }),
                (Some(locked), None) | (None, Some(locked)) => Err(locked),
                (None, None) => Ok(()),
            }
        })
    }

    /// Counts a failed attempt; answers the lockouts it started.
    pub fn record_failure(&self, username: &str, ip: Option<&str>, now: Instant) -> Vec<Lockout> {
        let config = &self.config;
        self.with(|users, ips| {
            let mut started = Vec::new();
            if let Some((failures, duration)) = users.fail(username, config.max_failures_per_username, config, now) {
                started.push(Lockout { scope: LockScope::Username, failures, duration });
            }
            if let Some(ip) = ip {
                if let Some((failures, duration)) = ips.fail(ip, config.max_failures_per_ip, config, now) {
                    started.push(Lockout { scope: LockScope::ClientIp, failures, duration });
                }
            }
            started
        })
    }

    pub fn record_success(&self, username: &str) {
        self.with(|users, _| users.forget(username));
    }

    #[cfg(test)]
    fn tracked(&self) -> (usize, usize) {
        self.with(|users, ips| (users.entries.len(), ips.entries.len()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn throttle() -> LoginThrottle {
        LoginThrottle::new(ThrottleConfig { max_failures_per_ip: 8, max_entries: 100, ..ThrottleConfig::default() })
    }

    fn fail_times(throttle: &LoginThrottle, user: &str, ip: &str, times: u32, now: Instant) -> Vec<Lockout> {
        (0..times).flat_map(|_| throttle.record_failure(user, Some(ip), now)).collect()
    }

    #[test]
    fn four_failures_do_not_lock_and_the_fifth_locks_for_a_second() {
        let (t, now) = (throttle(), Instant::now());
        assert!(fail_times(&t, "admin", "1.1.1.1", 4, now).is_empty());
        assert_eq!(t.check("admin", Some("1.1.1.1"), now), Ok(()));
        let started = t.record_failure("admin", Some("1.1.1.1"), now);
        assert_eq!(
            started,
            vec![Lockout { scope: LockScope::Username, failures: 5, duration: Duration::from_secs(1) }]
        );
        assert_eq!(
            t.check("admin", Some("9.9.9.9"), now),
            Err(Locked { scope: LockScope::Username, retry_after: Duration::from_secs(1) })
        );
        assert_eq!(t.check("admin", None, now + Duration::from_secs(1)), Ok(()));
    }

    #[test]
    fn each_further_failure_doubles_the_lock_up_to_the_cap() {
        let (t, mut now) = (throttle(), Instant::now());
        fail_times(&t, "admin", "1.1.1.1", 4, now);
        let mut locks = Vec::new();
        for _ in 0..15 {
            let lock = t.record_failure("admin", None, now)[0].duration;
            locks.push(lock.as_secs());
            now += lock;
        }
        assert_eq!(&locks[..5], &[1, 2, 4, 8, 16]);
        assert_eq!(locks.last(), Some(&900));
    }

    #[test]
    fn success_resets_the_username_but_not_the_address() {
        let (t, now) = (throttle(), Instant::now());
        fail_times(&t, "admin", "1.1.1.1", 4, now);
        t.record_success("admin");
        assert!(fail_times(&t, "admin", "1.1.1.1", 3, now).is_empty());
        // 8 failures from the address across usernames lock the address.
        let started = t.record_failure("other", Some("1.1.1.1"), now);
        assert_eq!(started[0].scope, LockScope::ClientIp);
        assert!(matches!(t.check("third", Some("1.1.1.1"), now), Err(Locked { scope: LockScope::ClientIp, .. })));
        assert_eq!(t.check("third", Some("2.2.2.2"), now), Ok(()));
    }

    #[test]
    fn counts_are_forgotten_after_a_quiet_period() {
        let (t, now) = (throttle(), Instant::now());
        fail_times(&t, "admin", "1.1.1.1", 4, now);
        let later = now + Duration::from_secs(16 * 60);
        assert!(t.record_failure("admin", Some("1.1.1.1"), later).is_empty());
    }

    #[test]
    fn tracked_keys_are_bounded_and_the_oldest_go_first() {
        let (t, now) = (throttle(), Instant::now());
        fail_times(&t, "first", "1.1.1.1", 4, now);
        for n in 0..1_000u32 {
            t.record_failure(&format!("user{n}"), Some(&format!("10.0.{}.{}", n / 256, n % 256)), now);
        }
        let (users, ips) = t.tracked();
        assert!(users <= 100 && ips <= 100, "{users} {ips}");
        assert!(t.record_failure("first", None, now).is_empty(), "the oldest entry was evicted");
        // Successes forget keys; their stale positions in the eviction order are dropped too.
        for n in 0..1_000u32 {
            t.record_failure(&format!("again{n}"), None, now);
            t.record_success(&format!("again{n}"));
        }
        assert!(t.with(|users, _| users.order.len()) <= 200);
    }
}
