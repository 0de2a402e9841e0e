//! The identity directory: IAM users, their access keys and inline policies.
//!
//! Held in memory (authentication and authorization run on every request and must not touch
//! the database) and written through to the store; access keys' secret halves are sealed by
//! the barrier at rest and kept in zeroizing memory here. Single-node: a multi-node backend
//! will need change notifications.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, RwLock};

use strongroom_barrier::{Barrier, ValueBinding};
use strongroom_policy::{Policy, PolicyKind};
use strongroom_store::{
    IamUser, Store, StoreError, StoredAccessKey, StoredManagedPolicy, StoredPolicyVersion,
    StoredUserPolicy,
};
use zeroize::Zeroizing;

use crate::credentials::{Principal, PrincipalKind, RootCredentials};

/// IAM's documented limits.
pub const MAX_ACCESS_KEYS_PER_USER: usize = 2;
/// Managed policy documents: 6,144 characters, whitespace not counted.
pub const MAX_MANAGED_POLICY_CHARS: usize = 6144;
pub const MAX_POLICY_VERSIONS: usize = 5;
/// Managed policies attached to one user.
pub const MAX_ATTACHED_PER_USER: usize = 10;
/// "Aggregate inline policy size" for a user: all its inline policies together, whitespace
/// not counted.
pub const MAX_INLINE_USER_POLICY_CHARS: usize = 2048;

fn policy_size(doc: &str) -> usize {
    doc.chars().filter(|c| !c.is_whitespace()).count()
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DirectoryError {
    NoSuchEntity(String),
    EntityAlreadyExists(String),
    DeleteConflict(String),
    LimitExceeded(String),
    MalformedPolicyDocument(String),
    Internal,
}

impl From<StoreError> for DirectoryError {
    fn from(e: StoreError) -> Self {
        tracing::error!(error = %e, "identity store failure");
        DirectoryError::Internal
    }
}

struct KeyEntry {
    user_name: String,
    active: bool,
    secret: Zeroizing<String>,
    created_ms: i64,
}

struct InlinePolicy {
    /// As the caller gave it (GetUserPolicy returns it).
    document: String,
    compiled: Arc<Policy>,
    /// The name decisions cite.
    cited: Arc<str>,
}

impl InlinePolicy {
    fn new(user: &str, name: &str, document: String, compiled: Policy) -> Self {
        Self {
            document,
            compiled: Arc::new(compiled),
            cited: Arc::from(format!("user/{user} inline policy {name}")),
        }
    }
}

struct Managed {
    stored: StoredManagedPolicy,
    /// The default version, compiled.
    compiled: Arc<Policy>,
    cited: Arc<str>,
}

impl Managed {
    fn new(stored: StoredManagedPolicy) -> Result<Self, String> {
        let doc = stored
            .versions
            .iter()
            .find(|v| v.id == stored.default_version)
            .map(|v| v.document.as_str())
            .ok_or_else(|| format!("policy {} has no default version", stored.arn))?;
        let compiled = strongroom_policy::parse(doc, PolicyKind::Identity).map_err(|e| e.0)?;
        let cited = Arc::from(format!("managed policy {}", stored.arn));
        Ok(Self {
            stored,
            compiled: Arc::new(compiled),
            cited,
        })
    }
}

#[derive(Default)]
struct State {
    /// ARN → managed policy.
    managed: BTreeMap<String, Managed>,
    /// (user name, policy ARN)
    attachments: std::collections::BTreeSet<(String, String)>,
    users: BTreeMap<String, IamUser>,
    keys: HashMap<String, KeyEntry>,
    /// (user, policy name) → policy
    policies: BTreeMap<(String, String), InlinePolicy>,
}

pub struct Directory {
    store: Arc<dyn Store>,
    barrier: Arc<Barrier>,
    key_id: String,
    account_id: String,
    root: RootCredentials,
    state: RwLock<State>,
}

/// Public view of an access key.
#[derive(Debug, Clone)]
pub struct AccessKeyInfo {
    pub id: String,
    pub user_name: String,
    pub active: bool,
    pub created_ms: i64,
}

fn binding<'a>(user_arn: &'a str, key_id: &'a str) -> ValueBinding<'a> {
    ValueBinding {
        secret_arn: user_arn,
        version_id: key_id,
        kind: "access-key-secret",
    }
}

impl Directory {
    pub async fn load(
        store: Arc<dyn Store>,
        barrier: Arc<Barrier>,
        key_id: String,
        account_id: String,
        root: RootCredentials,
    ) -> Result<Self, String> {
        let mut state = State::default();
        for u in store.iam_users().await.map_err(|e| e.to_string())? {
            state.users.insert(u.name.clone(), u);
        }
        for k in store.access_keys().await.map_err(|e| e.to_string())? {
            let Some(user) = state.users.get(&k.user_name) else {
                continue;
            };
            let secret = barrier
                .open(&k.secret, &binding(&user.arn, &k.id))
                .map_err(|_| {
                    format!("access key {} cannot be decrypted with this root key", k.id)
                })?;
            let secret = Zeroizing::new(
                String::from_utf8(secret.to_vec()).map_err(|_| "corrupt access key".to_string())?,
            );
            state.keys.insert(
                k.id.clone(),
                KeyEntry {
                    user_name: k.user_name,
                    active: k.status == "Active",
                    secret,
                    created_ms: k.created_ms,
                },
            );
        }
        for p in store.user_policies().await.map_err(|e| e.to_string())? {
            let compiled =
                strongroom_policy::parse(&p.document, PolicyKind::Identity).map_err(|e| {
                    format!(
                        "stored policy {}/{} no longer parses: {e}",
                        p.user_name, p.policy_name
                    )
                })?;
            let policy = InlinePolicy::new(&p.user_name, &p.policy_name, p.document, compiled);
            state.policies.insert((p.user_name, p.policy_name), policy);
        }
        for m in store.managed_policies().await.map_err(|e| e.to_string())? {
            let arn = m.arn.clone();
            state.managed.insert(arn, Managed::new(m)?);
        }
        for a in store.user_attachments().await.map_err(|e| e.to_string())? {
            state.attachments.insert(a);
        }
        Ok(Self {
            store,
            barrier,
            key_id,
            account_id,
            root,
            state: RwLock::new(state),
        })
    }

    pub fn account_id(&self) -> &str {
        &self.account_id
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, State> {
        self.state.read().unwrap_or_else(|e| e.into_inner())
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, State> {
        self.state.write().unwrap_or_else(|e| e.into_inner())
    }

    /// The principal and secret key for an access key id; `None` if unknown or inactive
    /// (an inactive key is refused at once, as AWS does).
    pub fn credentials(&self, access_key_id: &str) -> Option<(Principal, Zeroizing<String>)> {
        if access_key_id == self.root.access_key_id {
            return Some((
                Principal::root(&self.account_id, access_key_id),
                Zeroizing::new(self.root.secret_access_key.clone()),
            ));
        }
        let state = self.read();
        let key = state.keys.get(access_key_id).filter(|k| k.active)?;
        let user = state.users.get(&key.user_name)?;
        Some((
            Principal {
                account_id: self.account_id.clone(),
                arn: user.arn.clone(),
                access_key_id: access_key_id.to_string(),
                kind: PrincipalKind::User {
                    name: user.name.clone(),
                    id: user.id.clone(),
                },
            },
            key.secret.clone(),
        ))
    }

    /// The identity-based policies of a principal, named as decisions cite them.
    pub fn identity_policies(&self, principal: &Principal) -> Vec<(Arc<str>, Arc<Policy>)> {
        let PrincipalKind::User { name, .. } = &principal.kind else {
            return Vec::new();
        };
        let state = self.read();
        let inline = state
            .policies
            .range((name.clone(), String::new())..)
            .take_while(|((u, _), _)| u == name)
            .map(|(_, p)| (p.cited.clone(), p.compiled.clone()));
        let attached = state
            .attachments
            .range((name.clone(), String::new())..)
            .take_while(|(u, _)| u == name)
            .filter_map(|(_, arn)| state.managed.get(arn))
            .map(|m| (m.cited.clone(), m.compiled.clone()));
        inline.chain(attached).collect()
    }

    pub fn user(&self, name: &str) -> Result<IamUser, DirectoryError> {
        self.read()
            .users
            .get(name)
            .cloned()
            .ok_or_else(|| no_such_user(name))
    }

    pub fn users(&self) -> Vec<IamUser> {
        self.read().users.values().cloned().collect()
    }

    pub async fn create_user(
        &self,
        name: &str,
        path: &str,
        now: i64,
    ) -> Result<IamUser, DirectoryError> {
        if self.read().users.contains_key(name) {
            return Err(user_exists(name));
        }
        let user = IamUser {
            name: name.to_string(),
            id: format!("AIDA{}", random_id(16)),
            arn: format!("arn:aws:iam::{}:user{}{}", self.account_id, path, name),
            path: path.to_string(),
            created_ms: now,
        };
        match self.store.insert_iam_user(&user).await {
            Err(StoreError::NameTaken) => return Err(user_exists(name)),
            other => other?,
        }
        self.write().users.insert(name.to_string(), user.clone());
        Ok(user)
    }

    pub async fn delete_user(&self, name: &str) -> Result<(), DirectoryError> {
        {
            let s = self.read();
            if !s.users.contains_key(name) {
                return Err(no_such_user(name));
            }
            if s.keys.values().any(|k| k.user_name == name)
                || s.policies.keys().any(|(u, _)| u == name)
            {
                return Err(DirectoryError::DeleteConflict(
                    "Cannot delete entity, must delete access keys and policies first.".into(),
                ));
            }
        }
        self.store.delete_iam_user(name).await?;
        self.write().users.remove(name);
        Ok(())
    }

    /// A new access key; the only time its secret is returned.
    pub async fn create_access_key(
        &self,
        user_name: &str,
        now: i64,
    ) -> Result<(AccessKeyInfo, Zeroizing<String>), DirectoryError> {
        let user = self.user(user_name)?;
        if self
            .read()
            .keys
            .values()
            .filter(|k| k.user_name == user_name)
            .count()
            >= MAX_ACCESS_KEYS_PER_USER
        {
            return Err(DirectoryError::LimitExceeded(format!(
                "Cannot exceed quota for AccessKeysPerUser: {MAX_ACCESS_KEYS_PER_USER}"
            )));
        }
        let creds = RootCredentials::generate().map_err(|_| DirectoryError::Internal)?;
        let id = creds.access_key_id.clone();
        let secret = Zeroizing::new(creds.secret_access_key.clone());
        let sealed = self
            .barrier
            .seal(&self.key_id, &binding(&user.arn, &id), secret.as_bytes())
            .map_err(|_| DirectoryError::Internal)?;
        self.store
            .insert_access_key(&StoredAccessKey {
                id: id.clone(),
                user_name: user_name.to_string(),
                status: "Active".into(),
                secret: sealed,
                created_ms: now,
            })
            .await?;
        self.write().keys.insert(
            id.clone(),
            KeyEntry {
                user_name: user_name.to_string(),
                active: true,
                secret: secret.clone(),
                created_ms: now,
            },
        );
        Ok((
            AccessKeyInfo {
                id,
                user_name: user_name.to_string(),
                active: true,
                created_ms: now,
            },
            secret,
        ))
    }

    pub fn access_keys(&self, user_name: &str) -> Result<Vec<AccessKeyInfo>, DirectoryError> {
        self.user(user_name)?;
        let mut keys: Vec<AccessKeyInfo> = self
            .read()
            .keys
            .iter()
            .filter(|(_, k)| k.user_name == user_name)
            .map(|(id, k)| AccessKeyInfo {
                id: id.clone(),
                user_name: k.user_name.clone(),
                active: k.active,
                created_ms: k.created_ms,
            })
            .collect();
        keys.sort_by_key(|k| k.created_ms);
        Ok(keys)
    }

    fn key_owner(&self, id: &str, user_name: Option<&str>) -> Result<String, DirectoryError> {
        let s = self.read();
        match s.keys.get(id) {
            Some(k) if user_name.is_none_or(|u| u == k.user_name) => Ok(k.user_name.clone()),
            _ => Err(DirectoryError::NoSuchEntity(format!(
                "The Access Key with id {id} cannot be found."
            ))),
        }
    }

    pub async fn set_access_key_active(
        &self,
        id: &str,
        user_name: Option<&str>,
        active: bool,
    ) -> Result<(), DirectoryError> {
        self.key_owner(id, user_name)?;
        self.store
            .set_access_key_status(id, if active { "Active" } else { "Inactive" })
            .await?;
        if let Some(k) = self.write().keys.get_mut(id) {
            k.active = active;
        }
        Ok(())
    }

    pub async fn delete_access_key(
        &self,
        id: &str,
        user_name: Option<&str>,
    ) -> Result<(), DirectoryError> {
        self.key_owner(id, user_name)?;
        self.store.delete_access_key(id).await?;
        self.write().keys.remove(id);
        Ok(())
    }

    pub async fn put_user_policy(
        &self,
        user_name: &str,
        policy_name: &str,
        document: &str,
    ) -> Result<(), DirectoryError> {
        self.user(user_name)?;
        let others: usize = self
            .read()
            .policies
            .iter()
            .filter(|((u, p), _)| u == user_name && p != policy_name)
            .map(|(_, p)| policy_size(&p.document))
            .sum();
        if others + policy_size(document) > MAX_INLINE_USER_POLICY_CHARS {
            return Err(DirectoryError::LimitExceeded(format!(
                "Maximum policy size of {MAX_INLINE_USER_POLICY_CHARS} bytes exceeded for user {user_name}"
            )));
        }
        let compiled = strongroom_policy::parse(document, PolicyKind::Identity)
            .map_err(|e| DirectoryError::MalformedPolicyDocument(e.0))?;
        self.store
            .put_user_policy(&StoredUserPolicy {
                user_name: user_name.to_string(),
                policy_name: policy_name.to_string(),
                document: document.to_string(),
            })
            .await?;
        self.write().policies.insert(
            (user_name.to_string(), policy_name.to_string()),
            InlinePolicy::new(user_name, policy_name, document.to_string(), compiled),
        );
        Ok(())
    }

    pub fn user_policy(
        &self,
        user_name: &str,
        policy_name: &str,
    ) -> Result<String, DirectoryError> {
        self.user(user_name)?;
        self.read()
            .policies
            .get(&(user_name.to_string(), policy_name.to_string()))
            .map(|p| p.document.clone())
            .ok_or_else(|| {
                DirectoryError::NoSuchEntity(format!(
                    "The user policy with name {policy_name} cannot be found."
                ))
            })
    }

    pub fn user_policy_names(&self, user_name: &str) -> Result<Vec<String>, DirectoryError> {
        self.user(user_name)?;
        Ok(self
            .read()
            .policies
            .keys()
            .filter(|(u, _)| u == user_name)
            .map(|(_, p)| p.clone())
            .collect())
    }

    pub async fn delete_user_policy(
        &self,
        user_name: &str,
        policy_name: &str,
    ) -> Result<(), DirectoryError> {
        self.user_policy(user_name, policy_name)?;
        self.store
            .delete_user_policy(user_name, policy_name)
            .await?;
        self.write()
            .policies
            .remove(&(user_name.to_string(), policy_name.to_string()));
        Ok(())
    }
}

/// Managed policies.
impl Directory {
    fn parse_managed(document: &str) -> Result<Policy, DirectoryError> {
        if policy_size(document) > MAX_MANAGED_POLICY_CHARS {
            return Err(DirectoryError::LimitExceeded(format!(
                "Cannot exceed quota for PolicySize: {MAX_MANAGED_POLICY_CHARS}"
            )));
        }
        strongroom_policy::parse(document, PolicyKind::Identity)
            .map_err(|e| DirectoryError::MalformedPolicyDocument(e.0))
    }

    pub async fn create_policy(
        &self,
        name: &str,
        path: &str,
        description: Option<String>,
        document: &str,
        now: i64,
    ) -> Result<StoredManagedPolicy, DirectoryError> {
        Self::parse_managed(document)?;
        let arn = format!("arn:aws:iam::{}:policy{path}{name}", self.account_id);
        if self.read().managed.values().any(|m| m.stored.name == name) {
            return Err(DirectoryError::EntityAlreadyExists(format!(
                "A policy called {name} already exists. Duplicate names are not allowed."
            )));
        }
        let stored = StoredManagedPolicy {
            arn: arn.clone(),
            name: name.to_string(),
            id: format!("ANPA{}", random_id(17)),
            path: path.to_string(),
            description,
            default_version: "v1".into(),
            created_ms: now,
            updated_ms: now,
            versions: vec![StoredPolicyVersion {
                id: "v1".into(),
                document: document.to_string(),
                created_ms: now,
            }],
        };
        match self.store.put_managed_policy(&stored, false).await {
            Err(StoreError::NameTaken) => {
                return Err(DirectoryError::EntityAlreadyExists(format!(
                    "A policy called {name} already exists. Duplicate names are not allowed."
                )));
            }
            other => other?,
        }
        let m = Managed::new(stored.clone()).map_err(|_| DirectoryError::Internal)?;
        self.write().managed.insert(arn, m);
        Ok(stored)
    }

    pub fn policy(&self, arn: &str) -> Result<StoredManagedPolicy, DirectoryError> {
        self.read()
            .managed
            .get(arn)
            .map(|m| m.stored.clone())
            .ok_or_else(|| {
                DirectoryError::NoSuchEntity(format!(
                    "Policy {arn} does not exist or is not attachable."
                ))
            })
    }

    pub fn policies(&self) -> Vec<StoredManagedPolicy> {
        self.read()
            .managed
            .values()
            .map(|m| m.stored.clone())
            .collect()
    }

    pub fn attachment_count(&self, arn: &str) -> usize {
        self.read()
            .attachments
            .iter()
            .filter(|(_, a)| a == arn)
            .count()
    }

    pub async fn create_policy_version(
        &self,
        arn: &str,
        document: &str,
        set_default: bool,
        now: i64,
    ) -> Result<StoredPolicyVersion, DirectoryError> {
        Self::parse_managed(document)?;
        let mut stored = self.policy(arn)?;
        if stored.versions.len() >= MAX_POLICY_VERSIONS {
            return Err(DirectoryError::LimitExceeded(format!(
                "A managed policy can have up to {MAX_POLICY_VERSIONS} versions. Before you create a new version, you must delete an existing version."
            )));
        }
        let next = stored
            .versions
            .iter()
            .filter_map(|v| v.id.strip_prefix('v')?.parse::<u32>().ok())
            .max()
            .unwrap_or(0)
            + 1;
        let version = StoredPolicyVersion {
            id: format!("v{next}"),
            document: document.to_string(),
            created_ms: now,
        };
        stored.versions.push(version.clone());
        if set_default {
            stored.default_version = version.id.clone();
        }
        stored.updated_ms = now;
        self.store.put_managed_policy(&stored, true).await?;
        let m = Managed::new(stored).map_err(|_| DirectoryError::Internal)?;
        self.write().managed.insert(arn.to_string(), m);
        Ok(version)
    }

    pub async fn delete_policy(&self, arn: &str) -> Result<(), DirectoryError> {
        let stored = self.policy(arn)?;
        if self.attachment_count(arn) > 0 {
            return Err(DirectoryError::DeleteConflict(
                "Cannot delete a policy attached to entities.".into(),
            ));
        }
        if stored.versions.len() > 1 {
            return Err(DirectoryError::DeleteConflict(
                "This policy has more than one version. Before you delete a policy, you must delete the policy's versions. The default version is deleted with the policy.".into(),
            ));
        }
        self.store.delete_managed_policy(arn).await?;
        self.write().managed.remove(arn);
        Ok(())
    }

    pub async fn attach_user_policy(
        &self,
        user_name: &str,
        arn: &str,
    ) -> Result<(), DirectoryError> {
        self.user(user_name)?;
        self.policy(arn)?;
        let attached = self
            .read()
            .attachments
            .iter()
            .filter(|(u, a)| u == user_name && a != arn)
            .count();
        if attached >= MAX_ATTACHED_PER_USER {
            return Err(DirectoryError::LimitExceeded(format!(
                "Cannot exceed quota for PoliciesPerUser: {MAX_ATTACHED_PER_USER}"
            )));
        }
        self.store.attach_user_policy(user_name, arn).await?;
        self.write()
            .attachments
            .insert((user_name.to_string(), arn.to_string()));
        Ok(())
    }

    pub async fn detach_user_policy(
        &self,
        user_name: &str,
        arn: &str,
    ) -> Result<(), DirectoryError> {
        self.user(user_name)?;
        if !self
            .read()
            .attachments
            .contains(&(user_name.to_string(), arn.to_string()))
        {
            return Err(DirectoryError::NoSuchEntity(format!(
                "Policy {arn} was not found."
            )));
        }
        self.store.detach_user_policy(user_name, arn).await?;
        self.write()
            .attachments
            .remove(&(user_name.to_string(), arn.to_string()));
        Ok(())
    }

    /// (name, ARN) of the managed policies attached to a user.
    pub fn attached_user_policies(
        &self,
        user_name: &str,
    ) -> Result<Vec<(String, String)>, DirectoryError> {
        self.user(user_name)?;
        let s = self.read();
        Ok(s.attachments
            .iter()
            .filter(|(u, _)| u == user_name)
            .filter_map(|(_, arn)| {
                s.managed
                    .get(arn)
                    .map(|m| (m.stored.name.clone(), arn.clone()))
            })
            .collect())
    }
}

fn no_such_user(name: &str) -> DirectoryError {
    DirectoryError::NoSuchEntity(format!("The user with name {name} cannot be found."))
}

fn user_exists(name: &str) -> DirectoryError {
    DirectoryError::EntityAlreadyExists(format!("User with name {name} already exists."))
}

/// Uppercase base32-ish id characters, like AWS's unique ids.
fn random_id(len: usize) -> String {
    use aws_lc_rs::rand::{SecureRandom, SystemRandom};
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    let mut bytes = vec![0u8; len];
    let _ = SystemRandom::new().fill(&mut bytes);
    bytes
        .iter()
        .map(|b| ALPHABET[(*b & 31) as usize] as char)
        .collect()
}
