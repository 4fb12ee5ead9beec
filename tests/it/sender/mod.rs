//! The sender against real loopback sockets: signing, headers, outcomes, hostile servers,
//! the SSRF guard and TLS.

use std::time::{Duration, Instant};

use bytes::Bytes;
use herald::{
    domain::{secret::WebhookSecret, signature, target::TargetUrl},
    http::{AttemptOutcome, Outgoing, Sender, SenderConfig, SenderError},
};

use crate::receiver::{Behaviour, HostileServer, Hostility, Reply, Route, TestCa, TestReceiver};

mod guard;
mod tls;

const WAIT: Duration = Duration::from_secs(5);

/// Loopback receivers need private targets (and plain http) allowed.
fn loopback_config() -> SenderConfig {
    SenderConfig {
        http_timeout: Duration::from_secs(5),
        connect_timeout: Duration::from_secs(2),
        allow_private_targets: true,
        allow_http: true,
        ..SenderConfig::default()
    }
}

fn sender(cfg: &SenderConfig) -> Sender {
    Sender::new(cfg).expect("sender builds")
}

fn secret() -> WebhookSecret {
    WebhookSecret::generate().expect("rng")
}

fn outgoing(url: String, secrets: Vec<WebhookSecret>) -> Outgoing {
    Outgoing {
        url: TargetUrl::parse(&url, true).expect("a valid test URL"),
        event_id: uuid::Uuid::new_v4(),
        body: Bytes::from_static(
            br#"{"type":"batch.completed","timestamp":"2024-01-01T00:00:00Z","data":{"n":1}}"#,
        ),
        secrets: secrets.into_iter().map(Into::into).collect(),
        headers: Vec::new(),
    }
}

/// One send to `url`, signed with a fresh secret, through a loopback sender.
async fn send_once(url: impl Into<String>) -> AttemptOutcome {
    send_by(&sender(&loopback_config()), url.into()).await
}

/// One send to `url` by `sender`, signed with a fresh secret.
async fn send_by(sender: &Sender, url: String) -> AttemptOutcome {
    sender.send(&outgoing(url, vec![secret()])).await
}

/// [`send_once`] with a 300 ms HTTP timeout; also answers how long the send took.
async fn send_within_300ms(url: String) -> (AttemptOutcome, Duration) {
    let cfg = SenderConfig {
        http_timeout: Duration::from_millis(300),
        ..loopback_config()
    };
    let started = Instant::now();
    let outcome = sender(&cfg).send(&outgoing(url, vec![secret()])).await;
    (outcome, started.elapsed())
}

/// Asserts a failed attempt with this status code and error.
fn assert_failed(outcome: &AttemptOutcome, status_code: Option<u16>, error: &str) {
    assert!(!outcome.success());
    assert_eq!(outcome.status_code, status_code);
    assert_eq!(outcome.error.as_deref(), Some(error));
}

/// The error of one send to a [`HostileServer`] misbehaving so, which answers no status.
async fn hostile_error(hostility: Hostility) -> String {
    let server = HostileServer::start(hostility).await;
    let outcome = send_once(server.url("/")).await;
    assert_eq!(outcome.status_code, None);
    outcome.error.expect("an error")
}

const REFUSED_HINT: &str = "(set HERALD_ALLOW_PRIVATE_TARGETS=true to allow)";

#[tokio::test]
async fn sender_signs_so_that_the_receiver_verifies() {
    let receiver = TestReceiver::start().await;
    let key = secret();
    let req = outgoing(receiver.url("/hook"), vec![key.clone()]);

    let outcome = sender(&loopback_config()).send(&req).await;

    assert!(outcome.success(), "{outcome:?}");
    let got = receiver.wait_for_count(1, WAIT).await;
    assert!(got[0].verify(&key));
    assert!(!got[0].verify(&secret()));
    let sig = got[0]
        .header("webhook-signature")
        .expect("signature header");
    assert_eq!(sig.split(' ').count(), 1);
    assert!(sig.starts_with("v1,"));
}

#[tokio::test]
async fn sender_sends_both_signatures_when_rotating() {
    let receiver = TestReceiver::start().await;
    let (current, previous) = (secret(), secret());
    let req = outgoing(
        receiver.url("/hook"),
        vec![current.clone(), previous.clone()],
    );

    let outcome = sender(&loopback_config()).send(&req).await;

    assert!(outcome.success(), "{outcome:?}");
    let got = receiver.wait_for_count(1, WAIT).await;
    let sig = got[0]
        .header("webhook-signature")
        .expect("signature header");
    let parts: Vec<&str> = sig.split(' ').collect();
    assert_eq!(parts.len(), 2, "{sig}");
    let id = got[0].webhook_id().expect("id");
    let ts = got[0].webhook_timestamp().expect("timestamp");
    assert!(signature::verify(parts[0], &current, id, ts, &got[0].body));
    assert!(signature::verify(parts[1], &previous, id, ts, &got[0].body));
}

#[tokio::test]
async fn sender_sends_exact_headers_and_body() {
    let receiver = TestReceiver::start().await;
    let req = outgoing(receiver.url("/hooks/x?tenant=7"), vec![secret()]);
    let before = chrono::Utc::now().timestamp();

    let outcome = sender(&loopback_config()).send(&req).await;
    let after = chrono::Utc::now().timestamp();

    assert!(outcome.success(), "{outcome:?}");
    let got = receiver.wait_for_count(1, WAIT).await;
    let r = &got[0];
    assert_eq!(r.method, http::Method::POST);
    assert_eq!(r.path, "/hooks/x?tenant=7");
    assert_eq!(r.body, req.body);
    assert_eq!(r.header("content-type"), Some("application/json"));
    assert_eq!(r.header("user-agent"), Some(herald::USER_AGENT));
    assert!(herald::USER_AGENT.starts_with("herald/"));
    let event_id = req.event_id.to_string();
    assert_eq!(r.webhook_id(), Some(event_id.as_str()));
    let ts = r.webhook_timestamp().expect("numeric timestamp");
    assert!(
        (before..=after).contains(&ts),
        "{ts} not in {before}..={after}"
    );
    assert_eq!(outcome.started_at.timestamp(), ts);
}

#[tokio::test]
async fn sender_reports_success_with_excerpt_on_2xx() {
    let receiver = TestReceiver::start().await;
    receiver.set_behaviour("/ok", Behaviour::reply(Reply::status(200).body("thanks")));
    let sender = sender(&loopback_config());

    let ok = send_by(&sender, receiver.url("/ok")).await;
    let no_content = send_by(&sender, receiver.url("/empty")).await;

    assert!(ok.success());
    assert_eq!(ok.status_code, Some(200));
    assert_eq!(ok.error, None);
    assert_eq!(ok.response_excerpt.as_deref(), Some("thanks"));
    assert!(no_content.success());
    assert_eq!(no_content.status_code, Some(204));
    assert_eq!(no_content.response_excerpt, None);
}

#[tokio::test]
async fn sender_reports_failure_with_excerpt_on_500() {
    let receiver = TestReceiver::start().await;
    receiver.set_behaviour(
        Route::All,
        Behaviour::reply(Reply::status(500).body("database on fire")),
    );

    let outcome = send_once(receiver.url("/")).await;

    assert_failed(&outcome, Some(500), "HTTP 500 Internal Server Error");
    assert_eq!(
        outcome.response_excerpt.as_deref(),
        Some("database on fire")
    );
    assert!(!outcome.gone);
    assert_eq!(outcome.retry_after, None);
}

#[tokio::test]
async fn sender_reuses_the_connection_when_sending_several_times() {
    let receiver = TestReceiver::start().await;
    let sender = sender(&loopback_config());

    for _ in 0..3 {
        let outcome = send_by(&sender, receiver.url("/")).await;
        assert!(outcome.success(), "{outcome:?}");
    }

    assert_eq!(receiver.count(), 3);
    assert_eq!(receiver.connections(), 1);
}

#[tokio::test]
async fn sender_times_out_when_the_receiver_is_slower_than_http_timeout() {
    let receiver = TestReceiver::start().await;
    receiver.set_behaviour(
        Route::All,
        Behaviour::reply(Reply::ok().delay(Duration::from_secs(10))),
    );
    let (outcome, elapsed) = send_within_300ms(receiver.url("/")).await;

    assert_eq!(outcome.error.as_deref(), Some("timed out after 300ms"));
    assert_eq!(outcome.status_code, None);
    assert!(!outcome.success());
    assert!(elapsed >= Duration::from_millis(300), "{elapsed:?}");
    assert!(elapsed < Duration::from_secs(3), "{elapsed:?}");
    assert!(outcome.duration >= Duration::from_millis(300));
}

#[tokio::test]
async fn sender_times_out_when_the_server_never_answers() {
    let server = HostileServer::start(Hostility::Silent).await;
    let (outcome, elapsed) = send_within_300ms(server.url("/")).await;

    assert_eq!(outcome.error.as_deref(), Some("timed out after 300ms"));
    assert!(elapsed < Duration::from_secs(3));
    assert_eq!(server.connections(), 1);
}

#[tokio::test]
async fn sender_caps_the_excerpt_when_the_body_is_endless() {
    let server = HostileServer::start(Hostility::EndlessBody).await;
    let cfg = SenderConfig {
        http_timeout: Duration::from_secs(20),
        max_response_excerpt: 1024,
        ..loopback_config()
    };

    let started = Instant::now();
    let outcome = sender(&cfg)
        .send(&outgoing(server.url("/"), vec![secret()]))
        .await;

    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(outcome.status_code, Some(200));
    let excerpt = outcome.response_excerpt.expect("an excerpt");
    assert_eq!(excerpt.len(), 1024);
    assert!(excerpt.bytes().all(|b| b == b'x'));
}

#[tokio::test]
async fn sender_reports_a_reset_when_the_connection_is_reset() {
    let error = hostile_error(Hostility::Reset).await;
    assert!(
        error == "connection reset by peer"
            || error == "connection closed before a response was received",
        "{error}"
    );
}

#[tokio::test]
async fn sender_reports_invalid_http_when_the_response_is_garbage() {
    let error = hostile_error(Hostility::Garbage).await;
    assert!(error.starts_with("invalid HTTP response: "), "{error}");
}

#[tokio::test]
async fn sender_reports_connection_refused_when_nothing_listens() {
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        listener.local_addr().expect("addr").port()
    };

    let outcome = send_once(format!("http://127.0.0.1:{port}/")).await;

    assert_eq!(outcome.error.as_deref(), Some("connection refused"));
}

#[tokio::test]
async fn sender_reports_retry_after_on_429_and_503() {
    let receiver = TestReceiver::start().await;
    receiver.set_behaviour(
        "/busy",
        Behaviour::reply(Reply::status(429).header("retry-after", "120")),
    );
    let later = chrono::Utc::now() + chrono::Duration::seconds(3600);
    let http_date = later.format("%a, %d %b %Y %H:%M:%S GMT").to_string();
    receiver.set_behaviour(
        "/down",
        Behaviour::reply(Reply::status(503).header("retry-after", &http_date)),
    );
    receiver.set_behaviour(
        "/broken",
        Behaviour::reply(Reply::status(500).header("retry-after", "120")),
    );
    let sender = sender(&loopback_config());

    let busy = send_by(&sender, receiver.url("/busy")).await;
    let down = send_by(&sender, receiver.url("/down")).await;
    let broken = send_by(&sender, receiver.url("/broken")).await;

    assert_eq!(busy.status_code, Some(429));
    assert_eq!(busy.retry_after, Some(Duration::from_secs(120)));
    assert_eq!(down.status_code, Some(503));
    let wait = down.retry_after.expect("date parsed");
    assert!(
        wait > Duration::from_secs(3590) && wait <= Duration::from_secs(3600),
        "{wait:?}"
    );
    assert_eq!(broken.retry_after, None);
}

#[tokio::test]
async fn sender_flags_gone_on_410() {
    let receiver = TestReceiver::start().await;
    receiver.set_behaviour("/gone", Behaviour::status(410));

    let outcome = send_once(receiver.url("/gone")).await;

    assert!(outcome.gone);
    assert!(!outcome.success());
    assert_eq!(outcome.status_code, Some(410));
}

#[tokio::test]
async fn receiver_fails_each_message_n_times_when_scripted_per_webhook_id() {
    let receiver = TestReceiver::start().await;
    receiver.set_behaviour("/flaky", Behaviour::fail_first_per_id(2, 503));
    let sender = sender(&loopback_config());
    let req = outgoing(receiver.url("/flaky"), vec![secret()]);
    let other = outgoing(receiver.url("/flaky"), vec![secret()]);

    let mut statuses = Vec::new();
    for _ in 0..3 {
        statuses.push(sender.send(&req).await.status_code);
    }
    let first_of_other = sender.send(&other).await.status_code;

    assert_eq!(statuses, vec![Some(503), Some(503), Some(204)]);
    assert_eq!(first_of_other, Some(503));
    assert_eq!(receiver.count_for_id(&req.event_id.to_string()), 3);
    assert_eq!(receiver.counts_by_id().len(), 2);
}

#[tokio::test]
async fn receiver_waits_for_requests_and_hangs_when_scripted() {
    let receiver = TestReceiver::start().await;
    receiver.set_behaviour("/hang", Behaviour::hang());
    let cfg = SenderConfig {
        http_timeout: Duration::from_millis(200),
        ..loopback_config()
    };
    let sender = sender(&cfg);
    let req = outgoing(receiver.url("/hang"), vec![secret()]);

    let (outcome, seen) = tokio::join!(sender.send(&req), receiver.wait_for_count(1, WAIT));

    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].path, "/hang");
    assert_eq!(outcome.error.as_deref(), Some("timed out after 200ms"));
}

#[tokio::test]
async fn sender_delivers_every_message_once_when_sending_concurrently() {
    let receiver = TestReceiver::start().await;
    receiver.set_recording(false);
    let sender = sender(&loopback_config());
    let requests: Vec<Outgoing> = (0..200)
        .map(|_| outgoing(receiver.url("/many"), vec![secret()]))
        .collect();

    let mut tasks = tokio::task::JoinSet::new();
    for req in requests.clone() {
        let sender = sender.clone();
        tasks.spawn(async move { sender.send(&req).await });
    }
    let mut delivered = 0;
    while let Some(outcome) = tasks.join_next().await {
        let outcome = outcome.expect("send task");
        assert!(outcome.success(), "{outcome:?}");
        delivered += 1;
    }

    assert_eq!(delivered, 200);
    receiver.wait_for_total(200, WAIT).await;
    assert_eq!(receiver.counts_by_id().len(), 200);
    assert!(receiver.duplicates().is_empty());
    assert!(receiver.requests().is_empty());
    assert!(receiver.connections() <= 200);
}
