//! The holes found by probing `herald run`: plain http sent although not allowed, secrets in
//! the driver's statement log, empty environment values taken for unset.

use std::time::Duration;

use http::{Method, StatusCode};
use serde_json::json;
use uuid::Uuid;

use super::api;
use crate::{
    app::{emit_many, event_type, start, test_config, webhook},
    harness::{count, eventually_delivered, eventually_some, TestDb},
    process::HeraldProcess,
    receiver::TestReceiver,
};

#[tokio::test]
async fn allow_http_unset_refuses_to_send_to_a_plain_http_webhook_written_in_sql() {
    let db = TestDb::new().await;
    let c = db.client().await;
    let receiver = TestReceiver::start().await;
    event_type(&c, "order.created", "own").await;
    // Straight into the table: the API's URL check never saw it.
    let (user, hook, _) = webhook(&c, &receiver.url("/plain")).await;
    let mut config = test_config(&db);
    config.allow_http = false;
    config.retry_schedule = "0,3600".parse().expect("schedule");
    let herald = start(config).await;
    emit_many(&c, "order.created", user, 1).await;

    let (status, error): (String, Option<String>) =
        eventually_some("a recorded failure", Duration::from_secs(20), || {
            let c = &c;
            async move {
                c.query_opt(
                    "select d.status, a.error from herald.webhook_deliveries d
                       join herald.delivery_attempts a on a.delivery_id = d.id
                      where d.webhook_id = $1",
                    &[&hook],
                )
                .await
                .expect("query")
                .map(|r| (r.get(0), r.get(1)))
            }
        })
        .await;
    assert_eq!(receiver.count(), 0, "nothing was sent");
    assert_eq!(status, "failed");
    let error = error.unwrap_or_default();
    assert!(error.contains("HERALD_ALLOW_HTTP"), "{error}");
    // Herald's configuration refused it, the endpoint did nothing: the breaker does not count it.
    assert_eq!(
        count(
            &c,
            "select consecutive_failures::int8 from herald.user_webhooks"
        )
        .await,
        0
    );
    herald.shutdown().await;
}

#[tokio::test]
async fn driver_log_at_trace_shows_no_secret_through_create_rotate_and_deliveries() {
    let db = TestDb::new().await;
    let c = db.client().await;
    let receiver = TestReceiver::start().await;
    // No HERALD_SECRET_KEYS: the secrets go to the database as plaintext, the worst case.
    let process = HeraldProcess::spawn(&db.url, &[("RUST_LOG", "trace")]);
    let addr: std::net::SocketAddr = process
        .api_address()
        .await
        .parse()
        .expect("the API address parses");
    let (status, _) = api(
        addr,
        Method::POST,
        "/v1/event-types",
        Some(json!({"name": "order.created", "scope": "own"})),
    )
    .await;
    assert!(status.is_success());
    let user = Uuid::new_v4();
    let mut secrets = Vec::new();
    for (path, scheme) in [("/hmac", "hmac"), ("/ed", "ed25519")] {
        let (status, created) = api(
            addr,
            Method::POST,
            &format!("/v1/users/{user}/webhooks"),
            Some(json!({"url": receiver.url(path), "signature_scheme": scheme})),
        )
        .await;
        assert_eq!(status, StatusCode::CREATED, "{created}");
        let id = created["id"].as_str().expect("id").to_owned();
        secrets.extend(created["secret"].as_str().map(str::to_owned));
        let (status, rotated) = api(
            addr,
            Method::POST,
            &format!("/v1/users/{user}/webhooks/{id}/rotate-secret"),
            Some(json!({})),
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{rotated}");
        secrets.extend(rotated["secret"].as_str().map(str::to_owned));
    }
    assert_eq!(secrets.len(), 2, "the hmac webhook's two secrets");
    emit_many(&c, "order.created", user, 3).await;
    receiver.wait_for_count(6, Duration::from_secs(30)).await;
    eventually_delivered(&c, 6, "results recorded", Duration::from_secs(20)).await;
    let log = process.log_text();
    drop(process);

    // The driver did log every statement with its parameters: the test can see a leak.
    assert!(log.contains("with parameters"), "no statement log at trace");
    assert!(
        log.contains("previous_secret_expires_at = now()"),
        "the rotation's statement was logged"
    );
    assert!(!log.contains("whsec_"), "a whsec_ secret in the log");
    assert!(!log.contains("whsk_"), "a whsk_ signing key in the log");
    for secret in &secrets {
        let body = &secret["whsec_".len()..];
        assert!(!log.contains(body), "secret material in the log");
    }
}

#[tokio::test]
async fn empty_environment_values_stop_herald_naming_the_variable() {
    let db = TestDb::new().await;
    for var in [
        "HERALD_RETRY_SCHEDULE",
        "HERALD_SECRET_KEYS",
        "HERALD_ADMIN_TOKEN",
    ] {
        let mut process = HeraldProcess::spawn(&db.url, &[(var, "")]);
        let code = process.wait(Duration::from_secs(60)).await;
        assert_eq!(code, Some(1), "{var}=: {}", process.log_text());
        let log = process.log_text();
        assert!(log.contains(var) && log.contains("empty"), "{var}=: {log}");
    }
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_herald"))
        .arg("migrate")
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("DATABASE_URL", "")
        .output()
        .expect("run herald migrate");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("DATABASE_URL") && stderr.contains("empty"),
        "{stderr}"
    );
}
