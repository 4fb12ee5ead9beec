//! The demo's figures, gathered from the database (deliveries, attempts, breakers), the
//! receiver (signatures, receipt instants) and the emitter (commit instants), and printed as
//! a table.

use std::{collections::HashMap, fmt::Write as _, time::Duration};

use uuid::Uuid;

use super::{
    cast::{Cast, Role},
    emit::Emitted,
    receiver::ReceiverStats,
};
use crate::{domain::percentile::nearest_rank, store::Pool};

const OUTCOME: &str = include_str!("sql/outcome.sql");

/// One demo webhook's outcome.
#[derive(Debug, Clone, Default)]
pub struct WebhookOutcome {
    pub deliveries: i64,
    pub delivered: i64,
    pub exhausted: i64,
    /// Deliveries that needed more than one attempt.
    pub retried: i64,
    pub delivered_after_retries: i64,
    pub attempts: i64,
    /// The circuit breaker disabled the webhook.
    pub tripped: bool,
}

/// Latency percentiles of one set of samples.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Latency {
    pub samples: usize,
    pub p50: Duration,
    pub p99: Duration,
    pub max: Duration,
}

impl Latency {
    /// Nearest-rank percentiles; `None` without samples.
    pub fn of(mut samples: Vec<Duration>) -> Option<Latency> {
        samples.sort_unstable();
        Some(Latency {
            samples: samples.len(),
            p50: nearest_rank(&samples, 0.50)?,
            p99: nearest_rank(&samples, 0.99)?,
            max: *samples.last()?,
        })
    }
}

#[derive(Debug, Clone)]
pub struct Summary {
    pub events: usize,
    pub by_role: Vec<(Role, WebhookOutcome)>,
    pub breaker_trips_metric: u64,
    pub signatures_passed: u64,
    pub signatures_failed: u64,
    /// Commit → the receiver has the request, for deliveries that succeeded at once.
    pub latency_first_attempt: Option<Latency>,
    /// Commit → the first successful request, for deliveries that needed retries.
    pub latency_after_retries: Option<Latency>,
    pub wall_time: Duration,
}

impl Summary {
    pub fn outcome(&self, role: Role) -> WebhookOutcome {
        self.by_role
            .iter()
            .find(|(r, _)| *r == role)
            .map(|(_, o)| o.clone())
            .unwrap_or_default()
    }

    fn total(&self, f: impl Fn(&WebhookOutcome) -> i64) -> i64 {
        self.by_role.iter().map(|(_, o)| f(o)).sum()
    }

    pub fn breaker_trips(&self) -> usize {
        self.by_role.iter().filter(|(_, o)| o.tripped).count()
    }
}

pub async fn gather(
    pool: &Pool,
    cast: &Cast,
    emitted: &Emitted,
    receiver: &ReceiverStats,
    breaker_trips_metric: u64,
    wall_time: Duration,
) -> anyhow::Result<Summary> {
    let rows = pool
        .get()
        .await?
        .query(OUTCOME, &[&cast.webhook_ids()])
        .await?;
    let mut by_id = HashMap::new();
    for row in rows {
        let id: Uuid = row.try_get("id")?;
        by_id.insert(
            id,
            WebhookOutcome {
                deliveries: row.try_get("deliveries")?,
                delivered: row.try_get("delivered")?,
                exhausted: row.try_get("exhausted")?,
                retried: row.try_get("retried")?,
                delivered_after_retries: row.try_get("delivered_after_retries")?,
                attempts: row.try_get("attempts")?,
                tripped: row.try_get("tripped")?,
            },
        );
    }
    let by_role = cast
        .webhooks
        .iter()
        .map(|w| (w.role, by_id.remove(&w.id).unwrap_or_default()))
        .collect();

    let (mut at_once, mut after_retries) = (Vec::new(), Vec::new());
    for endpoint in receiver.endpoints.values() {
        for (event_id, success) in &endpoint.first_success {
            let Some(committed) = emitted.committed_at.get(event_id) else {
                continue;
            };
            // The receiver may see a request a moment before the emitter sees its commit
            // acknowledged: that counts as zero.
            let latency = success.saturating_duration_since(*committed);
            if endpoint.first_receipt.get(event_id) == Some(success) {
                at_once.push(latency);
            } else {
                after_retries.push(latency);
            }
        }
    }
    Ok(Summary {
        events: emitted.committed_at.len(),
        by_role,
        breaker_trips_metric,
        signatures_passed: receiver.signatures_passed(),
        signatures_failed: receiver.signatures_failed(),
        latency_first_attempt: Latency::of(at_once),
        latency_after_retries: Latency::of(after_retries),
        wall_time,
    })
}

fn ms(d: Duration) -> String {
    let ms = d.as_secs_f64() * 1000.0;
    if ms < 10.0 {
        format!("{ms:.1} ms")
    } else {
        format!("{ms:.0} ms")
    }
}

fn latency_line(l: Option<Latency>) -> String {
    match l {
        None => "no samples".into(),
        Some(l) => format!(
            "p50 {}  p99 {}  max {}  ({} deliveries)",
            ms(l.p50),
            ms(l.p99),
            ms(l.max),
            l.samples
        ),
    }
}

impl std::fmt::Display for Summary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "  {:<9} {:<32} {:>10} {:>9} {:>7} {:>9} {:>8}  breaker",
            "webhook", "endpoint", "deliveries", "delivered", "retried", "exhausted", "attempts"
        );
        for (role, o) in &self.by_role {
            let _ = writeln!(
                out,
                "  {:<9} {:<32} {:>10} {:>9} {:>7} {:>9} {:>8}  {}",
                role.name(),
                role.describe(),
                o.deliveries,
                o.delivered,
                o.retried,
                o.exhausted,
                o.attempts,
                if o.tripped { "TRIPPED" } else { "closed" }
            );
        }
        let _ = writeln!(out);
        let rows: [(&str, String); 9] = [
            ("events", self.events.to_string()),
            ("deliveries", self.total(|o| o.deliveries).to_string()),
            ("delivered", self.total(|o| o.delivered).to_string()),
            (
                "retried",
                format!(
                    "{} (needed more than one attempt)",
                    self.total(|o| o.retried)
                ),
            ),
            ("exhausted", self.total(|o| o.exhausted).to_string()),
            (
                "breaker trips",
                format!(
                    "{} (herald_breaker_trips: {})",
                    self.breaker_trips(),
                    self.breaker_trips_metric
                ),
            ),
            (
                "signatures",
                format!(
                    "{} verified, {} failed",
                    self.signatures_passed, self.signatures_failed
                ),
            ),
            (
                "latency, 1st attempt",
                latency_line(self.latency_first_attempt),
            ),
            (
                "latency, with retries",
                latency_line(self.latency_after_retries),
            ),
        ];
        for (name, value) in rows {
            let _ = writeln!(out, "  {name:<22} {value}");
        }
        let _ = writeln!(
            out,
            "  {:<22} commit → the receiver has the request (first 2xx answer)",
            ""
        );
        let _ = write!(
            out,
            "  {:<22} {:.1} s",
            "wall time",
            self.wall_time.as_secs_f64()
        );
        f.write_str(&out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn latency_uses_nearest_rank_percentiles() {
        let samples = (1..=100).map(Duration::from_millis).collect();
        let l = Latency::of(samples).expect("samples");
        assert_eq!(l.p50, Duration::from_millis(50));
        assert_eq!(l.p99, Duration::from_millis(99));
        assert_eq!(l.max, Duration::from_millis(100));
        assert_eq!(Latency::of(Vec::new()), None);
        let one = Latency::of(vec![Duration::from_millis(7)]).expect("one");
        assert_eq!((one.p50, one.p99), (Duration::from_millis(7), one.max));
    }
}
