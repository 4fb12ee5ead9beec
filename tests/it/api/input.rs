//! Input that once slipped through: NUL in JSON strings, values of the wrong type, bodies that
//! are not JSON, bodies that never finish arriving. Each is refused with the field named and
//! nothing written.

use std::time::Instant;

use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::*;
use crate::admin::Answered;

#[tokio::test]
async fn api_refuses_nul_in_any_json_string_naming_the_field() {
    let api = TestApi::with_type("order.created").await;
    let user = Uuid::new_v4();
    api.post(
        "/v1/events",
        json!({"event_type": "order.created", "user_id": user, "data": {"note": "a\u{0}b"}}),
    )
    .await
    .assert_error(StatusCode::BAD_REQUEST, Some("data.note"));
    api.post(
        "/v1/events",
        json!({"event_type": "order.created", "user_id": user, "data": {"list": ["ok", {"k\u{0}": 1}]}}),
    )
    .await
    .assert_error(StatusCode::BAD_REQUEST, Some("data.list[1].k\\u0000"));
    api.post(
        &format!("/v1/users/{user}/webhooks"),
        json!({"url": "https://example.com/", "description": "x\u{0}"}),
    )
    .await
    .assert_error(StatusCode::BAD_REQUEST, Some("description"));
    api.post(
        "/v1/event-types",
        json!({"name": "order.paid", "scope": "own", "description": "\u{0}"}),
    )
    .await
    .assert_error(StatusCode::BAD_REQUEST, Some("description"));
    assert_eq!(
        count(&api.sql, "select count(*) from herald.events").await,
        0
    );
    assert_eq!(
        count(&api.sql, "select count(*) from herald.user_webhooks").await,
        0
    );
    assert_eq!(
        count(
            &api.sql,
            "select count(*) from herald.event_types where name = 'order.paid'"
        )
        .await,
        0
    );
    api.stop().await;
}

#[tokio::test]
async fn api_names_the_field_of_a_value_of_the_wrong_type() {
    let api = TestApi::start().await;
    let user = Uuid::new_v4();
    let a = api
        .post(&format!("/v1/users/{user}/webhooks"), json!({"url": 123}))
        .await;
    a.assert_error(StatusCode::BAD_REQUEST, Some("url"));
    assert!(a.text.contains("expected a string"), "{}", a.text);
    let (id, _) = api.create_webhook(user, hook("https://example.com/")).await;
    api.patch(
        &format!("/v1/users/{user}/webhooks/{id}"),
        json!({"enabled": "yes"}),
    )
    .await
    .assert_error(StatusCode::BAD_REQUEST, Some("enabled"));
    api.rotate(user, id, json!({"grace_seconds": "soon"}))
        .await
        .assert_error(StatusCode::BAD_REQUEST, Some("grace_seconds"));
    let webhook = api
        .get(&format!("/v1/users/{user}/webhooks/{id}"))
        .await
        .json();
    assert_eq!(webhook["enabled"], true, "nothing changed");
    api.stop().await;
}

/// Registers an event type with this content type.
async fn post_as(api: &TestApi, content_type: Option<&str>, body: &str) -> Answered {
    let body = Bytes::from(body.to_owned());
    api.client
        .request_as(
            Method::POST,
            "/v1/event-types",
            Some(TOKEN),
            content_type,
            body,
        )
        .await
}

#[tokio::test]
async fn api_answers_415_for_a_body_that_is_not_json() {
    let api = TestApi::start().await;
    let body = json!({"name": "order.created", "scope": "own"}).to_string();
    for content_type in [
        Some("text/plain"),
        Some("application/x-www-form-urlencoded"),
        None,
    ] {
        let answered = post_as(&api, content_type, &body).await;
        let (status, text) = (answered.status, String::from_utf8_lossy(&answered.body));
        assert_eq!(
            status,
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "{content_type:?}: {text}"
        );
        assert!(text.contains("application/json"), "{text}");
    }
    assert_eq!(
        count(
            &api.sql,
            "select count(*) from herald.event_types where name not like 'herald.%'"
        )
        .await,
        0
    );
    // JSON with a charset parameter is JSON.
    let json = Some("application/json; charset=utf-8");
    let answered = api
        .client
        .request_as(
            Method::POST,
            "/v1/event-types",
            Some(TOKEN),
            json,
            body.into(),
        )
        .await;
    assert_eq!(answered.status, StatusCode::CREATED);
    api.stop().await;
}

#[tokio::test]
async fn api_ends_a_request_whose_body_trickles_in_at_its_deadline() {
    let api = TestApi::start().await;
    let addr = api.base.trim_start_matches("http://").to_owned();
    let mut stream = tokio::net::TcpStream::connect(&addr)
        .await
        .expect("connect");
    let head = format!(
        "POST /v1/event-types HTTP/1.1\r\nhost: {addr}\r\nauthorization: Bearer {TOKEN}\r\n\
         content-type: application/json\r\ncontent-length: 1000\r\n\r\n"
    );
    stream.write_all(head.as_bytes()).await.expect("head");
    let started = Instant::now();
    let (mut read, mut write) = stream.into_split();
    // One byte every 100 ms: the whole body would take 100 s.
    let trickle = tokio::spawn(async move {
        for _ in 0..1000 {
            if write.write_all(b" ").await.is_err() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    });
    let mut answer = Vec::new();
    let read_all = tokio::time::timeout(BODY_TIMEOUT * 10, read.read_to_end(&mut answer)).await;
    trickle.abort();
    let waited = started.elapsed();
    assert!(
        read_all.is_ok(),
        "the server still held the connection after {waited:?}"
    );
    let text = String::from_utf8_lossy(&answer);
    assert!(text.starts_with("HTTP/1.1 408"), "{text}");
    assert!(
        text.to_ascii_lowercase().contains("connection: close"),
        "{text}"
    );
    assert!(
        waited >= BODY_TIMEOUT,
        "answered before the deadline: {waited:?}"
    );
    assert_eq!(
        count(
            &api.sql,
            "select count(*) from herald.event_types where name not like 'herald.%'"
        )
        .await,
        0
    );
    api.stop().await;
}
