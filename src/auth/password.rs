//! Operator passwords: argon2id, hashed off the async runtime (it is slow on
//! purpose, and each hash holds ~19 MiB). Every hash and verify passes one
//! process-wide gate: at most `concurrency` run at once and at most `queue` more
//! wait; beyond that the caller is refused at once (`Busy`, answered 429) instead of
//! piling up threads and memory (100 unbounded logins once took 1.4 GB of RSS).

use std::sync::{Arc, OnceLock};

use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use tokio::sync::Semaphore;

pub const MIN_PASSWORD_LEN: usize = 8;
/// argon2 hashes whatever it gets: longer passwords are refused, not hashed.
pub const MAX_PASSWORD_LEN: usize = 1024;

#[derive(Debug, thiserror::Error)]
pub enum PasswordError {
    #[error("password must be at least 8 characters")]
    TooShort,
    #[error("password must be at most 1024 characters")]
    TooLong,
    #[error("too many password checks in progress; retry shortly")]
    Busy,
    #[error("password hashing failed: {0}")]
    Hashing(String),
}

/// Bounds concurrent password hashing: `running` permits, plus `admitted` permits
/// for running-or-waiting callers.
pub struct HashGate {
    running: Arc<Semaphore>,
    admitted: Arc<Semaphore>,
}

impl HashGate {
    pub fn new(concurrency: usize, queue: usize) -> Self {
        let concurrency = concurrency.max(1);
        HashGate {
            running: Arc::new(Semaphore::new(concurrency)),
            admitted: Arc::new(Semaphore::new(concurrency.saturating_add(queue))),
        }
    }

    /// Half the cores (at least one) hash at once; four times that may wait.
    pub fn default_concurrency() -> usize {
        std::thread::available_parallelism().map(|n| n.get() / 2).unwrap_or(1).max(1)
    }

    /// Runs `work` on a blocking thread once a permit is free, or refuses at once
    /// when the queue is full.
    pub async fn run<T: Send + 'static>(&self, work: impl FnOnce() -> T + Send + 'static) -> Result<T, PasswordError> {
        let _admitted = Arc::clone(&self.admitted).try_acquire_owned().map_err(|_| PasswordError::Busy)?;
        let _running =
            Arc::clone(&self.running).acquire_owned().await.map_err(|e| PasswordError::Hashing(e.to_string()))?;
        tokio::task::spawn_blocking(work).await.map_err(|e| PasswordError::Hashing(e.to_string()))
    }
}

static GATE: OnceLock<HashGate> = OnceLock::new();

/// Sets the process-wide gate's size; only the first call counts (the server calls
/// it at start, before any hashing).
pub fn configure(concurrency: usize, queue: usize) {
    let _ = GATE.set(HashGate::new(concurrency, queue));
}

fn gate() -> &'static HashGate {
    GATE.get_or_init(|| {
        let concurrency = HashGate::default_concurrency();
        HashGate::new(concurrency, concurrency * 4)
    })
}

pub fn check_length(password: &str) -> Result<(), PasswordError> {
    let length = password.chars().count();
    if length < MIN_PASSWORD_LEN {
        return Err(PasswordError::TooShort);
    }
    if password.len() > MAX_PASSWORD_LEN {
        return Err(PasswordError::TooLong);
    }
    Ok(())
}

pub async fn hash_password(password: String) -> Result<String, PasswordError> {
    check_length(&password)?;
    gate()
        .run(move || {
            let salt = SaltString::generate(&mut OsRng);
            Argon2::default()
                .hash_password(password.as_bytes(), &salt)
                .map(|hash| hash.to_string())
                .map_err(|e| PasswordError::Hashing(e.to_string()))
        })
        .await?
}

/// `Ok(false)` for a wrong password, an over-long one and an unreadable stored hash;
/// `Err(Busy)` when the gate is full.
pub async fn verify_password(password: String, stored_hash: String) -> Result<bool, PasswordError> {
    if password.len() > MAX_PASSWORD_LEN {
        return Ok(false);
    }
    gate()
        .run(move || {
            PasswordHash::new(&stored_hash)
                .map(|parsed| Argon2::default().verify_password(password.as_bytes(), &parsed).is_ok())
                .unwrap_or(false)
        })
        .await
}

/// A random password for the first operator when none is configured.
pub fn generate_password() -> String {
    use rand::distr::{Alphanumeric, SampleString};
    Alphanumeric.sample_string(&mut rand::rng(), 24)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn hashes_verify_only_the_right_password() {
        let hash = hash_password("correct horse".into()).await.unwrap();
        assert!(hash.starts_with("$argon2id$"));
        assert!(verify_password("correct horse".into(), hash.clone()).await.unwrap());
        assert!(!verify_password("wrong horse".into(), hash).await.unwrap());
        assert!(matches!(hash_password("short".into()).await, Err(PasswordError::TooShort)));
        assert!(matches!(hash_password("x".repeat(2_000)).await, Err(PasswordError::TooLong)));
    }

    #[tokio::test]
    async fn a_full_gate_refuses_at_once_and_frees_up_afterwards() {
        let gate = Arc::new(HashGate::new(1, 1));
        let (release, hold) = std::sync::mpsc::channel::<()>();
        let running = {
            let gate = Arc::clone(&gate);
            tokio::spawn(async move { gate.run(move || hold.recv().is_ok()).await })
        };
        let waiting = {
            let gate = Arc::clone(&gate);
            tokio::spawn(async move { gate.run(|| true).await })
        };
        // Given one running and one waiting, when a third comes, then it is refused.
        while gate.admitted.available_permits() > 0 {
            tokio::task::yield_now().await;
        }
        assert!(matches!(gate.run(|| true).await, Err(PasswordError::Busy)));
        release.send(()).unwrap();
        assert!(running.await.unwrap().unwrap());
        assert!(waiting.await.unwrap().unwrap());
        assert!(gate.run(|| true).await.unwrap());
    }
}
