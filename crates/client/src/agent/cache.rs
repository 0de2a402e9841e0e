//! The agent's cache: in memory only, bounded (least recently used goes first), each entry the
//! response body exactly as served, in a zeroizing buffer that is wiped when the last reference
//! goes — on eviction, invalidation, expiry replacement or shutdown. Nothing is written to disk.
//!
//! Entries are dropped by the change stream the moment their secret or parameter changes
//! (matched by ARN or name); the TTL is the fallback. A value fetched while an invalidation
//! arrived is served but not cached: it may predate the change.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use bytes::Bytes;
use zeroize::Zeroizing;

/// What was asked for, as asked (AWS's agent keys its cache the same way).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Key {
    Secret {
        id: String,
        version_id: Option<String>,
        version_stage: Option<String>,
    },
    Parameter {
        name: String,
        /// `name:version` or `name:label`, as GetParameter takes it.
        selector: Option<String>,
        decrypt: bool,
    },
}

/// A response body held in a zeroizing buffer, shared with the responses being written.
#[derive(Clone)]
pub struct Body(Arc<Zeroizing<Vec<u8>>>);

impl Body {
    pub fn new(bytes: Zeroizing<Vec<u8>>) -> Self {
        Self(Arc::new(bytes))
    }
    /// The bytes for a response, without copying: the buffer lives (and is wiped) when the
    /// last of the cache and the in-flight responses lets go of it.
    pub fn bytes(&self) -> Bytes {
        Bytes::from_owner(self.clone())
    }
}

impl AsRef<[u8]> for Body {
    fn as_ref(&self) -> &[u8] {
        self.0.as_slice()
    }
}

pub struct Entry {
    pub body: Body,
    /// What the entry is about, for the change stream to match.
    pub arn: Option<String>,
    pub name: Option<String>,
    fetched: Instant,
    used: AtomicU64,
}

pub enum Lookup {
    Fresh(Body),
    /// Past its TTL: refetch, or serve it (bounded) if the server cannot be reached.
    Expired(Arc<Entry>),
    Miss,
}

pub struct Cache {
    map: RwLock<HashMap<Key, Arc<Entry>>>,
    capacity: usize,
    ttl: Duration,
    /// Recency clock for LRU (bumped on every hit, under the read lock).
    tick: AtomicU64,
    /// Bumped by every invalidation: a fetch that saw it move does not cache its result.
    generation: AtomicU64,
}

impl Cache {
    pub fn new(capacity: usize, ttl: Duration) -> Self {
        Self {
            map: RwLock::new(HashMap::with_capacity(capacity.min(1024))),
            capacity: capacity.max(1),
            ttl,
            tick: AtomicU64::new(0),
            generation: AtomicU64::new(0),
        }
    }

    pub fn ttl(&self) -> Duration {
        self.ttl
    }

    pub fn get(&self, key: &Key) -> Lookup {
        let map = self.map.read().unwrap_or_else(|e| e.into_inner());
        match map.get(key) {
            Some(e) if e.fetched.elapsed() < self.ttl => {
                e.used
                    .store(self.tick.fetch_add(1, Ordering::Relaxed), Ordering::Relaxed);
                Lookup::Fresh(e.body.clone())
            }
            Some(e) => Lookup::Expired(e.clone()),
            None => Lookup::Miss,
        }
    }

    /// The generation to give back to [`Self::insert`] for a fetch starting now.
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::SeqCst)
    }

    /// Cache a fetched body, unless caching is off (TTL 0) or an invalidation happened since
    /// the fetch began (`generation`). Returns whether it was cached.
    pub fn insert(
        &self,
        key: Key,
        body: Body,
        arn: Option<String>,
        name: Option<String>,
        generation: u64,
    ) -> bool {
        if self.ttl.is_zero() {
            return false;
        }
        let entry = Arc::new(Entry {
            body,
            arn,
            name,
            fetched: Instant::now(),
            used: AtomicU64::new(self.tick.fetch_add(1, Ordering::Relaxed)),
        });
        let mut map = self.map.write().unwrap_or_else(|e| e.into_inner());
        // Checked under the write lock: an invalidation either ran before (and is seen here)
        // or runs after (and removes this entry).
        if self.generation.load(Ordering::SeqCst) != generation {
            return false;
        }
        if map.len() >= self.capacity && !map.contains_key(&key) {
            // Least recently used out. A linear scan: at most 1,000 entries, and only on a
            // miss that fills a full cache.
            if let Some(oldest) = map
                .iter()
                .min_by_key(|(_, e)| e.used.load(Ordering::Relaxed))
                .map(|(k, _)| k.clone())
            {
                map.remove(&oldest);
            }
        }
        map.insert(key, entry);
        true
    }

    /// Keep serving an expired entry (the server cannot be reached): its TTL starts again.
    pub fn renew(&self, key: &Key, entry: &Arc<Entry>) {
        let mut map = self.map.write().unwrap_or_else(|e| e.into_inner());
        if let Some(current) = map.get(key)
            && Arc::ptr_eq(current, entry)
        {
            let renewed = Arc::new(Entry {
                body: entry.body.clone(),
                arn: entry.arn.clone(),
                name: entry.name.clone(),
                fetched: Instant::now(),
                used: AtomicU64::new(self.tick.fetch_add(1, Ordering::Relaxed)),
            });
            map.insert(key.clone(), renewed);
        }
    }

    /// Drop every entry about this ARN or name (a change stream event). Returns how many.
    pub fn invalidate(&self, arn: Option<&str>, name: Option<&str>) -> usize {
        let mut map = self.map.write().unwrap_or_else(|e| e.into_inner());
        self.generation.fetch_add(1, Ordering::SeqCst);
        let before = map.len();
        map.retain(|key, e| {
            let hit =
                |x: Option<&str>| x.is_some() && (x == e.arn.as_deref() || x == e.name.as_deref());
            // Also what was asked by that ARN or name, should the answer name it differently.
            let asked = match key {
                Key::Secret { id, .. } => Some(id.as_str()),
                Key::Parameter { name, .. } => Some(name.as_str()),
            };
            let asked_hit = |x: Option<&str>| x.is_some() && x == asked;
            !(hit(arn) || hit(name) || asked_hit(arn) || asked_hit(name))
        });
        before - map.len()
    }

    /// Drop everything (a resync, or a gap in the change stream that cannot be replayed).
    pub fn clear(&self) -> usize {
        let mut map = self.map.write().unwrap_or_else(|e| e.into_inner());
        self.generation.fetch_add(1, Ordering::SeqCst);
        let n = map.len();
        map.clear();
        n
    }

    pub fn len(&self) -> usize {
        self.map.read().unwrap_or_else(|e| e.into_inner()).len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl Entry {
    /// How long past its TTL this entry is.
    pub fn overdue(&self, ttl: Duration) -> Duration {
        self.fetched.elapsed().saturating_sub(ttl)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(id: &str) -> Key {
        Key::Secret {
            id: id.into(),
            version_id: None,
            version_stage: None,
        }
    }

    fn body(s: &str) -> Body {
        Body::new(Zeroizing::new(s.as_bytes().to_vec()))
    }

    fn arn(n: &str) -> Option<String> {
        Some(format!(
            "arn:aws:secretsmanager:us-east-1:123456789012:secret:{n}-AbCdEf"
        ))
    }

    #[test]
    fn least_recently_used_goes_first() {
        let c = Cache::new(2, Duration::from_secs(60));
        let g = c.generation();
        assert!(c.insert(key("a"), body("1"), arn("a"), Some("a".into()), g));
        assert!(c.insert(key("b"), body("2"), arn("b"), Some("b".into()), g));
        assert!(matches!(c.get(&key("a")), Lookup::Fresh(_)));
        c.insert(key("c"), body("3"), arn("c"), Some("c".into()), g);
        assert!(matches!(c.get(&key("b")), Lookup::Miss));
        assert!(matches!(c.get(&key("a")), Lookup::Fresh(_)));
        assert_eq!(c.len(), 2);
    }

    #[test]
    fn invalidation_matches_arn_name_or_what_was_asked() {
        let c = Cache::new(10, Duration::from_secs(60));
        let g = c.generation();
        c.insert(key("a"), body("1"), arn("a"), Some("a".into()), g);
        c.insert(
            key(arn("a").as_deref().unwrap()),
            body("1"),
            arn("a"),
            Some("a".into()),
            g,
        );
        c.insert(key("b"), body("2"), arn("b"), Some("b".into()), g);
        assert_eq!(c.invalidate(arn("a").as_deref(), None), 2);
        assert_eq!(c.invalidate(None, Some("b")), 1);
        assert!(c.is_empty());
    }

    #[test]
    fn a_fetch_that_raced_an_invalidation_is_not_cached() {
        let c = Cache::new(10, Duration::from_secs(60));
        let g = c.generation();
        c.invalidate(arn("x").as_deref(), Some("x"));
        assert!(!c.insert(key("a"), body("old"), arn("a"), Some("a".into()), g));
        assert!(matches!(c.get(&key("a")), Lookup::Miss));
    }

    #[test]
    fn ttl_zero_caches_nothing_and_expired_entries_are_reported() {
        let c = Cache::new(10, Duration::ZERO);
        assert!(!c.insert(key("a"), body("1"), None, None, c.generation()));
        let c = Cache::new(10, Duration::from_millis(1));
        c.insert(key("a"), body("1"), None, None, c.generation());
        std::thread::sleep(Duration::from_millis(5));
        assert!(matches!(c.get(&key("a")), Lookup::Expired(_)));
    }

    #[test]
    fn served_bytes_share_the_buffer() {
        let b = body("value");
        let bytes = b.bytes();
        assert_eq!(&bytes[..], b"value");
        assert_eq!(Arc::strong_count(&b.0), 2);
        drop(bytes);
        assert_eq!(Arc::strong_count(&b.0), 1);
    }
}
