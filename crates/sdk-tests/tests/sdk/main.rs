//! The AWS SDK for Rust against a real strongroom server, one module per area. One test
//! binary rather than one per file: each links the AWS SDK crates, and on a cold 2-core build
//! every extra link of that size costs tens of seconds. (`logs.rs` stays apart: it installs
//! a process-wide TRACE subscriber.)

#[path = "../common/mod.rs"]
mod common;

mod alarms;
mod audit;
mod idempotency;
mod identity;
mod kms_ssm;
mod metrics;
mod partitions;
mod regions;
mod rotation;
mod seal;
mod secretsmanager;
mod security;
