//! The HTTP client that delivers webhooks: send, sign, classify the outcome, guard addresses.
//!
//! - `client`: [`Sender`], one signed POST per [`Outgoing`], keep-alive pooled, with a connect
//!   timeout and a total timeout; redirects are not followed and at most
//!   `max_response_excerpt` bytes of the response are read.
//! - `guard`: the SSRF guard, a resolver and a connector wrapper that refuse forbidden
//!   addresses after resolution (IP literals included) unless private targets are allowed.
//! - `tls`: rustls on the ring provider with Mozilla's roots plus an optional CA file.
//! - `outcome`: [`AttemptOutcome`], the attempt as data, and the error wording.
//! - `signing`: the webhooks' stored secrets, decrypted and parsed once and kept.
//! - `server`: the server side, for the admin API and the receivers of demo, bench and tests:
//!   one accept loop, one way to serve a connection.

mod client;
pub mod guard;
mod outcome;
pub mod server;
mod signing;
mod tls;

use std::{io, path::PathBuf, time::Duration};

use crate::config;

pub use client::{Outgoing, Sender};
pub use outcome::{parse_retry_after, AttemptOutcome};

/// Bytes of a response body read and kept for the delivery log.
pub const MAX_RESPONSE_EXCERPT: usize = 1024;

/// How the sender behaves. `Default` gives the documented defaults (README, "Configuration").
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SenderConfig {
    /// Total time for one attempt: connect, TLS, request and reading the excerpt.
    pub http_timeout: Duration,
    pub connect_timeout: Duration,
    /// `HERALD_ALLOW_PRIVATE_TARGETS`: allow loopback, private, link-local... addresses.
    pub allow_private_targets: bool,
    /// `HERALD_ALLOW_HTTP`: send to plain `http://` URLs. Checked for every request, so a
    /// webhook written straight into the table is held to it too.
    pub allow_http: bool,
    /// `HERALD_SECRET_KEYS`: opens the stored secrets that are encrypted.
    pub secret_keys: crate::domain::keyring::KeyRing,
    /// Extra CA certificates (PEM) trusted on top of Mozilla's roots.
    pub ca_file: Option<PathBuf>,
    /// Bytes of the response body kept for the delivery log.
    pub max_response_excerpt: usize,
    /// Idle keep-alive connections kept per host: `HERALD_MAX_IN_FLIGHT`, so that one endpoint
    /// can be sent the whole in-flight limit over reused connections.
    pub max_idle_per_host: usize,
}

impl Default for SenderConfig {
    fn default() -> Self {
        Self {
            http_timeout: config::DEFAULT_HTTP_TIMEOUT,
            connect_timeout: config::DEFAULT_CONNECT_TIMEOUT,
            allow_private_targets: false,
            allow_http: false,
            secret_keys: crate::domain::keyring::KeyRing::none(),
            ca_file: None,
            max_response_excerpt: MAX_RESPONSE_EXCERPT,
            max_idle_per_host: config::DEFAULT_MAX_IN_FLIGHT,
        }
    }
}

impl From<&config::Config> for SenderConfig {
    fn from(c: &config::Config) -> Self {
        Self {
            http_timeout: c.http_timeout,
            connect_timeout: c.connect_timeout,
            allow_private_targets: c.allow_private_targets,
            allow_http: c.allow_http,
            secret_keys: c.secret_keys.clone(),
            ca_file: c.ca_file.clone(),
            max_idle_per_host: c.max_in_flight,
            ..Self::default()
        }
    }
}

/// Why a [`Sender`] could not be built.
#[derive(Debug, thiserror::Error)]
pub enum SenderError {
    #[error("cannot read the CA file {}: {source}", path.display())]
    CaFileRead { path: PathBuf, source: io::Error },
    #[error("the CA file {} holds no PEM certificate", path.display())]
    CaFileEmpty { path: PathBuf },
    #[error("the CA file {} holds a bad certificate: {reason}", path.display())]
    CaFileBadCert { path: PathBuf, reason: String },
    #[error("TLS setup failed: {0}")]
    Tls(#[source] rustls::Error),
}
