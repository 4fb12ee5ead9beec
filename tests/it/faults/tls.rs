//! HTTPS through the pipeline: a receiver whose certificate was issued by a private CA is
//! delivered once `HERALD_CA_FILE` names that CA (and only then; see `hostile`).

use std::time::Duration;

use crate::{
    app::{emit_many, event_type, webhook},
    harness::{eventually_delivered, TestDb},
    process::HeraldProcess,
    receiver::{TestCa, TestReceiver},
};

#[tokio::test]
async fn tls_delivers_over_https_when_herald_ca_file_trusts_the_issuer() {
    let (db, c) = TestDb::with_client().await;
    let ca = TestCa::new();
    let receiver = TestReceiver::start_tls(&ca).await;
    event_type(&c, "order.created", "own").await;
    let url = receiver.url("/secure");
    assert!(url.starts_with("https://"));
    let (user, _, secret) = webhook(&c, &url).await;
    let ca_file = ca.ca_file().display().to_string();
    let herald = HeraldProcess::spawn(
        &db.url,
        &[
            ("HERALD_CA_FILE", ca_file.as_str()),
            ("HERALD_ALLOW_HTTP", "false"),
        ],
    );
    herald.worker_id().await;
    emit_many(&c, "order.created", user, 10).await;
    let requests = receiver.wait_for_count(10, Duration::from_secs(60)).await;
    assert!(requests.iter().all(|r| r.verify(&secret)), "signed");
    eventually_delivered(&c, 10, "recorded delivered", Duration::from_secs(60)).await;
    assert_eq!(receiver.count(), 10, "once each");
}
