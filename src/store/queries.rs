//! Every runtime query of the store, so one test can prepare them all against a migrated
//! database and a bad column name fails `cargo test`, not production.

pub fn all() -> impl Iterator<Item = &'static (&'static str, &'static str)> {
    super::admin::QUERIES
        .iter()
        .chain(super::deliveries::QUERIES)
        .chain(super::events::QUERIES)
        .chain(super::webhooks::QUERIES)
        .chain(super::maintenance::QUERIES)
        .chain(super::fleet::QUERIES)
        .chain(super::stats::QUERIES)
}
