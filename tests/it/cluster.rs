//! The throwaway PostgreSQL cluster shared by the test process, for when no server is named.

use std::sync::{Arc, OnceLock};

use herald::pgcluster::{Cluster, ClusterOptions};

/// The cluster shared by one test process, started on first use (test config: fsync off,
/// 300 connections). The postmaster is spawned from a dedicated thread that lives as long as
/// the process, with a parent-death signal, so it dies with the process even when the process
/// is killed; on a normal exit it is stopped and its folder removed. Folders left by killed
/// processes are removed by the next start.
///
/// Panics when the cluster cannot start.
pub fn shared() -> &'static Cluster {
    static SHARED: OnceLock<Cluster> = OnceLock::new();
    SHARED.get_or_init(|| {
        let opts = ClusterOptions {
            durable: false,
            max_connections: 300,
        };
        let (started_tx, started_rx) = std::sync::mpsc::channel();
        let spawned = std::thread::Builder::new()
            .name("herald-pgcluster".into())
            .spawn(move || {
                let _ = started_tx.send(Cluster::start_tied_to_thread(opts));
                // PR_SET_PDEATHSIG fires when this thread exits: it must outlive the process.
                loop {
                    std::thread::park();
                }
            });
        let started = match spawned {
            Ok(_) => started_rx
                .recv()
                .unwrap_or_else(|_| panic!("the throwaway PostgreSQL thread died")),
            Err(e) => panic!("cannot spawn the throwaway PostgreSQL thread: {e}"),
        };
        let cluster = started.unwrap_or_else(|e| panic!("{e}"));
        extern "C" fn stop_shared() {
            if let Some(cluster) = SHARED.get() {
                cluster.shut_down();
            }
        }
        // SAFETY: registering a plain extern "C" fn; it runs at normal process exit.
        unsafe { libc::atexit(stop_shared) };
        cluster
    })
}

/// A cluster of the test's own, to stop, crash and restart under Herald; started off the
/// runtime (starting blocks). Drop it with [`off_runtime`] too.
pub async fn owned(opts: ClusterOptions) -> Arc<Cluster> {
    let cluster = tokio::task::spawn_blocking(move || Cluster::start(opts))
        .await
        .expect("join")
        .expect("an owned throwaway cluster");
    Arc::new(cluster)
}

/// Runs `f` on the cluster off the runtime: stopping, starting and dropping a cluster block.
/// `off_runtime(&cluster, |c| c.start_again()).await.expect("the cluster starts")`.
pub async fn off_runtime<T, F>(cluster: &Arc<Cluster>, f: F) -> T
where
    T: Send + 'static,
    F: FnOnce(&Cluster) -> T + Send + 'static,
{
    let cluster = Arc::clone(cluster);
    tokio::task::spawn_blocking(move || f(&cluster))
        .await
        .expect("join")
}

/// Stops and removes the cluster, off the runtime.
pub async fn drop_owned(cluster: Arc<Cluster>) {
    tokio::task::spawn_blocking(move || drop(cluster))
        .await
        .expect("join");
}

/// A client on `url` (an owned cluster's), its connection driven by a task of its own.
pub async fn connect(url: &str) -> tokio_postgres::Client {
    let (client, conn) = tokio_postgres::connect(url, tokio_postgres::NoTls)
        .await
        .expect("connect to the owned cluster");
    tokio::spawn(conn);
    client
}
