//! The writer: records results as they arrive, in batches of whatever is ready (one round trip
//! per batch), fenced by each claim's lease. Capacity is released only after the commit.
//! One batch is written at a time; results that arrive while it commits go with the next one,
//! so a loaded worker's writes grow with its load instead of multiplying. The claim of the next
//! batch overlaps the write (the claimer has its own connection).

use std::{
    collections::{HashMap, VecDeque},
    sync::Arc,
    time::{Duration, Instant},
};

use chrono::{DateTime, Utc};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use super::{
    backoff::Backoff,
    capacity::Capacity,
    sender::{Outcome, Sent},
};
use crate::{
    domain::{
        retry::{next_state, NextState, RetrySchedule},
        status::DeliveryStatus,
    },
    metrics::Metrics,
    store::{
        deliveries::{self, Attempt, AttemptRow, BreakerPolicy, BreakerUpdate, ResultRow},
        Pool, StoreError,
    },
};

/// Most results written in one statement.
pub const MAX_BATCH: usize = 1000;
/// Kept in the attempt log per response: the sender reads no more bytes than this, and the
/// writer keeps no more characters of whatever excerpt it is handed.
const EXCERPT_CHARS: usize = crate::http::MAX_RESPONSE_EXCERPT;
/// How far back results are written again after a failed write: commits use
/// `synchronous_commit = off`, so a failover can lose the last fraction of a second of them.
pub const REPLAY_WINDOW: Duration = Duration::from_secs(2);

pub struct Writer {
    pub pool: Pool,
    /// Batches committed in the last [`REPLAY_WINDOW`], kept to be written again after a
    /// failed write (see [`Writer::flush`]).
    pub recent: VecDeque<(Instant, Batch)>,
    pub schedule: RetrySchedule,
    pub breaker: BreakerPolicy,
    pub due_tx: mpsc::UnboundedSender<DateTime<Utc>>,
    pub capacity: Arc<Capacity>,
    pub metrics: Arc<Metrics>,
    /// Set while a write has failed and not yet got through (see [`Writer::flush`]).
    pub outage: bool,
}

/// A batch turned into rows, ready to write.
#[derive(Debug, Default, Clone)]
pub struct Batch {
    pub results: Vec<ResultRow>,
    pub attempts: Vec<AttemptRow>,
    pub breaker: Vec<BreakerUpdate>,
}

/// Decides every result's next state (the pure retry function) and aggregates the breaker
/// and back-off per webhook, in completion order. `max_retry_after` bounds `Retry-After`.
pub fn prepare(
    sent: &[Sent],
    schedule: &RetrySchedule,
    max_retry_after: Duration,
    now: DateTime<Utc>,
) -> Batch {
    let mut batch = Batch::default();
    let mut breaker: HashMap<Uuid, BreakerUpdate> = HashMap::new();
    for s in sent {
        let d = &s.claimed.delivery;
        let o = match &s.outcome {
            Outcome::Attempted(o) => o,
            Outcome::Skipped(skip) => {
                batch.results.push(ResultRow {
                    id: d.id,
                    claimed_attempt_count: d.attempt_count,
                    lease: d.lease,
                    status: DeliveryStatus::Exhausted,
                    next_attempt_at: None,
                    status_code: None,
                    error: Some(skip.reason().into()),
                    attempted: false,
                });
                continue;
            }
        };
        let attempts_before = u32::try_from(d.attempt_count).unwrap_or(0);
        let retry_after = o.retry_after.map(|d| d.min(max_retry_after));
        let next = next_state(schedule, attempts_before, o.success(), retry_after, now);
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
            attempt: Attempt {
                attempt: d.attempt_count + 1,
                started_at: o.started_at,
                duration_ms: o.duration.as_secs_f64() * 1000.0,
                status_code: o.status_code.map(i32::from),
                error,
                response_excerpt: o
                    .response_excerpt
                    .as_ref()
                    .map(|e| e.chars().take(EXCERPT_CHARS).collect()),
            },
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
        if matches!(o.status_code, Some(429 | 503)) {
            let answered =
                o.started_at + chrono::Duration::from_std(o.duration).unwrap_or_default();
            b.throttled_at = b.throttled_at.max(Some(answered));
            if let Some(wait) = retry_after {
                let until = answered + chrono::Duration::from_std(wait).unwrap_or_default();
                b.retry_until = b.retry_until.max(Some(until));
            }
        } else if !o.not_sent {
            b.answered_at = b.answered_at.max(Some(o.started_at));
        }
    }
    batch.breaker = breaker.into_values().collect();
    batch
}

impl Writer {
    /// Writes one batch, retrying transient failures until `stop_unfinished` is cancelled. The
    /// first batch to meet an outage logs it and, once it gets through, the recovery: one
    /// warning and one recovery line per outage.
    pub async fn flush(&mut self, sent: &[Sent], stop_unfinished: &CancellationToken) -> bool {
        let batch = prepare(
            sent,
            &self.schedule,
            self.breaker.max_retry_after,
            Utc::now(),
        );
        let mut backoff = Backoff::new(Duration::from_millis(50), Duration::from_secs(5));
        let mut failed = false;
        let mut logged = false;
        loop {
            match self.write(&batch).await {
                Ok(recorded) => {
                    if logged {
                        self.outage = false;
                        tracing::info!("writer: database reachable again; results recorded");
                        self.replay().await;
                    }
                    self.account(sent, &batch, &recorded);
                    self.keep(batch);
                    return true;
                }
                Err(e) => {
                    if !failed {
                        failed = true;
                        logged = !std::mem::replace(&mut self.outage, true);
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
                            self.outage = false;
                        }
                        tracing::error!(error = %e, "writer: giving up on a batch; its rows return after their lease");
                        return false;
                    }
                    tokio::select! {
                        _ = stop_unfinished.cancelled() => {
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
    fn keep(&mut self, batch: Batch) {
        let now = Instant::now();
        let recent = &mut self.recent;
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
    async fn replay(&mut self) {
        let batches: Vec<Batch> = self.recent.drain(..).map(|(_, b)| b).collect();
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
            self.breaker,
        )
        .await
    }

    fn account(&self, sent: &[Sent], batch: &Batch, recorded: &deliveries::Recorded) {
        let applied: std::collections::HashSet<&Uuid> = recorded.applied.iter().collect();
        let trips = recorded.trips;
        let now = Utc::now();
        for (s, r) in sent.iter().zip(&batch.results) {
            if !applied.contains(&r.id) {
                tracing::debug!(delivery_id = %r.id, "stale result ignored: the lease was lost");
                continue;
            }
            self.metrics.outcome(r.status.as_str()).inc();
            if r.status == DeliveryStatus::Delivered {
                let latency = (now - s.claimed.delivery.created_at)
                    .to_std()
                    .unwrap_or(Duration::ZERO);
                self.metrics.delivery_latency.observe(latency.as_secs_f64());
            }
            if let Some(at) = r.next_attempt_at {
                let _ = self.due_tx.send(at);
            }
        }
        for at in &recorded.wake_at {
            let _ = self.due_tx.send(*at);
        }
        if trips > 0 {
            self.metrics.breaker_trips.inc_by(trips as u64);
            tracing::warn!(
                trips,
                "circuit breaker opened: the webhooks' deliveries wait for the cool-down"
            );
        }
    }

    /// Runs until every sender is gone and all results are written. `stop_unfinished` abandons
    /// unwritable results at the end of a shutdown.
    pub async fn run(
        mut self,
        mut results_rx: mpsc::UnboundedReceiver<Sent>,
        stop_unfinished: CancellationToken,
    ) {
        // Results that arrive while a batch commits wait in the channel and go with the next.
        let mut batch = Vec::with_capacity(MAX_BATCH);
        while results_rx.recv_many(&mut batch, MAX_BATCH).await > 0 {
            self.flush(&batch, &stop_unfinished).await;
            // Dropping the results releases their capacity, after the commit.
            batch.clear();
            self.capacity.batch_released();
        }
    }
}

#[cfg(test)]
mod tests;
