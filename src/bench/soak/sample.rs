//! One sample of the soak (claim histogram, deliveries, memory, notification queue, table tuples) and what is read from a series of them.

use super::*;

/// One sample, `t` seconds after the load started.
#[derive(Debug, Clone)]
pub(super) struct Sample {
    pub(super) t: f64,
    pub(super) claim: Buckets,
    pub(super) delivered: f64,
    pub(super) rss_mib: f64,
    pub(super) notify_queue: f64,
    /// (table, live, dead)
    pub(super) tables: Vec<(String, i64, i64)>,
}

pub(super) async fn sample(
    c: &tokio_postgres::Client,
    worker: &mut Worker,
    t: f64,
) -> anyhow::Result<Sample> {
    worker.check_alive()?;
    let text = worker.metrics().await?;
    let rows = c.query(sql::SOAK_TABLES, &[]).await?;
    let notify_queue: f64 = c.query_one(sql::SOAK_NOTIFY_QUEUE, &[]).await?.get(0);
    Ok(Sample {
        t,
        claim: scrape::histogram(&text, CLAIM_HISTOGRAM),
        delivered: scrape::counter(&text, "herald_deliveries_total", "outcome=\"delivered\""),
        rss_mib: worker.rss_mib()?,
        notify_queue,
        tables: rows
            .iter()
            .map(|r| (r.get(0), r.get(1), r.get(2)))
            .collect(),
    })
}

/// The last sample taken at or before `t` (the first one if none).
pub(super) fn at_or_before(samples: &[Sample], t: f64) -> &Sample {
    samples
        .iter()
        .rev()
        .find(|s| s.t <= t + 1e-9)
        .unwrap_or(&samples[0])
}

/// The worst dead/live ratio of a table with at least [`SMALL_TABLE_ROWS`] live rows (with
/// its name), and the most dead tuples of a smaller table, over every sample.
pub(super) fn dead_tuples(samples: &[Sample]) -> (Option<(String, f64)>, i64) {
    let mut worst: Option<(String, f64)> = None;
    let mut worst_small = 0;
    for (table, live, dead) in samples.iter().flat_map(|s| &s.tables) {
        if *live >= SMALL_TABLE_ROWS {
            let ratio = *dead as f64 / *live as f64;
            if worst.as_ref().map_or(true, |(_, w)| ratio > *w) {
                worst = Some((table.clone(), ratio));
            }
        } else {
            worst_small = worst_small.max(*dead);
        }
    }
    (worst, worst_small)
}

/// The samples as a table: every one in JSON; printed, the first and last windows whole and
/// one row every 30 s between them.
pub(super) fn table(samples: &[Sample], w: f64, total: f64, every: f64) -> Table {
    // Tables whose rows change during the run; the others are configuration.
    let active: Vec<&String> = samples[0]
        .tables
        .iter()
        .map(|(name, _, _)| name)
        .filter(|name| {
            let of = |s: &Sample| s.tables.iter().find(|t| &t.0 == *name).map(|t| (t.1, t.2));
            let first = of(&samples[0]);
            samples.iter().any(|s| of(s) != first)
        })
        .collect();
    let mut columns: Vec<String> = [
        "t s",
        "delivered/s",
        "claims",
        "claim p99 ms",
        "RSS MiB",
        "notify queue",
    ]
    .map(String::from)
    .to_vec();
    columns.extend(active.iter().map(|t| format!("{t} live/dead")));
    let mut rows = Vec::new();
    let mut shown = Vec::new();
    let stride = ((30.0 / every).round() as usize).max(1);
    for (i, pair) in samples.windows(2).enumerate() {
        let (prev, s) = (&pair[0], &pair[1]);
        let window = s.claim.since(&prev.claim);
        let mut row = vec![
            json!(round(s.t)),
            json!(round(
                (s.delivered - prev.delivered) / (s.t - prev.t).max(1e-9)
            )),
            json!(window.count()),
            window
                .quantile(0.99)
                .map(|q| json!(round(q * 1000.0)))
                .unwrap_or(Value::Null),
            json!(round(s.rss_mib)),
            json!(s.notify_queue),
        ];
        for name in &active {
            let (live, dead) = s
                .tables
                .iter()
                .find(|t| &t.0 == *name)
                .map(|t| (t.1, t.2))
                .unwrap_or_default();
            row.push(json!([live, dead]));
        }
        rows.push(row);
        if s.t <= w + 1e-9 || s.t > total - w + 1e-9 || (i + 1) % stride == 0 {
            shown.push(i);
        }
    }
    Table {
        columns,
        rows,
        shown,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(t: f64, tables: Vec<(&str, i64, i64)>) -> Sample {
        Sample {
            t,
            claim: Buckets::default(),
            delivered: 0.0,
            rss_mib: 20.0,
            notify_queue: 0.0,
            tables: tables
                .into_iter()
                .map(|(n, l, d)| (n.to_owned(), l, d))
                .collect(),
        }
    }

    #[test]
    fn dead_tuples_judge_big_tables_by_ratio_and_small_ones_by_count() {
        let samples = [
            s(0.0, vec![("events", 0, 0), ("sleepers", 0, 0)]),
            s(5.0, vec![("events", 10_000, 5_000), ("sleepers", 1, 300)]),
            s(10.0, vec![("events", 20_000, 40_000), ("sleepers", 0, 40)]),
        ];
        let (worst, small) = dead_tuples(&samples);
        assert_eq!(worst, Some(("events".to_owned(), 2.0)));
        assert_eq!(small, 300);
    }

    #[test]
    fn at_or_before_picks_the_window_edge() {
        let samples = [s(0.0, vec![]), s(5.0, vec![]), s(10.0, vec![])];
        assert_eq!(at_or_before(&samples, 7.0).t, 5.0);
        assert_eq!(at_or_before(&samples, 10.0).t, 10.0);
        assert_eq!(at_or_before(&samples, -1.0).t, 0.0);
    }
}
