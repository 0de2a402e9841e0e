//! Key lifecycle: CreateKey, DescribeKey, ListKeys, EnableKey/DisableKey, deletion, rotation,
//! description, tags and the (default) key policy.

use strongroom_domain::kms::{self, KeyManager, KeyMeta, KeyState, Rotation, Unusable};
use strongroom_domain::secret::MS_PER_DAY;
use strongroom_store::{StoredKmsKey, StoredKmsMaterial};

use super::shapes::{
    CancelKeyDeletionRequest, CancelKeyDeletionResponse, CreateKeyRequest, CreateKeyResponse,
    DescribeKeyRequest, DescribeKeyResponse, DisableKeyRequest, DisableKeyRotationRequest,
    EnableKeyRequest, EnableKeyRotationRequest, GetKeyPolicyRequest, GetKeyPolicyResponse,
    GetKeyRotationStatusRequest, GetKeyRotationStatusResponse, KeyListEntry, KeyMetadata,
    ListKeyPoliciesRequest, ListKeyPoliciesResponse, ListKeyRotationsRequest,
    ListKeyRotationsResponse, ListKeysRequest, ListKeysResponse, ListResourceTagsRequest,
    ListResourceTagsResponse, PutKeyPolicyRequest, RotateKeyOnDemandRequest,
    RotateKeyOnDemandResponse, RotationsListEntry, ScheduleKeyDeletionRequest,
    ScheduleKeyDeletionResponse, Tag, TagResourceRequest, UntagResourceRequest,
    UpdateKeyDescriptionRequest,
};
use super::{KeyEvent, KeyRecord, Kms, KmsError, read};
use crate::services::input::epoch_seconds;

const MAX_TAGS: usize = 50;

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

/// The KeyId member as given; absent is the empty name, which [`Kms::find`] refuses as AWS
/// refuses a null keyId.
pub(super) fn key_id(given: &Option<String>) -> &str {
    given.as_deref().unwrap_or_default()
}

fn check_tags(tags: &[Tag]) -> Result<(), KmsError> {
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
            aws_account_id: Some(self.account_id.clone()),
            key_id: r.key_id.clone(),
            arn: Some(r.arn.clone()),
            creation_date: Some(epoch_seconds(r.created_ms)),
            enabled: Some(r.meta.state == KeyState::Enabled),
            description: Some(r.meta.description.clone()),
            key_usage: Some("ENCRYPT_DECRYPT".into()),
            key_state: Some(r.meta.state.as_str().into()),
            deletion_date: r.meta.deletion_ms.map(epoch_seconds),
            origin: Some("AWS_KMS".into()),
            key_manager: Some(r.meta.manager.as_str().into()),
            customer_master_key_spec: Some("SYMMETRIC_DEFAULT".into()),
            key_spec: Some("SYMMETRIC_DEFAULT".into()),
            encryption_algorithms: Some(vec!["SYMMETRIC_DEFAULT".into()]),
            multi_region: Some(false),
            pending_deletion_window_in_days: r.meta.pending_window_days,
            ..KeyMetadata::default()
        }
    }

    pub(super) async fn create_key(
        &self,
        input: &CreateKeyRequest,
    ) -> Result<CreateKeyResponse, KmsError> {
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
        let description = input.description.clone().unwrap_or_default();
        if description.len() > 8192 {
            return Err(KmsError::Validation(
                "1 validation error detected: Value at 'description' failed to satisfy constraint: Member must have length less than or equal to 8192".into(),
            ));
        }
        let tags = input.tags.as_deref().unwrap_or_default();
        check_tags(tags)?;
        if tags.len() > MAX_TAGS {
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
        meta.tags = tags
            .iter()
            .map(|t| (t.tag_key.clone(), t.tag_value.clone()))
            .collect();
        meta.tags.sort();
        meta.tags.dedup_by(|a, b| a.0 == b.0);
        meta.policy = input.policy.clone();
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
        self.keys_mut().insert(key_id, record.clone());
        Ok(CreateKeyResponse {
            key_metadata: Some(self.metadata(&record)),
        })
    }

    pub(super) fn describe_key(
        &self,
        input: &DescribeKeyRequest,
    ) -> Result<DescribeKeyResponse, KmsError> {
        let record = self.find(key_id(&input.key_id))?;
        Ok(DescribeKeyResponse {
            key_metadata: Some(self.metadata(&record)),
        })
    }

    pub(super) fn list_keys(&self, input: &ListKeysRequest) -> Result<ListKeysResponse, KmsError> {
        let mut all: Vec<KeyRecord> = read(&self.keys).values().cloned().collect();
        all.sort_by(|a, b| (a.created_ms, &a.key_id).cmp(&(b.created_ms, &b.key_id)));
        let (start, end) = page(
            input.limit,
            input.marker.as_deref(),
            all.len(),
            &KEYS_LIMITS,
        )?;
        let (next_marker, truncated) = next_marker(end, all.len());
        Ok(ListKeysResponse {
            keys: Some(
                all[start..end]
                    .iter()
                    .map(|k| KeyListEntry {
                        key_id: Some(k.key_id.clone()),
                        key_arn: Some(k.arn.clone()),
                    })
                    .collect(),
            ),
            next_marker,
            truncated: Some(truncated),
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

    pub(super) async fn enable_key(&self, input: &EnableKeyRequest) -> Result<(), KmsError> {
        self.set_enabled(key_id(&input.key_id), true).await
    }

    pub(super) async fn disable_key(&self, input: &DisableKeyRequest) -> Result<(), KmsError> {
        self.set_enabled(key_id(&input.key_id), false).await
    }

    async fn set_enabled(&self, given: &str, enabled: bool) -> Result<(), KmsError> {
        self.modify(given, |r| {
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
        Ok(())
    }

    pub(super) async fn schedule_key_deletion(
        &self,
        input: &ScheduleKeyDeletionRequest,
    ) -> Result<ScheduleKeyDeletionResponse, KmsError> {
        let days =
            kms::pending_window(input.pending_window_in_days).map_err(KmsError::Validation)?;
        let now = self.clock.now_ms();
        let r = self
            .modify(key_id(&input.key_id), |r| {
                customer_managed(r)?;
                not_pending_deletion(r)?;
                r.meta.state = KeyState::PendingDeletion;
                r.meta.deletion_ms = Some(kms::deletion_time(now, days));
                r.meta.pending_window_days = Some(days);
                Ok(())
            })
            .await?;
        Ok(ScheduleKeyDeletionResponse {
            key_id: Some(r.arn),
            deletion_date: Some(epoch_seconds(r.meta.deletion_ms.unwrap_or(now))),
            key_state: Some(r.meta.state.as_str().into()),
            pending_window_in_days: Some(days),
        })
    }

    pub(super) async fn cancel_key_deletion(
        &self,
        input: &CancelKeyDeletionRequest,
    ) -> Result<CancelKeyDeletionResponse, KmsError> {
        let r = self
            .modify(key_id(&input.key_id), |r| {
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
        Ok(CancelKeyDeletionResponse {
            key_id: Some(r.arn),
        })
    }

    pub(super) async fn update_key_description(
        &self,
        input: &UpdateKeyDescriptionRequest,
    ) -> Result<(), KmsError> {
        let description = input.description.clone().unwrap_or_default();
        if description.len() > 8192 {
            return Err(KmsError::Validation(
                "1 validation error detected: Value at 'description' failed to satisfy constraint: Member must have length less than or equal to 8192".into(),
            ));
        }
        self.modify(key_id(&input.key_id), |r| {
            customer_managed(r)?;
            not_pending_deletion(r)?;
            r.meta.description = description;
            Ok(())
        })
        .await?;
        Ok(())
    }

    pub(super) async fn enable_key_rotation(
        &self,
        input: &EnableKeyRotationRequest,
    ) -> Result<(), KmsError> {
        let days =
            kms::rotation_period(input.rotation_period_in_days).map_err(KmsError::Validation)?;
        let now = self.clock.now_ms();
        self.modify(key_id(&input.key_id), |r| {
            customer_rotation(r)?;
            kms::usable(r.meta.state).map_err(|u| state_error(r, u))?;
            r.meta.rotation_period_days = Some(days);
            r.meta.next_rotation_ms = Some(now + days * MS_PER_DAY);
            Ok(())
        })
        .await?;
        Ok(())
    }

    pub(super) async fn disable_key_rotation(
        &self,
        input: &DisableKeyRotationRequest,
    ) -> Result<(), KmsError> {
        self.modify(key_id(&input.key_id), |r| {
            customer_rotation(r)?;
            kms::usable(r.meta.state).map_err(|u| state_error(r, u))?;
            r.meta.rotation_period_days = None;
            r.meta.next_rotation_ms = None;
            Ok(())
        })
        .await?;
        Ok(())
    }

    pub(super) fn get_key_rotation_status(
        &self,
        input: &GetKeyRotationStatusRequest,
    ) -> Result<GetKeyRotationStatusResponse, KmsError> {
        let r = self.find(key_id(&input.key_id))?;
        // "While a KMS key is pending deletion, its key rotation status is false."
        let enabled = r.meta.rotation_enabled() && r.meta.state != KeyState::PendingDeletion;
        Ok(GetKeyRotationStatusResponse {
            key_rotation_enabled: Some(enabled),
            key_id: Some(r.arn.clone()),
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
        input: &RotateKeyOnDemandRequest,
        events: &mut Vec<KeyEvent>,
    ) -> Result<RotateKeyOnDemandResponse, KmsError> {
        let r = self.find(key_id(&input.key_id))?;
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
        Ok(RotateKeyOnDemandResponse {
            key_id: Some(r.arn),
        })
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
        input: &ListKeyRotationsRequest,
    ) -> Result<ListKeyRotationsResponse, KmsError> {
        let r = self.find(key_id(&input.key_id))?;
        let (start, end) = page(
            input.limit,
            input.marker.as_deref(),
            r.meta.rotations.len(),
            &KEYS_LIMITS,
        )?;
        let (next_marker, truncated) = next_marker(end, r.meta.rotations.len());
        Ok(ListKeyRotationsResponse {
            rotations: Some(
                r.meta.rotations[start..end]
                    .iter()
                    .map(|x| RotationsListEntry {
                        key_id: Some(r.key_id.clone()),
                        rotation_date: Some(epoch_seconds(x.at_ms)),
                        rotation_type: Some(x.kind.clone()),
                        ..RotationsListEntry::default()
                    })
                    .collect(),
            ),
            next_marker,
            truncated: Some(truncated),
        })
    }

    pub(super) async fn tag_resource(&self, input: &TagResourceRequest) -> Result<(), KmsError> {
        let tags = input.tags.as_deref().unwrap_or_default();
        check_tags(tags)?;
        self.modify(key_id(&input.key_id), |r| {
            customer_managed(r)?;
            not_pending_deletion(r)?;
            for t in tags {
                r.meta.tags.retain(|(k, _)| *k != t.tag_key);
                r.meta.tags.push((t.tag_key.clone(), t.tag_value.clone()));
            }
            if r.meta.tags.len() > MAX_TAGS {
                return Err(KmsError::Tag(format!(
                    "A key can have at most {MAX_TAGS} tags."
                )));
            }
            Ok(())
        })
        .await?;
        Ok(())
    }

    pub(super) async fn untag_resource(
        &self,
        input: &UntagResourceRequest,
    ) -> Result<(), KmsError> {
        let tag_keys = input.tag_keys.as_deref().unwrap_or_default();
        self.modify(key_id(&input.key_id), |r| {
            customer_managed(r)?;
            not_pending_deletion(r)?;
            r.meta.tags.retain(|(k, _)| !tag_keys.contains(k));
            Ok(())
        })
        .await?;
        Ok(())
    }

    pub(super) fn list_resource_tags(
        &self,
        input: &ListResourceTagsRequest,
    ) -> Result<ListResourceTagsResponse, KmsError> {
        let r = self.find(key_id(&input.key_id))?;
        let (start, end) = page(
            input.limit,
            input.marker.as_deref(),
            r.meta.tags.len(),
            &TAGS_LIMITS,
        )?;
        let (next_marker, truncated) = next_marker(end, r.meta.tags.len());
        Ok(ListResourceTagsResponse {
            tags: Some(
                r.meta.tags[start..end]
                    .iter()
                    .map(|(k, v)| Tag {
                        tag_key: k.clone(),
                        tag_value: v.clone(),
                    })
                    .collect(),
            ),
            next_marker,
            truncated: Some(truncated),
        })
    }

    /// Every key has AWS's default key policy: the account (hence IAM policies) governs it.
    pub(super) fn get_key_policy(
        &self,
        input: &GetKeyPolicyRequest,
    ) -> Result<GetKeyPolicyResponse, KmsError> {
        let r = self.find(key_id(&input.key_id))?;
        if let Some(name) = input.policy_name.as_deref().filter(|p| *p != "default") {
            return Err(KmsError::NotFound(format!("No such policy exists: {name}")));
        }
        let policy = match r.meta.policy {
            Some(p) => p,
            None => serde_json::to_string_pretty(&serde_json::json!({
                "Version": "2012-10-17",
                "Id": "key-default-1",
                "Statement": [{
                    "Sid": "Enable IAM User Permissions",
                    "Effect": "Allow",
                    "Principal": {"AWS": self.account_root()},
                    "Action": "kms:*",
                    "Resource": "*"
                }]
            }))
            .map_err(|_| KmsError::Internal)?,
        };
        Ok(GetKeyPolicyResponse {
            policy: Some(policy),
            policy_name: Some("default".into()),
        })
    }

    pub(super) async fn put_key_policy(&self, input: &PutKeyPolicyRequest) -> Result<(), KmsError> {
        if input.policy_name.as_deref().is_some_and(|p| p != "default") {
            return Err(KmsError::Validation(
                "1 validation error detected: the policy name must be default".into(),
            ));
        }
        let policy = input.policy.clone().ok_or_else(|| {
            KmsError::Validation(
                "1 validation error detected: Value null at 'policy' failed to satisfy constraint: Member must not be null".into(),
            )
        })?;
        self.check_key_policy(&policy)?;
        self.modify(key_id(&input.key_id), |r| {
            customer_managed(r)?;
            not_pending_deletion(r)?;
            r.meta.policy = Some(policy);
            Ok(())
        })
        .await?;
        Ok(())
    }

    /// A key policy is a resource policy, evaluated with the caller's IAM policies (explicit
    /// deny in either wins). Strongroom requires it to keep AWS's default statement — the
    /// account (Principal `arn:PARTITION:iam::ACCOUNT:root`) allowed `kms:*` on `*` — so IAM
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
        let root = self.account_root();
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
        input: &ListKeyPoliciesRequest,
    ) -> Result<ListKeyPoliciesResponse, KmsError> {
        self.find(key_id(&input.key_id))?;
        Ok(ListKeyPoliciesResponse {
            policy_names: Some(vec!["default".into()]),
            next_marker: None,
            truncated: Some(false),
        })
    }
}
