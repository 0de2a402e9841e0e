//! Time source, injectable so deletion windows and version ages can be tested without waiting.

use std::sync::atomic::{AtomicI64, Ordering};

use strongroom_domain::secret::Millis;

pub trait Clock: Send + Sync + 'static {
    fn now_ms(&self) -> Millis;

    /// The same instant as a `SystemTime` (SigV4's request-time and expiry checks).
    fn now(&self) -> std::time::SystemTime {
        std::time::UNIX_EPOCH + std::time::Duration::from_millis(self.now_ms().max(0) as u64)
    }
}

pub struct SystemClock;

impl Clock for SystemClock {
    fn now_ms(&self) -> Millis {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis() as Millis)
            .unwrap_or(0)
    }
}

/// A clock that moves only when told to (tests).
pub struct ManualClock(AtomicI64);

impl ManualClock {
    pub fn new(start: Millis) -> Self {
        Self(AtomicI64::new(start))
    }
    pub fn advance(&self, ms: Millis) {
        self.0.fetch_add(ms, Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now_ms(&self) -> Millis {
        self.0.load(Ordering::SeqCst)
    }
}
