//! Sending capacity: a global limit and a per-webhook limit. A `Slot` travels with each
//! claimed delivery and is released only after its result is committed (or abandoned).

use std::{
    collections::HashMap,
    sync::{
        atomic::{AtomicBool, Ordering},
        Arc, Mutex,
    },
};

use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore};
use uuid::Uuid;

use crate::{metrics::Metrics, store::deliveries::Busy};

#[derive(Debug)]
pub struct Capacity {
    global: Arc<Semaphore>,
    per_webhook_max: usize,
    per_webhook: Mutex<HashMap<Uuid, i64>>,
    /// Signalled when slots are released while the claimer waits for them.
    freed: Notify,
    claimer_waiting: AtomicBool,
    metrics: Arc<Metrics>,
}

impl Capacity {
    pub fn new(max_in_flight: usize, per_webhook_max: usize, metrics: Arc<Metrics>) -> Arc<Self> {
        Arc::new(Self {
            global: Arc::new(Semaphore::new(max_in_flight)),
            per_webhook_max,
            per_webhook: Mutex::new(HashMap::new()),
            freed: Notify::new(),
            claimer_waiting: AtomicBool::new(false),
            metrics,
        })
    }

    pub fn free(&self) -> usize {
        self.global.available_permits()
    }

    pub fn per_webhook_max(&self) -> usize {
        self.per_webhook_max
    }

    /// Webhooks with deliveries in flight here, for the claim's per-webhook limit.
    pub fn busy(&self) -> Vec<Busy> {
        self.lock()
            .iter()
            .map(|(id, n)| Busy {
                webhook_id: *id,
                in_flight: *n,
            })
            .collect()
    }

    /// Takes a slot for a delivery of `webhook_id`. The claim was sized to the free capacity,
    /// so this only fails if someone else took permits meanwhile.
    pub fn take(self: &Arc<Self>, webhook_id: Uuid) -> Option<Slot> {
        let permit = self.global.clone().try_acquire_owned().ok()?;
        *self.lock().entry(webhook_id).or_insert(0) += 1;
        self.metrics.in_flight.inc();
        Some(Slot {
            _permit: permit,
            webhook_id,
            capacity: Arc::clone(self),
        })
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

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<Uuid, i64>> {
        // A panic while holding this lock cannot leave the map inconsistent (single updates).
        self.per_webhook.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// One delivery's share of the capacity; released on drop.
#[derive(Debug)]
pub struct Slot {
    _permit: OwnedSemaphorePermit,
    webhook_id: Uuid,
    capacity: Arc<Capacity>,
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut map = self.capacity.lock();
        if let Some(n) = map.get_mut(&self.webhook_id) {
            *n -= 1;
            if *n <= 0 {
                map.remove(&self.webhook_id);
            }
        }
        drop(map);
        self.capacity.metrics.in_flight.dec();
    }
}
