use herald::store::migrate;

use crate::harness::TestDb;

#[tokio::test]
async fn migrate_second_run_changes_nothing() {
    let db = TestDb::new().await;
    let mut c = db.client().await;
    // The template was migrated already: running again applies nothing.
    let report = migrate::run(&mut c).await.unwrap();
    assert!(report.changed_nothing(), "{report:?}");
}
