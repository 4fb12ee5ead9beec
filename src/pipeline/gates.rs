//! What the claimer knows of the gated webhooks (delivery policies) and when it reads them
//! again.

use std::{
    collections::BTreeSet,
    ops::Bound,
    sync::{
        atomic::{AtomicBool, Ordering},
        Arc,
    },
    time::Duration,
};

use chrono::{DateTime, Utc};
use tokio::time::Instant;
use uuid::Uuid;

use super::capacity::Capacity;
use crate::store::deliveries;

/// How long the rate-limited claim rests after it found nothing (see [`LimitedIdle`]).
pub(super) const GATE_CHECK: Duration = Duration::from_secs(1);

/// While some webhook is FIFO, the gates are read at least this often when the claimer runs: a
/// delivery to a FIFO webhook with nothing in flight is seen by no notification (the fan-out
/// only wakes sleepers), so this bounds its wait while the claimer is busy with others.
const FIFO_CHECK: Duration = Duration::from_millis(50);

/// What the claimer knows of the gated webhooks (breaker not closed, back-off running, rate
/// limit, FIFO). It reads them (`deliveries_gates.sql`) only when they may have changed, not on
/// every round: on a `herald_gates` notification (the policy triggers send it) or a listener
/// reconnect; after a claim for gated webhooks took something (a bucket, a head, a breaker
/// moved) or a slot of such a delivery was released (its result was written); when a due time
/// passed (a wait's end, the next token, a head's lease or retry: the query reports the next
/// one); before going to sleep (the gated wake's last look); and at the latest after the
/// safety interval (`HERALD_POLL_INTERVAL`; [`FIFO_CHECK`] while a webhook is FIFO).
#[derive(Debug)]
pub struct GateWatch {
    /// Set by the listener on a `herald_gates` notification and after each (re)connect.
    changed: Arc<AtomicBool>,
    safety: Duration,
    /// Some were gated at the last read.
    pub(super) gated: bool,
    /// Some of them were FIFO.
    fifo: bool,
    /// Read again on the next round.
    pub(super) again: bool,
    /// The last read (wall clock, to tell which due times passed since) and the next one at
    /// the latest.
    read_at: Option<DateTime<Utc>>,
    pub(super) next_check: Option<Instant>,
    pub(super) limited_idle: Option<LimitedIdle>,
}

impl GateWatch {
    /// `changed` is the listener's flag; `safety` the longest time between two reads.
    pub fn new(changed: Arc<AtomicBool>, safety: Duration) -> Self {
        Self {
            changed,
            safety,
            gated: false,
            fifo: false,
            again: true,
            read_at: None,
            next_check: None,
            limited_idle: None,
        }
    }

    /// Whether to read the gates on this round.
    pub(super) fn due(
        &mut self,
        now: Instant,
        due: &BTreeSet<DateTime<Utc>>,
        capacity: &Capacity,
    ) -> bool {
        // Take both flags, whatever the answer: what they announce is covered by this read.
        let changed = self.changed.swap(false, Ordering::AcqRel);
        let released = capacity.take_gated_released();
        if changed || released || std::mem::take(&mut self.again) {
            return true;
        }
        if !self.next_check.is_some_and(|t| now < t) {
            return true;
        }
        let wall = Utc::now();
        self.gated
            && self.read_at.is_some_and(|at| {
                at < wall
                    && due
                        .range((Bound::Excluded(at), Bound::Included(wall)))
                        .next()
                        .is_some()
            })
    }

    /// Records a read made at `at` (before the query was sent).
    pub(super) fn read(&mut self, now: Instant, at: DateTime<Utc>, gates: &deliveries::Gates) {
        self.read_at = Some(at);
        self.gated = gates.gated > 0;
        self.fifo = gates.fifo > 0;
        let within = if self.fifo {
            FIFO_CHECK.min(self.safety)
        } else {
            self.safety
        };
        self.next_check = Some(now + within);
    }

    /// Read again on the next round if anything is gated (a wake-up that may concern them).
    pub(super) fn look_again_if_gated(&mut self) {
        self.again |= self.gated;
    }
}

/// The rate-limited claim found nothing although buckets held a token: no limited webhook with
/// a token and room on this worker has a due delivery. Finding that out walks the queue's due
/// rows, so until `until` (a [`GATE_CHECK`] later) the rate-limited claim is not run again
/// (probes and FIFO heads still are), unless a notification or the poll wakes the claimer, a
/// known due time passes after `since`, or one of `no_room` (limited webhooks with a token but
/// no room then) has room.
#[derive(Debug)]
pub(super) struct LimitedIdle {
    pub(super) until: Instant,
    pub(super) since: DateTime<Utc>,
    pub(super) no_room: Vec<Uuid>,
}
