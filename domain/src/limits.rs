use serde::{Deserialize, Serialize};

use crate::Money;

/// Monthly limits (UTC calendar month). `None` means unlimited.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Limits {
    pub monthly_requests: Option<u64>,
    pub monthly_tokens: Option<u64>,
    pub monthly_cost: Option<Money>,
}

impl Limits {
    pub const UNLIMITED: Limits = Limits { monthly_requests: None, monthly_tokens: None, monthly_cost: None };

    pub fn is_unlimited(&self) -> bool {
        *self == Self::UNLIMITED
    }

    /// Money limits are stored as nano-USD; a negative one cannot be expressed by
    /// the API, but events come from anywhere, so the domain checks too.
    pub fn validate(&self) -> Result<(), LimitsError> {
        match self.monthly_cost {
            Some(cost) if cost.nanos() < 0 => Err(LimitsError::NegativeCost),
            _ => Ok(()),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum LimitsError {
    #[error("monthly_cost_usd must not be negative")]
    NegativeCost,
}
