use crate::harness::TestDb;

/// Every runtime query prepares against a migrated database: a wrong column or type name
/// fails here, not in production.
#[tokio::test]
async fn queries_all_prepare_against_the_migrated_schema() {
    let db = TestDb::new().await;
    let client = db.client().await;
    let mut n = 0;
    for (name, sql) in herald::store::queries::all() {
        client
            .prepare(sql)
            .await
            .unwrap_or_else(|e| panic!("query {name} does not prepare: {e:?}"));
        n += 1;
    }
    assert!(n >= 2, "expected the store's queries, found {n}");
}
