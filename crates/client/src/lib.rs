//! Strongroom's client commands — how applications consume secrets. Each is an AWS client of a
//! Strongroom (or AWS) endpoint, configured from the standard AWS environment and files by the
//! AWS SDK for Rust; none reads the server's data directory.
//!
//! - [`reference`]: CloudFormation's `{{resolve:...}}` grammar (pure).
//! - [`resolve`]: fetching what references name, batched (BatchGetSecretValue, GetParameters).
//! - [`render`]: `strongroom render` — references in any text, resolved all-or-nothing.
//! - [`value_from`], [`run`]: `strongroom run` — ECS `valueFrom` (pure), then the command
//!   started (exec'd) with the values in its environment.
//! - [`agent`]: `strongroom agent` — AWS's Secrets Manager Agent and Lambda extension HTTP
//!   APIs on loopback, cached, invalidated by the server's change stream.
//! - [`aws`]: the SDK configuration (credential chain, profiles, endpoints, AWS_CA_BUNDLE).

pub mod agent;
pub mod aws;
pub mod reference;
pub mod render;
pub mod resolve;
pub mod run;
pub mod value_from;
