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
    IamUser, Store, StoreError, StoredAccessKey, StoredGroup, StoredManagedPolicy,
    StoredPolicyVersion, StoredRole, StoredUserPolicy,
};

use crate::iam::sessions::{self, Session, SessionGrant, Subject};
use zeroize::Zeroizing;

use crate::credentials::{Principal, PrincipalKind, RootCredentials};

/// IAM's documented limits.
pub const MAX_ACCESS_KEYS_PER_USER: usize = 2;
/// Aggregate inline policy size for a group.
pub const MAX_INLINE_GROUP_POLICY_CHARS: usize = 5_120;
/// Aggregate inline policy size for a role.
pub const MAX_INLINE_ROLE_POLICY_CHARS: usize = 10_240;
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

struct Role {
    stored: StoredRole,
    trust: Arc<Policy>,
    /// (cited name, compiled) of each inline policy.
    inline: Vec<(Arc<str>, Arc<Policy>)>,
}

impl Role {
    fn new(stored: StoredRole) -> Result<Self, DirectoryError> {
        let trust = strongroom_policy::parse(&stored.trust_policy, PolicyKind::Trust)
            .map_err(|e| DirectoryError::MalformedPolicyDocument(e.0))?;
        let mut inline = Vec::new();
        for (name, doc) in &stored.inline_policies {
            let p = strongroom_policy::parse(doc, PolicyKind::Identity)
                .map_err(|e| DirectoryError::MalformedPolicyDocument(e.0))?;
            inline.push((
                Arc::from(format!("role/{} inline policy {name}", stored.name)),
                Arc::new(p),
            ));
        }
        Ok(Self {
            stored,
            trust: Arc::new(trust),
            inline,
        })
    }
}

/// Why a session token was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionError {
    Invalid,
    Expired,
}

struct Group {
    stored: StoredGroup,
    inline: Vec<(Arc<str>, Arc<Policy>)>,
}

impl Group {
    fn new(stored: StoredGroup) -> Result<Self, DirectoryError> {
        let mut inline = Vec::new();
        for (name, doc) in &stored.inline_policies {
            let p = strongroom_policy::parse(doc, PolicyKind::Identity)
                .map_err(|e| DirectoryError::MalformedPolicyDocument(e.0))?;
            inline.push((
                Arc::from(format!("group/{} inline policy {name}", stored.name)),
                Arc::new(p),
            ));
        }
        Ok(Self { stored, inline })
    }
}

#[derive(Default)]
struct State {
    groups: BTreeMap<String, Group>,
    /// (group, user)
    members: std::collections::BTreeSet<(String, String)>,
    /// (group, policy ARN)
    group_attachments: std::collections::BTreeSet<(String, String)>,
    roles: BTreeMap<String, Role>,
    /// (role name, policy ARN)
    role_attachments: std::collections::BTreeSet<(String, String)>,
    /// ARN → managed policy.
    managed: BTreeMap<String, Managed>,
    /// (user name, policy ARN)
    attachments: std::collections::BTreeSet<(String, String)>,
    users: BTreeMap<String, IamUser>,
    keys: HashMap<String, KeyEntry>,
    /// (user, policy name) → policy
    policies: BTreeMap<(String, String), InlinePolicy>,
    /// Each principal's [`Effective`] policies, computed on first use after a change (every
    /// write clears it): requests neither walk the directory nor build vectors.
    effective: std::sync::Mutex<EffectiveCache>,
}

#[derive(Default)]
struct EffectiveCache {
    users: HashMap<String, Effective>,
    roles: HashMap<String, Effective>,
}

/// What authorizes a principal's requests: its identity-based policies (own, groups',
/// attached) and its permissions boundary.
#[derive(Clone, Default)]
pub struct Effective {
    pub policies: Arc<[CitedPolicy]>,
    pub boundary: Option<CitedPolicy>,
}

/// A policy with the name decisions cite it by.
pub type CitedPolicy = (Arc<str>, Arc<Policy>);

/// What CreateRole supplies.
pub struct NewRole<'a> {
    pub name: &'a str,
    pub path: &'a str,
    pub trust_policy: &'a str,
    pub description: Option<String>,
    pub max_session_secs: i64,
    pub boundary: Option<String>,
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
        for r in store.roles().await.map_err(|e| e.to_string())? {
            let name = r.name.clone();
            let role =
                Role::new(r).map_err(|e| format!("stored role {name} no longer parses: {e:?}"))?;
            state.roles.insert(name, role);
        }
        for a in store.role_attachments().await.map_err(|e| e.to_string())? {
            state.role_attachments.insert(a);
        }
        for g in store.groups().await.map_err(|e| e.to_string())? {
            let name = g.name.clone();
            let group = Group::new(g)
                .map_err(|e| format!("stored group {name} no longer parses: {e:?}"))?;
            state.groups.insert(name, group);
        }
        for m in store.group_members().await.map_err(|e| e.to_string())? {
            state.members.insert(m);
        }
        for a in store.group_attachments().await.map_err(|e| e.to_string())? {
            state.group_attachments.insert(a);
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
        let mut state = self.state.write().unwrap_or_else(|e| e.into_inner());
        // Cleared under the write lock: no reader can be computing from the old state.
        *state.effective.get_mut().unwrap_or_else(|e| e.into_inner()) = Default::default();
        state
    }

    /// A principal's identity policies and boundary, cached until the directory changes.
    pub fn effective(&self, principal: &Principal) -> Effective {
        let (name, is_role) = match &principal.kind {
            PrincipalKind::User { name, .. } => (name, false),
            PrincipalKind::AssumedRole { role_name, .. } => (role_name, true),
            PrincipalKind::Root => return Effective::default(),
        };
        let state = self.read();
        let cached = |c: &EffectiveCache| {
            if is_role { &c.roles } else { &c.users }
                .get(name.as_str())
                .cloned()
        };
        let lock = || state.effective.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(e) = cached(&lock()) {
            return e;
        }
        let e = Effective {
            policies: identity_policies(&state, principal).into(),
            boundary: boundary(&state, principal),
        };
        let mut c = lock();
        if is_role { &mut c.roles } else { &mut c.users }.insert(name.clone(), e.clone());
        e
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

    /// A group's own policies, inline and attached (SimulatePrincipalPolicy on a group).
    pub fn group_policies(&self, name: &str) -> Result<Vec<CitedPolicy>, DirectoryError> {
        let state = self.read();
        let group = state.groups.get(name).ok_or_else(|| {
            DirectoryError::NoSuchEntity(format!("The group with name {name} cannot be found."))
        })?;
        let attached = state
            .group_attachments
            .iter()
            .filter(|(g, _)| g == name)
            .filter_map(|(_, arn)| state.managed.get(arn))
            .map(|m| (m.cited.clone(), m.compiled.clone()));
        Ok(group.inline.iter().cloned().chain(attached).collect())
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
        boundary: Option<String>,
        now: i64,
    ) -> Result<IamUser, DirectoryError> {
        if self.read().users.contains_key(name) {
            return Err(user_exists(name));
        }
        if let Some(arn) = &boundary {
            self.boundary_exists(arn)?;
        }
        let user = IamUser {
            name: name.to_string(),
            id: format!("AIDA{}", random_id(16)),
            arn: format!("arn:aws:iam::{}:user{}{}", self.account_id, path, name),
            path: path.to_string(),
            created_ms: now,
            permissions_boundary: boundary,
        };
        match self.store.insert_iam_user(&user).await {
            Err(StoreError::NameTaken) => return Err(user_exists(name)),
            other => other?,
        }
        self.write().users.insert(name.to_string(), user.clone());
        Ok(user)
    }

    /// A permissions boundary must be a managed policy that exists.
    fn boundary_exists(&self, arn: &str) -> Result<(), DirectoryError> {
        if self.read().managed.contains_key(arn) {
            Ok(())
        } else {
            Err(DirectoryError::NoSuchEntity(format!(
                "Policy {arn} does not exist or is not attachable."
            )))
        }
    }

    /// Set (`Some`) or remove (`None`) a user's permissions boundary.
    pub async fn set_user_boundary(
        &self,
        name: &str,
        boundary: Option<String>,
    ) -> Result<(), DirectoryError> {
        self.user(name)?;
        if let Some(arn) = &boundary {
            self.boundary_exists(arn)?;
        }
        if !self
            .store
            .set_user_boundary(name, boundary.as_deref())
            .await?
        {
            return Err(no_such_user(name));
        }
        if let Some(u) = self.write().users.get_mut(name) {
            u.permissions_boundary = boundary;
        }
        Ok(())
    }

    /// Set (`Some`) or remove (`None`) a role's permissions boundary.
    pub async fn set_role_boundary(
        &self,
        name: &str,
        boundary: Option<String>,
    ) -> Result<(), DirectoryError> {
        let mut stored = self.role(name)?;
        if let Some(arn) = &boundary {
            self.boundary_exists(arn)?;
        }
        stored.permissions_boundary = boundary;
        self.replace_role(stored).await
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

/// Roles and STS sessions.
impl Directory {
    pub async fn create_role(
        &self,
        new: NewRole<'_>,
        now: i64,
    ) -> Result<StoredRole, DirectoryError> {
        let NewRole {
            name,
            path,
            trust_policy,
            description,
            max_session_secs,
            boundary,
        } = new;
        if self.read().roles.contains_key(name) {
            return Err(role_exists(name));
        }
        if let Some(arn) = &boundary {
            self.boundary_exists(arn)?;
        }
        let stored = StoredRole {
            name: name.to_string(),
            id: format!("AROA{}", random_id(17)),
            arn: format!("arn:aws:iam::{}:role{path}{name}", self.account_id),
            path: path.to_string(),
            description,
            trust_policy: trust_policy.to_string(),
            max_session_secs,
            created_ms: now,
            inline_policies: Vec::new(),
            permissions_boundary: boundary,
        };
        let role = Role::new(stored.clone())?;
        match self.store.put_role(&stored, false).await {
            Err(StoreError::NameTaken) => return Err(role_exists(name)),
            other => other?,
        }
        self.write().roles.insert(name.to_string(), role);
        Ok(stored)
    }

    pub fn role(&self, name: &str) -> Result<StoredRole, DirectoryError> {
        self.read()
            .roles
            .get(name)
            .map(|r| r.stored.clone())
            .ok_or_else(|| {
                DirectoryError::NoSuchEntity(format!("The role with name {name} cannot be found."))
            })
    }

    pub fn roles(&self) -> Vec<StoredRole> {
        self.read()
            .roles
            .values()
            .map(|r| r.stored.clone())
            .collect()
    }

    /// Replace a role's stored form (trust or inline policies changed), validating it first.
    async fn replace_role(&self, stored: StoredRole) -> Result<(), DirectoryError> {
        let role = Role::new(stored.clone())?;
        self.store.put_role(&stored, true).await?;
        self.write().roles.insert(stored.name.clone(), role);
        Ok(())
    }

    pub async fn update_trust_policy(
        &self,
        name: &str,
        document: &str,
    ) -> Result<(), DirectoryError> {
        let mut stored = self.role(name)?;
        stored.trust_policy = document.to_string();
        self.replace_role(stored).await
    }

    pub async fn put_role_policy(
        &self,
        role: &str,
        policy: &str,
        document: &str,
    ) -> Result<(), DirectoryError> {
        let mut stored = self.role(role)?;
        stored.inline_policies.retain(|(n, _)| n != policy);
        let total: usize = stored
            .inline_policies
            .iter()
            .map(|(_, d)| policy_size(d))
            .sum::<usize>()
            + policy_size(document);
        if total > MAX_INLINE_ROLE_POLICY_CHARS {
            return Err(DirectoryError::LimitExceeded(format!(
                "Maximum policy size of {MAX_INLINE_ROLE_POLICY_CHARS} bytes exceeded for role {role}"
            )));
        }
        stored
            .inline_policies
            .push((policy.to_string(), document.to_string()));
        self.replace_role(stored).await
    }

    pub fn role_policy(&self, role: &str, policy: &str) -> Result<String, DirectoryError> {
        self.role(role)?
            .inline_policies
            .into_iter()
            .find(|(n, _)| n == policy)
            .map(|(_, d)| d)
            .ok_or_else(|| {
                DirectoryError::NoSuchEntity(format!(
                    "The role policy with name {policy} cannot be found."
                ))
            })
    }

    pub async fn delete_role_policy(&self, role: &str, policy: &str) -> Result<(), DirectoryError> {
        self.role_policy(role, policy)?;
        let mut stored = self.role(role)?;
        stored.inline_policies.retain(|(n, _)| n != policy);
        self.replace_role(stored).await
    }

    pub async fn attach_role_policy(&self, role: &str, arn: &str) -> Result<(), DirectoryError> {
        self.role(role)?;
        self.policy(arn)?;
        self.store.attach_role_policy(role, arn).await?;
        self.write()
            .role_attachments
            .insert((role.to_string(), arn.to_string()));
        Ok(())
    }

    pub async fn detach_role_policy(&self, role: &str, arn: &str) -> Result<(), DirectoryError> {
        self.role(role)?;
        if !self.store.detach_role_policy(role, arn).await? {
            return Err(DirectoryError::NoSuchEntity(format!(
                "Policy {arn} was not found."
            )));
        }
        self.write()
            .role_attachments
            .remove(&(role.to_string(), arn.to_string()));
        Ok(())
    }

    pub fn attached_role_policies(
        &self,
        role: &str,
    ) -> Result<Vec<(String, String)>, DirectoryError> {
        self.role(role)?;
        let s = self.read();
        Ok(s.role_attachments
            .iter()
            .filter(|(r, _)| r == role)
            .filter_map(|(_, arn)| {
                s.managed
                    .get(arn)
                    .map(|m| (m.stored.name.clone(), arn.clone()))
            })
            .collect())
    }

    pub async fn delete_role(&self, name: &str) -> Result<(), DirectoryError> {
        let stored = self.role(name)?;
        if !stored.inline_policies.is_empty()
            || self.read().role_attachments.iter().any(|(r, _)| r == name)
        {
            return Err(DirectoryError::DeleteConflict(
                "Cannot delete entity, must delete policies first.".into(),
            ));
        }
        self.store.delete_role(name).await?;
        self.write().roles.remove(name);
        Ok(())
    }

    /// The role's trust policy, compiled.
    pub fn trust_policy(&self, name: &str) -> Option<Arc<Policy>> {
        self.read().roles.get(name).map(|r| r.trust.clone())
    }

    /// Issue temporary credentials: (access key id, secret, session token).
    pub fn issue_session(
        &self,
        subject: Subject,
        grant: SessionGrant,
        now: i64,
        duration_secs: i64,
    ) -> Result<(Session, String), DirectoryError> {
        let creds = RootCredentials::generate().map_err(|_| DirectoryError::Internal)?;
        let session = Session {
            access_key_id: format!("ASIA{}", &creds.access_key_id[4..]),
            secret_access_key: creds.secret_access_key.clone(),
            issued_ms: now,
            expires_ms: now + duration_secs * 1000,
            subject,
            policy: grant.policy,
            tags: grant.tags,
            transitive_tag_keys: grant.transitive_tag_keys,
            source_identity: grant.source_identity,
        };
        let token = sessions::issue(&self.barrier, &self.key_id, &session)
            .ok_or(DirectoryError::Internal)?;
        Ok((session, token))
    }

    /// The principal and secret for temporary credentials presented with `token`.
    pub fn session_credentials(
        &self,
        token: &str,
        access_key_id: &str,
        now_ms: i64,
    ) -> Result<(Principal, Zeroizing<String>), SessionError> {
        let session = sessions::open(&self.barrier, token).ok_or(SessionError::Invalid)?;
        if session.access_key_id != access_key_id {
            return Err(SessionError::Invalid);
        }
        if now_ms >= session.expires_ms {
            return Err(SessionError::Expired);
        }
        let secret = Zeroizing::new(session.secret_access_key.clone());
        let state = self.read();
        let principal = match &session.subject {
            Subject::User { name } => {
                let user = state.users.get(name).ok_or(SessionError::Invalid)?;
                Principal {
                    account_id: self.account_id.clone(),
                    arn: user.arn.clone(),
                    access_key_id: access_key_id.to_string(),
                    kind: PrincipalKind::User {
                        name: user.name.clone(),
                        id: user.id.clone(),
                    },
                }
            }
            Subject::Role { name, session_name } => {
                let role = state.roles.get(name).ok_or(SessionError::Invalid)?;
                let session_policy = match &session.policy {
                    Some(doc) => Some(Arc::new(
                        strongroom_policy::parse(doc, PolicyKind::Session)
                            .map_err(|_| SessionError::Invalid)?,
                    )),
                    None => None,
                };
                Principal {
                    account_id: self.account_id.clone(),
                    arn: format!(
                        "arn:aws:sts::{}:assumed-role/{name}/{session_name}",
                        self.account_id
                    ),
                    access_key_id: access_key_id.to_string(),
                    kind: PrincipalKind::AssumedRole {
                        role_name: name.clone(),
                        role_arn: role.stored.arn.clone(),
                        principal_id: format!("{}:{session_name}", role.stored.id),
                        session_name: session_name.clone(),
                        session_policy,
                        session_tags: session.tags.clone(),
                        transitive_tag_keys: session.transitive_tag_keys.clone(),
                        source_identity: session.source_identity.clone(),
                    },
                }
            }
        };
        Ok((principal, secret))
    }
}

/// Groups.
impl Directory {
    pub async fn create_group(
        &self,
        name: &str,
        path: &str,
        now: i64,
    ) -> Result<StoredGroup, DirectoryError> {
        let exists = || {
            DirectoryError::EntityAlreadyExists(format!("Group with name {name} already exists."))
        };
        if self.read().groups.contains_key(name) {
            return Err(exists());
        }
        let stored = StoredGroup {
            name: name.to_string(),
            id: format!("AGPA{}", random_id(17)),
            arn: format!("arn:aws:iam::{}:group{path}{name}", self.account_id),
            path: path.to_string(),
            created_ms: now,
            inline_policies: Vec::new(),
        };
        match self.store.put_group(&stored, false).await {
            Err(StoreError::NameTaken) => return Err(exists()),
            other => other?,
        }
        let g = Group::new(stored.clone())?;
        self.write().groups.insert(name.to_string(), g);
        Ok(stored)
    }

    pub fn group(&self, name: &str) -> Result<StoredGroup, DirectoryError> {
        self.read()
            .groups
            .get(name)
            .map(|g| g.stored.clone())
            .ok_or_else(|| {
                DirectoryError::NoSuchEntity(format!("The group with name {name} cannot be found."))
            })
    }

    pub fn groups(&self) -> Vec<StoredGroup> {
        self.read()
            .groups
            .values()
            .map(|g| g.stored.clone())
            .collect()
    }

    pub fn group_members(&self, name: &str) -> Result<Vec<IamUser>, DirectoryError> {
        self.group(name)?;
        let s = self.read();
        Ok(s.members
            .iter()
            .filter(|(g, _)| g == name)
            .filter_map(|(_, u)| s.users.get(u).cloned())
            .collect())
    }

    pub fn groups_for_user(&self, user: &str) -> Result<Vec<StoredGroup>, DirectoryError> {
        self.user(user)?;
        let s = self.read();
        Ok(s.members
            .iter()
            .filter(|(_, u)| u == user)
            .filter_map(|(g, _)| s.groups.get(g).map(|g| g.stored.clone()))
            .collect())
    }

    pub async fn add_user_to_group(&self, group: &str, user: &str) -> Result<(), DirectoryError> {
        self.group(group)?;
        self.user(user)?;
        self.store.add_group_member(group, user).await?;
        self.write()
            .members
            .insert((group.to_string(), user.to_string()));
        Ok(())
    }

    pub async fn remove_user_from_group(
        &self,
        group: &str,
        user: &str,
    ) -> Result<(), DirectoryError> {
        self.group(group)?;
        self.user(user)?;
        self.store.remove_group_member(group, user).await?;
        self.write()
            .members
            .remove(&(group.to_string(), user.to_string()));
        Ok(())
    }

    async fn replace_group(&self, stored: StoredGroup) -> Result<(), DirectoryError> {
        let g = Group::new(stored.clone())?;
        self.store.put_group(&stored, true).await?;
        self.write().groups.insert(stored.name.clone(), g);
        Ok(())
    }

    pub async fn put_group_policy(
        &self,
        group: &str,
        policy: &str,
        document: &str,
    ) -> Result<(), DirectoryError> {
        let mut stored = self.group(group)?;
        stored.inline_policies.retain(|(n, _)| n != policy);
        let total: usize = stored
            .inline_policies
            .iter()
            .map(|(_, d)| policy_size(d))
            .sum::<usize>()
            + policy_size(document);
        if total > MAX_INLINE_GROUP_POLICY_CHARS {
            return Err(DirectoryError::LimitExceeded(format!(
                "Maximum policy size of {MAX_INLINE_GROUP_POLICY_CHARS} bytes exceeded for group {group}"
            )));
        }
        stored
            .inline_policies
            .push((policy.to_string(), document.to_string()));
        self.replace_group(stored).await
    }

    pub fn group_policy(&self, group: &str, policy: &str) -> Result<String, DirectoryError> {
        self.group(group)?
            .inline_policies
            .into_iter()
            .find(|(n, _)| n == policy)
            .map(|(_, d)| d)
            .ok_or_else(|| {
                DirectoryError::NoSuchEntity(format!(
                    "The group policy with name {policy} cannot be found."
                ))
            })
    }

    pub async fn delete_group_policy(
        &self,
        group: &str,
        policy: &str,
    ) -> Result<(), DirectoryError> {
        self.group_policy(group, policy)?;
        let mut stored = self.group(group)?;
        stored.inline_policies.retain(|(n, _)| n != policy);
        self.replace_group(stored).await
    }

    pub async fn attach_group_policy(&self, group: &str, arn: &str) -> Result<(), DirectoryError> {
        self.group(group)?;
        self.policy(arn)?;
        self.store.attach_group_policy(group, arn).await?;
        self.write()
            .group_attachments
            .insert((group.to_string(), arn.to_string()));
        Ok(())
    }

    pub async fn detach_group_policy(&self, group: &str, arn: &str) -> Result<(), DirectoryError> {
        self.group(group)?;
        if !self.store.detach_group_policy(group, arn).await? {
            return Err(DirectoryError::NoSuchEntity(format!(
                "Policy {arn} was not found."
            )));
        }
        self.write()
            .group_attachments
            .remove(&(group.to_string(), arn.to_string()));
        Ok(())
    }

    pub fn attached_group_policies(
        &self,
        group: &str,
    ) -> Result<Vec<(String, String)>, DirectoryError> {
        self.group(group)?;
        let s = self.read();
        Ok(s.group_attachments
            .iter()
            .filter(|(g, _)| g == group)
            .filter_map(|(_, arn)| {
                s.managed
                    .get(arn)
                    .map(|m| (m.stored.name.clone(), arn.clone()))
            })
            .collect())
    }

    pub async fn delete_group(&self, name: &str) -> Result<(), DirectoryError> {
        let stored = self.group(name)?;
        let busy = {
            let s = self.read();
            !stored.inline_policies.is_empty()
                || s.members.iter().any(|(g, _)| g == name)
                || s.group_attachments.iter().any(|(g, _)| g == name)
        };
        if busy {
            return Err(DirectoryError::DeleteConflict(
                "Cannot delete entity, must remove users from group and delete policies first."
                    .into(),
            ));
        }
        self.store.delete_group(name).await?;
        self.write().groups.remove(name);
        Ok(())
    }
}

fn role_exists(name: &str) -> DirectoryError {
    DirectoryError::EntityAlreadyExists(format!("Role with name {name} already exists."))
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

/// The identity-based policies of a principal (its own, its groups'), named as decisions
/// cite them.
fn identity_policies(state: &State, principal: &Principal) -> Vec<CitedPolicy> {
    if let PrincipalKind::AssumedRole { role_name, .. } = &principal.kind {
        let Some(role) = state.roles.get(role_name) else {
            return Vec::new();
        };
        let attached = state
            .role_attachments
            .range((role_name.clone(), String::new())..)
            .take_while(|(r, _)| r == role_name)
            .filter_map(|(_, arn)| state.managed.get(arn))
            .map(|m| (m.cited.clone(), m.compiled.clone()));
        return role.inline.iter().cloned().chain(attached).collect();
    }
    let PrincipalKind::User { name, .. } = &principal.kind else {
        return Vec::new();
    };
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
    // Policies of the user's groups: inline and attached.
    let groups: Vec<&String> = state
        .members
        .iter()
        .filter(|(_, u)| u == name)
        .map(|(g, _)| g)
        .collect();
    let group_inline = groups
        .iter()
        .filter_map(|g| state.groups.get(*g))
        .flat_map(|g| g.inline.iter().cloned());
    let group_attached = state
        .group_attachments
        .iter()
        .filter(|(g, _)| groups.contains(&g))
        .filter_map(|(_, arn)| state.managed.get(arn))
        .map(|m| (m.cited.clone(), m.compiled.clone()));
    inline
        .chain(attached)
        .chain(group_inline)
        .chain(group_attached)
        .collect()
}

/// A principal's permissions boundary, if it has one.
fn boundary(state: &State, principal: &Principal) -> Option<CitedPolicy> {
    let arn = match &principal.kind {
        PrincipalKind::User { name, .. } => state.users.get(name)?.permissions_boundary.clone(),
        PrincipalKind::AssumedRole { role_name, .. } => state
            .roles
            .get(role_name)?
            .stored
            .permissions_boundary
            .clone(),
        PrincipalKind::Root => None,
    }?;
    // A boundary naming a deleted policy allows nothing (fail closed).
    match state.managed.get(&arn) {
        Some(m) => Some((m.cited.clone(), m.compiled.clone())),
        None => Some((
            Arc::from(format!("missing permissions boundary {arn}")),
            Arc::new(
                strongroom_policy::parse(
                    r#"{"Version":"2012-10-17","Statement":[{"Effect":"Deny","Action":"*","Resource":"*"}]}"#,
                    PolicyKind::Identity,
                )
                .expect("a fixed deny-all policy parses"),
            ),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use strongroom_barrier::RootKey;
    use strongroom_store::sqlite::SqliteStore;

    async fn directory() -> Directory {
        let store: Arc<dyn Store> = Arc::new(SqliteStore::in_memory().await.unwrap());
        let barrier = Arc::new(Barrier::new(&RootKey::generate().unwrap()));
        barrier.create_kms_key("k").unwrap();
        Directory::load(
            store,
            barrier,
            "k".into(),
            "123456789012".into(),
            RootCredentials::dev(),
        )
        .await
        .unwrap()
    }

    #[tokio::test]
    async fn session_tokens_expire_on_time_and_follow_the_role() {
        let d = directory().await;
        let trust = r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Principal":{"AWS":"123456789012"},"Action":"sts:AssumeRole"}}"#;
        d.create_role(
            NewRole {
                name: "r",
                path: "/",
                trust_policy: trust,
                description: None,
                max_session_secs: 3600,
                boundary: None,
            },
            0,
        )
        .await
        .unwrap();
        let subject = Subject::Role {
            name: "r".into(),
            session_name: "s".into(),
        };
        let (session, token) = d
            .issue_session(subject, Default::default(), 1_000, 900)
            .unwrap();
        let (p, secret) = d
            .session_credentials(&token, &session.access_key_id, 1_000 + 899_999)
            .unwrap();
        assert_eq!(p.arn, "arn:aws:sts::123456789012:assumed-role/r/s");
        assert_eq!(*secret, session.secret_access_key);
        assert_eq!(
            d.session_credentials(&token, &session.access_key_id, 1_000 + 900_000)
                .unwrap_err(),
            SessionError::Expired
        );
        assert_eq!(
            d.session_credentials(&token, "ASIAOTHER", 1_000)
                .unwrap_err(),
            SessionError::Invalid
        );
        // Deleting the role invalidates its sessions.
        d.delete_role("r").await.unwrap();
        assert_eq!(
            d.session_credentials(&token, &session.access_key_id, 1_000)
                .unwrap_err(),
            SessionError::Invalid
        );
    }

    #[tokio::test]
    async fn access_keys_survive_a_restart_sealed() {
        let store: Arc<dyn Store> = Arc::new(SqliteStore::in_memory().await.unwrap());
        let barrier = Arc::new(Barrier::new(&RootKey::generate().unwrap()));
        barrier.create_kms_key("k").unwrap();
        let load = || {
            Directory::load(
                store.clone(),
                barrier.clone(),
                "k".into(),
                "123456789012".into(),
                RootCredentials::dev(),
            )
        };
        let d = load().await.unwrap();
        d.create_user("u", "/", None, 0).await.unwrap();
        let (key, secret) = d.create_access_key("u", 0).await.unwrap();
        let stored = store.access_keys().await.unwrap();
        assert!(
            !stored[0]
                .secret
                .ciphertext()
                .windows(secret.len())
                .any(|w| w == secret.as_bytes()),
            "the secret half is sealed at rest"
        );
        let again = load().await.unwrap();
        let (p, s) = again.credentials(&key.id).unwrap();
        assert_eq!(p.arn, "arn:aws:iam::123456789012:user/u");
        assert_eq!(*s, *secret);
        again
            .set_access_key_active(&key.id, None, false)
            .await
            .unwrap();
        assert!(
            again.credentials(&key.id).is_none(),
            "inactive keys are refused"
        );
    }
}
