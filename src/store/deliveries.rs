//! Deliveries as the pipeline sees them: claim a batch (and the policy claims of gated
//! webhooks), record a batch of results (`results.rs`).

use std::time::Duration;

use bytes::Bytes;
use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::StoreError;
use crate::domain::target::{TargetUrl, UrlError};

mod results;
pub use results::{
    record_results, Attempt, AttemptRow, BreakerPolicy, BreakerUpdate, Recorded, ResultRow,
};

const CLAIM: &str = include_str!("queries/deliveries_claim.sql");
const GATES: &str = include_str!("queries/deliveries_gates.sql");
const CLAIM_GATED: &str = include_str!("queries/deliveries_claim_gated.sql");
const CLAIM_FIFO: &str = include_str!("queries/deliveries_claim_fifo.sql");
const CLAIM_LIMITED: &str = include_str!("queries/deliveries_claim_limited.sql");

/// A delivery claimed by this worker, with what the sender needs.
#[derive(Debug, Clone)]
pub struct ClaimedDelivery {
    pub id: Uuid,
    pub webhook_id: Uuid,
    pub event_id: Uuid,
    /// The payload exactly as it will be sent and signed.
    pub body: Bytes,
    /// Attempts made before this claim.
    pub attempt_count: i32,
    /// The claim's lease end, also its fencing token.
    pub lease: DateTime<Utc>,
    pub created_at: DateTime<Utc>,
    /// The webhook's URL, parsed when claimed (plain `http` passes here: the sender holds it to
    /// `HERALD_ALLOW_HTTP`). A row written straight into the table may hold one that does not
    /// parse; `Empty` when the webhook is gone.
    pub url: Result<TargetUrl, UrlError>,
    pub secret: Option<String>,
    /// Still signing while the rotation's grace period lasts.
    pub previous_secret: Option<String>,
    /// False when the webhook is disabled, tripped or deleted: such a delivery is not sent.
    pub active: bool,
    /// The webhook's custom headers.
    pub headers: Vec<(String, String)>,
}

/// How many of this worker's deliveries are in flight for a webhook.
#[derive(Debug, Clone, Copy)]
pub struct Busy {
    pub webhook_id: Uuid,
    pub in_flight: i64,
}

/// How many more deliveries of a webhook a claim may take: `shared` while other webhooks have
/// due deliveries among the claim's candidates, `alone` when they do not.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Allowance {
    pub webhook_id: Uuid,
    pub shared: i64,
    pub alone: i64,
}

/// The per-webhook limits of one claim.
#[derive(Debug, Clone, Default)]
pub struct ClaimLimits {
    /// What a webhook not listed in `webhooks` may take (both shared and alone).
    pub default: i64,
    pub webhooks: Vec<Allowance>,
}

impl ClaimLimits {
    /// How many more deliveries of a webhook a claim may take when no other webhook waits.
    pub fn alone_of(&self, webhook_id: Uuid) -> i64 {
        self.webhooks
            .iter()
            .find(|a| a.webhook_id == webhook_id)
            .map_or(self.default, |a| a.alone)
    }

    /// The webhooks that may take nothing more (their whole allowance is in flight).
    pub fn full(&self) -> Vec<Uuid> {
        self.webhooks
            .iter()
            .filter(|a| a.alone <= 0)
            .map(|a| a.webhook_id)
            .collect()
    }

    /// The same fixed limit for every webhook, minus what is already in flight.
    pub fn fixed(per_webhook: i64, busy: &[Busy]) -> Self {
        ClaimLimits {
            default: per_webhook,
            webhooks: busy
                .iter()
                .map(|b| {
                    let left = (per_webhook - b.in_flight).max(0);
                    Allowance {
                        webhook_id: b.webhook_id,
                        shared: left,
                        alone: left,
                    }
                })
                .collect(),
        }
    }
}

/// Claims up to `limit` due deliveries, oldest due first, within `limits`, and moves each one's
/// due time forward by `lease`.
pub async fn claim_batch(
    client: &super::Client,
    limit: usize,
    lease: Duration,
    limits: &ClaimLimits,
) -> Result<Vec<ClaimedDelivery>, StoreError> {
    let stmt = client.prepare_cached(CLAIM).await?;
    let full = limits.full();
    let open: Vec<&Allowance> = limits.webhooks.iter().filter(|a| a.alone > 0).collect();
    let ids: Vec<Uuid> = open.iter().map(|a| a.webhook_id).collect();
    let shared: Vec<i64> = open.iter().map(|a| a.shared.max(0)).collect();
    let alone: Vec<i64> = open.iter().map(|a| a.alone).collect();
    let limit = limit as i64;
    // Scan a few times the batch so that rows past a busy webhook's share are reachable.
    let scan = (limit * 4).max(64);
    let rows = client
        .query(
            &stmt,
            &[
                &limit,
                &lease.as_secs_f64(),
                &scan,
                &full,
                &ids,
                &shared,
                &alone,
                &limits.default,
            ],
        )
        .await;
    let rows = super::checked(client, rows)?;
    rows.iter().map(claimed_from_row).collect()
}

fn claimed_from_row(r: &tokio_postgres::Row) -> Result<ClaimedDelivery, StoreError> {
    let stored: Option<String> = r.try_get("stored_body")?;
    let body = match stored {
        Some(text) => Bytes::from(text),
        None => match (
            r.try_get::<_, Option<String>>("event_type")?,
            r.try_get::<_, Option<DateTime<Utc>>>("event_created_at")?,
            r.try_get::<_, Option<String>>("data")?,
        ) {
            (Some(event_type), Some(at), Some(data)) => event_body(&event_type, at, &data),
            // The delivery or its event is gone; `active` is false and nothing is sent.
            _ => Bytes::new(),
        },
    };
    Ok(ClaimedDelivery {
        id: r.try_get("id")?,
        webhook_id: r.try_get("webhook_id")?,
        event_id: r
            .try_get::<_, Option<Uuid>>("event_id")?
            .unwrap_or_default(),
        body,
        attempt_count: r.try_get::<_, Option<i32>>("attempt_count")?.unwrap_or(0),
        lease: r.try_get("lease")?,
        created_at: r
            .try_get::<_, Option<DateTime<Utc>>>("created_at")?
            .unwrap_or_else(Utc::now),
        url: TargetUrl::parse(
            r.try_get::<_, Option<&str>>("url")?.unwrap_or_default(),
            true,
        ),
        secret: r.try_get("secret")?,
        previous_secret: r.try_get("previous_secret")?,
        // No row in herald.outgoing: the delivery is gone, nothing is sent.
        active: r.try_get::<_, Option<bool>>("active")?.unwrap_or(false),
        headers: match r.try_get::<_, Option<String>>("headers")? {
            None => Vec::new(),
            Some(text) => serde_json::from_str::<serde_json::Map<String, serde_json::Value>>(&text)
                .map(|m| {
                    m.into_iter()
                        .filter_map(|(k, v)| v.as_str().map(|v| (k, v.to_owned())))
                        .collect()
                })
                .unwrap_or_default(),
        },
    })
}

/// The webhooks the claim leaves to the policy claims (breaker not closed, back-off running,
/// rate limit) and the FIFO claim.
#[derive(Debug, Clone, Default)]
pub struct Gates {
    pub gated: i64,
    /// How many of them are FIFO.
    pub fifo: i64,
    /// A probe may go now for at least one of them.
    pub ready: bool,
    /// The head of at least one FIFO webhook is due.
    pub fifo_ready: bool,
    /// The rate-limited ones (breaker closed, not FIFO) whose bucket holds a whole token now.
    pub limited: Vec<Uuid>,
    /// The next end of a cool-down or back-off, the next due time of a FIFO head, or the next
    /// token of an empty bucket.
    pub next_at: Option<DateTime<Utc>>,
}

pub async fn gates(client: &super::Client) -> Result<Gates, StoreError> {
    let stmt = client.prepare_cached(GATES).await?;
    let row = client.query_one(&stmt, &[]).await?;
    Ok(Gates {
        gated: row.try_get("gated")?,
        fifo: row.try_get("fifo")?,
        ready: row.try_get("ready")?,
        fifo_ready: row.try_get("fifo_ready")?,
        limited: row.try_get("limited")?,
        next_at: row.try_get("next_at")?,
    })
}

/// The claims of one delivery per webhook, cluster-wide, that lock the webhook's row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnePerWebhook {
    /// One due delivery of each gated webhook whose wait is over (a FIFO webhook's head).
    Probes,
    /// The due head of each FIFO webhook whose breaker is closed and which has no back-off.
    FifoHeads,
}

/// Claims at most `limit` deliveries of `kind`, skipping the webhooks in `full`.
pub async fn claim_probes(
    client: &super::Client,
    kind: OnePerWebhook,
    limit: usize,
    lease: Duration,
    full: &[Uuid],
) -> Result<Vec<ClaimedDelivery>, StoreError> {
    let sql = match kind {
        OnePerWebhook::Probes => CLAIM_GATED,
        OnePerWebhook::FifoHeads => CLAIM_FIFO,
    };
    let stmt = client.prepare_cached(sql).await?;
    let rows = client
        .query(&stmt, &[&(limit as i64), &lease.as_secs_f64(), &full])
        .await?;
    rows.iter().map(claimed_from_row).collect()
}

/// Claims at most `limit` deliveries of rate-limited webhooks, cluster-wide: of each, as many as
/// its bucket holds whole tokens and `limits` let it take alone; debits the buckets.
pub async fn claim_limited(
    client: &super::Client,
    limit: usize,
    lease: Duration,
    limits: &ClaimLimits,
) -> Result<Vec<ClaimedDelivery>, StoreError> {
    let stmt = client.prepare_cached(CLAIM_LIMITED).await?;
    let (ids, left): (Vec<Uuid>, Vec<i64>) = limits
        .webhooks
        .iter()
        .map(|a| (a.webhook_id, a.alone.max(0)))
        .unzip();
    let (limit, lease) = (limit as i64, lease.as_secs_f64());
    let rows = client
        .query(&stmt, &[&limit, &lease, &ids, &left, &limits.default])
        .await?;
    rows.iter().map(claimed_from_row).collect()
}

/// The payload of an event exactly as `herald.event_payload(...)::text` renders it (jsonb text
/// form: keys ordered by length, then bytes; `": "` and `", "` separators), built here so that
/// the claim does not have to build and print a jsonb per row. `data` is the event's text.
pub fn event_body(event_type: &str, created_at: DateTime<Utc>, data: &str) -> Bytes {
    let event_type = serde_json::to_string(event_type).unwrap_or_else(|_| "\"\"".into());
    let timestamp = created_at.format("%Y-%m-%dT%H:%M:%S%.6fZ");
    Bytes::from(format!(
        "{{\"data\": {data}, \"type\": {event_type}, \"timestamp\": \"{timestamp}\"}}"
    ))
}
