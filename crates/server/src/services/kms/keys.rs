//! Key lifecycle: CreateKey, DescribeKey, ListKeys, EnableKey/DisableKey, deletion, rotation,
//! description, tags and the (default) key policy.

use serde::{Deserialize, Serialize};
use strongroom_domain::kms::{self, KeyManager, KeyMeta, KeyState, Rotation, Unusable};
use strongroom_domain::secret::MS_PER_DAY;
use strongroom_store::{StoredKmsKey, StoredKmsMaterial};

use super::{Empty, KeyEvent, KeyRecord, Kms, KmsError, read, write};
use crate::services::input::epoch_seconds;

const MAX_TAGS: usize = 50;

#[derive(Deserialize, Default)]
#[serde(rename_all = "PascalCase")]
#[serde(default)]
pub(super) struct CreateKeyInput {
    policy: Option<String>,
    description: Option<String>,
    key_usage: Option<String>,
    customer_master_key_spec: Option<String>,
    key_spec: Option<String>,
    origin: Option<String>,
    custom_key_store_id: Option<String>,
    #[allow(dead_code)]
    bypass_policy_lockout_safety_check: Option<bool>,
    #[serde(default)]
    tags: Vec<TagIn>,
    multi_region: Option<bool>,
    xks_key_id: Option<String>,
}

#[derive(Deserialize, Serialize, Clone)]
#[serde(rename_all = "PascalCase")]
pub(super) struct TagIn {
    tag_key: String,
    tag_value: String,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "PascalCase")]
#[serde(default)]
pub(super) struct KeyIdInput {
    key_id: String,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "PascalCase")]
#[serde(default)]
pub(super) struct DescribeKeyInput {
    key_id: String,
    #[allow(dead_code)]
    #[serde(default)]
    grant_tokens: Vec<String>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "PascalCase")]
#[serde(default)]
pub(super) struct ListInput {
    key_id: Option<String>,
    limit: Option<i64>,
    marker: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "PascalCase")]
#[serde(default)]
pub(super) struct ScheduleKeyDeletionInput {
    key_id: String,
    pending_window_in_days: Option<i64>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "PascalCase")]
#[serde(default)]
pub(super) struct UpdateKeyDescriptionInput {
    key_id: String,
    description: String,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "PascalCase")]
#[serde(default)]
pub(super) struct EnableKeyRotationInput {
    key_id: String,
    rotation_period_in_days: Option<i64>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "PascalCase")]
#[serde(default)]
pub(super) struct TagResourceInput {
    key_id: String,
    tags: Vec<TagIn>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "PascalCase")]
#[serde(default)]
pub(super) struct UntagResourceInput {
    key_id: String,
    tag_keys: Vec<String>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "PascalCase")]
#[serde(default)]
pub(super) struct PutKeyPolicyInput {
    key_id: String,
    policy_name: Option<String>,
    policy: Option<String>,
    #[allow(dead_code)]
    bypass_policy_lockout_safety_check: Option<bool>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "PascalCase")]
#[serde(default)]
pub(super) struct GetKeyPolicyInput {
    key_id: String,
    policy_name: Option<String>,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub(super) struct KeyMetadataOutput {
    key_metadata: KeyMetadata,
}

#[derive(Serialize)]
pub(super) struct KeyMetadata {
    #[serde(rename = "AWSAccountId")]
    aws_account_id: String,
    #[serde(rename = "KeyId")]
    key_id: String,
    #[serde(rename = "Arn")]
    arn: String,
    #[serde(rename = "CreationDate")]
    creation_date: f64,
    #[serde(rename = "Enabled")]
    enabled: bool,
    #[serde(rename = "Description")]
    description: String,
    #[serde(rename = "KeyUsage")]
    key_usage: &'static str,
    #[serde(rename = "KeyState")]
    key_state: &'static str,
    #[serde(rename = "DeletionDate", skip_serializing_if = "Option::is_none")]
    deletion_date: Option<f64>,
    #[serde(rename = "Origin")]
    origin: &'static str,
    #[serde(rename = "KeyManager")]
    key_manager: &'static str,
    #[serde(rename = "CustomerMasterKeySpec")]
    customer_master_key_spec: &'static str,
    #[serde(rename = "KeySpec")]
    key_spec: &'static str,
    #[serde(rename = "EncryptionAlgorithms")]
    encryption_algorithms: [&'static str; 1],
    #[serde(rename = "MultiRegion")]
    multi_region: bool,
    #[serde(
        rename = "PendingDeletionWindowInDays",
        skip_serializing_if = "Option::is_none"
    )]
    pending_deletion_window_in_days: Option<i64>,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub(super) struct ListKeysOutput {
    keys: Vec<KeyListEntry>,
    #[serde(skip_serializing_if = "Option::is_none")]
    next_marker: Option<String>,
    truncated: bool,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub(super) struct KeyListEntry {
    key_id: String,
    key_arn: String,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub(super) struct ScheduleKeyDeletionOutput {
    key_id: String,
    deletion_date: f64,
    key_state: &'static str,
    pending_window_in_days: i64,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub(super) struct KeyIdOutput {
    key_id: String,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub(super) struct RotationStatusOutput {
    key_rotation_enabled: bool,
    key_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    rotation_period_in_days: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    next_rotation_date: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    on_demand_rotation_start_date: Option<f64>,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub(super) struct ListKeyRotationsOutput {
    rotations: Vec<RotationEntry>,
    #[serde(skip_serializing_if = "Option::is_none")]
    next_marker: Option<String>,
    truncated: bool,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub(super) struct RotationEntry {
    key_id: String,
    rotation_date: f64,
    rotation_type: String,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub(super) struct ListTagsOutput {
    tags: Vec<TagIn>,
    #[serde(skip_serializing_if = "Option::is_none")]
    next_marker: Option<String>,
    truncated: bool,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub(super) struct PolicyOutput {
    policy: String,
    policy_name: &'static str,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub(super) struct ListPoliciesOutput {
    policy_names: [&'static str; 1],
    truncated: bool,
}

/// The errors a key in a state other than Enabled gives to an operation that needs it.
pub(super) fn state_error(record: &KeyRecord, unusable: Unusable) -> KmsError {
    match unusable {
        Unusable::Disabled => KmsError::Disabled(format!("{} is disabled.", record.arn)),
        Unusable::PendingDeletion => {
            KmsError::InvalidState(format!("{} is pending deletion.", record.arn))
        }
    }
}

fn not_pending_deletion(record: &KeyRecord) -> Result<(), KmsError> {
    if record.meta.state == KeyState::PendingDeletion {
        return Err(KmsError::InvalidState(format!(
            "{} is pending deletion.",
            record.arn
        )));
    }
    Ok(())
}

/// AWS managed keys are used by their services only; nobody changes them (AWS refuses as a
/// permission matter: their key policies allow no management).
pub(super) fn customer_managed(record: &KeyRecord) -> Result<(), KmsError> {
    if record.meta.manager == KeyManager::Aws {
        return Err(KmsError::AccessDenied(format!(
            "{} is an AWS managed key: you can't change its state, deletion, description, tags or aliases.",
            record.arn
        )));
    }
    Ok(())
}

/// Rotation settings of AWS managed keys are fixed (yearly): UnsupportedOperationException,
/// as the rotation operations model it.
fn customer_rotation(record: &KeyRecord) -> Result<(), KmsError> {
    if record.meta.manager == KeyManager::Aws {
        return Err(KmsError::UnsupportedOperation(format!(
            "{} is an AWS managed key: its key material rotates every year and that can't be changed.",
            record.arn
        )));
    }
    Ok(())
}

/// Limit (1–1000, default 100) and the position a Marker names among `len` items.
/// Each list operation documents its own bounds: ListKeys and ListKeyRotations 1–1000
/// (default 100), ListAliases 1–100 (default 50), ListResourceTags 1–50 (default 50).
pub(super) struct Limits {
    pub max: i64,
    pub default: usize,
}

pub(super) const KEYS_LIMITS: Limits = Limits {
    max: 1000,
    default: 100,
};
pub(super) const ALIASES_LIMITS: Limits = Limits {
    max: 100,
    default: 50,
};
const TAGS_LIMITS: Limits = Limits {
    max: 50,
    default: 50,
};

pub(super) fn page(
    limit: Option<i64>,
    marker: Option<&str>,
    len: usize,
    bounds: &Limits,
) -> Result<(usize, usize), KmsError> {
    let limit = match limit {
        None => bounds.default,
        Some(l) if (1..=bounds.max).contains(&l) => l as usize,
        Some(l) => {
            return Err(KmsError::Validation(format!(
                "1 validation error detected: Value '{l}' at 'limit' failed to satisfy constraint: Member must have value between 1 and {}",
                bounds.max
            )));
        }
    };
    let start = match marker {
        None => 0,
        Some(m) => m
            .parse::<usize>()
            .ok()
            .filter(|s| *s <= len)
            .ok_or_else(|| KmsError::InvalidMarker("The marker is not valid.".into()))?,
    };
    Ok((start, (start + limit).min(len)))
}

fn next_marker(end: usize, len: usize) -> (Option<String>, bool) {
    if end < len {
        (Some(end.to_string()), true)
    } else {
        (None, false)
    }
}

fn check_tags(tags: &[TagIn]) -> Result<(), KmsError> {
    for t in tags {
        if t.tag_key.is_empty() || t.tag_key.len() > 128 || t.tag_value.len() > 256 {
            return Err(KmsError::Validation(format!(
                "Tag key must be 1-128 characters and tag value at most 256: {}",
                t.tag_key
            )));
        }
        if t.tag_key.starts_with("aws:") {
            return Err(KmsError::Tag(
                "Tag keys beginning with \"aws:\" are reserved.".into(),
            ));
        }
    }
    Ok(())
}

impl Kms {
    pub(super) fn metadata(&self, r: &KeyRecord) -> KeyMetadata {
        KeyMetadata {
            aws_account_id: self.account_id.clone(),
            key_id: r.key_id.clone(),
            arn: r.arn.clone(),
            creation_date: epoch_seconds(r.created_ms),
            enabled: r.meta.state == KeyState::Enabled,
            description: r.meta.description.clone(),
            key_usage: "ENCRYPT_DECRYPT",
            key_state: r.meta.state.as_str(),
            deletion_date: r.meta.deletion_ms.map(epoch_seconds),
            origin: "AWS_KMS",
            key_manager: r.meta.manager.as_str(),
            customer_master_key_spec: "SYMMETRIC_DEFAULT",
            key_spec: "SYMMETRIC_DEFAULT",
            encryption_algorithms: ["SYMMETRIC_DEFAULT"],
            multi_region: false,
            pending_deletion_window_in_days: r.meta.pending_window_days,
        }
    }

    pub(super) async fn create_key(
        &self,
        input: CreateKeyInput,
    ) -> Result<KeyMetadataOutput, KmsError> {
        let unsupported = |what: &str| {
            KmsError::UnsupportedOperation(format!(
                "{what} is not supported: Strongroom offers symmetric AWS_KMS keys (SYMMETRIC_DEFAULT, ENCRYPT_DECRYPT)."
            ))
        };
        if input
            .key_usage
            .as_deref()
            .is_some_and(|u| u != "ENCRYPT_DECRYPT")
        {
            return Err(unsupported("KeyUsage other than ENCRYPT_DECRYPT"));
        }
        for spec in [&input.key_spec, &input.customer_master_key_spec] {
            if spec.as_deref().is_some_and(|s| s != "SYMMETRIC_DEFAULT") {
                return Err(unsupported("A KeySpec other than SYMMETRIC_DEFAULT"));
            }
        }
        if input.origin.as_deref().is_some_and(|o| o != "AWS_KMS") {
            return Err(unsupported("An Origin other than AWS_KMS"));
        }
        if input.custom_key_store_id.is_some() || input.xks_key_id.is_some() {
            return Err(unsupported("A custom key store"));
        }
        if input.multi_region == Some(true) {
            return Err(unsupported("A multi-Region key"));
        }
        if let Some(policy) = &input.policy {
            self.check_key_policy(policy)?;
        }
        let description = input.description.unwrap_or_default();
        if description.len() > 8192 {
            return Err(KmsError::Validation(
                "1 validation error detected: Value at 'description' failed to satisfy constraint: Member must have length less than or equal to 8192".into(),
            ));
        }
        check_tags(&input.tags)?;
        if input.tags.len() > MAX_TAGS {
            return Err(KmsError::Tag(format!(
                "A key can have at most {MAX_TAGS} tags."
            )));
        }
        let now = self.clock.now_ms();
        let key_id = uuid::Uuid::new_v4().to_string();
        let wrapped = self
            .barrier
            .create_kms_key(&key_id)
            .map_err(|_| KmsError::Internal)?;
        let mut meta = KeyMeta::new(description.clone(), KeyManager::Customer);
        meta.tags = input
            .tags
            .into_iter()
            .map(|t| (t.tag_key, t.tag_value))
            .collect();
        meta.tags.sort();
        meta.tags.dedup_by(|a, b| a.0 == b.0);
        meta.policy = input.policy;
        let stored = StoredKmsKey {
            key_id: key_id.clone(),
            arn: self.key_arn(&key_id),
            alias: None,
            description,
            wrapped,
            created_ms: now,
            meta: Some(meta.clone()),
            rotated: Vec::new(),
        };
        if let Err(e) = self.store.insert_kms_key(&stored).await {
            self.barrier.forget_kms_key(&key_id);
            return Err(e.into());
        }
        let record = KeyRecord {
            key_id: key_id.clone(),
            arn: stored.arn,
            created_ms: now,
            meta,
        };
        write(&self.keys).insert(key_id, record.clone());
        Ok(KeyMetadataOutput {
            key_metadata: self.metadata(&record),
        })
    }

    pub(super) fn describe_key(
        &self,
        input: DescribeKeyInput,
    ) -> Result<KeyMetadataOutput, KmsError> {
        let record = self.find(&input.key_id)?;
        Ok(KeyMetadataOutput {
            key_metadata: self.metadata(&record),
        })
    }

    pub(super) fn list_keys(&self, input: ListInput) -> Result<ListKeysOutput, KmsError> {
        let mut all: Vec<KeyRecord> = read(&self.keys).values().cloned().collect();
        all.sort_by(|a, b| (a.created_ms, &a.key_id).cmp(&(b.created_ms, &b.key_id)));
        let (start, end) = page(
            input.limit,
            input.marker.as_deref(),
            all.len(),
            &KEYS_LIMITS,
        )?;
        let (next_marker, truncated) = next_marker(end, all.len());
        Ok(ListKeysOutput {
            keys: all[start..end]
                .iter()
                .map(|k| KeyListEntry {
                    key_id: k.key_id.clone(),
                    key_arn: k.arn.clone(),
                })
                .collect(),
            next_marker,
            truncated,
        })
    }

    /// Apply `change` to a key under the write lock and save it.
    async fn modify(
        &self,
        given: &str,
        change: impl FnOnce(&mut KeyRecord) -> Result<(), KmsError>,
    ) -> Result<KeyRecord, KmsError> {
        let _serialised = self.write_lock.lock().await;
        let mut record = self.find(given)?;
        change(&mut record)?;
        self.save(record, None).await
    }

    pub(super) async fn set_enabled(
        &self,
        input: KeyIdInput,
        enabled: bool,
    ) -> Result<Empty, KmsError> {
        self.modify(&input.key_id, |r| {
            customer_managed(r)?;
            not_pending_deletion(r)?;
            r.meta.state = if enabled {
                KeyState::Enabled
            } else {
                KeyState::Disabled
            };
            Ok(())
        })
        .await?;
        Ok(Empty {})
    }

    pub(super) async fn schedule_key_deletion(
        &self,
        input: ScheduleKeyDeletionInput,
    ) -> Result<ScheduleKeyDeletionOutput, KmsError> {
        let days =
            kms::pending_window(input.pending_window_in_days).map_err(KmsError::Validation)?;
        let now = self.clock.now_ms();
        let r = self
            .modify(&input.key_id, |r| {
                customer_managed(r)?;
                not_pending_deletion(r)?;
                r.meta.state = KeyState::PendingDeletion;
                r.meta.deletion_ms = Some(kms::deletion_time(now, days));
                r.meta.pending_window_days = Some(days);
                Ok(())
            })
            .await?;
        Ok(ScheduleKeyDeletionOutput {
            key_id: r.arn,
            deletion_date: epoch_seconds(r.meta.deletion_ms.unwrap_or(now)),
            key_state: r.meta.state.as_str(),
            pending_window_in_days: days,
        })
    }

    pub(super) async fn cancel_key_deletion(
        &self,
        input: KeyIdInput,
    ) -> Result<KeyIdOutput, KmsError> {
        let r = self
            .modify(&input.key_id, |r| {
                if r.meta.state != KeyState::PendingDeletion {
                    return Err(KmsError::InvalidState(format!(
                        "{} is not pending deletion.",
                        r.arn
                    )));
                }
                // As AWS: a key whose deletion is cancelled comes back disabled.
                r.meta.state = KeyState::Disabled;
                r.meta.deletion_ms = None;
                r.meta.pending_window_days = None;
                Ok(())
            })
            .await?;
        Ok(KeyIdOutput { key_id: r.arn })
    }

    pub(super) async fn update_key_description(
        &self,
        input: UpdateKeyDescriptionInput,
    ) -> Result<Empty, KmsError> {
        if input.description.len() > 8192 {
            return Err(KmsError::Validation(
                "1 validation error detected: Value at 'description' failed to satisfy constraint: Member must have length less than or equal to 8192".into(),
            ));
        }
        self.modify(&input.key_id, |r| {
            customer_managed(r)?;
            not_pending_deletion(r)?;
            r.meta.description = input.description;
            Ok(())
        })
        .await?;
        Ok(Empty {})
    }

    pub(super) async fn enable_key_rotation(
        &self,
        input: EnableKeyRotationInput,
    ) -> Result<Empty, KmsError> {
        let days =
            kms::rotation_period(input.rotation_period_in_days).map_err(KmsError::Validation)?;
        let now = self.clock.now_ms();
        self.modify(&input.key_id, |r| {
            customer_rotation(r)?;
            kms::usable(r.meta.state).map_err(|u| state_error(r, u))?;
            r.meta.rotation_period_days = Some(days);
            r.meta.next_rotation_ms = Some(now + days * MS_PER_DAY);
            Ok(())
        })
        .await?;
        Ok(Empty {})
    }

    pub(super) async fn disable_key_rotation(&self, input: KeyIdInput) -> Result<Empty, KmsError> {
        self.modify(&input.key_id, |r| {
            customer_rotation(r)?;
            kms::usable(r.meta.state).map_err(|u| state_error(r, u))?;
            r.meta.rotation_period_days = None;
            r.meta.next_rotation_ms = None;
            Ok(())
        })
        .await?;
        Ok(Empty {})
    }

    pub(super) fn get_key_rotation_status(
        &self,
        input: KeyIdInput,
    ) -> Result<RotationStatusOutput, KmsError> {
        let r = self.find(&input.key_id)?;
        // "While a KMS key is pending deletion, its key rotation status is false."
        let enabled = r.meta.rotation_enabled() && r.meta.state != KeyState::PendingDeletion;
        Ok(RotationStatusOutput {
            key_rotation_enabled: enabled,
            key_id: r.arn.clone(),
            rotation_period_in_days: r.meta.rotation_period_days.filter(|_| enabled),
            next_rotation_date: r
                .meta
                .next_rotation_ms
                .filter(|_| enabled)
                .map(epoch_seconds),
            on_demand_rotation_start_date: None,
        })
    }

    pub(super) async fn rotate_key_on_demand(
        &self,
        input: KeyIdInput,
        events: &mut Vec<KeyEvent>,
    ) -> Result<KeyIdOutput, KmsError> {
        let r = self.find(&input.key_id)?;
        customer_rotation(&r)?;
        kms::usable(r.meta.state).map_err(|u| state_error(&r, u))?;
        let on_demand = r
            .meta
            .rotations
            .iter()
            .filter(|x| x.kind == "ON_DEMAND")
            .count();
        if on_demand >= kms::MAX_ON_DEMAND_ROTATIONS {
            return Err(KmsError::LimitExceeded(format!(
                "{} has reached the limit of {} on-demand rotations.",
                r.arn,
                kms::MAX_ON_DEMAND_ROTATIONS
            )));
        }
        events.push(self.rotate(&r.key_id, "ON_DEMAND").await?);
        Ok(KeyIdOutput { key_id: r.arn })
    }

    /// Give a key new material (kept with the old ones) and record the rotation.
    pub(super) async fn rotate(&self, key_id: &str, kind: &str) -> Result<KeyEvent, KmsError> {
        let _serialised = self.write_lock.lock().await;
        let mut r = self.find(key_id)?;
        let now = self.clock.now_ms();
        let (version, wrapped) = self
            .barrier
            .new_kms_material(&r.key_id)
            .map_err(|_| KmsError::Internal)?;
        r.meta.rotations.push(Rotation {
            version,
            at_ms: now,
            kind: kind.into(),
        });
        if kind == "AUTOMATIC"
            && let Some(days) = r.meta.rotation_period_days
        {
            r.meta.next_rotation_ms = Some(now + days * MS_PER_DAY);
        }
        let material = StoredKmsMaterial {
            version,
            wrapped,
            created_ms: now,
        };
        let r = self.save(r, Some(&material)).await?;
        // Stored: only now does it seal anything.
        self.barrier
            .load_kms_material(&r.key_id, version, &material.wrapped)
            .map_err(|_| KmsError::Internal)?;
        tracing::info!(key_id = %r.key_id, version, kind, "rotated KMS key material");
        Ok(KeyEvent {
            name: "RotateKey",
            key_arn: r.arn.clone(),
            details: serde_json::json!({"keyId": r.arn, "rotationType": kind}),
        })
    }

    pub(super) fn list_key_rotations(
        &self,
        input: ListInput,
    ) -> Result<ListKeyRotationsOutput, KmsError> {
        let r = self.find(input.key_id.as_deref().unwrap_or_default())?;
        let (start, end) = page(
            input.limit,
            input.marker.as_deref(),
            r.meta.rotations.len(),
            &KEYS_LIMITS,
        )?;
        let (next_marker, truncated) = next_marker(end, r.meta.rotations.len());
        Ok(ListKeyRotationsOutput {
            rotations: r.meta.rotations[start..end]
                .iter()
                .map(|x| RotationEntry {
                    key_id: r.key_id.clone(),
                    rotation_date: epoch_seconds(x.at_ms),
                    rotation_type: x.kind.clone(),
                })
                .collect(),
            next_marker,
            truncated,
        })
    }

    pub(super) async fn tag_resource(&self, input: TagResourceInput) -> Result<Empty, KmsError> {
        check_tags(&input.tags)?;
        self.modify(&input.key_id, |r| {
            customer_managed(r)?;
            not_pending_deletion(r)?;
            for t in input.tags {
                r.meta.tags.retain(|(k, _)| *k != t.tag_key);
                r.meta.tags.push((t.tag_key, t.tag_value));
            }
            if r.meta.tags.len() > MAX_TAGS {
                return Err(KmsError::Tag(format!(
                    "A key can have at most {MAX_TAGS} tags."
                )));
            }
            Ok(())
        })
        .await?;
        Ok(Empty {})
    }

    pub(super) async fn untag_resource(
        &self,
        input: UntagResourceInput,
    ) -> Result<Empty, KmsError> {
        self.modify(&input.key_id, |r| {
            customer_managed(r)?;
            not_pending_deletion(r)?;
            r.meta.tags.retain(|(k, _)| !input.tag_keys.contains(k));
            Ok(())
        })
        .await?;
        Ok(Empty {})
    }

    pub(super) fn list_resource_tags(&self, input: ListInput) -> Result<ListTagsOutput, KmsError> {
        let r = self.find(input.key_id.as_deref().unwrap_or_default())?;
        let (start, end) = page(
            input.limit,
            input.marker.as_deref(),
            r.meta.tags.len(),
            &TAGS_LIMITS,
        )?;
        let (next_marker, truncated) = next_marker(end, r.meta.tags.len());
        Ok(ListTagsOutput {
            tags: r.meta.tags[start..end]
                .iter()
                .map(|(k, v)| TagIn {
                    tag_key: k.clone(),
                    tag_value: v.clone(),
                })
                .collect(),
            next_marker,
            truncated,
        })
    }

    /// Every key has AWS's default key policy: the account (hence IAM policies) governs it.
    pub(super) fn get_key_policy(
        &self,
        input: GetKeyPolicyInput,
    ) -> Result<PolicyOutput, KmsError> {
        let r = self.find(&input.key_id)?;
        if input.policy_name.as_deref().is_some_and(|p| p != "default") {
            return Err(KmsError::NotFound(format!(
                "No such policy exists: {}",
                input.policy_name.unwrap_or_default()
            )));
        }
        let policy = match r.meta.policy {
            Some(p) => p,
            None => serde_json::to_string_pretty(&serde_json::json!({
                "Version": "2012-10-17",
                "Id": "key-default-1",
                "Statement": [{
                    "Sid": "Enable IAM User Permissions",
                    "Effect": "Allow",
                    "Principal": {"AWS": format!("arn:aws:iam::{}:root", self.account_id)},
                    "Action": "kms:*",
                    "Resource": "*"
                }]
            }))
            .map_err(|_| KmsError::Internal)?,
        };
        Ok(PolicyOutput {
            policy,
            policy_name: "default",
        })
    }

    pub(super) async fn put_key_policy(&self, input: PutKeyPolicyInput) -> Result<Empty, KmsError> {
        if input.policy_name.as_deref().is_some_and(|p| p != "default") {
            return Err(KmsError::Validation(
                "1 validation error detected: the policy name must be default".into(),
            ));
        }
        let policy = input.policy.ok_or_else(|| {
            KmsError::Validation(
                "1 validation error detected: Value null at 'policy' failed to satisfy constraint: Member must not be null".into(),
            )
        })?;
        self.check_key_policy(&policy)?;
        self.modify(&input.key_id, |r| {
            customer_managed(r)?;
            not_pending_deletion(r)?;
            r.meta.policy = Some(policy);
            Ok(())
        })
        .await?;
        Ok(Empty {})
    }

    /// A key policy is a resource policy, evaluated with the caller's IAM policies (explicit
    /// deny in either wins). Strongroom requires it to keep AWS's default statement — the
    /// account (Principal `arn:aws:iam::ACCOUNT:root`) allowed `kms:*` on `*` — so IAM
    /// policies keep governing the key, as AWS's lockout safety check insists; with it, the
    /// same-account evaluation is AWS's exactly.
    fn check_key_policy(&self, policy: &str) -> Result<(), KmsError> {
        if policy.len() > 32_768 {
            return Err(KmsError::MalformedPolicyDocument(
                "The key policy is longer than 32 KB.".into(),
            ));
        }
        strongroom_policy::parse(policy, strongroom_policy::PolicyKind::Resource)
            .map_err(|e| KmsError::MalformedPolicyDocument(e.to_string()))?;
        let doc: serde_json::Value =
            serde_json::from_str(policy).map_err(|_| KmsError::Internal)?;
        let root = format!("arn:aws:iam::{}:root", self.account_id);
        let list = |v: Option<&serde_json::Value>| -> Vec<String> {
            match v {
                Some(serde_json::Value::String(s)) => vec![s.clone()],
                Some(serde_json::Value::Array(a)) => a
                    .iter()
                    .filter_map(|x| x.as_str().map(str::to_string))
                    .collect(),
                _ => Vec::new(),
            }
        };
        let statements = match doc.get("Statement") {
            Some(serde_json::Value::Array(a)) => a.clone(),
            Some(one) => vec![one.clone()],
            None => Vec::new(),
        };
        let delegates = statements.iter().any(|st| {
            st.get("Effect").and_then(|e| e.as_str()) == Some("Allow")
                && st.get("Condition").is_none()
                && list(st.get("Principal").and_then(|p| p.get("AWS")))
                    .iter()
                    .any(|p| *p == root || *p == self.account_id)
                && list(st.get("Action"))
                    .iter()
                    .any(|a| a == "kms:*" || a == "*")
                && list(st.get("Resource")).iter().any(|r| r == "*")
        });
        if !delegates {
            return Err(KmsError::MalformedPolicyDocument(format!(
                "The new key policy will not allow you to update the key policy in the future: keep the statement that allows Principal {{\"AWS\": \"{root}\"}} the action kms:* on resource * (Strongroom requires it, so IAM policies keep governing the key)."
            )));
        }
        Ok(())
    }

    pub(super) fn list_key_policies(
        &self,
        input: ListInput,
    ) -> Result<ListPoliciesOutput, KmsError> {
        self.find(input.key_id.as_deref().unwrap_or_default())?;
        Ok(ListPoliciesOutput {
            policy_names: ["default"],
            truncated: false,
        })
    }
}
