//! `console`: the web console's screens on a large database (by default 1,000,000 deliveries
//! and 5,000,000 attempts over a day, a fifth of them on one webhook). It builds the data,
//! rolls the attempts up as the leader does, starts the admin API in-process, signs in, and
//! times each screen: server time from the console's `Server-Timing` header (and the round
//! trip), median and maximum over repetitions. Target: every screen ≤ 100 ms.

use std::{sync::Arc, time::Instant};

use anyhow::Context;
use bytes::Bytes;
use http::{Method, Request};
use http_body_util::{BodyExt, Full};
use hyper_util::{client::legacy::Client, rt::TokioExecutor};
use tokio_util::sync::CancellationToken;

use super::{
    env::BenchEnv,
    report::{round, Goal, Report},
    stats::percentiles,
    WakeMode,
};
use crate::store::bench as sql;
use crate::{
    api::{self, ApiState, Readiness},
    metrics::Metrics,
    store::{self, stats},
};

const TOKEN: &str = "console-bench-token-0123456789";
/// Each screen must answer within this (server time).
const TARGET_MS: f64 = 100.0;

#[derive(Debug, Clone, clap::Args)]
pub struct ConsoleArgs {
    /// Deliveries in the database.
    #[arg(long, default_value_t = 1_000_000)]
    pub deliveries: i64,
    /// Attempts per delivery.
    #[arg(long, default_value_t = 5)]
    pub attempts_per_delivery: i32,
    /// Users, each with --webhooks-per-user webhooks.
    #[arg(long, default_value_t = 10)]
    pub users: i32,
    #[arg(long, default_value_t = 100)]
    pub webhooks_per_user: i32,
    /// Timed requests per screen (after one untimed warm-up).
    #[arg(long, default_value_t = 21)]
    pub repetitions: usize,
}

pub async fn run(env: &BenchEnv, args: &ConsoleArgs, mode: WakeMode) -> anyhow::Result<Report> {
    anyhow::ensure!(
        args.deliveries > 0
            && args.attempts_per_delivery > 0
            && args.users > 0
            && args.webhooks_per_user > 1
            && args.repetitions > 0,
        "every count must be positive (and at least 2 webhooks per user)"
    );
    env.reset(mode).await?;
    let c = env.connect().await?;
    if !env.quiet {
        eprintln!(
            "console: writing {} deliveries and {} attempts...",
            args.deliveries,
            args.deliveries * i64::from(args.attempts_per_delivery)
        );
    }
    let built = Instant::now();
    c.batch_execute(sql::CONSOLE_NO_TIMEOUT).await?;
    c.execute(
        sql::CONSOLE_ARGS,
        &[
            &args.users,
            &args.webhooks_per_user,
            &args.deliveries,
            &args.attempts_per_delivery,
        ],
    )
    .await?;
    c.batch_execute(sql::CONSOLE_FIXTURE)
        .await
        .context("writing the fixture")?;
    c.batch_execute(sql::CONSOLE_VACUUM).await?;
    let build_s = built.elapsed().as_secs_f64();

    let pool = store::connect_pool(&env.url, 4)?;
    let rolled_at = Instant::now();
    let mut rolled = 0;
    {
        let client = pool.get().await?;
        loop {
            let r = stats::roll_up(&client, 200_000).await?;
            rolled += r.rolled;
            if r.rolled == 0 {
                break;
            }
        }
        store::fleet::snapshot_queue(&client, crate::leader::chores::FINISHED_BLOCKS_PER_TICK)
            .await?;
    }
    let rollup_s = rolled_at.elapsed().as_secs_f64();
    let big: (uuid::Uuid, uuid::Uuid) = {
        let r = c.query_one(sql::CONSOLE_BIG_WEBHOOK, &[]).await?;
        (r.get(0), r.get(1))
    };
    let (user, hook) = big;
    let some_time: String = c.query_one(sql::CONSOLE_SOME_TIME, &[]).await?.get(0);

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let base = format!("http://{}", listener.local_addr()?);
    let state = ApiState {
        pool: pool.clone(),
        metrics: Metrics::new(),
        readiness: Arc::new(Readiness::default()),
        admin_token: Some(TOKEN.to_owned()),
        allow_http: false,
        max_body_bytes: api::DEFAULT_MAX_BODY_BYTES,
        body_timeout: api::DEFAULT_BODY_TIMEOUT,
        secret_keys: crate::domain::keyring::KeyRing::none(),
    };
    let stop = CancellationToken::new();
    let server = tokio::spawn(crate::admin::serve(listener, state, stop.clone()));
    let client: Client<_, Full<Bytes>> = Client::builder(TokioExecutor::new()).build_http();
    let login = Request::builder()
        .method(Method::POST)
        .uri(format!("{base}/console/login"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(Full::new(Bytes::from(format!("token={TOKEN}"))))?;
    let res = client.request(login).await?;
    let cookie = res
        .headers()
        .get("set-cookie")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .context("the console set no cookie")?
        .to_owned();

    let cursor_page = {
        let url = format!("{base}/console/webhooks/{hook}/deliveries?status=exhausted");
        let (_, _, body) = get(&client, &url, &cookie).await?;
        body.split("href=\"")
            .find(|s| s.contains("cursor="))
            .and_then(|s| s.split('"').next())
            .map(|s| format!("{base}{}", s.replace("&amp;", "&")))
    };
    let mut screens = vec![
        ("webhooks of a user (100 webhooks, stats of each)", format!("{base}/console/webhooks?q={user}")),
        ("webhook by id (200k deliveries, 1M attempts)", format!("{base}/console/webhooks?q={hook}")),
        ("deliveries of that webhook", format!("{base}/console/webhooks/{hook}/deliveries")),
        ("... filtered to exhausted", format!("{base}/console/webhooks/{hook}/deliveries?status=exhausted")),
        ("... by event type and time range", format!("{base}/console/webhooks/{hook}/deliveries?event_type=bench.platform&until={some_time}")),
        ("fleet", format!("{base}/console/fleet")),
    ];
    if let Some(url) = cursor_page {
        screens.push(("... exhausted, next page", url));
    }
    let mut report = Report::new("console", mode);
    report
        .setting("database", &env.database)
        .setting("deliveries", args.deliveries)
        .setting(
            "attempts",
            args.deliveries * i64::from(args.attempts_per_delivery),
        )
        .setting("webhooks", args.users * args.webhooks_per_user)
        .setting("repetitions per screen", args.repetitions)
        .figure("fixture written in", round(build_s), "s")
        .figure("attempts rolled up", rolled, "attempts")
        .figure("rollup catch-up", round(rollup_s), "s");
    for (name, url) in &screens {
        let _ = get(&client, url, &cookie).await?; // warm-up
        let mut server_ms = Vec::new();
        let mut round_ms = Vec::new();
        for _ in 0..args.repetitions {
            let started = Instant::now();
            let (status, timing, _) = get(&client, url, &cookie).await?;
            round_ms.push(started.elapsed().as_secs_f64() * 1000.0);
            anyhow::ensure!(status.is_success(), "{name}: {status}");
            server_ms.push(timing);
        }
        let s = percentiles(&server_ms);
        let r = percentiles(&round_ms);
        report.target(
            &format!("{name}: server p50"),
            s.p50_ms,
            "ms",
            Goal::AtMost(TARGET_MS),
        );
        report.target(
            &format!("{name}: server max"),
            s.max_ms,
            "ms",
            Goal::AtMost(TARGET_MS),
        );
        report.figure(&format!("{name}: round trip p50"), round(r.p50_ms), "ms");
    }
    report.notes.push(
        "server time is the console's Server-Timing header (request parsed to response built); \
         the round trip adds loopback HTTP"
            .into(),
    );
    stop.cancel();
    let _ = server.await;
    Ok(report)
}

async fn get(
    client: &Client<hyper_util::client::legacy::connect::HttpConnector, Full<Bytes>>,
    url: &str,
    cookie: &str,
) -> anyhow::Result<(http::StatusCode, f64, String)> {
    let req = Request::builder()
        .uri(url)
        .header("cookie", cookie)
        .body(Full::new(Bytes::new()))?;
    let res = client.request(req).await?;
    let status = res.status();
    let timing = res
        .headers()
        .get("server-timing")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("app;dur="))
        .and_then(|v| v.parse().ok())
        .unwrap_or(f64::NAN);
    let body = res.into_body().collect().await?.to_bytes();
    Ok((status, timing, String::from_utf8_lossy(&body).into_owned()))
}
