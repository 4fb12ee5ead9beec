//! `herald bench`: the benchmark scenarios, each selectable, each printing its settings and
//! results as a table (or JSON with `--json`), figures next to their targets.
//!
//! Layout: one file per scenario (`drain`, `idle_latency`, `steady`, `producer_overhead`,
//! `fan_out`, `soak`, `replicas`, `fairness`), plus the shared parts: `env` (the database and
//! its fixtures), `load` (open-loop producers), `receiver` (the in-process hyper server that
//! records arrivals and answers at once, late or never, by path), `worker` (Herald as a child
//! process, with its CPU time, memory and `/metrics`), `ceiling` (the database-only drain),
//! `scrape` (reading `/metrics`), `stats` (percentiles), `report` (tables and JSON) and `runs`
//! (medians of `--runs N`). The bench measures; nothing here asserts a target.

mod ceiling;
mod console;
mod drain;
mod env;
mod fairness;
mod fan_out;
mod idle_latency;
mod load;
mod pg_work;
mod producer_overhead;
mod queue;
mod receiver;
mod replicas;
mod report;
mod runs;
mod scrape;
mod soak;
mod stats;
mod steady;
mod worker;

use clap::{Args, Subcommand};

use self::{env::BenchEnv, report::Report};
use crate::progress;

#[derive(Debug, Args)]
#[command(after_help = "\
DATABASE: without DATABASE_URL the bench starts a throwaway PostgreSQL from the machine's \
binaries (durable: fsync and synchronous_commit on, unless --not-durable) and removes it at \
the end. With DATABASE_URL set it uses that database, which it must be free to write to: it \
migrates the schema `herald`, TRUNCATEs Herald's tables between scenarios, flips \
herald.settings.notify_enabled, and creates the table public.herald_bench_plain. Never point \
it at a database holding real webhooks.

Herald runs as a child process (`herald run`, this same binary) so that its CPU time and \
memory are its own; the receiver is an in-process hyper HTTP/1 server on 127.0.0.1 (real \
sockets) answering 204 at once (fairness also uses paths that answer late or never).

--runs N repeats the scenario N times, prints every run, then the median of each figure with \
every run's value and in how many runs each target was met.")]
pub struct BenchArgs {
    #[command(subcommand)]
    scenario: Scenario,
    /// Print the results as JSON (one array of reports) instead of tables.
    #[arg(long, global = true)]
    json: bool,
    /// Run with herald.settings.notify_enabled = false: workers find rows by the safety poll.
    #[arg(long, global = true)]
    poll_only: bool,
    /// Throwaway cluster only: fsync and synchronous_commit off (faster, not comparable).
    #[arg(long, global = true)]
    not_durable: bool,
    /// No progress bars (they go to stderr).
    #[arg(long, global = true)]
    quiet: bool,
    /// Run the scenario this many times; then print the median of every figure.
    #[arg(long, global = true, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=100))]
    runs: u32,
}

#[derive(Debug, Subcommand)]
enum Scenario {
    /// N due deliveries drained three ways: HTTP, engine only (no send), database only.
    Drain(drain::DrainArgs),
    /// Sequential single events, each its own transaction: commit → receiver latency.
    IdleLatency(idle_latency::IdleArgs),
    /// Open-loop events at a fixed rate: latency percentiles and nothing lost.
    Steady(steady::SteadyArgs),
    /// K clients inserting events vs the same inserts into a plain table: the trigger's cost.
    ProducerOverhead(producer_overhead::OverheadArgs),
    /// One platform event to M webhooks: time to write the rows.
    FanOut(fan_out::FanOutArgs),
    /// The web console's screens on 1,000,000 deliveries and 5,000,000 attempts: server time
    /// per screen.
    Console(console::ConsoleArgs),
    /// Open-loop load for minutes, sampled: claim p99, dead tuples, NOTIFY queue, RSS.
    Soak(soak::SoakArgs),
    /// The drain with 1, 2 and 4 `herald run` processes: rate, duplicates, ratio to one.
    Replicas(replicas::ReplicasArgs),
    /// Healthy latency with and without a dead webhook; a slow endpoint alone drains.
    Fairness(fairness::FairnessArgs),
    /// idle-latency and steady with NOTIFY and poll-only, side by side.
    PollCompare(PollCompareArgs),
    /// Every scenario with its defaults (soak only with --soak), then NOTIFY vs poll-only.
    All(AllArgs),
}

#[derive(Debug, Args)]
struct PollCompareArgs {
    #[command(flatten)]
    idle: idle_latency::IdleArgs,
    #[command(flatten)]
    steady: steady::SteadyArgs,
}

#[derive(Debug, Args)]
struct AllArgs {
    /// Deliveries drained (per drain leg and per replica count).
    #[arg(long, default_value_t = 200_000)]
    drain_events: u64,
    /// Skip the poll-only runs at the end.
    #[arg(long)]
    no_poll_compare: bool,
    /// Also run the soak (2,000 events/s for 10 minutes); off by default for its length.
    #[arg(long)]
    soak: bool,
}

/// How the triggers wake workers during a scenario.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WakeMode {
    Notify,
    PollOnly,
}

impl WakeMode {
    pub fn name(self) -> &'static str {
        match self {
            WakeMode::Notify => "notify",
            WakeMode::PollOnly => "poll-only",
        }
    }
}

pub fn run(args: BenchArgs) -> anyhow::Result<()> {
    let rt = crate::runtime::new()?;
    rt.block_on(run_async(args))
}

async fn run_async(args: BenchArgs) -> anyhow::Result<()> {
    let mode = if args.poll_only {
        WakeMode::PollOnly
    } else {
        WakeMode::Notify
    };
    let env = BenchEnv::open(!args.not_durable, args.quiet).await?;
    let mut reports: Vec<Report> = Vec::new();
    let result = run_all(&env, &args, mode, &mut reports).await;
    env.close().await;
    result?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&reports)?);
    }
    Ok(())
}

/// Every run of the scenario, then (with `--runs` above 1) the medians.
async fn run_all(
    env: &BenchEnv,
    args: &BenchArgs,
    mode: WakeMode,
    reports: &mut Vec<Report>,
) -> anyhow::Result<()> {
    let runs = args.runs as usize;
    let mut per_run: Vec<Vec<Report>> = Vec::with_capacity(runs);
    for run in 1..=runs {
        if runs > 1 && !args.quiet {
            eprintln!("herald bench: run {run} of {runs}");
        }
        let mut these = Vec::new();
        let mut emit = |mut r: Report| {
            if runs > 1 {
                r.run = Some(run);
            }
            if !args.json {
                r.print();
            }
            these.push(r);
        };
        run_scenarios(env, args, mode, &mut emit).await?;
        reports.extend(these.iter().cloned());
        per_run.push(these);
    }
    if runs > 1 {
        for m in runs::medians(&per_run) {
            if !args.json {
                m.print();
            }
            reports.push(m);
        }
    }
    Ok(())
}

async fn run_scenarios(
    env: &BenchEnv,
    args: &BenchArgs,
    mode: WakeMode,
    emit: &mut impl FnMut(Report),
) -> anyhow::Result<()> {
    match &args.scenario {
        Scenario::Drain(a) => emit(drain::run(env, a, mode).await?),
        Scenario::IdleLatency(a) => emit(idle_latency::run(env, a, mode).await?),
        Scenario::Steady(a) => emit(steady::run(env, a, mode).await?),
        Scenario::ProducerOverhead(a) => emit(producer_overhead::run(env, a, mode).await?),
        Scenario::FanOut(a) => emit(fan_out::run(env, a, mode).await?),
        Scenario::Console(a) => emit(console::run(env, a, mode).await?),
        Scenario::Soak(a) => emit(soak::run(env, a, mode).await?),
        Scenario::Replicas(a) => emit(replicas::run(env, a, mode).await?),
        Scenario::Fairness(a) => emit(fairness::run(env, a, mode).await?),
        Scenario::PollCompare(a) => {
            let idle_n = idle_latency::run(env, &a.idle, WakeMode::Notify).await?;
            let idle_p = idle_latency::run(env, &a.idle, WakeMode::PollOnly).await?;
            let steady_n = steady::run(env, &a.steady, WakeMode::Notify).await?;
            let steady_p = steady::run(env, &a.steady, WakeMode::PollOnly).await?;
            let compare = report::compare(&[&idle_n, &idle_p, &steady_n, &steady_p]);
            for r in [idle_n, idle_p, steady_n, steady_p, compare] {
                emit(r);
            }
        }
        Scenario::All(a) => {
            for webhooks in [100, 1] {
                let drain_args = drain::DrainArgs {
                    queue: queue::QueueArgs {
                        events: a.drain_events,
                        webhooks,
                        ..queue::QueueArgs::default()
                    },
                    ..drain::DrainArgs::default()
                };
                emit(drain::run(env, &drain_args, mode).await?);
            }
            let idle_args = idle_latency::IdleArgs::default();
            let steady_args = steady::SteadyArgs::default();
            let idle = idle_latency::run(env, &idle_args, mode).await?;
            emit(idle.clone());
            let steady_r = steady::run(env, &steady_args, mode).await?;
            emit(steady_r.clone());
            emit(steady::run(env, &steady::SteadyArgs::high(), mode).await?);
            emit(producer_overhead::run(env, &Default::default(), mode).await?);
            emit(fan_out::run(env, &Default::default(), mode).await?);
            let replicas_args = replicas::ReplicasArgs {
                queue: queue::QueueArgs {
                    events: a.drain_events,
                    ..queue::QueueArgs::default()
                },
                ..replicas::ReplicasArgs::default()
            };
            emit(replicas::run(env, &replicas_args, mode).await?);
            emit(fairness::run(env, &Default::default(), mode).await?);
            if a.soak {
                emit(soak::run(env, &Default::default(), mode).await?);
            }
            if mode == WakeMode::Notify && !a.no_poll_compare {
                let idle_p = idle_latency::run(env, &idle_args, WakeMode::PollOnly).await?;
                let steady_p = steady::run(env, &steady_args, WakeMode::PollOnly).await?;
                let compare = report::compare(&[&idle, &idle_p, &steady_r, &steady_p]);
                emit(idle_p);
                emit(steady_p);
                emit(compare);
            }
        }
    }
    Ok(())
}
