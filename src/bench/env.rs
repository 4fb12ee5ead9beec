//! The bench's database: a throwaway cluster (default) or `DATABASE_URL`, migrated, and the
//! fixtures every scenario starts from (a clean slate, event types, users and webhooks).

use std::time::Duration;

use anyhow::Context;
use tokio_postgres::Client;
use uuid::Uuid;

use super::{receiver::Receiver, WakeMode};
use crate::store::bench as sql;
use crate::{pgcluster, store};

/// The `own` event type every scenario emits.
pub const OWN_TYPE: &str = "bench.event";
/// The `platform` event type of the fan-out scenario.
pub const PLATFORM_TYPE: &str = "bench.platform";
/// A fixed signing secret (`whsec_` + base64 of 32 bytes); the receiver does not verify.
const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw/VQ/YyRcaLQ=";
/// Configuration tables (and the rollup's one-row watermark) that a reset keeps.
const KEPT_TABLES: &[&str] = &[
    "schema_migrations",
    "settings",
    "event_types",
    "watches",
    "attempt_rollup_state",
];

/// Statements over the schema's tables, written by the database (table names cannot be bound
/// as parameters).
pub struct TableStatements {
    pub truncate: String,
    pub vacuum_analyze: String,
}

pub struct BenchEnv {
    pub url: String,
    /// Where the database came from, for the reports.
    pub database: String,
    pub quiet: bool,
    cluster: Option<pgcluster::Cluster>,
}

impl BenchEnv {
    pub async fn open(durable: bool, quiet: bool) -> anyhow::Result<BenchEnv> {
        let (url, database, cluster) = match crate::config::database_url_opt()? {
            Some(url) => {
                let shown = format!("DATABASE_URL {}", crate::config::redact_url(&url));
                (url, shown, None)
            }
            None => {
                if !quiet {
                    eprintln!("starting a throwaway PostgreSQL (durable: {durable})...");
                }
                let cluster = tokio::task::spawn_blocking(move || {
                    pgcluster::Cluster::start(pgcluster::ClusterOptions {
                        durable,
                        max_connections: 100,
                    })
                })
                .await??;
                let durability = if durable {
                    "durable: fsync on, synchronous_commit on"
                } else {
                    "NOT durable: fsync off, synchronous_commit off"
                };
                let shown = format!(
                    "throwaway cluster on port {} ({durability})",
                    cluster.port()
                );
                (cluster.url().to_owned(), shown, Some(cluster))
            }
        };
        let mut env = BenchEnv {
            url,
            database,
            quiet,
            cluster,
        };
        let (mut client, _conn) = store::connect_one(&env.url, "herald-bench", None)
            .await
            .with_context(|| format!("cannot connect to {}", env.database))?;
        store::migrate::run(&mut client).await?;
        env.database = format!("{}; {}", env.database, env.server_description().await?);
        Ok(env)
    }

    pub async fn close(self) {
        if let Some(cluster) = self.cluster {
            let _ = tokio::task::spawn_blocking(move || drop(cluster)).await;
        }
    }

    pub async fn connect(&self) -> anyhow::Result<Client> {
        let (client, _conn) = store::connect_one(&self.url, "herald-bench", None).await?;
        Ok(client)
    }

    /// `PostgreSQL 15.x` and whether commits wait for the disk, for the reports.
    pub async fn server_description(&self) -> anyhow::Result<String> {
        let c = self.connect().await?;
        let row = c.query_one(sql::ENV_SERVER, &[]).await?;
        let (version, fsync, sync): (String, String, String) = (row.get(0), row.get(1), row.get(2));
        Ok(format!(
            "PostgreSQL {version}, fsync={fsync}, synchronous_commit={sync}"
        ))
    }

    /// A truncate and a vacuum analyze of every table of the schema `herald` but its
    /// configuration, whatever the engine's layout.
    pub async fn table_statements(&self, c: &Client) -> anyhow::Result<TableStatements> {
        let row = c
            .query_one(sql::ENV_RESET_STATEMENTS, &[&KEPT_TABLES])
            .await?;
        Ok(TableStatements {
            truncate: row.get(0),
            vacuum_analyze: row.get(1),
        })
    }

    /// A clean slate: no webhooks, events, deliveries or sleepers (every table of the schema
    /// `herald` but its configuration is truncated); the wake mode set.
    pub async fn reset(&self, mode: WakeMode) -> anyhow::Result<()> {
        let c = self.connect().await?;
        let tables = self.table_statements(&c).await?;
        c.batch_execute(&tables.truncate).await?;
        c.execute(sql::ENV_FORGET_TYPES, &[]).await?;
        c.execute(sql::ENV_REGISTER_TYPES, &[&OWN_TYPE, &PLATFORM_TYPE])
            .await?;
        c.execute(sql::ENV_WAKE_MODE, &[&(mode == WakeMode::Notify)])
            .await?;
        c.batch_execute(&tables.vacuum_analyze).await?;
        Ok(())
    }

    /// A clean slate ([`BenchEnv::reset`]), a receiver, and `users` users with one webhook each
    /// pointing at it.
    pub async fn reset_with_users(
        &self,
        mode: WakeMode,
        users: usize,
    ) -> anyhow::Result<(Receiver, Vec<Uuid>)> {
        self.reset(mode).await?;
        let receiver = Receiver::start().await?;
        let users = self
            .create_own_webhooks(users, 1, &receiver.url_base())
            .await?;
        Ok((receiver, users))
    }

    /// One more webhook of `user` at `url`.
    pub async fn create_webhook(&self, user: Uuid, url: &str) -> anyhow::Result<()> {
        self.connect()
            .await?
            .execute(sql::ENV_WEBHOOK, &[&user, &url, &SECRET])
            .await?;
        Ok(())
    }

    /// Creates `users` users with `per_user` webhooks each, all pointing at `url_base` +
    /// `/<user>/<n>`. Returns the user ids.
    pub async fn create_own_webhooks(
        &self,
        users: usize,
        per_user: usize,
        url_base: &str,
    ) -> anyhow::Result<Vec<Uuid>> {
        let c = self.connect().await?;
        let ids: Vec<Uuid> = (0..users).map(|_| Uuid::new_v4()).collect();
        c.execute(
            sql::ENV_OWN_WEBHOOKS,
            &[&ids, &url_base, &SECRET, &(per_user as i32)],
        )
        .await?;
        Ok(ids)
    }

    /// A platform manager owning `count` platform webhooks.
    pub async fn create_platform_webhooks(
        &self,
        count: usize,
        url_base: &str,
    ) -> anyhow::Result<Uuid> {
        let c = self.connect().await?;
        let manager = Uuid::new_v4();
        c.execute(sql::ENV_PLATFORM_MANAGER, &[&manager]).await?;
        c.execute(
            sql::ENV_PLATFORM_WEBHOOKS,
            &[&manager, &url_base, &SECRET, &(count as i32)],
        )
        .await?;
        Ok(manager)
    }

    /// Waits until a worker has declared itself asleep (it is idle and listening).
    pub async fn wait_for_sleeper(&self, timeout: Duration) -> anyhow::Result<()> {
        let c = self.connect().await?;
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let n: i64 = c.query_one(sql::ENV_SLEEPERS, &[]).await?.get(0);
            if n > 0 {
                return Ok(());
            }
            anyhow::ensure!(
                tokio::time::Instant::now() < deadline,
                "Herald did not go idle within {timeout:?}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}
