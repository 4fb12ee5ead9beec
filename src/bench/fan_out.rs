//! `fan-out`: one platform event to M webhooks. The figure is the INSERT's duration (the
//! trigger writing M delivery rows), measured by the producer inside an explicit transaction,
//! median over repetitions; the commit is reported apart. Herald is not running.

use std::time::Instant;

use super::{
    env::{BenchEnv, PLATFORM_TYPE},
    receiver::Receiver,
    report::{round, Goal, Report},
    stats::percentiles,
    WakeMode,
};
use crate::store::bench as sql;

#[derive(Debug, Clone, clap::Args)]
pub struct FanOutArgs {
    /// Platform webhooks the event goes to.
    #[arg(long, default_value_t = 1_000)]
    pub webhooks: usize,
    /// Events timed (after one untimed warm-up).
    #[arg(long, default_value_t = 21)]
    pub repetitions: usize,
}

impl Default for FanOutArgs {
    fn default() -> Self {
        FanOutArgs {
            webhooks: 1_000,
            repetitions: 21,
        }
    }
}

pub async fn run(env: &BenchEnv, args: &FanOutArgs, mode: WakeMode) -> anyhow::Result<Report> {
    anyhow::ensure!(
        args.webhooks > 0 && args.repetitions > 0,
        "webhooks and repetitions must be positive"
    );
    env.reset(mode).await?;
    let receiver = Receiver::start().await?;
    env.create_platform_webhooks(args.webhooks, &receiver.url_base())
        .await?;
    let mut c = env.connect().await?;
    let data = serde_json::json!({ "note": "herald bench fan-out" });
    let progress = super::progress::bar(env.quiet, args.repetitions as u64, "fan-out events");
    let mut insert_ms = Vec::new();
    let mut commit_ms = Vec::new();
    let mut rows = 0u64;
    for rep in 0..=args.repetitions {
        let tx = c.transaction().await?;
        let t0 = Instant::now();
        let n = tx
            .execute(sql::FAN_OUT_INSERT, &[&PLATFORM_TYPE, &data])
            .await?;
        let t1 = Instant::now();
        tx.commit().await?;
        let t2 = Instant::now();
        anyhow::ensure!(n == 1, "the event was not inserted");
        if rep > 0 {
            insert_ms.push((t1 - t0).as_secs_f64() * 1000.0);
            commit_ms.push((t2 - t1).as_secs_f64() * 1000.0);
            progress.inc(1);
        }
    }
    progress.finish_and_clear();
    let written: i64 = c.query_one(sql::DELIVERIES_COUNT, &[]).await?.get(0);
    rows += written as u64;
    let per_event = rows as f64 / (args.repetitions + 1) as f64;
    let ins = percentiles(&insert_ms);
    let com = percentiles(&commit_ms);

    let mut r = Report::new("fan-out", mode);
    r.setting("database", &env.database)
        .setting("layout", format!("1 platform manager owning {} platform webhooks; one platform event per transaction", args.webhooks))
        .setting("repetitions", format!("{} timed (+1 warm-up)", args.repetitions))
        .setting("herald", "not running")
        .setting("measured", "INSERT into herald.events (the fan-out trigger runs inside it), client side");
    r.target(
        "insert (writes the rows), median",
        ins.p50_ms,
        "ms",
        Goal::AtMost(20.0),
    )
    .figure("insert, max", round(ins.max_ms), "ms")
    .figure("commit, median", round(com.p50_ms), "ms")
    .figure("delivery rows per event", round(per_event), "");
    Ok(r)
}
