//! The live progress display: the demo's deliveries counted in the database (delivered,
//! retrying, exhausted), until every one is terminal or the deadline passes. In place with
//! indicatif when stderr is a terminal; otherwise a plain line about once a second.

use std::{
    io::IsTerminal,
    time::{Duration, Instant},
};

use anyhow::bail;
use uuid::Uuid;

use crate::{metrics::Metrics, store::Pool};

const PROGRESS: &str = include_str!("sql/progress.sql");

/// How often the counts are read.
const TICK: Duration = Duration::from_millis(100);

/// How often a plain line is printed when stderr is not a terminal.
const PLAIN_EVERY: Duration = Duration::from_secs(1);

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    pub total: i64,
    pub delivered: i64,
    pub exhausted: i64,
    /// Attempted at least once and due again.
    pub retrying: i64,
    /// Not attempted yet.
    pub queued: i64,
}

impl Counts {
    pub fn terminal(&self) -> i64 {
        self.delivered + self.exhausted
    }

    pub fn done(&self) -> bool {
        self.terminal() == self.total
    }
}

pub async fn counts(pool: &Pool, webhook_ids: &[Uuid]) -> anyhow::Result<Counts> {
    let row = pool
        .get()
        .await?
        .query_one(PROGRESS, &[&webhook_ids])
        .await?;
    Ok(Counts {
        total: row.try_get("total")?,
        delivered: row.try_get("delivered")?,
        exhausted: row.try_get("exhausted")?,
        retrying: row.try_get("retrying")?,
        queued: row.try_get("queued")?,
    })
}

/// Shows progress until every delivery of `webhook_ids` is delivered or exhausted; fails when
/// `deadline` passes first.
pub async fn watch(
    pool: &Pool,
    webhook_ids: &[Uuid],
    metrics: &Metrics,
    deadline: Duration,
) -> anyhow::Result<Counts> {
    let started = Instant::now();
    let first = counts(pool, webhook_ids).await?;
    let bar = std::io::stderr()
        .is_terminal()
        .then(|| crate::progress::deliveries(first.total.max(0) as u64));
    let mut last_plain: Option<Instant> = None;
    let mut interval = tokio::time::interval(TICK);
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        interval.tick().await;
        let now = counts(pool, webhook_ids).await?;
        let line = format!(
            "delivered {} · retrying {} · exhausted {} · queued {} · breaker trips {}",
            now.delivered,
            now.retrying,
            now.exhausted,
            now.queued,
            metrics.breaker_trips.get()
        );
        match &bar {
            Some(bar) => {
                bar.set_length(now.total.max(0) as u64);
                bar.set_position(now.terminal().max(0) as u64);
                bar.set_message(line.clone());
            }
            None => {
                if now.done() || last_plain.map_or(true, |t| t.elapsed() >= PLAIN_EVERY) {
                    eprintln!(
                        "[{:>4.1}s] {}/{} done: {line}",
                        started.elapsed().as_secs_f64(),
                        now.terminal(),
                        now.total
                    );
                    last_plain = Some(Instant::now());
                }
            }
        }
        if now.done() {
            if let Some(bar) = &bar {
                bar.finish();
            }
            return Ok(now);
        }
        if started.elapsed() >= deadline {
            if let Some(bar) = &bar {
                bar.abandon();
            }
            bail!(
                "deadline of {}s passed with {} of {} deliveries not delivered or exhausted \
                 ({} retrying, {} never attempted); is the worker running? see \
                 herald.webhook_deliveries",
                deadline.as_secs(),
                now.total - now.terminal(),
                now.total,
                now.retrying,
                now.queued
            );
        }
    }
}
