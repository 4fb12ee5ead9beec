//! Leader election and the leader's chores.

use std::time::{Duration, Instant};

use herald::{
    leader::chores::{Chores, QueueUpkeep, FINISHED_BLOCKS_PER_TICK, PRUNE_BATCH},
    metrics::Metrics,
    store::fleet,
};
use tokio_util::sync::CancellationToken;

use crate::{
    harness::{count, eventually, eventually_some, TestDb},
    process::HeraldProcess,
};

/// The leader's chores on `db`, with a week's retention.
fn chores(db: &TestDb) -> Chores {
    Chores::new(db.pool(), Duration::from_secs(7 * 86400), Metrics::new())
}

async fn leader_name(c: &tokio_postgres::Client) -> Option<String> {
    c.query_opt("select application_name from herald.leader", &[])
        .await
        .unwrap()
        .map(|r| r.get(0))
}

#[tokio::test]
async fn leader_is_replaced_within_three_seconds_when_killed() {
    let (db, c) = TestDb::with_client().await;
    let replicas: Vec<HeraldProcess> = (0..3).map(|_| HeraldProcess::spawn(&db.url, &[])).collect();
    let mut ids = Vec::new();
    for r in &replicas {
        ids.push(r.worker_id().await);
    }
    let first = eventually_some("a leader is elected", Duration::from_secs(10), || {
        leader_name(&c)
    })
    .await;
    assert_eq!(
        count(&c, "select count(*) from herald.leader").await,
        1,
        "exactly one leader"
    );
    let index = ids
        .iter()
        .position(|id| first.ends_with(id.as_str()))
        .expect("the leader is one of ours");
    replicas[index].signal(libc::SIGKILL);
    let killed_at = Instant::now();
    eventually_some("another replica leads", Duration::from_secs(3), || async {
        leader_name(&c).await.filter(|n| *n != first)
    })
    .await;
    let took = killed_at.elapsed();
    assert!(took < Duration::from_secs(3), "takeover took {took:?}");
    assert_eq!(count(&c, "select count(*) from herald.leader").await, 1);
}

#[tokio::test]
async fn leader_is_replaced_when_its_connection_is_cut() {
    let (db, c) = TestDb::with_client().await;
    let _a = HeraldProcess::spawn(&db.url, &[]);
    let _b = HeraldProcess::spawn(&db.url, &[]);
    eventually("a leader is elected", Duration::from_secs(10), || async {
        leader_name(&c).await.is_some()
    })
    .await;
    c.execute("select pg_terminate_backend(pid) from herald.leader", &[])
        .await
        .unwrap();
    let cut_at = Instant::now();
    eventually("a leader again", Duration::from_secs(3), || async {
        leader_name(&c).await.is_some()
    })
    .await;
    assert!(cut_at.elapsed() < Duration::from_secs(3));
}

#[tokio::test]
async fn retention_deletes_only_old_terminal_rows_in_batches() {
    let db = TestDb::new().await;
    let (_, _webhook) = crate::claim::seed(&db, 0).await;
    let c = db.client().await;
    // Rows from before the queue was reshaped (each with its own payload, their events long
    // gone): 2,500 old delivered, 10 old exhausted, 10 old pending, 10 old failed, 10 recent
    // delivered.
    c.batch_execute(
        "with d as (
             insert into herald.deliveries
                    (id, webhook_id, event_id, event_type, payload, status, created_at, updated_at)
             select gen_random_uuid(), w.id, gen_random_uuid(), 'order.created', '{}',
                    case when g <= 2500 then 'delivered' when g <= 2510 then 'exhausted'
                         when g <= 2520 then 'pending' when g <= 2530 then 'failed' else 'delivered' end,
                    case when g <= 2530 then now() - interval '9 days' else now() end,
                    case when g <= 2530 then now() - interval '8 days' else now() end
               from herald.user_webhooks w, generate_series(1, 2540) g
             returning id, webhook_id, status)
         insert into herald.queue (delivery_id, webhook_id)
         select id, webhook_id from d where status in ('pending', 'failed');
         insert into herald.delivery_attempts (delivery_id, webhook_id, attempt, started_at, duration_ms)
         select id, webhook_id, 1, updated_at, 1 from herald.deliveries;",
    )
    .await
    .unwrap();
    // Events of today's layout: 8 fanned out to the webhook (5 of them old), and 4 old ones of
    // a user without webhooks. The deliveries of the 3 oldest were delivered long ago.
    c.batch_execute(
        "insert into herald.events (event_type, user_id, data, created_at)
         select 'order.created', w.user_id, '{}',
                case when g <= 5 then now() - interval '8 days' - g * interval '1 minute' else now() end
           from herald.user_webhooks w, generate_series(1, 8) g;
         insert into herald.events (event_type, user_id, data, created_at)
         select 'order.created', gen_random_uuid(), '{}', now() - interval '8 days'
           from generate_series(1, 4) g;
         create temp table done as
             select d.id from herald.deliveries d join herald.events e on e.id = d.event_id
              order by e.created_at limit 3;
         update herald.deliveries d set status = 'delivered', updated_at = now() - interval '8 days'
           from done where done.id = d.id;
         delete from herald.queue q using done where done.id = q.delivery_id;
         insert into herald.delivery_attempts (delivery_id, webhook_id, attempt, started_at, duration_ms)
         select d.id, d.webhook_id, 1, d.updated_at, 1 from herald.deliveries d join done using (id);",
    )
    .await
    .unwrap();
    let chores = chores(&db);
    let pruned = chores.prune(&CancellationToken::new()).await.unwrap();
    assert_eq!(pruned.deliveries, 2510 + 3);
    assert_eq!(
        pruned.events,
        3 + 4,
        "old events go once no delivery needs them"
    );
    assert!(
        pruned.batches as i64 > 2510 / PRUNE_BATCH,
        "deleted in batches of {PRUNE_BATCH}: {pruned:?}"
    );
    let left = |status: &'static str| {
        let c = &c;
        async move {
            count(
                c,
                &format!(
                    "select count(*) from herald.webhook_deliveries where status = '{status}'"
                ),
            )
            .await
        }
    };
    assert_eq!(left("delivered").await, 10);
    assert_eq!(left("exhausted").await, 0);
    // 10 old pending, plus 5 fanned out from the events inserted above.
    assert_eq!(left("pending").await, 15);
    assert_eq!(left("failed").await, 10);
    assert_eq!(
        count(&c, "select count(*) from herald.delivery_attempts").await,
        30,
        "attempts go with their deliveries"
    );
    // The 3 recent events, and the 2 old ones whose deliveries are still pending.
    assert_eq!(count(&c, "select count(*) from herald.events").await, 5);
    let without_payload = "select count(*) from herald.webhook_deliveries where payload is null";
    assert_eq!(
        count(&c, without_payload).await,
        0,
        "every remaining delivery still has its payload"
    );
}

/// The leader vacuums a queue full of dead tuples, and keeps its pages: truncating them needs
/// an ACCESS EXCLUSIVE lock, which the queue's writers (claims, results, every producer's
/// fan-out) would wait behind, and which a busy queue rarely grants at once (the VACUUM then
/// retried for seconds).
#[tokio::test]
async fn leader_vacuums_the_queue_without_truncating_it() {
    let (db, c) = TestDb::with_client().await;
    c.batch_execute(
        // Autovacuum could otherwise vacuum the queue before the chore looks.
        "alter table herald.queue set (autovacuum_enabled = false);
         insert into herald.queue (delivery_id, webhook_id, due_at)
         select gen_random_uuid(), gen_random_uuid(), 'infinity' from generate_series(1, 20000);
         delete from herald.queue;",
    )
    .await
    .unwrap();
    let size = "select pg_relation_size('herald.queue')";
    let before = count(&c, size).await;
    assert!(before > 0);
    let stat = |column: &'static str| {
        let c = &c;
        async move {
            count(
                c,
                &format!(
                    "select {column} from pg_stat_user_tables where relid = 'herald.queue'::regclass"
                ),
            )
            .await
        }
    };
    // The deletes reach the statistics a moment later.
    eventually(
        "the dead tuples are counted",
        Duration::from_secs(30),
        || async { stat("n_dead_tup").await >= 20000 },
    )
    .await;
    let chores = chores(&db);
    assert_eq!(
        chores.queue_upkeep().await.unwrap(),
        QueueUpkeep::Vacuumed,
        "the queue is vacuumed"
    );
    eventually("the vacuum is counted", Duration::from_secs(30), || async {
        stat("vacuum_count").await >= 1
    })
    .await;
    assert_eq!(count(&c, size).await, before, "the queue kept its pages");
}

/// The leader analyzes a queue whose live rows outgrew what the planner believes: a queue
/// vacuumed while empty is planned as empty (`reltuples` 0), sessions keep the claim plan they
/// cached then, and with a backlog that plan scanned the whole queue once per row it locked.
#[tokio::test]
async fn leader_analyzes_the_queue_when_a_backlog_outgrows_the_planners_count() {
    let (db, c) = TestDb::with_client().await;
    // Autovacuum could otherwise analyze the queue before the chore looks.
    c.batch_execute("alter table herald.queue set (autovacuum_enabled = false)")
        .await
        .unwrap();
    c.batch_execute("vacuum herald.queue").await.unwrap();
    let planned = "select reltuples::int8 from pg_class where oid = 'herald.queue'::regclass";
    assert_eq!(count(&c, planned).await, 0, "vacuumed while empty");
    c.batch_execute(
        "insert into herald.queue (delivery_id, webhook_id, due_at)
         select gen_random_uuid(), gen_random_uuid(), 'infinity' from generate_series(1, 20000)",
    )
    .await
    .unwrap();
    let live = "select n_live_tup from pg_stat_user_tables where relid = 'herald.queue'::regclass";
    // The inserts reach the statistics a moment later.
    eventually(
        "the live rows are counted",
        Duration::from_secs(30),
        || async { count(&c, live).await >= 20000 },
    )
    .await;
    let chores = chores(&db);
    assert_eq!(
        chores.queue_upkeep().await.unwrap(),
        QueueUpkeep::Analyzed,
        "a backlog 20,000 rows above the planner's 0 is analyzed"
    );
    assert_eq!(
        count(&c, planned).await,
        20000,
        "the planner's count caught up"
    );
    assert_eq!(
        chores.queue_upkeep().await.unwrap(),
        QueueUpkeep::Nothing,
        "once counted, not analyzed again"
    );
}

/// The leader counts the pending and failed deliveries from the queue, and the delivered and
/// exhausted ones by a walk over `herald.deliveries` a thousand blocks a tick: no statement
/// reads the whole history the retention period keeps (a count of every delivery every 10 s
/// had read 1.2 million rows on both cores, each time slowing the claims).
#[tokio::test]
async fn leader_counts_finished_deliveries_in_steps_and_unfinished_ones_from_the_queue() {
    let (db, c) = TestDb::with_client().await;
    c.batch_execute(
        "insert into herald.deliveries (id, webhook_id, event_id, event_type, status)
         select gen_random_uuid(), gen_random_uuid(), gen_random_uuid(), 'order.created',
                case when n <= 100000 then 'delivered'
                     when n <= 130000 then 'exhausted'
                     when n <= 130003 then 'failed'
                     else 'pending' end
           from generate_series(1, 130010) as n;
         insert into herald.queue (delivery_id, webhook_id, due_at)
         select id, webhook_id, 'infinity' from herald.deliveries
          where status in ('pending', 'failed');",
    )
    .await
    .unwrap();
    let blocks = count(
        &c,
        "select pg_relation_size('herald.deliveries') / current_setting('block_size')::int8",
    )
    .await;
    let steps = (blocks + FINISHED_BLOCKS_PER_TICK - 1) / FINISHED_BLOCKS_PER_TICK;
    assert!(
        steps >= 2,
        "the fixture spans {blocks} blocks, more than one step"
    );

    let chores = chores(&db);
    chores.snapshot_queue().await.unwrap();
    for step in 1..steps {
        assert_eq!(
            chores.count_finished().await.unwrap(),
            None,
            "step {step} of {steps} counts {FINISHED_BLOCKS_PER_TICK} blocks and goes on"
        );
    }
    let total = chores
        .count_finished()
        .await
        .unwrap()
        .expect("the last step writes the totals");
    assert_eq!((total.delivered, total.exhausted), (100000, 30000));
    let queue = fleet::queue(&db.pool()).await.unwrap();
    let by_status: Vec<(&str, i64)> = queue
        .by_status
        .iter()
        .map(|(s, n)| (s.as_str(), *n))
        .collect();
    assert_eq!(
        by_status,
        [
            ("delivered", 100000),
            ("exhausted", 30000),
            ("failed", 3),
            ("pending", 7)
        ]
    );
    assert!(queue.counted_at.is_some());
    // The next pass starts again from the first block.
    assert_eq!(chores.count_finished().await.unwrap(), None);
}
