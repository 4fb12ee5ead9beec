//! The claimer reads the gated webhooks (`deliveries_gates.sql`) when they may have changed,
//! not on every round: a policy set while Herald runs is announced on `herald_gates` and applied
//! at once, and a busy worker does not read them between its claims. Real PostgreSQL, real
//! receivers on loopback.

use std::time::Duration;

use crate::{
    app::{emit_many, start, test_config, webhook, Scene},
    harness::eventually,
    receiver::{Behaviour, Reply, TestReceiver},
};

fn arrived(receiver: &TestReceiver, path: &str) -> usize {
    receiver
        .requests()
        .iter()
        .filter(|r| r.path == path)
        .count()
}

/// The value of a metric without labels in a Prometheus text.
fn metric(text: &str, name: &str) -> f64 {
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
        .unwrap_or_else(|| panic!("{name} missing from {text}"))
}

/// With a 600 s safety poll, only the notification of the change makes the claimer look at
/// the gates again: without it the limited and the FIFO webhook would get nothing (the main
/// claim skips gated webhooks) for ten minutes.
#[tokio::test]
async fn gates_a_policy_set_while_herald_runs_applies_at_once() {
    let Scene { db, c, receiver } = Scene::new().await;
    receiver.set_behaviour(
        "/fifo",
        Behaviour::reply(Reply::ok().delay(Duration::from_millis(50))),
    );
    let (limited_user, limited, _) = webhook(&c, &receiver.url("/limited")).await;
    let (fifo_user, fifo, _) = webhook(&c, &receiver.url("/fifo")).await;
    let (other_user, _, _) = webhook(&c, &receiver.url("/other")).await;
    let mut config = test_config(&db);
    config.poll_interval = Duration::from_secs(600);
    let app = start(config).await;
    let wait = Duration::from_secs(60);
    // Running, with nothing gated (the claimer has read the gates once).
    emit_many(&c, "order.created", other_user, 1).await;
    receiver.wait_for_count(1, wait).await;

    c.execute(
        "update herald.user_webhooks set rate_limit_per_s = 0.001, rate_limit_burst = 2
          where id = $1",
        &[&limited],
    )
    .await
    .unwrap();
    emit_many(&c, "order.created", limited_user, 5).await;
    eventually("the burst of the new limit delivered", wait, || async {
        arrived(&receiver, "/limited") == 2
    })
    .await;

    c.execute(
        "update herald.user_webhooks set ordering = 'fifo' where id = $1",
        &[&fifo],
    )
    .await
    .unwrap();
    emit_many(&c, "order.created", fifo_user, 4).await;
    eventually("the FIFO webhook's deliveries delivered", wait, || async {
        arrived(&receiver, "/fifo") == 4
    })
    .await;
    assert_eq!(receiver.max_in_flight("/fifo"), 1, "one at a time");

    // The limit still holds: the other webhook's next delivery went, the limited one's did not.
    emit_many(&c, "order.created", other_user, 1).await;
    eventually("the other webhook's delivery", wait, || async {
        arrived(&receiver, "/other") == 2
    })
    .await;
    assert_eq!(
        arrived(&receiver, "/limited"),
        2,
        "at 0.001/s after the burst"
    );
    app.shutdown().await;
}

/// A rate-limited webhook (gated for good) does not make a busy worker read the gates on every
/// claim: 3,000 deliveries to other webhooks take hundreds of claims (a batch per round, and
/// the 2 ms polls of the linger), and the gates are read a few times a second.
#[tokio::test]
async fn gates_are_not_read_on_every_claim_while_a_webhook_is_limited() {
    let Scene { db, c, receiver } = Scene::new().await;
    receiver.set_behaviour(
        "/busy",
        Behaviour::reply(Reply::ok().delay(Duration::from_millis(5))),
    );
    let (_, limited, _) = webhook(&c, &receiver.url("/limited")).await;
    c.execute(
        "update herald.user_webhooks set rate_limit_per_s = 1, rate_limit_burst = 1 where id = $1",
        &[&limited],
    )
    .await
    .unwrap();
    let (user, _, _) = webhook(&c, &receiver.url("/busy")).await;
    let mut config = test_config(&db);
    config.max_in_flight = 16;
    let app = start(config).await;
    let started = std::time::Instant::now();
    for _ in 0..30 {
        emit_many(&c, "order.created", user, 100).await;
    }
    receiver
        .wait_for_count(3000, Duration::from_secs(120))
        .await;
    let seconds = started.elapsed().as_secs_f64();
    let text = app.metrics.render();
    let claims = metric(&text, "herald_claim_duration_seconds_count");
    let reads = metric(&text, "herald_gate_reads_total");
    assert!(claims >= 200.0, "{claims} claims for 3,000 deliveries");
    // At most one a second (the limited claim's rest), one per poll and a few others.
    assert!(
        reads <= 10.0 + 4.0 * seconds && reads * 4.0 < claims,
        "{reads} reads of the gates for {claims} claims in {seconds:.1} s"
    );
    app.shutdown().await;
}
