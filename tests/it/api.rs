//! The admin HTTP API through a real HTTP client, against the server on port 0 and a real
//! database of its own per test. `TestApi` lives here; the tests in `api/`.

mod deliveries;
mod events;
mod flow;
mod input;
mod openapi;
mod service;
mod webhooks;

use std::{
    collections::BTreeSet,
    sync::{atomic::Ordering, Arc},
    time::Duration,
};

use bytes::Bytes;
use http::{Method, StatusCode};
use serde_json::{json, Value};
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use crate::{
    admin::AdminApi,
    harness::{count, eventually, TestDb},
};
use herald::{
    api::{self, ApiState, Readiness},
    metrics::Metrics,
};

const TOKEN: &str = "test-admin-token-0123456789";
/// The test server's body deadline: short, so the slow-body test is quick.
const BODY_TIMEOUT: Duration = Duration::from_secs(2);

struct TestApi {
    base: String,
    client: AdminApi,
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
            secret_keys: herald::domain::keyring::KeyRing::none(),
            body_timeout: BODY_TIMEOUT,
        };
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        let base = format!("http://{addr}");
        let stop = CancellationToken::new();
        let server = tokio::spawn(herald::admin::serve(listener, state, stop.clone()));
        let client = AdminApi::at(addr);
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

    /// A server with the event type `name` (scope `own`) registered.
    async fn with_type(name: &str) -> TestApi {
        let api = TestApi::start().await;
        api.register_type(name, "own").await;
        api
    }

    /// Both readiness conditions met: `/readyz` answers from the database alone.
    fn set_ready(&self) {
        self.readiness
            .listener_connected
            .store(true, Ordering::SeqCst);
        self.readiness.leader_known.store(true, Ordering::SeqCst);
    }

    /// Drops the server's database under it (the server keeps running).
    async fn drop_database(&self) {
        crate::harness::admin_client()
            .await
            .batch_execute(&format!("drop database {} with (force)", self.db.name))
            .await
            .expect("drop the database");
    }

    async fn raw(&self, method: Method, path: &str, token: Option<&str>, body: Bytes) -> Answer {
        let answered = self.client.request(method, path, token, body).await;
        Answer {
            status: answered.status,
            text: String::from_utf8_lossy(&answered.body).into_owned(),
            content_type: answered.content_type,
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

    /// A new user with one webhook to `https://example.com/`: (user, webhook, secret).
    async fn user_webhook(&self) -> (Uuid, Uuid, String) {
        let user = Uuid::new_v4();
        let (id, secret) = self
            .create_webhook(user, hook("https://example.com/"))
            .await;
        (user, id, secret)
    }

    /// `POST .../rotate-secret` of the webhook `id` of `user`.
    async fn rotate(&self, user: Uuid, id: Uuid, body: Value) -> Answer {
        let path = format!("/v1/users/{user}/webhooks/{id}/rotate-secret");
        self.post(&path, body).await
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
