//! The listener: one dedicated connection (a pooled client never receives notifications) that
//! LISTENs on `herald_wake` and carries the gated-wake flag, and LISTENs on `herald_gates`
//! (sent when a webhook's policy state changes: the claimer then reads the gated webhooks
//! again).
//!
//! The gated wake, worker side (ARCHITECTURE.md has the whole protocol):
//! 1. the claimer finds nothing to claim and is about to wait;
//! 2. it declares itself asleep: a row in `herald.sleepers` (written on this connection, so the
//!    row names this connection's backend pid);
//! 3. it claims once more, to catch events committed before the flag was visible;
//! 4. it waits for a notification, the safety poll, a known due time or freed capacity;
//! 5. after its next non-empty claim it declares itself awake (deletes the row).
//!
//! Producers NOTIFY only while some row exists. After every (re)connect the claimer is woken
//! and told the gates may have changed, since notifications sent while disconnected are lost.

use std::{
    sync::{
        atomic::{AtomicBool, Ordering},
        Arc,
    },
    time::Duration,
};

use tokio::sync::{mpsc, oneshot, Notify};
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use super::backoff::Backoff;
use crate::{readiness::Readiness, store};

const PING_EVERY: Duration = Duration::from_secs(5);
const PING_TIMEOUT: Duration = Duration::from_secs(5);
const DECLARE_TIMEOUT: Duration = Duration::from_secs(1);
/// The channel on which a change of the gated webhooks is announced (triggers/6_policies.sql).
const GATES_CHANNEL: &str = "herald_gates";
/// Why a session on a server that stopped taking writes is left.
const READ_ONLY: &str =
    "the server is read-only now (a standby, or a primary demoted by a failover)";

enum Command {
    Sleeping(oneshot::Sender<bool>),
    Awake,
}

/// The claimer's handle on the gated-wake flag.
#[derive(Clone, Debug)]
pub struct WakeGate {
    commands: mpsc::UnboundedSender<Command>,
}

impl WakeGate {
    /// Declares this worker asleep. True once the flag is visible to producers; false when the
    /// listener is disconnected (then only the poll, due times and capacity wake the claimer).
    pub async fn declare_sleeping(&self) -> bool {
        let (tx, rx) = oneshot::channel();
        if self.commands.send(Command::Sleeping(tx)).is_err() {
            return false;
        }
        // While the listener reconnects the flag cannot be set; do not hold the claimer up.
        tokio::time::timeout(DECLARE_TIMEOUT, rx)
            .await
            .ok()
            .and_then(Result::ok)
            .unwrap_or(false)
    }

    /// Declares this worker awake; does not wait.
    pub fn declare_awake(&self) {
        let _ = self.commands.send(Command::Awake);
    }
}

pub struct Listener {
    database_url: String,
    worker_id: Uuid,
    commands: mpsc::UnboundedReceiver<Command>,
    /// Woken on every notification and after every (re)connect.
    wake: Arc<Notify>,
    /// Set (before `wake`) on a `herald_gates` notification and after every (re)connect.
    gates_changed: Arc<AtomicBool>,
    readiness: Arc<Readiness>,
}

impl Listener {
    pub fn new(
        database_url: String,
        worker_id: Uuid,
        wake: Arc<Notify>,
        gates_changed: Arc<AtomicBool>,
        readiness: Arc<Readiness>,
    ) -> (Self, WakeGate) {
        let (tx, rx) = mpsc::unbounded_channel();
        (
            Self {
                database_url,
                worker_id,
                commands: rx,
                wake,
                gates_changed,
                readiness,
            },
            WakeGate { commands: tx },
        )
    }

    pub async fn run(mut self, stop: CancellationToken) {
        let mut backoff = Backoff::new(Duration::from_millis(100), Duration::from_secs(5));
        let mut asleep = false;
        let mut was_down = false;
        while !stop.is_cancelled() {
            let session = tokio::select! {
                _ = stop.cancelled() => break,
                s = self.connect(asleep) => s,
            };
            match session {
                Ok((client, conn)) => {
                    if was_down {
                        tracing::info!("listener reconnected");
                    }
                    backoff.reset();
                    self.readiness
                        .listener_connected
                        .store(true, Ordering::Release);
                    // Notifications sent while we were away are lost: look at the queue and
                    // the gates now.
                    self.gates_changed.store(true, Ordering::Release);
                    self.wake.notify_one();
                    let ended = self.serve(&client, conn, &mut asleep, &stop).await;
                    self.readiness
                        .listener_connected
                        .store(false, Ordering::Release);
                    if let Err(reason) = ended {
                        tracing::warn!(%reason, "listener connection lost; reconnecting");
                        was_down = true;
                    } else {
                        // Stopping: take our flag down so producers stop notifying for us.
                        let _ = tokio::time::timeout(
                            Duration::from_secs(2),
                            client.execute(store::session::FORGET_SLEEPER, &[&self.worker_id]),
                        )
                        .await;
                        break;
                    }
                }
                Err(e) => {
                    if !was_down {
                        tracing::warn!(error = %e, "listener cannot connect; retrying with backoff");
                        was_down = true;
                    }
                    // Answer pending commands: we cannot set the flag now.
                    while let Ok(cmd) = self.commands.try_recv() {
                        if let Command::Sleeping(reply) = cmd {
                            let _ = reply.send(false);
                        }
                    }
                    let delay = backoff.next_delay();
                    tokio::select! {
                        _ = stop.cancelled() => break,
                        _ = tokio::time::sleep(delay) => {}
                    }
                }
            }
        }
        self.readiness
            .listener_connected
            .store(false, Ordering::Release);
    }

    async fn connect(
        &self,
        asleep: bool,
    ) -> Result<(tokio_postgres::Client, tokio::task::JoinHandle<()>), store::StoreError> {
        let (notify_tx, mut notify_rx) = mpsc::unbounded_channel();
        let (client, conn) =
            store::connect_listener(&self.database_url, "herald-listener", notify_tx).await?;
        let wake = Arc::clone(&self.wake);
        let gates_changed = Arc::clone(&self.gates_changed);
        tokio::spawn(async move {
            while let Some(n) = notify_rx.recv().await {
                if n.channel == GATES_CHANNEL {
                    gates_changed.store(true, Ordering::Release);
                }
                wake.notify_one();
            }
        });
        client.batch_execute(store::session::LISTENER_START).await?;
        if asleep {
            self.set_sleeping(&client).await?;
        }
        Ok((client, conn))
    }

    async fn set_sleeping(
        &self,
        client: &tokio_postgres::Client,
    ) -> Result<(), tokio_postgres::Error> {
        client
            .execute(store::session::DECLARE_SLEEPER, &[&self.worker_id])
            .await
            .map(|_| ())
    }

    /// Serves commands until the connection fails (Err) or we are stopped (Ok).
    async fn serve(
        &mut self,
        client: &tokio_postgres::Client,
        mut conn: tokio::task::JoinHandle<()>,
        asleep: &mut bool,
        stop: &CancellationToken,
    ) -> Result<(), String> {
        let mut ping = tokio::time::interval(PING_EVERY);
        ping.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        ping.tick().await;
        loop {
            tokio::select! {
                _ = stop.cancelled() => return Ok(()),
                _ = &mut conn => return Err("connection closed".into()),
                _ = ping.tick() => {
                    match tokio::time::timeout(PING_TIMEOUT, store::accepts_writes(client)).await {
                        Ok(Ok(true)) => {}
                        Ok(Ok(false)) => return Err(READ_ONLY.into()),
                        Ok(Err(e)) => return Err(e.to_string()),
                        Err(_) => return Err(format!("no answer to a ping within {PING_TIMEOUT:?}")),
                    }
                }
                cmd = self.commands.recv() => match cmd {
                    None => return Ok(()),
                    Some(Command::Sleeping(reply)) => {
                        let result = self.set_sleeping(client).await;
                        let ok = result.is_ok();
                        let _ = reply.send(ok);
                        if let Err(e) = result {
                            return Err(e.to_string());
                        }
                        *asleep = true;
                    }
                    Some(Command::Awake) => {
                        *asleep = false;
                        if let Err(e) = client
                            .execute(store::session::FORGET_SLEEPER, &[&self.worker_id])
                            .await
                        {
                            return Err(e.to_string());
                        }
                    }
                }
            }
        }
    }
}
