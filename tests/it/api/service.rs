//! The service around the routes: auth, errors, health, readiness, metrics, OpenAPI, secrets.

use super::*;

#[tokio::test]
async fn api_answers_401_without_or_with_a_wrong_token() {
    let api = TestApi::start().await;
    let user = Uuid::new_v4();
    let path = format!("/v1/users/{user}/webhooks");
    for token in [None, Some("wrong-token-wrong-token"), Some("")] {
        let a = api.raw(Method::GET, &path, token, Bytes::new()).await;
        a.assert_error(StatusCode::UNAUTHORIZED, None);
    }
    for route in ["/metrics", "/readyz", "/v1/openapi.json", "/v1/event-types"] {
        let a = api.raw(Method::GET, route, None, Bytes::new()).await;
        assert_eq!(a.status, StatusCode::UNAUTHORIZED, "{route}");
    }
    let health = api.raw(Method::GET, "/healthz", None, Bytes::new()).await;
    assert_eq!(health.status, StatusCode::OK);
    api.stop().await;
}

#[tokio::test]
async fn readyz_answers_503_until_listener_and_leader_are_known() {
    let api = TestApi::start().await;
    let a = api.get("/readyz").await;
    assert_eq!(a.status, StatusCode::SERVICE_UNAVAILABLE, "{}", a.text);
    let v = a.json();
    assert_eq!(v["not_ready"], json!(["listener", "leader"]));
    assert_eq!(v["checks"]["database"], true);

    api.set_ready();
    let a = api.get("/readyz").await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.text);
    assert_eq!(a.json()["not_ready"], json!([]));
    api.stop().await;
}

#[tokio::test]
async fn readyz_names_the_database_when_it_is_gone() {
    let api = TestApi::start().await;
    api.set_ready();
    api.drop_database().await;
    let a = api.get("/readyz").await;
    assert_eq!(a.status, StatusCode::SERVICE_UNAVAILABLE, "{}", a.text);
    assert_eq!(a.json()["not_ready"], json!(["database"]));
    api.stop().await;
}

#[tokio::test]
async fn metrics_answers_prometheus_text() {
    let api = TestApi::start().await;
    api.metrics.outcome("delivered").inc_by(3);
    api.metrics.breaker_trips.inc();
    let a = api.get("/metrics").await;
    assert_eq!(a.status, StatusCode::OK);
    assert!(
        a.content_type.starts_with("text/plain"),
        "{}",
        a.content_type
    );
    let mut names = BTreeSet::new();
    for line in a
        .text
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
    {
        let (series, value) = line.rsplit_once(' ').unwrap_or_else(|| panic!("{line}"));
        value
            .parse::<f64>()
            .unwrap_or_else(|_| panic!("value of {line}"));
        names.insert(series.split('{').next().unwrap_or(series).to_owned());
    }
    assert!(
        a.text
            .contains("herald_deliveries_total{outcome=\"delivered\"} 3"),
        "{}",
        a.text
    );
    for name in [
        "herald_breaker_trips_total",
        "herald_gate_reads_total",
        "herald_in_flight",
        "herald_queue_due",
        "herald_leader",
        "herald_attempt_duration_seconds_count",
        "herald_delivery_latency_seconds_bucket",
    ] {
        assert!(names.contains(name), "{name} missing from {names:?}");
    }
    api.stop().await;
}

#[tokio::test]
async fn openapi_describes_every_route() {
    let api = TestApi::start().await;
    let a = api.get("/v1/openapi.json").await;
    assert_eq!(a.status, StatusCode::OK);
    let doc = a.json();
    assert!(
        doc["openapi"].as_str().is_some_and(|v| v.starts_with("3.")),
        "{}",
        doc["openapi"]
    );
    for route in api::ROUTES {
        let op = &doc["paths"][route.path][route.method.to_ascii_lowercase()];
        assert!(
            op.is_object(),
            "{} {} is not in the OpenAPI document",
            route.method,
            route.path
        );
        assert!(
            op["responses"].is_object(),
            "{} {}",
            route.method,
            route.path
        );
    }
    let served: BTreeSet<&str> = api::ROUTES.iter().map(|r| r.path).collect();
    let described: BTreeSet<&str> = doc["paths"]
        .as_object()
        .expect("paths")
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(served, described, "the document describes no extra paths");
    api.stop().await;
}

#[tokio::test]
async fn secret_appears_only_in_create_and_rotate_responses() {
    let api = TestApi::with_type("batch.completed").await;
    let (user, id, first) = api.user_webhook().await;
    let rotated = api.rotate(user, id, json!({})).await.json();
    let second = rotated["secret"].as_str().expect("secret").to_owned();
    api.post(
        "/v1/events",
        json!({"event_type": "batch.completed", "user_id": user}),
    )
    .await;
    let base = format!("/v1/users/{user}/webhooks/{id}");
    let bodies = [
        api.get(&format!("/v1/users/{user}/webhooks")).await.text,
        api.get(&base).await.text,
        api.patch(&base, json!({"description": "d"})).await.text,
        api.get(&format!("{base}/deliveries")).await.text,
        api.post(
            &format!("{base}/recover"),
            json!({"since": "2020-01-01T00:00:00Z"}),
        )
        .await
        .text,
        // An error answer that the database refused, too.
        api.post(&format!("/v1/users/{user}/webhooks"), json!({"url": first}))
            .await
            .text,
    ];
    for body in &bodies {
        for secret in [&first, &second] {
            assert!(!body.contains(secret.as_str()), "secret leaked in {body}");
            let raw = secret.trim_start_matches("whsec_");
            assert!(!body.contains(raw), "secret leaked in {body}");
        }
        assert!(!body.contains("secret\""), "a secret field in {body}");
    }
    api.stop().await;
}

#[tokio::test]
async fn api_refuses_an_oversize_body_with_413() {
    let api = TestApi::start().await;
    let user = Uuid::new_v4();
    let big = json!({"url": "https://example.com/", "description": "x".repeat(70 * 1024)});
    api.post(&format!("/v1/users/{user}/webhooks"), big)
        .await
        .assert_error(StatusCode::PAYLOAD_TOO_LARGE, None);
    api.stop().await;
}

#[tokio::test]
async fn api_answers_404_and_405_for_unknown_routes() {
    let api = TestApi::start().await;
    api.get("/v1/nothing-here")
        .await
        .assert_error(StatusCode::NOT_FOUND, None);
    api.call(Method::PUT, "/v1/event-types", None)
        .await
        .assert_error(StatusCode::METHOD_NOT_ALLOWED, None);
    api.stop().await;
}

/// A `Write` that appends to a shared buffer, to capture this test's log lines.
#[derive(Clone, Default)]
struct Captured(Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if let Ok(mut v) = self.0.lock() {
            v.extend_from_slice(buf);
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test]
async fn secret_appears_in_no_log_line() {
    // `#[tokio::test]` runs every task on this thread, so a thread-default subscriber sees
    // the server's logs too.
    let captured = Captured::default();
    let writer = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_writer(move || writer.clone())
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);

    let api = TestApi::start().await;
    let (user, id, first) = api.user_webhook().await;
    let second = api.rotate(user, id, json!({})).await.json()["secret"]
        .as_str()
        .expect("secret")
        .to_owned();
    api.get(&format!("/v1/users/{user}/webhooks/{id}")).await;
    // An internal error is logged once, opaquely answered.
    api.drop_database().await;
    let failed = api.get(&format!("/v1/users/{user}/webhooks/{id}")).await;
    assert!(failed.status.is_server_error(), "{}", failed.text);
    assert_eq!(failed.json()["error"]["code"], "internal");
    api.stop().await;

    let logs = String::from_utf8_lossy(&captured.0.lock().expect("logs")).into_owned();
    assert!(
        logs.contains("failed"),
        "the internal error was logged: {logs}"
    );
    for secret in [&first, &second] {
        let raw = secret.trim_start_matches("whsec_");
        assert!(!logs.contains(raw), "a secret in the logs:\n{logs}");
    }
}
