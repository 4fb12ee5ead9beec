//! `herald bench`: the scenarios of SPEC §6, each selectable, each printing its settings and
//! results as a table (or JSON with `--json`).
//!
//! Layout: one file per scenario (`drain`, `idle_latency`, `steady`, `producer_overhead`,
//! `fan_out`), plus the shared parts: `env` (the database and its fixtures), `receiver` (the
//! in-process hyper server that answers 204 and records arrivals), `worker` (Herald as a child
//! process, with its CPU time and peak memory), `stats` (percentiles) and `report` (tables and
//! JSON). The bench measures; nothing here asserts a target.

mod console;
mod drain;
mod env;
mod fan_out;
mod idle_latency;
mod producer_overhead;
mod progress;
mod receiver;
mod report;
mod stats;
mod steady;
mod worker;

use clap::{Args, Subcommand};

use self::{env::BenchEnv, report::Report};

#[derive(Debug, Args)]
#[command(after_help = "\
DATABASE: without DATABASE_URL the bench starts a throwaway PostgreSQL from the machine's \
binaries (durable: fsync and synchronous_commit on, unless --not-durable) and removes it at \
the end. With DATABASE_URL set it uses that database, which it must be free to write to: it \
migrates the schema `herald`, TRUNCATEs Herald's tables between scenarios, flips \
herald.settings.notify_enabled, and creates the table public.herald_bench_plain. Never point \
it at a database holding real webhooks.

Herald runs as a child process (`herald run`, this same binary) so that its CPU time and peak \
memory are its own; the receiver is an in-process hyper HTTP/1 server on 127.0.0.1 (real \
sockets) answering 204 at once.")]
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
}

#[derive(Debug, Subcommand)]
enum Scenario {
    /// N due deliveries inserted up front, then drained: deliveries/s, CPU, peak memory.
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
    /// idle-latency and steady with NOTIFY and poll-only, side by side.
    PollCompare(PollCompareArgs),
    /// Every scenario with its defaults, then the NOTIFY vs poll-only comparison.
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
    /// Deliveries drained.
    #[arg(long, default_value_t = 200_000)]
    drain_events: u64,
    /// Skip the poll-only runs at the end.
    #[arg(long)]
    no_poll_compare: bool,
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
    let rt = crate::cli::runtime()?;
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
    let result = run_scenarios(&env, &args, mode, &mut reports).await;
    env.close().await;
    result?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&reports)?);
    }
    Ok(())
}

async fn run_scenarios(
    env: &BenchEnv,
    args: &BenchArgs,
    mode: WakeMode,
    reports: &mut Vec<Report>,
) -> anyhow::Result<()> {
    let mut emit = |r: Report| {
        if !args.json {
            r.print();
        }
        reports.push(r);
    };
    match &args.scenario {
        Scenario::Drain(a) => emit(drain::run(env, a, mode).await?),
        Scenario::IdleLatency(a) => emit(idle_latency::run(env, a, mode).await?),
        Scenario::Steady(a) => emit(steady::run(env, a, mode).await?),
        Scenario::ProducerOverhead(a) => emit(producer_overhead::run(env, a, mode).await?),
        Scenario::FanOut(a) => emit(fan_out::run(env, a, mode).await?),
        Scenario::Console(a) => emit(console::run(env, a, mode).await?),
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
            let drain_args = drain::DrainArgs {
                events: a.drain_events,
                ..drain::DrainArgs::default()
            };
            emit(drain::run(env, &drain_args, mode).await?);
            let idle_args = idle_latency::IdleArgs::default();
            let steady_args = steady::SteadyArgs::default();
            let idle = idle_latency::run(env, &idle_args, mode).await?;
            emit(idle.clone());
            let steady_r = steady::run(env, &steady_args, mode).await?;
            emit(steady_r.clone());
            emit(producer_overhead::run(env, &Default::default(), mode).await?);
            emit(fan_out::run(env, &Default::default(), mode).await?);
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
