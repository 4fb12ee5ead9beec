//! Open-loop load, shared by `steady`, `soak` and `fairness`: event i is released at
//! t0 + i/R whatever happened before (open loop), and producer connections commit the released
//! events. With a batch limit of 1 each event is its own `select herald.emit(...)` transaction.
//! Above 1, a producer takes the next released event plus every other event already released
//! and not yet taken (at most the limit in all: the events due since its last statement) and
//! writes them with one multi-row INSERT into `herald.events`, one transaction. Under light
//! load that is still one event per statement; batches form only when producers fall behind.

use std::{
    collections::HashMap,
    sync::{
        atomic::{AtomicU64, Ordering},
        Arc,
    },
    time::{Duration, Instant},
};

use tokio::{
    sync::{mpsc, Mutex},
    task::JoinHandle,
};
use uuid::Uuid;

use super::env::{BenchEnv, OWN_TYPE};
use crate::store::bench as sql;

/// Rates up to this are produced one event per transaction by default.
const SINGLE_EVENT_RATE: u64 = 1_000;
/// The most events one statement may carry by default above [`SINGLE_EVENT_RATE`].
pub const DEFAULT_BATCH: usize = 10;

#[derive(Debug, Clone)]
pub struct Load {
    /// Events per second.
    pub rate: u64,
    pub duration: Duration,
    /// Producer connections.
    pub producers: usize,
    /// Most events per statement (1 = each event its own `herald.emit` transaction).
    pub batch_max: usize,
    /// Event i is for `users[i % len]`.
    pub users: Vec<Uuid>,
}

/// The batch limit when none is given: 1 up to 1,000 events/s, 10 above.
pub fn default_batch(rate: u64) -> usize {
    if rate <= SINGLE_EVENT_RATE {
        1
    } else {
        DEFAULT_BATCH
    }
}

impl Load {
    /// How the producers write, for the reports.
    pub fn describe(&self) -> String {
        if self.batch_max <= 1 {
            format!(
                "{} connections, each event its own transaction (select herald.emit)",
                self.producers
            )
        } else {
            format!(
                "{} connections; each statement takes the next due event plus the others already \
                 due (at most {}) in one multi-row INSERT into herald.events, one transaction",
                self.producers, self.batch_max
            )
        }
    }

    fn total(&self) -> u64 {
        (self.rate as f64 * self.duration.as_secs_f64()).round() as u64
    }
}

/// What the producers committed.
#[derive(Debug, Default)]
pub struct Committed {
    /// Each event's id and the instant its commit returned.
    pub at: HashMap<Uuid, Instant>,
    /// The longest an event waited after its release for its statement to start.
    pub max_lag: Duration,
    pub statements: u64,
    /// From the first release to the last commit.
    pub seconds: f64,
}

/// A load in progress.
pub struct Running {
    released: Arc<AtomicU64>,
    pub total: u64,
    task: JoinHandle<anyhow::Result<Committed>>,
}

impl Running {
    /// Events released so far.
    pub fn released(&self) -> u64 {
        self.released.load(Ordering::Relaxed)
    }

    pub fn is_finished(&self) -> bool {
        self.task.is_finished()
    }

    /// Waits for the last commit.
    pub async fn finish(self) -> anyhow::Result<Committed> {
        self.task.await?
    }
}

/// Connects the producers, then starts releasing events 50 ms later.
pub async fn start(env: &BenchEnv, load: &Load) -> anyhow::Result<Running> {
    anyhow::ensure!(
        load.rate > 0 && load.producers > 0 && load.batch_max > 0 && !load.users.is_empty(),
        "rate, producers, batch limit and users must be positive"
    );
    let total = load.total();
    let (tick_tx, tick_rx) = mpsc::unbounded_channel::<(u64, Instant)>();
    let tick_rx = Arc::new(Mutex::new(tick_rx));
    let users = Arc::new(load.users.clone());
    let mut producers = Vec::new();
    for _ in 0..load.producers {
        let c = env.connect().await?;
        let sql = if load.batch_max <= 1 {
            sql::EMIT_ONE
        } else {
            sql::INSERT_EVENTS
        };
        let stmt = c.prepare(sql).await?;
        producers.push(tokio::spawn(produce(
            c,
            stmt,
            Arc::clone(&tick_rx),
            Arc::clone(&users),
            load.batch_max,
        )));
    }
    let released = Arc::new(AtomicU64::new(0));
    let counter = Arc::clone(&released);
    let interval = Duration::from_secs_f64(1.0 / load.rate as f64);
    let task = tokio::spawn(async move {
        let start = Instant::now() + Duration::from_millis(50);
        let due = |i: u64| start + interval.mul_f64(i as f64);
        let mut i = 0;
        while i < total {
            tokio::time::sleep_until(due(i).into()).await;
            let now = Instant::now();
            while i < total && due(i) <= now {
                let _ = tick_tx.send((i, due(i)));
                i += 1;
            }
            counter.store(i, Ordering::Relaxed);
        }
        drop(tick_tx);
        let mut out = Committed::default();
        for p in producers {
            let (committed, lag, statements) = p.await??;
            out.at.extend(committed);
            out.max_lag = out.max_lag.max(lag);
            out.statements += statements;
        }
        out.seconds = start.elapsed().as_secs_f64();
        Ok(out)
    });
    Ok(Running {
        released,
        total,
        task,
    })
}

type Produced = (Vec<(Uuid, Instant)>, Duration, u64);

async fn produce(
    c: tokio_postgres::Client,
    stmt: tokio_postgres::Statement,
    ticks: Arc<Mutex<mpsc::UnboundedReceiver<(u64, Instant)>>>,
    users: Arc<Vec<Uuid>>,
    batch_max: usize,
) -> anyhow::Result<Produced> {
    let data = serde_json::json!({ "note": "herald bench load" });
    let mut committed: Vec<(Uuid, Instant)> = Vec::new();
    let mut max_lag = Duration::ZERO;
    let mut statements = 0u64;
    let mut batch: Vec<(u64, Instant)> = Vec::with_capacity(batch_max);
    loop {
        batch.clear();
        {
            let mut rx = ticks.lock().await;
            let Some(first) = rx.recv().await else { break };
            batch.push(first);
            while batch.len() < batch_max {
                match rx.try_recv() {
                    Ok(t) => batch.push(t),
                    Err(_) => break,
                }
            }
        }
        max_lag = max_lag.max(batch[0].1.elapsed());
        let user_of = |i: u64| users[i as usize % users.len()];
        if batch_max <= 1 {
            let row = c
                .query_one(&stmt, &[&OWN_TYPE, &user_of(batch[0].0), &data])
                .await?;
            committed.push((row.get(0), Instant::now()));
        } else {
            let for_users: Vec<Uuid> = batch.iter().map(|(i, _)| user_of(*i)).collect();
            let rows = c.query(&stmt, &[&OWN_TYPE, &for_users, &data]).await?;
            let at = Instant::now();
            committed.extend(rows.iter().map(|r| (r.get(0), at)));
        }
        statements += 1;
    }
    Ok((committed, max_lag, statements))
}
