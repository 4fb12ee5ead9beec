//! The admin API together with the worker: `herald run` in-process (pipeline, leader and API on
//! port 0), driven over HTTP, delivering to a real receiver.

use std::time::Duration;

use http::StatusCode;
use serde_json::{json, Value};
use uuid::Uuid;

use crate::{
    admin::AdminApi,
    app::{retrying, start, test_config},
    harness::{count, eventually, eventually_count, eventually_delivered, TestDb, DELIVERED},
    receiver::{Behaviour, Route, TestReceiver},
};
use herald::domain::secret::WebhookSecret;

/// Registers `order.created`, and a webhook to `url` for a new user: the user and the answer.
async fn user_with_webhook(api: &AdminApi, url: String) -> (Uuid, (StatusCode, Value)) {
    api.register_type("order.created", "own").await;
    let user = Uuid::new_v4();
    (user, api.create_webhook(user, json!({"url": url})).await)
}

async fn emit(api: &AdminApi, user: Uuid) {
    let (status, body) = api
        .post(
            "/v1/events",
            json!({"event_type": "order.created", "user_id": user, "data": {"x": 1}}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
}

#[tokio::test]
async fn rotation_signs_with_both_secrets_during_grace_and_the_new_one_after() {
    let (db, c) = TestDb::with_client().await;
    let receiver = TestReceiver::start().await;
    let app = start(test_config(&db)).await;
    let api = AdminApi::at(app.api_addr);
    let (user, (status, created)) = user_with_webhook(&api, receiver.url("/rot")).await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let id = created["id"].as_str().unwrap().to_owned();
    let old: WebhookSecret = created["secret"].as_str().unwrap().parse().unwrap();

    emit(&api, user).await;
    let r = receiver.wait_for_count(1, Duration::from_secs(60)).await;
    assert!(r[0].verify(&old));
    assert_eq!(
        r[0].header("webhook-signature").unwrap().split(' ').count(),
        1
    );

    let (status, rotated) = api.rotate(user, &id, json!({"grace_seconds": 2})).await;
    assert_eq!(status, StatusCode::OK, "{rotated}");
    let new: WebhookSecret = rotated["secret"].as_str().unwrap().parse().unwrap();
    emit(&api, user).await;
    let r = receiver.wait_for_count(2, Duration::from_secs(60)).await;
    let header = r[1].header("webhook-signature").unwrap();
    assert_eq!(
        header.split(' ').count(),
        2,
        "both signatures during grace: {header}"
    );
    assert!(r[1].verify(&new) && r[1].verify(&old));

    eventually_count(
        &c,
        "select count(*) from herald.user_webhooks where previous_secret_expires_at <= now()",
        1,
        "the grace period ends",
    )
    .await;
    emit(&api, user).await;
    let r = receiver.wait_for_count(3, Duration::from_secs(60)).await;
    assert!(r[2].verify(&new));
    assert!(!r[2].verify(&old), "the old secret no longer signs");
    app.shutdown().await;
}

#[tokio::test]
async fn recover_requeues_exhausted_deliveries_and_the_worker_delivers_them() {
    let (db, c) = TestDb::with_client().await;
    let receiver = TestReceiver::start().await;
    receiver.set_behaviour(Route::All, Behaviour::status(500));
    let app = start(retrying(&db, "0")).await;
    let api = AdminApi::at(app.api_addr);
    let (user, (_, created)) = user_with_webhook(&api, receiver.url("/down")).await;
    let id = created["id"].as_str().unwrap().to_owned();
    for _ in 0..3 {
        emit(&api, user).await;
    }
    eventually_count(
        &c,
        "select count(*) from herald.webhook_deliveries where status = 'exhausted'",
        3,
        "exhausted",
    )
    .await;
    receiver.set_behaviour(Route::All, Behaviour::status(204));
    let since = (chrono::Utc::now() - chrono::Duration::hours(1)).to_rfc3339();
    let (status, body) = api
        .post(
            &format!("/v1/users/{user}/webhooks/{id}/recover"),
            json!({"since": since}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["requeued"], 3);
    eventually_delivered(
        &c,
        3,
        "recovered deliveries delivered",
        Duration::from_secs(60),
    )
    .await;
    app.shutdown().await;
}

fn metric(text: &str, name: &str) -> f64 {
    metric_if_present(text, name).unwrap_or_else(|| panic!("metric {name} missing in:\n{text}"))
}

fn metric_if_present(text: &str, name: &str) -> Option<f64> {
    text.lines()
        .find(|l| l.starts_with(name) && l[name.len()..].starts_with(' '))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
}

#[tokio::test]
async fn metrics_after_a_drain_match_the_database() {
    let (db, c) = TestDb::with_client().await;
    let receiver = TestReceiver::start().await;
    receiver.set_behaviour("/down", Behaviour::status(500));
    let mut config = retrying(&db, "0,0");
    // No safety poll within the test: what wakes the sleeping worker is the notification.
    config.poll_interval = Duration::from_secs(600);
    let app = start(config).await;
    let api = AdminApi::at(app.api_addr);
    crate::app::event_type(&c, "order.created", "own").await;
    let (ok_user, _, _) = crate::app::webhook(&c, &receiver.url("/ok")).await;
    let (down_user, _, _) = crate::app::webhook(&c, &receiver.url("/down")).await;
    // A sleeping worker is woken by the notification of a commit. An event that commits just
    // as the worker declares itself asleep is taken by its last look instead (no wake-up), so
    // try a few single events, each once the worker sleeps again, until one was a wake-up.
    let mut probes = 0;
    let mut woken = false;
    while probes < 10 && !woken {
        eventually("the worker sleeps", Duration::from_secs(60), || async {
            count(&c, "select count(*) from herald.sleepers").await >= 1
        })
        .await;
        crate::app::emit_many(&c, "order.created", ok_user, 1).await;
        probes += 1;
        eventually_count(&c, DELIVERED, probes, "the probe delivered").await;
        let m = api.text("/metrics").await;
        woken = metric_if_present(&m, "herald_wakeups_total{source=\"notify\"}")
            .is_some_and(|n| n >= 1.0);
    }
    assert!(
        woken,
        "no notification woke the sleeping worker in {probes} events"
    );
    crate::app::emit_many(&c, "order.created", ok_user, 50).await;
    crate::app::emit_many(&c, "order.created", down_user, 2).await;
    eventually_count(
        &c,
        "select count(*) from herald.webhook_deliveries where status in ('delivered', 'exhausted')",
        52 + probes,
        "drained",
    )
    .await;
    let delivered = count(
        &c,
        "select count(*) from herald.webhook_deliveries where status = 'delivered'",
    )
    .await;
    let exhausted = count(
        &c,
        "select count(*) from herald.webhook_deliveries where status = 'exhausted'",
    )
    .await;
    let attempts = count(&c, "select count(*) from herald.delivery_attempts").await;
    // The counters move just after the result commits: wait (with a generous deadline) for the
    // leader gauge and for the counters to catch up with the database, then assert each.
    let expected = [
        (
            "herald_deliveries_total{outcome=\"delivered\"}",
            delivered as f64,
        ),
        (
            "herald_deliveries_total{outcome=\"exhausted\"}",
            exhausted as f64,
        ),
        // The dead webhook's two deliveries each failed once before being exhausted.
        ("herald_deliveries_total{outcome=\"failed\"}", 2.0),
        ("herald_attempt_duration_seconds_count", attempts as f64),
        ("herald_delivery_latency_seconds_count", delivered as f64),
        ("herald_in_flight", 0.0),
    ];
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    let m = loop {
        let m = api.text("/metrics").await;
        let caught_up = m.contains("herald_leader 1")
            && expected
                .iter()
                .all(|(name, value)| metric_if_present(&m, name) == Some(*value));
        if caught_up || tokio::time::Instant::now() >= deadline {
            break m;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert!(m.contains("herald_leader 1"), "no leader gauge:\n{m}");
    for (name, value) in expected {
        assert_eq!(metric(&m, name), value, "{name}");
    }
    app.shutdown().await;
}
