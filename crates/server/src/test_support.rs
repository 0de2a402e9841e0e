//! Fixtures the server's unit tests share: an in-memory SQLite store, a barrier over a fresh
//! root key, a manual clock at a fixed start, the test account and region, and a loaded
//! directory. Real parts (SQLite, the barrier's AES-GCM), nothing mocked.

use std::sync::Arc;

use strongroom_barrier::{Barrier, RootKey};
use strongroom_store::Store;
use strongroom_store::sqlite::SqliteStore;

use crate::clock::ManualClock;
use crate::credentials::RootCredentials;
use crate::iam::directory::Directory;

pub const ACCOUNT: &str = "123456789012";
pub const REGION: &str = "us-east-1";
/// 2023-11-14T22:13:20Z: every manual clock starts here.
pub const START: i64 = 1_700_000_000_000;

/// An empty in-memory store with every migration applied.
pub async fn store() -> Arc<dyn Store> {
    Arc::new(SqliteStore::in_memory().await.expect("in-memory SQLite"))
}

/// A barrier over a freshly generated root key, holding the directory's KMS key `k`.
pub fn barrier() -> Arc<Barrier> {
    let barrier = Barrier::new(&RootKey::generate().expect("a root key"));
    barrier.create_kms_key("k").expect("a KMS key");
    Arc::new(barrier)
}

/// A manual clock at [`START`].
pub fn clock() -> Arc<ManualClock> {
    Arc::new(ManualClock::new(START))
}

/// The IAM directory of the test account on `store`, its secrets sealed under the barrier's
/// KMS key `k` (load it again on the same store and barrier to test a restart).
pub async fn directory(store: Arc<dyn Store>, barrier: Arc<Barrier>) -> Directory {
    Directory::load(
        store,
        barrier,
        "k".into(),
        ACCOUNT.into(),
        "aws",
        RootCredentials::dev(),
    )
    .await
    .expect("the directory loads")
}
