//! The statements of the long-lived sessions outside the pool: the leader's (its advisory
//! lock) and the listener's (LISTEN and the sleep flag), and the writable-server check both
//! make with each ping.

pub const LEADER_TRY_LOCK: &str = include_str!("queries/session_leader_try_lock.sql");
pub const LEADER_UNLOCK: &str = include_str!("queries/session_leader_unlock.sql");
pub const FORGET_SLEEPER: &str = include_str!("queries/session_forget_sleeper.sql");
pub const DECLARE_SLEEPER: &str = include_str!("queries/session_declare_sleeper.sql");
pub const ACCEPTS_WRITES: &str = include_str!("queries/session_accepts_writes.sql");
/// Several statements: sent as one simple query.
pub const LISTENER_START: &str = include_str!("scripts/session_listener_start.sql");
