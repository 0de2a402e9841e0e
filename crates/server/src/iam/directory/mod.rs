//! The identity directory: IAM users and their access keys (users.rs), console passwords and
//! the password sign-in (logins.rs), managed policies (policies.rs), roles and STS sessions
//! (roles.rs), groups (groups.rs), and the policies that apply to a principal (here).
//!
//! Held in memory (authentication and authorization run on every request and must not touch
//! the database) and written through to the store; access keys' secret halves are sealed by
//! the barrier at rest and kept in zeroizing memory here. Single-node: a multi-node backend
//! will need change notifications.

mod groups;
mod logins;
mod policies;
mod roles;
mod users;

pub use logins::{LoginProfileInfo, PasswordSignIn, SignInError};

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
    /// A password the account's password policy refuses (PasswordPolicyViolation).
    PasswordPolicyViolation(String),
    AccessDenied(String),
    Internal,
}

impl From<strongroom_domain::policy_versions::VersionError> for DirectoryError {
    fn from(e: strongroom_domain::policy_versions::VersionError) -> Self {
        use strongroom_domain::policy_versions::VersionError as V;
        let message = e.to_string();
        match e {
            V::NoSuchVersion { .. } => DirectoryError::NoSuchEntity(message),
            V::TooManyVersions => DirectoryError::LimitExceeded(message),
            V::DeleteDefault | V::OtherVersions => DirectoryError::DeleteConflict(message),
        }
    }
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
    /// User name → console password (hash only).
    logins: BTreeMap<String, strongroom_store::StoredLoginProfile>,
    password_policy: Option<strongroom_domain::console_passwords::PasswordPolicy>,
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
    /// The home region's partition: IAM's ARNs carry it.
    partition: &'static str,
    root: RootCredentials,
    state: RwLock<State>,
    /// Bumped by every change this node makes: a re-read (another node's change) that began
    /// before one is not installed over it.
    generation: std::sync::atomic::AtomicU64,
    /// Password sign-in lockout ([`Directory::with_lockout`]).
    lockout: strongroom_domain::console_passwords::Lockout,
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
        partition: &'static str,
        root: RootCredentials,
    ) -> Result<Self, String> {
        let state = read_state(&*store, &barrier).await?;
        Ok(Self {
            store,
            barrier,
            key_id,
            account_id,
            partition,
            root,
            state: RwLock::new(state),
            generation: Default::default(),
            lockout: Default::default(),
        })
    }

    pub fn account_id(&self) -> &str {
        &self.account_id
    }

    pub fn partition(&self) -> &'static str {
        self.partition
    }

    /// Several nodes: read everything again (another node changed IAM).
    pub async fn refresh(&self) -> Result<(), String> {
        use std::sync::atomic::Ordering::SeqCst;
        loop {
            let seen = self.generation.load(SeqCst);
            let state = read_state(&*self.store, &self.barrier).await?;
            let mut live = self.state.write().unwrap_or_else(|e| e.into_inner());
            // A change of this node's own since the read began: read again.
            if self.generation.load(SeqCst) == seen {
                *live = state;
                return Ok(());
            }
        }
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, State> {
        self.state.read().unwrap_or_else(|e| e.into_inner())
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, State> {
        self.generation
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
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
                Principal::root_in(self.partition, &self.account_id, access_key_id),
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
                session_issued_ms: None,
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

/// Everything the directory keeps in memory, read from the store (access keys' secrets opened).
async fn read_state(store: &dyn Store, barrier: &Barrier) -> Result<State, String> {
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
            .map_err(|_| format!("access key {} cannot be decrypted with this root key", k.id))?;
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
    for p in store.login_profiles().await.map_err(|e| e.to_string())? {
        state.logins.insert(p.user_name.clone(), p);
    }
    if let Some(doc) = store.password_policy().await.map_err(|e| e.to_string())? {
        state.password_policy = Some(
            serde_json::from_str(&doc)
                .map_err(|e| format!("the stored password policy is malformed: {e}"))?,
        );
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
        let group =
            Group::new(g).map_err(|e| format!("stored group {name} no longer parses: {e:?}"))?;
        state.groups.insert(name, group);
    }
    for m in store.group_members().await.map_err(|e| e.to_string())? {
        state.members.insert(m);
    }
    for a in store.group_attachments().await.map_err(|e| e.to_string())? {
        state.group_attachments.insert(a);
    }
    Ok(state)
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn directory() -> Directory {
        use crate::test_support as ts;
        ts::directory(ts::store().await, ts::barrier()).await
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
    async fn policy_versions_survive_a_restart_and_ids_are_not_given_again() {
        use crate::test_support as ts;
        let (store, barrier) = (ts::store().await, ts::barrier());
        let load = || ts::directory(store.clone(), barrier.clone());
        let doc = |action: &str| {
            format!(
                r#"{{"Version":"2012-10-17","Statement":{{"Effect":"Allow","Action":"{action}","Resource":"*"}}}}"#
            )
        };
        let d = load().await;
        let arn = d
            .create_policy("p", "/", None, &doc("secretsmanager:ListSecrets"), 0)
            .await
            .unwrap()
            .arn;
        for (i, action) in ["kms:ListKeys", "iam:ListUsers"].iter().enumerate() {
            d.create_policy_version(&arn, &doc(action), true, i as i64 + 1)
                .await
                .unwrap();
        }
        d.set_default_policy_version(&arn, "v1").await.unwrap();
        // UpdateDate: the newest version's creation, which a new default does not move.
        assert_eq!(d.policy(&arn).unwrap().updated_ms, 2);
        assert_eq!(
            d.delete_policy_version(&arn, "v1").await,
            Err(DirectoryError::DeleteConflict(
                "Cannot delete the default version of a policy.".into()
            ))
        );
        d.delete_policy_version(&arn, "v3").await.unwrap();
        assert_eq!(d.policy(&arn).unwrap().updated_ms, 1);
        assert!(matches!(
            d.delete_policy(&arn).await,
            Err(DirectoryError::DeleteConflict(_))
        ));
        let again = load().await;
        let p = again.policy(&arn).unwrap();
        let ids: Vec<&str> = p.versions.iter().map(|v| v.id.as_str()).collect();
        assert_eq!((ids, p.default_version.as_str()), (vec!["v1", "v2"], "v1"));
        // v3 was deleted: the next version is v4.
        let v = again
            .create_policy_version(&arn, &doc("kms:ListAliases"), false, 7)
            .await
            .unwrap();
        assert_eq!(v.id, "v4");
        for id in ["v2", "v4"] {
            again.delete_policy_version(&arn, id).await.unwrap();
        }
        again.delete_policy(&arn).await.unwrap();
        assert!(load().await.policy(&arn).is_err());
    }

    #[tokio::test]
    async fn access_keys_survive_a_restart_sealed() {
        use crate::test_support as ts;
        let (store, barrier) = (ts::store().await, ts::barrier());
        let load = || ts::directory(store.clone(), barrier.clone());
        let d = load().await;
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
        let again = load().await;
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
