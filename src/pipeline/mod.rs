//! The delivery pipeline. This module is the one place that shows the data flow:
//!
//! ```text
//! listener ──wake──▶ claimer ──claimed──▶ sender (a task per delivery) ──results──▶ writer
//!    ▲                  ▲                                                           │
//!    └── sleep/awake ───┘◀──────────── due times, freed capacity ─────────────────────┘
//! ```
//!
//! Shutdown order: stop the claimer (no new claims); let in-flight requests finish until the
//! grace period ends; the writer records their results and exits when the last sender is done.
//! Past the grace period, unsent and unwritten rows are left to their lease.

pub mod backoff;
pub mod capacity;
pub mod claimer;
pub mod gates;
pub mod listener;
pub mod sender;
pub mod writer;

use std::{
    sync::{atomic::AtomicBool, Arc},
    time::Duration,
};

use tokio::sync::{mpsc, Notify};
use tokio_util::{sync::CancellationToken, task::TaskTracker};
use uuid::Uuid;

use crate::{
    config::Config, http::Sender, metrics::Metrics, readiness::Readiness, store::Pool,
    supervise::Supervisor,
};

/// Settings of one pipeline, from [`Config`].
#[derive(Debug, Clone)]
pub struct PipelineSettings {
    pub database_url: String,
    pub worker_id: Uuid,
    pub lease: Duration,
    pub poll_interval: Duration,
    pub max_in_flight: usize,
    pub max_in_flight_per_webhook: usize,
    pub breaker: crate::store::deliveries::BreakerPolicy,
    pub retry_schedule: crate::domain::retry::RetrySchedule,
    pub shutdown_grace: Duration,
}

impl PipelineSettings {
    pub fn from_config(c: &Config, worker_id: Uuid) -> Self {
        Self {
            database_url: c.database_url.clone(),
            worker_id,
            lease: c.lease,
            poll_interval: c.poll_interval,
            max_in_flight: c.max_in_flight,
            max_in_flight_per_webhook: c.max_in_flight_per_webhook,
            breaker: c.breaker,
            retry_schedule: c.retry_schedule.clone(),
            shutdown_grace: c.shutdown_grace,
        }
    }
}

/// Runs the pipeline until `stop` is cancelled, then shuts down in order (see the module doc).
/// Its tasks run under `supervisor`.
pub async fn run(
    settings: PipelineSettings,
    pool: Pool,
    sender: Sender,
    metrics: Arc<Metrics>,
    readiness: Arc<Readiness>,
    supervisor: Supervisor,
    stop: CancellationToken,
) {
    let capacity = capacity::Capacity::new(
        settings.max_in_flight,
        settings.max_in_flight_per_webhook,
        Arc::clone(&metrics),
    );
    let wake = Arc::new(Notify::new());
    let gates_changed = Arc::new(AtomicBool::new(false));
    let (claimed_tx, claimed_rx) = mpsc::channel(settings.max_in_flight);
    let (results_tx, results_rx) = mpsc::unbounded_channel();
    let (due_tx, due_rx) = mpsc::unbounded_channel();

    let stop_listener = CancellationToken::new();
    let stop_claiming = stop.child_token();
    // Past the grace period: unfinished requests and unwritable results are left to their lease.
    let stop_unfinished = CancellationToken::new();
    let senders = TaskTracker::new();

    let (listener, gate) = listener::Listener::new(
        settings.database_url.clone(),
        settings.worker_id,
        Arc::clone(&wake),
        Arc::clone(&gates_changed),
        readiness,
    );
    let listener_task = supervisor.spawn("listener", listener.run(stop_listener.clone()));

    let claimer = claimer::Claimer {
        pool: pool.clone(),
        capacity: Arc::clone(&capacity),
        lease: settings.lease,
        batch_max: settings.max_in_flight,
        poll_interval: settings.poll_interval,
        gate,
        wake,
        due_rx,
        claimed_tx,
        metrics: Arc::clone(&metrics),
        gates: gates::GateWatch::new(gates_changed, settings.poll_interval),
    };
    let claimer_task = supervisor.spawn("claimer", claimer.run(stop_claiming));

    let dispatcher = sender::Dispatcher {
        sender,
        claimed_rx,
        results_tx,
        metrics: Arc::clone(&metrics),
        stop_unfinished: stop_unfinished.clone(),
    };
    // The dispatcher ends when the claimer does, the writer when the last sender does.
    let dispatcher_task = supervisor.spawn_stage("dispatcher", dispatcher.run(senders.clone()));

    let writer = writer::Writer {
        pool,
        recent: Default::default(),
        schedule: settings.retry_schedule.clone(),
        breaker: settings.breaker,
        due_tx,
        capacity,
        metrics,
        outage: false,
    };
    let writer_task =
        supervisor.spawn_stage("writer", writer.run(results_rx, stop_unfinished.clone()));

    stop.cancelled().await;
    // 1. No new claims. The claimer drops its channel, so the dispatcher ends too.
    claimer_task.join().await;
    dispatcher_task.join().await;
    senders.close();
    // 2. In-flight requests finish, up to the grace period.
    let in_flight = senders.len();
    if in_flight > 0 {
        tracing::info!(in_flight, grace = ?settings.shutdown_grace, "waiting for in-flight deliveries");
    }
    if tokio::time::timeout(settings.shutdown_grace, senders.wait())
        .await
        .is_err()
    {
        tracing::warn!(
            unfinished = senders.len(),
            "grace period over; unfinished deliveries are left to their lease"
        );
        stop_unfinished.cancel();
    }
    // 3. The writer records what came back, then ends with the last result sender. Past the
    // deadline it gets a short moment for what is already in hand.
    let writer_deadline = if stop_unfinished.is_cancelled() {
        Duration::from_secs(2)
    } else {
        settings.shutdown_grace.max(Duration::from_secs(2))
    };
    let writer_abort = writer_task.abort_handle();
    if tokio::time::timeout(writer_deadline, writer_task.join())
        .await
        .is_err()
    {
        stop_unfinished.cancel();
        writer_abort.abort();
    }
    stop_listener.cancel();
    listener_task.join().await;
}
