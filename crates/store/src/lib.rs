//! Persistence for Strongroom behind one trait, [`Store`].
//!
//! The store holds metadata and *sealed* values only: its API takes
//! [`strongroom_barrier::Sealed`], which only the barrier can produce from plaintext.
//! Multi-row changes (new version + label moves + pruning) are one [`SecretWrite`], applied
//! atomically with an optimistic revision check, so concurrent writers never lose updates.
//!
//! Implementations: [`sqlite::SqliteStore`] (embedded default) and
//! [`postgres::PostgresStore`] (one schema per region of a shared database), with the same
//! semantics — `crate::tests` runs one suite on both.

mod access;
pub mod cache;
pub mod fence;
pub mod postgres;
mod rows;
pub mod sqlite;
#[cfg(test)]
mod tests;

use async_trait::async_trait;
use strongroom_barrier::{Sealed, WrappedKeyMaterial};
use strongroom_domain::filters::{SortBy, SortOrder};
use strongroom_domain::kms::KeyMeta;
use strongroom_domain::parameters::Parameter;
use strongroom_domain::secret::{Millis, Secret, ValueKind, Version};

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The secret changed since it was read (revision mismatch): re-read and retry.
    #[error("concurrent modification")]
    Conflict,
    /// Another secret already has this name.
    #[error("a secret with this name already exists")]
    NameTaken,
    #[error("storage error: {0}")]
    Backend(String),
    /// A background job's write refused: its node no longer holds the background lease with
    /// the job's fencing token (see [`fence`]).
    #[error("this node no longer holds the background lease (fencing token {0})")]
    Fenced(i64),
}

/// A KMS key as persisted: its material wrapped by the root key.
#[derive(Debug, Clone)]
pub struct StoredKmsKey {
    pub key_id: String,
    pub arn: String,
    /// Alias (without `alias/`) given at creation; also written to the alias table.
    pub alias: Option<String>,
    pub description: String,
    /// The original material (version 0).
    pub wrapped: WrappedKeyMaterial,
    pub created_ms: Millis,
    /// `None` for keys stored before KMS existed (the managed aws/secretsmanager key).
    pub meta: Option<KeyMeta>,
    /// Materials added by rotations, oldest first.
    pub rotated: Vec<StoredKmsMaterial>,
}

/// A KMS key material added by a rotation.
#[derive(Debug, Clone)]
pub struct StoredKmsMaterial {
    pub version: u32,
    pub wrapped: WrappedKeyMaterial,
    pub created_ms: Millis,
}

/// A KMS alias (`alias/NAME`) and the key it points to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredAlias {
    pub name: String,
    pub key_id: String,
    pub created_ms: Millis,
    pub updated_ms: Millis,
}

/// One atomic change to one SSM parameter.
#[derive(Debug)]
pub struct ParameterWrite {
    /// `None` creates it (`NameTaken` if it exists); `Some(r)` requires revision `r`.
    pub expected_revision: Option<i64>,
    /// The complete new state; values of versions older than its oldest are deleted.
    pub parameter: Parameter,
    /// (version, sealed value) for versions this change adds.
    pub new_values: Vec<(i64, Sealed)>,
}

/// An IAM user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IamUser {
    pub name: String,
    /// AIDA... (AWS's unique id form).
    pub id: String,
    pub arn: String,
    pub path: String,
    pub created_ms: Millis,
    /// ARN of the managed policy that bounds this user's permissions.
    pub permissions_boundary: Option<String>,
}

/// An access key; its secret half is sealed by the barrier (SigV4 needs it back).
#[derive(Debug, Clone)]
pub struct StoredAccessKey {
    pub id: String,
    pub user_name: String,
    /// "Active" or "Inactive".
    pub status: String,
    pub secret: Sealed,
    pub created_ms: Millis,
}

/// A user's console password (IAM login profile): an Argon2id PHC string, never the password.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredLoginProfile {
    pub user_name: String,
    pub password_hash: String,
    pub created_ms: Millis,
    /// When the current password was set (MaxPasswordAge counts from here).
    pub password_set_ms: Millis,
    pub reset_required: bool,
    /// Hashes of the passwords before the current one, newest first (PasswordReusePrevention).
    pub previous_hashes: Vec<String>,
}

/// A user's consecutive failed password sign-ins and the lock they caused.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SignInFailures {
    pub failures: i64,
    pub locked_until_ms: Option<Millis>,
}

/// An inline policy of a user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredUserPolicy {
    pub user_name: String,
    pub policy_name: String,
    pub document: String,
}

/// A customer managed policy with its versions (at most 5, as IAM).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct StoredManagedPolicy {
    pub arn: String,
    pub name: String,
    /// ANPA...
    pub id: String,
    pub path: String,
    pub description: Option<String>,
    pub default_version: String,
    pub created_ms: Millis,
    pub updated_ms: Millis,
    pub versions: Vec<StoredPolicyVersion>,
    /// The highest version number ever given (IAM never gives a deleted version's id again);
    /// 0 in policies stored before it was kept.
    #[serde(default)]
    pub highest_version: u32,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct StoredPolicyVersion {
    /// v1, v2, ...
    pub id: String,
    pub document: String,
    pub created_ms: Millis,
}

impl strongroom_domain::policy_versions::Versioned for StoredPolicyVersion {
    fn version_id(&self) -> &str {
        &self.id
    }
}

/// An IAM role, with its trust policy and inline policies (one document: they change together
/// rarely and are always read together).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct StoredRole {
    pub name: String,
    /// AROA...
    pub id: String,
    pub arn: String,
    pub path: String,
    pub description: Option<String>,
    pub trust_policy: String,
    pub max_session_secs: i64,
    pub created_ms: Millis,
    /// (policy name, document)
    pub inline_policies: Vec<(String, String)>,
    /// ARN of the managed policy that bounds the role's permissions.
    #[serde(default)]
    pub permissions_boundary: Option<String>,
}

/// An IAM group with its inline policies.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct StoredGroup {
    pub name: String,
    /// AGPA...
    pub id: String,
    pub arn: String,
    pub path: String,
    pub created_ms: Millis,
    /// (policy name, document)
    pub inline_policies: Vec<(String, String)>,
}

/// Where a listing of secrets resumes: the sort key of the last secret it looked at. Listings
/// are keyset-paged on an index of (key, name, ARN), so a page costs the same at any depth and
/// any store size.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct SecretCursor {
    /// The sort column's value: created, last accessed (-1 when never: such secrets sort
    /// first, as [`strongroom_domain::filters::compare`] orders them), last changed or next
    /// rotation (ms; without rotation [`NO_ROTATION_ASC`] or [`NO_ROTATION_DESC`], so such
    /// secrets come last in either order); 0 when sorting by name or description.
    pub key: i64,
    /// When sorting by description, its sort key
    /// ([`strongroom_domain::filters::description_sort_key`]); absent otherwise.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub text: String,
    pub name: String,
    pub arn: String,
}

impl SecretCursor {
    /// The position of `s` in a listing sorted by `sort_by` in `order`.
    pub fn of(sort_by: SortBy, order: SortOrder, s: &Secret) -> Self {
        let key = match sort_by {
            SortBy::CreatedDate => s.created_ms,
            SortBy::LastAccessedDate => s.last_accessed_ms.unwrap_or(NEVER_ACCESSED),
            SortBy::LastChangedDate => s.last_changed_ms,
            SortBy::NextRotationDate => s.rotation.next_rotation_date().unwrap_or(match order {
                SortOrder::Asc => NO_ROTATION_ASC,
                SortOrder::Desc => NO_ROTATION_DESC,
            }),
            SortBy::Name | SortBy::Description => 0,
        };
        let text = match sort_by {
            SortBy::Description => {
                strongroom_domain::filters::description_sort_key(s.description.as_deref())
                    .to_string()
            }
            _ => String::new(),
        };
        Self {
            key,
            text,
            name: s.name.clone(),
            arn: s.arn.clone(),
        }
    }
}

/// The `accessed_key` column's value for a secret never read (dates are never negative).
pub(crate) const NEVER_ACCESSED: i64 = -1;

/// `rotation_key_asc`'s value for a secret without a NextRotationDate: after every date.
pub const NO_ROTATION_ASC: i64 = i64::MAX;
/// `rotation_key_desc`'s: before every date, so after them all when listed newest first.
pub const NO_ROTATION_DESC: i64 = -1;

/// One batch of a secrets listing, in the order of `sort_by`/`order`, after `after`.
#[derive(Debug, Clone, Copy)]
pub struct SecretsPage<'a> {
    pub sort_by: SortBy,
    pub order: SortOrder,
    pub after: Option<&'a SecretCursor>,
    /// Only names starting with this (an index range when sorting by name; a plain condition
    /// otherwise, so callers pass it only with [`SortBy::Name`]).
    pub name_prefix: Option<&'a str>,
    pub limit: usize,
}

/// Where a listing of parameters resumes. Parameters list by their canonical name (`/a` and
/// `a` are one parameter, listed as `a`), then by the name they are stored under.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ParameterCursor {
    pub list_name: String,
    pub name: String,
}

impl ParameterCursor {
    pub fn of(p: &Parameter) -> Self {
        Self {
            list_name: strongroom_domain::parameters::canonical(&p.name).to_string(),
            name: p.name.clone(),
        }
    }
}

/// The least string greater than every string starting with `prefix`, for an index range;
/// `None` when there is none simple to give (empty, or not ASCII at its end): the caller's
/// own check of the prefix then does the work.
pub(crate) fn prefix_end(prefix: &str) -> Option<String> {
    let last = prefix.chars().last()?;
    if !last.is_ascii() || last == '\x7f' {
        return None;
    }
    let mut end = prefix[..prefix.len() - 1].to_string();
    end.push((last as u8 + 1) as char);
    Some(end)
}

/// How to find a secret.
#[derive(Debug, Clone, Copy)]
pub enum SecretKey<'a> {
    Arn(&'a str),
    Name(&'a str),
}

/// A version's sealed value and what it holds.
#[derive(Debug, Clone)]
pub struct StoredValue {
    pub kind: ValueKind,
    pub sealed: Sealed,
}

/// A secret and, when read with it, its AWSCURRENT version's id and sealed value.
/// A caching store's counts since it started: lookups answered from its copies (hits) or
/// read through (misses: not cached, or not serving), and how many entries it holds now.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CacheStats {
    pub secret_hits: u64,
    pub secret_misses: u64,
    pub value_hits: u64,
    pub value_misses: u64,
    pub secrets_cached: usize,
    pub values_cached: usize,
}

/// Summed over several stores (one per region).
impl std::ops::AddAssign for CacheStats {
    fn add_assign(&mut self, o: Self) {
        self.secret_hits += o.secret_hits;
        self.secret_misses += o.secret_misses;
        self.value_hits += o.value_hits;
        self.value_misses += o.value_misses;
        self.secrets_cached += o.secrets_cached;
        self.values_cached += o.values_cached;
    }
}

pub type WithCurrent = (Secret, Option<(String, StoredValue)>);

/// A LastAccessedDate stamp: one version of a secret was read on the day `day_ms`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccessStamp {
    pub secret_arn: String,
    pub version_id: String,
    pub day_ms: Millis,
}

/// One atomic change to one secret.
#[derive(Debug)]
pub struct SecretWrite {
    /// `None` creates the secret; `Some(r)` requires the stored revision to still be `r`.
    pub expected_revision: Option<i64>,
    /// The complete new state. Versions absent from it are deleted; its `revision` is stored
    /// as given (callers set `expected + 1`). `last_accessed_ms` is not written here.
    pub secret: Secret,
    /// Values for versions created by this change (or a rotation's value-less version).
    pub new_values: Vec<(String, StoredValue)>,
    /// Existing values sealed again under another key (UpdateSecret's KmsKeyId): same
    /// plaintext, new ciphertext. The version must already have a value.
    pub resealed: Vec<(String, StoredValue)>,
    /// The versions as stored at `expected_revision` — those of the copy the write was
    /// computed from — when the caller has them: the store diffs against them instead of
    /// reading them back. Every change made on their strength is checked (a stage rewrite
    /// needs the stages it replaces, a deletion its row, an insert a free id), so a copy that
    /// is not what is stored fails the write as a `Conflict` (re-read and retry), never
    /// writes a wrong diff.
    pub stored_versions: Option<Vec<Version>>,
}

impl SecretWrite {
    /// The secret as a load returns it once this write has committed: versions in the
    /// store's order, each value's key as sealed, `tagged` as stored. Only the access dates
    /// are the caller's (a write does not store them). What the caching store installs after
    /// a commit instead of loading the secret again.
    pub fn as_stored(&self) -> Secret {
        let mut s = self.secret.clone();
        s.tagged = s.tagged || !s.tags.is_empty();
        for (id, value) in self.new_values.iter().chain(&self.resealed) {
            if let Some(v) = s.versions.iter_mut().find(|v| &v.id == id) {
                v.kms_key_id = Some(value.sealed.key_id().to_string());
            }
        }
        s.versions
            .sort_by(|a, b| (a.created_ms, &a.id).cmp(&(b.created_ms, &b.id)));
        s
    }
}

#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// Several nodes on one database: another node changed the secret `arn` (`None`: anything
    /// may have changed). A store that keeps copies drops them.
    fn changed_elsewhere(&self, _arn: Option<&str>) {}

    /// Several nodes: whether this node now hears every other node's changes. While it does
    /// not, a store that keeps copies must not serve them.
    fn hearing_others(&self, _hearing: bool) {}

    /// Several nodes: how this store's own writes are named in the change announcements
    /// (PostgreSQL), so the node that made them does not drop what it has just cached.
    fn announces_as(&self) -> Option<&str> {
        None
    }

    /// What a store that keeps copies has served from them (`None`: it keeps none).
    fn cache_stats(&self) -> Option<CacheStats> {
        None
    }

    async fn kms_keys(&self) -> Result<Vec<StoredKmsKey>, StoreError>;
    async fn insert_kms_key(&self, key: &StoredKmsKey) -> Result<(), StoreError>;
    /// Replace a key's metadata, adding a rotated material with it (atomically). False when
    /// there is no such key.
    async fn update_kms_key(
        &self,
        key_id: &str,
        meta: &KeyMeta,
        material: Option<&StoredKmsMaterial>,
    ) -> Result<bool, StoreError>;
    /// Delete a key with its materials and aliases, for good.
    async fn delete_kms_key(&self, key_id: &str) -> Result<bool, StoreError>;
    async fn kms_aliases(&self) -> Result<Vec<StoredAlias>, StoreError>;
    /// Insert (`NameTaken` if it exists) or, with `replace`, repoint an existing alias.
    async fn put_kms_alias(&self, alias: &StoredAlias, replace: bool) -> Result<(), StoreError>;
    async fn delete_kms_alias(&self, name: &str) -> Result<bool, StoreError>;

    async fn parameter(&self, name: &str) -> Result<Option<Parameter>, StoreError>;
    /// Every parameter, by name: for copying a whole store (`strongroom migrate`), never for
    /// serving a request.
    async fn parameters(&self) -> Result<Vec<Parameter>, StoreError>;
    /// Up to `limit` parameters in listing order ([`ParameterCursor`]) after `after`, only
    /// those whose canonical name starts with `prefix` when given.
    async fn parameters_page(
        &self,
        after: Option<&ParameterCursor>,
        prefix: Option<&str>,
        limit: usize,
    ) -> Result<Vec<Parameter>, StoreError>;
    /// The parameters whose newest version has policies (the policy sweep's work, indexed).
    async fn parameters_with_policies(&self) -> Result<Vec<Parameter>, StoreError>;
    async fn parameter_count(&self) -> Result<usize, StoreError>;
    async fn parameter_value(&self, name: &str, version: i64)
    -> Result<Option<Sealed>, StoreError>;
    async fn commit_parameter(&self, write: ParameterWrite) -> Result<(), StoreError>;
    async fn delete_parameter(&self, name: &str) -> Result<bool, StoreError>;

    async fn secret(&self, key: SecretKey<'_>) -> Result<Option<Secret>, StoreError>;
    /// [`Self::secret`] for reading only: a caching store hands out the copy it holds
    /// instead of cloning it for every read (GetSecretValue's hot path).
    async fn secret_shared(
        &self,
        key: SecretKey<'_>,
    ) -> Result<Option<std::sync::Arc<Secret>>, StoreError> {
        Ok(self.secret(key).await?.map(std::sync::Arc::new))
    }
    /// [`Self::secret`] with the sealed value of its AWSCURRENT version (id, value) when the
    /// store reads both in one go: what GetSecretValue asks next, read with the secret on a
    /// cache miss. By default the value is left to [`Self::value`].
    async fn secret_with_current(
        &self,
        key: SecretKey<'_>,
    ) -> Result<Option<WithCurrent>, StoreError> {
        Ok(self.secret(key).await?.map(|s| (s, None)))
    }
    /// Every secret (including those scheduled for deletion) with version metadata: for
    /// copying a whole store (`strongroom migrate`), never for serving a request.
    async fn secrets(&self) -> Result<Vec<Secret>, StoreError>;
    /// One batch of a listing (including secrets scheduled for deletion), with version
    /// metadata, from an index: its cost does not grow with the store.
    async fn secrets_page(&self, page: &SecretsPage<'_>) -> Result<Vec<Secret>, StoreError>;
    /// The primaries that have replicas (the replication sweeps' work, indexed).
    async fn secrets_with_replicas(&self) -> Result<Vec<Secret>, StoreError>;
    async fn value(
        &self,
        secret_arn: &str,
        version_id: &str,
    ) -> Result<Option<StoredValue>, StoreError>;

    async fn commit(&self, write: SecretWrite) -> Result<(), StoreError>;
    /// Remove a secret and all its versions for good. Returns whether it existed.
    async fn purge(&self, secret_arn: &str) -> Result<bool, StoreError>;
    /// ARNs of secrets whose recovery window ended at or before `now`.
    async fn due_for_purge(&self, now: Millis) -> Result<Vec<String>, StoreError>;
    /// ARNs of secrets with rotation on, not scheduled for deletion, whose next rotation is
    /// due at `now`, soonest first.
    async fn due_for_rotation(&self, now: Millis) -> Result<Vec<String>, StoreError>;
    /// How many secrets exist (including those scheduled for deletion).
    async fn secret_count(&self) -> Result<usize, StoreError>;
    /// Stamp LastAccessedDate (already truncated to the day) on a secret and a version. The
    /// caching store ([`cache::CachedStore`]) defers the write off the caller's path (made
    /// durable within [`cache::ACCESS_FLUSH_INTERVAL`] and on close) and shows it to every
    /// read through it at once.
    async fn record_access(
        &self,
        secret_arn: &str,
        version_id: &str,
        day_ms: Millis,
    ) -> Result<(), StoreError> {
        self.record_accesses(&[AccessStamp {
            secret_arn: secret_arn.to_string(),
            version_id: version_id.to_string(),
            day_ms,
        }])
        .await
    }
    /// Many stamps in one transaction, written in the order given (callers sort by ARN: the
    /// row lock order of `commit`). Stamps of secrets that no longer exist change nothing.
    async fn record_accesses(&self, stamps: &[AccessStamp]) -> Result<(), StoreError>;

    async fn iam_users(&self) -> Result<Vec<IamUser>, StoreError>;
    /// `NameTaken` when a user of that name exists.
    async fn insert_iam_user(&self, user: &IamUser) -> Result<(), StoreError>;
    async fn delete_iam_user(&self, name: &str) -> Result<bool, StoreError>;
    /// Set or clear a user's permissions boundary; false when there is no such user.
    async fn set_user_boundary(
        &self,
        name: &str,
        boundary: Option<&str>,
    ) -> Result<bool, StoreError>;
    async fn access_keys(&self) -> Result<Vec<StoredAccessKey>, StoreError>;
    async fn insert_access_key(&self, key: &StoredAccessKey) -> Result<(), StoreError>;
    async fn set_access_key_status(&self, id: &str, status: &str) -> Result<bool, StoreError>;
    async fn delete_access_key(&self, id: &str) -> Result<bool, StoreError>;
    async fn user_policies(&self) -> Result<Vec<StoredUserPolicy>, StoreError>;
    /// Insert or replace.
    async fn put_user_policy(&self, policy: &StoredUserPolicy) -> Result<(), StoreError>;
    async fn delete_user_policy(
        &self,
        user_name: &str,
        policy_name: &str,
    ) -> Result<bool, StoreError>;

    async fn login_profiles(&self) -> Result<Vec<StoredLoginProfile>, StoreError>;
    /// Insert (`NameTaken` if the user has one) or, with `replace`, overwrite.
    async fn put_login_profile(
        &self,
        profile: &StoredLoginProfile,
        replace: bool,
    ) -> Result<(), StoreError>;
    /// Delete a user's login profile and its sign-in failures.
    async fn delete_login_profile(&self, user_name: &str) -> Result<bool, StoreError>;
    /// The account password policy (a JSON document; the IAM service owns its format).
    async fn password_policy(&self) -> Result<Option<String>, StoreError>;
    /// Set (`Some`) or delete (`None`) the account password policy.
    async fn put_password_policy(&self, doc: Option<&str>) -> Result<bool, StoreError>;
    /// Sign-in failures are counted here, not in the directory's memory, so a lockout holds
    /// across nodes; they are not announced to other nodes (nothing caches them).
    async fn sign_in_failures(&self, user_name: &str) -> Result<SignInFailures, StoreError>;
    /// Count one more failure, atomically; returns the new count. Any name (no user need
    /// exist: the directory counts unknown users' failures under one name of its own).
    async fn add_sign_in_failure(&self, user_name: &str) -> Result<i64, StoreError>;
    /// Lock the user until `until_ms`, starting the count again.
    async fn lock_sign_in(&self, user_name: &str, until_ms: Millis) -> Result<(), StoreError>;
    async fn clear_sign_in_failures(&self, user_name: &str) -> Result<(), StoreError>;

    async fn managed_policies(&self) -> Result<Vec<StoredManagedPolicy>, StoreError>;
    /// Insert (`NameTaken` if the name exists) or, with `replace`, overwrite.
    async fn put_managed_policy(
        &self,
        policy: &StoredManagedPolicy,
        replace: bool,
    ) -> Result<(), StoreError>;
    async fn delete_managed_policy(&self, arn: &str) -> Result<bool, StoreError>;
    /// (user name, policy ARN) pairs.
    async fn user_attachments(&self) -> Result<Vec<(String, String)>, StoreError>;
    async fn attach_user_policy(&self, user_name: &str, policy_arn: &str)
    -> Result<(), StoreError>;
    async fn detach_user_policy(
        &self,
        user_name: &str,
        policy_arn: &str,
    ) -> Result<bool, StoreError>;

    async fn roles(&self) -> Result<Vec<StoredRole>, StoreError>;
    /// Insert (`NameTaken` if the name exists) or, with `replace`, overwrite.
    async fn put_role(&self, role: &StoredRole, replace: bool) -> Result<(), StoreError>;
    async fn delete_role(&self, name: &str) -> Result<bool, StoreError>;
    /// (role name, policy ARN) pairs.
    async fn role_attachments(&self) -> Result<Vec<(String, String)>, StoreError>;
    async fn attach_role_policy(&self, role_name: &str, policy_arn: &str)
    -> Result<(), StoreError>;
    async fn detach_role_policy(
        &self,
        role_name: &str,
        policy_arn: &str,
    ) -> Result<bool, StoreError>;

    async fn groups(&self) -> Result<Vec<StoredGroup>, StoreError>;
    /// Insert (`NameTaken` if the name exists) or, with `replace`, overwrite.
    async fn put_group(&self, group: &StoredGroup, replace: bool) -> Result<(), StoreError>;
    async fn delete_group(&self, name: &str) -> Result<bool, StoreError>;
    /// (group, user) pairs.
    async fn group_members(&self) -> Result<Vec<(String, String)>, StoreError>;
    async fn add_group_member(&self, group: &str, user: &str) -> Result<(), StoreError>;
    async fn remove_group_member(&self, group: &str, user: &str) -> Result<bool, StoreError>;
    /// (group, policy ARN) pairs.
    async fn group_attachments(&self) -> Result<Vec<(String, String)>, StoreError>;
    async fn attach_group_policy(&self, group: &str, policy_arn: &str) -> Result<(), StoreError>;
    async fn detach_group_policy(&self, group: &str, policy_arn: &str) -> Result<bool, StoreError>;

    /// CloudWatch alarms: (name, JSON document; the service owns its format), by name.
    async fn alarms(&self) -> Result<Vec<(String, String)>, StoreError>;
    /// Insert or replace `put` and delete `delete`, in one transaction.
    async fn write_alarms(
        &self,
        put: &[(String, String)],
        delete: &[String],
    ) -> Result<(), StoreError>;

    /// A cheap round trip to the backing database (readiness checks): fails while it cannot
    /// be reached.
    async fn ping(&self) -> Result<(), StoreError>;

    /// Flush and close; later calls fail.
    async fn close(&self);
}
