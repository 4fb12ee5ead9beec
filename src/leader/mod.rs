//! Leadership and the chores that must run once.
//!
//! Election uses a PostgreSQL session advisory lock held on a dedicated connection: the lock
//! lives exactly as long as the leader's session, so a killed process or a cut connection frees
//! it at once, with no lease to wait out and no clock to trust. Followers try to take it every
//! second, so a new leader is elected within about a second of the old one's session ending.
//!
//! ```text
//!            connect ok                      try_lock = true
//! Connecting ───────────▶ Follower ───────────────────────────▶ Leader
//!     ▲   ▲                  │  ▲  try_lock = false: wait ~1s    │
//!     │   └── error ─────────┘  └─────────────────────────────────┤ (chores every tick)
//!     └────────────── connection lost / ping fails ───────────────┘
//! Leader ── stop ──▶ unlock, close (resign: a follower takes over within ~1s)
//! ```
//!
//! The leader's chores (`chores.rs`) are idempotent and bounded, so two leaders overlapping for
//! a moment (the old one not yet aware its session died) do no harm.

pub mod chores;
pub mod elector;

pub use elector::{Elector, LeaderState};
