//! What every operator command shares: the database from `DATABASE_URL`, the same
//! [`ApiState`] the admin API runs with (so validation and store calls are the API's), output
//! as a table or as the API's JSON, and errors as `herald: ...` with exit status 1.

use std::{process::ExitCode, sync::Arc};

use serde::Serialize;
use uuid::Uuid;

use crate::{
    api::{self, error::ApiError, ApiState, Readiness},
    metrics::Metrics,
    store,
};

/// An operator command failed: the message is printed, the exit status is 1.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct OpError(pub String);

impl From<ApiError> for OpError {
    fn from(e: ApiError) -> Self {
        OpError(e.describe())
    }
}

/// An operator command group (`herald webhooks ...`): which command, and how to print.
#[derive(Debug, clap::Args)]
pub struct Group<C: clap::Subcommand> {
    #[command(subcommand)]
    pub command: C,
    #[command(flatten)]
    pub output: Output,
}

/// `--json`, shared by every operator command.
#[derive(Debug, Clone, Copy, clap::Args)]
pub struct Output {
    /// Print the result as JSON (the admin API's shape) instead of a table.
    #[arg(long, global = true)]
    pub json: bool,
}

impl Output {
    /// Prints `value` as JSON, or `table()` for people.
    pub fn print<T: Serialize>(
        self,
        value: &T,
        table: impl FnOnce() -> String,
    ) -> Result<(), OpError> {
        if self.json {
            let text = serde_json::to_string_pretty(value)
                .map_err(|e| OpError(format!("cannot print JSON: {e}")))?;
            println!("{text}");
        } else {
            print!("{}", table());
        }
        Ok(())
    }
}

/// The API's state on `DATABASE_URL`, without an HTTP server.
pub fn state() -> Result<ApiState, OpError> {
    let var = |name| crate::config::env_var(name).map_err(|e| OpError(e.to_string()));
    let url = crate::config::database_url().map_err(|e| OpError(e.to_string()))?;
    // Secrets created or rotated here are sealed as `herald run` would seal them.
    let secret_keys = match var("HERALD_SECRET_KEYS")? {
        Some(v) => crate::domain::keyring::KeyRing::parse(&v)
            .map_err(|e| OpError(format!("HERALD_SECRET_KEYS: {e}")))?,
        None => crate::domain::keyring::KeyRing::none(),
    };
    let allow_http = match std::env::var("HERALD_ALLOW_HTTP") {
        Ok(v) if !v.trim().is_empty() => crate::config::parse_flag("HERALD_ALLOW_HTTP", &v)
            .map_err(|e| OpError(e.to_string()))?,
        _ => false,
    };
    let pool = store::connect_pool(&url, 2).map_err(|e| OpError(e.to_string()))?;
    Ok(ApiState {
        pool,
        metrics: Metrics::new(),
        readiness: Arc::new(Readiness::default()),
        admin_token: None,
        allow_http,
        max_body_bytes: api::DEFAULT_MAX_BODY_BYTES,
        body_timeout: api::DEFAULT_BODY_TIMEOUT,
        secret_keys,
    })
}

/// A UUID argument, refused with the API's message.
pub fn uuid(field: &str, raw: &str) -> Result<Uuid, OpError> {
    Ok(api::request::uuid(field, raw)?)
}

/// Runs an async operator command on a fresh runtime; prints its error and answers the
/// exit status.
pub fn run(command: impl std::future::Future<Output = Result<(), OpError>>) -> ExitCode {
    let result = crate::runtime::new()
        .map_err(|e| OpError(format!("cannot start: {e}")))
        .and_then(|rt| rt.block_on(command));
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("herald: {e}");
            ExitCode::FAILURE
        }
    }
}

/// A comma-separated list (`a.b,c.d`); an empty text is the empty list.
pub fn list(raw: &str) -> Vec<String> {
    raw.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect()
}
