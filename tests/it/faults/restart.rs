//! The database restarts in the middle of a drain (a cluster this test owns, not the shared
//! server): Herald keeps running, logs the outage and the recovery once per component, and
//! loses nothing.

use std::{collections::HashSet, time::Duration};

use herald::pgcluster::ClusterOptions;
use uuid::Uuid;

use super::{emit_for_each, one_webhook_per_user};
use crate::{
    cluster::{self, connect},
    harness::{eventually, eventually_delivered},
    process::HeraldProcess,
    receiver::TestReceiver,
};

#[tokio::test]
async fn restart_database_mid_drain_loses_nothing_and_herald_keeps_running() {
    restart_mid_drain(Outage::Restart).await;
}

/// An immediate shutdown loses the worker's unflushed `synchronous_commit = off` results:
/// those deliveries are sent again (duplicates), none is lost.
#[tokio::test]
async fn restart_database_crash_mid_drain_loses_nothing() {
    restart_mid_drain(Outage::Crash).await;
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outage {
    /// Fast shutdown (checkpoint), then start.
    Restart,
    /// Immediate shutdown (WAL replay at the next start), then start.
    Crash,
}

async fn restart_mid_drain(outage: Outage) {
    // Durable: the application's own commits must survive the crash, as in production.
    let opts = ClusterOptions {
        durable: true,
        ..ClusterOptions::default()
    };
    let cluster = cluster::owned(opts).await;
    let url = cluster.url().to_owned();
    {
        let mut c = connect(&url).await;
        herald::store::migrate::run(&mut c).await.expect("migrate");
    }
    let c = connect(&url).await;
    let receiver = TestReceiver::counting(Duration::from_millis(20)).await;
    let users = one_webhook_per_user(&c, 4, |i| receiver.url(&format!("/h/{i}"))).await;
    let mut herald = HeraldProcess::spawn(
        &url,
        &[
            ("HERALD_LEASE", "5s"),
            ("HERALD_HTTP_TIMEOUT", "2s"),
            ("HERALD_POLL_INTERVAL", "500ms"),
        ],
    );
    herald.worker_id().await;
    let ids = emit_for_each(&c, &users, 1000).await;
    drop(c);
    receiver.wait_for_total(500, Duration::from_secs(30)).await;

    cluster::off_runtime(&cluster, move |c| match outage {
        Outage::Restart => c.stop_server(),
        Outage::Crash => c.crash_server(),
    })
    .await;
    let during = receiver.count();
    // Herald notices the outage (its listener pings; its claimer polls, or, when every slot
    // holds a result still to be recorded, its writer retries) and keeps running.
    eventually(
        "herald logs the outage",
        Duration::from_secs(60),
        || async {
            let log = herald.log_text();
            log.contains("listener connection lost")
                && (log.contains("claimer: cannot claim")
                    || log.contains("writer: cannot record results"))
        },
    )
    .await;
    assert!(herald.running(), "herald exited:\n{}", herald.log_text());
    cluster::off_runtime(&cluster, |c| c.start_again())
        .await
        .expect("the cluster starts again");

    let c = connect(&url).await;
    let after_restart = "every delivery ends delivered after the restart";
    let deadline = Duration::from_secs(90);
    eventually_delivered(&c, ids.len() as i64, after_restart, deadline).await;
    eventually("the listener is back", Duration::from_secs(60), || async {
        herald.log_text().contains("listener reconnected")
    })
    .await;
    assert!(herald.running(), "herald exited:\n{}", herald.log_text());

    let by_id = receiver.counts_by_id();
    let expected: HashSet<String> = ids.iter().map(Uuid::to_string).collect();
    let received: HashSet<String> = by_id.keys().cloned().collect();
    assert_eq!(received, expected, "0 lost");
    let dupes = receiver.duplicates();
    assert!(dupes.iter().all(|(_, n)| *n == 2), "{dupes:?}");
    if outage == Outage::Restart {
        // A clean shutdown flushes every commit: nothing is sent twice.
        assert!(dupes.is_empty(), "{dupes:?}");
    }
    println!(
        "restart ({outage:?}): {} deliveries, database stopped after {during} requests, 0 lost, {} duplicates",
        ids.len(),
        dupes.len()
    );

    // The listener (it pings) logs the outage once and the recovery once.
    let log = herald.log_text();
    assert!(!log.contains("panicked"), "{log}");
    assert_eq!(
        (
            log.matches("listener connection lost").count(),
            log.matches("listener reconnected").count()
        ),
        (1, 1),
        "listener: the outage and the recovery are logged once each:\n{log}"
    );
    // The claimer, the writer and the elector log only if the outage hit them, and then once
    // (the claimer does not claim while every slot holds a result waiting to be recorded).
    // (That one of the two met it is what "herald logs the outage" waited for.)
    for (component, lost, back) in [
        (
            "claimer",
            "claimer: cannot claim; retrying",
            "claimer: database reachable again",
        ),
        (
            "writer",
            "writer: cannot record results",
            "writer: database reachable again",
        ),
        ("elector", "elector connection lost", "elector reconnected"),
    ] {
        // A batch that met the outage may still sleep in its backoff (up to 5 s) after the
        // drain ended through its rows' re-claim: wait for its recovery line, if it logged one.
        eventually(component, Duration::from_secs(60), || async {
            let log = herald.log_text();
            log.matches(back).count() >= log.matches(lost).count()
        })
        .await;
        let log = herald.log_text();
        let (l, b) = (log.matches(lost).count(), log.matches(back).count());
        assert!(
            l <= 1 && b == l,
            "{component}: outage logged {l} times, recovery {b} times:\n{log}"
        );
    }
    drop(herald);
    cluster::drop_owned(cluster).await;
}
