//! The sender over TLS: trusted and untrusted certificates, the CA file, a plain-HTTP server.

use super::*;

#[tokio::test]
async fn sender_fails_with_a_tls_error_when_the_certificate_is_untrusted() {
    let ca = TestCa::new();
    let receiver = TestReceiver::start_tls(&ca).await;

    let outcome = sender(&loopback_config())
        .send(&outgoing(receiver.url("/"), vec![secret()]))
        .await;

    assert_eq!(
        outcome.error.as_deref(),
        Some("TLS: invalid peer certificate: UnknownIssuer")
    );
    assert_eq!(outcome.status_code, None);
    assert_eq!(receiver.count(), 0);
}

#[tokio::test]
async fn sender_delivers_over_tls_when_ca_file_trusts_the_issuer() {
    let ca = TestCa::new();
    let receiver = TestReceiver::start_tls(&ca).await;
    let cfg = SenderConfig {
        ca_file: Some(ca.ca_file()),
        ..loopback_config()
    };
    let key = secret();

    let outcome = sender(&cfg)
        .send(&outgoing(receiver.url("/secure"), vec![key.clone()]))
        .await;

    assert!(outcome.success(), "{outcome:?}");
    let got = receiver.wait_for_count(1, WAIT).await;
    assert!(got[0].verify(&key));
    assert!(receiver.url("/").starts_with("https://127.0.0.1:"));
}

#[tokio::test]
async fn sender_new_fails_clearly_when_the_ca_file_is_missing_or_not_pem() {
    let missing = std::env::temp_dir().join(format!("herald-missing-{}.pem", uuid::Uuid::new_v4()));
    let err = Sender::new(&SenderConfig {
        ca_file: Some(missing.clone()),
        ..SenderConfig::default()
    })
    .expect_err("missing CA file");
    assert!(matches!(err, SenderError::CaFileRead { .. }), "{err:?}");
    assert!(err.to_string().contains(&missing.display().to_string()));

    let not_pem = std::env::temp_dir().join(format!("herald-not-pem-{}.pem", uuid::Uuid::new_v4()));
    std::fs::write(&not_pem, "hello").expect("write");
    let err = Sender::new(&SenderConfig {
        ca_file: Some(not_pem.clone()),
        ..SenderConfig::default()
    })
    .expect_err("no certificate in file");
    let _ = std::fs::remove_file(&not_pem);
    assert!(matches!(err, SenderError::CaFileEmpty { .. }), "{err:?}");
    assert!(err.to_string().contains("holds no PEM certificate"));
}

#[tokio::test]
async fn sender_reports_a_tls_error_when_the_server_speaks_plain_http() {
    let receiver = TestReceiver::start().await;
    let url = format!("https://{}/", receiver.addr());

    let outcome = sender(&loopback_config())
        .send(&outgoing(url, vec![secret()]))
        .await;

    let error = outcome.error.expect("an error");
    assert!(error.starts_with("TLS: "), "{error}");
    assert_eq!(receiver.count(), 0);
}
