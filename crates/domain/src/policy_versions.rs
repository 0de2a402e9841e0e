//! Versions of IAM customer managed policies, the pure rules (iam.json: CreatePolicyVersion,
//! ListPolicyVersions, SetDefaultPolicyVersion, DeletePolicyVersion, DeletePolicy):
//! - a policy begins with `v1`, its default; each new version is numbered one past the highest
//!   number the policy ever gave, so an id is never reused after its version is deleted;
//! - a policy has at most five versions (LimitExceeded);
//! - exactly one version is the default; it cannot be deleted on its own (DeleteConflict: it
//!   goes with the policy), and a policy cannot be deleted while it has other versions;
//! - ListPolicyVersions lists the newest first;
//! - version ids match `v[1-9][0-9]*(\.[A-Za-z0-9-]*)?` (else ValidationError).

use crate::validation::{Shown, one, pattern};

pub const MAX_VERSIONS: usize = 5;
pub const VERSION_ID_PATTERN: &str = r"v[1-9][0-9]*(\.[A-Za-z0-9-]*)?";

/// A policy version as these rules see it: its id.
pub trait Versioned {
    fn version_id(&self) -> &str;
}

impl Versioned for &str {
    fn version_id(&self) -> &str {
        self
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VersionError {
    /// NoSuchEntity
    #[error("Policy {arn} version {id} does not exist or is not attachable.")]
    NoSuchVersion { arn: String, id: String },
    /// LimitExceeded
    #[error(
        "A managed policy can have up to {MAX_VERSIONS} versions. Before you create a new version, you must delete an existing version."
    )]
    TooManyVersions,
    /// DeleteConflict
    #[error("Cannot delete the default version of a policy.")]
    DeleteDefault,
    /// DeleteConflict (DeletePolicy)
    #[error(
        "This policy has more than one version. Before you delete a policy, you must delete the policy's versions. The default version is deleted with the policy."
    )]
    OtherVersions,
}

/// A `VersionId` as the model constrains it: `Err` carries the ValidationError message.
pub fn check_id(id: &str) -> Result<(), String> {
    let valid = (|| {
        let rest = id.strip_prefix('v')?;
        let digits = rest.chars().take_while(char::is_ascii_digit).count();
        let (number, suffix) = rest.split_at(digits);
        if !number.starts_with(|c: char| ('1'..='9').contains(&c)) {
            return None;
        }
        match suffix.strip_prefix('.') {
            None if suffix.is_empty() => Some(()),
            Some(s) if s.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') => Some(()),
            _ => None,
        }
    })()
    .is_some();
    if valid {
        Ok(())
    } else {
        Err(one(
            Shown::text(id),
            "versionId",
            pattern(VERSION_ID_PATTERN),
        ))
    }
}

/// `v7` → 7 (ids of the form `v7.x` have no number of ours: none are created here).
fn number(id: &str) -> Option<u32> {
    id.strip_prefix('v')?.parse().ok()
}

/// The id of the next version and the policy's new highest number, given its versions and the
/// highest number it ever gave (0 when unknown: the highest present is used then).
pub fn next_version<V: Versioned>(
    versions: &[V],
    highest_given: u32,
) -> Result<(String, u32), VersionError> {
    if versions.len() >= MAX_VERSIONS {
        return Err(VersionError::TooManyVersions);
    }
    let highest = versions
        .iter()
        .filter_map(|v| number(v.version_id()))
        .fold(highest_given, u32::max);
    let next = highest.saturating_add(1);
    Ok((format!("v{next}"), next))
}

/// Where version `id` is among `versions` (SetDefaultPolicyVersion, GetPolicyVersion).
pub fn position<V: Versioned>(arn: &str, versions: &[V], id: &str) -> Result<usize, VersionError> {
    versions
        .iter()
        .position(|v| v.version_id() == id)
        .ok_or_else(|| VersionError::NoSuchVersion {
            arn: arn.to_string(),
            id: id.to_string(),
        })
}

/// Where the version DeletePolicyVersion may delete is: any but the default.
pub fn deletable<V: Versioned>(
    arn: &str,
    versions: &[V],
    default: &str,
    id: &str,
) -> Result<usize, VersionError> {
    let at = position(arn, versions, id)?;
    if id == default {
        return Err(VersionError::DeleteDefault);
    }
    Ok(at)
}

/// DeletePolicy: only a policy left with its default version alone.
pub fn policy_deletable(version_count: usize) -> Result<(), VersionError> {
    if version_count > 1 {
        return Err(VersionError::OtherVersions);
    }
    Ok(())
}

/// A policy's UpdateDate (iam.json, Policy): its creation while it has one version, else the
/// creation of its most recent version — so neither SetDefaultPolicyVersion nor deleting an
/// older version moves it.
pub fn update_date(created_ms: i64, version_dates: &[i64]) -> i64 {
    match version_dates {
        [] | [_] => created_ms,
        many => many.iter().copied().max().unwrap_or(created_ms),
    }
}

/// ListPolicyVersions' order: the newest (highest number) first.
pub fn newest_first<V: Versioned>(versions: &mut [V]) {
    versions.sort_by(|a, b| {
        let key = |v: &V| (number(v.version_id()), v.version_id().to_string());
        key(b).cmp(&key(a))
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    const ARN: &str = "arn:aws:iam::123456789012:policy/P";

    #[test]
    fn ids_follow_the_models_pattern() {
        for ok in ["v1", "v12", "v5.draft", "v2.", "v3.a-B9"] {
            assert_eq!(check_id(ok), Ok(()), "{ok}");
        }
        for bad in ["", "v", "v0", "v01", "V1", "1", "v1x", "v1.a_b", "v1.é"] {
            assert!(check_id(bad).is_err(), "{bad}");
        }
        assert_eq!(
            check_id("x").unwrap_err(),
            "1 validation error detected: Value 'x' at 'versionId' failed to satisfy constraint: \
             Member must satisfy regular expression pattern: v[1-9][0-9]*(\\.[A-Za-z0-9-]*)?"
        );
    }

    #[test]
    fn new_versions_are_numbered_past_every_number_given_and_at_most_five_are_kept() {
        assert_eq!(next_version(&["v1"], 1).unwrap(), ("v2".into(), 2));
        // v3 was deleted: its id is not given again.
        assert_eq!(next_version(&["v1", "v2"], 3).unwrap(), ("v4".into(), 4));
        // A policy stored before the highest number was kept: the highest present.
        assert_eq!(next_version(&["v2", "v7"], 0).unwrap(), ("v8".into(), 8));
        assert_eq!(
            next_version(&["v1", "v2", "v3", "v4", "v5"], 5),
            Err(VersionError::TooManyVersions)
        );
        assert_eq!(
            VersionError::TooManyVersions.to_string(),
            "A managed policy can have up to 5 versions. Before you create a new version, you must delete an existing version."
        );
    }

    #[test]
    fn the_default_version_is_never_deleted_alone() {
        let versions = ["v1", "v2", "v3"];
        assert_eq!(deletable(ARN, &versions, "v3", "v2"), Ok(1));
        assert_eq!(
            deletable(ARN, &versions, "v3", "v3"),
            Err(VersionError::DeleteDefault)
        );
        assert_eq!(
            VersionError::DeleteDefault.to_string(),
            "Cannot delete the default version of a policy."
        );
        let missing = deletable(ARN, &versions, "v3", "v9").unwrap_err();
        assert_eq!(
            missing.to_string(),
            format!("Policy {ARN} version v9 does not exist or is not attachable.")
        );
        assert_eq!(position(ARN, &versions, "v1"), Ok(0));
        assert!(position(ARN, &versions, "v4").is_err());
    }

    #[test]
    fn a_policy_is_deleted_only_with_its_default_version_alone() {
        assert_eq!(policy_deletable(1), Ok(()));
        assert_eq!(policy_deletable(2), Err(VersionError::OtherVersions));
    }

    #[test]
    fn the_update_date_is_the_newest_versions_while_there_are_several() {
        assert_eq!(update_date(10, &[10]), 10);
        assert_eq!(update_date(10, &[10, 30, 20]), 30);
        // Back to one version (created later than the policy): the policy's creation.
        assert_eq!(update_date(10, &[30]), 10);
    }

    #[test]
    fn listings_put_the_newest_first() {
        let mut versions = ["v2", "v10", "v1", "v9"];
        newest_first(&mut versions);
        assert_eq!(versions, ["v10", "v9", "v2", "v1"]);
    }
}
