//! Upgrading a live database from the first schema (one wide `webhook_deliveries` table) to the
//! current one in place: history intact, what was due still delivered, and producers that keep
//! inserting events while `herald migrate` runs lose nothing.

use std::{
    collections::{HashMap, HashSet},
    sync::{
        atomic::{AtomicBool, Ordering},
        Arc,
    },
    time::Duration,
};

use herald::store::migrate;
use tokio_postgres::Client;
use uuid::Uuid;

use crate::{
    app::{event_type, start, test_config, webhook},
    harness::{count, eventually, eventually_delivered, rows, value, TestDb, DUE},
    receiver::TestReceiver,
};

/// The fan-out trigger as it was with the first schema.
const FAN_OUT_0001: &str = include_str!("fixtures/fan_out_0001.sql");
/// `herald.emit`, unchanged since the first schema.
const EMIT: &str = include_str!("../../triggers/0_emit.sql");

/// A database as the first release left it: migration 0001 and its fan-out trigger, recorded
/// in the migration history the way that release recorded them.
async fn database_at_0001() -> TestDb {
    let db = TestDb::empty().await;
    let c = db.client().await;
    let (name, sql) = migrate::MIGRATIONS[0];
    assert_eq!(name, "0001_init");
    c.batch_execute(&format!(
        "create schema herald;
         create table herald.schema_migrations (
             name       text primary key,
             kind       text not null check (kind in ('migration', 'trigger')),
             checksum   text not null,
             applied_at timestamptz not null default now()
         );
         {sql}
         {EMIT}
         {FAN_OUT_0001}"
    ))
    .await
    .expect("apply the first schema");
    c.execute(
        "insert into herald.schema_migrations (name, kind, checksum) values
            ($1, 'migration', $2), ('1_fan_out', 'trigger', $3)",
        &[
            &name,
            &migrate::checksum(sql),
            &migrate::checksum(FAN_OUT_0001),
        ],
    )
    .await
    .expect("record the first schema");
    db
}

async fn upgrade(db: &TestDb) -> migrate::MigrateReport {
    let (mut c, conn) = tokio_postgres::connect(&db.url, tokio_postgres::NoTls)
        .await
        .expect("connect");
    tokio::spawn(conn);
    migrate::run(&mut c).await.expect("herald migrate")
}

/// Every delivery as SQL sees it, by id: (status, attempts, payload text, last status code,
/// last error, created_at).
type Row = (String, i32, String, Option<i32>, Option<String>, String);

async fn deliveries(c: &Client) -> HashMap<Uuid, Row> {
    c.query(
        "select id, status, attempt_count, payload::text, last_status_code, last_error,
                created_at::text
           from herald.webhook_deliveries",
        &[],
    )
    .await
    .expect("read deliveries")
    .into_iter()
    .map(|r| {
        (
            r.get(0),
            (r.get(1), r.get(2), r.get(3), r.get(4), r.get(5), r.get(6)),
        )
    })
    .collect()
}

#[tokio::test]
async fn upgrade_in_place_keeps_history_and_delivers_what_was_due() {
    let db = database_at_0001().await;
    let c = db.client().await;
    let receiver = TestReceiver::start().await;
    event_type(&c, "order.created", "own").await;
    let (user, webhook_id, secret) = webhook(&c, &receiver.url("/hook")).await;
    // 8 events through the old fan-out, then every state the old worker could leave behind:
    // 2 pending, 2 failed (1 attempt, due again), 2 delivered, 2 exhausted (with attempts), and
    // a pending one whose event the old retention had already deleted.
    c.batch_execute(&format!(
        "insert into herald.events (event_type, user_id, resource_id, data)
         select 'order.created', '{user}', gen_random_uuid(), jsonb_build_object('n', g)
           from generate_series(1, 9) g;
         create temp table numbered as
             select id, row_number() over (order by id) as n from herald.webhook_deliveries;
         update herald.webhook_deliveries d
            set status = case when n <= 2 or n = 9 then 'pending' when n <= 4 then 'failed'
                              when n <= 6 then 'delivered' else 'exhausted' end,
                attempt_count = case when n <= 2 or n = 9 then 0 when n <= 6 then 1 else 7 end,
                last_status_code = case when n between 3 and 4 then 503 when n between 5 and 6 then 204
                                        when n between 7 and 8 then 500 end,
                last_error = case when n between 3 and 4 then 'HTTP 503'
                                  when n between 7 and 8 then 'HTTP 500' end,
                delivered_at = case when n between 5 and 6 then now() end,
                next_attempt_at = case when n between 3 and 4 then now() - interval '1 second'
                                       else next_attempt_at end
           from numbered where numbered.id = d.id;
         insert into herald.delivery_attempts
                (delivery_id, webhook_id, attempt, started_at, duration_ms, status_code, error)
         select d.id, d.webhook_id, a, now() - interval '1 minute', 3.5, d.last_status_code, d.last_error
           from herald.webhook_deliveries d, generate_series(1, 7) a
          where a <= d.attempt_count;
         delete from herald.events e using herald.webhook_deliveries d, numbered
          where d.event_id = e.id and numbered.id = d.id and numbered.n = 9;"
    ))
    .await
    .expect("state left by the first release");
    let before = deliveries(&c).await;
    assert_eq!(before.len(), 9);
    let attempts_before = count(&c, "select count(*) from herald.delivery_attempts").await;
    assert_eq!(attempts_before, 2 + 2 + 2 * 7);

    let report = upgrade(&db).await;
    assert_eq!(report.applied, migrations_after_the_first());

    // History is intact, row for row, as SQL reads it.
    assert_eq!(deliveries(&c).await, before);
    assert_eq!(
        count(&c, "select count(*) from herald.delivery_attempts").await,
        attempts_before
    );

    // What was due is delivered, with the payload it was written with.
    let app = start(test_config(&db)).await;
    let requests = receiver.wait_for_count(5, Duration::from_secs(60)).await;
    eventually_delivered(
        &c,
        2 + 5,
        "5 delivered after the upgrade",
        Duration::from_secs(60),
    )
    .await;
    let due: HashSet<String> = before
        .values()
        .filter(|r| r.0 == "pending" || r.0 == "failed")
        .map(|r| r.2.clone())
        .collect();
    for r in &requests {
        assert!(r.verify(&secret), "signature verifies");
        let body = String::from_utf8(r.body.to_vec()).expect("utf-8 body");
        assert!(due.contains(&body), "sent the stored payload: {body}");
    }
    let after = deliveries(&c).await;
    for (id, old) in &before {
        let new = &after[id];
        match old.0.as_str() {
            "pending" => assert_eq!((new.0.as_str(), new.1), ("delivered", 1)),
            "failed" => assert_eq!((new.0.as_str(), new.1, new.3), ("delivered", 2, Some(204))),
            _ => assert_eq!(new, old, "a finished delivery is left alone"),
        }
    }
    assert_eq!(
        count(&c, "select count(*) from herald.delivery_attempts").await,
        attempts_before + 5
    );

    // New events go through the new fan-out.
    c.execute(
        "insert into herald.events (event_type, user_id, data) values ('order.created', $1, '{}')",
        &[&user],
    )
    .await
    .expect("emit after the upgrade");
    let requests = receiver.wait_for_count(6, Duration::from_secs(60)).await;
    // Built from the event, byte for byte what SQL shows as the payload.
    let newest: String = value(
        &c,
        "select payload::text from herald.webhook_deliveries order by created_at desc limit 1",
        &[],
    )
    .await;
    assert_eq!(requests[5].body, newest.as_bytes());
    let delivered = format!(
        "select count(*) from herald.webhook_deliveries
          where webhook_id = '{webhook_id}' and status = 'delivered'"
    );
    eventually(
        "the new event delivered",
        Duration::from_secs(60),
        || async { count(&c, &delivered).await == 8 },
    )
    .await;
    app.shutdown().await;
}

#[tokio::test]
async fn upgrade_while_producers_insert_loses_and_duplicates_nothing() {
    let db = database_at_0001().await;
    let c = db.client().await;
    event_type(&c, "order.created", "own").await;
    const PRODUCERS: usize = 6;
    let mut users = Vec::new();
    for _ in 0..PRODUCERS {
        // Two webhooks each: every event fans out to both.
        let (user, _, _) = webhook(&c, "http://127.0.0.1:9/a").await;
        crate::app::webhook_for(&c, user, "http://127.0.0.1:9/b").await;
        users.push(user);
    }
    let stop = Arc::new(AtomicBool::new(false));
    let mut tasks = Vec::new();
    for (k, user) in users.iter().copied().enumerate() {
        let (client, conn) = tokio_postgres::connect(&db.url, tokio_postgres::NoTls)
            .await
            .expect("connect");
        tokio::spawn(conn);
        let stop = Arc::clone(&stop);
        tasks.push(tokio::spawn(async move {
            // Prepared once, before the upgrade: the server plans it again afterwards.
            let sql = match k % 3 {
                0 => {
                    "insert into herald.events (event_type, user_id, data)
                      values ('order.created', $1, '{}') returning id"
                }
                1 => "select herald.emit('order.created', $1, null, '{}')",
                _ => {
                    "insert into herald.events (event_type, user_id, data)
                      select 'order.created', $1, jsonb_build_object('n', g)
                        from generate_series(1, 3) g returning id"
                }
            };
            let stmt = client.prepare(sql).await.expect("prepare");
            let mut committed = Vec::new();
            while !stop.load(Ordering::Relaxed) {
                let rows = client
                    .query(&stmt, &[&user])
                    .await
                    .expect("a producer's insert fails during the upgrade");
                committed.extend(rows.iter().map(|r| r.get::<_, Uuid>(0)));
            }
            committed
        }));
    }
    let committed_events = || count(&c, "select count(*) from herald.events");
    eventually("producers are busy", Duration::from_secs(60), || async {
        committed_events().await >= 200
    })
    .await;
    let report = upgrade(&db).await;
    assert_eq!(report.applied, migrations_after_the_first());
    let at_upgrade = committed_events().await;
    eventually(
        "producers go on after the upgrade",
        Duration::from_secs(60),
        || async { committed_events().await >= at_upgrade + 200 },
    )
    .await;
    stop.store(true, Ordering::Relaxed);
    let mut committed = Vec::new();
    for t in tasks {
        committed.extend(t.await.expect("producer"));
    }

    let fanned: HashMap<Uuid, i64> = rows(
        &c,
        "select event_id, count(*) from herald.webhook_deliveries group by event_id",
        &[],
        |r| (r.get(0), r.get(1)),
    )
    .await;
    assert_eq!(
        fanned.len(),
        committed.len(),
        "one set of deliveries per committed event"
    );
    for id in &committed {
        assert_eq!(
            fanned.get(id),
            Some(&2),
            "event {id}: one delivery per webhook"
        );
    }
    // Every one of them is still to be sent: in the queue, due.
    assert_eq!(count(&c, DUE).await, 2 * committed.len() as i64);
    assert_eq!(
        count(&c, "select count(*) from herald.queue").await,
        2 * committed.len() as i64
    );
}

/// Every migration after 0001: what an upgrade from the first release applies.
fn migrations_after_the_first() -> Vec<String> {
    migrate::MIGRATIONS[1..]
        .iter()
        .map(|(name, _)| (*name).to_owned())
        .collect()
}
