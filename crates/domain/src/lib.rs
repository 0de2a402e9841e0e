//! Pure Secrets Manager domain rules: no I/O, no clocks, no crypto.
//!
//! Everything that decides *what* a secret looks like after an operation lives here, so the
//! rules are written once and unit-tested without a server:
//! - [`secret`]: the secret / version model shared by the store and the services;
//! - [`labels`]: staging labels (AWSCURRENT, AWSPREVIOUS, ...) and version pruning;
//! - [`names`]: names, ARNs, tags, tokens; [`filters`]: ListSecrets filters and sorting;
//! - [`password`]: the GetRandomPassword generator;
//! - [`rotation`]: rotation configuration, schedule and the in-progress rule;
//! - [`replication`]: multi-Region secrets (replica regions, replica ARNs);
//! - [`parameters`]: SSM parameter names, selectors, labels, history and filters;
//!   [`parameter_policies`]: their Expiration / notification policies;
//! - [`kms`]: KMS key references, aliases, key states, windows and encryption contexts;
//! - [`lambda`]: a rotation function's environment variables, as Lambda checks them;
//! - [`migration`]: `strongroom migrate`'s copy / skip / conflict rule per item;
//! - [`readiness`]: what a node's `/ready` answers (which part keeps it from serving);
//! - [`partition`]: which AWS partition (`aws`, `aws-cn`, ...) a region's ARNs carry;
//! - [`console_passwords`]: IAM console passwords (account password policy, expiry, lockout);
//! - [`policy_versions`]: IAM managed policies' versions (ids, the limit, the default);
//! - [`validation`]: the messages of violated model constraints (ValidationException).

pub mod console_passwords;
pub mod filters;
pub mod grants;
pub mod kms;
pub mod labels;
pub mod lambda;
pub mod migration;
pub mod names;
pub mod parameter_policies;
pub mod parameters;
pub mod partition;
pub mod password;
pub mod policy_versions;
pub mod readiness;
pub mod replication;
pub mod rotation;
pub mod secret;
pub mod validation;

pub use partition::partition_of;
pub use secret::{Secret, Tag, ValueKind, Version};
