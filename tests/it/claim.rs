//! The claim and the fenced result write, against a real database.

use std::{collections::HashSet, time::Duration};

use chrono::Utc;
use herald::{
    domain::status::DeliveryStatus::{self, Delivered, Exhausted},
    store::deliveries::{self, ClaimLimits, ClaimedDelivery, ResultRow},
};
use uuid::Uuid;

use crate::harness::{count, value, TestDb};

/// One `own` event type, one user with one webhook, and `n` due deliveries.
pub async fn seed(db: &TestDb, n: i64) -> (Uuid, Uuid) {
    let c = db.client().await;
    let user = Uuid::new_v4();
    c.execute(
        "insert into herald.event_types (name, scope) values ('order.created', 'own') on conflict do nothing",
        &[],
    )
    .await
    .unwrap();
    let insert = "insert into herald.user_webhooks (user_id, url, secret)
                  values ($1, 'http://127.0.0.1:9/', 'whsec_dGVzdA==') returning id";
    let webhook: Uuid = value(&c, insert, &[&user]).await;
    c.execute(
        "insert into herald.events (event_type, user_id, data)
         select 'order.created', $1, jsonb_build_object('n', g) from generate_series(1, $2::int8) g",
        &[&user, &n],
    )
    .await
    .unwrap();
    (user, webhook)
}

const LEASE: Duration = Duration::from_secs(300);

/// Claims up to `n` due rows for `LEASE`, `per_webhook` at most per webhook, none in flight.
async fn claim(pc: &herald::store::Client, n: usize, per_webhook: i64) -> Vec<ClaimedDelivery> {
    deliveries::claim_batch(pc, n, LEASE, &ClaimLimits::fixed(per_webhook, &[]))
        .await
        .unwrap()
}

#[tokio::test]
async fn claim_concurrent_claimers_never_share_a_row() {
    let db = TestDb::new().await;
    seed(&db, 2000).await;
    let pool = db.pool();
    let mut tasks = Vec::new();
    for _ in 0..4 {
        let pool = pool.clone();
        tasks.push(tokio::spawn(async move {
            let mut got = Vec::new();
            loop {
                let c = pool.get().await.unwrap();
                let batch =
                    deliveries::claim_batch(&c, 50, LEASE, &ClaimLimits::fixed(100_000, &[]))
                        .await
                        .unwrap();
                if batch.is_empty() {
                    return got;
                }
                got.extend(batch.into_iter().map(|d| d.id));
            }
        }));
    }
    let mut seen = HashSet::new();
    let mut total = 0;
    for t in tasks {
        for id in t.await.unwrap() {
            total += 1;
            assert!(seen.insert(id), "delivery {id} claimed twice");
        }
    }
    assert_eq!(total, 2000);
}

#[tokio::test]
async fn claim_skips_future_delivered_and_exhausted_rows() {
    let db = TestDb::new().await;
    seed(&db, 4).await;
    let c = db.client().await;
    c.batch_execute(
        "create temp table r as
             select id, row_number() over (order by id) n from herald.deliveries;
         update herald.deliveries d set
            status = case r.n when 1 then 'delivered' when 2 then 'exhausted' else d.status end
           from r where r.id = d.id;
         delete from herald.queue q using r where r.id = q.delivery_id and r.n in (1, 2);
         update herald.queue q set due_at = now() + interval '1 hour'
           from r where r.id = q.delivery_id and r.n = 3;",
    )
    .await
    .unwrap();
    let pool = db.pool();
    let pc = pool.get().await.unwrap();
    let batch = claim(&pc, 10, 16).await;
    assert_eq!(batch.len(), 1, "only the pending, due row is claimable");
}

#[tokio::test]
async fn claim_moves_the_lease_forward_and_a_second_claim_finds_nothing() {
    let db = TestDb::new().await;
    let (_, webhook) = seed(&db, 3).await;
    let pool = db.pool();
    let pc = pool.get().await.unwrap();
    let before = Utc::now();
    let batch = claim(&pc, 10, 16).await;
    assert_eq!(batch.len(), 3);
    for d in &batch {
        let ahead = (d.lease - before).num_seconds();
        assert!(
            (295..=305).contains(&ahead),
            "lease {ahead}s ahead, expected ~300s"
        );
        assert_eq!(d.webhook_id, webhook);
        assert!(d.active);
        assert_eq!(
            d.url.as_ref().map(|u| u.as_str()),
            Ok("http://127.0.0.1:9/")
        );
        let body: serde_json::Value = serde_json::from_slice(&d.body).unwrap();
        assert_eq!(body["type"], "order.created");
    }
    let again = claim(&pc, 10, 16).await;
    assert!(again.is_empty(), "leased rows must not be claimed again");
}

#[tokio::test]
async fn claim_respects_the_per_webhook_limit() {
    let db = TestDb::new().await;
    let (_, webhook) = seed(&db, 40).await;
    let pool = db.pool();
    let pc = pool.get().await.unwrap();
    let batch = claim(&pc, 100, 16).await;
    assert_eq!(batch.len(), 16);
    let busy = [deliveries::Busy {
        webhook_id: webhook,
        in_flight: 10,
    }];
    let batch = deliveries::claim_batch(&pc, 100, LEASE, &ClaimLimits::fixed(16, &busy))
        .await
        .unwrap();
    assert_eq!(batch.len(), 6, "16 allowed, 10 already in flight");
}

#[tokio::test]
async fn claim_orders_oldest_due_first() {
    let db = TestDb::new().await;
    seed(&db, 20).await;
    let c = db.client().await;
    c.batch_execute("update herald.queue set due_at = now() - (random() * interval '1 hour')")
        .await
        .unwrap();
    let pool = db.pool();
    let pc = pool.get().await.unwrap();
    let batch = claim(&pc, 5, 100).await;
    let claimed: Vec<Uuid> = batch.iter().map(|d| d.id).collect();
    // The five oldest due (as they were before the claim moved them) are exactly these.
    let remaining_min: chrono::DateTime<Utc> = value(
        &c,
        "select min(next_attempt_at) from herald.webhook_deliveries where not (id = any($1))",
        &[&claimed],
    )
    .await;
    assert!(remaining_min <= Utc::now());
    let earlier_unclaimed = "select count(*) from herald.webhook_deliveries
                             where not (id = any($1)) and next_attempt_at < $2";
    let oldest_claimed_due: i64 = value(&c, earlier_unclaimed, &[&claimed, &remaining_min]).await;
    assert_eq!(oldest_claimed_due, 0);
    assert_eq!(batch.len(), 5);
}

/// Replicas claiming at once read the same oldest candidates: a claim must fill its batch from
/// the candidates nobody holds, not give up the rows another worker is locking.
#[tokio::test]
async fn claim_fills_its_batch_past_rows_another_worker_holds() {
    let db = TestDb::new().await;
    seed(&db, 30).await;
    let mut other = db.client().await;
    let tx = other.transaction().await.unwrap();
    let held: Vec<Uuid> = tx
        .query(
            "select delivery_id from herald.queue order by due_at, delivery_id limit 10 for update",
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(held.len(), 10);
    let pool = db.pool();
    let pc = pool.get().await.unwrap();
    let batch = claim(&pc, 10, 100).await;
    assert_eq!(batch.len(), 10, "ten free due rows were there to claim");
    assert!(
        batch.iter().all(|d| !held.contains(&d.id)),
        "a row another worker holds was claimed"
    );
    tx.rollback().await.unwrap();
}

#[tokio::test]
async fn record_results_ignores_a_stale_fenced_write() {
    let db = TestDb::new().await;
    seed(&db, 1).await;
    let c = db.client().await;
    let pool = db.pool();
    let pc = pool.get().await.unwrap();
    let first = claim(&pc, 1, 16).await;
    assert_eq!(first.len(), 1);
    // The lease runs out; another worker claims the row again.
    c.execute(
        "update herald.queue set due_at = now() - interval '1 second'",
        &[],
    )
    .await
    .unwrap();
    let second = claim(&pc, 1, 16).await;
    assert_eq!(second.len(), 1);
    let result = |d: &ClaimedDelivery, status: DeliveryStatus| ResultRow {
        id: d.id,
        claimed_attempt_count: d.attempt_count,
        lease: d.lease,
        status,
        next_attempt_at: None,
        status_code: Some(200),
        error: None,
        attempted: true,
    };
    // The stale worker's result changes nothing.
    let stale = deliveries::record_results(&pc, &[result(&first[0], Exhausted)], &[], &[], 10)
        .await
        .unwrap();
    assert!(stale.applied.is_empty());
    assert_eq!(
        count(
            &c,
            "select count(*) from herald.webhook_deliveries where status = 'pending'"
        )
        .await,
        1
    );
    // The current one applies.
    let fresh = deliveries::record_results(&pc, &[result(&second[0], Delivered)], &[], &[], 10)
        .await
        .unwrap();
    assert_eq!(fresh.applied, vec![second[0].id]);
    assert_eq!(
        count(&c, "select count(*) from herald.webhook_deliveries where status = 'delivered' and attempt_count = 1").await,
        1
    );
}

#[tokio::test]
async fn record_results_retried_after_a_lost_acknowledgement_changes_nothing_more() {
    let db = TestDb::new().await;
    let (_, webhook) = seed(&db, 1).await;
    let c = db.client().await;
    let pool = db.pool();
    let pc = pool.get().await.unwrap();
    let d = claim(&pc, 1, 16).await.remove(0);
    let result = ResultRow {
        id: d.id,
        claimed_attempt_count: d.attempt_count,
        lease: d.lease,
        status: DeliveryStatus::Failed,
        next_attempt_at: Some(Utc::now()),
        status_code: Some(500),
        error: Some("HTTP 500".into()),
        attempted: true,
    };
    let attempt = deliveries::AttemptRow {
        delivery_id: d.id,
        webhook_id: webhook,
        attempt: deliveries::Attempt {
            attempt: 1,
            started_at: Utc::now(),
            duration_ms: 1.0,
            status_code: Some(500),
            error: Some("HTTP 500".into()),
            response_excerpt: None,
        },
    };
    let breaker = deliveries::BreakerUpdate {
        webhook_id: webhook,
        reset: false,
        failures: 1,
        ..Default::default()
    };
    // The writer retries a batch whose commit it never heard about: same rows again.
    for _ in 0..2 {
        deliveries::record_results(
            &pc,
            std::slice::from_ref(&result),
            std::slice::from_ref(&attempt),
            std::slice::from_ref(&breaker),
            10,
        )
        .await
        .unwrap();
    }
    assert_eq!(
        count(&c, "select count(*) from herald.delivery_attempts").await,
        1
    );
    assert_eq!(
        count(
            &c,
            "select consecutive_failures::int8 from herald.user_webhooks"
        )
        .await,
        1
    );
    assert_eq!(
        count(
            &c,
            "select attempt_count::int8 from herald.webhook_deliveries"
        )
        .await,
        1
    );
}
