//! Reading Herald's `/metrics` (Prometheus text format): counters, and histograms whose
//! quantile over a window is computed from the difference of two scrapes' buckets.

/// A histogram's cumulative buckets `(upper bound, count)` in increasing order, `+Inf` last.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Buckets(pub Vec<(f64, f64)>);

/// Every sample `name{labels} value` of the text whose name is `name` and whose labels
/// contain `label` (for example `outcome="delivered"`; empty for any).
fn samples<'a>(
    text: &'a str,
    name: &'a str,
    label: &'a str,
) -> impl Iterator<Item = (&'a str, f64)> {
    text.lines().filter_map(move |line| {
        if line.starts_with('#') {
            return None;
        }
        let (key, value) = line.rsplit_once(' ')?;
        let (metric, labels) = match key.split_once('{') {
            Some((m, rest)) => (m, rest.trim_end_matches('}')),
            None => (key, ""),
        };
        if metric != name || !labels.contains(label) {
            return None;
        }
        Some((labels, value.trim().parse::<f64>().ok()?))
    })
}

/// The sum of the samples of a counter (`herald_deliveries_total`) carrying `label`.
pub fn counter(text: &str, name: &str, label: &str) -> f64 {
    // Folded from +0.0: `sum()` of no samples is -0.0, which prints as "-0".
    samples(text, name, label).fold(0.0, |total, (_, v)| total + v)
}

/// The buckets of the histogram `name` (without the `_bucket` suffix).
pub fn histogram(text: &str, name: &str) -> Buckets {
    let bucket = format!("{name}_bucket");
    let mut out: Vec<(f64, f64)> = samples(text, &bucket, "le=")
        .filter_map(|(labels, v)| {
            let le = labels.split("le=\"").nth(1)?.split('"').next()?;
            let bound = if le == "+Inf" {
                f64::INFINITY
            } else {
                le.parse().ok()?
            };
            Some((bound, v))
        })
        .collect();
    out.sort_by(|a, b| a.0.total_cmp(&b.0));
    Buckets(out)
}

impl Buckets {
    /// Observations in all.
    pub fn count(&self) -> f64 {
        self.0.last().map(|b| b.1).unwrap_or(0.0)
    }

    /// What was observed after `earlier` (the same histogram scraped before).
    pub fn since(&self, earlier: &Buckets) -> Buckets {
        Buckets(
            self.0
                .iter()
                .map(|&(le, n)| {
                    let before = earlier
                        .0
                        .iter()
                        .find(|b| b.0 == le)
                        .map(|b| b.1)
                        .unwrap_or(0.0);
                    (le, (n - before).max(0.0))
                })
                .collect(),
        )
    }

    /// The q-quantile, interpolated linearly inside its bucket (as Prometheus'
    /// `histogram_quantile` does); the highest finite bound when it falls in `+Inf`; `None`
    /// without observations.
    pub fn quantile(&self, q: f64) -> Option<f64> {
        let total = self.count();
        if total <= 0.0 {
            return None;
        }
        let rank = q * total;
        let mut lower = (0.0, 0.0);
        for &(le, n) in &self.0 {
            if n >= rank {
                if le.is_infinite() {
                    return Some(lower.0);
                }
                if n <= lower.1 {
                    return Some(le);
                }
                return Some(lower.0 + (le - lower.0) * (rank - lower.1) / (n - lower.1));
            }
            lower = (le, n);
        }
        Some(lower.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: &str = "\
# HELP herald_claim_duration_seconds Duration of one claim statement.
# TYPE herald_claim_duration_seconds histogram
herald_claim_duration_seconds_sum 0.5
herald_claim_duration_seconds_count 100
herald_claim_duration_seconds_bucket{le=\"0.001\"} 50
herald_claim_duration_seconds_bucket{le=\"0.002\"} 90
herald_claim_duration_seconds_bucket{le=\"0.005\"} 100
herald_claim_duration_seconds_bucket{le=\"+Inf\"} 100
# TYPE herald_deliveries counter
herald_deliveries_total{outcome=\"delivered\"} 1234
herald_deliveries_total{outcome=\"failed\"} 6
";

    #[test]
    fn counter_sums_the_samples_with_the_label() {
        assert_eq!(
            counter(TEXT, "herald_deliveries_total", "outcome=\"delivered\""),
            1234.0
        );
        assert_eq!(counter(TEXT, "herald_deliveries_total", ""), 1240.0);
        assert_eq!(counter(TEXT, "herald_missing_total", ""), 0.0);
    }

    #[test]
    fn histogram_quantile_interpolates_inside_the_bucket() {
        let h = histogram(TEXT, "herald_claim_duration_seconds");
        assert_eq!(h.count(), 100.0);
        let p50 = h.quantile(0.5).expect("observations");
        assert!((p50 - 0.001).abs() < 1e-12, "{p50}");
        // Rank 99 lies 9/10 of the way through the (0.002, 0.005] bucket.
        let p99 = h.quantile(0.99).expect("observations");
        assert!((p99 - 0.0047).abs() < 1e-9, "{p99}");
    }

    #[test]
    fn window_quantile_comes_from_bucket_deltas() {
        let before = histogram(TEXT, "herald_claim_duration_seconds");
        let later = Buckets(vec![
            (0.001, 50.0),
            (0.002, 90.0),
            (0.005, 200.0),
            (f64::INFINITY, 200.0),
        ]);
        let window = later.since(&before);
        assert_eq!(window.count(), 100.0);
        // Every observation of the window fell in (0.002, 0.005].
        let p50 = window.quantile(0.5).expect("observations");
        assert!((p50 - 0.0035).abs() < 1e-9, "{p50}");
        assert_eq!(Buckets::default().quantile(0.99), None);
    }

    #[test]
    fn quantile_in_the_infinite_bucket_is_the_highest_finite_bound() {
        let h = Buckets(vec![(0.001, 1.0), (f64::INFINITY, 10.0)]);
        assert_eq!(h.quantile(0.99), Some(0.001));
    }
}
