//! What both backends share: the JSON shape of a secret's metadata, how rows become domain
//! values, and error helpers. Keeping it in one place keeps SQLite and PostgreSQL byte-for-byte
//! compatible (the same documents in the same columns), which `strongroom migrate` relies on.

use serde::{Deserialize, Serialize};
use strongroom_domain::parameters::Parameter;
use strongroom_domain::secret::{Millis, Secret, Tag, ValueKind, Version};

use strongroom_domain::filters::{SortBy, SortOrder};

use crate::{ParameterCursor, SecretWrite, SecretsPage, StoreError, StoredValue, prefix_end};

/// Secret fields kept as one JSON document: only the store's own columns are queried.
#[derive(Serialize, Deserialize)]
pub(crate) struct Meta {
    pub(crate) description: Option<String>,
    pub(crate) kms_key_id: Option<String>,
    pub(crate) secret_type: Option<String>,
    pub(crate) tags: Vec<Tag>,
    /// Absent in data written before it existed: then a secret with tags has had them.
    #[serde(default)]
    pub(crate) tagged: bool,
    pub(crate) last_changed_ms: Millis,
    pub(crate) deleted_ms: Option<Millis>,
    #[serde(default)]
    pub(crate) resource_policy: Option<String>,
    #[serde(default)]
    pub(crate) rotation: strongroom_domain::rotation::Rotation,
    #[serde(default)]
    pub(crate) replication: strongroom_domain::replication::Replication,
}

/// The `secrets` table's columns of one row.
pub(crate) struct SecretColumns {
    pub(crate) arn: String,
    pub(crate) name: String,
    pub(crate) revision: i64,
    pub(crate) created_ms: Millis,
    pub(crate) last_accessed_ms: Option<Millis>,
    pub(crate) deletion_due_ms: Option<Millis>,
    pub(crate) meta: String,
}

pub(crate) fn backend(e: impl std::fmt::Display) -> StoreError {
    StoreError::Backend(e.to_string())
}

/// A statement that must have changed exactly one row (the row a write was computed from):
/// anything else means the stored state moved, a `Conflict`.
pub(crate) fn one_row(rows_affected: u64) -> Result<(), StoreError> {
    if rows_affected == 1 {
        Ok(())
    } else {
        Err(StoreError::Conflict)
    }
}

pub(crate) fn is_unique_violation(e: &sqlx::Error) -> bool {
    e.as_database_error()
        .is_some_and(|d| d.is_unique_violation())
}

pub(crate) fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

pub(crate) fn secret_from_columns(
    c: SecretColumns,
    versions: Vec<Version>,
) -> Result<Secret, StoreError> {
    let meta: Meta = serde_json::from_str(&c.meta).map_err(backend)?;
    Ok(Secret {
        arn: c.arn,
        name: c.name,
        description: meta.description,
        kms_key_id: meta.kms_key_id,
        secret_type: meta.secret_type,
        tagged: meta.tagged || !meta.tags.is_empty(),
        tags: meta.tags,
        created_ms: c.created_ms,
        last_changed_ms: meta.last_changed_ms,
        last_accessed_ms: c.last_accessed_ms,
        deleted_ms: meta.deleted_ms,
        deletion_due_ms: c.deletion_due_ms,
        resource_policy: meta.resource_policy,
        rotation: meta.rotation,
        replication: meta.replication,
        revision: c.revision,
        versions,
    })
}

pub(crate) fn meta_json(s: &Secret) -> Result<String, StoreError> {
    serde_json::to_string(&Meta {
        description: s.description.clone(),
        kms_key_id: s.kms_key_id.clone(),
        secret_type: s.secret_type.clone(),
        tags: s.tags.clone(),
        tagged: s.tagged || !s.tags.is_empty(),
        last_changed_ms: s.last_changed_ms,
        deleted_ms: s.deleted_ms,
        resource_policy: s.resource_policy.clone(),
        rotation: s.rotation.clone(),
        replication: s.replication.clone(),
    })
    .map_err(backend)
}

/// A stored version as a write's diff sees it: id, stages (as stored, JSON), has a value.
pub(crate) type StoredVersion = (String, String, bool);

/// The stored versions a write may diff against without reading them: those of the copy it
/// was computed from (`SecretWrite::stored_versions`), for an update. `None`: read them back.
pub(crate) fn known_versions(
    write: &SecretWrite,
) -> Result<Option<Vec<StoredVersion>>, StoreError> {
    let Some(versions) = write
        .stored_versions
        .as_ref()
        .filter(|_| write.expected_revision.is_some())
    else {
        return Ok(None);
    };
    versions
        .iter()
        .map(|v| {
            let stages = serde_json::to_string(&v.stages).map_err(backend)?;
            Ok((v.id.clone(), stages, v.has_value))
        })
        .collect::<Result<_, StoreError>>()
        .map(Some)
}

/// The row changes that take a secret's versions from `stored` to the write's: the same plan
/// for both backends, which only execute it.
#[derive(Default)]
pub(crate) struct VersionChanges<'a> {
    /// Versions dropped (pruned).
    pub(crate) deletes: Vec<&'a str>,
    /// A rotation's value-less version getting its value (once).
    pub(crate) fills: Vec<(&'a str, &'a StoredValue)>,
    /// (id, stages as stored, new stages): labels moved.
    pub(crate) restages: Vec<(&'a str, &'a str, String)>,
    /// New versions, with their values.
    pub(crate) inserts: Vec<(&'a Version, Option<&'a StoredValue>)>,
}

pub(crate) fn version_changes<'a>(
    write: &'a SecretWrite,
    stored: &'a [StoredVersion],
) -> Result<VersionChanges<'a>, StoreError> {
    let mut c = VersionChanges::default();
    let value_of = |id: &str| {
        write
            .new_values
            .iter()
            .find(|(i, _)| i == id)
            .map(|(_, val)| val)
    };
    for (id, stages, had_value) in stored {
        let Some(v) = write.secret.versions.iter().find(|v| &v.id == id) else {
            c.deletes.push(id);
            continue;
        };
        // A rotation's value-less AWSPENDING version gets its value once (the rotation
        // function's PutSecretValue); a stored value never changes.
        if let Some(val) = value_of(id) {
            if *had_value || !v.has_value {
                return Err(StoreError::Backend(format!(
                    "version {id} already has a value"
                )));
            }
            c.fills.push((id, val));
        }
        let new = serde_json::to_string(&v.stages).map_err(backend)?;
        if &new != stages {
            c.restages.push((id, stages, new));
        }
    }
    for v in &write.secret.versions {
        if stored.iter().any(|(id, _, _)| id == &v.id) {
            continue;
        }
        let value = value_of(&v.id);
        if v.has_value != value.is_some() {
            return Err(StoreError::Backend(format!(
                "version {} value presence does not match its metadata",
                v.id
            )));
        }
        c.inserts.push((v, value));
    }
    Ok(c)
}

/// When the scheduler should look at a secret: its next rotation, if rotation is on and the
/// secret is not scheduled for deletion (indexed, so the scheduler never scans every secret).
pub(crate) fn rotation_due(s: &Secret) -> Option<Millis> {
    s.rotation
        .next_rotation_ms
        .filter(|_| s.rotation.enabled && s.deletion_due_ms.is_none())
}

pub(crate) fn parameter_from_columns(meta: &str, revision: i64) -> Result<Parameter, StoreError> {
    let mut p: Parameter = serde_json::from_str(meta).map_err(backend)?;
    p.revision = revision;
    // Every parameter has a version (`Parameter::latest` relies on it): a row without one is
    // damage, refused here rather than met by a request.
    if p.versions.is_empty() {
        return Err(StoreError::Backend(format!(
            "parameter {:?} has no versions",
            p.name
        )));
    }
    Ok(p)
}

/// A value bound to a listing query.
pub(crate) enum Bind {
    Int(i64),
    Text(String),
}

/// Collects a query's bound values, naming each by the backend's placeholder (`?` or `$n`).
pub(crate) struct Binds {
    pub(crate) values: Vec<Bind>,
    placeholder: fn(usize) -> String,
}

impl Binds {
    pub(crate) fn new(placeholder: fn(usize) -> String) -> Self {
        Self {
            values: Vec::new(),
            placeholder,
        }
    }

    /// `sql` with every collected value bound, in order, for either backend.
    pub(crate) fn query<'q, DB>(
        values: Vec<Bind>,
        sql: String,
    ) -> sqlx::query::Query<'q, DB, <DB as sqlx::Database>::Arguments>
    where
        DB: sqlx::Database,
        i64: for<'t> sqlx::Encode<'t, DB> + sqlx::Type<DB>,
        String: for<'t> sqlx::Encode<'t, DB> + sqlx::Type<DB>,
    {
        values
            .into_iter()
            .fold(sqlx::query(sqlx::AssertSqlSafe(sql)), |q, b| match b {
                Bind::Int(i) => q.bind(i),
                Bind::Text(t) => q.bind(t),
            })
    }

    fn push(&mut self, b: Bind) -> String {
        self.values.push(b);
        (self.placeholder)(self.values.len())
    }
}

/// The columns a secrets listing reads (as `select_secrets!` of each backend).
const SECRET_COLUMNS: &str =
    "SELECT arn, name, revision, created_ms, last_accessed_ms, deletion_due_ms, meta FROM secrets";

/// One batch of a secrets listing: a keyset range on the index of the sort column (the
/// generated columns and indexes of SQLite's migrations 11 and 12 and PostgreSQL's 4 and 5
/// have the same names), so the database reads `limit` index entries wherever the listing is.
pub(crate) fn secrets_page_query(q: &SecretsPage<'_>, binds: &mut Binds) -> String {
    let key = match (q.sort_by, q.order) {
        (SortBy::CreatedDate, _) => Some("created_ms"),
        (SortBy::LastAccessedDate, _) => Some("accessed_key"),
        (SortBy::LastChangedDate, _) => Some("last_changed_ms"),
        (SortBy::Description, _) => Some("description_key"),
        // One column per order: secrets without rotation are last in both.
        (SortBy::NextRotationDate, SortOrder::Asc) => Some("rotation_key_asc"),
        (SortBy::NextRotationDate, SortOrder::Desc) => Some("rotation_key_desc"),
        // Names are unique: the name alone orders.
        (SortBy::Name, _) => None,
    };
    let (cmp, dir) = match q.order {
        SortOrder::Asc => (">", "ASC"),
        SortOrder::Desc => ("<", "DESC"),
    };
    let mut conditions = Vec::new();
    if let Some(c) = q.after {
        conditions.push(match key {
            Some(k) => {
                let at = match q.sort_by {
                    SortBy::Description => Bind::Text(c.text.clone()),
                    _ => Bind::Int(c.key),
                };
                let (a, b, c) = (
                    binds.push(at),
                    binds.push(Bind::Text(c.name.clone())),
                    binds.push(Bind::Text(c.arn.clone())),
                );
                format!("({k}, name, arn) {cmp} ({a}, {b}, {c})")
            }
            None => format!("name {cmp} {}", binds.push(Bind::Text(c.name.clone()))),
        });
    }
    if let Some(p) = q.name_prefix.filter(|p| !p.is_empty()) {
        conditions.push(format!("name >= {}", binds.push(Bind::Text(p.into()))));
        if let Some(end) = prefix_end(p) {
            conditions.push(format!("name < {}", binds.push(Bind::Text(end))));
        }
    }
    let order = match key {
        Some(k) => format!("{k} {dir}, name {dir}, arn {dir}"),
        None => format!("name {dir}"),
    };
    let limit = binds.push(Bind::Int(i64::try_from(q.limit).unwrap_or(i64::MAX)));
    let filter = if conditions.is_empty() {
        String::new()
    } else {
        format!(" WHERE {}", conditions.join(" AND "))
    };
    format!("{SECRET_COLUMNS}{filter} ORDER BY {order} LIMIT {limit}")
}

/// One batch of a parameters listing, by the generated `list_name` (the canonical name).
pub(crate) fn parameters_page_query(
    after: Option<&ParameterCursor>,
    prefix: Option<&str>,
    limit: usize,
    binds: &mut Binds,
) -> String {
    let mut conditions = Vec::new();
    if let Some(c) = after {
        let (a, b) = (
            binds.push(Bind::Text(c.list_name.clone())),
            binds.push(Bind::Text(c.name.clone())),
        );
        conditions.push(format!("(list_name, name) > ({a}, {b})"));
    }
    if let Some(p) = prefix.filter(|p| !p.is_empty()) {
        conditions.push(format!("list_name >= {}", binds.push(Bind::Text(p.into()))));
        if let Some(end) = prefix_end(p) {
            conditions.push(format!("list_name < {}", binds.push(Bind::Text(end))));
        }
    }
    let limit = binds.push(Bind::Int(i64::try_from(limit).unwrap_or(i64::MAX)));
    let filter = if conditions.is_empty() {
        String::new()
    } else {
        format!(" WHERE {}", conditions.join(" AND "))
    };
    format!(
        "SELECT revision, meta FROM ssm_parameters{filter} ORDER BY list_name, name LIMIT {limit}"
    )
}

/// Versions read as a JSON array of `[version_id, created_ms, stages, last_accessed_ms,
/// has_value (0/1), kms_key_id]` (a secret's row with its versions in one statement), in the
/// store's order: created, then id.
pub(crate) fn versions_from_json(json: &str) -> Result<Vec<Version>, StoreError> {
    type Columns = (
        String,
        Millis,
        Vec<String>,
        Option<Millis>,
        i64,
        Option<String>,
    );
    let rows: Vec<Columns> = serde_json::from_str(json).map_err(backend)?;
    let mut versions: Vec<Version> = rows
        .into_iter()
        .map(
            |(id, created_ms, stages, last_accessed_ms, has_value, kms_key_id)| Version {
                id,
                stages,
                created_ms,
                last_accessed_ms,
                has_value: has_value != 0,
                kms_key_id,
            },
        )
        .collect();
    versions.sort_by(|a, b| (a.created_ms, &a.id).cmp(&(b.created_ms, &b.id)));
    Ok(versions)
}

/// The columns of a sealed value in `value`'s statement: kms_key_id, kind, wrapped_key,
/// ciphertext.
pub(crate) const VALUE_COLUMNS: [&str; 4] = ["kms_key_id", "kind", "wrapped_key", "ciphertext"];
/// The same, for the AWSCURRENT value read with its secret.
pub(crate) const CURRENT_VALUE_COLUMNS: [&str; 4] = [
    "current_kms_key_id",
    "current_kind",
    "current_wrapped_key",
    "current_ciphertext",
];

/// A sealed value from its stored columns (each backend reads [`VALUE_COLUMNS`] or
/// [`CURRENT_VALUE_COLUMNS`] of its own row type).
pub(crate) fn value_from_columns(
    kind: &str,
    kms_key_id: String,
    wrapped_key: Vec<u8>,
    ciphertext: Vec<u8>,
) -> Result<StoredValue, StoreError> {
    let kind = ValueKind::parse(kind)
        .ok_or_else(|| StoreError::Backend(format!("bad value kind {kind:?}")))?;
    Ok(StoredValue {
        kind,
        sealed: strongroom_barrier::Sealed::from_stored_parts(kms_key_id, wrapped_key, ciphertext),
    })
}
