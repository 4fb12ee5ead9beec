//! `soak`: open-loop load (default 2,000 events/s) for minutes, sampled every few seconds:
//! the claim statement's p99 over each window (from the difference of two scrapes of
//! `herald_claim_duration_seconds`), deliveries/s, live and dead tuples of every table of the
//! schema `herald` (`pg_stat_user_tables`), `pg_notification_queue_usage()` and Herald's
//! resident memory (VmRSS). The summary judges the first window against the last.
//!
//! Windows: a minute, or a third of the run when it is shorter than three minutes. "First" is
//! the first window, "second" the one after it (memory is compared from there: the first one
//! includes warm-up), "last" the one that ends with the load.

use std::time::{Duration, Instant};

use serde_json::{json, Value};

use super::{
    env::BenchEnv,
    load::{self, Load},
    report::{round, Goal, Report, Table},
    scrape::{self, Buckets},
    steady,
    worker::{Worker, WorkerSettings},
    WakeMode,
};
use crate::store::bench as sql;

mod sample;

use sample::{at_or_before, dead_tuples, sample, table};

const CLAIM_HISTOGRAM: &str = "herald_claim_duration_seconds";

#[derive(Debug, Clone, clap::Args)]
pub struct SoakArgs {
    /// Events per second (open loop).
    #[arg(long, default_value_t = 2_000)]
    pub rate: u64,
    /// Minutes of load (fractions allowed: 0.5 is 30 s).
    #[arg(long, default_value_t = 10.0)]
    pub minutes: f64,
    /// Seconds between samples.
    #[arg(long, default_value_t = 5.0)]
    pub sample_seconds: f64,
    /// Producer connections.
    #[arg(long, default_value_t = 8)]
    pub producers: usize,
    /// Users, one webhook each; events go round-robin.
    #[arg(long, default_value_t = 10)]
    pub users: usize,
    /// Most events per producer statement [default: 1 up to 1,000 events/s, 10 above].
    #[arg(long)]
    pub batch_max: Option<usize>,
}

impl Default for SoakArgs {
    fn default() -> Self {
        SoakArgs {
            rate: 2_000,
            minutes: 10.0,
            sample_seconds: 5.0,
            producers: 8,
            users: 10,
            batch_max: None,
        }
    }
}

/// Targets of the soak.
const CLAIM_P99_MS: Goal = Goal::AtMost(5.0);
const DEAD_PER_LIVE: Goal = Goal::AtMost(10.0);
/// Tables smaller than this are judged by their dead tuples alone: 10 x this many.
const SMALL_TABLE_ROWS: i64 = 1_000;
const RSS_MIB: Goal = Goal::AtMost(64.0);
/// "Not growing": the last window's mean RSS within 10 % of the second window's.
const RSS_GROWTH_PERCENT: Goal = Goal::AtMost(110.0);
/// "About zero": under 0.1 % of the notification queue.
const NOTIFY_QUEUE_USAGE: Goal = Goal::AtMost(0.001);

pub async fn run(env: &BenchEnv, args: &SoakArgs, mode: WakeMode) -> anyhow::Result<Report> {
    anyhow::ensure!(
        args.minutes > 0.0 && args.sample_seconds > 0.0 && args.users > 0,
        "--minutes, --sample-seconds and --users must be positive"
    );
    let duration = Duration::from_secs_f64(args.minutes * 60.0);
    let interval = Duration::from_secs_f64(args.sample_seconds);
    anyhow::ensure!(
        interval * 3 <= duration,
        "--sample-seconds must leave at least three samples in the run"
    );
    let (receiver, users) = env.reset_with_users(mode, args.users).await?;
    let load = Load {
        rate: args.rate,
        duration,
        producers: args.producers,
        batch_max: args.batch_max.unwrap_or(load::default_batch(args.rate)),
        users,
    };
    let settings = WorkerSettings::defaults();
    let mut worker = steady::start_idle(env, &settings).await?;
    let c = env.connect().await?;
    let mut samples = vec![sample(&c, &mut worker, 0.0).await?];
    let running = load::start(env, &load).await?;
    let t0 = Instant::now();
    let progress = super::progress::timed(env.quiet, duration.as_secs(), "soak");
    let mut k = 1u32;
    loop {
        let due = t0 + interval * k;
        tokio::time::sleep_until(due.into()).await;
        let s = sample(&c, &mut worker, (interval * k).as_secs_f64()).await?;
        let prev = samples.last().unwrap_or(&s);
        progress.set_position(s.t as u64);
        progress.set_message(format!(
            "{:.0} delivered/s, claim p99 {}, RSS {:.1} MiB",
            (s.delivered - prev.delivered) / (s.t - prev.t).max(1e-9),
            ms(s.claim.since(&prev.claim).quantile(0.99)),
            s.rss_mib
        ));
        samples.push(s);
        if interval * k >= duration {
            break;
        }
        k += 1;
    }
    progress.finish_and_clear();
    let committed = running.finish().await?;
    let measured = steady::conclude(env, receiver, worker, committed).await?;

    let total = duration.as_secs_f64();
    let w = (total / 3.0).min(60.0);
    let window_name = |which: &str| {
        if w >= 60.0 {
            format!("{which} minute")
        } else {
            format!("{which} {} s", round(w))
        }
    };
    let claim_p99 = |from: f64, to: f64| -> Option<f64> {
        let (a, b) = (at_or_before(&samples, from), at_or_before(&samples, to));
        b.claim.since(&a.claim).quantile(0.99).map(|s| s * 1000.0)
    };
    let first_p99 = claim_p99(0.0, w);
    let last_p99 = claim_p99(total - w, total);
    let rss_mean = |from: f64, to: f64| {
        let in_window: Vec<f64> = samples
            .iter()
            .filter(|s| s.t > from && s.t <= to)
            .map(|s| s.rss_mib)
            .collect();
        in_window.iter().sum::<f64>() / in_window.len().max(1) as f64
    };
    let (second_rss, last_rss) = (rss_mean(w, 2.0 * w), rss_mean(total - w, total));
    let max_rss = samples.iter().map(|s| s.rss_mib).fold(0.0, f64::max);
    let max_notify = samples.iter().map(|s| s.notify_queue).fold(0.0, f64::max);
    let (worst_ratio, worst_small) = dead_tuples(&samples);

    let mut r = Report::new("soak", mode);
    r.setting("database", &env.database)
        .setting(
            "rate",
            format!("{} events/s, open loop, for {} s", args.rate, round(total)),
        )
        .setting("producers", load.describe())
        .setting(
            "layout",
            format!("{} users, 1 webhook each, round-robin", args.users),
        )
        .setting("herald", settings.describe())
        .setting(
            "sampling",
            format!(
                "every {} s: {CLAIM_HISTOGRAM} bucket deltas (p99 interpolated inside its \
                 bucket), pg_stat_user_tables of schema herald, pg_notification_queue_usage(), \
                 VmRSS",
                round(args.sample_seconds)
            ),
        )
        .setting(
            "windows",
            format!(
                "{} s each: first, second (after warm-up) and last of the run",
                round(w)
            ),
        )
        .setting(
            "dead tuples rule",
            format!(
                "at every sample, every table: dead <= 10 x live; tables under \
                 {SMALL_TABLE_ROWS} live rows are judged by dead <= {} alone",
                10 * SMALL_TABLE_ROWS
            ),
        )
        .setting(
            "RSS growing?",
            "last window's mean VmRSS vs the second window's mean (the first holds warm-up)",
        );
    claim_target(
        &mut r,
        &format!("claim p99, {}", window_name("first")),
        first_p99,
    );
    claim_target(
        &mut r,
        &format!("claim p99, {}", window_name("last")),
        last_p99,
    );
    if let (Some(a), Some(b)) = (first_p99, last_p99) {
        r.figure("claim p99, last / first", round(b / a.max(1e-9)), "x");
    }
    match &worst_ratio {
        Some((table, ratio)) => {
            r.target(
                "dead / live tuples, worst sample and table",
                *ratio,
                "x",
                DEAD_PER_LIVE,
            )
            .note(format!("worst dead / live ratio: herald.{table}"));
        }
        None => {
            r.figure(
                "dead / live tuples, worst sample and table",
                format!("no table reached {SMALL_TABLE_ROWS} live rows"),
                "",
            );
        }
    }
    r.target(
        &format!("dead tuples of tables under {SMALL_TABLE_ROWS} live rows, max"),
        worst_small as f64,
        "",
        Goal::AtMost((10 * SMALL_TABLE_ROWS) as f64),
    )
    .target("herald RSS, max", max_rss, "MiB", RSS_MIB)
    .figure(
        &format!("herald RSS, mean of the {}", window_name("second")),
        round(second_rss),
        "MiB",
    )
    .figure(
        &format!("herald RSS, mean of the {}", window_name("last")),
        round(last_rss),
        "MiB",
    )
    .target(
        "herald RSS growth (last / second window)",
        last_rss / second_rss.max(1e-9) * 100.0,
        "%",
        RSS_GROWTH_PERCENT,
    )
    .target(
        "pg_notification_queue_usage(), max",
        max_notify,
        "",
        NOTIFY_QUEUE_USAGE,
    );
    measured.add_figures(&mut r, None);
    r.samples = Some(table(&samples, w, total, args.sample_seconds));
    Ok(r)
}

fn claim_target(r: &mut Report, name: &str, p99_ms: Option<f64>) {
    match p99_ms {
        Some(v) => r.target(name, v, "ms", CLAIM_P99_MS),
        None => r.figure(name, "no claims", ""),
    };
}

fn ms(seconds: Option<f64>) -> String {
    match seconds {
        Some(s) => format!("{:.2} ms", s * 1000.0),
        None => "-".into(),
    }
}
