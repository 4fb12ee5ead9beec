//! High availability (issue 15), on clusters these tests own: `herald run` started before its
//! database comes up, and a server that turns read-only under Herald's connections (what a
//! switchover does to the old primary). The failover of a real HA pair is
//! `scripts/failover-slow.sh`.

use std::{sync::Arc, time::Duration};

use herald::pgcluster::{Cluster, ClusterOptions};
use tokio_postgres::NoTls;

use crate::{
    app::{emit_many, event_type, webhook},
    cluster::{self, connect},
    harness::{count, eventually, eventually_count, eventually_delivered, eventually_some},
    process::{status_of, HeraldProcess},
    receiver::TestReceiver,
};

async fn owned_cluster() -> Arc<Cluster> {
    let cluster = cluster::owned(ClusterOptions::default()).await;
    let mut c = connect(cluster.url()).await;
    herald::store::migrate::run(&mut c).await.expect("migrate");
    cluster
}

/// A port on loopback where nothing listens (bound, then released).
fn dead_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

#[tokio::test]
async fn run_started_before_the_database_serves_health_and_delivers_once_it_answers() {
    let cluster = owned_cluster().await;
    let url = cluster.url().to_owned();
    let receiver = TestReceiver::start().await;
    let user = {
        let c = connect(&url).await;
        event_type(&c, "order.created", "own").await;
        webhook(&c, &receiver.url("/hook")).await.0
    };
    cluster::off_runtime(&cluster, |c| c.stop_server()).await;

    let mut herald = HeraldProcess::spawn(&url, &[("HERALD_POLL_INTERVAL", "500ms")]);
    let api = herald.api_addr().await.to_string();
    assert_eq!(status_of(&api, "/healthz").await, 200);
    assert_eq!(status_of(&api, "/readyz").await, 503);
    assert!(herald.running(), "herald exited:\n{}", herald.log_text());

    cluster::off_runtime(&cluster, |c| c.start_again())
        .await
        .expect("the cluster starts");
    let c = connect(&url).await;
    let ids = emit_many(&c, "order.created", user, 3).await;
    receiver
        .wait_for_total(ids.len(), Duration::from_secs(60))
        .await;
    eventually("/readyz answers 200", Duration::from_secs(60), || async {
        status_of(&api, "/readyz").await == 200
    })
    .await;
    assert!(herald.running(), "herald exited:\n{}", herald.log_text());
    let log = herald.log_text();
    assert_eq!(
        log.matches("cannot reach the database at start").count(),
        1,
        "the outage at start is logged once:\n{log}"
    );
    assert!(log.contains("starting the workers"), "{log}");
    drop(herald);
    cluster::drop_owned(cluster).await;
}

#[tokio::test]
async fn connections_to_a_server_turned_read_only_are_replaced_and_nothing_fails() {
    let cluster = owned_cluster().await;
    // Two hosts, the first one down: Herald takes the first that accepts writes.
    let url = format!(
        "postgres://postgres@127.0.0.1:{},127.0.0.1:{}/postgres",
        dead_port(),
        cluster.port()
    );
    let receiver = TestReceiver::start().await;
    let c = connect(cluster.url()).await;
    event_type(&c, "order.created", "own").await;
    let user = webhook(&c, &receiver.url("/hook")).await.0;
    let mut herald = HeraldProcess::spawn(
        &url,
        &[
            ("HERALD_POLL_INTERVAL", "300ms"),
            ("HERALD_DB_POOL_SIZE", "4"),
        ],
    );
    herald.worker_id().await;
    let first = emit_many(&c, "order.created", user, 20).await;
    receiver
        .wait_for_total(first.len(), Duration::from_secs(60))
        .await;

    // What a switchover does to the old primary: its open sessions stay, and every write on
    // them fails with SQLSTATE 25006.
    for sql in [
        "alter system set default_transaction_read_only = on",
        "select pg_reload_conf()",
    ] {
        c.batch_execute(sql)
            .await
            .expect("make the server read-only");
    }
    c.batch_execute("set default_transaction_read_only = off")
        .await
        .expect("the application's own session still writes");
    let second = emit_many(&c, "order.created", user, 20).await;
    eventually(
        "herald says it replaces the read-only connections",
        Duration::from_secs(60),
        || async {
            herald
                .log_text()
                .contains("the database server is read-only")
        },
    )
    .await;
    // The listener and the elector leave a session on a server that does not take writes.
    eventually(
        "a dedicated session (listener or elector) leaves the read-only server",
        Duration::from_secs(60),
        || async { herald.log_text().contains("the server is read-only now") },
    )
    .await;

    for sql in [
        "alter system reset default_transaction_read_only",
        "select pg_reload_conf()",
    ] {
        c.batch_execute(sql).await.expect("writable again");
    }
    let third = emit_many(&c, "order.created", user, 20).await;
    let total = first.len() + second.len() + third.len();
    receiver
        .wait_for_total(total, Duration::from_secs(90))
        .await;
    let first_time = "select count(*) from herald.webhook_deliveries
                       where status = 'delivered' and attempt_count = 1";
    eventually_count(
        &c,
        first_time,
        total as i64,
        "every delivery is recorded delivered",
    )
    .await;
    assert_eq!(
        count(
            &c,
            "select count(*) from herald.delivery_attempts where error is not null"
        )
        .await,
        0,
        "no delivery failed for the read-only server"
    );
    assert!(
        receiver.duplicates().is_empty(),
        "{:?}",
        receiver.duplicates()
    );
    assert!(herald.running(), "herald exited:\n{}", herald.log_text());
    let log = herald.log_text();
    assert!(!log.contains("giving up on a batch"), "{log}");
    drop(herald);
    drop(c);
    cluster::drop_owned(cluster).await;
}

/// A failover of a real HA pair in the middle of a drain. Run by `scripts/failover-slow.sh`,
/// which builds the pair (pg_auto_failover: a monitor and two nodes, synchronous replication)
/// and passes `HERALD_FAILOVER_URL` (both nodes, `target_session_attrs=read-write`),
/// `HERALD_FAILOVER_TRIGGER` (a shell command that makes the failure) and
/// `HERALD_FAILOVER_KIND` (its name, for the report).
#[tokio::test]
#[ignore = "needs an HA pair: scripts/failover-slow.sh"]
async fn failover_of_an_ha_pair_mid_drain_loses_nothing() {
    use std::collections::HashSet;

    use crate::receiver::{Behaviour, Reply, Route};

    let url = std::env::var("HERALD_FAILOVER_URL").expect("HERALD_FAILOVER_URL");
    let trigger = std::env::var("HERALD_FAILOVER_TRIGGER").expect("HERALD_FAILOVER_TRIGGER");
    let kind = std::env::var("HERALD_FAILOVER_KIND").unwrap_or_else(|_| "failure".into());
    let total: i64 = std::env::var("HERALD_FAILOVER_DELIVERIES")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(20_000);
    let webhooks = 8;
    let max_in_flight = 256;

    let (c, conn) = tokio_postgres::connect(&url, NoTls)
        .await
        .expect("connect to the primary");
    tokio::spawn(conn);
    let receiver = TestReceiver::start().await;
    receiver.set_recording(false);
    receiver.set_behaviour(
        Route::All,
        Behaviour::reply(Reply::ok().delay(Duration::from_millis(5))),
    );
    event_type(&c, "order.created", "own").await;
    let mut users = Vec::new();
    for i in 0..webhooks {
        users.push(webhook(&c, &receiver.url(&format!("/h/{i}"))).await.0);
    }
    let mut ids = Vec::new();
    for u in &users {
        ids.extend(emit_many(&c, "order.created", *u, total / webhooks as i64).await);
    }
    drop(c);
    let first_port = primary_port(&url)
        .await
        .expect("a primary before the failure");

    let max = max_in_flight.to_string();
    let mut herald = HeraldProcess::spawn(
        &url,
        &[
            ("HERALD_MAX_IN_FLIGHT", max.as_str()),
            ("HERALD_POLL_INTERVAL", "500ms"),
        ],
    );
    herald.worker_id().await;
    let started = std::time::Instant::now();
    receiver
        .wait_for_total(ids.len() * 3 / 10, Duration::from_secs(300))
        .await;
    let before = receiver.count();
    let rate = before as f64 / started.elapsed().as_secs_f64();

    // The failure, and from then on: when a primary takes writes again, when requests resume.
    let failed_at = std::time::Instant::now();
    let mut trigger_cmd = tokio::process::Command::new("sh")
        .arg("-c")
        .arg(&trigger)
        .spawn()
        .expect("run the trigger");
    let mut saw_down = false;
    let (writable_at, new_port) = loop {
        match primary_port(&url).await {
            Some(port) if saw_down || port != first_port => {
                break (std::time::Instant::now(), port)
            }
            Some(_) => {}
            None => saw_down = true,
        }
        assert!(
            failed_at.elapsed() < Duration::from_secs(300),
            "no primary took writes within 300 s of the {kind}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let at_writable = receiver.count();
    let resumed_at = eventually_some(
        "a delivery after the new primary takes writes",
        Duration::from_secs(120),
        || {
            let now = receiver.count();
            std::future::ready((now > at_writable).then(std::time::Instant::now))
        },
    )
    .await;
    let status = trigger_cmd.wait().await.expect("the trigger ends");
    assert!(status.success(), "the trigger failed: {status}");

    let expected: HashSet<String> = ids.iter().map(uuid::Uuid::to_string).collect();
    eventually_some(
        "every delivery reaches the receiver",
        Duration::from_secs(600),
        || {
            let got: HashSet<String> = receiver.counts_by_id().into_keys().collect();
            std::future::ready(expected.is_subset(&got).then_some(()))
        },
    )
    .await;
    let (c, conn) = tokio_postgres::connect(&url, NoTls)
        .await
        .expect("connect to the new primary");
    tokio::spawn(conn);
    let (total, deadline) = (ids.len() as i64, Duration::from_secs(300));
    eventually_delivered(&c, total, "every delivery is recorded delivered", deadline).await;
    let received: HashSet<String> = receiver.counts_by_id().into_keys().collect();
    let lost = expected.difference(&received).count();
    let duplicates: usize = receiver.duplicates().iter().map(|(_, n)| n - 1).sum();
    let last_second = rate.ceil() as usize;
    let bound = max_in_flight + last_second;
    let log = herald.log_text();
    assert!(herald.running(), "herald exited:\n{log}");
    println!(
        "failover ({kind}): {} deliveries to {webhooks} webhooks at {rate:.0}/s; primary \
         127.0.0.1:{first_port} -> 127.0.0.1:{new_port}; failure -> primary takes writes \
         {:.1} s; -> first delivery after it {:.2} s (failure -> delivery {:.1} s); \
         lost {lost}; duplicates {duplicates} (bound: HERALD_MAX_IN_FLIGHT {max_in_flight} + \
         the last second's {last_second} = {bound})",
        ids.len(),
        (writable_at - failed_at).as_secs_f64(),
        (resumed_at - writable_at).as_secs_f64(),
        (resumed_at - failed_at).as_secs_f64(),
    );
    assert_eq!(lost, 0, "0 lost");
    assert!(duplicates <= bound, "{duplicates} duplicates > {bound}");
    assert!(
        resumed_at - writable_at <= Duration::from_secs(15),
        "deliveries resumed {:?} after the new primary took writes",
        resumed_at - writable_at
    );
    assert!(!log.contains("panicked"), "{log}");
    drop(herald);
}

/// The port of the server `url` connects to when it asks for one that takes writes; `None`
/// when none does now.
async fn primary_port(url: &str) -> Option<u16> {
    let mut config: tokio_postgres::Config = url.parse().ok()?;
    config.connect_timeout(Duration::from_secs(1));
    config.target_session_attrs(tokio_postgres::config::TargetSessionAttrs::ReadWrite);
    let connected = tokio::time::timeout(Duration::from_secs(3), config.connect(NoTls)).await;
    let (client, conn) = connected.ok()?.ok()?;
    tokio::spawn(conn);
    let row = client
        .query_one(
            "select inet_server_port() where not pg_is_in_recovery()
                and current_setting('transaction_read_only') = 'off'",
            &[],
        )
        .await
        .ok()?;
    row.get::<_, Option<i32>>(0).map(|p| p as u16)
}
