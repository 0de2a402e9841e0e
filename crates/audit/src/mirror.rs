//! The cluster's audit history in PostgreSQL, for several Strongroom nodes on one database.
//!
//! **One chain per node, all of them in one table.** Each node keeps writing its own hash chain
//! as a single node does (segments in its data dir, group commit, `fdatasync`), and every batch
//! is also inserted into `audit_events` — in the same commit path, *before* any request of the
//! batch is answered. So:
//! - a record acknowledged anywhere is in the shared table: LookupEvents on any node finds it
//!   at once (read-your-writes across nodes), and a node that dies loses no history;
//! - no cross-node lock is taken per record (a single total-order chain would serialize every
//!   node's commits on one row); order across nodes is the table's insertion order (`pos`);
//! - fail-closed holds: if the insert fails, the batch's requests are refused; its rows stay
//!   pending and go first with the next batch, so each node's chain in the table has no gaps;
//! - `strongroom audit verify` checks every node's chain in the table and its signed digests
//!   ([`verify_cluster`]); each node's digest key is registered in `audit_nodes` when it first
//!   joins, and a node presenting another key under the same id is refused.
//!
//! A node's local segments stay its own evidence (and what it replays into the table when it
//! restarts after a crash between its local commit and the insert).

use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::{ConnectOptions as _, Row as _};

use crate::chain::{self, Finding, Hash, Verifier};
use crate::digest::verify_signature;
use crate::log::{Attribute, AuditError, Found, Lookup, VerifyReport};

/// Which node this is and where the cluster's database is.
#[derive(Clone)]
pub struct MirrorConfig {
    /// The cluster's database (the nodes' `--store`); the tables go in schema
    /// [`SCHEMA_NAME`].
    pub options: PgConnectOptions,
    /// This node's stable id (kept in its data dir).
    pub node: String,
}

/// Not derived: the connect options may hold a password.
impl std::fmt::Debug for MirrorConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MirrorConfig")
            .field("node", &self.node)
            .finish_non_exhaustive()
    }
}

/// The schema of the audit tables, beside the stores' (`strongroom`, `strongroom_<region>`).
pub const SCHEMA_NAME: &str = "strongroom_audit";

const SCHEMA: &[&str] = &[
    "CREATE TABLE IF NOT EXISTS audit_nodes (
        node TEXT PRIMARY KEY,
        public_key BYTEA NOT NULL,
        joined_ms BIGINT NOT NULL,
        anchor_seq BIGINT NOT NULL DEFAULT 1,
        anchor_prev BYTEA NOT NULL DEFAULT '\\x0000000000000000000000000000000000000000000000000000000000000000'
    )",
    "CREATE TABLE IF NOT EXISTS audit_events (
        pos BIGSERIAL UNIQUE,
        node TEXT NOT NULL,
        seq BIGINT NOT NULL,
        prev BYTEA NOT NULL,
        hash BYTEA NOT NULL,
        time_ms BIGINT NOT NULL,
        event_id TEXT NOT NULL,
        event_name TEXT NOT NULL,
        event_source TEXT NOT NULL,
        username TEXT,
        access_key_id TEXT,
        read_only BOOLEAN NOT NULL,
        resource_type TEXT,
        resource_name TEXT,
        resource_short TEXT,
        region TEXT NOT NULL,
        record TEXT NOT NULL,
        PRIMARY KEY (node, seq)
    )",
    "CREATE INDEX IF NOT EXISTS audit_events_name ON audit_events (event_name, pos)",
    "CREATE INDEX IF NOT EXISTS audit_events_user ON audit_events (username, pos)",
    "CREATE INDEX IF NOT EXISTS audit_events_resource ON audit_events (resource_name, pos)",
    "CREATE INDEX IF NOT EXISTS audit_events_short ON audit_events (resource_short, pos)",
    "CREATE INDEX IF NOT EXISTS audit_events_key ON audit_events (access_key_id, pos)",
    "CREATE INDEX IF NOT EXISTS audit_events_time ON audit_events (time_ms)",
    "CREATE TABLE IF NOT EXISTS audit_digests (
        node TEXT NOT NULL,
        seq BIGINT NOT NULL,
        hash BYTEA NOT NULL,
        time_ms BIGINT NOT NULL,
        signature BYTEA NOT NULL,
        PRIMARY KEY (node, seq)
    )",
];

/// One chain record as the table keeps it.
#[derive(Debug, Clone)]
pub(crate) struct MirrorRow {
    pub seq: i64,
    pub prev: Hash,
    pub hash: Hash,
    pub time_ms: i64,
    pub event_id: String,
    pub event_name: String,
    pub event_source: String,
    pub username: Option<String>,
    pub access_key_id: Option<String>,
    pub read_only: bool,
    pub resource_type: Option<String>,
    pub resource_name: Option<String>,
    pub resource_short: Option<String>,
    pub region: String,
    pub record: String,
}

/// The writer's side: inserts each batch (and what an earlier failure left pending).
pub(crate) struct Mirror {
    pool: PgPool,
    node: String,
    rt: tokio::runtime::Handle,
    pending: Vec<MirrorRow>,
    pending_digests: Vec<(i64, Hash, i64, Vec<u8>)>,
}

/// How long a batch waits for a connection (sqlx retries a refused one until then).
const ACQUIRE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(3);

pub(crate) async fn connect(options: &PgConnectOptions) -> Result<PgPool, String> {
    let options = options
        .clone()
        .options([("search_path", SCHEMA_NAME)])
        // Bounded as the stores' connections: while the database is down, a batch (and the
        // requests waiting on it) fails in seconds and the log refuses requests until a probe
        // finds it writable again, rather than every request hanging.
        .options([("statement_timeout", "10s")])
        .log_statements(tracing::log::LevelFilter::Trace);
    PgPoolOptions::new()
        .max_connections(4)
        .acquire_timeout(ACQUIRE_TIMEOUT)
        .connect_with(options)
        .await
        .map_err(|e| format!("cannot connect to the audit database: {e}"))
}

impl Mirror {
    /// Join the cluster's audit history as `node` with digest key `public_key`; returns the
    /// mirror and the last seq of this node the table holds (the caller replays what its
    /// local log has beyond that).
    pub(crate) async fn open(
        config: &MirrorConfig,
        public_key: &[u8],
        now_ms: i64,
    ) -> Result<(Self, i64), String> {
        let pool = connect(&config.options).await?;
        let err = |e: sqlx::Error| format!("the audit database: {e}");
        let mut tx = pool.begin().await.map_err(err)?;
        // One node at a time creates the tables.
        sqlx::query("SELECT pg_advisory_xact_lock(7305011963552141312)")
            .execute(&mut *tx)
            .await
            .map_err(err)?;
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "CREATE SCHEMA IF NOT EXISTS {SCHEMA_NAME}"
        )))
        .execute(&mut *tx)
        .await
        .map_err(err)?;
        for stmt in SCHEMA {
            sqlx::query(sqlx::AssertSqlSafe(*stmt))
                .execute(&mut *tx)
                .await
                .map_err(err)?;
        }
        sqlx::query(
            "INSERT INTO audit_nodes (node, public_key, joined_ms) VALUES ($1, $2, $3) ON CONFLICT (node) DO NOTHING",
        )
        .bind(&config.node)
        .bind(public_key)
        .bind(now_ms)
        .execute(&mut *tx)
        .await
        .map_err(err)?;
        let registered: Vec<u8> =
            sqlx::query_scalar("SELECT public_key FROM audit_nodes WHERE node = $1")
                .bind(&config.node)
                .fetch_one(&mut *tx)
                .await
                .map_err(err)?;
        if registered != public_key {
            return Err(format!(
                "node {} is registered in the cluster's audit history with another digest key: is this data dir a copy of another node's?",
                config.node
            ));
        }
        let mirrored: Option<i64> =
            sqlx::query_scalar("SELECT MAX(seq) FROM audit_events WHERE node = $1")
                .bind(&config.node)
                .fetch_one(&mut *tx)
                .await
                .map_err(err)?;
        tx.commit().await.map_err(err)?;
        Ok((
            Self {
                pool,
                node: config.node.clone(),
                rt: tokio::runtime::Handle::current(),
                pending: Vec::new(),
                pending_digests: Vec::new(),
            },
            mirrored.unwrap_or(0),
        ))
    }

    pub(crate) fn pool(&self) -> PgPool {
        self.pool.clone()
    }

    /// Insert `rows` (after anything pending) in one transaction. Blocking: called from the
    /// writer thread. On failure everything stays pending for the next call.
    pub(crate) fn push(&mut self, rows: Vec<MirrorRow>) -> Result<(), String> {
        self.pending.extend(rows);
        self.flush()
    }

    pub(crate) fn push_digest(
        &mut self,
        seq: i64,
        hash: Hash,
        time_ms: i64,
        signature: Vec<u8>,
    ) -> Result<(), String> {
        self.pending_digests.push((seq, hash, time_ms, signature));
        self.flush()
    }

    pub(crate) fn is_behind(&self) -> bool {
        !self.pending.is_empty() || !self.pending_digests.is_empty()
    }

    /// Send what is pending.
    pub(crate) fn flush(&mut self) -> Result<(), String> {
        if !self.is_behind() {
            return Ok(());
        }
        let (pool, node) = (self.pool.clone(), self.node.clone());
        let (rows, digests) = (&self.pending, &self.pending_digests);
        let result = self
            .rt
            .block_on(async { insert(&pool, &node, rows, digests).await });
        match result {
            Ok(()) => {
                self.pending.clear();
                self.pending_digests.clear();
                Ok(())
            }
            Err(e) => Err(format!(
                "the cluster's audit history could not be written: {e}"
            )),
        }
    }

    /// Retention: this node's records below `first_kept` leave the table; the anchor moves.
    pub(crate) fn prune_below(&mut self, first_kept: i64) -> Result<(), String> {
        self.flush()?;
        let (pool, node) = (self.pool.clone(), self.node.clone());
        self.rt
            .block_on(async {
                let mut tx = pool.begin().await?;
                // The anchor first: the chain stays verifiable from the first record kept.
                sqlx::query(
                    "UPDATE audit_nodes SET anchor_seq = $2, anchor_prev = COALESCE((SELECT prev FROM audit_events WHERE node = $1 AND seq = $2), anchor_prev) WHERE node = $1",
                )
                .bind(&node)
                .bind(first_kept)
                .execute(&mut *tx)
                .await?;
                sqlx::query("DELETE FROM audit_events WHERE node = $1 AND seq < $2")
                    .bind(&node)
                    .bind(first_kept)
                    .execute(&mut *tx)
                    .await?;
                tx.commit().await
            })
            .map_err(|e| e.to_string())
    }

    /// At open: replay what the local log has beyond the table (a crash between the local
    /// commit and the insert).
    pub(crate) async fn replay(&self, rows: &[MirrorRow]) -> Result<(), String> {
        insert(&self.pool, &self.node, rows, &[])
            .await
            .map_err(|e| format!("the cluster's audit history could not be written: {e}"))
    }

    /// Signed digests from the local log (`strongroom migrate`); ones the table has are kept.
    pub(crate) async fn replay_digests(
        &self,
        digests: &[(i64, Hash, i64, Vec<u8>)],
    ) -> Result<(), String> {
        insert(&self.pool, &self.node, &[], digests)
            .await
            .map_err(|e| format!("the cluster's audit history could not be written: {e}"))
    }

    /// Where this node's chain starts in the table, when the local log was pruned before the
    /// node's records first went in (else verification would expect records from 1).
    pub(crate) async fn set_anchor(&self, seq: i64, prev: &Hash) -> Result<(), String> {
        sqlx::query("UPDATE audit_nodes SET anchor_seq = $2, anchor_prev = $3 WHERE node = $1")
            .bind(&self.node)
            .bind(seq)
            .bind(prev.as_slice())
            .execute(&self.pool)
            .await
            .map(|_| ())
            .map_err(|e| format!("the cluster's audit history could not be written: {e}"))
    }
}

async fn insert(
    pool: &PgPool,
    node: &str,
    rows: &[MirrorRow],
    digests: &[(i64, Hash, i64, Vec<u8>)],
) -> Result<(), sqlx::Error> {
    let mut tx = pool.begin().await?;
    // One statement of fixed text whatever the batch size (one array per column), prepared
    // once per connection, instead of a VALUES list whose text changed with every batch size.
    if !rows.is_empty() {
        let col = |f: &dyn Fn(&MirrorRow) -> String| rows.iter().map(f).collect::<Vec<_>>();
        let opt = |f: &dyn Fn(&MirrorRow) -> Option<String>| rows.iter().map(f).collect::<Vec<_>>();
        sqlx::query(
            "INSERT INTO audit_events (node, seq, prev, hash, time_ms, event_id, event_name, event_source, username, access_key_id, read_only, resource_type, resource_name, resource_short, region, record)
             SELECT $1, * FROM UNNEST($2::bigint[], $3::bytea[], $4::bytea[], $5::bigint[], $6::text[], $7::text[], $8::text[], $9::text[], $10::text[], $11::boolean[], $12::text[], $13::text[], $14::text[], $15::text[], $16::text[])
             ON CONFLICT (node, seq) DO NOTHING",
        )
        .bind(node)
        .bind(rows.iter().map(|r| r.seq).collect::<Vec<_>>())
        .bind(rows.iter().map(|r| r.prev.to_vec()).collect::<Vec<_>>())
        .bind(rows.iter().map(|r| r.hash.to_vec()).collect::<Vec<_>>())
        .bind(rows.iter().map(|r| r.time_ms).collect::<Vec<_>>())
        .bind(col(&|r| r.event_id.clone()))
        .bind(col(&|r| r.event_name.clone()))
        .bind(col(&|r| r.event_source.clone()))
        .bind(opt(&|r| r.username.clone()))
        .bind(opt(&|r| r.access_key_id.clone()))
        .bind(rows.iter().map(|r| r.read_only).collect::<Vec<_>>())
        .bind(opt(&|r| r.resource_type.clone()))
        .bind(opt(&|r| r.resource_name.clone()))
        .bind(opt(&|r| r.resource_short.clone()))
        .bind(col(&|r| r.region.clone()))
        .bind(col(&|r| r.record.clone()))
        .execute(&mut *tx)
        .await?;
    }
    for (seq, hash, time_ms, sig) in digests {
        sqlx::query(
            "INSERT INTO audit_digests (node, seq, hash, time_ms, signature) VALUES ($1, $2, $3, $4, $5) ON CONFLICT (node, seq) DO NOTHING",
        )
        .bind(node)
        .bind(seq)
        .bind(hash.as_slice())
        .bind(time_ms)
        .bind(sig.as_slice())
        .execute(&mut *tx)
        .await?;
    }
    tx.commit().await
}

/// LookupEvents over every node's records, newest first by insertion order (`pos`).
pub(crate) async fn lookup(pool: &PgPool, q: &Lookup) -> Result<Vec<Found>, AuditError> {
    let read = |e: sqlx::Error| AuditError::Read(e.to_string());
    let mut sql = String::from(
        "SELECT pos, seq, time_ms, event_id, event_name, event_source, username, access_key_id, read_only, resource_type, resource_name, record FROM audit_events WHERE TRUE",
    );
    enum Bind {
        S(String),
        I(i64),
        B(bool),
    }
    let mut binds: Vec<Bind> = Vec::new();
    let clause = |sql: &mut String, text: &str, b: Bind, binds: &mut Vec<Bind>| {
        binds.push(b);
        sql.push_str(&text.replace('?', &format!("${}", binds.len())));
    };
    if let Some(a) = &q.attribute {
        match a {
            Attribute::EventId(v) => clause(
                &mut sql,
                " AND event_id = ?",
                Bind::S(v.clone()),
                &mut binds,
            ),
            Attribute::EventName(v) => clause(
                &mut sql,
                " AND event_name = ?",
                Bind::S(v.clone()),
                &mut binds,
            ),
            Attribute::ReadOnly(v) => {
                clause(&mut sql, " AND read_only = ?", Bind::B(*v), &mut binds)
            }
            Attribute::Username(v) => clause(
                &mut sql,
                " AND username = ?",
                Bind::S(v.clone()),
                &mut binds,
            ),
            Attribute::ResourceType(v) => clause(
                &mut sql,
                " AND resource_type = ?",
                Bind::S(v.clone()),
                &mut binds,
            ),
            // By ARN or by the friendly name, as people type either.
            Attribute::ResourceName(v) => {
                clause(
                    &mut sql,
                    " AND (resource_name = ?",
                    Bind::S(v.clone()),
                    &mut binds,
                );
                clause(
                    &mut sql,
                    " OR resource_short = ?)",
                    Bind::S(v.clone()),
                    &mut binds,
                );
            }
            Attribute::EventSource(v) => clause(
                &mut sql,
                " AND event_source = ?",
                Bind::S(v.clone()),
                &mut binds,
            ),
            Attribute::AccessKeyId(v) => clause(
                &mut sql,
                " AND access_key_id = ?",
                Bind::S(v.clone()),
                &mut binds,
            ),
        }
    }
    if let Some(r) = &q.region {
        clause(&mut sql, " AND region = ?", Bind::S(r.clone()), &mut binds);
    }
    if let Some(s) = q.start_ms {
        clause(&mut sql, " AND time_ms >= ?", Bind::I(s), &mut binds);
    }
    if let Some(e) = q.end_ms {
        clause(&mut sql, " AND time_ms <= ?", Bind::I(e), &mut binds);
    }
    if let Some(p) = q.before_pos {
        clause(&mut sql, " AND pos < ?", Bind::I(p), &mut binds);
    }
    if let Some(p) = q.after_pos {
        clause(&mut sql, " AND pos > ?", Bind::I(p), &mut binds);
    }
    let order = if q.ascending {
        " ORDER BY pos ASC LIMIT ?"
    } else {
        " ORDER BY pos DESC LIMIT ?"
    };
    clause(&mut sql, order, Bind::I(q.limit.max(1) as i64), &mut binds);
    // Only fixed clauses are concatenated; every value is bound.
    let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
    for b in binds {
        query = match b {
            Bind::S(s) => query.bind(s),
            Bind::I(i) => query.bind(i),
            Bind::B(b) => query.bind(b),
        };
    }
    let rows = query.fetch_all(pool).await.map_err(read)?;
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

/// One node's part of a cluster verification.
#[derive(Debug)]
pub struct NodeReport {
    pub node: String,
    pub report: VerifyReport,
}

/// `strongroom audit verify` for a cluster: every node's chain in the table, from its anchor,
/// against its signed digests (checked with the key it joined with).
pub async fn verify_cluster(options: &PgConnectOptions) -> Result<Vec<NodeReport>, AuditError> {
    let pool = connect(options).await.map_err(AuditError::Read)?;
    let read = |e: sqlx::Error| AuditError::Read(e.to_string());
    let nodes = sqlx::query("SELECT node, public_key, anchor_seq, anchor_prev FROM audit_nodes ORDER BY joined_ms, node")
        .fetch_all(&pool)
        .await
        .map_err(read)?;
    let mut out = Vec::new();
    for n in nodes {
        let node: String = n.get(0);
        let key: Vec<u8> = n.get(1);
        let anchor_seq: i64 = n.get(2);
        let anchor_prev: Vec<u8> = n.get(3);
        let anchor_prev: Hash = anchor_prev.try_into().unwrap_or(chain::GENESIS);
        let mut findings = Vec::new();
        let mut digests = Vec::new();
        let mut latest = None;
        let digest_rows = sqlx::query(
            "SELECT seq, hash, time_ms, signature FROM audit_digests WHERE node = $1 ORDER BY seq",
        )
        .bind(&node)
        .fetch_all(&pool)
        .await
        .map_err(read)?;
        for d in &digest_rows {
            let seq: i64 = d.get(0);
            let hash: Vec<u8> = d.get(1);
            let (time_ms, sig): (i64, Vec<u8>) = (d.get(2), d.get(3));
            let Ok(hash) = <Hash>::try_from(hash.as_slice()) else {
                findings.push(Finding::BadDigestSignature { digest_seq: seq });
                continue;
            };
            if !verify_signature(&key, seq, &hash, time_ms, &sig) {
                findings.push(Finding::BadDigestSignature { digest_seq: seq });
                continue;
            }
            if seq >= anchor_seq {
                digests.push((seq, hash));
                latest = latest.max(Some(seq));
            }
        }
        let mut verifier = Verifier::new(anchor_seq, anchor_prev, &digests);
        // In stored order, so a moved record is told from an edited one; a page at a time.
        let mut after = 0i64;
        loop {
            let page = sqlx::query(
                "SELECT pos, seq, prev, hash, record FROM audit_events WHERE node = $1 AND pos > $2 ORDER BY pos LIMIT 10000",
            )
            .bind(&node)
            .bind(after)
            .fetch_all(&pool)
            .await
            .map_err(read)?;
            let Some(last) = page.last() else {
                break;
            };
            after = last.get(0);
            for r in &page {
                verifier.feed(&chain::Row {
                    pos: r.get(0),
                    seq: r.get(1),
                    prev: r.get(2),
                    hash: r.get(3),
                    record: r.get(4),
                });
            }
        }
        let (records, mut rest) = verifier.finish(latest);
        findings.append(&mut rest);
        out.push(NodeReport {
            node,
            report: VerifyReport {
                records,
                digests: digest_rows.len() as u64,
                findings,
            },
        });
    }
    pool.close().await;
    Ok(out)
}
