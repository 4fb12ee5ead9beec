//! Pure types and decisions: nothing in `domain/` does I/O.

pub(crate) mod address;
pub mod duration;
pub mod headers;
pub mod histogram;
pub mod keyring;
mod named;
pub(crate) mod percentile;
pub mod retry;
pub mod scope;
pub mod secret;
pub mod signature;
pub mod status;
pub mod target;
