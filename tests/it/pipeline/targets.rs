//! Where `herald run` refuses to send: private targets at connect time, and redirects.

use std::time::Duration;

use herald::domain::retry::RetrySchedule;

use crate::{
    app::{delivery_state, emit_many, retrying, start, test_config, webhook, Scene},
    harness::{count, eventually, eventually_count},
    receiver::{Behaviour, Reply, Route},
};

#[tokio::test]
async fn pipeline_refuses_private_targets_at_connect_time() {
    let Scene { db, c, receiver } = Scene::new().await;
    let port = receiver.addr().port();
    let targets = [
        format!("http://127.0.0.1:{port}/"),
        "http://10.0.0.1/".to_owned(),
        "http://169.254.169.254/latest/meta-data".to_owned(),
        format!("http://[::1]:{port}/"),
        format!("http://[::ffff:127.0.0.1]:{port}/"),
        format!("http://localhost:{port}/"),
    ];
    let mut users = Vec::new();
    for t in &targets {
        users.push(webhook(&c, t).await.0);
    }
    let mut config = test_config(&db);
    config.allow_private_targets = false;
    config.retry_schedule = "0".parse::<RetrySchedule>().unwrap();
    let app = start(config).await;
    for u in &users {
        emit_many(&c, "order.created", *u, 1).await;
    }
    eventually_count(
        &c,
        "select count(*) from herald.webhook_deliveries
              where status = 'exhausted' and last_error like 'refused:%'",
        targets.len() as i64,
        "all refused and recorded",
    )
    .await;
    assert_eq!(receiver.count(), 0, "nothing reached the loopback receiver");
    assert_eq!(
        count(
            &c,
            "select count(*) from herald.delivery_attempts where error like 'refused:%'"
        )
        .await,
        targets.len() as i64
    );
    app.shutdown().await;
}

#[tokio::test]
async fn pipeline_does_not_follow_redirects() {
    let Scene { db, c, receiver } = Scene::new().await;
    receiver.set_behaviour(
        Route::All,
        Behaviour::reply(Reply::status(301).header("location", "http://169.254.169.254/")),
    );
    let (user, _, _) = webhook(&c, &receiver.url("/moved")).await;
    let app = start(retrying(&db, "0")).await;
    let ids = emit_many(&c, "order.created", user, 1).await;
    eventually("exhausted", Duration::from_secs(60), || async {
        delivery_state(&c, ids[0]).await.0 == "exhausted"
    })
    .await;
    let (_, _, code, error) = delivery_state(&c, ids[0]).await;
    assert_eq!(code, Some(301));
    assert!(error.unwrap().contains("redirect"), "clear error");
    assert_eq!(receiver.count(), 1);
    app.shutdown().await;
}
