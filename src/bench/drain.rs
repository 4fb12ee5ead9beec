//! `drain`: N due deliveries written up front (Herald stopped), then Herald starts and drains
//! them to a receiver that answers 204 at once. Throughput is first attempt → last delivered
//! row, both read back from the database.

use std::time::Duration;

use anyhow::Context;
use chrono::{DateTime, Utc};

use super::{
    env::{BenchEnv, OWN_TYPE},
    receiver::Receiver,
    report::Report,
    worker::{Worker, WorkerSettings},
    WakeMode,
};

#[derive(Debug, Clone, clap::Args)]
pub struct DrainArgs {
    /// Due deliveries to drain.
    #[arg(long, default_value_t = 200_000)]
    pub events: u64,
    /// Users owning the webhooks.
    #[arg(long, default_value_t = 4)]
    pub users: usize,
    /// Webhooks per user; every event of a user fans out to all of them.
    #[arg(long, default_value_t = 25)]
    pub webhooks_per_user: usize,
    /// HERALD_MAX_IN_FLIGHT for the worker (default: Herald's own, 256).
    #[arg(long)]
    pub max_in_flight: Option<usize>,
}

impl Default for DrainArgs {
    fn default() -> Self {
        DrainArgs {
            events: 200_000,
            users: 4,
            webhooks_per_user: 25,
            max_in_flight: None,
        }
    }
}

/// Rows written per INSERT while preparing the queue.
const PREPARE_CHUNK_EVENTS: u64 = 1_000;

pub async fn run(env: &BenchEnv, args: &DrainArgs, mode: WakeMode) -> anyhow::Result<Report> {
    anyhow::ensure!(
        args.users > 0 && args.webhooks_per_user > 0,
        "--users and --webhooks-per-user must be positive"
    );
    env.reset(mode).await?;
    let receiver = Receiver::start().await?;
    let users = env
        .create_own_webhooks(args.users, args.webhooks_per_user, &receiver.url_base())
        .await?;
    let webhooks = args.users * args.webhooks_per_user;
    // Events per user so that events × webhooks_per_user reaches N.
    let total_events = args.events.div_ceil(args.webhooks_per_user as u64);
    let deliveries = total_events * args.webhooks_per_user as u64;

    let progress = super::progress::bar(env.quiet, deliveries, "writing the queue");
    let c = env.connect().await?;
    let mut written = 0u64;
    while written < total_events {
        let n = PREPARE_CHUNK_EVENTS.min(total_events - written);
        // One statement per chunk: the fan-out trigger turns it into deliveries as a set.
        c.execute(
            "insert into herald.events (event_type, user_id, resource_id, data)
             select $1, ($2::uuid[])[1 + (i % array_length($2::uuid[], 1))], gen_random_uuid(),
                    jsonb_build_object('seq', i, 'note', 'herald bench drain')
               from generate_series($3::int8, $3::int8 + $4::int8 - 1) as i",
            &[&OWN_TYPE, &users, &(written as i64), &(n as i64)],
        )
        .await?;
        written += n;
        progress.set_position(written * args.webhooks_per_user as u64);
    }
    progress.finish_and_clear();
    c.batch_execute("vacuum analyze herald.deliveries, herald.queue, herald.events")
        .await?;
    let queued: i64 = c
        .query_one(
            "select count(*) from herald.webhook_deliveries where status = 'pending'",
            &[],
        )
        .await?
        .get(0);
    anyhow::ensure!(
        queued as u64 == deliveries,
        "expected {deliveries} due deliveries, found {queued}"
    );

    let settings = WorkerSettings {
        max_in_flight: args.max_in_flight,
        ..WorkerSettings::defaults()
    };
    let mut worker = Worker::spawn(&env.url, &settings).await?;
    let progress = super::progress::bar(env.quiet, deliveries, "delivering");
    let mut done = false;
    // Generous: 200k at 1,000/s would take 200 s.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(600);
    while !done && tokio::time::Instant::now() < deadline {
        worker.check_alive()?;
        done = receiver
            .wait_for_total(deliveries, Duration::from_millis(500), |n| {
                progress.set_position(n)
            })
            .await;
    }
    progress.finish_and_clear();
    anyhow::ensure!(
        done,
        "only {} of {deliveries} deliveries arrived within 600 s",
        receiver.total()
    );
    // The receiver has everything; the last results may still be on their way to the database.
    let delivered = wait_delivered(&c, deliveries, Duration::from_secs(30)).await?;
    let cpu = worker.cpu_seconds()?;
    let rss = worker.peak_rss_mib()?;
    let wall = worker.started.elapsed();
    worker.stop().await?;

    let row = c
        .query_one(
            "select (select min(started_at) from herald.delivery_attempts),
                    (select max(delivered_at) from herald.webhook_deliveries),
                    (select count(*) from herald.delivery_attempts)",
            &[],
        )
        .await?;
    let first: DateTime<Utc> = row.get::<_, Option<_>>(0).context("no attempt recorded")?;
    let last: DateTime<Utc> = row.get::<_, Option<_>>(1).context("nothing delivered")?;
    let attempts: i64 = row.get(2);
    let secs = (last - first)
        .to_std()
        .unwrap_or_default()
        .as_secs_f64()
        .max(1e-6);
    let rate = delivered as f64 / secs;

    let mut r = Report::new("drain", mode);
    r.setting("database", &env.database)
        .setting("layout", format!(
            "{} users x {} webhooks = {webhooks} webhooks; {total_events} events, each fanned out to the {} webhooks of its user",
            args.users, args.webhooks_per_user, args.webhooks_per_user))
        .setting("deliveries", deliveries)
        .setting("herald", settings.describe())
        .setting("receiver", "in-process hyper HTTP/1 server on 127.0.0.1, 204 at once, keep-alive");
    r.target("deliveries/s", rate, "/s", ">= 10000", rate >= 10_000.0)
        .figure(
            "drain time (first attempt -> last delivered row)",
            super::report::round(secs),
            "s",
        )
        .figure("delivered rows", delivered, "")
        .figure("attempts recorded", attempts, "")
        .figure("duplicate requests", receiver.duplicates(), "")
        .figure("herald CPU (user+sys)", super::report::round(cpu), "s")
        .figure(
            "herald CPU per 1,000 deliveries",
            super::report::round(cpu * 1000.0 / delivered.max(1) as f64),
            "s",
        )
        .figure(
            "herald wall time (spawn -> all recorded)",
            super::report::round(wall.as_secs_f64()),
            "s",
        )
        .target("herald peak RSS (VmHWM)", rss, "MiB", "<= 64", rss <= 64.0);
    Ok(r)
}

async fn wait_delivered(
    c: &tokio_postgres::Client,
    expected: u64,
    timeout: Duration,
) -> anyhow::Result<u64> {
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        let n: i64 = c
            .query_one(
                "select count(*) from herald.webhook_deliveries where status = 'delivered'",
                &[],
            )
            .await?
            .get(0);
        if n as u64 >= expected || tokio::time::Instant::now() >= deadline {
            return Ok(n as u64);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
