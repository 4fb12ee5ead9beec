//! The fan-out triggers against a real database: who gets a delivery, bulk inserts as one set,
//! bad input refused without leftovers, herald.watch, and the gated wake.

use std::time::Duration;

use herald::store::{self, Notification};
use tokio_postgres::{error::SqlState, Client};
use uuid::Uuid;

use crate::{
    app::event_type,
    harness::{count, value, TestDb, DUE},
};

mod refuse;
mod wake;
mod watch;

async fn grant_manager(c: &Client, user: Uuid) {
    c.execute(
        "insert into herald.user_roles (user_id, role) values ($1, 'PLATFORMMANAGER')",
        &[&user],
    )
    .await
    .expect("grant PLATFORMMANAGER");
}

/// A webhook of `user`; `filter` is the `event_types` JSON text (None = every type).
async fn webhook(c: &Client, user: Uuid, scope: &str, filter: Option<&str>) -> Uuid {
    c.query_one(
        "insert into herald.user_webhooks (user_id, url, secret, scope, event_types)
         values ($1, 'https://example.com/hook', 'whsec_dGVzdA==', $2, $3::text::jsonb)
         returning id",
        &[&user, &scope, &filter],
    )
    .await
    .expect("create webhook")
    .get(0)
}

/// A database with `order.created` (own) and one user with one `own` webhook for every type:
/// (database, client, user, webhook).
async fn one_hook() -> (TestDb, Client, Uuid, Uuid) {
    let (db, c) = TestDb::with_client().await;
    event_type(&c, "order.created", "own").await;
    let user = Uuid::new_v4();
    let hook = webhook(&c, user, "own", None).await;
    (db, c, user, hook)
}

async fn emit(c: &Client, ty: &str, user: Option<Uuid>, resource: Option<Uuid>) -> Uuid {
    c.query_one(
        "select herald.emit($1, $2, $3, '{\"n\": 1}')",
        &[&ty, &user, &resource],
    )
    .await
    .expect("emit")
    .get(0)
}

async fn deliveries_of(c: &Client, webhook: Uuid) -> i64 {
    c.query_one(
        "select count(*) from herald.webhook_deliveries where webhook_id = $1",
        &[&webhook],
    )
    .await
    .expect("count deliveries")
    .get(0)
}

fn sqlstate(e: &tokio_postgres::Error) -> &str {
    e.code().map(|c| c.code()).unwrap_or("(none)")
}

fn message(e: &tokio_postgres::Error) -> String {
    e.as_db_error()
        .map(|d| d.message().to_owned())
        .unwrap_or_else(|| e.to_string())
}

#[tokio::test]
async fn fanout_own_event_reaches_only_the_owners_matching_webhooks() {
    let (_db, c) = TestDb::with_client().await;
    event_type(&c, "order.created", "own").await;
    event_type(&c, "order.paid", "own").await;
    let (alice, bob) = (Uuid::new_v4(), Uuid::new_v4());
    let every = webhook(&c, alice, "own", None).await;
    let listed = webhook(&c, alice, "own", Some(r#"["order.paid", "order.created"]"#)).await;
    let other_type = webhook(&c, alice, "own", Some(r#"["order.paid"]"#)).await;
    let empty = webhook(&c, alice, "own", Some("[]")).await;
    let bobs = webhook(&c, bob, "own", None).await;

    let event = emit(&c, "order.created", Some(alice), None).await;

    assert_eq!(deliveries_of(&c, every).await, 1);
    assert_eq!(deliveries_of(&c, listed).await, 1);
    assert_eq!(deliveries_of(&c, other_type).await, 0);
    assert_eq!(
        deliveries_of(&c, empty).await,
        0,
        "an empty filter matches nothing"
    );
    assert_eq!(deliveries_of(&c, bobs).await, 0);

    let row = c
        .query_one(
            "select event_id, event_type, payload, status, attempt_count
               from herald.webhook_deliveries where webhook_id = $1",
            &[&every],
        )
        .await
        .expect("delivery");
    assert_eq!(row.get::<_, Uuid>(0), event);
    assert_eq!(row.get::<_, String>(1), "order.created");
    assert_eq!(row.get::<_, String>(3), "pending");
    assert_eq!(row.get::<_, i32>(4), 0);
    let payload: serde_json::Value = row.get(2);
    let keys: Vec<&str> = payload
        .as_object()
        .expect("payload is an object")
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(keys, ["data", "timestamp", "type"]);
    assert_eq!(payload["type"], "order.created");
    assert_eq!(payload["data"], serde_json::json!({"n": 1}));
    let ts = payload["timestamp"]
        .as_str()
        .expect("timestamp is a string");
    chrono::DateTime::parse_from_rfc3339(ts).expect("timestamp is RFC 3339");
}

#[tokio::test]
async fn fanout_platform_event_reaches_only_current_platform_managers() {
    let (_db, c) = TestDb::with_client().await;
    event_type(&c, "tenant.created", "platform").await;
    let (manager, other_manager, user) = (Uuid::new_v4(), Uuid::new_v4(), Uuid::new_v4());
    grant_manager(&c, manager).await;
    grant_manager(&c, other_manager).await;
    let platform = webhook(&c, manager, "platform", None).await;
    let filtered_out = webhook(&c, other_manager, "platform", Some(r#"["x.y"]"#)).await;
    let managers_own = webhook(&c, manager, "own", None).await;
    let users_own = webhook(&c, user, "own", None).await;

    emit(&c, "tenant.created", None, None).await;
    assert_eq!(deliveries_of(&c, platform).await, 1);
    assert_eq!(deliveries_of(&c, filtered_out).await, 0);
    assert_eq!(deliveries_of(&c, managers_own).await, 0);
    assert_eq!(deliveries_of(&c, users_own).await, 0);

    // Demoted: the webhook stops at once...
    c.execute(
        "delete from herald.user_roles where user_id = $1",
        &[&manager],
    )
    .await
    .expect("demote");
    emit(&c, "tenant.created", None, None).await;
    assert_eq!(deliveries_of(&c, platform).await, 1);

    // ...and the breaker and the admin can still update it.
    c.execute(
        "update herald.user_webhooks
            set consecutive_failures = consecutive_failures + 1, enabled = false,
                disabled_at = now(), updated_at = now()
          where id = $1",
        &[&platform],
    )
    .await
    .expect("a demoted manager's webhook can still be updated");
}

#[tokio::test]
async fn fanout_skips_disabled_and_tripped_webhooks() {
    let (_db, c, user, live) = one_hook().await;
    let disabled = webhook(&c, user, "own", None).await;
    let tripped = webhook(&c, user, "own", None).await;
    c.execute(
        "update herald.user_webhooks set enabled = false where id = $1",
        &[&disabled],
    )
    .await
    .expect("disable");
    c.execute(
        "update herald.user_webhooks set disabled_at = now() where id = $1",
        &[&tripped],
    )
    .await
    .expect("trip");

    emit(&c, "order.created", Some(user), None).await;

    assert_eq!(deliveries_of(&c, live).await, 1);
    assert_eq!(deliveries_of(&c, disabled).await, 0);
    assert_eq!(deliveries_of(&c, tripped).await, 0);
}

#[tokio::test]
async fn fanout_same_resource_twice_gives_one_delivery() {
    let (_db, c, user, hook) = one_hook().await;
    let (order, other_order) = (Uuid::new_v4(), Uuid::new_v4());

    emit(&c, "order.created", Some(user), Some(order)).await;
    emit(&c, "order.created", Some(user), Some(order)).await;
    assert_eq!(deliveries_of(&c, hook).await, 1);

    emit(&c, "order.created", Some(user), Some(other_order)).await;
    // Without a resource there is no idempotency key: each event is delivered.
    emit(&c, "order.created", Some(user), None).await;
    emit(&c, "order.created", Some(user), None).await;
    assert_eq!(deliveries_of(&c, hook).await, 4);
    // Duplicates in one statement collapse too.
    let twin = Uuid::new_v4();
    c.execute(
        "insert into herald.events (event_type, user_id, resource_id, data)
         select 'order.created', $1, $2, '{}' from generate_series(1, 2)",
        &[&user, &twin],
    )
    .await
    .expect("insert twins");
    assert_eq!(deliveries_of(&c, hook).await, 5);
}

#[tokio::test]
async fn fanout_statement_mixing_own_and_platform_events_gives_each_its_scope() {
    let (_db, c) = TestDb::with_client().await;
    event_type(&c, "order.created", "own").await;
    event_type(&c, "tenant.created", "platform").await;
    let (manager, user) = (Uuid::new_v4(), Uuid::new_v4());
    grant_manager(&c, manager).await;
    let platform = webhook(&c, manager, "platform", None).await;
    let managers_own = webhook(&c, manager, "own", None).await;
    let users_own = webhook(&c, user, "own", None).await;

    // Both events name the user; only the own one goes to the user's webhook.
    c.execute(
        "insert into herald.events (event_type, user_id, data)
         values ('order.created', $1, '{}'), ('tenant.created', $1, '{}')",
        &[&user],
    )
    .await
    .expect("mixed insert");
    assert_eq!(deliveries_of(&c, users_own).await, 1);
    assert_eq!(deliveries_of(&c, platform).await, 1);
    assert_eq!(deliveries_of(&c, managers_own).await, 0);
    let crossed: i64 = value(
        &c,
        "select count(*) from herald.webhook_deliveries d join herald.events e on e.id = d.event_id
              where (d.webhook_id = $1) <> (e.event_type = 'tenant.created')",
        &[&platform],
    )
    .await;
    assert_eq!(crossed, 0, "each webhook got the event of its scope");
    // Each delivery is due at once.
    assert_eq!(count(&c, DUE).await, 2);
}

#[tokio::test]
async fn fanout_idempotency_key_holds_after_the_delivery_is_done() {
    let (_db, c, user, hook) = one_hook().await;
    let order = Uuid::new_v4();
    emit(&c, "order.created", Some(user), Some(order)).await;
    // Delivered (as the worker records it: the queue row goes, the record stays).
    c.batch_execute(
        "update herald.deliveries set status = 'delivered', attempt_count = 1, delivered_at = now();
         delete from herald.queue;",
    )
    .await
    .expect("mark delivered");
    emit(&c, "order.created", Some(user), Some(order)).await;
    assert_eq!(deliveries_of(&c, hook).await, 1);
    assert_eq!(count(&c, "select count(*) from herald.queue").await, 0);
}

#[tokio::test]
async fn deleting_a_webhook_deletes_its_deliveries_and_their_attempts() {
    let (_db, c, user, doomed) = one_hook().await;
    let kept = webhook(&c, user, "own", None).await;
    for _ in 0..3 {
        emit(&c, "order.created", Some(user), None).await;
    }
    c.batch_execute(
        "insert into herald.delivery_attempts (delivery_id, webhook_id, attempt, started_at, duration_ms)
         select id, webhook_id, 1, now(), 1 from herald.deliveries;",
    )
    .await
    .expect("attempts");
    c.execute("delete from herald.user_webhooks where id = $1", &[&doomed])
        .await
        .expect("delete webhook");
    assert_eq!(deliveries_of(&c, doomed).await, 0);
    assert_eq!(deliveries_of(&c, kept).await, 3);
    assert_eq!(count(&c, "select count(*) from herald.queue").await, 3);
    assert_eq!(
        count(&c, "select count(*) from herald.delivery_attempts").await,
        3
    );
    assert_eq!(
        count(&c, "select count(*) from herald.deliveries").await,
        3,
        "nothing left behind in the physical tables"
    );
}

#[tokio::test]
async fn fanout_bulk_insert_fans_out_as_one_statement() {
    let (_db, mut c) = TestDb::with_client().await;
    event_type(&c, "row.imported", "own").await;
    let user = Uuid::new_v4();
    let hook = webhook(&c, user, "own", None).await;

    // The trigger is declared FOR EACH STATEMENT (bit 0 of tgtype is ROW).
    let tgtype: i16 = value(
        &c,
        "select tgtype from pg_trigger
              where tgrelid = 'herald.events'::regclass and tgname = 'fan_out'",
        &[],
    )
    .await;
    assert_eq!(tgtype & 1, 0, "fan_out must be a statement-level trigger");

    let tx = c.transaction().await.expect("begin");
    tx.batch_execute("set local track_functions = 'pl'")
        .await
        .expect("track functions");
    let inserted = tx
        .execute(
            "insert into herald.events (event_type, user_id, resource_id, data)
             select 'row.imported', $1, gen_random_uuid(), jsonb_build_object('i', i)
               from generate_series(1, 10000) i",
            &[&user],
        )
        .await
        .expect("bulk insert");
    assert_eq!(inserted, 10_000);
    let calls: i64 = value(
        &tx,
        "select pg_stat_get_xact_function_calls('herald.fan_out_events'::regproc)",
        &[],
    )
    .await;
    assert_eq!(calls, 1, "one fan-out call for the whole statement");
    tx.commit().await.expect("commit");

    assert_eq!(deliveries_of(&c, hook).await, 10_000);
}

/// Events get time-ordered ids (version 7: Unix milliseconds first), so that new events land at
/// the right edge of `events_pkey` rather than on a random leaf; an id the application gives
/// its event is kept.
#[tokio::test]
async fn events_get_time_ordered_ids_unless_the_application_gives_one() {
    let (_db, c, user, _hook) = one_hook().await;
    let first = emit(&c, "order.created", Some(user), None).await;
    let second = emit(&c, "order.created", Some(user), None).await;
    let now_ms = chrono::Utc::now().timestamp_millis();
    for id in [first, second] {
        assert_eq!(id.get_version_num(), 7, "{id}");
        let bytes = id.as_bytes();
        let ms = bytes[..6]
            .iter()
            .fold(0i64, |acc, b| (acc << 8) | i64::from(*b));
        assert!(
            (now_ms - ms).abs() < 60_000,
            "{id}: {ms} ms against {now_ms}"
        );
    }
    let millis = |id: Uuid| id.as_bytes()[..6].to_vec();
    assert!(millis(first) <= millis(second), "{first} then {second}");
    let given = Uuid::new_v4();
    c.execute(
        "insert into herald.events (id, event_type, user_id, data)
         values ($1, 'order.created', $2, '{}')",
        &[&given, &user],
    )
    .await
    .expect("an event with its own id");
    assert_eq!(
        count(
            &c,
            &format!("select count(*) from herald.deliveries where event_id = '{given}'")
        )
        .await,
        1
    );
}
