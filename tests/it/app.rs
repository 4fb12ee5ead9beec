//! `TestApp`: the real `herald run` (pipeline, leader, admin API) in-process on port 0, against
//! a test database, plus helpers to set up users, webhooks and events with SQL.

#![allow(dead_code)]

use std::time::Duration;

use herald::{
    app::{App, AppHandle, StartOptions},
    config::Config,
    domain::secret::WebhookSecret,
};
use uuid::Uuid;

use crate::{
    harness::{eventually, rows, value, TestDb, WAIT},
    receiver::TestReceiver,
};

pub const TOKEN: &str = "test-admin-token-0123456789";

/// Test defaults: loopback targets and plain http allowed, API on port 0.
pub fn test_config(db: &TestDb) -> Config {
    let mut c = Config::with_database(db.url.clone());
    c.listen = "127.0.0.1:0".parse().expect("address");
    c.admin_token = Some(TOKEN.into());
    c.allow_private_targets = true;
    c.allow_http = true;
    c.shutdown_grace = Duration::from_secs(5);
    c
}

/// [`test_config`] with this retry schedule (`"0,1,1"`: three attempts, a second apart).
pub fn retrying(db: &TestDb, schedule: &str) -> Config {
    let mut c = test_config(db);
    c.retry_schedule = schedule.parse().expect("retry schedule");
    c
}

/// Where most delivery tests start: a database of their own, a client on it, a receiver, and
/// the event type `order.created` (scope `own`) registered.
/// `let Scene { db, c, receiver } = Scene::new().await;`
pub struct Scene {
    pub db: TestDb,
    pub c: tokio_postgres::Client,
    pub receiver: TestReceiver,
}

impl Scene {
    pub async fn new() -> Scene {
        let (db, c) = TestDb::with_client().await;
        let receiver = TestReceiver::start().await;
        event_type(&c, "order.created", "own").await;
        Scene { db, c, receiver }
    }
}

pub async fn start(config: Config) -> AppHandle {
    App::start(config, StartOptions::default())
        .await
        .expect("herald starts")
}

/// Registers an event type (idempotent).
pub async fn event_type(c: &tokio_postgres::Client, name: &str, scope: &str) {
    c.execute(
        "insert into herald.event_types (name, scope) values ($1, $2) on conflict do nothing",
        &[&name, &scope],
    )
    .await
    .expect("register event type");
}

/// Creates an `own` webhook for a new user; returns (user, webhook, secret).
pub async fn webhook(c: &tokio_postgres::Client, url: &str) -> (Uuid, Uuid, WebhookSecret) {
    webhook_for(c, Uuid::new_v4(), url).await
}

pub async fn webhook_for(
    c: &tokio_postgres::Client,
    user: Uuid,
    url: &str,
) -> (Uuid, Uuid, WebhookSecret) {
    let secret = WebhookSecret::generate().expect("random secret");
    let id: Uuid = value(
        c,
        "insert into herald.user_webhooks (user_id, url, secret) values ($1, $2, $3) returning id",
        &[&user, &url, &secret.expose()],
    )
    .await;
    (user, id, secret)
}

/// Whether the webhook `id` is enabled.
pub async fn webhook_enabled(c: &tokio_postgres::Client, id: Uuid) -> bool {
    value(
        c,
        "select enabled from herald.user_webhooks where id = $1",
        &[&id],
    )
    .await
}

/// Emits `n` events of `event_type` for `user` in one statement; returns their ids.
pub async fn emit_many(
    c: &tokio_postgres::Client,
    event_type: &str,
    user: Uuid,
    n: i64,
) -> Vec<Uuid> {
    rows(
        c,
        "insert into herald.events (event_type, user_id, data)
         select $1, $2, jsonb_build_object('n', g) from generate_series(1, $3::int8) g
         returning id",
        &[&event_type, &user, &n],
        |r| r.get(0),
    )
    .await
}

/// One delivery's status, attempt count, last status code and last error.
pub async fn delivery_state(
    c: &tokio_postgres::Client,
    event_id: Uuid,
) -> (String, i32, Option<i32>, Option<String>) {
    let r = c
        .query_one(
            "select status, attempt_count, last_status_code, last_error
               from herald.webhook_deliveries where event_id = $1",
            &[&event_id],
        )
        .await
        .expect("delivery row");
    (r.get(0), r.get(1), r.get(2), r.get(3))
}

/// Waits (up to [`WAIT`]) until the delivery of `event` has this status.
pub async fn eventually_status(c: &tokio_postgres::Client, event: Uuid, status: &str) {
    eventually(status, WAIT, || async {
        delivery_state(c, event).await.0 == status
    })
    .await;
}
