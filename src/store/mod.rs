//! The store: the only place with SQL or tokio-postgres types. Runtime queries live in
//! `queries/*.sql`; the schema in `sql/` and the trigger functions in `triggers/`.

pub mod admin;
pub mod deliveries;
pub mod events;
pub mod migrate;
pub mod queries;
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

/// One dedicated connection (not pooled), for LISTEN and for the leader's session lock.
/// The connection task is spawned; the returned handle ends when the connection does.
pub async fn connect_one(
    database_url: &str,
    application_name: &str,
    on_notification: Option<tokio::sync::mpsc::UnboundedSender<()>>,
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
                Ok(tokio_postgres::AsyncMessage::Notification(_)) => {
                    if let Some(tx) = &on_notification {
                        let _ = tx.send(());
                    }
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
