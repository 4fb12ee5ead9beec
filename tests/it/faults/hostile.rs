//! Hostile receivers through the real pipeline: each misbehaviour ends as a recorded attempt
//! with a clear `last_error`, and a healthy webhook keeps its latency meanwhile.

use std::time::{Duration, Instant};

use herald::domain::retry::RetrySchedule;
use uuid::Uuid;

use crate::{
    app::{emit_many, start, test_config, webhook, Scene},
    harness::{count, eventually, eventually_count, value},
    receiver::{requests_on, Behaviour, HostileServer, Hostility, Reply, TestCa, TestReceiver},
};

const PER_WEBHOOK: i64 = 4;
const HTTP_TIMEOUT: Duration = Duration::from_secs(8);

type Check = fn(&str) -> bool;

#[tokio::test]
async fn hostile_receivers_end_as_recorded_failures_while_healthy_ones_flow() {
    let Scene { db, c, receiver } = Scene::new().await;
    receiver.set_behaviour(
        "/slow",
        Behaviour::reply(Reply::ok().delay(Duration::from_secs(60))),
    );
    receiver.set_behaviour(
        "/moved",
        Behaviour::reply(Reply::status(301).header("location", "http://169.254.169.254/")),
    );
    let silent = HostileServer::start(Hostility::Silent).await;
    let endless = HostileServer::start(Hostility::EndlessBody).await;
    let endless_error = HostileServer::start(Hostility::EndlessErrorBody).await;
    let reset = HostileServer::start(Hostility::Reset).await;
    let garbage = HostileServer::start(Hostility::Garbage).await;
    let ca = TestCa::new();
    let untrusted = TestReceiver::start_tls(&ca).await;

    // (name, url, final status, last_error check)
    let cases: Vec<(&str, String, &str, Check)> = vec![
        (
            "answers after the timeout",
            receiver.url("/slow"),
            "failed",
            |e| e == "timed out after 8s",
        ),
        (
            "accepts and never answers",
            silent.url("/"),
            "failed",
            |e| e == "timed out after 8s",
        ),
        (
            "endless body after 503",
            endless_error.url("/"),
            "failed",
            |e| e == "HTTP 503 Service Unavailable",
        ),
        ("connection reset", reset.url("/"), "failed", |e| {
            e == "connection reset by peer"
                || e == "connection closed before a response was received"
        }),
        ("garbage, not HTTP", garbage.url("/"), "failed", |e| {
            e.starts_with("invalid HTTP response: ")
        }),
        (
            "301 to the metadata address",
            receiver.url("/moved"),
            "failed",
            |e| e == "redirect 301 not followed (location: http://169.254.169.254/)",
        ),
        (
            "TLS, untrusted certificate",
            untrusted.url("/"),
            "failed",
            |e| e == "TLS: invalid peer certificate: UnknownIssuer",
        ),
        // A 2xx status line is the receiver's acknowledgement: Herald reads at most 1 KiB of
        // the endless body, records it, and drops the connection at once.
        (
            "endless body after 200",
            endless.url("/"),
            "delivered",
            |e| e.is_empty(),
        ),
    ];
    let mut hostile = Vec::new();
    for (name, url, _, _) in &cases {
        hostile.push((*name, webhook(&c, url).await));
    }
    let (healthy_user, healthy_webhook, _) = webhook(&c, &receiver.url("/ok")).await;

    let mut config = test_config(&db);
    config.http_timeout = HTTP_TIMEOUT;
    config.retry_schedule = "0,3600".parse::<RetrySchedule>().unwrap();
    config.max_in_flight = 64;
    config.max_in_flight_per_webhook = PER_WEBHOOK as usize;
    let app = start(config).await;

    // Baseline: the healthy webhook alone.
    let baseline_sent = Instant::now();
    emit_many(&c, "order.created", healthy_user, 100).await;
    receiver
        .wait_for(|r| requests_on(r, "/ok") == 100, Duration::from_secs(10))
        .await
        .expect("healthy deliveries arrive");
    let baseline = baseline_sent.elapsed();

    let hostile_started = Instant::now();
    for (_, (user, _, _)) in &hostile {
        emit_many(&c, "order.created", *user, PER_WEBHOOK).await;
    }
    // The slow and the silent ones are holding their connections.
    receiver
        .wait_for(
            |r| requests_on(r, "/slow") == PER_WEBHOOK as usize,
            Duration::from_secs(5),
        )
        .await
        .expect("the slow receiver has its requests");
    eventually(
        "the silent server has its connections",
        Duration::from_secs(5),
        || std::future::ready(silent.connections() == PER_WEBHOOK as usize),
    )
    .await;

    let healthy_sent = Instant::now();
    emit_many(&c, "order.created", healthy_user, 100).await;
    receiver
        .wait_for(|r| requests_on(r, "/ok") == 200, Duration::from_secs(4))
        .await
        .expect("healthy deliveries arrive while the hostile ones are in progress");
    let healthy_took = healthy_sent.elapsed();
    // Still in progress: neither timeout has fired, nothing recorded for them yet.
    let slow_webhooks: Vec<Uuid> = hostile[..2].iter().map(|(_, (_, w, _))| *w).collect();
    let attempts_of = "select count(*) from herald.delivery_attempts where webhook_id = any($1)";
    let recorded_slow: i64 = value(&c, attempts_of, &[&slow_webhooks]).await;
    assert_eq!(
        recorded_slow,
        0,
        "the healthy webhook was measured while the slow ones were in flight \
         ({:?} after they started)",
        hostile_started.elapsed()
    );
    assert!(
        healthy_took < HTTP_TIMEOUT / 2,
        "100 healthy deliveries took {healthy_took:?} (alone: {baseline:?})"
    );
    println!(
        "hostile: 100 healthy deliveries in {healthy_took:?} while 8 hostile webhooks held \
         their slots (alone: {baseline:?})"
    );

    let total_hostile = PER_WEBHOOK * cases.len() as i64;
    eventually_count(
        &c,
        "select count(*) from herald.webhook_deliveries
                  where attempt_count = 1 and status <> 'pending'",
        total_hostile + 200,
        "every hostile delivery has its outcome recorded",
    )
    .await;
    for ((name, _, status, check), (_, (_, webhook_id, _))) in cases.iter().zip(&hostile) {
        let rows = c
            .query(
                "select d.status, coalesce(d.last_error, ''), a.error, a.duration_ms
                   from herald.webhook_deliveries d
                   join herald.delivery_attempts a on a.delivery_id = d.id
                  where d.webhook_id = $1",
                &[webhook_id],
            )
            .await
            .unwrap();
        assert_eq!(rows.len(), PER_WEBHOOK as usize, "{name}: one attempt each");
        for r in rows {
            let (s, last_error): (String, String) = (r.get(0), r.get(1));
            let attempt_error: Option<String> = r.get(2);
            let duration_ms: f64 = r.get(3);
            assert_eq!(&s, status, "{name}: {last_error}");
            assert!(
                check(&last_error),
                "{name}: unclear last_error {last_error:?}"
            );
            assert_eq!(
                attempt_error.unwrap_or_default(),
                last_error,
                "{name}: the attempt log has the same error"
            );
            assert!(
                duration_ms < HTTP_TIMEOUT.as_millis() as f64 + 1000.0,
                "{name}: took {duration_ms} ms"
            );
        }
    }
    // The endless bodies were cut: at most a small excerpt was kept.
    let longest: i64 = count(
        &c,
        "select coalesce(max(length(response_excerpt)), 0)::int8 from herald.delivery_attempts",
    )
    .await;
    assert!(longest <= 1024, "excerpt of {longest} chars");
    assert_eq!(untrusted.count(), 0, "nothing sent over the untrusted TLS");
    assert_eq!(
        count(
            &c,
            "select count(*) from herald.webhook_deliveries where status = 'delivered'",
        )
        .await,
        200 + PER_WEBHOOK,
    );
    let _ = healthy_webhook;
    drop((
        receiver,
        silent,
        endless,
        endless_error,
        reset,
        garbage,
        untrusted,
    ));
    app.shutdown().await;
}
