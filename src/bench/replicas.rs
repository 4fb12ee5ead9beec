//! `replicas`: the HTTP drain with 1, 2 and 4 `herald run` processes on the same database,
//! each count on a fresh queue of the same size: deliveries/s, duplicates (requests the
//! receiver saw twice for the same delivery) and the rate as a share of one replica's.

use super::{
    drain,
    env::BenchEnv,
    queue::{self, QueueArgs},
    receiver::Receiver,
    report::{round, Goal, Report},
    worker::WorkerSettings,
    WakeMode,
};

#[derive(Debug, Clone, clap::Args)]
pub struct ReplicasArgs {
    #[command(flatten)]
    pub queue: QueueArgs,
    /// Replica counts to run, in order; the first is the baseline of the ratios.
    #[arg(long, value_delimiter = ',', default_values_t = [1, 2, 4])]
    pub counts: Vec<usize>,
}

impl Default for ReplicasArgs {
    fn default() -> Self {
        ReplicasArgs {
            queue: QueueArgs::default(),
            counts: vec![1, 2, 4],
        }
    }
}

pub async fn run(env: &BenchEnv, args: &ReplicasArgs, mode: WakeMode) -> anyhow::Result<Report> {
    anyhow::ensure!(
        !args.counts.is_empty() && args.counts.iter().all(|n| (1..=64).contains(n)),
        "--counts must list replica counts between 1 and 64"
    );
    let layout = args.queue.layout()?;
    let settings = WorkerSettings::defaults();
    let mut drained = Vec::new();
    let mut queue = None;
    for &n in &args.counts {
        let receiver = Receiver::start().await?;
        let q =
            queue::write_queue(env, mode, layout, &receiver.url_base(), args.queue.events).await?;
        let label = format!("{n} replica(s)");
        drained.push((
            n,
            drain::drain_with(env, &q, &settings, n, &receiver, label).await?,
        ));
        queue = Some(q);
    }
    let mut r = Report::new("replicas", mode);
    r.setting("database", &env.database);
    if let Some(q) = &queue {
        r.setting("layout", q.describe()).setting(
            "deliveries",
            format!("{} per replica count, a fresh queue each", q.deliveries),
        );
    }
    r.setting(
        "herald",
        format!("N x {}, all started at once", settings.describe()),
    )
    .setting(
        "receiver",
        format!(
            "{}; a duplicate is a second request for the same (webhook path, webhook-id)",
            super::receiver::AT_ONCE
        ),
    );
    let base = drained.first().map(|(_, d)| d.rate).unwrap_or(0.0);
    for (n, d) in &drained {
        let name = |what: &str| format!("{n} {}: {what}", plural(*n));
        r.figure(&name("deliveries/s"), round(d.rate), "/s");
        if *n != args.counts[0] {
            r.target(
                &name(&format!(
                    "rate / {} {}",
                    args.counts[0],
                    plural(args.counts[0])
                )),
                d.rate / base.max(1e-9) * 100.0,
                "%",
                Goal::AtLeast(90.0),
            );
        }
        r.target(
            &name("duplicate requests"),
            d.duplicates as f64,
            "",
            Goal::Equals(0.0),
        )
        .figure(&name("delivered rows"), d.delivered, "")
        .figure(&name("attempts recorded"), d.attempts, "")
        .figure(&name("herald CPU, all replicas"), round(d.cpu), "s")
        .figure(&name("PostgreSQL CPU"), round(d.pg.cpu), "s")
        .figure(&name("main claims"), d.claims, "")
        .figure(
            &name("rows per main claim"),
            round(d.delivered as f64 / d.claims.max(1.0)),
            "",
        )
        .figure(&name("commits"), d.pg.commits, "")
        .figure(&name("rows fetched"), d.pg.fetched, "")
        .figure(&name("rows returned"), d.pg.returned, "")
        .figure(&name("queue index scans"), d.pg.queue_scans, "")
        .figure(&name("queue rows updated"), d.pg.queue_updates, "")
        .target(
            &name("largest peak RSS"),
            d.peak_rss,
            "MiB",
            Goal::AtMost(64.0),
        );
    }
    Ok(r)
}

fn plural(n: usize) -> &'static str {
    if n == 1 {
        "replica"
    } else {
        "replicas"
    }
}
