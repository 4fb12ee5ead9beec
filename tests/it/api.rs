//! The admin HTTP API through a real HTTP client, against the server on port 0 and a real
//! database of its own per test.

use std::{
    collections::BTreeSet,
    sync::{atomic::Ordering, Arc},
    time::Duration,
};

use bytes::Bytes;
use http::{Method, Request, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper_util::{
    client::legacy::{connect::HttpConnector, Client},
    rt::TokioExecutor,
};
use serde_json::{json, Value};
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use crate::harness::{count, eventually, TestDb};
use herald::{
    api::{self, ApiState, Readiness},
    metrics::Metrics,
};

const TOKEN: &str = "test-admin-token-0123456789";

struct TestApi {
    base: String,
    client: Client<HttpConnector, Full<Bytes>>,
    db: TestDb,
    sql: tokio_postgres::Client,
    readiness: Arc<Readiness>,
    metrics: Arc<Metrics>,
    stop: CancellationToken,
    server: tokio::task::JoinHandle<std::io::Result<()>>,
}

struct Answer {
    status: StatusCode,
    text: String,
    content_type: String,
}

impl Answer {
    fn json(&self) -> Value {
        serde_json::from_str(&self.text).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.text))
    }

    /// Asserts an error answer with this status and, when given, this field.
    fn assert_error(&self, status: StatusCode, field: Option<&str>) {
        assert_eq!(self.status, status, "{}", self.text);
        let body = self.json();
        assert!(body["error"]["code"].is_string(), "{}", self.text);
        assert!(body["error"]["message"].is_string(), "{}", self.text);
        if let Some(field) = field {
            assert_eq!(body["error"]["field"], field, "{}", self.text);
        }
    }
}

impl TestApi {
    async fn start() -> TestApi {
        let db = TestDb::new().await;
        let sql = db.client().await;
        let readiness = Arc::new(Readiness::default());
        let metrics = Metrics::new();
        let state = ApiState {
            pool: db.pool(),
            metrics: metrics.clone(),
            readiness: readiness.clone(),
            admin_token: Some(TOKEN.to_owned()),
            allow_http: false,
            max_body_bytes: 64 * 1024,
        };
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let base = format!("http://{}", listener.local_addr().expect("addr"));
        let stop = CancellationToken::new();
        let server = tokio::spawn(api::serve(listener, state, stop.clone()));
        let client = Client::builder(TokioExecutor::new()).build_http();
        TestApi {
            base,
            client,
            db,
            sql,
            readiness,
            metrics,
            stop,
            server,
        }
    }

    async fn raw(&self, method: Method, path: &str, token: Option<&str>, body: Bytes) -> Answer {
        let mut req = Request::builder()
            .method(method)
            .uri(format!("{}{path}", self.base));
        if let Some(t) = token {
            req = req.header("authorization", format!("Bearer {t}"));
        }
        if !body.is_empty() {
            req = req.header("content-type", "application/json");
        }
        let res = self
            .client
            .request(req.body(Full::new(body)).expect("request"))
            .await
            .expect("request sent");
        let status = res.status();
        let content_type = res
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_owned();
        let bytes = res.into_body().collect().await.expect("body").to_bytes();
        Answer {
            status,
            text: String::from_utf8_lossy(&bytes).into_owned(),
            content_type,
        }
    }

    async fn call(&self, method: Method, path: &str, body: Option<Value>) -> Answer {
        let body = body.map_or_else(Bytes::new, |b| Bytes::from(b.to_string()));
        self.raw(method, path, Some(TOKEN), body).await
    }

    async fn get(&self, path: &str) -> Answer {
        self.call(Method::GET, path, None).await
    }

    async fn post(&self, path: &str, body: Value) -> Answer {
        self.call(Method::POST, path, Some(body)).await
    }

    async fn patch(&self, path: &str, body: Value) -> Answer {
        self.call(Method::PATCH, path, Some(body)).await
    }

    async fn register_type(&self, name: &str, scope: &str) {
        let a = self
            .post("/v1/event-types", json!({"name": name, "scope": scope}))
            .await;
        assert!(a.status.is_success(), "{}", a.text);
    }

    /// Creates a webhook and answers (id, secret).
    async fn create_webhook(&self, user: Uuid, body: Value) -> (Uuid, String) {
        let a = self.post(&format!("/v1/users/{user}/webhooks"), body).await;
        assert_eq!(a.status, StatusCode::CREATED, "{}", a.text);
        let v = a.json();
        (
            v["id"].as_str().expect("id").parse().expect("uuid"),
            v["secret"].as_str().expect("secret").to_owned(),
        )
    }

    async fn stop(self) {
        self.stop.cancel();
        self.server
            .await
            .expect("server task")
            .expect("server ends cleanly");
    }
}

fn hook(url: &str) -> Value {
    json!({"url": url})
}

#[tokio::test]
async fn webhooks_crud_round_trips() {
    let api = TestApi::start().await;
    api.register_type("batch.completed", "own").await;
    let user = Uuid::new_v4();
    let (id, secret) = api
        .create_webhook(
            user,
            json!({"url": "https://example.com/hook", "event_types": ["batch.completed"],
                   "description": "builds"}),
        )
        .await;
    assert!(secret.starts_with("whsec_"), "{secret}");

    let got = api.get(&format!("/v1/users/{user}/webhooks/{id}")).await;
    assert_eq!(got.status, StatusCode::OK, "{}", got.text);
    let v = got.json();
    assert_eq!(v["url"], "https://example.com/hook");
    assert_eq!(v["event_types"], json!(["batch.completed"]));
    assert_eq!(v["scope"], "own");
    assert_eq!(v["enabled"], true);

    let list = api.get(&format!("/v1/users/{user}/webhooks")).await.json();
    assert_eq!(list["data"].as_array().map(Vec::len), Some(1));

    let patched = api
        .patch(
            &format!("/v1/users/{user}/webhooks/{id}"),
            json!({"url": "https://example.org/new"}),
        )
        .await;
    assert_eq!(patched.status, StatusCode::OK, "{}", patched.text);
    assert_eq!(patched.json()["url"], "https://example.org/new");

    let deleted = api
        .call(
            Method::DELETE,
            &format!("/v1/users/{user}/webhooks/{id}"),
            None,
        )
        .await;
    assert_eq!(deleted.status, StatusCode::NO_CONTENT);
    api.get(&format!("/v1/users/{user}/webhooks/{id}"))
        .await
        .assert_error(StatusCode::NOT_FOUND, None);
    api.stop().await;
}

#[tokio::test]
async fn webhooks_create_refuses_invalid_input_naming_the_field() {
    let api = TestApi::start().await;
    api.register_type("batch.completed", "own").await;
    api.register_type("tenant.created", "platform").await;
    let user = Uuid::new_v4();
    let path = format!("/v1/users/{user}/webhooks");
    let cases: &[(Value, StatusCode, &str)] = &[
        (
            hook("http://example.com/hook"),
            StatusCode::BAD_REQUEST,
            "url",
        ),
        (
            hook("https://me:pw@example.com/"),
            StatusCode::BAD_REQUEST,
            "url",
        ),
        (hook("ftp://example.com/"), StatusCode::BAD_REQUEST, "url"),
        (hook("not a url"), StatusCode::BAD_REQUEST, "url"),
        (
            hook(&format!("https://example.com/{}", "a".repeat(2100))),
            StatusCode::BAD_REQUEST,
            "url",
        ),
        (json!({}), StatusCode::BAD_REQUEST, "url"),
        (
            json!({"url": "https://example.com/", "colour": "red"}),
            StatusCode::BAD_REQUEST,
            "colour",
        ),
        (
            json!({"url": "https://example.com/", "scope": "everyone"}),
            StatusCode::BAD_REQUEST,
            "scope",
        ),
        (
            json!({"url": "https://example.com/", "event_types": ["no.such.type"]}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "event_types",
        ),
        (
            json!({"url": "https://example.com/", "event_types": ["tenant.created"]}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "event_types",
        ),
        (
            json!({"url": "https://example.com/", "event_types": ["bad name!"]}),
            StatusCode::BAD_REQUEST,
            "event_types",
        ),
    ];
    for (body, status, field) in cases {
        api.post(&path, body.clone())
            .await
            .assert_error(*status, Some(field));
    }
    let malformed = api
        .raw(
            Method::POST,
            &path,
            Some(TOKEN),
            Bytes::from_static(b"{\"url\":"),
        )
        .await;
    malformed.assert_error(StatusCode::BAD_REQUEST, None);
    api.post(
        "/v1/users/not-a-uuid/webhooks",
        hook("https://example.com/"),
    )
    .await
    .assert_error(StatusCode::BAD_REQUEST, Some("user_id"));
    assert_eq!(
        count(&api.sql, "select count(*) from herald.user_webhooks").await,
        0,
        "nothing is half-written"
    );
    api.stop().await;
}

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
async fn webhooks_of_another_user_answer_404() {
    let api = TestApi::start().await;
    let owner = Uuid::new_v4();
    let other = Uuid::new_v4();
    let (id, _) = api
        .create_webhook(owner, hook("https://example.com/hook"))
        .await;
    let base = format!("/v1/users/{other}/webhooks/{id}");
    api.get(&base)
        .await
        .assert_error(StatusCode::NOT_FOUND, None);
    api.patch(&base, json!({"description": "mine now"}))
        .await
        .assert_error(StatusCode::NOT_FOUND, None);
    api.post(&format!("{base}/rotate-secret"), json!({}))
        .await
        .assert_error(StatusCode::NOT_FOUND, None);
    api.get(&format!("{base}/deliveries"))
        .await
        .assert_error(StatusCode::NOT_FOUND, None);
    api.post(
        &format!("{base}/recover"),
        json!({"since": "2020-01-01T00:00:00Z"}),
    )
    .await
    .assert_error(StatusCode::NOT_FOUND, None);
    api.call(Method::DELETE, &base, None)
        .await
        .assert_error(StatusCode::NOT_FOUND, None);
    let list = api.get(&format!("/v1/users/{other}/webhooks")).await.json();
    assert_eq!(list["data"], json!([]));
    assert_eq!(
        count(
            &api.sql,
            "select count(*) from herald.user_webhooks where description is null"
        )
        .await,
        1,
        "the owner's webhook is untouched"
    );
    api.stop().await;
}

#[tokio::test]
async fn webhooks_patch_tells_absent_from_null() {
    let api = TestApi::start().await;
    api.register_type("batch.completed", "own").await;
    let user = Uuid::new_v4();
    let (id, _) = api
        .create_webhook(
            user,
            json!({"url": "https://example.com/", "description": "keep me",
                   "event_types": ["batch.completed"]}),
        )
        .await;
    let path = format!("/v1/users/{user}/webhooks/{id}");

    let v = api.patch(&path, json!({"enabled": false})).await.json();
    assert_eq!(v["description"], "keep me", "absent keeps");
    assert_eq!(v["event_types"], json!(["batch.completed"]), "absent keeps");
    assert_eq!(v["enabled"], false);

    let v = api.patch(&path, json!({"description": null})).await.json();
    assert_eq!(v["description"], Value::Null, "null clears");
    assert_eq!(v["event_types"], json!(["batch.completed"]));

    let v = api.patch(&path, json!({"event_types": []})).await.json();
    assert_eq!(v["event_types"], json!([]), "empty array matches nothing");
    let v = api.patch(&path, json!({"event_types": null})).await.json();
    assert_eq!(v["event_types"], Value::Null, "null: every type");

    api.patch(&path, json!({"url": null}))
        .await
        .assert_error(StatusCode::BAD_REQUEST, Some("url"));
    api.patch(&path, json!({"enabled": null}))
        .await
        .assert_error(StatusCode::BAD_REQUEST, Some("enabled"));
    api.patch(&path, json!({"scope": "platform"}))
        .await
        .assert_error(StatusCode::BAD_REQUEST, Some("scope"));
    api.patch(&path, json!({"event_types": ["nope"]}))
        .await
        .assert_error(StatusCode::UNPROCESSABLE_ENTITY, Some("event_types"));
    api.stop().await;
}

#[tokio::test]
async fn webhooks_patch_resets_the_breaker_when_enabling() {
    let api = TestApi::start().await;
    let user = Uuid::new_v4();
    let (id, _) = api.create_webhook(user, hook("https://example.com/")).await;
    api.sql
        .execute(
            "update herald.user_webhooks set enabled = false, disabled_at = now(), \
             consecutive_failures = 10 where id = $1",
            &[&id],
        )
        .await
        .expect("trip the breaker");
    let v = api
        .patch(
            &format!("/v1/users/{user}/webhooks/{id}"),
            json!({"enabled": true}),
        )
        .await
        .json();
    assert_eq!(v["enabled"], true);
    assert_eq!(v["consecutive_failures"], 0);
    assert_eq!(v["disabled_at"], Value::Null);
    api.stop().await;
}

#[tokio::test]
async fn webhooks_rotate_secret_keeps_the_previous_one_with_expiry() {
    let api = TestApi::start().await;
    let user = Uuid::new_v4();
    let (id, first) = api.create_webhook(user, hook("https://example.com/")).await;
    let a = api
        .post(
            &format!("/v1/users/{user}/webhooks/{id}/rotate-secret"),
            json!({"grace_seconds": 3600}),
        )
        .await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.text);
    let second = a.json()["secret"].as_str().expect("secret").to_owned();
    assert!(second.starts_with("whsec_") && second != first);
    let row = api
        .sql
        .query_one(
            "select secret, previous_secret, \
             extract(epoch from previous_secret_expires_at - now())::float8 \
             from herald.user_webhooks where id = $1",
            &[&id],
        )
        .await
        .expect("row");
    assert_eq!(row.get::<_, String>(0), second);
    assert_eq!(
        row.get::<_, Option<String>>(1).as_deref(),
        Some(first.as_str())
    );
    let left: f64 = row.get(2);
    assert!((3500.0..=3600.0).contains(&left), "grace left: {left}");

    // No body: the default grace of 24 hours.
    let a = api
        .call(
            Method::POST,
            &format!("/v1/users/{user}/webhooks/{id}/rotate-secret"),
            None,
        )
        .await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.text);
    api.post(
        &format!("/v1/users/{user}/webhooks/{id}/rotate-secret"),
        json!({"grace_seconds": 99_999_999}),
    )
    .await
    .assert_error(StatusCode::BAD_REQUEST, Some("grace_seconds"));
    api.stop().await;
}

#[tokio::test]
async fn webhooks_platform_scope_is_forbidden_for_non_managers() {
    let api = TestApi::start().await;
    api.register_type("tenant.created", "platform").await;
    let user = Uuid::new_v4();
    let body = json!({"url": "https://example.com/", "scope": "platform",
                      "event_types": ["tenant.created"]});
    let path = format!("/v1/users/{user}/webhooks");
    api.post(&path, body.clone())
        .await
        .assert_error(StatusCode::FORBIDDEN, None);

    let role = format!("/v1/users/{user}/roles/platform-manager");
    assert_eq!(
        api.call(Method::PUT, &role, None).await.status,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        api.call(Method::PUT, &role, None).await.status,
        StatusCode::NO_CONTENT,
        "granting twice is fine"
    );
    let (id, _) = api.create_webhook(user, body.clone()).await;

    assert_eq!(
        api.call(Method::DELETE, &role, None).await.status,
        StatusCode::NO_CONTENT
    );
    api.post(&path, body)
        .await
        .assert_error(StatusCode::FORBIDDEN, None);
    // A demoted manager's existing webhook can still be changed (e.g. disabled).
    let a = api
        .patch(&format!("{path}/{id}"), json!({"enabled": false}))
        .await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.text);
    api.stop().await;
}

#[tokio::test]
async fn event_types_register_list_and_refuse_scope_changes() {
    let api = TestApi::start().await;
    let a = api
        .post(
            "/v1/event-types",
            json!({"name": "batch.completed", "scope": "own", "description": "v1"}),
        )
        .await;
    assert_eq!(a.status, StatusCode::CREATED, "{}", a.text);
    let a = api
        .post(
            "/v1/event-types",
            json!({"name": "batch.completed", "scope": "own", "description": "v2"}),
        )
        .await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.text);
    assert_eq!(a.json()["description"], "v2");
    api.post(
        "/v1/event-types",
        json!({"name": "batch.completed", "scope": "platform"}),
    )
    .await
    .assert_error(StatusCode::CONFLICT, Some("scope"));
    api.post(
        "/v1/event-types",
        json!({"name": "bad name", "scope": "own"}),
    )
    .await
    .assert_error(StatusCode::BAD_REQUEST, Some("name"));
    api.post("/v1/event-types", json!({"name": "x", "scope": "all"}))
        .await
        .assert_error(StatusCode::BAD_REQUEST, Some("scope"));
    api.post("/v1/event-types", json!({"name": "x"}))
        .await
        .assert_error(StatusCode::BAD_REQUEST, Some("scope"));
    let list = api.get("/v1/event-types").await.json();
    assert_eq!(list["data"][0]["name"], "batch.completed");
    assert_eq!(list["data"].as_array().map(Vec::len), Some(1));
    api.stop().await;
}

#[tokio::test]
async fn events_emit_creates_deliveries() {
    let api = TestApi::start().await;
    api.register_type("batch.completed", "own").await;
    let user = Uuid::new_v4();
    let (id, _) = api.create_webhook(user, hook("https://example.com/")).await;
    let resource = Uuid::new_v4();
    let a = api
        .post(
            "/v1/events",
            json!({"event_type": "batch.completed", "user_id": user,
                   "resource_id": resource, "data": {"batch": 7}}),
        )
        .await;
    assert_eq!(a.status, StatusCode::CREATED, "{}", a.text);
    let event_id: Uuid = a.json()["id"].as_str().expect("id").parse().expect("uuid");
    let row = api
        .sql
        .query_one(
            "select webhook_id, event_id, payload from herald.webhook_deliveries",
            &[],
        )
        .await
        .expect("one delivery");
    assert_eq!(row.get::<_, Uuid>(0), id);
    assert_eq!(row.get::<_, Uuid>(1), event_id);
    assert_eq!(row.get::<_, Value>(2)["data"], json!({"batch": 7}));
    api.stop().await;
}

#[tokio::test]
async fn events_emit_refuses_bad_input_naming_the_field() {
    let api = TestApi::start().await;
    api.register_type("batch.completed", "own").await;
    api.sql
        .execute("update herald.settings set max_payload_bytes = 100", &[])
        .await
        .expect("small payload limit");
    let user = Uuid::new_v4().to_string();
    let cases: &[(Value, StatusCode, &str)] = &[
        (
            json!({"event_type": "no.such.type", "user_id": user}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "event_type",
        ),
        (
            json!({"event_type": "batch.completed"}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "user_id",
        ),
        (
            json!({"event_type": "batch.completed", "user_id": user, "data": [1, 2]}),
            StatusCode::BAD_REQUEST,
            "data",
        ),
        (
            json!({"event_type": "batch.completed", "user_id": "nope"}),
            StatusCode::BAD_REQUEST,
            "user_id",
        ),
        (
            json!({"event_type": "batch.completed", "user_id": user, "resource_id": 5}),
            StatusCode::BAD_REQUEST,
            "",
        ),
        (
            json!({"event_type": "batch.completed", "user_id": user,
                   "data": {"blob": "x".repeat(200)}}),
            StatusCode::PAYLOAD_TOO_LARGE,
            "data",
        ),
        (
            json!({"event_type": "batch.completed", "user_id": user, "extra": 1}),
            StatusCode::BAD_REQUEST,
            "extra",
        ),
    ];
    for (body, status, field) in cases {
        let a = api.post("/v1/events", body.clone()).await;
        a.assert_error(*status, (!field.is_empty()).then_some(*field));
    }
    assert_eq!(
        count(&api.sql, "select count(*) from herald.events").await,
        0
    );
    api.stop().await;
}

/// Inserts `n` deliveries of `webhook`, one minute apart (newest first: index 1), in `status`.
async fn insert_deliveries(api: &TestApi, webhook: Uuid, n: i32, status: &str) {
    api.sql
        .execute(
            "insert into herald.webhook_deliveries \
               (webhook_id, event_id, event_type, payload, status, attempt_count, \
                next_attempt_at, created_at) \
             select $1, gen_random_uuid(), 'batch.completed', '{}'::jsonb, $3, 7, \
                    now() + interval '1 hour', now() - i * interval '1 minute' \
               from generate_series(1, $2) i",
            &[&webhook, &n, &status],
        )
        .await
        .expect("insert deliveries");
}

#[tokio::test]
async fn deliveries_list_pages_newest_first_with_attempts() {
    let api = TestApi::start().await;
    let user = Uuid::new_v4();
    let (id, _) = api.create_webhook(user, hook("https://example.com/")).await;
    insert_deliveries(&api, id, 3, "failed").await;
    insert_deliveries(&api, id, 2, "delivered").await;
    api.sql
        .execute(
            "insert into herald.delivery_attempts \
               (delivery_id, webhook_id, attempt, started_at, duration_ms, status_code) \
             select d.id, d.webhook_id, a, now(), 12.5, 500 \
               from herald.webhook_deliveries d, generate_series(1, 2) a \
              where d.status = 'failed'",
            &[],
        )
        .await
        .expect("attempts");
    let base = format!("/v1/users/{user}/webhooks/{id}/deliveries");

    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let path = match &cursor {
            Some(c) => format!("{base}?limit=2&cursor={c}"),
            None => format!("{base}?limit=2"),
        };
        let page = api.get(&path).await;
        assert_eq!(page.status, StatusCode::OK, "{}", page.text);
        let v = page.json();
        for d in v["data"].as_array().expect("data") {
            seen.push(d["created_at"].as_str().expect("created_at").to_owned());
        }
        match v["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => break,
        }
    }
    assert_eq!(seen.len(), 5, "every delivery once");
    let mut sorted = seen.clone();
    sorted.sort_by(|a, b| b.cmp(a));
    assert_eq!(seen, sorted, "newest first");

    let failed = api.get(&format!("{base}?status=failed")).await.json();
    let failed = failed["data"].as_array().expect("data").clone();
    assert_eq!(failed.len(), 3);
    assert_eq!(failed[0]["attempts"].as_array().map(Vec::len), Some(2));
    assert_eq!(failed[0]["attempts"][0]["status_code"], 500);

    api.get(&format!("{base}?status=lost"))
        .await
        .assert_error(StatusCode::BAD_REQUEST, Some("status"));
    api.get(&format!("{base}?limit=0"))
        .await
        .assert_error(StatusCode::BAD_REQUEST, Some("limit"));
    api.get(&format!("{base}?cursor=garbage"))
        .await
        .assert_error(StatusCode::BAD_REQUEST, Some("cursor"));
    api.get(&format!("{base}?colour=red"))
        .await
        .assert_error(StatusCode::BAD_REQUEST, Some("colour"));
    api.stop().await;
}

#[tokio::test]
async fn deliveries_retry_makes_one_due_now() {
    let api = TestApi::start().await;
    let user = Uuid::new_v4();
    let (id, _) = api.create_webhook(user, hook("https://example.com/")).await;
    insert_deliveries(&api, id, 1, "exhausted").await;
    insert_deliveries(&api, id, 1, "delivered").await;
    let exhausted: Uuid = api
        .sql
        .query_one(
            "select id from herald.webhook_deliveries where status = 'exhausted'",
            &[],
        )
        .await
        .expect("row")
        .get(0);
    let a = api
        .post(&format!("/v1/deliveries/{exhausted}/retry"), json!({}))
        .await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.text);
    assert_eq!(a.json()["status"], "failed");
    assert_eq!(a.json()["attempt_count"], 7, "attempt count kept");
    assert_eq!(
        count(
            &api.sql,
            "select count(*) from herald.webhook_deliveries \
              where status = 'failed' and next_attempt_at <= now()"
        )
        .await,
        1,
        "due now"
    );

    let delivered: Uuid = api
        .sql
        .query_one(
            "select id from herald.webhook_deliveries where status = 'delivered'",
            &[],
        )
        .await
        .expect("row")
        .get(0);
    api.post(&format!("/v1/deliveries/{delivered}/retry"), json!({}))
        .await
        .assert_error(StatusCode::CONFLICT, None);
    api.post(
        &format!("/v1/deliveries/{}/retry", Uuid::new_v4()),
        json!({}),
    )
    .await
    .assert_error(StatusCode::NOT_FOUND, None);
    api.post("/v1/deliveries/123/retry", json!({}))
        .await
        .assert_error(StatusCode::BAD_REQUEST, Some("delivery_id"));
    api.stop().await;
}

#[tokio::test]
async fn deliveries_recover_requeues_failed_and_exhausted_since() {
    let api = TestApi::start().await;
    let user = Uuid::new_v4();
    let (id, _) = api.create_webhook(user, hook("https://example.com/")).await;
    insert_deliveries(&api, id, 3, "failed").await;
    insert_deliveries(&api, id, 2, "exhausted").await;
    insert_deliveries(&api, id, 2, "delivered").await;
    let path = format!("/v1/users/{user}/webhooks/{id}/recover");
    // Created 1 and 2 minutes ago qualify; 3 minutes ago does not.
    let since = (chrono::Utc::now() - chrono::Duration::seconds(150)).to_rfc3339();
    let a = api.post(&path, json!({"since": since})).await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.text);
    assert_eq!(a.json()["requeued"], 4);
    let due = "select count(*) from herald.webhook_deliveries \
               where status = 'failed' and next_attempt_at <= now()";
    eventually("recovered rows are due", Duration::from_secs(5), || async {
        count(&api.sql, due).await == 4
    })
    .await;
    assert_eq!(
        count(
            &api.sql,
            "select count(*) from herald.webhook_deliveries where status = 'delivered'"
        )
        .await,
        2
    );
    api.post(&path, json!({"since": "yesterday"}))
        .await
        .assert_error(StatusCode::BAD_REQUEST, Some("since"));
    api.post(&path, json!({}))
        .await
        .assert_error(StatusCode::BAD_REQUEST, Some("since"));
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

    api.readiness
        .listener_connected
        .store(true, Ordering::SeqCst);
    api.readiness.leader_known.store(true, Ordering::SeqCst);
    let a = api.get("/readyz").await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.text);
    assert_eq!(a.json()["not_ready"], json!([]));
    api.stop().await;
}

#[tokio::test]
async fn readyz_names_the_database_when_it_is_gone() {
    let api = TestApi::start().await;
    api.readiness
        .listener_connected
        .store(true, Ordering::SeqCst);
    api.readiness.leader_known.store(true, Ordering::SeqCst);
    let admin = {
        let (c, conn) =
            tokio_postgres::connect(crate::harness::server_url(), tokio_postgres::NoTls)
                .await
                .expect("admin connection");
        tokio::spawn(conn);
        c
    };
    admin
        .batch_execute(&format!("drop database {} with (force)", api.db.name))
        .await
        .expect("drop the database");
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
    let api = TestApi::start().await;
    api.register_type("batch.completed", "own").await;
    let user = Uuid::new_v4();
    let (id, first) = api.create_webhook(user, hook("https://example.com/")).await;
    let rotated = api
        .post(
            &format!("/v1/users/{user}/webhooks/{id}/rotate-secret"),
            json!({}),
        )
        .await
        .json();
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

#[tokio::test]
async fn api_store_queries_prepare() {
    let db = TestDb::new().await;
    let client = db.client().await;
    for (name, sql) in herald::store::admin::QUERIES
        .iter()
        .chain(herald::store::events::QUERIES)
        .chain(herald::store::webhooks::QUERIES)
    {
        client
            .prepare(sql)
            .await
            .unwrap_or_else(|e| panic!("{name}: {e}"));
    }
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
    let user = Uuid::new_v4();
    let (id, first) = api.create_webhook(user, hook("https://example.com/")).await;
    let second = api
        .post(
            &format!("/v1/users/{user}/webhooks/{id}/rotate-secret"),
            json!({}),
        )
        .await
        .json()["secret"]
        .as_str()
        .expect("secret")
        .to_owned();
    api.get(&format!("/v1/users/{user}/webhooks/{id}")).await;
    // An internal error is logged once, opaquely answered.
    let admin = {
        let (c, conn) =
            tokio_postgres::connect(crate::harness::server_url(), tokio_postgres::NoTls)
                .await
                .expect("admin connection");
        tokio::spawn(conn);
        c
    };
    admin
        .batch_execute(&format!("drop database {} with (force)", api.db.name))
        .await
        .expect("drop the database");
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
