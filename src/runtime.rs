//! Process plumbing every command shares: the tokio runtime and the tracing subscriber. It sits
//! below the commands (`app`, `cli`, `demo`, `bench`, `secrets`) so that none of them reaches
//! into another for it.

use crate::config::LogFormat;

/// The open-files limit every command asks for: each request in flight holds a socket (and
/// the HTTP pool keeps as many idle ones), on top of the database connections and the API's.
/// The soft limit is often 1,024 while the hard one is far higher.
const OPEN_FILES_WANTED: u64 = 65_536;

/// The multi-threaded tokio runtime a command runs on. First raises the soft limit of open
/// files towards the hard one (as far as [`OPEN_FILES_WANTED`]).
pub fn new() -> anyhow::Result<tokio::runtime::Runtime> {
    let _ = raise_open_files_limit();
    Ok(tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?)
}

/// Puts every thread's allocations in one glibc malloc arena (`M_ARENA_MAX` = 1), unless
/// `MALLOC_ARENA_MAX` is set. By default each tokio worker gets an arena of its own; a
/// connection's buffers are allocated on one worker and freed on whichever polls it last, and
/// memory freed into one arena is not reused by the others, so each arena grows to its own
/// high-water mark. With 1,024 requests in flight that was most of the worker's resident
/// memory above what the buffers hold (BENCHMARKS.md). Call it before any thread starts.
pub fn use_one_malloc_arena() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    if std::env::var_os("MALLOC_ARENA_MAX").is_none() {
        // SAFETY: mallopt only sets a parameter of the allocator; no thread runs yet.
        unsafe { libc::mallopt(libc::M_ARENA_MAX, 1) };
    }
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

/// Raises the soft limit of open files as far as the hard limit lets it (up to
/// [`OPEN_FILES_WANTED`]) and returns it; `None` where the platform has no such limit.
fn raise_open_files_limit() -> Option<u64> {
    rlimit::increase_nofile_limit(OPEN_FILES_WANTED).ok()
}

/// The soft limit of open files as it stands (after [`new`] raised it), without changing it;
/// `None` where it cannot be read.
pub fn open_files_limit() -> Option<u64> {
    rlimit::getrlimit(rlimit::Resource::NOFILE)
        .ok()
        .map(|(soft, _hard)| soft)
}
