//! Least privilege: `herald migrate --grant-app` / `--grant-worker`, and which functions run
//! with their owner's rights.

use std::{sync::atomic::Ordering, time::Duration};

use herald::{
    leader::chores::{Chores, QueueUpkeep},
    metrics::Metrics,
    store::{self, migrate},
};
use http::{Method, StatusCode};
use serde_json::json;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use super::{api, TestRole};
use crate::admin::AdminApi;
use crate::{
    app::{event_type, start, test_config, webhook_for},
    harness::{count, eventually, eventually_count, eventually_delivered, value, TestDb},
    receiver::{Behaviour, Route, TestReceiver},
};

fn denied(result: Result<impl std::fmt::Debug, tokio_postgres::Error>, what: &str) {
    let err = result.expect_err(what);
    assert_eq!(
        err.code().map(|c| c.code()),
        Some("42501"),
        "{what}: expected permission denied, got {err:?}"
    );
}

/// A fresh database, a client as its owner, and a new role granted `grant`.
async fn granted(kind: &str, grant: migrate::Grant) -> (TestDb, tokio_postgres::Client, TestRole) {
    let db = TestDb::new().await;
    let owner = db.client().await;
    let role = TestRole::create(&db, kind).await;
    migrate::grant(&owner, grant, &role.name)
        .await
        .unwrap_or_else(|e| panic!("grant {kind}: {e}"));
    (db, owner, role)
}

/// The leader's chores with `role`'s rights.
fn chores_as(role: &TestRole, retention: Duration) -> Chores {
    Chores::new(
        store::connect_pool(&role.url(), 2).expect("pool"),
        retention,
        Metrics::new(),
    )
}

#[tokio::test]
async fn grant_app_lets_the_application_emit_and_read_but_not_secrets_or_writes() {
    let (_db, owner, app) = granted("app", migrate::Grant::App).await;
    event_type(&owner, "order.created", "own").await;
    let user = Uuid::new_v4();
    let (_, hook, _) = webhook_for(&owner, user, "https://example.com/hook").await;
    owner
        .batch_execute(
            "create table public.orders (id uuid primary key default gen_random_uuid(),
                                         owner_id uuid not null);
             insert into herald.event_types (name, scope) values ('order.placed', 'own');
             select herald.watch('public.orders', 'order.placed', user_column => 'owner_id');",
        )
        .await
        .expect("a watched table");
    owner
        .batch_execute(&format!(
            "grant select, insert on public.orders to {}",
            app.name
        ))
        .await
        .expect("the application's own table");

    let c = app.client().await;
    // Emit, both ways, and through a watched table of its own.
    c.execute(
        "select herald.emit('order.created', $1, null, '{\"n\": 1}')",
        &[&user],
    )
    .await
    .expect("emit");
    c.execute(
        "insert into herald.events (event_type, user_id, data) values ('order.created', $1, '{}')",
        &[&user],
    )
    .await
    .expect("insert an event");
    c.execute("insert into public.orders (owner_id) values ($1)", &[&user])
        .await
        .expect("a watched write");
    // Register event types; read deliveries, attempts and the webhooks' other columns.
    c.batch_execute("insert into herald.event_types (name, scope) values ('order.shipped', 'own')")
        .await
        .expect("register an event type");
    let deliveries_of = "select count(*) from herald.webhook_deliveries where webhook_id = $1";
    let deliveries: i64 = value(&c, deliveries_of, &[&hook]).await;
    assert_eq!(
        deliveries, 3,
        "the fan-out ran for the application's three events"
    );
    c.query("select * from herald.delivery_attempts", &[])
        .await
        .expect("read attempts");
    c.query(
        "select id, user_id, url, enabled, signature_scheme, public_key from herald.user_webhooks",
        &[],
    )
    .await
    .expect("read webhooks without secrets");
    assert_eq!(
        count(
            &owner,
            "select count(*) from herald.events where event_type = 'order.placed'"
        )
        .await,
        1,
        "the watch fired for the application's write"
    );

    // No secrets, no writes to deliveries or webhooks, no watch.
    denied(
        c.query("select secret from herald.user_webhooks", &[])
            .await,
        "read user_webhooks.secret",
    );
    denied(
        c.query("select previous_secret from herald.user_webhooks", &[])
            .await,
        "read user_webhooks.previous_secret",
    );
    denied(
        c.query("select * from herald.user_webhooks", &[]).await,
        "select * from user_webhooks",
    );
    denied(
        c.execute("update herald.deliveries set status = 'delivered'", &[])
            .await,
        "update a delivery",
    );
    denied(
        c.execute("delete from herald.deliveries", &[]).await,
        "delete deliveries",
    );
    denied(
        c.execute("delete from herald.queue", &[]).await,
        "take deliveries off the queue",
    );
    denied(
        c.execute("update herald.user_webhooks set enabled = false", &[])
            .await,
        "update a webhook",
    );
    denied(
        c.execute(
            "insert into herald.user_webhooks (user_id, url, secret) values ($1, 'https://x.example/', 'whsec_x')",
            &[&user],
        )
        .await,
        "insert a webhook",
    );
    denied(
        c.query(
            "select herald.watch('public.orders', 'order.shipped', user_column => 'owner_id')",
            &[],
        )
        .await,
        "herald.watch",
    );
    denied(
        c.query("select * from herald.watches", &[]).await,
        "read herald.watches",
    );
}

#[tokio::test]
async fn grant_worker_runs_herald_with_no_other_rights() {
    let (db, owner, worker) = granted("worker", migrate::Grant::Worker).await;
    let receiver = TestReceiver::start().await;
    // The first attempt fails, so that the API's retry has something to re-queue.
    receiver.set_behaviour(Route::All, Behaviour::fail_first_per_id(1, 500));
    let mut config = test_config(&db);
    config.database_url = worker.url();
    config.retry_schedule = "0,3600".parse().expect("schedule");
    let herald = start(config).await;
    let addr = herald.api_addr;
    let admin = AdminApi::at(addr);

    eventually(
        "ready as the worker role",
        Duration::from_secs(20),
        || async { api(addr, Method::GET, "/readyz", None).await.0 == StatusCode::OK },
    )
    .await;
    admin.register_type("order.created", "own").await;
    let user = Uuid::new_v4();
    let (status, created) = admin
        .create_webhook(user, json!({"url": receiver.url("/hook")}))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let hook = created["id"].as_str().expect("id").to_owned();
    let secret =
        herald::domain::secret::WebhookSecret::parse(created["secret"].as_str().expect("secret"))
            .expect("secret parses");
    let emit = json!({"event_type": "order.created", "user_id": user, "data": {"n": 1}});
    let (status, body) = api(addr, Method::POST, "/v1/events", Some(emit.clone())).await;
    assert!(status.is_success(), "emit: {status} {body}");
    let first = receiver.wait_for_count(1, Duration::from_secs(20)).await;
    assert!(first[0].verify(&secret), "signed with the webhook's secret");

    let (status, rotated) = admin.rotate(user, &hook, json!({})).await;
    assert_eq!(status, StatusCode::OK, "{rotated}");
    let (status, listed) = admin
        .get(&format!("/v1/users/{user}/webhooks/{hook}/deliveries"))
        .await;
    assert_eq!(status, StatusCode::OK, "{listed}");
    let delivery = listed["data"][0]["id"]
        .as_str()
        .expect("a delivery")
        .to_owned();
    eventually_count(
        &owner,
        "select count(*) from herald.webhook_deliveries where status = 'failed'",
        1,
        "the failure is recorded",
    )
    .await;
    let (status, body) = api(
        addr,
        Method::POST,
        &format!("/v1/deliveries/{delivery}/retry"),
        None,
    )
    .await;
    assert!(status.is_success(), "retry: {status} {body}");
    let again = receiver.wait_for_count(2, Duration::from_secs(20)).await;
    assert!(
        again[1].verify(&secret),
        "the old secret signs during grace"
    );
    assert_eq!(
        again[1]
            .header("webhook-signature")
            .unwrap_or_default()
            .split(' ')
            .count(),
        2,
        "both secrets sign"
    );
    eventually("the leader is elected", Duration::from_secs(20), || async {
        herald.leader.is_leader.load(Ordering::SeqCst)
    })
    .await;

    // The leader's retention, run now under the same role, deletes what is old enough.
    eventually_delivered(&owner, 1, "the retry is recorded", Duration::from_secs(20)).await;
    let chores = chores_as(&worker, Duration::from_millis(1));
    let pruned = chores
        .prune(&CancellationToken::new())
        .await
        .expect("retention runs as the worker");
    assert_eq!((pruned.deliveries, pruned.events), (1, 1), "{pruned:?}");
    herald.shutdown().await;

    // And nothing more: no migrations, no watch, no DDL in the schema.
    let c = worker.client().await;
    denied(
        c.query("select * from herald.schema_migrations", &[]).await,
        "read schema_migrations",
    );
    denied(
        c.query("select * from herald.watches", &[]).await,
        "read herald.watches",
    );
    denied(
        c.batch_execute("create table herald.mine (x int)").await,
        "create a table in herald",
    );
}

/// A worker that does not own the queue still analyzes it when a backlog outgrows the planner's
/// count (the cached claim plan then scanned the queue once per row it locked), through the
/// owner's `herald.analyze_queue()`; and it does not try a VACUUM PostgreSQL would skip with a
/// warning each tick, leaving that to autovacuum.
#[tokio::test]
async fn grant_worker_lets_the_leader_analyze_the_queue_and_leaves_its_vacuum_to_autovacuum() {
    let (db, owner, worker) = granted("worker", migrate::Grant::Worker).await;
    // Autovacuum could otherwise vacuum or analyze the queue before the chore looks.
    for sql in [
        "alter table herald.queue set (autovacuum_enabled = false)",
        "vacuum herald.queue",
    ] {
        owner.batch_execute(sql).await.unwrap();
    }
    let planned = "select reltuples::int8 from pg_class where oid = 'herald.queue'::regclass";
    let stat = |column: &str| {
        format!("select {column} from pg_stat_user_tables where relid = 'herald.queue'::regclass")
    };
    assert_eq!(count(&owner, planned).await, 0, "vacuumed while empty");
    owner
        .batch_execute(
            "insert into herald.queue (delivery_id, webhook_id, due_at)
             select gen_random_uuid(), gen_random_uuid(), 'infinity' from generate_series(1, 20000)",
        )
        .await
        .unwrap();
    eventually(
        "the live rows are counted",
        Duration::from_secs(30),
        || async { count(&owner, &stat("n_live_tup")).await >= 20000 },
    )
    .await;
    let chores = chores_as(&worker, Duration::from_secs(7 * 86400));
    assert_eq!(
        chores.queue_upkeep().await.expect("upkeep as the worker"),
        QueueUpkeep::Analyzed,
        "the worker analyzes a backlog the planner does not know of"
    );
    assert_eq!(
        count(&owner, planned).await,
        20000,
        "the planner's count caught up"
    );

    owner
        .batch_execute("delete from herald.queue")
        .await
        .unwrap();
    eventually(
        "the dead tuples are counted",
        Duration::from_secs(30),
        || async { count(&owner, &stat("n_dead_tup")).await >= 20000 },
    )
    .await;
    assert_eq!(
        chores.queue_upkeep().await.expect("upkeep as the worker"),
        QueueUpkeep::LeftToAutovacuum,
        "the worker does not vacuum a queue it does not own"
    );
    // The owner's leader does.
    let as_owner = Chores::new(db.pool(), Duration::from_secs(7 * 86400), Metrics::new());
    assert_eq!(
        as_owner.queue_upkeep().await.expect("upkeep as the owner"),
        QueueUpkeep::Vacuumed
    );
}

#[tokio::test]
async fn grant_refuses_a_role_that_does_not_exist() {
    let db = TestDb::new().await;
    let owner = db.client().await;
    let err = migrate::grant(&owner, migrate::Grant::App, "herald_no_such_role")
        .await
        .expect_err("no such role");
    assert!(
        err.to_string().contains("herald_no_such_role")
            && err.to_string().contains("does not exist"),
        "{err}"
    );
}

#[tokio::test]
async fn security_definer_is_exactly_the_fan_out_and_the_queue_analyze_with_a_fixed_search_path() {
    let (_db, c) = TestDb::with_client().await;
    let rows = c
        .query(
            "select p.proname::text, p.prosecdef, coalesce(array_to_string(p.proconfig, ','), ''),
                    coalesce(array_to_string(p.proacl, ','), '')
               from pg_proc p where p.pronamespace = 'herald'::regnamespace order by 1",
            &[],
        )
        .await
        .expect("functions");
    assert!(rows.len() >= 5, "{rows:?}");
    for r in &rows {
        let (name, definer, config, acl): (String, bool, String, String) =
            (r.get(0), r.get(1), r.get(2), r.get(3));
        assert_eq!(
            definer,
            name == "fan_out_events" || name == "analyze_queue",
            "{name}"
        );
        if definer {
            assert!(
                config.contains("search_path=pg_catalog, pg_temp"),
                "{name}: {config}"
            );
        }
        // No function is callable by PUBLIC (an ACL entry "=X/owner").
        assert!(
            !acl.split(',').any(|e| e.starts_with("=X")),
            "{name} is executable by PUBLIC: {acl}"
        );
        assert!(
            !acl.is_empty(),
            "{name} has the default ACL (PUBLIC may execute)"
        );
    }
}
