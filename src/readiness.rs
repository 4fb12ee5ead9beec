//! What `/readyz` answers from: the pipeline's listener and the leader elector set these flags,
//! the task supervisor names a task that failed, the admin API reads them. Plumbing below every
//! layer, so neither side imports the other.

use std::sync::{atomic::AtomicBool, OnceLock};

/// What the pipeline reports for `/readyz`; the flags start false.
#[derive(Debug, Default)]
pub struct Readiness {
    /// The LISTEN connection is up.
    pub listener_connected: AtomicBool,
    /// This replica knows who the leader is (itself or another).
    pub leader_known: AtomicBool,
    /// The first supervised task that ended unexpectedly (see `supervise`): herald is
    /// stopping.
    pub failed_task: OnceLock<&'static str>,
}
