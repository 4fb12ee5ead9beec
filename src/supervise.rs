//! Supervised tasks: every long-running task of `herald run` is spawned through a
//! [`Supervisor`] with a name. A task that ends (returns, fails or panics) while the process
//! is not shutting down is a failure: the supervisor logs one error line naming it (with the
//! panic message), marks readiness red with its name (`/readyz` answers 503) and cancels the
//! process's stop token, so the rest shuts down in the usual order and `herald run` exits
//! with [`EXIT_TASK_FAILED`]. Only the first failure does this; what ends because of it is
//! part of the shutdown.
//!
//! Test hook (debug builds only, absent from release builds): `HERALD_TEST_KILL_TASK=<name>`
//! makes the task of that name panic when the process receives SIGUSR1.

use std::{
    any::Any,
    cell::RefCell,
    fmt::Display,
    future::Future,
    panic::AssertUnwindSafe,
    sync::{Arc, Mutex},
};

use futures_util::FutureExt;
use tokio::task::{AbortHandle, JoinHandle};
use tokio_util::sync::CancellationToken;

use crate::readiness::Readiness;

/// The exit status of `herald run` after a task failed (`EX_SOFTWARE` of sysexits.h).
pub const EXIT_TASK_FAILED: u8 = 70;

/// Spawns named tasks and turns an unexpected end into a shutdown. Cheap to clone.
#[derive(Clone)]
pub struct Supervisor {
    inner: Arc<Inner>,
}

struct Inner {
    stop: CancellationToken,
    readiness: Arc<Readiness>,
    kill_hook: Mutex<Option<KillHook>>,
}

impl Supervisor {
    /// A supervisor for the process stopped by `stop`: a task that ends before `stop` is
    /// cancelled has failed. Arms the test hook when asked (see the module doc).
    pub fn new(stop: CancellationToken, readiness: Arc<Readiness>) -> Supervisor {
        Supervisor {
            inner: Arc::new(Inner {
                stop,
                readiness,
                kill_hook: Mutex::new(KillHook::armed()),
            }),
        }
    }

    /// Spawns `task` under `name`: any end before the stop is a failure.
    pub fn spawn<F>(&self, name: &'static str, task: F) -> Supervised
    where
        F: Future + Send + 'static,
        F::Output: TaskEnd,
    {
        self.spawn_as(name, Role::Service, task)
    }

    /// Spawns a stage of a chain under `name`: it returns when its input closes, i.e. when
    /// the task before it ended, which reports its own end. Only its panic or its error is a
    /// failure of its own.
    pub fn spawn_stage<F>(&self, name: &'static str, task: F) -> Supervised
    where
        F: Future + Send + 'static,
        F::Output: TaskEnd,
    {
        self.spawn_as(name, Role::Stage, task)
    }

    fn spawn_as<F>(&self, name: &'static str, role: Role, task: F) -> Supervised
    where
        F: Future + Send + 'static,
        F::Output: TaskEnd,
    {
        let supervisor = self.clone();
        let task = self.with_kill_hook(name, task);
        let watched = async move {
            let end = match AssertUnwindSafe(task).catch_unwind().await {
                Ok(output) => output.error().map(Ended::Failed).unwrap_or(Ended::Returned),
                Err(payload) => Ended::Panicked {
                    message: panic_message(payload.as_ref()),
                    at: PANIC_AT.with(|at| at.borrow_mut().take()),
                },
            };
            if !(role == Role::Stage && matches!(end, Ended::Returned)) {
                supervisor.ended(name, end);
            }
        };
        Supervised(tokio::spawn(PANIC_AT.scope(RefCell::new(None), watched)))
    }

    fn ended(&self, name: &'static str, end: Ended) {
        if self.inner.stop.is_cancelled() {
            if let Ended::Panicked { message, at } = end {
                tracing::error!(task = name, panic = %message, at = at.as_deref().unwrap_or("?"), "a task panicked while herald was shutting down");
            }
            return;
        }
        if self.inner.readiness.failed_task.set(name).is_err() {
            return; // Another task failed first; this end is part of the shutdown.
        }
        match end {
            Ended::Returned => {
                tracing::error!(task = name, "a task ended unexpectedly; herald is stopping")
            }
            Ended::Failed(error) => {
                tracing::error!(task = name, %error, "a task failed; herald is stopping")
            }
            Ended::Panicked { message, at } => {
                tracing::error!(task = name, panic = %message, at = at.as_deref().unwrap_or("?"), "a task panicked; herald is stopping")
            }
        }
        self.inner.stop.cancel();
    }

    fn with_kill_hook<F>(&self, name: &'static str, task: F) -> impl Future<Output = F::Output>
    where
        F: Future + Send + 'static,
    {
        let hook = match self.inner.kill_hook.lock() {
            Ok(mut hook) if hook.as_ref().is_some_and(|h| h.task == name) => hook.take(),
            _ => None,
        };
        async move {
            match hook {
                None => task.await,
                Some(mut hook) => tokio::select! {
                    output = task => output,
                    _ = hook.signal.recv() => panic!("killed by the test hook HERALD_TEST_KILL_TASK"),
                },
            }
        }
    }
}

/// A supervised task's handle.
pub struct Supervised(JoinHandle<()>);

impl Supervised {
    /// Waits for the task to end. Its end was reported already: a panic is caught inside the
    /// task, so the join fails only when the task was aborted, which is no news either.
    pub async fn join(self) {
        let _ = self.0.await;
    }

    pub fn abort_handle(&self) -> AbortHandle {
        self.0.abort_handle()
    }
}

/// What a task's output says about its end: `()` says nothing, an `Err` is a failure.
pub trait TaskEnd {
    fn error(self) -> Option<String>;
}

impl TaskEnd for () {
    fn error(self) -> Option<String> {
        None
    }
}

impl<E: Display> TaskEnd for Result<(), E> {
    fn error(self) -> Option<String> {
        self.err().map(|e| e.to_string())
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Role {
    Service,
    Stage,
}

enum Ended {
    Returned,
    Failed(String),
    Panicked { message: String, at: Option<String> },
}

fn panic_message(payload: &(dyn Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_owned()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "(a panic without a message)".to_owned()
    }
}

tokio::task_local! {
    /// Inside a supervised task: where it panicked, left by the panic hook.
    static PANIC_AT: RefCell<Option<String>>;
}

/// Installs a panic hook for the process: a panic inside a supervised task is not printed
/// (its supervisor logs it, with where it happened, in its one line); any other panic is
/// printed as before.
pub fn install_panic_hook() {
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let at = info.location().map(|l| l.to_string());
        let supervised = PANIC_AT.try_with(|slot| *slot.borrow_mut() = at).is_ok();
        if !supervised {
            previous(info);
        }
    }));
}

/// The armed test hook: the task it kills and the signal that does it.
struct KillHook {
    task: String,
    signal: tokio::signal::unix::Signal,
}

impl KillHook {
    /// `HERALD_TEST_KILL_TASK`, in a debug build only. The SIGUSR1 handler is installed here,
    /// at start, so an early signal cannot take the default action (ending the process).
    fn armed() -> Option<KillHook> {
        if !cfg!(debug_assertions) {
            return None;
        }
        let task = std::env::var("HERALD_TEST_KILL_TASK").ok()?;
        let signal =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::user_defined1()).ok()?;
        tracing::warn!("test hook armed (HERALD_TEST_KILL_TASK): SIGUSR1 makes that task panic");
        Some(KillHook { task, signal })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn supervisor() -> (Supervisor, CancellationToken, Arc<Readiness>) {
        let (stop, readiness) = (CancellationToken::new(), Arc::new(Readiness::default()));
        let supervisor = Supervisor::new(stop.clone(), Arc::clone(&readiness));
        (supervisor, stop, readiness)
    }

    #[tokio::test]
    async fn a_service_that_returns_before_the_stop_stops_the_process_and_is_named() {
        let (supervisor, stop, readiness) = supervisor();
        supervisor.spawn("heartbeat", async {}).join().await;
        assert!(stop.is_cancelled());
        assert_eq!(readiness.failed_task.get(), Some(&"heartbeat"));
    }

    fn boom() {
        panic!("boom")
    }

    #[tokio::test]
    async fn a_panic_or_an_error_is_a_failure_and_only_the_first_is_named() {
        let (supervisor, stop, readiness) = supervisor();
        supervisor
            .spawn_stage("writer", async { boom() })
            .join()
            .await;
        supervisor
            .spawn("api", async { Err::<(), _>("cannot listen") })
            .join()
            .await;
        assert!(stop.is_cancelled());
        assert_eq!(readiness.failed_task.get(), Some(&"writer"));
    }

    #[tokio::test]
    async fn a_stage_that_returns_or_a_task_that_ends_after_the_stop_is_no_failure() {
        let (supervisor, stop, readiness) = supervisor();
        supervisor.spawn_stage("dispatcher", async {}).join().await;
        assert!(!stop.is_cancelled());
        stop.cancel();
        supervisor.spawn("claimer", async {}).join().await;
        assert_eq!(readiness.failed_task.get(), None);
    }
}
