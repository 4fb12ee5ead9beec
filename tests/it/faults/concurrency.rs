//! Several replicas against one queue: nothing lost, nothing sent twice in the normal path,
//! and claims take the oldest due rows first.

use std::{
    collections::{HashMap, HashSet},
    time::Duration,
};

use chrono::{DateTime, Utc};
use herald::store::deliveries::{self, ClaimLimits};
use uuid::Uuid;

use super::{emit_for_each, one_webhook_per_user, scaled};
use crate::{
    app::{start, test_config},
    harness::{count, eventually_delivered, rows, TestDb},
    process::HeraldProcess,
    receiver::TestReceiver,
};

#[tokio::test]
async fn concurrency_four_replicas_lose_nothing_and_send_nothing_twice() {
    let (db, c) = TestDb::with_client().await;
    let receiver = TestReceiver::start().await;
    receiver.set_recording(false);
    let users = one_webhook_per_user(&c, 20, |i| receiver.url(&format!("/r/{i}"))).await;
    let replicas: Vec<HeraldProcess> = (0..4)
        .map(|_| HeraldProcess::spawn(&db.url, &[("HERALD_POLL_INTERVAL", "500ms")]))
        .collect();
    for r in &replicas {
        r.worker_id().await;
    }
    let total = scaled(10_000);
    let started = std::time::Instant::now();
    let ids = emit_for_each(&c, &users, total / users.len() as i64).await;
    eventually_delivered(
        &c,
        ids.len() as i64,
        "every delivery delivered",
        Duration::from_secs(120 * scaled(1) as u64),
    )
    .await;
    let took = started.elapsed();
    let by_id = receiver.counts_by_id();
    let expected: HashSet<String> = ids.iter().map(Uuid::to_string).collect();
    let received: HashSet<String> = by_id.keys().cloned().collect();
    assert_eq!(received.len(), expected.len(), "0 lost");
    assert_eq!(received, expected);
    let dupes = receiver.duplicates();
    assert!(
        dupes.is_empty(),
        "sent twice: {:?}",
        &dupes[..dupes.len().min(10)]
    );
    assert_eq!(
        count(&c, "select count(*) from herald.delivery_attempts").await,
        ids.len() as i64,
        "one attempt each"
    );
    println!(
        "concurrency: 4 replicas, {} deliveries in {took:?} ({:.0}/s), 0 lost, 0 duplicates",
        ids.len(),
        ids.len() as f64 / took.as_secs_f64()
    );
    for r in &replicas {
        let log = r.log_text();
        assert!(!log.contains("panicked"), "{log}");
        assert!(!log.contains("no capacity"), "{log}");
    }
}

/// Gives every due delivery a distinct due time in the past, in an order unrelated to
/// insertion; returns each row's due time.
async fn shuffle_due_times(c: &tokio_postgres::Client) -> HashMap<Uuid, DateTime<Utc>> {
    c.batch_execute(
        "with ranked as (
             select delivery_id, row_number() over (order by md5(delivery_id::text)) as k
               from herald.queue)
         update herald.queue q
            set due_at = now() - interval '1 hour' + ranked.k * interval '1 millisecond'
           from ranked where ranked.delivery_id = q.delivery_id",
    )
    .await
    .expect("shuffle due times");
    rows(
        c,
        "select id, next_attempt_at from herald.webhook_deliveries",
        &[],
        |r| (r.get(0), r.get(1)),
    )
    .await
}

#[tokio::test]
async fn concurrency_claim_batches_are_oldest_due_first_across_claimers() {
    let (db, c) = TestDb::with_client().await;
    let users = one_webhook_per_user(&c, 5, |i| format!("http://127.0.0.1:9/{i}")).await;
    emit_for_each(&c, &users, 80).await;
    let due = shuffle_due_times(&c).await;
    let mut by_due: Vec<(DateTime<Utc>, Uuid)> = due.iter().map(|(id, t)| (*t, *id)).collect();
    by_due.sort();
    let lease = Duration::from_secs(300);
    let pool = db.pool();

    // One claimer: consecutive batches are consecutive windows of the due order.
    let client = pool.get().await.unwrap();
    let mut claimed = Vec::new();
    for _ in 0..5 {
        let batch = deliveries::claim_batch(&client, 16, lease, &ClaimLimits::fixed(1000, &[]))
            .await
            .unwrap();
        assert_eq!(batch.len(), 16);
        claimed.extend(batch.iter().map(|d| d.id));
    }
    let oldest: Vec<Uuid> = by_due[..80].iter().map(|(_, id)| *id).collect();
    assert_eq!(claimed, oldest, "the oldest due rows, in due order");
    drop(client);

    // Four claimers at once: each batch is in due order, and no row is claimed twice.
    let mut tasks = Vec::new();
    for _ in 0..4 {
        let pool = pool.clone();
        tasks.push(tokio::spawn(async move {
            let client = pool.get().await.unwrap();
            let mut batches = Vec::new();
            loop {
                let batch =
                    deliveries::claim_batch(&client, 8, lease, &ClaimLimits::fixed(1000, &[]))
                        .await
                        .unwrap();
                if batch.is_empty() {
                    return batches;
                }
                batches.push(batch.iter().map(|d| d.id).collect::<Vec<Uuid>>());
            }
        }));
    }
    let mut seen = HashSet::new();
    let mut batches = 0;
    for t in tasks {
        for batch in t.await.unwrap() {
            batches += 1;
            let dues: Vec<DateTime<Utc>> = batch.iter().map(|id| due[id]).collect();
            assert!(
                dues.windows(2).all(|w| w[0] < w[1]),
                "a batch out of due order: {dues:?}"
            );
            for id in batch {
                assert!(seen.insert(id), "{id} claimed twice");
            }
        }
    }
    assert_eq!(seen.len(), 400 - 80, "every remaining row claimed once");
    assert!(batches >= 40);
}

#[tokio::test]
async fn concurrency_pipeline_sends_in_due_order_when_one_at_a_time() {
    let (db, c) = TestDb::with_client().await;
    let receiver = TestReceiver::start().await;
    let users = one_webhook_per_user(&c, 4, |i| receiver.url(&format!("/o/{i}"))).await;
    emit_for_each(&c, &users, 50).await;
    let due = shuffle_due_times(&c).await;
    let event_of: HashMap<Uuid, String> = c
        .query("select id, event_id from herald.webhook_deliveries", &[])
        .await
        .unwrap()
        .into_iter()
        .map(|r| (r.get(0), r.get::<_, Uuid>(1).to_string()))
        .collect();
    let mut by_due: Vec<(DateTime<Utc>, Uuid)> = due.iter().map(|(id, t)| (*t, *id)).collect();
    by_due.sort();
    let expected: Vec<String> = by_due.iter().map(|(_, id)| event_of[id].clone()).collect();

    let mut config = test_config(&db);
    config.max_in_flight = 1;
    let app = start(config).await;
    let requests = receiver
        .wait_for_count(expected.len(), Duration::from_secs(60))
        .await;
    let arrived: Vec<String> = requests
        .iter()
        .map(|r| r.webhook_id().unwrap().to_owned())
        .collect();
    assert_eq!(arrived, expected, "sent oldest due first");
    app.shutdown().await;
}

/// Regression: capacity freed while the claimer was between its last claim and its wait was
/// not signalled, so a webhook at its in-flight limit waited for the safety poll.
#[tokio::test]
async fn concurrency_freed_capacity_wakes_the_claimer_without_the_poll() {
    let (db, c) = TestDb::with_client().await;
    let receiver = TestReceiver::start().await;
    let users = one_webhook_per_user(&c, 1, |_| receiver.url("/capped")).await;
    let mut config = test_config(&db);
    config.max_in_flight_per_webhook = 1;
    // The safety poll is far away: one lost wake-up alone would cost 10 minutes.
    config.poll_interval = Duration::from_secs(600);
    let app = start(config).await;
    let started = std::time::Instant::now();
    emit_for_each(&c, &users, 40).await;
    receiver.wait_for_count(40, Duration::from_secs(300)).await;
    let took = started.elapsed();
    assert!(
        took < Duration::from_secs(120),
        "40 deliveries one at a time took {took:?}: wake-ups on freed capacity were lost"
    );
    app.shutdown().await;
}
