//! SIGKILL in the middle of a drain: nothing committed is lost, and the only duplicates are
//! rows that were in flight (claimed, not yet recorded) at the kill.

use std::{collections::HashSet, time::Duration};

use uuid::Uuid;

use super::{emit_for_each, one_webhook_per_user, scaled};
use crate::{
    harness::{count, eventually_count, eventually_delivered, rows, TestDb},
    process::HeraldProcess,
    receiver::TestReceiver,
};

const MAX_IN_FLIGHT: usize = 64;

#[tokio::test]
async fn crash_sigkill_mid_drain_loses_nothing_and_duplicates_only_in_flight_rows() {
    let (db, c) = TestDb::with_client().await;
    // A little work per request, so that the in-flight window is full at the kill.
    let receiver = TestReceiver::counting(Duration::from_millis(2)).await;
    let users = one_webhook_per_user(&c, 8, |i| receiver.url(&format!("/hook/{i}"))).await;
    let total = scaled(10_000);
    let per_user = total / users.len() as i64;
    let ids = emit_for_each(&c, &users, per_user).await;
    let total = ids.len();
    let in_flight = MAX_IN_FLIGHT.to_string();
    let env = [
        ("HERALD_LEASE", "10s"),
        ("HERALD_HTTP_TIMEOUT", "5s"),
        ("HERALD_MAX_IN_FLIGHT", in_flight.as_str()),
        ("HERALD_MAX_IN_FLIGHT_PER_WEBHOOK", "16"),
    ];

    let mut first = HeraldProcess::spawn(&db.url, &env);
    first.worker_id().await;
    receiver
        .wait_for_total(total / 4, Duration::from_secs(120))
        .await;
    first.signal(libc::SIGKILL);
    assert_eq!(first.wait(Duration::from_secs(10)).await, None, "killed");
    let at_kill = receiver.count();
    // Statements the dead process sent may still be running on the server; wait until its
    // sessions are gone, then the table is what the crash left.
    eventually_count(
        &c,
        "select count(*) from pg_stat_activity
                  where datname = current_database() and application_name like 'herald%'",
        0,
        "the killed worker's sessions end",
    )
    .await;
    let leased: HashSet<Uuid> = rows(
        &c,
        "select event_id from herald.webhook_deliveries
              where status = 'pending' and next_attempt_at > now()",
        &[],
        |r| r.get(0),
    )
    .await;
    assert!(
        leased.len() <= MAX_IN_FLIGHT,
        "{} rows were leased at the kill, more than HERALD_MAX_IN_FLIGHT = {MAX_IN_FLIGHT}",
        leased.len()
    );
    let delivered_at_kill = count(
        &c,
        "select count(*) from herald.webhook_deliveries where status = 'delivered'",
    )
    .await;

    let second = HeraldProcess::spawn(&db.url, &env);
    second.worker_id().await;
    eventually_delivered(
        &c,
        total as i64,
        "every delivery ends delivered",
        Duration::from_secs(120 * scaled(1) as u64),
    )
    .await;

    let by_id = receiver.counts_by_id();
    let expected: HashSet<String> = ids.iter().map(Uuid::to_string).collect();
    let received: HashSet<String> = by_id.keys().cloned().collect();
    assert_eq!(received, expected, "every event arrived, and nothing else");
    let dupes = receiver.duplicates();
    let leased: HashSet<String> = leased.iter().map(Uuid::to_string).collect();
    for (id, n) in &dupes {
        assert_eq!(*n, 2, "{id} arrived {n} times after one crash");
        assert!(
            leased.contains(id),
            "{id} was sent twice but was not in flight at the kill"
        );
    }
    println!(
        "crash: {total} deliveries, SIGKILL after {at_kill} requests ({delivered_at_kill} recorded delivered), \
         {} rows in flight at the kill (HERALD_MAX_IN_FLIGHT = {MAX_IN_FLIGHT}), \
         {} duplicates, 0 lost",
        leased.len(),
        dupes.len()
    );
    let log = second.log_text();
    assert!(!log.contains("panicked"), "{log}");
}
