//! AWS Secrets Manager (JSON 1.1, `X-Amz-Target: secretsmanager.<Operation>`).
//!
//! One function per operation, grouped by family: [`secrets`] (lifecycle and metadata),
//! [`values`] (versions and values), [`tags`], [`random`]. The rules they apply live in
//! `strongroom-domain`; this layer validates input, loads, applies, seals and commits.

mod api;
pub mod console_listing;
mod error;
pub mod ops;
pub mod shapes;

use crate::pipeline::Operation as _;
use shapes::Input;
mod paging;
mod policy;
mod random;
pub mod remote;
mod replication;
pub mod rotation;
mod secrets;
mod tags;
mod validate;
mod values;

pub use error::SmError;

/// An authorization check: (IAM action, resource ARN, the resource's policy document,
/// condition keys, the principals a KMS grant allows the use) → allowed or the AccessDenied
/// message.
pub type Gate<'a> =
    dyn Fn(&str, &str, Option<&str>, Keys, &[String]) -> Result<(), String> + Sync + 'a;

/// Let every check pass (the root principal, tests).
pub fn open_gate(_: &str, _: &str, _: Option<&str>, _: Keys, _: &[String]) -> Result<(), String> {
    Ok(())
}

/// AWS JSON timestamps are epoch seconds as a number.
pub(crate) use crate::clock::epoch_seconds as ts;

/// The members of a request that decide its authorization.
#[derive(Default)]
pub struct TargetRequest<'a> {
    pub operation: &'a str,
    pub secret_id: Option<&'a str>,
    /// CreateSecret's name.
    pub name: Option<&'a str>,
    pub tags: Option<&'a [shapes::Tag]>,
    pub version_id: Option<&'a str>,
    pub version_stage: Option<&'a str>,
}

/// What a request is authorized against.
pub struct AuthorizationTarget {
    pub action: String,
    pub resource: String,
    /// The secret's resource policy, if it has one.
    pub resource_policy: Option<String>,
    pub keys: Keys,
    /// The secret the request names, already resolved: the operation need not look it up
    /// again (GetSecretValue's hot path). Shared with the store's cache, not copied.
    pub secret: Option<Arc<Secret>>,
}

use std::collections::HashMap;
use std::sync::Arc;

use serde::Serialize;
use strongroom_barrier::{Barrier, ValueBinding};
use strongroom_domain::names::{SecretRef, parse_secret_id};
use strongroom_domain::secret::{Secret, ValueKind};
use strongroom_policy::matching::Keys;
use strongroom_store::{SecretKey, SecretWrite, Store, StoreError, StoredValue};
use zeroize::Zeroizing;

use crate::audit::ServiceEvent;
use crate::clock::Clock;
use crate::services::kms::{Kms, SECRETS_MANAGER_KEY, ServiceKeyError};

/// How often a write re-reads and re-applies after losing an optimistic-concurrency race.
const COMMIT_ATTEMPTS: usize = 5;

pub struct SecretsManager {
    store: Arc<dyn Store>,
    barrier: Arc<Barrier>,
    clock: Arc<dyn Clock>,
    region: String,
    account_id: String,
    /// Key id of the managed key `aws/secretsmanager`.
    default_key_id: String,
    /// One lock per secret (by name) serialising its read-modify-write cycles in this
    /// process: concurrent writers to one secret would otherwise burn their retries on
    /// conflicts. Writes to different secrets run at once (and share the store's group
    /// commits). The revision check still guards against other processes and nodes.
    write_locks: std::sync::Mutex<HashMap<String, std::sync::Weak<tokio::sync::Mutex<()>>>>,
    rotation_queue: std::sync::OnceLock<rotation::RotationQueue>,
    /// The keys values are sealed under (customer keys also need the caller's KMS permission).
    kms: Arc<Kms>,
    /// The other regions' Secrets Managers (replication), connected once at start.
    peers: std::sync::OnceLock<Vec<std::sync::Weak<SecretsManager>>>,
    /// Regions of peer deployments this region replicates to ([`remote`]).
    outbox: std::sync::OnceLock<remote::Outbox>,
}

impl SecretsManager {
    pub fn new(
        store: Arc<dyn Store>,
        barrier: Arc<Barrier>,
        clock: Arc<dyn Clock>,
        region: String,
        account_id: String,
        default_key_id: String,
        kms: Arc<Kms>,
    ) -> Self {
        Self {
            store,
            barrier,
            clock,
            region,
            account_id,
            default_key_id,
            write_locks: Default::default(),
            rotation_queue: std::sync::OnceLock::new(),
            kms,
            peers: std::sync::OnceLock::new(),
            outbox: std::sync::OnceLock::new(),
        }
    }

    /// The IAM action, resource ARN and condition keys a request is authorized against
    /// (the secret's ARN, its tags, the requested name and tags).
    pub async fn authorization_target(&self, r: &TargetRequest<'_>) -> AuthorizationTarget {
        let mut resource_policy = None;
        let mut resolved = None;
        let action = format!("secretsmanager:{}", r.operation);
        let mut keys = Keys::new();
        if let Some(tags) = r.tags {
            let pairs: Vec<(String, String)> = tags
                .iter()
                .filter_map(|t| Some((t.key.clone()?, t.value.clone()?)))
                .collect();
            crate::services::insert_request_tags(&mut keys, &pairs);
        }
        let mut put = |k: &str, vals: Vec<String>| {
            keys.insert(k.to_ascii_lowercase(), vals);
        };
        if let Some(x) = r.version_stage {
            put("secretsmanager:VersionStage", vec![x.to_string()]);
        }
        if let Some(x) = r.version_id {
            put("secretsmanager:VersionId", vec![x.to_string()]);
        }
        let resource = match r.operation {
            "CreateSecret" => {
                let name = r.name.unwrap_or_default();
                put("secretsmanager:Name", vec![name.to_string()]);
                // The random suffix does not exist yet: policies see six placeholder
                // characters, so `NAME-*` and `NAME-??????` both match.
                format!("{}{name}-??????", self.arn_prefix())
            }
            "ListSecrets" | "GetRandomPassword" | "BatchGetSecretValue" => "*".to_string(),
            _ => match r.secret_id {
                Some(id) => match self.resolve_shared(id).await {
                    Ok(secret) => {
                        put("secretsmanager:SecretId", vec![secret.arn.clone()]);
                        resource_policy = secret.resource_policy.clone();
                        for t in &secret.tags {
                            put(
                                &format!("secretsmanager:ResourceTag/{}", t.key),
                                vec![t.value.clone()],
                            );
                            put(&format!("aws:ResourceTag/{}", t.key), vec![t.value.clone()]);
                        }
                        let arn = secret.arn.clone();
                        resolved = Some(secret);
                        arn
                    }
                    // Unknown secrets are authorized against the ARN they would have, so a
                    // denied caller learns nothing about what exists.
                    Err(_) if id.starts_with("arn:") => id.to_string(),
                    Err(_) => format!("{}{id}", self.arn_prefix()),
                },
                None => "*".to_string(),
            },
        };
        AuthorizationTarget {
            action,
            resource,
            resource_policy,
            keys,
            secret: resolved,
        }
    }

    /// Run one (authorized) operation; `gate` authorizes the inner checks some operations
    /// need (KMS use on the caller's behalf, BatchGetSecretValue's per-secret
    /// GetSecretValue). `resolved`: the secret authorization already read.
    pub async fn call(
        &self,
        input: &Input,
        gate: &Gate<'_>,
        resolved: Option<Arc<Secret>>,
        events: &mut Vec<ServiceEvent>,
    ) -> Result<Zeroizing<Vec<u8>>, SmError> {
        if matches!(
            input,
            Input::CreateSecret(_) | Input::UpdateSecret(_) | Input::PutSecretValue(_)
        ) {
            self.kms_write_allowed(input, gate).await?;
        }
        // The large operations' futures are boxed — the writes' (each holds a store
        // commit's state, ~5 KB) and BatchGetSecretValue's: inline they would size every
        // request's future, a read's included, to the largest of them, and axum copies that
        // future to the heap on every request (the copy was 1.9% of a read's samples). The
        // small reads stay inline (GetSecretValue's is ~450 bytes).
        match input {
            Input::CreateSecret(i) => respond(Box::pin(self.create_secret(i.clone())).await),
            Input::DescribeSecret(i) => respond(self.describe_secret(i.clone()).await),
            Input::UpdateSecret(i) => {
                let (out, abandoned_rotation) = Box::pin(self.update_secret(i.clone())).await?;
                abandoned(events, &out.arn, &out.name, abandoned_rotation.as_deref());
                respond(Ok(out))
            }
            Input::DeleteSecret(i) => respond(Box::pin(self.delete_secret(i.clone())).await),
            Input::RestoreSecret(i) => respond(Box::pin(self.restore_secret(i.clone())).await),
            Input::ListSecrets(i) => respond(self.list_secrets(i.clone()).await),
            Input::GetSecretValue(i) => {
                respond(self.get_secret_value(i.clone(), resolved, gate).await)
            }
            Input::BatchGetSecretValue(i) => {
                respond(Box::pin(self.batch_get_secret_value(i.clone(), gate)).await)
            }
            Input::PutSecretValue(i) => {
                let (out, abandoned_rotation) = Box::pin(self.put_secret_value(i.clone())).await?;
                abandoned(events, &out.arn, &out.name, abandoned_rotation.as_deref());
                respond(Ok(out))
            }
            Input::UpdateSecretVersionStage(i) => {
                respond(Box::pin(self.update_secret_version_stage(i.clone())).await)
            }
            Input::ListSecretVersionIds(i) => {
                respond(self.list_secret_version_ids(i.clone()).await)
            }
            Input::TagResource(i) => Box::pin(self.tag_resource(i.clone()))
                .await
                .map(|()| empty()),
            Input::UntagResource(i) => Box::pin(self.untag_resource(i.clone()))
                .await
                .map(|()| empty()),
            Input::GetRandomPassword(i) => respond(self.get_random_password(i.clone())),
            Input::RotateSecret(i) => respond(Box::pin(self.rotate_secret(i.clone(), gate)).await),
            Input::CancelRotateSecret(i) => {
                respond(Box::pin(self.cancel_rotate_secret(i.clone())).await)
            }
            Input::PutResourcePolicy(i) => {
                respond(Box::pin(self.put_resource_policy(i.clone())).await)
            }
            Input::GetResourcePolicy(i) => respond(self.get_resource_policy(i.clone()).await),
            Input::DeleteResourcePolicy(i) => {
                respond(Box::pin(self.delete_resource_policy(i.clone())).await)
            }
            Input::ValidateResourcePolicy(i) => {
                respond(self.validate_resource_policy(i.clone()).await)
            }
            Input::ReplicateSecretToRegions(i) => {
                respond(Box::pin(self.replicate_secret_to_regions(i.clone())).await)
            }
            Input::RemoveRegionsFromReplication(i) => {
                respond(Box::pin(self.remove_regions_from_replication(i.clone())).await)
            }
            Input::StopReplicationToReplica(i) => {
                respond(Box::pin(self.stop_replication_to_replica(i.clone())).await)
            }
            Input::PutReplicaSecret(i) => respond(Box::pin(self.put_replica_secret(i)).await),
            Input::DeleteReplicaSecret(i) => respond(Box::pin(self.delete_replica_secret(i)).await),
            Input::NotOffered(op, _) if *op == ops::Op::ListResourcePolicies => Err(
                SmError::not_available(op.name(), "multiple named resource policies"),
            ),
            Input::NotOffered(op, _) => Err(SmError::not_available(
                op.name(),
                "cross-account replication",
            )),
        }
    }

    /// GetSecretValue for another service (Parameter Store's `/aws/reference/secretsmanager/`
    /// parameters): authorized through `gate` exactly as a direct call is.
    pub async fn get_secret_value_for(
        &self,
        input: shapes::GetSecretValueRequest,
        gate: &Gate<'_>,
    ) -> Result<shapes::GetSecretValueResponse, SmError> {
        let mut t = self
            .authorization_target(&TargetRequest {
                operation: "GetSecretValue",
                secret_id: input.secret_id.as_deref(),
                version_id: input.version_id.as_deref(),
                version_stage: input.version_stage.as_deref(),
                ..Default::default()
            })
            .await;
        gate(
            &t.action,
            &t.resource,
            t.resource_policy.as_deref(),
            t.keys,
            &[],
        )
        .map_err(SmError::AccessDenied)?;
        self.get_secret_value(input, t.secret.take(), gate).await
    }

    /// How many secrets exist, including those scheduled for deletion (ResourceCount).
    pub async fn count(&self) -> Result<usize, SmError> {
        Ok(self.store.secret_count().await?)
    }

    /// Delete the secrets whose recovery window has ended; returns their ARNs.
    pub async fn purge_expired(&self) -> Result<Vec<String>, SmError> {
        let now = self.clock.now_ms();
        let mut purged = Vec::new();
        for arn in self.store.due_for_purge(now).await? {
            if self.store.purge(&arn).await? {
                tracing::info!(secret_arn = %arn, "purged secret after its recovery window");
                purged.push(arn);
            }
        }
        Ok(purged)
    }

    fn partition(&self) -> &'static str {
        strongroom_domain::partition_of(&self.region)
    }

    fn arn_prefix(&self) -> String {
        format!(
            "arn:{}:secretsmanager:{}:{}:secret:",
            self.partition(),
            self.region,
            self.account_id
        )
    }

    /// The (ARN, name) of the secret a successful call whose response names none touched
    /// (TagResource, UntagResource, ValidateResourcePolicy), for its audit record.
    pub async fn touched(&self, input: &Input) -> Option<(String, String)> {
        let id = match input {
            Input::TagResource(i) => i.secret_id.as_deref(),
            Input::UntagResource(i) => i.secret_id.as_deref(),
            Input::ValidateResourcePolicy(i) => i.secret_id.as_deref(),
            _ => None,
        }?;
        let secret = self.resolve(id).await.ok()?;
        Some((secret.arn, secret.name))
    }

    /// Find a secret by name, full ARN or partial ARN (an ARN without the 6-character suffix);
    /// the classification rules live in `strongroom_domain::names`.
    async fn resolve(&self, id: &str) -> Result<Secret, SmError> {
        self.resolve_shared(id).await.map(Arc::unwrap_or_clone)
    }

    /// [`Self::resolve`] for reading: the store's cached copy itself, not a copy of it.
    async fn resolve_shared(&self, id: &str) -> Result<Arc<Secret>, SmError> {
        strongroom_domain::names::validate_secret_id(id)?;
        let found = match parse_secret_id(id, &self.region, &self.account_id) {
            SecretRef::Name(name) | SecretRef::PartialArn { name } => {
                self.store.secret_shared(SecretKey::Name(&name)).await?
            }
            // A full ARN matches exactly; AWS does not fall back to a secret whose own name
            // ends in what looks like the random suffix.
            SecretRef::FullArn(arn) => self.store.secret_shared(SecretKey::Arn(&arn)).await?,
            SecretRef::ForeignArn(_) => None,
        };
        found.ok_or_else(SmError::not_found)
    }

    /// Read-modify-write with optimistic concurrency: `apply` edits a fresh copy of the secret
    /// and returns the new values to store; on a lost race the whole step runs again.
    ///
    /// Writes that decide a repeated ClientRequestToken (PutSecretValue, UpdateSecret) run
    /// this same loop themselves, with the decision inside it (it needs to open a stored
    /// value, which `apply` cannot): the decision and the write are then one atomic step. A
    /// retry racing its original either sees the original's version and compares values, or
    /// commits first and the original sees the retry's. Across processes sharing a store the
    /// same holds through the revision check: a write decided on a stale revision conflicts
    /// and is decided again.
    /// Hold the write lock of the secret named `name` (see `write_locks`).
    async fn lock_secret(&self, name: &str) -> tokio::sync::OwnedMutexGuard<()> {
        let lock = {
            let mut locks = self.write_locks.lock().unwrap_or_else(|e| e.into_inner());
            match locks.get(name).and_then(std::sync::Weak::upgrade) {
                Some(lock) => lock,
                None => {
                    // Locks nobody holds any more go now and then, so the map stays small.
                    if locks.len() >= 1024 {
                        locks.retain(|_, l| l.strong_count() > 0);
                    }
                    let lock = Arc::new(tokio::sync::Mutex::new(()));
                    locks.insert(name.to_string(), Arc::downgrade(&lock));
                    lock
                }
            }
        };
        lock.lock_owned().await
    }

    /// The write lock of the secret `id` (name or ARN) names; an id naming no secret locks
    /// that id (the write then fails, or creates a secret of that name).
    async fn lock_for(&self, id: &str) -> tokio::sync::OwnedMutexGuard<()> {
        match self.resolve(id).await {
            Ok(s) => self.lock_secret(&s.name).await,
            Err(_) => self.lock_secret(id).await,
        }
    }

    async fn modify<T>(
        &self,
        id: &str,
        mut apply: impl FnMut(&mut Secret) -> Result<(T, Vec<(String, StoredValue)>), SmError>,
    ) -> Result<(Secret, T), SmError> {
        let _serialised = self.lock_for(id).await;
        for _ in 0..COMMIT_ATTEMPTS {
            let current = self.resolve(id).await?;
            let mut next = current.clone();
            let (out, new_values) = apply(&mut next)?;
            if self.commit_over(&current, &mut next, new_values).await? {
                return Ok((next, out));
            }
        }
        Err(busy())
    }

    /// One attempt of a read-modify-write (under `write_lock`): store `next`, an edited copy
    /// of `current`, and its new values if the stored secret is still at `current`'s
    /// revision. `false`: another write came first; read again.
    async fn commit_over(
        &self,
        current: &Secret,
        next: &mut Secret,
        new_values: Vec<(String, StoredValue)>,
    ) -> Result<bool, SmError> {
        if current.replication.is_replica() {
            return Err(strongroom_domain::replication::ReplicationError::IsReplica.into());
        }
        if *next == *current && new_values.is_empty() {
            return Ok(true);
        }
        next.revision = current.revision + 1;
        // A value for a version that already has one is the same value sealed again.
        let (resealed, new_values) = new_values
            .into_iter()
            .partition(|(id, _)| current.version(id).is_some_and(|v| v.has_value));
        let write = SecretWrite {
            expected_revision: Some(current.revision),
            secret: next.clone(),
            new_values,
            resealed,
            // What the write was computed from is what is stored at its revision.
            stored_versions: Some(current.versions.clone()),
        };
        match self.store.commit(write).await {
            Ok(()) => {
                // A primary's replicas follow every change, in the same request.
                if !next.replication.replicas.is_empty() {
                    *next = self.sync_replicas(next.clone(), false, None).await;
                }
                Ok(true)
            }
            Err(StoreError::Conflict) => Ok(false),
            Err(e) => Err(e.into()),
        }
    }

    /// How a write's ClientRequestToken relates to the secret as it stands (decided under the write
    /// lock, see [`Self::modify`]; CreateSecret decides on the secret its lost name race
    /// revealed).
    ///
    /// The values are compared by opening the stored one (one data-key unwrap and one AES-GCM
    /// open, on a repeated token only) and comparing plaintexts in constant time. A keyed
    /// digest stored beside each version would avoid the open, but it is one more thing
    /// derived from every secret value kept at rest (an oracle for guesses to whoever holds
    /// its key), needs its own key and a migration, and the sealed value is already there.
    async fn token_use(
        &self,
        current: &Secret,
        version_id: &str,
        value: &SecretValue,
    ) -> Result<TokenUse, SmError> {
        // A value-less version (a rotation's AWSPENDING before its createSecret step) is not
        // a use of the token with a value: each write decides for itself what to do with it.
        if !current.version(version_id).is_some_and(|v| v.has_value) {
            return Ok(TokenUse::Unused);
        }
        match self.open(&current.arn, version_id).await? {
            Some(stored) if stored == *value => Ok(TokenUse::SameValue),
            Some(_) => Err(values::existing_version_error(version_id, &current.arn)),
            // Removed since `current` was read (pruned, or the secret force-deleted).
            None => Ok(TokenUse::Vanished),
        }
    }

    /// Resolve a KmsKeyId given by a caller (or the managed key) to a usable key's id.
    fn key_id_for(&self, kms_key_id: Option<&str>) -> Result<String, SmError> {
        match self.kms.key_for_service(kms_key_id, SECRETS_MANAGER_KEY) {
            Ok(k) => Ok(k.key_id),
            Err(ServiceKeyError::NotFound) => Err(SmError::EncryptionFailure(format!(
                "Secrets Manager can't encrypt with the KMS key {}: no such key. Omit KmsKeyId to use aws/secretsmanager.",
                kms_key_id.unwrap_or_default()
            ))),
            Err(ServiceKeyError::Unusable(_)) => Err(SmError::EncryptionFailure(
                "Secrets Manager can't encrypt the protected secret text using the provided KMS key. Check that the KMS key is available, enabled, and not in an invalid state.".into(),
            )),
        }
    }

    /// A write that seals under a customer managed key needs the caller's
    /// kms:GenerateDataKey on it (Secrets Manager calls KMS on the caller's behalf);
    /// the managed aws/secretsmanager key needs nothing. Unknown keys and secrets are left
    /// for the operation to report.
    async fn kms_write_allowed(&self, input: &Input, gate: &Gate<'_>) -> Result<(), SmError> {
        let (operation, has_value, given, secret_id) = match input {
            Input::CreateSecret(i) => (
                "CreateSecret",
                i.secret_string.is_some() || i.secret_binary.is_some(),
                i.kms_key_id.as_deref(),
                None,
            ),
            Input::UpdateSecret(i) => (
                "UpdateSecret",
                i.secret_string.is_some() || i.secret_binary.is_some(),
                i.kms_key_id.as_deref(),
                i.secret_id.as_deref(),
            ),
            Input::PutSecretValue(i) => (
                "PutSecretValue",
                i.secret_string.is_some() || i.secret_binary.is_some(),
                None,
                i.secret_id.as_deref(),
            ),
            _ => return Ok(()),
        };
        let given = given.filter(|k| !k.is_empty()).map(str::to_string);
        let existing = match secret_id {
            Some(id) => self.resolve(id).await.ok(),
            None => None,
        };
        let secret_arn = existing.as_ref().map(|s| s.arn.as_str());
        let stored = existing.as_ref().and_then(|s| s.kms_key_id.clone());
        if operation == "UpdateSecret"
            && given.is_some()
            && let Some(secret) = &existing
        {
            // Re-encrypting the labelled versions under the new key decrypts each first: each
            // version's own key must be usable and allowed to the caller, as for a read (a
            // disabled key must not be escaped by moving the secret to another).
            for v in secret.versions.iter().filter(|v| {
                v.has_value
                    && v.stages.iter().any(|s| {
                        matches!(
                            s.as_str(),
                            strongroom_domain::secret::AWSCURRENT
                                | strongroom_domain::secret::AWSPENDING
                                | strongroom_domain::secret::AWSPREVIOUS
                        )
                    })
            }) {
                let Some(key_id) = v.kms_key_id.as_deref() else {
                    continue;
                };
                let key = self.kms.usable_for_service(key_id).map_err(|_| {
                    SmError::DecryptionFailure(
                        "Secrets Manager can't decrypt the protected secret text using the provided KMS key. Check that the KMS key is available, enabled, and not in an invalid state.".into(),
                    )
                })?;
                self.kms_allowed(gate, "kms:Decrypt", &key, secret_arn, Some(&v.id))?;
            }
        }
        let key = match operation {
            "CreateSecret" if has_value => given,
            "UpdateSecret" if given.is_some() => given,
            "UpdateSecret" | "PutSecretValue" if has_value => stored,
            _ => return Ok(()),
        };
        let Ok(key) = self
            .kms
            .key_for_service(key.as_deref(), SECRETS_MANAGER_KEY)
        else {
            return Ok(());
        };
        self.kms_allowed(gate, "kms:GenerateDataKey", &key, secret_arn, None)
    }

    /// The caller's permission for KMS use on its behalf, with the condition keys AWS gives
    /// such calls: the calling service, the caller's account, and the encryption context
    /// Secrets Manager uses (`SecretARN`, and `SecretVersionId` when one version is read).
    fn kms_allowed(
        &self,
        gate: &Gate<'_>,
        action: &str,
        key: &crate::services::kms::ServiceKey,
        secret_arn: Option<&str>,
        version_id: Option<&str>,
    ) -> Result<(), SmError> {
        if key.manager == strongroom_domain::kms::KeyManager::Aws {
            return Ok(());
        }
        let mut context = Vec::new();
        if let Some(arn) = secret_arn {
            context.push(("SecretARN", arn));
        }
        if let Some(v) = version_id {
            context.push(("SecretVersionId", v));
        }
        let keys = key.use_keys(
            format!("secretsmanager.{}.amazonaws.com", self.region),
            &self.account_id,
            &context,
        );
        let grantees = key.grantees(action, &context);
        gate(action, &key.arn, key.policy.as_deref(), keys, &grantees)
            .map_err(|_| SmError::AccessDenied("Access to KMS is not allowed".into()))
    }

    fn seal(
        &self,
        key_id: &str,
        arn: &str,
        version_id: &str,
        value: &SecretValue,
    ) -> Result<StoredValue, SmError> {
        let binding = ValueBinding {
            secret_arn: arn,
            version_id,
            kind: value.kind.as_str(),
        };
        let sealed = self
            .barrier
            .seal(key_id, &binding, &value.bytes)
            .map_err(|_| {
                SmError::EncryptionFailure("Secrets Manager can't encrypt the secret value.".into())
            })?;
        Ok(StoredValue {
            kind: value.kind,
            sealed,
        })
    }

    async fn open(&self, arn: &str, version_id: &str) -> Result<Option<SecretValue>, SmError> {
        let Some(stored) = self.store.value(arn, version_id).await? else {
            return Ok(None);
        };
        let binding = ValueBinding {
            secret_arn: arn,
            version_id,
            kind: stored.kind.as_str(),
        };
        let bytes = self.barrier.open(&stored.sealed, &binding).map_err(|e| {
            tracing::error!(secret_arn = %arn, version_id, error = %e, "stored value failed authentication");
            SmError::decryption_failure()
        })?;
        Ok(Some(SecretValue {
            kind: stored.kind,
            bytes,
        }))
    }
}

/// A ClientRequestToken against the stored versions.
enum TokenUse {
    /// No version with this id holds a value.
    Unused,
    /// Its version holds exactly this value: a retry, answered without writing.
    SameValue,
    /// Its version went between reading the secret and opening the value.
    Vanished,
}

/// A write that kept losing optimistic-concurrency races.
fn busy() -> SmError {
    SmError::InvalidRequest(
        "The secret is being modified by other requests at the same time; retry.".into(),
    )
}

/// A plaintext value in memory: zeroized when dropped.
pub(crate) struct SecretValue {
    pub kind: ValueKind,
    pub bytes: Zeroizing<Vec<u8>>,
}

impl PartialEq for SecretValue {
    fn eq(&self, other: &Self) -> bool {
        self.kind == other.kind
            && aws_lc_rs::constant_time::verify_slices_are_equal(&self.bytes, &other.bytes).is_ok()
    }
}

/// The RotationAbandoned service event of a write that abandoned a rotation.
fn abandoned(
    events: &mut Vec<ServiceEvent>,
    arn: &Option<String>,
    name: &Option<String>,
    token: Option<&str>,
) {
    let (Some(token), Some(arn), Some(name)) = (token, arn, name) else {
        return;
    };
    tracing::info!(secret_arn = %arn, version_id = %token, "a manual change abandoned the rotation in progress");
    events.push(ServiceEvent {
        service: "secretsmanager",
        name: "RotationAbandoned",
        details: serde_json::json!({
            "secretArn": arn,
            "versionId": token,
            "reason": "a new AWSCURRENT version was written during the rotation",
        }),
        resource: Some(crate::audit::CallResource {
            arn: arn.to_string(),
            kind: crate::audit::SECRET_RESOURCE_TYPE,
            name: Some(name.to_string()),
        }),
    });
}

fn respond<O: Serialize>(out: Result<O, SmError>) -> Result<Zeroizing<Vec<u8>>, SmError> {
    crate::sensitive::to_json(&out?).map_err(|_| SmError::Internal)
}

/// The answer of an operation without output members.
fn empty() -> Zeroizing<Vec<u8>> {
    Zeroizing::new(b"{}".to_vec())
}

#[cfg(test)]
mod tests;

/// What the audit record says about a Secrets Manager call: its parameters and (for writes)
/// its response, both without sensitive members, and the secret it touched.
///
/// `named` is the secret the request named as authorization resolved it (ARN, name): a
/// refused or failed call is recorded against it rather than the caller's spelling.
pub fn audit_details(
    operation: &str,
    params: serde_json::Value,
    response: Option<&[u8]>,
    named: Option<(String, String)>,
    call: &mut Call,
) {
    use crate::audit::{CallResource, SECRET_RESOURCE_TYPE, is_read_only};
    use strongroom_audit::redact;

    const SOURCE: &str = "secretsmanager.amazonaws.com";
    /// Only these members are read from a response; the rest (values included) is skipped.
    #[derive(serde::Deserialize)]
    struct Touched {
        #[serde(rename = "ARN")]
        arn: Option<String>,
        #[serde(rename = "Name")]
        name: Option<String>,
    }
    let params = Some(params);
    let read_only = is_read_only(operation);
    // A read answers about the secret authorization resolved: its response (for
    // GetSecretValue, the value) is not parsed again only to name it.
    let answered = response
        .filter(|_| !(read_only && named.is_some()))
        .and_then(|r| serde_json::from_slice::<Touched>(r).ok());
    call.resource = match answered {
        Some(Touched {
            arn: Some(arn),
            name,
        }) => Some(CallResource {
            arn,
            kind: SECRET_RESOURCE_TYPE,
            name,
        }),
        _ if named.is_some() => named.map(|(arn, name)| CallResource {
            arn,
            kind: SECRET_RESOURCE_TYPE,
            name: Some(name),
        }),
        // Refused or failed before the secret was found: as the caller named it.
        _ => params
            .as_ref()
            .and_then(|p| p.get("SecretId").or_else(|| p.get("Name")))
            .and_then(|v| v.as_str())
            .map(|id| CallResource {
                arn: id.to_string(),
                kind: SECRET_RESOURCE_TYPE,
                name: (!id.starts_with("arn:")).then(|| id.to_string()),
            }),
    };
    call.request_parameters = params.map(|p| redact::for_record(SOURCE, p));
    if !read_only {
        call.response_elements = response
            .and_then(|r| serde_json::from_slice(r).ok())
            .map(|r| redact::for_record(SOURCE, r));
    }
}

use crate::audit::Call;
