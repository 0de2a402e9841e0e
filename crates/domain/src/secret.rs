//! The secret model as the store persists it (values excluded: those travel sealed, separately).

use serde::{Deserialize, Serialize};

/// Milliseconds since the Unix epoch (UTC). AWS renders timestamps as float seconds.
pub type Millis = i64;

pub const MS_PER_DAY: Millis = 86_400_000;

/// AWS reports LastAccessedDate with date granularity: midnight UTC of the access day.
pub fn day_floor(ms: Millis) -> Millis {
    ms.div_euclid(MS_PER_DAY) * MS_PER_DAY
}

pub const AWSCURRENT: &str = "AWSCURRENT";
pub const AWSPREVIOUS: &str = "AWSPREVIOUS";
pub const AWSPENDING: &str = "AWSPENDING";

/// Whether a version holds SecretString or SecretBinary.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ValueKind {
    String,
    Binary,
}

impl ValueKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ValueKind::String => "string",
            ValueKind::Binary => "binary",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "string" => Some(ValueKind::String),
            "binary" => Some(ValueKind::Binary),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tag {
    pub key: String,
    pub value: String,
}

/// One version of a secret. `has_value` is false for the value-less AWSPENDING version that
/// rotation creates before its createSecret step.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Version {
    pub id: String,
    pub stages: Vec<String>,
    pub created_ms: Millis,
    pub last_accessed_ms: Option<Millis>,
    pub has_value: bool,
    /// Key id (not ARN) of the KMS key that wrapped this version's data key.
    pub kms_key_id: Option<String>,
}

impl Version {
    pub fn has_stage(&self, stage: &str) -> bool {
        self.stages.iter().any(|s| s == stage)
    }

    /// Label-less versions are "deprecated": hidden by default and eligible for pruning.
    pub fn is_deprecated(&self) -> bool {
        self.stages.is_empty()
    }
}

/// Secret metadata plus its versions' metadata. Ciphertexts are not part of this struct.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Secret {
    pub arn: String,
    pub name: String,
    pub description: Option<String>,
    /// The KmsKeyId as the caller gave it; `None` means the managed key aws/secretsmanager.
    pub kms_key_id: Option<String>,
    pub secret_type: Option<String>,
    pub tags: Vec<Tag>,
    /// Whether the secret has ever had a tag: AWS then answers `Tags: []` once the last one is
    /// removed, while a secret never tagged has no Tags member.
    #[serde(default)]
    pub tagged: bool,
    pub created_ms: Millis,
    pub last_changed_ms: Millis,
    pub last_accessed_ms: Option<Millis>,
    /// When DeleteSecret was called; `Some` means scheduled for deletion.
    pub deleted_ms: Option<Millis>,
    /// When the background purge may remove the secret for good.
    pub deletion_due_ms: Option<Millis>,
    /// The resource-based policy attached with PutResourcePolicy, as given.
    #[serde(default)]
    pub resource_policy: Option<String>,
    /// RotateSecret's configuration and the rotation history.
    #[serde(default)]
    pub rotation: crate::rotation::Rotation,
    /// Multi-Region secrets: a primary's replicas, or a replica's primary region.
    #[serde(default)]
    pub replication: crate::replication::Replication,
    /// Optimistic-concurrency counter: every committed change increments it.
    pub revision: i64,
    pub versions: Vec<Version>,
}

impl Secret {
    pub fn is_scheduled_for_deletion(&self) -> bool {
        self.deleted_ms.is_some()
    }

    pub fn version(&self, id: &str) -> Option<&Version> {
        self.versions.iter().find(|v| v.id == id)
    }

    pub fn version_with_stage(&self, stage: &str) -> Option<&Version> {
        self.versions.iter().find(|v| v.has_stage(stage))
    }

    /// VersionIdsToStages as AWS shows it: only versions that carry labels.
    pub fn labelled_versions(&self) -> impl Iterator<Item = &Version> {
        self.versions.iter().filter(|v| !v.is_deprecated())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn day_floor_truncates_to_midnight_utc() {
        // 2024-03-05T13:14:15.678Z
        let t = 1_709_644_455_678;
        assert_eq!(day_floor(t), 1_709_596_800_000);
        assert_eq!(day_floor(day_floor(t)), day_floor(t));
    }
}
