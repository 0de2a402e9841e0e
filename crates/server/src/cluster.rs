//! Several Strongroom nodes on one PostgreSQL database: keeping each node's memory in step
//! with what the others write.
//!
//! Each node keeps copies in memory for speed — cached secrets and values
//! ([`strongroom_store::cache`]), the IAM directory (users, access keys and their status,
//! compiled policies), KMS keys and aliases, alarms. PostgreSQL announces every change when its
//! transaction commits (triggers, store migration 2, channel `strongroom_changes`); each node
//! listens and drops or re-reads what changed, so another node's write is seen within
//! milliseconds. A secret's announcement names the store that wrote it (migration 6, channel
//! `strongroom_secret_changes`), and a node passes over its own: its cache already holds what
//! it wrote. While a node cannot hear the announcements (its listening connection is down)
//! its caches serve nothing and the directory, keys and alarms are re-read every second;
//! after it hears again everything is re-read once, since what was said meanwhile is lost. The
//! bound on serving another node's stale state is therefore the 1 s re-read interval, never
//! longer, whatever happens to the notifications.

use std::sync::Arc;
use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgListener, PgPoolOptions};
use tokio::sync::watch;

use crate::iam::directory::Directory;
use crate::regions::Region;
use strongroom_store::postgres::{CHANGES_CHANNEL, SECRET_CHANGES_CHANNEL};

/// How often state is re-read while the announcements cannot be heard.
const DEAF_REFRESH: Duration = Duration::from_secs(1);

/// What a node keeps in step: each region (by its schema) and the IAM directory.
pub struct Followers {
    pub regions: Vec<(String, Arc<Region>)>,
    pub directory: Arc<Directory>,
}

impl Followers {
    fn deaf(&self) {
        for (_, r) in &self.regions {
            r.store.hearing_others(false);
        }
    }

    fn hearing(&self) {
        for (_, r) in &self.regions {
            r.store.hearing_others(true);
        }
    }

    /// Re-read everything kept in memory.
    async fn refresh_all(&self) {
        if let Err(e) = self.directory.refresh().await {
            tracing::warn!(error = %e, "could not re-read the IAM directory");
        }
        for (_, r) in &self.regions {
            if let Err(e) = r.kms.refresh().await {
                tracing::warn!(region = %r.name, error = %e, "could not re-read the KMS keys");
            }
            if let Err(e) = r.cloudwatch.refresh().await {
                tracing::warn!(region = %r.name, error = %e, "could not re-read the alarms");
            }
        }
    }

    fn region(&self, schema: &str) -> Option<&Arc<Region>> {
        self.regions
            .iter()
            .find(|(s, _)| s == schema)
            .map(|(_, r)| r)
    }

    /// One announcement on [`SECRET_CHANGES_CHANNEL`]: `<schema> <origin> <arn>`. A secret
    /// this node's own store wrote is already in its cache as committed (the cache installs
    /// or drops what it writes, as with one node alone): only other writers' changes count.
    fn apply_secret(&self, payload: &str) {
        let mut parts = payload.splitn(3, ' ');
        let (Some(schema), Some(origin)) = (parts.next(), parts.next()) else {
            return;
        };
        if let Some(r) = self.region(schema)
            && r.store.announces_as() != Some(origin)
        {
            r.store.changed_elsewhere(parts.next());
        }
    }

    /// One announcement on [`CHANGES_CHANNEL`]: `<schema> iam|kms|alarms`, or `<schema> secret
    /// <arn>`, which is also announced on [`SECRET_CHANGES_CHANNEL`] with its writer and
    /// followed there.
    async fn apply(&self, payload: &str) {
        let mut parts = payload.splitn(3, ' ');
        let (Some(schema), Some(kind)) = (parts.next(), parts.next()) else {
            return;
        };
        let region = self.region(schema);
        let result = match (kind, region) {
            ("iam", _) => self.directory.refresh().await,
            ("kms", Some(r)) => r.kms.refresh().await,
            ("alarms", Some(r)) => r.cloudwatch.refresh().await,
            _ => Ok(()),
        };
        if let Err(e) = result {
            tracing::warn!(payload, error = %e, "could not apply another node's change");
        }
    }
}

/// Listen for the other nodes' changes until `stop`.
pub async fn follow(
    options: PgConnectOptions,
    followers: Followers,
    mut stop: watch::Receiver<bool>,
) {
    loop {
        followers.deaf();
        let listener = async {
            let pool = PgPoolOptions::new()
                .max_connections(1)
                .acquire_timeout(Duration::from_secs(5))
                .connect_with(options.clone())
                .await?;
            let mut l = PgListener::connect_with(&pool).await?;
            l.listen_all([CHANGES_CHANNEL, SECRET_CHANGES_CHANNEL])
                .await?;
            Ok::<_, sqlx::Error>(l)
        };
        let mut listener = tokio::select! {
            l = listener => match l {
                Ok(l) => l,
                Err(e) => {
                    tracing::warn!(error = %e, "cannot hear the other nodes' changes: caches off, re-reading every second");
                    followers.refresh_all().await;
                    tokio::select! {
                        _ = tokio::time::sleep(DEAF_REFRESH) => continue,
                        _ = stop.changed() => return,
                    }
                }
            },
            _ = stop.changed() => return,
        };
        // What was announced before we listened is lost: read it all again, then serve.
        followers.refresh_all().await;
        followers.hearing();
        tracing::info!("following the other nodes' changes");
        loop {
            tokio::select! {
                n = listener.try_recv() => match n {
                    Ok(Some(n)) if n.channel() == SECRET_CHANGES_CHANNEL => {
                        followers.apply_secret(n.payload())
                    }
                    Ok(Some(n)) => followers.apply(n.payload()).await,
                    // The connection was lost (and announcements with it).
                    Ok(None) | Err(_) => {
                        tracing::warn!("lost the other nodes' changes; listening again");
                        break;
                    }
                },
                _ = stop.changed() => return,
            }
        }
    }
}

/// Whether this node runs the background work (deletion purge, scheduled rotations, KMS key
/// schedules, alarm evaluation and notification, parameter policies, deliveries to peers):
/// exactly one node of a cluster does, the holder of the `background` lease. One node alone
/// (SQLite) always does.
pub struct Leadership {
    held: std::sync::atomic::AtomicBool,
    /// The lease's fencing token while held (0 otherwise).
    token: std::sync::atomic::AtomicI64,
}

/// The lease's length: a holder that stops renewing (a dead node) loses it this long after its
/// last renewal, and another node takes over at its next attempt.
pub const LEASE_TTL: Duration = Duration::from_secs(8);
/// How often the lease is renewed, or tried for.
pub const LEASE_RENEW: Duration = Duration::from_secs(2);
use strongroom_store::fence::BACKGROUND_JOB;

impl Leadership {
    /// One node: always the leader.
    pub fn solo() -> Arc<Self> {
        Arc::new(Self {
            held: true.into(),
            token: 1.into(),
        })
    }

    /// A cluster node: not the leader until its lease says so.
    pub fn standby() -> Arc<Self> {
        Arc::new(Self {
            held: false.into(),
            token: 0.into(),
        })
    }

    pub fn is_leader(&self) -> bool {
        self.held.load(std::sync::atomic::Ordering::SeqCst)
    }

    pub fn token(&self) -> i64 {
        self.token.load(std::sync::atomic::Ordering::SeqCst)
    }

    /// Run background `work` under the lease's current fencing token: on PostgreSQL each of
    /// its writes is refused if the lease has since moved on or run out (see
    /// `strongroom_store::fence`), so a node that lost the lease without knowing it yet
    /// cannot overlap the new holder's work.
    pub async fn fenced<F: std::future::Future>(&self, work: F) -> F::Output {
        strongroom_store::fence::scope(self.token(), work).await
    }

    fn set(&self, token: Option<i64>) {
        use std::sync::atomic::Ordering::SeqCst;
        let was = self.held.swap(token.is_some(), SeqCst);
        self.token.store(token.unwrap_or(0), SeqCst);
        match (was, token) {
            (false, Some(t)) => {
                tracing::info!(token = t, "this node now runs the background work")
            }
            (true, None) => tracing::warn!("this node no longer runs the background work"),
            _ => {}
        }
    }
}

/// Hold (or wait for) the background lease until `stop`; given up at shutdown.
pub async fn keep_leadership(
    options: PgConnectOptions,
    node: String,
    leadership: Arc<Leadership>,
    mut stop: watch::Receiver<bool>,
) {
    let mut leases = None;
    loop {
        if leases.is_none() {
            match strongroom_store::postgres::Leases::open(&options).await {
                Ok(l) => leases = Some(l),
                Err(e) => tracing::warn!(error = %e, "cannot reach the leases"),
            }
        }
        if let Some(l) = &leases {
            // Bounded well under the TTL: a renewal stuck on an unreachable database must not
            // leave this node acting as leader after its lease ran out and another took it.
            match tokio::time::timeout(LEASE_RENEW * 2, l.hold(BACKGROUND_JOB, &node, LEASE_TTL))
                .await
            {
                Ok(Ok(token)) => leadership.set(token),
                // Not sure it is still ours: stop acting as if it were.
                Ok(Err(e)) => {
                    tracing::warn!(error = %e, "cannot renew the background lease");
                    leadership.set(None);
                }
                Err(_) => {
                    tracing::warn!(
                        "cannot renew the background lease: the database does not answer"
                    );
                    leadership.set(None);
                }
            }
        }
        tokio::select! {
            _ = tokio::time::sleep(LEASE_RENEW) => {}
            _ = stop.changed() => break,
        }
    }
    if leadership.is_leader()
        && let Some(l) = &leases
    {
        leadership.set(None);
        let _ = l.release(BACKGROUND_JOB, &node).await;
    }
}

/// How often a node shares its API-call counts and reads the others'.
const METRICS_SYNC: Duration = Duration::from_secs(1);
/// How far back the other nodes' counts are read each time (alarms' windows fit in it).
const METRICS_WINDOW_MS: i64 = 24 * 3600 * 1000;
const METRICS_RETENTION_MS: i64 = 15 * 24 * 3600 * 1000;

/// Share this region's API-call counts with the other nodes and read theirs, every second,
/// so alarms and GetMetricStatistics count every node's calls.
pub async fn share_metrics(
    options: PgConnectOptions,
    schema: String,
    node: String,
    region: Arc<Region>,
    clock: Arc<dyn crate::clock::Clock>,
    mut stop: watch::Receiver<bool>,
) {
    use crate::services::cloudwatch::metrics::MetricKey;
    let mut table = None;
    let mut last_prune = 0i64;
    loop {
        tokio::select! {
            _ = tokio::time::sleep(METRICS_SYNC) => {}
            _ = stop.changed() => return,
        }
        if table.is_none() {
            match strongroom_store::postgres::SharedMetrics::open(&options, &schema).await {
                Ok(t) => table = Some(t),
                Err(e) => {
                    tracing::warn!(region = %region.name, error = %e, "cannot share API-call metrics");
                    continue;
                }
            }
        }
        let Some(t) = &table else { continue };
        let mine = region.cloudwatch.take_unshared();
        let rows: Vec<_> = mine
            .iter()
            .map(|(k, minute, n)| {
                (
                    k.namespace.clone(),
                    k.name.clone(),
                    serde_json::to_string(&k.dimensions).unwrap_or_default(),
                    *minute,
                    *n as i64,
                )
            })
            .collect();
        if !rows.is_empty()
            && let Err(e) = t.put(&node, &rows).await
        {
            tracing::warn!(region = %region.name, error = %e, "cannot share API-call metrics");
            region.cloudwatch.unshare(&mine);
            continue;
        }
        let now = clock.now_ms();
        match t.others(&node, now - METRICS_WINDOW_MS).await {
            Ok(points) => region.cloudwatch.set_others(
                points
                    .into_iter()
                    .map(|(namespace, name, dims, minute, n)| {
                        let key = MetricKey {
                            namespace,
                            name,
                            dimensions: serde_json::from_str(&dims).unwrap_or_default(),
                        };
                        (key, minute, n.max(0) as u64)
                    })
                    .collect(),
            ),
            Err(e) => {
                tracing::warn!(region = %region.name, error = %e, "cannot read the other nodes' metrics")
            }
        }
        if now - last_prune > 3600 * 1000 {
            last_prune = now;
            let _ = t.prune(now - METRICS_RETENTION_MS).await;
        }
    }
}
