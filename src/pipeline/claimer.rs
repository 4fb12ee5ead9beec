//! The claimer: claims due deliveries in batches sized to free capacity and hands each one,
//! with its capacity slot, to the sender. It wakes on a notification, the jittered safety poll,
//! the next known due time, and freed capacity.

use std::{collections::BTreeSet, sync::Arc, time::Duration};

use chrono::{DateTime, Utc};
use tokio::{
    sync::{mpsc, Notify},
    time::Instant,
};
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use super::{
    backoff::{jitter, Backoff},
    capacity::{Capacity, Slot},
    gates::{LimitedIdle, GATE_CHECK},
    listener::WakeGate,
};
use crate::{
    metrics::Metrics,
    store::{
        deliveries::{self, OnePerWebhook},
        Pool, StoreError,
    },
};

/// A claimed delivery and its share of the capacity.
#[derive(Debug)]
pub struct Claimed {
    pub delivery: deliveries::ClaimedDelivery,
    pub slot: Slot,
}

pub struct Claimer {
    pub pool: Pool,
    pub capacity: Arc<Capacity>,
    pub lease: Duration,
    pub batch_max: usize,
    pub poll_interval: Duration,
    pub gate: WakeGate,
    pub wake: Arc<Notify>,
    /// Times at which retries written by this worker become due.
    pub due_rx: mpsc::UnboundedReceiver<DateTime<Utc>>,
    pub claimed_tx: mpsc::Sender<Claimed>,
    pub metrics: Arc<Metrics>,
    /// When to look at the gated webhooks (delivery policies) next.
    pub gates: super::gates::GateWatch,
}

/// Most known due times kept; later ones are left to the safety poll.
const MAX_DUE_TIMES: usize = 4096;

/// After a non-empty claim the claimer stays awake this long, polling (claiming again), before
/// it declares itself asleep. Under a steady flow of events the flag then stays down and
/// producers do not NOTIFY: a NOTIFY holds an instance-wide lock across the commit's flush,
/// which serialized the producers (steady 1,000 events/s reached 540/s).
const LINGER: Duration = Duration::from_millis(50);
/// The linger polls start on a grid this far apart, counted from the start of the round before,
/// so how many fit into the linger does not depend on how long a round takes (a round longer
/// than the interval waits for the next point of the grid, never starts the next one at once).
/// 3 ms is about what a round took when each one also read the gated webhooks (2 ms asleep, a
/// claim and the gates query). Each poll that finds nothing doubles the interval, up to
/// [`LINGER_POLL_MAX`]; a non-empty claim sets it back: a replica whose polls come back empty
/// (other replicas took the rows, or the flow stopped) polls 6 times in the linger, not 16.
const LINGER_POLL: Duration = Duration::from_millis(3);
const LINGER_POLL_MAX: Duration = Duration::from_millis(12);
/// With fewer than a quarter of its slots free, the claimer waits up to this long for a quarter
/// to free before it claims. A full worker's claims were otherwise as small as the last batch
/// of results written (each frees its slots and wakes the claimer): with four replicas on two
/// cores, 100-150 rows a claim and 30-40 a write, three times the claims of one replica for
/// the same rows, and the database's CPU went to them.
const REFILL_WAIT: Duration = Duration::from_millis(20);

impl Claimer {
    /// Claims one batch of at most `limit` deliveries and passes them on. Returns how many.
    pub async fn claim_once(&self, limit: usize) -> Result<usize, StoreError> {
        if limit == 0 {
            return Ok(0);
        }
        let client = self.pool.get().await?;
        let limits = self.capacity.claim_limits();
        let started = Instant::now();
        let batch = deliveries::claim_batch(&client, limit, self.lease, &limits).await?;
        self.metrics
            .claim_duration
            .observe(started.elapsed().as_secs_f64());
        drop(client);
        Ok(self.hand_over(batch).await)
    }

    /// Passes claimed deliveries on, each with its capacity slot. Returns how many.
    async fn hand_over(&self, batch: Vec<deliveries::ClaimedDelivery>) -> usize {
        self.hand_over_slots(batch, false).await
    }

    /// [`Claimer::hand_over`] for gated webhooks' deliveries: their released slots make the
    /// claimer read the gates again.
    async fn hand_over_gated(&self, batch: Vec<deliveries::ClaimedDelivery>) -> usize {
        self.hand_over_slots(batch, true).await
    }

    async fn hand_over_slots(&self, batch: Vec<deliveries::ClaimedDelivery>, gated: bool) -> usize {
        let n = batch.len();
        for delivery in batch {
            let slot = if gated {
                self.capacity.take_gated(delivery.webhook_id)
            } else {
                self.capacity.take(delivery.webhook_id)
            };
            let Some(slot) = slot else {
                // Cannot happen while the claimer is the only taker; the row returns after
                // its lease if it ever does.
                tracing::error!(delivery_id = %delivery.id, "no capacity for a claimed delivery");
                continue;
            };
            if self
                .claimed_tx
                .send(Claimed { delivery, slot })
                .await
                .is_err()
            {
                break; // the sender is gone: shutting down
            }
        }
        n
    }

    /// Delivery policies: reads the gated webhooks when they may have changed (see
    /// [`GateWatch`]), claims a probe for each one whose wait is over, the due head of each FIFO
    /// webhook and the deliveries that rate-limited ones have tokens for, and remembers when
    /// the next wait ends, head is due or token comes. Returns how many it claimed.
    async fn claim_probes(&mut self, due: &mut BTreeSet<DateTime<Utc>>) -> usize {
        let now = Instant::now();
        if !self.gates.due(now, due, &self.capacity) {
            return 0;
        }
        let idle = self.gates.limited_idle.as_ref().is_some_and(|i| {
            now < i.until
                // A known due time passed since (a wait or a bucket may be over).
                && due.range(i.since..=Utc::now()).next().is_none()
                && !i.no_room.iter().any(|id| self.capacity.claim_limits().alone_of(*id) > 0)
        });
        let Ok(client) = self.pool.get().await else {
            self.gates.again = true;
            return 0; // the main claim reports an unreachable database
        };
        let read_at = Utc::now();
        let gates = match deliveries::gates(&client).await {
            Ok(g) => g,
            Err(e) => {
                tracing::debug!(error = %e, "claimer: cannot read the gated webhooks");
                self.gates.again = true;
                return 0;
            }
        };
        self.metrics.gate_reads.inc();
        self.gates.read(now, read_at, &gates);
        if let Some(t) = gates.next_at {
            remember(due, t);
        }
        let limits = self.capacity.claim_limits();
        let full = limits.full();
        let free = || self.capacity.free().min(self.batch_max);
        let mut batch = Vec::new();
        for (kind, wanted) in [
            (OnePerWebhook::Probes, gates.ready),
            (OnePerWebhook::FifoHeads, gates.fifo_ready),
        ] {
            let limit = free().saturating_sub(batch.len());
            if !wanted || limit == 0 {
                continue;
            }
            match deliveries::claim_probes(&client, kind, limit, self.lease, &full).await {
                Ok(claimed) => batch.extend(claimed),
                Err(e) => {
                    tracing::warn!(error = %e, ?kind, "claimer: cannot claim for gated webhooks")
                }
            }
        }
        // Rate-limited webhooks: within the capacity the other claims left.
        let limit = free().saturating_sub(batch.len());
        let (room, no_room): (Vec<Uuid>, Vec<Uuid>) = gates
            .limited
            .iter()
            .partition(|id| limits.alone_of(**id) > 0);
        if !room.is_empty() && limit > 0 && !idle {
            match deliveries::claim_limited(&client, limit, self.lease, &limits).await {
                Ok(limited) => {
                    self.gates.limited_idle = limited.is_empty().then(|| LimitedIdle {
                        until: now + GATE_CHECK,
                        since: Utc::now(),
                        no_room,
                    });
                    batch.extend(limited);
                }
                Err(e) => tracing::warn!(error = %e, "claimer: cannot claim rate-limited webhooks"),
            }
        }
        if let Some(i) = self.gates.limited_idle.as_ref().filter(|i| i.until > now) {
            // Try the limited claim again when its rest ends.
            self.gates.next_check = self.gates.next_check.map(|t| t.min(i.until));
        }
        drop(client);
        // What was claimed moved a bucket, a head or a breaker, and more may be ready: look
        // again next round. (A claim that found nothing waits for a reason to look.)
        self.gates.again = !batch.is_empty();
        let n = batch.len();
        self.hand_over_gated(batch).await;
        n
    }

    pub async fn run(mut self, stop: CancellationToken) {
        let mut due: BTreeSet<DateTime<Utc>> = BTreeSet::new();
        let mut asleep = false;
        let mut next_poll = Instant::now() + jitter(self.poll_interval, 0.2);
        let mut backoff = Backoff::new(Duration::from_millis(100), Duration::from_secs(5));
        let mut db_down = false;
        let mut linger_until = Instant::now();
        let mut linger_poll = LINGER_POLL;
        while !stop.is_cancelled() {
            self.wait_for_refill().await;
            let round_started = Instant::now();
            let limit = self.capacity.free().min(self.batch_max);
            // Ask for a wake-up on freed capacity before looking, not after: slots released
            // while this claim runs must wake the wait below, not be lost until the poll.
            self.capacity.want_wakeup();
            let claimed = match self.claim_once(limit).await {
                Ok(n) => {
                    if db_down {
                        tracing::info!("claimer: database reachable again");
                        db_down = false;
                    }
                    backoff.reset();
                    n + self.claim_probes(&mut due).await
                }
                Err(e) => {
                    if !db_down {
                        tracing::warn!(error = %e, "claimer: cannot claim; retrying with backoff");
                        db_down = true;
                    }
                    tokio::select! {
                        _ = stop.cancelled() => break,
                        _ = tokio::time::sleep(backoff.next_delay()) => {}
                    }
                    continue;
                }
            };
            if claimed > 0 {
                linger_poll = LINGER_POLL;
                if asleep {
                    self.gate.declare_awake();
                    asleep = false;
                }
                if claimed == limit {
                    continue; // more may be due
                }
                linger_until = Instant::now() + LINGER;
            }
            if !asleep && self.capacity.free() > 0 && Instant::now() < linger_until {
                let next_round =
                    next_poll_start(round_started, Instant::now(), linger_poll).min(linger_until);
                if claimed == 0 {
                    linger_poll = (linger_poll * 2).min(LINGER_POLL_MAX);
                }
                tokio::select! {
                    _ = stop.cancelled() => return,
                    _ = tokio::time::sleep_until(next_round) => {}
                }
                continue;
            }
            // About to wait. Declare it, then look once more (the gated wake). At full
            // capacity only freed capacity can help, so producers are not asked to notify.
            if !asleep && self.capacity.free() > 0 && self.gate.declare_sleeping().await {
                asleep = true;
                self.capacity.want_wakeup();
                let limit = self.capacity.free().min(self.batch_max);
                if let Ok(n) = self.claim_once(limit).await {
                    // A FIFO head or limited delivery committed before the flag was visible
                    // is announced by nothing either.
                    self.gates.look_again_if_gated();
                    let n = n + self.claim_probes(&mut due).await;
                    if n > 0 {
                        self.gate.declare_awake();
                        asleep = false;
                        continue;
                    }
                }
            }
            if !self.wait(&mut due, &mut next_poll, &stop).await {
                return;
            }
        }
    }

    /// Returns once a quarter of the slots are free, or after [`REFILL_WAIT`] (see there).
    /// Returns at once while that many are free: an idle or lightly loaded worker never waits.
    async fn wait_for_refill(&self) {
        let want = (self.batch_max / 4).max(1);
        let deadline = Instant::now() + REFILL_WAIT;
        while self.capacity.free() < want {
            self.capacity.want_wakeup();
            if self.capacity.free() >= want {
                break;
            }
            tokio::select! {
                _ = self.capacity.freed() => {}
                _ = tokio::time::sleep_until(deadline) => break,
            }
        }
    }

    /// Waits for a reason to claim again: a notification, the safety poll, a known due time
    /// or freed capacity (each counted in `herald_wakeups`). Due times announced meanwhile
    /// only move the timer. False when `stop` came first.
    async fn wait(
        &mut self,
        due: &mut BTreeSet<DateTime<Utc>>,
        next_poll: &mut Instant,
        stop: &CancellationToken,
    ) -> bool {
        loop {
            while let Ok(t) = self.due_rx.try_recv() {
                remember(due, t);
            }
            let due_at = due.first().map(|t| instant_of(*t));
            tokio::select! {
                _ = stop.cancelled() => return false,
                _ = self.wake.notified() => {
                    self.metrics.wakeup("notify");
                    self.gates.limited_idle = None;
                    // New deliveries, perhaps for a gated webhook.
                    self.gates.look_again_if_gated();
                }
                _ = tokio::time::sleep_until(*next_poll) => {
                    self.metrics.wakeup("poll");
                    *next_poll = Instant::now() + jitter(self.poll_interval, 0.2);
                    self.gates.limited_idle = None;
                    // The safety poll: a missed notification costs at most this.
                    self.gates.again = true;
                }
                _ = tokio::time::sleep_until(due_at.unwrap_or(*next_poll)), if due_at.is_some() => {
                    self.metrics.wakeup("due");
                    let now = Utc::now();
                    while due.first().is_some_and(|t| *t <= now) {
                        due.pop_first();
                    }
                    // A wait's end, a token, a head's lease or retry (or an ordinary retry).
                    self.gates.look_again_if_gated();
                }
                _ = self.capacity.freed() => {
                    self.metrics.wakeup("capacity");
                }
                Some(t) = self.due_rx.recv() => {
                    remember(due, t);
                    continue;
                }
            }
            break;
        }
        true
    }
}

/// The first point of the grid `started + k * interval` (k >= 1) that has not passed.
fn next_poll_start(started: Instant, now: Instant, interval: Duration) -> Instant {
    let elapsed = now.saturating_duration_since(started);
    let k = elapsed.as_nanos() / interval.as_nanos().max(1) + 1;
    started + interval * u32::try_from(k).unwrap_or(u32::MAX)
}

fn remember(due: &mut BTreeSet<DateTime<Utc>>, t: DateTime<Utc>) {
    due.insert(t);
    while due.len() > MAX_DUE_TIMES {
        due.pop_last();
    }
}

/// The tokio instant of a wall-clock time (now if it has passed), a millisecond late so the
/// database's rounding to microseconds never makes the row look not yet due.
fn instant_of(t: DateTime<Utc>) -> Instant {
    let ahead = (t - Utc::now()).to_std().unwrap_or(Duration::ZERO);
    Instant::now() + ahead + Duration::from_millis(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn next_poll_start_keeps_the_grid_whatever_the_round_took() {
        let t0 = Instant::now();
        let ms = Duration::from_millis;
        let next = |elapsed| next_poll_start(t0, t0 + elapsed, ms(3));
        assert_eq!(next(ms(1)), t0 + ms(3));
        assert_eq!(next(ms(4)), t0 + ms(6));
        assert_eq!(next(ms(6)), t0 + ms(9));
    }
}
