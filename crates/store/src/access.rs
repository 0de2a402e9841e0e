//! LastAccessedDate stamps on their way to the store.
//!
//! The first GetSecretValue of a secret and version each day stamps the date (AWS's
//! granularity). Written on the request's path that was a durable transaction per read — with
//! reads spread over many secrets, one `fsync` per request. [`crate::cache::CachedStore`]
//! keeps the stamps here instead, shows them to every read that passes through it, and writes
//! them in batches (one transaction for all the stamps of an interval).
//!
//! What a crash can lose is at most one interval of dates, never a value or a version: the
//! audit log (written before the value is returned) remains the record of every read.
//!
//! Reads stay consistent with stamps made before they started: a reader loads from the store,
//! applies what is pending ([`PendingAccess::overlay`]), and reads again if a flush removed
//! entries meanwhile ([`PendingAccess::flushes`]) — entries leave only after they are
//! committed, and the count moves in the same critical section, so a stamp is always either
//! in the store the reader saw or in the overlay it applied.

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use strongroom_domain::secret::{Millis, Secret};

use crate::AccessStamp;

#[derive(Default)]
pub(crate) struct PendingAccess {
    by_secret: Mutex<HashMap<String, Stamps>>,
    flushes: AtomicU64,
    /// A flusher task is running (or about to): no other is started.
    flushing: AtomicBool,
    /// The store closed: a flusher stops.
    closed: AtomicBool,
}

/// One secret's pending stamps: the secret's day and each read version's.
struct Stamps {
    day_ms: Millis,
    versions: Vec<(String, Millis)>,
}

impl PendingAccess {
    /// Note a stamp. Returns true when the caller must start a flusher (none is running).
    pub(crate) fn add(&self, secret_arn: &str, version_id: &str, day_ms: Millis) -> bool {
        {
            let mut m = self.lock();
            let s = m.entry(secret_arn.to_string()).or_insert_with(|| Stamps {
                day_ms,
                versions: Vec::new(),
            });
            s.day_ms = day_ms;
            match s.versions.iter_mut().find(|(v, _)| v == version_id) {
                Some((_, d)) => *d = day_ms,
                None => s.versions.push((version_id.to_string(), day_ms)),
            }
        }
        self.claim_flusher()
    }

    /// Become the flusher if there is none.
    pub(crate) fn claim_flusher(&self) -> bool {
        self.flushing
            .compare_exchange(false, true, Ordering::SeqCst, Ordering::SeqCst)
            .is_ok()
    }

    /// The flusher stops: returns true if stamps arrived meanwhile and it must go on (it
    /// claimed the role again).
    pub(crate) fn release_flusher(&self) -> bool {
        self.flushing.store(false, Ordering::SeqCst);
        !self.lock().is_empty() && self.claim_flusher()
    }

    pub(crate) fn close(&self) {
        self.closed.store(true, Ordering::SeqCst);
    }

    pub(crate) fn is_closed(&self) -> bool {
        self.closed.load(Ordering::SeqCst)
    }

    /// How many flushes have removed entries: a reader that saw this change while it loaded
    /// from the store reads again.
    pub(crate) fn flushes(&self) -> u64 {
        self.flushes.load(Ordering::SeqCst)
    }

    /// Apply pending stamps to a secret loaded from the store.
    pub(crate) fn overlay(&self, secret: &mut Secret) {
        let m = self.lock();
        if let Some(s) = m.get(&secret.arn) {
            secret.last_accessed_ms = Some(s.day_ms);
            for (id, day) in &s.versions {
                if let Some(v) = secret.versions.iter_mut().find(|v| &v.id == id) {
                    v.last_accessed_ms = Some(*day);
                }
            }
        }
    }

    /// Everything pending, secrets in ARN order (the row lock order of a commit).
    pub(crate) fn batch(&self) -> Vec<AccessStamp> {
        let m = self.lock();
        let mut arns: Vec<&String> = m.keys().collect();
        arns.sort();
        let mut out = Vec::new();
        for arn in arns {
            for (id, day) in &m[arn].versions {
                out.push(AccessStamp {
                    secret_arn: arn.clone(),
                    version_id: id.clone(),
                    day_ms: *day,
                });
            }
        }
        out
    }

    /// Forget stamps now committed — unless a later day was noted for them meanwhile.
    pub(crate) fn written(&self, batch: &[AccessStamp]) {
        let mut m = self.lock();
        for w in batch {
            if let Some(s) = m.get_mut(&w.secret_arn) {
                s.versions
                    .retain(|(id, day)| !(id == &w.version_id && *day == w.day_ms));
                if s.versions.is_empty() {
                    m.remove(&w.secret_arn);
                }
            }
        }
        // Inside the lock: see the module's docs.
        self.flushes.fetch_add(1, Ordering::SeqCst);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Stamps>> {
        self.by_secret.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secret() -> Secret {
        let mut s = crate::tests::secret("arn:a", "a");
        s.versions = vec![
            crate::tests::version("v1", &["AWSCURRENT"]),
            crate::tests::version("v2", &[]),
        ];
        s
    }

    #[test]
    fn pending_stamps_overlay_until_written() {
        let p = PendingAccess::default();
        assert!(
            p.add("arn:a", "v1", 100),
            "the first stamp starts a flusher"
        );
        assert!(!p.add("arn:a", "v2", 200), "one flusher at a time");
        let mut s = secret();
        p.overlay(&mut s);
        assert_eq!(s.last_accessed_ms, Some(200));
        assert_eq!(s.versions[0].last_accessed_ms, Some(100));
        assert_eq!(s.versions[1].last_accessed_ms, Some(200));

        let batch = p.batch();
        assert_eq!(batch.len(), 2);
        // A later day for v1 arrives while the batch is being written: it stays pending.
        p.add("arn:a", "v1", 300);
        let before = p.flushes();
        p.written(&batch);
        assert_eq!(p.flushes(), before + 1);
        let mut s = secret();
        p.overlay(&mut s);
        assert_eq!(s.versions[0].last_accessed_ms, Some(300));
        assert_eq!(
            s.versions[1].last_accessed_ms, None,
            "v2 was written: no overlay"
        );
        assert!(p.release_flusher(), "stamps remain: the flusher goes on");
        p.written(&p.batch());
        assert!(!p.release_flusher(), "nothing left: the flusher stops");
        assert!(p.batch().is_empty());
    }

    #[test]
    fn batches_come_in_arn_order() {
        let p = PendingAccess::default();
        for arn in ["arn:c", "arn:a", "arn:b"] {
            p.add(arn, "v", 1);
        }
        let arns: Vec<String> = p.batch().into_iter().map(|s| s.secret_arn).collect();
        assert_eq!(arns, ["arn:a", "arn:b", "arn:c"]);
    }
}
