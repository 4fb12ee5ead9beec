//! `steady`: open-loop events at rate R for T seconds (see `load` for how producers write).
//! Latency = receiver has the request − commit returned. Every event must arrive: `lost`
//! counts those that did not within the grace period.

use std::time::{Duration, Instant};

use super::{
    env::BenchEnv,
    idle_latency::signed_ms,
    load::{self, Committed, Load},
    receiver::Receiver,
    report::{round, Goal, Report},
    scrape,
    stats::{percentiles, Percentiles},
    worker::{Worker, WorkerSettings},
    WakeMode,
};
use crate::store::bench as sql;

/// The sources of `herald_wakeups`, in the order the report prints them.
const WAKEUP_SOURCES: [&str; 4] = ["notify", "poll", "due", "capacity"];

#[derive(Debug, Clone, clap::Args)]
pub struct SteadyArgs {
    /// Events per second (open loop).
    #[arg(long, default_value_t = 1_000)]
    pub rate: u64,
    /// Seconds of load.
    #[arg(long, default_value_t = 30)]
    pub seconds: u64,
    /// Producer connections.
    #[arg(long, default_value_t = 8)]
    pub producers: usize,
    /// Users, one webhook each; events go round-robin.
    #[arg(long, default_value_t = 10)]
    pub steady_users: usize,
    /// Most events per producer statement [default: 1 up to 1,000 events/s, 10 above].
    #[arg(long)]
    pub batch_max: Option<usize>,
}

impl Default for SteadyArgs {
    fn default() -> Self {
        SteadyArgs {
            rate: 1_000,
            seconds: 30,
            producers: 8,
            steady_users: 10,
            batch_max: None,
        }
    }
}

impl SteadyArgs {
    /// The 5,000 events/s variant.
    pub fn high() -> Self {
        SteadyArgs {
            rate: 5_000,
            ..SteadyArgs::default()
        }
    }
}

/// How long events may take to arrive after the load ends before they count as lost.
const GRACE: Duration = Duration::from_secs(15);

/// The p99 target: 25 ms up to 1,000 events/s, 50 ms above.
pub fn p99_goal(rate: u64) -> Goal {
    if rate <= 1_000 {
        Goal::AtMost(25.0)
    } else {
        Goal::AtMost(50.0)
    }
}

pub async fn run(env: &BenchEnv, args: &SteadyArgs, mode: WakeMode) -> anyhow::Result<Report> {
    anyhow::ensure!(args.steady_users > 0, "--steady-users must be positive");
    let (receiver, users) = env.reset_with_users(mode, args.steady_users).await?;
    let load = Load {
        rate: args.rate,
        duration: Duration::from_secs(args.seconds),
        producers: args.producers,
        batch_max: args.batch_max.unwrap_or(load::default_batch(args.rate)),
        users,
    };
    let settings = WorkerSettings::defaults();
    let m = measure(env, receiver, &load, &settings, "steady load").await?;

    let mut r = Report::new("steady", mode);
    r.setting("database", &env.database)
        .setting("rate", format!("{} events/s, open loop", args.rate))
        .setting("duration", format!("{} s", args.seconds))
        .setting("producers", load.describe())
        .setting(
            "layout",
            format!("{} users, 1 webhook each, round-robin", args.steady_users),
        )
        .latency_settings(settings.describe());
    m.add_figures(&mut r, Some(p99_goal(args.rate)));
    Ok(r)
}

/// What one timed load measured.
pub struct Measured {
    pub committed: Committed,
    pub latency: Percentiles,
    pub lost: u64,
    pub duplicates: u64,
    pub unanswered: u64,
    pub failed_attempts: i64,
    pub top_error: Option<String>,
    /// Main claims Herald made (`herald_claim_duration_seconds` observations), linger polls
    /// included: a claim that finds nothing is a wasted round trip.
    pub claims: f64,
    /// The claimer's wake-ups (`herald_wakeups`), one count per [`WAKEUP_SOURCES`]: under a
    /// steady flow it should not sleep at all, so a safety-poll wake-up there means it slept
    /// through new rows.
    pub wakeups: Vec<f64>,
    /// The second of commits (counted from the first) with the slowest delivery, its wall-clock
    /// time and that delivery's latency: where to look in the database's log.
    pub slowest_second: Option<(u64, chrono::DateTime<chrono::Utc>, f64)>,
}

impl Measured {
    /// The load's and the deliveries' figures; `p99` is the latency target, if there is one.
    pub fn add_figures(&self, r: &mut Report, p99: Option<Goal>) {
        let c = &self.committed;
        let p = &self.latency;
        r.figure("events committed", c.at.len() as u64, "")
            .figure(
                "achieved rate",
                round(c.at.len() as f64 / c.seconds.max(1e-9)),
                "/s",
            )
            .figure(
                "events per statement (mean)",
                round(c.at.len() as f64 / c.statements.max(1) as f64),
                "",
            )
            .figure(
                "max producer lag behind schedule",
                round(c.max_lag.as_secs_f64() * 1000.0),
                "ms",
            )
            .figure("p50", round(p.p50_ms), "ms")
            .figure("p90", round(p.p90_ms), "ms");
        match p99 {
            Some(goal) => r.target("p99", p.p99_ms, "ms", goal),
            None => r.figure("p99", round(p.p99_ms), "ms"),
        };
        r.figure("max", round(p.max_ms), "ms")
            .target("lost", self.lost as f64, "", Goal::Equals(0.0))
            .figure("duplicate requests", self.duplicates, "")
            .figure("failed attempts (retried)", self.failed_attempts, "")
            .figure("main claims", self.claims, "")
            .figure(
                "events per main claim",
                round(c.at.len() as f64 / self.claims.max(1.0)),
                "",
            )
            .figure(
                &format!("claimer wake-ups ({})", WAKEUP_SOURCES.join(" · ")),
                self.wakeups
                    .iter()
                    .map(f64::to_string)
                    .collect::<Vec<_>>()
                    .join(" · "),
                "",
            );
        if let Some((second, at, ms)) = self.slowest_second {
            r.note(format!(
                "slowest delivery: {ms:.1} ms, of an event committed in second {second} of the \
                 load ({} UTC)",
                at.format("%H:%M:%S")
            ));
        }
        if let Some(e) = &self.top_error {
            r.note(format!("most frequent attempt error: {e}"));
        }
    }
}

/// Starts Herald, waits until it is idle, runs `load`, waits for the arrivals, stops Herald.
pub async fn measure(
    env: &BenchEnv,
    receiver: Receiver,
    load: &Load,
    settings: &WorkerSettings,
    label: &'static str,
) -> anyhow::Result<Measured> {
    let worker = start_idle(env, settings).await?;
    let running = load::start(env, load).await?;
    let progress = super::progress::bar(env.quiet, running.total, label);
    while !running.is_finished() {
        progress.set_position(running.released());
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let committed = running.finish().await?;
    progress.finish_and_clear();
    conclude(env, receiver, worker, committed).await
}

/// Herald started and idle (asleep, listening).
pub async fn start_idle(env: &BenchEnv, settings: &WorkerSettings) -> anyhow::Result<Worker> {
    let worker = Worker::spawn(&env.url, settings).await?;
    env.wait_for_sleeper(Duration::from_secs(15)).await?;
    Ok(worker)
}

/// After the load: waits for the arrivals, stops Herald, and measures latency and losses.
/// Requests the receiver never answers are hung up first, so that Herald stops at once.
pub async fn conclude(
    env: &BenchEnv,
    receiver: Receiver,
    mut worker: Worker,
    committed: Committed,
) -> anyhow::Result<Measured> {
    let arrived_all = receiver
        .wait_for_total(committed.at.len() as u64, GRACE, |_| {})
        .await;
    if !arrived_all {
        worker.check_alive()?;
    }
    receiver.hang_up();
    let metrics = worker.metrics().await?;
    let claims = scrape::histogram(&metrics, "herald_claim_duration_seconds").count();
    let wakeups = WAKEUP_SOURCES
        .iter()
        .map(|s| scrape::counter(&metrics, "herald_wakeups_total", &format!("source=\"{s}\"")))
        .collect();
    worker.stop().await?;
    let arrivals = receiver.arrivals();
    let c = env.connect().await?;
    let row = c.query_one(sql::ATTEMPT_ERRORS, &[]).await?;
    let mut samples = Vec::with_capacity(committed.at.len());
    let mut lost = 0u64;
    let mut slowest: Option<(Instant, f64)> = None;
    for (id, at) in &committed.at {
        match arrivals.get(id) {
            Some(arrived) => {
                let ms = signed_ms(*arrived, *at);
                samples.push(ms);
                if !slowest.is_some_and(|(_, worst)| ms <= worst) {
                    slowest = Some((*at, ms));
                }
            }
            None => lost += 1,
        }
    }
    let slowest_second = slowest.and_then(|(at, ms)| {
        let first = committed.at.values().min()?;
        let ago = Instant::now().saturating_duration_since(at);
        let wall = chrono::Utc::now() - chrono::Duration::from_std(ago).ok()?;
        Some((at.saturating_duration_since(*first).as_secs(), wall, ms))
    });
    Ok(Measured {
        latency: percentiles(&samples),
        committed,
        lost,
        duplicates: receiver.duplicates(),
        unanswered: receiver.unanswered(),
        failed_attempts: row.get(0),
        top_error: row.get(1),
        claims,
        wakeups,
        slowest_second,
    })
}
