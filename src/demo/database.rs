//! The demo's database: `DATABASE_URL` when it is set, else a throwaway cluster started from
//! the machine's PostgreSQL binaries (dropped, i.e. stopped and removed, with the value).
//! Either way the schema `herald` is migrated.

use anyhow::Context;

use crate::{
    pgcluster::{Cluster, ClusterOptions},
    store,
};

pub struct Database {
    pub url: String,
    /// `Some` for a throwaway cluster; dropping it stops the server and removes its folder.
    cluster: Option<Cluster>,
}

impl Database {
    /// Uses `external` when given, else starts a throwaway cluster.
    pub async fn open(external: Option<String>) -> anyhow::Result<Database> {
        let db = match external {
            Some(url) => Database { url, cluster: None },
            None => {
                let cluster =
                    tokio::task::spawn_blocking(|| Cluster::start(ClusterOptions::default()))
                        .await
                        .context("the thread starting PostgreSQL panicked")??;
                Database {
                    url: cluster.url().to_owned(),
                    cluster: Some(cluster),
                }
            }
        };
        db.migrate().await?;
        Ok(db)
    }

    pub fn is_throwaway(&self) -> bool {
        self.cluster.is_some()
    }

    /// The URL to show: the password, if any, redacted.
    pub fn shown_url(&self) -> String {
        crate::config::redact_url(&self.url)
    }

    async fn migrate(&self) -> anyhow::Result<()> {
        let (mut client, conn) = store::connect_one(&self.url, "herald-demo-migrate", None)
            .await
            .with_context(|| format!("cannot connect to {}", self.shown_url()))?;
        store::migrate::run(&mut client)
            .await
            .context("migrating the schema herald")?;
        drop(client);
        let _ = conn.await;
        Ok(())
    }

    /// Stops and removes a throwaway cluster (blocking work, done off the runtime's threads).
    pub async fn close(self) {
        if let Some(cluster) = self.cluster {
            let _ = tokio::task::spawn_blocking(move || drop(cluster)).await;
        }
    }
}
