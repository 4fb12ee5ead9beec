//! The leader's chores: retention in small batches, queue gauges.

use std::time::Duration;

use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::{Client, StoreError};

const PRUNE_EVENTS: &str = include_str!("queries/maintenance_prune_events.sql");
const PRUNE_LEGACY_DELIVERIES: &str =
    include_str!("queries/maintenance_prune_legacy_deliveries.sql");
const QUEUE_GAUGES: &str = include_str!("queries/maintenance_queue_gauges.sql");
const QUEUE_TUPLES: &str = include_str!("queries/maintenance_queue_tuples.sql");
/// Sent as a simple query (VACUUM runs outside any transaction); preparing would only parse it,
/// so the queries test runs it instead.
const VACUUM_QUEUE: &str = include_str!("scripts/maintenance_vacuum_queue.sql");
const ANALYZE_QUEUE: &str = include_str!("queries/maintenance_analyze_queue.sql");
const BREAKER_GAUGES: &str = include_str!("queries/maintenance_breaker_gauges.sql");

/// Where a retention pass over the events has got to: `(created_at, id)` of the last event
/// looked at.
pub type EventCursor = (DateTime<Utc>, Uuid);

/// What one retention batch over old events did.
#[derive(Debug, Clone, Copy, Default)]
pub struct PrunedEvents {
    pub deliveries: u64,
    pub events: u64,
    /// Where the next batch starts; `None` when no old event is left after this batch.
    pub next: Option<EventCursor>,
}

/// Looks at up to `batch` events older than `retention` after `after`, deleting their
/// delivered and exhausted deliveries (with attempts) last changed before the cutoff, and the
/// events that no delivery needs any more.
pub async fn prune_events(
    client: &Client,
    retention: Duration,
    batch: i64,
    after: Option<EventCursor>,
) -> Result<PrunedEvents, StoreError> {
    let stmt = client.prepare_cached(PRUNE_EVENTS).await?;
    let (after_at, after_id) = after.unzip();
    let row = client
        .query_one(
            &stmt,
            &[&retention.as_secs_f64(), &batch, &after_at, &after_id],
        )
        .await?;
    let scanned: i64 = row.try_get("scanned")?;
    let next_at: Option<DateTime<Utc>> = row.try_get("next_created_at")?;
    let next_id: Option<Uuid> = row.try_get("next_id")?;
    Ok(PrunedEvents {
        deliveries: row.try_get::<_, i64>("deliveries")? as u64,
        events: row.try_get::<_, i64>("events")? as u64,
        next: if scanned < batch {
            None
        } else {
            next_at.zip(next_id)
        },
    })
}

/// Deletes at most `batch` delivered or exhausted deliveries written before the queue was
/// reshaped (they carry their own payload) and older than `retention`; returns how many.
pub async fn prune_legacy_deliveries(
    client: &Client,
    retention: Duration,
    batch: i64,
) -> Result<u64, StoreError> {
    let stmt = client.prepare_cached(PRUNE_LEGACY_DELIVERIES).await?;
    let row = client
        .query_one(&stmt, &[&retention.as_secs_f64(), &batch])
        .await?;
    Ok(row.try_get::<_, i64>(0)? as u64)
}

#[derive(Debug, Clone, Copy, Default)]
pub struct QueueGauges {
    pub due: i64,
    pub oldest_due_seconds: f64,
}

pub async fn queue_gauges(client: &Client) -> Result<QueueGauges, StoreError> {
    let stmt = client.prepare_cached(QUEUE_GAUGES).await?;
    let row = client.query_one(&stmt, &[]).await?;
    Ok(QueueGauges {
        due: row.get(0),
        oldest_due_seconds: row.get(1),
    })
}

/// Live and dead tuples of `herald.queue`, as the statistics estimate them, and the rows the
/// planner believes it holds (`pg_class.reltuples`; before the first VACUUM or ANALYZE, -1 from
/// PostgreSQL 14 on and 0 before); and what the session's role may do about them.
#[derive(Debug, Clone, Default)]
pub struct QueueTuples {
    pub live: i64,
    pub dead: i64,
    pub planned: i64,
    /// The session's role (`current_user`).
    pub role: String,
    /// The role owns the queue or the database (or, from PostgreSQL 17 on, holds MAINTAIN on
    /// the queue): its VACUUM is not skipped with a warning.
    pub may_vacuum: bool,
    /// The role may call `herald.analyze_queue()` (`--grant-worker` grants it).
    pub may_analyze: bool,
}

pub async fn queue_tuples(client: &Client) -> Result<QueueTuples, StoreError> {
    let stmt = client.prepare_cached(QUEUE_TUPLES).await?;
    let row = client.query_one(&stmt, &[]).await?;
    Ok(QueueTuples {
        live: row.try_get("live")?,
        dead: row.try_get("dead")?,
        planned: row.try_get("planned")?,
        role: row.try_get("role")?,
        may_vacuum: row.try_get("may_vacuum")?,
        may_analyze: row.try_get("may_analyze")?,
    })
}

/// `VACUUM (SKIP_LOCKED) herald.queue`: a no-op with a server warning unless the connection's
/// role may vacuum the table ([`QueueTuples::may_vacuum`]).
pub async fn vacuum_queue(client: &Client) -> Result<(), StoreError> {
    client.batch_execute(VACUUM_QUEUE).await?;
    Ok(())
}

/// `ANALYZE (SKIP_LOCKED) herald.queue`, run as the schema owner by `herald.analyze_queue()`,
/// so that a worker role that does not own the queue can run it too.
pub async fn analyze_queue(client: &Client) -> Result<(), StoreError> {
    let stmt = client.prepare_cached(ANALYZE_QUEUE).await?;
    client.execute(&stmt, &[]).await?;
    Ok(())
}

/// How many webhooks are in each breaker state (`closed`, `open`, `half_open`, `disabled`).
pub async fn breaker_gauges(client: &Client) -> Result<Vec<(String, i64)>, StoreError> {
    let stmt = client.prepare_cached(BREAKER_GAUGES).await?;
    Ok(client
        .query(&stmt, &[])
        .await?
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect())
}
