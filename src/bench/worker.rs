//! Herald under test: `herald run` as a child process of the bench (this same binary), so that
//! its CPU time (`/proc/<pid>/stat` utime + stime) and peak resident memory
//! (`/proc/<pid>/status` VmHWM) are Herald's alone. Its log goes to a file in the temp folder,
//! at level `warn` unless `HERALD_BENCH_LOG` names another filter (then the file is kept).
//! Its `/metrics` is read over its admin API.

use std::{
    net::TcpListener,
    time::{Duration, Instant},
};

use anyhow::Context;

use crate::child::{ChildOptions, HeraldChild};

/// Settings of the child beyond the database.
#[derive(Debug, Clone)]
pub struct WorkerSettings {
    pub poll_interval: Option<String>,
    pub max_in_flight: Option<usize>,
    pub max_in_flight_per_webhook: Option<usize>,
    /// `herald run --bench-engine-only`: every send answered 2xx at once, nothing on the wire.
    pub engine_only: bool,
}

impl WorkerSettings {
    /// Herald's defaults, plus what loopback targets need.
    pub fn defaults() -> Self {
        WorkerSettings {
            poll_interval: None,
            max_in_flight: None,
            max_in_flight_per_webhook: None,
            engine_only: false,
        }
    }

    /// For the reports: what differs from the defaults.
    pub fn describe(&self) -> String {
        let mut parts = vec![
            "herald run (child process), HERALD_ALLOW_PRIVATE_TARGETS=true, HERALD_ALLOW_HTTP=true"
                .to_owned(),
        ];
        if let Some(v) = &self.poll_interval {
            parts.push(format!("HERALD_POLL_INTERVAL={v}"));
        }
        if let Some(v) = self.max_in_flight {
            parts.push(format!("HERALD_MAX_IN_FLIGHT={v}"));
        }
        if let Some(v) = self.max_in_flight_per_webhook {
            parts.push(format!("HERALD_MAX_IN_FLIGHT_PER_WEBHOOK={v}"));
        }
        if self.engine_only {
            parts.push("--bench-engine-only (no HTTP: each send answered 204 at once)".into());
        }
        if parts.len() == 1 {
            parts.push("other settings default".into());
        }
        parts.join(", ")
    }
}

pub struct Worker {
    child: HeraldChild,
    pid: u32,
    pub started: Instant,
    api: std::net::SocketAddr,
    token: String,
}

impl Worker {
    pub async fn spawn(database_url: &str, settings: &WorkerSettings) -> anyhow::Result<Worker> {
        let exe = std::env::current_exe().context("cannot find the herald binary")?;
        let port = TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
        let log = std::env::temp_dir().join(format!(
            "herald-bench-worker-{}-{port}.log",
            std::process::id()
        ));
        let token = format!("bench-{}", uuid::Uuid::new_v4());
        let api = std::net::SocketAddr::from(([127, 0, 0, 1], port));
        let log_filter = std::env::var("HERALD_BENCH_LOG").unwrap_or_else(|_| "warn".into());
        let mut env: Vec<(&str, String)> = vec![
            ("DATABASE_URL", database_url.to_owned()),
            ("HERALD_LISTEN", api.to_string()),
            ("HERALD_ADMIN_TOKEN", token.clone()),
            ("HERALD_ALLOW_PRIVATE_TARGETS", "true".into()),
            ("HERALD_ALLOW_HTTP", "true".into()),
            ("RUST_LOG", log_filter),
        ];
        if let Some(v) = &settings.poll_interval {
            env.push(("HERALD_POLL_INTERVAL", v.clone()));
        }
        if let Some(v) = settings.max_in_flight {
            env.push(("HERALD_MAX_IN_FLIGHT", v.to_string()));
        }
        if let Some(v) = settings.max_in_flight_per_webhook {
            env.push(("HERALD_MAX_IN_FLIGHT_PER_WEBHOOK", v.to_string()));
        }
        let opts = ChildOptions {
            args: settings
                .engine_only
                .then(|| "--bench-engine-only".to_owned())
                .into_iter()
                .collect(),
            env: env.into_iter().map(|(k, v)| (k.to_owned(), v)).collect(),
            clear_env: false,
        };
        let child = HeraldChild::spawn(&exe, &opts, log).context("cannot start `herald run`")?;
        Ok(Worker {
            pid: child.pid(),
            child,
            started: Instant::now(),
            api,
            token,
        })
    }

    /// The text of Herald's `/metrics` (Prometheus exposition format).
    pub async fn metrics(&self) -> anyhow::Result<String> {
        use http_body_util::{BodyExt, Empty};
        let stream = tokio::net::TcpStream::connect(self.api)
            .await
            .with_context(|| format!("cannot reach herald's admin API on {}", self.api))?;
        let (mut sender, conn) =
            hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream)).await?;
        let conn = tokio::spawn(conn);
        let req = http::Request::get("/metrics")
            .header(http::header::HOST, self.api.to_string())
            .header(
                http::header::AUTHORIZATION,
                format!("Bearer {}", self.token),
            )
            .body(Empty::<bytes::Bytes>::new())?;
        let res = sender.send_request(req).await?;
        let status = res.status();
        let body = res.into_body().collect().await?.to_bytes();
        conn.abort();
        anyhow::ensure!(status.is_success(), "herald /metrics answered {status}");
        Ok(String::from_utf8_lossy(&body).into_owned())
    }

    /// Fails with the log's tail if the child has exited.
    pub fn check_alive(&mut self) -> anyhow::Result<()> {
        if let Some(status) = self.child.exited()? {
            anyhow::bail!(
                "herald run exited ({status}); its log ({}):\n{}",
                self.child.log_path().display(),
                self.child.log_tail(20)
            );
        }
        Ok(())
    }

    /// User + system CPU seconds used so far.
    pub fn cpu_seconds(&self) -> anyhow::Result<f64> {
        let stat = super::pg_work::proc_stat(i64::from(self.pid))
            .with_context(|| format!("unreadable /proc/{}/stat", self.pid))?;
        Ok(super::pg_work::ticks_to_seconds(stat.own))
    }

    /// Peak resident memory so far (VmHWM), in MiB.
    pub fn peak_rss_mib(&self) -> anyhow::Result<f64> {
        self.status_mib("VmHWM:")
    }

    /// Resident memory now (VmRSS), in MiB.
    pub fn rss_mib(&self) -> anyhow::Result<f64> {
        self.status_mib("VmRSS:")
    }

    fn status_mib(&self, field: &str) -> anyhow::Result<f64> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid))?;
        let kib: f64 = status
            .lines()
            .find_map(|l| l.strip_prefix(field))
            .and_then(|v| v.split_whitespace().next())
            .with_context(|| format!("no {field} in /proc status"))?
            .parse()?;
        Ok(kib / 1024.0)
    }

    /// SIGTERM, then waits for the graceful shutdown (killed after 30 s).
    pub async fn stop(mut self) -> anyhow::Result<()> {
        self.child.signal(libc::SIGTERM);
        match self.child.wait_for_exit(Duration::from_secs(30)).await? {
            Some(status) if status.success() => {
                // Kept when HERALD_BENCH_LOG asked for a log level.
                if std::env::var_os("HERALD_BENCH_LOG").is_none() {
                    let _ = std::fs::remove_file(self.child.log_path());
                }
                Ok(())
            }
            Some(status) => anyhow::bail!(
                "herald run exited with {status}; log kept at {}",
                self.child.log_path().display()
            ),
            // Dropping the child kills it.
            None => anyhow::bail!("herald run did not stop within 30 s after SIGTERM"),
        }
    }
}
