//! The writer: records results as they arrive, in batches of whatever is ready (one round trip
//! per batch), fenced by each claim's lease. Capacity is released only after the commit.

use std::{collections::HashMap, sync::Arc, time::Duration};

use chrono::{DateTime, Utc};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use super::{backoff::Backoff, capacity::Capacity, sender::Sent};
use crate::{
    domain::retry::{next_state, NextState, RetrySchedule},
    metrics::Metrics,
    store::{
        deliveries::{self, AttemptRow, BreakerUpdate, ResultRow},
        Pool, StoreError,
    },
};

/// Most results written in one statement.
pub const MAX_BATCH: usize = 1000;
/// Kept in the attempt log per response.
const EXCERPT_CHARS: usize = 1024;

pub struct Writer {
    pub pool: Pool,
    pub schedule: RetrySchedule,
    pub breaker_threshold: u32,
    pub results_rx: mpsc::UnboundedReceiver<Sent>,
    pub due_tx: mpsc::UnboundedSender<DateTime<Utc>>,
    pub capacity: Arc<Capacity>,
    pub metrics: Arc<Metrics>,
}

/// A batch turned into rows, ready to write.
#[derive(Debug, Default)]
pub struct Batch {
    pub results: Vec<ResultRow>,
    pub attempts: Vec<AttemptRow>,
    pub breaker: Vec<BreakerUpdate>,
}

/// Decides every result's next state (the pure retry function) and aggregates the breaker
/// per webhook, in completion order.
pub fn prepare(sent: &[Sent], schedule: &RetrySchedule, now: DateTime<Utc>) -> Batch {
    let mut batch = Batch::default();
    let mut breaker: HashMap<Uuid, BreakerUpdate> = HashMap::new();
    for s in sent {
        let d = &s.claimed.delivery;
        let Some(o) = &s.outcome else {
            batch.results.push(ResultRow {
                id: d.id,
                claimed_attempt_count: d.attempt_count,
                lease: d.lease,
                status: "exhausted",
                next_attempt_at: None,
                status_code: None,
                error: Some("webhook disabled".into()),
                attempted: false,
            });
            continue;
        };
        let attempts_before = u32::try_from(d.attempt_count).unwrap_or(0);
        let next = next_state(schedule, attempts_before, o.success(), o.retry_after, now);
        let error = if o.success() {
            None
        } else {
            Some(o.error.clone().unwrap_or_else(|| match o.status_code {
                Some(code) => format!("HTTP {code}"),
                None => "failed".into(),
            }))
        };
        batch.results.push(ResultRow {
            id: d.id,
            claimed_attempt_count: d.attempt_count,
            lease: d.lease,
            status: next.status(),
            next_attempt_at: match next {
                NextState::Retry { at } => Some(at),
                _ => None,
            },
            status_code: o.status_code.map(i32::from),
            error: error.clone(),
            attempted: true,
        });
        batch.attempts.push(AttemptRow {
            delivery_id: d.id,
            webhook_id: d.webhook_id,
            attempt: d.attempt_count + 1,
            started_at: o.started_at,
            duration_ms: o.duration.as_secs_f64() * 1000.0,
            status_code: o.status_code.map(i32::from),
            error,
            response_excerpt: o
                .response_excerpt
                .as_ref()
                .map(|e| e.chars().take(EXCERPT_CHARS).collect()),
        });
        let b = breaker
            .entry(d.webhook_id)
            .or_insert_with(|| BreakerUpdate {
                webhook_id: d.webhook_id,
                ..BreakerUpdate::default()
            });
        if o.success() {
            b.reset = true;
            b.failures = 0;
        } else {
            b.failures += 1;
        }
        b.gone |= o.gone;
    }
    batch.breaker = breaker.into_values().collect();
    batch
}

impl Writer {
    /// Writes one batch, retrying transient failures until `give_up` is cancelled.
    pub async fn flush(&self, sent: &[Sent], give_up: &CancellationToken) -> bool {
        let batch = prepare(sent, &self.schedule, Utc::now());
        let mut backoff = Backoff::new(Duration::from_millis(50), Duration::from_secs(5));
        let mut logged = false;
        loop {
            match self.write(&batch).await {
                Ok(recorded) => {
                    if logged {
                        tracing::info!("writer: database reachable again; results recorded");
                    }
                    self.account(sent, &batch, &recorded.applied, recorded.trips);
                    return true;
                }
                Err(e) => {
                    if !logged {
                        tracing::warn!(
                            error = %e,
                            results = sent.len(),
                            "writer: cannot record results; keeping them and retrying"
                        );
                        logged = true;
                    }
                    // A non-transient error (say, a delivery deleted between our check and
                    // the insert of its attempt) is retried too: the statement re-checks.
                    if !e.is_transient() && backoff.failures() >= 3 {
                        tracing::error!(error = %e, "writer: giving up on a batch; its rows return after their lease");
                        return false;
                    }
                    tokio::select! {
                        _ = give_up.cancelled() => {
                            tracing::warn!(results = sent.len(), "writer: stopped before the database came back; rows return after their lease");
                            return false;
                        }
                        _ = tokio::time::sleep(backoff.next_delay()) => {}
                    }
                }
            }
        }
    }

    async fn write(&self, batch: &Batch) -> Result<deliveries::Recorded, StoreError> {
        let client = self.pool.get().await?;
        deliveries::record_results(
            &client,
            &batch.results,
            &batch.attempts,
            &batch.breaker,
            self.breaker_threshold,
        )
        .await
    }

    fn account(&self, sent: &[Sent], batch: &Batch, applied: &[Uuid], trips: i64) {
        let applied: std::collections::HashSet<&Uuid> = applied.iter().collect();
        let now = Utc::now();
        for (s, r) in sent.iter().zip(&batch.results) {
            if !applied.contains(&r.id) {
                tracing::debug!(delivery_id = %r.id, "stale result ignored: the lease was lost");
                continue;
            }
            self.metrics.outcome(r.status).inc();
            if r.status == "delivered" {
                let latency = (now - s.claimed.delivery.created_at)
                    .to_std()
                    .unwrap_or(Duration::ZERO);
                self.metrics.delivery_latency.observe(latency.as_secs_f64());
            }
            if let Some(at) = r.next_attempt_at {
                let _ = self.due_tx.send(at);
            }
        }
        if trips > 0 {
            self.metrics.breaker_trips.inc_by(trips as u64);
            tracing::warn!(trips, "circuit breaker disabled webhooks");
        }
    }

    /// Runs until every sender is gone and all results are written. `give_up` abandons
    /// unwritable results at the end of a shutdown.
    pub async fn run(mut self, give_up: CancellationToken) {
        let mut buf = Vec::with_capacity(MAX_BATCH);
        loop {
            buf.clear();
            if self.results_rx.recv_many(&mut buf, MAX_BATCH).await == 0 {
                return;
            }
            self.flush(&buf, &give_up).await;
            // Dropping the results releases their capacity, after the commit.
            buf.clear();
            self.capacity.batch_released();
        }
    }
}
