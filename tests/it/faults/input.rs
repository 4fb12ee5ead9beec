//! Bad input through SQL, the admin API and the environment: a clear error each time, and
//! nothing half-written (row counts before and after). `tests/it/api` and `tests/it/fanout`
//! cover the common cases; these are the ones they do not.

use std::time::Duration;

use bytes::Bytes;
use http::{Method, StatusCode};
use serde_json::{json, Value};
use uuid::Uuid;

use crate::{
    admin::AdminApi,
    app::{emit_many, event_type, retrying, start, test_config, webhook, Scene},
    harness::{count, eventually_count, value, TestDb},
    process::HeraldProcess,
};

const ROWS: &str = "select (select count(*) from herald.events)
                         + (select count(*) from herald.webhook_deliveries)
                         + (select count(*) from herald.user_webhooks)
                         + (select count(*) from herald.event_types where name not like 'herald.%')
                         + (select count(*) from herald.delivery_attempts)";

#[tokio::test]
async fn input_bad_environment_stops_herald_run_naming_the_variable() {
    let (db, c) = TestDb::with_client().await;
    let cases = [
        ("HERALD_LEASE", "soon"),
        ("HERALD_LEASE", "1s"), // not longer than the HTTP timeout
        ("HERALD_HTTP_TIMEOUT", "-5s"),
        ("HERALD_HTTP_TIMEOUT", "0s"),
        ("HERALD_POLL_INTERVAL", "1 fortnight"),
        ("HERALD_RETENTION", "forever"),
        ("HERALD_SHUTDOWN_GRACE", "30 parsecs"),
        ("HERALD_RETRY_SCHEDULE", "0,x"),
        ("HERALD_RETRY_SCHEDULE", "0,-5"),
        ("HERALD_RETRY_SCHEDULE", ",,"),
        ("HERALD_MAX_IN_FLIGHT", "0"),
        ("HERALD_MAX_IN_FLIGHT_PER_WEBHOOK", "lots"),
        ("HERALD_BREAKER_THRESHOLD", "99999999999999999999"),
        ("HERALD_LISTEN", "everywhere"),
        ("HERALD_ALLOW_PRIVATE_TARGETS", "perhaps"),
        ("HERALD_LOG_FORMAT", "yaml"),
        ("HERALD_CA_FILE", "/nonexistent/ca.pem"),
    ];
    for (var, value) in cases {
        let mut herald = HeraldProcess::spawn(&db.url, &[(var, value)]);
        let code = herald.wait(Duration::from_secs(30)).await;
        // The exit can be seen before the stderr reader has the last lines.
        let named = tokio::time::timeout(Duration::from_secs(30), async {
            while !herald.log_text().contains(var) {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        })
        .await
        .is_ok();
        let log = herald.log_text();
        assert!(
            matches!(code, Some(c) if c != 0),
            "{var}={value}: exit {code:?}\n{log}"
        );
        assert!(
            named,
            "{var}={value}: the message does not name the variable (waited 30 s):\n{log}"
        );
        assert!(!log.contains("panicked"), "{var}={value}:\n{log}");
    }
    assert_eq!(count(&c, ROWS).await, 0, "nothing written");
}

/// Asserts a 4xx JSON error naming `field` (when given).
fn assert_refused(
    what: &str,
    (status, body): &(StatusCode, Value),
    want: StatusCode,
    field: Option<&str>,
) {
    assert_eq!(*status, want, "{what}: {body}");
    assert!(body["error"]["message"].is_string(), "{what}: {body}");
    if let Some(field) = field {
        assert_eq!(body["error"]["field"], field, "{what}: {body}");
    }
}

#[tokio::test]
async fn input_api_refuses_bad_urls_names_ids_fields_and_bodies_writing_nothing() {
    let (db, c) = TestDb::with_client().await;
    let app = start(test_config(&db)).await;
    let api = AdminApi::at(app.api_addr);
    let user = Uuid::new_v4();
    let hooks = format!("/v1/users/{user}/webhooks");
    let (status, created) = api
        .post(&hooks, json!({"url": "https://example.com/ok"}))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let hook_id = created["id"].as_str().unwrap().to_owned();
    let before = count(&c, ROWS).await;

    for url in [
        "javascript:alert(1)",
        "file:///etc/passwd",
        "https://user:secret@example.com/",
        "https://user@example.com/",
        "https://xn--a.example/",
        "https://exa mple.com/",
        "https://example.com:0/",
        "https://example.com/#fragment",
        "https://",
        "",
    ] {
        let a = api.post(&hooks, json!({"url": url})).await;
        assert_refused(url, &a, StatusCode::BAD_REQUEST, Some("url"));
        let a = api
            .json(
                Method::PATCH,
                &format!("{hooks}/{hook_id}"),
                json!({"url": url}),
            )
            .await;
        assert_refused(url, &a, StatusCode::BAD_REQUEST, Some("url"));
    }
    let oversize = format!("https://example.com/{}", "a".repeat(3000));
    let a = api.post(&hooks, json!({"url": oversize})).await;
    assert_refused("oversize url", &a, StatusCode::BAD_REQUEST, Some("url"));
    // A unicode host is not refused: it is stored in its ASCII (punycode) form.
    let (status, unicode) = api
        .post(&hooks, json!({"url": "https://bücher.example/hook"}))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{unicode}");
    assert_eq!(unicode["url"], "https://xn--bcher-kva.example/hook");
    let unicode_id = unicode["id"].as_str().unwrap().to_owned();
    let a = api
        .send(
            Method::DELETE,
            &format!("{hooks}/{unicode_id}"),
            Bytes::new(),
        )
        .await;
    assert!(a.0.is_success(), "{:?}", a);

    for name in [
        "bad name!",
        "",
        ".leading",
        "trailing.",
        "a..b",
        "ünï.code",
        &"x".repeat(300),
    ] {
        let a = api
            .post("/v1/event-types", json!({"name": name, "scope": "own"}))
            .await;
        assert_refused(name, &a, StatusCode::BAD_REQUEST, Some("name"));
    }
    let a = api
        .post(
            "/v1/event-types",
            json!({"name": "ok.name", "scope": "own", "colour": "red"}),
        )
        .await;
    assert_refused("unknown field", &a, StatusCode::BAD_REQUEST, Some("colour"));
    let a = api
        .json(
            Method::PATCH,
            &format!("{hooks}/{hook_id}"),
            json!({"enabled": false, "colour": "red"}),
        )
        .await;
    assert_refused(
        "unknown field in a patch",
        &a,
        StatusCode::BAD_REQUEST,
        Some("colour"),
    );

    for (path, field) in [
        ("/v1/users/not-a-uuid/webhooks".to_owned(), "user_id"),
        (format!("{hooks}/1234"), "webhook_id"),
        (format!("{hooks}/{hook_id}x/deliveries"), "webhook_id"),
    ] {
        let a = api.send(Method::GET, &path, Bytes::new()).await;
        assert_refused(&path, &a, StatusCode::BAD_REQUEST, Some(field));
    }
    let a = api
        .send(Method::POST, "/v1/deliveries/zzzz/retry", Bytes::new())
        .await;
    assert_refused(
        "delivery id",
        &a,
        StatusCode::BAD_REQUEST,
        Some("delivery_id"),
    );
    let a = api
        .post(
            "/v1/events",
            json!({"event_type": "x", "user_id": user, "resource_id": "nope"}),
        )
        .await;
    assert_refused("resource id", &a, StatusCode::BAD_REQUEST, None);

    // A huge body (8 MiB) is refused without being read whole; the server keeps serving.
    let huge = Bytes::from(vec![b' '; 8 * 1024 * 1024]);
    let a = api.send(Method::POST, "/v1/events", huge).await;
    assert_refused("huge body", &a, StatusCode::PAYLOAD_TOO_LARGE, None);
    let a = api
        .send(Method::POST, &hooks, Bytes::from_static(b"\xff\xfe{"))
        .await;
    assert_refused("not UTF-8", &a, StatusCode::BAD_REQUEST, None);
    let (status, _) = api.send(Method::GET, &hooks, Bytes::new()).await;
    assert_eq!(status, StatusCode::OK, "still serving");

    assert_eq!(count(&c, ROWS).await, before, "nothing half-written");
    let url: String = value(
        &c,
        "select url from herald.user_webhooks where id = $1::text::uuid",
        &[&hook_id],
    )
    .await;
    assert_eq!(
        url, "https://example.com/ok",
        "refused patches changed nothing"
    );
    app.shutdown().await;
}

#[tokio::test]
async fn input_sql_refuses_bad_names_and_ids_writing_nothing() {
    let (_db, c) = TestDb::with_client().await;
    event_type(&c, "order.created", "own").await;
    let before = count(&c, ROWS).await;
    for (sql, code) in [
        ("insert into herald.event_types (name, scope) values ('bad name!', 'own')", "23514"),
        ("insert into herald.event_types (name, scope) values ('a..b', 'own')", "23514"),
        ("insert into herald.event_types (name, scope) values ('x', 'everyone')", "23514"),
        ("select herald.emit('order.created', 'not-a-uuid', null, '{}')", "22P02"),
        ("select herald.emit('order.created', gen_random_uuid(), null, 'not json')", "22P02"),
        ("select herald.emit('order.created', gen_random_uuid(), null, '\"a string\"')", "23514"),
        ("select herald.emit('order.created', gen_random_uuid(), null, 'null')", "23514"),
        (
            "insert into herald.user_webhooks (user_id, url, secret)
             values (gen_random_uuid(), 'https://example.com/' || repeat('a', 3000), 'whsec_dGVzdA==')",
            "23514",
        ),
    ] {
        let err = c.batch_execute(sql).await.expect_err(sql);
        let db_err = err.as_db_error().unwrap_or_else(|| panic!("{sql}: {err}"));
        assert_eq!(db_err.code().code(), code, "{sql}: {}", db_err.message());
    }
    assert_eq!(count(&c, ROWS).await, before, "nothing half-written");
}

#[tokio::test]
async fn input_sql_written_bad_urls_are_refused_at_send_time_without_traffic() {
    let Scene { db, c, receiver } = Scene::new().await;
    let port = receiver.addr().port();
    // The database does not parse URLs; an application writing rows directly can store
    // anything. The sender parses again before connecting.
    let targets = [
        "javascript:alert(1)".to_owned(),
        "file:///etc/passwd".to_owned(),
        format!("http://user:secret@127.0.0.1:{port}/userinfo"),
        "not a url".to_owned(),
        format!("http://127.0.0.1:{port}/#fragment-only-refused-by-the-api"),
    ];
    let mut users = Vec::new();
    for t in &targets {
        users.push(webhook(&c, t).await.0);
    }
    let app = start(retrying(&db, "0")).await;
    for u in &users {
        emit_many(&c, "order.created", *u, 1).await;
    }
    eventually_count(
        &c,
        "select count(*) from herald.webhook_deliveries where status <> 'pending'",
        targets.len() as i64,
        "every delivery has an outcome",
    )
    .await;
    let rows = c
        .query(
            "select w.url, d.status, coalesce(d.last_error, '') from herald.webhook_deliveries d
               join herald.user_webhooks w on w.id = d.webhook_id order by w.url",
            &[],
        )
        .await
        .unwrap();
    let mut refused = 0;
    for r in rows {
        let (url, status, error): (String, String, String) = (r.get(0), r.get(1), r.get(2));
        if url.contains("#fragment") {
            // Harmless: the fragment is never sent.
            continue;
        }
        refused += 1;
        assert_eq!(status, "exhausted", "{url}: {error}");
        assert!(
            error.starts_with("invalid target URL: "),
            "{url}: {error:?}"
        );
    }
    assert_eq!(refused, 4);
    assert!(
        receiver.requests().iter().all(|r| r.path != "/userinfo"),
        "a URL with credentials was sent"
    );
    app.shutdown().await;
}
