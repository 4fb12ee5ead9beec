//! What `/readyz` answers from: the pipeline's listener and the leader elector set these flags,
//! the admin API reads them. Plumbing below every layer, so neither side imports the other.

use std::sync::atomic::AtomicBool;

/// What the pipeline reports for `/readyz`; both start false.
#[derive(Debug, Default)]
pub struct Readiness {
    /// The LISTEN connection is up.
    pub listener_connected: AtomicBool,
    /// This replica knows who the leader is (itself or another).
    pub leader_known: AtomicBool,
}
