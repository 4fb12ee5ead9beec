//! `herald run` end to end: real PostgreSQL, a real receiver on loopback.

use std::{
    collections::HashSet,
    time::{Duration, Instant},
};

mod targets;

use crate::{
    app::{
        delivery_state, emit_many, eventually_status, retrying, start, test_config, webhook, Scene,
    },
    harness::{count, eventually, eventually_count, eventually_some, value, DELIVERED},
    receiver::{requests_on, Behaviour, Reply, Route},
};

#[tokio::test]
async fn pipeline_delivers_a_thousand_events_exactly_once_signed() {
    let Scene { db, c, receiver } = Scene::new().await;
    let (user, _, secret) = webhook(&c, &receiver.url("/hook")).await;
    let app = start(test_config(&db)).await;

    let ids = emit_many(&c, "order.created", user, 1000).await;
    let requests = receiver.wait_for_count(1000, Duration::from_secs(30)).await;
    eventually_count(&c, DELIVERED, 1000, "all rows delivered").await;

    let expected: HashSet<String> = ids.iter().map(|id| id.to_string()).collect();
    let mut seen = HashSet::new();
    for r in &requests {
        assert_eq!(r.method, http::Method::POST);
        assert_eq!(r.header("content-type"), Some("application/json"));
        assert_eq!(r.header("user-agent"), Some(herald::USER_AGENT));
        let id = r.webhook_id().expect("webhook-id").to_owned();
        assert!(expected.contains(&id), "unexpected webhook-id {id}");
        assert!(seen.insert(id), "delivered twice");
        let ts = r.webhook_timestamp().expect("webhook-timestamp");
        assert!((ts - chrono::Utc::now().timestamp()).abs() < 60);
        assert!(r.verify(&secret), "signature verifies");
        let body = r.json();
        assert_eq!(body["type"], "order.created");
        assert!(body["data"]["n"].is_number());
    }
    assert_eq!(seen.len(), 1000);
    // One attempt row per attempt, with its duration and status.
    assert_eq!(
        count(
            &c,
            "select count(*) from herald.delivery_attempts
              where status_code = 204 and attempt = 1 and duration_ms >= 0 and error is null"
        )
        .await,
        1000
    );
    assert_eq!(
        count(
            &c,
            "select count(*) from herald.webhook_deliveries where attempt_count = 1"
        )
        .await,
        1000
    );
    app.shutdown().await;
}

#[tokio::test]
async fn pipeline_retries_on_schedule_then_exhausts() {
    let Scene { db, c, receiver } = Scene::new().await;
    receiver.set_behaviour(Route::All, Behaviour::status(500));
    let (user, _, _) = webhook(&c, &receiver.url("/down")).await;
    let app = start(retrying(&db, "0,1,1")).await;

    let ids = emit_many(&c, "order.created", user, 1).await;
    let requests = receiver.wait_for_count(3, Duration::from_secs(15)).await;
    eventually_status(&c, ids[0], "exhausted").await;
    // Exactly three attempts, each not earlier than scheduled (1 s apart).
    let gaps: Vec<Duration> = requests
        .windows(2)
        .map(|w| w[1].received_at - w[0].received_at)
        .collect();
    for gap in &gaps {
        assert!(
            *gap >= Duration::from_millis(990),
            "retried too early: {gaps:?}"
        );
    }
    let (status, attempts, code, error) = delivery_state(&c, ids[0]).await;
    assert_eq!(
        (status.as_str(), attempts, code),
        ("exhausted", 3, Some(500))
    );
    assert!(error.unwrap_or_default().contains("500"));
    assert_eq!(
        count(&c, "select count(*) from herald.delivery_attempts").await,
        3
    );
    assert_eq!(receiver.count(), 3, "no attempt after exhaustion");
    app.shutdown().await;
}

#[tokio::test]
async fn pipeline_delivers_after_two_failures() {
    let Scene { db, c, receiver } = Scene::new().await;
    receiver.set_behaviour(Route::All, Behaviour::fail_first_per_id(2, 503));
    let (user, _, _) = webhook(&c, &receiver.url("/flaky")).await;
    let app = start(retrying(&db, "0,1,1")).await;
    let ids = emit_many(&c, "order.created", user, 1).await;
    eventually_status(&c, ids[0], "delivered").await;
    let (_, attempts, code, error) = delivery_state(&c, ids[0]).await;
    assert_eq!((attempts, code, error), (3, Some(204), None));
    assert_eq!(
        count(
            &c,
            "select consecutive_failures::int8 from herald.user_webhooks"
        )
        .await,
        0,
        "a success resets the breaker"
    );
    app.shutdown().await;
}

#[tokio::test]
async fn pipeline_breaker_opens_and_its_deliveries_wait_unclaimed() {
    let Scene { db, c, receiver } = Scene::new().await;
    receiver.set_behaviour("/dead", Behaviour::status(500));
    let (user, webhook_id, _) = webhook(&c, &receiver.url("/dead")).await;
    let (witness, _, _) = webhook(&c, &receiver.url("/witness")).await;
    let mut config = retrying(&db, "0,60");
    config.breaker.threshold = 3;
    config.breaker.cooldown = Duration::from_secs(600);
    config.max_in_flight_per_webhook = 1;
    let app = start(config).await;

    emit_many(&c, "order.created", user, 3).await;
    let open = "select count(*) from herald.user_webhooks
                 where breaker_state = 'open' and breaker_until > now() and enabled
                   and disabled_at is null";
    eventually_count(&c, open, 1, "breaker open").await;
    assert_eq!(receiver.count(), 3);
    // Its retries made due again, and new events (an open breaker still gets deliveries)...
    c.execute(
        "update herald.queue set due_at = now() where webhook_id = $1",
        &[&webhook_id],
    )
    .await
    .unwrap();
    emit_many(&c, "order.created", user, 2).await;
    assert_eq!(
        count(&c, "select count(*) from herald.webhook_deliveries").await,
        5
    );
    // ...wait unclaimed: a later delivery to another webhook goes, they do not.
    emit_many(&c, "order.created", witness, 1).await;
    receiver.wait_for_count(4, Duration::from_secs(30)).await;
    assert_eq!(receiver.count(), 4, "nothing sent to the open webhook");
    assert_eq!(
        count(
            &c,
            &format!(
                "select sum(attempt_count)::int8 from herald.webhook_deliveries
                  where webhook_id = '{webhook_id}'"
            )
        )
        .await,
        3,
        "waiting uses no attempts"
    );
    let metrics = app.metrics.render();
    assert!(
        metrics.contains("herald_breaker_trips_total 1"),
        "{metrics}"
    );
    app.shutdown().await;
}

#[tokio::test]
async fn pipeline_gone_disables_the_webhook_at_once() {
    let Scene { db, c, receiver } = Scene::new().await;
    receiver.set_behaviour(Route::All, Behaviour::status(410));
    let (user, _, _) = webhook(&c, &receiver.url("/gone")).await;
    let app = start(test_config(&db)).await;
    emit_many(&c, "order.created", user, 1).await;
    let disabled = "select count(*) from herald.user_webhooks where not enabled";
    eventually_count(&c, disabled, 1, "webhook disabled").await;
    app.shutdown().await;
}

#[tokio::test]
async fn pipeline_honours_retry_after_but_never_hastens() {
    let Scene { db, c, receiver } = Scene::new().await;
    receiver.set_behaviour(
        Route::All,
        Behaviour::reply(Reply::status(429).header("retry-after", "120")),
    );
    let (user, _, _) = webhook(&c, &receiver.url("/busy")).await;
    let app = start(retrying(&db, "0,1,1")).await;
    let ids = emit_many(&c, "order.created", user, 1).await;
    eventually(
        "first attempt recorded",
        Duration::from_secs(60),
        || async { delivery_state(&c, ids[0]).await.1 == 1 },
    )
    .await;
    let ahead: f64 = c
        .query_one(
            "select extract(epoch from next_attempt_at - now())::float8
               from herald.webhook_deliveries where event_id = $1",
            &[&ids[0]],
        )
        .await
        .unwrap()
        .get(0);
    assert!(
        (110.0..=121.0).contains(&ahead),
        "Retry-After: 120 should push the retry ~120 s out, not the schedule's 1 s ({ahead})"
    );
    app.shutdown().await;
}

#[tokio::test]
async fn pipeline_keeps_healthy_webhooks_flowing_while_one_hangs() {
    let Scene { db, c, receiver } = Scene::new().await;
    receiver.set_behaviour("/hang", Behaviour::hang());
    let (hanging_user, _, _) = webhook(&c, &receiver.url("/hang")).await;
    let (healthy_user, _, _) = webhook(&c, &receiver.url("/ok")).await;
    let mut config = test_config(&db);
    config.max_in_flight = 32;
    config.max_in_flight_per_webhook = 8;
    config.http_timeout = Duration::from_secs(300);
    config.lease = Duration::from_secs(600);
    let app = start(config).await;

    // A backlog for the hanging endpoint first, so it is oldest-due.
    emit_many(&c, "order.created", hanging_user, 200).await;
    receiver
        .wait_for(|r| requests_on(r, "/hang") >= 8, Duration::from_secs(60))
        .await
        .expect("the hanging endpoint holds its 8 slots");
    let started = Instant::now();
    emit_many(&c, "order.created", healthy_user, 100).await;
    receiver
        .wait_for(|r| requests_on(r, "/ok") >= 100, Duration::from_secs(60))
        .await
        .expect("healthy deliveries arrive while the other endpoint hangs");
    // They arrived while the hanging requests were still waiting for an answer: none of those
    // has ended (their timeout is far away), so the healthy webhook did not wait behind them.
    let hanging_ended = count(
        &c,
        "select count(*) from herald.delivery_attempts a
           join herald.deliveries d on d.id = a.delivery_id
          where d.webhook_id = (select id from herald.user_webhooks where url like '%/hang')",
    )
    .await;
    assert_eq!(
        hanging_ended,
        0,
        "healthy deliveries arrived only after {:?}, once hanging attempts ended",
        started.elapsed()
    );
    // The hanging requests are all still in flight: no more than their share was sent.
    assert_eq!(
        receiver
            .requests()
            .iter()
            .filter(|r| r.path == "/hang")
            .count(),
        8,
        "the hanging webhook is capped at its per-webhook limit"
    );
    // And no transaction is held open while those HTTP calls hang (a claim that happens to be
    // running at this moment is a statement, not a transaction left open).
    let open: i64 = value(
        &c,
        "select count(*) from pg_stat_activity
              where datname = current_database() and pid <> pg_backend_pid()
                and application_name like 'herald%' and state like 'idle in transaction%'",
        &[],
    )
    .await;
    assert_eq!(open, 0, "a transaction is open during HTTP calls");
    drop(receiver);
    app.shutdown().await;
}

#[tokio::test]
async fn pipeline_sends_a_retry_within_100ms_of_being_due() {
    let Scene { db, c, receiver } = Scene::new().await;
    receiver.set_behaviour(Route::All, Behaviour::fail_first_per_id(1, 500));
    let (user, _, _) = webhook(&c, &receiver.url("/once")).await;
    let mut config = retrying(&db, "0,2");
    config.poll_interval = Duration::from_secs(1);
    let app = start(config).await;
    let ids = emit_many(&c, "order.created", user, 1).await;
    receiver.wait_for_count(1, Duration::from_secs(60)).await;
    let due: chrono::DateTime<chrono::Utc> =
        eventually_some("the failure is recorded", Duration::from_secs(60), || async {
            let r = c
                .query_one(
                    "select status, next_attempt_at from herald.webhook_deliveries where event_id = $1",
                    &[&ids[0]],
                )
                .await
                .unwrap();
            (r.get::<_, String>(0) == "failed").then(|| r.get(1))
        })
        .await;
    let requests = receiver.wait_for_count(2, Duration::from_secs(60)).await;
    let second_at =
        chrono::Utc::now() - chrono::Duration::from_std(requests[1].received_at.elapsed()).unwrap();
    let late = (second_at - due).num_milliseconds();
    assert!(
        (-5..100).contains(&late),
        "retry sent {late} ms after it was due"
    );
    app.shutdown().await;
}

/// With a 600 s safety poll only notifications deliver within the deadlines: after its LISTEN
/// connection is killed the worker reconnects, catches up, and declares itself asleep again on
/// the new connection (producers notify only sleepers).
#[tokio::test]
async fn pipeline_survives_a_killed_listener_connection() {
    let Scene { db, c, receiver } = Scene::new().await;
    let c = &c;
    let (user, _, _) = webhook(c, &receiver.url("/hook")).await;
    let mut config = test_config(&db);
    config.poll_interval = Duration::from_secs(600);
    let app = start(config).await;
    let wait = Duration::from_secs(60);
    // The listener's backend, other than `old`, once the worker's sleep flag names it.
    let asleep_on_new = |old: i32| {
        eventually_some(
            "worker asleep on a new listener connection",
            wait,
            move || async move {
                let sql = "select a.pid from pg_stat_activity a join herald.sleepers s on s.backend_pid = a.pid
                        where a.datname = current_database() and a.application_name = 'herald-listener'
                          and a.pid <> $1";
                c.query_opt(sql, &[&old])
                    .await
                    .unwrap()
                    .map(|r| r.get::<_, i32>(0))
            },
        )
    };
    let kill =
        |pid: i32| async move { c.execute("select pg_terminate_backend($1)", &[&pid]).await };
    let first = asleep_on_new(0).await;
    kill(first).await.unwrap();
    emit_many(c, "order.created", user, 10).await; // while it is away: the reconnect catches up
    receiver.wait_for_count(10, wait).await;
    // Killed while asleep with nothing to claim: without the flag on the new connection, the
    // next event would wait for the safety poll.
    let second = asleep_on_new(first).await;
    kill(second).await.unwrap();
    asleep_on_new(second).await;
    emit_many(c, "order.created", user, 1).await;
    receiver.wait_for_count(11, wait).await;
    app.shutdown().await;
}
