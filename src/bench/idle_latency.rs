//! `idle-latency`: single events one at a time, each `select herald.emit(...)` its own
//! committed transaction, with a pause between them so the worker is asleep when each one
//! commits. Latency = the instant the receiver has the whole request − the instant the commit
//! returned to the producer.

use std::time::{Duration, Instant};

use uuid::Uuid;

use super::{
    env::{BenchEnv, OWN_TYPE},
    report::{round, Goal, Report},
    stats::percentiles,
    worker::{Worker, WorkerSettings},
    WakeMode,
};
use crate::store::bench as sql;

#[derive(Debug, Clone, clap::Args)]
pub struct IdleArgs {
    /// Events sent one after the other (default 1000; 200 when poll-only, since each one
    /// then waits for the safety poll).
    #[arg(long)]
    pub events: Option<u64>,
    /// Pause after each delivery before the next event, in ms. Longer than the claimer's
    /// 50 ms linger, so each event finds the worker asleep (the NOTIFY path).
    #[arg(long, default_value_t = 60)]
    pub gap_ms: u64,
}

impl Default for IdleArgs {
    fn default() -> Self {
        IdleArgs {
            events: None,
            gap_ms: 60,
        }
    }
}

pub async fn run(env: &BenchEnv, args: &IdleArgs, mode: WakeMode) -> anyhow::Result<Report> {
    let events = args.events.unwrap_or(match mode {
        WakeMode::Notify => 1_000,
        WakeMode::PollOnly => 200,
    });
    let (receiver, users) = env.reset_with_users(mode, 1).await?;
    let settings = WorkerSettings::defaults();
    let mut worker = Worker::spawn(&env.url, &settings).await?;
    env.wait_for_sleeper(Duration::from_secs(15)).await?;
    let c = env.connect().await?;
    let emit = c.prepare(sql::EMIT_ONE).await?;
    let data = serde_json::json!({ "note": "herald bench idle-latency" });

    let progress = super::progress::bar(env.quiet, events, "idle events");
    let mut samples = Vec::with_capacity(events as usize);
    let mut lost = 0u64;
    for _ in 0..events {
        let row = c.query_one(&emit, &[&OWN_TYPE, &users[0], &data]).await?;
        let committed = Instant::now();
        let id: Uuid = row.get(0);
        match receiver.wait_for_id(&id, Duration::from_secs(10)).await {
            Some(at) => samples.push(signed_ms(at, committed)),
            None => {
                lost += 1;
                worker.check_alive()?;
            }
        }
        progress.inc(1);
        tokio::time::sleep(Duration::from_millis(args.gap_ms)).await;
    }
    progress.finish_and_clear();
    worker.stop().await?;

    let p = percentiles(&samples);
    let mut r = Report::new("idle-latency", mode);
    r.setting("database", &env.database)
        .setting("events", events)
        .setting(
            "layout",
            "1 user, 1 webhook; each event its own transaction (autocommit)",
        )
        .setting(
            "pause between events",
            format!("{} ms after each delivery", args.gap_ms),
        )
        .latency_settings(settings.describe());
    r.target("p50", p.p50_ms, "ms", Goal::AtMost(2.0))
        .figure("p90", round(p.p90_ms), "ms")
        .target("p99", p.p99_ms, "ms", Goal::AtMost(10.0))
        .figure("max", round(p.max_ms), "ms")
        .figure("lost", lost, "");
    Ok(r)
}

/// `at - since` in ms, negative if `at` came first (the row is visible to the worker a moment
/// before the commit's answer reaches the producer).
pub fn signed_ms(at: Instant, since: Instant) -> f64 {
    match at.checked_duration_since(since) {
        Some(d) => d.as_secs_f64() * 1000.0,
        None => -(since.duration_since(at).as_secs_f64() * 1000.0),
    }
}
