//! Secret lifecycle and metadata: CreateSecret, DescribeSecret, UpdateSecret, DeleteSecret,
//! RestoreSecret, ListSecrets.

use std::collections::BTreeMap;

use strongroom_domain::filters::{self, FilterView};
use strongroom_domain::secret::{AWSCURRENT, AWSPENDING, AWSPREVIOUS, MS_PER_DAY, Secret};
use strongroom_domain::{labels, names};
use strongroom_store::{SecretCursor, SecretKey, SecretWrite, SecretsPage, StoreError};

/// Secrets a listing call examines at most (see [`SecretsManager::listing`]).
const SCAN_BUDGET: usize = 2_000;
/// Secrets read from the store at a time by a filtered listing.
const SCAN_BATCH: usize = 250;

use super::shapes::*;
use super::ts;
use super::values::{decode_value, new_version, new_version_id};
use super::{SecretValue, SecretsManager, SmError, TokenUse, paging, tags, validate};

const DEFAULT_RECOVERY_WINDOW_DAYS: i64 = 30;

impl SecretsManager {
    /// CreateSecret, then its AddReplicaRegions (checked first, so a refused region creates
    /// nothing).
    pub(super) async fn create_secret(
        &self,
        mut input: CreateSecretRequest,
    ) -> Result<CreateSecretResponse, SmError> {
        if input.cross_account_primary_arn.is_some() {
            return Err(SmError::not_available(
                "CreateSecret with CrossAccountPrimaryARN",
                "cross-account replication",
            ));
        }
        let replicas = input.add_replica_regions.take();
        if let Some(r) = &replicas {
            strongroom_domain::replication::check_new_regions(
                r.iter().map(|x| x.region.as_deref().unwrap_or_default()),
                &self.region,
                &self.served_regions(),
            )?;
        }
        let force = input.force_overwrite_replica_secret == Some(true);
        let mut out = self.create_primary(input).await?;
        if let (Some(regions), Some(arn)) = (replicas, out.arn.clone()) {
            let (_, statuses) = self.add_replicas(&arn, &regions, force).await?;
            out.replication_status = Some(statuses);
        }
        Ok(out)
    }

    async fn create_primary(
        &self,
        input: CreateSecretRequest,
    ) -> Result<CreateSecretResponse, SmError> {
        let name = validate::required("name", input.name)?;
        validate::name(&name)?;
        validate::client_request_token(input.client_request_token.as_deref())?;
        validate::description(input.description.as_deref())?;
        validate::kms_key_id(input.kms_key_id.as_deref())?;
        validate::secret_type(input.type_.as_deref())?;
        let tags = tags::from_input(input.tags.unwrap_or_default())?;
        let value = decode_value(input.secret_string, input.secret_binary)?;
        let key_id = self.key_id_for(input.kms_key_id.as_deref())?;
        let token = input.client_request_token;

        let description = input.description.filter(|d| !d.is_empty());
        let kms_key_id = self.stored_kms_key_id(input.kms_key_id);
        // The name's uniqueness in the store is what serialises racing creates: the loser
        // reads the winner's secret and decides on it (its versions' values never change).
        for _ in 0..super::COMMIT_ATTEMPTS {
            if let Some(existing) = self.store.secret(SecretKey::Name(&name)).await? {
                match self
                    .create_conflict(existing, token.as_deref(), value.as_ref())
                    .await?
                {
                    Some(reply) => return Ok(reply),
                    // The secret went meanwhile (force-deleted): try to create it again.
                    None => continue,
                }
            }
            let now = self.clock.now_ms();
            let arn = names::secret_arn(
                &self.region,
                &self.account_id,
                &name,
                &names::random_suffix(),
            );
            let mut secret = Secret {
                arn: arn.clone(),
                name: name.clone(),
                description: description.clone(),
                kms_key_id: kms_key_id.clone(),
                secret_type: input.type_.clone(),
                tags: tags.clone(),
                tagged: !tags.is_empty(),
                created_ms: now,
                last_changed_ms: now,
                last_accessed_ms: None,
                deleted_ms: None,
                deletion_due_ms: None,
                resource_policy: None,
                rotation: Default::default(),
                replication: Default::default(),
                revision: 1,
                versions: Vec::new(),
            };
            let mut new_values = Vec::new();
            let mut version_id = None;
            if let Some(value) = &value {
                let vid = new_version_id(token.clone());
                secret.versions.push(new_version(&vid, now, &key_id));
                labels::attach_to_new_version(&mut secret.versions, &vid, None)?;
                new_values.push((vid.clone(), self.seal(&key_id, &arn, &vid, value)?));
                version_id = Some(vid);
            }
            let write = SecretWrite {
                expected_revision: None,
                secret,
                new_values,
                resealed: Vec::new(),
                stored_versions: None,
            };
            match self.store.commit(write).await {
                Ok(()) => {
                    return Ok(CreateSecretResponse {
                        arn: Some(arn),
                        name: Some(name),
                        version_id,
                        replication_status: None,
                    });
                }
                // Another request created it first: decide on its secret (next round).
                Err(StoreError::NameTaken) => continue,
                Err(e) => return Err(e.into()),
            }
        }
        Err(SmError::InvalidRequest(
            "The secret is being created and deleted by other requests at the same time; retry."
                .into(),
        ))
    }

    /// CreateSecret on a name in use: an idempotent retry (same token, same value) succeeds,
    /// anything else is refused. `None`: the secret or the token's version went meanwhile.
    async fn create_conflict(
        &self,
        existing: Secret,
        token: Option<&str>,
        value: Option<&SecretValue>,
    ) -> Result<Option<CreateSecretResponse>, SmError> {
        if existing.is_scheduled_for_deletion() {
            return Err(SmError::InvalidRequest(
                "You can't create this secret because a secret with this name is already scheduled for deletion."
                    .into(),
            ));
        }
        if let (Some(token), Some(value)) = (token, value) {
            match self.token_use(&existing, token, value).await? {
                TokenUse::SameValue => {
                    return Ok(Some(CreateSecretResponse {
                        arn: Some(existing.arn),
                        name: Some(existing.name),
                        version_id: Some(token.to_string()),
                        replication_status: None,
                    }));
                }
                TokenUse::Vanished => return Ok(None),
                // A value-less version with this id (a rotation's) is a token in use too.
                TokenUse::Unused if existing.version(token).is_some() => {
                    return Err(super::values::existing_version_error(token, &existing.arn));
                }
                TokenUse::Unused => {}
            }
        }
        Err(SmError::ResourceExists(format!(
            "The operation failed because the secret {} already exists.",
            existing.name
        )))
    }

    /// The managed key is shown as "no KmsKeyId", as AWS does.
    fn stored_kms_key_id(&self, given: Option<String>) -> Option<String> {
        given.filter(|k| {
            let bare = k.rsplit(':').next().unwrap_or(k);
            !k.is_empty() && bare != "alias/aws/secretsmanager" && bare != self.default_key_id
        })
    }

    pub(super) async fn describe_secret(
        &self,
        input: DescribeSecretRequest,
    ) -> Result<DescribeSecretResponse, SmError> {
        let id = validate::required("secretId", input.secret_id)?;
        let secret = self.resolve(&id).await?;
        let mut d = describe(&secret);
        d.version_ids_to_stages = version_map(&secret);
        if !secret.replication.replicas.is_empty() {
            d.replication_status = Some(self.replication_status(&secret).await);
        }
        Ok(d)
    }

    pub(super) async fn update_secret(
        &self,
        input: UpdateSecretRequest,
    ) -> Result<(UpdateSecretResponse, Option<String>), SmError> {
        let id = validate::required("secretId", input.secret_id)?;
        validate::client_request_token(input.client_request_token.as_deref())?;
        validate::description(input.description.as_deref())?;
        validate::kms_key_id(input.kms_key_id.as_deref())?;
        validate::secret_type(input.type_.as_deref())?;
        let new_key = input
            .kms_key_id
            .as_deref()
            .map(|k| self.key_id_for(Some(k)))
            .transpose()?;
        let value = decode_value(input.secret_string, input.secret_binary)?;
        let version_id = value
            .as_ref()
            .map(|_| new_version_id(input.client_request_token));
        let now = self.clock.now_ms();
        // The loop of `modify`, with the idempotency decision and the re-encryption's reads
        // inside it (see there).
        let _serialised = self.lock_for(&id).await;
        'attempt: for _ in 0..super::COMMIT_ATTEMPTS {
            let current = self.resolve(&id).await?;
            if current.is_scheduled_for_deletion() {
                return Err(SmError::marked_for_deletion());
            }
            // A retried UpdateSecret (same token, same value) succeeds without a new version,
            // as live AWS does (the operation docs say otherwise; clients retry with the same
            // token).
            if let (Some(vid), Some(v)) = (&version_id, &value) {
                match self.token_use(&current, vid, v).await? {
                    TokenUse::Unused => {}
                    TokenUse::SameValue => {
                        let out = UpdateSecretResponse {
                            arn: Some(current.arn),
                            name: Some(current.name),
                            version_id: Some(vid.clone()),
                        };
                        return Ok((out, None));
                    }
                    TokenUse::Vanished => continue,
                }
            }
            let mut s = current.clone();
            let mut abandoned_rotation = None;
            if let Some(d) = &input.description {
                s.description = Some(d.clone()).filter(|d| !d.is_empty());
            }
            let mut new_values = Vec::new();
            if let (Some(k), Some(key_id)) = (&input.kms_key_id, &new_key) {
                s.kms_key_id = self.stored_kms_key_id(Some(k.clone()));
                // A new key re-encrypts the versions labelled AWSCURRENT, AWSPENDING and
                // AWSPREVIOUS (as AWS), read from this same copy of the secret, so that a
                // version labelled meanwhile is not left under the old key.
                let arn = s.arn.clone();
                for v in s.versions.iter_mut().filter(|v| {
                    v.has_value
                        && v.kms_key_id.as_deref() != Some(key_id.as_str())
                        && v.stages
                            .iter()
                            .any(|l| matches!(l.as_str(), AWSCURRENT | AWSPENDING | AWSPREVIOUS))
                }) {
                    let Some(value) = self.open(&arn, &v.id).await? else {
                        continue 'attempt;
                    };
                    v.kms_key_id = Some(key_id.clone());
                    new_values.push((v.id.clone(), self.seal(key_id, &arn, &v.id, &value)?));
                }
            }
            if let Some(t) = &input.type_ {
                s.secret_type = Some(t.clone());
            }
            if let (Some(value), Some(vid)) = (&value, &version_id) {
                // Only a value-less version can be here (one with a value was answered
                // above): the token of a rotation in progress.
                if s.version(vid).is_some() {
                    return Err(super::values::existing_version_error(vid, &s.arn));
                }
                let key_id = self.key_id_for(s.kms_key_id.as_deref())?;
                s.versions.push(new_version(vid, now, &key_id));
                labels::attach_to_new_version(&mut s.versions, vid, None)?;
                abandoned_rotation = self.abandon_rotation(&mut s, vid, now);
                labels::prune_versions(&mut s.versions, now)?;
                new_values.push((vid.clone(), self.seal(&key_id, &s.arn, vid, value)?));
            }
            s.last_changed_ms = now;
            if self.commit_over(&current, &mut s, new_values).await? {
                let out = UpdateSecretResponse {
                    arn: Some(s.arn),
                    name: Some(s.name),
                    version_id,
                };
                return Ok((out, abandoned_rotation));
            }
        }
        Err(super::busy())
    }

    pub(super) async fn delete_secret(
        &self,
        input: DeleteSecretRequest,
    ) -> Result<DeleteSecretResponse, SmError> {
        let id = validate::required("secretId", input.secret_id)?;
        let force = input.force_delete_without_recovery.unwrap_or(false);
        // AWS checks the window's range first: ForceDeleteWithoutRecovery with an
        // out-of-range RecoveryWindowInDays is the range error, not the combination one.
        let days = input
            .recovery_window_in_days
            .unwrap_or(DEFAULT_RECOVERY_WINDOW_DAYS);
        if !(7..=30).contains(&days) {
            return Err(SmError::InvalidParameter(
                "The RecoveryWindowInDays value must be between 7 and 30 days (inclusive).".into(),
            ));
        }
        if force && input.recovery_window_in_days.is_some() {
            return Err(SmError::InvalidParameter(
                "You can't use ForceDeleteWithoutRecovery in conjunction with RecoveryWindowInDays.".into(),
            ));
        }
        let now = self.clock.now_ms();
        if let Ok(secret) = self.resolve(&id).await {
            check_deletable(&secret)?;
        }
        if force {
            // AWS: forcibly deleting a deleted or nonexistent secret is not ResourceNotFound.
            return match self.resolve(&id).await {
                Ok(secret) => {
                    self.store.purge(&secret.arn).await?;
                    tracing::info!(secret_arn = %secret.arn, "secret deleted without recovery");
                    Ok(DeleteSecretResponse {
                        arn: Some(secret.arn),
                        name: Some(secret.name),
                        deletion_date: Some(ts(now)),
                    })
                }
                Err(SmError::ResourceNotFound(_)) => {
                    let name = id
                        .strip_prefix(&self.arn_prefix())
                        .unwrap_or(&id)
                        .to_string();
                    let arn = if id.starts_with("arn:") {
                        id.clone()
                    } else {
                        format!("{}{}", self.arn_prefix(), id)
                    };
                    Ok(DeleteSecretResponse {
                        arn: Some(arn),
                        name: Some(name),
                        deletion_date: Some(ts(now)),
                    })
                }
                Err(e) => Err(e),
            };
        }
        let due = now + days * MS_PER_DAY;
        let (secret, ()) = self
            .modify(&id, |s| {
                check_deletable(s)?;
                if s.is_scheduled_for_deletion() {
                    return Err(SmError::InvalidRequest(
                        "You can't perform this operation on the secret because it was already scheduled for deletion."
                            .into(),
                    ));
                }
                s.deleted_ms = Some(now);
                s.deletion_due_ms = Some(due);
                s.last_changed_ms = now;
                Ok(((), Vec::new()))
            })
            .await?;
        Ok(DeleteSecretResponse {
            arn: Some(secret.arn),
            name: Some(secret.name),
            deletion_date: Some(ts(due)),
        })
    }

    pub(super) async fn restore_secret(
        &self,
        input: RestoreSecretRequest,
    ) -> Result<RestoreSecretResponse, SmError> {
        let id = validate::required("secretId", input.secret_id)?;
        let now = self.clock.now_ms();
        let (secret, ()) = self
            .modify(&id, |s| {
                if s.is_scheduled_for_deletion() {
                    s.deleted_ms = None;
                    s.deletion_due_ms = None;
                    s.last_changed_ms = now;
                }
                Ok(((), Vec::new()))
            })
            .await?;
        Ok(RestoreSecretResponse {
            arn: Some(secret.arn),
            name: Some(secret.name),
        })
    }

    pub(super) async fn list_secrets(
        &self,
        input: ListSecretsRequest,
    ) -> Result<ListSecretsResponse, SmError> {
        let sort_by = input
            .sort_by
            .as_deref()
            .map(filters::SortBy::parse)
            .transpose()?
            .unwrap_or_default();
        self.list_sorted(input, sort_by, None).await
    }

    /// The web console's listing ([`super::console_listing`]): ListSecrets with its sorts
    /// by description and next rotation, and a filter on rotation being on or off.
    pub async fn console_list_secrets(
        &self,
        input: ListSecretsRequest,
        rotation_enabled: Option<bool>,
    ) -> Result<ListSecretsResponse, SmError> {
        let sort_by = input
            .sort_by
            .as_deref()
            .map(filters::SortBy::parse_console)
            .transpose()?
            .unwrap_or_default();
        self.list_sorted(input, sort_by, rotation_enabled).await
    }

    async fn list_sorted(
        &self,
        input: ListSecretsRequest,
        sort_by: filters::SortBy,
        rotation_enabled: Option<bool>,
    ) -> Result<ListSecretsResponse, SmError> {
        let limit = validate::max_results(input.max_results, 100)?.unwrap_or(100);
        let include_deleted = input.include_planned_deletion.unwrap_or(false);
        let (filters, filter_fp) =
            self.parse_filters(input.filters.as_deref().unwrap_or_default())?;
        let order = input
            .sort_order
            .as_deref()
            .map(filters::SortOrder::parse)
            .transpose()?
            .unwrap_or_default();
        // ListSecrets' fingerprint as it always was; the console's rotation filter adds to it.
        let rotation_fp = rotation_enabled.map_or(String::new(), |on| format!("rotation={on}"));
        let fp = paging::fingerprint(&[
            &filter_fp.to_string(),
            &format!("{sort_by:?}{order:?}{include_deleted}{rotation_fp}"),
        ]);
        let after = paging::decode_cursor(input.next_token.as_deref(), fp)?;
        let shown = Shown {
            filters: &filters,
            include_deleted,
            rotation_enabled,
        };
        let (page, next) = self.listing(&shown, sort_by, order, after, limit).await?;
        Ok(ListSecretsResponse {
            secret_list: Some(page.iter().map(list_entry).collect()),
            next_token: next.map(|c| paging::encode_cursor(&c, fp)),
        })
    }

    /// Parse request filters; also returns a fingerprint of them for NextToken binding.
    pub(super) fn parse_filters(
        &self,
        raw: &[Filter],
    ) -> Result<(Vec<filters::Filter>, u64), SmError> {
        let pairs: Vec<(String, Vec<String>)> = raw
            .iter()
            .map(|f| {
                (
                    f.key.clone().unwrap_or_default(),
                    f.values.clone().unwrap_or_default(),
                )
            })
            .collect();
        let parsed = filters::parse_filters(&pairs)?;
        let flat: Vec<String> = pairs
            .iter()
            .map(|(k, vs)| format!("{k}={}", vs.join("\u{1}")))
            .collect();
        let refs: Vec<&str> = flat.iter().map(String::as_str).collect();
        Ok((parsed, paging::fingerprint(&refs)))
    }

    /// One page of the secrets a listing shows, filtered, in a total order, after `after`;
    /// with where the next page starts when there may be more. Read from the store's index of
    /// the sort in batches, examining at most [`SCAN_BUDGET`] secrets: a selective filter
    /// over a large store answers a short (even empty) page with a NextToken, as AWS documents
    /// a page may ("fewer than MaxResults ... while NextToken is present").
    pub(super) async fn listing(
        &self,
        shown: &Shown<'_>,
        sort_by: filters::SortBy,
        order: filters::SortOrder,
        mut after: Option<SecretCursor>,
        limit: usize,
    ) -> Result<(Vec<Secret>, Option<SecretCursor>), SmError> {
        let name_prefix = (sort_by == filters::SortBy::Name)
            .then(|| filters::index_prefix(shown.filters, filters::FilterKey::Name))
            .flatten();
        let everything =
            shown.filters.is_empty() && shown.include_deleted && shown.rotation_enabled.is_none();
        let mut out: Vec<Secret> = Vec::new();
        let mut examined = 0;
        // One more than the page tells whether there is a next one: all that an unfiltered
        // listing reads, and the first batch of any, as SSM's listings do (ListSecrets hides
        // secrets planned for deletion by default, so reading 250 for a page of 100 made each
        // page at a million secrets read 150 more rows at random).
        let mut want = limit + 1;
        loop {
            let batch = self
                .store
                .secrets_page(&SecretsPage {
                    sort_by,
                    order,
                    after: after.as_ref(),
                    name_prefix,
                    limit: want,
                })
                .await?;
            let exhausted = batch.len() < want;
            for s in batch {
                if self.shows(shown, &s) {
                    if out.len() == limit {
                        // `after` is the last secret examined: the next page starts here.
                        return Ok((out, after));
                    }
                    out.push(s);
                    after = out.last().map(|s| SecretCursor::of(sort_by, order, s));
                } else {
                    after = Some(SecretCursor::of(sort_by, order, &s));
                }
                examined += 1;
            }
            if exhausted {
                return Ok((out, None));
            }
            if out.len() == limit || examined >= SCAN_BUDGET {
                return Ok((out, after));
            }
            want = if everything {
                limit + 1 - out.len()
            } else {
                SCAN_BATCH
            };
        }
    }

    fn shows(&self, shown: &Shown<'_>, s: &Secret) -> bool {
        (shown.include_deleted || !s.is_scheduled_for_deletion())
            && shown
                .rotation_enabled
                .is_none_or(|on| s.rotation.enabled == on)
            && self.matches(shown.filters, s)
    }

    fn matches(&self, filters: &[filters::Filter], s: &Secret) -> bool {
        let tags: Vec<(String, String)> = s
            .tags
            .iter()
            .map(|t| (t.key.clone(), t.value.clone()))
            .collect();
        filters::matches(
            filters,
            &FilterView {
                name: &s.name,
                description: s.description.as_deref(),
                tags: &tags,
                primary_region: primary_region(s).as_deref(),
                owning_service: None,
            },
        )
    }
}

/// Which secrets a listing shows.
pub(super) struct Shown<'a> {
    pub(super) filters: &'a [filters::Filter],
    pub(super) include_deleted: bool,
    /// The console's filter: only secrets whose rotation is on (`true`) or off.
    pub(super) rotation_enabled: Option<bool>,
}

/// A replica is removed from its primary, and a primary only once it has no replicas.
fn check_deletable(s: &Secret) -> Result<(), SmError> {
    use strongroom_domain::replication::ReplicationError;
    if s.replication.is_replica() {
        return Err(ReplicationError::IsReplica.into());
    }
    if !s.replication.replicas.is_empty() {
        return Err(ReplicationError::HasReplicas {
            arn: s.arn.clone(),
            regions: s
                .replication
                .replicas
                .iter()
                .map(|r| r.region.clone())
                .collect(),
        }
        .into());
    }
    Ok(())
}

/// The region a secret's PrimaryRegion names: a replica's primary's, a replicated primary's
/// own; none for a secret that is not replicated.
fn primary_region(s: &Secret) -> Option<String> {
    let own = s.arn.split(':').nth(3).map(str::to_string);
    match &s.replication.primary_region {
        Some(r) => Some(r.clone()),
        None if !s.replication.replicas.is_empty() => own,
        None => None,
    }
}

/// DescribeSecret's answer, without VersionIdsToStages.
fn describe(s: &Secret) -> DescribeSecretResponse {
    DescribeSecretResponse {
        arn: Some(s.arn.clone()),
        name: Some(s.name.clone()),
        type_: s.secret_type.clone(),
        description: s.description.clone(),
        kms_key_id: s.kms_key_id.clone(),
        last_changed_date: Some(ts(s.last_changed_ms)),
        last_accessed_date: s.last_accessed_ms.map(ts),
        deleted_date: s.deleted_ms.map(ts),
        // `[]` once the last tag is removed, as AWS answers (absent if never tagged).
        tags: (s.tagged || !s.tags.is_empty()).then(|| tags::to_output(&s.tags)),
        created_date: Some(ts(s.created_ms)),
        primary_region: primary_region(s),
        ..super::rotation::describe(&s.rotation)
    }
}

/// ListSecrets shows the members DescribeSecret does, its version map named
/// SecretVersionsToStages.
fn list_entry(s: &Secret) -> SecretListEntry {
    let d = describe(s);
    SecretListEntry {
        arn: d.arn,
        name: d.name,
        type_: d.type_,
        description: d.description,
        kms_key_id: d.kms_key_id,
        rotation_enabled: d.rotation_enabled,
        rotation_lambda_arn: d.rotation_lambda_arn,
        rotation_rules: d.rotation_rules,
        external_secret_rotation_metadata: d.external_secret_rotation_metadata,
        external_secret_rotation_role_arn: d.external_secret_rotation_role_arn,
        last_rotated_date: d.last_rotated_date,
        last_changed_date: d.last_changed_date,
        last_accessed_date: d.last_accessed_date,
        deleted_date: d.deleted_date,
        next_rotation_date: d.next_rotation_date,
        tags: d.tags,
        secret_versions_to_stages: version_map(s),
        owning_service: d.owning_service,
        created_date: d.created_date,
        primary_region: d.primary_region,
    }
}

/// Only returned when the secret has labelled versions, as AWS does.
fn version_map(s: &Secret) -> Option<BTreeMap<String, Vec<String>>> {
    let map: BTreeMap<String, Vec<String>> = s
        .labelled_versions()
        .map(|v| (v.id.clone(), v.stages.clone()))
        .collect();
    (!map.is_empty()).then_some(map)
}
