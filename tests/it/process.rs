//! `herald run` as a child process, for tests that kill, signal or restart it.

use std::{
    collections::HashMap,
    io::{BufRead, BufReader},
    process::{Child, Command, Stdio},
    sync::{Arc, Mutex},
    time::Duration,
};

use crate::harness::eventually_some;

pub struct HeraldProcess {
    child: Child,
    pub log: Arc<Mutex<Vec<String>>>,
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
            ("HERALD_ADMIN_TOKEN", "test-admin-token-0123456789"),
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
        let mut child = Command::new(env!("CARGO_BIN_EXE_herald"))
            .arg("run")
            .args(args)
            .env_clear()
            .envs(&vars)
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn herald run");
        let log = Arc::new(Mutex::new(Vec::new()));
        let stderr = child.stderr.take().expect("stderr piped");
        let sink = Arc::clone(&log);
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                sink.lock().unwrap().push(line);
            }
        });
        HeraldProcess { child, log }
    }

    pub fn pid(&self) -> i32 {
        self.child.id() as i32
    }

    pub fn log_text(&self) -> String {
        self.log.lock().unwrap().join("\n")
    }

    /// The worker id it logs at start.
    pub async fn worker_id(&self) -> String {
        eventually_some(
            "herald run logs its worker id",
            Duration::from_secs(20),
            || {
                let id = self
                    .log
                    .lock()
                    .unwrap()
                    .iter()
                    .find_map(|l| l.split("worker_id=").nth(1).map(|r| r[..36].to_owned()));
                std::future::ready(id)
            },
        )
        .await
    }

    /// True while the process has not exited.
    pub fn running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    pub fn signal(&self, sig: i32) {
        // SAFETY: kill(2) on our own child's pid.
        unsafe {
            libc::kill(self.pid(), sig);
        }
    }

    /// Waits for the process to exit; returns its exit code (None if killed by a signal).
    pub async fn wait(&mut self, timeout: Duration) -> Option<i32> {
        let child = &mut self.child;
        let status = eventually_some("herald run exits", timeout, || {
            std::future::ready(child.try_wait().expect("try_wait"))
        })
        .await;
        status.code()
    }
}

impl Drop for HeraldProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
