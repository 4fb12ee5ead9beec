//! The leader's chores: retention and queue gauges. Bounded and idempotent, so two leaders
//! overlapping for a moment do no harm.

use std::{sync::Arc, time::Duration};

use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::{
    metrics::Metrics,
    store::{maintenance, Pool, StoreError},
};

/// Rows looked at per retention statement: small, so no statement holds locks for long.
pub const PRUNE_BATCH: i64 = 1000;
const PRUNE_EVERY: Duration = Duration::from_secs(60);
const GAUGES_EVERY: Duration = Duration::from_secs(5);
/// Most batches per retention run; the rest waits for the next run.
const MAX_BATCHES_PER_RUN: usize = 100;

pub struct Chores {
    pub pool: Pool,
    pub retention: Duration,
    pub metrics: Arc<Metrics>,
    last_prune: std::sync::Mutex<Option<Instant>>,
    last_gauges: std::sync::Mutex<Option<Instant>>,
}

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Pruned {
    pub deliveries: u64,
    pub events: u64,
    pub batches: usize,
}

impl Chores {
    pub fn new(pool: Pool, retention: Duration, metrics: Arc<Metrics>) -> Self {
        Self {
            pool,
            retention,
            metrics,
            last_prune: std::sync::Mutex::new(None),
            last_gauges: std::sync::Mutex::new(None),
        }
    }

    /// Runs whatever chore is due. Errors are logged; the next tick tries again.
    pub async fn tick(&self, stop: &CancellationToken) {
        if due(&self.last_gauges, GAUGES_EVERY) {
            if let Err(e) = self.update_gauges().await {
                tracing::debug!(error = %e, "queue gauges not updated");
            }
        }
        if due(&self.last_prune, PRUNE_EVERY) {
            match self.prune(stop).await {
                Ok(p) if p.deliveries + p.events > 0 => {
                    tracing::info!(
                        deliveries = p.deliveries,
                        events = p.events,
                        "retention pruned old rows"
                    )
                }
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e, "retention failed; will retry"),
            }
        }
    }

    pub async fn update_gauges(&self) -> Result<(), StoreError> {
        let client = self.pool.get().await?;
        let g = maintenance::queue_gauges(&client).await?;
        self.metrics.queue_due.set(g.due);
        self.metrics
            .queue_oldest_due_seconds
            .set(g.oldest_due_seconds);
        Ok(())
    }

    /// Deletes delivered and exhausted deliveries (with their attempts) and events older than
    /// the retention period, a small batch per statement: old events in creation order with
    /// their finished deliveries, then deliveries from before the queue was reshaped.
    pub async fn prune(&self, stop: &CancellationToken) -> Result<Pruned, StoreError> {
        let client = self.pool.get().await?;
        let mut pruned = Pruned::default();
        let mut after = None;
        for _ in 0..MAX_BATCHES_PER_RUN {
            if stop.is_cancelled() {
                break;
            }
            let p = maintenance::prune_events(&client, self.retention, PRUNE_BATCH, after).await?;
            pruned.deliveries += p.deliveries;
            pruned.events += p.events;
            pruned.batches += 1;
            match p.next {
                Some(next) => after = Some(next),
                None => break,
            }
        }
        for _ in 0..MAX_BATCHES_PER_RUN {
            if stop.is_cancelled() {
                break;
            }
            let n =
                maintenance::prune_legacy_deliveries(&client, self.retention, PRUNE_BATCH).await?;
            pruned.deliveries += n;
            pruned.batches += 1;
            if (n as i64) < PRUNE_BATCH {
                break;
            }
        }
        Ok(pruned)
    }
}

fn due(last: &std::sync::Mutex<Option<Instant>>, every: Duration) -> bool {
    let mut last = last.lock().unwrap_or_else(|p| p.into_inner());
    let now = Instant::now();
    match *last {
        Some(t) if now.duration_since(t) < every => false,
        _ => {
            *last = Some(now);
            true
        }
    }
}
