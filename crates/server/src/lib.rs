//! Strongroom: the AWS Secrets Manager API, self-hosted, in one binary.
//!
//! Layers (dependencies point down only):
//! - [`http`]: one listener; JSON 1.1 codec, SigV4 authentication, request ids, limits;
//! - [`pipeline`]: the one request pipeline every API call passes through;
//! - [`services`]: one module per AWS service, one function per operation;
//! - [`iam`]: the IAM directory, authorization, and the IAM and STS APIs;
//! - `strongroom-domain`: pure rules (labels, names, filters, passwords);
//! - `strongroom-barrier`: envelope encryption; `strongroom-store`: persistence.
//!
//! [`server::start`] wires them together; `main.rs` is only the command line.

pub mod address;
pub mod audit;
pub mod audit_cmd;
pub mod backup;
pub mod changes;
pub mod clock;
pub mod cluster;
pub mod config;
pub mod console;
pub mod credentials;
pub mod error;
pub mod http;
pub mod iam;
pub mod metrics;
pub mod migrate_cmd;
pub mod pipeline;
pub mod regions;
pub mod root_key_cmd;
pub mod rotation;
pub mod sensitive;
pub mod server;
pub mod services;
#[cfg(test)]
pub(crate) mod test_support;
pub mod throttle;
pub mod xml;

pub use config::ServerConfig;
pub use server::{RunningServer, ShutdownSignals, start};
