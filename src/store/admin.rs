//! What the admin API reads and changes on deliveries: a webhook's deliveries with their
//! attempts (keyset pages, newest first), retrying one now, recovering many, and waking the
//! workers. The pipeline's own queries live in `deliveries.rs`.
//!
//! Manual retry and recover keep `attempt_count`: a `failed` delivery becomes due now and
//! continues its schedule; an `exhausted` one becomes `failed` and due now, and gets exactly
//! one more attempt (the next-state function exhausts it again if that attempt fails).

use chrono::{DateTime, Utc};
use serde::Serialize;
use tokio_postgres::{types::Json, Row};
use uuid::Uuid;

use super::{deliveries::Attempt, Pool, StoreError};
use crate::domain::status::DeliveryStatus;

const LIST_DELIVERIES: &str = include_str!("queries/admin_list_deliveries.sql");
const RETRY_DELIVERY: &str = include_str!("queries/admin_retry_delivery.sql");
const DELIVERY_STATUS: &str = include_str!("queries/admin_delivery_status.sql");
const RECOVER_DELIVERIES: &str = include_str!("queries/admin_recover_deliveries.sql");
const WAKE: &str = include_str!("queries/admin_wake.sql");
const PING: &str = include_str!("queries/admin_ping.sql");
const SCHEMA_PRESENT: &str = include_str!("queries/admin_schema_present.sql");

#[derive(Debug, Clone, Serialize)]
pub struct DeliveryView {
    pub id: Uuid,
    pub event_id: Uuid,
    pub event_type: String,
    pub payload: serde_json::Value,
    pub resource_id: Option<Uuid>,
    pub status: DeliveryStatus,
    pub attempt_count: i32,
    pub next_attempt_at: DateTime<Utc>,
    pub last_status_code: Option<i32>,
    pub last_error: Option<String>,
    pub delivered_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub attempts: Vec<Attempt>,
}

impl DeliveryView {
    fn from_row(r: &Row) -> Result<Self, StoreError> {
        let Json(attempts): Json<Vec<Attempt>> = r.try_get("attempts")?;
        Ok(Self {
            id: r.try_get("id")?,
            event_id: r.try_get("event_id")?,
            event_type: r.try_get("event_type")?,
            payload: r.try_get("payload")?,
            resource_id: r.try_get("resource_id")?,
            status: r.try_get("status")?,
            attempt_count: r.try_get("attempt_count")?,
            next_attempt_at: r.try_get("next_attempt_at")?,
            last_status_code: r.try_get("last_status_code")?,
            last_error: r.try_get("last_error")?,
            delivered_at: r.try_get("delivered_at")?,
            created_at: r.try_get("created_at")?,
            updated_at: r.try_get("updated_at")?,
            attempts,
        })
    }

    /// The keyset position of this delivery in a newest-first listing.
    pub fn position(&self) -> (DateTime<Utc>, Uuid) {
        (self.created_at, self.id)
    }
}

/// Which page of deliveries to list.
#[derive(Debug, Clone, Copy)]
pub struct DeliveryPage<'a> {
    pub status: Option<DeliveryStatus>,
    pub event_type: Option<&'a str>,
    /// Only deliveries created at or after this.
    pub created_from: Option<DateTime<Utc>>,
    /// Only deliveries created before this.
    pub created_until: Option<DateTime<Utc>>,
    /// Only deliveries strictly older than this `(created_at, id)`.
    pub before: Option<(DateTime<Utc>, Uuid)>,
    pub limit: i64,
    /// At most this many deliveries of the webhook are examined for the filters.
    pub scan_limit: i64,
}

/// A page of deliveries and how far its scan got.
#[derive(Debug, Clone)]
pub struct ListedDeliveries {
    pub rows: Vec<DeliveryView>,
    /// Deliveries examined (at most `scan_limit`).
    pub scanned: i64,
    /// The position of the last delivery examined.
    pub scanned_to: Option<(DateTime<Utc>, Uuid)>,
}

/// Up to `page.limit` deliveries of the user's webhook that match the filters, newest first,
/// found among at most `page.scan_limit` deliveries.
pub async fn list_deliveries(
    pool: &Pool,
    user_id: Uuid,
    webhook_id: Uuid,
    page: DeliveryPage<'_>,
) -> Result<ListedDeliveries, StoreError> {
    let client = pool.get().await?;
    let (before_at, before_id) = page.before.unzip();
    let rows = client
        .query(
            LIST_DELIVERIES,
            &[
                &user_id,
                &webhook_id,
                &page.status,
                &before_at,
                &before_id,
                &page.event_type,
                &page.created_from,
                &page.created_until,
                &page.scan_limit,
                &page.limit,
            ],
        )
        .await?;
    let mut listed = ListedDeliveries {
        rows: Vec::with_capacity(rows.len()),
        scanned: 0,
        scanned_to: None,
    };
    for r in &rows {
        listed.scanned = r.try_get("scanned")?;
        let last_at: Option<DateTime<Utc>> = r.try_get("last_at")?;
        let last_id: Option<Uuid> = r.try_get("last_id")?;
        listed.scanned_to = last_at.zip(last_id);
        if r.try_get::<_, Option<Uuid>>("id")?.is_some() {
            listed.rows.push(DeliveryView::from_row(r)?);
        }
    }
    Ok(listed)
}

/// A delivery made due by a manual retry.
#[derive(Debug, Clone, Serialize)]
pub struct Requeued {
    pub id: Uuid,
    pub webhook_id: Uuid,
    pub status: DeliveryStatus,
    pub attempt_count: i32,
    pub next_attempt_at: DateTime<Utc>,
}

/// What a manual retry did.
#[derive(Debug)]
pub enum Retried {
    Requeued(Requeued),
    NotFound,
    /// The delivery already succeeded; nothing changed.
    AlreadyDelivered,
}

/// Makes one delivery due now and wakes the workers.
pub async fn retry_delivery(pool: &Pool, id: Uuid) -> Result<Retried, StoreError> {
    let client = pool.get().await?;
    if let Some(r) = client.query_opt(RETRY_DELIVERY, &[&id]).await? {
        let requeued = Requeued {
            id: r.try_get("id")?,
            webhook_id: r.try_get("webhook_id")?,
            status: r.try_get("status")?,
            attempt_count: r.try_get("attempt_count")?,
            next_attempt_at: r.try_get("next_attempt_at")?,
        };
        client.execute(WAKE, &[]).await?;
        return Ok(Retried::Requeued(requeued));
    }
    Ok(match client.query_opt(DELIVERY_STATUS, &[&id]).await? {
        None => Retried::NotFound,
        Some(_) => Retried::AlreadyDelivered,
    })
}

/// Re-queues the failed and exhausted deliveries of the user's webhook created since `since`,
/// wakes the workers, and answers how many.
pub async fn recover_deliveries(
    pool: &Pool,
    user_id: Uuid,
    webhook_id: Uuid,
    since: DateTime<Utc>,
) -> Result<i64, StoreError> {
    let client = pool.get().await?;
    let n: i64 = client
        .query_one(RECOVER_DELIVERIES, &[&user_id, &webhook_id, &since])
        .await?
        .try_get(0)?;
    if n > 0 {
        client.execute(WAKE, &[]).await?;
    }
    Ok(n)
}

/// True when a pooled connection answers a trivial query.
pub async fn ping(pool: &Pool) -> Result<(), StoreError> {
    let client = pool.get().await?;
    client.execute(PING, &[]).await?;
    Ok(())
}

/// Whether `herald migrate` has created the schema.
pub async fn schema_present(client: &super::Client) -> Result<bool, StoreError> {
    Ok(client.query_one(SCHEMA_PRESENT, &[]).await?.try_get(0)?)
}
