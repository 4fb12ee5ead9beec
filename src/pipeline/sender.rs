//! The sender stage: one task per claimed delivery, sending it over HTTP. It never touches the
//! database and holds no connection; each result goes to the writer with its capacity slot.

use std::sync::Arc;

use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::Instrument;

use super::claimer::Claimed;
use crate::{
    http::{AttemptOutcome, Outgoing, Sender},
    metrics::Metrics,
};

/// What happened to one claimed delivery.
#[derive(Debug)]
pub struct Sent {
    pub claimed: Claimed,
    pub outcome: Outcome,
}

/// Whether a claimed delivery was attempted.
#[derive(Debug)]
pub enum Outcome {
    /// An attempt was made (or refused by Herald's own checks before the network: see
    /// [`AttemptOutcome::not_sent`]); it is logged and counts towards the schedule.
    Attempted(AttemptOutcome),
    /// Nothing was sent and no attempt is logged: the delivery is exhausted.
    Skipped(Skip),
}

/// Why a claimed delivery was not attempted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Skip {
    /// The webhook is disabled or deleted (or the delivery or its event is gone).
    WebhookDisabled,
}

impl Skip {
    /// The delivery's `last_error`.
    pub fn reason(self) -> &'static str {
        match self {
            Skip::WebhookDisabled => "webhook disabled",
        }
    }
}

pub struct Dispatcher {
    pub sender: Sender,
    pub claimed_rx: mpsc::Receiver<Claimed>,
    pub results_tx: mpsc::UnboundedSender<Sent>,
    pub metrics: Arc<Metrics>,
    /// Cancelled when the shutdown grace period is over: unfinished requests are dropped and
    /// their rows return after their lease.
    pub stop_unfinished: CancellationToken,
}

impl Dispatcher {
    /// Spawns a task per delivery on `tracker` until the claimer closes its channel.
    pub async fn run(mut self, tracker: TaskTracker) {
        while let Some(claimed) = self.claimed_rx.recv().await {
            let sender = self.sender.clone();
            let results_tx = self.results_tx.clone();
            let metrics = Arc::clone(&self.metrics);
            let stop_unfinished = self.stop_unfinished.clone();
            let span = tracing::debug_span!(
                "attempt",
                delivery_id = %claimed.delivery.id,
                webhook_id = %claimed.delivery.webhook_id,
                attempt = claimed.delivery.attempt_count + 1,
            );
            tracker.spawn(
                async move {
                    let outcome = tokio::select! {
                        outcome = send_one(&sender, &claimed) => outcome,
                        _ = stop_unfinished.cancelled() => return,
                    };
                    if let Outcome::Attempted(o) = &outcome {
                        claimed.slot.observe(o.duration, o.success());
                        metrics.attempt_duration.observe(o.duration.as_secs_f64());
                        tracing::debug!(
                            status = o.status_code,
                            latency_ms = o.duration.as_secs_f64() * 1000.0,
                            error = o.error.as_deref(),
                            "attempt finished"
                        );
                    }
                    // The writer outlives every sender task; if it is gone we are shutting
                    // down hard and the row returns after its lease.
                    let _ = results_tx.send(Sent { claimed, outcome });
                }
                .instrument(span),
            );
        }
    }
}

async fn send_one(sender: &Sender, claimed: &Claimed) -> Outcome {
    let d = &claimed.delivery;
    if !d.active {
        return Outcome::Skipped(Skip::WebhookDisabled);
    }
    let stored: Vec<&str> = [d.secret.as_deref(), d.previous_secret.as_deref()]
        .into_iter()
        .flatten()
        .collect();
    let secrets = match sender.signing_secrets(d.webhook_id, &stored) {
        Ok(secrets) => secrets,
        Err(reason) => return Outcome::Attempted(AttemptOutcome::not_sent(reason)),
    };
    let url = match &d.url {
        Ok(url) => url,
        Err(e) => return Outcome::Attempted(AttemptOutcome::invalid_url(e)),
    };
    let outgoing = Outgoing {
        url: url.clone(),
        event_id: d.event_id,
        body: d.body.clone(),
        secrets,
        headers: d.headers.clone(),
    };
    Outcome::Attempted(sender.send(&outgoing).await)
}
