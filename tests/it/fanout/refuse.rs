//! Bad input to the fan-out trigger: refused with a clear error, nothing written.

use super::*;

/// Runs `sql`, expects `code`, and checks that none of the counted tables changed.
async fn assert_refused(c: &Client, sql: &str, code: &str, mentions: &str) {
    const TABLES: &str = "select (select count(*) from herald.events)
                               + (select count(*) from herald.webhook_deliveries)
                               + (select count(*) from herald.user_webhooks)";
    let before = count(c, TABLES).await;
    let err = c
        .batch_execute(sql)
        .await
        .expect_err(&format!("refused: {sql}"));
    assert_eq!(sqlstate(&err), code, "{sql}: {}", message(&err));
    assert!(
        message(&err).contains(mentions),
        "{sql}: message {:?} should mention {mentions:?}",
        message(&err)
    );
    assert_eq!(count(c, TABLES).await, before, "{sql} left rows behind");
}

#[tokio::test]
async fn fanout_refuses_bad_input_and_writes_nothing() {
    let (_db, c) = TestDb::with_client().await;
    event_type(&c, "order.created", "own").await;
    let user = Uuid::new_v4();
    webhook(&c, user, "own", None).await;

    assert_refused(
        &c,
        &format!("select herald.emit('order.nope', '{user}', null, '{{}}')"),
        "HR001",
        "order.nope",
    )
    .await;
    // One bad row spoils the statement: the good rows are not written either.
    assert_refused(
        &c,
        &format!(
            "insert into herald.events (event_type, user_id, data)
             values ('order.created', '{user}', '{{}}'), ('order.nope', '{user}', '{{}}')"
        ),
        "HR001",
        "order.nope",
    )
    .await;
    assert_refused(
        &c,
        "select herald.emit('order.created', null, null, '{}')",
        "HR002",
        "user_id",
    )
    .await;
    assert_refused(
        &c,
        &format!("select herald.emit('order.created', '{user}', null, '[1, 2]')"),
        SqlState::CHECK_VIOLATION.code(),
        "event_data_is_object",
    )
    .await;
    c.batch_execute("update herald.settings set max_payload_bytes = 100")
        .await
        .expect("lower the payload limit");
    assert_refused(
        &c,
        &format!(
            "select herald.emit('order.created', '{user}', null, jsonb_build_object('s', repeat('x', 200)))"
        ),
        "HR003",
        "over the limit of 100 bytes",
    )
    .await;
    assert_refused(
        &c,
        &format!(
            "insert into herald.user_webhooks (user_id, url, secret, scope)
             values ('{user}', 'https://example.com/p', 'whsec_dGVzdA==', 'platform')"
        ),
        "HR010",
        "not a platform manager",
    )
    .await;
    // Moving an existing webhook to the platform scope is refused the same way.
    assert_refused(
        &c,
        "update herald.user_webhooks set scope = 'platform'",
        "HR010",
        "not a platform manager",
    )
    .await;
}
