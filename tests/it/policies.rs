//! Delivery policies end to end: the breaker that recovers, the endpoint-wide back-off on
//! 429/503, custom headers, operational events. Real PostgreSQL, real receivers on loopback.

use std::time::Duration;

use herald::domain::retry::RetrySchedule;
use uuid::Uuid;

use crate::{
    app::{emit_many, event_type, retrying, start, test_config, webhook, webhook_for, Scene},
    harness::{count, eventually, eventually_count, TestDb, DELIVERED},
    receiver::{Behaviour, Reply, Route, TestReceiver},
};

async fn breaker_state(c: &tokio_postgres::Client, webhook: Uuid) -> (String, bool) {
    let r = c
        .query_one(
            "select breaker_state, enabled and disabled_at is null from herald.user_webhooks where id = $1",
            &[&webhook],
        )
        .await
        .expect("webhook row");
    (r.get(0), r.get(1))
}

/// A new user holding PLATFORMMANAGER.
async fn platform_manager(c: &tokio_postgres::Client) -> Uuid {
    let manager = Uuid::new_v4();
    c.execute(
        "insert into herald.user_roles (user_id, role) values ($1, 'PLATFORMMANAGER')",
        &[&manager],
    )
    .await
    .expect("grant PLATFORMMANAGER");
    manager
}

async fn make_platform(c: &tokio_postgres::Client, webhook: Uuid) {
    c.execute(
        "update herald.user_webhooks set scope = 'platform' where id = $1",
        &[&webhook],
    )
    .await
    .expect("platform scope");
}

#[tokio::test]
async fn policies_breaker_opens_probes_and_closes_then_the_backlog_flows() {
    let Scene { db, c, receiver } = Scene::new().await;
    receiver.set_behaviour(Route::All, Behaviour::status(500));
    let (user, hook, _) = webhook(&c, &receiver.url("/down")).await;
    let mut config = test_config(&db);
    // Retries are soon and many: only the breaker holds deliveries back.
    config.retry_schedule = "0,1,1,1,1,1,1,1,1,1,1,1".parse::<RetrySchedule>().unwrap();
    config.breaker.threshold = 3;
    config.breaker.cooldown = Duration::from_millis(500);
    config.max_in_flight_per_webhook = 1;
    let app = start(config).await;

    emit_many(&c, "order.created", user, 3).await;
    eventually("breaker open", Duration::from_secs(30), || async {
        breaker_state(&c, hook).await.0 != "closed"
    })
    .await;
    let opened_after = receiver.count();
    assert_eq!(opened_after, 3, "three failures open the breaker");
    // Deliveries keep arriving while it is open, and wait.
    emit_many(&c, "order.created", user, 20).await;
    assert_eq!(
        count(&c, "select count(*) from herald.webhook_deliveries").await,
        23
    );
    // Two probes fail (the cool-down doubles), then the endpoint comes back.
    receiver
        .wait_for_total(opened_after + 2, Duration::from_secs(30))
        .await;
    receiver.set_behaviour(Route::All, Behaviour::reply(Reply::ok()));
    eventually_count(&c, DELIVERED, 23, "backlog delivered").await;
    assert_eq!(breaker_state(&c, hook).await, ("closed".into(), true));
    assert_eq!(
        count(
            &c,
            "select count(*) from herald.webhook_deliveries where status = 'exhausted'"
        )
        .await,
        0
    );
    // While open, only probes were sent: one at a time, at least a cool-down apart.
    let requests = receiver.requests();
    let failed: Vec<_> = requests[..requests.len() - 23].to_vec();
    assert!(failed.len() >= 5, "{} failed requests", failed.len());
    for w in failed[2..].windows(2) {
        assert!(
            w[1].received_at - w[0].received_at >= Duration::from_millis(450),
            "probes closer than the cool-down"
        );
    }
    // Every attempt is either a failure recorded above or one success per delivery.
    assert_eq!(
        count(
            &c,
            "select sum(attempt_count)::int8 from herald.webhook_deliveries"
        )
        .await,
        requests.len() as i64
    );
    // The breaker told platform webhooks (none here: the events are recorded, nothing queued).
    for t in [
        "herald.endpoint.breaker_opened",
        "herald.endpoint.recovered",
    ] {
        assert!(
            count(
                &c,
                &format!("select count(*) from herald.events where event_type = '{t}'")
            )
            .await
                >= 1,
            "{t} recorded"
        );
    }
    let metrics = app.metrics.render();
    assert!(metrics.contains("herald_breaker_trips_total"), "{metrics}");
    app.shutdown().await;
}

#[tokio::test]
async fn policies_breaker_disables_after_staying_open_and_tells_platform_webhooks() {
    let (db, c) = TestDb::with_client().await;
    let receiver = TestReceiver::start().await;
    receiver.set_behaviour("/dead", Behaviour::status(500));
    event_type(&c, "ops.ping", "platform").await;
    let manager = platform_manager(&c).await;
    // Both platform webhooks take every platform event: the dead one is told nothing about
    // itself, the healthy one is told everything.
    let (_, dead, _) = webhook_for(&c, manager, &receiver.url("/dead")).await;
    let (_, ops, _) = webhook_for(&c, manager, &receiver.url("/ops")).await;
    make_platform(&c, dead).await;
    make_platform(&c, ops).await;
    let mut config = retrying(&db, "0,1,1,1,1,1,1,1,1,1,1,1");
    config.breaker.threshold = 2;
    config.breaker.cooldown = Duration::from_millis(500);
    config.breaker.disable_after = Duration::from_secs(2);
    config.max_in_flight_per_webhook = 1;
    let app = start(config).await;

    c.execute(
        "select herald.emit('ops.ping', $1, null, jsonb_build_object('n', g)) from generate_series(1, 6) g",
        &[&manager],
    )
    .await
    .unwrap();
    eventually("dead webhook disabled", Duration::from_secs(60), || async {
        !breaker_state(&c, dead).await.1
    })
    .await;
    eventually(
        "its waiting deliveries exhausted",
        Duration::from_secs(30),
        || async {
            count(
                &c,
                &format!(
                    "select count(*) from herald.webhook_deliveries
                      where webhook_id = '{dead}' and status = 'exhausted'
                        and last_error = 'webhook disabled'"
                ),
            )
            .await
                >= 4
        },
    )
    .await;
    let told = |t: &'static str| {
        let receiver = &receiver;
        async move {
            receiver.requests().iter().any(|r| {
                r.path == "/ops"
                    && r.json()["type"] == t
                    && r.json()["data"]["webhook_id"] == dead.to_string()
            })
        }
    };
    eventually("ops told of the disabling", Duration::from_secs(30), || {
        told("herald.endpoint.disabled")
    })
    .await;
    assert!(told("herald.endpoint.breaker_opened").await);
    assert_eq!(
        count(
            &c,
            &format!(
                "select count(*) from herald.webhook_deliveries
                  where webhook_id = '{dead}' and event_type like 'herald.%'"
            )
        )
        .await,
        0,
        "an operational event never goes to the webhook it is about"
    );
    assert!(breaker_state(&c, ops).await.1);
    // /metrics counts webhooks by breaker state, with no per-webhook label.
    eventually("breaker gauges", Duration::from_secs(30), || async {
        let m = app.metrics.render();
        m.contains("herald_webhooks_by_breaker_state{state=\"disabled\"} 1")
            && m.contains("herald_webhooks_by_breaker_state{state=\"closed\"} 1")
    })
    .await;
    app.shutdown().await;
}

#[tokio::test]
async fn policies_429_backs_off_the_whole_endpoint_across_replicas() {
    let Scene { db, c, receiver } = Scene::new().await;
    receiver.set_behaviour(
        Route::All,
        Behaviour::Sequence(vec![
            Reply::status(429).header("retry-after", "2"),
            Reply::ok(),
        ]),
    );
    let (user, _, _) = webhook(&c, &receiver.url("/busy")).await;
    let mut config = retrying(&db, "0,0,0,0");
    config.max_in_flight_per_webhook = 1;
    let replicas = [
        start(config.clone()).await,
        start(config.clone()).await,
        start(config).await,
    ];

    emit_many(&c, "order.created", user, 30).await;
    let requests = receiver.wait_for_count(31, Duration::from_secs(60)).await;
    let first = requests[0].received_at;
    // Requests already in flight when the 429 came may land at once; none is sent after it
    // until Retry-After has passed.
    let later: Vec<Duration> = requests
        .iter()
        .map(|r| r.received_at - first)
        .filter(|gap| *gap > Duration::from_millis(500))
        .collect();
    let resumed = later
        .iter()
        .min()
        .copied()
        .expect("requests after the wait");
    eprintln!("first request after the 429 (Retry-After: 2): {resumed:?}");
    assert!(
        resumed >= Duration::from_millis(1800),
        "a request {resumed:?} after the 429 asking for 2 s"
    );
    assert!(
        resumed <= Duration::from_secs(5),
        "the endpoint waited {resumed:?}, far longer than asked"
    );
    eventually_count(&c, DELIVERED, 30, "all delivered").await;
    // Waiting cost the other deliveries no attempts.
    assert_eq!(
        count(
            &c,
            "select sum(attempt_count)::int8 from herald.webhook_deliveries"
        )
        .await,
        31
    );
    for app in replicas {
        app.shutdown().await;
    }
}

#[tokio::test]
async fn policies_429_without_retry_after_backs_off_longer_each_time_and_resets() {
    let Scene { db, c, receiver } = Scene::new().await;
    receiver.set_behaviour(
        Route::All,
        Behaviour::Sequence(vec![
            Reply::status(429),
            Reply::status(429),
            Reply::status(429),
            Reply::ok(),
        ]),
    );
    let (user, hook, _) = webhook(&c, &receiver.url("/busy")).await;
    let mut config = retrying(&db, "0,0,0,0,0,0");
    config.max_in_flight_per_webhook = 1;
    let app = start(config).await;
    emit_many(&c, "order.created", user, 1).await;
    let requests = receiver.wait_for_count(4, Duration::from_secs(60)).await;
    let gaps: Vec<Duration> = requests
        .windows(2)
        .map(|w| w[1].received_at - w[0].received_at)
        .collect();
    // 1 s, 2 s, 4 s (no header: the wait doubles while 429s continue).
    assert!(gaps[0] >= Duration::from_millis(950), "{gaps:?}");
    assert!(gaps[1] >= Duration::from_millis(1950), "{gaps:?}");
    assert!(gaps[2] >= Duration::from_millis(3900), "{gaps:?}");
    eventually_count(
        &c,
        &format!(
            "select count(*) from herald.user_webhooks
                  where id = '{hook}' and backoff_level = 0 and backoff_until is null"
        ),
        1,
        "reset after the success",
    )
    .await;
    assert_eq!(
        count(&c, "select count(*) from herald.webhook_gates").await,
        0
    );
    app.shutdown().await;
}

#[tokio::test]
async fn policies_custom_headers_arrive_on_every_attempt_and_never_override() {
    let Scene { db, c, receiver } = Scene::new().await;
    receiver.set_behaviour(Route::All, Behaviour::fail_first_per_id(1, 500));
    let (user, hook, _) = webhook(&c, &receiver.url("/h")).await;
    c.execute(
        "update herald.user_webhooks set headers = '{\"X-Team\": \"billing\", \"Authorization\": \"Bearer abc\"}' where id = $1",
        &[&hook],
    )
    .await
    .unwrap();
    // SQL refuses a header Herald sets itself, naming it.
    let err = c
        .execute(
            "update herald.user_webhooks set headers = '{\"Webhook-Signature\": \"x\"}' where id = $1",
            &[&hook],
        )
        .await
        .expect_err("refused");
    assert!(format!("{err:?}").contains("Webhook-Signature"), "{err:?}");
    let app = start(retrying(&db, "0,0")).await;
    emit_many(&c, "order.created", user, 1).await;
    let requests = receiver.wait_for_count(2, Duration::from_secs(30)).await;
    for r in &requests {
        assert_eq!(r.header("x-team"), Some("billing"));
        assert_eq!(r.header("authorization"), Some("Bearer abc"));
        assert_eq!(r.header("content-type"), Some("application/json"));
        assert_eq!(r.headers.get_all("webhook-signature").iter().count(), 1);
    }
    app.shutdown().await;
}

#[tokio::test]
async fn policies_an_exhausted_delivery_is_told_to_platform_webhooks() {
    let Scene { db, c, receiver } = Scene::new().await;
    receiver.set_behaviour("/down", Behaviour::status(500));
    let (user, hook, _) = webhook(&c, &receiver.url("/down")).await;
    let manager = platform_manager(&c).await;
    let (_, ops, _) = webhook_for(&c, manager, &receiver.url("/ops")).await;
    make_platform(&c, ops).await;
    let app = start(retrying(&db, "0")).await;
    let ids = emit_many(&c, "order.created", user, 1).await;
    let told = receiver
        .wait_for(
            |reqs| {
                reqs.iter()
                    .any(|r| r.path == "/ops" && r.json()["type"] == "herald.delivery.exhausted")
            },
            Duration::from_secs(30),
        )
        .await
        .expect("ops told");
    let event = told
        .iter()
        .find(|r| r.path == "/ops")
        .expect("the event")
        .json();
    assert_eq!(event["data"]["webhook_id"], hook.to_string());
    assert_eq!(event["data"]["user_id"], user.to_string());
    assert_eq!(event["data"]["event_id"], ids[0].to_string());
    assert_eq!(event["data"]["last_status_code"], 500);
    assert!(
        event["data"]["reason"]
            .as_str()
            .is_some_and(|r| r.starts_with("HTTP 500")),
        "{event}"
    );
    app.shutdown().await;
}
