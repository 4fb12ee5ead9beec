//! Attempt durations in buckets: the bounds the rollup sorts attempts into, and percentiles
//! read back from bucket counts. A percentile is the upper bound of the bucket it falls in, so
//! it is exact to within one bucket (bounds grow by about 1.5x).

/// Bucket bounds in milliseconds, ascending. Bucket 0 holds durations below the first bound;
/// bucket `i` (1..len) holds `[BOUNDS_MS[i-1], BOUNDS_MS[i])`; bucket `len` the rest. Changing
/// this list changes what rows already rolled up mean: append only.
pub const BOUNDS_MS: [f64; 30] = [
    0.5, 1.0, 1.5, 2.0, 3.0, 5.0, 7.0, 10.0, 15.0, 20.0, 30.0, 50.0, 70.0, 100.0, 150.0, 200.0,
    300.0, 500.0, 700.0, 1000.0, 1500.0, 2000.0, 3000.0, 5000.0, 7000.0, 10000.0, 15000.0, 20000.0,
    30000.0, 60000.0,
];

/// The upper bound of bucket `i` in milliseconds; `None` for the last, open-ended one.
pub fn upper_bound_ms(bucket: usize) -> Option<f64> {
    BOUNDS_MS.get(bucket).copied()
}

/// A duration percentile read from bucket counts.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Percentile {
    /// At most this many milliseconds.
    AtMost(f64),
    /// Longer than the last bound.
    Over(f64),
}

impl std::fmt::Display for Percentile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Percentile::AtMost(ms) => write!(f, "≤ {}", show_ms(*ms)),
            Percentile::Over(ms) => write!(f, "> {}", show_ms(*ms)),
        }
    }
}

fn show_ms(ms: f64) -> String {
    if ms >= 1000.0 {
        format!("{} s", ms / 1000.0)
    } else {
        format!("{ms} ms")
    }
}

impl Percentile {
    /// The bound in milliseconds (for JSON).
    pub fn ms(self) -> f64 {
        match self {
            Percentile::AtMost(ms) | Percentile::Over(ms) => ms,
        }
    }
}

/// The `q` quantile (0 < q ≤ 1) of the durations counted in `counts` (index = bucket);
/// `None` when nothing was counted.
pub fn percentile(counts: &[i64], q: f64) -> Option<Percentile> {
    let total: i64 = counts.iter().sum();
    if total <= 0 {
        return None;
    }
    let rank = (q * total as f64).ceil().max(1.0) as i64;
    let mut seen = 0;
    for (bucket, n) in counts.iter().enumerate() {
        seen += n;
        if seen >= rank {
            return Some(match upper_bound_ms(bucket) {
                Some(ms) => Percentile::AtMost(ms),
                None => Percentile::Over(BOUNDS_MS[BOUNDS_MS.len() - 1]),
            });
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounds_ascend() {
        assert!(BOUNDS_MS.windows(2).all(|w| w[0] < w[1]));
    }

    #[test]
    fn percentile_is_the_upper_bound_of_its_bucket() {
        let mut counts = vec![0; BOUNDS_MS.len() + 1];
        counts[4] = 98; // [2, 3) ms
        counts[12] = 2; // [50, 70) ms
        assert_eq!(percentile(&counts, 0.5), Some(Percentile::AtMost(3.0)));
        assert_eq!(percentile(&counts, 0.98), Some(Percentile::AtMost(3.0)));
        assert_eq!(percentile(&counts, 0.99), Some(Percentile::AtMost(70.0)));
        counts[BOUNDS_MS.len()] = 1000;
        assert_eq!(percentile(&counts, 0.99), Some(Percentile::Over(60000.0)));
        assert_eq!(percentile(&[0, 0], 0.5), None);
        assert_eq!(Percentile::AtMost(3.0).to_string(), "≤ 3 ms");
        assert_eq!(Percentile::AtMost(1500.0).to_string(), "≤ 1.5 s");
    }
}
