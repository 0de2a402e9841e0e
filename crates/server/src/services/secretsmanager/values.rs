//! Versions and values: GetSecretValue, BatchGetSecretValue, PutSecretValue,
//! UpdateSecretVersionStage, ListSecretVersionIds.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use strongroom_domain::filters::{SortBy, SortOrder};
use strongroom_domain::labels;
use strongroom_domain::secret::{AWSCURRENT, Secret, ValueKind, Version, day_floor};
use zeroize::Zeroizing;

use super::shapes::*;
use super::ts;
use super::{SecretValue, SecretsManager, SmError, TokenUse, paging, validate};
use crate::sensitive::Sensitive;

/// SecretString xor SecretBinary (base64 on the wire), each 1–65,536 bytes.
pub(super) fn decode_value(
    secret_string: Option<Sensitive>,
    secret_binary: Option<Sensitive>,
) -> Result<Option<SecretValue>, SmError> {
    match (secret_string, secret_binary) {
        (Some(_), Some(_)) => Err(SmError::InvalidParameter(
            "You can't specify both a binary secret value and a string secret value in the same secret.".into(),
        )),
        (Some(s), None) => {
            let bytes = s.into_bytes();
            validate::byte_length("secretString", bytes.len(), 1, 65_536)?;
            Ok(Some(SecretValue {
                kind: ValueKind::String,
                bytes,
            }))
        }
        (None, Some(b)) => {
            let bytes = Zeroizing::new(STANDARD.decode(b.as_bytes()).map_err(|_| {
                SmError::Serialization("SecretBinary must be base64-encoded.".into())
            })?);
            validate::byte_length("secretBinary", bytes.len(), 1, 65_536)?;
            Ok(Some(SecretValue {
                kind: ValueKind::Binary,
                bytes,
            }))
        }
        (None, None) => Ok(None),
    }
}

pub(super) fn new_version_id(token: Option<String>) -> String {
    token.unwrap_or_else(strongroom_domain::names::random_uuid)
}

impl SecretsManager {
    pub(super) async fn get_secret_value(
        &self,
        input: GetSecretValueRequest,
        resolved: Option<std::sync::Arc<Secret>>,
        gate: &super::Gate<'_>,
    ) -> Result<GetSecretValueResponse, SmError> {
        let id = validate::required("secretId", input.secret_id)?;
        if let Some(v) = &input.version_id {
            validate::length("versionId", v, 32, 64)?;
        }
        if let Some(s) = &input.version_stage {
            validate::length("versionStage", s, 1, 256)?;
        }
        let secret = match resolved {
            Some(s) => s,
            None => self.resolve_shared(&id).await?,
        };
        self.read_value(
            &secret,
            input.version_id.as_deref(),
            input.version_stage.as_deref(),
            gate,
        )
        .await
    }

    /// The value of one version of a resolved secret, stamping LastAccessedDate.
    async fn read_value(
        &self,
        secret: &Secret,
        version_id: Option<&str>,
        stage: Option<&str>,
        gate: &super::Gate<'_>,
    ) -> Result<GetSecretValueResponse, SmError> {
        if secret.is_scheduled_for_deletion() {
            return Err(SmError::marked_for_deletion());
        }
        let version = select_version(secret, version_id, stage)?;
        if let Some(key_id) = version.kms_key_id.as_deref() {
            match self.kms.usable_for_service(key_id) {
                Ok(key) => self.kms_allowed(
                    gate,
                    "kms:Decrypt",
                    &key,
                    Some(&secret.arn),
                    Some(&version.id),
                )?,
                Err(_) => {
                    return Err(SmError::DecryptionFailure(
                        "Secrets Manager can't decrypt the protected secret text using the provided KMS key. Check that the KMS key is available, enabled, and not in an invalid state.".into(),
                    ));
                }
            }
        }
        let value = self.open(&secret.arn, &version.id).await?.ok_or_else(|| {
            SmError::ResourceNotFound(format!(
                "Secrets Manager can't find the specified secret value for VersionId: {}",
                version.id
            ))
        })?;
        let today = day_floor(self.clock.now_ms());
        if secret.last_accessed_ms != Some(today) || version.last_accessed_ms != Some(today) {
            // Date granularity (as AWS): at most one stamp per secret and version per day,
            // written off this request's path by the caching store (in batches).
            if let Err(e) = self
                .store
                .record_access(&secret.arn, &version.id, today)
                .await
            {
                tracing::warn!(secret_arn = %secret.arn, error = %e, "could not record LastAccessedDate");
            }
        }
        let (secret_string, secret_binary) = match value.kind {
            ValueKind::String => (
                Some(Sensitive::new(
                    String::from_utf8(value.bytes.to_vec())
                        .map_err(|_| SmError::decryption_failure())?,
                )),
                None,
            ),
            ValueKind::Binary => (None, Some(Sensitive::new(STANDARD.encode(&*value.bytes)))),
        };
        Ok(GetSecretValueResponse {
            arn: Some(secret.arn.clone()),
            name: Some(secret.name.clone()),
            version_id: Some(version.id.clone()),
            secret_binary,
            secret_string,
            version_stages: Some(version.stages.clone()),
            created_date: Some(ts(version.created_ms)),
        })
    }

    pub(super) async fn batch_get_secret_value(
        &self,
        input: BatchGetSecretValueRequest,
        gate: &super::Gate<'_>,
    ) -> Result<BatchGetSecretValueResponse, SmError> {
        // BatchGetSecretValue needs GetSecretValue on every secret it returns.
        let allowed = |secret: &Secret| {
            gate(
                "secretsmanager:GetSecretValue",
                &secret.arn,
                secret.resource_policy.as_deref(),
                Default::default(),
                &[],
            )
            .map_err(SmError::AccessDenied)
        };
        match (input.secret_id_list, input.filters) {
            (Some(ids), None) => {
                validate::list_len("secretIdList", ids.len(), 1, 20)?;
                if input.max_results.is_some() || input.next_token.is_some() {
                    return Err(SmError::InvalidParameter(
                        "MaxResults and NextToken can only be used with Filters.".into(),
                    ));
                }
                let mut out = Batch::default();
                for id in ids {
                    let res = match self.resolve(&id).await {
                        Ok(secret) => match allowed(&secret) {
                            Ok(()) => self.read_value(&secret, None, None, gate).await,
                            Err(e) => Err(e),
                        },
                        Err(e) => Err(e),
                    };
                    out.add(id, res)?;
                }
                Ok(out.response(None))
            }
            (None, Some(filters)) => {
                let limit = validate::max_results(input.max_results, 20)?.unwrap_or(20);
                // Filters list secrets: that needs ListSecrets.
                gate(
                    "secretsmanager:ListSecrets",
                    "*",
                    None,
                    Default::default(),
                    &[],
                )
                .map_err(SmError::AccessDenied)?;
                let (filters, fp) = self.parse_filters(&filters)?;
                let after = paging::decode_cursor(input.next_token.as_deref(), fp)?;
                let (page, next) = self
                    .listing(
                        &super::secrets::Shown {
                            filters: &filters,
                            include_deleted: false,
                            rotation_enabled: None,
                        },
                        SortBy::CreatedDate,
                        SortOrder::Asc,
                        after,
                        limit,
                    )
                    .await?;
                let next_token = next.map(|c| paging::encode_cursor(&c, fp));
                let mut out = Batch::default();
                for secret in page {
                    let res = match allowed(&secret) {
                        Ok(()) => self.read_value(&secret, None, None, gate).await,
                        Err(e) => Err(e),
                    };
                    out.add(secret.arn.clone(), res)?;
                }
                Ok(out.response(next_token))
            }
            _ => Err(SmError::InvalidParameter(
                "You must provide either SecretIdList or Filters, but not both.".into(),
            )),
        }
    }

    pub(super) async fn put_secret_value(
        &self,
        input: PutSecretValueRequest,
    ) -> Result<(PutSecretValueResponse, Option<String>), SmError> {
        let id = validate::required("secretId", input.secret_id)?;
        validate::client_request_token(input.client_request_token.as_deref())?;
        if let Some(stages) = &input.version_stages {
            validate::version_stages(stages)?;
        }
        // AWS's code and words for a PutSecretValue without a value: InvalidRequestException,
        // as moto's tests record it (put_secret_value with neither member)
        // and quoted from live Terraform applies ("InvalidRequestException: You must provide
        // either SecretString or SecretBinary.").
        let value = decode_value(input.secret_string, input.secret_binary)?.ok_or_else(|| {
            SmError::InvalidRequest("You must provide either SecretString or SecretBinary.".into())
        })?;
        let version_id = new_version_id(input.client_request_token);

        let now = self.clock.now_ms();
        let stages = input.version_stages;
        // The loop of `modify`, with the idempotency decision inside it (see there): the same
        // token with the same value succeeds without a new version, with another value
        // ResourceExistsException — decided on the copy of the secret the write commits over.
        let _serialised = self.lock_for(&id).await;
        for _ in 0..super::COMMIT_ATTEMPTS {
            let current = self.resolve(&id).await?;
            if current.is_scheduled_for_deletion() {
                return Err(SmError::marked_for_deletion());
            }
            match self.token_use(&current, &version_id, &value).await? {
                TokenUse::Unused => {}
                TokenUse::SameValue => {
                    let stages = current.version(&version_id).map(|v| v.stages.clone());
                    return Ok((
                        PutSecretValueResponse {
                            version_stages: Some(stages.unwrap_or_default()),
                            arn: Some(current.arn),
                            name: Some(current.name),
                            version_id: Some(version_id),
                        },
                        None,
                    ));
                }
                TokenUse::Vanished => continue,
            }
            let mut s = current.clone();
            let key_id = self.key_id_for(s.kms_key_id.as_deref())?;
            match s.versions.iter_mut().find(|v| v.id == version_id) {
                // A rotation's value-less AWSPENDING version is filled in by its createSecret
                // step (one with a value was answered above).
                Some(v) => {
                    v.has_value = true;
                    v.kms_key_id = Some(key_id.clone());
                }
                None => s.versions.push(new_version(&version_id, now, &key_id)),
            }
            labels::attach_to_new_version(&mut s.versions, &version_id, stages.as_deref())?;
            let abandoned_rotation = self.abandon_rotation(&mut s, &version_id, now);
            labels::prune_versions(&mut s.versions, now)?;
            s.last_changed_ms = now;
            let sealed = self.seal(&key_id, &s.arn, &version_id, &value)?;
            if !self
                .commit_over(&current, &mut s, vec![(version_id.clone(), sealed)])
                .await?
            {
                continue;
            }
            let stages = s.version(&version_id).map(|v| v.stages.clone());
            return Ok((
                PutSecretValueResponse {
                    version_stages: Some(stages.unwrap_or_default()),
                    arn: Some(s.arn),
                    name: Some(s.name),
                    version_id: Some(version_id),
                },
                abandoned_rotation,
            ));
        }
        Err(super::busy())
    }

    pub(super) async fn update_secret_version_stage(
        &self,
        input: UpdateSecretVersionStageRequest,
    ) -> Result<UpdateSecretVersionStageResponse, SmError> {
        let id = validate::required("secretId", input.secret_id)?;
        let stage = validate::required("versionStage", input.version_stage)?;
        validate::length("versionStage", &stage, 1, 256)?;
        for (member, v) in [
            ("removeFromVersionId", &input.remove_from_version_id),
            ("moveToVersionId", &input.move_to_version_id),
        ] {
            if let Some(v) = v {
                validate::length(member, v, 32, 64)?;
            }
        }
        let now = self.clock.now_ms();
        let (secret, ()) = self
            .modify(&id, |s| {
                if s.is_scheduled_for_deletion() {
                    return Err(SmError::marked_for_deletion());
                }
                let before = s.versions.clone();
                labels::update_version_stage(
                    &mut s.versions,
                    &stage,
                    input.remove_from_version_id.as_deref(),
                    input.move_to_version_id.as_deref(),
                )?;
                if s.versions != before {
                    s.last_changed_ms = now;
                }
                Ok(((), Vec::new()))
            })
            .await?;
        Ok(UpdateSecretVersionStageResponse {
            arn: Some(secret.arn),
            name: Some(secret.name),
        })
    }

    pub(super) async fn list_secret_version_ids(
        &self,
        input: ListSecretVersionIdsRequest,
    ) -> Result<ListSecretVersionIdsResponse, SmError> {
        let id = validate::required("secretId", input.secret_id)?;
        let limit = validate::max_results(input.max_results, 100)?.unwrap_or(100);
        let include_deprecated = input.include_deprecated.unwrap_or(false);
        let secret = self.resolve(&id).await?;
        let mut versions: Vec<&Version> = secret
            .versions
            .iter()
            .filter(|v| include_deprecated || !v.is_deprecated())
            .collect();
        versions.sort_by(|a, b| b.created_ms.cmp(&a.created_ms).then(a.id.cmp(&b.id)));
        let fp = paging::fingerprint(&[&secret.arn, if include_deprecated { "d" } else { "" }]);
        let offset = paging::decode(input.next_token.as_deref(), fp)?;
        let (page, next_token) = paging::page(versions, offset, limit, fp);
        let kms_arn_prefix = format!(
            "arn:{}:kms:{}:{}:key/",
            self.partition(),
            self.region,
            self.account_id
        );
        Ok(ListSecretVersionIdsResponse {
            versions: Some(
                page.into_iter()
                    .map(|v| SecretVersionsListEntry {
                        version_id: Some(v.id.clone()),
                        // Omitted for deprecated (label-less) versions, as AWS does.
                        version_stages: (!v.stages.is_empty()).then(|| v.stages.clone()),
                        last_accessed_date: v.last_accessed_ms.map(ts),
                        created_date: Some(ts(v.created_ms)),
                        kms_key_ids: Some(match v.kms_key_id.as_deref() {
                            // AWS names the managed key this way in version listings.
                            Some(k) if k == self.default_key_id => {
                                vec!["DefaultEncryptionKey".into()]
                            }
                            Some(k) => vec![format!("{kms_arn_prefix}{k}")],
                            None => Vec::new(),
                        }),
                    })
                    .collect(),
            ),
            next_token,
            arn: Some(secret.arn.clone()),
            name: Some(secret.name.clone()),
        })
    }
}

/// BatchGetSecretValue's answer as it is gathered: each secret's value or its error.
#[derive(Default)]
struct Batch {
    values: Vec<SecretValueEntry>,
    errors: Vec<APIErrorType>,
}

impl Batch {
    /// A failure to read one secret is reported beside the others, except an internal one.
    fn add(
        &mut self,
        secret_id: String,
        read: Result<GetSecretValueResponse, SmError>,
    ) -> Result<(), SmError> {
        match read {
            Ok(v) => self.values.push(SecretValueEntry {
                arn: v.arn,
                name: v.name,
                version_id: v.version_id,
                secret_binary: v.secret_binary,
                secret_string: v.secret_string,
                version_stages: v.version_stages,
                created_date: v.created_date,
            }),
            Err(SmError::Internal) => return Err(SmError::Internal),
            Err(e) => self.errors.push(APIErrorType {
                secret_id: Some(secret_id),
                error_code: Some(e.code().to_string()),
                message: Some(e.message().to_string()),
            }),
        }
        Ok(())
    }

    fn response(self, next_token: Option<String>) -> BatchGetSecretValueResponse {
        BatchGetSecretValueResponse {
            secret_values: Some(self.values),
            next_token,
            errors: Some(self.errors),
        }
    }
}

pub(super) fn new_version(id: &str, now: i64, key_id: &str) -> Version {
    Version {
        id: id.to_string(),
        stages: Vec::new(),
        created_ms: now,
        last_accessed_ms: None,
        has_value: true,
        kms_key_id: Some(key_id.to_string()),
    }
}

pub(super) fn existing_version_error(token: &str, arn: &str) -> SmError {
    SmError::ResourceExists(format!(
        "You can't use ClientRequestToken {token} because that value is already in use for a version of secret {arn}."
    ))
}

fn select_version<'a>(
    secret: &'a Secret,
    version_id: Option<&str>,
    stage: Option<&str>,
) -> Result<&'a Version, SmError> {
    let version = match version_id {
        Some(vid) => {
            let v = secret.version(vid).ok_or_else(|| {
                SmError::ResourceNotFound(format!(
                    "Secrets Manager can't find the specified secret value for VersionId: {vid}"
                ))
            })?;
            if let Some(stage) = stage
                && !v.has_stage(stage)
            {
                return Err(SmError::InvalidRequest(
                    "You provided a VersionStage that is not associated to the provided VersionId."
                        .into(),
                ));
            }
            v
        }
        None => {
            let stage = stage.unwrap_or(AWSCURRENT);
            secret.version_with_stage(stage).ok_or_else(|| {
                SmError::ResourceNotFound(format!(
                    "Secrets Manager can't find the specified secret value for staging label: {stage}"
                ))
            })?
        }
    };
    if !version.has_value {
        return Err(SmError::ResourceNotFound(format!(
            "Secrets Manager can't find the specified secret value for VersionId: {}",
            version.id
        )));
    }
    Ok(version)
}
