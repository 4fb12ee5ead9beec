use herald::store::{migrate, StoreError};

use crate::harness::{count, rows, TestDb};

fn all_names() -> (Vec<String>, Vec<String>) {
    (
        migrate::MIGRATIONS
            .iter()
            .map(|(n, _)| n.to_string())
            .collect(),
        migrate::TRIGGERS
            .iter()
            .map(|(n, _)| n.to_string())
            .collect(),
    )
}

/// Each applied migration's name and time.
async fn history(c: &tokio_postgres::Client) -> Vec<(String, String)> {
    let sql = "select name, applied_at::text from herald.schema_migrations order by name";
    rows(c, sql, &[], |r| (r.get(0), r.get(1))).await
}

#[tokio::test]
async fn migrate_second_run_changes_nothing() {
    let db = TestDb::empty().await;
    let mut c = db.client().await;

    let first = migrate::run(&mut c).await.expect("first run");
    let (migrations, triggers) = all_names();
    assert_eq!(first.applied, migrations);
    assert_eq!(first.triggers_applied, triggers);

    let before = history(&c).await;
    let second = migrate::run(&mut c).await.expect("second run");
    assert!(second.changed_nothing(), "{second:?}");
    let after = history(&c).await;
    assert_eq!(before, after);
}

#[tokio::test]
async fn migrate_concurrent_runs_both_succeed_and_apply_once() {
    let db = TestDb::empty().await;
    let (mut a, mut b) = (db.client().await, db.client().await);

    let (ra, rb) = tokio::join!(migrate::run(&mut a), migrate::run(&mut b));
    let (ra, rb) = (ra.expect("run a"), rb.expect("run b"));

    // Exactly one of them did the work; the other found it done.
    let (migrations, _) = all_names();
    let mut applied = [ra.applied.clone(), rb.applied.clone()].concat();
    applied.sort();
    assert_eq!(applied, migrations, "a: {ra:?}, b: {rb:?}");
    assert!(
        ra.changed_nothing() || rb.changed_nothing(),
        "a: {ra:?}, b: {rb:?}"
    );
    assert_eq!(
        count(
            &a,
            "select count(*) from herald.schema_migrations where kind = 'migration'"
        )
        .await,
        migrations.len() as i64
    );
    assert_eq!(count(&a, "select count(*) from herald.settings").await, 1);
}

#[tokio::test]
async fn migrate_refuses_when_an_applied_migration_changed() {
    let (_db, mut c) = TestDb::with_client().await;
    let edit = "update herald.schema_migrations set checksum = 'edited' where name = '0001_init'";
    c.execute(edit, &[]).await.expect("simulate an edit");

    let err = migrate::run(&mut c).await.expect_err("refused");
    match &err {
        StoreError::Migration { name, reason } => {
            assert_eq!(name, "0001_init");
            assert!(reason.contains("forward-only"), "{reason}");
        }
        other => panic!("unexpected error: {other:?}"),
    }
    // Nothing was touched: the edited checksum is still there.
    let edited = "select count(*) from herald.schema_migrations where checksum = 'edited'";
    assert_eq!(count(&c, edited).await, 1);
}

#[tokio::test]
async fn migrate_reapplies_a_trigger_file_when_its_text_changed() {
    let (_db, mut c) = TestDb::with_client().await;
    // Simulate an older version of triggers/1_fan_out.sql: a different recorded checksum and
    // a database without its trigger.
    c.batch_execute(
        "drop trigger fan_out on herald.events;
         update herald.schema_migrations set checksum = 'older' where name = '1_fan_out';",
    )
    .await
    .expect("simulate an older trigger file");

    let report = migrate::run(&mut c).await.expect("run");
    assert!(report.applied.is_empty(), "{report:?}");
    // The privileges file follows any re-applied trigger file (a re-created function must not
    // keep PUBLIC's default EXECUTE).
    assert_eq!(
        report.triggers_applied,
        vec!["1_fan_out".to_owned(), "9_privileges".to_owned()]
    );
    assert_eq!(
        count(
            &c,
            "select count(*) from pg_trigger
              where tgrelid = 'herald.events'::regclass and tgname = 'fan_out'"
        )
        .await,
        1
    );
    assert!(migrate::run(&mut c).await.expect("rerun").changed_nothing());
}

#[tokio::test]
async fn migrate_refuses_a_database_migrated_by_a_newer_herald() {
    let (_db, mut c) = TestDb::with_client().await;
    let future = "insert into herald.schema_migrations (name, kind, checksum)
                  values ('9999_future', 'migration', 'x')";
    c.execute(future, &[]).await.unwrap();
    let triggers_before = count(
        &c,
        "select count(*) from herald.schema_migrations where kind = 'trigger'",
    )
    .await;
    match migrate::run(&mut c).await {
        Err(StoreError::Migration { name, reason }) => {
            assert_eq!(name, "9999_future");
            assert!(reason.contains("unknown to this version"), "{reason}");
        }
        other => panic!("expected a refusal, got {other:?}"),
    }
    assert_eq!(
        count(
            &c,
            "select count(*) from herald.schema_migrations where kind = 'trigger'"
        )
        .await,
        triggers_before
    );
}
