//! `herald run` as a child process, for tests that kill, signal or restart it.

use std::{
    collections::HashMap,
    net::SocketAddr,
    path::Path,
    sync::atomic::{AtomicUsize, Ordering},
    time::Duration,
};

use herald::child::{ChildOptions, HeraldChild};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::{
    app::TOKEN,
    harness::{eventually_some, WAIT},
};

pub struct HeraldProcess {
    child: HeraldChild,
}

impl HeraldProcess {
    /// Starts `herald run` against `database_url` with test-friendly defaults, overridden by
    /// `env`.
    pub fn spawn(database_url: &str, env: &[(&str, &str)]) -> HeraldProcess {
        Self::spawn_with_args(database_url, &[], env)
    }

    /// Like [`HeraldProcess::spawn`], with more arguments after `run`.
    pub fn spawn_with_args(
        database_url: &str,
        args: &[&str],
        env: &[(&str, &str)],
    ) -> HeraldProcess {
        let mut vars: HashMap<String, String> = [
            ("DATABASE_URL", database_url),
            ("HERALD_LISTEN", "127.0.0.1:0"),
            ("HERALD_ALLOW_PRIVATE_TARGETS", "true"),
            ("HERALD_ALLOW_HTTP", "true"),
            ("HERALD_ADMIN_TOKEN", TOKEN),
            ("HERALD_LOG_FORMAT", "text"),
            ("RUST_LOG", "info"),
            ("NO_COLOR", "1"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
        for (k, v) in env {
            vars.insert((*k).to_owned(), (*v).to_owned());
        }
        static SEQ: AtomicUsize = AtomicUsize::new(0);
        let log = std::env::temp_dir().join(format!(
            "herald-test-run-{}-{}.log",
            std::process::id(),
            SEQ.fetch_add(1, Ordering::Relaxed)
        ));
        let opts = ChildOptions {
            args: args.iter().map(|a| (*a).to_owned()).collect(),
            env: vars.into_iter().collect(),
            clear_env: true,
        };
        let child = HeraldChild::spawn(Path::new(env!("CARGO_BIN_EXE_herald")), &opts, log)
            .expect("spawn herald run");
        HeraldProcess { child }
    }

    pub fn log_text(&self) -> String {
        self.child.log_text()
    }

    /// The worker id it logs once it runs.
    pub async fn worker_id(&self) -> String {
        self.logged("herald run logs its worker id", |l| {
            l.split("worker_id=").nth(1).map(|r| r[..36].to_owned())
        })
        .await
    }

    /// The API address it logs once it serves.
    pub async fn api_addr(&self) -> SocketAddr {
        self.logged("herald run logs its API address", |l| {
            l.contains("herald running").then_some(())?;
            l.split("api=")
                .nth(1)?
                .split_whitespace()
                .next()?
                .parse()
                .ok()
        })
        .await
    }

    /// The first value `find` reads from a line of its log, once there is one (up to [`WAIT`]).
    async fn logged<T>(&self, what: &str, find: impl Fn(&str) -> Option<T>) -> T {
        eventually_some(what, WAIT, || {
            std::future::ready(self.log_text().lines().find_map(&find))
        })
        .await
    }

    /// True while the process has not exited.
    pub fn running(&mut self) -> bool {
        matches!(self.child.exited(), Ok(None))
    }

    pub fn signal(&self, sig: i32) {
        self.child.signal(sig);
    }

    /// Waits for the process to exit; returns its exit code (None if killed by a signal).
    pub async fn wait(&mut self, timeout: Duration) -> Option<i32> {
        let status = self.child.wait_for_exit(timeout).await.expect("try_wait");
        let status = status.unwrap_or_else(|| {
            panic!(
                "herald run did not exit within {timeout:?}; log:\n{}",
                self.log_text()
            )
        });
        status.code()
    }
}

impl Drop for HeraldProcess {
    fn drop(&mut self) {
        // The child itself is killed when its handle drops, just after this.
        let _ = std::fs::remove_file(self.child.log_path());
    }
}

/// The status code of `GET path` on Herald's API at `api`.
pub async fn status_of(api: &str, path: &str) -> u16 {
    get(api, path).await.expect("the API answers").0
}

/// `GET path` on Herald's API at `api`: the status code and the body; `None` when it does not
/// answer (nothing listens, or the connection closes before an answer).
pub async fn get(api: &str, path: &str) -> Option<(u16, String)> {
    let mut stream = tokio::net::TcpStream::connect(api).await.ok()?;
    let request = format!(
        "GET {path} HTTP/1.1\r\nHost: {api}\r\nAuthorization: Bearer {TOKEN}\r\n\
         Connection: close\r\n\r\n"
    );
    stream.write_all(request.as_bytes()).await.ok()?;
    let mut answer = String::new();
    stream.read_to_string(&mut answer).await.ok()?;
    let code = answer.split(' ').nth(1)?.parse().ok()?;
    let body = answer.split_once("\r\n\r\n").map_or("", |(_, b)| b);
    Some((code, body.to_owned()))
}
