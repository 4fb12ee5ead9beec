//! One integration-test binary: real PostgreSQL, real HTTP over loopback.

mod api;
mod app;
mod claim;
mod fanout;
mod harness;
mod migrate;
mod pipeline;
mod queries;
mod receiver;
mod sender;
