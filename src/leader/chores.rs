//! The leader's chores: retention, queue gauges, the queue snapshot (pending and failed from
//! the queue, delivered and exhausted by a walk over the deliveries), the attempt rollup
//! read by the console and `herald status`, vacuuming the queue when it fills with dead tuples
//! and analyzing it when a backlog outgrows the planner's count. Bounded and idempotent, so
//! two leaders overlapping for a moment do no harm.

use std::{
    sync::{
        atomic::{AtomicBool, Ordering},
        Arc,
    },
    time::Duration,
};

use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::{
    metrics::Metrics,
    store::{
        fleet::{self, FinishedCount},
        maintenance, stats, Pool, StoreError,
    },
};

/// Rows looked at per retention statement: small, so no statement holds locks for long.
pub const PRUNE_BATCH: i64 = 1000;
const PRUNE_EVERY: Duration = Duration::from_secs(60);
const GAUGES_EVERY: Duration = Duration::from_secs(5);
/// Most batches per retention run; the rest waits for the next run.
const MAX_BATCHES_PER_RUN: usize = 100;
const ROLLUP_EVERY: Duration = Duration::from_secs(2);
/// Attempts counted per rollup statement, and statements per run (a backlog catches up at
/// up to 500,000 attempts per run).
const ROLLUP_BATCH: i64 = 50_000;
const ROLLUP_BATCHES_PER_RUN: usize = 10;
const SNAPSHOT_EVERY: Duration = Duration::from_secs(10);
/// Blocks of `herald.deliveries` whose delivered and exhausted rows the leader counts each tick:
/// 8 MiB, about 50,000 rows (2,000 blocks took 16-18 ms here). A pass over 1.2 million deliveries takes about 23
/// ticks, over 30 million about 10 minutes; counting them all in one statement, every 10 s, had
/// read 1.2 million rows in 120 ms on both cores (the soak's claims slowed each time) and would
/// have read the whole retention period's history.
pub const FINISHED_BLOCKS_PER_TICK: i64 = 1_000;
/// Per-minute rollup rows serve the hour window, per-hour ones the day window.
const ROLLUP_KEEP_MINUTES: Duration = Duration::from_secs(2 * 3600);
const ROLLUP_KEEP_HOURS: Duration = Duration::from_secs(2 * 24 * 3600);
/// The queue is vacuumed when it holds more dead tuples than this and more than
/// [`QUEUE_DEAD_PER_LIVE`] per live row. Every delivery leaves two dead tuples in the queue
/// (its claim's update and its final delete), at 2,000 deliveries/s 4,000 a second, while
/// autovacuum looks at a database only once per `autovacuum_naptime` (1 min by default): the
/// queue then carried 100 times more dead tuples than live rows and the claim walked them.
const QUEUE_DEAD_MIN: i64 = 2_000;
const QUEUE_DEAD_PER_LIVE: i64 = 2;
/// The queue is analyzed when it holds more live rows than this and more than
/// [`QUEUE_LIVE_PER_PLANNED`] times what the planner believes (`pg_class.reltuples`). A queue
/// vacuumed while empty is planned as empty, and sessions keep the plans they cached then: with
/// a backlog building, the claim's lock step scanned the whole queue once per row it locked
/// (16.8 s a claim at 150,000 rows, against 38 ms once planned for them). The vacuum above,
/// which would correct the count, does not run while the live rows outnumber the dead, and
/// autovacuum's ANALYZE can come up to `autovacuum_naptime` (1 min) later: in one run of
/// `herald bench steady --rate 5000`, Herald claimed 26 times in the whole run and delivered
/// 9,000 of 150,000 events in time.
const QUEUE_LIVE_MIN: i64 = 1_000;
const QUEUE_LIVE_PER_PLANNED: i64 = 4;
/// Replicas not seen for this long leave the registry.
const REPLICA_KEEP: Duration = Duration::from_secs(7 * 24 * 3600);

/// What [`Chores::queue_upkeep`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QueueUpkeep {
    Nothing,
    Vacuumed,
    Analyzed,
    /// The queue needed a vacuum that the session's role may not run (it owns neither the
    /// queue nor the database), or an analyze and the role may not call
    /// `herald.analyze_queue()` (its grants predate the function): autovacuum alone does it.
    LeftToAutovacuum,
}

pub struct Chores {
    pub pool: Pool,
    pub retention: Duration,
    pub metrics: Arc<Metrics>,
    last_prune: std::sync::Mutex<Option<Instant>>,
    last_gauges: std::sync::Mutex<Option<Instant>>,
    last_rollup: std::sync::Mutex<Option<Instant>>,
    last_snapshot: std::sync::Mutex<Option<Instant>>,
    /// The walk over `herald.deliveries` counting its delivered and exhausted rows: the next
    /// block, and what the blocks before it held.
    finished_walk: std::sync::Mutex<(i64, FinishedCount)>,
    /// Whether the warnings that the queue's vacuum, or its analyze, is left to autovacuum were
    /// logged: once per process, not once a second.
    warned_vacuum: AtomicBool,
    warned_analyze: AtomicBool,
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
            last_rollup: std::sync::Mutex::new(None),
            last_snapshot: std::sync::Mutex::new(None),
            finished_walk: std::sync::Mutex::new((0, FinishedCount::default())),
            warned_vacuum: AtomicBool::new(false),
            warned_analyze: AtomicBool::new(false),
        }
    }

    /// Runs whatever chore is due. Errors are logged; the next tick tries again.
    pub async fn tick(&self, stop: &CancellationToken) {
        // Every tick (about a second): reading two counters is cheap.
        if let Err(e) = self.queue_upkeep().await {
            tracing::debug!(error = %e, "queue not vacuumed or analyzed");
        }
        if due(&self.last_gauges, GAUGES_EVERY) {
            if let Err(e) = self.update_gauges().await {
                tracing::debug!(error = %e, "queue gauges not updated");
            }
        }
        if due(&self.last_rollup, ROLLUP_EVERY) {
            if let Err(e) = self.roll_up(stop).await {
                tracing::warn!(error = %e, "attempt rollup failed; will retry");
            }
        }
        if due(&self.last_snapshot, SNAPSHOT_EVERY) {
            if let Err(e) = self.snapshot_queue().await {
                tracing::debug!(error = %e, "queue snapshot not taken");
            }
        }
        // Every tick, a step of the walk counting the finished deliveries.
        if let Err(e) = self.count_finished().await {
            tracing::debug!(error = %e, "finished deliveries not counted");
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

    /// Vacuums `herald.queue` when its dead tuples outgrow its live rows (see
    /// [`QUEUE_DEAD_MIN`]), or else analyzes it when its live rows outgrow what the planner
    /// believes (see [`QUEUE_LIVE_MIN`]). Returns which it ran. A role that may not vacuum the
    /// queue does not try (PostgreSQL would skip it with a warning, each tick): it analyzes it
    /// when due, and says once that autovacuum alone vacuums it.
    pub async fn queue_upkeep(&self) -> Result<QueueUpkeep, StoreError> {
        let client = self.pool.get().await?;
        let t = maintenance::queue_tuples(&client).await?;
        let mut upkeep = QueueUpkeep::Nothing;
        if t.dead > QUEUE_DEAD_MIN && t.dead > QUEUE_DEAD_PER_LIVE * t.live {
            if t.may_vacuum {
                maintenance::vacuum_queue(&client).await?;
                tracing::debug!(live = t.live, dead = t.dead, "vacuumed the queue");
                return Ok(QueueUpkeep::Vacuumed);
            }
            if !self.warned_vacuum.swap(true, Ordering::Relaxed) {
                tracing::warn!(
                    role = %t.role,
                    live = t.live,
                    dead = t.dead,
                    "herald.queue needs a vacuum this role may not run (only the table's or \
                     the database's owner may, or from PostgreSQL 17 on a role granted MAINTAIN \
                     on it, as `herald migrate --grant-worker` does there); autovacuum alone \
                     keeps its dead tuples down, and claims slow down while they pile up"
                );
            }
            upkeep = QueueUpkeep::LeftToAutovacuum;
        }
        if t.live > QUEUE_LIVE_MIN && t.live > QUEUE_LIVE_PER_PLANNED * t.planned.max(0) {
            if t.may_analyze {
                maintenance::analyze_queue(&client).await?;
                tracing::debug!(live = t.live, planned = t.planned, "analyzed the queue");
                return Ok(QueueUpkeep::Analyzed);
            }
            if !self.warned_analyze.swap(true, Ordering::Relaxed) {
                tracing::warn!(
                    role = %t.role,
                    live = t.live,
                    planned = t.planned,
                    "herald.queue needs an analyze and this role may not call \
                     herald.analyze_queue(); re-run `herald migrate --grant-worker` for it \
                     (grants are re-run after an upgrade)"
                );
            }
            upkeep = QueueUpkeep::LeftToAutovacuum;
        }
        Ok(upkeep)
    }

    pub async fn update_gauges(&self) -> Result<(), StoreError> {
        let client = self.pool.get().await?;
        let g = maintenance::queue_gauges(&client).await?;
        self.metrics.queue_due.set(g.due);
        self.metrics
            .queue_oldest_due_seconds
            .set(g.oldest_due_seconds);
        for (state, n) in maintenance::breaker_gauges(&client).await? {
            self.metrics.breaker_state(&state).set(n);
        }
        Ok(())
    }

    /// Counts the attempts written since the last run into the per-minute rollup, in
    /// statements of at most [`ROLLUP_BATCH`] attempts, until caught up.
    pub async fn roll_up(&self, stop: &CancellationToken) -> Result<i64, StoreError> {
        let client = self.pool.get().await?;
        let mut rolled = 0;
        for _ in 0..ROLLUP_BATCHES_PER_RUN {
            let r = stats::roll_up(&client, ROLLUP_BATCH).await?;
            rolled += r.rolled;
            if r.rolled < ROLLUP_BATCH || stop.is_cancelled() {
                break;
            }
        }
        Ok(rolled)
    }

    /// Counts the pending and failed deliveries (those in the queue) for readers of the queue
    /// depth.
    pub async fn snapshot_queue(&self) -> Result<(), StoreError> {
        let client = self.pool.get().await?;
        fleet::snapshot_unfinished(&client).await
    }

    /// Counts the delivered and exhausted deliveries in the next [`FINISHED_BLOCKS_PER_TICK`]
    /// blocks of `herald.deliveries`; at the table's end, writes the pass's totals into the
    /// snapshot and starts again from the first block. Returns the totals when it wrote them.
    /// Rows inserted, deleted or moved while a pass runs may be missed or counted twice: the
    /// totals are as exact as the table is still during a pass.
    pub async fn count_finished(&self) -> Result<Option<FinishedCount>, StoreError> {
        let (from, mut total) = *self.finished_walk.lock().unwrap_or_else(|p| p.into_inner());
        let client = self.pool.get().await?;
        let step = fleet::count_finished(&client, from, FINISHED_BLOCKS_PER_TICK).await?;
        total.delivered += step.delivered;
        total.exhausted += step.exhausted;
        let (next, written) = if step.last {
            fleet::snapshot_finished(&client, total).await?;
            ((0, FinishedCount::default()), Some(total))
        } else {
            ((from + FINISHED_BLOCKS_PER_TICK, total), None)
        };
        *self.finished_walk.lock().unwrap_or_else(|p| p.into_inner()) = next;
        Ok(written)
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
            if stop.is_cancelled()
                || stats::prune(&client, ROLLUP_KEEP_MINUTES, ROLLUP_KEEP_HOURS, PRUNE_BATCH)
                    .await?
                    < PRUNE_BATCH
            {
                break;
            }
        }
        fleet::prune_replicas(&client, REPLICA_KEEP).await?;
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
