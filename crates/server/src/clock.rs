//! Time: the clock (injectable, so deletion windows, version ages and session expiry can be
//! tested without waiting) and the formats AWS's protocols render it in.

use std::sync::atomic::{AtomicI64, Ordering};

use strongroom_domain::secret::Millis;

pub trait Clock: Send + Sync + 'static {
    fn now_ms(&self) -> Millis;
}

/// `2024-01-02T03:04:05Z` from epoch milliseconds.
pub fn iso8601(ms: i64) -> String {
    let basic = strongroom_sigv4::format_amz_date(ms.div_euclid(1000));
    format!(
        "{}-{}-{}T{}:{}:{}Z",
        &basic[0..4],
        &basic[4..6],
        &basic[6..8],
        &basic[9..11],
        &basic[11..13],
        &basic[13..15]
    )
}

/// Epoch seconds (float), as AWS JSON protocols render timestamps.
pub fn epoch_seconds(ms: i64) -> f64 {
    ms as f64 / 1000.0
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

#[cfg(test)]
mod tests {
    #[test]
    fn formats() {
        assert_eq!(super::iso8601(0), "1970-01-01T00:00:00Z");
        assert_eq!(super::iso8601(1_440_938_160_999), "2015-08-30T12:36:00Z");
        assert_eq!(super::epoch_seconds(1_500), 1.5);
    }
}
