//! The database-only ceiling of the drain: the store's own claim and record-results functions
//! (`store::deliveries::claim_batch` / `record_results`), called in a loop from a few
//! connections with no HTTP and no pipeline, each claimed row recorded as delivered. What the
//! database reaches for the drain's work, measured on the same queue in the same run.

use std::{
    sync::{
        atomic::{AtomicU64, Ordering},
        Arc,
    },
    time::{Duration, Instant},
};

use chrono::Utc;

use super::env::BenchEnv;
use crate::{
    domain::retry::{next_state, RetrySchedule},
    store::{
        self,
        deliveries::{
            self, Attempt, AttemptRow, BreakerPolicy, BreakerUpdate, ClaimLimits, ClaimedDelivery,
            ResultRow,
        },
    },
};

/// Herald's default lease and breaker policy: the statements get the values they get there.
const LEASE: Duration = crate::config::DEFAULT_LEASE;
/// After an empty claim while other connections still hold rows.
const EMPTY_CLAIM_PAUSE: Duration = Duration::from_millis(1);
const GIVE_UP: Duration = Duration::from_secs(600);

pub struct Ceiling {
    pub rows: u64,
    pub seconds: f64,
    pub claims: u64,
}

impl Ceiling {
    pub fn rate(&self) -> f64 {
        self.rows as f64 / self.seconds.max(1e-9)
    }
}

/// Drains the queue with `connections` loops of claim (`batch` rows, no per-webhook cap) →
/// record as delivered. Uses Herald's worker pool settings (`synchronous_commit = off`).
pub async fn run(
    env: &BenchEnv,
    expected: u64,
    connections: usize,
    batch: usize,
    progress: &indicatif::ProgressBar,
) -> anyhow::Result<Ceiling> {
    anyhow::ensure!(
        connections > 0 && batch > 0,
        "--ceiling-connections and --ceiling-batch must be positive"
    );
    let pool = store::connect_worker_pool(&env.url, connections)?;
    let rows = Arc::new(AtomicU64::new(0));
    let claims = Arc::new(AtomicU64::new(0));
    // Connect every client before the clock starts.
    let mut clients = Vec::with_capacity(connections);
    for _ in 0..connections {
        clients.push(pool.get().await?);
    }
    let start = Instant::now();
    let mut tasks = Vec::with_capacity(connections);
    for client in clients {
        let rows = Arc::clone(&rows);
        let claims = Arc::clone(&claims);
        tasks.push(tokio::spawn(async move {
            let schedule = RetrySchedule::standard();
            let deadline = Instant::now() + GIVE_UP;
            while rows.load(Ordering::Relaxed) < expected {
                let claimed = deliveries::claim_batch(
                    &client,
                    batch,
                    LEASE,
                    &ClaimLimits::fixed(batch as i64, &[]),
                )
                .await?;
                claims.fetch_add(1, Ordering::Relaxed);
                if claimed.is_empty() {
                    // The rest is claimed by the other connections (or skipped because they
                    // held it locked): look again until everything is recorded.
                    anyhow::ensure!(
                        Instant::now() < deadline,
                        "the database-only drain did not finish within {GIVE_UP:?}"
                    );
                    tokio::time::sleep(EMPTY_CLAIM_PAUSE).await;
                    continue;
                }
                let (results, attempts, breaker) = delivered(&claimed, &schedule);
                let recorded = deliveries::record_results(
                    &client,
                    &results,
                    &attempts,
                    &breaker,
                    BreakerPolicy::default(),
                )
                .await?;
                rows.fetch_add(recorded.applied.len() as u64, Ordering::Relaxed);
            }
            anyhow::Ok(())
        }));
    }
    let all = futures_util::future::try_join_all(tasks);
    tokio::pin!(all);
    loop {
        tokio::select! {
            done = &mut all => {
                for r in done? {
                    r?;
                }
                break;
            }
            _ = tokio::time::sleep(Duration::from_millis(500)) => {
                progress.set_position(rows.load(Ordering::Relaxed));
            }
        }
    }
    let seconds = start.elapsed().as_secs_f64();
    let rows = rows.load(Ordering::Relaxed);
    anyhow::ensure!(
        rows == expected,
        "the database-only drain recorded {rows} of {expected} deliveries"
    );
    Ok(Ceiling {
        rows,
        seconds,
        claims: claims.load(Ordering::Relaxed),
    })
}

/// The rows the writer records for a batch answered 204 at once: one result and one attempt
/// per delivery, one breaker reset per webhook.
fn delivered(
    claimed: &[ClaimedDelivery],
    schedule: &RetrySchedule,
) -> (Vec<ResultRow>, Vec<AttemptRow>, Vec<BreakerUpdate>) {
    let now = Utc::now();
    let mut results = Vec::with_capacity(claimed.len());
    let mut attempts = Vec::with_capacity(claimed.len());
    let mut webhooks: Vec<uuid::Uuid> = Vec::new();
    for d in claimed {
        let before = u32::try_from(d.attempt_count).unwrap_or(0);
        let next = next_state(schedule, before, true, None, now);
        results.push(ResultRow {
            id: d.id,
            claimed_attempt_count: d.attempt_count,
            lease: d.lease,
            status: next.status(),
            next_attempt_at: None,
            status_code: Some(204),
            error: None,
            attempted: true,
        });
        attempts.push(AttemptRow {
            delivery_id: d.id,
            webhook_id: d.webhook_id,
            attempt: Attempt {
                attempt: d.attempt_count + 1,
                started_at: now,
                duration_ms: 0.0,
                status_code: Some(204),
                error: None,
                response_excerpt: None,
            },
        });
        if !webhooks.contains(&d.webhook_id) {
            webhooks.push(d.webhook_id);
        }
    }
    let breaker = webhooks
        .into_iter()
        .map(|webhook_id| BreakerUpdate {
            webhook_id,
            reset: true,
            failures: 0,
            ..BreakerUpdate::default()
        })
        .collect();
    (results, attempts, breaker)
}
