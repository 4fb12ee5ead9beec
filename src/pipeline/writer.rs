//! The writer: records results as they arrive, in batches of whatever is ready (one round trip
//! per batch), fenced by each claim's lease. Capacity is released only after the commit.
//! Up to [`CONCURRENT_WRITES`] batches are written at once, on their own connections: results
//! that arrive while a batch commits are not held back until it is done, so a slot spends less
//! time waiting for its commit and the claim of the next batch overlaps the writes.

use std::{
    collections::HashMap,
    sync::{
        atomic::{AtomicBool, Ordering},
        Arc,
    },
    time::Duration,
};

use futures_util::{stream::FuturesUnordered, StreamExt};

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
/// Batches written at the same time. Each result row belongs to one batch, so concurrent
/// batches touch different queue and delivery rows; breaker updates of the same webhook in two
/// batches are serialised by its row lock (a deadlock between them is retried).
pub const CONCURRENT_WRITES: usize = 2;
/// Kept in the attempt log per response.
const EXCERPT_CHARS: usize = 1024;
/// How far back results are written again after a failed write: commits use
/// `synchronous_commit = off`, so a failover can lose the last fraction of a second of them.
pub const REPLAY_WINDOW: Duration = Duration::from_secs(2);

pub struct Writer {
    pub pool: Pool,
    /// Batches committed in the last [`REPLAY_WINDOW`], kept to be written again after a
    /// failed write (see [`Writer::flush`]).
    pub recent: std::sync::Mutex<std::collections::VecDeque<(std::time::Instant, Batch)>>,
    pub schedule: RetrySchedule,
    pub breaker_threshold: u32,
    pub due_tx: mpsc::UnboundedSender<DateTime<Utc>>,
    pub capacity: Arc<Capacity>,
    pub metrics: Arc<Metrics>,
    /// Set while a write has failed and not yet got through (see [`Writer::flush`]).
    pub outage: AtomicBool,
}

/// A batch turned into rows, ready to write.
#[derive(Debug, Default, Clone)]
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
        } else if !o.not_sent {
            b.failures += 1;
        }
        b.gone |= o.gone;
    }
    batch.breaker = breaker.into_values().collect();
    batch
}

impl Writer {
    /// Writes one batch, retrying transient failures until `give_up` is cancelled. Of batches
    /// written at once, the first to meet an outage logs it and, once it gets through, the
    /// recovery: one warning and one recovery line per outage.
    pub async fn flush(&self, sent: &[Sent], give_up: &CancellationToken) -> bool {
        let batch = prepare(sent, &self.schedule, Utc::now());
        let mut backoff = Backoff::new(Duration::from_millis(50), Duration::from_secs(5));
        let mut failed = false;
        let mut logged = false;
        loop {
            match self.write(&batch).await {
                Ok(recorded) => {
                    if logged {
                        self.outage.store(false, Ordering::Release);
                        tracing::info!("writer: database reachable again; results recorded");
                        self.replay().await;
                    }
                    self.account(sent, &batch, &recorded.applied, recorded.trips);
                    self.keep(batch);
                    return true;
                }
                Err(e) => {
                    if !failed {
                        failed = true;
                        logged = !self.outage.swap(true, Ordering::AcqRel);
                        if logged {
                            tracing::warn!(
                                error = %e,
                                results = sent.len(),
                                "writer: cannot record results; keeping them and retrying"
                            );
                        }
                    }
                    // A non-transient error (say, a delivery deleted between our check and
                    // the insert of its attempt) is retried too: the statement re-checks.
                    if !e.is_transient() && backoff.failures() >= 3 {
                        if logged {
                            self.outage.store(false, Ordering::Release);
                        }
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

    /// Remembers a committed batch for [`REPLAY_WINDOW`].
    fn keep(&self, batch: Batch) {
        let now = std::time::Instant::now();
        let mut recent = self.recent.lock().unwrap_or_else(|p| p.into_inner());
        while recent
            .front()
            .is_some_and(|(at, _)| now.duration_since(*at) > REPLAY_WINDOW)
        {
            recent.pop_front();
        }
        recent.push_back((now, batch));
    }

    /// After a failed write (the connection broke: perhaps a failover), writes the batches
    /// committed just before it again. Their commits did not wait for the disk or a standby,
    /// so a new primary may not have them; the lease fences each result, so one that did
    /// arrive changes nothing, and an attempt is never logged twice.
    async fn replay(&self) {
        let batches: Vec<Batch> = {
            let mut recent = self.recent.lock().unwrap_or_else(|p| p.into_inner());
            recent.drain(..).map(|(_, b)| b).collect()
        };
        let mut again = 0;
        for batch in &batches {
            match self.write(batch).await {
                Ok(recorded) => again += recorded.applied.len(),
                Err(e) => {
                    tracing::warn!(error = %e, "writer: cannot write recent results again; they return after their lease");
                    return;
                }
            }
        }
        if again > 0 {
            tracing::warn!(
                results = again,
                "writer: results committed before the outage were missing and are recorded again"
            );
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
    pub async fn run(
        self,
        mut results_rx: mpsc::UnboundedReceiver<Sent>,
        give_up: CancellationToken,
    ) {
        let writer = Arc::new(self);
        let mut writes = FuturesUnordered::new();
        let mut buf = Vec::with_capacity(MAX_BATCH);
        loop {
            tokio::select! {
                biased;
                Some(()) = writes.next(), if !writes.is_empty() => {}
                n = results_rx.recv_many(&mut buf, MAX_BATCH), if writes.len() < CONCURRENT_WRITES => {
                    if n == 0 {
                        break;
                    }
                    let batch = std::mem::replace(&mut buf, Vec::with_capacity(MAX_BATCH));
                    let writer = Arc::clone(&writer);
                    let give_up = give_up.clone();
                    writes.push(async move {
                        writer.flush(&batch, &give_up).await;
                        // Dropping the results releases their capacity, after the commit.
                        drop(batch);
                        writer.capacity.batch_released();
                    });
                }
            }
        }
        while writes.next().await.is_some() {}
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use bytes::Bytes;
    use chrono::Utc;
    use uuid::Uuid;

    use super::*;
    use crate::{
        http::AttemptOutcome, pipeline::claimer::Claimed, store::deliveries::ClaimedDelivery,
    };

    fn sent(capacity: &Arc<Capacity>, webhook: Uuid, attempts: i32, status: Option<u16>) -> Sent {
        let delivery = ClaimedDelivery {
            id: Uuid::new_v4(),
            webhook_id: webhook,
            event_id: Uuid::new_v4(),
            body: Bytes::from_static(b"{}"),
            attempt_count: attempts,
            lease: Utc::now(),
            created_at: Utc::now(),
            url: Some("https://example.com/".into()),
            secret: None,
            previous_secret: None,
            active: status.is_some(),
        };
        let outcome = status.map(|code| AttemptOutcome {
            started_at: Utc::now(),
            duration: Duration::from_millis(3),
            status_code: Some(code),
            error: (!(200..300).contains(&code)).then(|| format!("HTTP {code}")),
            response_excerpt: None,
            retry_after: None,
            gone: code == 410,
            not_sent: false,
        });
        Sent {
            claimed: Claimed {
                delivery,
                slot: capacity.take(webhook).expect("capacity"),
            },
            outcome,
        }
    }

    #[test]
    fn prepare_aggregates_the_breaker_per_webhook_in_completion_order() {
        let capacity = Capacity::new(16, 16, Metrics::new());
        let (a, b, c) = (Uuid::new_v4(), Uuid::new_v4(), Uuid::new_v4());
        let batch = [
            sent(&capacity, a, 0, Some(500)),
            sent(&capacity, a, 0, Some(204)),
            sent(&capacity, a, 0, Some(500)),
            sent(&capacity, b, 0, Some(500)),
            sent(&capacity, b, 0, Some(503)),
            sent(&capacity, c, 0, Some(410)),
        ];
        let prepared = prepare(&batch, &RetrySchedule::standard(), Utc::now());
        let by_id: HashMap<Uuid, &BreakerUpdate> =
            prepared.breaker.iter().map(|b| (b.webhook_id, b)).collect();
        assert!(
            by_id[&a].reset && by_id[&a].failures == 1,
            "{:?}",
            by_id[&a]
        );
        assert!(!by_id[&b].reset && by_id[&b].failures == 2);
        assert!(by_id[&c].gone);
        assert_eq!(prepared.attempts.len(), 6);
        assert_eq!(prepared.results[1].status, "delivered");
        assert_eq!(prepared.results[0].status, "failed");
    }

    #[test]
    fn prepare_exhausts_unsent_deliveries_of_disabled_webhooks_without_an_attempt() {
        let capacity = Capacity::new(4, 4, Metrics::new());
        let batch = [sent(&capacity, Uuid::new_v4(), 2, None)];
        let prepared = prepare(&batch, &RetrySchedule::standard(), Utc::now());
        let r = &prepared.results[0];
        assert_eq!(r.status, "exhausted");
        assert_eq!(r.error.as_deref(), Some("webhook disabled"));
        assert!(!r.attempted);
        assert!(prepared.attempts.is_empty());
        assert!(prepared.breaker.is_empty());
    }

    #[test]
    fn prepare_exhausts_after_the_last_scheduled_attempt() {
        let capacity = Capacity::new(4, 4, Metrics::new());
        let schedule: RetrySchedule = "0,1,1".parse().unwrap();
        let batch = [
            sent(&capacity, Uuid::new_v4(), 1, Some(500)),
            sent(&capacity, Uuid::new_v4(), 2, Some(500)),
        ];
        let prepared = prepare(&batch, &schedule, Utc::now());
        assert_eq!(prepared.results[0].status, "failed");
        assert!(prepared.results[0].next_attempt_at.is_some());
        assert_eq!(prepared.results[1].status, "exhausted");
        assert_eq!(prepared.attempts[1].attempt, 3);
    }
}
