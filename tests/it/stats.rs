//! The console's statistics: the attempt rollup (counted once, from a watermark), the rates
//! and percentiles read back from it, the replica registry and the queue snapshot.

use std::time::Duration;

use herald::store::{fleet, stats, Pool};
use uuid::Uuid;

use crate::{
    app::{start, test_config, webhook},
    harness::{eventually, TestDb},
};

/// Inserts `n` settled attempts (a minute old) of one delivery of `webhook_id`.
async fn attempts(
    c: &tokio_postgres::Client,
    webhook_id: Uuid,
    n: i64,
    duration_ms: f64,
    status: Option<i32>,
    error: Option<&str>,
) {
    c.execute(
        "with d as (
             insert into herald.deliveries (id, webhook_id, event_id, event_type, payload, status)
             values (gen_random_uuid(), $1, gen_random_uuid(), 'a.b', '{}', 'failed') returning id)
         insert into herald.delivery_attempts
               (delivery_id, webhook_id, attempt, started_at, duration_ms, status_code, error,
                created_at)
         select d.id, $1, g, now() - interval '1 minute', $3, $4, $5, now() - interval '1 minute'
           from d, generate_series(1, $2::int8) g",
        &[&webhook_id, &n, &duration_ms, &status, &error],
    )
    .await
    .expect("insert attempts");
}

/// [`eventually`] for a check on the pool (each try gets a clone of it).
async fn eventually_on<F, Fut>(pool: &Pool, what: &str, check: F)
where
    F: Fn(Pool) -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    eventually(what, Duration::from_secs(30), || check(pool.clone())).await;
}

#[tokio::test]
async fn rollup_counts_each_attempt_once_and_reads_back_rates_and_percentiles() {
    let (db, c) = TestDb::with_client().await;
    let pool = db.pool();
    let (_, id, _) = webhook(&c, "https://example.com/").await;
    attempts(&c, id, 98, 2.5, Some(200), None).await;
    attempts(&c, id, 2, 60.0, Some(500), Some("HTTP 500")).await;
    // Not yet settled (as if written just now; an hour ahead so that a slow test run cannot
    // let it settle): left for a later run.
    c.execute(
        "insert into herald.delivery_attempts
               (delivery_id, webhook_id, attempt, started_at, duration_ms, status_code, created_at)
         select delivery_id, webhook_id, 99, now(), 1, 200, now() + interval '1 hour'
           from herald.delivery_attempts limit 1",
        &[],
    )
    .await
    .expect("young attempt");

    let client = pool.get().await.expect("client");
    let first = stats::roll_up(&client, 1000).await.expect("roll up");
    assert_eq!(first.rolled, 100);
    let again = stats::roll_up(&client, 1000).await.expect("roll up again");
    assert_eq!(again.rolled, 0, "nothing is counted twice");

    let s = stats::webhooks(&pool, &[id]).await.expect("stats")[&id].clone();
    for w in [&s.last_hour, &s.last_day] {
        assert_eq!((w.attempts, w.delivered), (100, 98));
        assert_eq!(w.success_rate, Some(0.98));
        assert_eq!(w.p50_ms, Some(3.0), "2.5 ms falls in [2, 3)");
        assert_eq!(w.p99_ms, Some(70.0), "60 ms falls in [50, 70)");
    }
    let failure = s.last_failure.expect("last failure");
    assert_eq!(failure.status_code, Some(500));
    assert_eq!(failure.error.as_deref(), Some("HTTP 500"));

    let rates = stats::fleet_rates(&pool, 15).await.expect("rates");
    assert_eq!(rates.iter().map(|m| m.attempts).sum::<i64>(), 100);
    assert_eq!(rates.iter().map(|m| m.failed).sum::<i64>(), 2);

    // A small batch size splits the work without losing or doubling anything.
    c.execute(
        "delete from herald.delivery_attempts where attempt = 99",
        &[],
    )
    .await
    .expect("drop the young attempt");
    attempts(&c, id, 25, 1.2, Some(204), None).await;
    let mut rolled = 0;
    for _ in 0..10 {
        rolled += stats::roll_up(&client, 10).await.expect("roll up").rolled;
    }
    assert_eq!(rolled, 25);
    let s = stats::webhooks(&pool, &[id]).await.expect("stats")[&id].clone();
    assert_eq!(s.last_day.attempts, 125);
}

#[tokio::test]
async fn replicas_register_on_a_heartbeat_and_the_leader_snapshots_the_queue() {
    let (db, c) = TestDb::with_client().await;
    let (_, id, _) = webhook(&c, "https://example.com/").await;
    attempts(&c, id, 3, 5.0, Some(500), Some("HTTP 500")).await;
    c.execute("update herald.deliveries set status = 'exhausted'", &[])
        .await
        .expect("exhaust");
    let app = start(test_config(&db)).await;
    let pool = db.pool();
    let worker_id = app.worker_id;
    eventually_on(&pool, "the replica is registered", |pool| async move {
        fleet::replicas(&pool, Duration::from_secs(60), 10)
            .await
            .is_ok_and(|r| {
                r.iter().any(|r| {
                    r.worker_id == worker_id
                        && !r.host.is_empty()
                        && r.version == env!("CARGO_PKG_VERSION")
                })
            })
    })
    .await;
    eventually_on(&pool, "the replica leads", |pool| async move {
        fleet::leader_opt(&pool)
            .await
            .is_ok_and(|l| l.is_some_and(|l| l.worker_id == worker_id.to_string()))
    })
    .await;
    eventually_on(&pool, "the queue is counted", |pool| async move {
        fleet::queue(&pool)
            .await
            .is_ok_and(|q| q.by_status.get("exhausted") == Some(&1) && q.counted_at.is_some())
    })
    .await;
    eventually_on(
        &pool,
        "the leader rolls the attempts up",
        |pool| async move {
            stats::webhooks(&pool, &[id])
                .await
                .is_ok_and(|s| s[&id].last_day.attempts == 3)
        },
    )
    .await;
    app.shutdown().await;
}
