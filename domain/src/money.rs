//! Money as an integer number of nano-USD (1 USD = 1,000,000,000 nano-USD).
//! Floats never carry money: amounts from JSON are parsed from their decimal text.

use serde::{Deserialize, Serialize};

pub const NANOS_PER_USD: i64 = 1_000_000_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Money(i64);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MoneyError {
    #[error("amount must not be negative")]
    Negative,
    #[error("amount is not a decimal number")]
    NotADecimal,
    #[error("amount has more than 9 decimal places")]
    TooPrecise,
    #[error("amount is too large")]
    TooLarge,
}

impl Money {
    pub const ZERO: Money = Money(0);

    pub const fn from_nanos(nanos: i64) -> Self {
        Money(nanos)
    }

    pub const fn nanos(self) -> i64 {
        self.0
    }

    /// Parses a non-negative decimal USD amount such as `"12.5"` or `"0.000001"`.
    pub fn from_usd_decimal(text: &str) -> Result<Self, MoneyError> {
        let text = text.trim();
        if text.starts_with('-') {
            return Err(MoneyError::Negative);
        }
        let (whole, fraction) = match text.split_once('.') {
            Some((w, f)) => (w, f),
            None => (text, ""),
        };
        let digits_only = |s: &str| s.chars().all(|c| c.is_ascii_digit());
        if (whole.is_empty() && fraction.is_empty()) || !digits_only(whole) || !digits_only(fraction) {
            return Err(MoneyError::NotADecimal);
        }
        let fraction = fraction.trim_end_matches('0');
        if fraction.len() > 9 {
            return Err(MoneyError::TooPrecise);
        }
        let whole: i64 = if whole.is_empty() { 0 } else { whole.parse().map_err(|_| MoneyError::TooLarge)? };
        let mut fraction_nanos: i64 = 0;
        for (i, c) in fraction.chars().enumerate() {
            let digit = i64::from(c.to_digit(10).ok_or(MoneyError::NotADecimal)? as u8);
            fraction_nanos += digit * 10_i64.pow(8 - i as u32);
        }
        whole
            .checked_mul(NANOS_PER_USD)
            .and_then(|n| n.checked_add(fraction_nanos))
            .map(Money)
            .ok_or(MoneyError::TooLarge)
    }

    /// The amount in USD as a decimal string with no trailing zeros (`"12.5"`).
    pub fn to_usd_decimal(self) -> String {
        let sign = if self.0 < 0 { "-" } else { "" };
        let abs = self.0.unsigned_abs();
        let whole = abs / NANOS_PER_USD as u64;
        let fraction = abs % NANOS_PER_USD as u64;
        if fraction == 0 {
            return format!("{sign}{whole}");
        }
        let fraction = format!("{fraction:09}");
        format!("{sign}{whole}.{}", fraction.trim_end_matches('0'))
    }

    /// USD as a float, for display only (JSON responses, charts).
    pub fn to_usd_f64(self) -> f64 {
        self.0 as f64 / NANOS_PER_USD as f64
    }

    pub fn saturating_add(self, other: Money) -> Money {
        Money(self.0.saturating_add(other.0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn parses_decimal_usd_exactly() {
        assert_eq!(Money::from_usd_decimal("12.5"), Ok(Money(12_500_000_000)));
        assert_eq!(Money::from_usd_decimal("0.000000001"), Ok(Money(1)));
        assert_eq!(Money::from_usd_decimal("7"), Ok(Money(7 * NANOS_PER_USD)));
        assert_eq!(Money::from_usd_decimal(".5"), Ok(Money(500_000_000)));
        assert_eq!(Money::from_usd_decimal("-1"), Err(MoneyError::Negative));
        assert_eq!(Money::from_usd_decimal("1e3"), Err(MoneyError::NotADecimal));
        assert_eq!(Money::from_usd_decimal("0.0000000001"), Err(MoneyError::TooPrecise));
        assert_eq!(Money::from_usd_decimal("99999999999999"), Err(MoneyError::TooLarge));
    }

    proptest! {
        #[test]
        fn decimal_text_round_trips(nanos in 0_i64..i64::MAX) {
            let money = Money::from_nanos(nanos);
            prop_assert_eq!(Money::from_usd_decimal(&money.to_usd_decimal()), Ok(money));
        }
    }
}
