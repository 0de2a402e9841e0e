//! Strongroom's audit trail: one CloudTrail-shaped record per request and per service event,
//! made durable before the response leaves, and tamper-evident.
//!
//! - [`event`]: the record, as CloudTrail writes it.
//! - [`redact`]: the members that never enter a record (the models' `sensitive` ones).
//! - [`chain`]: hash links and the verifier that names the first deleted, altered, moved,
//!   inserted record or cut-off tail.
//! - [`digest`]: periodic Ed25519-signed digests over the chain head.
//! - [`segments`]: the durable append-only segment files.
//! - [`log`]: the writer (group commit), lookups, retention, verification.
//! - `index`: the lookup index (SQLite), written by an idle-priority thread of its own.
//! - `columns`: a record's searchable fields, packed into one index column.
//! - [`idle`]: the request runtime's park hooks, the group commit's cue to commit.
//! - [`export`]: JSON-lines copies for log collectors.
//! - [`mirror`]: several nodes' chains in one PostgreSQL database (clusters).

pub mod chain;
mod columns;
pub mod digest;
pub mod event;
pub mod export;
pub mod idle;
mod index;
pub mod log;
pub mod mirror;
pub mod redact;
pub mod segments;
pub mod sensitive;
pub mod syslog;

pub use chain::Finding;
pub use digest::DigestSigner;
pub use event::{Event, Resource, TlsDetails, UserIdentity};
pub use log::{
    Admission, Attribute, AuditConfig, AuditError, AuditLog, AuditReader, Entry, Found, Lookup,
    VerifyReport,
};

#[cfg(test)]
mod mirror_tests;
#[cfg(test)]
mod tests;
