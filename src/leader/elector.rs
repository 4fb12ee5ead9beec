//! The elector: a state machine (see `leader/mod.rs`) over one dedicated connection.

use std::{
    sync::{
        atomic::{AtomicBool, Ordering},
        Arc,
    },
    time::Duration,
};

use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use super::chores::Chores;
use crate::{
    metrics::Metrics,
    pipeline::backoff::{jitter, Backoff},
    readiness::Readiness,
    store,
};

/// The advisory lock key: "herl" << 32 | "lead" (the `herald.leader` view knows it).
pub const LEADER_LOCK: i64 = 0x6865_726c_6c65_6164;

/// How often followers try to take the lock, and how often the leader checks its session.
pub const TRY_EVERY: Duration = Duration::from_millis(1000);

/// Why a session on a server that stopped taking writes is left: the election moves to the
/// primary.
const READ_ONLY: &str =
    "the server is read-only now (a standby, or a primary demoted by a failover)";

/// What the rest of the process can see of leadership.
#[derive(Debug, Default)]
pub struct LeaderState {
    /// This replica is the leader.
    pub is_leader: AtomicBool,
}

pub struct Elector {
    pub database_url: String,
    pub worker_id: Uuid,
    pub state: Arc<LeaderState>,
    pub readiness: Arc<Readiness>,
    pub metrics: Arc<Metrics>,
    pub chores: Chores,
}

enum Ended {
    Stopped,
    Lost(String),
}

impl Elector {
    pub async fn run(self, stop: CancellationToken) {
        let mut backoff = Backoff::new(Duration::from_millis(200), Duration::from_secs(5));
        let mut down = false;
        while !stop.is_cancelled() {
            let name = format!("herald-leader:{}", self.worker_id);
            let connected = tokio::select! {
                _ = stop.cancelled() => break,
                c = store::connect_one(&self.database_url, &name, None) => c,
            };
            let (client, conn) = match connected {
                Ok(c) => c,
                Err(e) => {
                    if !down {
                        tracing::warn!(error = %e, "elector cannot connect; retrying with backoff");
                        down = true;
                    }
                    self.readiness.leader_known.store(false, Ordering::Release);
                    tokio::select! {
                        _ = stop.cancelled() => break,
                        _ = tokio::time::sleep(backoff.next_delay()) => {}
                    }
                    continue;
                }
            };
            if down {
                tracing::info!("elector reconnected");
            }
            backoff.reset();
            match self.session(&client, conn, &stop).await {
                Ended::Stopped => break,
                Ended::Lost(reason) => {
                    self.step_down(&reason);
                    down = true;
                    tracing::warn!(%reason, "elector connection lost; reconnecting");
                }
            }
        }
        self.readiness.leader_known.store(false, Ordering::Release);
    }

    fn step_down(&self, reason: &str) {
        if self.state.is_leader.swap(false, Ordering::AcqRel) {
            self.metrics.leader.set(0);
            tracing::warn!(worker_id = %self.worker_id, %reason, "leadership lost");
        }
    }

    /// Follower and leader states over one connection, until it fails or we stop.
    async fn session(
        &self,
        client: &tokio_postgres::Client,
        mut conn: tokio::task::JoinHandle<()>,
        stop: &CancellationToken,
    ) -> Ended {
        loop {
            let leading = self.state.is_leader.load(Ordering::Acquire);
            if leading {
                // The lock is ours while the session lives; check the session is alive.
                match tokio::time::timeout(TRY_EVERY * 3, store::accepts_writes(client)).await {
                    Ok(Ok(true)) => self.chores.tick(stop).await,
                    Ok(Ok(false)) => return Ended::Lost(READ_ONLY.into()),
                    Ok(Err(e)) => return Ended::Lost(e.to_string()),
                    Err(_) => return Ended::Lost("no answer to a ping".into()),
                }
            } else {
                match store::accepts_writes(client).await {
                    Ok(true) => {}
                    Ok(false) => return Ended::Lost(READ_ONLY.into()),
                    Err(e) => return Ended::Lost(e.to_string()),
                }
                match client
                    .query_one(store::session::LEADER_TRY_LOCK, &[&LEADER_LOCK])
                    .await
                {
                    Ok(row) => {
                        self.readiness.leader_known.store(true, Ordering::Release);
                        if row.get::<_, bool>(0) {
                            self.state.is_leader.store(true, Ordering::Release);
                            self.metrics.leader.set(1);
                            tracing::info!(worker_id = %self.worker_id, "leadership gained");
                            continue;
                        }
                    }
                    Err(e) => return Ended::Lost(e.to_string()),
                }
            }
            tokio::select! {
                _ = stop.cancelled() => {
                    if self.state.is_leader.swap(false, Ordering::AcqRel) {
                        self.metrics.leader.set(0);
                        let _ = tokio::time::timeout(
                            Duration::from_secs(2),
                            client.execute(store::session::LEADER_UNLOCK, &[&LEADER_LOCK]),
                        )
                        .await;
                        tracing::info!(worker_id = %self.worker_id, "leadership resigned");
                    }
                    return Ended::Stopped;
                }
                _ = &mut conn => return Ended::Lost("connection closed".into()),
                _ = tokio::time::sleep(jitter(TRY_EVERY, 0.2)) => {}
            }
        }
    }
}
