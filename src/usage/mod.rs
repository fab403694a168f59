//! Usage bookkeeping on the completion path: admission against budgets, rates
//! and requests in flight (with quota leases) and durable recording of every
//! `RequestCompleted` event through one group-commit writer.

pub mod process_lock;
pub mod quota;
pub mod recorder;

pub use gaiarouter_domain::request::month_of;

/// Seconds from `now` to the start of the next UTC calendar month, when monthly
/// counters start again (at least 1).
pub fn seconds_until_next_month(now: chrono::DateTime<chrono::Utc>) -> u64 {
    let next = month_of(now).checked_add_months(chrono::Months::new(1)).unwrap_or(chrono::NaiveDate::MAX);
    let start = next.and_time(chrono::NaiveTime::MIN).and_utc();
    u64::try_from((start - now).num_seconds()).unwrap_or(0).max(1)
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    #[test]
    fn given_the_last_second_of_a_month_then_one_second_is_left() {
        let at = chrono::Utc.with_ymd_and_hms(2026, 11, 30, 23, 59, 59).single().unwrap_or_default();
        assert_eq!(seconds_until_next_month(at), 1);
        let first = chrono::Utc.with_ymd_and_hms(2026, 12, 1, 0, 0, 0).single().unwrap_or_default();
        assert_eq!(seconds_until_next_month(first), 31 * 86_400);
    }
}
