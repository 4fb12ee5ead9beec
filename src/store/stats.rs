//! Attempt statistics for the console and `herald status`: the leader rolls
//! `herald.delivery_attempts` up into per-minute rows from a watermark ([`roll_up`]), and
//! readers get success rates, duration percentiles, last failures and fleet rates from those
//! few rows, never from the attempts themselves.

use std::{collections::HashMap, time::Duration};

use chrono::{DateTime, Utc};
use serde::Serialize;
use uuid::Uuid;

use super::{Client, Pool, StoreError};
use crate::domain::histogram::{self, BOUNDS_MS};

const ROLL_UP: &str = include_str!("queries/stats_roll_up.sql");
const PRUNE: &str = include_str!("queries/stats_prune.sql");
const PRUNE_SMALL: &str = include_str!("queries/stats_prune_small.sql");
const WEBHOOKS: &str = include_str!("queries/stats_webhooks.sql");
const LAST_FAILURES: &str = include_str!("queries/stats_last_failures.sql");
const FLEET_RATES: &str = include_str!("queries/stats_fleet_rates.sql");
const ROLLED_AT: &str = include_str!("queries/stats_rolled_at.sql");

/// How long an attempt must exist before the rollup reads it (see `stats_roll_up.sql`).
pub const SETTLE: Duration = Duration::from_secs(2);

/// What one [`roll_up`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct RolledUp {
    /// Attempts counted.
    pub rolled: i64,
    /// Attempt ids not yet read (0 when caught up, apart from the settling ones).
    pub behind: i64,
}

/// Counts at most `max_attempts` attempts past the watermark into the rollup tables and moves
/// the watermark, in one statement (so two leaders overlapping count nothing twice).
pub async fn roll_up(client: &Client, max_attempts: i64) -> Result<RolledUp, StoreError> {
    let stmt = client.prepare_cached(ROLL_UP).await?;
    let row = client
        .query_one(
            &stmt,
            &[&BOUNDS_MS.to_vec(), &max_attempts, &SETTLE.as_secs_f64()],
        )
        .await?;
    Ok(RolledUp {
        rolled: row.try_get("rolled")?,
        behind: row.try_get("behind")?,
    })
}

/// Deletes per-minute rollup rows older than `keep_minutes` and per-hour ones older than
/// `keep_hours`, at most `batch` of each; returns how many.
pub async fn prune(
    client: &Client,
    keep_minutes: Duration,
    keep_hours: Duration,
    batch: i64,
) -> Result<i64, StoreError> {
    let stmt = client.prepare_cached(PRUNE).await?;
    let n: i64 = client
        .query_one(
            &stmt,
            &[
                &keep_minutes.as_secs_f64(),
                &keep_hours.as_secs_f64(),
                &batch,
            ],
        )
        .await?
        .try_get(0)?;
    let small = client.prepare_cached(PRUNE_SMALL).await?;
    client.execute(&small, &[&keep_hours.as_secs_f64()]).await?;
    Ok(n)
}

/// Attempts, successes and duration percentiles over one window.
#[derive(Debug, Clone, Default, Serialize)]
pub struct WindowStats {
    pub attempts: i64,
    pub delivered: i64,
    /// delivered / attempts; `None` without attempts.
    pub success_rate: Option<f64>,
    /// Upper bound of the median attempt duration's bucket, in ms.
    pub p50_ms: Option<f64>,
    pub p99_ms: Option<f64>,
    /// The same as text (`≤ 20 ms`).
    pub p50: Option<String>,
    pub p99: Option<String>,
}

impl WindowStats {
    fn from_buckets(counts: &[i64], delivered: i64) -> Self {
        let attempts = counts.iter().sum();
        let p50 = histogram::percentile(counts, 0.5);
        let p99 = histogram::percentile(counts, 0.99);
        Self {
            attempts,
            delivered,
            success_rate: (attempts > 0).then(|| delivered as f64 / attempts as f64),
            p50_ms: p50.map(|p| p.ms()),
            p99_ms: p99.map(|p| p.ms()),
            p50: p50.map(|p| p.to_string()),
            p99: p99.map(|p| p.to_string()),
        }
    }
}

/// The newest failed attempt of a webhook.
#[derive(Debug, Clone, Serialize)]
pub struct LastFailure {
    pub at: DateTime<Utc>,
    pub status_code: Option<i32>,
    pub error: Option<String>,
}

/// A webhook's health as the console shows it.
#[derive(Debug, Clone, Default, Serialize)]
pub struct WebhookStats {
    pub last_hour: WindowStats,
    pub last_day: WindowStats,
    pub last_failure: Option<LastFailure>,
}

/// The stats of each of `ids` (webhooks without attempts get empty stats).
pub async fn webhooks(
    pool: &Pool,
    ids: &[Uuid],
) -> Result<HashMap<Uuid, WebhookStats>, StoreError> {
    let client = pool.get().await?;
    let buckets = BOUNDS_MS.len() + 1;
    // Per webhook: (hour counts, hour delivered, day counts, day delivered).
    let mut raw: HashMap<Uuid, (Vec<i64>, i64, Vec<i64>, i64)> = HashMap::new();
    for r in client.query(WEBHOOKS, &[&ids]).await? {
        let id: Uuid = r.try_get("webhook_id")?;
        let counts: Vec<i32> = r.try_get("attempts")?;
        let delivered: i64 = r.try_get("delivered")?;
        let e = raw
            .entry(id)
            .or_insert_with(|| (vec![0; buckets], 0, vec![0; buckets], 0));
        let (sums, ok) = if r.try_get("last_hour")? {
            (&mut e.0, &mut e.1)
        } else {
            (&mut e.2, &mut e.3)
        };
        // A longer array (bounds appended since) folds its extra buckets into the last one.
        for (bucket, n) in counts.iter().enumerate() {
            sums[bucket.min(buckets - 1)] += i64::from(*n);
        }
        *ok += delivered;
    }
    let mut out: HashMap<Uuid, WebhookStats> = ids
        .iter()
        .map(|id| (*id, WebhookStats::default()))
        .collect();
    for (id, (hour, hour_ok, day, day_ok)) in raw {
        let s = out.entry(id).or_default();
        s.last_hour = WindowStats::from_buckets(&hour, hour_ok);
        s.last_day = WindowStats::from_buckets(&day, day_ok);
    }
    for r in client.query(LAST_FAILURES, &[&ids]).await? {
        let id: Uuid = r.try_get("webhook_id")?;
        out.entry(id).or_default().last_failure = Some(LastFailure {
            at: r.try_get("at")?,
            status_code: r.try_get("status_code")?,
            error: r.try_get("error")?,
        });
    }
    Ok(out)
}

/// Attempts in one minute of the whole fleet.
#[derive(Debug, Clone, Serialize)]
pub struct MinuteRate {
    pub minute: DateTime<Utc>,
    pub attempts: i64,
    pub delivered: i64,
    pub failed: i64,
}

/// The fleet's attempts per minute over the last `minutes` (current minute included; minutes
/// without attempts are absent).
pub async fn fleet_rates(pool: &Pool, minutes: i32) -> Result<Vec<MinuteRate>, StoreError> {
    let client = pool.get().await?;
    client
        .query(FLEET_RATES, &[&minutes])
        .await?
        .iter()
        .map(|r| {
            let attempts: i64 = r.try_get("attempts")?;
            let delivered: i64 = r.try_get("delivered")?;
            Ok(MinuteRate {
                minute: r.try_get("minute")?,
                attempts,
                delivered,
                failed: attempts - delivered,
            })
        })
        .collect()
}

/// When the rollup last ran (`None`: never), so readers can say how fresh the rates are.
pub async fn rolled_at(pool: &Pool) -> Result<Option<DateTime<Utc>>, StoreError> {
    let client = pool.get().await?;
    Ok(client.query_one(ROLLED_AT, &[]).await?.try_get(0)?)
}
