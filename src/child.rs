//! `herald run` as a child process, for `herald bench` (which measures the child's CPU and
//! memory apart from its own) and for the tests that kill, signal or restart it. Its stdin and
//! stdout are closed; its stderr (the log) goes to a file. Dropping it kills the process.

use std::{
    ffi::OsStr,
    fs::File,
    io,
    path::{Path, PathBuf},
    process::{Child, Command, ExitStatus, Stdio},
    time::{Duration, Instant},
};

/// How to start the child.
#[derive(Debug, Clone, Default)]
pub struct ChildOptions {
    /// Arguments after `run`.
    pub args: Vec<String>,
    /// Variables set for it, on top of the inherited environment unless `clear_env`.
    pub env: Vec<(String, String)>,
    /// Start from an empty environment (`PATH` is kept).
    pub clear_env: bool,
}

/// A running `herald run`. See the module documentation.
#[derive(Debug)]
pub struct HeraldChild {
    child: Child,
    log: PathBuf,
}

impl HeraldChild {
    /// Starts `<exe> run` with `opts`, its stderr written to the file `log` (created or
    /// truncated).
    pub fn spawn(exe: &Path, opts: &ChildOptions, log: PathBuf) -> io::Result<HeraldChild> {
        let log_file = File::create(&log)?;
        let mut cmd = Command::new(exe);
        cmd.arg("run").args(&opts.args);
        if opts.clear_env {
            cmd.env_clear()
                .env("PATH", std::env::var_os("PATH").unwrap_or_default());
        }
        cmd.envs(opts.env.iter().map(|(k, v)| (OsStr::new(k), OsStr::new(v))))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::from(log_file));
        let child = cmd.spawn()?;
        Ok(HeraldChild { child, log })
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The log file.
    pub fn log_path(&self) -> &Path {
        &self.log
    }

    /// Everything logged so far.
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// The last `lines` lines of the log, for an error about the child.
    pub fn log_tail(&self, lines: usize) -> String {
        crate::logfile::tail(&self.log, lines)
    }

    /// Its exit status once it has exited.
    pub fn exited(&mut self) -> io::Result<Option<ExitStatus>> {
        self.child.try_wait()
    }

    /// Sends `signal` (e.g. `libc::SIGTERM`).
    pub fn signal(&self, signal: i32) {
        // SAFETY: kill(2) on our own child's pid; it is reaped only by this handle.
        unsafe { libc::kill(self.child.id() as libc::pid_t, signal) };
    }

    /// Waits up to `timeout` for it to exit; `None` when it is still running.
    pub async fn wait_for_exit(&mut self, timeout: Duration) -> io::Result<Option<ExitStatus>> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.child.try_wait()? {
                return Ok(Some(status));
            }
            if Instant::now() >= deadline {
                return Ok(None);
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

impl Drop for HeraldChild {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
