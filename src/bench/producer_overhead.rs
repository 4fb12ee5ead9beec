//! `producer-overhead`: what the fan-out trigger costs the application's writes. K clients
//! insert single events, each its own transaction, for the same time into (a) a plain table
//! with the same columns and no trigger, (b) `herald.events` with one subscribed webhook per
//! client's user and the wake gate closed (no worker asleep: what a busy system pays), and
//! (c) `herald.events` with the gate held open (a sleeper row, so every statement NOTIFYs:
//! what an ungated trigger would cost), and (d) the ceiling: the rows the fan-out writes for
//! each event (the event, its delivery, its queue row), written by the client in one statement
//! into trigger-less copies of the three tables (same indexes and storage settings). (d) is
//! what the database does for the same work with no trigger machinery at all, so (b)/(d) is
//! the trigger's own cost and (d)/(a) the most the layout allows; and (e) the floor: the event
//! into the plain table and one delivery row with only a primary key and the idempotency key
//! (no queue row, no other index), also written by the client in one statement. (e)/(a) bounds
//! any layout that stores the event as the plain table does and writes its deliveries in the
//! producer's transaction. Phases alternate (a b c d e e d c b a ...) to spread the machine's
//! noise evenly. Herald is not running, unless --with-herald.

use std::time::{Duration, Instant};

use super::{
    env::{BenchEnv, OWN_TYPE},
    report::{round, Goal, Report},
    worker::{Worker, WorkerSettings},
    WakeMode,
};
use crate::store::bench as sql;

#[derive(Debug, Clone, clap::Args)]
pub struct OverheadArgs {
    /// Concurrent clients, one user with one webhook each.
    #[arg(long, default_value_t = 16)]
    pub clients: usize,
    /// Seconds per phase; each kind of insert runs `rounds` phases.
    #[arg(long, default_value_t = 5)]
    pub phase_seconds: u64,
    /// Phases per kind of insert.
    #[arg(long, default_value_t = 2)]
    pub rounds: usize,
    /// Run Herald during the herald phases (it then delivers what is inserted).
    #[arg(long)]
    pub with_herald: bool,
}

impl Default for OverheadArgs {
    fn default() -> Self {
        OverheadArgs {
            clients: 16,
            phase_seconds: 5,
            rounds: 2,
            with_herald: false,
        }
    }
}

/// The kinds of insert, in the order of a round.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Target {
    Plain,
    HeraldGated,
    HeraldNotifyEvery,
    Ceiling,
    Floor,
}

const KINDS: [Target; 5] = [
    Target::Plain,
    Target::HeraldGated,
    Target::HeraldNotifyEvery,
    Target::Ceiling,
    Target::Floor,
];
// KINDS lists every kind at its own index, so that `kind as usize` finds its totals.
const _: () = {
    let mut i = 0;
    while i < KINDS.len() {
        assert!(KINDS[i] as usize == i);
        i += 1;
    }
};

pub async fn run(env: &BenchEnv, args: &OverheadArgs, mode: WakeMode) -> anyhow::Result<Report> {
    anyhow::ensure!(
        args.clients > 0 && args.rounds > 0,
        "clients and rounds must be positive"
    );
    let (_receiver, users) = env.reset_with_users(mode, args.clients).await?;
    let admin = env.connect().await?;
    admin.batch_execute(sql::OVERHEAD_PLAIN_TABLE).await?;
    admin.batch_execute(sql::OVERHEAD_CEILING_TABLES).await?;
    admin.batch_execute(sql::OVERHEAD_FLOOR_TABLE).await?;
    let settings = WorkerSettings::defaults();
    let mut worker = match args.with_herald {
        true => Some(Worker::spawn(&env.url, &settings).await?),
        false => None,
    };

    let mut order = Vec::new();
    for round in 0..args.rounds {
        if round % 2 == 0 {
            order.extend(KINDS);
        } else {
            order.extend(KINDS.iter().rev());
        }
    }
    let phase = Duration::from_secs(args.phase_seconds);
    let progress = super::progress::bar(env.quiet, order.len() as u64, "insert phases");
    let mut counts = [0u64; KINDS.len()];
    let mut times = [0f64; KINDS.len()];
    for kind in order {
        // The gate: a sleeper row makes every statement NOTIFY (when NOTIFY is enabled).
        admin.execute(sql::OVERHEAD_CLOSE_GATE, &[]).await?;
        if kind == Target::HeraldNotifyEvery {
            admin.execute(sql::OVERHEAD_OPEN_GATE, &[]).await?;
        }
        let (n, secs) = run_phase(env, kind, &users, phase).await?;
        counts[kind as usize] += n;
        times[kind as usize] += secs;
        progress.inc(1);
    }
    admin.execute(sql::OVERHEAD_CLOSE_GATE, &[]).await?;
    progress.finish_and_clear();
    if let Some(w) = worker.as_mut() {
        w.check_alive()?;
    }
    if let Some(w) = worker {
        w.stop().await?;
    }
    let deliveries: i64 = admin.query_one(sql::DELIVERIES_COUNT, &[]).await?.get(0);

    let rate = |k: Target| counts[k as usize] as f64 / times[k as usize].max(1e-9);
    let (plain, gated, open, ceiling, floor) = (
        rate(Target::Plain),
        rate(Target::HeraldGated),
        rate(Target::HeraldNotifyEvery),
        rate(Target::Ceiling),
        rate(Target::Floor),
    );
    let ratio = gated / plain.max(1e-9);
    let mut r = Report::new("producer-overhead", mode);
    r.setting("database", &env.database)
        .setting("clients", format!("{} connections, each insert its own transaction (autocommit)", args.clients))
        .setting("statement", "insert into <table> (event_type, user_id, resource_id, data) values ($1, $2, gen_random_uuid(), $3)")
        .setting("plain table", "public.herald_bench_plain: same columns, primary key and created_at index, no trigger")
        .setting("ceiling", "one client statement writes the event, its delivery and its queue row into trigger-less copies of herald.events, herald.deliveries and herald.queue (same indexes and storage settings)")
        .setting("floor", "one client statement writes the event into the plain table and one delivery row into a table with only a primary key and the idempotency key (webhook_id, event_type, resource_id); no queue row, no trigger")
        .setting("layout", format!("{} users, 1 subscribed webhook each; client k writes for user k", args.clients))
        .setting("phases", format!("{} per kind x {} s, alternating", args.rounds, args.phase_seconds))
        .setting("herald", if args.with_herald { settings.describe() } else { "not running (the point is the trigger's cost)".into() });
    r.figure("plain table inserts", round(plain), "/s")
        .figure("herald.events inserts, gate closed", round(gated), "/s")
        .target(
            "ratio (gate closed / plain)",
            ratio * 100.0,
            "%",
            Goal::AtLeast(70.0),
        )
        .figure(
            "herald.events inserts, NOTIFY on every statement",
            round(open),
            "/s",
        )
        .figure(
            "ratio (NOTIFY every statement / plain)",
            round(open / plain.max(1e-9) * 100.0),
            "%",
        )
        .figure(
            "ceiling: the same rows without a trigger",
            round(ceiling),
            "/s",
        )
        .figure(
            "ratio (ceiling / plain)",
            round(ceiling / plain.max(1e-9) * 100.0),
            "%",
        )
        .figure(
            "floor: the event and one narrow delivery row, no trigger",
            round(floor),
            "/s",
        )
        .figure(
            "ratio (floor / plain)",
            round(floor / plain.max(1e-9) * 100.0),
            "%",
        )
        .figure(
            "ratio (gate closed / ceiling)",
            round(gated / ceiling.max(1e-9) * 100.0),
            "%",
        )
        .figure("delivery rows written", deliveries, "");
    if mode == WakeMode::PollOnly {
        r.note("poll-only: notify_enabled = false, so the 'NOTIFY on every statement' phase sends none");
    }
    Ok(r)
}

/// K clients insert as fast as they can for `phase`; returns (inserts, seconds).
async fn run_phase(
    env: &BenchEnv,
    kind: Target,
    users: &[uuid::Uuid],
    phase: Duration,
) -> anyhow::Result<(u64, f64)> {
    let sql = match kind {
        Target::Plain => sql::OVERHEAD_INSERT_PLAIN,
        Target::Ceiling => sql::OVERHEAD_INSERT_CEILING,
        Target::Floor => sql::OVERHEAD_INSERT_FLOOR,
        Target::HeraldGated | Target::HeraldNotifyEvery => sql::OVERHEAD_INSERT_EVENT,
    };
    let mut clients = Vec::new();
    for _ in users {
        let c = env.connect().await?;
        let stmt = c.prepare(sql).await?;
        clients.push((c, stmt));
    }
    let start = Instant::now();
    let deadline = start + phase;
    let mut tasks = Vec::new();
    for ((c, stmt), user) in clients.into_iter().zip(users.iter().copied()) {
        tasks.push(tokio::spawn(async move {
            let data = serde_json::json!({ "note": "herald bench producer-overhead" });
            let mut n = 0u64;
            while Instant::now() < deadline {
                c.execute(&stmt, &[&OWN_TYPE, &user, &data]).await?;
                n += 1;
            }
            anyhow::Ok(n)
        }));
    }
    let mut total = 0;
    for t in tasks {
        total += t.await??;
    }
    Ok((total, start.elapsed().as_secs_f64()))
}
