//! Deliveries as the pipeline sees them: claim a batch, record a batch of results.

use std::time::Duration;

use bytes::Bytes;
use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::StoreError;
use crate::domain::{
    status::DeliveryStatus,
    target::{TargetUrl, UrlError},
};

const CLAIM: &str = include_str!("queries/deliveries_claim.sql");
const RECORD_RESULTS: &str = include_str!("queries/deliveries_record_results.sql");
const GATES: &str = include_str!("queries/deliveries_gates.sql");
const CLAIM_GATED: &str = include_str!("queries/deliveries_claim_gated.sql");
const CLAIM_FIFO: &str = include_str!("queries/deliveries_claim_fifo.sql");

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
    let full: Vec<Uuid> = limits
        .webhooks
        .iter()
        .filter(|a| a.alone <= 0)
        .map(|a| a.webhook_id)
        .collect();
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

/// The webhooks the claim leaves to the policy claim (breaker, back-off) and the FIFO claim.
#[derive(Debug, Clone, Copy, Default)]
pub struct Gates {
    pub gated: i64,
    /// A probe may go now for at least one of them.
    pub ready: bool,
    /// The head of at least one FIFO webhook is due.
    pub fifo_ready: bool,
    /// The next end of a cool-down or back-off, or the next due time of a FIFO head.
    pub next_at: Option<DateTime<Utc>>,
}

pub async fn gates(client: &super::Client) -> Result<Gates, StoreError> {
    let stmt = client.prepare_cached(GATES).await?;
    let row = client.query_one(&stmt, &[]).await?;
    Ok(Gates {
        gated: row.try_get("gated")?,
        ready: row.try_get("ready")?,
        fifo_ready: row.try_get("fifo_ready")?,
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

/// The new state of one claimed delivery.
#[derive(Debug, Clone)]
pub struct ResultRow {
    pub id: Uuid,
    pub claimed_attempt_count: i32,
    pub lease: DateTime<Utc>,
    pub status: DeliveryStatus,
    /// When it may be claimed again; `None` for terminal states.
    pub next_attempt_at: Option<DateTime<Utc>>,
    pub status_code: Option<i32>,
    pub error: Option<String>,
    /// Whether an HTTP attempt was made (false for deliveries of disabled webhooks).
    pub attempted: bool,
}

/// One attempt in the delivery log, as the writer records it and the admin API shows it.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct Attempt {
    /// 1-based attempt number.
    pub attempt: i32,
    pub started_at: DateTime<Utc>,
    pub duration_ms: f64,
    pub status_code: Option<i32>,
    pub error: Option<String>,
    pub response_excerpt: Option<String>,
}

/// One row of the delivery log: an attempt of a delivery to a webhook.
#[derive(Debug, Clone)]
pub struct AttemptRow {
    pub delivery_id: Uuid,
    pub webhook_id: Uuid,
    pub attempt: Attempt,
}

/// A batch's effect on one webhook's circuit breaker.
#[derive(Debug, Clone, Default)]
pub struct BreakerUpdate {
    pub webhook_id: Uuid,
    /// A success came after the failures counted before this batch.
    pub reset: bool,
    /// Failures after the last success of the batch.
    pub failures: i32,
    /// The receiver answered 410 Gone: disable the webhook.
    pub gone: bool,
    /// When the latest 429 or 503 answer came: the whole endpoint backs off.
    pub throttled_at: Option<DateTime<Utc>>,
    /// The latest end of the waits those answers asked for with `Retry-After` (already bounded).
    pub retry_until: Option<DateTime<Utc>>,
    /// When the latest request that got another answer (or error) started: it ends a back-off
    /// that began before it.
    pub answered_at: Option<DateTime<Utc>>,
}

/// How the writer moves a webhook's breaker and back-off.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BreakerPolicy {
    /// Consecutive failures that open the breaker.
    pub threshold: u32,
    /// The first cool-down; it doubles on each re-open, up to an hour.
    pub cooldown: Duration,
    /// Open for longer than this, the webhook is disabled.
    pub disable_after: Duration,
    /// The longest wait a 429/503 without `Retry-After` leads to.
    pub max_retry_after: Duration,
}

impl BreakerPolicy {
    pub const DEFAULT_THRESHOLD: u32 = 10;
    pub const DEFAULT_COOLDOWN: Duration = Duration::from_secs(30);
    pub const DEFAULT_DISABLE_AFTER: Duration = Duration::from_secs(3 * 24 * 3600);
    pub const DEFAULT_MAX_RETRY_AFTER: Duration = Duration::from_secs(3600);
}

/// The documented defaults (README, "Delivery policies").
impl Default for BreakerPolicy {
    fn default() -> Self {
        Self::from(Self::DEFAULT_THRESHOLD)
    }
}

/// The default policy with the given threshold.
impl From<u32> for BreakerPolicy {
    fn from(threshold: u32) -> Self {
        Self {
            threshold,
            cooldown: Self::DEFAULT_COOLDOWN,
            disable_after: Self::DEFAULT_DISABLE_AFTER,
            max_retry_after: Self::DEFAULT_MAX_RETRY_AFTER,
        }
    }
}

#[derive(Debug, Default, Clone)]
pub struct Recorded {
    /// Results that applied; the others lost their lease to a newer claim.
    pub applied: Vec<Uuid>,
    /// Webhooks whose breaker this batch opened.
    pub trips: i64,
    /// Ends of the cool-downs and back-offs this batch set or kept: when to claim again.
    pub wake_at: Vec<DateTime<Utc>>,
}

/// Records a batch of results, their attempts and breaker updates in one statement.
pub async fn record_results(
    client: &super::Client,
    results: &[ResultRow],
    attempts: &[AttemptRow],
    breaker: &[BreakerUpdate],
    policy: impl Into<BreakerPolicy>,
) -> Result<Recorded, StoreError> {
    let policy = policy.into();
    let stmt = client.prepare_cached(RECORD_RESULTS).await?;
    let ids: Vec<Uuid> = results.iter().map(|r| r.id).collect();
    let claimed: Vec<i32> = results.iter().map(|r| r.claimed_attempt_count).collect();
    let leases: Vec<DateTime<Utc>> = results.iter().map(|r| r.lease).collect();
    let statuses: Vec<DeliveryStatus> = results.iter().map(|r| r.status).collect();
    let next: Vec<Option<DateTime<Utc>>> = results.iter().map(|r| r.next_attempt_at).collect();
    let codes: Vec<Option<i32>> = results.iter().map(|r| r.status_code).collect();
    let errors: Vec<Option<&str>> = results.iter().map(|r| r.error.as_deref()).collect();
    let attempted: Vec<i32> = results.iter().map(|r| i32::from(r.attempted)).collect();

    let a_ids: Vec<Uuid> = attempts.iter().map(|a| a.delivery_id).collect();
    let a_webhooks: Vec<Uuid> = attempts.iter().map(|a| a.webhook_id).collect();
    let logged = || attempts.iter().map(|a| &a.attempt);
    let a_numbers: Vec<i32> = logged().map(|a| a.attempt).collect();
    let a_started: Vec<DateTime<Utc>> = logged().map(|a| a.started_at).collect();
    let a_durations: Vec<f64> = logged().map(|a| a.duration_ms).collect();
    let a_codes: Vec<Option<i32>> = logged().map(|a| a.status_code).collect();
    let a_errors: Vec<Option<&str>> = logged().map(|a| a.error.as_deref()).collect();
    let a_excerpts: Vec<Option<&str>> = logged().map(|a| a.response_excerpt.as_deref()).collect();

    let b_ids: Vec<Uuid> = breaker.iter().map(|b| b.webhook_id).collect();
    let b_reset: Vec<bool> = breaker.iter().map(|b| b.reset).collect();
    let b_failures: Vec<i32> = breaker.iter().map(|b| b.failures).collect();
    let b_gone: Vec<bool> = breaker.iter().map(|b| b.gone).collect();
    let b_throttled: Vec<Option<DateTime<Utc>>> = breaker.iter().map(|b| b.throttled_at).collect();
    let b_retry_until: Vec<Option<DateTime<Utc>>> = breaker.iter().map(|b| b.retry_until).collect();
    let b_answered: Vec<Option<DateTime<Utc>>> = breaker.iter().map(|b| b.answered_at).collect();
    let threshold = policy.threshold.min(i32::MAX as u32) as i32;

    let row = client
        .query_one(
            &stmt,
            &[
                &ids,
                &claimed,
                &leases,
                &statuses,
                &next,
                &codes,
                &errors,
                &attempted,
                &a_ids,
                &a_webhooks,
                &a_numbers,
                &a_started,
                &a_durations,
                &a_codes,
                &a_errors,
                &a_excerpts,
                &b_ids,
                &b_reset,
                &b_failures,
                &b_gone,
                &threshold,
                &policy.cooldown.as_secs_f64(),
                &policy.disable_after.as_secs_f64(),
                &policy.max_retry_after.as_secs_f64(),
                &b_throttled,
                &b_retry_until,
                &b_answered,
            ],
        )
        .await;
    let row = super::checked(client, row)?;
    Ok(Recorded {
        applied: row.get(0),
        trips: row.get(1),
        wake_at: row.get(2),
    })
}
