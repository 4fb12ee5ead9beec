//! Nothing uncommitted is sent: rolled-back events never reach a receiver, and an event whose
//! transaction stays open is sent only after its commit.

use std::time::{Duration, Instant};

use crate::{
    app::{emit_many, start, test_config, webhook, Scene},
    harness::count,
    receiver::requests_on,
};

#[tokio::test]
async fn rollback_events_are_never_sent_and_a_late_commit_is_sent_after_it() {
    let Scene { db, c, receiver } = Scene::new().await;
    let (rolled_back_user, _, _) = webhook(&c, &receiver.url("/rolled-back")).await;
    let (late_user, _, _) = webhook(&c, &receiver.url("/late")).await;
    let (other_user, _, _) = webhook(&c, &receiver.url("/other")).await;
    let mut config = test_config(&db);
    // The worker looks at the queue often while the transaction is open.
    config.poll_interval = Duration::from_millis(100);
    let app = start(config).await;
    let tx = db.client().await;

    // 1. Whole transactions that roll back, by ROLLBACK and by an error.
    tx.batch_execute("begin").await.unwrap();
    emit_many(&tx, "order.created", rolled_back_user, 100).await;
    tx.batch_execute("rollback").await.unwrap();
    tx.batch_execute("begin").await.unwrap();
    emit_many(&tx, "order.created", rolled_back_user, 100).await;
    assert!(tx.batch_execute("select 1 / 0").await.is_err());
    tx.batch_execute("rollback").await.unwrap();
    // 2. A savepoint rolled back inside a transaction that commits: only the rest is sent.
    tx.batch_execute("begin").await.unwrap();
    tx.batch_execute("savepoint s").await.unwrap();
    emit_many(&tx, "order.created", rolled_back_user, 10).await;
    tx.batch_execute("rollback to savepoint s").await.unwrap();
    let committed = emit_many(&tx, "order.created", other_user, 1).await;
    tx.batch_execute("commit").await.unwrap();

    // 3. A transaction held open for 2 s; meanwhile other events flow.
    tx.batch_execute("begin").await.unwrap();
    let late = emit_many(&tx, "order.created", late_user, 1).await;
    let opened = Instant::now();
    let during = emit_many(&c, "order.created", other_user, 5).await;
    receiver
        .wait_for(|r| requests_on(r, "/other") == 6, Duration::from_secs(5))
        .await
        .expect("events committed meanwhile are delivered while the transaction is open");
    // The scenario, not synchronisation: the transaction stays open for 2 s.
    tokio::time::sleep(Duration::from_secs(2).saturating_sub(opened.elapsed())).await;
    assert_eq!(
        count(&c, "select count(*) from herald.webhook_deliveries").await,
        6,
        "the open transaction's rows are invisible"
    );
    let committed_at = tokio::time::Instant::now();
    tx.batch_execute("commit").await.unwrap();
    let requests = receiver
        .wait_for(
            |r| r.iter().any(|r| r.path == "/late"),
            Duration::from_secs(5),
        )
        .await
        .expect("the late commit is delivered");
    let late_request = requests.iter().find(|r| r.path == "/late").unwrap();
    assert_eq!(
        late_request.webhook_id(),
        Some(late[0].to_string().as_str())
    );
    assert!(
        late_request.received_at > committed_at,
        "sent before its commit"
    );
    println!(
        "rollback: late commit delivered {:?} after the commit",
        late_request.received_at - committed_at
    );

    // Nothing from a rolled-back transaction or savepoint, ever: the sweeps above ran many
    // times while it could have been seen. Deliveries: 1 + 5 + 1.
    let paths: Vec<String> = receiver.requests().iter().map(|r| r.path.clone()).collect();
    assert!(!paths.iter().any(|p| p == "/rolled-back"), "{paths:?}");
    assert_eq!(paths.len(), 7, "{paths:?}");
    assert_eq!(
        count(&c, "select count(*) from herald.events").await,
        7,
        "rolled-back events left no rows"
    );
    let _ = (committed, during);
    app.shutdown().await;
}
