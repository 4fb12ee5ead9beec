//! Sending capacity: a global limit, and a per-webhook concurrency limit that adapts to each
//! endpoint. A `Slot` travels with each claimed delivery and is released only after its result
//! is committed (or abandoned).
//!
//! The per-webhook rule (it only bites when it protects someone):
//! * every webhook starts at `HERALD_MAX_IN_FLIGHT_PER_WEBHOOK`;
//! * each success answered within [`FAST`] raises its limit by one, up to `HERALD_MAX_IN_FLIGHT`;
//!   a slower success lowers it by a tenth, a failure (error status, timeout, refused connection)
//!   halves it, never below [`FLOOR`];
//! * while other webhooks have due deliveries waiting, a webhook gets at most
//!   `HERALD_MAX_IN_FLIGHT_PER_WEBHOOK` (or its own limit if lower), and theirs are claimed first;
//!   when nobody else waits, it may use its whole limit. So a fast endpoint alone in the queue
//!   gets the whole pipeline, and a slow or failing one holds few slots.

use std::{
    collections::HashMap,
    sync::{
        atomic::{AtomicBool, Ordering},
        Arc, Mutex,
    },
    time::Duration,
};

use tokio::{
    sync::{Notify, OwnedSemaphorePermit, Semaphore},
    time::Instant,
};
use uuid::Uuid;

use crate::{
    metrics::Metrics,
    store::deliveries::{Allowance, ClaimLimits},
};

/// Successes answered within this raise a webhook's limit.
pub const FAST: Duration = Duration::from_millis(500);
/// The lowest a webhook's limit goes.
pub const FLOOR: f64 = 1.0;
/// Webhooks idle for this long forget what was learnt about them.
const FORGET_AFTER: Duration = Duration::from_secs(300);
/// Past this many remembered webhooks, idle ones are forgotten.
const REMEMBER_MAX: usize = 4096;

/// What this worker knows about one webhook.
#[derive(Debug, Clone, Copy)]
struct WebhookState {
    in_flight: i64,
    /// Concurrency limit, between [`FLOOR`] and the global maximum.
    limit: f64,
    last_used: Instant,
}

#[derive(Debug)]
pub struct Capacity {
    global: Arc<Semaphore>,
    max_in_flight: usize,
    per_webhook_max: usize,
    webhooks: Mutex<HashMap<Uuid, WebhookState>>,
    /// Signalled when slots are released while the claimer waits for them.
    freed: Notify,
    claimer_waiting: AtomicBool,
    /// Set when a slot of a delivery claimed for a gated webhook (probe, FIFO head,
    /// rate-limited) is released: its result may have changed the gates.
    gated_released: AtomicBool,
    metrics: Arc<Metrics>,
}

impl Capacity {
    pub fn new(max_in_flight: usize, per_webhook_max: usize, metrics: Arc<Metrics>) -> Arc<Self> {
        Arc::new(Self {
            global: Arc::new(Semaphore::new(max_in_flight)),
            max_in_flight,
            per_webhook_max: per_webhook_max.max(1),
            webhooks: Mutex::new(HashMap::new()),
            freed: Notify::new(),
            claimer_waiting: AtomicBool::new(false),
            gated_released: AtomicBool::new(false),
            metrics,
        })
    }

    pub fn free(&self) -> usize {
        self.global.available_permits()
    }

    pub fn per_webhook_max(&self) -> usize {
        self.per_webhook_max
    }

    /// The current concurrency limit of a webhook (its starting value if nothing is known).
    pub fn limit_of(&self, webhook_id: Uuid) -> usize {
        self.lock()
            .get(&webhook_id)
            .map_or(self.per_webhook_max, |s| s.limit as usize)
    }

    /// The per-webhook limits for the next claim: what each webhook may still take while others
    /// wait, and when they do not. Webhooks this worker knows nothing special about get the
    /// default.
    pub fn claim_limits(&self) -> ClaimLimits {
        let shared_max = self.per_webhook_max as f64;
        let mut map = self.lock();
        if map.len() > REMEMBER_MAX {
            let now = Instant::now();
            map.retain(|_, s| s.in_flight > 0 || now.duration_since(s.last_used) < FORGET_AFTER);
        }
        let webhooks = map
            .iter()
            .filter(|(_, s)| s.in_flight > 0 || s.limit != shared_max)
            .map(|(id, s)| {
                let limit = s.limit.floor() as i64;
                Allowance {
                    webhook_id: *id,
                    shared: (limit.min(self.per_webhook_max as i64) - s.in_flight).max(0),
                    alone: (limit - s.in_flight).max(0),
                }
            })
            .collect();
        ClaimLimits {
            default: self.per_webhook_max as i64,
            webhooks,
        }
    }

    /// Takes a slot for a delivery of `webhook_id`. The claim was sized to the free capacity,
    /// so this only fails if someone else took permits meanwhile.
    pub fn take(self: &Arc<Self>, webhook_id: Uuid) -> Option<Slot> {
        self.take_slot(webhook_id, false)
    }

    /// [`Capacity::take`] for a delivery of a gated webhook: releasing its slot (after its
    /// result committed) is reported by [`Capacity::take_gated_released`].
    pub fn take_gated(self: &Arc<Self>, webhook_id: Uuid) -> Option<Slot> {
        self.take_slot(webhook_id, true)
    }

    /// Whether a gated webhook's slot was released since the last call.
    pub fn take_gated_released(&self) -> bool {
        self.gated_released.swap(false, Ordering::AcqRel)
    }

    fn take_slot(self: &Arc<Self>, webhook_id: Uuid, gated: bool) -> Option<Slot> {
        let permit = self.global.clone().try_acquire_owned().ok()?;
        let shared_max = self.per_webhook_max as f64;
        let mut map = self.lock();
        let state = map.entry(webhook_id).or_insert(WebhookState {
            in_flight: 0,
            limit: shared_max,
            last_used: Instant::now(),
        });
        state.in_flight += 1;
        state.last_used = Instant::now();
        drop(map);
        self.metrics.in_flight.inc();
        Some(Slot {
            _permit: permit,
            webhook_id,
            gated,
            capacity: Arc::clone(self),
        })
    }

    /// Adapts a webhook's limit to the outcome of one attempt.
    fn observe(&self, webhook_id: Uuid, latency: Duration, success: bool) {
        let ceiling = self.max_in_flight.max(self.per_webhook_max) as f64;
        if let Some(s) = self.lock().get_mut(&webhook_id) {
            s.limit = next_limit(s.limit, latency, success, ceiling);
        }
    }

    /// The claimer is about to wait and wants a wake-up when capacity frees.
    pub fn want_wakeup(&self) {
        self.claimer_waiting.store(true, Ordering::Release);
    }

    pub async fn freed(&self) {
        self.freed.notified().await
    }

    /// Called after a batch of slots was released.
    pub fn batch_released(&self) {
        if self.claimer_waiting.swap(false, Ordering::AcqRel) {
            self.freed.notify_one();
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<Uuid, WebhookState>> {
        // A panic while holding this lock cannot leave the map inconsistent (single updates).
        self.webhooks.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// The pure rule behind [`Capacity`]'s per-webhook limit (see the module doc).
pub fn next_limit(limit: f64, latency: Duration, success: bool, ceiling: f64) -> f64 {
    let next = if !success {
        limit / 2.0
    } else if latency <= FAST {
        limit + 1.0
    } else {
        limit * 0.9
    };
    next.clamp(FLOOR, ceiling.max(FLOOR))
}

/// One delivery's share of the capacity; released on drop.
#[derive(Debug)]
pub struct Slot {
    _permit: OwnedSemaphorePermit,
    webhook_id: Uuid,
    gated: bool,
    capacity: Arc<Capacity>,
}

impl Slot {
    /// Reports how the attempt went, so that the webhook's limit adapts.
    pub fn observe(&self, latency: Duration, success: bool) {
        self.capacity.observe(self.webhook_id, latency, success);
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut map = self.capacity.lock();
        if let Some(s) = map.get_mut(&self.webhook_id) {
            s.in_flight -= 1;
            s.last_used = Instant::now();
            // Nothing learnt and nothing in flight: forget it, the default is the same.
            if s.in_flight <= 0 && s.limit == self.capacity.per_webhook_max as f64 {
                map.remove(&self.webhook_id);
            }
        }
        drop(map);
        if self.gated {
            self.capacity.gated_released.store(true, Ordering::Release);
        }
        self.capacity.metrics.in_flight.dec();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);

    #[test]
    fn next_limit_grows_on_fast_successes_up_to_the_ceiling() {
        let mut l = 16.0;
        for _ in 0..1000 {
            l = next_limit(l, 2 * MS, true, 256.0);
        }
        assert_eq!(l, 256.0);
    }

    #[test]
    fn next_limit_halves_on_failures_down_to_the_floor() {
        assert_eq!(next_limit(16.0, 30_000 * MS, false, 256.0), 8.0);
        let mut l = 16.0;
        for _ in 0..10 {
            l = next_limit(l, MS, false, 256.0);
        }
        assert_eq!(l, FLOOR);
    }

    #[test]
    fn next_limit_shrinks_slowly_for_slow_successes() {
        let l = next_limit(16.0, FAST + MS, true, 256.0);
        assert!((14.0..16.0).contains(&l), "{l}");
    }

    #[test]
    fn claim_limits_cap_a_webhook_only_while_others_wait() {
        let capacity = Capacity::new(256, 16, Metrics::new());
        let fast = Uuid::new_v4();
        let mut slots = Vec::new();
        for _ in 0..40 {
            let slot = capacity.take(fast).expect("capacity");
            slot.observe(MS, true);
            slots.push(slot);
        }
        // 40 in flight, limit grown from 16 to 56.
        let limits = capacity.claim_limits();
        assert_eq!(limits.default, 16);
        let a = limits
            .webhooks
            .iter()
            .find(|a| a.webhook_id == fast)
            .unwrap();
        assert_eq!((a.shared, a.alone), (0, 16));
        drop(slots);
        let a = capacity.claim_limits().webhooks[0];
        assert_eq!((a.shared, a.alone), (16, 56));
    }

    #[test]
    fn claim_limits_keep_a_failing_webhook_below_the_shared_limit() {
        let capacity = Capacity::new(256, 16, Metrics::new());
        let dead = Uuid::new_v4();
        let slot = capacity.take(dead).expect("capacity");
        slot.observe(30_000 * MS, false);
        let a = capacity.claim_limits().webhooks[0];
        assert_eq!((a.shared, a.alone), (7, 7), "limit 8, one in flight");
        drop(slot);
        assert_eq!(capacity.limit_of(dead), 8);
    }
}
