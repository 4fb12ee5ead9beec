//! What the sender refuses to reach: redirects, loopback, private and metadata addresses, other schemes.

use super::*;

#[tokio::test]
async fn sender_does_not_follow_redirects() {
    let receiver = TestReceiver::start().await;
    receiver.set_behaviour(
        "/moved",
        Behaviour::reply(Reply::status(301).header("location", "http://169.254.169.254/latest")),
    );

    let outcome = send_once(receiver.url("/moved")).await;

    let not_followed = "redirect 301 not followed (location: http://169.254.169.254/latest)";
    assert_failed(&outcome, Some(301), not_followed);
    assert_eq!(receiver.count(), 1);
}

#[tokio::test]
async fn sender_refuses_loopback_targets_without_traffic_when_private_targets_are_not_allowed() {
    let receiver = TestReceiver::start().await;
    let port = receiver.addr().port();
    let cfg = SenderConfig {
        allow_private_targets: false,
        ..loopback_config()
    };
    let sender = sender(&cfg);

    for (url, shown) in [
        (format!("http://127.0.0.1:{port}/"), "127.0.0.1"),
        (format!("http://0x7f.1:{port}/"), "127.0.0.1"),
        (format!("http://[::1]:{port}/"), "::1"),
        (
            format!("http://[::ffff:127.0.0.1]:{port}/"),
            "::ffff:127.0.0.1",
        ),
        (
            format!("https://[::ffff:127.0.0.1]:{port}/"),
            "::ffff:127.0.0.1",
        ),
    ] {
        let outcome = sender.send(&outgoing(url.clone(), vec![secret()])).await;
        let expected = format!("refused: {shown} is loopback {REFUSED_HINT}");
        assert_eq!(outcome.error.as_deref(), Some(expected.as_str()), "{url}");
        assert_eq!(outcome.status_code, None);
    }
    let outcome = sender
        .send(&outgoing(
            format!("http://localhost:{port}/"),
            vec![secret()],
        ))
        .await;
    let error = outcome.error.expect("localhost refused");
    assert!(
        error.starts_with("refused: localhost resolves only to forbidden addresses; "),
        "{error}"
    );
    assert!(error.contains("is loopback"), "{error}");

    assert_eq!(receiver.connections(), 0);
    assert_eq!(receiver.count(), 0);
}

#[tokio::test]
async fn sender_refuses_private_and_metadata_targets_before_connecting() {
    let cfg = SenderConfig {
        allow_private_targets: false,
        // Were the guard to let one through, give up fast rather than wait.
        connect_timeout: Duration::from_millis(100),
        ..loopback_config()
    };
    let sender = sender(&cfg);

    for (url, expected) in [
        ("http://10.0.0.1/hook", "10.0.0.1 is private"),
        (
            "http://169.254.169.254/latest/meta-data/",
            "169.254.169.254 is link-local (the cloud metadata address)",
        ),
        (
            "https://[fd00::1]/hook",
            "fd00::1 is unique local (private)",
        ),
    ] {
        let started = Instant::now();
        let outcome = sender.send(&outgoing(url.to_owned(), vec![secret()])).await;
        let expected = format!("refused: {expected} {REFUSED_HINT}");
        assert_eq!(outcome.error.as_deref(), Some(expected.as_str()), "{url}");
        assert!(started.elapsed() < Duration::from_secs(1));
    }
}

#[tokio::test]
async fn sender_resolves_localhost_when_private_targets_are_allowed() {
    let receiver = TestReceiver::start().await;
    let url = format!("http://localhost:{}/named", receiver.addr().port());

    let outcome = send_once(url).await;

    assert!(outcome.success(), "{outcome:?}");
    assert_eq!(receiver.count(), 1);
}
