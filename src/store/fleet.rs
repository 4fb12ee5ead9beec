//! The fleet: the replica registry (each `herald run` upserts its row on a heartbeat), who
//! leads, and the queue depth by status (a snapshot the leader keeps, read as four rows: the
//! pending and failed deliveries counted every few seconds, the delivered and exhausted ones
//! by a walk over the table) with the oldest due delivery.

use std::{collections::BTreeMap, time::Duration};

use chrono::{DateTime, DurationRound, Utc};
use serde::Serialize;
use tokio_postgres::types::Json;
use uuid::Uuid;

use super::{Client, Pool, StoreError};

const HEARTBEAT: &str = include_str!("queries/fleet_heartbeat.sql");
const REPLICAS: &str = include_str!("queries/fleet_replicas.sql");
const PRUNE_REPLICAS: &str = include_str!("queries/fleet_prune_replicas.sql");
const LEADER: &str = include_str!("queries/fleet_leader.sql");
const SNAPSHOT_UNFINISHED: &str = include_str!("queries/fleet_snapshot_unfinished.sql");
const COUNT_FINISHED: &str = include_str!("queries/fleet_count_finished.sql");
const SNAPSHOT_FINISHED: &str = include_str!("queries/fleet_snapshot_finished.sql");
const QUEUE: &str = include_str!("queries/fleet_queue.sql");

/// One `herald run` process as it registers itself.
#[derive(Debug, Clone, Serialize)]
pub struct Replica {
    pub worker_id: Uuid,
    pub host: String,
    pub version: String,
    pub started_at: DateTime<Utc>,
    pub last_seen_at: DateTime<Utc>,
}

/// Records that `replica` is alive now (its `last_seen_at` is the database's clock).
pub async fn heartbeat(pool: &Pool, replica: &Replica) -> Result<(), StoreError> {
    let client = pool.get().await?;
    let beat = client
        .execute(
            HEARTBEAT,
            &[
                &replica.worker_id,
                &replica.host,
                &replica.version,
                &replica.started_at,
            ],
        )
        .await;
    super::checked(&client, beat)?;
    Ok(())
}

/// Replicas seen within `within`, most recent first, at most `limit`.
pub async fn replicas(
    pool: &Pool,
    within: Duration,
    limit: i64,
) -> Result<Vec<Replica>, StoreError> {
    let client = pool.get().await?;
    client
        .query(REPLICAS, &[&within.as_secs_f64(), &limit])
        .await?
        .iter()
        .map(|r| {
            Ok(Replica {
                worker_id: r.try_get("worker_id")?,
                host: r.try_get("host")?,
                version: r.try_get("version")?,
                started_at: r.try_get("started_at")?,
                last_seen_at: r.try_get("last_seen_at")?,
            })
        })
        .collect()
}

/// Forgets replicas not seen for `older_than`; returns how many.
pub async fn prune_replicas(client: &Client, older_than: Duration) -> Result<u64, StoreError> {
    let stmt = client.prepare_cached(PRUNE_REPLICAS).await?;
    Ok(client.execute(&stmt, &[&older_than.as_secs_f64()]).await?)
}

/// The leader's worker id and since when its session exists; `None` when nobody leads.
#[derive(Debug, Clone, Serialize)]
pub struct Leader {
    pub worker_id: String,
    pub since: DateTime<Utc>,
}

pub async fn leader_opt(pool: &Pool) -> Result<Option<Leader>, StoreError> {
    let client = pool.get().await?;
    client
        .query_opt(LEADER, &[])
        .await?
        .map(|r| {
            Ok(Leader {
                worker_id: r.try_get("worker_id")?,
                since: r.try_get("backend_start")?,
            })
        })
        .transpose()
}

/// Counts the pending and failed deliveries into the snapshot (a leader's chore): as many rows
/// as the queue holds.
pub async fn snapshot_unfinished(client: &Client) -> Result<(), StoreError> {
    let stmt = client.prepare_cached(SNAPSHOT_UNFINISHED).await?;
    client.execute(&stmt, &[]).await?;
    Ok(())
}

/// Delivered and exhausted deliveries counted in a range of `herald.deliveries`' blocks.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FinishedCount {
    pub delivered: i64,
    pub exhausted: i64,
    /// The range reached the table's end.
    pub last: bool,
}

/// Counts the delivered and exhausted deliveries in `blocks` blocks of `herald.deliveries` from
/// block `from`.
pub async fn count_finished(
    client: &Client,
    from: i64,
    blocks: i64,
) -> Result<FinishedCount, StoreError> {
    let stmt = client.prepare_cached(COUNT_FINISHED).await?;
    let r = client.query_one(&stmt, &[&from, &blocks]).await?;
    Ok(FinishedCount {
        delivered: r.try_get("delivered")?,
        exhausted: r.try_get("exhausted")?,
        last: r.try_get("last")?,
    })
}

/// Writes the delivered and exhausted counts of a finished walk into the snapshot.
pub async fn snapshot_finished(client: &Client, count: FinishedCount) -> Result<(), StoreError> {
    let stmt = client.prepare_cached(SNAPSHOT_FINISHED).await?;
    client
        .execute(&stmt, &[&count.delivered, &count.exhausted])
        .await?;
    Ok(())
}

/// The whole snapshot at once: the unfinished deliveries, then a walk over every block in
/// steps of `blocks`. For a caller that waits for it (the console bench); the leader walks a
/// step per tick.
pub async fn snapshot_queue(client: &Client, blocks: i64) -> Result<(), StoreError> {
    snapshot_unfinished(client).await?;
    let mut total = FinishedCount::default();
    let mut from = 0;
    loop {
        let step = count_finished(client, from, blocks).await?;
        total.delivered += step.delivered;
        total.exhausted += step.exhausted;
        if step.last {
            return snapshot_finished(client, total).await;
        }
        from += blocks;
    }
}

/// The queue as the last snapshot saw it, and the oldest due delivery now.
#[derive(Debug, Clone, Serialize)]
pub struct Queue {
    /// Deliveries by status (`pending`, `failed`, `delivered`, `exhausted`); empty before the
    /// first snapshot.
    pub by_status: BTreeMap<String, i64>,
    /// When the pending and failed deliveries were counted (the delivered and exhausted ones
    /// come from the leader's last finished walk over the table, which may be older).
    pub counted_at: Option<DateTime<Utc>>,
    /// `next_attempt_at` of the oldest due delivery; `None` when nothing is due.
    pub oldest_due: Option<DateTime<Utc>>,
}

pub async fn queue(pool: &Pool) -> Result<Queue, StoreError> {
    let client = pool.get().await?;
    let r = client.query_one(QUEUE, &[]).await?;
    let by_status: Option<Json<BTreeMap<String, i64>>> = r.try_get("by_status")?;
    Ok(Queue {
        by_status: by_status.map(|Json(m)| m).unwrap_or_default(),
        counted_at: r.try_get("taken_at")?,
        oldest_due: r.try_get("oldest_due")?,
    })
}

/// Everything the fleet screen and `herald status` show, from bounded reads: at most
/// `max_replicas` registry rows, the leader view, four snapshot rows, the first entry of the
/// due index and `minutes` rollup rows.
#[derive(Debug, Clone, Serialize)]
pub struct Overview {
    pub replicas: Vec<Replica>,
    pub leader: Option<Leader>,
    pub queue: Queue,
    /// The fleet's attempts per minute, oldest first.
    pub per_minute: Vec<super::stats::MinuteRate>,
    /// Deliveries and failures per second over the last complete minute.
    pub deliveries_per_s: f64,
    pub failures_per_s: f64,
    /// When the rollup behind the rates last ran.
    pub rates_as_of: Option<DateTime<Utc>>,
}

/// Replicas seen within this long are listed.
pub const REPLICAS_WITHIN: Duration = Duration::from_secs(24 * 3600);

pub async fn overview(
    pool: &Pool,
    minutes: i32,
    max_replicas: i64,
) -> Result<Overview, StoreError> {
    let per_minute = super::stats::fleet_rates(pool, minutes).await?;
    let now = Utc::now();
    let last_full = now
        .duration_trunc(chrono::TimeDelta::minutes(1))
        .unwrap_or(now)
        - chrono::TimeDelta::minutes(1);
    let (delivered, failed) = per_minute
        .iter()
        .find(|m| m.minute == last_full)
        .map_or((0, 0), |m| (m.delivered, m.failed));
    Ok(Overview {
        replicas: replicas(pool, REPLICAS_WITHIN, max_replicas).await?,
        leader: leader_opt(pool).await?,
        queue: queue(pool).await?,
        per_minute,
        deliveries_per_s: delivered as f64 / 60.0,
        failures_per_s: failed as f64 / 60.0,
        rates_as_of: super::stats::rolled_at(pool).await?,
    })
}
