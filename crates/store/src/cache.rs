//! A read-through cache in front of any [`Store`], for the read-dominated hot path
//! (GetSecretValue = secret lookup + value fetch).
//!
//! Correct for a single node: every write in this process goes through the decorator and
//! invalidates what it touches. Sealed values are immutable per version, so they are cached
//! until their secret is written (a write may prune versions). A reader that loaded from the
//! store while a write was in flight must not install its stale copy: every invalidation
//! bumps an epoch, and a fill only lands if the epoch did not move since the read began.
//! With several nodes on one database, the server tells the cache what other nodes changed
//! ([`Store::changed_elsewhere`], from PostgreSQL's announcements), and while it cannot hear
//! them ([`Store::hearing_others`] false) the cache serves nothing. A write of this node's
//! that heard of another change while in flight does not install its copy: the other write
//! may be the later one.
//!
//! LastAccessedDate stamps are deferred here (crate::access): patched into cached copies and
//! laid over what is loaded, written in one transaction per [`ACCESS_FLUSH_INTERVAL`].

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use async_trait::async_trait;
use strongroom_domain::secret::{Millis, Secret};

use strongroom_barrier::Sealed;
use strongroom_domain::kms::KeyMeta;
use strongroom_domain::parameters::Parameter;

use crate::access::PendingAccess;
use crate::{
    AccessStamp, CacheStats, IamUser, ParameterCursor, ParameterWrite, SecretKey, SecretWrite,
    SecretsPage, SignInFailures, Store, StoreError, StoredAccessKey, StoredAlias, StoredGroup,
    StoredKmsKey, StoredKmsMaterial, StoredLoginProfile, StoredManagedPolicy, StoredRole,
    StoredUserPolicy, StoredValue, WithCurrent,
};

/// How long a LastAccessedDate stamp waits, at most, to be written.
pub const ACCESS_FLUSH_INTERVAL: Duration = Duration::from_millis(500);

/// How many secrets (and, apart, values) the cache holds by default (`--cache-entries`):
/// ~25 MiB for small secrets (~2.5 KiB each with its value, measured). Beyond its capacity
/// the cache starts over: simple and bounded.
pub const DEFAULT_ENTRIES: usize = 10_000;

#[derive(Default)]
struct Maps {
    /// ARN → secret, shared with readers ([`Store::secret_shared`]: no copy per read).
    secrets: HashMap<String, Arc<Secret>>,
    /// name → ARN.
    names: HashMap<String, String>,
    /// ARN → version id → sealed value: looked up without allocating, dropped per secret.
    values: HashMap<String, HashMap<String, StoredValue>>,
    /// How many values `values` holds.
    value_count: usize,
}

pub struct CachedStore<S> {
    /// Shared with the task that writes access stamps.
    inner: Arc<S>,
    access: Arc<PendingAccess>,
    maps: RwLock<Maps>,
    epoch: AtomicU64,
    /// Moves (under the maps lock) with every change heard from elsewhere and every change of
    /// hearing: a write of this node's that saw it move while in flight does not install its
    /// copy, which might be older than the change heard (see [`Self::install_committed`]).
    elsewhere: AtomicU64,
    /// Several nodes, and other nodes' changes are not being heard: read through.
    deaf: std::sync::atomic::AtomicBool,
    counts: Counts,
    /// The most secrets, and apart the most values, held at once.
    capacity: usize,
}

/// Hits and misses, for `/metrics` (relaxed: counts, not synchronisation).
#[derive(Default)]
struct Counts {
    secret_hits: AtomicU64,
    secret_misses: AtomicU64,
    value_hits: AtomicU64,
    value_misses: AtomicU64,
}

fn count(c: &AtomicU64) {
    c.fetch_add(1, Ordering::Relaxed);
}

impl<S: Store> CachedStore<S> {
    pub fn new(inner: S) -> Self {
        Self::with_capacity(inner, DEFAULT_ENTRIES)
    }

    /// A cache of at most `entries` secrets and `entries` values (at least one of each).
    pub fn with_capacity(inner: S, entries: usize) -> Self {
        Self {
            capacity: entries.max(1),
            inner: Arc::new(inner),
            access: Arc::default(),
            maps: RwLock::new(Maps::default()),
            epoch: AtomicU64::new(0),
            elsewhere: AtomicU64::new(0),
            deaf: std::sync::atomic::AtomicBool::new(false),
            counts: Counts::default(),
        }
    }

    /// Drop a secret and its values (the maps locked by the caller).
    fn forget(m: &mut Maps, arn: &str) {
        if let Some(s) = m.secrets.remove(arn) {
            m.names.remove(&s.name);
        }
        if let Some(dropped) = m.values.remove(arn) {
            m.value_count -= dropped.len();
        }
    }

    fn invalidate(&self, arn: &str) {
        let mut m = self.maps.write().unwrap_or_else(|e| e.into_inner());
        self.epoch.fetch_add(1, Ordering::SeqCst);
        Self::forget(&mut m, arn);
    }

    /// A change heard from elsewhere: dropped, and this node's writes in flight told.
    fn invalidate_elsewhere(&self, arn: &str) {
        let mut m = self.maps.write().unwrap_or_else(|e| e.into_inner());
        self.epoch.fetch_add(1, Ordering::SeqCst);
        self.elsewhere.fetch_add(1, Ordering::SeqCst);
        Self::forget(&mut m, arn);
    }

    /// Everything dropped: by another node's word, or when hearing it starts or stops.
    fn clear(&self) {
        let mut m = self.maps.write().unwrap_or_else(|e| e.into_inner());
        self.epoch.fetch_add(1, Ordering::SeqCst);
        self.elsewhere.fetch_add(1, Ordering::SeqCst);
        *m = Maps::default();
    }

    fn serving(&self) -> bool {
        !self.deaf.load(Ordering::SeqCst)
    }

    fn lookup(&self, key: SecretKey<'_>) -> Option<Arc<Secret>> {
        if !self.serving() {
            return None;
        }
        let m = self.maps.read().unwrap_or_else(|e| e.into_inner());
        let arn = match key {
            SecretKey::Arn(a) => a,
            SecretKey::Name(n) => m.names.get(n)?.as_str(),
        };
        m.secrets.get(arn).cloned()
    }

    /// Load through `load` with pending access stamps laid over what it returns, reading
    /// again if a flush completed meanwhile (crate::access explains why that is enough).
    async fn loaded<T, F, Fut>(&self, mut load: F) -> Result<T, StoreError>
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = Result<T, StoreError>>,
        T: Stamped,
    {
        loop {
            let flushes = self.access.flushes();
            let mut found = load().await?;
            found.each(&mut |s| self.access.overlay(s));
            if self.access.flushes() == flushes {
                return Ok(found);
            }
        }
    }

    /// Write pending access stamps until none are left, in batches of one interval.
    async fn flush_access(inner: Arc<S>, access: Arc<PendingAccess>) {
        let mut failing = false;
        loop {
            tokio::time::sleep(ACCESS_FLUSH_INTERVAL).await;
            if access.is_closed() {
                return;
            }
            if !Self::write_access(&inner, &access, &mut failing).await && !access.release_flusher()
            {
                return;
            }
        }
    }

    /// One batch; false when there was nothing to write. A batch that fails stays pending
    /// (retried next interval: the store may be back).
    async fn write_access(inner: &S, access: &PendingAccess, failing: &mut bool) -> bool {
        let batch = access.batch();
        if batch.is_empty() {
            return false;
        }
        match inner.record_accesses(&batch).await {
            Ok(()) => {
                access.written(&batch);
                *failing = false;
            }
            Err(e) => {
                if !*failing {
                    tracing::warn!(stamps = batch.len(), error = %e, "could not record LastAccessedDate; retrying");
                }
                *failing = true;
            }
        }
        true
    }

    /// Install a secret's committed state. The epoch moves first: a load that began before
    /// the commit must not replace it with what it read. Nothing is installed if a change was
    /// heard from elsewhere since `elsewhere` (read before the write began): another node's
    /// write committed after this one may have been heard before this install, and would be
    /// hidden by it until the secret changed again.
    fn install_committed(&self, s: Secret, elsewhere: u64) {
        let flushes = self.access.flushes();
        let epoch = {
            let mut m = self.maps.write().unwrap_or_else(|e| e.into_inner());
            let epoch = self.epoch.fetch_add(1, Ordering::SeqCst) + 1;
            Self::forget(&mut m, &s.arn);
            if self.elsewhere.load(Ordering::SeqCst) != elsewhere {
                return;
            }
            epoch
        };
        self.fill_secret(epoch, flushes, s);
    }

    /// Cache a value read at `epoch`, unless a write came in between.
    fn fill_value(&self, epoch: u64, secret_arn: &str, version_id: &str, v: StoredValue) {
        let mut m = self.maps.write().unwrap_or_else(|e| e.into_inner());
        if self.epoch.load(Ordering::SeqCst) != epoch || !self.serving() {
            return;
        }
        if m.value_count >= self.capacity {
            m.values.clear();
            m.value_count = 0;
        }
        let previous = m
            .values
            .entry(secret_arn.to_string())
            .or_default()
            .insert(version_id.to_string(), v);
        if previous.is_none() {
            m.value_count += 1;
        }
    }

    /// Cache a secret read at `epoch`, when no write came in between and no access stamps
    /// were flushed since `flushes` (the copy might predate one). Stamps still pending are
    /// laid over it here, under the lock [`Store::record_access`] patches copies under: a
    /// stamp noted while the secret loaded is in the copy either way. (Stamps do not move
    /// the epoch: reads spread over many secrets stamp at the rate they read, and fills
    /// made meanwhile were dropped — reads spread over 200,000 secrets left a cache of
    /// 250,000 holding 83,000 secrets and fewer values after 250,000 reads.)
    fn fill_secret(&self, epoch: u64, flushes: u64, mut s: Secret) {
        let mut m = self.maps.write().unwrap_or_else(|e| e.into_inner());
        if self.epoch.load(Ordering::SeqCst) != epoch
            || self.access.flushes() != flushes
            || !self.serving()
        {
            return;
        }
        self.access.overlay(&mut s);
        if m.secrets.len() >= self.capacity {
            m.secrets.clear();
            m.names.clear();
        }
        m.names.insert(s.name.clone(), s.arn.clone());
        m.secrets.insert(s.arn.clone(), Arc::new(s));
    }
}

#[async_trait]
impl<S: Store> Store for CachedStore<S> {
    fn changed_elsewhere(&self, arn: Option<&str>) {
        match arn {
            Some(arn) => self.invalidate_elsewhere(arn),
            None => self.clear(),
        }
    }

    fn hearing_others(&self, hearing: bool) {
        // Cleared either way: what was cached while deaf, or before, may be stale.
        self.deaf.store(!hearing, Ordering::SeqCst);
        self.clear();
    }

    fn announces_as(&self) -> Option<&str> {
        self.inner.announces_as()
    }

    fn cache_stats(&self) -> Option<CacheStats> {
        let (secrets_cached, values_cached) = {
            let m = self.maps.read().unwrap_or_else(|e| e.into_inner());
            (m.secrets.len(), m.value_count)
        };
        let c = &self.counts;
        Some(CacheStats {
            secret_hits: c.secret_hits.load(Ordering::Relaxed),
            secret_misses: c.secret_misses.load(Ordering::Relaxed),
            value_hits: c.value_hits.load(Ordering::Relaxed),
            value_misses: c.value_misses.load(Ordering::Relaxed),
            secrets_cached,
            values_cached,
        })
    }

    async fn kms_keys(&self) -> Result<Vec<StoredKmsKey>, StoreError> {
        self.inner.kms_keys().await
    }

    async fn insert_kms_key(&self, key: &StoredKmsKey) -> Result<(), StoreError> {
        self.inner.insert_kms_key(key).await
    }

    async fn update_kms_key(
        &self,
        key_id: &str,
        meta: &KeyMeta,
        material: Option<&StoredKmsMaterial>,
    ) -> Result<bool, StoreError> {
        self.inner.update_kms_key(key_id, meta, material).await
    }

    async fn delete_kms_key(&self, key_id: &str) -> Result<bool, StoreError> {
        self.inner.delete_kms_key(key_id).await
    }

    async fn kms_aliases(&self) -> Result<Vec<StoredAlias>, StoreError> {
        self.inner.kms_aliases().await
    }

    async fn put_kms_alias(&self, alias: &StoredAlias, replace: bool) -> Result<(), StoreError> {
        self.inner.put_kms_alias(alias, replace).await
    }

    async fn delete_kms_alias(&self, name: &str) -> Result<bool, StoreError> {
        self.inner.delete_kms_alias(name).await
    }

    // Parameters are not cached: the KMS and SSM paths are not the benchmarked hot path.
    async fn parameter(&self, name: &str) -> Result<Option<Parameter>, StoreError> {
        self.inner.parameter(name).await
    }

    async fn parameters(&self) -> Result<Vec<Parameter>, StoreError> {
        self.inner.parameters().await
    }

    async fn parameters_page(
        &self,
        after: Option<&ParameterCursor>,
        prefix: Option<&str>,
        limit: usize,
    ) -> Result<Vec<Parameter>, StoreError> {
        self.inner.parameters_page(after, prefix, limit).await
    }

    async fn parameters_with_policies(&self) -> Result<Vec<Parameter>, StoreError> {
        self.inner.parameters_with_policies().await
    }

    async fn parameter_count(&self) -> Result<usize, StoreError> {
        self.inner.parameter_count().await
    }

    async fn parameter_value(
        &self,
        name: &str,
        version: i64,
    ) -> Result<Option<Sealed>, StoreError> {
        self.inner.parameter_value(name, version).await
    }

    async fn commit_parameter(&self, write: ParameterWrite) -> Result<(), StoreError> {
        self.inner.commit_parameter(write).await
    }

    async fn delete_parameter(&self, name: &str) -> Result<bool, StoreError> {
        self.inner.delete_parameter(name).await
    }

    async fn secret(&self, key: SecretKey<'_>) -> Result<Option<Secret>, StoreError> {
        Ok(self.secret_shared(key).await?.map(Arc::unwrap_or_clone))
    }

    async fn secret_shared(&self, key: SecretKey<'_>) -> Result<Option<Arc<Secret>>, StoreError> {
        if let Some(s) = self.lookup(key) {
            count(&self.counts.secret_hits);
            return Ok(Some(s));
        }
        count(&self.counts.secret_misses);
        let epoch = self.epoch.load(Ordering::SeqCst);
        let flushes = self.access.flushes();
        let found = self.loaded(|| self.inner.secret_with_current(key)).await?;
        Ok(found.map(|(s, current)| {
            self.fill_secret(epoch, flushes, s.clone());
            if let Some((version_id, v)) = current {
                self.fill_value(epoch, &s.arn, &version_id, v);
            }
            Arc::new(s)
        }))
    }

    async fn secrets(&self) -> Result<Vec<Secret>, StoreError> {
        self.loaded(|| self.inner.secrets()).await
    }

    async fn secrets_page(&self, page: &SecretsPage<'_>) -> Result<Vec<Secret>, StoreError> {
        self.loaded(|| self.inner.secrets_page(page)).await
    }

    async fn secrets_with_replicas(&self) -> Result<Vec<Secret>, StoreError> {
        self.loaded(|| self.inner.secrets_with_replicas()).await
    }

    async fn value(
        &self,
        secret_arn: &str,
        version_id: &str,
    ) -> Result<Option<StoredValue>, StoreError> {
        if let Some(v) = self
            .serving()
            .then(|| self.maps.read().unwrap_or_else(|e| e.into_inner()))
            .as_ref()
            .and_then(|m| m.values.get(secret_arn)?.get(version_id).cloned())
        {
            count(&self.counts.value_hits);
            return Ok(Some(v));
        }
        count(&self.counts.value_misses);
        let epoch = self.epoch.load(Ordering::SeqCst);
        let found = self.inner.value(secret_arn, version_id).await?;
        if let Some(v) = &found {
            self.fill_value(epoch, secret_arn, version_id, v.clone());
        }
        Ok(found)
    }

    async fn commit(&self, write: SecretWrite) -> Result<(), StoreError> {
        let arn = write.secret.arn.clone();
        // Written through: the next read of a secret just written (a writer's next write
        // above all) needs no load of it and its versions.
        let stored = write.as_stored();
        let elsewhere = self.elsewhere.load(Ordering::SeqCst);
        self.invalidate(&arn);
        let res = self.inner.commit(write).await;
        match res {
            Ok(()) => self.install_committed(stored, elsewhere),
            Err(_) => self.invalidate(&arn),
        }
        res
    }

    async fn purge(&self, secret_arn: &str) -> Result<bool, StoreError> {
        self.invalidate(secret_arn);
        let res = self.inner.purge(secret_arn).await;
        self.invalidate(secret_arn);
        res
    }

    async fn due_for_purge(&self, now: Millis) -> Result<Vec<String>, StoreError> {
        self.inner.due_for_purge(now).await
    }

    async fn due_for_rotation(&self, now: Millis) -> Result<Vec<String>, StoreError> {
        self.inner.due_for_rotation(now).await
    }

    async fn secret_count(&self) -> Result<usize, StoreError> {
        self.inner.secret_count().await
    }

    async fn record_access(
        &self,
        secret_arn: &str,
        version_id: &str,
        day_ms: Millis,
    ) -> Result<(), StoreError> {
        if self.access.add(secret_arn, version_id, day_ms) {
            tokio::spawn(Self::flush_access(
                Arc::clone(&self.inner),
                Arc::clone(&self.access),
            ));
        }
        // Patch the cached copy rather than dropping it: reads stay hot across midnight. A
        // copy being loaded meanwhile gets the stamp when it is installed (`fill_secret`).
        let mut m = self.maps.write().unwrap_or_else(|e| e.into_inner());
        if let Some(s) = m.secrets.get_mut(secret_arn) {
            // Copied only while a reader holds it (at most once a day per secret).
            let s = Arc::make_mut(s);
            s.last_accessed_ms = Some(day_ms);
            if let Some(v) = s.versions.iter_mut().find(|v| v.id == version_id) {
                v.last_accessed_ms = Some(day_ms);
            }
        }
        Ok(())
    }

    async fn record_accesses(&self, stamps: &[AccessStamp]) -> Result<(), StoreError> {
        for s in stamps {
            self.record_access(&s.secret_arn, &s.version_id, s.day_ms)
                .await?;
        }
        Ok(())
    }

    // IAM state is held in memory by the server's directory; nothing to cache here.
    async fn iam_users(&self) -> Result<Vec<IamUser>, StoreError> {
        self.inner.iam_users().await
    }
    async fn insert_iam_user(&self, user: &IamUser) -> Result<(), StoreError> {
        self.inner.insert_iam_user(user).await
    }
    async fn set_user_boundary(
        &self,
        name: &str,
        boundary: Option<&str>,
    ) -> Result<bool, StoreError> {
        self.inner.set_user_boundary(name, boundary).await
    }
    async fn delete_iam_user(&self, name: &str) -> Result<bool, StoreError> {
        self.inner.delete_iam_user(name).await
    }
    async fn access_keys(&self) -> Result<Vec<StoredAccessKey>, StoreError> {
        self.inner.access_keys().await
    }
    async fn insert_access_key(&self, key: &StoredAccessKey) -> Result<(), StoreError> {
        self.inner.insert_access_key(key).await
    }
    async fn set_access_key_status(&self, id: &str, status: &str) -> Result<bool, StoreError> {
        self.inner.set_access_key_status(id, status).await
    }
    async fn delete_access_key(&self, id: &str) -> Result<bool, StoreError> {
        self.inner.delete_access_key(id).await
    }
    async fn user_policies(&self) -> Result<Vec<StoredUserPolicy>, StoreError> {
        self.inner.user_policies().await
    }
    async fn put_user_policy(&self, policy: &StoredUserPolicy) -> Result<(), StoreError> {
        self.inner.put_user_policy(policy).await
    }
    async fn delete_user_policy(
        &self,
        user_name: &str,
        policy_name: &str,
    ) -> Result<bool, StoreError> {
        self.inner.delete_user_policy(user_name, policy_name).await
    }

    async fn login_profiles(&self) -> Result<Vec<StoredLoginProfile>, StoreError> {
        self.inner.login_profiles().await
    }
    async fn put_login_profile(
        &self,
        profile: &StoredLoginProfile,
        replace: bool,
    ) -> Result<(), StoreError> {
        self.inner.put_login_profile(profile, replace).await
    }
    async fn delete_login_profile(&self, user_name: &str) -> Result<bool, StoreError> {
        self.inner.delete_login_profile(user_name).await
    }
    async fn password_policy(&self) -> Result<Option<String>, StoreError> {
        self.inner.password_policy().await
    }
    async fn put_password_policy(&self, doc: Option<&str>) -> Result<bool, StoreError> {
        self.inner.put_password_policy(doc).await
    }
    async fn sign_in_failures(&self, user_name: &str) -> Result<SignInFailures, StoreError> {
        self.inner.sign_in_failures(user_name).await
    }
    async fn add_sign_in_failure(&self, user_name: &str) -> Result<i64, StoreError> {
        self.inner.add_sign_in_failure(user_name).await
    }
    async fn lock_sign_in(&self, user_name: &str, until_ms: Millis) -> Result<(), StoreError> {
        self.inner.lock_sign_in(user_name, until_ms).await
    }
    async fn clear_sign_in_failures(&self, user_name: &str) -> Result<(), StoreError> {
        self.inner.clear_sign_in_failures(user_name).await
    }

    async fn managed_policies(&self) -> Result<Vec<StoredManagedPolicy>, StoreError> {
        self.inner.managed_policies().await
    }
    async fn put_managed_policy(
        &self,
        policy: &StoredManagedPolicy,
        replace: bool,
    ) -> Result<(), StoreError> {
        self.inner.put_managed_policy(policy, replace).await
    }
    async fn delete_managed_policy(&self, arn: &str) -> Result<bool, StoreError> {
        self.inner.delete_managed_policy(arn).await
    }
    async fn user_attachments(&self) -> Result<Vec<(String, String)>, StoreError> {
        self.inner.user_attachments().await
    }
    async fn attach_user_policy(
        &self,
        user_name: &str,
        policy_arn: &str,
    ) -> Result<(), StoreError> {
        self.inner.attach_user_policy(user_name, policy_arn).await
    }
    async fn detach_user_policy(
        &self,
        user_name: &str,
        policy_arn: &str,
    ) -> Result<bool, StoreError> {
        self.inner.detach_user_policy(user_name, policy_arn).await
    }

    async fn roles(&self) -> Result<Vec<StoredRole>, StoreError> {
        self.inner.roles().await
    }
    async fn put_role(&self, role: &StoredRole, replace: bool) -> Result<(), StoreError> {
        self.inner.put_role(role, replace).await
    }
    async fn delete_role(&self, name: &str) -> Result<bool, StoreError> {
        self.inner.delete_role(name).await
    }
    async fn role_attachments(&self) -> Result<Vec<(String, String)>, StoreError> {
        self.inner.role_attachments().await
    }
    async fn attach_role_policy(
        &self,
        role_name: &str,
        policy_arn: &str,
    ) -> Result<(), StoreError> {
        self.inner.attach_role_policy(role_name, policy_arn).await
    }
    async fn detach_role_policy(
        &self,
        role_name: &str,
        policy_arn: &str,
    ) -> Result<bool, StoreError> {
        self.inner.detach_role_policy(role_name, policy_arn).await
    }

    async fn groups(&self) -> Result<Vec<StoredGroup>, StoreError> {
        self.inner.groups().await
    }
    async fn put_group(&self, group: &StoredGroup, replace: bool) -> Result<(), StoreError> {
        self.inner.put_group(group, replace).await
    }
    async fn delete_group(&self, name: &str) -> Result<bool, StoreError> {
        self.inner.delete_group(name).await
    }
    async fn group_members(&self) -> Result<Vec<(String, String)>, StoreError> {
        self.inner.group_members().await
    }
    async fn add_group_member(&self, group: &str, user: &str) -> Result<(), StoreError> {
        self.inner.add_group_member(group, user).await
    }
    async fn remove_group_member(&self, group: &str, user: &str) -> Result<bool, StoreError> {
        self.inner.remove_group_member(group, user).await
    }
    async fn group_attachments(&self) -> Result<Vec<(String, String)>, StoreError> {
        self.inner.group_attachments().await
    }
    async fn attach_group_policy(&self, group: &str, policy_arn: &str) -> Result<(), StoreError> {
        self.inner.attach_group_policy(group, policy_arn).await
    }
    async fn detach_group_policy(&self, group: &str, policy_arn: &str) -> Result<bool, StoreError> {
        self.inner.detach_group_policy(group, policy_arn).await
    }

    async fn alarms(&self) -> Result<Vec<(String, String)>, StoreError> {
        self.inner.alarms().await
    }

    async fn write_alarms(
        &self,
        put: &[(String, String)],
        delete: &[String],
    ) -> Result<(), StoreError> {
        self.inner.write_alarms(put, delete).await
    }

    async fn ping(&self) -> Result<(), StoreError> {
        self.inner.ping().await
    }

    async fn close(&self) {
        // Stamps still pending are written now (once: a store that fails here is closing).
        self.access.close();
        let mut failing = false;
        Self::write_access(&self.inner, &self.access, &mut failing).await;
        self.inner.close().await
    }
}

/// What a load returns, with every secret in it reachable for the access overlay.
trait Stamped {
    fn each(&mut self, f: &mut dyn FnMut(&mut Secret));
}

impl Stamped for Option<Secret> {
    fn each(&mut self, f: &mut dyn FnMut(&mut Secret)) {
        if let Some(s) = self {
            f(s)
        }
    }
}

impl Stamped for Option<WithCurrent> {
    fn each(&mut self, f: &mut dyn FnMut(&mut Secret)) {
        if let Some((s, _)) = self {
            f(s)
        }
    }
}

impl Stamped for Vec<Secret> {
    fn each(&mut self, f: &mut dyn FnMut(&mut Secret)) {
        self.iter_mut().for_each(f)
    }
}

// Tested on every backend in crate::tests (cached_writes_invalidate_and_access_patches).
