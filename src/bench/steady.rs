//! `steady`: open-loop events at rate R for T seconds. A scheduler releases event i at
//! t0 + i/R whatever happened before (open loop); producer connections emit each one in its
//! own transaction. Latency = receiver has the request − commit returned. Every event must
//! arrive: `lost` counts those that did not within the grace period.

use std::{
    collections::HashMap,
    sync::Arc,
    time::{Duration, Instant},
};

use tokio::sync::{mpsc, Mutex};
use uuid::Uuid;

use super::{
    env::{BenchEnv, OWN_TYPE},
    idle_latency::signed_ms,
    receiver::Receiver,
    report::{round, Report},
    stats::percentiles,
    worker::{Worker, WorkerSettings},
    WakeMode,
};

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
}

impl Default for SteadyArgs {
    fn default() -> Self {
        SteadyArgs {
            rate: 1_000,
            seconds: 30,
            producers: 8,
            steady_users: 10,
        }
    }
}

/// How long events may take to arrive after the load ends before they count as lost.
const GRACE: Duration = Duration::from_secs(15);

pub async fn run(env: &BenchEnv, args: &SteadyArgs, mode: WakeMode) -> anyhow::Result<Report> {
    anyhow::ensure!(
        args.rate > 0 && args.producers > 0 && args.steady_users > 0,
        "rate, producers and users must be positive"
    );
    env.reset(mode).await?;
    let receiver = Receiver::start().await?;
    let users = env
        .create_own_webhooks(args.steady_users, 1, &receiver.url_base())
        .await?;
    let settings = WorkerSettings::defaults();
    let mut worker = Worker::spawn(&env.url, &settings).await?;
    env.wait_for_sleeper(Duration::from_secs(15)).await?;

    let total = args.rate * args.seconds;
    let (tick_tx, tick_rx) = mpsc::unbounded_channel::<(u64, Instant)>();
    let tick_rx = Arc::new(Mutex::new(tick_rx));
    let users = Arc::new(users);
    let mut producers = Vec::new();
    for _ in 0..args.producers {
        let c = env.connect().await?;
        let tick_rx = Arc::clone(&tick_rx);
        let users = Arc::clone(&users);
        producers.push(tokio::spawn(async move {
            let emit = c
                .prepare("select herald.emit($1, $2, gen_random_uuid(), $3)")
                .await?;
            let data = serde_json::json!({ "note": "herald bench steady" });
            let mut committed: Vec<(Uuid, Instant)> = Vec::new();
            let mut max_lag = Duration::ZERO;
            loop {
                let next = tick_rx.lock().await.recv().await;
                let Some((i, due)) = next else { break };
                max_lag = max_lag.max(due.elapsed());
                let user = &users[i as usize % users.len()];
                let row = c.query_one(&emit, &[&OWN_TYPE, user, &data]).await?;
                committed.push((row.get(0), Instant::now()));
            }
            anyhow::Ok((committed, max_lag))
        }));
    }

    let progress = super::progress::bar(env.quiet, total, "steady load");
    let start = Instant::now() + Duration::from_millis(50);
    let interval = Duration::from_secs_f64(1.0 / args.rate as f64);
    for i in 0..total {
        let due = start + interval.mul_f64(i as f64);
        tokio::time::sleep_until(due.into()).await;
        let _ = tick_tx.send((i, due));
        if i % 100 == 0 {
            progress.set_position(i);
        }
    }
    drop(tick_tx);
    let mut committed: HashMap<Uuid, Instant> = HashMap::with_capacity(total as usize);
    let mut max_lag = Duration::ZERO;
    for p in producers {
        let (c, lag) = p.await??;
        committed.extend(c);
        max_lag = max_lag.max(lag);
    }
    let load_secs = start.elapsed().as_secs_f64();
    progress.finish_and_clear();

    let arrived_all = receiver
        .wait_for_total(committed.len() as u64, GRACE, |_| {})
        .await;
    if !arrived_all {
        worker.check_alive()?;
    }
    worker.stop().await?;
    let c = env.connect().await?;
    let row = c
        .query_one(
            "select count(*) filter (where status_code is null or status_code not between 200 and 299),
                    (select error from herald.delivery_attempts where error is not null
                      group by error order by count(*) desc limit 1)
               from herald.delivery_attempts",
            &[],
        )
        .await?;
    let failed_attempts: i64 = row.get(0);
    let top_error: Option<String> = row.get(1);
    let arrivals = receiver.arrivals();
    let mut samples = Vec::with_capacity(committed.len());
    let mut lost = 0u64;
    for (id, at) in &committed {
        match arrivals.get(id) {
            Some(arrived) => samples.push(signed_ms(*arrived, *at)),
            None => lost += 1,
        }
    }
    let p = percentiles(&samples);

    let mut r = Report::new("steady", mode);
    r.setting("database", &env.database)
        .setting("rate", format!("{} events/s, open loop", args.rate))
        .setting("duration", format!("{} s", args.seconds))
        .setting(
            "producers",
            format!(
                "{} connections, each event its own transaction",
                args.producers
            ),
        )
        .setting(
            "layout",
            format!("{} users, 1 webhook each, round-robin", args.steady_users),
        )
        .setting("herald", settings.describe())
        .setting(
            "receiver",
            "in-process hyper HTTP/1 server on 127.0.0.1, 204 at once",
        )
        .setting(
            "latency",
            "receiver has the whole request - commit returned to the producer",
        );
    r.figure("events committed", committed.len() as u64, "")
        .figure(
            "achieved rate",
            round(committed.len() as f64 / load_secs),
            "/s",
        )
        .figure(
            "max producer lag behind schedule",
            round(max_lag.as_secs_f64() * 1000.0),
            "ms",
        )
        .figure("p50", round(p.p50_ms), "ms")
        .figure("p90", round(p.p90_ms), "ms")
        .target("p99", p.p99_ms, "ms", "<= 25", p.p99_ms <= 25.0)
        .figure("max", round(p.max_ms), "ms")
        .target("lost", lost as f64, "", "= 0", lost == 0)
        .figure("duplicate requests", receiver.duplicates(), "")
        .figure("failed attempts (retried)", failed_attempts, "");
    if let Some(e) = top_error {
        r.note(format!("most frequent attempt error: {e}"));
    }
    Ok(r)
}
