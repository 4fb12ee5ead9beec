//! Ordered delivery (`ordering = 'fifo'`): one delivery at a time per FIFO webhook, across
//! replicas, in the order of the events' seq; a failing head holds those behind it; other
//! webhooks keep their concurrency. Real PostgreSQL, real receivers on loopback.

use std::time::Duration;

use herald::store::migrate;
use uuid::Uuid;

use crate::{
    app::{emit_many, event_type, start, test_config, webhook},
    harness::{count, eventually, TestDb},
    process::HeraldProcess,
    receiver::{Behaviour, RecordedRequest, Reply, TestReceiver},
};

/// A new user's webhook at `url`, switched to fifo; returns (user, webhook).
async fn fifo_webhook(c: &tokio_postgres::Client, url: &str) -> (Uuid, Uuid) {
    let (user, hook, _) = webhook(c, url).await;
    switch_to_fifo(c, hook).await;
    (user, hook)
}

async fn switch_to_fifo(c: &tokio_postgres::Client, hook: Uuid) {
    c.execute(
        "update herald.user_webhooks set ordering = 'fifo' where id = $1",
        &[&hook],
    )
    .await
    .expect("switch to fifo");
}

/// The ids of `webhook`'s events (its deliveries' `webhook-id`s), in the order FIFO delivers
/// them: by seq, events without one first.
async fn seq_order(c: &tokio_postgres::Client, webhook: Uuid) -> Vec<String> {
    c.query(
        "select e.id::text from herald.deliveries d join herald.events e on e.id = d.event_id
          where d.webhook_id = $1
          order by coalesce(e.seq, 0), d.id",
        &[&webhook],
    )
    .await
    .expect("events by seq")
    .into_iter()
    .map(|r| r.get(0))
    .collect()
}

/// The `webhook-id`s of `requests` to `path`, each at its first arrival.
fn first_arrivals(requests: &[RecordedRequest], path: &str) -> Vec<String> {
    let mut seen = std::collections::HashSet::new();
    requests
        .iter()
        .filter(|r| r.path == path)
        .filter_map(|r| r.webhook_id().map(str::to_owned))
        .filter(|id| seen.insert(id.clone()))
        .collect()
}

/// Asserts that every request to `path` for an id came before any request for the next id:
/// a head's retry went before anything behind it.
fn assert_retries_hold_the_rest(requests: &[RecordedRequest], path: &str) {
    let ids: Vec<&str> = requests
        .iter()
        .filter(|r| r.path == path)
        .filter_map(RecordedRequest::webhook_id)
        .collect();
    let mut done = std::collections::HashSet::new();
    for pair in ids.windows(2) {
        if pair[0] != pair[1] {
            done.insert(pair[0]);
            assert!(
                !done.contains(pair[1]),
                "{} was sent again after the next one had gone",
                pair[1]
            );
        }
    }
}

/// Asserts `got == want`, naming the first place they differ rather than printing both.
fn assert_same_order(got: &[String], want: &[String], what: &str) {
    let first_difference = got.iter().zip(want).position(|(g, w)| g != w);
    assert!(
        got.len() == want.len() && first_difference.is_none(),
        "{what}: {} ids against {} expected, first difference at position {:?}",
        got.len(),
        want.len(),
        first_difference
    );
}

async fn delivered_to(c: &tokio_postgres::Client, webhook: Uuid) -> i64 {
    count(
        c,
        &format!(
            "select count(*) from herald.webhook_deliveries
              where webhook_id = '{webhook}' and status = 'delivered'"
        ),
    )
    .await
}

#[tokio::test]
async fn fifo_three_replicas_deliver_in_seq_order_one_at_a_time() {
    let db = TestDb::new().await;
    let c = db.client().await;
    let receiver = TestReceiver::start().await;
    // Every 7th message fails once (500); each answer takes a moment, so overlapping requests
    // would be seen.
    let answer = Reply::ok().delay(Duration::from_millis(2));
    receiver.set_behaviour(
        "/fifo",
        Behaviour::EveryNthIdFailsOnce {
            n: 7,
            failure: Reply::status(500).delay(Duration::from_millis(2)),
            success: answer,
        },
    );
    receiver.set_behaviour(
        "/other",
        Behaviour::reply(Reply::ok().delay(Duration::from_millis(50))),
    );
    event_type(&c, "order.created", "own").await;
    let (fifo_user, fifo) = fifo_webhook(&c, &receiver.url("/fifo")).await;
    let (other_user, other, _) = webhook(&c, &receiver.url("/other")).await;
    let env = [("HERALD_RETRY_SCHEDULE", "0,0,0,0,0")];
    let replicas: Vec<HeraldProcess> = (0..3)
        .map(|_| HeraldProcess::spawn(&db.url, &env))
        .collect();
    for r in &replicas {
        r.worker_id().await;
    }
    emit_many(&c, "order.created", fifo_user, 500).await;
    emit_many(&c, "order.created", other_user, 200).await;

    // The FIFO backlog waits out of the main claim's range: at most its head is ever due.
    let due_fifo = format!(
        "select count(*) from herald.queue where webhook_id = '{fifo}' and due_at <= now()"
    );
    let most_due = std::sync::atomic::AtomicI64::new(0);
    eventually(
        "500 FIFO and 200 other deliveries delivered",
        Duration::from_secs(120),
        || async {
            most_due.fetch_max(
                count(&c, &due_fifo).await,
                std::sync::atomic::Ordering::Relaxed,
            );
            delivered_to(&c, fifo).await == 500 && delivered_to(&c, other).await == 200
        },
    )
    .await;
    assert!(most_due.into_inner() <= 1, "only the head is due");
    let requests = receiver.requests();
    assert_same_order(
        &first_arrivals(&requests, "/fifo"),
        &seq_order(&c, fifo).await,
        "first deliveries in the events' seq order",
    );
    assert_retries_hold_the_rest(&requests, "/fifo");
    let fifo_requests = requests.iter().filter(|r| r.path == "/fifo").count();
    assert_eq!(
        fifo_requests,
        500 + 500 / 7,
        "each 7th failed once, none sent twice"
    );
    assert_eq!(receiver.max_in_flight("/fifo"), 1, "never two in flight");
    assert!(
        receiver.max_in_flight("/other") > 1,
        "the other webhook kept its concurrency: {}",
        receiver.max_in_flight("/other")
    );
    for r in &replicas {
        let log = r.log_text();
        assert!(!log.contains("panicked"), "{log}");
    }
}

/// A database as Herald left it before ordered delivery: migrations up to 0008 and a webhook
/// with 31 deliveries waiting in the queue (without a seq there), one of them for an event that
/// has no seq (as events recorded before 0002 that were not waiting then), due in the reverse
/// order of their events' seq. No triggers: the rows are written as the fan-out of that time
/// wrote them.
async fn database_at_0008(url: &str) -> (TestDb, Uuid) {
    let db = TestDb::empty().await;
    let c = db.client().await;
    c.batch_execute(include_str!(
        "../../src/store/scripts/migrate_bookkeeping.sql"
    ))
    .await
    .expect("bookkeeping");
    for (name, sql) in migrate::MIGRATIONS
        .iter()
        .take_while(|(name, _)| *name < "0009")
    {
        c.batch_execute(sql).await.expect(name);
        c.execute(
            "insert into herald.schema_migrations (name, kind, checksum) values ($1, 'migration', $2)",
            &[name, &migrate::checksum(sql)],
        )
        .await
        .expect("record the migration");
    }
    event_type(&c, "order.created", "own").await;
    let (user, hook, _) = webhook(&c, url).await;
    c.batch_execute(&format!(
        "insert into herald.events (event_type, user_id, data, seq)
         values ('order.created', '{user}', '{{\"n\": 0}}', null);
         insert into herald.events (event_type, user_id, data)
         select 'order.created', '{user}', jsonb_build_object('n', g) from generate_series(1, 30) g;
         insert into herald.deliveries (id, webhook_id, event_id, event_type, created_at)
         select gen_random_uuid(), '{hook}', e.id, e.event_type, e.created_at from herald.events e;
         insert into herald.queue (delivery_id, webhook_id, due_at)
         select d.id, d.webhook_id, now() - make_interval(secs => coalesce(e.seq, 0))
           from herald.deliveries d join herald.events e on e.id = d.event_id;"
    ))
    .await
    .expect("deliveries waiting at 0008");
    (db, hook)
}

#[tokio::test]
async fn fifo_upgrade_from_0008_numbers_waiting_deliveries_and_delivers_them_in_order() {
    let receiver = TestReceiver::start().await;
    receiver.set_behaviour(
        "/fifo",
        Behaviour::reply(Reply::ok().delay(Duration::from_millis(5))),
    );
    let (db, hook) = database_at_0008(&receiver.url("/fifo")).await;
    let c = db.client().await;
    let (mut m, conn) = tokio_postgres::connect(&db.url, tokio_postgres::NoTls)
        .await
        .expect("connect");
    tokio::spawn(conn);
    let report = migrate::run(&mut m).await.expect("herald migrate");
    assert_eq!(report.applied[..2], ["0009_rate_limit", "0010_fifo"]);
    assert_eq!(
        count(&c, "select count(*) from herald.queue where seq is null").await,
        31,
        "the upgrade rewrites no queue row"
    );
    switch_to_fifo(&c, hook).await;
    assert_eq!(
        count(
            &c,
            "select count(*) from herald.queue
              where seq is not null and (seq = 0) = (delivery_id in (
                    select d.id from herald.deliveries d join herald.events e on e.id = d.event_id
                     where e.seq is null))"
        )
        .await,
        31,
        "the switch numbers the waiting deliveries: 0 for the event without a seq"
    );
    assert_eq!(
        count(
            &c,
            "select count(*) from herald.queue q join herald.webhook_deliveries d on d.id = q.delivery_id
              where q.due_at = 'infinity' and d.next_attempt_at = d.created_at"
        )
        .await,
        31,
        "they wait their turn out of the main claim's range; SQL shows them due since created"
    );
    let app = start(test_config(&db)).await;
    eventually("31 delivered", Duration::from_secs(60), || async {
        delivered_to(&c, hook).await == 31
    })
    .await;
    // Events after the upgrade get their number from the fan-out.
    let user: Uuid = c
        .query_one(
            "select user_id from herald.user_webhooks where id = $1",
            &[&hook],
        )
        .await
        .expect("owner")
        .get(0);
    emit_many(&c, "order.created", user, 10).await;
    eventually("41 delivered", Duration::from_secs(60), || async {
        delivered_to(&c, hook).await == 41
    })
    .await;
    let requests = receiver.requests();
    assert_same_order(
        &first_arrivals(&requests, "/fifo"),
        &seq_order(&c, hook).await,
        "the event without a seq first, then by seq, whatever their due times were",
    );
    assert_eq!(receiver.max_in_flight("/fifo"), 1, "never two in flight");
    app.shutdown().await;
}

#[tokio::test]
async fn fifo_breaker_probes_with_the_head_and_the_order_holds() {
    let db = TestDb::new().await;
    let c = db.client().await;
    let receiver = TestReceiver::start().await;
    // Down for the first four requests: the head fails twice, the breaker opens, two probes
    // fail, then the endpoint is back.
    let mut replies = vec![Reply::status(500); 4];
    replies.push(Reply::ok().delay(Duration::from_millis(2)));
    receiver.set_behaviour("/fifo", Behaviour::Sequence(replies));
    event_type(&c, "order.created", "own").await;
    let (user, hook) = fifo_webhook(&c, &receiver.url("/fifo")).await;
    let mut config = test_config(&db);
    config.retry_schedule = "0,0,0,0,0,0,0,0".parse().expect("schedule");
    config.breaker.threshold = 2;
    config.breaker.cooldown = Duration::from_millis(300);
    let app = start(config).await;
    emit_many(&c, "order.created", user, 20).await;
    eventually("20 delivered", Duration::from_secs(60), || async {
        delivered_to(&c, hook).await == 20
    })
    .await;
    let requests = receiver.requests();
    let order = seq_order(&c, hook).await;
    assert!(
        requests[..5]
            .iter()
            .all(|r| r.webhook_id() == Some(&order[0])),
        "the failed attempts and the probes were all the head's"
    );
    assert_same_order(
        &first_arrivals(&requests, "/fifo"),
        &order,
        "delivered in seq order after the breaker closed",
    );
    assert_eq!(receiver.max_in_flight("/fifo"), 1, "never two in flight");
    assert_eq!(
        count(
            &c,
            "select count(*) from herald.events where event_type = 'herald.endpoint.recovered'"
        )
        .await,
        1,
        "the breaker opened and closed once"
    );
    app.shutdown().await;
}

#[tokio::test]
async fn fifo_disabled_webhook_releases_its_waiting_deliveries_to_be_exhausted() {
    let db = TestDb::new().await;
    let c = db.client().await;
    let receiver = TestReceiver::start().await;
    receiver.set_behaviour("/gone", Behaviour::status(410));
    event_type(&c, "order.created", "own").await;
    let (user, _) = fifo_webhook(&c, &receiver.url("/gone")).await;
    emit_many(&c, "order.created", user, 5).await;
    assert_eq!(
        count(
            &c,
            "select count(*) from herald.queue where due_at = 'infinity'"
        )
        .await,
        5,
        "waiting their turn"
    );
    // The head gets 410 Gone: the webhook is disabled, the four behind it are exhausted unsent.
    let app = start(test_config(&db)).await;
    eventually(
        "4 exhausted as 'webhook disabled'",
        Duration::from_secs(60),
        || async {
            count(
                &c,
                "select count(*) from herald.webhook_deliveries
                  where status = 'exhausted' and last_error = 'webhook disabled' and attempt_count = 0",
            )
            .await
                == 4
        },
    )
    .await;
    // (The head itself waited for its retry and is recorded the same way then.)
    eventually("nothing left to send", Duration::from_secs(60), || async {
        count(&c, "select count(*) from herald.queue").await == 0
    })
    .await;
    assert_eq!(receiver.count(), 1, "only the head was sent");
    app.shutdown().await;
}

/// A connection whose transaction inserted an event for `user` and is still open.
async fn producer_left_open(db: &TestDb, user: Uuid) -> tokio_postgres::Client {
    let producer = db.client().await;
    producer
        .batch_execute(&format!(
            "begin; insert into herald.events (event_type, user_id, data)
                    values ('order.created', '{user}', '{{}}')"
        ))
        .await
        .expect("emit in an open transaction");
    producer
}

#[tokio::test]
async fn fifo_switch_waits_for_open_producers_and_numbers_their_deliveries() {
    let db = TestDb::new().await;
    let c = db.client().await;
    event_type(&c, "order.created", "own").await;
    let (user, hook, _) = webhook(&c, "http://127.0.0.1:9/hook").await;
    // A producer's transaction inserts an event while the webhook is not FIFO yet, and stays
    // open while the switch runs.
    let producer = producer_left_open(&db, user).await;
    let switch = tokio::spawn({
        let url = db.url.clone();
        async move {
            let (s, conn) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
                .await
                .expect("connect");
            tokio::spawn(conn);
            s.execute(
                "update herald.user_webhooks set ordering = 'fifo' where id = $1",
                &[&hook],
            )
            .await
        }
    });
    eventually(
        "the switch waits for the producer",
        Duration::from_secs(60),
        || async {
            count(
                &c,
                "select count(*) from pg_stat_activity
              where datname = current_database() and wait_event_type = 'Lock'
                and query like 'update herald.user_webhooks set ordering%'",
            )
            .await
                == 1
        },
    )
    .await;
    producer
        .batch_execute("commit")
        .await
        .expect("the producer commits");
    switch
        .await
        .expect("switch task")
        .expect("the switch commits");
    assert_eq!(
        count(
            &c,
            &format!(
                "select count(*) from herald.queue where webhook_id = '{hook}' and seq is null"
            )
        )
        .await,
        0,
        "the delivery the producer queued before the switch is numbered"
    );

    // A producer that keeps its transaction open makes the switch give up after 5 s.
    c.execute(
        "update herald.user_webhooks set ordering = 'none' where id = $1",
        &[&hook],
    )
    .await
    .expect("switch back");
    let producer = producer_left_open(&db, user).await;
    let err = c
        .execute(
            "update herald.user_webhooks set ordering = 'fifo' where id = $1",
            &[&hook],
        )
        .await
        .expect_err("the switch gives up");
    assert_eq!(
        err.code().map(|c| c.code()),
        Some("HR030"),
        "a clear error: {err}"
    );
    producer.batch_execute("rollback").await.expect("rollback");
}
