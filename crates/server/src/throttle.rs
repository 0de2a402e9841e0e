//! Per-caller request rate limits (off unless configured). AWS throttles every API per account
//! and Region; a self-hosted server needs the same guard against one runaway client, and the
//! audit trail records the refusals (`ThrottlingException`), as CloudTrail does.
//!
//! A token bucket per identity (user, role — all its sessions — or root): `rate` tokens a
//! second, at most `burst` saved up. Buckets
//! idle for a minute are dropped, so the map stays as small as the set of active callers.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

const IDLE: Duration = Duration::from_secs(60);

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Limit {
    /// Requests per second, sustained.
    pub rate: f64,
    /// Requests that may arrive at once after a quiet spell.
    pub burst: f64,
}

struct Bucket {
    tokens: f64,
    last: Instant,
}

pub struct Throttle {
    limit: Option<Limit>,
    buckets: Mutex<HashMap<String, Bucket>>,
    last_sweep: Mutex<Instant>,
}

impl Throttle {
    pub fn new(limit: Option<Limit>) -> Self {
        Self {
            limit,
            buckets: Mutex::new(HashMap::new()),
            last_sweep: Mutex::new(Instant::now()),
        }
    }

    /// Take one token for `caller`; false when it has none left (throttle the request).
    pub fn admit(&self, caller: &str) -> bool {
        self.admit_at(caller, Instant::now())
    }

    fn admit_at(&self, caller: &str, now: Instant) -> bool {
        let Some(limit) = self.limit else {
            return true;
        };
        let mut buckets = self.buckets.lock().unwrap_or_else(|e| e.into_inner());
        {
            let mut last_sweep = self.last_sweep.lock().unwrap_or_else(|e| e.into_inner());
            if now.duration_since(*last_sweep) > IDLE {
                buckets.retain(|_, b| now.duration_since(b.last) < IDLE);
                *last_sweep = now;
            }
        }
        let bucket = buckets.entry(caller.to_string()).or_insert(Bucket {
            tokens: limit.burst,
            last: now,
        });
        let refill = now.duration_since(bucket.last).as_secs_f64() * limit.rate;
        bucket.tokens = (bucket.tokens + refill).min(limit.burst);
        bucket.last = now;
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn off_by_default() {
        let t = Throttle::new(None);
        assert!((0..10_000).all(|_| t.admit("AKIA")));
    }

    #[test]
    fn burst_then_rate_per_caller() {
        let t = Throttle::new(Some(Limit {
            rate: 10.0,
            burst: 5.0,
        }));
        let start = Instant::now();
        assert!((0..5).all(|_| t.admit_at("a", start)));
        assert!(!t.admit_at("a", start), "burst spent");
        assert!(t.admit_at("b", start), "another caller has its own bucket");
        // 10/s: a token every 100 ms, never more than the burst.
        assert!(!t.admit_at("a", start + Duration::from_millis(50)));
        assert!(t.admit_at("a", start + Duration::from_millis(150)));
        let later = start + Duration::from_secs(30);
        assert_eq!((0..20).filter(|_| t.admit_at("a", later)).count(), 5);
    }
}
