//! The audit log on disk: its own SQLite database (`audit.db`, WAL, `synchronous=FULL`), apart
//! from the secrets store so its fsyncs never wait on a secret write and it can live on its own
//! volume.
//!
//! One writer task owns the chain head. Requests hand it a prepared record and wait; it takes
//! everything queued, links and inserts the batch in one transaction and commits once (group
//! commit), then answers every waiter. An acknowledged append is durable; a failed commit fails
//! every request in the batch, and the server refuses requests while the log stays unwritable.

use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};
use sqlx::{Row as _, SqliteConnection};
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

use crate::chain::{self, Finding, GENESIS, Hash, Row, Verifier};
use crate::digest::{DigestSigner, verify_signature};
use crate::event::Event;
use crate::export::Exporter;

/// The most records one commit takes; more wait for the next.
const MAX_BATCH: usize = ROWS_PER_STATEMENT;
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
    /// `audit.db` lives here; `None` keeps the log in memory (`--dev`).
    pub dir: Option<PathBuf>,
    /// Cap on the database size: when reached, appends fail and so do requests (fail closed).
    pub max_bytes: Option<u64>,
    /// Also write each committed record as a JSON line to hourly files here.
    pub export_dir: Option<PathBuf>,
    /// Also write each committed record as a JSON line to standard output (for a SIEM).
    pub export_stdout: bool,
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
    event_id: String,
    event_name: String,
    event_source: String,
    username: Option<String>,
    access_key_id: Option<String>,
    read_only: bool,
    resource_type: Option<String>,
    resource_name: Option<String>,
    resource_short: Option<String>,
    record: String,
    /// SHA-256 of `record`, computed by the appending task, off the writer's serial path.
    content_hash: Hash,
}

type Ack = oneshot::Sender<Result<(), String>>;
/// An append and whoever waits for its commit.
type Waiting = (Box<Prepared>, Ack);

enum Msg {
    Append(Box<Prepared>, Ack),
    Digest(i64, oneshot::Sender<Result<Option<i64>, String>>),
    Prune(i64, oneshot::Sender<Result<u64, String>>),
}

/// Called after every commit with its latency and size (metrics).
pub type CommitHook = Arc<dyn Fn(Duration, usize) + Send + Sync>;

pub struct AuditLog {
    tx: mpsc::Sender<Msg>,
    reader: SqlitePool,
    healthy: Arc<AtomicBool>,
    writer: Option<JoinHandle<()>>,
    public_key: Vec<u8>,
}

const SCHEMA: &[&str] = &[
    "CREATE TABLE IF NOT EXISTS events (
        pos INTEGER PRIMARY KEY,
        seq INTEGER NOT NULL,
        time_ms INTEGER NOT NULL,
        event_id TEXT NOT NULL,
        event_name TEXT NOT NULL,
        event_source TEXT NOT NULL,
        username TEXT,
        access_key_id TEXT,
        read_only INTEGER NOT NULL,
        resource_type TEXT,
        resource_name TEXT,
        resource_short TEXT,
        record TEXT NOT NULL,
        prev BLOB NOT NULL,
        hash BLOB NOT NULL)",
    // No secondary indexes: each one roughly halved append throughput (measured with
    // `append_throughput`). Lookups walk back from the newest record, which is where
    // LookupEvents queries look; a miss over a very large log is a full scan.
    "CREATE TABLE IF NOT EXISTS digests (
        seq INTEGER PRIMARY KEY,
        hash BLOB NOT NULL,
        time_ms INTEGER NOT NULL,
        public_key BLOB NOT NULL,
        signature BLOB NOT NULL)",
    // Where the chain starts after retention removed older records.
    "CREATE TABLE IF NOT EXISTS anchor (
        id INTEGER PRIMARY KEY CHECK (id = 1),
        seq INTEGER NOT NULL,
        prev BLOB NOT NULL)",
    "CREATE TABLE IF NOT EXISTS probe (id INTEGER PRIMARY KEY CHECK (id = 1), n INTEGER NOT NULL)",
    "INSERT OR IGNORE INTO probe (id, n) VALUES (1, 0)",
];

pub const DB_FILE: &str = "audit.db";

fn options(dir: Option<&Path>) -> Result<SqliteConnectOptions, AuditError> {
    Ok(match dir {
        Some(d) => SqliteConnectOptions::new()
            .filename(d.join(DB_FILE))
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .busy_timeout(Duration::from_secs(10))
            .pragma("wal_autocheckpoint", "16384"),
        None => SqliteConnectOptions::from_str("sqlite::memory:").map_err(read_err)?,
    })
}

impl AuditLog {
    pub async fn open(
        config: AuditConfig,
        signer: DigestSigner,
        on_commit: Option<CommitHook>,
    ) -> Result<Self, AuditError> {
        let base = options(config.dir.as_deref())?;
        let mut writer_opts = base.clone().create_if_missing(true);
        if let Some(max) = config.max_bytes {
            // SQLite's own quota: past it, writes fail with SQLITE_FULL, as on a full disk.
            writer_opts = writer_opts.pragma("max_page_count", (max / 4096).max(16).to_string());
        }
        let unwritable = |e: sqlx::Error| AuditError::Unwritable(e.to_string());
        let writer_pool = SqlitePoolOptions::new()
            .max_connections(1)
            .min_connections(1)
            // The writer owns this connection; a ping per batch would be a wasted round trip.
            .test_before_acquire(false)
            .idle_timeout(None)
            .max_lifetime(None)
            .connect_with(writer_opts)
            .await
            .map_err(unwritable)?;
        for stmt in SCHEMA {
            sqlx::query(*stmt)
                .execute(&writer_pool)
                .await
                .map_err(unwritable)?;
        }
        // Prove now that the log takes writes: a server that cannot audit must not start.
        sqlx::query("UPDATE probe SET n = n + 1")
            .execute(&writer_pool)
            .await
            .map_err(unwritable)?;
        let reader = match &config.dir {
            Some(_) => SqlitePoolOptions::new()
                .max_connections(2)
                .connect_with(base.read_only(true))
                .await
                .map_err(read_err)?,
            // An in-memory database exists only inside its one connection.
            None => writer_pool.clone(),
        };
        let head = head(&writer_pool).await?;
        let exporter = Exporter::new(config.export_dir.clone(), config.export_stdout);
        let (tx, rx) = mpsc::channel(QUEUE_CAPACITY);
        let healthy = Arc::new(AtomicBool::new(true));
        let public_key = signer.public_key();
        let writer = Writer {
            pool: writer_pool,
            head,
            signer,
            healthy: healthy.clone(),
            exporter,
            on_commit,
            last_digest_seq: None,
        };
        let writer = tokio::spawn(writer.run(rx));
        Ok(Self {
            tx,
            reader,
            healthy,
            writer: Some(writer),
            public_key,
        })
    }

    /// False after a commit failed and until a probe write succeeds: callers refuse work
    /// rather than do it unaudited.
    pub fn is_healthy(&self) -> bool {
        self.healthy.load(Ordering::Relaxed)
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

    pub async fn lookup(&self, q: &Lookup) -> Result<Vec<Found>, AuditError> {
        lookup(&self.reader, q).await
    }

    /// Remove records older than `before_ms`, keeping the chain verifiable from the first
    /// record that remains.
    pub async fn prune(&self, before_ms: i64) -> Result<u64, AuditError> {
        // Through the writer, so it never races the chain head.
        let (ack, done) = oneshot::channel();
        self.tx
            .send(Msg::Prune(before_ms, ack))
            .await
            .map_err(|_| AuditError::Closed)?;
        done.await
            .map_err(|_| AuditError::Closed)?
            .map_err(AuditError::Unwritable)
    }

    /// Sign a last digest and stop the writer once every queued append is committed.
    pub async fn close(mut self, now_ms: i64) {
        if let Err(e) = self.sign_digest(now_ms).await {
            tracing::warn!(error = %e, "could not sign the closing audit digest");
        }
        let writer = self.writer.take();
        drop(self.tx);
        if let Some(w) = writer {
            let _ = w.await;
        }
        self.reader.close().await;
    }
}

fn prepare(entry: Entry) -> Result<Prepared, AuditError> {
    let e = &entry.event;
    let record = serde_json::to_string(e).map_err(|e| AuditError::Unwritable(e.to_string()))?;
    let first = e.resources.first();
    Ok(Prepared {
        time_ms: entry.time_ms,
        event_id: e.event_id.clone(),
        event_name: e.event_name.clone(),
        event_source: e.event_source.clone(),
        username: e.username(),
        access_key_id: e.user_identity.access_key_id.clone(),
        read_only: e.read_only,
        resource_type: first.map(|r| r.kind.clone()),
        resource_name: first.map(|r| r.arn.clone()),
        resource_short: entry.resource_short_name,
        content_hash: chain::content_hash(&record),
        record,
    })
}

#[derive(Clone, Copy)]
struct Head {
    seq: i64,
    hash: Hash,
}

async fn head(pool: &SqlitePool) -> Result<Head, AuditError> {
    let last = sqlx::query("SELECT seq, hash FROM events ORDER BY pos DESC LIMIT 1")
        .fetch_optional(pool)
        .await
        .map_err(read_err)?;
    if let Some(row) = last {
        let hash: Vec<u8> = row.get(1);
        return Ok(Head {
            seq: row.get(0),
            hash: hash.try_into().unwrap_or(GENESIS),
        });
    }
    let (seq, prev) = anchor(pool).await?;
    Ok(Head {
        seq: seq - 1,
        hash: prev,
    })
}

/// The chain's start: (first seq, the hash before it).
async fn anchor(pool: &SqlitePool) -> Result<(i64, Hash), AuditError> {
    let row = sqlx::query("SELECT seq, prev FROM anchor WHERE id = 1")
        .fetch_optional(pool)
        .await
        .map_err(read_err)?;
    Ok(match row {
        Some(r) => {
            let prev: Vec<u8> = r.get(1);
            (r.get(0), prev.try_into().unwrap_or(GENESIS))
        }
        None => (1, GENESIS),
    })
}

struct Writer {
    pool: SqlitePool,
    head: Head,
    signer: DigestSigner,
    healthy: Arc<AtomicBool>,
    exporter: Exporter,
    on_commit: Option<CommitHook>,
    last_digest_seq: Option<i64>,
}

impl Writer {
    async fn run(mut self, mut rx: mpsc::Receiver<Msg>) {
        loop {
            let first = if self.healthy.load(Ordering::Relaxed) {
                rx.recv().await
            } else {
                match tokio::time::timeout(Duration::from_secs(1), rx.recv()).await {
                    Ok(m) => m,
                    Err(_) => {
                        self.probe().await;
                        continue;
                    }
                }
            };
            let Some(first) = first else { break };
            let mut appends = Vec::new();
            let mut digests = Vec::new();
            let mut prunes = Vec::new();
            let mut next = Some(first);
            while let Some(m) = next.take() {
                match m {
                    Msg::Append(p, ack) => appends.push((p, ack)),
                    Msg::Digest(t, ack) => digests.push((t, ack)),
                    Msg::Prune(t, ack) => prunes.push((t, ack)),
                }
                if appends.len() < MAX_BATCH {
                    next = rx.try_recv().ok();
                }
            }
            if !appends.is_empty() {
                self.commit(appends).await;
            }
            for (now_ms, ack) in digests {
                let _ = ack.send(self.digest(now_ms).await);
            }
            for (before_ms, ack) in prunes {
                let _ = ack.send(prune(&self.pool, before_ms, self.head).await);
            }
        }
        self.pool.close().await;
    }

    async fn commit(&mut self, batch: Vec<Waiting>) {
        let started = Instant::now();
        let mut head = self.head;
        let mut links = Vec::with_capacity(batch.len());
        for (p, _) in &batch {
            let seq = head.seq + 1;
            let hash = chain::link(seq, &head.hash, &p.content_hash);
            links.push((seq, head.hash, hash));
            head = Head { seq, hash };
        }
        let result = insert(&self.pool, &batch, &links).await;
        tracing::debug!(
            records = batch.len(),
            elapsed_us = started.elapsed().as_micros() as u64,
            "audit commit"
        );
        match &result {
            Ok(()) => {
                self.head = head;
                self.healthy.store(true, Ordering::Relaxed);
                self.exporter
                    .write(batch.iter().map(|(p, _)| (p.time_ms, p.record.as_str())));
            }
            Err(e) => {
                self.healthy.store(false, Ordering::Relaxed);
                tracing::error!(error = %e, records = batch.len(), "audit commit failed: refusing requests until the audit log is writable");
            }
        }
        if let Some(hook) = &self.on_commit {
            hook(started.elapsed(), batch.len());
        }
        for (_, ack) in batch {
            let _ = ack.send(result.clone());
        }
    }

    async fn digest(&mut self, now_ms: i64) -> Result<Option<i64>, String> {
        if self.head.seq < 1 || self.last_digest_seq == Some(self.head.seq) {
            return Ok(None);
        }
        let sig = self.signer.sign(self.head.seq, &self.head.hash, now_ms);
        sqlx::query(
            "INSERT OR REPLACE INTO digests (seq, hash, time_ms, public_key, signature) VALUES (?, ?, ?, ?, ?)",
        )
        .bind(self.head.seq)
        .bind(self.head.hash.to_vec())
        .bind(now_ms)
        .bind(self.signer.public_key())
        .bind(sig)
        .execute(&self.pool)
        .await
        .map_err(|e| e.to_string())?;
        self.last_digest_seq = Some(self.head.seq);
        Ok(Some(self.head.seq))
    }

    async fn probe(&mut self) {
        if sqlx::query("UPDATE probe SET n = n + 1")
            .execute(&self.pool)
            .await
            .is_ok()
        {
            tracing::warn!("the audit log takes writes again");
            self.healthy.store(true, Ordering::Relaxed);
        }
    }
}

/// Rows per INSERT statement (14 parameters each, under SQLite's 32766). A batch that fits is
/// one autocommit statement: one round trip to SQLite's worker thread, which matters when
/// every core is busy serving requests and each hop waits for a time slice.
const ROWS_PER_STATEMENT: usize = 512;
const COLUMNS: &str = "seq, time_ms, event_id, event_name, event_source, username, access_key_id, read_only, resource_type, resource_name, resource_short, record, prev, hash";

async fn insert(
    pool: &SqlitePool,
    batch: &[Waiting],
    links: &[(i64, Hash, Hash)],
) -> Result<(), String> {
    let err = |e: sqlx::Error| e.to_string();
    let mut conn = pool.acquire().await.map_err(err)?;
    if batch.len() <= ROWS_PER_STATEMENT {
        // One statement is its own atomic, durable transaction.
        return insert_rows(&mut conn, batch, links).await.map_err(err);
    }
    let mut tx = sqlx::Connection::begin(&mut *conn).await.map_err(err)?;
    for (rows, links) in batch
        .chunks(ROWS_PER_STATEMENT)
        .zip(links.chunks(ROWS_PER_STATEMENT))
    {
        insert_rows(&mut tx, rows, links).await.map_err(err)?;
    }
    tx.commit().await.map_err(err)
}

async fn insert_rows(
    conn: &mut SqliteConnection,
    rows: &[Waiting],
    links: &[(i64, Hash, Hash)],
) -> Result<(), sqlx::Error> {
    let placeholders = vec!["(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"; rows.len()].join(", ");
    // Fixed text per row count (at most ROWS_PER_STATEMENT variants, each prepared once);
    // every value is bound.
    let sql = format!("INSERT INTO events ({COLUMNS}) VALUES {placeholders}");
    let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
    for ((p, _), (seq, prev, hash)) in rows.iter().zip(links) {
        q = q
            .bind(*seq)
            .bind(p.time_ms)
            .bind(&p.event_id)
            .bind(&p.event_name)
            .bind(&p.event_source)
            .bind(&p.username)
            .bind(&p.access_key_id)
            .bind(p.read_only)
            .bind(&p.resource_type)
            .bind(&p.resource_name)
            .bind(&p.resource_short)
            .bind(&p.record)
            .bind(prev.as_slice())
            .bind(hash.as_slice());
    }
    q.execute(conn).await.map(|_| ())
}

/// Delete records older than `before_ms` and move the anchor to the first one kept.
async fn prune(pool: &SqlitePool, before_ms: i64, head: Head) -> Result<u64, String> {
    let err = |e: sqlx::Error| e.to_string();
    let mut tx = pool.begin().await.map_err(err)?;
    let first_kept =
        sqlx::query("SELECT pos, seq, prev FROM events WHERE time_ms >= ? ORDER BY pos LIMIT 1")
            .bind(before_ms)
            .fetch_optional(&mut *tx)
            .await
            .map_err(err)?;
    let (cut_pos, seq, prev) = match first_kept {
        Some(r) => (
            r.get::<i64, _>(0),
            r.get::<i64, _>(1),
            r.get::<Vec<u8>, _>(2),
        ),
        None => (i64::MAX, head.seq + 1, head.hash.to_vec()),
    };
    let deleted = sqlx::query("DELETE FROM events WHERE pos < ?")
        .bind(cut_pos)
        .execute(&mut *tx)
        .await
        .map_err(err)?
        .rows_affected();
    if deleted > 0 {
        sqlx::query("INSERT OR REPLACE INTO anchor (id, seq, prev) VALUES (1, ?, ?)")
            .bind(seq)
            .bind(prev)
            .execute(&mut *tx)
            .await
            .map_err(err)?;
    }
    tx.commit().await.map_err(err)?;
    Ok(deleted)
}

/// Read-only access to a log another process (the server) may be writing: for operators'
/// `audit tail` and `audit search`.
pub struct AuditReader {
    pool: SqlitePool,
}

impl AuditReader {
    pub async fn open(dir: &Path) -> Result<Self, AuditError> {
        let path = dir.join(DB_FILE);
        if !path.exists() {
            return Err(AuditError::Read(format!(
                "{} does not exist",
                path.display()
            )));
        }
        let pool = SqlitePoolOptions::new()
            .max_connections(1)
            .connect_with(options(Some(dir))?.read_only(true))
            .await
            .map_err(read_err)?;
        Ok(Self { pool })
    }

    pub async fn lookup(&self, q: &Lookup) -> Result<Vec<Found>, AuditError> {
        lookup(&self.pool, q).await
    }

    /// Records stored after position `after`, oldest first (for following the log).
    pub async fn after(&self, after: i64, limit: usize) -> Result<Vec<Found>, AuditError> {
        let mut found = lookup(
            &self.pool,
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

async fn lookup(pool: &SqlitePool, q: &Lookup) -> Result<Vec<Found>, AuditError> {
    let mut sql = String::from(
        "SELECT pos, seq, time_ms, event_id, event_name, event_source, username, access_key_id, read_only, resource_type, resource_name, record FROM events WHERE 1=1",
    );
    enum Bind {
        S(String),
        I(i64),
    }
    let mut binds = Vec::new();
    if let Some(a) = &q.attribute {
        let (clause, bind) = match a {
            Attribute::EventId(v) => (" AND event_id = ?", Bind::S(v.clone())),
            Attribute::EventName(v) => (" AND event_name = ?", Bind::S(v.clone())),
            Attribute::ReadOnly(v) => (" AND read_only = ?", Bind::I(*v as i64)),
            Attribute::Username(v) => (" AND username = ?", Bind::S(v.clone())),
            Attribute::ResourceType(v) => (" AND resource_type = ?", Bind::S(v.clone())),
            // By ARN or by the friendly name, as people type either.
            Attribute::ResourceName(v) => {
                binds.push(Bind::S(v.clone()));
                (
                    " AND (resource_name = ? OR resource_short = ?)",
                    Bind::S(v.clone()),
                )
            }
            Attribute::EventSource(v) => (" AND event_source = ?", Bind::S(v.clone())),
            Attribute::AccessKeyId(v) => (" AND access_key_id = ?", Bind::S(v.clone())),
        };
        sql.push_str(clause);
        binds.push(bind);
    }
    if let Some(s) = q.start_ms {
        sql.push_str(" AND time_ms >= ?");
        binds.push(Bind::I(s));
    }
    if let Some(e) = q.end_ms {
        sql.push_str(" AND time_ms <= ?");
        binds.push(Bind::I(e));
    }
    if let Some(p) = q.before_pos {
        sql.push_str(" AND pos < ?");
        binds.push(Bind::I(p));
    }
    if let Some(p) = q.after_pos {
        sql.push_str(" AND pos > ?");
        binds.push(Bind::I(p));
    }
    sql.push_str(if q.ascending {
        " ORDER BY pos ASC LIMIT ?"
    } else {
        " ORDER BY pos DESC LIMIT ?"
    });
    binds.push(Bind::I(q.limit.max(1) as i64));
    // Only fixed clauses are concatenated; every value is bound.
    let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
    for b in binds {
        query = match b {
            Bind::S(s) => query.bind(s),
            Bind::I(i) => query.bind(i),
        };
    }
    let rows = query.fetch_all(pool).await.map_err(read_err)?;
    Ok(rows
        .into_iter()
        .map(|r| Found {
            pos: r.get(0),
            seq: r.get(1),
            time_ms: r.get(2),
            event_id: r.get(3),
            event_name: r.get(4),
            event_source: r.get(5),
            username: r.get(6),
            access_key_id: r.get(7),
            read_only: r.get(8),
            resource_type: r.get(9),
            resource_name: r.get(10),
            record: r.get(11),
        })
        .collect())
}

/// The outcome of `audit verify`.
#[derive(Debug)]
pub struct VerifyReport {
    pub records: u64,
    pub digests: u64,
    pub findings: Vec<Finding>,
}

/// Check the whole chain in `dir`'s audit database (opened read-only), or the records with
/// seq in `range`.
pub async fn verify(
    dir: &Path,
    range: Option<(i64, i64)>,
    public_key: Option<&[u8]>,
) -> Result<VerifyReport, AuditError> {
    let path = dir.join(DB_FILE);
    if !path.exists() {
        return Err(AuditError::Read(format!(
            "{} does not exist",
            path.display()
        )));
    }
    let pool = SqlitePoolOptions::new()
        .max_connections(1)
        .connect_with(options(Some(dir))?.read_only(true))
        .await
        .map_err(read_err)?;
    let (anchor_seq, anchor_prev) = anchor(&pool).await?;
    let mut findings = Vec::new();
    let mut digests = Vec::new();
    let digest_rows =
        sqlx::query("SELECT seq, hash, time_ms, public_key, signature FROM digests ORDER BY seq")
            .fetch_all(&pool)
            .await
            .map_err(read_err)?;
    let mut latest = None;
    for r in &digest_rows {
        let seq: i64 = r.get(0);
        let hash: Vec<u8> = r.get(1);
        let time_ms: i64 = r.get(2);
        let stored_key: Vec<u8> = r.get(3);
        let sig: Vec<u8> = r.get(4);
        let Ok(hash) = <Hash>::try_from(hash.as_slice()) else {
            findings.push(Finding::BadDigestSignature { digest_seq: seq });
            continue;
        };
        // The operator's copy of the public key is the authority; the stored one is a hint.
        let key = public_key.unwrap_or(&stored_key);
        if !verify_signature(key, seq, &hash, time_ms, &sig) {
            findings.push(Finding::BadDigestSignature { digest_seq: seq });
            continue;
        }
        if seq < anchor_seq {
            continue;
        }
        if range.is_none_or(|(a, b)| seq >= a && seq <= b) {
            digests.push((seq, hash));
            latest = Some(seq);
        }
    }
    let (start_seq, start_prev, latest) = match range {
        None => (anchor_seq, anchor_prev, latest),
        Some((from, _)) => {
            // A range starts from whatever its first record claims to follow.
            let prev: Option<Vec<u8>> = sqlx::query_scalar("SELECT prev FROM events WHERE seq = ?")
                .bind(from)
                .fetch_optional(&pool)
                .await
                .map_err(read_err)?;
            (
                from,
                prev.and_then(|p| p.try_into().ok()).unwrap_or(GENESIS),
                latest,
            )
        }
    };
    let mut verifier = Verifier::new(start_seq, start_prev, &digests);
    let mut after = i64::MIN;
    let (lo, hi) = range.unwrap_or((i64::MIN, i64::MAX));
    loop {
        let rows = sqlx::query(
            "SELECT pos, seq, prev, hash, record FROM events WHERE pos > ? ORDER BY pos LIMIT 5000",
        )
        .bind(after)
        .fetch_all(&pool)
        .await
        .map_err(read_err)?;
        if rows.is_empty() {
            break;
        }
        for r in rows {
            let row = Row {
                pos: r.get(0),
                seq: r.get(1),
                prev: r.get(2),
                hash: r.get(3),
                record: r.get(4),
            };
            after = row.pos;
            if row.seq >= lo && row.seq <= hi {
                verifier.feed(&row);
            }
        }
    }
    let (records, mut rest) = verifier.finish(latest);
    findings.append(&mut rest);
    pool.close().await;
    Ok(VerifyReport {
        records,
        digests: digest_rows.len() as u64,
        findings,
    })
}
