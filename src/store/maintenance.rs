//! The leader's chores: retention in small batches, queue gauges.

use std::time::Duration;

use super::{Client, StoreError};

const PRUNE_DELIVERIES: &str = include_str!("queries/maintenance_prune_deliveries.sql");
const PRUNE_EVENTS: &str = include_str!("queries/maintenance_prune_events.sql");
const QUEUE_GAUGES: &str = include_str!("queries/maintenance_queue_gauges.sql");

pub const QUERIES: &[(&str, &str)] = &[
    ("maintenance_prune_deliveries", PRUNE_DELIVERIES),
    ("maintenance_prune_events", PRUNE_EVENTS),
    ("maintenance_queue_gauges", QUEUE_GAUGES),
];

/// Deletes at most `batch` terminal deliveries older than `retention`; returns how many.
pub async fn prune_deliveries(
    client: &Client,
    retention: Duration,
    batch: i64,
) -> Result<u64, StoreError> {
    let stmt = client.prepare_cached(PRUNE_DELIVERIES).await?;
    Ok(client
        .execute(&stmt, &[&retention.as_secs_f64(), &batch])
        .await?)
}

/// Deletes at most `batch` events older than `retention`; returns how many.
pub async fn prune_events(
    client: &Client,
    retention: Duration,
    batch: i64,
) -> Result<u64, StoreError> {
    let stmt = client.prepare_cached(PRUNE_EVENTS).await?;
    Ok(client
        .execute(&stmt, &[&retention.as_secs_f64(), &batch])
        .await?)
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
