//! The admin HTTP API: webhooks, deliveries, event types, roles, emit, health,
//! readiness, metrics and the OpenAPI document, served with hyper on `HERALD_LISTEN`.
//!
//! `herald run` builds an [`ApiState`], binds a listener and calls `admin::serve`, which
//! hands every request but the console's to [`Router`]; the pipeline sets the [`Readiness`]
//! flags it shares with it.

mod auth;
pub mod deliveries;
pub mod error;
pub mod events;
mod health;
pub mod request;
mod router;
mod routes;
pub mod validate;
pub mod webhooks;

use std::{sync::Arc, time::Duration};

pub use self::{
    auth::{check_auth_config, AuthConfigError, TokenCheck},
    health::OPENAPI,
    router::{handle, Shared as Router},
    routes::{Route, ROUTES},
    validate::validate_url,
};
use crate::{metrics::Metrics, store::Pool};

/// Default request body limit.
pub const DEFAULT_MAX_BODY_BYTES: usize = 1024 * 1024;
/// Default time a client has to send a request body, once its head has arrived.
pub const DEFAULT_BODY_TIMEOUT: Duration = Duration::from_secs(10);

pub use crate::readiness::Readiness;

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
