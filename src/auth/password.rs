//! Operator passwords: argon2id, hashed off the async runtime (it is slow on
//! purpose, and each hash holds ~19 MiB). Every hash and verify passes one
//! process-wide gate: at most `concurrency` run at once (on as many dedicated
//! threads) and at most `queue` more wait; beyond that the caller is refused at once
//! (`Busy`, answered 429) instead of piling up threads and memory (100 unbounded
//! logins once took 1.4 GB of RSS).

use std::sync::{Arc, OnceLock};

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

/// A job for a hashing thread.
type Job = Box<dyn FnOnce() + Send>;

/// Bounds concurrent password hashing: `concurrency` dedicated threads do all the
/// hashing, and `admitted` permits count running-or-waiting callers. The threads
/// bound memory too: each running hash holds its ~19 MiB, so at most `concurrency`
/// such blocks exist at once.
pub struct HashGate {
    admitted: Arc<Semaphore>,
    jobs: std::sync::mpsc::Sender<Job>,
}

impl HashGate {
    pub fn new(concurrency: usize, queue: usize) -> Self {
        let concurrency = concurrency.max(1);
        let (jobs, receiver) = std::sync::mpsc::channel::<Job>();
        let receiver = Arc::new(std::sync::Mutex::new(receiver));
        for n in 0..concurrency {
            let receiver = Arc::clone(&receiver);
            let spawned = std::thread::Builder::new().name(format!("password-hash-{n}")).spawn(move || loop {
                let job = receiver.lock().unwrap_or_else(std::sync::PoisonError::into_inner).recv();
                match job {
                    // A panicking job must not take the thread (and the capacity) with it.
                    Ok(job) => drop(std::panic::catch_unwind(std::panic::AssertUnwindSafe(job))),
                    // The gate was dropped.
                    Err(_) => break,
                }
            });
            if let Err(error) = spawned {
                tracing::error!(%error, "cannot start a password hashing thread");
            }
        }
        HashGate { admitted: Arc::new(Semaphore::new(concurrency.saturating_add(queue))), jobs }
    }

    /// Half the cores (at least one) hash at once.
    pub fn default_concurrency() -> usize {
        std::thread::available_parallelism().map(|n| n.get() / 2).unwrap_or(1).max(1)
    }

    /// A place in the gate (running or waiting), or `Busy` at once when it is full.
    pub fn admit(&self) -> Result<Admission<'_>, PasswordError> {
        let permit = Arc::clone(&self.admitted).try_acquire_owned().map_err(|_| PasswordError::Busy)?;
        Ok(Admission { gate: self, _permit: permit })
    }

    /// Runs `work` on a hashing thread, waiting for a free one, or refuses at once
    /// when the queue is full.
    pub async fn run<T: Send + 'static>(&self, work: impl FnOnce() -> T + Send + 'static) -> Result<T, PasswordError> {
        self.admit()?.run(work).await
    }
}

/// A place in the hashing gate, taken before any other work (such as reading the
/// operator row) so that an overloaded server refuses logins before they cost a
/// database round trip.
pub struct Admission<'a> {
    gate: &'a HashGate,
    _permit: tokio::sync::OwnedSemaphorePermit,
}

impl Admission<'_> {
    pub async fn run<T: Send + 'static>(self, work: impl FnOnce() -> T + Send + 'static) -> Result<T, PasswordError> {
        let (done, result) = tokio::sync::oneshot::channel();
        self.gate
            .jobs
            .send(Box::new(move || {
                let _ = done.send(work());
            }))
            .map_err(|_| PasswordError::Hashing("no password hashing thread".into()))?;
        result.await.map_err(|_| PasswordError::Hashing("the password hashing job failed".into()))
    }

    /// `Ok(false)` for a wrong password, an over-long one and an unreadable stored hash.
    pub async fn verify(self, password: String, stored_hash: String) -> Result<bool, PasswordError> {
        if password.len() > MAX_PASSWORD_LEN {
            return Ok(false);
        }
        self.run(move || super::argon::verify(password.as_bytes(), &stored_hash)).await
    }
}

static GATE: OnceLock<HashGate> = OnceLock::new();

/// Sets the process-wide gate's size; only the first call counts (the server calls
/// it at start, before any hashing).
pub fn configure(concurrency: usize, queue: usize) {
    let _ = GATE.set(HashGate::new(concurrency, queue));
}

fn gate() -> &'static HashGate {
    GATE.get_or_init(|| HashGate::new(HashGate::default_concurrency(), 8))
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
    gate().run(move || super::argon::hash(password.as_bytes()).map_err(PasswordError::Hashing)).await?
}

/// A place in the process-wide hashing gate (see `HashGate::admit`).
pub fn admit() -> Result<Admission<'static>, PasswordError> {
    gate().admit()
}

/// `Ok(false)` for a wrong password, an over-long one and an unreadable stored hash;
/// `Err(Busy)` when the gate is full.
pub async fn verify_password(password: String, stored_hash: String) -> Result<bool, PasswordError> {
    admit()?.verify(password, stored_hash).await
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
