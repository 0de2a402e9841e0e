//! Multi-Region secrets: which regions a secret is replicated to, and the rules AWS applies to
//! replication requests. Pure: the service copies values; this decides what is allowed and
//! what a replica is called.

use serde::{Deserialize, Serialize};

use crate::secret::Millis;

/// A secret's part in replication. A primary lists its replicas; a replica names its primary's
/// region. A secret is never both.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Replication {
    /// On a replica: the region of its primary (DescribeSecret's PrimaryRegion).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub primary_region: Option<String>,
    /// On a primary: one entry per replica region, in the order they were added.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub replicas: Vec<Replica>,
}

impl Replication {
    pub fn is_replica(&self) -> bool {
        self.primary_region.is_some()
    }

    pub fn replica(&self, region: &str) -> Option<&Replica> {
        self.replicas.iter().find(|r| r.region == region)
    }
}

/// One replica of a primary secret, as ReplicationStatus shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Replica {
    pub region: String,
    /// The KmsKeyId as given for this region; `None`: that region's aws/secretsmanager.
    #[serde(default)]
    pub kms_key_id: Option<String>,
    pub status: ReplicaStatus,
    /// Why the last replication failed (AWS: "Secret with this name already exists in this
    /// region").
    #[serde(default)]
    pub status_message: Option<String>,
    /// When the replica last matched its primary.
    #[serde(default)]
    pub synced_ms: Option<Millis>,
}

/// AWS's StatusType members Strongroom reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ReplicaStatus {
    InProgress,
    InSync,
    Failed,
}

impl ReplicaStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            ReplicaStatus::InProgress => "InProgress",
            ReplicaStatus::InSync => "InSync",
            ReplicaStatus::Failed => "Failed",
        }
    }
}

/// Why a replication request is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReplicationError {
    /// InvalidParameterException.
    #[error("Invalid replica region: {0}. Replicate to another Region than the primary secret's.")]
    OwnRegion(String),
    /// InvalidParameterException.
    #[error("Invalid replica region: {0} is listed more than once.")]
    Duplicate(String),
    /// InvalidParameterException: a region this deployment does not serve.
    #[error("Invalid replica region: {0} is not a region this deployment serves.")]
    Unknown(String),
    /// InvalidParameterException, AWS's words for any write to a replica (recorded from AWS in
    /// gruntwork-io/cloud-nuke#435 and lgallard/terraform-aws-secrets-manager#188).
    #[error(
        "Operation not permitted on a replica secret. Call must be made in primary secret's region."
    )]
    IsReplica,
    /// InvalidParameterException, AWS's words (recorded in gruntwork-io/cloud-nuke#435): the
    /// regions listed as `[a, b]`.
    #[error("You can't delete secret {arn} that still has replica regions [{}].", regions.join(", "))]
    HasReplicas { arn: String, regions: Vec<String> },
    /// InvalidParameterException: RemoveRegionsFromReplication naming a region without one.
    #[error("The secret is not replicated to {0}.")]
    NotReplicated(String),
    /// InvalidParameterException: the model's 1–10 regions per request.
    #[error(
        "1 validation error detected: Value at 'addReplicaRegions' failed to satisfy constraint: Member must have length between 1 and 10"
    )]
    Count,
}

/// The regions a ReplicateSecretToRegions (or CreateSecret's AddReplicaRegions) may add, in
/// order: each served here, none the primary's own, none twice. Regions already replicated
/// are allowed (the request then changes nothing for them but their key).
pub fn check_new_regions<'a>(
    requested: impl IntoIterator<Item = &'a str>,
    own_region: &str,
    served: &[String],
) -> Result<Vec<String>, ReplicationError> {
    let mut out: Vec<String> = Vec::new();
    for r in requested {
        if r == own_region {
            return Err(ReplicationError::OwnRegion(r.to_string()));
        }
        if out.iter().any(|x| x == r) {
            return Err(ReplicationError::Duplicate(r.to_string()));
        }
        if !served.iter().any(|s| s == r) {
            return Err(ReplicationError::Unknown(r.to_string()));
        }
        out.push(r.to_string());
    }
    if out.is_empty() || out.len() > 10 {
        return Err(ReplicationError::Count);
    }
    Ok(out)
}

/// A replica's ARN: its primary's with the region replaced (the same name and suffix).
pub fn replica_arn(primary_arn: &str, region: &str) -> String {
    let mut parts: Vec<&str> = primary_arn.splitn(5, ':').collect();
    if parts.len() == 5 {
        parts[3] = region;
    }
    parts.join(":")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn served() -> Vec<String> {
        vec!["us-east-1".into(), "us-west-2".into(), "eu-west-1".into()]
    }

    #[test]
    fn new_regions_are_checked_as_aws_does() {
        assert_eq!(
            check_new_regions(["us-west-2", "eu-west-1"], "us-east-1", &served()),
            Ok(vec!["us-west-2".to_string(), "eu-west-1".to_string()])
        );
        assert_eq!(
            check_new_regions(["us-east-1"], "us-east-1", &served()),
            Err(ReplicationError::OwnRegion("us-east-1".into()))
        );
        assert_eq!(
            check_new_regions(["us-west-2", "us-west-2"], "us-east-1", &served()),
            Err(ReplicationError::Duplicate("us-west-2".into()))
        );
        assert_eq!(
            check_new_regions(["ap-south-1"], "us-east-1", &served()),
            Err(ReplicationError::Unknown("ap-south-1".into()))
        );
        assert_eq!(
            check_new_regions([], "us-east-1", &served()),
            Err(ReplicationError::Count)
        );
    }

    #[test]
    fn refusals_read_as_aws_writes_them() {
        let e = ReplicationError::HasReplicas {
            arn: "arn:aws:secretsmanager:ap-southeast-1:1:secret:t-wwCwfj".into(),
            regions: vec!["ap-northeast-2".into(), "us-east-1".into()],
        };
        assert_eq!(
            e.to_string(),
            "You can't delete secret arn:aws:secretsmanager:ap-southeast-1:1:secret:t-wwCwfj that still has replica regions [ap-northeast-2, us-east-1]."
        );
        assert!(
            ReplicationError::IsReplica
                .to_string()
                .starts_with("Operation not permitted")
        );
    }

    #[test]
    fn a_replica_keeps_its_primarys_name_and_suffix() {
        assert_eq!(
            replica_arn(
                "arn:aws:secretsmanager:us-east-1:123456789012:secret:app/db-AbCdEf",
                "eu-west-1"
            ),
            "arn:aws:secretsmanager:eu-west-1:123456789012:secret:app/db-AbCdEf"
        );
        // A name with colons is not split further.
        assert_eq!(
            replica_arn(
                "arn:aws:secretsmanager:us-east-1:1:secret:a:b-XyZ123",
                "us-west-2"
            ),
            "arn:aws:secretsmanager:us-west-2:1:secret:a:b-XyZ123"
        );
    }

    #[test]
    fn replication_state_round_trips_and_old_secrets_have_none() {
        let r = Replication {
            primary_region: None,
            replicas: vec![Replica {
                region: "us-west-2".into(),
                kms_key_id: None,
                status: ReplicaStatus::InSync,
                status_message: None,
                synced_ms: Some(5),
            }],
        };
        let json = serde_json::to_string(&r).unwrap();
        assert_eq!(serde_json::from_str::<Replication>(&json).unwrap(), r);
        assert_eq!(
            serde_json::from_str::<Replication>("{}").unwrap(),
            Replication::default()
        );
        assert!(!r.is_replica() && r.replica("us-west-2").is_some());
    }
}
