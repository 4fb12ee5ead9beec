//! The store: the only place with SQL or tokio-postgres types. Runtime statements live in
//! `queries/*.sql` (one statement a file), those of `herald bench` in `bench/`, and what holds
//! several statements in a `scripts/` folder; the schema in `sql/` and the trigger functions in
//! `triggers/`. `tests/it/queries.rs` prepares every statement file and executes every script.

pub mod admin;
pub mod bench;
pub mod deliveries;
pub mod events;
pub mod fleet;
pub mod maintenance;
pub mod migrate;
pub mod stats;
pub mod webhooks;

use std::time::Duration;

use deadpool_postgres::{Manager, ManagerConfig, RecyclingMethod, Runtime};
use tokio_postgres::{error::SqlState, NoTls};

pub type Pool = deadpool_postgres::Pool;
pub type Client = deadpool_postgres::Object;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database error: {0}")]
    Db(#[from] tokio_postgres::Error),
    #[error("database pool: {0}")]
    Pool(#[from] deadpool_postgres::PoolError),
    #[error("bad DATABASE_URL: {0}")]
    Config(String),
    #[error("migration {name}: {reason}")]
    Migration { name: String, reason: String },
}

impl StoreError {
    /// The SQLSTATE of a database error, if the server sent one.
    pub fn sqlstate(&self) -> Option<&SqlState> {
        match self {
            StoreError::Db(e) => e.code(),
            StoreError::Pool(deadpool_postgres::PoolError::Backend(e)) => e.code(),
            _ => None,
        }
    }

    /// The server's message of a database error (without the "db error:" prefix).
    pub fn db_message(&self) -> Option<&str> {
        let e = match self {
            StoreError::Db(e) => e,
            StoreError::Pool(deadpool_postgres::PoolError::Backend(e)) => e,
            _ => return None,
        };
        e.as_db_error().map(|d| d.message())
    }

    /// True when retrying later may succeed: the connection broke, the server is restarting
    /// or refusing connections. False for errors that the same input will hit again.
    pub fn is_transient(&self) -> bool {
        match self {
            StoreError::Pool(deadpool_postgres::PoolError::Backend(e)) | StoreError::Db(e) => {
                match e.code() {
                    None => true, // I/O, closed connection, timeouts
                    Some(code) => {
                        let c = code.code();
                        c.starts_with("08") // connection exception
                            || c.starts_with("57P") // admin/crash shutdown, cannot connect now
                            || c == "53300" // too many connections
                            || c == "40001" // serialization failure
                            || c == "40P01" // deadlock detected
                    }
                }
            }
            StoreError::Pool(_) => true,
            StoreError::Config(_) | StoreError::Migration { .. } => false,
        }
    }
}

/// A pool of connections to `database_url`. Connections are made lazily.
pub fn connect_pool(database_url: &str, size: usize) -> Result<Pool, StoreError> {
    build_pool(database_url, size, false)
}

/// The worker's pool: its commits use `synchronous_commit = off` (a crash then means
/// a duplicate delivery, never a lost one, because a lost claim or result only makes the row
/// due again).
pub fn connect_worker_pool(database_url: &str, size: usize) -> Result<Pool, StoreError> {
    build_pool(database_url, size, true)
}

fn build_pool(database_url: &str, size: usize, async_commit: bool) -> Result<Pool, StoreError> {
    let mut pg: tokio_postgres::Config = database_url
        .parse()
        .map_err(|e: tokio_postgres::Error| StoreError::Config(e.to_string()))?;
    if pg.get_application_name().is_none() {
        pg.application_name("herald");
    }
    if pg.get_connect_timeout().is_none() {
        pg.connect_timeout(Duration::from_secs(5));
    }
    pg.keepalives_idle(Duration::from_secs(30));
    if async_commit {
        let options = pg.get_options().unwrap_or_default().to_owned();
        pg.options(format!("{options} -c synchronous_commit=off").trim());
    }
    let manager = Manager::from_config(
        pg,
        NoTls,
        ManagerConfig {
            recycling_method: RecyclingMethod::Fast,
        },
    );
    Pool::builder(manager)
        .max_size(size)
        .runtime(Runtime::Tokio1)
        .wait_timeout(Some(Duration::from_secs(10)))
        .create_timeout(Some(Duration::from_secs(5)))
        .recycle_timeout(Some(Duration::from_secs(5)))
        .build()
        .map_err(|e| StoreError::Config(e.to_string()))
}

/// A NOTIFY received on a dedicated connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notification {
    pub channel: String,
    pub payload: String,
}

/// One dedicated connection (not pooled), for LISTEN and for the leader's session lock.
/// The connection task is spawned; the returned handle ends when the connection does.
/// Each notification is signalled as `()` on `on_notification`; [`connect_listener`] passes
/// the channel and payload instead.
pub async fn connect_one(
    database_url: &str,
    application_name: &str,
    on_notification: Option<tokio::sync::mpsc::UnboundedSender<()>>,
) -> Result<(tokio_postgres::Client, tokio::task::JoinHandle<()>), StoreError> {
    connect_dedicated(database_url, application_name, move |_| {
        if let Some(tx) = &on_notification {
            let _ = tx.send(());
        }
    })
    .await
}

/// Like [`connect_one`], sending every notification with its channel and payload.
pub async fn connect_listener(
    database_url: &str,
    application_name: &str,
    notifications_tx: tokio::sync::mpsc::UnboundedSender<Notification>,
) -> Result<(tokio_postgres::Client, tokio::task::JoinHandle<()>), StoreError> {
    connect_dedicated(database_url, application_name, move |n| {
        let _ = notifications_tx.send(n);
    })
    .await
}

async fn connect_dedicated(
    database_url: &str,
    application_name: &str,
    mut on_notification: impl FnMut(Notification) + Send + 'static,
) -> Result<(tokio_postgres::Client, tokio::task::JoinHandle<()>), StoreError> {
    use futures_util::StreamExt;

    let mut pg: tokio_postgres::Config = database_url
        .parse()
        .map_err(|e: tokio_postgres::Error| StoreError::Config(e.to_string()))?;
    pg.application_name(application_name);
    if pg.get_connect_timeout().is_none() {
        pg.connect_timeout(Duration::from_secs(5));
    }
    pg.keepalives_idle(Duration::from_secs(10));
    let (client, mut connection) = pg.connect(NoTls).await?;
    let handle = tokio::spawn(async move {
        let mut messages = futures_util::stream::poll_fn(move |cx| connection.poll_message(cx));
        while let Some(message) = messages.next().await {
            match message {
                Ok(tokio_postgres::AsyncMessage::Notification(n)) => {
                    on_notification(Notification {
                        channel: n.channel().to_owned(),
                        payload: n.payload().to_owned(),
                    });
                }
                Ok(_) => {}
                Err(e) => {
                    tracing::debug!(error = %e, "dedicated connection ended");
                    break;
                }
            }
        }
    });
    Ok((client, handle))
}
