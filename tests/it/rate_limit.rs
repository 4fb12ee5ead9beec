//! Rate limits per webhook: the token bucket in the claim, across replicas, with the receiver's
//! own clock as the judge. Real PostgreSQL, real receivers on loopback.

use std::time::Duration;

use herald::store::deliveries::{self, ClaimLimits};
use uuid::Uuid;

use crate::{
    app::{emit_many, event_type, start, test_config, webhook},
    claim::seed,
    harness::{count, eventually, TestDb},
    receiver::TestReceiver,
};

async fn limit(c: &tokio_postgres::Client, webhook: Uuid, per_s: f64, burst: i32) {
    c.execute(
        "update herald.user_webhooks set rate_limit_per_s = $2::float8, rate_limit_burst = $3
          where id = $1",
        &[&webhook, &per_s, &burst],
    )
    .await
    .expect("set the rate limit");
}

/// The tokens left in a webhook's bucket when it was last written (`None`: never, full).
async fn bucket(c: &tokio_postgres::Client, webhook: Uuid) -> Option<f64> {
    c.query_one(
        "select rate_tokens from herald.user_webhooks where id = $1",
        &[&webhook],
    )
    .await
    .expect("webhook row")
    .get(0)
}

#[tokio::test]
async fn rate_limit_claim_takes_the_burst_then_waits_for_the_next_token() {
    let db = TestDb::new().await;
    let (_, hook) = seed(&db, 10).await;
    let c = db.client().await;
    limit(&c, hook, 2.0, 3).await;
    let pool = db.pool();
    let pc = pool.get().await.unwrap();
    let lease = Duration::from_secs(300);
    let any = ClaimLimits::fixed(100, &[]);

    // The main claim leaves a limited webhook alone; the limited claim takes the burst.
    let gates = deliveries::gates(&pc).await.unwrap();
    assert_eq!(gates.limited, vec![hook], "a full bucket holds a token");
    let main = deliveries::claim_batch(&pc, 10, lease, &any).await.unwrap();
    assert!(main.is_empty(), "the main claim took {}", main.len());
    let first = deliveries::claim_limited(&pc, 10, lease, &any)
        .await
        .unwrap();
    assert_eq!(first.len(), 3, "a full bucket holds the burst");
    assert!(first.iter().all(|d| d.webhook_id == hook && d.active));

    // The bucket is empty: nothing more now, and the gates say when the next token comes.
    let gates = deliveries::gates(&pc).await.unwrap();
    assert!(gates.limited.is_empty() && !gates.ready, "{gates:?}");
    let next = gates.next_at.expect("the next token's time");
    let ahead = (next - chrono::Utc::now()).to_std().unwrap_or_default();
    assert!(
        ahead > Duration::from_millis(300) && ahead <= Duration::from_millis(500),
        "the next token in {ahead:?}, at 2/s"
    );
    let again = deliveries::claim_limited(&pc, 10, lease, &any)
        .await
        .unwrap();
    assert!(again.is_empty(), "claimed {} without tokens", again.len());

    // A webhook with no room left on this worker takes nothing, and keeps its tokens.
    c.execute(
        "update herald.user_webhooks set rate_tokens = 3, rate_tokens_at = now() where id = $1",
        &[&hook],
    )
    .await
    .unwrap();
    let busy = ClaimLimits::fixed(
        1,
        &[deliveries::Busy {
            webhook_id: hook,
            in_flight: 1,
        }],
    );
    let none = deliveries::claim_limited(&pc, 10, lease, &busy)
        .await
        .unwrap();
    assert!(
        none.is_empty(),
        "claimed {} past the per-webhook cap",
        none.len()
    );
    // Free capacity bounds it too.
    let one = deliveries::claim_limited(&pc, 1, lease, &any)
        .await
        .unwrap();
    assert_eq!(one.len(), 1);
    let left = bucket(&c, hook).await.expect("a bucket");
    assert!((2.0..2.1).contains(&left), "one token debited: {left} left");
}

#[tokio::test]
async fn rate_limit_yields_to_an_open_breaker_whose_probe_costs_no_token() {
    let db = TestDb::new().await;
    let (_, hook) = seed(&db, 5).await;
    let c = db.client().await;
    limit(&c, hook, 1.0, 1).await;
    c.execute(
        "update herald.user_webhooks
            set breaker_state = 'open', breaker_until = now() - interval '1 second'
          where id = $1",
        &[&hook],
    )
    .await
    .unwrap();
    let pool = db.pool();
    let pc = pool.get().await.unwrap();
    let lease = Duration::from_secs(300);
    let gates = deliveries::gates(&pc).await.unwrap();
    assert!(gates.ready && gates.limited.is_empty(), "{gates:?}");
    let any = ClaimLimits::fixed(100, &[]);
    let limited = deliveries::claim_limited(&pc, 10, lease, &any)
        .await
        .unwrap();
    assert!(limited.is_empty(), "the limit claimed past an open breaker");
    let probes = deliveries::claim_probes(&pc, deliveries::OnePerWebhook::Probes, 10, lease, &[])
        .await
        .unwrap();
    assert_eq!(probes.len(), 1, "one probe");
    assert_eq!(
        bucket(&c, hook).await,
        None,
        "the probe left the bucket full"
    );
}

#[tokio::test]
async fn rate_limit_holds_across_three_replicas_while_an_unlimited_webhook_drains() {
    let db = TestDb::new().await;
    let c = db.client().await;
    let receiver = TestReceiver::start().await;
    event_type(&c, "order.created", "own").await;
    let (limited_user, limited, _) = webhook(&c, &receiver.url("/limited")).await;
    let (free_user, _, _) = webhook(&c, &receiver.url("/free")).await;
    limit(&c, limited, 20.0, 5).await;
    let replicas = [
        start(test_config(&db)).await,
        start(test_config(&db)).await,
        start(test_config(&db)).await,
    ];

    emit_many(&c, "order.created", limited_user, 600).await;
    emit_many(&c, "order.created", free_user, 2000).await;
    let delivered = |hook: &'static str| {
        format!(
            "select count(*) from herald.webhook_deliveries d
               join herald.user_webhooks w on w.id = d.webhook_id
              where d.status = 'delivered' and w.url like '%{hook}'"
        )
    };
    eventually(
        "the unlimited webhook drained",
        Duration::from_secs(60),
        || async { count(&c, &delivered("/free")).await == 2000 },
    )
    .await;
    let limited_by_then = count(&c, &delivered("/limited")).await;
    eprintln!("the limited webhook had {limited_by_then} of 600 when the unlimited one drained");
    assert!(
        limited_by_then < 600,
        "the unlimited webhook drained while the limited one was still draining"
    );
    // 600 at 20/s after a burst of 5 take about 30 s; twice that would mean the claimers
    // waited for their safety poll, not for the next token.
    eventually(
        "the limited webhook drained",
        Duration::from_secs(60),
        || async { count(&c, &delivered("/limited")).await == 600 },
    )
    .await;

    let requests = receiver.requests();
    let limited_at: Vec<_> = requests
        .iter()
        .filter(|r| r.path == "/limited")
        .map(|r| r.received_at)
        .collect();
    assert_eq!(limited_at.len(), 600, "every limited delivery arrived once");
    let window = Duration::from_secs(5);
    let bound = (20.0 * 1.1 * 5.0 + 5.0) as usize;
    let busiest = (0..limited_at.len())
        .map(|i| {
            limited_at[i..]
                .iter()
                .take_while(|t| **t - limited_at[i] <= window)
                .count()
        })
        .max()
        .unwrap_or(0);
    let span = *limited_at.last().unwrap() - limited_at[0];
    eprintln!("limited: at most {busiest} requests in any 5 s (bound {bound}), 600 in {span:?}");
    assert!(busiest <= bound, "{busiest} requests within 5 s");
    let free_done = requests
        .iter()
        .filter(|r| r.path == "/free")
        .map(|r| r.received_at)
        .max()
        .expect("unlimited requests");
    assert!(
        free_done < *limited_at.last().unwrap(),
        "the unlimited webhook finished before the limited one"
    );
    assert!(
        receiver.duplicates().is_empty(),
        "{:?}",
        receiver.duplicates()
    );
    // The limit spent no attempt: one per delivery, 2,600 in all.
    assert_eq!(
        count(
            &c,
            "select count(*) from herald.webhook_deliveries where attempt_count <> 1"
        )
        .await,
        0
    );
    assert_eq!(
        count(&c, "select count(*) from herald.delivery_attempts").await,
        2600
    );
    for app in replicas {
        app.shutdown().await;
    }
}

#[tokio::test]
async fn rate_limit_paces_a_fifo_webhook_which_keeps_its_order() {
    let db = TestDb::new().await;
    let c = db.client().await;
    let receiver = TestReceiver::start().await;
    event_type(&c, "order.created", "own").await;
    let (user, hook, _) = webhook(&c, &receiver.url("/ordered")).await;
    c.execute(
        "update herald.user_webhooks set ordering = 'fifo' where id = $1",
        &[&hook],
    )
    .await
    .expect("switch to fifo");
    limit(&c, hook, 5.0, 1).await;
    emit_many(&c, "order.created", user, 10).await;
    let want: Vec<String> = c
        .query(
            "select e.id::text from herald.deliveries d join herald.events e on e.id = d.event_id
              where d.webhook_id = $1 order by e.seq",
            &[&hook],
        )
        .await
        .expect("events by seq")
        .into_iter()
        .map(|r| r.get(0))
        .collect();
    let app = start(test_config(&db)).await;

    eventually("10 ordered deliveries", Duration::from_secs(60), || async {
        receiver.requests().len() >= 10
    })
    .await;
    let requests = receiver.requests();
    let got: Vec<String> = requests
        .iter()
        .filter_map(|r| r.webhook_id().map(str::to_owned))
        .collect();
    assert_eq!(got, want, "in seq order, each once");
    assert_eq!(receiver.max_in_flight("/ordered"), 1, "one at a time");
    // Burst 1 at 5/s: the 9 after the first wait for a token each, 1.8 s in all. Without the
    // limit, ten loopback round trips take a few milliseconds each.
    let span = requests[9].received_at - requests[0].received_at;
    assert!(
        span >= Duration::from_millis(1_600),
        "10 deliveries at 5/s took only {span:?}"
    );
    app.shutdown().await;
}
