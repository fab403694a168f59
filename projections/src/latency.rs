//! Log-spaced latency buckets: each bucket is 10% wider than the one before, so a
//! percentile read from the histogram is within ±5% of the true value, whatever
//! the number of requests, with a fixed number of rows per rollup group.

/// Bucket 0 holds 0 ms; bucket b ≥ 1 holds [1.1^(b-1), 1.1^b) ms; the last is open
/// (from about 57 minutes: longer than any request may take).
pub const BUCKETS: i16 = 160;
const RATIO: f64 = 1.1;

pub fn bucket_of(latency_ms: u64) -> i16 {
    if latency_ms == 0 {
        return 0;
    }
    let bucket = ((latency_ms as f64).ln() / RATIO.ln()).floor() as i64 + 1;
    bucket.clamp(1, i64::from(BUCKETS) - 1) as i16
}

/// A representative latency of a bucket: the geometric middle of its range.
pub fn bucket_value(bucket: i16) -> f64 {
    if bucket <= 0 {
        0.0
    } else {
        RATIO.powf(f64::from(bucket) - 0.5)
    }
}

/// The `q`-quantile (0..=1) of a histogram given as (bucket, count) pairs, clamped
/// to the observed min and max. `None` for an empty histogram.
pub fn quantile(histogram: &[(i16, i64)], q: f64, min: f64, max: f64) -> Option<f64> {
    let mut sorted: Vec<(i16, i64)> = histogram.iter().copied().filter(|(_, c)| *c > 0).collect();
    sorted.sort_unstable();
    let total: i64 = sorted.iter().map(|(_, c)| c).sum();
    if total == 0 {
        return None;
    }
    // The smallest value with at least q·total observations at or below it.
    let rank = ((q * total as f64).ceil() as i64).max(1);
    let mut seen = 0;
    for (bucket, count) in sorted {
        seen += count;
        if seen >= rank {
            return Some(bucket_value(bucket).clamp(min, max));
        }
    }
    Some(max)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn buckets_grow_by_ten_percent() {
        assert_eq!(bucket_of(0), 0);
        assert_eq!(bucket_of(1), 1);
        assert!(bucket_of(100) < bucket_of(111));
        assert_eq!(bucket_of(u64::MAX), BUCKETS - 1);
    }

    #[test]
    fn quantiles_of_a_known_distribution() {
        let histogram: Vec<(i16, i64)> = (1..=100_u64).map(|ms| (bucket_of(ms), 1)).collect();
        let p50 = quantile(&histogram, 0.5, 1.0, 100.0).unwrap();
        let p99 = quantile(&histogram, 0.99, 1.0, 100.0).unwrap();
        assert!((45.0..=55.0).contains(&p50), "{p50}");
        assert!((94.0..=100.0).contains(&p99), "{p99}");
        assert_eq!(quantile(&[], 0.5, 0.0, 0.0), None);
    }

    proptest! {
        #[test]
        fn a_bucket_value_is_within_five_percent_of_its_members(ms in 1_u64..3_000_000) {
            let value = bucket_value(bucket_of(ms));
            prop_assert!((value - ms as f64).abs() <= 0.05 * ms as f64 + 0.5, "{} vs {}", value, ms);
        }
    }
}
