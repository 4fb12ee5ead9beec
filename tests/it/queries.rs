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
