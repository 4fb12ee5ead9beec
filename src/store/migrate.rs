//! `herald migrate`: forward-only schema migrations and idempotent trigger functions, applied
//! under an advisory lock so several replicas may start at once.

use ring::digest;
use tokio_postgres::Client;

use super::StoreError;

/// Schema history, applied once each, in order. Never edit an applied file.
pub const MIGRATIONS: &[(&str, &str)] = &[
    ("0001_init", include_str!("../../sql/0001_init.sql")),
    (
        "0002_narrow_queue",
        include_str!("../../sql/0002_narrow_queue.sql"),
    ),
    ("0003_security", include_str!("../../sql/0003_security.sql")),
    (
        "0004_operator_console",
        include_str!("../../sql/0004_operator_console.sql"),
    ),
    (
        "0006_delivery_policies",
        include_str!("../../sql/0006_delivery_policies.sql"),
    ),
    (
        "0008_rollup_bucket_arrays",
        include_str!("../../sql/0008_rollup_bucket_arrays.sql"),
    ),
    (
        "0009_rate_limit",
        include_str!("../../sql/0009_rate_limit.sql"),
    ),
    ("0010_fifo", include_str!("../../sql/0010_fifo.sql")),
    (
        "0011_queue_keeps_its_pages",
        include_str!("../../sql/0011_queue_keeps_its_pages.sql"),
    ),
    (
        "0012_time_ordered_event_ids",
        include_str!("../../sql/0012_time_ordered_event_ids.sql"),
    ),
    (
        "0013_deliveries_room_for_a_batch",
        include_str!("../../sql/0013_deliveries_room_for_a_batch.sql"),
    ),
];

/// Trigger functions, re-applied whenever their text changes.
pub const TRIGGERS: &[(&str, &str)] = &[
    ("0_emit", include_str!("../../triggers/0_emit.sql")),
    ("1_fan_out", include_str!("../../triggers/1_fan_out.sql")),
    (
        "2_scope_guard",
        include_str!("../../triggers/2_scope_guard.sql"),
    ),
    ("3_watch", include_str!("../../triggers/3_watch.sql")),
    ("4_leader", include_str!("../../triggers/4_leader.sql")),
    (
        "5_deliveries",
        include_str!("../../triggers/5_deliveries.sql"),
    ),
    ("6_policies", include_str!("../../triggers/6_policies.sql")),
    ("7_fifo", include_str!("../../triggers/7_fifo.sql")),
    (PRIVILEGES, include_str!("../../triggers/9_privileges.sql")),
];

/// The trigger file that revokes PUBLIC's EXECUTE on every function and defines the grant
/// functions. Re-applied whenever any other trigger file is, so that a function re-created
/// there never keeps the default EXECUTE for PUBLIC.
const PRIVILEGES: &str = "9_privileges";

const LOCK: &str = include_str!("queries/migrate_lock.sql");
const BOOKKEEPING: &str = include_str!("scripts/migrate_bookkeeping.sql");
const APPLIED: &str = include_str!("queries/migrate_applied.sql");
const RECORD_MIGRATION: &str = include_str!("queries/migrate_record_migration.sql");
const RECORD_TRIGGER: &str = include_str!("queries/migrate_record_trigger.sql");
const GRANT_APP: &str = include_str!("queries/migrate_grant_app.sql");
const GRANT_WORKER: &str = include_str!("queries/migrate_grant_worker.sql");

/// Key of the advisory lock that serialises migrations (any constant; "herald:migrate").
const MIGRATE_LOCK: i64 = 0x6865_7261_6c64_6d67;

#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct MigrateReport {
    pub applied: Vec<String>,
    pub triggers_applied: Vec<String>,
}

impl MigrateReport {
    pub fn changed_nothing(&self) -> bool {
        self.applied.is_empty() && self.triggers_applied.is_empty()
    }
}

/// The checksum recorded for an applied file (hex SHA-256 of its text).
pub fn checksum(sql: &str) -> String {
    digest::digest(&digest::SHA256, sql.as_bytes())
        .as_ref()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// A short hash of every embedded SQL file: names the test template database, so a change to
/// any migration or trigger makes a fresh template.
pub fn fingerprint() -> String {
    let all: String = MIGRATIONS
        .iter()
        .chain(TRIGGERS)
        .map(|(name, sql)| format!("{name}\n{sql}\n"))
        .collect();
    checksum(&all)[..16].to_owned()
}

/// Applies what is missing, in one transaction under an advisory lock. Refuses to go on if an
/// applied migration's text changed.
pub async fn run(client: &mut Client) -> Result<MigrateReport, StoreError> {
    let tx = client.transaction().await?;
    tx.execute(LOCK, &[&MIGRATE_LOCK]).await?;
    tx.batch_execute(BOOKKEEPING).await?;
    let applied: std::collections::HashMap<String, (String, String)> = tx
        .query(APPLIED, &[])
        .await?
        .into_iter()
        .map(|r| (r.get(0), (r.get(1), r.get(2))))
        .collect();

    // A database migrated by a newer Herald: this binary's triggers would undo its schema.
    if let Some((name, _)) = applied.iter().find(|(name, (kind, _))| {
        kind == "migration" && !MIGRATIONS.iter().any(|(known, _)| known == name)
    }) {
        return Err(StoreError::Migration {
            name: name.clone(),
            reason: "is applied in the database but unknown to this version of Herald; \
                     run a Herald at least as new as the one that migrated it"
                .into(),
        });
    }

    let mut report = MigrateReport::default();
    for (name, sql) in MIGRATIONS {
        let sum = checksum(sql);
        match applied.get(*name) {
            Some((_, old)) if *old == sum => continue,
            Some(_) => {
                return Err(StoreError::Migration {
                    name: name.to_string(),
                    reason: "was applied with different text; migrations are forward-only, \
                             add a new sql/NNNN_*.sql file instead of editing an applied one"
                        .into(),
                })
            }
            None => {}
        }
        apply(&tx, name, sql, &sum, RECORD_MIGRATION).await?;
        report.applied.push(name.to_string());
    }
    for (name, sql) in TRIGGERS {
        let sum = checksum(sql);
        let others_changed = *name == PRIVILEGES && !report.triggers_applied.is_empty();
        if !others_changed && matches!(applied.get(*name), Some((_, old)) if *old == sum) {
            continue;
        }
        apply(&tx, name, sql, &sum, RECORD_TRIGGER).await?;
        report.triggers_applied.push(name.to_string());
    }
    tx.commit().await?;
    Ok(report)
}

/// Runs the file `name` and records its checksum with the statement `record`.
async fn apply(
    tx: &tokio_postgres::Transaction<'_>,
    name: &str,
    sql: &str,
    sum: &str,
    record: &str,
) -> Result<(), StoreError> {
    tx.batch_execute(sql)
        .await
        .map_err(|e| StoreError::Migration {
            name: name.to_string(),
            reason: db_error_text(&e),
        })?;
    tx.execute(record, &[&name, &sum]).await?;
    Ok(())
}

/// Which rights `herald migrate --grant-*` gives a role.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Grant {
    /// An application: emit events, register event types, read deliveries and attempts; no
    /// secrets, no writes to deliveries or webhooks.
    App,
    /// `herald run`: exactly what the worker, the leader's chores and the admin API use.
    Worker,
}

/// Grants `role` (which must exist) the rights of `kind`. Run by the schema owner, after
/// [`run`].
pub async fn grant(client: &Client, kind: Grant, role: &str) -> Result<(), StoreError> {
    let sql = match kind {
        Grant::App => GRANT_APP,
        Grant::Worker => GRANT_WORKER,
    };
    client
        .execute(sql, &[&role])
        .await
        .map(|_| ())
        .map_err(|e| StoreError::Migration {
            name: format!("grant to {role}"),
            reason: db_error_text(&e),
        })
}

fn db_error_text(e: &tokio_postgres::Error) -> String {
    match e.as_db_error() {
        Some(db) => format!("{} ({})", db.message(), db.code().code()),
        None => e.to_string(),
    }
}
