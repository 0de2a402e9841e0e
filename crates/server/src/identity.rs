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
use strongroom_store::{IamUser, Store, StoreError, StoredAccessKey, StoredUserPolicy};
use zeroize::Zeroizing;

use crate::credentials::{Principal, PrincipalKind, RootCredentials};

/// IAM's documented limits.
pub const MAX_ACCESS_KEYS_PER_USER: usize = 2;
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

#[derive(Default)]
struct State {
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
        self.read()
            .policies
            .range((name.clone(), String::new())..)
            .take_while(|((u, _), _)| u == name)
            .map(|(_, p)| (p.cited.clone(), p.compiled.clone()))
            .collect()
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
