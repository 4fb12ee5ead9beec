//! The admin HTTP API: webhooks, deliveries, event types, roles, emit, health,
//! readiness, metrics and the OpenAPI document, served with hyper on `HERALD_LISTEN`.
//!
//! `herald run` builds an [`ApiState`], binds a listener and calls [`serve`]; the pipeline
//! sets the [`Readiness`] flags it shares with it.

mod auth;
pub mod deliveries;
pub mod error;
pub mod events;
mod health;
pub mod request;
pub mod route;
mod router;
pub mod validate;
pub mod webhooks;

use std::{
    sync::{atomic::AtomicBool, Arc},
    time::Duration,
};

use hyper::{server::conn::http1, service::service_fn};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;
use tokio_util::{sync::CancellationToken, task::TaskTracker};

pub use self::{
    auth::{check_auth_config, AuthConfigError, TokenCheck},
    health::OPENAPI,
    route::{Route, ROUTES},
    validate::validate_url,
};
use crate::{metrics::Metrics, store::Pool};

/// Default request body limit.
pub const DEFAULT_MAX_BODY_BYTES: usize = 1024 * 1024;
/// Default time a client has to send a request body, once its head has arrived.
pub const DEFAULT_BODY_TIMEOUT: Duration = Duration::from_secs(10);

/// What the pipeline reports for `/readyz`; both start false.
#[derive(Debug, Default)]
pub struct Readiness {
    /// The LISTEN connection is up.
    pub listener_connected: AtomicBool,
    /// This replica knows who the leader is (itself or another).
    pub leader_known: AtomicBool,
}

/// Everything the API needs from `herald run`.
#[derive(Clone)]
pub struct ApiState {
    pub pool: Pool,
    pub metrics: Arc<Metrics>,
    pub readiness: Arc<Readiness>,
    /// `None` leaves every route open: only for loopback with `--insecure-no-auth`.
    pub admin_token: Option<String>,
    /// Accept `http://` target URLs (`HERALD_ALLOW_HTTP`).
    pub allow_http: bool,
    /// Larger request bodies answer 413.
    pub max_body_bytes: usize,
    /// `HERALD_SECRET_KEYS`: new and rotated secrets are stored sealed with its current key.
    pub secret_keys: crate::domain::keyring::KeyRing,
    /// A request body not received whole within this answers 408 and closes the connection.
    pub body_timeout: Duration,
}

impl std::fmt::Debug for ApiState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApiState")
            .field(
                "admin_token",
                &self.admin_token.as_ref().map(|_| "<redacted>"),
            )
            .field("allow_http", &self.allow_http)
            .field("max_body_bytes", &self.max_body_bytes)
            .field("secret_keys", &self.secret_keys)
            .field("body_timeout", &self.body_timeout)
            .finish_non_exhaustive()
    }
}

/// How long a client may take to send its request head.
const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);

/// Serves the API on `listener` until `stop` is cancelled; then stops accepting, lets the
/// requests in progress finish (idle keep-alive connections close at once) and returns.
pub async fn serve(
    listener: TcpListener,
    state: ApiState,
    stop: CancellationToken,
) -> std::io::Result<()> {
    let token = match &state.admin_token {
        Some(t) => Some(auth::TokenCheck::new(t).map_err(|_| {
            std::io::Error::other("cannot key the token check: the system random generator failed")
        })?),
        None => None,
    };
    let console = crate::console::Console::new(state.admin_token.as_deref()).map_err(|_| {
        std::io::Error::other("cannot key the console: the system random generator failed")
    })?;
    let shared = Arc::new(router::Shared {
        state,
        token,
        console,
    });
    let connections = TaskTracker::new();
    loop {
        let stream = tokio::select! {
            _ = stop.cancelled() => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, _peer)) => stream,
                Err(e) => {
                    // Out of file descriptors and the like: back off instead of spinning.
                    tracing::warn!(error = %e, "admin api: accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
        };
        let shared = shared.clone();
        let stop = stop.clone();
        connections.spawn(async move {
            let service = service_fn(move |req| router::handle(shared.clone(), req));
            let conn = http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(HEADER_READ_TIMEOUT)
                .serve_connection(TokioIo::new(stream), service);
            let mut conn = std::pin::pin!(conn);
            let result = tokio::select! {
                r = conn.as_mut() => r,
                _ = stop.cancelled() => {
                    conn.as_mut().graceful_shutdown();
                    conn.await
                }
            };
            if let Err(e) = result {
                tracing::debug!(error = %e, "admin api: connection ended with an error");
            }
        });
    }
    connections.close();
    connections.wait().await;
    Ok(())
}
