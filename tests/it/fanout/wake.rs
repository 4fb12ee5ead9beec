//! The gated wake: one NOTIFY per statement, and only while a worker sleeps.

use super::*;

/// A dedicated LISTEN connection on `herald_wake`.
async fn listen(db: &TestDb) -> (Client, tokio::sync::mpsc::UnboundedReceiver<Notification>) {
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    let (client, _task) = store::connect_listener(&db.url, "test-listener", tx)
        .await
        .expect("listener connects");
    client
        .batch_execute("listen herald_wake")
        .await
        .expect("listen");
    (client, rx)
}

async fn next_payload(rx: &mut tokio::sync::mpsc::UnboundedReceiver<Notification>) -> String {
    let n = tokio::time::timeout(Duration::from_secs(5), rx.recv())
        .await
        .expect("a notification within 5s")
        .expect("listener alive");
    assert_eq!(n.channel, "herald_wake");
    n.payload
}

/// Notifications arrive in commit order: once the marker arrives, anything the earlier
/// statements sent has arrived before it.
async fn send_marker(c: &Client) {
    c.batch_execute("notify herald_wake, 'marker'")
        .await
        .expect("marker");
}

/// A webhook for one `own` type and a statement inserting three events for it: (its user, the
/// statement).
async fn wake_setup(c: &Client) -> (Uuid, String) {
    event_type(c, "order.created", "own").await;
    let user = Uuid::new_v4();
    webhook(c, user, "own", None).await;
    let insert = format!(
        "insert into herald.events (event_type, user_id, data)
         select 'order.created', '{user}', '{{}}' from generate_series(1, 3)"
    );
    (user, insert)
}

/// A worker asleep (a sleeper row), as the claimer declares before it waits.
async fn a_sleeper(c: &Client) {
    c.batch_execute(
        "insert into herald.sleepers (worker_id, backend_pid) values (gen_random_uuid(), 1)",
    )
    .await
    .expect("a sleeper");
}

#[tokio::test]
async fn wake_is_silent_when_no_worker_sleeps() {
    let (db, c) = TestDb::with_client().await;
    let (_, insert) = wake_setup(&c).await;
    let (_listener, mut rx) = listen(&db).await;

    c.batch_execute(&insert).await.expect("insert events");
    send_marker(&c).await;

    assert_eq!(next_payload(&mut rx).await, "marker");
}

#[tokio::test]
async fn wake_notifies_once_per_statement_when_a_worker_sleeps() {
    let (db, c) = TestDb::with_client().await;
    let (_, insert) = wake_setup(&c).await;
    a_sleeper(&c).await;
    let (_listener, mut rx) = listen(&db).await;

    c.batch_execute(&insert).await.expect("insert events");
    send_marker(&c).await;
    assert_eq!(next_payload(&mut rx).await, "");
    assert_eq!(next_payload(&mut rx).await, "marker", "exactly one wake");

    // A statement that creates no delivery wakes nobody.
    c.batch_execute("select herald.emit('order.created', gen_random_uuid(), null, '{}')")
        .await
        .expect("event without webhooks");
    send_marker(&c).await;
    assert_eq!(next_payload(&mut rx).await, "marker");
}

#[tokio::test]
async fn wake_is_silent_when_notify_is_disabled() {
    let (db, c) = TestDb::with_client().await;
    let (_, insert) = wake_setup(&c).await;
    a_sleeper(&c).await;
    c.batch_execute("update herald.settings set notify_enabled = false")
        .await
        .expect("notify off");
    let (_listener, mut rx) = listen(&db).await;

    c.batch_execute(&insert).await.expect("insert events");
    c.batch_execute("select herald.wake()").await.expect("wake");
    send_marker(&c).await;

    assert_eq!(next_payload(&mut rx).await, "marker");
}

/// Statements with platform events take the trigger's general path; its wake is gated the same.
#[tokio::test]
async fn wake_is_gated_the_same_for_statements_with_platform_events() {
    let (db, c) = TestDb::with_client().await;
    let (user, _) = wake_setup(&c).await;
    event_type(&c, "plan.changed", "platform").await;
    let manager = Uuid::new_v4();
    super::grant_manager(&c, manager).await;
    super::webhook(&c, manager, "platform", None).await;
    let platform = "insert into herald.events (event_type, data)
                    select 'plan.changed', '{}' from generate_series(1, 3)";
    let (_listener, mut rx) = listen(&db).await;

    // No worker asleep: silent.
    c.batch_execute(platform).await.expect("platform events");
    send_marker(&c).await;
    assert_eq!(next_payload(&mut rx).await, "marker");

    // A worker asleep: one wake for a statement mixing both scopes.
    a_sleeper(&c).await;
    let mixed = format!(
        "insert into herald.events (event_type, user_id, data)
         values ('order.created', '{user}', '{{}}'), ('plan.changed', null, '{{}}')"
    );
    c.batch_execute(&mixed).await.expect("mixed statement");
    send_marker(&c).await;
    assert_eq!(next_payload(&mut rx).await, "");
    assert_eq!(next_payload(&mut rx).await, "marker", "exactly one wake");

    // NOTIFY turned off: silent again.
    c.batch_execute("update herald.settings set notify_enabled = false")
        .await
        .expect("notify off");
    c.batch_execute(platform).await.expect("platform events");
    send_marker(&c).await;
    assert_eq!(next_payload(&mut rx).await, "marker");
}
