//! AWS KMS (JSON 1.1, `X-Amz-Target: TrentService.<Operation>`): symmetric keys only.
//!
//! One function per operation, grouped by family: [`keys`] (lifecycle, rotation, tags,
//! policy), [`aliases`], [`crypto`] (Encrypt, Decrypt, ReEncrypt, GenerateDataKey*,
//! GenerateRandom). The rules live in `strongroom_domain::kms`; key material lives in the
//! barrier, wrapped by the root key. Keys and aliases are few and read on every use, so they
//! are held in memory and written through to the store.
//!
//! Secrets Manager and Parameter Store encrypt with these keys: [`Kms::key_for_service`]
//! resolves the key a caller named for them and checks it can be used.

mod aliases;
mod api;
mod crypto;
mod error;
mod keys;
pub mod ops;
pub mod shapes;

use crate::pipeline::Operation as _;
use ops::Op;
use zeroize::Zeroizing;

pub use error::KmsError;

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, RwLock};

use serde::Serialize;
use serde::de::DeserializeOwned;
use strongroom_barrier::Barrier;
use strongroom_domain::kms::{KeyManager, KeyMeta, KeyRef, KeyState, Unusable};
use strongroom_domain::secret::Millis;
use strongroom_policy::matching::Keys;
use strongroom_store::{Store, StoredAlias, StoredKmsKey};

use crate::clock::Clock;

/// A key as the service holds it.
#[derive(Debug, Clone)]
pub struct KeyRecord {
    pub key_id: String,
    pub arn: String,
    pub created_ms: Millis,
    pub meta: KeyMeta,
}

/// A key resolved for a service's use (Secrets Manager, Parameter Store).
#[derive(Debug, Clone)]
pub struct ServiceKey {
    pub key_id: String,
    pub arn: String,
    pub manager: KeyManager,
    /// A customer key's own key policy (evaluated with the caller's IAM policies).
    pub policy: Option<String>,
}

impl ServiceKey {
    /// The condition keys AWS gives a KMS call a service makes for a caller: the calling
    /// service (`kms:ViaService`), the caller's account and the encryption context the
    /// service uses (`(name, value)` pairs, e.g. `("SecretARN", arn)`).
    pub fn use_keys(&self, via: String, account_id: &str, context: &[(&str, &str)]) -> Keys {
        let mut keys = Keys::new();
        keys.insert("kms:viaservice".into(), vec![via]);
        keys.insert("kms:calleraccount".into(), vec![account_id.to_string()]);
        for (name, value) in context {
            keys.insert(
                format!("kms:encryptioncontext:{}", name.to_ascii_lowercase()),
                vec![value.to_string()],
            );
        }
        if !context.is_empty() {
            keys.insert(
                "kms:encryptioncontextkeys".into(),
                context.iter().map(|(n, _)| n.to_string()).collect(),
            );
        }
        keys
    }
}

/// Why a service cannot use a key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ServiceKeyError {
    NotFound,
    Unusable(Unusable),
}

pub use crate::services::Check;

/// Something the caller of [`Kms::call`] must record as a service event (key rotations).
#[derive(Debug, Clone)]
pub struct KeyEvent {
    pub name: &'static str,
    pub key_arn: String,
    pub details: serde_json::Value,
}

pub struct Kms {
    store: Arc<dyn Store>,
    barrier: Arc<Barrier>,
    clock: Arc<dyn Clock>,
    region: String,
    account_id: String,
    keys: RwLock<HashMap<String, KeyRecord>>,
    aliases: RwLock<BTreeMap<String, StoredAlias>>,
    /// Serialises read-modify-write cycles on keys and aliases.
    write_lock: tokio::sync::Mutex<()>,
}

/// The managed keys Strongroom's services encrypt with by default, by alias.
pub const SECRETS_MANAGER_KEY: &str = "alias/aws/secretsmanager";
pub const SSM_KEY: &str = "alias/aws/ssm";

impl Kms {
    /// Load every key into the barrier and memory, creating the managed keys on first start.
    pub async fn load(
        store: Arc<dyn Store>,
        barrier: Arc<Barrier>,
        clock: Arc<dyn Clock>,
        region: String,
        account_id: String,
    ) -> Result<Self, String> {
        let kms = Self {
            store,
            barrier,
            clock,
            region,
            account_id,
            keys: RwLock::new(HashMap::new()),
            aliases: RwLock::new(BTreeMap::new()),
            write_lock: tokio::sync::Mutex::new(()),
        };
        let stored = kms.store.kms_keys().await.map_err(|e| e.to_string())?;
        for k in &stored {
            kms.unlock(k)?;
        }
        let aliases = kms.store.kms_aliases().await.map_err(|e| e.to_string())?;
        *write(&kms.aliases) = aliases.into_iter().map(|a| (a.name.clone(), a)).collect();
        for (alias, description) in [
            (
                SECRETS_MANAGER_KEY,
                "Default key that protects my Secrets Manager data when no other key is defined",
            ),
            (
                SSM_KEY,
                "Default key that protects my SSM parameters when no other key is defined",
            ),
        ] {
            if kms.alias_target(alias).is_none() {
                kms.create_managed_key(alias, description).await?;
            }
        }
        Ok(kms)
    }

    fn unlock(&self, k: &StoredKmsKey) -> Result<(), String> {
        let fail = |_| {
            format!(
                "KMS key {} cannot be unwrapped: the root key does not match this data directory",
                k.key_id
            )
        };
        self.barrier
            .load_kms_key(&k.key_id, &k.wrapped)
            .map_err(fail)?;
        for m in &k.rotated {
            self.barrier
                .load_kms_material(&k.key_id, m.version, &m.wrapped)
                .map_err(fail)?;
        }
        let meta = k.meta.clone().unwrap_or_else(|| {
            // Stored before KMS existed: the managed Secrets Manager key, which rotates yearly
            // like every AWS managed key (counted from its creation).
            let mut meta = KeyMeta::new(k.description.clone(), KeyManager::Aws);
            meta.rotation_period_days = Some(365);
            let year = 365 * strongroom_domain::secret::MS_PER_DAY;
            let elapsed = (self.clock.now_ms() - k.created_ms).max(0);
            meta.next_rotation_ms = Some(k.created_ms + (elapsed / year + 1) * year);
            meta
        });
        write(&self.keys).insert(
            k.key_id.clone(),
            KeyRecord {
                key_id: k.key_id.clone(),
                arn: k.arn.clone(),
                created_ms: k.created_ms,
                meta,
            },
        );
        Ok(())
    }

    async fn create_managed_key(&self, alias: &str, description: &str) -> Result<(), String> {
        let now = self.clock.now_ms();
        let key_id = uuid::Uuid::new_v4().to_string();
        let wrapped = self
            .barrier
            .create_kms_key(&key_id)
            .map_err(|e| e.to_string())?;
        let mut meta = KeyMeta::new(description.into(), KeyManager::Aws);
        // AWS rotates AWS managed keys every year.
        meta.rotation_period_days = Some(365);
        meta.next_rotation_ms = Some(now + 365 * strongroom_domain::secret::MS_PER_DAY);
        let stored = StoredKmsKey {
            arn: self.key_arn(&key_id),
            key_id: key_id.clone(),
            alias: alias.strip_prefix("alias/").map(str::to_string),
            description: description.into(),
            wrapped,
            created_ms: now,
            meta: Some(meta.clone()),
            rotated: Vec::new(),
        };
        self.store
            .insert_kms_key(&stored)
            .await
            .map_err(|e| e.to_string())?;
        write(&self.keys).insert(
            key_id.clone(),
            KeyRecord {
                key_id: key_id.clone(),
                arn: stored.arn,
                created_ms: now,
                meta,
            },
        );
        write(&self.aliases).insert(
            alias.into(),
            StoredAlias {
                name: alias.into(),
                key_id,
                created_ms: now,
                updated_ms: now,
            },
        );
        Ok(())
    }

    /// Key id of a managed key by its alias (`alias/aws/secretsmanager`, `alias/aws/ssm`).
    pub fn managed_key_id(&self, alias: &str) -> Option<String> {
        self.alias_target(alias)
    }

    fn alias_target(&self, alias: &str) -> Option<String> {
        read(&self.aliases).get(alias).map(|a| a.key_id.clone())
    }

    pub fn key_arn(&self, key_id: &str) -> String {
        format!(
            "arn:aws:kms:{}:{}:key/{key_id}",
            self.region, self.account_id
        )
    }

    pub fn alias_arn(&self, alias: &str) -> String {
        format!("arn:aws:kms:{}:{}:{alias}", self.region, self.account_id)
    }

    pub fn record(&self, key_id: &str) -> Option<KeyRecord> {
        read(&self.keys).get(key_id).cloned()
    }

    /// Find the key a KeyId member names (id, key ARN, alias, alias ARN).
    pub fn find(&self, given: &str) -> Result<KeyRecord, KmsError> {
        if given.is_empty() {
            return Err(KmsError::Validation(
                "1 validation error detected: Value null at 'keyId' failed to satisfy constraint: Member must not be null".into(),
            ));
        }
        match strongroom_domain::kms::parse_key_ref(given, &self.region, &self.account_id) {
            KeyRef::Id(id) => self.record(&id).ok_or_else(|| {
                if uuid::Uuid::parse_str(&id).is_ok() {
                    KmsError::NotFound(format!("Key '{}' does not exist", self.key_arn(&id)))
                } else {
                    KmsError::NotFound(format!("Invalid keyId '{given}'"))
                }
            }),
            KeyRef::Alias(alias) => self
                .alias_target(&alias)
                .and_then(|id| self.record(&id))
                .ok_or_else(|| {
                    KmsError::NotFound(format!("Alias {} is not found.", self.alias_arn(&alias)))
                }),
            KeyRef::Foreign(arn) => Err(KmsError::NotFound(format!("Key '{arn}' does not exist"))),
        }
    }

    /// The key a service (Secrets Manager, Parameter Store) should encrypt with: `given`
    /// (any KeyId form), or the service's managed key when absent.
    pub fn key_for_service(
        &self,
        given: Option<&str>,
        default_alias: &str,
    ) -> Result<ServiceKey, ServiceKeyError> {
        let record = match given.filter(|g| !g.is_empty()) {
            Some(g) => self.find(g).map_err(|_| ServiceKeyError::NotFound)?,
            None => self
                .alias_target(default_alias)
                .and_then(|id| self.record(&id))
                .ok_or(ServiceKeyError::NotFound)?,
        };
        strongroom_domain::kms::usable(record.meta.state).map_err(ServiceKeyError::Unusable)?;
        Ok(ServiceKey {
            key_id: record.key_id,
            arn: record.arn,
            manager: record.meta.manager,
            policy: record.meta.policy,
        })
    }

    /// Whether a key can decrypt now (for a service reading a value sealed under it).
    /// On GetSecretValue's hot path: nothing is cloned for AWS managed keys (whose id and ARN
    /// callers do not need: there is nothing to authorize).
    pub fn usable_for_service(&self, key_id: &str) -> Result<ServiceKey, ServiceKeyError> {
        let keys = read(&self.keys);
        let record = keys.get(key_id).ok_or(ServiceKeyError::NotFound)?;
        strongroom_domain::kms::usable(record.meta.state).map_err(ServiceKeyError::Unusable)?;
        Ok(match record.meta.manager {
            KeyManager::Aws => ServiceKey {
                key_id: String::new(),
                arn: String::new(),
                manager: KeyManager::Aws,
                policy: None,
            },
            KeyManager::Customer => ServiceKey {
                key_id: record.key_id.clone(),
                arn: record.arn.clone(),
                manager: KeyManager::Customer,
                policy: record.meta.policy.clone(),
            },
        })
    }

    /// Persist a key's new metadata (and a rotated material), then publish it in memory.
    async fn save(
        &self,
        mut record: KeyRecord,
        material: Option<&strongroom_store::StoredKmsMaterial>,
    ) -> Result<KeyRecord, KmsError> {
        if !self
            .store
            .update_kms_key(&record.key_id, &record.meta, material)
            .await?
        {
            return Err(KmsError::NotFound(format!(
                "Key '{}' does not exist",
                record.arn
            )));
        }
        record.meta.tags.sort();
        write(&self.keys).insert(record.key_id.clone(), record.clone());
        Ok(record)
    }

    /// Dispatch one operation; `events` receives the service events it caused.
    pub async fn call(
        &self,
        op: Op,
        body: &[u8],
        events: &mut Vec<KeyEvent>,
    ) -> Result<Zeroizing<Vec<u8>>, KmsError> {
        match op {
            Op::CreateKey => respond(self.create_key(parse(body)?).await),
            Op::DescribeKey => respond(self.describe_key(parse(body)?)),
            Op::ListKeys => respond(self.list_keys(parse(body)?)),
            Op::EnableKey => respond(self.set_enabled(parse(body)?, true).await),
            Op::DisableKey => respond(self.set_enabled(parse(body)?, false).await),
            Op::ScheduleKeyDeletion => respond(self.schedule_key_deletion(parse(body)?).await),
            Op::CancelKeyDeletion => respond(self.cancel_key_deletion(parse(body)?).await),
            Op::UpdateKeyDescription => respond(self.update_key_description(parse(body)?).await),
            Op::EnableKeyRotation => respond(self.enable_key_rotation(parse(body)?).await),
            Op::DisableKeyRotation => respond(self.disable_key_rotation(parse(body)?).await),
            Op::GetKeyRotationStatus => respond(self.get_key_rotation_status(parse(body)?)),
            Op::RotateKeyOnDemand => respond(self.rotate_key_on_demand(parse(body)?, events).await),
            Op::ListKeyRotations => respond(self.list_key_rotations(parse(body)?)),
            Op::TagResource => respond(self.tag_resource(parse(body)?).await),
            Op::UntagResource => respond(self.untag_resource(parse(body)?).await),
            Op::ListResourceTags => respond(self.list_resource_tags(parse(body)?)),
            Op::GetKeyPolicy => respond(self.get_key_policy(parse(body)?)),
            Op::ListKeyPolicies => respond(self.list_key_policies(parse(body)?)),
            Op::CreateAlias => respond(self.create_alias(parse(body)?).await),
            Op::UpdateAlias => respond(self.update_alias(parse(body)?).await),
            Op::DeleteAlias => respond(self.delete_alias(parse(body)?).await),
            Op::ListAliases => respond(self.list_aliases(parse(body)?)),
            Op::Encrypt => respond(self.encrypt(parse(body)?)),
            Op::Decrypt => respond(self.decrypt(parse(body)?)),
            Op::ReEncrypt => respond(self.re_encrypt(parse(body)?)),
            Op::GenerateDataKey => respond(self.generate_data_key(parse(body)?)),
            Op::GenerateDataKeyWithoutPlaintext => {
                respond(self.generate_data_key_without_plaintext(parse(body)?))
            }
            Op::GenerateRandom => respond(self.generate_random(parse(body)?)),
            Op::PutKeyPolicy => respond(self.put_key_policy(parse(body)?).await),
            other => Err(KmsError::UnknownOperation(format!(
                "{} is a KMS operation Strongroom does not offer.",
                other.name()
            ))),
        }
    }

    /// What a request must be allowed: the action on the key it names (CreateAlias and
    /// friends also on the alias; ReEncrypt From the source key and To the destination).
    /// Unresolvable keys are checked against `*`-free placeholders so a refused caller learns
    /// nothing; the operation then reports NotFound to an allowed one.
    pub fn authorization_checks(&self, operation: &str, body: &[u8]) -> Vec<Check> {
        let v: serde_json::Value = serde_json::from_slice(body).unwrap_or_default();
        let str_of = |m: &str| v.get(m).and_then(|x| x.as_str()).map(str::to_string);
        let action = format!("kms:{operation}");
        let mut base = Keys::new();
        // Every caller here is of this account (one account per server).
        base.insert("kms:calleraccount".into(), vec![self.account_id.clone()]);
        if let Some(tags) = crate::services::request_tags(&v, "TagKey", "TagValue") {
            crate::services::insert_request_tags(&mut base, &tags);
        }
        for member in ["EncryptionContext", "DestinationEncryptionContext"] {
            if let Some(ctx) = v.get(member).and_then(|c| c.as_object()) {
                for (k, val) in ctx {
                    if let Some(val) = val.as_str() {
                        base.insert(
                            format!("kms:encryptioncontext:{}", k.to_ascii_lowercase()),
                            vec![val.to_string()],
                        );
                    }
                }
                base.insert(
                    "kms:encryptioncontextkeys".into(),
                    ctx.keys().cloned().collect(),
                );
            }
        }
        let key_check = |action: String, given: Option<String>| -> Check {
            let mut keys = base.clone();
            let mut policy = None;
            let resource = match given.as_deref().map(|g| self.find(g)) {
                Some(Ok(record)) => {
                    for (k, val) in &record.meta.tags {
                        keys.insert(
                            format!("aws:resourcetag/{}", k.to_ascii_lowercase()),
                            vec![val.clone()],
                        );
                    }
                    policy = record.meta.policy.clone();
                    record.arn
                }
                Some(Err(_)) => match given.as_deref().map(|g| {
                    strongroom_domain::kms::parse_key_ref(g, &self.region, &self.account_id)
                }) {
                    Some(KeyRef::Id(id)) => self.key_arn(&id),
                    Some(KeyRef::Alias(a)) => self.alias_arn(&a),
                    _ => given.clone().unwrap_or_default(),
                },
                None => "*".into(),
            };
            Check {
                action,
                resource,
                keys,
                policy,
            }
        };
        match operation {
            "CreateKey" | "ListKeys" | "GenerateRandom" => vec![Check::anywhere(action, base)],
            "ListAliases" => match str_of("KeyId") {
                Some(k) => vec![key_check(action, Some(k))],
                None => vec![Check::anywhere(action, base)],
            },
            "CreateAlias" | "UpdateAlias" | "DeleteAlias" => {
                let alias = str_of("AliasName").unwrap_or_default();
                let mut checks = vec![Check {
                    action: action.clone(),
                    resource: self.alias_arn(&alias),
                    keys: base.clone(),
                    policy: None,
                }];
                // UpdateAlias needs the action on the alias, its current key and the new one.
                if matches!(operation, "DeleteAlias" | "UpdateAlias")
                    && let Some(current) = self.alias_target(&alias)
                {
                    checks.push(key_check(action.clone(), Some(current)));
                }
                if operation != "DeleteAlias" && str_of("TargetKeyId").is_some() {
                    checks.push(key_check(action, str_of("TargetKeyId")));
                }
                checks
            }
            "Decrypt" => {
                let key = str_of("KeyId").or_else(|| self.blob_key(&v, "CiphertextBlob"));
                vec![key_check(action, key)]
            }
            "ReEncrypt" => {
                let source = str_of("SourceKeyId").or_else(|| self.blob_key(&v, "CiphertextBlob"));
                vec![
                    key_check("kms:ReEncryptFrom".into(), source),
                    key_check("kms:ReEncryptTo".into(), str_of("DestinationKeyId")),
                ]
            }
            _ => vec![key_check(action, str_of("KeyId"))],
        }
    }

    fn blob_key(&self, v: &serde_json::Value, member: &str) -> Option<String> {
        use base64::Engine;
        let blob = v.get(member)?.as_str()?;
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(blob)
            .ok()?;
        Barrier::blob_key_id(&bytes).map(str::to_string)
    }

    /// Rotate keys whose automatic rotation is due; returns their RotateKey events.
    pub async fn rotate_due(&self) -> Vec<KeyEvent> {
        let now = self.clock.now_ms();
        let due: Vec<String> = read(&self.keys)
            .values()
            .filter(|k| {
                k.meta.state == KeyState::Enabled
                    && k.meta.next_rotation_ms.is_some_and(|t| t <= now)
            })
            .map(|k| k.key_id.clone())
            .collect();
        let mut events = Vec::new();
        for key_id in due {
            match self.rotate(&key_id, "AUTOMATIC").await {
                Ok(event) => events.push(event),
                Err(e) => tracing::warn!(key_id, error = e.code(), "automatic key rotation failed"),
            }
        }
        events
    }

    /// Delete keys whose deletion window ended; returns their DeleteKey events.
    pub async fn delete_due(&self) -> Vec<KeyEvent> {
        let now = self.clock.now_ms();
        let due: Vec<KeyRecord> = read(&self.keys)
            .values()
            .filter(|k| {
                k.meta.state == KeyState::PendingDeletion
                    && k.meta.deletion_ms.is_some_and(|t| t <= now)
            })
            .cloned()
            .collect();
        let mut events = Vec::new();
        for key in due {
            let _serialised = self.write_lock.lock().await;
            // A CancelKeyDeletion may have come in since the sweep looked.
            let still_due = self.record(&key.key_id).is_some_and(|k| {
                k.meta.state == KeyState::PendingDeletion
                    && k.meta.deletion_ms.is_some_and(|t| t <= now)
            });
            if !still_due {
                continue;
            }
            match self.store.delete_kms_key(&key.key_id).await {
                Ok(_) => {
                    self.barrier.forget_kms_key(&key.key_id);
                    write(&self.keys).remove(&key.key_id);
                    write(&self.aliases).retain(|_, a| a.key_id != key.key_id);
                    tracing::info!(key_id = %key.key_id, "deleted KMS key after its waiting period");
                    events.push(KeyEvent {
                        name: "DeleteKey",
                        key_arn: key.arn.clone(),
                        details: serde_json::json!({"keyId": key.arn, "reason": "waiting period ended"}),
                    });
                }
                Err(e) => {
                    tracing::warn!(key_id = %key.key_id, error = %e, "KMS key deletion failed")
                }
            }
        }
        events
    }

    /// How many keys exist (for metrics).
    pub fn count(&self) -> usize {
        read(&self.keys).len()
    }
}

fn read<T>(lock: &RwLock<T>) -> std::sync::RwLockReadGuard<'_, T> {
    lock.read().unwrap_or_else(|e| e.into_inner())
}

fn write<T>(lock: &RwLock<T>) -> std::sync::RwLockWriteGuard<'_, T> {
    lock.write().unwrap_or_else(|e| e.into_inner())
}

fn parse<T: DeserializeOwned + Default>(body: &[u8]) -> Result<T, KmsError> {
    crate::services::input::parse(body).map_err(KmsError::Serialization)
}

fn respond<O: Serialize>(out: Result<O, KmsError>) -> Result<Zeroizing<Vec<u8>>, KmsError> {
    crate::sensitive::to_json(&out?).map_err(|_| KmsError::Internal)
}

/// An empty JSON object (operations that return nothing).
#[derive(Serialize)]
pub(crate) struct Empty {}

#[cfg(test)]
mod tests;
