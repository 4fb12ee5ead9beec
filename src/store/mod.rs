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
pub mod session;
pub mod stats;
mod text;
pub mod webhooks;

use std::{
    sync::Mutex,
    time::{Duration, Instant},
};

use deadpool_postgres::{ClientWrapper, ManagerConfig, RecyclingMethod, Runtime};
use tokio_postgres::{config::TargetSessionAttrs, error::SqlState, NoTls};

pub type Pool = deadpool::managed::Pool<Manager>;
pub type Client = deadpool::managed::Object<Manager>;

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
                            || c == "25006" // read-only: a standby, or a demoted primary
                    }
                }
            }
            StoreError::Pool(_) => true,
            StoreError::Config(_) | StoreError::Migration { .. } => false,
        }
    }

    /// True when the server refused a write because it is read-only (SQLSTATE 25006): a
    /// standby, a primary demoted by a switchover, or `default_transaction_read_only = on`.
    /// The connection is of no use to Herald any more; a new one may find the primary.
    pub fn is_read_only(&self) -> bool {
        self.sqlstate() == Some(&SqlState::READ_ONLY_SQL_TRANSACTION)
    }
}

/// The pool's connection manager: deadpool-postgres's, plus a cut-off time. A connection
/// made before the cut-off is dropped instead of being handed out again (see [`checked`]).
pub struct Manager {
    inner: deadpool_postgres::Manager,
    replace_before: Mutex<Option<Instant>>,
}

impl Manager {
    /// Marks every connection made so far for replacement. Returns false when that was
    /// already done less than a second ago (so that a burst of errors is logged once).
    fn replace_all(&self) -> bool {
        let now = Instant::now();
        let mut cut = self
            .replace_before
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let fresh = !cut.is_some_and(|at| now.duration_since(at) < Duration::from_secs(1));
        *cut = Some(now);
        fresh
    }

    fn is_replaced(&self, created: Instant) -> bool {
        self.replace_before
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .is_some_and(|cut| created <= cut)
    }
}

impl deadpool::managed::Manager for Manager {
    type Type = ClientWrapper;
    type Error = tokio_postgres::Error;

    async fn create(&self) -> Result<ClientWrapper, tokio_postgres::Error> {
        self.inner.create().await
    }

    async fn recycle(
        &self,
        client: &mut ClientWrapper,
        metrics: &deadpool::managed::Metrics,
    ) -> deadpool::managed::RecycleResult<tokio_postgres::Error> {
        if self.is_replaced(metrics.created) {
            return Err(deadpool::managed::RecycleError::message(
                "the server is read-only",
            ));
        }
        self.inner.recycle(client, metrics).await
    }

    fn detach(&self, client: &mut ClientWrapper) {
        deadpool::managed::Manager::detach(&self.inner, client);
    }
}

/// Turns a statement's error into a [`StoreError`]; when the server turned out read-only,
/// every connection of `client`'s pool is replaced: idle ones now, busy ones when they are
/// given back. New connections ask for a server that accepts writes, so after a failover they
/// find the new primary. Never retried on the same connection.
pub fn checked<T>(
    client: &Client,
    result: Result<T, tokio_postgres::Error>,
) -> Result<T, StoreError> {
    result.map_err(|e| {
        let e = StoreError::Db(e);
        if e.is_read_only() {
            if let Some(pool) = deadpool::managed::Object::pool(client) {
                if pool.manager().replace_all() {
                    tracing::warn!(
                        error = %e,
                        "the database server is read-only (a standby, or a primary demoted by a \
                         failover): replacing its connections, looking for the primary"
                    );
                }
                let manager = pool.manager();
                pool.retain(|_, m| !manager.is_replaced(m.created));
            }
        }
        e
    })
}

/// Parses `DATABASE_URL`. Several hosts (`postgres://h1:5432,h2:5432/db`) are tried in order;
/// unless the URL says otherwise (`target_session_attrs`), only a server that accepts writes
/// is kept, so that Herald always talks to the primary.
fn parse_url(database_url: &str) -> Result<tokio_postgres::Config, StoreError> {
    let mut pg: tokio_postgres::Config = database_url
        .parse()
        .map_err(|e: tokio_postgres::Error| StoreError::Config(e.to_string()))?;
    if !database_url.contains("target_session_attrs") {
        pg.target_session_attrs(TargetSessionAttrs::ReadWrite);
    }
    Ok(pg)
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
    let mut pg = parse_url(database_url)?;
    if pg.get_application_name().is_none() {
        pg.application_name("herald");
    }
    if pg.get_connect_timeout().is_none() {
        pg.connect_timeout(Duration::from_secs(5));
    }
    // The connect timeout applies to each host in turn: a dead first host must not use up
    // the time the next one needs.
    let hosts = pg.get_hosts().len().max(1) as u32;
    let create_timeout =
        pg.get_connect_timeout().copied().unwrap_or_default() * hosts + Duration::from_secs(1);
    pg.keepalives_idle(Duration::from_secs(30));
    let mut options = pg.get_options().unwrap_or_default().to_owned();
    if async_commit {
        options.push_str(" -c synchronous_commit=off");
    }
    // No JIT compilation unless the URL's options ask for it. Herald's statements are short and
    // run over and over; compiling one costs more than it can save, and a plan whose estimates
    // are off (a table just truncated or never analyzed) crosses `jit_above_cost` by orders of
    // magnitude: the attempt rollup then spent 2-4 s compiling, every 2 s, beside a 40 ms run.
    if !options.contains("jit=") && !options.contains("jit =") {
        options.push_str(" -c jit=off");
    }
    pg.options(options.trim());
    let manager = Manager {
        inner: deadpool_postgres::Manager::from_config(
            pg,
            NoTls,
            ManagerConfig {
                recycling_method: RecyclingMethod::Fast,
            },
        ),
        replace_before: Mutex::new(None),
    };
    Pool::builder(manager)
        .max_size(size)
        .runtime(Runtime::Tokio1)
        .wait_timeout(Some(Duration::from_secs(10)))
        .create_timeout(Some(create_timeout))
        .recycle_timeout(Some(Duration::from_secs(5)))
        .build()
        .map_err(|e| StoreError::Config(e.to_string()))
}

/// Whether the server behind a dedicated connection still takes writes: false on a standby,
/// on a primary demoted by a switchover, and under `default_transaction_read_only = on`.
/// The listener and the elector check it with each ping, and move to the primary when false.
pub async fn accepts_writes(client: &tokio_postgres::Client) -> Result<bool, StoreError> {
    let row = client.query_one(session::ACCEPTS_WRITES, &[]).await?;
    Ok(row.get(0))
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

    let mut pg = parse_url(database_url)?;
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
