//! What both backends share: the JSON shape of a secret's metadata, how rows become domain
//! values, and error helpers. Keeping it in one place keeps SQLite and PostgreSQL byte-for-byte
//! compatible (the same documents in the same columns), which `strongroom migrate` relies on.

use serde::{Deserialize, Serialize};
use strongroom_domain::parameters::Parameter;
use strongroom_domain::secret::{Millis, Secret, Tag, Version};

use crate::StoreError;

/// Secret fields kept as one JSON document: only the store's own columns are queried.
#[derive(Serialize, Deserialize)]
pub(crate) struct Meta {
    pub(crate) description: Option<String>,
    pub(crate) kms_key_id: Option<String>,
    pub(crate) secret_type: Option<String>,
    pub(crate) tags: Vec<Tag>,
    /// Absent in data written before it existed: then a secret with tags has had them.
    #[serde(default)]
    pub(crate) tagged: bool,
    pub(crate) last_changed_ms: Millis,
    pub(crate) deleted_ms: Option<Millis>,
    #[serde(default)]
    pub(crate) resource_policy: Option<String>,
    #[serde(default)]
    pub(crate) rotation: strongroom_domain::rotation::Rotation,
    #[serde(default)]
    pub(crate) replication: strongroom_domain::replication::Replication,
}

/// The `secrets` table's columns of one row.
pub(crate) struct SecretColumns {
    pub(crate) arn: String,
    pub(crate) name: String,
    pub(crate) revision: i64,
    pub(crate) created_ms: Millis,
    pub(crate) last_accessed_ms: Option<Millis>,
    pub(crate) deletion_due_ms: Option<Millis>,
    pub(crate) meta: String,
}

pub(crate) fn backend(e: impl std::fmt::Display) -> StoreError {
    StoreError::Backend(e.to_string())
}

pub(crate) fn is_unique_violation(e: &sqlx::Error) -> bool {
    e.as_database_error()
        .is_some_and(|d| d.is_unique_violation())
}

pub(crate) fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

pub(crate) fn secret_from_columns(
    c: SecretColumns,
    versions: Vec<Version>,
) -> Result<Secret, StoreError> {
    let meta: Meta = serde_json::from_str(&c.meta).map_err(backend)?;
    Ok(Secret {
        arn: c.arn,
        name: c.name,
        description: meta.description,
        kms_key_id: meta.kms_key_id,
        secret_type: meta.secret_type,
        tagged: meta.tagged || !meta.tags.is_empty(),
        tags: meta.tags,
        created_ms: c.created_ms,
        last_changed_ms: meta.last_changed_ms,
        last_accessed_ms: c.last_accessed_ms,
        deleted_ms: meta.deleted_ms,
        deletion_due_ms: c.deletion_due_ms,
        resource_policy: meta.resource_policy,
        rotation: meta.rotation,
        replication: meta.replication,
        revision: c.revision,
        versions,
    })
}

pub(crate) fn meta_json(s: &Secret) -> Result<String, StoreError> {
    serde_json::to_string(&Meta {
        description: s.description.clone(),
        kms_key_id: s.kms_key_id.clone(),
        secret_type: s.secret_type.clone(),
        tags: s.tags.clone(),
        tagged: s.tagged || !s.tags.is_empty(),
        last_changed_ms: s.last_changed_ms,
        deleted_ms: s.deleted_ms,
        resource_policy: s.resource_policy.clone(),
        rotation: s.rotation.clone(),
        replication: s.replication.clone(),
    })
    .map_err(backend)
}

/// When the scheduler should look at a secret: its next rotation, if rotation is on and the
/// secret is not scheduled for deletion (indexed, so the scheduler never scans every secret).
pub(crate) fn rotation_due(s: &Secret) -> Option<Millis> {
    s.rotation
        .next_rotation_ms
        .filter(|_| s.rotation.enabled && s.deletion_due_ms.is_none())
}

pub(crate) fn parameter_from_columns(meta: &str, revision: i64) -> Result<Parameter, StoreError> {
    let mut p: Parameter = serde_json::from_str(meta).map_err(backend)?;
    p.revision = revision;
    // Every parameter has a version (`Parameter::latest` relies on it): a row without one is
    // damage, refused here rather than met by a request.
    if p.versions.is_empty() {
        return Err(StoreError::Backend(format!(
            "parameter {:?} has no versions",
            p.name
        )));
    }
    Ok(p)
}
