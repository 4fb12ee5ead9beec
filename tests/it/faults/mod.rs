//! Fault injection (issue 7): each file injects one class of fault into the real `herald run`
//! (real PostgreSQL, real sockets, no mocks) and checks that README's "Guarantees" still hold.
//!
//! - `crash`: SIGKILL mid-drain; every delivery ends delivered, duplicates only for rows in
//!   flight at the kill, counted and bounded.
//! - `rollback`: uncommitted events are never sent; a late commit is sent after the commit.
//! - `restart`: the database restarts mid-drain (a cluster the test owns); nothing is lost.
//! - `concurrency`: 4 replicas, no loss and no double send; claims are oldest-due-first.
//! - `hostile`: misbehaving receivers end as recorded failures; healthy ones keep flowing.
//! - `input`: bad input through SQL, the API and the environment is refused, nothing written.
//! - `tls`: a receiver whose certificate comes from `HERALD_CA_FILE` is delivered over https.
//!
//! `cargo test` runs them at a size that fits CI in a debug build (crash 10,000 deliveries,
//! replicas 10,000); `scripts/faults-slow.sh` runs the same tests in release with
//! `HERALD_FAULTS_SCALE=5` (crash and replicas at 50,000).

mod concurrency;
mod crash;
mod hostile;
mod input;
mod restart;
mod rollback;
mod tls;

use uuid::Uuid;

use crate::app::{event_type, webhook};

/// Scales a test's size: `HERALD_FAULTS_SCALE` (default 1) multiplies `n`.
pub fn scaled(n: i64) -> i64 {
    let scale: i64 = std::env::var("HERALD_FAULTS_SCALE")
        .ok()
        .and_then(|s| s.parse().ok())
        .filter(|s: &i64| *s >= 1)
        .unwrap_or(1);
    n * scale
}

/// `users` users with one webhook each at `{base}/{i}`, every event id going to exactly one
/// webhook (so a `webhook-id` seen twice is a duplicate). Returns the users.
pub async fn one_webhook_per_user(
    c: &tokio_postgres::Client,
    users: usize,
    url_of: impl Fn(usize) -> String,
) -> Vec<Uuid> {
    event_type(c, "order.created", "own").await;
    let mut out = Vec::with_capacity(users);
    for i in 0..users {
        out.push(webhook(c, &url_of(i)).await.0);
    }
    out
}

/// Emits `per_user` events for each user; returns every event id.
pub async fn emit_for_each(c: &tokio_postgres::Client, users: &[Uuid], per_user: i64) -> Vec<Uuid> {
    let mut ids = Vec::new();
    for u in users {
        ids.extend(crate::app::emit_many(c, "order.created", *u, per_user).await);
    }
    ids
}
