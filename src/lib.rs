//! Herald: a webhook delivery worker that lives next to PostgreSQL.
//!
//! See ARCHITECTURE.md for the bird's-eye view and the codemap.

pub mod admin;
pub mod api;
pub mod app;
pub mod bench;
pub mod child;
pub mod cli;
pub mod config;
pub mod console;
pub mod demo;
pub mod domain;
pub mod heartbeat;
pub mod http;
pub mod leader;
pub(crate) mod logfile;
pub mod metrics;
pub mod pgcluster;
pub mod pipeline;
pub(crate) mod progress;
pub mod readiness;
pub(crate) mod runtime;
pub mod secrets;
pub mod store;
pub mod supervise;

/// `herald/<version>`, sent as `user-agent`.
pub const USER_AGENT: &str = concat!("herald/", env!("CARGO_PKG_VERSION"));
