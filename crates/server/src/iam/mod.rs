//! Identity and access, in one place: who the callers are and what they may do.
//!
//! - [`directory`]: the IAM directory — users, access keys, groups, roles (trust policies),
//!   inline and managed policies, permissions boundaries — loaded from the store, written
//!   through it, and the policies that apply to a principal.
//! - [`sessions`]: STS session credentials (sealed session tokens).
//! - [`authz`]: AWS's policy evaluation for a request (identity, resource and session
//!   policies, boundaries, trust policies), over `crates/policy`.
//! - [`service`]: the IAM API (Query protocol) — one file per family (users, keys,
//!   policies, groups, roles, simulate); [`sts`]: the STS API. Both behind the request
//!   pipeline, their shapes generated from AWS's models.
//!
//! IAM and STS are global, as in AWS: one directory per deployment.

pub mod authz;
pub mod directory;
pub mod service;
pub mod sessions;
pub mod sts;
