//! The IAM policy language as AWS evaluates it, for identity, resource, trust and session
//! policies.
//!
//! Hand-written, on evidence (see DEPENDENCIES.md §3): scratchstack-aspen has no
//! `ForAllValues`/`ForAnyValue` and a flat "any Deny, else any Allow" evaluation with no
//! identity/resource split, no cross-account rule and no boundaries; iam-rs has the same flat
//! engine and calls itself unverified. This crate separates the three concerns:
//! - [`document`]: parse and validate once, when a policy is stored, into a compiled
//!   [`Policy`] (MalformedPolicyDocument messages say exactly what is wrong);
//! - [`matching`] and [`condition`]: wildcards, policy variables, condition operators;
//! - [`eval`]: AWS's evaluation logic — explicit deny wins; within one account an allow from
//!   an identity *or* a resource policy suffices, across accounts both must allow;
//!   permissions boundaries and session policies intersect — with the deciding statements
//!   reported, for "why denied" and SimulatePrincipalPolicy.

pub mod condition;
pub mod document;
pub mod eval;
pub mod matching;

pub use document::{Effect, Policy, PolicyError, PolicyKind, Statement, parse};
pub use eval::{
    Decision, Outcome, PolicySet, RequestContext, ResourceRule, StatementRef, evaluate,
};
