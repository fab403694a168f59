//! Admission: budgets, rates and requests in flight, enforced exactly across
//! gateway processes with quota leases (see `leases`). Which quotas a request
//! counts against is decided in `plan`; `store` is the database side.

pub mod leases;
pub mod plan;
pub mod refusal;
pub mod store;

pub use leases::{Draw, Quotas, RateLimit, RateLimitStatus, Reservation};
pub use plan::{quotas_for, QuotaKey, QuotaSpec, QuotaSubject};
pub use refusal::Refusal;
pub use store::Amounts;

/// Why a request was not admitted.
#[derive(Debug, thiserror::Error)]
pub enum AdmissionError {
    #[error("{0}")]
    LimitReached(Box<Refusal>),
    #[error("admission failed: {0}")]
    Database(#[from] sqlx::Error),
}
