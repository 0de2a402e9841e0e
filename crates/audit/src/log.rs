//! The audit log: durable append-only segments (see [`crate::segments`]) written by one
//! thread with group commit, and a SQLite index (`audit-index.db`) for lookups, filled from
//! the same batches just after they are durable.
//!
//! Requests hand the writer a prepared record (serialized and hashed in the request's task)
//! and wait. The writer takes everything queued, links the batch into the chain, writes it
//! with one `write` + `fdatasync`, and answers every waiter: an acknowledged record is on
//! disk. A failed write fails every request in the batch, and the server refuses requests
//! while the log stays unwritable (fail closed). The index (`index.rs`) is a copy,
//! rebuilt from the segments at startup if it is behind; lookups wait for it to catch up with
//! what is durable, so a caller always finds its own earlier requests.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use tokio::sync::{mpsc, oneshot};

use crate::chain::{self, Finding, Hash, Verifier};
use crate::columns::Columns;
use crate::digest::{DigestSigner, verify_signature};
use crate::event::Event;
use crate::export::Exporter;
use crate::idle::RuntimeIdle;
pub use crate::index::INDEX_FILE;
use crate::index::{IndexFeed, IndexRow, Progress, Readers};
use crate::segments::{self, Head, SegmentLog};

/// The most records one commit takes; more wait for the next.
const MAX_BATCH: usize = 4096;
/// How long a commit waits for more records while other requests are in flight (see
/// [`Writer::gather`]).
pub(crate) const GROUP_WAIT: Duration = Duration::from_millis(2);
/// How often a waiting commit looks whether everyone in flight has handed in a record, when
/// no [`RuntimeIdle`] wakes it.
pub(crate) const GROUP_STEP: Duration = Duration::from_micros(250);
/// Appends waiting beyond this apply backpressure to requests.
const QUEUE_CAPACITY: usize = 16 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    #[error("the audit log could not be written: {0}")]
    Unwritable(String),
    #[error("the audit log could not be read: {0}")]
    Read(String),
    #[error("the audit log is closed")]
    Closed,
}

fn read_err(e: impl std::fmt::Display) -> AuditError {
    AuditError::Read(e.to_string())
}

/// Where and how the log is kept.
#[derive(Debug, Clone, Default)]
pub struct AuditConfig {
    /// The data directory (segments in `audit/`, the index beside); `None` keeps the log in
    /// memory only (`--dev`).
    pub dir: Option<PathBuf>,
    /// Cap on the segments' total size: when reached, appends fail and so do requests.
    pub max_bytes: Option<u64>,
    /// Also write each committed record as a JSON line to hourly files here.
    pub export_dir: Option<PathBuf>,
    /// Also write each committed record as a JSON line to standard output (for a SIEM).
    pub export_stdout: bool,
    /// Also send each committed record to a syslog collector.
    pub export_syslog: Option<crate::syslog::SyslogTarget>,
    /// Segment size before rolling to a new file [default: 64 MiB].
    pub segment_bytes: Option<u64>,
    /// Also sign a digest once this many records have been added since the last one (besides
    /// the interval), so a crash leaves at most this many records without signature coverage.
    /// `None`: on the interval only.
    pub digest_every_records: Option<u64>,
    /// Several nodes: also keep every record in the cluster's PostgreSQL database, before the
    /// request is answered ([`crate::mirror`]); lookups then search every node's records.
    pub mirror: Option<crate::mirror::MirrorConfig>,
    /// The request runtime's park hooks: the group commit commits the moment every worker
    /// runs out of work instead of looking again in steps ([`crate::idle`]).
    pub runtime_idle: Option<Arc<RuntimeIdle>>,
}

/// A record ready to append, with the columns lookups search by.
#[derive(Debug, Clone)]
pub struct Entry {
    pub event: Event,
    pub time_ms: i64,
    /// The resource's friendly name (a secret's name), searchable beside its ARN.
    pub resource_short_name: Option<String>,
}

struct Prepared {
    time_ms: i64,
    /// What lookups search by, packed for the index ([`Columns::pack`]) while the event is
    /// at hand: one allocation instead of nine strings held until the index takes them.
    attrs: Vec<u8>,
    record: String,
    /// SHA-256 of `record`, computed by the appending task, off the writer's serial path.
    content_hash: Hash,
    /// When the record was handed to the writer (the group commit's wait counts from it).
    queued: Instant,
}

type Ack = oneshot::Sender<Result<(), String>>;
/// An append and whoever waits for its commit.
type Waiting = (Box<Prepared>, Ack);

enum Msg {
    Append(Box<Prepared>, Ack),
    Digest(i64, oneshot::Sender<Result<Option<i64>, String>>),
    Prune(i64, oneshot::Sender<Result<u64, String>>),
    /// Is the log writable again? (sent while unhealthy)
    Probe,
}

/// Called after every commit with its latency and size (metrics).
pub type CommitHook = Arc<dyn Fn(Duration, usize) + Send + Sync>;

pub struct AuditLog {
    tx: mpsc::Sender<Msg>,
    /// Where lookups read the index.
    readers: Arc<Readers>,
    /// To the index thread, for lookups' [`crate::index::IndexMsg::Flush`].
    index_tx: std::sync::mpsc::Sender<crate::index::IndexMsg>,
    /// Several nodes: lookups search the cluster's table instead of the local index.
    cluster: Option<sqlx::PgPool>,
    healthy: Arc<AtomicBool>,
    last_probe_ms: AtomicI64,
    writer: Option<std::thread::JoinHandle<()>>,
    indexer: Option<std::thread::JoinHandle<()>>,
    progress: Arc<Progress>,
    /// Admitted requests not yet done with the log (their [`Admission`] is held): a capped
    /// log reserves room for each, and the group commit waits for their records.
    in_flight: Arc<AtomicI64>,
    public_key: Vec<u8>,
    /// Where lookups read records from (`None` in memory mode).
    segments_dir: Option<PathBuf>,
    budget: Option<Budget>,
}

/// Room a request reserves in a capped log before it may do anything: more than any one
/// request's records take (the largest, a 20 KiB resource policy, is well under it).
pub const RESERVE_BYTES: u64 = 64 * 1024;

/// The byte cap (`--audit-max-mb`) as requests see it: what the segments hold (and, in
/// [`AuditLog::admit`], how many admitted requests have yet to append).
struct Budget {
    max: u64,
    used: Arc<AtomicU64>,
}

/// Leave to go ahead with a request: its record has room in the log. Held until the record
/// is durable; while held, the request counts as in flight (its reservation in a capped log,
/// and a record the group commit waits for: [`Writer::gather`]).
pub struct Admission<'a>(&'a AtomicI64);

impl Drop for Admission<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

impl AuditLog {
    pub async fn open(
        config: AuditConfig,
        signer: DigestSigner,
        on_commit: Option<CommitHook>,
    ) -> Result<Self, AuditError> {
        let unwritable = |e: String| AuditError::Unwritable(e);
        let (segments, head) = match &config.dir {
            Some(d) => {
                let (log, head) = SegmentLog::open(
                    &d.join(segments::DIR),
                    config.max_bytes,
                    config.segment_bytes.unwrap_or(segments::ROLL_BYTES),
                )
                .map_err(|e| unwritable(e.to_string()))?;
                (Some(log), head)
            }
            None => (
                None,
                Head {
                    seq: 0,
                    hash: chain::GENESIS,
                },
            ),
        };
        let progress = Arc::new(Progress::default());
        progress.durable.store(head.seq, Ordering::SeqCst);
        let index = crate::index::start(config.dir.as_deref(), head.seq, progress.clone())
            .map_err(unwritable)?;
        let syslog = match config.export_syslog.clone() {
            Some(t) => {
                Some(crate::syslog::SyslogSink::start(t).map_err(|e| unwritable(e.to_string()))?)
            }
            None => None,
        };
        let exporter = Exporter::new(config.export_dir.clone(), config.export_stdout, syslog);
        let mirror = match &config.mirror {
            Some(m) => Some(
                open_mirror(m, &signer.public_key(), config.dir.as_deref(), head.seq)
                    .await
                    .map_err(unwritable)?,
            ),
            None => None,
        };
        let cluster = mirror.as_ref().map(crate::mirror::Mirror::pool);
        let (tx, rx) = mpsc::channel(QUEUE_CAPACITY);
        let healthy = Arc::new(AtomicBool::new(true));
        let public_key = signer.public_key();
        let used = Arc::new(AtomicU64::new(
            segments.as_ref().map_or(0, SegmentLog::total_bytes),
        ));
        let budget = config
            .max_bytes
            .filter(|_| segments.is_some())
            .map(|max| Budget {
                max,
                used: used.clone(),
            });
        let in_flight = Arc::new(AtomicI64::new(0));
        let writer = Writer {
            // In memory (`--dev`) a commit costs nothing to wait for.
            in_flight: segments.as_ref().map(|_| in_flight.clone()),
            used,
            segments,
            head,
            signer,
            healthy: healthy.clone(),
            exporter,
            on_commit,
            last_digest_seq: None,
            digest_every: config.digest_every_records.filter(|n| *n > 0),
            index: index.feed,
            progress: progress.clone(),
            mirror,
            runtime_idle: config.runtime_idle.clone(),
        };
        // A thread of its own: the write + fdatasync block, and must not wait for a tokio
        // worker busy serving requests.
        let writer = std::thread::Builder::new()
            .name("audit-writer".into())
            .spawn(move || writer.run(rx))
            .map_err(|e| unwritable(e.to_string()))?;
        Ok(Self {
            tx,
            readers: index.readers,
            index_tx: index.tx,
            cluster,
            healthy,
            last_probe_ms: AtomicI64::new(0),
            writer: Some(writer),
            indexer: Some(index.thread),
            progress,
            in_flight,
            public_key,
            segments_dir: config.dir.as_ref().map(|d| d.join(segments::DIR)),
            budget,
        })
    }

    /// May a request go ahead? Only if the log takes writes and, when capped, its record is
    /// sure of room: a request refused here has done nothing, so a full log never holds a
    /// change without its record. (Concurrent admissions each reserve [`RESERVE_BYTES`].)
    pub fn admit(&self) -> Result<Admission<'_>, AuditError> {
        if !self.is_healthy() {
            return Err(AuditError::Unwritable(
                "the audit log takes no writes".into(),
            ));
        }
        let waiting = self.in_flight.fetch_add(1, Ordering::AcqRel) + 1;
        let admission = Admission(&self.in_flight);
        let Some(b) = &self.budget else {
            return Ok(admission);
        };
        let waiting = waiting as u64;
        let used = b.used.load(Ordering::Acquire);
        if used + waiting * RESERVE_BYTES > b.max {
            return Err(AuditError::Unwritable(format!(
                "the audit log is full: {used} of the {} bytes allowed (--audit-max-mb) are used",
                b.max
            )));
        }
        Ok(admission)
    }

    /// False after a write failed and until the log takes writes again: callers refuse work
    /// rather than do it unaudited. While false, asks the writer (at most once a second)
    /// whether the log is writable again.
    pub fn is_healthy(&self) -> bool {
        if self.healthy.load(Ordering::Relaxed) {
            return true;
        }
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as i64);
        // At most one probe a second however many requests ask: the time of the last probe
        // moves only when one is sent (a swap on every call would, under steady load, never
        // let a second pass, and the log would never be found writable again).
        let last = self.last_probe_ms.load(Ordering::Relaxed);
        if now - last >= 1000
            && self
                .last_probe_ms
                .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
        {
            let _ = self.tx.try_send(Msg::Probe);
        }
        false
    }

    /// Appends waiting for the next commit.
    pub fn queue_depth(&self) -> usize {
        self.tx.max_capacity() - self.tx.capacity()
    }

    pub fn public_key(&self) -> &[u8] {
        &self.public_key
    }

    /// Append one record and wait until it is durable.
    ///
    /// The record is serialized and hashed when this is called; the future returned only
    /// hands it to the writer and waits. So the future is small (a pointer, the channel's
    /// send and the acknowledgement, ~200 bytes instead of the 1.9 KB an `async fn` holding
    /// the entry made): every request's future embeds it and is moved whole onto the heap.
    pub fn append(
        &self,
        entry: Entry,
    ) -> impl Future<Output = Result<(), AuditError>> + Send + use<'_> {
        let prepared = prepare(entry).map(Box::new);
        async move {
            let (ack, done) = oneshot::channel();
            self.tx
                .send(Msg::Append(prepared?, ack))
                .await
                .map_err(|_| AuditError::Closed)?;
            done.await
                .map_err(|_| AuditError::Closed)?
                .map_err(AuditError::Unwritable)
        }
    }

    /// Sign a digest over the chain head (if anything was added since the last one).
    pub async fn sign_digest(&self, now_ms: i64) -> Result<Option<i64>, AuditError> {
        let (ack, done) = oneshot::channel();
        self.tx
            .send(Msg::Digest(now_ms, ack))
            .await
            .map_err(|_| AuditError::Closed)?;
        done.await
            .map_err(|_| AuditError::Closed)?
            .map_err(AuditError::Unwritable)
    }

    /// Search the index, after it has caught up with every record durable now.
    pub async fn lookup(&self, q: &Lookup) -> Result<Vec<Found>, AuditError> {
        // The cluster's table has every acknowledged record of every node.
        if let Some(pool) = &self.cluster {
            return crate::mirror::lookup(pool, q).await;
        }
        let target = self.progress.durable.load(Ordering::SeqCst);
        let deadline = Instant::now() + Duration::from_secs(5);
        while self.progress.indexed.load(Ordering::SeqCst) < target {
            let changed = self.progress.changed.notified();
            if self.progress.indexed.load(Ordering::SeqCst) >= target {
                break;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                tracing::warn!(target, "audit index is behind; answering from what it has");
                break;
            }
            // Asked again each time round: the rows may reach the indexer just after it
            // answered an earlier request with what it had.
            let _ = self.index_tx.send(crate::index::IndexMsg::Flush);
            let _ = tokio::time::timeout(left.min(Duration::from_millis(10)), changed).await;
        }
        crate::index::lookup_off_runtime(&self.readers, self.segments_dir.as_deref(), q).await
    }

    /// Remove segments whose records are all older than `before_ms`, keeping the chain
    /// verifiable from the first record that remains. Returns the records removed.
    pub async fn prune(&self, before_ms: i64) -> Result<u64, AuditError> {
        let (ack, done) = oneshot::channel();
        self.tx
            .send(Msg::Prune(before_ms, ack))
            .await
            .map_err(|_| AuditError::Closed)?;
        done.await
            .map_err(|_| AuditError::Closed)?
            .map_err(AuditError::Unwritable)
    }

    /// Sign a last digest and stop once every queued append is durable and indexed.
    pub async fn close(mut self, now_ms: i64) {
        if let Err(e) = self.sign_digest(now_ms).await {
            tracing::warn!(error = %e, "could not sign the closing audit digest");
        }
        let writer = self.writer.take();
        let indexer = self.indexer.take();
        drop(self.tx);
        drop(self.index_tx);
        if let Some(w) = writer {
            let _ = tokio::task::spawn_blocking(move || w.join()).await;
        }
        // The writer dropped the index's feed: the index thread drains and stops.
        if let Some(i) = indexer {
            let _ = tokio::task::spawn_blocking(move || i.join()).await;
        }
    }
}

fn prepare(entry: Entry) -> Result<Prepared, AuditError> {
    let record =
        serde_json::to_string(&entry.event).map_err(|e| AuditError::Unwritable(e.to_string()))?;
    Ok(prepared(
        &entry.event,
        entry.time_ms,
        entry.resource_short_name.as_deref(),
        record,
    ))
}

/// A record ready for the writer: its columns packed from the event (serialized already:
/// the event is not needed again).
fn prepared(e: &Event, time_ms: i64, short: Option<&str>, record: String) -> Prepared {
    Prepared {
        time_ms,
        attrs: index_columns(e, short).pack(),
        content_hash: chain::content_hash(&record),
        record,
        queued: Instant::now(),
    }
}

/// What the index searches a record by, borrowed from its event.
pub(crate) fn index_columns<'a>(e: &'a Event, short: Option<&'a str>) -> Columns<'a> {
    let first = e.resources.first();
    Columns {
        event_id: &e.event_id,
        event_name: &e.event_name,
        event_source: &e.event_source,
        username: e.username_str(),
        access_key_id: e.user_identity.access_key_id.as_deref(),
        read_only: e.read_only,
        resource_type: first.map(|r| &*r.kind),
        resource_name: first.map(|r| r.arn.as_str()),
        resource_short: short.or_else(|| first.and_then(|r| short_name(&r.arn))),
        region: &e.aws_region,
    }
}

/// A secret's name from its ARN (`...:secret:NAME-AbCdEf` → `NAME`), for records re-read
/// from the segments.
fn short_name(arn: &str) -> Option<&str> {
    let name = arn.split(":secret:").nth(1)?;
    let (base, suffix) = name.rsplit_once('-')?;
    (suffix.len() == 6).then_some(base)
}

/// The cluster table's copy of a chain record.
fn mirror_row(
    seq: i64,
    (prev, hash): (Hash, Hash),
    time_ms: i64,
    c: &Columns<'_>,
    record: String,
) -> crate::mirror::MirrorRow {
    let owned = |s: Option<&str>| s.map(str::to_owned);
    crate::mirror::MirrorRow {
        seq,
        prev,
        hash,
        time_ms,
        event_id: c.event_id.to_owned(),
        event_name: c.event_name.to_owned(),
        event_source: c.event_source.to_owned(),
        username: owned(c.username),
        access_key_id: owned(c.access_key_id),
        read_only: c.read_only,
        resource_type: owned(c.resource_type),
        resource_name: owned(c.resource_name),
        resource_short: owned(c.resource_short),
        region: c.region.to_owned(),
        record,
    }
}

/// The cluster table's copy of a record read back from the segments (replaying the local
/// log into the table).
fn stored_mirror_row(row: chain::Row, time_ms: i64) -> Result<crate::mirror::MirrorRow, String> {
    let event: Event = serde_json::from_str(&row.record).map_err(|e| e.to_string())?;
    let (prev, hash) = (
        row.prev.as_slice().try_into().unwrap_or(chain::GENESIS),
        row.hash.as_slice().try_into().unwrap_or(chain::GENESIS),
    );
    let columns = index_columns(&event, None);
    Ok(mirror_row(
        row.seq,
        (prev, hash),
        time_ms,
        &columns,
        row.record,
    ))
}

/// Join the cluster's audit history and replay into it what the local log has beyond it.
async fn open_mirror(
    config: &crate::mirror::MirrorConfig,
    public_key: &[u8],
    dir: Option<&Path>,
    head_seq: i64,
) -> Result<crate::mirror::Mirror, String> {
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64);
    let (mirror, mirrored) = crate::mirror::Mirror::open(config, public_key, now_ms).await?;
    if mirrored > head_seq {
        return Err(format!(
            "the cluster's audit history has records of node {} up to {mirrored}, beyond this data dir's log ({head_seq}): this data dir is older than the node it belongs to",
            config.node
        ));
    }
    if mirrored < head_seq
        && let Some(dir) = dir
    {
        let mut batch = Vec::new();
        let tail = segments::rows_after(&dir.join(segments::DIR), mirrored);
        for row in tail.map_err(|e| e.to_string())? {
            let (row, time_ms, _) = row.map_err(|e| e.to_string())?;
            if row.seq <= mirrored {
                continue;
            }
            batch.push(stored_mirror_row(row, time_ms)?);
            if batch.len() >= 1024 {
                mirror.replay(&std::mem::take(&mut batch)).await?;
            }
        }
        mirror.replay(&batch).await?;
        tracing::info!(
            from = mirrored,
            to = head_seq,
            "local audit records replayed into the cluster's history"
        );
    }
    Ok(mirror)
}

/// What [`mirror_local_history`] did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct MirrorImport {
    /// The local chain's last seq (0: no records).
    pub head_seq: i64,
    /// Records the table already held for this node before.
    pub already: i64,
    /// Records inserted now.
    pub inserted: u64,
    /// The local signed digests offered (ones the table had are kept as they are).
    pub digests: u64,
}

/// `strongroom migrate` from a data dir to PostgreSQL: the data dir's own chain — its records,
/// anchor and signed digests — goes into the cluster's history under `config.node`, as a node
/// replays its log at open ([`open_mirror`]), but without starting a log (nothing new is
/// written locally). Run again, it inserts only what the table lacks.
pub async fn mirror_local_history(
    config: &crate::mirror::MirrorConfig,
    dir: &Path,
    public_key: &[u8],
) -> Result<MirrorImport, String> {
    let audit_dir = dir.join(segments::DIR);
    if !audit_dir.is_dir() {
        return Ok(MirrorImport::default());
    }
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64);
    let (mirror, mirrored) = crate::mirror::Mirror::open(config, public_key, now_ms).await?;
    let (anchor_seq, anchor_prev) = segments::read_anchor(&audit_dir).map_err(|e| e.to_string())?;
    if mirrored == 0 && anchor_seq > 1 {
        mirror.set_anchor(anchor_seq, &anchor_prev).await?;
    }
    let mut out = MirrorImport {
        already: mirrored,
        ..MirrorImport::default()
    };
    let mut batch = Vec::new();
    for row in segments::rows(&audit_dir).map_err(|e| e.to_string())? {
        let (row, time_ms, _) = row.map_err(|e| e.to_string())?;
        if row.seq < 0 {
            return Err(format!(
                "the audit log in {} has a damaged line (position {}): `strongroom audit verify` names it",
                dir.display(),
                row.pos
            ));
        }
        out.head_seq = out.head_seq.max(row.seq);
        if row.seq <= mirrored {
            continue;
        }
        batch.push(stored_mirror_row(row, time_ms)?);
        out.inserted += 1;
        if batch.len() >= 1024 {
            mirror.replay(&std::mem::take(&mut batch)).await?;
        }
    }
    mirror.replay(&batch).await?;
    if mirrored > out.head_seq {
        return Err(format!(
            "the cluster's audit history has records of node {} up to {mirrored}, beyond this data dir's log ({}): this data dir is older than the node it belongs to",
            config.node, out.head_seq
        ));
    }
    // Only this node's own digests (the key beside each must be the node's).
    let digests: Vec<(i64, Hash, i64, Vec<u8>)> = segments::read_digests(&audit_dir)
        .map_err(|e| e.to_string())?
        .into_iter()
        .filter(|(seq, _, _, key, _)| key == public_key && *seq >= anchor_seq)
        .filter_map(|(seq, hash, time_ms, _, sig)| Some((seq, hash.try_into().ok()?, time_ms, sig)))
        .collect();
    out.digests = digests.len() as u64;
    mirror.replay_digests(&digests).await?;
    mirror.pool().close().await;
    Ok(out)
}

struct Writer {
    /// `None` in memory mode: records go only to the (in-memory) index.
    segments: Option<SegmentLog>,
    /// The segments' size, published for [`AuditLog::admit`].
    used: Arc<AtomicU64>,
    head: Head,
    signer: DigestSigner,
    healthy: Arc<AtomicBool>,
    exporter: Exporter,
    on_commit: Option<CommitHook>,
    last_digest_seq: Option<i64>,
    digest_every: Option<u64>,
    index: IndexFeed,
    mirror: Option<crate::mirror::Mirror>,
    progress: Arc<Progress>,
    /// Requests admitted and not yet acknowledged (`None` in memory mode).
    in_flight: Option<Arc<AtomicI64>>,
    /// Wakes the writer when the runtime runs out of work (kept only if this writer is the
    /// thread it wakes).
    runtime_idle: Option<Arc<RuntimeIdle>>,
}

impl Writer {
    fn run(mut self, mut rx: mpsc::Receiver<Msg>) {
        self.runtime_idle = self.runtime_idle.take().filter(|i| i.wake_me());
        while let Some(first) = rx.blocking_recv() {
            let mut appends = Vec::new();
            let mut next = Some(first);
            loop {
                while let Some(m) = next.take() {
                    match m {
                        Msg::Append(p, ack) => appends.push((p, ack)),
                        Msg::Digest(t, ack) => {
                            self.commit(std::mem::take(&mut appends));
                            let _ = ack.send(self.digest(t));
                        }
                        Msg::Prune(t, ack) => {
                            self.commit(std::mem::take(&mut appends));
                            let _ = ack.send(self.prune(t));
                        }
                        Msg::Probe => self.probe(),
                    }
                    if appends.len() < MAX_BATCH {
                        next = rx.try_recv().ok();
                    }
                }
                if !self.gather(&appends) {
                    break;
                }
                next = rx.try_recv().ok();
            }
            self.commit(appends);
            // Digests and pruning change the size too.
            if let Some(s) = &self.segments {
                self.used.store(s.total_bytes(), Ordering::Release);
            }
        }
    }

    /// Group commit: a `write` + `fdatasync` costs this machine ~100 µs of CPU in the kernel,
    /// and committing whatever is queued the moment the last commit ends made batches of ~5
    /// records when the CPU, not the disk, was the limit (the writer's wake-up takes the core
    /// from the requests that would have joined). So while more admitted requests are in
    /// flight than records held — they will hand theirs in soon — the writer waits, at most
    /// until the oldest record held has waited [`GROUP_WAIT`] (counted from its arrival, so
    /// time spent in the previous commit counts). It commits sooner the moment the runtime's
    /// workers all run out of work ([`RuntimeIdle`]): whoever else is in flight waits for
    /// something else (the network, a store), and the core is free. Without that signal it
    /// looks again every [`GROUP_STEP`]. A request alone (light load) is committed at once.
    /// True if it waited (look for more records, then ask again).
    fn gather(&self, held: &[Waiting]) -> bool {
        let (Some(in_flight), Some((oldest, _))) = (&self.in_flight, held.first()) else {
            return false;
        };
        if !self.healthy.load(Ordering::Relaxed)
            || self.runtime_idle.as_ref().is_some_and(|i| i.is_idle())
        {
            return false;
        }
        match group_wait(
            held.len(),
            in_flight.load(Ordering::Acquire),
            oldest.queued.elapsed(),
        ) {
            Some(left) => {
                match &self.runtime_idle {
                    // Woken by the runtime's park hook (or spuriously: the caller looks again).
                    Some(_) => std::thread::park_timeout(left),
                    None => std::thread::sleep(left.min(GROUP_STEP)),
                }
                true
            }
            None => false,
        }
    }

    fn commit(&mut self, batch: Vec<Waiting>) {
        if batch.is_empty() {
            return;
        }
        let started = Instant::now();
        let mut head = self.head;
        let mut lines = Vec::with_capacity(batch.iter().map(|(p, _)| p.record.len() + 180).sum());
        let mut starts = Vec::with_capacity(batch.len());
        let mut links = Vec::with_capacity(if self.mirror.is_some() {
            batch.len()
        } else {
            0
        });
        for (p, _) in &batch {
            let seq = head.seq + 1;
            let hash = chain::link(seq, &head.hash, &p.content_hash);
            starts.push(segments::format_line(
                &mut lines, seq, &head.hash, &hash, p.time_ms, &p.record,
            ));
            if self.mirror.is_some() {
                links.push((head.hash, hash));
            }
            head = Head { seq, hash };
        }
        let first_seq = self.head.seq + 1;
        let written = match &mut self.segments {
            Some(s) => s.append(&lines, first_seq).map(Some),
            None => Ok(None),
        };
        let mut result = written.as_ref().map(|_| ()).map_err(Clone::clone);
        // Several nodes: the batch is answered only once the cluster's table has it too.
        if written.is_ok()
            && let Some(m) = &mut self.mirror
        {
            let rows = batch
                .iter()
                .zip(&links)
                .enumerate()
                .map(|(i, ((p, _), (prev, hash)))| {
                    // Packed by `prepared` a moment ago: it unpacks (a field over 4 GiB,
                    // which no request can carry, would be the only way not to).
                    let c = Columns::unpack(&p.attrs).unwrap_or(Columns::EMPTY);
                    mirror_row(
                        first_seq + i as i64,
                        (*prev, *hash),
                        p.time_ms,
                        &c,
                        p.record.clone(),
                    )
                })
                .collect();
            if let Err(e) = m.push(rows) {
                result = Err(e);
            }
        }
        // Published before anyone is acknowledged, so no admission reads a stale size.
        if let Some(s) = &self.segments {
            self.used.store(s.total_bytes(), Ordering::Release);
        }
        if let Some(hook) = &self.on_commit {
            hook(started.elapsed(), batch.len());
        }
        if written.is_ok() {
            // The local chain has the batch even if the cluster's table does not yet (its
            // rows wait in the mirror and go first next time).
            self.head = head;
            self.progress.durable.store(head.seq, Ordering::SeqCst);
        }
        match &result {
            Ok(()) => {
                self.healthy.store(true, Ordering::Relaxed);
                self.exporter
                    .write(batch.iter().map(|(p, _)| (p.time_ms, p.record.as_str())));
            }
            Err(e) => {
                self.healthy.store(false, Ordering::Relaxed);
                tracing::error!(error = %e, records = batch.len(), "audit write failed: refusing requests until the audit log is writable");
            }
        }
        let mut rows = Vec::with_capacity(batch.len());
        for (i, (p, ack)) in batch.into_iter().enumerate() {
            let _ = ack.send(result.clone());
            if let Ok(at) = &written {
                let at = at.map(|(segment, offset)| {
                    (segment, offset + starts[i] as u64, p.record.len() as u32)
                });
                // With segments the index keeps where the record lies, not the record: it
                // is freed here, not held until the index's next batch.
                let Prepared {
                    time_ms,
                    attrs,
                    record,
                    ..
                } = *p;
                rows.push(IndexRow {
                    seq: first_seq + i as i64,
                    time_ms,
                    attrs,
                    record: at.is_none().then_some(record),
                    at,
                });
            }
        }
        let last_time = rows.last().map(|r| r.time_ms);
        self.index.rows(rows);
        // The record-count threshold: signed after the batch is acknowledged (off the
        // requests' path), stamped with the batch's last record time.
        if let (Some(every), Some(t)) = (self.digest_every, last_time)
            && result.is_ok()
            && self.head.seq - self.last_digest_seq.unwrap_or(0) >= every as i64
            && let Err(e) = self.digest(t)
        {
            tracing::error!(error = %e, "could not sign an audit digest on the record threshold");
        }
    }

    fn digest(&mut self, now_ms: i64) -> Result<Option<i64>, String> {
        if self.head.seq < 1 || self.last_digest_seq == Some(self.head.seq) {
            return Ok(None);
        }
        let sig = self.signer.sign(self.head.seq, &self.head.hash, now_ms);
        if let Some(s) = &mut self.segments {
            s.append_digest(
                self.head.seq,
                &self.head.hash,
                now_ms,
                &self.signer.public_key(),
                &sig,
            )?;
        }
        if let Some(m) = &mut self.mirror {
            m.push_digest(self.head.seq, self.head.hash, now_ms, sig)?;
        }
        self.last_digest_seq = Some(self.head.seq);
        Ok(Some(self.head.seq))
    }

    fn prune(&mut self, before_ms: i64) -> Result<u64, String> {
        let Some(s) = &mut self.segments else {
            return Ok(0);
        };
        let (deleted, first_kept) = s.prune(before_ms)?;
        if let Some(seq) = first_kept {
            self.index.prune_below(seq);
            if let Some(m) = &mut self.mirror {
                m.prune_below(seq)?;
            }
        }
        Ok(deleted)
    }

    fn probe(&mut self) {
        // Writable again when a few records' worth fits and the file still syncs.
        let ok = match &mut self.segments {
            Some(s) => s.writable(16 * 1024),
            None => true,
        } && self.mirror.as_mut().is_none_or(|m| m.flush().is_ok());
        if ok {
            tracing::warn!("the audit log takes writes again");
            self.healthy.store(true, Ordering::Relaxed);
        }
    }
}

/// The group commit's rule ([`Writer::gather`]): with `held` records, `in_flight` admitted
/// requests and the oldest record held waiting `waited`, how much longer the batch may wait
/// for more — `None`: commit now.
pub(crate) fn group_wait(held: usize, in_flight: i64, waited: Duration) -> Option<Duration> {
    if held == 0 || held >= MAX_BATCH || in_flight <= held as i64 || waited >= GROUP_WAIT {
        return None;
    }
    Some(GROUP_WAIT - waited)
}

/// Read-only access to a log another process (the server) may be writing: for operators'
/// `audit tail` and `audit search`.
pub struct AuditReader {
    readers: Arc<Readers>,
    segments_dir: PathBuf,
}

impl AuditReader {
    pub async fn open(dir: &Path) -> Result<Self, AuditError> {
        let path = dir.join(INDEX_FILE);
        if !path.exists() {
            return Err(AuditError::Read(format!(
                "{} does not exist",
                path.display()
            )));
        }
        Ok(Self {
            readers: Arc::new(Readers::file(path)),
            segments_dir: dir.join(segments::DIR),
        })
    }

    pub async fn lookup(&self, q: &Lookup) -> Result<Vec<Found>, AuditError> {
        crate::index::lookup_off_runtime(&self.readers, Some(&self.segments_dir), q).await
    }

    /// Records stored after position `after`, oldest first (for following the log).
    pub async fn after(&self, after: i64, limit: usize) -> Result<Vec<Found>, AuditError> {
        let mut found = self
            .lookup(&Lookup {
                after_pos: Some(after),
                limit,
                ascending: true,
                ..Default::default()
            })
            .await?;
        found.sort_by_key(|f| f.pos);
        Ok(found)
    }
}

/// What LookupEvents can search by (one attribute at a time, as AWS allows).
#[derive(Debug, Clone, PartialEq)]
pub enum Attribute {
    EventId(String),
    EventName(String),
    ReadOnly(bool),
    Username(String),
    ResourceType(String),
    ResourceName(String),
    EventSource(String),
    AccessKeyId(String),
}

#[derive(Debug, Clone, Default)]
pub struct Lookup {
    pub attribute: Option<Attribute>,
    /// Inclusive bounds on the event time, epoch milliseconds.
    pub start_ms: Option<i64>,
    pub end_ms: Option<i64>,
    /// Only records stored before this position (paging: newest first).
    pub before_pos: Option<i64>,
    /// Only records stored after this position (following the log).
    pub after_pos: Option<i64>,
    /// Oldest first instead of newest first.
    pub ascending: bool,
    pub limit: usize,
    /// Only records of this AWS region (CloudTrail's event history is per region).
    pub region: Option<String>,
}

/// One record found, with the columns LookupEvents reports beside the record itself.
#[derive(Debug, Clone)]
pub struct Found {
    pub pos: i64,
    pub seq: i64,
    pub time_ms: i64,
    pub event_id: String,
    pub event_name: String,
    pub event_source: String,
    pub username: Option<String>,
    pub access_key_id: Option<String>,
    pub read_only: bool,
    pub resource_type: Option<String>,
    pub resource_name: Option<String>,
    pub record: String,
}

/// The outcome of `audit verify`.
#[derive(Debug)]
pub struct VerifyReport {
    pub records: u64,
    pub digests: u64,
    pub findings: Vec<Finding>,
}

/// Check the whole chain in `dir` (a data directory), or the records with seq in `range`.
/// Reads only the segments, the anchor and the digests: the index plays no part.
pub async fn verify(
    dir: &Path,
    range: Option<(i64, i64)>,
    public_key: Option<&[u8]>,
) -> Result<VerifyReport, AuditError> {
    let dir = dir.join(segments::DIR);
    let public_key = public_key.map(<[u8]>::to_vec);
    tokio::task::spawn_blocking(move || verify_blocking(&dir, range, public_key.as_deref()))
        .await
        .map_err(read_err)?
}

fn verify_blocking(
    dir: &Path,
    range: Option<(i64, i64)>,
    public_key: Option<&[u8]>,
) -> Result<VerifyReport, AuditError> {
    if !dir.is_dir() {
        return Err(AuditError::Read(format!(
            "{} does not exist",
            dir.display()
        )));
    }
    let (anchor_seq, anchor_prev) = segments::read_anchor(dir).map_err(read_err)?;
    let digest_lines = segments::read_digests(dir).map_err(read_err)?;
    let mut findings = Vec::new();
    let mut digests = Vec::new();
    let mut latest = None;
    for (seq, hash, time_ms, stored_key, sig) in &digest_lines {
        let Ok(hash) = <Hash>::try_from(hash.as_slice()) else {
            findings.push(Finding::BadDigestSignature { digest_seq: *seq });
            continue;
        };
        // The operator's copy of the public key is the authority; the stored one is a hint.
        let key = public_key.unwrap_or(stored_key);
        if !verify_signature(key, *seq, &hash, *time_ms, sig) {
            findings.push(Finding::BadDigestSignature { digest_seq: *seq });
            continue;
        }
        if *seq < anchor_seq {
            continue;
        }
        if range.is_none_or(|(a, b)| *seq >= a && *seq <= b) {
            digests.push((*seq, hash));
            latest = latest.max(Some(*seq));
        }
    }
    let (lo, hi) = range.unwrap_or((i64::MIN, i64::MAX));
    let mut verifier: Option<Verifier> = None;
    if range.is_none() {
        verifier = Some(Verifier::new(anchor_seq, anchor_prev, &digests));
    }
    for row in segments::rows(dir).map_err(read_err)? {
        let (row, _, _) = row.map_err(read_err)?;
        if row.seq > 0 && (row.seq < lo || row.seq > hi) {
            continue;
        }
        let v = verifier.get_or_insert_with(|| {
            // A range starts from whatever its first record claims to follow.
            let prev = row.prev.clone().try_into().unwrap_or(chain::GENESIS);
            Verifier::new(row.seq.max(lo), prev, &digests)
        });
        v.feed(&row);
    }
    let (records, mut rest) = match verifier {
        Some(v) => v.finish(latest),
        None => (0, Vec::new()),
    };
    findings.append(&mut rest);
    Ok(VerifyReport {
        records,
        digests: digest_lines.len() as u64,
        findings,
    })
}
