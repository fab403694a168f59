//! Usage bookkeeping on the completion path: admission against monthly limits
//! (with reservations for requests in flight) and durable recording of every
//! `RequestCompleted` event through one group-commit writer.

pub mod admission;
pub mod recorder;

use chrono::{DateTime, Datelike, NaiveDate, Utc};

/// The first day of the UTC calendar month of `at`: the key of monthly counters.
pub fn month_of(at: DateTime<Utc>) -> NaiveDate {
    NaiveDate::from_ymd_opt(at.year(), at.month(), 1).unwrap_or(NaiveDate::MIN)
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    #[test]
    fn months_are_utc_calendar_months() {
        let last_instant = Utc.with_ymd_and_hms(2026, 1, 31, 23, 59, 59).unwrap();
        assert_eq!(month_of(last_instant), NaiveDate::from_ymd_opt(2026, 1, 1).unwrap());
        let next = Utc.with_ymd_and_hms(2026, 2, 1, 0, 0, 0).unwrap();
        assert_eq!(month_of(next), NaiveDate::from_ymd_opt(2026, 2, 1).unwrap());
    }
}
