//! SQLite store: WAL, `synchronous=FULL` (an acknowledged write survives power loss), one
//! writer connection (SQLite serialises writers anyway; one connection avoids BUSY upgrades)
//! and a small pool of read-only connections.

use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use async_trait::async_trait;
use serde::Serialize;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteRow, SqliteSynchronous,
};
use sqlx::{Row, SqlitePool};
use strongroom_barrier::{Sealed, WrappedKeyMaterial};
use strongroom_domain::secret::{Millis, Secret, Version};

use strongroom_domain::kms::KeyMeta;
use strongroom_domain::parameters::Parameter;

use crate::rows::{
    Bind, Binds, CURRENT_VALUE_COLUMNS, SecretColumns, StoredVersion, VALUE_COLUMNS, backend,
    is_unique_violation, known_versions, meta_json, now_ms, one_row, parameter_from_columns,
    parameters_page_query, rotation_due, secret_from_columns, secrets_page_query,
    value_from_columns, version_changes, versions_from_json,
};
use crate::{
    AccessStamp, IamUser, ParameterCursor, ParameterWrite, SecretKey, SecretWrite, SecretsPage,
    SignInFailures, Store, StoreError, StoredAccessKey, StoredAlias, StoredGroup, StoredKmsKey,
    StoredKmsMaterial, StoredLoginProfile, StoredManagedPolicy, StoredRole, StoredUserPolicy,
    StoredValue, WithCurrent,
};

/// Ordered migrations; each runs once, in a transaction, recorded in `schema_migrations`.
const MIGRATIONS: &[(i64, &str)] = &[
    (
        1,
        r#"
    CREATE TABLE kms_keys (
        key_id TEXT PRIMARY KEY,
        arn TEXT NOT NULL,
        alias TEXT UNIQUE,
        description TEXT NOT NULL,
        wrapped_material BLOB NOT NULL,
        created_ms INTEGER NOT NULL
    );
    CREATE TABLE secrets (
        arn TEXT PRIMARY KEY,
        name TEXT NOT NULL UNIQUE,
        revision INTEGER NOT NULL,
        created_ms INTEGER NOT NULL,
        last_accessed_ms INTEGER,
        deletion_due_ms INTEGER,
        meta TEXT NOT NULL
    );
    CREATE INDEX secrets_deletion_due ON secrets(deletion_due_ms) WHERE deletion_due_ms IS NOT NULL;
    CREATE TABLE secret_versions (
        secret_arn TEXT NOT NULL REFERENCES secrets(arn) ON DELETE CASCADE,
        version_id TEXT NOT NULL,
        created_ms INTEGER NOT NULL,
        stages TEXT NOT NULL,
        last_accessed_ms INTEGER,
        has_value INTEGER NOT NULL,
        kms_key_id TEXT,
        kind TEXT,
        wrapped_key BLOB,
        ciphertext BLOB,
        PRIMARY KEY (secret_arn, version_id)
    );
    "#,
    ),
    (
        2,
        r#"
    CREATE TABLE iam_users (
        name TEXT PRIMARY KEY,
        id TEXT NOT NULL UNIQUE,
        arn TEXT NOT NULL,
        path TEXT NOT NULL,
        created_ms INTEGER NOT NULL
    );
    CREATE TABLE iam_access_keys (
        id TEXT PRIMARY KEY,
        user_name TEXT NOT NULL REFERENCES iam_users(name),
        status TEXT NOT NULL,
        kms_key_id TEXT NOT NULL,
        wrapped_key BLOB NOT NULL,
        ciphertext BLOB NOT NULL,
        created_ms INTEGER NOT NULL
    );
    CREATE TABLE iam_user_policies (
        user_name TEXT NOT NULL REFERENCES iam_users(name),
        policy_name TEXT NOT NULL,
        document TEXT NOT NULL,
        PRIMARY KEY (user_name, policy_name)
    );
    "#,
    ),
    (
        3,
        r#"
    CREATE TABLE iam_managed_policies (
        arn TEXT PRIMARY KEY,
        name TEXT NOT NULL UNIQUE,
        doc TEXT NOT NULL
    );
    CREATE TABLE iam_user_attachments (
        user_name TEXT NOT NULL REFERENCES iam_users(name),
        policy_arn TEXT NOT NULL REFERENCES iam_managed_policies(arn),
        PRIMARY KEY (user_name, policy_arn)
    );
    "#,
    ),
    (
        4,
        r#"
    CREATE TABLE iam_roles (
        name TEXT PRIMARY KEY,
        doc TEXT NOT NULL
    );
    CREATE TABLE iam_role_attachments (
        role_name TEXT NOT NULL REFERENCES iam_roles(name),
        policy_arn TEXT NOT NULL REFERENCES iam_managed_policies(arn),
        PRIMARY KEY (role_name, policy_arn)
    );
    "#,
    ),
    (
        5,
        r#"
    CREATE TABLE iam_groups (
        name TEXT PRIMARY KEY,
        doc TEXT NOT NULL
    );
    CREATE TABLE iam_group_members (
        group_name TEXT NOT NULL REFERENCES iam_groups(name),
        user_name TEXT NOT NULL REFERENCES iam_users(name),
        PRIMARY KEY (group_name, user_name)
    );
    CREATE TABLE iam_group_attachments (
        group_name TEXT NOT NULL REFERENCES iam_groups(name),
        policy_arn TEXT NOT NULL REFERENCES iam_managed_policies(arn),
        PRIMARY KEY (group_name, policy_arn)
    );
    "#,
    ),
    (
        6,
        r#"
    ALTER TABLE iam_users ADD COLUMN permissions_boundary TEXT;
    "#,
    ),
    (
        7,
        r#"
    ALTER TABLE kms_keys ADD COLUMN meta TEXT;
    CREATE TABLE kms_key_materials (
        key_id TEXT NOT NULL REFERENCES kms_keys(key_id) ON DELETE CASCADE,
        version INTEGER NOT NULL,
        wrapped_material BLOB NOT NULL,
        created_ms INTEGER NOT NULL,
        PRIMARY KEY (key_id, version)
    );
    CREATE TABLE kms_aliases (
        name TEXT PRIMARY KEY,
        key_id TEXT NOT NULL REFERENCES kms_keys(key_id) ON DELETE CASCADE,
        created_ms INTEGER NOT NULL,
        updated_ms INTEGER NOT NULL
    );
    INSERT INTO kms_aliases (name, key_id, created_ms, updated_ms)
        SELECT 'alias/' || alias, key_id, created_ms, created_ms FROM kms_keys WHERE alias IS NOT NULL;
    CREATE TABLE ssm_parameters (
        name TEXT PRIMARY KEY,
        revision INTEGER NOT NULL,
        meta TEXT NOT NULL
    );
    CREATE TABLE ssm_parameter_values (
        name TEXT NOT NULL REFERENCES ssm_parameters(name) ON DELETE CASCADE,
        version INTEGER NOT NULL,
        kms_key_id TEXT NOT NULL,
        wrapped_key BLOB NOT NULL,
        ciphertext BLOB NOT NULL,
        PRIMARY KEY (name, version)
    );
    "#,
    ),
    (
        8,
        r#"
    ALTER TABLE secrets ADD COLUMN rotation_due_ms INTEGER;
    UPDATE secrets SET rotation_due_ms = json_extract(meta, '$.rotation.next_rotation_ms')
        WHERE json_extract(meta, '$.rotation.enabled') = 1 AND deletion_due_ms IS NULL;
    CREATE INDEX secrets_rotation_due ON secrets(rotation_due_ms) WHERE rotation_due_ms IS NOT NULL;
    "#,
    ),
    (
        9,
        r#"
    CREATE TABLE cw_alarms (
        name TEXT PRIMARY KEY,
        doc TEXT NOT NULL
    );
    "#,
    ),
    (
        10,
        // Console passwords: Argon2id PHC strings only, never a password.
        r#"
    CREATE TABLE iam_login_profiles (
        user_name TEXT PRIMARY KEY REFERENCES iam_users(name),
        password_hash TEXT NOT NULL,
        created_ms INTEGER NOT NULL,
        password_set_ms INTEGER NOT NULL,
        reset_required INTEGER NOT NULL,
        previous_hashes TEXT NOT NULL
    );
    CREATE TABLE iam_password_policy (
        id INTEGER PRIMARY KEY CHECK (id = 1),
        doc TEXT NOT NULL
    );
    -- No foreign key: failures for unknown users are counted under '' (the same write either way).
    CREATE TABLE iam_sign_in_failures (
        user_name TEXT PRIMARY KEY,
        failures INTEGER NOT NULL,
        locked_until_ms INTEGER
    );
    "#,
    ),
    (
        11,
        // Listings from indexes (issue 13): one index per ListSecrets sort, keyset-paged, and
        // indexed flags for the background sweeps. The sort and flag columns are generated
        // from the metadata document, so writes stay as they are. PostgreSQL's migration 4
        // makes the same columns and indexes.
        r#"
    ALTER TABLE secrets ADD COLUMN last_changed_ms INTEGER
        GENERATED ALWAYS AS (json_extract(meta, '$.last_changed_ms')) VIRTUAL;
    ALTER TABLE secrets ADD COLUMN accessed_key INTEGER
        GENERATED ALWAYS AS (coalesce(last_accessed_ms, -1)) VIRTUAL;
    ALTER TABLE secrets ADD COLUMN replicated INTEGER
        GENERATED ALWAYS AS (coalesce(json_array_length(meta, '$.replication.replicas'), 0) > 0) VIRTUAL;
    CREATE INDEX secrets_by_created ON secrets(created_ms, name, arn);
    CREATE INDEX secrets_by_accessed ON secrets(accessed_key, name, arn);
    CREATE INDEX secrets_by_changed ON secrets(last_changed_ms, name, arn);
    CREATE INDEX secrets_replicated ON secrets(arn) WHERE replicated;
    ALTER TABLE ssm_parameters ADD COLUMN list_name TEXT
        GENERATED ALWAYS AS (CASE WHEN substr(name, 1, 1) = '/' AND length(name) > 1
            AND instr(substr(name, 2), '/') = 0 THEN substr(name, 2) ELSE name END) VIRTUAL;
    ALTER TABLE ssm_parameters ADD COLUMN has_policies INTEGER
        GENERATED ALWAYS AS (coalesce(json_array_length(meta, '$.versions[#-1].policies'), 0) > 0) VIRTUAL;
    CREATE INDEX ssm_parameters_listed ON ssm_parameters(list_name, name);
    CREATE INDEX ssm_parameters_with_policies ON ssm_parameters(name) WHERE has_policies;
    "#,
    ),
    (
        12,
        // The console's sorts by description and by next rotation (issue 12), keyset-paged
        // like ListSecrets' (PostgreSQL's migration 5 makes the same columns and indexes).
        // The description's first 200 characters (`filters::DESCRIPTION_SORT_CHARS`); the
        // NextRotationDate as DescribeSecret answers it, one column per order so secrets
        // without rotation come last in both (`NO_ROTATION_ASC`, `NO_ROTATION_DESC`).
        r#"
    ALTER TABLE secrets ADD COLUMN description_key TEXT
        GENERATED ALWAYS AS (substr(coalesce(json_extract(meta, '$.description'), ''), 1, 200)) VIRTUAL;
    ALTER TABLE secrets ADD COLUMN rotation_key_asc INTEGER
        GENERATED ALWAYS AS (coalesce(CASE WHEN json_extract(meta, '$.rotation.enabled') = 1
            AND json_extract(meta, '$.rotation.next_rotation_ms') IS NOT NULL
            THEN coalesce(json_extract(meta, '$.rotation.next_rotation_date_ms'),
                json_extract(meta, '$.rotation.next_rotation_ms')) END, 9223372036854775807)) VIRTUAL;
    ALTER TABLE secrets ADD COLUMN rotation_key_desc INTEGER
        GENERATED ALWAYS AS (coalesce(CASE WHEN json_extract(meta, '$.rotation.enabled') = 1
            AND json_extract(meta, '$.rotation.next_rotation_ms') IS NOT NULL
            THEN coalesce(json_extract(meta, '$.rotation.next_rotation_date_ms'),
                json_extract(meta, '$.rotation.next_rotation_ms')) END, -1)) VIRTUAL;
    CREATE INDEX secrets_by_description ON secrets(description_key, name, arn);
    CREATE INDEX secrets_by_rotation_asc ON secrets(rotation_key_asc, name, arn);
    CREATE INDEX secrets_by_rotation_desc ON secrets(rotation_key_desc, name, arn);
    "#,
    ),
];

pub struct SqliteStore {
    writer: SqlitePool,
    reader: SqlitePool,
    /// Secret writes on their way to the group committer ([`commit_secret_writes`]).
    secret_writes: tokio::sync::mpsc::UnboundedSender<PendingWrite>,
    /// Secret reads on their way to the batched reader ([`read_secrets`]).
    secret_reads: tokio::sync::mpsc::UnboundedSender<PendingRead>,
}

/// One secret with its versions and its AWSCURRENT value in a single statement: one trip to
/// the reader's thread instead of three (the hop costs more than the read at a million
/// secrets), all from one snapshot. The versions come as a JSON array of
/// `[version_id, created_ms, stages, last_accessed_ms, has_value, kms_key_id]`; the value as
/// the `current_` columns (NULL without an AWSCURRENT value).
macro_rules! select_secret_with_versions {
    ($where:literal) => {
        concat!(
            "SELECT secrets.arn, secrets.name, secrets.revision, secrets.created_ms,
               secrets.last_accessed_ms, secrets.deletion_due_ms, secrets.meta,
               (SELECT json_group_array(json_array(v.version_id, v.created_ms, json(v.stages),
                                                   v.last_accessed_ms, v.has_value, v.kms_key_id))
                FROM secret_versions v WHERE v.secret_arn = secrets.arn) AS versions,
               c.version_id AS current_id, c.kms_key_id AS current_kms_key_id,
               c.kind AS current_kind, c.wrapped_key AS current_wrapped_key,
               c.ciphertext AS current_ciphertext
             FROM secrets LEFT JOIN secret_versions c ON c.secret_arn = secrets.arn
               AND c.has_value = 1
               AND EXISTS (SELECT 1 FROM json_each(c.stages) WHERE value = 'AWSCURRENT')",
            $where
        )
    };
}

/// A secret read waiting for its batch, by ARN (`by_arn`) or name.
struct PendingRead {
    key: String,
    by_arn: bool,
    done: tokio::sync::oneshot::Sender<Result<Option<WithCurrent>, StoreError>>,
}

/// Read-only connections of a file store.
const READERS: u32 = 4;

/// At most this many secret reads share one statement.
const MAX_READ_BATCH: usize = 64;

/// Batched secret reads, the reads' group commit: every read queued while the batches in
/// flight are being answered goes in the next one, a single statement. sqlx runs each SQLite
/// connection on a thread of its own, and a statement's trip there and back (a futex wake
/// and a context switch each way) cost more than the read itself; a cache miss made that
/// trip for every request (docs/performance.md, issue 13). A read that finds a batch slot
/// free goes at once. One batch in flight per core the server may use (its affinity or
/// quota), at most one per reader connection: on one core a second batch would only take
/// turns with the first; on many, reads still run side by side.
async fn read_secrets(
    reader: SqlitePool,
    mut queue: tokio::sync::mpsc::UnboundedReceiver<PendingRead>,
) {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let slots = std::sync::Arc::new(tokio::sync::Semaphore::new(cores.min(READERS as usize)));
    while let Some(first) = queue.recv().await {
        // Reads go on queuing while every slot is busy: they join this batch.
        let Ok(slot) = slots.clone().acquire_owned().await else {
            return;
        };
        let mut batch = vec![first];
        while batch.len() < MAX_READ_BATCH {
            match queue.try_recv() {
                Ok(p) => batch.push(p),
                Err(_) => break,
            }
        }
        let reader = reader.clone();
        tokio::spawn(async move {
            answer_reads(&reader, batch).await;
            drop(slot);
        });
    }
}

/// Read one batch and tell each waiter what it asked for.
async fn answer_reads(reader: &SqlitePool, mut batch: Vec<PendingRead>) {
    match read_batch(reader, &batch).await {
        Ok(found) => {
            // Each waiter's secret: moved to the last one that asked for it, cloned for
            // the others (a batch holds at most 64: a scan beats hashing here).
            let wanted: Vec<Option<usize>> = batch
                .iter()
                .map(|p| {
                    found.iter().position(|(s, _)| {
                        p.key
                            == if p.by_arn {
                                s.arn.as_str()
                            } else {
                                s.name.as_str()
                            }
                    })
                })
                .collect();
            let mut found: Vec<Option<WithCurrent>> = found.into_iter().map(Some).collect();
            for (n, p) in batch.drain(..).enumerate() {
                let mine = wanted[n].and_then(|i| {
                    if wanted[n + 1..].contains(&Some(i)) {
                        found[i].clone()
                    } else {
                        found[i].take()
                    }
                });
                let _ = p.done.send(Ok(mine));
            }
        }
        Err(e) => {
            for p in batch.drain(..) {
                let _ = p.done.send(Err(StoreError::Backend(e.clone())));
            }
        }
    }
}

/// The secrets a batch asks for (by name or by ARN), from one statement (one snapshot).
async fn read_batch(
    reader: &SqlitePool,
    batch: &[PendingRead],
) -> Result<Vec<WithCurrent>, String> {
    let keys = |arn: bool| {
        let keys: Vec<&str> = batch
            .iter()
            .filter(|p| p.by_arn == arn)
            .map(|p| p.key.as_str())
            .collect();
        serde_json::to_string(&keys).map_err(|e| e.to_string())
    };
    let rows = sqlx::query(concat!(
        select_secret_with_versions!(" WHERE secrets.name IN (SELECT value FROM json_each(?))"),
        " UNION ALL ",
        select_secret_with_versions!(" WHERE secrets.arn IN (SELECT value FROM json_each(?))"),
    ))
    .bind(keys(false)?)
    .bind(keys(true)?)
    .fetch_all(reader)
    .await
    .map_err(|e| e.to_string())?;
    rows.iter()
        .map(|row| with_current_from_row(row).map_err(|e| e.to_string()))
        .collect()
}

/// A secret write waiting for its group's commit, and who to tell how it went.
struct PendingWrite {
    write: SecretWrite,
    done: tokio::sync::oneshot::Sender<Result<(), StoreError>>,
}

/// At most this many writes share one transaction (one `fsync`).
const MAX_GROUP: usize = 256;

/// Group commit of secret writes: every write queued while the previous group was being
/// committed goes into the next transaction, each in its own savepoint (a write refused —
/// a revision conflict, a name taken — is rolled back alone and told why), and the group is
/// acknowledged after its one COMMIT, so one `fsync` serves many writers. Nothing is
/// acknowledged before its commit is durable (`synchronous=FULL`): the guarantee of one
/// transaction per write, at a fraction of the syncs. A task of its own, so a caller that
/// goes away (a client disconnecting) never aborts other callers' writes.
async fn commit_secret_writes(
    writer: SqlitePool,
    mut queue: tokio::sync::mpsc::UnboundedReceiver<PendingWrite>,
) {
    let mut group = Vec::new();
    while let Some(first) = queue.recv().await {
        group.push(first);
        while group.len() < MAX_GROUP {
            match queue.try_recv() {
                Ok(p) => group.push(p),
                Err(_) => break,
            }
        }
        let outcomes = commit_group(&writer, &group).await;
        for (p, outcome) in group.drain(..).zip(outcomes) {
            let _ = p.done.send(outcome);
        }
    }
}

/// One transaction for the group; each write's outcome, in order (all failed if the
/// transaction could not be committed).
async fn commit_group(writer: &SqlitePool, group: &[PendingWrite]) -> Vec<Result<(), StoreError>> {
    let committed = async {
        let mut tx = writer.begin().await?;
        let mut outcomes = Vec::with_capacity(group.len());
        for p in group {
            let mut savepoint = sqlx::Connection::begin(&mut *tx).await?;
            match apply_secret_write(&mut savepoint, &p.write).await {
                Ok(()) => {
                    savepoint.commit().await?;
                    outcomes.push(Ok(()));
                }
                Err(e) => {
                    savepoint.rollback().await?;
                    outcomes.push(Err(e));
                }
            }
        }
        tx.commit().await?;
        Ok::<_, sqlx::Error>(outcomes)
    }
    .await;
    committed.unwrap_or_else(|e| {
        let message = e.to_string();
        group
            .iter()
            .map(|_| Err(StoreError::Backend(message.clone())))
            .collect()
    })
}

/// One secret write inside the group's transaction (its savepoint): the secret's row (insert,
/// or update at the expected revision), resealed values, and its versions diffed against what
/// is stored.
async fn apply_secret_write(
    tx: &mut sqlx::SqliteConnection,
    write: &SecretWrite,
) -> Result<(), StoreError> {
    let s = &write.secret;
    let meta = meta_json(s)?;
    // The versions as the caller knows them, if it does (see the diff below).
    let known = known_versions(write)?;
    let checked = known.is_some();
    match write.expected_revision {
        None => {
            let res = sqlx::query(
                    "INSERT INTO secrets (arn, name, revision, created_ms, last_accessed_ms, deletion_due_ms, meta, rotation_due_ms)
                     VALUES (?, ?, ?, ?, NULL, ?, ?, ?)",
                )
                .bind(&s.arn)
                .bind(&s.name)
                .bind(s.revision)
                .bind(s.created_ms)
                .bind(s.deletion_due_ms)
                .bind(&meta)
                .bind(rotation_due(s))
                .execute(&mut *tx)
                .await;
            if let Err(e) = res {
                if e.as_database_error()
                    .is_some_and(|d| d.is_unique_violation())
                {
                    return Err(StoreError::NameTaken);
                }
                return Err(backend(e));
            }
        }
        Some(expected) => {
            let done = sqlx::query(
                    "UPDATE secrets SET revision = ?1, deletion_due_ms = ?2, meta = ?3, rotation_due_ms = ?4 WHERE arn = ?5 AND revision = ?6
                     AND (?7 IS NULL OR (SELECT count(*) FROM secret_versions WHERE secret_arn = ?5) = ?7)",
                )
                .bind(s.revision)
                .bind(s.deletion_due_ms)
                .bind(&meta)
                .bind(rotation_due(s))
                .bind(&s.arn)
                .bind(expected)
                // A known copy must hold as many versions as are stored (one the copy lacks would
                // otherwise survive the diff unnoticed).
                .bind(known.as_ref().map(|k| k.len() as i64))
                .execute(&mut *tx)
                .await
                .map_err(backend)?;
            one_row(done.rows_affected())?;
        }
    }

    for (id, val) in &write.resealed {
        let done = sqlx::query(
            "UPDATE secret_versions SET kms_key_id = ?, kind = ?, wrapped_key = ?, ciphertext = ?
                 WHERE secret_arn = ? AND version_id = ? AND has_value = 1",
        )
        .bind(val.sealed.key_id().to_string())
        .bind(val.kind.as_str())
        .bind(val.sealed.wrapped_key().to_vec())
        .bind(val.sealed.ciphertext().to_vec())
        .bind(&s.arn)
        .bind(id)
        .execute(&mut *tx)
        .await
        .map_err(backend)?;
        one_row(done.rows_affected())?;
    }
    // Diff versions against what is stored: from the caller's copy when it has one (each
    // change then checked, see `SecretWrite::stored_versions`), else read back.
    let stored: Vec<StoredVersion> = match known {
        Some(k) => k,
        None => sqlx::query_as(
            "SELECT version_id, stages, has_value FROM secret_versions WHERE secret_arn = ?",
        )
        .bind(&s.arn)
        .fetch_all(&mut *tx)
        .await
        .map_err(backend)?,
    };
    let changes = version_changes(write, &stored)?;
    for id in changes.deletes {
        let done =
            sqlx::query("DELETE FROM secret_versions WHERE secret_arn = ? AND version_id = ?")
                .bind(&s.arn)
                .bind(id)
                .execute(&mut *tx)
                .await
                .map_err(backend)?;
        one_row(done.rows_affected())?;
    }
    for (id, val) in changes.fills {
        let done = sqlx::query(
            "UPDATE secret_versions SET has_value = 1, kms_key_id = ?, kind = ?, wrapped_key = ?, ciphertext = ?
             WHERE secret_arn = ? AND version_id = ? AND has_value = 0",
        )
        .bind(val.sealed.key_id())
        .bind(val.kind.as_str())
        .bind(val.sealed.wrapped_key())
        .bind(val.sealed.ciphertext())
        .bind(&s.arn)
        .bind(id)
        .execute(&mut *tx)
        .await
        .map_err(backend)?;
        one_row(done.rows_affected())?;
    }
    for (id, old, new) in changes.restages {
        // The stages replaced must be the ones diffed against (compared as JSON).
        let done = sqlx::query(
            "UPDATE secret_versions SET stages = ? WHERE secret_arn = ? AND version_id = ? AND json(stages) = json(?)",
        )
        .bind(&new)
        .bind(&s.arn)
        .bind(id)
        .bind(old)
        .execute(&mut *tx)
        .await
        .map_err(backend)?;
        one_row(done.rows_affected())?;
    }
    for (v, value) in changes.inserts {
        let inserted = sqlx::query(
            "INSERT INTO secret_versions
             (secret_arn, version_id, created_ms, stages, last_accessed_ms, has_value, kms_key_id, kind, wrapped_key, ciphertext)
             VALUES (?, ?, ?, ?, NULL, ?, ?, ?, ?, ?)",
        )
        .bind(&s.arn)
        .bind(&v.id)
        .bind(v.created_ms)
        .bind(serde_json::to_string(&v.stages).map_err(backend)?)
        .bind(v.has_value)
        .bind(value.map(|x| x.sealed.key_id()).or(v.kms_key_id.as_deref()))
        .bind(value.map(|x| x.kind.as_str()))
        .bind(value.map(|x| x.sealed.wrapped_key()))
        .bind(value.map(|x| x.sealed.ciphertext()))
        .execute(&mut *tx)
        .await;
        match inserted {
            // The caller's copy lacked a version the store has.
            Err(e) if checked && is_unique_violation(&e) => return Err(StoreError::Conflict),
            other => {
                other.map_err(backend)?;
            }
        }
    }
    Ok(())
}

fn parameter_from_row(r: &sqlx::sqlite::SqliteRow) -> Result<Parameter, StoreError> {
    let meta: String = r.try_get("meta").map_err(backend)?;
    parameter_from_columns(&meta, r.try_get("revision").map_err(backend)?)
}

impl SqliteStore {
    /// Open (creating if needed) `strongroom.db` in `dir`.
    pub async fn open(dir: &Path) -> Result<Self, StoreError> {
        let path = dir.join("strongroom.db");
        let base = SqliteConnectOptions::new()
            .filename(&path)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(10));
        let writer = SqlitePoolOptions::new()
            .max_connections(1)
            .min_connections(1)
            .connect_with(base.clone().create_if_missing(true))
            .await
            .map_err(backend)?;
        let store_migrated = Self::migrate(&writer).await;
        store_migrated?;
        let reader = SqlitePoolOptions::new()
            .max_connections(READERS)
            .connect_with(base.read_only(true))
            .await
            .map_err(backend)?;
        Ok(Self::with_pools(writer, reader))
    }

    fn with_pools(writer: SqlitePool, reader: SqlitePool) -> Self {
        let (secret_writes, queue) = tokio::sync::mpsc::unbounded_channel();
        tokio::spawn(commit_secret_writes(writer.clone(), queue));
        let (secret_reads, queue) = tokio::sync::mpsc::unbounded_channel();
        tokio::spawn(read_secrets(reader.clone(), queue));
        Self {
            writer,
            reader,
            secret_writes,
            secret_reads,
        }
    }

    /// An ephemeral in-memory database (`--dev`, unit tests). One connection serves all.
    pub async fn in_memory() -> Result<Self, StoreError> {
        let opts = SqliteConnectOptions::from_str("sqlite::memory:")
            .map_err(backend)?
            .foreign_keys(true);
        let pool = SqlitePoolOptions::new()
            .max_connections(1)
            .min_connections(1)
            .idle_timeout(None)
            .max_lifetime(None)
            .connect_with(opts)
            .await
            .map_err(backend)?;
        Self::migrate(&pool).await?;
        Ok(Self::with_pools(pool.clone(), pool))
    }

    async fn migrate(pool: &SqlitePool) -> Result<(), StoreError> {
        sqlx::query(
            "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, applied_ms INTEGER NOT NULL)",
        )
        .execute(pool)
        .await
        .map_err(backend)?;
        let applied: Vec<i64> = sqlx::query_scalar("SELECT version FROM schema_migrations")
            .fetch_all(pool)
            .await
            .map_err(backend)?;
        for (version, sql) in MIGRATIONS {
            if applied.contains(version) {
                continue;
            }
            let mut tx = pool.begin().await.map_err(backend)?;
            sqlx::raw_sql(*sql)
                .execute(&mut *tx)
                .await
                .map_err(backend)?;
            sqlx::query("INSERT INTO schema_migrations (version, applied_ms) VALUES (?, ?)")
                .bind(version)
                .bind(now_ms())
                .execute(&mut *tx)
                .await
                .map_err(backend)?;
            tx.commit().await.map_err(backend)?;
        }
        Ok(())
    }

    /// Rows of an IAM table kept as one JSON document each.
    async fn load_docs<T: serde::de::DeserializeOwned>(
        &self,
        sql: &'static str,
    ) -> Result<Vec<T>, StoreError> {
        let docs: Vec<String> = sqlx::query_scalar(sql)
            .fetch_all(&self.reader)
            .await
            .map_err(backend)?;
        docs.iter()
            .map(|d| serde_json::from_str(d).map_err(backend))
            .collect()
    }

    /// Insert or update a JSON-document row: `sql` binds ?1 = key, ?2 = document.
    async fn write_doc<T: Serialize>(
        &self,
        sql: &'static str,
        key: &str,
        value: &T,
    ) -> Result<(), StoreError> {
        let doc = serde_json::to_string(value).map_err(backend)?;
        match sqlx::query(sql)
            .bind(key)
            .bind(&doc)
            .execute(&self.writer)
            .await
        {
            Ok(_) => Ok(()),
            Err(e)
                if e.as_database_error()
                    .is_some_and(|d| d.is_unique_violation()) =>
            {
                Err(StoreError::NameTaken)
            }
            Err(e) => Err(backend(e)),
        }
    }

    /// Run a DELETE with up to two text parameters; whether a row went.
    async fn delete_where(&self, sql: &'static str, a: &str, b: &str) -> Result<bool, StoreError> {
        let n = sqlx::query(sql)
            .bind(a)
            .bind(b)
            .execute(&self.writer)
            .await
            .map_err(backend)?
            .rows_affected();
        Ok(n > 0)
    }

    /// Secrets of `sql` (binding `binds`) with their versions, read in one transaction so
    /// a secret and its versions agree.
    async fn secrets_where(
        &self,
        sql: String,
        binds: Vec<Bind>,
    ) -> Result<Vec<Secret>, StoreError> {
        let mut tx = self.reader.begin().await.map_err(backend)?;
        let q = Binds::query(binds, sql);
        let rows = q.fetch_all(&mut *tx).await.map_err(backend)?;
        let arns = rows
            .iter()
            .map(|r| r.try_get::<String, _>("arn"))
            .collect::<Result<Vec<_>, _>>()
            .map_err(backend)?;
        let vrows = sqlx::query(
            "SELECT secret_arn, version_id, created_ms, stages, last_accessed_ms, has_value, kms_key_id
             FROM secret_versions WHERE secret_arn IN (SELECT value FROM json_each(?))
             ORDER BY created_ms, version_id",
        )
        .bind(serde_json::to_string(&arns).map_err(backend)?)
        .fetch_all(&mut *tx)
        .await
        .map_err(backend)?;
        tx.commit().await.map_err(backend)?;
        let mut by_secret: std::collections::HashMap<String, Vec<Version>> = Default::default();
        for r in &vrows {
            let arn: String = r.try_get("secret_arn").map_err(backend)?;
            by_secret.entry(arn).or_default().push(version_from_row(r)?);
        }
        rows.iter()
            .zip(arns)
            .map(|(r, arn)| secret_from_row(r, by_secret.remove(&arn).unwrap_or_default()))
            .collect()
    }
}

fn version_from_row(row: &SqliteRow) -> Result<Version, StoreError> {
    let stages: String = row.try_get("stages").map_err(backend)?;
    Ok(Version {
        id: row.try_get("version_id").map_err(backend)?,
        stages: serde_json::from_str(&stages).map_err(backend)?,
        created_ms: row.try_get("created_ms").map_err(backend)?,
        last_accessed_ms: row.try_get("last_accessed_ms").map_err(backend)?,
        has_value: row.try_get::<i64, _>("has_value").map_err(backend)? != 0,
        kms_key_id: row.try_get("kms_key_id").map_err(backend)?,
    })
}

/// A sealed value from the `columns` (as [`VALUE_COLUMNS`]) of `row`.
fn value_from_row(row: &SqliteRow, columns: [&str; 4]) -> Result<StoredValue, StoreError> {
    let [kms_key_id, kind, wrapped_key, ciphertext] = columns;
    value_from_columns(
        &row.try_get::<String, _>(kind).map_err(backend)?,
        row.try_get(kms_key_id).map_err(backend)?,
        row.try_get(wrapped_key).map_err(backend)?,
        row.try_get(ciphertext).map_err(backend)?,
    )
}

/// A row of [`select_secret_with_versions`].
fn with_current_from_row(row: &SqliteRow) -> Result<WithCurrent, StoreError> {
    let versions: String = row.try_get("versions").map_err(backend)?;
    let secret = secret_from_row(row, versions_from_json(&versions)?)?;
    let current = match row
        .try_get::<Option<String>, _>("current_id")
        .map_err(backend)?
    {
        Some(id) => Some((id, value_from_row(row, CURRENT_VALUE_COLUMNS)?)),
        None => None,
    };
    Ok((secret, current))
}

fn secret_from_row(row: &SqliteRow, versions: Vec<Version>) -> Result<Secret, StoreError> {
    let columns = SecretColumns {
        arn: row.try_get("arn").map_err(backend)?,
        name: row.try_get("name").map_err(backend)?,
        revision: row.try_get("revision").map_err(backend)?,
        created_ms: row.try_get("created_ms").map_err(backend)?,
        last_accessed_ms: row.try_get("last_accessed_ms").map_err(backend)?,
        deletion_due_ms: row.try_get("deletion_due_ms").map_err(backend)?,
        meta: row.try_get("meta").map_err(backend)?,
    };
    secret_from_columns(columns, versions)
}

macro_rules! select_secrets {
    ($tail:literal) => {
        concat!(
            "SELECT arn, name, revision, created_ms, last_accessed_ms, deletion_due_ms, meta FROM secrets",
            $tail
        )
    };
}

#[async_trait]
impl Store for SqliteStore {
    async fn kms_keys(&self) -> Result<Vec<StoredKmsKey>, StoreError> {
        let rows = sqlx::query(
            "SELECT key_id, arn, alias, description, wrapped_material, created_ms, meta FROM kms_keys ORDER BY created_ms",
        )
        .fetch_all(&self.reader)
        .await
        .map_err(backend)?;
        let materials = sqlx::query(
            "SELECT key_id, version, wrapped_material, created_ms FROM kms_key_materials ORDER BY key_id, version",
        )
        .fetch_all(&self.reader)
        .await
        .map_err(backend)?;
        rows.iter()
            .map(|r| {
                let key_id: String = r.try_get("key_id").map_err(backend)?;
                let meta: Option<String> = r.try_get("meta").map_err(backend)?;
                let meta = meta
                    .map(|m| serde_json::from_str(&m).map_err(backend))
                    .transpose()?;
                let mut rotated = Vec::new();
                for m in &materials {
                    let k: String = m.try_get("key_id").map_err(backend)?;
                    if k == key_id {
                        let version: i64 = m.try_get("version").map_err(backend)?;
                        rotated.push(StoredKmsMaterial {
                            version: u32::try_from(version).map_err(backend)?,
                            wrapped: WrappedKeyMaterial(
                                m.try_get("wrapped_material").map_err(backend)?,
                            ),
                            created_ms: m.try_get("created_ms").map_err(backend)?,
                        });
                    }
                }
                Ok(StoredKmsKey {
                    key_id,
                    arn: r.try_get("arn").map_err(backend)?,
                    alias: r.try_get("alias").map_err(backend)?,
                    description: r.try_get("description").map_err(backend)?,
                    wrapped: WrappedKeyMaterial(r.try_get("wrapped_material").map_err(backend)?),
                    created_ms: r.try_get("created_ms").map_err(backend)?,
                    meta,
                    rotated,
                })
            })
            .collect()
    }

    async fn insert_kms_key(&self, key: &StoredKmsKey) -> Result<(), StoreError> {
        let meta = key
            .meta
            .as_ref()
            .map(serde_json::to_string)
            .transpose()
            .map_err(backend)?;
        let mut tx = self.writer.begin().await.map_err(backend)?;
        sqlx::query(
            "INSERT INTO kms_keys (key_id, arn, alias, description, wrapped_material, created_ms, meta) VALUES (?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(&key.key_id)
        .bind(&key.arn)
        .bind(&key.alias)
        .bind(&key.description)
        .bind(&key.wrapped.0)
        .bind(key.created_ms)
        .bind(meta)
        .execute(&mut *tx)
        .await
        .map_err(backend)?;
        if let Some(alias) = &key.alias {
            sqlx::query(
                "INSERT INTO kms_aliases (name, key_id, created_ms, updated_ms) VALUES (?, ?, ?, ?)",
            )
            .bind(format!("alias/{alias}"))
            .bind(&key.key_id)
            .bind(key.created_ms)
            .bind(key.created_ms)
            .execute(&mut *tx)
            .await
            .map_err(backend)?;
        }
        tx.commit().await.map_err(backend)
    }

    async fn update_kms_key(
        &self,
        key_id: &str,
        meta: &KeyMeta,
        material: Option<&StoredKmsMaterial>,
    ) -> Result<bool, StoreError> {
        let meta = serde_json::to_string(meta).map_err(backend)?;
        let mut tx = self.writer.begin().await.map_err(backend)?;
        let res = sqlx::query("UPDATE kms_keys SET meta = ? WHERE key_id = ?")
            .bind(meta)
            .bind(key_id)
            .execute(&mut *tx)
            .await
            .map_err(backend)?;
        if res.rows_affected() == 0 {
            return Ok(false);
        }
        if let Some(m) = material {
            sqlx::query(
                "INSERT INTO kms_key_materials (key_id, version, wrapped_material, created_ms) VALUES (?, ?, ?, ?)",
            )
            .bind(key_id)
            .bind(i64::from(m.version))
            .bind(&m.wrapped.0)
            .bind(m.created_ms)
            .execute(&mut *tx)
            .await
            .map_err(backend)?;
        }
        tx.commit().await.map_err(backend)?;
        Ok(true)
    }

    async fn delete_kms_key(&self, key_id: &str) -> Result<bool, StoreError> {
        let res = sqlx::query("DELETE FROM kms_keys WHERE key_id = ?")
            .bind(key_id)
            .execute(&self.writer)
            .await
            .map_err(backend)?;
        Ok(res.rows_affected() > 0)
    }

    async fn kms_aliases(&self) -> Result<Vec<StoredAlias>, StoreError> {
        let rows = sqlx::query(
            "SELECT name, key_id, created_ms, updated_ms FROM kms_aliases ORDER BY name",
        )
        .fetch_all(&self.reader)
        .await
        .map_err(backend)?;
        rows.iter()
            .map(|r| {
                Ok(StoredAlias {
                    name: r.try_get("name").map_err(backend)?,
                    key_id: r.try_get("key_id").map_err(backend)?,
                    created_ms: r.try_get("created_ms").map_err(backend)?,
                    updated_ms: r.try_get("updated_ms").map_err(backend)?,
                })
            })
            .collect()
    }

    async fn put_kms_alias(&self, alias: &StoredAlias, replace: bool) -> Result<(), StoreError> {
        let sql = if replace {
            "UPDATE kms_aliases SET key_id = ?2, updated_ms = ?4 WHERE name = ?1"
        } else {
            "INSERT INTO kms_aliases (name, key_id, created_ms, updated_ms) VALUES (?1, ?2, ?3, ?4)"
        };
        let res = sqlx::query(sql)
            .bind(&alias.name)
            .bind(&alias.key_id)
            .bind(alias.created_ms)
            .bind(alias.updated_ms)
            .execute(&self.writer)
            .await;
        match res {
            Ok(_) => Ok(()),
            Err(e) if is_unique_violation(&e) => Err(StoreError::NameTaken),
            Err(e) => Err(backend(e)),
        }
    }

    async fn delete_kms_alias(&self, name: &str) -> Result<bool, StoreError> {
        let res = sqlx::query("DELETE FROM kms_aliases WHERE name = ?")
            .bind(name)
            .execute(&self.writer)
            .await
            .map_err(backend)?;
        Ok(res.rows_affected() > 0)
    }

    async fn parameter(&self, name: &str) -> Result<Option<Parameter>, StoreError> {
        let row = sqlx::query("SELECT revision, meta FROM ssm_parameters WHERE name = ?")
            .bind(name)
            .fetch_optional(&self.reader)
            .await
            .map_err(backend)?;
        row.map(|r| parameter_from_row(&r)).transpose()
    }

    async fn parameters(&self) -> Result<Vec<Parameter>, StoreError> {
        let rows = sqlx::query("SELECT revision, meta FROM ssm_parameters ORDER BY name")
            .fetch_all(&self.reader)
            .await
            .map_err(backend)?;
        rows.iter().map(parameter_from_row).collect()
    }

    async fn parameters_page(
        &self,
        after: Option<&ParameterCursor>,
        prefix: Option<&str>,
        limit: usize,
    ) -> Result<Vec<Parameter>, StoreError> {
        let mut binds = Binds::new(|_| "?".to_string());
        let sql = parameters_page_query(after, prefix, limit, &mut binds);
        let q = Binds::query(binds.values, sql);
        let rows = q.fetch_all(&self.reader).await.map_err(backend)?;
        rows.iter().map(parameter_from_row).collect()
    }

    async fn parameters_with_policies(&self) -> Result<Vec<Parameter>, StoreError> {
        let rows = sqlx::query(
            "SELECT revision, meta FROM ssm_parameters WHERE has_policies ORDER BY name",
        )
        .fetch_all(&self.reader)
        .await
        .map_err(backend)?;
        rows.iter().map(parameter_from_row).collect()
    }

    async fn parameter_count(&self) -> Result<usize, StoreError> {
        let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM ssm_parameters")
            .fetch_one(&self.reader)
            .await
            .map_err(backend)?;
        Ok(usize::try_from(n).unwrap_or(0))
    }

    async fn parameter_value(
        &self,
        name: &str,
        version: i64,
    ) -> Result<Option<Sealed>, StoreError> {
        let row = sqlx::query(
            "SELECT kms_key_id, wrapped_key, ciphertext FROM ssm_parameter_values WHERE name = ? AND version = ?",
        )
        .bind(name)
        .bind(version)
        .fetch_optional(&self.reader)
        .await
        .map_err(backend)?;
        row.map(|r| {
            Ok(Sealed::from_stored_parts(
                r.try_get("kms_key_id").map_err(backend)?,
                r.try_get("wrapped_key").map_err(backend)?,
                r.try_get("ciphertext").map_err(backend)?,
            ))
        })
        .transpose()
    }

    async fn commit_parameter(&self, write: ParameterWrite) -> Result<(), StoreError> {
        let p = &write.parameter;
        if p.versions.is_empty() {
            return Err(StoreError::Backend(format!(
                "parameter {:?} would have no versions",
                p.name
            )));
        }
        let meta = serde_json::to_string(p).map_err(backend)?;
        let mut tx = self.writer.begin().await.map_err(backend)?;
        let res = match write.expected_revision {
            None => {
                sqlx::query("INSERT INTO ssm_parameters (name, revision, meta) VALUES (?, ?, ?)")
                    .bind(&p.name)
                    .bind(p.revision)
                    .bind(&meta)
                    .execute(&mut *tx)
                    .await
                    .map_err(|e| {
                        if is_unique_violation(&e) {
                            StoreError::NameTaken
                        } else {
                            backend(e)
                        }
                    })?
            }
            Some(expected) => sqlx::query(
                "UPDATE ssm_parameters SET revision = ?, meta = ? WHERE name = ? AND revision = ?",
            )
            .bind(p.revision)
            .bind(&meta)
            .bind(&p.name)
            .bind(expected)
            .execute(&mut *tx)
            .await
            .map_err(backend)?,
        };
        if res.rows_affected() == 0 {
            return Err(StoreError::Conflict);
        }
        // Versions the history no longer holds lose their values.
        let kept: Vec<i64> = p.versions.iter().map(|v| v.version).collect();
        let oldest = kept.iter().copied().min().unwrap_or(i64::MAX);
        sqlx::query("DELETE FROM ssm_parameter_values WHERE name = ? AND version < ?")
            .bind(&p.name)
            .bind(oldest)
            .execute(&mut *tx)
            .await
            .map_err(backend)?;
        for (version, sealed) in &write.new_values {
            sqlx::query(
                "INSERT INTO ssm_parameter_values (name, version, kms_key_id, wrapped_key, ciphertext) VALUES (?, ?, ?, ?, ?)",
            )
            .bind(&p.name)
            .bind(version)
            .bind(sealed.key_id())
            .bind(sealed.wrapped_key())
            .bind(sealed.ciphertext())
            .execute(&mut *tx)
            .await
            .map_err(backend)?;
        }
        tx.commit().await.map_err(backend)
    }

    async fn delete_parameter(&self, name: &str) -> Result<bool, StoreError> {
        let res = sqlx::query("DELETE FROM ssm_parameters WHERE name = ?")
            .bind(name)
            .execute(&self.writer)
            .await
            .map_err(backend)?;
        Ok(res.rows_affected() > 0)
    }

    async fn secret(&self, key: SecretKey<'_>) -> Result<Option<Secret>, StoreError> {
        Ok(self.secret_with_current(key).await?.map(|(s, _)| s))
    }

    async fn secret_with_current(
        &self,
        key: SecretKey<'_>,
    ) -> Result<Option<WithCurrent>, StoreError> {
        let (key, by_arn) = match key {
            SecretKey::Arn(a) => (a, true),
            SecretKey::Name(n) => (n, false),
        };
        let (done, outcome) = tokio::sync::oneshot::channel();
        let read = PendingRead {
            key: key.to_string(),
            by_arn,
            done,
        };
        if self.secret_reads.send(read).is_err() {
            return Err(StoreError::Backend("the store's reader has stopped".into()));
        }
        outcome
            .await
            .map_err(|_| StoreError::Backend("the store's reader has stopped".into()))?
    }

    async fn secrets(&self) -> Result<Vec<Secret>, StoreError> {
        let rows = sqlx::query(select_secrets!(""))
            .fetch_all(&self.reader)
            .await
            .map_err(backend)?;
        let vrows = sqlx::query(
            "SELECT secret_arn, version_id, created_ms, stages, last_accessed_ms, has_value, kms_key_id
             FROM secret_versions ORDER BY created_ms, version_id",
        )
        .fetch_all(&self.reader)
        .await
        .map_err(backend)?;
        let mut by_secret: std::collections::HashMap<String, Vec<Version>> = Default::default();
        for r in &vrows {
            let arn: String = r.try_get("secret_arn").map_err(backend)?;
            by_secret.entry(arn).or_default().push(version_from_row(r)?);
        }
        rows.iter()
            .map(|r| {
                let arn: String = r.try_get("arn").map_err(backend)?;
                secret_from_row(r, by_secret.remove(&arn).unwrap_or_default())
            })
            .collect()
    }

    async fn secrets_page(&self, page: &SecretsPage<'_>) -> Result<Vec<Secret>, StoreError> {
        let mut binds = Binds::new(|_| "?".to_string());
        let sql = secrets_page_query(page, &mut binds);
        self.secrets_where(sql, binds.values).await
    }

    async fn secrets_with_replicas(&self) -> Result<Vec<Secret>, StoreError> {
        self.secrets_where(
            select_secrets!(" WHERE replicated ORDER BY arn").into(),
            Vec::new(),
        )
        .await
    }

    async fn value(
        &self,
        secret_arn: &str,
        version_id: &str,
    ) -> Result<Option<StoredValue>, StoreError> {
        let row = sqlx::query(
            "SELECT kms_key_id, kind, wrapped_key, ciphertext FROM secret_versions
             WHERE secret_arn = ? AND version_id = ? AND has_value = 1",
        )
        .bind(secret_arn)
        .bind(version_id)
        .fetch_optional(&self.reader)
        .await
        .map_err(backend)?;
        row.map(|row| value_from_row(&row, VALUE_COLUMNS))
            .transpose()
    }

    async fn commit(&self, write: SecretWrite) -> Result<(), StoreError> {
        let (done, outcome) = tokio::sync::oneshot::channel();
        self.secret_writes
            .send(PendingWrite { write, done })
            .map_err(|_| StoreError::Backend("the store is closed".into()))?;
        outcome
            .await
            .unwrap_or_else(|_| Err(StoreError::Backend("the store is closed".into())))
    }

    async fn purge(&self, secret_arn: &str) -> Result<bool, StoreError> {
        let mut tx = self.writer.begin().await.map_err(backend)?;
        sqlx::query("DELETE FROM secret_versions WHERE secret_arn = ?")
            .bind(secret_arn)
            .execute(&mut *tx)
            .await
            .map_err(backend)?;
        let n = sqlx::query("DELETE FROM secrets WHERE arn = ?")
            .bind(secret_arn)
            .execute(&mut *tx)
            .await
            .map_err(backend)?
            .rows_affected();
        tx.commit().await.map_err(backend)?;
        Ok(n > 0)
    }

    async fn due_for_rotation(&self, now: Millis) -> Result<Vec<String>, StoreError> {
        sqlx::query_scalar(
            "SELECT arn FROM secrets WHERE rotation_due_ms IS NOT NULL AND rotation_due_ms <= ? ORDER BY rotation_due_ms",
        )
        .bind(now)
        .fetch_all(&self.reader)
        .await
        .map_err(backend)
    }

    async fn secret_count(&self) -> Result<usize, StoreError> {
        let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM secrets")
            .fetch_one(&self.reader)
            .await
            .map_err(backend)?;
        Ok(n as usize)
    }

    async fn due_for_purge(&self, now: Millis) -> Result<Vec<String>, StoreError> {
        sqlx::query_scalar(
            "SELECT arn FROM secrets WHERE deletion_due_ms IS NOT NULL AND deletion_due_ms <= ?",
        )
        .bind(now)
        .fetch_all(&self.reader)
        .await
        .map_err(backend)
    }

    async fn record_accesses(&self, stamps: &[AccessStamp]) -> Result<(), StoreError> {
        let mut tx = self.writer.begin().await.map_err(backend)?;
        for s in stamps {
            sqlx::query("UPDATE secrets SET last_accessed_ms = ? WHERE arn = ?")
                .bind(s.day_ms)
                .bind(&s.secret_arn)
                .execute(&mut *tx)
                .await
                .map_err(backend)?;
            sqlx::query("UPDATE secret_versions SET last_accessed_ms = ? WHERE secret_arn = ? AND version_id = ?")
                .bind(s.day_ms)
                .bind(&s.secret_arn)
                .bind(&s.version_id)
                .execute(&mut *tx)
                .await
                .map_err(backend)?;
        }
        tx.commit().await.map_err(backend)
    }

    async fn iam_users(&self) -> Result<Vec<IamUser>, StoreError> {
        let rows =
            sqlx::query("SELECT name, id, arn, path, created_ms, permissions_boundary FROM iam_users ORDER BY name")
                .fetch_all(&self.reader)
                .await
                .map_err(backend)?;
        rows.iter()
            .map(|r| {
                Ok(IamUser {
                    name: r.try_get("name").map_err(backend)?,
                    id: r.try_get("id").map_err(backend)?,
                    arn: r.try_get("arn").map_err(backend)?,
                    path: r.try_get("path").map_err(backend)?,
                    created_ms: r.try_get("created_ms").map_err(backend)?,
                    permissions_boundary: r.try_get("permissions_boundary").map_err(backend)?,
                })
            })
            .collect()
    }

    async fn insert_iam_user(&self, user: &IamUser) -> Result<(), StoreError> {
        let res = sqlx::query(
            "INSERT INTO iam_users (name, id, arn, path, created_ms, permissions_boundary) VALUES (?, ?, ?, ?, ?, ?)",
        )
        .bind(&user.name)
        .bind(&user.id)
        .bind(&user.arn)
        .bind(&user.path)
        .bind(user.created_ms)
        .bind(&user.permissions_boundary)
        .execute(&self.writer)
        .await;
        match res {
            Ok(_) => Ok(()),
            Err(e)
                if e.as_database_error()
                    .is_some_and(|d| d.is_unique_violation()) =>
            {
                Err(StoreError::NameTaken)
            }
            Err(e) => Err(backend(e)),
        }
    }

    async fn set_user_boundary(
        &self,
        name: &str,
        boundary: Option<&str>,
    ) -> Result<bool, StoreError> {
        let n = sqlx::query("UPDATE iam_users SET permissions_boundary = ? WHERE name = ?")
            .bind(boundary)
            .bind(name)
            .execute(&self.writer)
            .await
            .map_err(backend)?
            .rows_affected();
        Ok(n > 0)
    }

    async fn delete_iam_user(&self, name: &str) -> Result<bool, StoreError> {
        let n = sqlx::query("DELETE FROM iam_users WHERE name = ?")
            .bind(name)
            .execute(&self.writer)
            .await
            .map_err(backend)?
            .rows_affected();
        Ok(n > 0)
    }

    async fn access_keys(&self) -> Result<Vec<StoredAccessKey>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, user_name, status, kms_key_id, wrapped_key, ciphertext, created_ms FROM iam_access_keys ORDER BY created_ms",
        )
        .fetch_all(&self.reader)
        .await
        .map_err(backend)?;
        rows.iter()
            .map(|r| {
                Ok(StoredAccessKey {
                    id: r.try_get("id").map_err(backend)?,
                    user_name: r.try_get("user_name").map_err(backend)?,
                    status: r.try_get("status").map_err(backend)?,
                    secret: Sealed::from_stored_parts(
                        r.try_get("kms_key_id").map_err(backend)?,
                        r.try_get("wrapped_key").map_err(backend)?,
                        r.try_get("ciphertext").map_err(backend)?,
                    ),
                    created_ms: r.try_get("created_ms").map_err(backend)?,
                })
            })
            .collect()
    }

    async fn insert_access_key(&self, key: &StoredAccessKey) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO iam_access_keys (id, user_name, status, kms_key_id, wrapped_key, ciphertext, created_ms)
             VALUES (?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(&key.id)
        .bind(&key.user_name)
        .bind(&key.status)
        .bind(key.secret.key_id())
        .bind(key.secret.wrapped_key())
        .bind(key.secret.ciphertext())
        .bind(key.created_ms)
        .execute(&self.writer)
        .await
        .map_err(backend)?;
        Ok(())
    }

    async fn set_access_key_status(&self, id: &str, status: &str) -> Result<bool, StoreError> {
        let n = sqlx::query("UPDATE iam_access_keys SET status = ? WHERE id = ?")
            .bind(status)
            .bind(id)
            .execute(&self.writer)
            .await
            .map_err(backend)?
            .rows_affected();
        Ok(n > 0)
    }

    async fn delete_access_key(&self, id: &str) -> Result<bool, StoreError> {
        let n = sqlx::query("DELETE FROM iam_access_keys WHERE id = ?")
            .bind(id)
            .execute(&self.writer)
            .await
            .map_err(backend)?
            .rows_affected();
        Ok(n > 0)
    }

    async fn user_policies(&self) -> Result<Vec<StoredUserPolicy>, StoreError> {
        let rows: Vec<(String, String, String)> =
            sqlx::query_as("SELECT user_name, policy_name, document FROM iam_user_policies ORDER BY user_name, policy_name")
                .fetch_all(&self.reader)
                .await
                .map_err(backend)?;
        Ok(rows
            .into_iter()
            .map(|(user_name, policy_name, document)| StoredUserPolicy {
                user_name,
                policy_name,
                document,
            })
            .collect())
    }

    async fn put_user_policy(&self, p: &StoredUserPolicy) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO iam_user_policies (user_name, policy_name, document) VALUES (?, ?, ?)
             ON CONFLICT (user_name, policy_name) DO UPDATE SET document = excluded.document",
        )
        .bind(&p.user_name)
        .bind(&p.policy_name)
        .bind(&p.document)
        .execute(&self.writer)
        .await
        .map_err(backend)?;
        Ok(())
    }

    async fn delete_user_policy(
        &self,
        user_name: &str,
        policy_name: &str,
    ) -> Result<bool, StoreError> {
        let n =
            sqlx::query("DELETE FROM iam_user_policies WHERE user_name = ? AND policy_name = ?")
                .bind(user_name)
                .bind(policy_name)
                .execute(&self.writer)
                .await
                .map_err(backend)?
                .rows_affected();
        Ok(n > 0)
    }

    async fn login_profiles(&self) -> Result<Vec<StoredLoginProfile>, StoreError> {
        let rows = sqlx::query(
            "SELECT user_name, password_hash, created_ms, password_set_ms, reset_required, previous_hashes
             FROM iam_login_profiles ORDER BY user_name",
        )
        .fetch_all(&self.reader)
        .await
        .map_err(backend)?;
        rows.iter()
            .map(|r| {
                let previous: String = r.try_get("previous_hashes").map_err(backend)?;
                Ok(StoredLoginProfile {
                    user_name: r.try_get("user_name").map_err(backend)?,
                    password_hash: r.try_get("password_hash").map_err(backend)?,
                    created_ms: r.try_get("created_ms").map_err(backend)?,
                    password_set_ms: r.try_get("password_set_ms").map_err(backend)?,
                    reset_required: r.try_get::<i64, _>("reset_required").map_err(backend)? != 0,
                    previous_hashes: serde_json::from_str(&previous).map_err(backend)?,
                })
            })
            .collect()
    }

    async fn put_login_profile(
        &self,
        p: &StoredLoginProfile,
        replace: bool,
    ) -> Result<(), StoreError> {
        let sql = if replace {
            "INSERT INTO iam_login_profiles (user_name, password_hash, created_ms, password_set_ms, reset_required, previous_hashes)
             VALUES (?, ?, ?, ?, ?, ?)
             ON CONFLICT (user_name) DO UPDATE SET password_hash = excluded.password_hash,
                 created_ms = excluded.created_ms, password_set_ms = excluded.password_set_ms,
                 reset_required = excluded.reset_required, previous_hashes = excluded.previous_hashes"
        } else {
            "INSERT INTO iam_login_profiles (user_name, password_hash, created_ms, password_set_ms, reset_required, previous_hashes)
             VALUES (?, ?, ?, ?, ?, ?)"
        };
        let previous = serde_json::to_string(&p.previous_hashes).map_err(backend)?;
        let res = sqlx::query(sql)
            .bind(&p.user_name)
            .bind(&p.password_hash)
            .bind(p.created_ms)
            .bind(p.password_set_ms)
            .bind(i64::from(p.reset_required))
            .bind(previous)
            .execute(&self.writer)
            .await;
        match res {
            Ok(_) => Ok(()),
            Err(e) if is_unique_violation(&e) => Err(StoreError::NameTaken),
            Err(e) => Err(backend(e)),
        }
    }

    async fn delete_login_profile(&self, user_name: &str) -> Result<bool, StoreError> {
        let mut tx = self.writer.begin().await.map_err(backend)?;
        sqlx::query("DELETE FROM iam_sign_in_failures WHERE user_name = ?")
            .bind(user_name)
            .execute(&mut *tx)
            .await
            .map_err(backend)?;
        let n = sqlx::query("DELETE FROM iam_login_profiles WHERE user_name = ?")
            .bind(user_name)
            .execute(&mut *tx)
            .await
            .map_err(backend)?
            .rows_affected();
        tx.commit().await.map_err(backend)?;
        Ok(n > 0)
    }

    async fn password_policy(&self) -> Result<Option<String>, StoreError> {
        sqlx::query_scalar("SELECT doc FROM iam_password_policy WHERE id = 1")
            .fetch_optional(&self.reader)
            .await
            .map_err(backend)
    }

    async fn put_password_policy(&self, doc: Option<&str>) -> Result<bool, StoreError> {
        let q = match doc {
            Some(doc) => sqlx::query(
                "INSERT INTO iam_password_policy (id, doc) VALUES (1, ?)
                 ON CONFLICT (id) DO UPDATE SET doc = excluded.doc",
            )
            .bind(doc),
            None => sqlx::query("DELETE FROM iam_password_policy WHERE id = 1"),
        };
        let n = q
            .execute(&self.writer)
            .await
            .map_err(backend)?
            .rows_affected();
        Ok(n > 0)
    }

    async fn sign_in_failures(&self, user_name: &str) -> Result<SignInFailures, StoreError> {
        // The writer: a count just written must be seen (the readers may lag in WAL).
        let row: Option<(i64, Option<i64>)> = sqlx::query_as(
            "SELECT failures, locked_until_ms FROM iam_sign_in_failures WHERE user_name = ?",
        )
        .bind(user_name)
        .fetch_optional(&self.writer)
        .await
        .map_err(backend)?;
        Ok(row
            .map(|(failures, locked_until_ms)| SignInFailures {
                failures,
                locked_until_ms,
            })
            .unwrap_or_default())
    }

    async fn add_sign_in_failure(&self, user_name: &str) -> Result<i64, StoreError> {
        sqlx::query_scalar(
            "INSERT INTO iam_sign_in_failures (user_name, failures) VALUES (?, 1)
             ON CONFLICT (user_name) DO UPDATE SET failures = failures + 1
             RETURNING failures",
        )
        .bind(user_name)
        .fetch_one(&self.writer)
        .await
        .map_err(backend)
    }

    async fn lock_sign_in(&self, user_name: &str, until_ms: Millis) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO iam_sign_in_failures (user_name, failures, locked_until_ms) VALUES (?, 0, ?)
             ON CONFLICT (user_name) DO UPDATE SET failures = 0, locked_until_ms = excluded.locked_until_ms",
        )
        .bind(user_name)
        .bind(until_ms)
        .execute(&self.writer)
        .await
        .map_err(backend)?;
        Ok(())
    }

    async fn clear_sign_in_failures(&self, user_name: &str) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM iam_sign_in_failures WHERE user_name = ?")
            .bind(user_name)
            .execute(&self.writer)
            .await
            .map_err(backend)?;
        Ok(())
    }

    async fn managed_policies(&self) -> Result<Vec<StoredManagedPolicy>, StoreError> {
        self.load_docs("SELECT doc FROM iam_managed_policies ORDER BY name")
            .await
    }

    async fn put_managed_policy(
        &self,
        p: &StoredManagedPolicy,
        replace: bool,
    ) -> Result<(), StoreError> {
        let doc = serde_json::to_string(p).map_err(backend)?;
        let res = if replace {
            sqlx::query("UPDATE iam_managed_policies SET doc = ? WHERE arn = ?")
                .bind(&doc)
                .bind(&p.arn)
                .execute(&self.writer)
                .await
        } else {
            sqlx::query("INSERT INTO iam_managed_policies (arn, name, doc) VALUES (?, ?, ?)")
                .bind(&p.arn)
                .bind(&p.name)
                .bind(&doc)
                .execute(&self.writer)
                .await
        };
        match res {
            Ok(_) => Ok(()),
            Err(e)
                if e.as_database_error()
                    .is_some_and(|d| d.is_unique_violation()) =>
            {
                Err(StoreError::NameTaken)
            }
            Err(e) => Err(backend(e)),
        }
    }

    async fn delete_managed_policy(&self, arn: &str) -> Result<bool, StoreError> {
        let n = sqlx::query("DELETE FROM iam_managed_policies WHERE arn = ?")
            .bind(arn)
            .execute(&self.writer)
            .await
            .map_err(backend)?
            .rows_affected();
        Ok(n > 0)
    }

    async fn user_attachments(&self) -> Result<Vec<(String, String)>, StoreError> {
        sqlx::query_as(
            "SELECT user_name, policy_arn FROM iam_user_attachments ORDER BY user_name, policy_arn",
        )
        .fetch_all(&self.reader)
        .await
        .map_err(backend)
    }

    async fn attach_user_policy(
        &self,
        user_name: &str,
        policy_arn: &str,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT OR IGNORE INTO iam_user_attachments (user_name, policy_arn) VALUES (?, ?)",
        )
        .bind(user_name)
        .bind(policy_arn)
        .execute(&self.writer)
        .await
        .map_err(backend)?;
        Ok(())
    }

    async fn detach_user_policy(
        &self,
        user_name: &str,
        policy_arn: &str,
    ) -> Result<bool, StoreError> {
        let n =
            sqlx::query("DELETE FROM iam_user_attachments WHERE user_name = ? AND policy_arn = ?")
                .bind(user_name)
                .bind(policy_arn)
                .execute(&self.writer)
                .await
                .map_err(backend)?
                .rows_affected();
        Ok(n > 0)
    }

    async fn roles(&self) -> Result<Vec<StoredRole>, StoreError> {
        self.load_docs("SELECT doc FROM iam_roles ORDER BY name")
            .await
    }

    async fn put_role(&self, role: &StoredRole, replace: bool) -> Result<(), StoreError> {
        let sql = if replace {
            "UPDATE iam_roles SET doc = ?2 WHERE name = ?1"
        } else {
            "INSERT INTO iam_roles (name, doc) VALUES (?1, ?2)"
        };
        self.write_doc(sql, &role.name, role).await
    }

    async fn delete_role(&self, name: &str) -> Result<bool, StoreError> {
        let n = sqlx::query("DELETE FROM iam_roles WHERE name = ?")
            .bind(name)
            .execute(&self.writer)
            .await
            .map_err(backend)?
            .rows_affected();
        Ok(n > 0)
    }

    async fn role_attachments(&self) -> Result<Vec<(String, String)>, StoreError> {
        sqlx::query_as(
            "SELECT role_name, policy_arn FROM iam_role_attachments ORDER BY role_name, policy_arn",
        )
        .fetch_all(&self.reader)
        .await
        .map_err(backend)
    }

    async fn attach_role_policy(
        &self,
        role_name: &str,
        policy_arn: &str,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT OR IGNORE INTO iam_role_attachments (role_name, policy_arn) VALUES (?, ?)",
        )
        .bind(role_name)
        .bind(policy_arn)
        .execute(&self.writer)
        .await
        .map_err(backend)?;
        Ok(())
    }

    async fn detach_role_policy(
        &self,
        role_name: &str,
        policy_arn: &str,
    ) -> Result<bool, StoreError> {
        let n =
            sqlx::query("DELETE FROM iam_role_attachments WHERE role_name = ? AND policy_arn = ?")
                .bind(role_name)
                .bind(policy_arn)
                .execute(&self.writer)
                .await
                .map_err(backend)?
                .rows_affected();
        Ok(n > 0)
    }

    async fn groups(&self) -> Result<Vec<StoredGroup>, StoreError> {
        self.load_docs("SELECT doc FROM iam_groups ORDER BY name")
            .await
    }

    async fn put_group(&self, group: &StoredGroup, replace: bool) -> Result<(), StoreError> {
        let sql = if replace {
            "UPDATE iam_groups SET doc = ?2 WHERE name = ?1"
        } else {
            "INSERT INTO iam_groups (name, doc) VALUES (?1, ?2)"
        };
        self.write_doc(sql, &group.name, group).await
    }

    async fn delete_group(&self, name: &str) -> Result<bool, StoreError> {
        self.delete_where("DELETE FROM iam_groups WHERE name = ?1", name, "")
            .await
    }

    async fn group_members(&self) -> Result<Vec<(String, String)>, StoreError> {
        sqlx::query_as(
            "SELECT group_name, user_name FROM iam_group_members ORDER BY group_name, user_name",
        )
        .fetch_all(&self.reader)
        .await
        .map_err(backend)
    }

    async fn add_group_member(&self, group: &str, user: &str) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT OR IGNORE INTO iam_group_members (group_name, user_name) VALUES (?, ?)",
        )
        .bind(group)
        .bind(user)
        .execute(&self.writer)
        .await
        .map_err(backend)?;
        Ok(())
    }

    async fn remove_group_member(&self, group: &str, user: &str) -> Result<bool, StoreError> {
        self.delete_where(
            "DELETE FROM iam_group_members WHERE group_name = ?1 AND user_name = ?2",
            group,
            user,
        )
        .await
    }

    async fn group_attachments(&self) -> Result<Vec<(String, String)>, StoreError> {
        sqlx::query_as("SELECT group_name, policy_arn FROM iam_group_attachments ORDER BY group_name, policy_arn")
            .fetch_all(&self.reader)
            .await
            .map_err(backend)
    }

    async fn attach_group_policy(&self, group: &str, policy_arn: &str) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT OR IGNORE INTO iam_group_attachments (group_name, policy_arn) VALUES (?, ?)",
        )
        .bind(group)
        .bind(policy_arn)
        .execute(&self.writer)
        .await
        .map_err(backend)?;
        Ok(())
    }

    async fn detach_group_policy(&self, group: &str, policy_arn: &str) -> Result<bool, StoreError> {
        self.delete_where(
            "DELETE FROM iam_group_attachments WHERE group_name = ?1 AND policy_arn = ?2",
            group,
            policy_arn,
        )
        .await
    }

    async fn alarms(&self) -> Result<Vec<(String, String)>, StoreError> {
        let rows = sqlx::query("SELECT name, doc FROM cw_alarms ORDER BY name")
            .fetch_all(&self.reader)
            .await
            .map_err(backend)?;
        rows.iter()
            .map(|r| {
                Ok((
                    r.try_get("name").map_err(backend)?,
                    r.try_get("doc").map_err(backend)?,
                ))
            })
            .collect()
    }

    async fn write_alarms(
        &self,
        put: &[(String, String)],
        delete: &[String],
    ) -> Result<(), StoreError> {
        let mut tx = self.writer.begin().await.map_err(backend)?;
        for name in delete {
            sqlx::query("DELETE FROM cw_alarms WHERE name = ?")
                .bind(name)
                .execute(&mut *tx)
                .await
                .map_err(backend)?;
        }
        for (name, doc) in put {
            sqlx::query("INSERT OR REPLACE INTO cw_alarms (name, doc) VALUES (?, ?)")
                .bind(name)
                .bind(doc)
                .execute(&mut *tx)
                .await
                .map_err(backend)?;
        }
        tx.commit().await.map_err(backend)
    }

    async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1")
            .execute(&self.reader)
            .await
            .map_err(backend)?;
        Ok(())
    }

    async fn close(&self) {
        self.reader.close().await;
        self.writer.close().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rows::Meta;
    use crate::tests::secret;

    /// Secret metadata written before `tagged` existed still loads; a secret with tags then
    /// counts as tagged (so it keeps `Tags: []` once they are removed).
    #[test]
    fn metadata_without_the_tagged_flag_loads() {
        let old = r#"{"description":null,"kms_key_id":null,"secret_type":null,"tags":[],"last_changed_ms":1,"deleted_ms":null}"#;
        let m: Meta = serde_json::from_str(old).unwrap();
        assert!(!m.tagged);
        let old = r#"{"description":null,"kms_key_id":null,"secret_type":null,"tags":[{"key":"k","value":"v"}],"last_changed_ms":1,"deleted_ms":null}"#;
        let m: Meta = serde_json::from_str(old).unwrap();
        assert!(!m.tagged && !m.tags.is_empty());
        let mut s = secret("arn:t", "t");
        s.tagged = false;
        let back: Meta = serde_json::from_str(&meta_json(&s).unwrap()).unwrap();
        assert!(back.tagged, "a secret with tags is written as tagged");
    }

    /// A parameter row whose history lost every version (damage, or an edit by hand) is an
    /// error when read — never a panic in a request that meets it.
    #[tokio::test]
    async fn a_parameter_without_versions_is_refused_when_loaded() {
        let store = SqliteStore::in_memory().await.unwrap();
        sqlx::query("INSERT INTO ssm_parameters (name, revision, meta) VALUES (?, 1, ?)")
            .bind("/damaged")
            .bind(r#"{"name":"/damaged","revision":1,"tags":[],"versions":[]}"#)
            .execute(&store.writer)
            .await
            .unwrap();
        let e = store.parameter("/damaged").await.unwrap_err();
        assert!(e.to_string().contains("no versions"), "{e}");
        assert!(store.parameters().await.is_err());
    }

    /// A data directory from before KMS (schema 6, the managed key's alias in kms_keys.alias)
    /// opens with its key, its alias moved to kms_aliases and no metadata (the service then
    /// treats it as the AWS managed key it is).
    #[tokio::test]
    async fn migration_7_keeps_the_managed_key_of_older_data() {
        let dir = std::env::temp_dir().join(format!("sr-mig7-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        {
            let opts = SqliteConnectOptions::new()
                .filename(dir.join("strongroom.db"))
                .create_if_missing(true)
                .foreign_keys(true);
            let pool = SqlitePoolOptions::new()
                .max_connections(1)
                .connect_with(opts)
                .await
                .unwrap();
            sqlx::query("CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, applied_ms INTEGER NOT NULL)")
                .execute(&pool)
                .await
                .unwrap();
            for (version, sql) in MIGRATIONS.iter().filter(|(v, _)| *v <= 6) {
                sqlx::raw_sql(*sql).execute(&pool).await.unwrap();
                sqlx::query("INSERT INTO schema_migrations VALUES (?, 0)")
                    .bind(version)
                    .execute(&pool)
                    .await
                    .unwrap();
            }
            sqlx::query("INSERT INTO kms_keys (key_id, arn, alias, description, wrapped_material, created_ms) VALUES ('k1', 'arn:aws:kms:us-east-1:1:key/k1', 'aws/secretsmanager', 'managed', x'00', 5)")
                .execute(&pool)
                .await
                .unwrap();
            pool.close().await;
        }
        let store = SqliteStore::open(&dir).await.unwrap();
        let keys = store.kms_keys().await.unwrap();
        assert_eq!(keys.len(), 1);
        assert!(keys[0].meta.is_none() && keys[0].rotated.is_empty());
        let aliases = store.kms_aliases().await.unwrap();
        assert_eq!(
            aliases,
            vec![StoredAlias {
                name: "alias/aws/secretsmanager".into(),
                key_id: "k1".into(),
                created_ms: 5,
                updated_ms: 5,
            }]
        );
        store.close().await;
        let _ = std::fs::remove_dir_all(&dir);
    }
}
