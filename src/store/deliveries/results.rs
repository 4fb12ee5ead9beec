//! Recording a batch of results in one statement: the deliveries' new states, the attempt
//! log, and each webhook's breaker and back-off.

use std::time::Duration;

use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::domain::status::DeliveryStatus;
use crate::store::{checked, Client, StoreError};

const RECORD_RESULTS: &str = include_str!("../queries/deliveries_record_results.sql");

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
    client: &Client,
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
    let row = checked(client, row)?;
    Ok(Recorded {
        applied: row.get(0),
        trips: row.get(1),
        wake_at: row.get(2),
    })
}
