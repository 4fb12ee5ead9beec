//! One integration-test binary: real PostgreSQL, real HTTP over loopback.

mod api;
mod app;
mod bench;
mod claim;
mod cli;
mod cluster;
mod console;
mod demo;
mod failover;
mod fanout;
mod faults;
mod harness;
mod leader;
mod migrate;
mod pipeline;
mod policies;
mod process;
mod queries;
mod rate_limit;
mod receiver;
mod replicas;
mod security;
mod sender;
mod stats;
mod upgrade;
