//! `fairness`: what a bad endpoint costs the others, and what a slow one gets alone.
//!
//! (a) Open-loop load (default 1,000 events/s for 30 s) to 100 healthy webhooks, one per user,
//! round-robin; then the same again with one more webhook that never answers (Herald's HTTP
//! timeout ends each attempt), subscribed by the first user so that it gets as many events
//! as each healthy one. Compared: the healthy deliveries' p99 latency without and with it.
//!
//! (b) One webhook whose receiver answers 204 after a fixed delay (default 50 ms) however many
//! requests wait, alone in the queue: the drain's deliveries/s. Herald's per-webhook limit
//! caps it at limit / delay unless the limit adapts to a lone endpoint.

use std::time::Duration;

use super::{
    drain,
    env::BenchEnv,
    load::{self, Load},
    queue::{self, Layout},
    receiver::{Behaviour, Receiver},
    report::{round, Goal, Report},
    steady::{self, Measured},
    worker::WorkerSettings,
    WakeMode,
};

#[derive(Debug, Clone, clap::Args)]
pub struct FairnessArgs {
    /// Events per second of part (a) (open loop).
    #[arg(long, default_value_t = 1_000)]
    pub rate: u64,
    /// Seconds of load of each half of part (a).
    #[arg(long, default_value_t = 30)]
    pub seconds: u64,
    /// Healthy webhooks of part (a), one user each.
    #[arg(long, default_value_t = 100)]
    pub healthy: usize,
    /// Producer connections of part (a).
    #[arg(long, default_value_t = 8)]
    pub producers: usize,
    /// Deliveries drained by part (b).
    #[arg(long, default_value_t = 20_000)]
    pub slow_deliveries: u64,
    /// Part (b)'s answer delay, in ms.
    #[arg(long, default_value_t = 50)]
    pub slow_ms: u64,
}

impl Default for FairnessArgs {
    fn default() -> Self {
        FairnessArgs {
            rate: 1_000,
            seconds: 30,
            healthy: 100,
            producers: 8,
            slow_deliveries: 20_000,
            slow_ms: 50,
        }
    }
}

pub async fn run(env: &BenchEnv, args: &FairnessArgs, mode: WakeMode) -> anyhow::Result<Report> {
    anyhow::ensure!(
        args.healthy > 0 && args.slow_deliveries > 0,
        "--healthy and --slow-deliveries must be positive"
    );
    let settings = WorkerSettings::defaults();
    let without = healthy_load(env, args, mode, false, &settings).await?;
    let with = healthy_load(env, args, mode, true, &settings).await?;

    let receiver = Receiver::start().await?;
    let delay = Duration::from_millis(args.slow_ms);
    let slow = Layout::new(1, 1)?;
    let q = queue::write_queue(
        env,
        mode,
        slow,
        &receiver.url_for(Behaviour::Delay(delay)),
        args.slow_deliveries,
    )
    .await?;
    let label = format!("{} ms endpoint alone", args.slow_ms);
    let drained = drain::drain_with(env, &q, &settings, 1, &receiver, label).await?;

    let mut r = Report::new("fairness", mode);
    r.setting("database", &env.database)
        .setting("herald", settings.describe())
        .setting(
            "(a) load",
            format!(
                "{} events/s, open loop, {} s per half; {} users with 1 healthy webhook each, \
                 round-robin; {}",
                args.rate,
                args.seconds,
                args.healthy,
                load_of(args, Vec::new()).describe()
            ),
        )
        .setting(
            "(a) dead webhook",
            "second half only: one more webhook of the first user whose receiver reads each \
             request and never answers (each attempt ends at HERALD_HTTP_TIMEOUT); it gets as \
             many events as each healthy webhook",
        )
        .setting(
            "(a) latency",
            format!("healthy deliveries only: {}", super::receiver::LATENCY),
        )
        .setting(
            "(b) slow endpoint",
            format!(
                "{} deliveries to 1 webhook answered 204 after {} ms at any concurrency, \
                 nothing else in the queue",
                q.deliveries, args.slow_ms
            ),
        );
    let (a, b) = (without.latency.p99_ms, with.latency.p99_ms);
    r.figure(
        "(a) healthy p50 without the dead webhook",
        round(without.latency.p50_ms),
        "ms",
    )
    .figure(
        "(a) healthy p50 with the dead webhook",
        round(with.latency.p50_ms),
        "ms",
    )
    .figure("(a) healthy p99 without the dead webhook", round(a), "ms")
    .figure("(a) healthy p99 with the dead webhook", round(b), "ms")
    .target(
        "(a) healthy p99, with / without",
        b / a.max(1e-9),
        "x",
        Goal::AtMost(2.0),
    )
    .target(
        "(a) lost, both halves",
        (without.lost + with.lost) as f64,
        "",
        Goal::Equals(0.0),
    )
    .figure("(a) achieved rate without", round(rate(&without)), "/s")
    .figure("(a) achieved rate with", round(rate(&with)), "/s")
    .figure(
        "(a) requests left unanswered (dead webhook)",
        with.unanswered,
        "",
    )
    .figure(
        "(a) failed attempts with the dead webhook",
        with.failed_attempts,
        "",
    )
    .target(
        "(b) deliveries/s",
        drained.rate,
        "/s",
        Goal::AtLeast(1_000.0),
    )
    .figure(
        "(b) most requests waiting at once",
        receiver.max_concurrent_delayed(),
        "",
    )
    .figure("(b) drain time", round(drained.seconds), "s")
    .target(
        "(b) duplicate requests",
        drained.duplicates as f64,
        "",
        Goal::Equals(0.0),
    );
    if let Some(e) = &with.top_error {
        r.note(format!(
            "(a) most frequent attempt error with the dead webhook: {e}"
        ));
    }
    Ok(r)
}

fn load_of(args: &FairnessArgs, users: Vec<uuid::Uuid>) -> Load {
    Load {
        rate: args.rate,
        duration: Duration::from_secs(args.seconds),
        producers: args.producers,
        batch_max: load::default_batch(args.rate),
        users,
    }
}

fn rate(m: &Measured) -> f64 {
    m.committed.at.len() as f64 / m.committed.seconds.max(1e-9)
}

/// One half of part (a): the healthy webhooks, and the dead one when `dead`.
async fn healthy_load(
    env: &BenchEnv,
    args: &FairnessArgs,
    mode: WakeMode,
    dead: bool,
    settings: &WorkerSettings,
) -> anyhow::Result<Measured> {
    let (receiver, users) = env.reset_with_users(mode, args.healthy).await?;
    if dead {
        let url = format!("{}/{}/1", receiver.url_for(Behaviour::Never), 1);
        env.create_webhook(users[0], &url).await?;
    }
    let label = if dead {
        "with a dead webhook"
    } else {
        "healthy only"
    };
    steady::measure(env, receiver, &load_of(args, users), settings, label).await
}
