//! `herald.watch`: events from row changes, and its refusals of bad arguments.
use crate::harness::unwatch_batches;
use crate::harness::BATCH_TRIGGERS;

use super::*;

async fn batches_table(c: &Client) {
    c.batch_execute(
        "create table public.batches (
             id       uuid primary key default gen_random_uuid(),
             owner_id uuid not null,
             status   text not null default 'running'
         )",
    )
    .await
    .expect("create batches");
}

#[tokio::test]
async fn watch_turns_inserts_and_matching_updates_into_events() {
    let (_db, c) = TestDb::with_client().await;
    event_type(&c, "batch.created", "own").await;
    event_type(&c, "batch.completed", "own").await;
    batches_table(&c).await;
    c.batch_execute(
        "select herald.watch('public.batches', 'batch.created', user_column => 'owner_id');
         select herald.watch('public.batches', 'batch.completed', on_op => 'update',
             condition => $$new.status = 'completed' and old.status is distinct from 'completed'$$,
             user_column => 'owner_id');",
    )
    .await
    .expect("watch");
    let owner = Uuid::new_v4();
    let hook = webhook(&c, owner, "own", Some(r#"["batch.completed"]"#)).await;

    c.execute(
        "insert into public.batches (owner_id) select $1 from generate_series(1, 3)",
        &[&owner],
    )
    .await
    .expect("insert batches");
    let created = "select count(*) from herald.events where event_type = 'batch.created'";
    let completed = "select count(*) from herald.events where event_type = 'batch.completed'";
    assert_eq!(count(&c, created).await, 3);
    assert_eq!(count(&c, completed).await, 0);

    let complete_all = "update public.batches set status = 'completed'";
    c.batch_execute(complete_all).await.expect("complete");
    assert_eq!(count(&c, completed).await, 3);
    c.batch_execute(complete_all).await.expect("complete again");
    assert_eq!(count(&c, completed).await, 3, "no change, no event");
    assert_eq!(deliveries_of(&c, hook).await, 3);

    let row = c
        .query_one(
            "select d.payload, d.resource_id, e.user_id
               from herald.webhook_deliveries d join herald.events e on e.id = d.event_id
              limit 1",
            &[],
        )
        .await
        .expect("a delivery");
    let payload: serde_json::Value = row.get(0);
    let resource: Uuid = row.get(1);
    assert_eq!(row.get::<_, Uuid>(2), owner);
    assert_eq!(payload["type"], "batch.completed");
    assert_eq!(payload["data"]["status"], "completed");
    assert_eq!(payload["data"]["id"], resource.to_string());

    assert!(unwatch_batches(&c, "batch.completed").await);
    c.batch_execute("update public.batches set status = 'running'; update public.batches set status = 'completed'")
        .await
        .expect("complete after unwatch");
    assert_eq!(count(&c, completed).await, 3);
}

#[tokio::test]
async fn watch_refuses_bad_arguments_with_clear_errors() {
    let (_db, c) = TestDb::with_client().await;
    event_type(&c, "batch.completed", "own").await;
    batches_table(&c).await;
    let cases = [
        (
            "select herald.watch('public.batches', 'batch.nope', user_column => 'owner_id')",
            "HR001",
            "batch.nope",
        ),
        (
            "select herald.watch('public.nope', 'batch.completed')",
            SqlState::UNDEFINED_TABLE.code(),
            "public.nope",
        ),
        (
            "select herald.watch('public.batches', 'batch.completed', user_column => 'nope')",
            SqlState::UNDEFINED_COLUMN.code(),
            "nope",
        ),
        (
            "select herald.watch('public.batches', 'batch.completed', user_column => null)",
            "HR002",
            "user_column",
        ),
        (
            "select herald.watch('public.batches', 'batch.completed', on_op => 'delete', user_column => 'owner_id')",
            "22023",
            "on_op",
        ),
        (
            "select herald.watch('public.batches', 'batch.completed', on_op => 'update',
                 condition => 'new.nope = 1', user_column => 'owner_id')",
            "22023",
            "nope",
        ),
        (
            "select herald.watch('public.batches', 'batch.completed', on_op => 'update',
                 condition => 'new.status =', user_column => 'owner_id')",
            "22023",
            "invalid condition",
        ),
        (
            // status is text, not a uuid owner.
            "select herald.watch('public.batches', 'batch.completed', user_column => 'status')",
            SqlState::DATATYPE_MISMATCH.code(),
            "text, not uuid",
        ),
    ];
    for (sql, code, mentions) in cases {
        let err = c.batch_execute(sql).await.expect_err(sql);
        assert_eq!(sqlstate(&err), code, "{sql}: {}", message(&err));
        assert!(
            message(&err).contains(mentions),
            "{sql}: {:?} should mention {mentions:?}",
            message(&err)
        );
    }
    assert_eq!(count(&c, "select count(*) from herald.watches").await, 0);
    assert_eq!(count(&c, BATCH_TRIGGERS).await, 0);
}
