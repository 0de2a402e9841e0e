//! Multi-Region secrets: which regions a secret is replicated to, and the rules AWS applies to
//! replication requests. Pure: the service copies values; this decides what is allowed and
//! what a replica is called.

use serde::{Deserialize, Serialize};

use crate::secret::{Millis, Secret};

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
    /// On a replica of a peer deployment's primary: the primary's revision it last took, so a
    /// retried or late delivery never takes it back ([`remote_replica_write`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub primary_sequence: Option<i64>,
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
    /// A replica in a peer deployment: the [`replicated_state`] it was last given, as a digest
    /// (the service hashes it), so a change still to deliver shows as `InProgress`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub synced_state: Option<String>,
    /// A replica in a peer deployment: the versions whose values it holds, so a delivery sends
    /// only new values. Cleared when the peer says it lacks one.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub synced_versions: Vec<String>,
    /// A replica in a peer deployment: its LastAccessedDate as the peer last reported it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_accessed_ms: Option<Millis>,
    /// A replica in a peer deployment still to be created with ForceOverwriteReplicaSecret.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub overwrite: bool,
}

impl Replica {
    /// A replica just added to a primary, not yet replicated.
    pub fn new(region: String, kms_key_id: Option<String>) -> Self {
        Self {
            region,
            kms_key_id,
            status: ReplicaStatus::InProgress,
            status_message: None,
            synced_ms: None,
            synced_state: None,
            synced_versions: Vec::new(),
            last_accessed_ms: None,
            overwrite: false,
        }
    }
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
    /// ResourceExistsException in the replica's region (AWS's StatusMessage for this case).
    #[error("Secret with this name already exists in this region")]
    NameTaken,
}

/// The part of a primary that its replicas copy, without what changes on every read or is
/// bookkeeping of replication itself: what a peer deployment's replica must equal. Two
/// primaries with the same `replicated_state` need no delivery between them.
pub fn replicated_state(primary: &Secret) -> Secret {
    let mut s = primary.clone();
    s.revision = 0;
    s.last_accessed_ms = None;
    for v in &mut s.versions {
        v.last_accessed_ms = None;
        v.kms_key_id = None;
    }
    s.replication = Replication::default();
    s
}

/// How a delivery from a peer deployment's primary lands on the replica's side.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReplicaWrite {
    /// No secret of that name here: create the replica.
    Create,
    /// This primary's replica: replace it with the delivered state.
    Replace,
    /// This primary's replica already has this state or a newer one: change nothing.
    Stale,
    /// A standalone secret of that name, and ForceOverwriteReplicaSecret: replace it.
    Overwrite,
}

/// Decide a peer delivery of `primary_region`'s primary at `sequence` against the secret of
/// that name here (`existing`). A same-named secret that is not this primary's replica is
/// only replaced when asked to, and never when it is a primary or another's replica itself.
pub fn remote_replica_write(
    existing: Option<&Secret>,
    primary_region: &str,
    sequence: i64,
    force: bool,
) -> Result<ReplicaWrite, ReplicationError> {
    let Some(existing) = existing else {
        return Ok(ReplicaWrite::Create);
    };
    let r = &existing.replication;
    if r.primary_region.as_deref() == Some(primary_region) {
        return Ok(match r.primary_sequence {
            Some(have) if have >= sequence => ReplicaWrite::Stale,
            _ => ReplicaWrite::Replace,
        });
    }
    if force && !r.is_replica() && r.replicas.is_empty() {
        return Ok(ReplicaWrite::Overwrite);
    }
    Err(ReplicationError::NameTaken)
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
                synced_state: Some("abc".into()),
                synced_versions: vec!["v1".into()],
                last_accessed_ms: None,
                overwrite: true,
            }],
            primary_sequence: None,
        };
        let json = serde_json::to_string(&r).unwrap();
        assert_eq!(serde_json::from_str::<Replication>(&json).unwrap(), r);
        assert_eq!(
            serde_json::from_str::<Replication>("{}").unwrap(),
            Replication::default()
        );
        assert!(!r.is_replica() && r.replica("us-west-2").is_some());
    }

    fn secret(primary_region: Option<&str>, sequence: Option<i64>) -> Secret {
        let json = r#"{"arn":"arn:aws:secretsmanager:eu-west-1:1:secret:a-AbCdEf","name":"a",
            "description":null,"kms_key_id":null,"secret_type":null,"tags":[],"created_ms":1,
            "last_changed_ms":1,"last_accessed_ms":null,"deleted_ms":null,
            "deletion_due_ms":null,"revision":3,"versions":[]}"#;
        let mut s: Secret = serde_json::from_str(json).unwrap();
        s.replication.primary_region = primary_region.map(str::to_string);
        s.replication.primary_sequence = sequence;
        s
    }

    #[test]
    fn peer_deliveries_create_replace_and_never_go_back() {
        let east = "us-east-1";
        assert_eq!(
            remote_replica_write(None, east, 5, false),
            Ok(ReplicaWrite::Create)
        );
        let mine = secret(Some(east), Some(5));
        assert_eq!(
            remote_replica_write(Some(&mine), east, 6, false),
            Ok(ReplicaWrite::Replace)
        );
        // The same delivery again, or an older one arriving late: nothing changes.
        assert_eq!(
            remote_replica_write(Some(&mine), east, 5, false),
            Ok(ReplicaWrite::Stale)
        );
        assert_eq!(
            remote_replica_write(Some(&mine), east, 4, true),
            Ok(ReplicaWrite::Stale)
        );
        // A standalone secret of that name: only replaced when asked to.
        let standalone = secret(None, None);
        assert_eq!(
            remote_replica_write(Some(&standalone), east, 1, false),
            Err(ReplicationError::NameTaken)
        );
        assert_eq!(
            remote_replica_write(Some(&standalone), east, 1, true),
            Ok(ReplicaWrite::Overwrite)
        );
        // Another primary's replica, or a primary with replicas, never.
        let theirs = secret(Some("us-west-2"), Some(9));
        assert_eq!(
            remote_replica_write(Some(&theirs), east, 10, true),
            Err(ReplicationError::NameTaken)
        );
        let mut primary = secret(None, None);
        primary
            .replication
            .replicas
            .push(Replica::new("ap-south-1".into(), None));
        assert_eq!(
            remote_replica_write(Some(&primary), east, 10, true),
            Err(ReplicationError::NameTaken)
        );
    }

    #[test]
    fn the_replicated_state_ignores_reads_and_replication_bookkeeping() {
        let mut a = secret(None, None);
        a.replication
            .replicas
            .push(Replica::new("eu-west-1".into(), None));
        let mut b = a.clone();
        b.revision += 7;
        b.last_accessed_ms = Some(99);
        b.replication.replicas[0].status = ReplicaStatus::InSync;
        assert_eq!(replicated_state(&a), replicated_state(&b));
        b.description = Some("changed".into());
        assert_ne!(replicated_state(&a), replicated_state(&b));
    }
}
