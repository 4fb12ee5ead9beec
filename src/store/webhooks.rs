//! (to be written)

/// Runtime queries of this module, by name; `tests/it/queries.rs` prepares every one.
pub const QUERIES: &[(&str, &str)] = &[];
