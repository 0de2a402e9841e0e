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
mod grants;
mod keys;
pub mod ops;
pub mod shapes;

use crate::pipeline::Operation as _;
use ops::Op;
use shapes::Input;

pub use error::KmsError;

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, RwLock};

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
    /// A customer key's grants (they allow their grantees the service's use too).
    pub grants: Vec<strongroom_domain::grants::Grant>,
}

impl ServiceKey {
    /// The principals the key's grants allow `action` (`kms:Decrypt`, ...) with the
    /// encryption context the service uses.
    pub fn grantees(&self, action: &str, context: &[(&str, &str)]) -> Vec<String> {
        if self.grants.is_empty() {
            return Vec::new();
        }
        let operation = action.strip_prefix("kms:").unwrap_or(action);
        let context: BTreeMap<String, String> = context
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        self.grants
            .iter()
            .filter(|g| g.allows(operation, &context))
            .filter_map(|g| g.grantee_principal.clone())
            .collect()
    }

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

/// Something the caller of an operation must record as a service event (key rotations).
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
    /// Bumped by every change this node makes to `keys` or `aliases`: a re-read from the store
    /// (another node's change) that began before one is not installed over it.
    generation: std::sync::atomic::AtomicU64,
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
            generation: Default::default(),
            write_lock: tokio::sync::Mutex::new(()),
        };
        let stored = kms.store.kms_keys().await.map_err(|e| e.to_string())?;
        for k in &stored {
            kms.unlock(k)?;
        }
        let aliases = kms.store.kms_aliases().await.map_err(|e| e.to_string())?;
        *kms.aliases_mut() = aliases.into_iter().map(|a| (a.name.clone(), a)).collect();
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

    /// Several nodes: read keys and aliases again (another node changed them). Installed
    /// only if this node changed nothing meanwhile; else read again.
    pub async fn refresh(&self) -> Result<(), String> {
        use std::sync::atomic::Ordering::SeqCst;
        loop {
            let seen = self.generation.load(SeqCst);
            let stored = self.store.kms_keys().await.map_err(|e| e.to_string())?;
            let mut keys = HashMap::new();
            for k in &stored {
                let record = self.record_of(k)?;
                keys.insert(record.key_id.clone(), record);
            }
            let aliases = self.store.kms_aliases().await.map_err(|e| e.to_string())?;
            let aliases = aliases.into_iter().map(|a| (a.name.clone(), a)).collect();
            let mut live_keys = write(&self.keys);
            let mut live_aliases = write(&self.aliases);
            if self.generation.load(SeqCst) != seen {
                continue;
            }
            for id in live_keys.keys().filter(|id| !keys.contains_key(*id)) {
                self.barrier.forget_kms_key(id);
            }
            *live_keys = keys;
            *live_aliases = aliases;
            return Ok(());
        }
    }

    fn keys_mut(&self) -> std::sync::RwLockWriteGuard<'_, HashMap<String, KeyRecord>> {
        self.generation
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        write(&self.keys)
    }

    fn aliases_mut(&self) -> std::sync::RwLockWriteGuard<'_, BTreeMap<String, StoredAlias>> {
        self.generation
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        write(&self.aliases)
    }

    fn unlock(&self, k: &StoredKmsKey) -> Result<(), String> {
        let record = self.record_of(k)?;
        self.keys_mut().insert(k.key_id.clone(), record);
        Ok(())
    }

    /// A stored key's record, its material loaded into the barrier.
    fn record_of(&self, k: &StoredKmsKey) -> Result<KeyRecord, String> {
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
        Ok(KeyRecord {
            key_id: k.key_id.clone(),
            arn: k.arn.clone(),
            created_ms: k.created_ms,
            meta,
        })
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
        self.keys_mut().insert(
            key_id.clone(),
            KeyRecord {
                key_id: key_id.clone(),
                arn: stored.arn,
                created_ms: now,
                meta,
            },
        );
        self.aliases_mut().insert(
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
            "arn:{}:kms:{}:{}:key/{key_id}",
            self.partition(),
            self.region,
            self.account_id
        )
    }

    pub fn alias_arn(&self, alias: &str) -> String {
        format!(
            "arn:{}:kms:{}:{}:{alias}",
            self.partition(),
            self.region,
            self.account_id
        )
    }

    fn partition(&self) -> &'static str {
        strongroom_domain::partition_of(&self.region)
    }

    /// The account's root (`arn:PARTITION:iam::ACCOUNT:root`): the default key policy's
    /// principal and every grant's issuing account.
    fn account_root(&self) -> String {
        format!("arn:{}:iam::{}:root", self.partition(), self.account_id)
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
            grants: record.meta.grants,
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
                grants: Vec::new(),
            },
            KeyManager::Customer => ServiceKey {
                key_id: record.key_id.clone(),
                arn: record.arn.clone(),
                manager: KeyManager::Customer,
                policy: record.meta.policy.clone(),
                grants: record.meta.grants.clone(),
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
        self.keys_mut()
            .insert(record.key_id.clone(), record.clone());
        Ok(record)
    }

    /// What a request must be allowed: the action on the key it names (CreateAlias and
    /// friends also on the alias; ReEncrypt From the source key and To the destination).
    /// Unresolvable keys are checked against `*`-free placeholders so a refused caller learns
    /// nothing; the operation then reports NotFound to an allowed one.
    pub fn authorization_checks(&self, op: Op, input: &Input) -> Vec<Check> {
        let action = format!("kms:{}", op.name());
        let mut base = Keys::new();
        // Every caller here is of this account (one account per server).
        base.insert("kms:calleraccount".into(), vec![self.account_id.clone()]);
        let tags = match input {
            Input::CreateKey(i) => i.tags.as_deref(),
            Input::TagResource(i) => i.tags.as_deref(),
            _ => None,
        };
        if let Some(tags) = tags {
            let tags: Vec<(String, String)> = tags
                .iter()
                .map(|t| (t.tag_key.clone(), t.tag_value.clone()))
                .collect();
            crate::services::insert_request_tags(&mut base, &tags);
        }
        let context = match input {
            Input::Encrypt(i) => i.encryption_context.as_ref(),
            Input::Decrypt(i) => i.encryption_context.as_ref(),
            Input::GenerateDataKey(i) => i.encryption_context.as_ref(),
            Input::GenerateDataKeyWithoutPlaintext(i) => i.encryption_context.as_ref(),
            Input::ReEncrypt(i) => i.destination_encryption_context.as_ref(),
            _ => None,
        };
        if let Some(ctx) = context {
            for (k, val) in ctx {
                base.insert(
                    format!("kms:encryptioncontext:{}", k.to_ascii_lowercase()),
                    vec![val.clone()],
                );
            }
            base.insert(
                "kms:encryptioncontextkeys".into(),
                ctx.keys().cloned().collect(),
            );
        }
        if let Input::CreateGrant(i) = input {
            base.insert(
                "kms:grantoperations".into(),
                i.operations.clone().unwrap_or_default(),
            );
            if let Some(p) = &i.grantee_principal {
                base.insert("kms:granteeprincipal".into(), vec![p.clone()]);
            }
            if let Some(p) = &i.retiring_principal {
                base.insert("kms:retiringprincipal".into(), vec![p.clone()]);
            }
            if let Some(c) = grants::constraints(i.constraints.as_ref()) {
                let mut types = Vec::new();
                if c.subset.is_some() {
                    types.push("EncryptionContextSubset".to_string());
                }
                if c.equals.is_some() {
                    types.push("EncryptionContextEquals".to_string());
                }
                if !types.is_empty() {
                    base.insert("kms:grantconstrainttype".into(), types);
                }
            }
        }
        if matches!(
            input,
            Input::CreateGrant(_) | Input::ListGrants(_) | Input::RevokeGrant(_)
        ) {
            // Strongroom's services never create grants for their callers: every grant
            // request is the caller's own.
            base.insert("kms:grantisforawsresource".into(), vec!["false".into()]);
        }
        let no_context = BTreeMap::new();
        // Which grants on the key allow this request: their grantees.
        let grantees = |record: &KeyRecord, action: &str| -> Vec<String> {
            let operation = action.strip_prefix("kms:").unwrap_or(action);
            let grants = &record.meta.grants;
            let names = |g: &strongroom_domain::grants::Grant| g.grantee_principal.clone();
            match input {
                Input::CreateGrant(i) => {
                    let ops = i.operations.clone().unwrap_or_default();
                    let c = grants::constraints(i.constraints.as_ref());
                    grants
                        .iter()
                        .filter(|g| g.may_create(&ops, c.as_ref()))
                        .filter_map(names)
                        .collect()
                }
                Input::RetireGrant(i) => {
                    let target = self.retire_target(i).ok().map(|(_, g)| g);
                    grants
                        .iter()
                        .filter(|g| Some(&g.grant_id) == target.as_ref())
                        .flat_map(|g| {
                            let mut who: Vec<String> =
                                g.retiring_principal.iter().cloned().collect();
                            if g.operations.iter().any(|o| o == "RetireGrant") {
                                who.extend(g.grantee_principal.iter().cloned());
                            }
                            who
                        })
                        .collect()
                }
                _ => {
                    let context = match (input, operation) {
                        (Input::ReEncrypt(i), "ReEncryptFrom") => {
                            i.source_encryption_context.as_ref()
                        }
                        _ => context,
                    }
                    .unwrap_or(&no_context);
                    grants
                        .iter()
                        .filter(|g| g.allows(operation, context))
                        .filter_map(names)
                        .collect()
                }
            }
        };
        let key_check = |action: String, given: Option<&str>| -> Check {
            let mut keys = base.clone();
            let mut policy = None;
            let mut allowed = Vec::new();
            let resource = match given.map(|g| self.find(g)) {
                Some(Ok(record)) => {
                    allowed = grantees(&record, &action);
                    for (k, val) in &record.meta.tags {
                        keys.insert(
                            format!("aws:resourcetag/{}", k.to_ascii_lowercase()),
                            vec![val.clone()],
                        );
                    }
                    policy = record.meta.policy.clone();
                    record.arn
                }
                Some(Err(_)) => match given.map(|g| {
                    strongroom_domain::kms::parse_key_ref(g, &self.region, &self.account_id)
                }) {
                    Some(KeyRef::Id(id)) => self.key_arn(&id),
                    Some(KeyRef::Alias(a)) => self.alias_arn(&a),
                    _ => given.unwrap_or_default().to_string(),
                },
                None => "*".into(),
            };
            Check {
                action,
                resource,
                keys,
                policy,
                grantees: allowed,
            }
        };
        // The alias, then (UpdateAlias, DeleteAlias) the key it points at now, then
        // (CreateAlias, UpdateAlias) the key it is to point at.
        let alias_checks = |alias: &Option<String>, current: bool, target: Option<&str>| {
            let alias = alias.as_deref().unwrap_or_default();
            let mut checks = vec![Check {
                action: action.clone(),
                resource: self.alias_arn(alias),
                keys: base.clone(),
                policy: None,
                grantees: Vec::new(),
            }];
            if current && let Some(current) = self.alias_target(alias) {
                checks.push(key_check(action.clone(), Some(&current)));
            }
            if target.is_some() {
                checks.push(key_check(action.clone(), target));
            }
            checks
        };
        let key = |given: &Option<String>| vec![key_check(action.clone(), given.as_deref())];
        match input {
            Input::CreateKey(_)
            | Input::ListKeys(_)
            | Input::GenerateRandom(_)
            | Input::ListRetirableGrants(_) => {
                vec![Check::anywhere(action, base)]
            }
            Input::ListAliases(i) => match i.key_id.as_deref() {
                Some(k) => vec![key_check(action, Some(k))],
                None => vec![Check::anywhere(action, base)],
            },
            Input::CreateAlias(i) => alias_checks(&i.alias_name, false, i.target_key_id.as_deref()),
            Input::UpdateAlias(i) => alias_checks(&i.alias_name, true, i.target_key_id.as_deref()),
            Input::DeleteAlias(i) => alias_checks(&i.alias_name, true, None),
            Input::Decrypt(i) => {
                let key = match i.key_id.as_deref() {
                    Some(k) => Some(k.to_string()),
                    None => blob_key(i.ciphertext_blob.as_deref()),
                };
                vec![key_check(action, key.as_deref())]
            }
            Input::ReEncrypt(i) => {
                let source = match i.source_key_id.as_deref() {
                    Some(k) => Some(k.to_string()),
                    None => blob_key(i.ciphertext_blob.as_deref()),
                };
                vec![
                    key_check("kms:ReEncryptFrom".into(), source.as_deref()),
                    key_check("kms:ReEncryptTo".into(), i.destination_key_id.as_deref()),
                ]
            }
            // Authorized as the key it names, then refused by `dispatch`.
            Input::NotOffered(_, v) => {
                let named = v.get("KeyId").and_then(|k| k.as_str());
                vec![key_check(action, named)]
            }
            Input::DescribeKey(i) => key(&i.key_id),
            Input::EnableKey(i) => key(&i.key_id),
            Input::DisableKey(i) => key(&i.key_id),
            Input::ScheduleKeyDeletion(i) => key(&i.key_id),
            Input::CancelKeyDeletion(i) => key(&i.key_id),
            Input::UpdateKeyDescription(i) => key(&i.key_id),
            Input::EnableKeyRotation(i) => key(&i.key_id),
            Input::DisableKeyRotation(i) => key(&i.key_id),
            Input::GetKeyRotationStatus(i) => key(&i.key_id),
            Input::RotateKeyOnDemand(i) => key(&i.key_id),
            Input::ListKeyRotations(i) => key(&i.key_id),
            Input::TagResource(i) => key(&i.key_id),
            Input::UntagResource(i) => key(&i.key_id),
            Input::ListResourceTags(i) => key(&i.key_id),
            Input::GetKeyPolicy(i) => key(&i.key_id),
            Input::ListKeyPolicies(i) => key(&i.key_id),
            Input::PutKeyPolicy(i) => key(&i.key_id),
            Input::Encrypt(i) => key(&i.key_id),
            Input::GenerateDataKey(i) => key(&i.key_id),
            Input::GenerateDataKeyWithoutPlaintext(i) => key(&i.key_id),
            Input::CreateGrant(i) => key(&i.key_id),
            Input::ListGrants(i) => key(&i.key_id),
            Input::RevokeGrant(i) => key(&i.key_id),
            // The key the grant token names, or KeyId; a token that names nothing needs no
            // permission to be refused (InvalidGrantTokenException).
            Input::RetireGrant(i) => match self.retire_target(i) {
                Ok((k, _)) => vec![key_check(action, Some(&k))],
                Err(_) => Vec::new(),
            },
        }
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
                    self.keys_mut().remove(&key.key_id);
                    self.aliases_mut().retain(|_, a| a.key_id != key.key_id);
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

/// The key a ciphertext blob (base64, as sent) names.
fn blob_key(blob: Option<&str>) -> Option<String> {
    use base64::Engine;
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(blob?)
        .ok()?;
    Barrier::blob_key_id(&bytes).map(str::to_string)
}

#[cfg(test)]
mod tests;
