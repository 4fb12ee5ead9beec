//! `herald demo`: the first thing a new user runs.
//!
//! Database (throwaway cluster, or `DATABASE_URL`) → migrate → Herald ([`App`]) with a short
//! retry schedule → a local [`receiver::Receiver`] that verifies every signature → event
//! types, users and webhooks ([`cast`]) → events ([`emit`]) → live progress ([`deliveries`])
//! until every delivery is delivered or exhausted → the [`summary`] and its [`check`]s → the
//! commands to try [`next`].
//!
//! SIGINT/SIGTERM at any point stops Herald, the receiver and a throwaway cluster, and exits
//! with status 130. With `--keep-running`, everything stays up after the summary until
//! Ctrl-C.

mod cast;
mod check;
mod database;
mod deliveries;
mod emit;
mod next;
pub mod receiver;
mod summary;

use std::{
    net::SocketAddr,
    time::{Duration, Instant},
};

use anyhow::Context;

use self::{cast::Cast, database::Database, receiver::Receiver};
use crate::{
    app::{App, AppHandle, StartOptions},
    config::Config,
    domain::{duration::parse_duration, retry::RetrySchedule},
    store,
};

const DISABLE_WEBHOOKS: &str = include_str!("sql/disable_webhooks.sql");
const QUIET_WEBHOOKS: &str = include_str!("sql/quiet_webhooks.sql");

#[derive(Debug, clap::Args)]
pub struct DemoArgs {
    /// Events for the healthy user's webhook, emitted half through herald.emit, a quarter in
    /// one bulk insert and a quarter through herald.watch. The flaky and dead webhooks get
    /// two and three events, the platform webhook one.
    #[arg(long, default_value_t = 120)]
    pub events: usize,
    /// Retry schedule of the demo's worker: seconds before each attempt (the list's length is
    /// the maximum number of attempts).
    #[arg(long, default_value = "0,1,2,3")]
    pub retry_schedule: RetrySchedule,
    /// Consecutive failures that trip a webhook's circuit breaker. Above 4: the flaky
    /// endpoint fails each of its two messages twice, which must not trip it.
    #[arg(long, default_value_t = 5)]
    pub breaker_threshold: u32,
    /// Give up when the deliveries are not all delivered or exhausted by then.
    #[arg(long, default_value = "45s", value_parser = parse_duration)]
    pub timeout: Duration,
    /// Leave PostgreSQL, Herald and the receiver running after the summary (until Ctrl-C),
    /// and print the admin API's address and token.
    #[arg(long)]
    pub keep_running: bool,
}

/// What is running, so that it can be stopped whatever step was interrupted.
#[derive(Default)]
struct Session {
    database: Option<Database>,
    app: Option<AppHandle>,
    receiver: Option<Receiver>,
    pool: Option<store::Pool>,
    cast: Option<Cast>,
}

impl Session {
    /// Stops Herald, then the receiver; on a database that outlives the demo, disables the
    /// demo's webhooks (their receiver is gone); stops a throwaway cluster.
    async fn close(mut self) {
        if let Some(app) = self.app.take() {
            app.shutdown().await;
        }
        drop(self.receiver.take());
        if let Some(db) = self.database.take() {
            if !db.is_throwaway() {
                if let (Some(pool), Some(cast)) = (&self.pool, &self.cast) {
                    if let Ok(client) = pool.get().await {
                        let _ = client
                            .execute(DISABLE_WEBHOOKS, &[&cast.webhook_ids()])
                            .await;
                    }
                }
            }
            drop(self.pool.take());
            db.close().await;
        }
    }
}

pub fn run(args: DemoArgs) -> anyhow::Result<()> {
    // Herald's own logs would tear the progress display: errors only, unless `RUST_LOG` says.
    crate::runtime::init_tracing(crate::config::LogFormat::Text, "error");
    let rt = crate::runtime::new()?;
    let interrupted = rt.block_on(async {
        let mut session = Session::default();
        let signal = crate::app::shutdown_signal();
        tokio::pin!(signal);
        let result = tokio::select! {
            biased;
            _ = &mut signal => None,
            r = demo(&args, &mut session) => Some(r),
        };
        match result {
            None => {
                eprintln!("\nherald demo: interrupted; stopping Herald and PostgreSQL");
                session.close().await;
                None
            }
            Some(result) => {
                if args.keep_running && session.app.is_some() {
                    signal.await;
                    eprintln!("\nherald demo: stopping Herald and PostgreSQL");
                }
                session.close().await;
                Some(result)
            }
        }
    });
    // Dropping the runtime waits for blocking tasks: a cluster still starting when the signal
    // came is dropped (stopped, its folder removed) before we exit.
    drop(rt);
    match interrupted {
        Some(result) => result,
        None => std::process::exit(130),
    }
}

async fn demo(args: &DemoArgs, session: &mut Session) -> anyhow::Result<()> {
    let started = Instant::now();
    let external = crate::config::database_url_opt()?;
    match &external {
        Some(url) => println!(
            "Using DATABASE_URL ({}); the demo's table goes in the schema herald_demo.",
            crate::config::redact_url(url)
        ),
        None => println!("Starting a throwaway PostgreSQL from this machine's binaries…"),
    }
    let db = session.database.insert(Database::open(external).await?);
    println!("  database      {} (migrated)", db.shown_url());

    let admin_token = random_token()?;
    let app = session.app.insert(
        App::start(
            demo_config(args, &db.url, &admin_token),
            StartOptions::default(),
        )
        .await?,
    );
    let api_addr = app.api_addr;
    println!(
        "  herald        worker and admin API on http://{api_addr} (retry schedule {}, breaker \
         after {} failures)",
        args.retry_schedule, args.breaker_threshold
    );
    let receiver = session.receiver.insert(
        Receiver::start()
            .await
            .context("starting the local receiver")?,
    );
    println!(
        "  receiver      http://{} verifies every signature",
        receiver.addr()
    );

    let pool = session
        .pool
        .insert(store::connect_pool(&db.url, 4)?)
        .clone();
    // On someone's own database, a demo platform event would reach their platform webhooks.
    let others = cast::other_platform_webhooks(&pool).await?;
    if others > 0 {
        println!(
            "  note          {others} platform webhooks exist in this database: the demo sends \
             no platform event"
        );
    }
    let cast = session
        .cast
        .insert(cast::create(&pool, receiver, others == 0).await?)
        .clone();
    if others > 0 {
        pool.get()
            .await?
            .execute(QUIET_WEBHOOKS, &[&cast.webhook_ids()])
            .await
            .context("keeping the demo's operational events to itself")?;
    }
    for w in &cast.webhooks {
        println!(
            "  webhook       {:<9} {:<32} {}",
            w.role.name(),
            w.role.describe(),
            receiver.url(&w.role.path())
        );
    }

    let plan = emit::Plan::for_total(args.events);
    let emitted = emit::emit_all(&pool, &cast, plan).await?;
    println!(
        "Emitted {} events: {} through herald.emit in transactions, {} in one bulk insert, {} \
         through herald.watch on herald_demo.batches, {} platform event.\n",
        emitted.committed_at.len(),
        plan.emitted + 2,
        plan.bulk + 1,
        plan.watched + 2,
        u8::from(cast.has(cast::Role::Platform))
    );

    deliveries::watch(&pool, &cast.webhook_ids(), &app.metrics, args.timeout).await?;
    let summary = summary::gather(
        &pool,
        &cast,
        &emitted,
        &receiver.stats(),
        app.metrics.breaker_trips.get(),
        started.elapsed(),
    )
    .await?;
    println!("\nSummary\n{summary}\n");

    let failed = check::failures(&summary);
    if failed.is_empty() {
        println!(
            "OK: every signature verified, the flaky webhook got its deliveries after retries, \
             the dead one was exhausted and its breaker tripped.\n"
        );
    }
    println!(
        "{}",
        next::Next {
            database_url: &db.shown_url(),
            throwaway: db.is_throwaway(),
            api_addr,
            admin_token: &admin_token,
            cast: &cast,
            keep_running: args.keep_running,
        }
    );
    anyhow::ensure!(
        failed.is_empty(),
        "the demo did not go as promised:\n  - {}",
        failed.join("\n  - ")
    );
    Ok(())
}

fn demo_config(args: &DemoArgs, database_url: &str, admin_token: &str) -> Config {
    let mut config = Config::with_database(database_url);
    config.listen = SocketAddr::from(([127, 0, 0, 1], 0));
    config.admin_token = Some(admin_token.to_owned());
    config.retry_schedule = args.retry_schedule.clone();
    config.breaker.threshold = args.breaker_threshold;
    // The dead endpoint's breaker opens, probes every second or two, and is disabled after a
    // few seconds open: the demo shows the whole breaker in its run.
    config.breaker.cooldown = Duration::from_secs(1);
    config.breaker.disable_after = Duration::from_secs(3);
    config.poll_interval = Duration::from_secs(1);
    config.allow_private_targets = true;
    config.allow_http = true;
    config.http_timeout = Duration::from_secs(5);
    config.connect_timeout = Duration::from_secs(2);
    config.shutdown_grace = Duration::from_secs(3);
    config
}

/// 24 random bytes, hex: the admin token of this run.
fn random_token() -> anyhow::Result<String> {
    use ring::rand::{SecureRandom, SystemRandom};
    let mut bytes = [0u8; 24];
    SystemRandom::new()
        .fill(&mut bytes)
        .map_err(|_| anyhow::anyhow!("the system random number generator failed"))?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}
