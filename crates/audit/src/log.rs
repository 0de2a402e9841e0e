//! The audit log: durable append-only segments (see [`crate::segments`]) written by one
//! thread with group commit, and a SQLite index (`audit-index.db`) for lookups, filled from
//! the same batches just after they are durable.
//!
//! Requests hand the writer a prepared record (serialized and hashed in the request's task)
//! and wait. The writer takes everything queued, links the batch into the chain, writes it
//! with one `write` + `fdatasync`, and answers every waiter: an acknowledged record is on
//! disk. A failed write fails every request in the batch, and the server refuses requests
//! while the log stays unwritable (fail closed). The index is a copy, rebuilt from the
//! segments at startup if it is behind; lookups wait for it to catch up with what is durable,
//! so a caller always finds its own earlier requests.

use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};
use sqlx::{Row as _, SqliteConnection};
use tokio::sync::{Notify, mpsc, oneshot};

use crate::chain::{self, Finding, Hash, Verifier};
use crate::columns::Columns;
use crate::digest::{DigestSigner, verify_signature};
use crate::event::Event;
use crate::export::Exporter;
use crate::idle::RuntimeIdle;
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
pub const INDEX_FILE: &str = "audit-index.db";

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

/// A row for the index: seq, the record's columns, and where the record lies in the
/// segments (`None` in memory mode, where the index keeps the record itself).
struct IndexRow {
    seq: i64,
    time_ms: i64,
    attrs: Vec<u8>,
    /// The record itself, kept by the index only in memory mode (`at` is `None`).
    record: Option<String>,
    at: Option<segments::Location>,
}

/// Rows for the index, in chain order.
enum IndexMsg {
    Rows(Vec<IndexRow>),
    /// Retention removed every record below this seq.
    PruneBelow(i64),
}

/// Called after every commit with its latency and size (metrics).
pub type CommitHook = Arc<dyn Fn(Duration, usize) + Send + Sync>;

/// How far the log and its index have got (seq numbers), for read-your-writes lookups.
#[derive(Default)]
struct Progress {
    durable: AtomicI64,
    indexed: AtomicI64,
    changed: Notify,
    /// A lookup waits: index what is queued now instead of gathering a larger batch.
    flush: Notify,
}

pub struct AuditLog {
    tx: mpsc::Sender<Msg>,
    reader: SqlitePool,
    /// Several nodes: lookups search the cluster's table instead of the local index.
    cluster: Option<sqlx::PgPool>,
    healthy: Arc<AtomicBool>,
    last_probe_ms: AtomicI64,
    writer: Option<std::thread::JoinHandle<()>>,
    indexer: Option<tokio::task::JoinHandle<()>>,
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

const SCHEMA: &[&str] = &[
    // `seq` is the chain position. No secondary indexes: the index is written off the
    // request path, but still on the same cores; lookups walk back from the newest record,
    // which is where LookupEvents queries look.
    "CREATE TABLE IF NOT EXISTS events (
        seq INTEGER PRIMARY KEY,
        time_ms INTEGER NOT NULL,
        -- What lookups filter by (event name, user, resource, region, ...), packed: see
        -- columns.rs.
        attrs BLOB NOT NULL,
        -- The record itself only in memory mode; otherwise where it lies in the segments,
        -- so the index stays small and cheap to write.
        record TEXT,
        segment INTEGER,
        offset INTEGER,
        length INTEGER)",
];

fn index_options(dir: Option<&Path>) -> Result<SqliteConnectOptions, AuditError> {
    Ok(match dir {
        // The segments are the durable copy; the index may lose its tail in a crash and is
        // rebuilt from them, so it need not fsync every commit.
        Some(d) => SqliteConnectOptions::new()
            .filename(d.join(INDEX_FILE))
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .busy_timeout(Duration::from_secs(10)),
        None => SqliteConnectOptions::from_str("sqlite::memory:").map_err(read_err)?,
    })
}

/// The name of the index's SQLite thread (sqlx runs each connection on a thread of its own).
pub(crate) const INDEX_THREAD: &str = "audit-index";
/// How much lower than the server's the index thread's priority is (nice values).
const INDEX_NICE_OFFSET: i32 = 10;

/// The index's SQLite thread yields the core to requests: every 100 ms it inserts the
/// batch's rows (~3,000 at 30k records/s) and, at the requests' priority, they waited behind
/// it (durable p99 6.0–6.4 ms, 4.7–5.0 with this; docs/performance.md, session 20). Ten nice
/// levels lower it still gets ~10% of a busy core, more than it uses (~4%), so it keeps up;
/// at 19 it fell behind under load and its rows piled up in memory. Best effort: Linux keeps
/// a nice value per thread, found here by the name given to sqlx.
fn lower_index_thread_priority() {
    use rustix::process::{Pid, getpriority_process, setpriority_process};
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else {
        return;
    };
    let Ok(own) = getpriority_process(None) else {
        return;
    };
    let nice = (own + INDEX_NICE_OFFSET).min(19);
    for task in tasks.flatten() {
        let named = std::fs::read_to_string(task.path().join("comm"))
            .is_ok_and(|c| c.trim_end() == INDEX_THREAD);
        let tid = task
            .file_name()
            .to_str()
            .and_then(|s| s.parse().ok())
            .and_then(Pid::from_raw);
        if let (true, Some(tid)) = (named, tid)
            && let Err(e) = setpriority_process(Some(tid), nice)
        {
            tracing::debug!(error = %e, "could not lower the audit index thread's priority");
        }
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
        let base = index_options(config.dir.as_deref())?;
        let index_pool = SqlitePoolOptions::new()
            .max_connections(1)
            .min_connections(1)
            .idle_timeout(None)
            .max_lifetime(None)
            .test_before_acquire(false)
            .connect_with(
                base.clone()
                    .create_if_missing(true)
                    .thread_name(|_| INDEX_THREAD.to_string()),
            )
            .await
            .map_err(|e| unwritable(e.to_string()))?;
        lower_index_thread_priority();
        // An index of an earlier layout (a column per attribute) lacks `attrs`: it is only a
        // cache of the segments, so it is dropped and rebuilt from them (the catch-up below).
        let has_attrs: Option<i64> = sqlx::query_scalar(
            "SELECT COUNT(*) FROM pragma_table_info('events') WHERE name = 'attrs'",
        )
        .fetch_optional(&index_pool)
        .await
        .map_err(|e| unwritable(e.to_string()))?;
        let table_exists: Option<i64> = sqlx::query_scalar(
            "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = 'events'",
        )
        .fetch_optional(&index_pool)
        .await
        .map_err(|e| unwritable(e.to_string()))?;
        if table_exists == Some(1) && has_attrs == Some(0) {
            tracing::info!("rebuilding the audit index from the log (its layout changed)");
            sqlx::query("DROP TABLE events")
                .execute(&index_pool)
                .await
                .map_err(|e| unwritable(e.to_string()))?;
        }
        for stmt in SCHEMA {
            sqlx::query(*stmt)
                .execute(&index_pool)
                .await
                .map_err(|e| unwritable(e.to_string()))?;
        }
        let reader = match &config.dir {
            Some(_) => SqlitePoolOptions::new()
                .max_connections(2)
                .connect_with(base.read_only(true))
                .await
                .map_err(read_err)?,
            // An in-memory database exists only inside its one connection.
            None => index_pool.clone(),
        };
        let progress = Arc::new(Progress::default());
        progress.durable.store(head.seq, Ordering::SeqCst);
        let (index_tx, index_rx) = mpsc::unbounded_channel();
        let indexer = Indexer {
            pool: index_pool,
            progress: progress.clone(),
        };
        let catch_up_from = config.dir.as_ref().map(|d| d.join(segments::DIR));
        let indexer = tokio::spawn(indexer.run(index_rx, catch_up_from, head.seq));
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
            index: index_tx,
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
            reader,
            cluster,
            healthy,
            last_probe_ms: AtomicI64::new(0),
            writer: Some(writer),
            indexer: Some(indexer),
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
    pub async fn append(&self, entry: Entry) -> Result<(), AuditError> {
        let prepared = prepare(entry)?;
        let (ack, done) = oneshot::channel();
        self.tx
            .send(Msg::Append(Box::new(prepared), ack))
            .await
            .map_err(|_| AuditError::Closed)?;
        done.await
            .map_err(|_| AuditError::Closed)?
            .map_err(AuditError::Unwritable)
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
            self.progress.flush.notify_one();
            let _ = tokio::time::timeout(left.min(Duration::from_millis(10)), changed).await;
        }
        lookup(&self.reader, self.segments_dir.as_deref(), q).await
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
        if let Some(w) = writer {
            let _ = tokio::task::spawn_blocking(move || w.join()).await;
        }
        // The writer dropped the index sender: the indexer drains and stops.
        if let Some(i) = indexer {
            let _ = i.await;
        }
        self.reader.close().await;
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
fn index_columns<'a>(e: &'a Event, short: Option<&'a str>) -> Columns<'a> {
    let first = e.resources.first();
    Columns {
        event_id: &e.event_id,
        event_name: &e.event_name,
        event_source: &e.event_source,
        username: e.username_str(),
        access_key_id: e.user_identity.access_key_id.as_deref(),
        read_only: e.read_only,
        resource_type: first.map(|r| r.kind.as_str()),
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
        for row in segments::rows(&dir.join(segments::DIR)).map_err(|e| e.to_string())? {
            let (row, time_ms, _) = row.map_err(|e| e.to_string())?;
            if row.seq <= mirrored {
                continue;
            }
            let event: Event = serde_json::from_str(&row.record).map_err(|e| e.to_string())?;
            let (prev, hash) = (
                row.prev.as_slice().try_into().unwrap_or(chain::GENESIS),
                row.hash.as_slice().try_into().unwrap_or(chain::GENESIS),
            );
            let columns = index_columns(&event, None);
            batch.push(mirror_row(
                row.seq,
                (prev, hash),
                time_ms,
                &columns,
                row.record,
            ));
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
        let event: Event = serde_json::from_str(&row.record).map_err(|e| e.to_string())?;
        let (prev, hash) = (
            row.prev.as_slice().try_into().unwrap_or(chain::GENESIS),
            row.hash.as_slice().try_into().unwrap_or(chain::GENESIS),
        );
        let columns = index_columns(&event, None);
        batch.push(mirror_row(
            row.seq,
            (prev, hash),
            time_ms,
            &columns,
            row.record,
        ));
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
    index: mpsc::UnboundedSender<IndexMsg>,
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
        if !rows.is_empty() {
            let _ = self.index.send(IndexMsg::Rows(rows));
        }
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
            let _ = self.index.send(IndexMsg::PruneBelow(seq));
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

struct Indexer {
    pool: SqlitePool,
    progress: Arc<Progress>,
}

/// Rows per INSERT statement (7 parameters each). Many rows per statement amortise its cost,
/// but the memory SQLite takes to compile one grows with its parameters: at 1024 rows (15,360
/// parameters) a start that caught the index up peaked ~30 MiB higher, and the allocator kept
/// most of it. Full-size statements are prepared once per connection and cached.
const ROWS_PER_STATEMENT: usize = 64;
/// Rows per transaction when catching the index up from the segments.
const ROWS_PER_TRANSACTION: usize = 1024;
/// The most rows the indexer gathers before a transaction, and the longest it waits.
const INDEX_BATCH: usize = 4096;
const INDEX_DELAY: Duration = Duration::from_millis(100);

async fn sleep_until_some(deadline: Option<tokio::time::Instant>) {
    match deadline {
        Some(d) => tokio::time::sleep_until(d).await,
        None => std::future::pending().await,
    }
}
const COLUMNS: &str = "seq, time_ms, attrs, record, segment, offset, length";

impl Indexer {
    async fn run(
        self,
        mut rx: mpsc::UnboundedReceiver<IndexMsg>,
        segments_dir: Option<PathBuf>,
        head_seq: i64,
    ) {
        if let Some(dir) = segments_dir
            && let Err(e) = self.catch_up(&dir, head_seq).await
        {
            tracing::error!(error = %e, "could not rebuild the audit index from the log");
        }
        self.progress.indexed.store(head_seq, Ordering::SeqCst);
        self.progress.changed.notify_waiters();
        // Rows gather for up to INDEX_DELAY (or INDEX_BATCH rows, or until a lookup asks):
        // one transaction per commit of the log cost the server ~15% of its CPU at 30k
        // records/s, most of it per transaction and per hand-off to SQLite's thread.
        let mut rows = Vec::new();
        let mut deadline: Option<tokio::time::Instant> = None;
        loop {
            let flush_now = tokio::select! {
                m = rx.recv() => match m {
                    Some(IndexMsg::Rows(mut r)) => {
                        rows.append(&mut r);
                        deadline.get_or_insert_with(|| tokio::time::Instant::now() + INDEX_DELAY);
                        rows.len() >= INDEX_BATCH
                    }
                    Some(IndexMsg::PruneBelow(seq)) => {
                        self.insert(std::mem::take(&mut rows)).await;
                        deadline = None;
                        if let Err(e) = sqlx::query("DELETE FROM events WHERE seq < ?")
                            .bind(seq)
                            .execute(&self.pool)
                            .await
                        {
                            tracing::error!(error = %e, "could not prune the audit index");
                        }
                        false
                    }
                    None => break,
                },
                () = self.progress.flush.notified() => true,
                () = sleep_until_some(deadline) => true,
            };
            if flush_now {
                self.insert(std::mem::take(&mut rows)).await;
                deadline = None;
            }
        }
        self.insert(rows).await;
        self.pool.close().await;
    }

    async fn insert(&self, rows: Vec<IndexRow>) {
        let Some(last) = rows.last().map(|r| r.seq) else {
            return;
        };
        if let Err(e) = insert(&self.pool, rows).await {
            tracing::error!(error = %e, "could not index audit records (lookups will miss them until restart)");
        }
        self.progress.indexed.store(last, Ordering::SeqCst);
        self.progress.changed.notify_waiters();
    }

    /// Index the records the log has and the index lacks (after a crash, or a deleted index).
    async fn catch_up(&self, dir: &Path, head_seq: i64) -> Result<(), String> {
        let indexed: Option<i64> = sqlx::query_scalar("SELECT MAX(seq) FROM events")
            .fetch_one(&self.pool)
            .await
            .map_err(|e| e.to_string())?;
        let from = indexed.unwrap_or(0);
        if from >= head_seq {
            return Ok(());
        }
        let mut batch = Vec::new();
        for row in segments::rows(dir).map_err(|e| e.to_string())? {
            let (row, time_ms, at) = row.map_err(|e| e.to_string())?;
            if row.seq <= from {
                continue;
            }
            let Ok(event) = serde_json::from_str::<Event>(&row.record) else {
                continue;
            };
            batch.push(IndexRow {
                seq: row.seq,
                time_ms,
                attrs: index_columns(&event, None).pack(),
                record: None,
                at: Some(at),
            });
            if batch.len() >= ROWS_PER_TRANSACTION {
                insert(&self.pool, std::mem::take(&mut batch))
                    .await
                    .map_err(|e| e.to_string())?;
            }
        }
        insert(&self.pool, batch).await.map_err(|e| e.to_string())?;
        tracing::info!(from, to = head_seq, "audit index rebuilt from the log");
        Ok(())
    }
}

async fn insert(pool: &SqlitePool, rows: Vec<IndexRow>) -> Result<(), sqlx::Error> {
    if rows.is_empty() {
        return Ok(());
    }
    let mut conn = pool.acquire().await?;
    let mut tx = sqlx::Connection::begin(&mut *conn).await?;
    // Statements of 64, 32, ... 1 rows: a handful of texts, each prepared once and cached
    // (a statement sized to every batch was parsed anew each time: ~2% of server CPU).
    let mut left = rows.len();
    let mut rows = rows.into_iter();
    while left > 0 {
        let n = if left >= ROWS_PER_STATEMENT {
            ROWS_PER_STATEMENT
        } else {
            1 << left.ilog2()
        };
        insert_rows(&mut tx, rows.by_ref().take(n), n).await?;
        left -= n;
    }
    tx.commit().await
}

/// `n` rows, moved into the statement (sqlx copies what is bound by reference).
async fn insert_rows(
    conn: &mut SqliteConnection,
    rows: impl Iterator<Item = IndexRow>,
    n: usize,
) -> Result<(), sqlx::Error> {
    let placeholders = vec!["(?, ?, ?, ?, ?, ?, ?)"; n].join(", ");
    // Fixed text per row count; every value is bound. INSERT OR REPLACE: a rebuilt index may
    // meet rows it already has.
    let sql = format!("INSERT OR REPLACE INTO events ({COLUMNS}) VALUES {placeholders}");
    let mut q = sqlx::query(sqlx::AssertSqlSafe(sql)).persistent(true);
    for IndexRow {
        seq,
        time_ms,
        attrs,
        record,
        at,
    } in rows
    {
        q = q
            .bind(seq)
            .bind(time_ms)
            .bind(attrs)
            .bind(record)
            .bind(at.map(|a| a.0))
            .bind(at.map(|a| a.1 as i64))
            .bind(at.map(|a| a.2 as i64));
    }
    q.execute(conn).await.map(|_| ())
}

/// Read-only access to a log another process (the server) may be writing: for operators'
/// `audit tail` and `audit search`.
pub struct AuditReader {
    pool: SqlitePool,
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
        let pool = SqlitePoolOptions::new()
            .max_connections(1)
            .connect_with(index_options(Some(dir))?.read_only(true))
            .await
            .map_err(read_err)?;
        Ok(Self {
            pool,
            segments_dir: dir.join(segments::DIR),
        })
    }

    pub async fn lookup(&self, q: &Lookup) -> Result<Vec<Found>, AuditError> {
        lookup(&self.pool, Some(&self.segments_dir), q).await
    }

    /// Records stored after position `after`, oldest first (for following the log).
    pub async fn after(&self, after: i64, limit: usize) -> Result<Vec<Found>, AuditError> {
        let mut found = lookup(
            &self.pool,
            Some(&self.segments_dir),
            &Lookup {
                after_pos: Some(after),
                limit,
                ascending: true,
                ..Default::default()
            },
        )
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

/// Rows a filtered lookup reads from the index at a time.
const LOOKUP_PAGE: usize = 1024;

/// `segments`: where records live when the index holds only their locations. The index is
/// read newest first (or oldest first) a page at a time, each row's packed columns filtered
/// here, until `limit` records match or the rows run out.
async fn lookup(
    pool: &SqlitePool,
    segments_dir: Option<&Path>,
    q: &Lookup,
) -> Result<Vec<Found>, AuditError> {
    let limit = q.limit.max(1);
    let filtered = q.attribute.is_some() || q.region.is_some();
    let (mut before, mut after) = (q.before_pos, q.after_pos);
    let mut found = Vec::new();
    loop {
        let mut sql = String::from(
            "SELECT seq, time_ms, attrs, record, segment, offset, length FROM events WHERE 1=1",
        );
        let mut binds = Vec::new();
        for (clause, value) in [
            (" AND time_ms >= ?", q.start_ms),
            (" AND time_ms <= ?", q.end_ms),
            (" AND seq < ?", before),
            (" AND seq > ?", after),
        ] {
            if let Some(v) = value {
                sql.push_str(clause);
                binds.push(v);
            }
        }
        sql.push_str(if q.ascending {
            " ORDER BY seq ASC LIMIT ?"
        } else {
            " ORDER BY seq DESC LIMIT ?"
        });
        let page = if filtered {
            LOOKUP_PAGE
        } else {
            limit - found.len()
        };
        binds.push(page as i64);
        // Only fixed clauses are concatenated; every value is bound.
        let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
        for b in binds {
            query = query.bind(b);
        }
        let rows = query.fetch_all(pool).await.map_err(read_err)?;
        let read = rows.len();
        for r in rows {
            let seq: i64 = r.get(0);
            if q.ascending {
                after = Some(seq);
            } else {
                before = Some(seq);
            }
            let Some(c) = Columns::unpack(r.get::<&[u8], _>(2)) else {
                tracing::warn!(seq, "skipping an audit index row that does not unpack");
                continue;
            };
            if !c.matches(q.attribute.as_ref(), q.region.as_deref()) {
                continue;
            }
            let record: Option<String> = r.get(3);
            let record = match (record, segments_dir) {
                (Some(text), _) => text,
                (None, Some(dir)) => {
                    let at: (i64, i64, i64) = (r.get(4), r.get(5), r.get(6));
                    let dir = dir.to_path_buf();
                    tokio::task::spawn_blocking(move || {
                        segments::read_record(&dir, (at.0, at.1 as u64, at.2 as u32))
                    })
                    .await
                    .map_err(read_err)?
                    .map_err(read_err)?
                }
                (None, None) => {
                    return Err(AuditError::Read("an index row without its record".into()));
                }
            };
            found.push(Found {
                pos: seq,
                seq,
                time_ms: r.get(1),
                event_id: c.event_id.to_owned(),
                event_name: c.event_name.to_owned(),
                event_source: c.event_source.to_owned(),
                username: c.username.map(str::to_owned),
                access_key_id: c.access_key_id.map(str::to_owned),
                read_only: c.read_only,
                resource_type: c.resource_type.map(str::to_owned),
                resource_name: c.resource_name.map(str::to_owned),
                record,
            });
            if found.len() >= limit {
                return Ok(found);
            }
        }
        if read < page {
            return Ok(found);
        }
    }
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
