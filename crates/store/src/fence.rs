//! Fencing tokens for the background work of a cluster.
//!
//! One node at a time runs the background work (purge, scheduled rotations, KMS schedules,
//! alarm evaluation, parameter policies, peer deliveries): the holder of the `background`
//! lease, which hands it a fencing token that grows with every change of holder. A node can
//! still believe it holds the lease after it ran out — paused, or cut off from the database
//! longer than its renewal bound — and a write it then makes could overlap the new holder's.
//! So a background job runs its work inside [`scope`] with its token, and the PostgreSQL
//! store checks, in the same transaction as each write the job makes, that the lease still
//! carries that token and has not run out (and share-locks the lease row until the write
//! commits, so no takeover commits in between); otherwise the write is refused with
//! [`crate::StoreError::Fenced`] and changes nothing.
//!
//! The token travels as a task-local, as a tracing span does, because the writes happen deep
//! inside the services a job calls, through the same store methods requests use; requests
//! never carry one. The SQLite store (one node, no lease) ignores it.

use std::future::Future;

/// The lease whose holder runs the background work.
pub const BACKGROUND_JOB: &str = "background";

tokio::task_local! {
    static TOKEN: i64;
}

/// Run `work` as the holder of the background lease with fencing token `token`: every store
/// write it makes checks that the lease still carries `token`.
pub async fn scope<F: Future>(token: i64, work: F) -> F::Output {
    TOKEN.scope(token, work).await
}

/// The fencing token the current task's writes must carry, if it runs background work.
pub fn current() -> Option<i64> {
    TOKEN.try_with(|t| *t).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_token_is_seen_inside_its_scope_only() {
        assert_eq!(current(), None);
        let inside = scope(7, async {
            tokio::task::yield_now().await;
            current()
        })
        .await;
        assert_eq!(inside, Some(7));
        assert_eq!(current(), None);
        // A spawned task is not the job's: it carries no token.
        let spawned = scope(7, async {
            tokio::spawn(async { current() }).await.unwrap()
        })
        .await;
        assert_eq!(spawned, None);
    }
}
