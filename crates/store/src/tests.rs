//! The store's behaviour, written once against the [`Store`] trait and run on every backend:
//! SQLite (a temporary directory) and PostgreSQL (a fresh schema of the database at
//! `STRONGROOM_TEST_POSTGRES_URL`, default `postgres://postgres@127.0.0.1:5432/postgres`,
//! dropped afterwards). PostgreSQL being unreachable fails these tests: it is never skipped.

use std::path::PathBuf;
use std::sync::atomic::{AtomicU32, Ordering};

use sqlx::AssertSqlSafe;
use strongroom_barrier::{Barrier, RootKey, ValueBinding, WrappedKeyMaterial};
use strongroom_domain::filters::{SortBy, SortOrder, SortView, compare};
use strongroom_domain::kms::{KeyManager, KeyMeta};
use strongroom_domain::parameter_policies::{Policy, PolicyKind};
use strongroom_domain::parameters::{Parameter, ParameterVersion, canonical};
use strongroom_domain::secret::{Secret, Tag, ValueKind, Version};

use crate::cache::CachedStore;
use crate::postgres::PostgresStore;
use crate::sqlite::SqliteStore;
use crate::{
    CacheStats, IamUser, ParameterCursor, ParameterWrite, SecretCursor, SecretKey, SecretWrite,
    SecretsPage, SignInFailures, Store, StoreError, StoredAccessKey, StoredAlias, StoredGroup,
    StoredKmsKey, StoredKmsMaterial, StoredLoginProfile, StoredManagedPolicy, StoredPolicyVersion,
    StoredRole, StoredUserPolicy, StoredValue, prefix_end,
};

static NEXT: AtomicU32 = AtomicU32::new(0);

fn unique(prefix: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    format!(
        "{prefix}_{}_{}_{nanos}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::SeqCst)
    )
}

/// A temporary directory for one SQLite test, removed when dropped.
pub(crate) struct TempDir(pub(crate) PathBuf);

impl TempDir {
    pub(crate) fn new() -> Self {
        let dir = std::env::temp_dir().join(unique("sr-store"));
        std::fs::create_dir_all(&dir).unwrap();
        Self(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

pub(crate) fn pg_url() -> String {
    std::env::var("STRONGROOM_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into())
}

/// A fresh schema for one PostgreSQL test, dropped (with everything in it) when this is
/// dropped — also when the test fails.
pub(crate) struct PgSchema(pub(crate) String);

impl PgSchema {
    pub(crate) fn new() -> Self {
        Self(unique("sr_test"))
    }

    /// A store on this schema (its own pool: two opens are two nodes).
    pub(crate) async fn open(&self) -> PostgresStore {
        PostgresStore::open(&pg_url(), &self.0)
            .await
            .unwrap_or_else(|e| {
                panic!(
                    "PostgreSQL at {} is required by these tests (set STRONGROOM_TEST_POSTGRES_URL): {e}",
                    pg_url()
                )
            })
    }

    pub(crate) async fn admin(&self) -> sqlx::PgPool {
        sqlx::PgPool::connect(&pg_url())
            .await
            .expect("PostgreSQL is reachable")
    }
}

impl Drop for PgSchema {
    fn drop(&mut self) {
        let (url, schema) = (pg_url(), self.0.clone());
        // Drop runs inside the test's runtime: clean up from a thread with its own.
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            rt.block_on(async {
                let pool = sqlx::postgres::PgPoolOptions::new()
                    .acquire_timeout(std::time::Duration::from_secs(5))
                    .connect(&url)
                    .await;
                if let Ok(pool) = pool {
                    let _ = sqlx::raw_sql(AssertSqlSafe(format!(
                        "DROP SCHEMA IF EXISTS \"{schema}\" CASCADE"
                    )))
                    .execute(&pool)
                    .await;
                    pool.close().await;
                }
            });
        })
        .join();
    }
}

/// Run `$body` (an async fn taking `&dyn Store`) on a SQLite store and on a PostgreSQL one.
macro_rules! on_both {
    ($sqlite:ident, $postgres:ident, $body:ident) => {
        #[tokio::test]
        async fn $sqlite() {
            let dir = TempDir::new();
            let store = SqliteStore::open(&dir.0).await.unwrap();
            $body(&store).await;
            store.close().await;
        }

        #[tokio::test]
        async fn $postgres() {
            let schema = PgSchema::new();
            let store = schema.open().await;
            $body(&store).await;
            store.close().await;
        }
    };
}

/// As `on_both!`, with two stores over the same data (two nodes; for SQLite two pools on one
/// file), on a runtime with two threads so both really run at once.
macro_rules! on_both_twice {
    ($sqlite:ident, $postgres:ident, $body:ident) => {
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn $sqlite() {
            let dir = TempDir::new();
            let a = SqliteStore::open(&dir.0).await.unwrap();
            let b = SqliteStore::open(&dir.0).await.unwrap();
            $body(&a, &b).await;
            a.close().await;
            b.close().await;
        }

        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn $postgres() {
            let schema = PgSchema::new();
            let a = schema.open().await;
            let b = schema.open().await;
            $body(&a, &b).await;
            a.close().await;
            b.close().await;
        }
    };
}

pub(crate) fn secret(arn: &str, name: &str) -> Secret {
    Secret {
        arn: arn.into(),
        name: name.into(),
        description: Some("d".into()),
        kms_key_id: None,
        secret_type: None,
        tags: vec![Tag {
            key: "k".into(),
            value: "v".into(),
        }],
        tagged: true,
        created_ms: 1,
        last_changed_ms: 1,
        last_accessed_ms: None,
        deleted_ms: None,
        deletion_due_ms: None,
        resource_policy: None,
        rotation: Default::default(),
        replication: Default::default(),
        revision: 1,
        versions: vec![],
    }
}

pub(crate) fn version(id: &str, stages: &[&str]) -> Version {
    Version {
        id: id.into(),
        stages: stages.iter().map(|s| s.to_string()).collect(),
        created_ms: 5,
        last_accessed_ms: None,
        has_value: true,
        kms_key_id: Some("k".into()),
    }
}

fn barrier() -> Barrier {
    let b = Barrier::new(&RootKey::generate().unwrap());
    b.create_kms_key("k").unwrap();
    b
}

fn value_for(b: &Barrier, arn: &str, v: &str, plain: &[u8]) -> StoredValue {
    let binding = ValueBinding {
        secret_arn: arn,
        version_id: v,
        kind: "string",
    };
    StoredValue {
        kind: ValueKind::String,
        sealed: b.seal("k", &binding, plain).unwrap(),
    }
}

fn open_value(b: &Barrier, arn: &str, v: &str, value: &StoredValue) -> Vec<u8> {
    let binding = ValueBinding {
        secret_arn: arn,
        version_id: v,
        kind: "string",
    };
    b.open(&value.sealed, &binding).unwrap().to_vec()
}

on_both!(
    sqlite_a_value_less_version_gets_its_value_once,
    postgres_a_value_less_version_gets_its_value_once,
    a_value_less_version_gets_its_value_once
);

async fn a_value_less_version_gets_its_value_once(store: &dyn Store) {
    let b = barrier();
    let mut s = secret("arn:p", "pending");
    s.versions.push(version("v1", &["AWSCURRENT"]));
    let mut pending = version("v2", &["AWSPENDING"]);
    pending.has_value = false;
    s.versions.push(pending);
    let v1 = value_for(&b, "arn:p", "v1", b"plain");
    store
        .commit(SecretWrite {
            expected_revision: None,
            secret: s.clone(),
            new_values: vec![("v1".into(), v1)],
            resealed: vec![],
            stored_versions: None,
        })
        .await
        .unwrap();
    assert!(store.value("arn:p", "v2").await.unwrap().is_none());

    // The rotation function's PutSecretValue fills it in.
    let mut filled = s.clone();
    filled.revision = 2;
    filled.versions[1].has_value = true;
    let v2 = value_for(&b, "arn:p", "v2", b"plain");
    store
        .commit(SecretWrite {
            expected_revision: Some(1),
            secret: filled.clone(),
            new_values: vec![("v2".into(), v2.clone())],
            resealed: vec![],
            stored_versions: None,
        })
        .await
        .unwrap();
    assert!(store.value("arn:p", "v2").await.unwrap().is_some());
    assert_eq!(
        store
            .secret(SecretKey::Arn("arn:p"))
            .await
            .unwrap()
            .unwrap(),
        filled
    );

    // A stored value never changes.
    let mut again = filled.clone();
    again.revision = 3;
    let refused = store
        .commit(SecretWrite {
            expected_revision: Some(2),
            secret: again,
            new_values: vec![("v2".into(), v2)],
            resealed: vec![],
            stored_versions: None,
        })
        .await;
    assert!(matches!(refused, Err(StoreError::Backend(m)) if m.contains("already has a value")));
    // ... and the refused write changed nothing.
    assert_eq!(
        store
            .secret(SecretKey::Arn("arn:p"))
            .await
            .unwrap()
            .unwrap()
            .revision,
        2
    );
}

on_both!(
    sqlite_concurrent_writes_are_each_committed_or_refused_alone,
    postgres_concurrent_writes_are_each_committed_or_refused_alone,
    concurrent_writes_are_each_committed_or_refused_alone
);

/// Many writers at once (on SQLite they share group commits): each write is committed or
/// refused on its own — a name taken or a stale revision refuses that write only, never its
/// neighbours in the same transaction — and every acknowledged write is there afterwards.
async fn concurrent_writes_are_each_committed_or_refused_alone(store: &dyn Store) {
    let b = barrier();
    let create = |i: usize, name: String| {
        let arn = format!("arn:c{i}");
        let mut s = secret(&arn, &name);
        s.versions.push(version("v1", &["AWSCURRENT"]));
        SecretWrite {
            expected_revision: None,
            new_values: vec![("v1".into(), value_for(&b, &arn, "v1", b"plain"))],
            secret: s,
            resealed: vec![],
            stored_versions: None,
        }
    };
    // 40 secrets, and two more claiming the name of secret 0.
    let mut writes: Vec<_> = (0..40).map(|i| create(i, format!("c{i}"))).collect();
    writes.push(create(100, "c0".into()));
    writes.push(create(101, "c0".into()));
    let results = futures_util::future::join_all(writes.into_iter().map(|w| store.commit(w))).await;
    let taken = results
        .iter()
        .filter(|r| matches!(r, Err(StoreError::NameTaken)))
        .count();
    assert_eq!(taken, 2, "{results:?}");
    assert_eq!(results.iter().filter(|r| r.is_ok()).count(), 40);

    // Each secret gets a second version; secret 0 twice from the same revision (two writers
    // that read it at once): exactly one of those two wins.
    let update = |i: usize, vid: &str| {
        let arn = format!("arn:c{i}");
        let mut s = secret(&arn, &format!("c{i}"));
        s.revision = 2;
        s.versions.push(version("v1", &["AWSPREVIOUS"]));
        s.versions.push(version(vid, &["AWSCURRENT"]));
        SecretWrite {
            expected_revision: Some(1),
            new_values: vec![(vid.into(), value_for(&b, &arn, vid, b"plain"))],
            secret: s,
            resealed: vec![],
            stored_versions: None,
        }
    };
    let mut writes: Vec<_> = (0..40).map(|i| update(i, "v2")).collect();
    writes.push(update(0, "v2-other"));
    let results = futures_util::future::join_all(writes.into_iter().map(|w| store.commit(w))).await;
    assert_eq!(
        results
            .iter()
            .filter(|r| matches!(r, Err(StoreError::Conflict)))
            .count(),
        1,
        "{results:?}"
    );
    for i in 0..40 {
        let arn = format!("arn:c{i}");
        let got = store.secret(SecretKey::Arn(&arn)).await.unwrap().unwrap();
        assert_eq!(got.revision, 2);
        assert_eq!(got.versions.len(), 2, "{arn}");
        let current = got.version_with_stage("AWSCURRENT").unwrap().id.clone();
        assert!(store.value(&arn, &current).await.unwrap().is_some());
        assert!(store.value(&arn, "v1").await.unwrap().is_some());
    }
    assert!(
        store
            .secret(SecretKey::Arn("arn:c100"))
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        store
            .secret(SecretKey::Arn("arn:c101"))
            .await
            .unwrap()
            .is_none()
    );
}

on_both!(
    sqlite_create_read_update_with_revision_check,
    postgres_create_read_update_with_revision_check,
    create_read_update_with_revision_check
);

async fn create_read_update_with_revision_check(store: &dyn Store) {
    let b = barrier();
    let mut s = secret("arn:1", "one");
    s.versions.push(version("v1", &["AWSCURRENT"]));
    let val = value_for(&b, "arn:1", "v1", b"plain");
    store
        .commit(SecretWrite {
            expected_revision: None,
            secret: s.clone(),
            new_values: vec![("v1".into(), val)],
            resealed: vec![],
            stored_versions: None,
        })
        .await
        .unwrap();
    let got = store.secret(SecretKey::Name("one")).await.unwrap().unwrap();
    assert_eq!(got, s);

    // Same name again → NameTaken.
    let dup = secret("arn:2", "one");
    assert!(matches!(
        store
            .commit(SecretWrite {
                expected_revision: None,
                secret: dup,
                new_values: vec![],
                resealed: vec![],
                stored_versions: None,
            })
            .await,
        Err(StoreError::NameTaken)
    ));

    // Add v2, move labels; stale revision → Conflict and nothing changes.
    let mut s2 = got.clone();
    s2.revision = 2;
    s2.versions[0].stages = vec!["AWSPREVIOUS".into()];
    s2.versions.push(version("v2", &["AWSCURRENT"]));
    let val2 = value_for(&b, "arn:1", "v2", b"plain");
    let stale = SecretWrite {
        expected_revision: Some(7),
        secret: s2.clone(),
        new_values: vec![("v2".into(), val2.clone())],
        resealed: vec![],
        stored_versions: None,
    };
    assert!(matches!(
        store.commit(stale).await,
        Err(StoreError::Conflict)
    ));
    assert_eq!(
        store
            .secret(SecretKey::Arn("arn:1"))
            .await
            .unwrap()
            .unwrap(),
        got
    );
    store
        .commit(SecretWrite {
            expected_revision: Some(1),
            secret: s2.clone(),
            new_values: vec![("v2".into(), val2)],
            resealed: vec![],
            stored_versions: None,
        })
        .await
        .unwrap();
    assert_eq!(
        store
            .secret(SecretKey::Arn("arn:1"))
            .await
            .unwrap()
            .unwrap(),
        s2
    );
    assert_eq!(store.secrets().await.unwrap(), vec![s2.clone()]);

    // Values come back sealed and open with the right binding.
    let v = store.value("arn:1", "v2").await.unwrap().unwrap();
    assert_eq!(open_value(&b, "arn:1", "v2", &v), b"plain");

    // Sealed again under another key (UpdateSecret's KmsKeyId): same plaintext.
    b.create_kms_key("k2").unwrap();
    let binding = ValueBinding {
        secret_arn: "arn:1",
        version_id: "v2",
        kind: "string",
    };
    let resealed = StoredValue {
        kind: ValueKind::String,
        sealed: b.seal("k2", &binding, b"plain").unwrap(),
    };
    let mut s2b = s2.clone();
    s2b.revision = 3;
    store
        .commit(SecretWrite {
            expected_revision: Some(2),
            secret: s2b.clone(),
            new_values: vec![],
            resealed: vec![("v2".into(), resealed)],
            stored_versions: None,
        })
        .await
        .unwrap();
    let v = store.value("arn:1", "v2").await.unwrap().unwrap();
    assert_eq!(v.sealed.key_id(), "k2");
    assert_eq!(open_value(&b, "arn:1", "v2", &v), b"plain");

    // Dropping a version from the list deletes it.
    let mut s3 = s2b.clone();
    s3.revision = 4;
    s3.versions.retain(|v| v.id != "v1");
    store
        .commit(SecretWrite {
            expected_revision: Some(3),
            secret: s3.clone(),
            new_values: vec![],
            resealed: vec![],
            stored_versions: None,
        })
        .await
        .unwrap();
    assert!(store.value("arn:1", "v1").await.unwrap().is_none());

    store
        .record_access("arn:1", "v2", 86_400_000)
        .await
        .unwrap();
    let got = store
        .secret(SecretKey::Arn("arn:1"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(got.last_accessed_ms, Some(86_400_000));
    assert_eq!(got.versions[0].last_accessed_ms, Some(86_400_000));

    // The rotation index: due when rotation is on and the time has come, not while the
    // secret is scheduled for deletion.
    assert_eq!(store.secret_count().await.unwrap(), 1);
    assert!(store.due_for_rotation(i64::MAX).await.unwrap().is_empty());
    let mut rotating = got.clone();
    rotating.revision = 5;
    rotating.rotation.enabled = true;
    rotating.rotation.next_rotation_ms = Some(50);
    store
        .commit(SecretWrite {
            expected_revision: Some(4),
            secret: rotating.clone(),
            new_values: vec![],
            resealed: vec![],
            stored_versions: None,
        })
        .await
        .unwrap();
    assert!(store.due_for_rotation(49).await.unwrap().is_empty());
    assert_eq!(
        store.due_for_rotation(50).await.unwrap(),
        vec!["arn:1".to_string()]
    );
    let got = rotating;

    // Purge.
    let mut s4 = got.clone();
    s4.revision = 6;
    s4.deleted_ms = Some(10);
    s4.deletion_due_ms = Some(100);
    store
        .commit(SecretWrite {
            expected_revision: Some(5),
            secret: s4,
            new_values: vec![],
            resealed: vec![],
            stored_versions: None,
        })
        .await
        .unwrap();
    assert!(store.due_for_purge(99).await.unwrap().is_empty());
    assert!(
        store.due_for_rotation(i64::MAX).await.unwrap().is_empty(),
        "a secret scheduled for deletion is never due for rotation"
    );
    assert_eq!(
        store.due_for_purge(100).await.unwrap(),
        vec!["arn:1".to_string()]
    );
    assert!(store.purge("arn:1").await.unwrap());
    assert!(!store.purge("arn:1").await.unwrap(), "purged once");
    assert!(
        store
            .secret(SecretKey::Arn("arn:1"))
            .await
            .unwrap()
            .is_none()
    );
    assert!(store.value("arn:1", "v2").await.unwrap().is_none());
    assert_eq!(store.secret_count().await.unwrap(), 0);
    // The name is free again.
    store
        .commit(SecretWrite {
            expected_revision: None,
            secret: secret("arn:1b", "one"),
            new_values: vec![],
            resealed: vec![],
            stored_versions: None,
        })
        .await
        .unwrap();
}

on_both!(
    sqlite_listings_sort_by_bytes,
    postgres_listings_sort_by_bytes,
    listings_sort_by_bytes
);

/// Every listing comes back in the same order on both backends: names by their bytes
/// (upper case before lower, `/` before letters), whatever the database's locale.
async fn listings_sort_by_bytes(store: &dyn Store) {
    for (i, name) in ["b", "B", "a", "/x", "A_"].iter().enumerate() {
        store
            .commit(SecretWrite {
                expected_revision: None,
                secret: secret(&format!("arn:{i}"), name),
                new_values: vec![],
                resealed: vec![],
                stored_versions: None,
            })
            .await
            .unwrap();
        let group = StoredGroup {
            name: name.to_string(),
            id: format!("AGPA{i}"),
            arn: format!("arn:group/{name}"),
            path: "/".into(),
            created_ms: 1,
            inline_policies: vec![],
        };
        store.put_group(&group, false).await.unwrap();
    }
    let names: Vec<String> = store
        .groups()
        .await
        .unwrap()
        .into_iter()
        .map(|g| g.name)
        .collect();
    assert_eq!(names, ["/x", "A_", "B", "a", "b"]);
    // Secrets come back in the order they were created.
    let names: Vec<String> = store
        .secrets()
        .await
        .unwrap()
        .into_iter()
        .map(|s| s.name)
        .collect();
    assert_eq!(names, ["b", "B", "a", "/x", "A_"]);
}

fn parameter(name: &str, revision: i64, versions: &[i64]) -> Parameter {
    Parameter {
        name: name.into(),
        revision,
        tags: vec![("team".into(), "a".into())],
        versions: versions
            .iter()
            .map(|v| ParameterVersion {
                version: *v,
                kind: "SecureString".into(),
                description: None,
                allowed_pattern: None,
                key_id: Some("k".into()),
                key_alias: None,
                tier: "Standard".into(),
                data_type: "text".into(),
                modified_ms: 7,
                modified_by: "arn:aws:iam::1:root".into(),
                labels: vec![],
                policies: vec![],
                policies_done: vec![],
            })
            .collect(),
    }
}

fn sealed_param(b: &Barrier, name: &str, v: i64) -> strongroom_barrier::Sealed {
    let version = v.to_string();
    let binding = ValueBinding {
        secret_arn: name,
        version_id: &version,
        kind: "parameter",
    };
    b.seal("k", &binding, b"param").unwrap()
}

on_both!(
    sqlite_login_profiles_password_policy_and_sign_in_failures,
    postgres_login_profiles_password_policy_and_sign_in_failures,
    login_profiles_password_policy_and_sign_in_failures
);

/// Console passwords: one profile per user, replaced in place; the account's policy; sign-in
/// failures counted atomically, locked, cleared, and gone with the profile.
async fn login_profiles_password_policy_and_sign_in_failures(store: &dyn Store) {
    store
        .insert_iam_user(&IamUser {
            name: "u".into(),
            id: "AIDAU".into(),
            arn: "arn:aws:iam::123456789012:user/u".into(),
            path: "/".into(),
            created_ms: 1,
            permissions_boundary: None,
        })
        .await
        .unwrap();
    let mut p = StoredLoginProfile {
        user_name: "u".into(),
        password_hash: "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA".into(),
        created_ms: 10,
        password_set_ms: 10,
        reset_required: true,
        previous_hashes: vec![],
    };
    store.put_login_profile(&p, false).await.unwrap();
    assert!(matches!(
        store.put_login_profile(&p, false).await,
        Err(StoreError::NameTaken)
    ));
    p.password_hash = "$argon2id$v=19$m=19456,t=2,p=1$c2FsdDI$aGFzaDI".into();
    p.previous_hashes = vec!["$argon2id$old".into()];
    p.reset_required = false;
    p.password_set_ms = 20;
    store.put_login_profile(&p, true).await.unwrap();
    assert_eq!(store.login_profiles().await.unwrap(), vec![p.clone()]);

    assert_eq!(store.password_policy().await.unwrap(), None);
    assert!(store.put_password_policy(Some("{\"a\":1}")).await.unwrap());
    assert!(store.put_password_policy(Some("{\"a\":2}")).await.unwrap());
    assert_eq!(
        store.password_policy().await.unwrap().as_deref(),
        Some("{\"a\":2}")
    );
    assert!(store.put_password_policy(None).await.unwrap());
    assert!(!store.put_password_policy(None).await.unwrap());
    assert_eq!(store.password_policy().await.unwrap(), None);

    assert_eq!(
        store.sign_in_failures("u").await.unwrap(),
        SignInFailures::default()
    );
    assert_eq!(store.add_sign_in_failure("u").await.unwrap(), 1);
    assert_eq!(store.add_sign_in_failure("u").await.unwrap(), 2);
    store.lock_sign_in("u", 5_000).await.unwrap();
    assert_eq!(
        store.sign_in_failures("u").await.unwrap(),
        SignInFailures {
            failures: 0,
            locked_until_ms: Some(5_000)
        }
    );
    assert_eq!(store.add_sign_in_failure("u").await.unwrap(), 1);
    store.clear_sign_in_failures("u").await.unwrap();
    assert_eq!(
        store.sign_in_failures("u").await.unwrap(),
        SignInFailures::default()
    );
    store.add_sign_in_failure("u").await.unwrap();

    assert!(store.delete_login_profile("u").await.unwrap());
    assert!(!store.delete_login_profile("u").await.unwrap());
    assert!(store.login_profiles().await.unwrap().is_empty());
    assert_eq!(
        store.sign_in_failures("u").await.unwrap(),
        SignInFailures::default(),
        "the failures go with the profile"
    );
    assert!(store.delete_iam_user("u").await.unwrap());
    // Failures under a name no user has (the directory's count for unknown users).
    assert_eq!(store.add_sign_in_failure("").await.unwrap(), 1);
    assert_eq!(store.add_sign_in_failure("").await.unwrap(), 2);
}

on_both!(
    sqlite_parameters_kms_iam_and_alarms,
    postgres_parameters_kms_iam_and_alarms,
    parameters_kms_iam_and_alarms
);

/// Every other table: a write, a read back, the refusals the services rely on.
async fn parameters_kms_iam_and_alarms(store: &dyn Store) {
    let b = barrier();

    // SSM parameters: create, NameTaken, revision check, old values pruned, delete.
    let p1 = parameter("/app/p", 1, &[1]);
    store
        .commit_parameter(ParameterWrite {
            expected_revision: None,
            parameter: p1.clone(),
            new_values: vec![(1, sealed_param(&b, "/app/p", 1))],
        })
        .await
        .unwrap();
    assert!(matches!(
        store
            .commit_parameter(ParameterWrite {
                expected_revision: None,
                parameter: p1.clone(),
                new_values: vec![],
            })
            .await,
        Err(StoreError::NameTaken)
    ));
    assert!(matches!(
        store
            .commit_parameter(ParameterWrite {
                expected_revision: Some(9),
                parameter: parameter("/app/p", 10, &[1]),
                new_values: vec![],
            })
            .await,
        Err(StoreError::Conflict)
    ));
    let p2 = parameter("/app/p", 2, &[2]);
    store
        .commit_parameter(ParameterWrite {
            expected_revision: Some(1),
            parameter: p2.clone(),
            new_values: vec![(2, sealed_param(&b, "/app/p", 2))],
        })
        .await
        .unwrap();
    assert_eq!(store.parameter("/app/p").await.unwrap(), Some(p2.clone()));
    assert_eq!(store.parameters().await.unwrap(), vec![p2]);
    assert!(
        store.parameter_value("/app/p", 1).await.unwrap().is_none(),
        "a version the history no longer holds loses its value"
    );
    let sealed = store.parameter_value("/app/p", 2).await.unwrap().unwrap();
    let binding = ValueBinding {
        secret_arn: "/app/p",
        version_id: "2",
        kind: "parameter",
    };
    assert_eq!(&*b.open(&sealed, &binding).unwrap(), b"param");
    assert!(store.delete_parameter("/app/p").await.unwrap());
    assert!(!store.delete_parameter("/app/p").await.unwrap());
    assert!(store.parameter_value("/app/p", 2).await.unwrap().is_none());
    assert!(
        store
            .commit_parameter(ParameterWrite {
                expected_revision: None,
                parameter: parameter("/empty", 1, &[]),
                new_values: vec![],
            })
            .await
            .is_err(),
        "a parameter without versions is refused"
    );

    // KMS keys, rotated materials, aliases.
    let key = StoredKmsKey {
        key_id: "key-1".into(),
        arn: "arn:aws:kms:us-east-1:1:key/key-1".into(),
        alias: Some("aws/secretsmanager".into()),
        description: "managed".into(),
        wrapped: WrappedKeyMaterial(vec![1, 2, 3]),
        created_ms: 5,
        meta: None,
        rotated: vec![],
    };
    store.insert_kms_key(&key).await.unwrap();
    let meta = KeyMeta::new("mine".into(), KeyManager::Customer);
    let material = StoredKmsMaterial {
        version: 1,
        wrapped: WrappedKeyMaterial(vec![4, 5]),
        created_ms: 6,
    };
    assert!(
        store
            .update_kms_key("key-1", &meta, Some(&material))
            .await
            .unwrap()
    );
    assert!(!store.update_kms_key("nope", &meta, None).await.unwrap());
    let keys = store.kms_keys().await.unwrap();
    assert_eq!(keys.len(), 1);
    assert_eq!(keys[0].wrapped.0, vec![1, 2, 3]);
    assert_eq!(keys[0].meta.as_ref(), Some(&meta));
    assert_eq!(keys[0].rotated.len(), 1);
    assert_eq!(keys[0].rotated[0].wrapped.0, vec![4, 5]);
    let alias = StoredAlias {
        name: "alias/mine".into(),
        key_id: "key-1".into(),
        created_ms: 8,
        updated_ms: 8,
    };
    store.put_kms_alias(&alias, false).await.unwrap();
    assert!(matches!(
        store.put_kms_alias(&alias, false).await,
        Err(StoreError::NameTaken)
    ));
    let moved = StoredAlias {
        updated_ms: 9,
        created_ms: 0,
        ..alias.clone()
    };
    store.put_kms_alias(&moved, true).await.unwrap();
    let aliases = store.kms_aliases().await.unwrap();
    assert_eq!(
        aliases.iter().map(|a| a.name.as_str()).collect::<Vec<_>>(),
        ["alias/aws/secretsmanager", "alias/mine"]
    );
    assert_eq!(
        aliases[1],
        StoredAlias {
            updated_ms: 9,
            ..alias
        },
        "repointing keeps the creation time"
    );
    assert!(store.delete_kms_alias("alias/mine").await.unwrap());
    assert!(!store.delete_kms_alias("alias/mine").await.unwrap());
    assert!(store.delete_kms_key("key-1").await.unwrap());
    assert!(store.kms_keys().await.unwrap().is_empty());
    assert!(
        store.kms_aliases().await.unwrap().is_empty(),
        "a deleted key's aliases go with it"
    );

    // IAM.
    let user = IamUser {
        name: "alice".into(),
        id: "AIDA1".into(),
        arn: "arn:aws:iam::1:user/alice".into(),
        path: "/".into(),
        created_ms: 3,
        permissions_boundary: None,
    };
    store.insert_iam_user(&user).await.unwrap();
    assert!(matches!(
        store.insert_iam_user(&user).await,
        Err(StoreError::NameTaken)
    ));
    assert!(
        store
            .set_user_boundary("alice", Some("arn:b"))
            .await
            .unwrap()
    );
    assert!(!store.set_user_boundary("bob", None).await.unwrap());
    assert_eq!(
        store.iam_users().await.unwrap()[0]
            .permissions_boundary
            .as_deref(),
        Some("arn:b")
    );
    let binding = ValueBinding {
        secret_arn: "AKIA1",
        version_id: "",
        kind: "access-key",
    };
    let ak = StoredAccessKey {
        id: "AKIA1".into(),
        user_name: "alice".into(),
        status: "Active".into(),
        secret: b.seal("k", &binding, b"secret-half").unwrap(),
        created_ms: 4,
    };
    store.insert_access_key(&ak).await.unwrap();
    assert!(
        store
            .set_access_key_status("AKIA1", "Inactive")
            .await
            .unwrap()
    );
    let keys = store.access_keys().await.unwrap();
    assert_eq!(keys[0].status, "Inactive");
    assert_eq!(&*b.open(&keys[0].secret, &binding).unwrap(), b"secret-half");
    assert!(
        store.delete_iam_user("alice").await.is_err(),
        "a user with access keys cannot be deleted"
    );
    let up = StoredUserPolicy {
        user_name: "alice".into(),
        policy_name: "p".into(),
        document: "{}".into(),
    };
    store.put_user_policy(&up).await.unwrap();
    let up2 = StoredUserPolicy {
        document: "{\"v\":2}".into(),
        ..up
    };
    store.put_user_policy(&up2).await.unwrap();
    assert_eq!(store.user_policies().await.unwrap(), vec![up2]);
    let mp = StoredManagedPolicy {
        arn: "arn:aws:iam::1:policy/m".into(),
        name: "m".into(),
        id: "ANPA1".into(),
        path: "/".into(),
        description: None,
        default_version: "v1".into(),
        created_ms: 1,
        updated_ms: 1,
        versions: vec![StoredPolicyVersion {
            id: "v1".into(),
            document: "{}".into(),
            created_ms: 1,
        }],
        highest_version: 1,
    };
    store.put_managed_policy(&mp, false).await.unwrap();
    assert!(matches!(
        store.put_managed_policy(&mp, false).await,
        Err(StoreError::NameTaken)
    ));
    // Every version and the highest number given are kept (v2 was deleted: v3 is next but one).
    let mp2 = StoredManagedPolicy {
        default_version: "v3".into(),
        versions: vec![
            mp.versions[0].clone(),
            StoredPolicyVersion {
                id: "v3".into(),
                document: "{\"v\":3}".into(),
                created_ms: 3,
            },
        ],
        highest_version: 3,
        ..mp.clone()
    };
    store.put_managed_policy(&mp2, true).await.unwrap();
    assert_eq!(store.managed_policies().await.unwrap(), vec![mp2]);
    store.attach_user_policy("alice", &mp.arn).await.unwrap();
    store.attach_user_policy("alice", &mp.arn).await.unwrap();
    assert_eq!(
        store.user_attachments().await.unwrap(),
        vec![("alice".to_string(), mp.arn.clone())]
    );
    let role = StoredRole {
        name: "r".into(),
        id: "AROA1".into(),
        arn: "arn:aws:iam::1:role/r".into(),
        path: "/".into(),
        description: None,
        trust_policy: "{}".into(),
        max_session_secs: 3600,
        created_ms: 1,
        inline_policies: vec![],
        permissions_boundary: None,
    };
    store.put_role(&role, false).await.unwrap();
    assert!(matches!(
        store.put_role(&role, false).await,
        Err(StoreError::NameTaken)
    ));
    store.attach_role_policy("r", &mp.arn).await.unwrap();
    store.attach_role_policy("r", &mp.arn).await.unwrap();
    assert_eq!(store.role_attachments().await.unwrap().len(), 1);
    let group = StoredGroup {
        name: "g".into(),
        id: "AGPA1".into(),
        arn: "arn:aws:iam::1:group/g".into(),
        path: "/".into(),
        created_ms: 1,
        inline_policies: vec![],
    };
    store.put_group(&group, false).await.unwrap();
    store.add_group_member("g", "alice").await.unwrap();
    store.add_group_member("g", "alice").await.unwrap();
    assert!(
        store.add_group_member("g", "nobody").await.is_err(),
        "a member must be a user"
    );
    store.attach_group_policy("g", &mp.arn).await.unwrap();
    assert_eq!(
        store.group_members().await.unwrap(),
        vec![("g".to_string(), "alice".to_string())]
    );
    assert_eq!(store.group_attachments().await.unwrap().len(), 1);
    assert!(store.detach_group_policy("g", &mp.arn).await.unwrap());
    assert!(store.remove_group_member("g", "alice").await.unwrap());
    assert!(!store.remove_group_member("g", "alice").await.unwrap());
    assert!(store.delete_group("g").await.unwrap());
    assert!(store.detach_role_policy("r", &mp.arn).await.unwrap());
    assert!(store.delete_role("r").await.unwrap());
    assert!(store.roles().await.unwrap().is_empty());
    assert!(store.detach_user_policy("alice", &mp.arn).await.unwrap());
    assert!(store.delete_managed_policy(&mp.arn).await.unwrap());
    assert!(store.delete_user_policy("alice", "p").await.unwrap());
    assert!(store.delete_access_key("AKIA1").await.unwrap());
    assert!(store.delete_iam_user("alice").await.unwrap());
    assert!(store.iam_users().await.unwrap().is_empty());

    // CloudWatch alarms: put, replace and delete in one transaction.
    store
        .write_alarms(&[("a".into(), "1".into()), ("b".into(), "2".into())], &[])
        .await
        .unwrap();
    store
        .write_alarms(&[("a".into(), "3".into())], &["b".into()])
        .await
        .unwrap();
    assert_eq!(
        store.alarms().await.unwrap(),
        vec![("a".to_string(), "3".to_string())]
    );
}

#[tokio::test]
async fn sqlite_cached_writes_invalidate_and_access_patches() {
    let dir = TempDir::new();
    cached_writes_invalidate_and_access_patches(SqliteStore::open(&dir.0).await.unwrap()).await;
}

#[tokio::test]
async fn postgres_cached_writes_invalidate_and_access_patches() {
    let schema = PgSchema::new();
    cached_writes_invalidate_and_access_patches(schema.open().await).await;
}

/// The read-through cache in front of the backend: no stale read after a write.
async fn cached_writes_invalidate_and_access_patches<S: Store>(inner: S) {
    let store = CachedStore::new(inner);
    let secret = |rev: i64, desc: &str| {
        let mut s = secret("arn:c", "c");
        s.description = Some(desc.into());
        s.revision = rev;
        let mut v = version("v", &["AWSCURRENT"]);
        v.has_value = false;
        v.kms_key_id = None;
        s.versions = vec![v];
        s
    };
    store
        .commit(SecretWrite {
            expected_revision: None,
            secret: secret(1, "one"),
            new_values: vec![],
            resealed: vec![],
            stored_versions: None,
        })
        .await
        .unwrap();
    let a = store.secret(SecretKey::Name("c")).await.unwrap().unwrap();
    assert_eq!(a.description.as_deref(), Some("one"));
    store
        .commit(SecretWrite {
            expected_revision: Some(1),
            secret: secret(2, "two"),
            new_values: vec![],
            resealed: vec![],
            stored_versions: None,
        })
        .await
        .unwrap();
    let b = store
        .secret(SecretKey::Arn("arn:c"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        b.description.as_deref(),
        Some("two"),
        "no stale read after a write"
    );
    // Readers share the cached copy; a stamp patches the cache, not a copy a reader holds.
    let held = store
        .secret_shared(SecretKey::Name("c"))
        .await
        .unwrap()
        .unwrap();
    let again = store
        .secret_shared(SecretKey::Arn("arn:c"))
        .await
        .unwrap()
        .unwrap();
    assert!(std::sync::Arc::ptr_eq(&held, &again), "a hit is not copied");
    store.record_access("arn:c", "v", 86_400_000).await.unwrap();
    assert_eq!(
        held.last_accessed_ms, None,
        "a reader's copy is not changed under it"
    );
    let c = store.secret(SecretKey::Name("c")).await.unwrap().unwrap();
    assert_eq!(c.last_accessed_ms, Some(86_400_000));
    assert_eq!(c.versions[0].last_accessed_ms, Some(86_400_000));
    let shared = store
        .secret_shared(SecretKey::Name("c"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(shared.last_accessed_ms, Some(86_400_000));
    assert!(store.purge("arn:c").await.unwrap());
    assert!(store.secret(SecretKey::Name("c")).await.unwrap().is_none());
    store.close().await;
}

/// Secrets `arn:NAME` with one AWSCURRENT version `v1` holding `value`, written to the SQLite
/// store in `dir` by a store of their own, so that a cache opened on it has seen none of them.
async fn written_elsewhere(dir: &TempDir, b: &Barrier, secrets: &[(&str, &[u8])]) {
    let writer = SqliteStore::open(&dir.0).await.unwrap();
    for (name, value) in secrets {
        let arn = format!("arn:{name}");
        let mut s = secret(&arn, name);
        s.versions = vec![version("v1", &["AWSCURRENT"])];
        writer
            .commit(SecretWrite {
                expected_revision: None,
                secret: s,
                new_values: vec![("v1".into(), value_for(b, &arn, "v1", value))],
                resealed: vec![],
                stored_versions: None,
            })
            .await
            .unwrap();
    }
    writer.close().await;
}

/// The cache's counts, as `/metrics` shows them: a read it answers is a hit, a read it passes
/// to the store a miss (absent secrets and versions too, and everything while it is not
/// serving). The backend does not matter here: SQLite only.
#[tokio::test]
async fn the_cache_counts_hits_and_misses() {
    let dir = TempDir::new();
    let b = barrier();
    written_elsewhere(&dir, &b, &[("h", b"one")]).await;
    let store = CachedStore::new(SqliteStore::open(&dir.0).await.unwrap());
    assert_eq!(store.cache_stats(), Some(CacheStats::default()));
    let stats = |sh, sm, vh, vm, sc, vc| CacheStats {
        secret_hits: sh,
        secret_misses: sm,
        value_hits: vh,
        value_misses: vm,
        secrets_cached: sc,
        values_cached: vc,
    };
    assert!(store.secret(SecretKey::Name("h")).await.unwrap().is_some());
    assert_eq!(store.cache_stats(), Some(stats(0, 1, 0, 0, 1, 1)));
    // The current value came with its secret; the secret is now cached by name and ARN.
    let v = store.value("arn:h", "v1").await.unwrap().unwrap();
    assert_eq!(open_value(&b, "arn:h", "v1", &v), b"one");
    assert!(
        store
            .secret(SecretKey::Arn("arn:h"))
            .await
            .unwrap()
            .is_some()
    );
    assert!(store.secret(SecretKey::Name("h")).await.unwrap().is_some());
    assert_eq!(store.cache_stats(), Some(stats(2, 1, 1, 0, 1, 1)));
    assert!(
        store
            .secret(SecretKey::Name("absent"))
            .await
            .unwrap()
            .is_none()
    );
    assert!(store.value("arn:h", "v0").await.unwrap().is_none());
    assert_eq!(store.cache_stats(), Some(stats(2, 2, 1, 1, 1, 1)));
    // Not hearing other nodes: emptied, and every read goes to the store.
    store.hearing_others(false);
    assert!(store.secret(SecretKey::Name("h")).await.unwrap().is_some());
    assert!(store.value("arn:h", "v1").await.unwrap().is_some());
    assert_eq!(store.cache_stats(), Some(stats(2, 3, 1, 2, 0, 0)));
    store.close().await;
}

/// Several nodes: a change heard from elsewhere while this node's write of a secret is in
/// flight keeps the write's copy out of the cache. The other node's write may be the later
/// one, heard before this node got to install its own copy, which would then hide it until
/// the secret changed again. The write is held in flight by another connection's lock.
#[tokio::test]
async fn a_change_heard_during_a_write_keeps_its_copy_out() {
    let dir = TempDir::new();
    let b = barrier();
    written_elsewhere(&dir, &b, &[("w", b"one")]).await;
    let store = std::sync::Arc::new(CachedStore::new(SqliteStore::open(&dir.0).await.unwrap()));
    let db = format!("sqlite://{}", dir.0.join("strongroom.db").display());
    let mut lock = <sqlx::SqliteConnection as sqlx::Connection>::connect(&db)
        .await
        .unwrap();
    let misses = |store: &CachedStore<SqliteStore>| store.cache_stats().unwrap().secret_misses;
    for (revision, heard) in [(1, false), (2, true)] {
        let mut next = store.secret(SecretKey::Name("w")).await.unwrap().unwrap();
        assert_eq!(next.revision, revision);
        next.revision += 1;
        next.description = Some(format!("revision {}", next.revision));
        let write = SecretWrite {
            expected_revision: Some(revision),
            secret: next,
            new_values: vec![],
            resealed: vec![],
            stored_versions: None,
        };
        sqlx::raw_sql("BEGIN IMMEDIATE")
            .execute(&mut lock)
            .await
            .unwrap();
        let writing = tokio::spawn({
            let store = store.clone();
            async move { store.commit(write).await }
        });
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        assert!(!writing.is_finished(), "the write waits for the lock");
        if heard {
            store.changed_elsewhere(Some("arn:w"));
        }
        sqlx::raw_sql("COMMIT").execute(&mut lock).await.unwrap();
        writing.await.unwrap().unwrap();
        let before = misses(&store);
        let read = store.secret(SecretKey::Name("w")).await.unwrap().unwrap();
        assert_eq!(read.revision, revision + 1);
        // Nothing heard: the write's copy answers. Heard: the secret is loaded again.
        assert_eq!(misses(&store) - before, u64::from(heard), "heard: {heard}");
    }
}

/// `--cache-entries`: the cache holds at most that many secrets and values, and starts over
/// when full.
#[tokio::test]
async fn the_cache_holds_at_most_its_capacity() {
    let dir = TempDir::new();
    written_elsewhere(&dir, &barrier(), &[("a", b"a"), ("b", b"b"), ("c", b"c")]).await;
    let store = CachedStore::with_capacity(SqliteStore::open(&dir.0).await.unwrap(), 2);
    let held = |store: &CachedStore<SqliteStore>| {
        let s = store.cache_stats().unwrap();
        (s.secrets_cached, s.values_cached, s.secret_misses)
    };
    for n in ["a", "b"] {
        store.secret(SecretKey::Name(n)).await.unwrap().unwrap();
    }
    assert_eq!(held(&store), (2, 2, 2));
    store.secret(SecretKey::Name("a")).await.unwrap().unwrap();
    assert_eq!(held(&store), (2, 2, 2), "a hit");
    store.secret(SecretKey::Name("c")).await.unwrap().unwrap();
    assert_eq!(held(&store), (1, 1, 3), "full: started over with c");
    store.secret(SecretKey::Name("a")).await.unwrap().unwrap();
    assert_eq!(held(&store), (2, 2, 4), "a was dropped");
    store.close().await;
}

/// Reads that each stamp LastAccessedDate (the first of the day, as GetSecretValue does)
/// while others load: every secret read once is cached, with its value and its stamp.
#[tokio::test]
async fn concurrent_stamping_reads_all_stay_cached() {
    const N: usize = 64;
    const DAY: i64 = 86_400_000;
    let dir = TempDir::new();
    let names: Vec<String> = (0..N).map(|i| format!("s{i}")).collect();
    let secrets: Vec<(&str, &[u8])> = names.iter().map(|n| (n.as_str(), &b"x"[..])).collect();
    written_elsewhere(&dir, &barrier(), &secrets).await;
    let store = std::sync::Arc::new(CachedStore::new(SqliteStore::open(&dir.0).await.unwrap()));
    let reads = (0..N).map(|i| {
        let store = store.clone();
        tokio::spawn(async move {
            let name = format!("s{i}");
            let s = store.secret(SecretKey::Name(&name)).await.unwrap().unwrap();
            store.record_access(&s.arn, "v1", 3 * DAY).await.unwrap();
        })
    });
    for r in reads.collect::<Vec<_>>() {
        r.await.unwrap();
    }
    let stats = store.cache_stats().unwrap();
    assert_eq!(
        (stats.secrets_cached, stats.values_cached),
        (N, N),
        "{stats:?}"
    );
    for i in 0..N {
        let s = store
            .secret(SecretKey::Name(&format!("s{i}")))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(s.last_accessed_ms, Some(3 * DAY), "s{i}");
        assert_eq!(s.versions[0].last_accessed_ms, Some(3 * DAY), "s{i}");
        assert!(store.value(&s.arn, "v1").await.unwrap().is_some());
    }
    let after = store.cache_stats().unwrap();
    assert_eq!(
        after.secret_misses, stats.secret_misses,
        "the second reads all hit"
    );
    assert_eq!(after.value_misses, stats.value_misses, "the values too");
}

#[tokio::test]
async fn sqlite_access_stamps_are_deferred_and_durable() {
    let dir = TempDir::new();
    access_stamps_are_deferred_and_durable(
        SqliteStore::open(&dir.0).await.unwrap(),
        SqliteStore::open(&dir.0).await.unwrap(),
    )
    .await;
}

#[tokio::test]
async fn postgres_access_stamps_are_deferred_and_durable() {
    let schema = PgSchema::new();
    access_stamps_are_deferred_and_durable(schema.open().await, schema.open().await).await;
}

/// LastAccessedDate stamps leave the read path: every read through the cache sees them at
/// once (cached or loaded, single or listed), the store has them within a few flush
/// intervals, and closing writes what is still pending. `b` is another view of the same data.
async fn access_stamps_are_deferred_and_durable<S: Store>(a: S, b: S) {
    const DAY: i64 = 86_400_000;
    let mut s = secret("arn:d", "d");
    let mut v = version("v", &["AWSCURRENT"]);
    v.has_value = false;
    v.kms_key_id = None;
    s.versions = vec![v];
    b.commit(SecretWrite {
        expected_revision: None,
        secret: s,
        new_values: vec![],
        resealed: vec![],
        stored_versions: None,
    })
    .await
    .unwrap();
    let cached = CachedStore::new(a);
    let first = cached.secret(SecretKey::Name("d")).await.unwrap().unwrap();
    assert_eq!(first.last_accessed_ms, None);

    cached.record_access("arn:d", "v", DAY).await.unwrap();
    let hit = cached.secret(SecretKey::Name("d")).await.unwrap().unwrap();
    assert_eq!(
        hit.last_accessed_ms,
        Some(DAY),
        "the cached copy is patched"
    );
    let listed = cached.secrets().await.unwrap();
    assert_eq!(
        listed[0].last_accessed_ms,
        Some(DAY),
        "loaded copies get the overlay"
    );
    assert_eq!(listed[0].versions[0].last_accessed_ms, Some(DAY));

    let durable = async {
        loop {
            let s = b.secret(SecretKey::Arn("arn:d")).await.unwrap().unwrap();
            if s.last_accessed_ms == Some(DAY) && s.versions[0].last_accessed_ms == Some(DAY) {
                return;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
    };
    tokio::time::timeout(crate::cache::ACCESS_FLUSH_INTERVAL * 10, durable)
        .await
        .expect("the stamp reached the store within ten flush intervals");

    // The next day's stamp is pending when the store closes: closing writes it.
    cached.record_access("arn:d", "v", 2 * DAY).await.unwrap();
    cached.close().await;
    let s = b.secret(SecretKey::Arn("arn:d")).await.unwrap().unwrap();
    assert_eq!(
        s.last_accessed_ms,
        Some(2 * DAY),
        "close flushes pending stamps"
    );
    assert_eq!(s.versions[0].last_accessed_ms, Some(2 * DAY));
    b.close().await;
}

#[tokio::test]
async fn sqlite_written_through_copies_equal_loads() {
    let dir = TempDir::new();
    written_through_copies_equal_loads(
        SqliteStore::open(&dir.0).await.unwrap(),
        SqliteStore::open(&dir.0).await.unwrap(),
    )
    .await;
}

#[tokio::test]
async fn postgres_written_through_copies_equal_loads() {
    let schema = PgSchema::new();
    written_through_copies_equal_loads(schema.open().await, schema.open().await).await;
}

/// After a commit the cache holds what it wrote (`SecretWrite::as_stored`), not a load: that
/// copy must be exactly what a load returns, for every kind of write. `b` loads.
async fn written_through_copies_equal_loads<S: Store>(a: S, b: S) {
    let bar = barrier();
    let arn = "arn:w";
    let cached = CachedStore::new(a);
    let same = |what: &'static str| {
        let (cached, b) = (&cached, &b);
        async move {
            let hit = cached.secret(SecretKey::Arn(arn)).await.unwrap().unwrap();
            let load = b.secret(SecretKey::Arn(arn)).await.unwrap().unwrap();
            assert_eq!(hit, load, "{what}: the cached copy is what a load returns");
            hit
        }
    };
    // Created with tags but `tagged` unset, versions out of the store's order, and a value
    // sealed under another key id than the version's metadata says.
    let mut s = secret(arn, "w");
    s.tagged = false;
    let mut v2 = version("v2", &["AWSCURRENT"]);
    v2.created_ms = 7;
    let mut v1 = version("v1", &[]);
    v1.kms_key_id = Some("stale".into());
    s.versions = vec![v2, v1];
    cached
        .commit(SecretWrite {
            expected_revision: None,
            secret: s,
            new_values: vec![
                ("v2".into(), value_for(&bar, arn, "v2", b"two")),
                ("v1".into(), value_for(&bar, arn, "v1", b"one")),
            ],
            resealed: vec![],
            stored_versions: None,
        })
        .await
        .unwrap();
    let mut s = same("create").await;

    // A new version takes AWSCURRENT; the old one becomes AWSPREVIOUS; v1 is pruned.
    s.revision = 2;
    s.description = Some("changed".into());
    s.versions.retain(|v| v.id != "v1");
    s.versions[0].stages = vec!["AWSPREVIOUS".into()];
    let mut v3 = version("v3", &["AWSCURRENT"]);
    v3.created_ms = 9;
    s.versions.push(v3);
    cached
        .commit(SecretWrite {
            expected_revision: Some(1),
            secret: s,
            new_values: vec![("v3".into(), value_for(&bar, arn, "v3", b"three"))],
            resealed: vec![],
            stored_versions: None,
        })
        .await
        .unwrap();
    let mut s = same("new version").await;

    // Resealed under the same key: the version's key id as sealed.
    s.revision = 3;
    cached
        .commit(SecretWrite {
            expected_revision: Some(2),
            secret: s,
            new_values: vec![],
            resealed: vec![("v2".into(), value_for(&bar, arn, "v2", b"two"))],
            stored_versions: None,
        })
        .await
        .unwrap();
    same("resealed").await;
    cached.close().await;
    b.close().await;
}

on_both!(
    sqlite_a_write_from_a_wrong_copy_is_a_conflict,
    postgres_a_write_from_a_wrong_copy_is_a_conflict,
    a_write_from_a_wrong_copy_is_a_conflict
);

/// A write that names the versions it was computed from is diffed against them without a
/// read; a copy that is not what is stored must fail as a conflict and change nothing.
async fn a_write_from_a_wrong_copy_is_a_conflict(store: &dyn Store) {
    let b = barrier();
    let arn = "arn:k";
    let mut s = secret(arn, "k");
    s.versions = vec![version("v1", &["AWSCURRENT"]), version("v0", &[])];
    store
        .commit(SecretWrite {
            expected_revision: None,
            secret: s.clone(),
            new_values: vec![
                ("v1".into(), value_for(&b, arn, "v1", b"one")),
                ("v0".into(), value_for(&b, arn, "v0", b"zero")),
            ],
            resealed: vec![],
            stored_versions: None,
        })
        .await
        .unwrap();
    let before = store.secret(SecretKey::Arn(arn)).await.unwrap().unwrap();
    // The next state: v2 current, v1 previous, v0 pruned.
    let mut next = before.clone();
    next.revision = 2;
    next.versions.retain(|v| v.id != "v0");
    next.versions[0].stages = vec!["AWSPREVIOUS".into()];
    next.versions.push(version("v2", &["AWSCURRENT"]));
    let write = |stored: Vec<Version>| SecretWrite {
        expected_revision: Some(1),
        secret: next.clone(),
        new_values: vec![("v2".into(), value_for(&b, arn, "v2", b"two"))],
        resealed: vec![],
        stored_versions: Some(stored),
    };
    let wrong_stages = {
        let mut v = before.versions.clone();
        v.iter_mut()
            .for_each(|v| v.stages = vec!["AWSPENDING".into()]);
        v
    };
    let missing_one = before.versions[..1].to_vec();
    let extra_one = {
        let mut v = before.versions.clone();
        v.push(version("v9", &[]));
        v
    };
    let v2_already = {
        let mut v = before.versions.clone();
        v.push(version("v2", &["AWSCURRENT"]));
        v
    };
    for (what, copy) in [
        ("stages not as stored", wrong_stages),
        ("a stored version missing", missing_one),
        ("a version that is not stored", extra_one),
        ("the new version already there", v2_already),
    ] {
        let res = store.commit(write(copy)).await;
        assert!(matches!(res, Err(StoreError::Conflict)), "{what}: {res:?}");
        let after = store.secret(SecretKey::Arn(arn)).await.unwrap().unwrap();
        assert_eq!(after, before, "{what}: nothing changed");
    }
    // The right copy commits, without reading the versions back.
    store.commit(write(before.versions.clone())).await.unwrap();
    let after = store.secret(SecretKey::Arn(arn)).await.unwrap().unwrap();
    let ids: Vec<(&str, Vec<String>)> = after
        .versions
        .iter()
        .map(|v| (v.id.as_str(), v.stages.clone()))
        .collect();
    assert_eq!(
        ids,
        [
            ("v1", vec!["AWSPREVIOUS".to_string()]),
            ("v2", vec!["AWSCURRENT".to_string()])
        ]
    );
    assert_eq!(after.revision, 2);
}

on_both_twice!(
    sqlite_two_writers_of_one_secret_one_wins,
    postgres_two_writers_of_one_secret_one_wins,
    two_writers_of_one_secret_one_wins
);

/// Exactly one of two results succeeded; the other failed with `loser`. Returns whether the
/// first won.
fn one_winner(a: Result<(), StoreError>, b: Result<(), StoreError>, loser: &str) -> bool {
    let name = |e: &StoreError| match e {
        StoreError::Conflict => "Conflict",
        StoreError::NameTaken => "NameTaken",
        StoreError::Backend(_) => "Backend",
        StoreError::Fenced(_) => "Fenced",
    };
    match (&a, &b) {
        (Ok(()), Err(e)) if name(e) == loser => true,
        (Err(e), Ok(())) if name(e) == loser => false,
        _ => panic!("expected one success and one {loser}, got {a:?} and {b:?}"),
    }
}

/// Two nodes (two pools) commit the same change at the same moment — a client's retry of
/// CreateSecret / PutSecretValue with one ClientRequestToken reaching two nodes, or two
/// writers of one revision: exactly one wins, the other gets the error the services turn
/// into an idempotent answer or a retry (NameTaken / Conflict), and the stored state is
/// exactly the winner's.
async fn two_writers_of_one_secret_one_wins(a: &dyn Store, b: &dyn Store) {
    let bar = barrier();
    for round in 0..8 {
        let arn = format!("arn:race{round}");
        let name = format!("race{round}");
        let mut s = secret(&arn, &name);
        s.versions.push(version("tok0", &["AWSCURRENT"]));
        let create = |plain: &[u8]| SecretWrite {
            expected_revision: None,
            secret: s.clone(),
            new_values: vec![("tok0".into(), value_for(&bar, &arn, "tok0", plain))],
            resealed: vec![],
            stored_versions: None,
        };
        let (ra, rb) = tokio::join!(a.commit(create(b"A")), b.commit(create(b"B")));
        let winner: &[u8] = if one_winner(ra, rb, "NameTaken") {
            b"A"
        } else {
            b"B"
        };
        for store in [a, b] {
            let got = store.secret(SecretKey::Name(&name)).await.unwrap().unwrap();
            assert_eq!(got, s);
            let v = store.value(&arn, "tok0").await.unwrap().unwrap();
            assert_eq!(open_value(&bar, &arn, "tok0", &v), winner);
        }

        // PutSecretValue with the same token on both nodes, both having read revision 1.
        let mut next = s.clone();
        next.revision = 2;
        next.versions[0].stages = vec!["AWSPREVIOUS".into()];
        next.versions.push(version("tok1", &["AWSCURRENT"]));
        let put = |plain: &[u8]| SecretWrite {
            expected_revision: Some(1),
            secret: next.clone(),
            new_values: vec![("tok1".into(), value_for(&bar, &arn, "tok1", plain))],
            resealed: vec![],
            stored_versions: None,
        };
        let (ra, rb) = tokio::join!(a.commit(put(b"A")), b.commit(put(b"B")));
        let winner: &[u8] = if one_winner(ra, rb, "Conflict") {
            b"A"
        } else {
            b"B"
        };
        for store in [a, b] {
            let got = store.secret(SecretKey::Arn(&arn)).await.unwrap().unwrap();
            assert_eq!(got, next, "one new version, labels moved once");
            let v = store.value(&arn, "tok1").await.unwrap().unwrap();
            assert_eq!(open_value(&bar, &arn, "tok1", &v), winner);
        }

        // Two different writes of revision 2 (two tokens): one lands, the other changes
        // nothing (its version never appears).
        let write = |token: &str| {
            let mut w = next.clone();
            w.revision = 3;
            for v in &mut w.versions {
                v.stages.retain(|s| s != "AWSPREVIOUS");
                if v.stages == ["AWSCURRENT"] {
                    v.stages = vec!["AWSPREVIOUS".into()];
                }
            }
            w.versions.push(version(token, &["AWSCURRENT"]));
            SecretWrite {
                expected_revision: Some(2),
                secret: w,
                new_values: vec![(token.into(), value_for(&bar, &arn, token, b"x"))],
                resealed: vec![],
                stored_versions: None,
            }
        };
        let (ra, rb) = tokio::join!(a.commit(write("ta")), b.commit(write("tb")));
        let (won, lost) = if one_winner(ra, rb, "Conflict") {
            ("ta", "tb")
        } else {
            ("tb", "ta")
        };
        let got = a.secret(SecretKey::Arn(&arn)).await.unwrap().unwrap();
        assert_eq!(got.revision, 3);
        assert!(got.versions.iter().any(|v| v.id == won));
        assert!(!got.versions.iter().any(|v| v.id == lost));
        assert!(a.value(&arn, lost).await.unwrap().is_none());

        // Purge on one node racing a write on the other: never a half-deleted secret.
        let mut w = got.clone();
        w.revision = 4;
        w.description = Some("late".into());
        let write = SecretWrite {
            expected_revision: Some(3),
            secret: w,
            new_values: vec![],
            resealed: vec![],
            stored_versions: None,
        };
        let (purged, written) = tokio::join!(a.purge(&arn), b.commit(write));
        assert!(purged.unwrap());
        match written {
            // The write came first, then the purge took it all.
            Ok(()) => {}
            Err(StoreError::Conflict) => {}
            Err(e) => panic!("a write racing a purge must succeed or conflict: {e:?}"),
        }
        assert!(b.secret(SecretKey::Arn(&arn)).await.unwrap().is_none());
        assert!(b.value(&arn, won).await.unwrap().is_none());

        // SSM: PutParameter (create) on both nodes, then Overwrite at one revision.
        let pname = format!("/race/{round}");
        let create = || ParameterWrite {
            expected_revision: None,
            parameter: parameter(&pname, 1, &[1]),
            new_values: vec![(1, sealed_param(&bar, &pname, 1))],
        };
        let (ra, rb) = tokio::join!(a.commit_parameter(create()), b.commit_parameter(create()));
        one_winner(ra, rb, "NameTaken");
        let overwrite = || ParameterWrite {
            expected_revision: Some(1),
            parameter: parameter(&pname, 2, &[1, 2]),
            new_values: vec![(2, sealed_param(&bar, &pname, 2))],
        };
        let (ra, rb) = tokio::join!(
            a.commit_parameter(overwrite()),
            b.commit_parameter(overwrite())
        );
        one_winner(ra, rb, "Conflict");
        assert_eq!(
            b.parameter(&pname).await.unwrap(),
            Some(parameter(&pname, 2, &[1, 2]))
        );
    }
}

/// Nodes starting together on an empty database: each migrates under the advisory lock, so
/// every migration is applied exactly once and every node opens.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_concurrent_first_starts_migrate_once() {
    let schema = PgSchema::new();
    let (a, b, c, d) = tokio::join!(schema.open(), schema.open(), schema.open(), schema.open());
    let admin = schema.admin().await;
    let (rows, distinct): (i64, i64) = sqlx::query_as(AssertSqlSafe(format!(
        "SELECT COUNT(*), COUNT(DISTINCT version) FROM \"{}\".schema_migrations",
        schema.0
    )))
    .fetch_one(&admin)
    .await
    .unwrap();
    assert!(rows > 0);
    assert_eq!(rows, distinct, "each migration recorded once");
    // Opening again applies nothing new and works.
    let e = schema.open().await;
    let again: i64 = sqlx::query_scalar(AssertSqlSafe(format!(
        "SELECT COUNT(*) FROM \"{}\".schema_migrations",
        schema.0
    )))
    .fetch_one(&admin)
    .await
    .unwrap();
    assert_eq!(again, rows);
    // Tables went into the schema, nowhere else.
    let outside: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM information_schema.tables WHERE table_name = 'secrets' AND table_schema = 'public'",
    )
    .fetch_one(&admin)
    .await
    .unwrap();
    assert_eq!(outside, 0);
    for s in [a, b, c, d, e] {
        s.close().await;
    }
    admin.close().await;
}

/// A schema holding a migration this build does not know (a newer Strongroom wrote it) is
/// refused rather than used.
#[tokio::test]
async fn postgres_a_newer_schema_is_refused() {
    let schema = PgSchema::new();
    schema.open().await.close().await;
    let admin = schema.admin().await;
    sqlx::query(AssertSqlSafe(format!(
        "INSERT INTO \"{}\".schema_migrations VALUES (999, 0)",
        schema.0
    )))
    .execute(&admin)
    .await
    .unwrap();
    let Err(e) = PostgresStore::open(&pg_url(), &schema.0).await else {
        panic!("a schema with an unknown migration must be refused");
    };
    assert!(e.to_string().contains("newer version"), "{e}");
    admin.close().await;
}

/// Regions are schemas: one region's secrets are invisible in another's.
#[tokio::test]
async fn postgres_schemas_are_isolated() {
    let (one, two) = (PgSchema::new(), PgSchema::new());
    let (a, b) = (one.open().await, two.open().await);
    a.commit(SecretWrite {
        expected_revision: None,
        secret: secret("arn:iso", "iso"),
        new_values: vec![],
        resealed: vec![],
        stored_versions: None,
    })
    .await
    .unwrap();
    assert!(b.secret(SecretKey::Name("iso")).await.unwrap().is_none());
    // The same name is free in the other schema.
    b.commit(SecretWrite {
        expected_revision: None,
        secret: secret("arn:iso", "iso"),
        new_values: vec![],
        resealed: vec![],
        stored_versions: None,
    })
    .await
    .unwrap();
    a.close().await;
    b.close().await;
}

/// A secret's change is announced with the store that wrote it, so a node can pass over its
/// own writes (crate::postgres migration 6): two stores on one schema, two origins.
#[tokio::test]
async fn postgres_secret_announcements_name_their_writer() {
    use crate::postgres::SECRET_CHANGES_CHANNEL;
    let schema = PgSchema::new();
    let (a, b) = (schema.open().await, schema.open().await);
    let (origin_a, origin_b) = (a.announces_as().unwrap(), b.announces_as().unwrap());
    assert_ne!(origin_a, origin_b);
    let mut listener = sqlx::postgres::PgListener::connect(&pg_url())
        .await
        .unwrap();
    listener.listen(SECRET_CHANGES_CHANNEL).await.unwrap();
    for (store, arn) in [(&a, "arn:by-a"), (&b, "arn:by-b")] {
        store
            .commit(SecretWrite {
                expected_revision: None,
                secret: secret(arn, arn),
                new_values: vec![],
                resealed: vec![],
                stored_versions: None,
            })
            .await
            .unwrap();
    }
    let mut heard = Vec::new();
    while heard.len() < 2 {
        let n = tokio::time::timeout(std::time::Duration::from_secs(5), listener.recv())
            .await
            .expect("announced within 5 s")
            .unwrap();
        // Other tests' schemas announce on the same channel.
        if n.payload().starts_with(&format!("{} ", schema.0)) {
            heard.push(n.payload().to_string());
        }
    }
    assert_eq!(
        heard,
        [
            format!("{} {origin_a} arn:by-a", schema.0),
            format!("{} {origin_b} arn:by-b", schema.0)
        ]
    );
    a.close().await;
    b.close().await;
}

#[tokio::test]
async fn postgres_a_parameter_without_versions_is_refused_when_loaded() {
    let schema = PgSchema::new();
    let store = schema.open().await;
    let admin = schema.admin().await;
    sqlx::query(AssertSqlSafe(format!(
        "INSERT INTO \"{}\".ssm_parameters (name, revision, meta) VALUES ($1, 1, $2)",
        schema.0
    )))
    .bind("/damaged")
    .bind(r#"{"name":"/damaged","revision":1,"tags":[],"versions":[]}"#)
    .execute(&admin)
    .await
    .unwrap();
    let e = store.parameter("/damaged").await.unwrap_err();
    assert!(e.to_string().contains("no versions"), "{e}");
    assert!(store.parameters().await.is_err());
    admin.close().await;
    store.close().await;
}

#[test]
fn region_schemas_and_unsafe_names() {
    use crate::postgres::schema_for_region;
    assert_eq!(schema_for_region("us-east-1", true), "strongroom");
    assert_eq!(
        schema_for_region("us-west-2", false),
        "strongroom_us_west_2"
    );
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    for bad in ["", "Strongroom", "a;drop", "1abc", "a\"b", &"x".repeat(64)] {
        // Refused before any connection is attempted.
        let e = rt
            .block_on(PostgresStore::open("postgres://nobody@127.0.0.1:1/x", bad))
            .err()
            .unwrap_or_else(|| panic!("{bad:?} accepted"));
        assert!(e.to_string().contains("schema name"), "{bad:?}: {e}");
    }
}

/// `ping` answers while the store is open and fails once it is closed (readiness checks).
async fn ping_answers_while_open(store: &dyn Store) {
    store.ping().await.expect("an open store answers");
}
on_both!(
    sqlite_ping_answers,
    postgres_ping_answers,
    ping_answers_while_open
);

#[tokio::test]
async fn postgres_ping_fails_once_closed() {
    let schema = PgSchema::new();
    let store = schema.open().await;
    store.close().await;
    assert!(store.ping().await.is_err());
}

/// A refused connection is retried only until the acquire deadline: a node whose database is
/// down answers in seconds, not after sqlx's default wait.
#[tokio::test]
async fn postgres_a_refused_connection_fails_within_the_acquire_timeout() {
    let started = std::time::Instant::now();
    let e = PostgresStore::open("postgres://nobody@127.0.0.1:1/x", "strongroom")
        .await
        .err()
        .expect("nothing listens on port 1");
    let took = started.elapsed();
    assert!(
        took < crate::postgres::ACQUIRE_TIMEOUT + std::time::Duration::from_secs(2),
        "{took:?}: {e}"
    );
}

/// An unreachable server is an error at once, and the message carries no password.
#[tokio::test]
async fn postgres_unreachable_is_an_error_without_the_password() {
    let e = PostgresStore::open("postgres://u:hunter2-secret@127.0.0.1:1/x", "strongroom")
        .await
        .err()
        .expect("nothing listens on port 1");
    assert!(!e.to_string().contains("hunter2"), "{e}");
    assert!(
        PostgresStore::open("postgres://u:hunter2-secret@[bad/x", "strongroom")
            .await
            .err()
            .is_some_and(|e| !e.to_string().contains("hunter2"))
    );
}

on_both!(
    sqlite_listings_page_from_indexes_in_every_order,
    postgres_listings_page_from_indexes_in_every_order,
    listings_page_from_indexes_in_every_order
);

/// Walk a listing batch by batch from the cursor of the last secret of each batch.
async fn walk(
    store: &dyn Store,
    sort_by: SortBy,
    order: SortOrder,
    name_prefix: Option<&str>,
    limit: usize,
) -> Vec<String> {
    let mut out = Vec::new();
    let mut after: Option<SecretCursor> = None;
    loop {
        let page = SecretsPage {
            sort_by,
            order,
            after: after.as_ref(),
            name_prefix,
            limit,
        };
        let batch = store.secrets_page(&page).await.unwrap();
        assert!(batch.len() <= limit);
        out.extend(batch.iter().map(|s| s.name.clone()));
        match batch.last() {
            Some(last) if batch.len() == limit => {
                after = Some(SecretCursor::of(sort_by, order, last))
            }
            _ => return out,
        }
    }
}

/// Keyset pages in each of ListSecrets' orders, and the console's (description, next
/// rotation), are exactly the domain's total order (`filters::compare`: missing dates first,
/// secrets without rotation last, ties by name then ARN, bytes not locale), and a name prefix
/// is a range of names.
async fn listings_page_from_indexes_in_every_order(store: &dyn Store) {
    // Ties on every date, names that sort differently by bytes and by locale.
    let names = ["b", "B", "a", "/x", "A_", "a/b", "ab", "a0", "Z", "c"];
    let mut secrets = Vec::new();
    for (i, name) in names.iter().enumerate() {
        let mut s = secret(&format!("arn:{i:02}"), name);
        s.created_ms = (i as i64) % 3;
        s.last_changed_ms = 10 - (i as i64) % 4;
        // Ties, none, case and bytes (é after z), and one beyond the indexed 200 characters.
        s.description = match i % 5 {
            0 => None,
            1 => Some("beta".into()),
            2 => Some("Alpha".into()),
            3 => Some(format!("{}{}", "é".repeat(200), i)),
            _ => Some("zeta".into()),
        };
        // Every third rotates (one in the past, ties), one more is configured but off, and
        // one shows its schedule's date while a retry is due earlier.
        match i % 3 {
            0 => {}
            1 => {
                s.rotation.enabled = true;
                s.rotation.next_rotation_ms = Some(1_000 * (i as i64 % 4));
            }
            _ if i == 5 => {
                s.rotation.enabled = true;
                s.rotation.next_rotation_ms = Some(1);
                s.rotation.next_rotation_date_ms = Some(5_000);
            }
            _ => s.rotation.next_rotation_ms = Some(2_000),
        }
        s.versions.push(version(&format!("v{i}"), &["AWSCURRENT"]));
        store
            .commit(SecretWrite {
                expected_revision: None,
                secret: s.clone(),
                new_values: vec![(format!("v{i}"), value_for(&barrier(), &s.arn, "v", b"x"))],
                resealed: vec![],
                stored_versions: None,
            })
            .await
            .unwrap();
        if i % 3 != 0 {
            let day = (i as i64) % 2 * 86_400_000;
            store
                .record_access(&s.arn, &format!("v{i}"), day)
                .await
                .unwrap();
            s.last_accessed_ms = Some(day);
        }
        secrets.push(s);
    }
    for sort_by in [
        SortBy::CreatedDate,
        SortBy::LastAccessedDate,
        SortBy::LastChangedDate,
        SortBy::Name,
        SortBy::Description,
        SortBy::NextRotationDate,
    ] {
        for order in [SortOrder::Asc, SortOrder::Desc] {
            let mut expected = secrets.clone();
            expected.sort_by(|a, b| compare(sort_by, order, &sort_view(a), &sort_view(b)));
            let expected: Vec<String> = expected.into_iter().map(|s| s.name).collect();
            for limit in [1, 3, 100] {
                assert_eq!(
                    walk(store, sort_by, order, None, limit).await,
                    expected,
                    "{sort_by:?} {order:?} by {limit}"
                );
            }
        }
    }
    // Versions come with each secret.
    let page = SecretsPage {
        sort_by: SortBy::Name,
        order: SortOrder::Asc,
        after: None,
        name_prefix: Some("a0"),
        limit: 10,
    };
    let batch = store.secrets_page(&page).await.unwrap();
    assert_eq!(batch.len(), 1);
    assert_eq!(batch[0].versions.len(), 1);
    assert_eq!(batch[0].versions[0].id, "v7");
    for (prefix, want) in [
        ("a", vec!["a", "a/b", "a0", "ab"]),
        ("A", vec!["A_"]),
        ("/", vec!["/x"]),
        ("q", vec![]),
    ] {
        for order in [SortOrder::Asc, SortOrder::Desc] {
            let mut want = want.clone();
            if order == SortOrder::Desc {
                want.reverse();
            }
            assert_eq!(
                walk(store, SortBy::Name, order, Some(prefix), 2).await,
                want,
                "{prefix:?} {order:?}"
            );
        }
    }
    assert!(store.secrets_with_replicas().await.unwrap().is_empty());
    let mut primary = secrets[4].clone();
    primary
        .replication
        .replicas
        .push(strongroom_domain::replication::Replica {
            region: "eu-west-1".into(),
            kms_key_id: None,
            status: strongroom_domain::replication::ReplicaStatus::InProgress,
            status_message: None,
            synced_ms: None,
            synced_state: None,
            synced_versions: vec![],
            last_accessed_ms: None,
            overwrite: false,
        });
    primary.revision = 2;
    store
        .commit(SecretWrite {
            expected_revision: Some(1),
            secret: primary.clone(),
            new_values: vec![],
            resealed: vec![],
            stored_versions: None,
        })
        .await
        .unwrap();
    let replicated = store.secrets_with_replicas().await.unwrap();
    assert_eq!(replicated.len(), 1);
    assert_eq!(replicated[0].name, primary.name);
    assert_eq!(replicated[0].versions.len(), 1);
}

fn sort_view(s: &Secret) -> SortView<'_> {
    SortView {
        name: &s.name,
        arn: &s.arn,
        created_ms: s.created_ms,
        last_accessed_ms: s.last_accessed_ms,
        last_changed_ms: Some(s.last_changed_ms),
        description: s.description.as_deref(),
        next_rotation_ms: s.rotation.next_rotation_date(),
    }
}

on_both!(
    sqlite_parameters_page_by_canonical_name,
    postgres_parameters_page_by_canonical_name,
    parameters_page_by_canonical_name
);

/// Parameters list by their canonical name (an old `/x` lists as `x`), from an index, in
/// keyset pages; a prefix is a range; the policy sweep finds exactly the parameters whose
/// newest version has policies.
async fn parameters_page_by_canonical_name(store: &dyn Store) {
    let b = barrier();
    let names = ["/x", "w", "/a/b", "/a/c/d", "/a0", "/ab/c", "B", "/"];
    for name in names {
        store
            .commit_parameter(ParameterWrite {
                expected_revision: None,
                parameter: parameter(name, 1, &[1]),
                new_values: vec![(1, sealed_param(&b, name, 1))],
            })
            .await
            .unwrap();
    }
    assert_eq!(store.parameter_count().await.unwrap(), names.len());
    let mut expected: Vec<(String, String)> = names
        .iter()
        .map(|n| (canonical(n).to_string(), n.to_string()))
        .collect();
    expected.sort();
    let expected: Vec<String> = expected.into_iter().map(|(_, n)| n).collect();
    for limit in [1, 3, 100] {
        let mut got = Vec::new();
        let mut after: Option<ParameterCursor> = None;
        loop {
            let batch = store
                .parameters_page(after.as_ref(), None, limit)
                .await
                .unwrap();
            got.extend(batch.iter().map(|p| p.name.clone()));
            match batch.last() {
                Some(last) if batch.len() == limit => after = Some(ParameterCursor::of(last)),
                _ => break,
            }
        }
        assert_eq!(got, expected, "by {limit}");
    }
    let under = |prefix: &'static str| async move {
        store
            .parameters_page(None, Some(prefix), 100)
            .await
            .unwrap()
            .into_iter()
            .map(|p| p.name)
            .collect::<Vec<_>>()
    };
    assert_eq!(under("/a/").await, ["/a/b", "/a/c/d"]);
    assert_eq!(under("/a").await, ["/a/b", "/a/c/d", "/ab/c"]);
    assert_eq!(under("a").await, ["/a0"]);
    assert_eq!(under("x").await, ["/x"]);

    assert!(store.parameters_with_policies().await.unwrap().is_empty());
    let mut p = parameter("w", 1, &[1, 2]);
    p.revision = 2;
    p.versions[0].policies.push(Policy {
        text: "old".into(),
        kind: PolicyKind::Expiration { at_ms: 1 },
    });
    store
        .commit_parameter(ParameterWrite {
            expected_revision: Some(1),
            parameter: p.clone(),
            new_values: vec![(2, sealed_param(&b, "w", 2))],
        })
        .await
        .unwrap();
    // Policies of an older version are not in force.
    assert!(store.parameters_with_policies().await.unwrap().is_empty());
    p.revision = 3;
    p.versions[1].policies.push(Policy {
        text: "new".into(),
        kind: PolicyKind::Expiration { at_ms: 2 },
    });
    store
        .commit_parameter(ParameterWrite {
            expected_revision: Some(2),
            parameter: p,
            new_values: vec![],
        })
        .await
        .unwrap();
    let with: Vec<String> = store
        .parameters_with_policies()
        .await
        .unwrap()
        .into_iter()
        .map(|p| p.name)
        .collect();
    assert_eq!(with, ["w"]);
}

#[test]
fn prefix_ends_bound_exactly_the_prefixed_strings() {
    assert_eq!(prefix_end("a/b"), Some("a/c".into()));
    assert_eq!(prefix_end("/a/"), Some("/a0".into()));
    assert_eq!(prefix_end("z"), Some("{".into()));
    assert_eq!(prefix_end(""), None);
    assert_eq!(prefix_end("é"), None);
    for s in ["a/b", "a/b/c", "a/bz", "a/b~"] {
        assert!(("a/b".."a/c").contains(&s), "{s}");
    }
}

/// A background job's writes carry its lease's fencing token: once the lease moved to another
/// node (or ran out), the old holder's writes — which it may still make, not knowing yet — are
/// refused and change nothing, while the new holder's and every request's (no token) go
/// through. (A fresh database: the lease lives in its home schema.)
#[tokio::test]
async fn postgres_background_writes_are_fenced_by_the_lease() {
    use crate::fence::{self, BACKGROUND_JOB};
    use crate::postgres::{HOME_SCHEMA, Leases, connect_options};
    use std::time::Duration;

    let db = unique("sr_fence");
    let admin = sqlx::PgPool::connect(&pg_url())
        .await
        .expect("PostgreSQL is reachable");
    sqlx::query(AssertSqlSafe(format!("CREATE DATABASE \"{db}\"")))
        .execute(&admin)
        .await
        .unwrap();
    let url = format!("{}/{db}", pg_url().rsplit_once('/').unwrap().0);
    let store = PostgresStore::open(&url, HOME_SCHEMA).await.unwrap();
    let leases = Leases::open(&connect_options(&url).unwrap()).await.unwrap();

    let ttl = Duration::from_millis(300);
    let a = leases
        .hold(BACKGROUND_JOB, "node-a", ttl)
        .await
        .unwrap()
        .expect("a free lease");
    let write = |expected: Option<i64>, s: &Secret| SecretWrite {
        expected_revision: expected,
        secret: s.clone(),
        new_values: vec![],
        resealed: vec![],
        stored_versions: None,
    };
    let mut s = secret("arn:fenced", "fenced");
    s.versions.push(version("v1", &["AWSCURRENT"]));
    s.versions[0].has_value = false; // no value needed to test the fence
    fence::scope(a, store.commit(write(None, &s)))
        .await
        .unwrap();

    // A stops renewing (paused, cut off); its lease runs out and B takes it.
    tokio::time::sleep(ttl + Duration::from_millis(100)).await;
    let b = leases
        .hold(BACKGROUND_JOB, "node-b", Duration::from_secs(60))
        .await
        .unwrap()
        .expect("taken over");
    assert!(b > a, "a new holder gets a new token");

    // A's job, not knowing yet: every kind of background write is refused.
    let mut s2 = s.clone();
    s2.revision = 2;
    s2.description = Some("written by the old holder".into());
    let refused = |r: Result<(), StoreError>| matches!(r, Err(StoreError::Fenced(t)) if t == a);
    assert!(refused(
        fence::scope(a, store.commit(write(Some(1), &s2))).await
    ));
    assert!(matches!(
        fence::scope(a, store.purge("arn:fenced")).await,
        Err(StoreError::Fenced(_))
    ));
    let alarm = [("alarm".to_string(), "{}".to_string())];
    assert!(refused(
        fence::scope(a, store.write_alarms(&alarm, &[])).await
    ));
    assert!(refused(
        fence::scope(
            a,
            store.commit_parameter(ParameterWrite {
                expected_revision: None,
                parameter: parameter("/fenced", 1, &[1]),
                new_values: vec![],
            })
        )
        .await
    ));
    // Nothing changed.
    assert_eq!(
        store.secret(SecretKey::Arn("arn:fenced")).await.unwrap(),
        Some(s.clone())
    );
    assert!(store.alarms().await.unwrap().is_empty());
    assert_eq!(store.parameter("/fenced").await.unwrap(), None);

    // B's job writes; a request (no token) writes whoever holds the lease.
    fence::scope(b, store.commit(write(Some(1), &s2)))
        .await
        .unwrap();
    store.write_alarms(&alarm, &[]).await.unwrap();
    assert_eq!(
        store.secret(SecretKey::Arn("arn:fenced")).await.unwrap(),
        Some(s2)
    );

    // B stops (gives the lease up): its token no longer writes either.
    leases.release(BACKGROUND_JOB, "node-b").await.unwrap();
    assert!(matches!(
        fence::scope(b, store.purge("arn:fenced")).await,
        Err(StoreError::Fenced(t)) if t == b
    ));
    assert!(
        store
            .secret(SecretKey::Arn("arn:fenced"))
            .await
            .unwrap()
            .is_some()
    );

    store.close().await;
    drop(leases);
    sqlx::query(AssertSqlSafe(format!(
        "DROP DATABASE IF EXISTS \"{db}\" WITH (FORCE)"
    )))
    .execute(&admin)
    .await
    .unwrap();
    admin.close().await;
}

on_both!(
    sqlite_the_current_value_comes_with_its_secret,
    postgres_the_current_value_comes_with_its_secret,
    the_current_value_comes_with_its_secret
);

/// `secret_with_current`: the secret as `secret` reads it and exactly the AWSCURRENT
/// version's value — not a version whose label merely contains the word, nor a value-less
/// one.
async fn the_current_value_comes_with_its_secret(store: &dyn Store) {
    let b = barrier();
    let mut s = secret("arn:w", "with-current");
    s.versions = vec![
        version("v0", &["xAWSCURRENTx", "\"AWSCURRENT\""]),
        version("v1", &["AWSCURRENT"]),
        version("v2", &["AWSPREVIOUS"]),
    ];
    store
        .commit(SecretWrite {
            expected_revision: None,
            secret: s.clone(),
            new_values: ["v0", "v1", "v2"]
                .iter()
                .map(|v| (v.to_string(), value_for(&b, "arn:w", v, v.as_bytes())))
                .collect(),
            resealed: vec![],
            stored_versions: None,
        })
        .await
        .unwrap();
    for key in [SecretKey::Name("with-current"), SecretKey::Arn("arn:w")] {
        let (got, current) = store.secret_with_current(key).await.unwrap().unwrap();
        assert_eq!(got, s);
        let (id, value) = current.expect("the AWSCURRENT value, read with the secret");
        assert_eq!(id, "v1");
        assert_eq!(open_value(&b, "arn:w", "v1", &value), b"v1");
    }
    // An AWSCURRENT version without a value (a rotation's first step can leave one): none.
    let mut bare = secret("arn:x", "without-value");
    let mut v = version("v", &["AWSCURRENT"]);
    v.has_value = false;
    v.kms_key_id = None;
    bare.versions = vec![v];
    store
        .commit(SecretWrite {
            expected_revision: None,
            secret: bare.clone(),
            new_values: vec![],
            resealed: vec![],
            stored_versions: None,
        })
        .await
        .unwrap();
    let (got, current) = store
        .secret_with_current(SecretKey::Name("without-value"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(got, bare);
    assert!(current.is_none());
    assert!(
        store
            .secret_with_current(SecretKey::Name("absent"))
            .await
            .unwrap()
            .is_none()
    );
}

on_both!(
    sqlite_concurrent_reads_each_get_their_own_secret,
    postgres_concurrent_reads_each_get_their_own_secret,
    concurrent_reads_each_get_their_own_secret
);

/// Many reads at once (SQLite answers them in batches, one statement each): every reader
/// gets exactly its secret — by name or by ARN, the same one twice, or none for a name
/// that does not exist.
async fn concurrent_reads_each_get_their_own_secret(store: &dyn Store) {
    let b = barrier();
    for i in 0..20 {
        let (arn, name) = (format!("arn:r{i}"), format!("read-{i}"));
        let mut s = secret(&arn, &name);
        s.versions = vec![version(&format!("v{i}"), &["AWSCURRENT"])];
        let value = value_for(&b, &arn, &format!("v{i}"), name.as_bytes());
        store
            .commit(SecretWrite {
                expected_revision: None,
                secret: s,
                new_values: vec![(format!("v{i}"), value)],
                resealed: vec![],
                stored_versions: None,
            })
            .await
            .unwrap();
    }
    let keys: Vec<(bool, String)> = (0..200)
        .map(|j| match j % 4 {
            0 => (false, format!("read-{}", j % 20)),
            1 => (true, format!("arn:r{}", j % 20)),
            2 => (false, format!("read-{}", j % 7)),
            _ => (false, format!("missing-{j}")),
        })
        .collect();
    let reads = keys.iter().map(|(by_arn, k)| async move {
        let key = if *by_arn {
            SecretKey::Arn(k)
        } else {
            SecretKey::Name(k)
        };
        (by_arn, k, store.secret_with_current(key).await.unwrap())
    });
    for (by_arn, k, found) in futures_util::future::join_all(reads).await {
        if k.starts_with("missing-") {
            assert!(found.is_none(), "{k}");
            continue;
        }
        let (s, current) = found.unwrap_or_else(|| panic!("{k} not found"));
        assert_eq!(if *by_arn { &s.arn } else { &s.name }, k);
        let i = s.name.trim_start_matches("read-");
        assert_eq!(s.arn, format!("arn:r{i}"));
        let (id, value) = current.unwrap();
        assert_eq!(id, format!("v{i}"));
        assert_eq!(open_value(&b, &s.arn, &id, &value), s.name.as_bytes());
    }
}

/// A read the batched reader cannot answer (the store closed under it) is an error for every
/// waiter of the batch, at once — never a hang.
#[tokio::test]
async fn sqlite_reads_of_a_closed_store_fail_at_once() {
    let dir = TempDir::new();
    let store = SqliteStore::open(&dir.0).await.unwrap();
    store.close().await;
    let reads = (0..10).map(|i| {
        let name = format!("after-close-{i}");
        let store = &store;
        async move { store.secret(SecretKey::Name(&name)).await }
    });
    let outcomes = tokio::time::timeout(
        std::time::Duration::from_secs(10),
        futures_util::future::join_all(reads),
    )
    .await
    .expect("reads of a closed store must not hang");
    for outcome in outcomes {
        assert!(
            matches!(outcome, Err(StoreError::Backend(_))),
            "{outcome:?}"
        );
    }
}
