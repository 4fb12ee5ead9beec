//! Every statement of the store is checked against a migrated database, so a wrong column or
//! type name fails `cargo test`, not production. The list is the folder: every `.sql` file
//! under `src/store/`, so a new file is checked without being named anywhere (and no SQL text
//! lives anywhere else in `src/` but `src/demo/sql`: `.ci/check-architecture` checks that).

use std::path::{Path, PathBuf};

use crate::harness::TestDb;

/// Every `.sql` file under `dir`, sorted.
fn sql_files(dir: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let mut dirs = vec![dir.to_path_buf()];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{dir:?}: {e}")) {
            let path = entry.expect("a directory entry").path();
            if path.is_dir() {
                dirs.push(path);
            } else if path.extension().is_some_and(|e| e == "sql") {
                found.push(path);
            }
        }
    }
    found.sort();
    found
}

/// A file in a `scripts/` folder holds several statements, or a statement that only running it
/// checks (`vacuum`, DDL): it cannot be prepared alone.
fn is_script(path: &Path) -> bool {
    path.parent()
        .and_then(|p| p.file_name())
        .is_some_and(|name| name == "scripts")
}

/// One test for both kinds, on one database: scripts are executed first (in file order, after
/// the temporary table the console fixture reads its sizes from), then every statement file is
/// prepared (some read what a script made, such as the producer-overhead bench's plain table).
#[tokio::test]
async fn queries_all_prepare_and_scripts_run_against_the_migrated_schema() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/store");
    let (scripts, statements): (Vec<_>, Vec<_>) =
        sql_files(&root).into_iter().partition(|p| is_script(p));
    assert!(
        statements
            .iter()
            .any(|p| p.ends_with("queries/deliveries_claim.sql"))
            && scripts
                .iter()
                .any(|p| p.ends_with("scripts/migrate_bookkeeping.sql")),
        "the walk of {root:?} missed the store's files: {statements:?} {scripts:?}"
    );

    let db = TestDb::new().await;
    let client = db.client().await;
    client
        .execute(
            herald::store::bench::CONSOLE_ARGS,
            &[&2i32, &3i32, &20i64, &2i32],
        )
        .await
        .expect("bench_args for the console fixture");
    let mut failures = Vec::new();
    for path in &scripts {
        let sql = std::fs::read_to_string(path).expect("a readable script");
        if let Err(e) = client.batch_execute(&sql).await {
            failures.push(format!("{}: does not run: {e:?}", path.display()));
        }
    }
    for path in &statements {
        let sql = std::fs::read_to_string(path).expect("a readable statement");
        if let Err(e) = client.prepare(&sql).await {
            failures.push(format!("{}: does not prepare: {e:?}", path.display()));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} statement files and {} scripts fail:\n{}",
        failures.len(),
        statements.len(),
        scripts.len(),
        failures.join("\n")
    );
}

/// Herald's pools compile no statement with JIT (a compile cost hundreds of ms to seconds,
/// for statements that run in milliseconds), unless the URL's own options ask for it.
#[tokio::test]
async fn pools_run_without_jit_unless_the_url_asks_for_it() {
    let db = TestDb::new().await;
    let jit = |pool: herald::store::Pool| async move {
        let client = pool.get().await.expect("a pooled connection");
        let row = client.query_one("show jit", &[]).await.expect("show jit");
        row.get::<_, String>(0)
    };
    let worker = herald::store::connect_worker_pool(&db.url, 1).expect("worker pool");
    assert_eq!(jit(worker).await, "off", "worker pool");
    assert_eq!(jit(db.pool()).await, "off", "API pool");
    // The test URLs are key/value strings.
    let asked = format!("{} options='-c jit=on'", db.url);
    let pool = herald::store::connect_worker_pool(&asked, 1).expect("pool with jit=on");
    assert_eq!(jit(pool).await, "on", "a URL's own jit setting is kept");
}

/// The attempt rollup's plan is costed for the one row of its state table even when the
/// planner knows nothing of that table (fresh, or truncated as the bench does between
/// scenarios). Its guess there, ~1,800 rows, once multiplied through the joins into a plan
/// costed in hundreds of millions, far past `jit_above_cost`: each run then spent 2-4 s
/// compiling beside milliseconds of work.
#[tokio::test]
async fn rollup_plan_is_costed_for_one_state_row_when_the_table_was_never_analyzed() {
    let (_db, c) = TestDb::with_client().await;
    c.batch_execute(
        "truncate herald.attempt_rollup_state, herald.delivery_attempts;
         insert into herald.attempt_rollup_state default values",
    )
    .await
    .expect("a fresh state table");
    let sql = include_str!("../../src/store/queries/stats_roll_up.sql");
    let bounds = herald::domain::histogram::BOUNDS_MS.to_vec();
    let rows = c
        .query(
            &format!("explain {sql}"),
            &[
                &bounds,
                &50_000i64,
                &herald::store::stats::SETTLE.as_secs_f64(),
            ],
        )
        .await
        .expect("explain the rollup");
    let top: String = rows[0].get(0);
    let cost: f64 = top
        .split("..")
        .nth(1)
        .and_then(|s| s.split_whitespace().next())
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no total cost in {top:?}"));
    let jit_above: f64 = c
        .query_one("select current_setting('jit_above_cost')::float8", &[])
        .await
        .expect("jit_above_cost")
        .get(0);
    assert!(
        cost < jit_above / 10.0,
        "rollup plan costed {cost} (jit_above_cost {jit_above}): {top}"
    );
}

/// The claim walks `queue_due` to the oldest due rows however few webhooks own the queue. With
/// every row of one webhook, the planner once estimated that no row passes the comparison
/// with the lists of full and gated webhooks (lists it cannot see when it plans), and the claim
/// read and sorted every due row: a seq scan and a top-N sort, 75 ms a claim at 200k rows,
/// which halved the drain to one endpoint. Both the custom plan (the parameters known) and
/// the generic one (a prepared statement after a few runs) are checked.
#[tokio::test]
async fn claim_walks_the_due_index_when_one_webhook_owns_the_whole_queue() {
    let (_db, c) = TestDb::with_client().await;
    c.batch_execute(
        "insert into herald.queue (delivery_id, webhook_id, due_at)
         select gen_random_uuid(), '6c1f3e1a-0000-4000-8000-000000000001',
                now() - interval '1 hour' + i * interval '1 ms'
           from generate_series(1, 30000) as i;
         analyze herald.queue",
    )
    .await
    .expect("a queue of one webhook");
    let sql = include_str!("../../src/store/queries/deliveries_claim.sql");
    c.batch_execute(&format!(
        "prepare claim (int8, float8, int8, uuid[], uuid[], int8[], int8[], int8) as {sql}"
    ))
    .await
    .expect("prepare the claim");
    for mode in ["force_custom_plan", "force_generic_plan"] {
        c.batch_execute(&format!("set plan_cache_mode = {mode}"))
            .await
            .expect("plan_cache_mode");
        let plan: Vec<String> = c
            .query(
                "explain execute claim (1024, 300, 4096, '{}', '{}', '{}', '{}', 1024)",
                &[],
            )
            .await
            .expect("explain the claim")
            .iter()
            .map(|r| r.get(0))
            .collect();
        let plan = plan.join("\n");
        assert!(
            plan.contains("Index Scan using queue_due on queue"),
            "{mode}: the claim does not walk queue_due:\n{plan}"
        );
    }
}

/// A batch of results updates most rows of the same few pages of `herald.deliveries` in one
/// transaction (a claim takes the oldest due rows, which sit side by side). Each page must have
/// room for its rows' new versions, so that the updates stay HOT and write no index entry: at
/// fillfactor 75, 43 % of a one-webhook drain's updates were not HOT.
#[tokio::test]
async fn a_batch_of_results_updates_whole_pages_of_delivery_records_in_place() {
    let (_db, mut c) = TestDb::with_client().await;
    crate::app::event_type(&c, "order.created", "own").await;
    let (user, _, _) = crate::app::webhook(&c, "https://example.com/hook").await;
    c.execute(
        "insert into herald.events (event_type, user_id, resource_id, data)
         select 'order.created', $1, gen_random_uuid(), '{\"n\": 1}'
           from generate_series(1, 1000)",
        &[&user],
    )
    .await
    .expect("1,000 deliveries");
    // The columns the results statement sets, for every row at once, in one transaction; its
    // own table statistics are read back before they are flushed.
    let tx = c.transaction().await.expect("a transaction");
    let recorded = tx
        .execute(
            "update herald.deliveries
                set status = 'delivered', attempt_count = attempt_count + 1,
                    last_status_code = 204, last_error = null, delivered_at = now(),
                    updated_at = now()",
            &[],
        )
        .await
        .expect("record 1,000 results at once");
    assert_eq!(recorded, 1000);
    let stats = tx
        .query_one(
            "select n_tup_upd, n_tup_hot_upd from pg_stat_xact_user_tables
              where relid = 'herald.deliveries'::regclass",
            &[],
        )
        .await
        .expect("this transaction's table statistics");
    let (updated, hot): (i64, i64) = (stats.get(0), stats.get(1));
    assert_eq!(updated, 1000);
    // The last row of a page may not fit (a new version is a few bytes longer than the row it
    // replaces); at fillfactor 75 about two thirds did not.
    assert!(
        hot >= 950,
        "{} of 1,000 updates wrote index entries",
        updated - hot
    );
}
