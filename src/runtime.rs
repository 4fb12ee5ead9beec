//! Process plumbing every command shares: the tokio runtime and the tracing subscriber. It sits
//! below the commands (`app`, `cli`, `demo`, `bench`, `secrets`) so that none of them reaches
//! into another for it.

use crate::config::LogFormat;

/// The multi-threaded tokio runtime a command runs on.
pub fn new() -> anyhow::Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?)
}

/// Installs the tracing subscriber on stderr: text or JSON, filtered by `RUST_LOG`, else by
/// `default_filter` (`info` for the worker; `error` where log lines would tear a live display).
pub fn init_tracing(format: LogFormat, default_filter: &str) {
    use tracing_subscriber::{fmt, EnvFilter};
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default_filter));
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let builder = fmt()
        .with_env_filter(filter)
        .with_ansi(ansi)
        .with_writer(std::io::stderr);
    let _ = match format {
        LogFormat::Json => builder.json().try_init(),
        LogFormat::Text => builder.try_init(),
    };
}
