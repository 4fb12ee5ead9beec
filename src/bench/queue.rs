//! The queue a drain starts from, shared by `drain`, `replicas` and `fairness`: due
//! deliveries written up front by the fan-out, spread over a layout of users and webhooks,
//! with Herald not running.

use uuid::Uuid;

use super::{
    env::{BenchEnv, OWN_TYPE},
    WakeMode,
};
use crate::store::bench as sql;

/// The queue a drain starts from (drain, replicas).
#[derive(Debug, Clone, clap::Args)]
pub struct QueueArgs {
    /// Due deliveries to drain: a fresh queue of this size for each drain of the scenario.
    #[arg(long, default_value_t = 200_000)]
    pub events: u64,
    /// Webhooks in all, spread evenly over --users: 100 (4 users x 25) by default; 1 sends
    /// every delivery to one endpoint.
    #[arg(long, default_value_t = 100)]
    pub webhooks: usize,
    /// Users owning the webhooks (fewer when --webhooks is smaller); each event of a user fans
    /// out to all of that user's webhooks.
    #[arg(long, default_value_t = 4)]
    pub users: usize,
}

impl Default for QueueArgs {
    fn default() -> Self {
        QueueArgs {
            events: 200_000,
            webhooks: 100,
            users: 4,
        }
    }
}

impl QueueArgs {
    pub fn layout(&self) -> anyhow::Result<Layout> {
        Layout::new(self.webhooks, self.users)
    }
}

/// Which webhooks the queue goes to: `users` users with `per_user` webhooks each.
#[derive(Debug, Clone, Copy)]
pub struct Layout {
    pub users: usize,
    pub per_user: usize,
}

impl Layout {
    /// `webhooks` in all over at most `users` users, evenly.
    pub fn new(webhooks: usize, users: usize) -> anyhow::Result<Layout> {
        anyhow::ensure!(
            webhooks > 0 && users > 0,
            "--webhooks and --users must be positive"
        );
        let users = users.min(webhooks);
        anyhow::ensure!(
            webhooks % users == 0,
            "--webhooks {webhooks} cannot be spread evenly over {users} users; give a multiple of --users"
        );
        Ok(Layout {
            users,
            per_user: webhooks / users,
        })
    }

    pub fn webhooks(&self) -> usize {
        self.users * self.per_user
    }
}

/// The queue as written: how many events made how many due deliveries.
#[derive(Debug, Clone, Copy)]
pub struct Queue {
    pub events: u64,
    pub deliveries: u64,
    pub layout: Layout,
}

impl Queue {
    pub fn describe(&self) -> String {
        format!(
            "{} users x {} webhooks = {} webhooks; {} events, each fanned out to the {} webhooks of its user",
            self.layout.users,
            self.layout.per_user,
            self.layout.webhooks(),
            self.events,
            self.layout.per_user
        )
    }
}

/// Rows written per INSERT while preparing the queue.
const PREPARE_CHUNK_EVENTS: u64 = 1_000;

/// A clean slate, the webhooks of `layout` at `url_base`, and at least `deliveries` due
/// deliveries made by the fan-out (Herald not running).
pub async fn write_queue(
    env: &BenchEnv,
    mode: WakeMode,
    layout: Layout,
    url_base: &str,
    deliveries: u64,
) -> anyhow::Result<Queue> {
    env.reset(mode).await?;
    let users: Vec<Uuid> = env
        .create_own_webhooks(layout.users, layout.per_user, url_base)
        .await?;
    let per_user = layout.per_user as u64;
    let events = deliveries.div_ceil(per_user);
    let deliveries = events * per_user;
    let progress = super::progress::bar(env.quiet, deliveries, "writing the queue");
    let c = env.connect().await?;
    let mut written = 0u64;
    while written < events {
        let n = PREPARE_CHUNK_EVENTS.min(events - written);
        c.execute(
            sql::DRAIN_WRITE_QUEUE,
            &[&OWN_TYPE, &users, &(written as i64), &(n as i64)],
        )
        .await?;
        written += n;
        progress.set_position(written * per_user);
    }
    progress.finish_and_clear();
    c.batch_execute(&env.table_statements(&c).await?.vacuum_analyze)
        .await?;
    let queued: i64 = c.query_one(sql::DRAIN_PENDING, &[]).await?.get(0);
    anyhow::ensure!(
        queued as u64 == deliveries,
        "expected {deliveries} due deliveries, found {queued}"
    );
    Ok(Queue {
        events,
        deliveries,
        layout,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layout_spreads_webhooks_evenly_over_the_users() {
        let l = Layout::new(100, 4).expect("layout");
        assert_eq!((l.users, l.per_user), (4, 25));
        let one = Layout::new(1, 4).expect("layout");
        assert_eq!((one.users, one.per_user), (1, 1));
        let err = Layout::new(10, 4).expect_err("10 over 4 users");
        assert!(err.to_string().contains("--webhooks 10"), "{err}");
        assert!(Layout::new(0, 4).is_err());
    }
}
