//! `drain`: N due deliveries written up front (Herald stopped), then drained, three ways on
//! the same queue size in the same run, one after the other:
//!
//! 1. **HTTP**: `herald run` sends each delivery to a receiver that answers 204 at once;
//! 2. **engine only**: `herald run --bench-engine-only`, the send replaced by an immediate 204
//!    inside Herald (claim, pipeline and result writes, no network);
//! 3. **database ceiling**: no Herald at all, the store's claim and record functions in a loop
//!    (see `ceiling`).
//!
//! Throughput is first attempt → last delivered row, read back from the database (the ceiling
//! times its own loop). `drain_with` also serves `replicas` and `fairness`; the queue they all
//! start from is written by `queue`.

use std::time::Duration;

use anyhow::Context;
use chrono::{DateTime, Utc};

use super::{
    ceiling,
    env::BenchEnv,
    pg_work::PgWork,
    queue::{write_queue, Queue, QueueArgs},
    receiver::Receiver,
    report::{round, Goal, Report},
    scrape,
    worker::{Worker, WorkerSettings},
    WakeMode,
};
use crate::store::bench as sql;

#[derive(Debug, Clone, clap::Args)]
pub struct DrainArgs {
    #[command(flatten)]
    pub queue: QueueArgs,
    /// HERALD_MAX_IN_FLIGHT for the worker (default: Herald's own, 1024).
    #[arg(long)]
    pub max_in_flight: Option<usize>,
    /// Only the HTTP drain.
    #[arg(long, conflicts_with_all = ["engine_only", "database_only"])]
    pub http_only: bool,
    /// Only the engine-only drain (the send replaced by an immediate 204 inside Herald).
    #[arg(long, conflicts_with = "database_only")]
    pub engine_only: bool,
    /// Only the database-only ceiling (the store's claim and record functions, no Herald).
    #[arg(long)]
    pub database_only: bool,
    /// Connections of the database-only ceiling.
    #[arg(long, default_value_t = 4)]
    pub ceiling_connections: usize,
    /// Rows per claim of the database-only ceiling (as Herald: at most HERALD_MAX_IN_FLIGHT,
    /// 1024 by default).
    #[arg(long, default_value_t = crate::config::DEFAULT_MAX_IN_FLIGHT)]
    pub ceiling_batch: usize,
}

impl Default for DrainArgs {
    fn default() -> Self {
        DrainArgs {
            queue: QueueArgs::default(),
            max_in_flight: None,
            http_only: false,
            engine_only: false,
            database_only: false,
            ceiling_connections: 4,
            ceiling_batch: crate::config::DEFAULT_MAX_IN_FLIGHT,
        }
    }
}

/// What one drain by Herald measured.
#[derive(Debug, Clone)]
pub struct Drained {
    pub rate: f64,
    pub seconds: f64,
    pub delivered: u64,
    pub attempts: i64,
    /// Requests the receiver saw twice for the same delivery (HTTP drains).
    pub duplicates: u64,
    /// User + system CPU seconds of every replica.
    pub cpu: f64,
    /// The largest peak RSS of the replicas.
    pub peak_rss: f64,
    /// From spawning the replicas to every result recorded.
    pub wall: f64,
    /// Main claims made by every replica (`herald_claim_duration_seconds` observations).
    pub claims: f64,
    /// What the database did from spawning the replicas to their exit.
    pub pg: PgWork,
}

/// Starts `replicas` Herald processes on the written queue and waits until every delivery is
/// recorded. HTTP drains watch `receiver`; engine-only drains read Herald's own counters.
pub async fn drain_with(
    env: &BenchEnv,
    queue: &Queue,
    settings: &WorkerSettings,
    replicas: usize,
    receiver: &Receiver,
    label: String,
) -> anyhow::Result<Drained> {
    let expected = queue.deliveries;
    let c = env.connect().await?;
    let pg_before = PgWork::read(&c).await?;
    let mut workers = Vec::with_capacity(replicas);
    for _ in 0..replicas {
        workers.push(Worker::spawn(&env.url, settings).await?);
    }
    let progress = super::progress::bar(env.quiet, expected, label);
    // Generous: 200k at 1,000/s would take 200 s.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(600);
    let mut seen = 0;
    while seen < expected && tokio::time::Instant::now() < deadline {
        for w in &mut workers {
            w.check_alive()?;
        }
        if settings.engine_only {
            tokio::time::sleep(Duration::from_millis(250)).await;
            seen = delivered_by(&workers).await.unwrap_or(seen);
            progress.set_position(seen);
        } else {
            receiver
                .wait_for_total(expected, Duration::from_millis(500), |n| {
                    progress.set_position(n)
                })
                .await;
            seen = receiver.total();
        }
    }
    progress.finish_and_clear();
    anyhow::ensure!(
        seen >= expected,
        "only {seen} of {expected} deliveries were made within 600 s"
    );
    // Every request was made; the last results may still be on their way to the database.
    let delivered = wait_delivered(&c, expected, Duration::from_secs(30)).await?;
    let mut cpu = 0.0;
    let mut peak_rss: f64 = 0.0;
    let mut claims = 0.0;
    for w in &workers {
        cpu += w.cpu_seconds()?;
        let text = w.metrics().await?;
        claims += scrape::histogram(&text, "herald_claim_duration_seconds").count();
        peak_rss = peak_rss.max(w.peak_rss_mib()?);
    }
    let wall = workers
        .first()
        .map(|w| w.started.elapsed().as_secs_f64())
        .unwrap_or(0.0);
    let stops = workers.into_iter().map(Worker::stop);
    for r in futures_util::future::join_all(stops).await {
        r?;
    }
    let pg = PgWork::read(&c).await?.since(&pg_before);
    let row = c.query_one(sql::DRAIN_SPAN, &[]).await?;
    let first: DateTime<Utc> = row.get::<_, Option<_>>(0).context("no attempt recorded")?;
    let last: DateTime<Utc> = row.get::<_, Option<_>>(1).context("nothing delivered")?;
    let seconds = (last - first)
        .to_std()
        .unwrap_or_default()
        .as_secs_f64()
        .max(1e-6);
    Ok(Drained {
        rate: delivered as f64 / seconds,
        seconds,
        delivered,
        attempts: row.get(2),
        duplicates: receiver.duplicates(),
        cpu,
        peak_rss,
        wall,
        claims,
        pg,
    })
}

/// Deliveries recorded as delivered, by every replica's `herald_deliveries_total`.
async fn delivered_by(workers: &[Worker]) -> anyhow::Result<u64> {
    let mut n = 0.0;
    for w in workers {
        let text = w.metrics().await?;
        n += scrape::counter(&text, "herald_deliveries_total", "outcome=\"delivered\"");
    }
    Ok(n as u64)
}

async fn wait_delivered(
    c: &tokio_postgres::Client,
    expected: u64,
    timeout: Duration,
) -> anyhow::Result<u64> {
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        let n: i64 = c.query_one(sql::DRAIN_DELIVERED, &[]).await?.get(0);
        if n as u64 >= expected || tokio::time::Instant::now() >= deadline {
            return Ok(n as u64);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The drain's targets.
const HTTP_GOAL: Goal = Goal::AtLeast(10_000.0);
const ENGINE_GOAL: Goal = Goal::AtLeast(25_000.0);
const RSS_GOAL: Goal = Goal::AtMost(64.0);

pub async fn run(env: &BenchEnv, args: &DrainArgs, mode: WakeMode) -> anyhow::Result<Report> {
    let layout = args.queue.layout()?;
    let events = args.queue.events;
    let only = args.http_only || args.engine_only || args.database_only;
    let settings = WorkerSettings {
        max_in_flight: args.max_in_flight,
        ..WorkerSettings::defaults()
    };
    let engine_settings = WorkerSettings {
        engine_only: true,
        ..settings.clone()
    };
    let mut r = Report::new("drain", mode);
    let mut queue = None;
    let mut http = None;
    if args.http_only || !only {
        let receiver = Receiver::start().await?;
        let q = write_queue(env, mode, layout, &receiver.url_base(), events).await?;
        http = Some(drain_with(env, &q, &settings, 1, &receiver, "HTTP drain".into()).await?);
        queue = Some(q);
    }
    let mut engine = None;
    if args.engine_only || !only {
        let receiver = Receiver::start().await?;
        let q = write_queue(env, mode, layout, &receiver.url_base(), events).await?;
        let label = "engine-only drain".to_owned();
        engine = Some(drain_with(env, &q, &engine_settings, 1, &receiver, label).await?);
        anyhow::ensure!(
            receiver.total() == 0,
            "the engine-only drain sent {} requests",
            receiver.total()
        );
        queue = Some(q);
    }
    let mut ceiling = None;
    if args.database_only || !only {
        let receiver = Receiver::start().await?;
        let q = write_queue(env, mode, layout, &receiver.url_base(), events).await?;
        let progress = super::progress::bar(env.quiet, q.deliveries, "database-only drain");
        let c = ceiling::run(
            env,
            q.deliveries,
            args.ceiling_connections,
            args.ceiling_batch,
            &progress,
        )
        .await?;
        progress.finish_and_clear();
        ceiling = Some(c);
        queue = Some(q);
    }
    let queue = queue.context("no leg ran")?;

    r.setting("database", &env.database)
        .setting("layout", queue.describe())
        .setting("deliveries", format!("{} per leg", queue.deliveries));
    if http.is_some() {
        r.setting("HTTP leg", settings.describe())
            .setting("receiver", super::receiver::AT_ONCE);
    }
    if engine.is_some() {
        r.setting("engine-only leg", engine_settings.describe());
    }
    if ceiling.is_some() {
        r.setting(
            "database-only leg",
            format!(
                "no Herald: {} connections (synchronous_commit off, as Herald's), each looping \
                 store::deliveries::claim_batch of {} rows (no per-webhook cap) -> record_results \
                 as delivered (204)",
                args.ceiling_connections, args.ceiling_batch
            ),
        );
    }
    if let Some(h) = &http {
        r.target("HTTP deliveries/s", h.rate, "/s", HTTP_GOAL);
    }
    if let Some(e) = &engine {
        r.target("engine-only deliveries/s", e.rate, "/s", ENGINE_GOAL);
    }
    if let Some(c) = &ceiling {
        r.figure("database ceiling rows/s", round(c.rate()), "/s");
    }
    let ratio = |a: Option<f64>, b: Option<f64>| a.zip(b).map(|(a, b)| round(a / b * 100.0));
    let (h, e, c) = (
        http.as_ref().map(|d| d.rate),
        engine.as_ref().map(|d| d.rate),
        ceiling.as_ref().map(ceiling::Ceiling::rate),
    );
    if let Some(x) = ratio(h, e) {
        r.figure("HTTP / engine-only", x, "%");
    }
    if let Some(x) = ratio(e, c) {
        r.figure("engine-only / database ceiling", x, "%");
    }
    if let Some(x) = ratio(h, c) {
        r.figure("HTTP / database ceiling", x, "%");
    }
    if let Some(d) = &http {
        leg_figures(&mut r, "HTTP", d);
        r.target(
            "HTTP: duplicate requests",
            d.duplicates as f64,
            "",
            Goal::Equals(0.0),
        );
    }
    if let Some(d) = &engine {
        leg_figures(&mut r, "engine-only", d);
    }
    if let Some(c) = &ceiling {
        r.figure("database ceiling: drain time", round(c.seconds), "s")
            .figure(
                "database ceiling: claim statements (empty ones included)",
                c.claims,
                "",
            );
    }
    Ok(r)
}

fn leg_figures(r: &mut Report, leg: &str, d: &Drained) {
    r.figure(
        &format!("{leg}: drain time (first attempt -> last delivered row)"),
        round(d.seconds),
        "s",
    )
    .figure(&format!("{leg}: delivered rows"), d.delivered, "")
    .figure(&format!("{leg}: attempts recorded"), d.attempts, "")
    .figure(&format!("{leg}: herald CPU (user+sys)"), round(d.cpu), "s")
    .figure(
        &format!("{leg}: herald CPU per 1,000 deliveries"),
        round(d.cpu * 1000.0 / d.delivered.max(1) as f64),
        "s",
    )
    .figure(
        &format!("{leg}: herald wall time (spawn -> all recorded)"),
        round(d.wall),
        "s",
    )
    .target(
        &format!("{leg}: herald peak RSS (VmHWM)"),
        d.peak_rss,
        "MiB",
        RSS_GOAL,
    );
}
