//! Several `herald run` processes against one database: exactly-once in the normal path, one
//! leader, graceful shutdown, reconnects.

use std::{
    collections::HashMap,
    sync::atomic::{AtomicI64, Ordering},
    time::Duration,
};

use crate::{
    app::{emit_many, webhook, Scene},
    harness::{count, eventually, eventually_count, value, DELIVERED},
    process::HeraldProcess,
    receiver::{Behaviour, Reply, Route},
};

#[tokio::test]
async fn replicas_deliver_every_event_exactly_once_with_one_leader() {
    let Scene { db, c, receiver } = Scene::new().await;
    let mut users = Vec::new();
    for i in 0..10 {
        users.push(webhook(&c, &receiver.url(&format!("/hook/{i}"))).await.0);
    }
    let replicas: Vec<HeraldProcess> = (0..3).map(|_| HeraldProcess::spawn(&db.url, &[])).collect();
    for r in &replicas {
        r.worker_id().await;
    }
    for u in &users {
        emit_many(&c, "order.created", *u, 500).await;
    }
    let max_leaders = AtomicI64::new(0);
    eventually("5,000 delivered", Duration::from_secs(60), || async {
        max_leaders.fetch_max(
            count(&c, "select count(*) from herald.leader").await,
            Ordering::Relaxed,
        );
        count(
            &c,
            "select count(*) from herald.webhook_deliveries where status = 'delivered'",
        )
        .await
            == 5000
    })
    .await;
    let max_leaders = max_leaders.into_inner();
    assert_eq!(max_leaders, 1, "exactly one leader at any moment");
    let by_id = receiver.counts_by_id();
    assert_eq!(by_id.len(), 5000);
    let dupes: HashMap<_, _> = by_id.iter().filter(|(_, n)| **n > 1).collect();
    assert!(dupes.is_empty(), "delivered more than once: {dupes:?}");
    // One attempt per delivery: no replica sent a row another one had.
    assert_eq!(
        count(&c, "select count(*) from herald.delivery_attempts").await,
        5000
    );
}

#[tokio::test]
async fn replica_sigterm_drains_within_grace_and_others_redeliver_the_rest() {
    let Scene { db, c, receiver } = Scene::new().await;
    // Slow: each request takes 300 ms; some take far longer than the grace period.
    receiver.set_behaviour(
        "/slow",
        Behaviour::reply(Reply::ok().delay(Duration::from_millis(300))),
    );
    receiver.set_behaviour(
        "/slower",
        Behaviour::reply(Reply::ok().delay(Duration::from_secs(120))),
    );
    let (slow_user, _, _) = webhook(&c, &receiver.url("/slow")).await;
    let (slower_user, _, _) = webhook(&c, &receiver.url("/slower")).await;
    let grace = [("HERALD_SHUTDOWN_GRACE", "2s"), ("HERALD_LEASE", "40s")];
    let mut first = HeraldProcess::spawn(&db.url, &grace);
    first.worker_id().await;
    emit_many(&c, "order.created", slow_user, 40).await;
    emit_many(&c, "order.created", slower_user, 4).await;
    receiver
        .wait_for(|r| r.len() >= 20, Duration::from_secs(60))
        .await
        .expect("the drain is under way");
    first.signal(libc::SIGTERM);
    // Grace (2 s), then a bounded moment to record what came back and to resign; generous for
    // a loaded machine, and still far short of the 120 s requests it must not wait for.
    let code = first.wait(Duration::from_secs(30)).await;
    assert_eq!(
        code,
        Some(0),
        "exit 0 within the grace period:\n{}",
        first.log_text()
    );
    // Every request that completed (the slow ones answered before the exit) is recorded.
    let answered_slow = receiver
        .requests()
        .iter()
        .filter(|r| r.path == "/slow")
        .count() as i64;
    let recorded = count(&c, "select count(*) from herald.delivery_attempts").await;
    assert_eq!(
        recorded, answered_slow,
        "every answered request has its attempt recorded; the 120 s ones were abandoned"
    );
    assert_eq!(
        count(
            &c,
            "select count(*) from herald.webhook_deliveries where status = 'failed'"
        )
        .await,
        0,
        "nothing is marked failed for being interrupted"
    );
    // A surviving replica delivers the rest, the interrupted ones once their lease ends.
    c.execute(
        "update herald.queue q set due_at = now()
           from herald.deliveries d
          where d.id = q.delivery_id and d.status = 'pending' and q.due_at > now()",
        &[],
    )
    .await
    .unwrap();
    // A path's own behaviour wins over `Route::All`: set both paths to answer at once.
    receiver.set_behaviour("/slow", Behaviour::status(204));
    receiver.set_behaviour("/slower", Behaviour::status(204));
    let second = HeraldProcess::spawn(&db.url, &[]);
    second.worker_id().await;
    eventually_count(&c, DELIVERED, 44, "all delivered by the survivor").await;
}

#[tokio::test]
async fn replicas_ride_through_terminated_backends() {
    let Scene { db, c, receiver } = Scene::new().await;
    receiver.set_behaviour(
        Route::All,
        Behaviour::reply(Reply::ok().delay(Duration::from_millis(5))),
    );
    let mut users = Vec::new();
    for i in 0..4 {
        users.push(webhook(&c, &receiver.url(&format!("/h/{i}"))).await.0);
    }
    let herald = HeraldProcess::spawn(&db.url, &[]);
    herald.worker_id().await;
    for u in &users {
        emit_many(&c, "order.created", *u, 500).await;
    }
    receiver
        .wait_for(|r| r.len() >= 200, Duration::from_secs(60))
        .await
        .expect("drain under way");
    let killed: i64 = value(
        &c,
        "select count(*) from (select pg_terminate_backend(pid) from pg_stat_activity
              where datname = current_database() and application_name like 'herald%') t",
        &[],
    )
    .await;
    assert!(killed >= 2, "terminated {killed} backends");
    eventually_count(&c, DELIVERED, 2000, "all delivered after the outage").await;
    let log = herald.log_text();
    assert!(!log.contains("panicked"), "{log}");
    let lost = log.matches("listener connection lost").count();
    let back = log.matches("listener reconnected").count();
    assert_eq!(
        (lost, back),
        (1, 1),
        "the outage and the recovery are logged once:\n{log}"
    );
}
