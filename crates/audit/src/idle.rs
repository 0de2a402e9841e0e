//! The request runtime running out of work: the audit writer's cue to commit.
//!
//! The writer holds a batch open while other admitted requests may still hand in records (the
//! group commit in [`crate::log`]). Without a cue it can only look again every
//! `GROUP_STEP`: on one core that woke it ~5,000 times a second, and committed up to a step
//! after the last record came in while the core sat idle. The runtime knows better: when every
//! one of its workers is about to park, nothing runnable is left to hand in a record until the
//! network (or a store, or a timer) brings more — the batch is as large as it will get soon,
//! and the core is free for the commit. The server installs [`RuntimeIdle::worker_parked`] and
//! [`RuntimeIdle::worker_unparked`] as its runtime's park hooks and gives the log the signal
//! ([`crate::AuditConfig::runtime_idle`]).

use std::sync::OnceLock;
use std::sync::atomic::{AtomicI64, Ordering};
use std::thread::Thread;

/// Counts the runtime's parked workers and wakes the audit writer when all are.
#[derive(Debug)]
pub struct RuntimeIdle {
    workers: i64,
    /// Signed: a hook pair seen out of order must not wrap the count.
    parked: AtomicI64,
    /// The one thread woken (the first log's writer to claim it).
    writer: OnceLock<Thread>,
}

impl RuntimeIdle {
    /// For a runtime of `workers` worker threads.
    pub fn new(workers: usize) -> Self {
        Self {
            workers: workers.max(1) as i64,
            parked: AtomicI64::new(0),
            writer: OnceLock::new(),
        }
    }

    /// The runtime's `on_thread_park` hook.
    pub fn worker_parked(&self) {
        if self.parked.fetch_add(1, Ordering::AcqRel) + 1 >= self.workers
            && let Some(t) = self.writer.get()
        {
            // Sets the thread's token if it is not parked: its next park returns at once.
            t.unpark();
        }
    }

    /// The runtime's `on_thread_unpark` hook.
    pub fn worker_unparked(&self) {
        self.parked.fetch_sub(1, Ordering::AcqRel);
    }

    /// Is every worker parked (or about to park)?
    pub fn is_idle(&self) -> bool {
        self.parked.load(Ordering::Acquire) >= self.workers
    }

    /// Make the calling thread the one [`Self::worker_parked`] wakes. False if another thread
    /// already is (a second log on one runtime: it looks again in steps instead).
    pub(crate) fn wake_me(&self) -> bool {
        let me = std::thread::current();
        let id = me.id();
        self.writer.get_or_init(|| me).id() == id
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::time::{Duration, Instant};

    #[test]
    fn idle_only_when_every_worker_is_parked() {
        let idle = RuntimeIdle::new(2);
        assert!(!idle.is_idle());
        idle.worker_parked();
        assert!(!idle.is_idle());
        idle.worker_parked();
        assert!(idle.is_idle());
        idle.worker_unparked();
        assert!(!idle.is_idle());
        // An unpark without its park (hooks seen out of order) never reads as idle.
        let idle = RuntimeIdle::new(1);
        idle.worker_unparked();
        assert!(!idle.is_idle());
    }

    #[test]
    fn the_last_worker_to_park_wakes_the_claimed_thread() {
        let idle = Arc::new(RuntimeIdle::new(1));
        let (tx, rx) = std::sync::mpsc::channel();
        let waiter = {
            let idle = idle.clone();
            std::thread::spawn(move || {
                assert!(idle.wake_me());
                tx.send(()).unwrap();
                let started = Instant::now();
                // Woken by the hook long before the timeout (spurious wake-ups aside: look
                // at the state, as the writer does).
                while !idle.is_idle() && started.elapsed() < Duration::from_secs(10) {
                    std::thread::park_timeout(Duration::from_secs(10));
                }
                started.elapsed()
            })
        };
        rx.recv().unwrap();
        // A second claimant is refused.
        assert!(!idle.wake_me());
        std::thread::sleep(Duration::from_millis(20));
        idle.worker_parked();
        let waited = waiter.join().unwrap();
        assert!(waited < Duration::from_secs(5), "not woken: {waited:?}");
    }
}
