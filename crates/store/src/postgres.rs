//! PostgreSQL store: the same tables and documents as [`crate::sqlite`], in one schema per
//! region of one database, for nodes that share their state.
//!
//! Transactions run at READ COMMITTED, which is enough for every write here: each
//! multi-row change first takes the row lock of its parent (`UPDATE secrets ... WHERE
//! revision = $expected`, the parameter's row, the KMS key's row), so concurrent writers of
//! one secret queue behind it and the later one sees the new revision and fails with
//! [`StoreError::Conflict`] — exactly what SQLite's single writer gives. Creations race on
//! the primary key / unique name and the loser gets [`StoreError::NameTaken`]. Deletions go
//! parent first (children by `ON DELETE CASCADE`), the same lock order as writes, so the two
//! cannot deadlock.
//!
//! Migrations are numbered separately from SQLite's (PostgreSQL started with the schema
//! SQLite reached at its migration 9, as PostgreSQL's version 1): each is applied once, inside
//! one transaction holding an advisory lock for the schema, so nodes starting together never
//! migrate twice.

use std::str::FromStr;
use std::time::Duration;

use async_trait::async_trait;
use serde::Serialize;
use sqlx::Postgres;
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions, PgRow};
use sqlx::{AssertSqlSafe, Row};
use strongroom_barrier::{Sealed, WrappedKeyMaterial};
use strongroom_domain::kms::KeyMeta;
use strongroom_domain::parameters::Parameter;
use strongroom_domain::secret::{Millis, Secret, Version};

use crate::fence;
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

/// The home region's schema; another region's is `strongroom_<region, - as _>`.
pub const HOME_SCHEMA: &str = "strongroom";

/// Class of the advisory lock migrators take (its object is the schema name's hash): an
/// arbitrary constant, so Strongroom's locks do not meet other applications' on the database.
const MIGRATION_LOCK_CLASS: i32 = 0x5352_0001;
/// Class of the advisory lock a node holds while it starts ([`StartLock`]).
const START_LOCK_CLASS: i32 = 0x5352_0002;

/// Connections per store (per region, per node).
const MAX_CONNECTIONS: u32 = 16;

/// How long a request waits for a connection. sqlx keeps retrying a refused connection until
/// this deadline, so it is also how long a request takes to fail while PostgreSQL is down:
/// short, so callers get a retryable error in seconds instead of hanging.
pub const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(3);

/// Server-side bounds on every connection of the stores: no statement (lock waits included)
/// runs longer than this, and a transaction left idle (a frozen node holding row locks) is
/// ended. Migrations lift the statement bound for themselves.
pub const SESSION_TIMEOUTS: [(&str, &str); 2] = [
    ("statement_timeout", "10s"),
    ("idle_in_transaction_session_timeout", "30s"),
];

/// Ordered migrations; each runs once, recorded in `schema_migrations`. Text keys are
/// `COLLATE "C"` so `ORDER BY` sorts by bytes as SQLite does, whatever the database's locale;
/// `ord` columns keep insertion order where SQLite's rowid gave it.
const MIGRATIONS: &[(i64, &str)] = &[
    (
        1,
        r#"
    CREATE TABLE kms_keys (
        key_id TEXT COLLATE "C" PRIMARY KEY,
        arn TEXT NOT NULL,
        alias TEXT UNIQUE,
        description TEXT NOT NULL,
        wrapped_material BYTEA NOT NULL,
        created_ms BIGINT NOT NULL,
        meta TEXT,
        ord BIGINT GENERATED ALWAYS AS IDENTITY
    );
    CREATE TABLE kms_key_materials (
        key_id TEXT COLLATE "C" NOT NULL REFERENCES kms_keys(key_id) ON DELETE CASCADE,
        version BIGINT NOT NULL,
        wrapped_material BYTEA NOT NULL,
        created_ms BIGINT NOT NULL,
        PRIMARY KEY (key_id, version)
    );
    CREATE TABLE kms_aliases (
        name TEXT COLLATE "C" PRIMARY KEY,
        key_id TEXT COLLATE "C" NOT NULL REFERENCES kms_keys(key_id) ON DELETE CASCADE,
        created_ms BIGINT NOT NULL,
        updated_ms BIGINT NOT NULL
    );
    CREATE TABLE secrets (
        arn TEXT COLLATE "C" PRIMARY KEY,
        name TEXT COLLATE "C" NOT NULL UNIQUE,
        revision BIGINT NOT NULL,
        created_ms BIGINT NOT NULL,
        last_accessed_ms BIGINT,
        deletion_due_ms BIGINT,
        rotation_due_ms BIGINT,
        meta TEXT NOT NULL,
        ord BIGINT GENERATED ALWAYS AS IDENTITY
    );
    CREATE INDEX secrets_deletion_due ON secrets(deletion_due_ms) WHERE deletion_due_ms IS NOT NULL;
    CREATE INDEX secrets_rotation_due ON secrets(rotation_due_ms) WHERE rotation_due_ms IS NOT NULL;
    CREATE TABLE secret_versions (
        secret_arn TEXT COLLATE "C" NOT NULL REFERENCES secrets(arn) ON DELETE CASCADE,
        version_id TEXT COLLATE "C" NOT NULL,
        created_ms BIGINT NOT NULL,
        stages TEXT NOT NULL,
        last_accessed_ms BIGINT,
        has_value BOOLEAN NOT NULL,
        kms_key_id TEXT,
        kind TEXT,
        wrapped_key BYTEA,
        ciphertext BYTEA,
        PRIMARY KEY (secret_arn, version_id)
    );
    CREATE TABLE ssm_parameters (
        name TEXT COLLATE "C" PRIMARY KEY,
        revision BIGINT NOT NULL,
        meta TEXT NOT NULL
    );
    CREATE TABLE ssm_parameter_values (
        name TEXT COLLATE "C" NOT NULL REFERENCES ssm_parameters(name) ON DELETE CASCADE,
        version BIGINT NOT NULL,
        kms_key_id TEXT NOT NULL,
        wrapped_key BYTEA NOT NULL,
        ciphertext BYTEA NOT NULL,
        PRIMARY KEY (name, version)
    );
    CREATE TABLE iam_users (
        name TEXT COLLATE "C" PRIMARY KEY,
        id TEXT NOT NULL UNIQUE,
        arn TEXT NOT NULL,
        path TEXT NOT NULL,
        created_ms BIGINT NOT NULL,
        permissions_boundary TEXT
    );
    CREATE TABLE iam_access_keys (
        id TEXT COLLATE "C" PRIMARY KEY,
        user_name TEXT COLLATE "C" NOT NULL REFERENCES iam_users(name),
        status TEXT NOT NULL,
        kms_key_id TEXT NOT NULL,
        wrapped_key BYTEA NOT NULL,
        ciphertext BYTEA NOT NULL,
        created_ms BIGINT NOT NULL,
        ord BIGINT GENERATED ALWAYS AS IDENTITY
    );
    CREATE TABLE iam_user_policies (
        user_name TEXT COLLATE "C" NOT NULL REFERENCES iam_users(name),
        policy_name TEXT COLLATE "C" NOT NULL,
        document TEXT NOT NULL,
        PRIMARY KEY (user_name, policy_name)
    );
    CREATE TABLE iam_managed_policies (
        arn TEXT COLLATE "C" PRIMARY KEY,
        name TEXT COLLATE "C" NOT NULL UNIQUE,
        doc TEXT NOT NULL
    );
    CREATE TABLE iam_user_attachments (
        user_name TEXT COLLATE "C" NOT NULL REFERENCES iam_users(name),
        policy_arn TEXT COLLATE "C" NOT NULL REFERENCES iam_managed_policies(arn),
        PRIMARY KEY (user_name, policy_arn)
    );
    CREATE TABLE iam_roles (
        name TEXT COLLATE "C" PRIMARY KEY,
        doc TEXT NOT NULL
    );
    CREATE TABLE iam_role_attachments (
        role_name TEXT COLLATE "C" NOT NULL REFERENCES iam_roles(name),
        policy_arn TEXT COLLATE "C" NOT NULL REFERENCES iam_managed_policies(arn),
        PRIMARY KEY (role_name, policy_arn)
    );
    CREATE TABLE iam_groups (
        name TEXT COLLATE "C" PRIMARY KEY,
        doc TEXT NOT NULL
    );
    CREATE TABLE iam_group_members (
        group_name TEXT COLLATE "C" NOT NULL REFERENCES iam_groups(name),
        user_name TEXT COLLATE "C" NOT NULL REFERENCES iam_users(name),
        PRIMARY KEY (group_name, user_name)
    );
    CREATE TABLE iam_group_attachments (
        group_name TEXT COLLATE "C" NOT NULL REFERENCES iam_groups(name),
        policy_arn TEXT COLLATE "C" NOT NULL REFERENCES iam_managed_policies(arn),
        PRIMARY KEY (group_name, policy_arn)
    );
    CREATE TABLE cw_alarms (
        name TEXT COLLATE "C" PRIMARY KEY,
        doc TEXT NOT NULL
    );
    "#,
    ),
    (
        2,
        // Several nodes: every change another node must see in its memory (cached secrets, the IAM
        // directory, KMS keys, alarms) is announced on CHANGES_CHANNEL when its transaction
        // commits, as `<schema> secret <arn>` or `<schema> iam|kms|alarms`.
        r#"
    CREATE FUNCTION strongroom_notify_secret() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        PERFORM pg_notify('strongroom_changes', TG_TABLE_SCHEMA || ' secret ' ||
            CASE WHEN TG_OP = 'DELETE' THEN OLD.arn ELSE NEW.arn END);
        RETURN NULL;
    END $$;
    CREATE FUNCTION strongroom_notify_kind() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        PERFORM pg_notify('strongroom_changes', TG_TABLE_SCHEMA || ' ' || TG_ARGV[0]);
        RETURN NULL;
    END $$;
    CREATE TRIGGER secrets_changed AFTER INSERT OR UPDATE OR DELETE ON secrets
        FOR EACH ROW EXECUTE FUNCTION strongroom_notify_secret();
    CREATE TRIGGER iam_users_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON iam_users FOR EACH STATEMENT EXECUTE FUNCTION strongroom_notify_kind('iam');
    CREATE TRIGGER iam_access_keys_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON iam_access_keys FOR EACH STATEMENT EXECUTE FUNCTION strongroom_notify_kind('iam');
    CREATE TRIGGER iam_user_policies_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON iam_user_policies FOR EACH STATEMENT EXECUTE FUNCTION strongroom_notify_kind('iam');
    CREATE TRIGGER iam_managed_policies_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON iam_managed_policies FOR EACH STATEMENT EXECUTE FUNCTION strongroom_notify_kind('iam');
    CREATE TRIGGER iam_user_attachments_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON iam_user_attachments FOR EACH STATEMENT EXECUTE FUNCTION strongroom_notify_kind('iam');
    CREATE TRIGGER iam_roles_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON iam_roles FOR EACH STATEMENT EXECUTE FUNCTION strongroom_notify_kind('iam');
    CREATE TRIGGER iam_role_attachments_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON iam_role_attachments FOR EACH STATEMENT EXECUTE FUNCTION strongroom_notify_kind('iam');
    CREATE TRIGGER iam_groups_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON iam_groups FOR EACH STATEMENT EXECUTE FUNCTION strongroom_notify_kind('iam');
    CREATE TRIGGER iam_group_members_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON iam_group_members FOR EACH STATEMENT EXECUTE FUNCTION strongroom_notify_kind('iam');
    CREATE TRIGGER iam_group_attachments_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON iam_group_attachments FOR EACH STATEMENT EXECUTE FUNCTION strongroom_notify_kind('iam');
    CREATE TRIGGER kms_keys_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON kms_keys FOR EACH STATEMENT EXECUTE FUNCTION strongroom_notify_kind('kms');
    CREATE TRIGGER kms_key_materials_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON kms_key_materials FOR EACH STATEMENT EXECUTE FUNCTION strongroom_notify_kind('kms');
    CREATE TRIGGER kms_aliases_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON kms_aliases FOR EACH STATEMENT EXECUTE FUNCTION strongroom_notify_kind('kms');
    CREATE TRIGGER cw_alarms_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON cw_alarms FOR EACH STATEMENT EXECUTE FUNCTION strongroom_notify_kind('alarms');
    "#,
    ),
    (
        3,
        // Console passwords (SQLite's migration 10). Sign-in failures are deliberately not
        // announced: nothing caches them, and a burst of failed sign-ins must not make every
        // node re-read the directory.
        r#"
    CREATE TABLE iam_login_profiles (
        user_name TEXT COLLATE "C" PRIMARY KEY REFERENCES iam_users(name),
        password_hash TEXT NOT NULL,
        created_ms BIGINT NOT NULL,
        password_set_ms BIGINT NOT NULL,
        reset_required BOOLEAN NOT NULL,
        previous_hashes TEXT NOT NULL
    );
    CREATE TABLE iam_password_policy (
        id INTEGER PRIMARY KEY CHECK (id = 1),
        doc TEXT NOT NULL
    );
    -- No foreign key: failures for unknown users are counted under '' (the same write either way).
    CREATE TABLE iam_sign_in_failures (
        user_name TEXT COLLATE "C" PRIMARY KEY,
        failures BIGINT NOT NULL,
        locked_until_ms BIGINT
    );
    CREATE TRIGGER iam_login_profiles_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON iam_login_profiles FOR EACH STATEMENT EXECUTE FUNCTION strongroom_notify_kind('iam');
    CREATE TRIGGER iam_password_policy_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON iam_password_policy FOR EACH STATEMENT EXECUTE FUNCTION strongroom_notify_kind('iam');
    "#,
    ),
    (
        4,
        // Listings from indexes (issue 13; SQLite's migration 11, same columns and indexes):
        // one index per ListSecrets sort, keyset-paged, and indexed flags for the background
        // sweeps, generated from the metadata document so writes stay as they are.
        r#"
    ALTER TABLE secrets ADD COLUMN last_changed_ms BIGINT
        GENERATED ALWAYS AS (((meta::jsonb) ->> 'last_changed_ms')::bigint) STORED;
    ALTER TABLE secrets ADD COLUMN accessed_key BIGINT
        GENERATED ALWAYS AS (coalesce(last_accessed_ms, -1)) STORED;
    ALTER TABLE secrets ADD COLUMN replicated BOOLEAN
        GENERATED ALWAYS AS (jsonb_array_length(coalesce((meta::jsonb) -> 'replication' -> 'replicas', '[]'::jsonb)) > 0) STORED;
    CREATE INDEX secrets_by_created ON secrets(created_ms, name, arn);
    CREATE INDEX secrets_by_accessed ON secrets(accessed_key, name, arn);
    CREATE INDEX secrets_by_changed ON secrets(last_changed_ms, name, arn);
    CREATE INDEX secrets_replicated ON secrets(arn) WHERE replicated;
    ALTER TABLE ssm_parameters ADD COLUMN list_name TEXT COLLATE "C"
        GENERATED ALWAYS AS (CASE WHEN left(name, 1) = '/' AND length(name) > 1
            AND strpos(substr(name, 2), '/') = 0 THEN substr(name, 2) ELSE name END) STORED;
    ALTER TABLE ssm_parameters ADD COLUMN has_policies BOOLEAN
        GENERATED ALWAYS AS (jsonb_array_length(coalesce((meta::jsonb) -> 'versions' -> -1 -> 'policies', '[]'::jsonb)) > 0) STORED;
    CREATE INDEX ssm_parameters_listed ON ssm_parameters(list_name, name);
    CREATE INDEX ssm_parameters_with_policies ON ssm_parameters(name) WHERE has_policies;
    "#,
    ),
    (
        5,
        // The console's sorts by description and by next rotation (issue 12; SQLite's
        // migration 12, same columns and indexes, same values).
        r#"
    ALTER TABLE secrets ADD COLUMN description_key TEXT COLLATE "C"
        GENERATED ALWAYS AS (left(coalesce((meta::jsonb) ->> 'description', ''), 200)) STORED;
    ALTER TABLE secrets ADD COLUMN rotation_key_asc BIGINT
        GENERATED ALWAYS AS (coalesce(CASE WHEN ((meta::jsonb) -> 'rotation' ->> 'enabled') = 'true'
            AND ((meta::jsonb) -> 'rotation' ->> 'next_rotation_ms') IS NOT NULL
            THEN coalesce(((meta::jsonb) -> 'rotation' ->> 'next_rotation_date_ms')::bigint,
                ((meta::jsonb) -> 'rotation' ->> 'next_rotation_ms')::bigint) END, 9223372036854775807)) STORED;
    ALTER TABLE secrets ADD COLUMN rotation_key_desc BIGINT
        GENERATED ALWAYS AS (coalesce(CASE WHEN ((meta::jsonb) -> 'rotation' ->> 'enabled') = 'true'
            AND ((meta::jsonb) -> 'rotation' ->> 'next_rotation_ms') IS NOT NULL
            THEN coalesce(((meta::jsonb) -> 'rotation' ->> 'next_rotation_date_ms')::bigint,
                ((meta::jsonb) -> 'rotation' ->> 'next_rotation_ms')::bigint) END, -1)) STORED;
    CREATE INDEX secrets_by_description ON secrets(description_key, name, arn);
    CREATE INDEX secrets_by_rotation_asc ON secrets(rotation_key_asc, name, arn);
    CREATE INDEX secrets_by_rotation_desc ON secrets(rotation_key_desc, name, arn);
    "#,
    ),
    (
        6,
        // A secret's change is also announced on SECRET_CHANGES_CHANNEL with the writing
        // store's origin (`<schema> <origin> <arn>`), so a node can tell its own writes — its
        // cache already holds them — from other nodes': hearing its own dropped every secret it
        // had just written or stamped. The old announcement stays, for nodes of the previous
        // version still running against this database.
        r#"
    CREATE OR REPLACE FUNCTION strongroom_notify_secret() RETURNS trigger LANGUAGE plpgsql AS $$
    DECLARE
        changed TEXT := CASE WHEN TG_OP = 'DELETE' THEN OLD.arn ELSE NEW.arn END;
    BEGIN
        PERFORM pg_notify('strongroom_changes', TG_TABLE_SCHEMA || ' secret ' || changed);
        PERFORM pg_notify('strongroom_secret_changes', TG_TABLE_SCHEMA || ' ' ||
            coalesce(nullif(current_setting('strongroom.origin', true), ''), '-') || ' ' || changed);
        RETURN NULL;
    END $$;
    "#,
    ),
];

/// The channel of the change announcements (migration 2).
pub const CHANGES_CHANNEL: &str = "strongroom_changes";

/// The channel of secrets' change announcements with their writer (migration 6):
/// `<schema> <origin> <arn>`, the origin `-` for a connection that named none.
pub const SECRET_CHANGES_CHANNEL: &str = "strongroom_secret_changes";

/// The custom setting a store's connections name their origin in, for the announcements.
const ORIGIN_SETTING: &str = "strongroom.origin";

/// The schema a region's store lives in: the home region's is [`HOME_SCHEMA`] (as the home
/// region keeps the data directory's own SQLite file), another's `strongroom_us_west_2`.
pub fn schema_for_region(region: &str, home: bool) -> String {
    if home {
        HOME_SCHEMA.to_string()
    } else {
        format!("{HOME_SCHEMA}_{}", region.replace('-', "_"))
    }
}

/// The regions whose stores a database holds: (region name, home), from its schemas — the home
/// region's has no name of its own in the database (`None`). Only schemas with a store's
/// tables count (not `strongroom_audit`, nor a schema an administrator made and nothing used).
pub async fn region_schemas(
    options: &PgConnectOptions,
) -> Result<Vec<(Option<String>, String)>, StoreError> {
    use sqlx::ConnectOptions as _;
    let mut conn = options
        .clone()
        .application_name("strongroom")
        .connect()
        .await
        .map_err(|e| StoreError::Backend(format!("cannot connect to PostgreSQL: {e}")))?;
    let schemas: Vec<String> = sqlx::query_scalar(
        "SELECT n.nspname::TEXT FROM pg_namespace n
         WHERE (n.nspname = $1 OR n.nspname LIKE $1 || '\\_%')
           AND EXISTS (SELECT 1 FROM pg_tables t WHERE t.schemaname = n.nspname AND t.tablename = 'secrets')
         ORDER BY n.nspname",
    )
    .bind(HOME_SCHEMA)
    .fetch_all(&mut conn)
    .await
    .map_err(backend)?;
    let _ = sqlx::Connection::close(conn).await;
    Ok(schemas
        .into_iter()
        .map(|s| {
            let region = s
                .strip_prefix(&format!("{HOME_SCHEMA}_"))
                .map(|r| r.replace('_', "-"));
            (region, s)
        })
        .collect())
}

/// Schema names are interpolated into SQL (identifiers cannot be bound): only lower-case
/// letters, digits and `_`, starting with a letter or `_`, at most 63 bytes (PostgreSQL's limit).
fn check_schema(schema: &str) -> Result<(), StoreError> {
    let ok = !schema.is_empty()
        && schema.len() <= 63
        && schema
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
        && !schema.as_bytes()[0].is_ascii_digit();
    if ok {
        Ok(())
    } else {
        Err(StoreError::Backend(format!(
            "invalid PostgreSQL schema name {schema:?}"
        )))
    }
}

pub struct PostgresStore {
    pool: PgPool,
    /// Names this store's writes in the announcements ([`SECRET_CHANGES_CHANNEL`]): random
    /// per store, so another process on the same data directory (a `strongroom` command) or
    /// another region's store is never taken for this one.
    origin: String,
}

impl PostgresStore {
    /// Connect to the database of `url` (libpq's URL form; `sslmode` as libpq; the password
    /// from the URL, else PGPASSWORD, else the pgpass file) and use `schema`, creating and
    /// migrating it if needed.
    pub async fn open(url: &str, schema: &str) -> Result<Self, StoreError> {
        Self::open_with(connect_options(url)?, schema).await
    }

    /// As [`Self::open`], with options already parsed (e.g. a password set from a file).
    pub async fn open_with(options: PgConnectOptions, schema: &str) -> Result<Self, StoreError> {
        check_schema(schema)?;
        let origin = uuid::Uuid::new_v4().simple().to_string();
        let options = options
            .application_name("strongroom")
            // Every connection of this store sees its schema only (and pg_catalog).
            .options([("search_path", schema)])
            .options([(ORIGIN_SETTING, origin.as_str())])
            .options(SESSION_TIMEOUTS);
        let pool = PgPoolOptions::new()
            .max_connections(MAX_CONNECTIONS)
            .acquire_timeout(ACQUIRE_TIMEOUT)
            .connect_with(options)
            .await
            .map_err(|e| StoreError::Backend(format!("cannot connect to PostgreSQL: {e}")))?;
        if let Err(e) = Self::migrate(&pool, schema).await {
            // Close before returning, so no connection lingers holding the lock.
            pool.close().await;
            return Err(e);
        }
        Ok(Self { pool, origin })
    }

    async fn migrate(pool: &PgPool, schema: &str) -> Result<(), StoreError> {
        let mut tx = pool.begin().await.map_err(backend)?;
        match Self::migrate_in(&mut tx, schema).await {
            Ok(()) => tx.commit().await.map_err(backend),
            Err(e) => {
                let _ = tx.rollback().await;
                Err(e)
            }
        }
    }

    async fn migrate_in(
        tx: &mut sqlx::Transaction<'_, sqlx::Postgres>,
        schema: &str,
    ) -> Result<(), StoreError> {
        // A migration of a large table, or the wait for another node's, may take long.
        sqlx::raw_sql("SET LOCAL statement_timeout = 0")
            .execute(&mut **tx)
            .await
            .map_err(backend)?;
        // One migrator at a time per schema, across every node: the lock goes with the
        // transaction, so a migrator that dies releases it.
        sqlx::query("SELECT pg_advisory_xact_lock($1, hashtext($2))")
            .bind(MIGRATION_LOCK_CLASS)
            .bind(schema)
            .execute(&mut **tx)
            .await
            .map_err(backend)?;
        // Checked first: CREATE SCHEMA IF NOT EXISTS needs the CREATE privilege on the
        // database even when the schema exists (one an administrator made is fine).
        let exists: bool =
            sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = $1)")
                .bind(schema)
                .fetch_one(&mut **tx)
                .await
                .map_err(backend)?;
        if !exists {
            // The name was checked by `check_schema`: safe to interpolate.
            sqlx::raw_sql(AssertSqlSafe(format!("CREATE SCHEMA \"{schema}\"")))
                .execute(&mut **tx)
                .await
                .map_err(backend)?;
        }
        // The connection's search_path named the schema before it existed: set it again so
        // what follows is created in it.
        sqlx::raw_sql(AssertSqlSafe(format!(
            "SET LOCAL search_path TO \"{schema}\""
        )))
        .execute(&mut **tx)
        .await
        .map_err(backend)?;
        sqlx::raw_sql(
            "CREATE TABLE IF NOT EXISTS schema_migrations (version BIGINT PRIMARY KEY, applied_ms BIGINT NOT NULL)",
        )
        .execute(&mut **tx)
        .await
        .map_err(backend)?;
        let applied: Vec<i64> = sqlx::query_scalar("SELECT version FROM schema_migrations")
            .fetch_all(&mut **tx)
            .await
            .map_err(backend)?;
        if let Some(newer) = applied
            .iter()
            .find(|v| !MIGRATIONS.iter().any(|(m, _)| m == *v))
        {
            return Err(StoreError::Backend(format!(
                "schema {schema} has migration {newer}, which this Strongroom does not know: it was written by a newer version"
            )));
        }
        for (version, sql) in MIGRATIONS {
            if applied.contains(version) {
                continue;
            }
            sqlx::raw_sql(*sql)
                .execute(&mut **tx)
                .await
                .map_err(backend)?;
            sqlx::query("INSERT INTO schema_migrations (version, applied_ms) VALUES ($1, $2)")
                .bind(version)
                .bind(now_ms())
                .execute(&mut **tx)
                .await
                .map_err(backend)?;
        }
        Ok(())
    }

    /// Rows of an IAM table kept as one JSON document each.
    async fn load_docs<T: serde::de::DeserializeOwned>(
        &self,
        sql: &'static str,
    ) -> Result<Vec<T>, StoreError> {
        let docs: Vec<String> = sqlx::query_scalar(sql)
            .fetch_all(&self.pool)
            .await
            .map_err(backend)?;
        docs.iter()
            .map(|d| serde_json::from_str(d).map_err(backend))
            .collect()
    }

    /// Insert or update a JSON-document row: `sql` binds $1 = key, $2 = document.
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
            .execute(&self.pool)
            .await
        {
            Ok(_) => Ok(()),
            Err(e) if is_unique_violation(&e) => Err(StoreError::NameTaken),
            Err(e) => Err(backend(e)),
        }
    }

    /// Begin a transaction that writes. Inside a background job's [`fence::scope`] it first
    /// checks that the background lease still carries the job's token and has not run out,
    /// and share-locks the lease row: no other node's takeover commits before this write
    /// does (or is refused).
    async fn begin_write(&self) -> Result<sqlx::Transaction<'static, Postgres>, StoreError> {
        let mut tx = self.pool.begin().await.map_err(backend)?;
        if let Some(token) = fence::current() {
            let held: Option<i32> = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
                "SELECT 1 FROM {HOME_SCHEMA}.leases WHERE job = $1 AND token = $2 AND expires_at > clock_timestamp() FOR SHARE"
            )))
            .bind(fence::BACKGROUND_JOB)
            .bind(token)
            .fetch_optional(&mut *tx)
            .await
            .map_err(backend)?;
            if held.is_none() {
                return Err(StoreError::Fenced(token));
            }
        }
        Ok(tx)
    }

    /// Run a statement binding one or two text parameters; whether a row changed. A
    /// background job's statement runs in a fenced transaction ([`Self::begin_write`]).
    async fn changed(
        &self,
        sql: &'static str,
        a: &str,
        b: Option<&str>,
    ) -> Result<bool, StoreError> {
        let mut q = sqlx::query(sql).bind(a);
        if let Some(b) = b {
            q = q.bind(b);
        }
        let n = if fence::current().is_some() {
            let mut tx = self.begin_write().await?;
            let n = q.execute(&mut *tx).await.map_err(backend)?.rows_affected();
            tx.commit().await.map_err(backend)?;
            n
        } else {
            q.execute(&self.pool)
                .await
                .map_err(backend)?
                .rows_affected()
        };
        Ok(n > 0)
    }

    /// Run an INSERT of a (text, text) pair that does nothing if the pair exists.
    async fn insert_pair(&self, sql: &'static str, a: &str, b: &str) -> Result<(), StoreError> {
        sqlx::query(sql)
            .bind(a)
            .bind(b)
            .execute(&self.pool)
            .await
            .map_err(backend)?;
        Ok(())
    }

    async fn pairs(&self, sql: &'static str) -> Result<Vec<(String, String)>, StoreError> {
        sqlx::query_as(sql)
            .fetch_all(&self.pool)
            .await
            .map_err(backend)
    }

    /// Secrets of `sql` (binding `binds`) with their versions, from one snapshot so a secret
    /// and its versions agree.
    async fn secrets_where(
        &self,
        sql: String,
        binds: Vec<Bind>,
    ) -> Result<Vec<Secret>, StoreError> {
        let mut tx = self.pool.begin().await.map_err(backend)?;
        sqlx::raw_sql("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            .execute(&mut *tx)
            .await
            .map_err(backend)?;
        let q = Binds::query(binds, sql);
        let rows = q.fetch_all(&mut *tx).await.map_err(backend)?;
        let arns = rows
            .iter()
            .map(|r| r.try_get::<String, _>("arn"))
            .collect::<Result<Vec<_>, _>>()
            .map_err(backend)?;
        let vrows = sqlx::query(
            "SELECT secret_arn, version_id, created_ms, stages, last_accessed_ms, has_value, kms_key_id
             FROM secret_versions WHERE secret_arn = ANY($1) ORDER BY created_ms, version_id",
        )
        .bind(&arns)
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

/// Parse a `postgres://` URL as libpq does (sslmode, sslrootcert, host, port, ...).
pub fn connect_options(url: &str) -> Result<PgConnectOptions, StoreError> {
    // The URL may carry a password: never repeated in the error.
    PgConnectOptions::from_str(url)
        .map_err(|_| StoreError::Backend("the PostgreSQL URL is not valid".into()))
}

fn version_from_row(row: &PgRow) -> Result<Version, StoreError> {
    let stages: String = row.try_get("stages").map_err(backend)?;
    Ok(Version {
        id: row.try_get("version_id").map_err(backend)?,
        stages: serde_json::from_str(&stages).map_err(backend)?,
        created_ms: row.try_get("created_ms").map_err(backend)?,
        last_accessed_ms: row.try_get("last_accessed_ms").map_err(backend)?,
        has_value: row.try_get("has_value").map_err(backend)?,
        kms_key_id: row.try_get("kms_key_id").map_err(backend)?,
    })
}

fn secret_from_row(row: &PgRow, versions: Vec<Version>) -> Result<Secret, StoreError> {
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

fn parameter_from_row(r: &PgRow) -> Result<Parameter, StoreError> {
    let meta: String = r.try_get("meta").map_err(backend)?;
    parameter_from_columns(&meta, r.try_get("revision").map_err(backend)?)
}

/// A sealed value from the `columns` (as [`VALUE_COLUMNS`]) of `row`.
fn value_from_row(row: &PgRow, columns: [&str; 4]) -> Result<StoredValue, StoreError> {
    let [kms_key_id, kind, wrapped_key, ciphertext] = columns;
    value_from_columns(
        &row.try_get::<String, _>(kind).map_err(backend)?,
        row.try_get(kms_key_id).map_err(backend)?,
        row.try_get(wrapped_key).map_err(backend)?,
        row.try_get(ciphertext).map_err(backend)?,
    )
}

fn sealed_from_row(r: &PgRow) -> Result<Sealed, StoreError> {
    Ok(Sealed::from_stored_parts(
        r.try_get("kms_key_id").map_err(backend)?,
        r.try_get("wrapped_key").map_err(backend)?,
        r.try_get("ciphertext").map_err(backend)?,
    ))
}

macro_rules! select_secrets {
    ($tail:literal) => {
        concat!(
            "SELECT arn, name, revision, created_ms, last_accessed_ms, deletion_due_ms, meta FROM secrets",
            $tail
        )
    };
}

/// [`select_secrets`] with the secret's versions (a JSON array, as
/// [`versions_from_json`] reads) and its AWSCURRENT value (the `current_` columns, NULL
/// without one).
macro_rules! select_secret_with_versions {
    ($where:literal) => {
        concat!(
            "SELECT s.arn, s.name, s.revision, s.created_ms, s.last_accessed_ms,
               s.deletion_due_ms, s.meta,
               (SELECT COALESCE(json_agg(json_build_array(v.version_id, v.created_ms,
                          v.stages::json, v.last_accessed_ms, v.has_value::int, v.kms_key_id)),
                        '[]')::text
                FROM secret_versions v WHERE v.secret_arn = s.arn) AS versions,
               c.version_id AS current_id, c.kms_key_id AS current_kms_key_id,
               c.kind AS current_kind, c.wrapped_key AS current_wrapped_key,
               c.ciphertext AS current_ciphertext
             FROM secrets s LEFT JOIN secret_versions c ON c.secret_arn = s.arn
               AND c.has_value AND c.stages::jsonb @> '[\"AWSCURRENT\"]'",
            $where
        )
    };
}

#[async_trait]
impl Store for PostgresStore {
    fn announces_as(&self) -> Option<&str> {
        Some(&self.origin)
    }

    async fn kms_keys(&self) -> Result<Vec<StoredKmsKey>, StoreError> {
        let rows = sqlx::query(
            "SELECT key_id, arn, alias, description, wrapped_material, created_ms, meta FROM kms_keys ORDER BY created_ms, ord",
        )
        .fetch_all(&self.pool)
        .await
        .map_err(backend)?;
        let materials = sqlx::query(
            "SELECT key_id, version, wrapped_material, created_ms FROM kms_key_materials ORDER BY key_id, version",
        )
        .fetch_all(&self.pool)
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
        let mut tx = self.pool.begin().await.map_err(backend)?;
        sqlx::query(
            "INSERT INTO kms_keys (key_id, arn, alias, description, wrapped_material, created_ms, meta) VALUES ($1, $2, $3, $4, $5, $6, $7)",
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
                "INSERT INTO kms_aliases (name, key_id, created_ms, updated_ms) VALUES ($1, $2, $3, $4)",
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
        let mut tx = self.begin_write().await?;
        let res = sqlx::query("UPDATE kms_keys SET meta = $1 WHERE key_id = $2")
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
                "INSERT INTO kms_key_materials (key_id, version, wrapped_material, created_ms) VALUES ($1, $2, $3, $4)",
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
        self.changed("DELETE FROM kms_keys WHERE key_id = $1", key_id, None)
            .await
    }

    async fn kms_aliases(&self) -> Result<Vec<StoredAlias>, StoreError> {
        let rows = sqlx::query(
            "SELECT name, key_id, created_ms, updated_ms FROM kms_aliases ORDER BY name",
        )
        .fetch_all(&self.pool)
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
        let res = if replace {
            sqlx::query("UPDATE kms_aliases SET key_id = $2, updated_ms = $3 WHERE name = $1")
                .bind(&alias.name)
                .bind(&alias.key_id)
                .bind(alias.updated_ms)
                .execute(&self.pool)
                .await
        } else {
            sqlx::query(
                "INSERT INTO kms_aliases (name, key_id, created_ms, updated_ms) VALUES ($1, $2, $3, $4)",
            )
            .bind(&alias.name)
            .bind(&alias.key_id)
            .bind(alias.created_ms)
            .bind(alias.updated_ms)
            .execute(&self.pool)
            .await
        };
        match res {
            Ok(_) => Ok(()),
            Err(e) if is_unique_violation(&e) => Err(StoreError::NameTaken),
            Err(e) => Err(backend(e)),
        }
    }

    async fn delete_kms_alias(&self, name: &str) -> Result<bool, StoreError> {
        self.changed("DELETE FROM kms_aliases WHERE name = $1", name, None)
            .await
    }

    async fn parameter(&self, name: &str) -> Result<Option<Parameter>, StoreError> {
        let row = sqlx::query("SELECT revision, meta FROM ssm_parameters WHERE name = $1")
            .bind(name)
            .fetch_optional(&self.pool)
            .await
            .map_err(backend)?;
        row.map(|r| parameter_from_row(&r)).transpose()
    }

    async fn parameters(&self) -> Result<Vec<Parameter>, StoreError> {
        let rows = sqlx::query("SELECT revision, meta FROM ssm_parameters ORDER BY name")
            .fetch_all(&self.pool)
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
        let mut binds = Binds::new(|n| format!("${n}"));
        let sql = parameters_page_query(after, prefix, limit, &mut binds);
        let q = Binds::query(binds.values, sql);
        let rows = q.fetch_all(&self.pool).await.map_err(backend)?;
        rows.iter().map(parameter_from_row).collect()
    }

    async fn parameters_with_policies(&self) -> Result<Vec<Parameter>, StoreError> {
        let rows = sqlx::query(
            "SELECT revision, meta FROM ssm_parameters WHERE has_policies ORDER BY name",
        )
        .fetch_all(&self.pool)
        .await
        .map_err(backend)?;
        rows.iter().map(parameter_from_row).collect()
    }

    async fn parameter_count(&self) -> Result<usize, StoreError> {
        let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM ssm_parameters")
            .fetch_one(&self.pool)
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
            "SELECT kms_key_id, wrapped_key, ciphertext FROM ssm_parameter_values WHERE name = $1 AND version = $2",
        )
        .bind(name)
        .bind(version)
        .fetch_optional(&self.pool)
        .await
        .map_err(backend)?;
        row.map(|r| sealed_from_row(&r)).transpose()
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
        let mut tx = self.begin_write().await?;
        let res = match write.expected_revision {
            None => sqlx::query(
                "INSERT INTO ssm_parameters (name, revision, meta) VALUES ($1, $2, $3)",
            )
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
            })?,
            // Takes the parameter's row lock: a concurrent writer waits, then finds the
            // revision moved and changes nothing.
            Some(expected) => sqlx::query(
                "UPDATE ssm_parameters SET revision = $1, meta = $2 WHERE name = $3 AND revision = $4",
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
        let oldest = p
            .versions
            .iter()
            .map(|v| v.version)
            .min()
            .unwrap_or(i64::MAX);
        sqlx::query("DELETE FROM ssm_parameter_values WHERE name = $1 AND version < $2")
            .bind(&p.name)
            .bind(oldest)
            .execute(&mut *tx)
            .await
            .map_err(backend)?;
        for (version, sealed) in &write.new_values {
            sqlx::query(
                "INSERT INTO ssm_parameter_values (name, version, kms_key_id, wrapped_key, ciphertext) VALUES ($1, $2, $3, $4, $5)",
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
        self.changed("DELETE FROM ssm_parameters WHERE name = $1", name, None)
            .await
    }

    async fn secret(&self, key: SecretKey<'_>) -> Result<Option<Secret>, StoreError> {
        Ok(self.secret_with_current(key).await?.map(|(s, _)| s))
    }

    /// The secret, its versions and its AWSCURRENT value in one statement: one round trip,
    /// one snapshot.
    async fn secret_with_current(
        &self,
        key: SecretKey<'_>,
    ) -> Result<Option<WithCurrent>, StoreError> {
        let (sql, arg) = match key {
            SecretKey::Arn(a) => (select_secret_with_versions!(" WHERE s.arn = $1"), a),
            SecretKey::Name(n) => (select_secret_with_versions!(" WHERE s.name = $1"), n),
        };
        let Some(row) = sqlx::query(sql)
            .bind(arg)
            .fetch_optional(&self.pool)
            .await
            .map_err(backend)?
        else {
            return Ok(None);
        };
        let versions: String = row.try_get("versions").map_err(backend)?;
        let secret = secret_from_row(&row, versions_from_json(&versions)?)?;
        let current = match row
            .try_get::<Option<String>, _>("current_id")
            .map_err(backend)?
        {
            Some(id) => Some((id, value_from_row(&row, CURRENT_VALUE_COLUMNS)?)),
            None => None,
        };
        Ok(Some((secret, current)))
    }

    async fn secrets(&self) -> Result<Vec<Secret>, StoreError> {
        // One snapshot for both queries, so a secret and its versions agree.
        let mut tx = self.pool.begin().await.map_err(backend)?;
        sqlx::raw_sql("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            .execute(&mut *tx)
            .await
            .map_err(backend)?;
        let rows = sqlx::query(select_secrets!(" ORDER BY ord"))
            .fetch_all(&mut *tx)
            .await
            .map_err(backend)?;
        let vrows = sqlx::query(
            "SELECT secret_arn, version_id, created_ms, stages, last_accessed_ms, has_value, kms_key_id
             FROM secret_versions ORDER BY created_ms, version_id",
        )
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
            .map(|r| {
                let arn: String = r.try_get("arn").map_err(backend)?;
                secret_from_row(r, by_secret.remove(&arn).unwrap_or_default())
            })
            .collect()
    }

    async fn secrets_page(&self, page: &SecretsPage<'_>) -> Result<Vec<Secret>, StoreError> {
        let mut binds = Binds::new(|n| format!("${n}"));
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
             WHERE secret_arn = $1 AND version_id = $2 AND has_value",
        )
        .bind(secret_arn)
        .bind(version_id)
        .fetch_optional(&self.pool)
        .await
        .map_err(backend)?;
        row.map(|row| value_from_row(&row, VALUE_COLUMNS))
            .transpose()
    }

    async fn commit(&self, write: SecretWrite) -> Result<(), StoreError> {
        let s = &write.secret;
        let meta = meta_json(s)?;
        // The versions as the caller knows them, if it does (see the diff below).
        let known = known_versions(&write)?;
        let checked = known.is_some();
        let mut tx = self.begin_write().await?;
        match write.expected_revision {
            None => {
                let res = sqlx::query(
                    "INSERT INTO secrets (arn, name, revision, created_ms, last_accessed_ms, deletion_due_ms, meta, rotation_due_ms)
                     VALUES ($1, $2, $3, $4, NULL, $5, $6, $7)",
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
                    if is_unique_violation(&e) {
                        return Err(StoreError::NameTaken);
                    }
                    return Err(backend(e));
                }
            }
            Some(expected) => {
                // The secret's row lock serialises its writers (see the module docs): the
                // versions read below cannot change until this transaction ends.
                let done = sqlx::query(
                    "UPDATE secrets SET revision = $1, deletion_due_ms = $2, meta = $3, rotation_due_ms = $4 WHERE arn = $5 AND revision = $6
                     AND ($7::bigint IS NULL OR (SELECT count(*) FROM secret_versions WHERE secret_arn = $5) = $7)",
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
                "UPDATE secret_versions SET kms_key_id = $1, kind = $2, wrapped_key = $3, ciphertext = $4
                 WHERE secret_arn = $5 AND version_id = $6 AND has_value",
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
        // Diff versions against what is stored: from the caller's copy when it has one (each
        // change then checked, see `SecretWrite::stored_versions`), else read back.
        let stored: Vec<StoredVersion> = match known {
            Some(k) => k,
            None => sqlx::query_as(
                "SELECT version_id, stages, has_value FROM secret_versions WHERE secret_arn = $1",
            )
            .bind(&s.arn)
            .fetch_all(&mut *tx)
            .await
            .map_err(backend)?,
        };
        let changes = version_changes(&write, &stored)?;
        for id in changes.deletes {
            let done = sqlx::query(
                "DELETE FROM secret_versions WHERE secret_arn = $1 AND version_id = $2",
            )
            .bind(&s.arn)
            .bind(id)
            .execute(&mut *tx)
            .await
            .map_err(backend)?;
            one_row(done.rows_affected())?;
        }
        for (id, val) in changes.fills {
            let done = sqlx::query(
                "UPDATE secret_versions SET has_value = TRUE, kms_key_id = $1, kind = $2, wrapped_key = $3, ciphertext = $4
                 WHERE secret_arn = $5 AND version_id = $6 AND NOT has_value",
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
                "UPDATE secret_versions SET stages = $1 WHERE secret_arn = $2 AND version_id = $3 AND stages::jsonb = $4::jsonb",
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
                 VALUES ($1, $2, $3, $4, NULL, $5, $6, $7, $8, $9)",
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
        tx.commit().await.map_err(backend)
    }

    async fn purge(&self, secret_arn: &str) -> Result<bool, StoreError> {
        // The secret's row first, its versions by cascade: the lock order of `commit`.
        self.changed("DELETE FROM secrets WHERE arn = $1", secret_arn, None)
            .await
    }

    async fn due_for_purge(&self, now: Millis) -> Result<Vec<String>, StoreError> {
        sqlx::query_scalar(
            "SELECT arn FROM secrets WHERE deletion_due_ms IS NOT NULL AND deletion_due_ms <= $1 ORDER BY ord",
        )
        .bind(now)
        .fetch_all(&self.pool)
        .await
        .map_err(backend)
    }

    async fn due_for_rotation(&self, now: Millis) -> Result<Vec<String>, StoreError> {
        sqlx::query_scalar(
            "SELECT arn FROM secrets WHERE rotation_due_ms IS NOT NULL AND rotation_due_ms <= $1 ORDER BY rotation_due_ms, ord",
        )
        .bind(now)
        .fetch_all(&self.pool)
        .await
        .map_err(backend)
    }

    async fn secret_count(&self) -> Result<usize, StoreError> {
        let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM secrets")
            .fetch_one(&self.pool)
            .await
            .map_err(backend)?;
        Ok(usize::try_from(n).unwrap_or(0))
    }

    async fn record_accesses(&self, stamps: &[AccessStamp]) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await.map_err(backend)?;
        // Each secret's row before its version's: the lock order of `commit`.
        for s in stamps {
            sqlx::query("UPDATE secrets SET last_accessed_ms = $1 WHERE arn = $2")
                .bind(s.day_ms)
                .bind(&s.secret_arn)
                .execute(&mut *tx)
                .await
                .map_err(backend)?;
            sqlx::query(
                "UPDATE secret_versions SET last_accessed_ms = $1 WHERE secret_arn = $2 AND version_id = $3",
            )
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
        let rows = sqlx::query(
            "SELECT name, id, arn, path, created_ms, permissions_boundary FROM iam_users ORDER BY name",
        )
        .fetch_all(&self.pool)
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
            "INSERT INTO iam_users (name, id, arn, path, created_ms, permissions_boundary) VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(&user.name)
        .bind(&user.id)
        .bind(&user.arn)
        .bind(&user.path)
        .bind(user.created_ms)
        .bind(&user.permissions_boundary)
        .execute(&self.pool)
        .await;
        match res {
            Ok(_) => Ok(()),
            Err(e) if is_unique_violation(&e) => Err(StoreError::NameTaken),
            Err(e) => Err(backend(e)),
        }
    }

    async fn set_user_boundary(
        &self,
        name: &str,
        boundary: Option<&str>,
    ) -> Result<bool, StoreError> {
        let n = sqlx::query("UPDATE iam_users SET permissions_boundary = $1 WHERE name = $2")
            .bind(boundary)
            .bind(name)
            .execute(&self.pool)
            .await
            .map_err(backend)?
            .rows_affected();
        Ok(n > 0)
    }

    async fn delete_iam_user(&self, name: &str) -> Result<bool, StoreError> {
        self.changed("DELETE FROM iam_users WHERE name = $1", name, None)
            .await
    }

    async fn access_keys(&self) -> Result<Vec<StoredAccessKey>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, user_name, status, kms_key_id, wrapped_key, ciphertext, created_ms FROM iam_access_keys ORDER BY created_ms, ord",
        )
        .fetch_all(&self.pool)
        .await
        .map_err(backend)?;
        rows.iter()
            .map(|r| {
                Ok(StoredAccessKey {
                    id: r.try_get("id").map_err(backend)?,
                    user_name: r.try_get("user_name").map_err(backend)?,
                    status: r.try_get("status").map_err(backend)?,
                    secret: sealed_from_row(r)?,
                    created_ms: r.try_get("created_ms").map_err(backend)?,
                })
            })
            .collect()
    }

    async fn insert_access_key(&self, key: &StoredAccessKey) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO iam_access_keys (id, user_name, status, kms_key_id, wrapped_key, ciphertext, created_ms)
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(&key.id)
        .bind(&key.user_name)
        .bind(&key.status)
        .bind(key.secret.key_id())
        .bind(key.secret.wrapped_key())
        .bind(key.secret.ciphertext())
        .bind(key.created_ms)
        .execute(&self.pool)
        .await
        .map_err(backend)?;
        Ok(())
    }

    async fn set_access_key_status(&self, id: &str, status: &str) -> Result<bool, StoreError> {
        self.changed(
            "UPDATE iam_access_keys SET status = $2 WHERE id = $1",
            id,
            Some(status),
        )
        .await
    }

    async fn delete_access_key(&self, id: &str) -> Result<bool, StoreError> {
        self.changed("DELETE FROM iam_access_keys WHERE id = $1", id, None)
            .await
    }

    async fn user_policies(&self) -> Result<Vec<StoredUserPolicy>, StoreError> {
        let rows: Vec<(String, String, String)> = sqlx::query_as(
            "SELECT user_name, policy_name, document FROM iam_user_policies ORDER BY user_name, policy_name",
        )
        .fetch_all(&self.pool)
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
            "INSERT INTO iam_user_policies (user_name, policy_name, document) VALUES ($1, $2, $3)
             ON CONFLICT (user_name, policy_name) DO UPDATE SET document = excluded.document",
        )
        .bind(&p.user_name)
        .bind(&p.policy_name)
        .bind(&p.document)
        .execute(&self.pool)
        .await
        .map_err(backend)?;
        Ok(())
    }

    async fn delete_user_policy(
        &self,
        user_name: &str,
        policy_name: &str,
    ) -> Result<bool, StoreError> {
        self.changed(
            "DELETE FROM iam_user_policies WHERE user_name = $1 AND policy_name = $2",
            user_name,
            Some(policy_name),
        )
        .await
    }

    async fn login_profiles(&self) -> Result<Vec<StoredLoginProfile>, StoreError> {
        let rows = sqlx::query(
            "SELECT user_name, password_hash, created_ms, password_set_ms, reset_required, previous_hashes
             FROM iam_login_profiles ORDER BY user_name",
        )
        .fetch_all(&self.pool)
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
                    reset_required: r.try_get("reset_required").map_err(backend)?,
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
             VALUES ($1, $2, $3, $4, $5, $6)
             ON CONFLICT (user_name) DO UPDATE SET password_hash = excluded.password_hash,
                 created_ms = excluded.created_ms, password_set_ms = excluded.password_set_ms,
                 reset_required = excluded.reset_required, previous_hashes = excluded.previous_hashes"
        } else {
            "INSERT INTO iam_login_profiles (user_name, password_hash, created_ms, password_set_ms, reset_required, previous_hashes)
             VALUES ($1, $2, $3, $4, $5, $6)"
        };
        let previous = serde_json::to_string(&p.previous_hashes).map_err(backend)?;
        let res = sqlx::query(sql)
            .bind(&p.user_name)
            .bind(&p.password_hash)
            .bind(p.created_ms)
            .bind(p.password_set_ms)
            .bind(p.reset_required)
            .bind(previous)
            .execute(&self.pool)
            .await;
        match res {
            Ok(_) => Ok(()),
            Err(e) if is_unique_violation(&e) => Err(StoreError::NameTaken),
            Err(e) => Err(backend(e)),
        }
    }

    async fn delete_login_profile(&self, user_name: &str) -> Result<bool, StoreError> {
        let mut tx = self.pool.begin().await.map_err(backend)?;
        let n = sqlx::query("DELETE FROM iam_login_profiles WHERE user_name = $1")
            .bind(user_name)
            .execute(&mut *tx)
            .await
            .map_err(backend)?
            .rows_affected();
        sqlx::query("DELETE FROM iam_sign_in_failures WHERE user_name = $1")
            .bind(user_name)
            .execute(&mut *tx)
            .await
            .map_err(backend)?;
        tx.commit().await.map_err(backend)?;
        Ok(n > 0)
    }

    async fn password_policy(&self) -> Result<Option<String>, StoreError> {
        sqlx::query_scalar("SELECT doc FROM iam_password_policy WHERE id = 1")
            .fetch_optional(&self.pool)
            .await
            .map_err(backend)
    }

    async fn put_password_policy(&self, doc: Option<&str>) -> Result<bool, StoreError> {
        let q = match doc {
            Some(doc) => sqlx::query(
                "INSERT INTO iam_password_policy (id, doc) VALUES (1, $1)
                 ON CONFLICT (id) DO UPDATE SET doc = excluded.doc",
            )
            .bind(doc),
            None => sqlx::query("DELETE FROM iam_password_policy WHERE id = 1"),
        };
        let n = q
            .execute(&self.pool)
            .await
            .map_err(backend)?
            .rows_affected();
        Ok(n > 0)
    }

    async fn sign_in_failures(&self, user_name: &str) -> Result<SignInFailures, StoreError> {
        let row: Option<(i64, Option<i64>)> = sqlx::query_as(
            "SELECT failures, locked_until_ms FROM iam_sign_in_failures WHERE user_name = $1",
        )
        .bind(user_name)
        .fetch_optional(&self.pool)
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
        // One statement: concurrent failures on several nodes each count (the row lock
        // orders them).
        sqlx::query_scalar(
            "INSERT INTO iam_sign_in_failures (user_name, failures) VALUES ($1, 1)
             ON CONFLICT (user_name) DO UPDATE SET failures = iam_sign_in_failures.failures + 1
             RETURNING failures",
        )
        .bind(user_name)
        .fetch_one(&self.pool)
        .await
        .map_err(backend)
    }

    async fn lock_sign_in(&self, user_name: &str, until_ms: Millis) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO iam_sign_in_failures (user_name, failures, locked_until_ms) VALUES ($1, 0, $2)
             ON CONFLICT (user_name) DO UPDATE SET failures = 0, locked_until_ms = excluded.locked_until_ms",
        )
        .bind(user_name)
        .bind(until_ms)
        .execute(&self.pool)
        .await
        .map_err(backend)?;
        Ok(())
    }

    async fn clear_sign_in_failures(&self, user_name: &str) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM iam_sign_in_failures WHERE user_name = $1")
            .bind(user_name)
            .execute(&self.pool)
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
            sqlx::query("UPDATE iam_managed_policies SET doc = $1 WHERE arn = $2")
                .bind(&doc)
                .bind(&p.arn)
                .execute(&self.pool)
                .await
        } else {
            sqlx::query("INSERT INTO iam_managed_policies (arn, name, doc) VALUES ($1, $2, $3)")
                .bind(&p.arn)
                .bind(&p.name)
                .bind(&doc)
                .execute(&self.pool)
                .await
        };
        match res {
            Ok(_) => Ok(()),
            Err(e) if is_unique_violation(&e) => Err(StoreError::NameTaken),
            Err(e) => Err(backend(e)),
        }
    }

    async fn delete_managed_policy(&self, arn: &str) -> Result<bool, StoreError> {
        self.changed("DELETE FROM iam_managed_policies WHERE arn = $1", arn, None)
            .await
    }

    async fn user_attachments(&self) -> Result<Vec<(String, String)>, StoreError> {
        self.pairs(
            "SELECT user_name, policy_arn FROM iam_user_attachments ORDER BY user_name, policy_arn",
        )
        .await
    }

    async fn attach_user_policy(
        &self,
        user_name: &str,
        policy_arn: &str,
    ) -> Result<(), StoreError> {
        self.insert_pair(
            "INSERT INTO iam_user_attachments (user_name, policy_arn) VALUES ($1, $2) ON CONFLICT DO NOTHING",
            user_name,
            policy_arn,
        )
        .await
    }

    async fn detach_user_policy(
        &self,
        user_name: &str,
        policy_arn: &str,
    ) -> Result<bool, StoreError> {
        self.changed(
            "DELETE FROM iam_user_attachments WHERE user_name = $1 AND policy_arn = $2",
            user_name,
            Some(policy_arn),
        )
        .await
    }

    async fn roles(&self) -> Result<Vec<StoredRole>, StoreError> {
        self.load_docs("SELECT doc FROM iam_roles ORDER BY name")
            .await
    }

    async fn put_role(&self, role: &StoredRole, replace: bool) -> Result<(), StoreError> {
        let sql = if replace {
            "UPDATE iam_roles SET doc = $2 WHERE name = $1"
        } else {
            "INSERT INTO iam_roles (name, doc) VALUES ($1, $2)"
        };
        self.write_doc(sql, &role.name, role).await
    }

    async fn delete_role(&self, name: &str) -> Result<bool, StoreError> {
        self.changed("DELETE FROM iam_roles WHERE name = $1", name, None)
            .await
    }

    async fn role_attachments(&self) -> Result<Vec<(String, String)>, StoreError> {
        self.pairs(
            "SELECT role_name, policy_arn FROM iam_role_attachments ORDER BY role_name, policy_arn",
        )
        .await
    }

    async fn attach_role_policy(
        &self,
        role_name: &str,
        policy_arn: &str,
    ) -> Result<(), StoreError> {
        self.insert_pair(
            "INSERT INTO iam_role_attachments (role_name, policy_arn) VALUES ($1, $2) ON CONFLICT DO NOTHING",
            role_name,
            policy_arn,
        )
        .await
    }

    async fn detach_role_policy(
        &self,
        role_name: &str,
        policy_arn: &str,
    ) -> Result<bool, StoreError> {
        self.changed(
            "DELETE FROM iam_role_attachments WHERE role_name = $1 AND policy_arn = $2",
            role_name,
            Some(policy_arn),
        )
        .await
    }

    async fn groups(&self) -> Result<Vec<StoredGroup>, StoreError> {
        self.load_docs("SELECT doc FROM iam_groups ORDER BY name")
            .await
    }

    async fn put_group(&self, group: &StoredGroup, replace: bool) -> Result<(), StoreError> {
        let sql = if replace {
            "UPDATE iam_groups SET doc = $2 WHERE name = $1"
        } else {
            "INSERT INTO iam_groups (name, doc) VALUES ($1, $2)"
        };
        self.write_doc(sql, &group.name, group).await
    }

    async fn delete_group(&self, name: &str) -> Result<bool, StoreError> {
        self.changed("DELETE FROM iam_groups WHERE name = $1", name, None)
            .await
    }

    async fn group_members(&self) -> Result<Vec<(String, String)>, StoreError> {
        self.pairs(
            "SELECT group_name, user_name FROM iam_group_members ORDER BY group_name, user_name",
        )
        .await
    }

    async fn add_group_member(&self, group: &str, user: &str) -> Result<(), StoreError> {
        self.insert_pair(
            "INSERT INTO iam_group_members (group_name, user_name) VALUES ($1, $2) ON CONFLICT DO NOTHING",
            group,
            user,
        )
        .await
    }

    async fn remove_group_member(&self, group: &str, user: &str) -> Result<bool, StoreError> {
        self.changed(
            "DELETE FROM iam_group_members WHERE group_name = $1 AND user_name = $2",
            group,
            Some(user),
        )
        .await
    }

    async fn group_attachments(&self) -> Result<Vec<(String, String)>, StoreError> {
        self.pairs(
            "SELECT group_name, policy_arn FROM iam_group_attachments ORDER BY group_name, policy_arn",
        )
        .await
    }

    async fn attach_group_policy(&self, group: &str, policy_arn: &str) -> Result<(), StoreError> {
        self.insert_pair(
            "INSERT INTO iam_group_attachments (group_name, policy_arn) VALUES ($1, $2) ON CONFLICT DO NOTHING",
            group,
            policy_arn,
        )
        .await
    }

    async fn detach_group_policy(&self, group: &str, policy_arn: &str) -> Result<bool, StoreError> {
        self.changed(
            "DELETE FROM iam_group_attachments WHERE group_name = $1 AND policy_arn = $2",
            group,
            Some(policy_arn),
        )
        .await
    }

    async fn alarms(&self) -> Result<Vec<(String, String)>, StoreError> {
        self.pairs("SELECT name, doc FROM cw_alarms ORDER BY name")
            .await
    }

    async fn write_alarms(
        &self,
        put: &[(String, String)],
        delete: &[String],
    ) -> Result<(), StoreError> {
        let mut tx = self.begin_write().await?;
        for name in delete {
            sqlx::query("DELETE FROM cw_alarms WHERE name = $1")
                .bind(name)
                .execute(&mut *tx)
                .await
                .map_err(backend)?;
        }
        for (name, doc) in put {
            sqlx::query(
                "INSERT INTO cw_alarms (name, doc) VALUES ($1, $2) ON CONFLICT (name) DO UPDATE SET doc = excluded.doc",
            )
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
            .execute(&self.pool)
            .await
            .map_err(backend)?;
        Ok(())
    }

    async fn close(&self) {
        self.pool.close().await;
    }
}

/// The cluster's identity, in the home schema: the account id and a commitment to the root
/// key (`RootKey::check_value`), written by the first node started on the database. A node
/// joins only with the same root key; the account id is adopted from it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClusterIdentity {
    pub account_id: String,
    pub root_key_check: Vec<u8>,
}

/// Held while a node starts on a cluster's database, from reading the cluster's identity until
/// its services are loaded: nodes started together on an empty database start one at a time,
/// so exactly one initializes the cluster (account, root credentials, managed keys) and the
/// others join what it made. A session-level advisory lock: a node that dies while starting
/// releases it with its connection.
pub struct StartLock {
    conn: sqlx::PgConnection,
}

impl StartLock {
    pub async fn acquire(options: &PgConnectOptions) -> Result<Self, StoreError> {
        let mut conn = cluster_connection(options).await?;
        sqlx::query("SELECT pg_advisory_lock($1, 0)")
            .bind(START_LOCK_CLASS)
            .execute(&mut conn)
            .await
            .map_err(backend)?;
        Ok(Self { conn })
    }

    pub async fn release(mut self) -> Result<(), StoreError> {
        sqlx::query("SELECT pg_advisory_unlock($1, 0)")
            .bind(START_LOCK_CLASS)
            .execute(&mut self.conn)
            .await
            .map_err(backend)?;
        Ok(())
    }
}

/// The cluster's root credentials, sealed under the root key (by the caller), stored by the
/// node that initialized the cluster; `None` if no node has stored them yet.
pub async fn cluster_root_credentials(
    options: &PgConnectOptions,
) -> Result<Option<Vec<u8>>, StoreError> {
    let mut conn = cluster_connection(options).await?;
    let row: Option<Option<Vec<u8>>> = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
        "SELECT root_credentials FROM {HOME_SCHEMA}.cluster"
    )))
    .fetch_optional(&mut conn)
    .await
    .map_err(backend)?;
    Ok(row.flatten())
}

/// Store the cluster's sealed root credentials unless some are stored already; returns the
/// ones in force.
pub async fn init_cluster_root_credentials(
    options: &PgConnectOptions,
    sealed: &[u8],
) -> Result<Vec<u8>, StoreError> {
    let mut conn = cluster_connection(options).await?;
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "UPDATE {HOME_SCHEMA}.cluster SET root_credentials = $1 WHERE root_credentials IS NULL"
    )))
    .bind(sealed)
    .execute(&mut conn)
    .await
    .map_err(backend)?;
    cluster_root_credentials(options)
        .await?
        .ok_or_else(|| StoreError::Backend("the cluster is not initialized".into()))
}

async fn cluster_connection(options: &PgConnectOptions) -> Result<sqlx::PgConnection, StoreError> {
    use sqlx::ConnectOptions as _;
    let mut conn = options
        .clone()
        .application_name("strongroom")
        .connect()
        .await
        .map_err(|e| StoreError::Backend(format!("cannot connect to PostgreSQL: {e}")))?;
    for stmt in [
        format!("CREATE SCHEMA IF NOT EXISTS {HOME_SCHEMA}"),
        format!(
            "CREATE TABLE IF NOT EXISTS {HOME_SCHEMA}.cluster (only_row BOOLEAN PRIMARY KEY DEFAULT TRUE CHECK (only_row), account_id TEXT NOT NULL, root_key_check BYTEA NOT NULL, created_ms BIGINT NOT NULL)"
        ),
        // Added after the first clusters were made: their rows get it empty (a node then
        // stores its credentials, as the first node of a new cluster does).
        format!(
            "ALTER TABLE {HOME_SCHEMA}.cluster ADD COLUMN IF NOT EXISTS root_credentials BYTEA"
        ),
    ] {
        // Two nodes starting at once may race to create them: one lock for both.
        let mut tx = sqlx::Connection::begin(&mut conn).await.map_err(backend)?;
        sqlx::query("SELECT pg_advisory_xact_lock($1, 0)")
            .bind(MIGRATION_LOCK_CLASS)
            .execute(&mut *tx)
            .await
            .map_err(backend)?;
        sqlx::query(sqlx::AssertSqlSafe(stmt))
            .execute(&mut *tx)
            .await
            .map_err(backend)?;
        tx.commit().await.map_err(backend)?;
    }
    Ok(conn)
}

/// The cluster's identity, if a node has initialized the database.
pub async fn cluster_identity(
    options: &PgConnectOptions,
) -> Result<Option<ClusterIdentity>, StoreError> {
    let mut conn = cluster_connection(options).await?;
    let row: Option<(String, Vec<u8>)> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT account_id, root_key_check FROM {HOME_SCHEMA}.cluster"
    )))
    .fetch_optional(&mut conn)
    .await
    .map_err(backend)?;
    Ok(row.map(|(account_id, root_key_check)| ClusterIdentity {
        account_id,
        root_key_check,
    }))
}

/// Initialize the cluster with `mine` unless a node already has; returns the identity in
/// force (the caller compares it with its own).
pub async fn init_cluster(
    options: &PgConnectOptions,
    mine: &ClusterIdentity,
    now_ms: i64,
) -> Result<ClusterIdentity, StoreError> {
    let mut conn = cluster_connection(options).await?;
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "INSERT INTO {HOME_SCHEMA}.cluster (account_id, root_key_check, created_ms) VALUES ($1, $2, $3) ON CONFLICT (only_row) DO NOTHING"
    )))
    .bind(&mine.account_id)
    .bind(&mine.root_key_check)
    .bind(now_ms)
    .execute(&mut conn)
    .await
    .map_err(backend)?;
    let (account_id, root_key_check): (String, Vec<u8>) = sqlx::query_as(sqlx::AssertSqlSafe(
        format!("SELECT account_id, root_key_check FROM {HOME_SCHEMA}.cluster"),
    ))
    .fetch_one(&mut conn)
    .await
    .map_err(backend)?;
    Ok(ClusterIdentity {
        account_id,
        root_key_check,
    })
}

/// Leases on jobs that must have one owner across a cluster's nodes (the background work), in
/// the home schema. Time is the database's, so the nodes' clocks do not matter. A lease is
/// held until `ttl` after its holder last renewed it; a new holder gets the next fencing
/// token.
pub struct Leases {
    pool: PgPool,
}

impl Leases {
    pub async fn open(options: &PgConnectOptions) -> Result<Self, StoreError> {
        let mut conn = cluster_connection(options).await?;
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "CREATE TABLE IF NOT EXISTS {HOME_SCHEMA}.leases (job TEXT PRIMARY KEY, holder TEXT NOT NULL, token BIGINT NOT NULL, expires_at TIMESTAMPTZ NOT NULL)"
        )))
        .execute(&mut conn)
        .await
        .map_err(backend)?;
        let pool = PgPoolOptions::new()
            .max_connections(1)
            .acquire_timeout(ACQUIRE_TIMEOUT)
            .connect_with(
                options
                    .clone()
                    .application_name("strongroom-leases")
                    .options(SESSION_TIMEOUTS),
            )
            .await
            .map_err(|e| StoreError::Backend(format!("cannot connect to PostgreSQL: {e}")))?;
        Ok(Self { pool })
    }

    /// Take or renew `job` for `holder`: its fencing token if `holder` has it now, `None` if
    /// another holder's lease is still running.
    pub async fn hold(
        &self,
        job: &str,
        holder: &str,
        ttl: Duration,
    ) -> Result<Option<i64>, StoreError> {
        sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
            "INSERT INTO {HOME_SCHEMA}.leases AS l (job, holder, token, expires_at)
             VALUES ($1, $2, 1, clock_timestamp() + $3 * interval '1 millisecond')
             ON CONFLICT (job) DO UPDATE SET
                 holder = EXCLUDED.holder,
                 token = CASE WHEN l.holder = EXCLUDED.holder THEN l.token ELSE l.token + 1 END,
                 expires_at = EXCLUDED.expires_at
             WHERE l.holder = EXCLUDED.holder OR l.expires_at < clock_timestamp()
             RETURNING token"
        )))
        .bind(job)
        .bind(holder)
        .bind(ttl.as_millis() as i64)
        .fetch_optional(&self.pool)
        .await
        .map_err(backend)
    }

    /// Give `job` up (a node stopping), so another node need not wait for the lease to run out.
    pub async fn release(&self, job: &str, holder: &str) -> Result<(), StoreError> {
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "UPDATE {HOME_SCHEMA}.leases SET expires_at = clock_timestamp() - interval '1 second' WHERE job = $1 AND holder = $2"
        )))
        .bind(job)
        .bind(holder)
        .execute(&self.pool)
        .await
        .map_err(backend)
        .map(|_| ())
    }
}

/// One node's count of one API-call metric in one minute: namespace, name, dimensions (JSON),
/// minute start (epoch ms), count.
pub type SharedDatapoint = (String, String, String, i64, i64);

/// The nodes' API-call metric counts (CloudWatch's `AWS/SecretsManager` and `AWS/SSM`), in a
/// region's schema: each node writes its own per-minute totals and reads the others', so an
/// alarm counts calls from every node however a load balancer spreads them.
pub struct SharedMetrics {
    pool: PgPool,
}

impl SharedMetrics {
    pub async fn open(options: &PgConnectOptions, schema: &str) -> Result<Self, StoreError> {
        check_schema(schema)?;
        let pool = PgPoolOptions::new()
            .max_connections(1)
            .acquire_timeout(ACQUIRE_TIMEOUT)
            .connect_with(
                options
                    .clone()
                    .application_name("strongroom-metrics")
                    .options([("search_path", schema)])
                    .options(SESSION_TIMEOUTS),
            )
            .await
            .map_err(|e| StoreError::Backend(format!("cannot connect to PostgreSQL: {e}")))?;
        sqlx::query(
            "CREATE TABLE IF NOT EXISTS cw_datapoints (node TEXT NOT NULL, namespace TEXT NOT NULL, name TEXT NOT NULL, dims TEXT NOT NULL, minute BIGINT NOT NULL, count BIGINT NOT NULL, PRIMARY KEY (node, namespace, name, dims, minute))",
        )
        .execute(&pool)
        .await
        .map_err(backend)?;
        Ok(Self { pool })
    }

    /// This node's totals for the given minutes (replacing what it wrote before).
    pub async fn put(&self, node: &str, points: &[SharedDatapoint]) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await.map_err(backend)?;
        for (namespace, name, dims, minute, count) in points {
            sqlx::query(
                "INSERT INTO cw_datapoints (node, namespace, name, dims, minute, count) VALUES ($1, $2, $3, $4, $5, $6)
                 ON CONFLICT (node, namespace, name, dims, minute) DO UPDATE SET count = EXCLUDED.count",
            )
            .bind(node)
            .bind(namespace)
            .bind(name)
            .bind(dims)
            .bind(minute)
            .bind(count)
            .execute(&mut *tx)
            .await
            .map_err(backend)?;
        }
        tx.commit().await.map_err(backend)
    }

    /// Every other node's counts from minute `since` on.
    pub async fn others(&self, node: &str, since: i64) -> Result<Vec<SharedDatapoint>, StoreError> {
        sqlx::query_as(
            "SELECT namespace, name, dims, minute, count FROM cw_datapoints WHERE node <> $1 AND minute >= $2",
        )
        .bind(node)
        .bind(since)
        .fetch_all(&self.pool)
        .await
        .map_err(backend)
    }

    /// Retention: counts older than `before` go.
    pub async fn prune(&self, before: i64) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM cw_datapoints WHERE minute < $1")
            .bind(before)
            .execute(&self.pool)
            .await
            .map_err(backend)
            .map(|_| ())
    }
}
