//! Throwaway PostgreSQL clusters started from the machine's own binaries: for `herald demo`
//! without a `DATABASE_URL`, and for tests.
//!
//! [`Cluster::start`] is blocking (initdb takes a second or two); call it from
//! `spawn_blocking` in async code. It runs `initdb` into a fresh temporary folder, starts
//! `postgres` on a free port of 127.0.0.1 (the socket goes in the same folder), waits until the
//! server accepts a login, and hands back a `postgres://` URL for the superuser `postgres`.
//! Dropping the [`Cluster`] stops the server (fast shutdown) and removes the folder.
//!
//! PostgreSQL refuses to run as root: when the euid is 0, the folder is given to the OS user
//! `postgres` and both programs run as that user.

mod binaries;
mod process;

use std::{
    fs,
    path::{Path, PathBuf},
    process::Child,
    sync::Mutex,
    time::{Duration, Instant},
};

use binaries::INSTALL_HINT;
pub use binaries::{Binaries, BinarySearch};
use process::{
    free_port, initdb, login_succeeds, make_dir, remove_stale_dirs, run_as, spawn_postgres, RunAs,
};

/// How long the server gets to accept its first login.
const READY_TIMEOUT: Duration = Duration::from_secs(30);

/// How long a fast shutdown may take before the postmaster is killed.
const STOP_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    #[error("{INSTALL_HINT}")]
    BinariesNotFound,
    #[error(
        "running as root, and there is no OS user `postgres` to run PostgreSQL as \
         (PostgreSQL refuses to run as root); create one, e.g. `useradd --system postgres`"
    )]
    NoPostgresUser,
    #[error("throwaway PostgreSQL: {what}: {source}")]
    Io {
        what: String,
        #[source]
        source: std::io::Error,
    },
    #[error("initdb failed ({status}):\n{output}")]
    Initdb { status: String, output: String },
    #[error("PostgreSQL did not start: {reason}; server log tail:\n{log_tail}")]
    NotReady { reason: String, log_tail: String },
}

fn io(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> ClusterError {
    let what = what.into();
    move |source| ClusterError::Io { what, source }
}

/// How to run the cluster. The default is a throwaway one: not durable, 100 connections.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClusterOptions {
    /// `false` turns off `fsync`, `synchronous_commit` and `full_page_writes`: fast, and a
    /// crash of the machine may lose or corrupt the data (fine for a throwaway cluster).
    pub durable: bool,
    pub max_connections: u32,
}

impl Default for ClusterOptions {
    fn default() -> Self {
        ClusterOptions {
            durable: false,
            max_connections: 100,
        }
    }
}

/// A running throwaway cluster. Dropping it stops the server and removes its folder.
#[derive(Debug)]
pub struct Cluster {
    url: String,
    port: u16,
    dir: PathBuf,
    postmaster: Mutex<Option<Child>>,
    /// What [`Cluster::start_again`] needs to start the same server again.
    bins: Binaries,
    run_as: Option<RunAs>,
    opts: ClusterOptions,
}

impl Cluster {
    /// Starts a cluster (blocking). See the module documentation.
    pub fn start(opts: ClusterOptions) -> Result<Cluster, ClusterError> {
        Cluster::start_with(opts, &BinarySearch::system(), false)
    }

    /// Like [`Cluster::start`], but the postmaster gets SIGQUIT when the calling thread exits
    /// (PR_SET_PDEATHSIG; Linux only): for a cluster owned by a thread that lives as long as
    /// the process, so that the server dies with the process even when it is killed.
    pub fn start_tied_to_thread(opts: ClusterOptions) -> Result<Cluster, ClusterError> {
        Cluster::start_with(opts, &BinarySearch::system(), true)
    }

    /// Stops the server and removes its folder, as dropping the cluster does: for a cluster
    /// that is never dropped (one held in a `static`). Blocking; idempotent.
    pub fn shut_down(&self) {
        self.stop();
        let _ = fs::remove_dir_all(&self.dir);
    }

    /// `postgres://postgres@127.0.0.1:<port>/postgres`.
    pub fn url(&self) -> &str {
        &self.url
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// The folder holding the data directory, the socket and `server.log`.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// `die_with_thread`: the postmaster gets SIGQUIT when the spawning thread exits
    /// (PR_SET_PDEATHSIG; Linux only).
    fn start_with(
        opts: ClusterOptions,
        search: &BinarySearch,
        die_with_thread: bool,
    ) -> Result<Cluster, ClusterError> {
        let bins = search.find()?;
        let run_as = run_as()?;
        remove_stale_dirs();
        let dir = make_dir(run_as)?;
        // From here on, a failure must remove the folder: build the Cluster early so that its
        // Drop does it.
        let mut cluster = Cluster {
            url: String::new(),
            port: 0,
            dir,
            postmaster: Mutex::new(None),
            bins: bins.clone(),
            run_as,
            opts,
        };
        initdb(&bins, &cluster.dir, run_as, opts)?;
        // A port picked by binding :0 may be taken by someone else before postgres binds it;
        // try a few.
        let mut last_err = None;
        for _ in 0..3 {
            let port = free_port()?;
            let child = spawn_postgres(&bins, &cluster.dir, port, run_as, opts, die_with_thread)?;
            cluster.port = port;
            *cluster.lock() = Some(child);
            match cluster.wait_ready() {
                Ok(()) => {
                    cluster.url = format!("postgres://postgres@127.0.0.1:{port}/postgres");
                    return Ok(cluster);
                }
                Err(e) => {
                    cluster.stop();
                    let port_taken = matches!(&e, ClusterError::NotReady { log_tail, .. }
                        if log_tail.contains("could not bind") || log_tail.contains("already in use"));
                    if !port_taken {
                        return Err(e);
                    }
                    last_err = Some(e);
                }
            }
        }
        Err(last_err.unwrap_or(ClusterError::NotReady {
            reason: "no free port".into(),
            log_tail: String::new(),
        }))
    }

    /// Stops the server (fast shutdown: every session is disconnected), keeping its data
    /// folder and port, so that [`Cluster::start_again`] can bring the same database back: a
    /// database outage, for fault-injection tests. Blocking.
    pub fn stop_server(&self) {
        self.stop();
    }

    /// Stops the server the way a crash does: immediate shutdown (SIGQUIT; no checkpoint,
    /// the next start replays the WAL), so commits not yet flushed (`synchronous_commit =
    /// off`) are lost. Keeps the data folder and port, like [`Cluster::stop_server`]. Blocking.
    pub fn crash_server(&self) {
        let Some(mut child) = self.lock().take() else {
            return;
        };
        for signal in [libc::SIGQUIT, libc::SIGKILL] {
            // SAFETY: our own child, not yet reaped.
            unsafe { libc::kill(child.id() as libc::pid_t, signal) };
            let deadline = Instant::now() + Duration::from_secs(5);
            while Instant::now() < deadline {
                if !matches!(child.try_wait(), Ok(None)) {
                    return;
                }
                std::thread::sleep(Duration::from_millis(10));
            }
        }
    }

    /// Starts the server stopped by [`Cluster::stop_server`] again, on the same port and data,
    /// and waits until it accepts a login. Blocking.
    pub fn start_again(&self) -> Result<(), ClusterError> {
        if self.lock().is_some() {
            return Ok(());
        }
        let child = spawn_postgres(
            &self.bins,
            &self.dir,
            self.port,
            self.run_as,
            self.opts,
            false,
        )?;
        *self.lock() = Some(child);
        self.wait_ready()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Option<Child>> {
        self.postmaster
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn log_tail(&self) -> String {
        crate::logfile::tail(&self.dir.join("server.log"), 20)
    }

    /// Waits until the server completes a login as `postgres`, the postmaster exits, or the
    /// deadline passes.
    fn wait_ready(&self) -> Result<(), ClusterError> {
        let deadline = Instant::now() + READY_TIMEOUT;
        loop {
            if let Some(child) = self.lock().as_mut() {
                if let Ok(Some(status)) = child.try_wait() {
                    return Err(ClusterError::NotReady {
                        reason: format!("the server exited ({status})"),
                        log_tail: self.log_tail(),
                    });
                }
            }
            if login_succeeds(self.port) {
                return Ok(());
            }
            if Instant::now() >= deadline {
                return Err(ClusterError::NotReady {
                    reason: format!(
                        "no successful login on 127.0.0.1:{} within {READY_TIMEOUT:?}",
                        self.port
                    ),
                    log_tail: self.log_tail(),
                });
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Fast shutdown (SIGINT: disconnect sessions, checkpoint, exit), escalating to SIGQUIT
    /// and SIGKILL when it takes too long. Idempotent.
    fn stop(&self) {
        let Some(mut child) = self.lock().take() else {
            return;
        };
        let pid = child.id() as libc::pid_t;
        for (signal, wait) in [
            (libc::SIGINT, STOP_TIMEOUT),
            (libc::SIGQUIT, Duration::from_secs(5)),
            (libc::SIGKILL, Duration::from_secs(5)),
        ] {
            // SAFETY: pid is our own child, not yet reaped, so it cannot have been reused.
            unsafe { libc::kill(pid, signal) };
            let deadline = Instant::now() + wait;
            while Instant::now() < deadline {
                match child.try_wait() {
                    Ok(Some(_)) | Err(_) => return,
                    Ok(None) => std::thread::sleep(Duration::from_millis(10)),
                }
            }
        }
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        self.shut_down();
    }
}

#[cfg(test)]
mod tests {
    use std::net::{Ipv4Addr, SocketAddr, TcpStream};

    use super::*;

    #[tokio::test]
    async fn pgcluster_drop_stops_the_server_and_removes_its_folder() {
        let cluster = tokio::task::spawn_blocking(|| Cluster::start(ClusterOptions::default()))
            .await
            .expect("join")
            .expect("cluster starts");
        let (client, conn) = tokio_postgres::connect(cluster.url(), tokio_postgres::NoTls)
            .await
            .expect("connect");
        let conn = tokio::spawn(conn);
        let fsync: String = client
            .query_one("show fsync", &[])
            .await
            .expect("query")
            .get(0);
        assert_eq!(fsync, "off");
        let (port, dir) = (cluster.port(), cluster.dir().to_owned());
        assert!(dir.join("data/PG_VERSION").exists());

        tokio::task::spawn_blocking(move || drop(cluster))
            .await
            .expect("join");
        let _ = conn.await;
        assert!(!dir.exists(), "{} still exists", dir.display());
        assert!(
            TcpStream::connect(SocketAddr::from((Ipv4Addr::LOCALHOST, port))).is_err(),
            "port {port} still accepts connections"
        );
    }
}
