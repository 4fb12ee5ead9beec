//! `herald run`: one process = the delivery pipeline, the leader's chores and the admin API.
//! `App::start` returns a handle, so `main` and the tests drive the same runtime.

use std::{net::SocketAddr, process::ExitCode, sync::Arc, time::Duration};

use anyhow::Context;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use crate::{
    api::{ApiState, Readiness},
    config::Config,
    http::{Sender, SenderConfig},
    leader::{chores::Chores, Elector, LeaderState},
    metrics::Metrics,
    pipeline::{self, PipelineSettings},
    store,
    supervise::{self, Supervisor},
};

/// After a task failed, how long `/readyz` goes on answering 503 with its name.
const FAILED_READYZ_FOR: Duration = Duration::from_secs(2);

/// After a task failed, how long the rest gets to shut down before the process exits anyway
/// (unfinished deliveries are left to their lease, as past `HERALD_SHUTDOWN_GRACE`).
const FAILED_SHUTDOWN_WITHIN: Duration = Duration::from_secs(4);

#[derive(Debug, clap::Args)]
pub struct RunArgs {
    /// Apply migrations before starting (same as `herald migrate` first).
    #[arg(long)]
    pub migrate: bool,
    /// Serve the admin API without a token. Only allowed when HERALD_LISTEN is a loopback
    /// address; logs a warning.
    #[arg(long)]
    pub insecure_no_auth: bool,
    /// Benchmarks only: send nothing, answer every delivery 204 at once (`herald bench drain`).
    #[arg(long, hide = true)]
    pub bench_engine_only: bool,
}

/// A running Herald.
pub struct AppHandle {
    pub worker_id: Uuid,
    pub api_addr: SocketAddr,
    pub metrics: Arc<Metrics>,
    pub leader: Arc<LeaderState>,
    readiness: Arc<Readiness>,
    stop: CancellationToken,
    task: tokio::task::JoinHandle<()>,
}

impl AppHandle {
    /// Graceful shutdown: stop claiming, finish in-flight requests within the grace
    /// period, record their results. Returns when everything has stopped.
    pub async fn shutdown(self) {
        self.stop.cancel();
        let _ = self.task.await;
    }

    pub fn stop_token(&self) -> CancellationToken {
        self.stop.clone()
    }

    /// Resolves when the app started stopping by itself: a supervised task failed.
    pub async fn stopping(&self) {
        self.stop.cancelled().await;
    }

    /// The supervised task that ended unexpectedly, if one did.
    pub fn failed_task(&self) -> Option<&'static str> {
        self.readiness.failed_task.get().copied()
    }
}

/// Options that are not configuration of the deployment.
#[derive(Debug, Clone, Default)]
pub struct StartOptions {
    pub insecure_no_auth: bool,
    /// Replace the HTTP send by an immediate 204 ([`Sender::engine_only`]): benchmarks only.
    pub bench_engine_only: bool,
}

pub struct App;

impl App {
    pub async fn start(config: Config, opts: StartOptions) -> anyhow::Result<AppHandle> {
        let open = crate::api::check_auth_config(
            config.listen,
            config.admin_token.as_deref(),
            opts.insecure_no_auth,
        )?;
        if open {
            tracing::warn!(listen = %config.listen, "admin API has NO authentication (--insecure-no-auth)");
        }
        let api_listener = tokio::net::TcpListener::bind(config.listen)
            .await
            .with_context(|| format!("HERALD_LISTEN: cannot listen on {}", config.listen))?;
        let api_addr = api_listener.local_addr()?;
        if config.secret_keys.is_empty() {
            tracing::warn!(
                "HERALD_SECRET_KEYS is not set: webhook secrets are stored in plaintext \
                 (set it to encrypt them at rest; see the README)"
            );
        }
        let worker_id = Uuid::new_v4();
        let metrics = Metrics::new();
        let worker_pool = store::connect_worker_pool(&config.database_url, config.pool_size)?;
        // A missing schema or a refused login stops the start with a clear message; a database
        // that does not answer yet does not: the API comes up (`/readyz` answers 503) and the
        // workers start once it answers.
        let wait_for_database = match schema_present(&worker_pool).await {
            Ok(true) => false,
            Ok(false) => anyhow::bail!("the schema herald is missing: run `herald migrate` first"),
            Err(e) if !e.is_transient() => {
                return Err(e).with_context(|| {
                    format!(
                        "cannot connect to {}",
                        crate::config::redact_url(&config.database_url)
                    )
                });
            }
            Err(e) => {
                tracing::warn!(
                    error = %e,
                    database = %crate::config::redact_url(&config.database_url),
                    "cannot reach the database at start; serving /healthz (/readyz answers 503) and retrying with backoff"
                );
                true
            }
        };
        let sender = Sender::new(&SenderConfig::from(&config)).context("HERALD_CA_FILE")?;
        let sender = if opts.bench_engine_only {
            tracing::warn!("--bench-engine-only: NOTHING IS SENT; every claimed delivery is recorded as delivered (204) at once");
            Sender::engine_only(sender.config()).context("HERALD_CA_FILE")?
        } else {
            sender
        };
        let readiness = Arc::new(Readiness::default());
        let leader_state = Arc::new(LeaderState::default());
        let stop = CancellationToken::new();

        let api_pool = store::connect_pool(&config.database_url, 4)?;
        let elector = Elector {
            database_url: config.database_url.clone(),
            worker_id,
            state: Arc::clone(&leader_state),
            readiness: Arc::clone(&readiness),
            metrics: Arc::clone(&metrics),
            chores: Chores::new(worker_pool.clone(), config.retention, Arc::clone(&metrics)),
        };
        let settings = PipelineSettings::from_config(&config, worker_id);
        let supervisor = Supervisor::new(stop.clone(), Arc::clone(&readiness));
        let workers = {
            let (metrics, readiness, stop) =
                (Arc::clone(&metrics), Arc::clone(&readiness), stop.clone());
            let (api_pool, supervisor) = (api_pool.clone(), supervisor.clone());
            async move {
                if wait_for_database && !database_answers(&worker_pool, &stop).await {
                    return;
                }
                let stop_elector = CancellationToken::new();
                let elector_task = supervisor.spawn("elector", elector.run(stop_elector.clone()));
                let pipeline_task = supervisor.spawn(
                    "pipeline",
                    pipeline::run(
                        settings,
                        worker_pool,
                        sender,
                        metrics,
                        readiness,
                        supervisor.clone(),
                        stop.clone(),
                    ),
                );
                let heartbeat_task = supervisor.spawn(
                    "heartbeat",
                    crate::heartbeat::run(api_pool, worker_id, stop),
                );
                pipeline_task.join().await;
                heartbeat_task.join().await;
                // Leadership is resigned after the pipeline drained, so another replica takes
                // over the chores at once.
                stop_elector.cancel();
                elector_task.join().await;
            }
        };
        let api_state = ApiState {
            pool: api_pool,
            metrics: Arc::clone(&metrics),
            readiness: Arc::clone(&readiness),
            admin_token: config.admin_token.clone(),
            allow_http: config.allow_http,
            max_body_bytes: crate::api::DEFAULT_MAX_BODY_BYTES,
            secret_keys: config.secret_keys.clone(),
            body_timeout: crate::api::DEFAULT_BODY_TIMEOUT,
        };
        let stop_api = CancellationToken::new();
        let api_task = supervisor.spawn(
            "api",
            crate::admin::serve(api_listener, api_state, stop_api.clone()),
        );
        // Shutdown order: the workers drain first, then the API stops. After a task failed,
        // `/readyz` keeps answering 503 with its name for a moment, so a probe can see why.
        let failed = {
            let (stop, readiness) = (stop.clone(), Arc::clone(&readiness));
            async move {
                stop.cancelled().await;
                if readiness.failed_task.get().is_some() {
                    tokio::time::sleep(FAILED_READYZ_FOR).await;
                }
            }
        };
        let task = tokio::spawn(async move {
            tokio::join!(workers, failed);
            stop_api.cancel();
            api_task.join().await;
        });
        Ok(AppHandle {
            worker_id,
            api_addr,
            metrics,
            leader: leader_state,
            readiness,
            stop,
            task,
        })
    }
}

/// Whether the schema `herald` exists; an error when the database cannot be asked.
async fn schema_present(pool: &store::Pool) -> Result<bool, store::StoreError> {
    let client = pool.get().await?;
    store::admin::schema_present(&client).await
}

/// Waits, with backoff, until the database answers and holds the schema (a missing schema is
/// logged once: someone has to run `herald migrate`). False when stopped first.
async fn database_answers(pool: &store::Pool, stop: &CancellationToken) -> bool {
    let mut backoff = pipeline::backoff::Backoff::new(
        std::time::Duration::from_millis(200),
        std::time::Duration::from_secs(5),
    );
    let mut told_schema = false;
    loop {
        match schema_present(pool).await {
            Ok(true) => {
                tracing::info!("the database answers; starting the workers");
                return true;
            }
            Ok(false) if !told_schema => {
                tracing::error!(
                    "the schema herald is missing: run `herald migrate`; waiting for it"
                );
                told_schema = true;
            }
            Ok(false) | Err(_) => {}
        }
        tokio::select! {
            _ = stop.cancelled() => return false,
            _ = tokio::time::sleep(backoff.next_delay()) => {}
        }
    }
}

/// `herald run`: exits 0 after SIGINT/SIGTERM, [`supervise::EXIT_TASK_FAILED`] after a task
/// failed (its one error line is logged already).
pub fn run_cli(args: RunArgs) -> anyhow::Result<ExitCode> {
    crate::runtime::use_one_malloc_arena();
    let config = Config::from_env()?;
    crate::runtime::init_tracing(config.log_format, "info");
    supervise::install_panic_hook();
    let rt = crate::runtime::new()?;
    let code = rt.block_on(async move {
        crate::runtime::return_free_memory();
        if args.migrate {
            let (mut client, _conn) =
                store::connect_one(&config.database_url, "herald-migrate", None).await?;
            store::migrate::run(&mut client).await?;
        }
        tracing::info!(settings = ?config, version = env!("CARGO_PKG_VERSION"), "herald starting");
        warn_if_too_few_open_files(config.max_in_flight);
        let app = App::start(
            config,
            StartOptions {
                insecure_no_auth: args.insecure_no_auth,
                bench_engine_only: args.bench_engine_only,
            },
        )
        .await?;
        tracing::info!(worker_id = %app.worker_id, api = %app.api_addr, "herald running");
        tokio::select! {
            _ = shutdown_signal() => {
                tracing::info!("shutdown requested; finishing in-flight deliveries");
            }
            _ = app.stopping() => {}
        }
        if app.failed_task().is_none() {
            app.shutdown().await;
            tracing::info!("herald stopped");
            return anyhow::Ok(ExitCode::SUCCESS);
        }
        if tokio::time::timeout(FAILED_SHUTDOWN_WITHIN, app.shutdown())
            .await
            .is_err()
        {
            tracing::warn!(within = ?FAILED_SHUTDOWN_WITHIN, "the shutdown did not finish in time; exiting anyway");
        } else {
            tracing::info!("herald stopped");
        }
        Ok(ExitCode::from(supervise::EXIT_TASK_FAILED))
    })?;
    // What the bounded shutdown left running is dropped, not waited for.
    rt.shutdown_timeout(Duration::from_millis(500));
    Ok(code)
}

/// Resolves on SIGINT or SIGTERM.
pub async fn shutdown_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = match signal(SignalKind::terminate()) {
        Ok(s) => s,
        Err(_) => {
            let _ = tokio::signal::ctrl_c().await;
            return;
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
}

/// Each request in flight holds a socket and the HTTP pool keeps as many idle: a limit of open
/// files below about twice `HERALD_MAX_IN_FLIGHT` (plus the database's and the API's) would
/// make sends fail with "too many open files" under load.
fn warn_if_too_few_open_files(max_in_flight: usize) {
    let needed = 2 * max_in_flight as u64 + 128;
    if let Some(limit) = crate::runtime::open_files_limit() {
        if limit < needed {
            tracing::warn!(
                limit,
                needed,
                "the open-files limit (ulimit -n, systemd LimitNOFILE) is below what \
                 HERALD_MAX_IN_FLIGHT needs at full load: raise it, or lower HERALD_MAX_IN_FLIGHT"
            );
        }
    }
}
