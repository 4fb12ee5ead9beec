//! Pure types and decisions: nothing in `domain/` does I/O.

pub mod duration;
pub mod headers;
pub mod histogram;
pub mod keyring;
pub mod retry;
pub mod secret;
pub mod signature;
pub mod target;
