//! The lookup index (`audit-index.db`): one SQLite row per record — its packed columns
//! ([`Columns`]) and where it lies in the segments — written by a thread of its own.
//!
//! The index is a copy: the segments are the durable record, and whatever the index lacks
//! (after a crash, a deleted file, or rows it had to let go) is read back from them. Its
//! thread runs ten nice levels below the server, so its batches do not hold requests up.
//! Should it still fall behind — a core kept busy by something else — its queue stops
//! growing at [`MAX_QUEUED_ROWS`]: further rows are dropped and the range they covered is
//! indexed from the segments once the thread catches up.
//!
//! Not `SCHED_IDLE`, though its work could then fill the log's `fdatasync` waits: built and
//! measured (docs/performance.md, session 22), it read no faster (+1%, within the noise) and,
//! with the cores busy, a LookupEvents right after a write waited 10× longer (p90 ~300 ms
//! against ~20), since such a thread runs only when nothing else will.
//!
//! Why rusqlite and a plain thread rather than sqlx (used for every other SQLite file here):
//! sqlx runs each connection on a worker thread it owns, fed through a channel from an async
//! task — a hop and a per-value binding that cost ~1.4 µs per record on the request core —
//! and a thread it names but does not let us set up. Both link the same `libsqlite3-sys`.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicI64, AtomicUsize, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError, Sender};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rusqlite::{Connection, OpenFlags, params};
use tokio::sync::Notify;

use crate::columns::Columns;
use crate::event::Event;
use crate::log::{AuditError, Found, Lookup};
use crate::segments;

pub const INDEX_FILE: &str = "audit-index.db";
/// The index thread's name (`ps -L`, `/proc/PID/task/*/comm`).
pub(crate) const INDEX_THREAD: &str = "audit-index";

/// A row for the index: seq, the record's columns, and where the record lies in the
/// segments (`None` in memory mode, where the index keeps the record itself).
pub(crate) struct IndexRow {
    pub seq: i64,
    pub time_ms: i64,
    pub attrs: Vec<u8>,
    /// The record itself, kept by the index only in memory mode (`at` is `None`).
    pub record: Option<String>,
    pub at: Option<segments::Location>,
}

/// What the writer (and lookups) tell the index thread, in chain order.
pub(crate) enum IndexMsg {
    Rows(Vec<IndexRow>),
    /// Records `from..=to` are durable but their rows were dropped (the queue was full):
    /// index them from the segments.
    Gap(i64, i64),
    /// Retention removed every record below this seq.
    PruneBelow(i64),
    /// A lookup waits: index what is queued now instead of gathering a larger batch.
    Flush,
}

/// How far the log and its index have got (seq numbers), for read-your-writes lookups.
#[derive(Default)]
pub(crate) struct Progress {
    pub durable: AtomicI64,
    pub indexed: AtomicI64,
    pub changed: Notify,
}

/// Rows queued for the index thread beyond which the writer drops rows and sends a
/// [`IndexMsg::Gap`] instead (~10 MiB; two seconds of the fastest load measured).
const MAX_QUEUED_ROWS: usize = 64 * 1024;
/// The most rows the thread gathers before a transaction, and the longest it waits: one
/// transaction per commit of the log cost ~15% of the core at 30k records/s (session 19).
const INDEX_BATCH: usize = 4096;
const INDEX_DELAY: Duration = Duration::from_millis(100);
/// Rows per transaction when indexing from the segments.
const ROWS_PER_TRANSACTION: usize = 1024;
/// How much lower than the server's the thread's priority is (nice values).
const NICE_OFFSET: i32 = 10;

/// The writer's end: hands rows over without blocking, and lets go of them (as a gap the
/// thread fills from the segments) while the thread is that far behind.
pub(crate) struct IndexFeed {
    tx: Sender<IndexMsg>,
    queued: Arc<AtomicUsize>,
    /// Memory mode: no segments to fill a gap from, so rows are never dropped.
    lossless: bool,
    /// [`MAX_QUEUED_ROWS`] (tests lower it).
    max_queued: usize,
    gap: Option<(i64, i64)>,
}

impl IndexFeed {
    pub fn rows(&mut self, rows: Vec<IndexRow>) {
        let (Some(first), Some(last)) = (rows.first(), rows.last()) else {
            return;
        };
        let (first, last) = (first.seq, last.seq);
        if !self.lossless && self.queued.load(Ordering::Acquire) >= self.max_queued {
            self.gap = Some(self.gap.map_or((first, last), |(from, _)| (from, last)));
            return;
        }
        if let Some((from, to)) = self.gap.take() {
            let _ = self.tx.send(IndexMsg::Gap(from, to));
        }
        self.queued.fetch_add(rows.len(), Ordering::AcqRel);
        let _ = self.tx.send(IndexMsg::Rows(rows));
    }

    pub fn prune_below(&mut self, seq: i64) {
        let _ = self.tx.send(IndexMsg::PruneBelow(seq));
    }
}

impl Drop for IndexFeed {
    /// The log is closing: the thread drains its queue before it stops, the rows it let go
    /// of included (else they would wait for the next start's catch-up).
    fn drop(&mut self) {
        if let Some((from, to)) = self.gap.take() {
            let _ = self.tx.send(IndexMsg::Gap(from, to));
        }
    }
}

/// Where lookups read the index: connections of their own to the file (WAL lets them read
/// while the thread writes), or, in memory mode, the thread's own connection.
pub(crate) enum Readers {
    File {
        path: PathBuf,
        idle: Mutex<Vec<Connection>>,
    },
    Shared(Arc<Mutex<Connection>>),
}

/// Read connections kept between lookups.
const IDLE_READERS: usize = 2;

impl Readers {
    pub fn file(path: PathBuf) -> Self {
        Readers::File {
            path,
            idle: Mutex::new(Vec::new()),
        }
    }

    fn with<T>(
        &self,
        f: impl FnOnce(&Connection) -> Result<T, AuditError>,
    ) -> Result<T, AuditError> {
        match self {
            Readers::Shared(c) => f(&c.lock().unwrap_or_else(|p| p.into_inner())),
            Readers::File { path, idle } => {
                let taken = idle.lock().ok().and_then(|mut v| v.pop());
                let conn = match taken {
                    Some(c) => c,
                    None => open_read_only(path)?,
                };
                let out = f(&conn);
                if let Ok(mut v) = idle.lock()
                    && v.len() < IDLE_READERS
                {
                    v.push(conn);
                }
                out
            }
        }
    }
}

fn read_err(e: impl std::fmt::Display) -> AuditError {
    AuditError::Read(e.to_string())
}

fn open_read_only(path: &Path) -> Result<Connection, AuditError> {
    let c = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(read_err)?;
    c.busy_timeout(Duration::from_secs(10)).map_err(read_err)?;
    Ok(c)
}

/// Open (or create) the index and check its layout. An index of an earlier layout (a column
/// per attribute) lacks `attrs`: it is only a copy of the segments, so it is dropped and
/// rebuilt from them.
fn open_writable(dir: Option<&Path>) -> rusqlite::Result<Connection> {
    let conn = match dir {
        Some(d) => {
            let c = Connection::open(d.join(INDEX_FILE))?;
            // The segments are the durable copy; the index may lose its tail in a crash and
            // is rebuilt from them, so it need not fsync every commit.
            c.pragma_update(None, "journal_mode", "WAL")?;
            c.pragma_update(None, "synchronous", "NORMAL")?;
            c.busy_timeout(Duration::from_secs(10))?;
            c
        }
        None => Connection::open_in_memory()?,
    };
    let has_attrs: i64 = conn.query_row(
        "SELECT COUNT(*) FROM pragma_table_info('events') WHERE name = 'attrs'",
        [],
        |r| r.get(0),
    )?;
    let table_exists: i64 = conn.query_row(
        "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = 'events'",
        [],
        |r| r.get(0),
    )?;
    if table_exists == 1 && has_attrs == 0 {
        tracing::info!("rebuilding the audit index from the log (its layout changed)");
        conn.execute("DROP TABLE events", [])?;
    }
    // `seq` is the chain position. No secondary indexes: lookups walk back from the newest
    // record, which is where LookupEvents queries look.
    conn.execute(
        "CREATE TABLE IF NOT EXISTS events (
            seq INTEGER PRIMARY KEY,
            time_ms INTEGER NOT NULL,
            -- What lookups filter by (event name, user, resource, region, ...), packed: see
            -- columns.rs.
            attrs BLOB NOT NULL,
            -- The record itself only in memory mode; otherwise where it lies in the
            -- segments, so the index stays small and cheap to write.
            record TEXT,
            segment INTEGER,
            offset INTEGER,
            length INTEGER)",
        [],
    )?;
    Ok(conn)
}

/// The running index: the writer's feed, where lookups read, and the thread.
pub(crate) struct Index {
    pub feed: IndexFeed,
    /// For [`IndexMsg::Flush`] from lookups.
    pub tx: Sender<IndexMsg>,
    pub readers: Arc<Readers>,
    pub thread: std::thread::JoinHandle<()>,
}

/// Open the index in `dir` (memory if `None`) and start its thread, which first indexes
/// whatever the segments hold beyond it (up to `head_seq`).
pub(crate) fn start(
    dir: Option<&Path>,
    head_seq: i64,
    progress: Arc<Progress>,
) -> Result<Index, String> {
    let conn = Arc::new(Mutex::new(open_writable(dir).map_err(|e| e.to_string())?));
    let readers = Arc::new(match dir {
        Some(d) => Readers::file(d.join(INDEX_FILE)),
        // An in-memory database exists only inside its one connection.
        None => Readers::Shared(conn.clone()),
    });
    let (tx, rx) = std::sync::mpsc::channel();
    let queued = Arc::new(AtomicUsize::new(0));
    let thread = IndexThread {
        conn,
        segments_dir: dir.map(|d| d.join(segments::DIR)),
        progress,
        queued: queued.clone(),
    };
    let thread = std::thread::Builder::new()
        .name(INDEX_THREAD.into())
        .spawn(move || thread.run(rx, head_seq))
        .map_err(|e| e.to_string())?;
    Ok(Index {
        feed: IndexFeed {
            tx: tx.clone(),
            queued,
            lossless: dir.is_none(),
            max_queued: MAX_QUEUED_ROWS,
            gap: None,
        },
        tx,
        readers,
        thread,
    })
}

struct IndexThread {
    conn: Arc<Mutex<Connection>>,
    /// `None` in memory mode.
    segments_dir: Option<PathBuf>,
    progress: Arc<Progress>,
    queued: Arc<AtomicUsize>,
}

impl IndexThread {
    fn run(self, rx: Receiver<IndexMsg>, head_seq: i64) {
        lower_own_priority();
        if let Some(dir) = &self.segments_dir {
            let from = self
                .with_conn(|c| c.query_row("SELECT MAX(seq) FROM events", [], |r| r.get(0)))
                .ok()
                .flatten()
                .unwrap_or(0);
            if from < head_seq {
                match self.index_from_segments(dir, from, head_seq) {
                    Ok(()) => {
                        tracing::info!(from, to = head_seq, "audit index rebuilt from the log")
                    }
                    Err(e) => {
                        tracing::error!(error = %e, "could not rebuild the audit index from the log");
                    }
                }
            }
        }
        self.indexed(head_seq);
        let mut rows: Vec<IndexRow> = Vec::new();
        let mut deadline: Option<Instant> = None;
        loop {
            let msg = match deadline {
                Some(d) => rx.recv_timeout(d.saturating_duration_since(Instant::now())),
                None => rx.recv().map_err(|_| RecvTimeoutError::Disconnected),
            };
            let flush_now = match msg {
                Ok(IndexMsg::Rows(mut r)) => {
                    self.queued.fetch_sub(r.len(), Ordering::AcqRel);
                    rows.append(&mut r);
                    deadline.get_or_insert_with(|| Instant::now() + INDEX_DELAY);
                    rows.len() >= INDEX_BATCH
                }
                Ok(IndexMsg::Gap(from, to)) => {
                    self.insert(std::mem::take(&mut rows));
                    deadline = None;
                    if let Some(dir) = &self.segments_dir
                        && let Err(e) = self.index_from_segments(dir, from - 1, to)
                    {
                        tracing::error!(error = %e, "could not index audit records from the log (lookups miss them until restart)");
                    }
                    self.indexed(to);
                    false
                }
                Ok(IndexMsg::PruneBelow(seq)) => {
                    self.insert(std::mem::take(&mut rows));
                    deadline = None;
                    if let Err(e) =
                        self.with_conn(|c| c.execute("DELETE FROM events WHERE seq < ?1", [seq]))
                    {
                        tracing::error!(error = %e, "could not prune the audit index");
                    }
                    false
                }
                Ok(IndexMsg::Flush) | Err(RecvTimeoutError::Timeout) => true,
                Err(RecvTimeoutError::Disconnected) => break,
            };
            if flush_now {
                self.insert(std::mem::take(&mut rows));
                deadline = None;
            }
        }
        self.insert(rows);
    }

    fn with_conn<T>(
        &self,
        f: impl FnOnce(&mut Connection) -> rusqlite::Result<T>,
    ) -> rusqlite::Result<T> {
        // A poisoned lock means a panic mid-transaction elsewhere; SQLite rolled it back.
        let mut c = self.conn.lock().unwrap_or_else(|p| p.into_inner());
        f(&mut c)
    }

    fn indexed(&self, seq: i64) {
        self.progress.indexed.fetch_max(seq, Ordering::SeqCst);
        self.progress.changed.notify_waiters();
    }

    fn insert(&self, rows: Vec<IndexRow>) {
        let Some(last) = rows.last().map(|r| r.seq) else {
            return;
        };
        if let Err(e) = self.with_conn(|c| insert(c, &rows)) {
            tracing::error!(error = %e, "could not index audit records (lookups will miss them until restart)");
        }
        drop(rows);
        self.indexed(last);
    }

    /// Index the records with `after < seq <= upto` from the segments.
    fn index_from_segments(&self, dir: &Path, after: i64, upto: i64) -> Result<(), String> {
        let mut batch = Vec::new();
        for row in segments::rows_after(dir, after).map_err(|e| e.to_string())? {
            let (row, time_ms, at) = row.map_err(|e| e.to_string())?;
            if row.seq <= after {
                continue;
            }
            if row.seq > upto {
                break;
            }
            // Digests and unparseable lines are not records to look up.
            let Ok(event) = serde_json::from_str::<Event>(&row.record) else {
                continue;
            };
            batch.push(IndexRow {
                seq: row.seq,
                time_ms,
                attrs: crate::log::index_columns(&event, None).pack(),
                record: None,
                at: Some(at),
            });
            if batch.len() >= ROWS_PER_TRANSACTION {
                let rows = std::mem::take(&mut batch);
                self.with_conn(|c| insert(c, &rows))
                    .map_err(|e| e.to_string())?;
            }
        }
        self.with_conn(|c| insert(c, &batch))
            .map_err(|e| e.to_string())
    }
}

/// One transaction, one cached statement executed per row (rusqlite binds in place: the
/// multi-row statements sqlx needed to amortise its per-statement hop buy nothing here).
fn insert(conn: &mut Connection, rows: &[IndexRow]) -> rusqlite::Result<()> {
    if rows.is_empty() {
        return Ok(());
    }
    let tx = conn.transaction()?;
    {
        // INSERT OR REPLACE: an index filled from the segments may meet rows it has.
        let mut st = tx.prepare_cached(
            "INSERT OR REPLACE INTO events (seq, time_ms, attrs, record, segment, offset, length)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        )?;
        for r in rows {
            st.execute(params![
                r.seq,
                r.time_ms,
                r.attrs,
                r.record,
                r.at.map(|a| a.0),
                r.at.map(|a| a.1 as i64),
                r.at.map(|a| a.2 as i64),
            ])?;
        }
    }
    tx.commit()
}

/// Ten nice levels below the server: every 100 ms the thread inserts a batch (~3,000 rows at
/// 30k records/s) and, at the requests' priority, they waited behind it (durable p99 6.0–6.4
/// ms, 4.7–5.0 with this; docs/performance.md, session 20). Ten levels down it still gets
/// ~10% of a busy core, more than it uses (~4%); at 19 it fell behind under load. Linux keeps
/// a nice value per thread; this sets the calling thread's.
fn lower_own_priority() {
    use rustix::process::{getpriority_process, setpriority_process};
    if let Ok(own) = getpriority_process(None)
        && let Err(e) = setpriority_process(None, (own + NICE_OFFSET).min(19))
    {
        tracing::debug!(error = %e, "could not lower the audit index thread's priority");
    }
}

/// Rows a filtered lookup reads from the index at a time.
const LOOKUP_PAGE: usize = 1024;

/// Search the index, on a blocking thread (SQLite and the segments' reads block).
/// `segments_dir`: where records live when the index holds only their locations.
pub(crate) async fn lookup_off_runtime(
    readers: &Arc<Readers>,
    segments_dir: Option<&Path>,
    q: &Lookup,
) -> Result<Vec<Found>, AuditError> {
    let (readers, dir, q) = (
        readers.clone(),
        segments_dir.map(Path::to_path_buf),
        q.clone(),
    );
    tokio::task::spawn_blocking(move || readers.with(|c| lookup_in(c, dir.as_deref(), &q)))
        .await
        .map_err(read_err)?
}

/// The index is read newest first (or oldest first) a page at a time, each row's packed
/// columns filtered here, until `limit` records match or the rows run out.
fn lookup_in(
    conn: &Connection,
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
        let mut st = conn.prepare_cached(&sql).map_err(read_err)?;
        let mut rows = st
            .query(rusqlite::params_from_iter(binds))
            .map_err(read_err)?;
        let mut read = 0;
        while let Some(r) = rows.next().map_err(read_err)? {
            read += 1;
            let seq: i64 = r.get(0).map_err(read_err)?;
            if q.ascending {
                after = Some(seq);
            } else {
                before = Some(seq);
            }
            let attrs = r
                .get_ref(2)
                .map_err(read_err)?
                .as_blob()
                .map_err(read_err)?;
            let Some(c) = Columns::unpack(attrs) else {
                tracing::warn!(seq, "skipping an audit index row that does not unpack");
                continue;
            };
            if !c.matches(q.attribute.as_ref(), q.region.as_deref()) {
                continue;
            }
            let record: Option<String> = r.get(3).map_err(read_err)?;
            let record = match (record, segments_dir) {
                (Some(text), _) => text,
                (None, Some(dir)) => {
                    let at: (i64, i64, i64) = (
                        r.get(4).map_err(read_err)?,
                        r.get(5).map_err(read_err)?,
                        r.get(6).map_err(read_err)?,
                    );
                    segments::read_record(dir, (at.0, at.1 as u64, at.2 as u32))
                        .map_err(read_err)?
                }
                (None, None) => {
                    return Err(AuditError::Read("an index row without its record".into()));
                }
            };
            found.push(Found {
                pos: seq,
                seq,
                time_ms: r.get(1).map_err(read_err)?,
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::log::Attribute;

    /// Rows dropped while the thread is behind come back from the segments: every record
    /// is found, in order, and the queue never held the dropped ones.
    #[tokio::test]
    async fn rows_dropped_while_behind_are_indexed_from_the_segments() {
        let dir = tempfile::tempdir().unwrap();
        let log = crate::tests::open(dir.path()).await;
        for n in 1..=10 {
            log.append(crate::tests::entry("GetSecretValue", n))
                .await
                .unwrap();
        }
        log.close(100_000).await;
        for f in [INDEX_FILE, "audit-index.db-wal", "audit-index.db-shm"] {
            let _ = std::fs::remove_file(dir.path().join(f));
        }
        // The rows as the writer made them, read back from the segments.
        let seg_dir = dir.path().join(segments::DIR);
        let mut made: Vec<IndexRow> = segments::rows(&seg_dir)
            .unwrap()
            .filter_map(|r| {
                let (row, time_ms, at) = r.unwrap();
                let event: Event = serde_json::from_str(&row.record).ok()?;
                Some(IndexRow {
                    seq: row.seq,
                    time_ms,
                    attrs: crate::log::index_columns(&event, None).pack(),
                    record: None,
                    at: Some(at),
                })
            })
            .collect();
        assert_eq!(made.len(), 10);
        // An index that believes itself current at seq 0 (no catch-up), fed 1–3, then
        // "behind" for 4–5 and 6–7, then 8–9, then behind again for 10 as the log closes.
        let progress = Arc::new(Progress::default());
        let mut index = start(Some(dir.path()), 0, progress.clone()).unwrap();
        let last = made.split_off(9);
        let tail = made.split_off(7);
        let mut middle = made.split_off(3);
        let middle_end = middle.split_off(2);
        index.feed.rows(made);
        index.feed.max_queued = 0;
        index.feed.rows(middle);
        index.feed.rows(middle_end);
        assert_eq!(index.feed.gap, Some((4, 7)));
        index.feed.max_queued = MAX_QUEUED_ROWS;
        index.feed.rows(tail);
        assert_eq!(index.feed.gap, None);
        index.feed.max_queued = 0;
        index.feed.rows(last);
        assert_eq!(index.feed.gap, Some((10, 10)));
        drop(index.feed);
        drop(index.tx);
        index.thread.join().unwrap();
        assert_eq!(progress.indexed.load(Ordering::SeqCst), 10);
        let found = lookup_off_runtime(
            &index.readers,
            Some(&seg_dir),
            &Lookup {
                attribute: Some(Attribute::EventName("GetSecretValue".into())),
                limit: 100,
                ascending: true,
                ..Default::default()
            },
        )
        .await
        .unwrap();
        let ids: Vec<String> = found.iter().map(|f| f.event_id.clone()).collect();
        let want: Vec<String> = (1..=10).map(|n| format!("id-{n}")).collect();
        assert_eq!(ids, want);
        assert!(found.iter().all(|f| f.record.contains(&f.event_id)));
    }
}
