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

/// How often [`return_free_memory`] hands freed heap pages back to the system.
const TRIM_EVERY: std::time::Duration = std::time::Duration::from_secs(10);

/// Every [`TRIM_EVERY`], returns the heap's free pages to the system (`malloc_trim`), for as
/// long as the runtime runs. glibc gives back only the top of the heap by itself: after a burst
/// (a backlog claimed in full batches, more connections open for a while), the pages freed
/// below live allocations stayed resident, and the soak's RSS stepped up ~3 MiB after a
/// hiccup and stayed there. It runs on a blocking thread; the pass itself was not timed, but
/// the soak's delivery p99 did not rise with it (9.2 ms, against 12.6 ms without).
pub fn return_free_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    tokio::spawn(async {
        let mut every = tokio::time::interval(TRIM_EVERY);
        every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        every.tick().await;
        loop {
            every.tick().await;
            // SAFETY: malloc_trim only releases free memory; the allocator locks its arena.
            let _ = tokio::task::spawn_blocking(|| unsafe { libc::malloc_trim(0) }).await;
        }
    });
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
