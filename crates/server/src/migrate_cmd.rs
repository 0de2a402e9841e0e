//! `strongroom migrate --from SRC --to DST`: move a deployment's data between stores — a data
//! directory's SQLite stores and a PostgreSQL database, either way (issue 11, "Moving data").
//!
//! - Everything goes through the [`Store`] trait, region by region (the home region's store and
//!   `regions/<name>/` / `strongroom_<name>`): KMS keys with every material, aliases, secrets
//!   with every version, parameters, alarms and, in the home region, IAM. Values stay sealed:
//!   both sides use the one root key of the data directory, so nothing is decrypted to move
//!   it — but before anything is written the root key must unwrap the source's KMS keys and
//!   open a value, and afterwards every value on the target is opened through the barrier.
//! - Resumable: each item's fingerprint (SHA-256 of everything it holds, sealed bytes
//!   included) is compared on both sides; what the target has identically is skipped, what it
//!   lacks is copied, an interrupted copy of an item is finished, and anything else that
//!   differs is left alone and reported unless `--overwrite` ([`strongroom_domain::migration`]).
//! - Verified: afterwards both sides are read again and compared kind by kind — counts and the
//!   fingerprint of every item, including every secret and parameter version's sealed bytes.
//! - The audit history: a data dir's chain (its segments) is the node's own; moved to
//!   PostgreSQL it is mirrored into the cluster's history under the data dir's node id, as a
//!   node does at start, so `strongroom audit verify --cluster` covers it. The other way the
//!   database keeps the cluster's history and the data dir its own chain.

use std::collections::BTreeMap;
use std::io::IsTerminal as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde_json::{Value, json};
use sqlx::postgres::PgConnectOptions;
use strongroom_barrier::{Barrier, RootKey, Sealed, ValueBinding};
use strongroom_domain::migration::{Step, plan};
use strongroom_domain::parameters::Parameter;
use strongroom_domain::secret::Secret;
use strongroom_store::postgres::PostgresStore;
use strongroom_store::sqlite::SqliteStore;
use strongroom_store::{
    IamUser, ParameterWrite, SecretWrite, Store, StoreError, StoredAccessKey, StoredAlias,
    StoredGroup, StoredKmsKey, StoredLoginProfile, StoredManagedPolicy, StoredRole,
    StoredUserPolicy, StoredValue,
};

use crate::config::redact_url;

#[derive(clap::Args, Debug)]
pub struct MigrateArgs {
    /// Where the data is: a data directory (its SQLite stores) or a postgres:// URL.
    #[arg(long, value_name = "DATA_DIR|POSTGRES_URL")]
    pub from: String,
    /// Where it goes: a data directory (made if missing) or a postgres:// URL.
    #[arg(long, value_name = "DATA_DIR|POSTGRES_URL")]
    pub to: String,
    /// The data directory holding the root key and account id [default: the side that is a
    /// data directory, the source first].
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
    /// Only these regions [default: every region the source holds].
    #[arg(long, value_delimiter = ',')]
    pub regions: Vec<String>,
    /// Replace target items that differ from the source's and remove those the source lacks.
    #[arg(long)]
    pub overwrite: bool,
    /// The root key's seal, as the server's `--seal`.
    #[arg(long)]
    pub seal: Option<String>,
    /// The root key's passphrase seal, as the server's `--seal-passphrase-file`.
    #[arg(long)]
    pub seal_passphrase_file: Option<PathBuf>,
    /// Test hook: stop after this many writes, as an interrupted migration would.
    #[arg(long, hide = true)]
    pub limit: Option<u64>,
}

/// Why a migration stopped; each has its exit code.
enum Failure {
    /// Bad arguments, or sides that do not belong together (another root key or account): 2.
    Refused(String),
    /// A store failed, or verification found a difference: 1.
    Failed(String),
    /// `--limit` reached: 1, and running again continues.
    Interrupted(u64),
}

fn refused(e: impl std::fmt::Display) -> Failure {
    Failure::Refused(e.to_string())
}

fn failed(e: impl std::fmt::Display) -> Failure {
    Failure::Failed(e.to_string())
}

/// Exit code: 0 migrated and verified, 1 failed or a difference found, 2 refused.
pub async fn run(args: MigrateArgs) -> u8 {
    match migrate(&args).await {
        Ok(summary) => {
            print!("{summary}");
            if summary.ok() { 0 } else { 1 }
        }
        Err(Failure::Refused(e)) => {
            eprintln!("strongroom migrate: {e}");
            2
        }
        Err(Failure::Failed(e)) => {
            eprintln!("strongroom migrate: {e}");
            1
        }
        Err(Failure::Interrupted(n)) => {
            eprintln!(
                "strongroom migrate: stopped after {n} writes (--limit); run the same command again to continue"
            );
            1
        }
    }
}

/// One side of a migration.
enum Side {
    Dir(PathBuf),
    Postgres {
        url: String,
        options: Box<PgConnectOptions>,
    },
}

impl Side {
    fn parse(s: &str) -> Result<Self, Failure> {
        if s.starts_with("postgres://") || s.starts_with("postgresql://") {
            let options = strongroom_store::postgres::connect_options(s)
                .map_err(|e| refused(format!("{}: {e}", redact_url(s))))?;
            Ok(Self::Postgres {
                url: s.to_string(),
                options: Box::new(options),
            })
        } else {
            Ok(Self::Dir(PathBuf::from(s)))
        }
    }

    fn describe(&self) -> String {
        match self {
            Self::Dir(d) => d.display().to_string(),
            Self::Postgres { url, .. } => redact_url(url),
        }
    }

    fn dir(&self) -> Option<&Path> {
        match self {
            Self::Dir(d) => Some(d),
            Self::Postgres { .. } => None,
        }
    }

    /// The regions a source holds: the home region (`None`) and others by name.
    async fn regions(&self) -> Result<Vec<Option<String>>, Failure> {
        match self {
            Self::Dir(d) => {
                if !d.join("strongroom.db").is_file() {
                    return Err(refused(format!(
                        "{} holds no Strongroom store (strongroom.db)",
                        d.display()
                    )));
                }
                let mut out = vec![None];
                if let Ok(entries) = std::fs::read_dir(d.join("regions")) {
                    let mut names: Vec<String> = entries
                        .filter_map(|e| e.ok())
                        .filter(|e| e.path().join("strongroom.db").is_file())
                        .filter_map(|e| e.file_name().to_str().map(str::to_string))
                        .collect();
                    names.sort();
                    out.extend(names.into_iter().map(Some));
                }
                Ok(out)
            }
            Self::Postgres { options, .. } => {
                let schemas = strongroom_store::postgres::region_schemas(options)
                    .await
                    .map_err(failed)?;
                if !schemas.iter().any(|(r, _)| r.is_none()) {
                    return Err(refused(format!(
                        "{} holds no Strongroom store (schema {})",
                        self.describe(),
                        strongroom_store::postgres::HOME_SCHEMA
                    )));
                }
                Ok(schemas.into_iter().map(|(r, _)| r).collect())
            }
        }
    }

    /// The store of a region (`None`: the home region's), made if missing.
    async fn open(&self, region: Option<&str>) -> Result<Arc<dyn Store>, Failure> {
        let what = |e: StoreError| {
            failed(format!(
                "{} ({}): {e}",
                self.describe(),
                region.unwrap_or("home region")
            ))
        };
        Ok(match self {
            Self::Dir(d) => {
                crate::server::prepare_data_dir(d).map_err(failed)?;
                let dir = match region {
                    None => d.clone(),
                    Some(name) => {
                        let regions = d.join("regions");
                        crate::server::prepare_data_dir(&regions).map_err(failed)?;
                        let dir = regions.join(name);
                        crate::server::prepare_data_dir(&dir).map_err(failed)?;
                        dir
                    }
                };
                Arc::new(SqliteStore::open(&dir).await.map_err(what)?)
            }
            Self::Postgres { options, .. } => {
                let schema = strongroom_store::postgres::schema_for_region(
                    region.unwrap_or_default(),
                    region.is_none(),
                );
                Arc::new(
                    PostgresStore::open_with((**options).clone(), &schema)
                        .await
                        .map_err(what)?,
                )
            }
        })
    }
}

/// The root key, and the account it belongs to, from the data directory holding them.
struct Keys {
    dir: PathBuf,
    account: String,
    root_key: RootKey,
}

async fn load_keys(args: &MigrateArgs, from: &Side, to: &Side) -> Result<Keys, Failure> {
    let dir = match (&args.data_dir, from.dir(), to.dir()) {
        (Some(d), _, _) => d.clone(),
        (None, Some(d), _) => d.to_path_buf(),
        (None, None, Some(d)) if d.join("root.key").exists() => d.to_path_buf(),
        _ => {
            return Err(refused(
                "neither side is a data directory holding the root key: name it with --data-dir",
            ));
        }
    };
    let account = std::fs::read_to_string(dir.join("account-id"))
        .map(|s| s.trim().to_string())
        .map_err(|e| {
            refused(format!(
                "{}: {e} (the data directory of the deployment whose data moves)",
                dir.join("account-id").display()
            ))
        })?;
    let root_key = load_root_key(args, &dir, &account).await?;
    Ok(Keys {
        dir,
        account,
        root_key,
    })
}

async fn load_root_key(args: &MigrateArgs, dir: &Path, account: &str) -> Result<RootKey, Failure> {
    let seal = crate::root_key_cmd::server_seal(
        args.seal.as_deref(),
        args.seal_passphrase_file.as_deref(),
        account,
    )
    .await
    .map_err(refused)?;
    let path = dir.join("root.key");
    if !path.exists() {
        return Err(refused(format!("{} does not exist", path.display())));
    }
    RootKey::load(&path, seal.as_deref())
        .await
        .map_err(|e| refused(format!("{}: {e}", path.display())))
}

/// Both sides must belong to the keys' deployment: a data directory with another root key or
/// account, or a database initialized by another cluster, is refused before anything moves.
async fn check_sides(
    args: &MigrateArgs,
    keys: &Keys,
    from: &Side,
    to: &Side,
) -> Result<(), Failure> {
    for side in [from, to] {
        match side {
            Side::Dir(d) if d.as_path() != keys.dir.as_path() => {
                if let Ok(saved) = std::fs::read_to_string(d.join("account-id"))
                    && saved.trim() != keys.account
                {
                    return Err(refused(format!(
                        "{} belongs to account {}, {} to {}",
                        d.display(),
                        saved.trim(),
                        keys.dir.display(),
                        keys.account
                    )));
                }
                if d.join("root.key").exists() {
                    let other = load_root_key(args, d, &keys.account).await?;
                    if !other.same_as(&keys.root_key) {
                        return Err(refused(format!(
                            "{} holds another root key than {}: its values could not be opened with it",
                            d.join("root.key").display(),
                            keys.dir.join("root.key").display()
                        )));
                    }
                }
            }
            Side::Dir(_) => {}
            Side::Postgres { options, .. } => {
                let cluster = strongroom_store::postgres::cluster_identity(options)
                    .await
                    .map_err(failed)?;
                if let Some(c) = cluster {
                    check_identity(side, keys, &c)?;
                }
            }
        }
    }
    Ok(())
}

fn check_identity(
    side: &Side,
    keys: &Keys,
    c: &strongroom_store::postgres::ClusterIdentity,
) -> Result<(), Failure> {
    if c.root_key_check != keys.root_key.check_value() {
        return Err(refused(format!(
            "{} belongs to a Strongroom cluster whose root key is not {}",
            side.describe(),
            keys.dir.join("root.key").display()
        )));
    }
    if c.account_id != keys.account {
        return Err(refused(format!(
            "{} belongs to account {}, {} to {}",
            side.describe(),
            c.account_id,
            keys.dir.display(),
            keys.account
        )));
    }
    Ok(())
}

/// Make the target a home for the data: a database records the cluster's identity as a first
/// node does; a new data directory gets copies of the root key, account id and root
/// credentials (a server started on it must open what it holds).
async fn prepare_target(keys: &Keys, to: &Side) -> Result<(), Failure> {
    match to {
        Side::Postgres { options, .. } => {
            let mine = strongroom_store::postgres::ClusterIdentity {
                account_id: keys.account.clone(),
                root_key_check: keys.root_key.check_value().to_vec(),
            };
            let now = strongroom_store_now_ms();
            let c = strongroom_store::postgres::init_cluster(options, &mine, now)
                .await
                .map_err(failed)?;
            check_identity(to, keys, &c)
        }
        Side::Dir(d) => {
            crate::server::prepare_data_dir(d).map_err(failed)?;
            if d.as_path() == keys.dir.as_path() {
                return Ok(());
            }
            for file in ["root.key", "account-id", "root-credentials.json"] {
                let (src, dst) = (keys.dir.join(file), d.join(file));
                if dst.exists() || !src.exists() {
                    continue;
                }
                std::fs::copy(&src, &dst)
                    .map_err(|e| failed(format!("cannot copy {}: {e}", src.display())))?;
                #[cfg(unix)]
                {
                    use std::os::unix::fs::PermissionsExt;
                    std::fs::set_permissions(&dst, std::fs::Permissions::from_mode(0o600))
                        .map_err(|e| failed(format!("{}: {e}", dst.display())))?;
                }
            }
            Ok(())
        }
    }
}

fn strongroom_store_now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// The kinds of items, in the order they are copied (what an item refers to goes first).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Kind {
    KmsKeys,
    KmsAliases,
    Secrets,
    Parameters,
    Alarms,
    IamUsers,
    AccessKeys,
    LoginProfiles,
    PasswordPolicy,
    UserPolicies,
    ManagedPolicies,
    UserAttachments,
    Roles,
    RoleAttachments,
    Groups,
    GroupMembers,
    GroupAttachments,
    /// Verification only: every version of every secret (copied with its secret).
    SecretVersions,
    /// Verification only: every version of every parameter.
    ParameterVersions,
}

const REGION_KINDS: &[Kind] = &[
    Kind::KmsKeys,
    Kind::KmsAliases,
    Kind::Secrets,
    Kind::Parameters,
    Kind::Alarms,
];
/// IAM is global: it lives in the home region's store.
const IAM_KINDS: &[Kind] = &[
    Kind::IamUsers,
    Kind::AccessKeys,
    Kind::LoginProfiles,
    Kind::PasswordPolicy,
    Kind::UserPolicies,
    Kind::ManagedPolicies,
    Kind::UserAttachments,
    Kind::Roles,
    Kind::RoleAttachments,
    Kind::Groups,
    Kind::GroupMembers,
    Kind::GroupAttachments,
];

impl Kind {
    fn label(self) -> &'static str {
        match self {
            Kind::KmsKeys => "KMS keys",
            Kind::KmsAliases => "KMS aliases",
            Kind::Secrets => "secrets",
            Kind::SecretVersions => "secret versions",
            Kind::Parameters => "parameters",
            Kind::ParameterVersions => "parameter versions",
            Kind::Alarms => "alarms",
            Kind::IamUsers => "IAM users",
            Kind::AccessKeys => "access keys",
            Kind::LoginProfiles => "console passwords",
            Kind::PasswordPolicy => "account password policy",
            Kind::UserPolicies => "user inline policies",
            Kind::ManagedPolicies => "managed policies",
            Kind::UserAttachments => "user policy attachments",
            Kind::Roles => "roles",
            Kind::RoleAttachments => "role policy attachments",
            Kind::Groups => "groups",
            Kind::GroupMembers => "group members",
            Kind::GroupAttachments => "group policy attachments",
        }
    }
}

/// A secret with the values of its versions.
#[derive(Clone)]
struct SecretItem {
    secret: Secret,
    values: Vec<(String, StoredValue)>,
}

/// A parameter with the values of its versions.
#[derive(Clone)]
struct ParameterItem {
    parameter: Parameter,
    values: Vec<(i64, Sealed)>,
}

enum Item {
    Key(StoredKmsKey),
    Alias(StoredAlias),
    Secret(Box<SecretItem>),
    Parameter(Box<ParameterItem>),
    Alarm(String, String),
    User(IamUser),
    AccessKey(StoredAccessKey),
    /// A console password: its hash, never the password.
    LoginProfile(StoredLoginProfile),
    /// The account password policy's document.
    PasswordPolicy(String),
    UserPolicy(StoredUserPolicy),
    Managed(StoredManagedPolicy),
    Role(StoredRole),
    Group(StoredGroup),
    /// (user / role / group, policy ARN / user)
    Pair(String, String),
}

type Fingerprint = [u8; 32];

fn fingerprint(v: &Value) -> Fingerprint {
    let bytes = serde_json::to_vec(v).unwrap_or_default();
    let d = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, &bytes);
    let mut out = [0u8; 32];
    out.copy_from_slice(d.as_ref());
    out
}

fn sealed_json(s: &Sealed) -> Value {
    json!({
        "key_id": s.key_id(),
        "wrapped_key": hex::encode(s.wrapped_key()),
        "ciphertext": hex::encode(s.ciphertext()),
    })
}

fn to_json<T: serde::Serialize>(t: &T) -> Value {
    serde_json::to_value(t).unwrap_or(Value::Null)
}

fn key_json(k: &StoredKmsKey, rotated: usize) -> Value {
    json!({
        "key_id": k.key_id, "arn": k.arn, "alias": k.alias, "description": k.description,
        "wrapped": hex::encode(&k.wrapped.0), "created_ms": k.created_ms,
        "meta": k.meta.as_ref().map(to_json),
        "rotated": k.rotated.iter().take(rotated).map(|m| json!({
            "version": m.version, "wrapped": hex::encode(&m.wrapped.0), "created_ms": m.created_ms,
        })).collect::<Vec<_>>(),
    })
}

fn secret_version_json(s: &SecretItem, v: &strongroom_domain::secret::Version) -> Value {
    let value = s
        .values
        .iter()
        .find(|(id, _)| id == &v.id)
        .map(|(_, val)| json!({"kind": val.kind.as_str(), "sealed": sealed_json(&val.sealed)}));
    json!({"version": to_json(v), "value": value})
}

/// A secret as copied: metadata, every version and every value; `stamped`: with its
/// LastAccessedDates (written after the secret itself, so an interrupted copy may lack them).
fn secret_json(s: &SecretItem, stamped: bool) -> Value {
    let mut secret = s.secret.clone();
    if !stamped {
        secret.last_accessed_ms = None;
        for v in &mut secret.versions {
            v.last_accessed_ms = None;
        }
    }
    let item = SecretItem {
        secret,
        values: s.values.clone(),
    };
    json!({
        "secret": to_json(&item.secret),
        "versions": item.secret.versions.iter().map(|v| secret_version_json(&item, v)).collect::<Vec<_>>(),
    })
}

fn parameter_version_json(
    p: &ParameterItem,
    v: &strongroom_domain::parameters::ParameterVersion,
) -> Value {
    let value = p
        .values
        .iter()
        .find(|(n, _)| *n == v.version)
        .map(|(_, s)| sealed_json(s));
    json!({"version": to_json(v), "value": value})
}

fn parameter_json(p: &ParameterItem) -> Value {
    json!({
        "parameter": to_json(&p.parameter),
        "versions": p.parameter.versions.iter().map(|v| parameter_version_json(p, v)).collect::<Vec<_>>(),
    })
}

/// One item as listed: its id, fingerprint and content.
type Listed = (String, Fingerprint, Item);

/// Every item of `kind` in `store`.
async fn list(store: &dyn Store, kind: Kind) -> Result<Vec<Listed>, StoreError> {
    let pairs = |v: Vec<(String, String)>| -> Vec<Listed> {
        v.into_iter()
            .map(|(a, b)| {
                let id = format!("{a} {b}");
                let fp = fingerprint(&json!([a, b]));
                (id, fp, Item::Pair(a, b))
            })
            .collect()
    };
    Ok(match kind {
        Kind::KmsKeys => store
            .kms_keys()
            .await?
            .into_iter()
            .map(|k| {
                (
                    k.key_id.clone(),
                    fingerprint(&key_json(&k, k.rotated.len())),
                    Item::Key(k),
                )
            })
            .collect(),
        Kind::KmsAliases => store
            .kms_aliases()
            .await?
            .into_iter()
            .map(|a| {
                let fp = fingerprint(&json!([a.name, a.key_id, a.created_ms, a.updated_ms]));
                (a.name.clone(), fp, Item::Alias(a))
            })
            .collect(),
        Kind::Secrets => {
            let mut out = Vec::new();
            for secret in store.secrets().await? {
                let mut values = Vec::new();
                for v in secret.versions.iter().filter(|v| v.has_value) {
                    if let Some(val) = store.value(&secret.arn, &v.id).await? {
                        values.push((v.id.clone(), val));
                    }
                }
                let item = SecretItem { secret, values };
                out.push((
                    item.secret.arn.clone(),
                    fingerprint(&secret_json(&item, true)),
                    Item::Secret(Box::new(item)),
                ));
            }
            out
        }
        Kind::Parameters => {
            let mut out = Vec::new();
            for parameter in store.parameters().await? {
                let mut values = Vec::new();
                for v in &parameter.versions {
                    if let Some(s) = store.parameter_value(&parameter.name, v.version).await? {
                        values.push((v.version, s));
                    }
                }
                let item = ParameterItem { parameter, values };
                out.push((
                    item.parameter.name.clone(),
                    fingerprint(&parameter_json(&item)),
                    Item::Parameter(Box::new(item)),
                ));
            }
            out
        }
        Kind::Alarms => store
            .alarms()
            .await?
            .into_iter()
            .map(|(n, d)| (n.clone(), fingerprint(&json!([n, d])), Item::Alarm(n, d)))
            .collect(),
        Kind::IamUsers => store
            .iam_users()
            .await?
            .into_iter()
            .map(|u| {
                let fp = fingerprint(&json!([
                    u.name,
                    u.id,
                    u.arn,
                    u.path,
                    u.created_ms,
                    u.permissions_boundary
                ]));
                (u.name.clone(), fp, Item::User(u))
            })
            .collect(),
        Kind::AccessKeys => store
            .access_keys()
            .await?
            .into_iter()
            .map(|k| {
                let fp = fingerprint(&json!([
                    k.id,
                    k.user_name,
                    k.status,
                    sealed_json(&k.secret),
                    k.created_ms
                ]));
                (k.id.clone(), fp, Item::AccessKey(k))
            })
            .collect(),
        Kind::LoginProfiles => store
            .login_profiles()
            .await?
            .into_iter()
            .map(|p| {
                let fp = fingerprint(&json!([
                    p.user_name,
                    p.password_hash,
                    p.created_ms,
                    p.password_set_ms,
                    p.reset_required,
                    p.previous_hashes
                ]));
                (p.user_name.clone(), fp, Item::LoginProfile(p))
            })
            .collect(),
        Kind::PasswordPolicy => store
            .password_policy()
            .await?
            .into_iter()
            .map(|d| {
                (
                    "account".to_string(),
                    fingerprint(&json!(d)),
                    Item::PasswordPolicy(d),
                )
            })
            .collect(),
        Kind::UserPolicies => store
            .user_policies()
            .await?
            .into_iter()
            .map(|p| {
                let fp = fingerprint(&json!([p.user_name, p.policy_name, p.document]));
                (
                    format!("{} {}", p.user_name, p.policy_name),
                    fp,
                    Item::UserPolicy(p),
                )
            })
            .collect(),
        Kind::ManagedPolicies => store
            .managed_policies()
            .await?
            .into_iter()
            .map(|p| (p.arn.clone(), fingerprint(&to_json(&p)), Item::Managed(p)))
            .collect(),
        Kind::Roles => store
            .roles()
            .await?
            .into_iter()
            .map(|r| (r.name.clone(), fingerprint(&to_json(&r)), Item::Role(r)))
            .collect(),
        Kind::Groups => store
            .groups()
            .await?
            .into_iter()
            .map(|g| (g.name.clone(), fingerprint(&to_json(&g)), Item::Group(g)))
            .collect(),
        Kind::UserAttachments => pairs(store.user_attachments().await?),
        Kind::RoleAttachments => pairs(store.role_attachments().await?),
        Kind::GroupMembers => pairs(store.group_members().await?),
        Kind::GroupAttachments => pairs(store.group_attachments().await?),
        Kind::SecretVersions => {
            let mut out = Vec::new();
            for (_, _, item) in Box::pin(list(store, Kind::Secrets)).await? {
                let Item::Secret(s) = item else { continue };
                for v in &s.secret.versions {
                    let fp = fingerprint(&secret_version_json(&s, v));
                    out.push((
                        format!("{} {}", s.secret.arn, v.id),
                        fp,
                        Item::Pair(String::new(), String::new()),
                    ));
                }
            }
            out
        }
        Kind::ParameterVersions => {
            let mut out = Vec::new();
            for (_, _, item) in Box::pin(list(store, Kind::Parameters)).await? {
                let Item::Parameter(p) = item else { continue };
                for v in &p.parameter.versions {
                    let fp = fingerprint(&parameter_version_json(&p, v));
                    out.push((
                        format!("{}:{}", p.parameter.name, v.version),
                        fp,
                        Item::Pair(String::new(), String::new()),
                    ));
                }
            }
            out
        }
    })
}

/// Whether the target's `t` is an interrupted migration's unfinished copy of the source's `s`
/// (`s` is `None` for an item the source lacks); `keys`: the source's KMS keys.
fn unfinished(keys: &[StoredKmsKey], s: Option<&Item>, t: &Item) -> bool {
    match (s, t) {
        // A key is inserted, then its rotated materials added one by one.
        (Some(Item::Key(s)), Item::Key(t)) => {
            t.rotated.len() < s.rotated.len()
                && key_json(s, t.rotated.len()) == key_json(t, t.rotated.len())
        }
        // A secret is written, then its LastAccessedDates: one with none yet, otherwise the
        // same. (Stamps the target has of its own — a server there read it — are a difference.)
        (Some(Item::Secret(s)), Item::Secret(t)) => {
            t.secret.last_accessed_ms.is_none()
                && t.secret
                    .versions
                    .iter()
                    .all(|v| v.last_accessed_ms.is_none())
                && secret_json(s, false) == secret_json(t, false)
        }
        // Inserting a key also writes the alias it was created with, as it was at creation.
        (_, Item::Alias(t)) => keys.iter().any(|k| {
            k.key_id == t.key_id
                && k.alias.as_deref().map(|a| format!("alias/{a}")).as_deref()
                    == Some(t.name.as_str())
                && t.created_ms == k.created_ms
                && t.updated_ms == k.created_ms
        }),
        _ => false,
    }
}

/// What happened to one kind of one region.
#[derive(Default)]
struct Tally {
    copied: u64,
    skipped: u64,
    resumed: u64,
    replaced: u64,
    removed: u64,
    /// Ids of items left differing (conflicts) or only on the target (extras).
    left: Vec<String>,
}

/// The copy's state across regions and kinds.
struct Copier<'a> {
    overwrite: bool,
    limit: Option<u64>,
    writes: u64,
    progress: &'a Progress,
}

impl Copier<'_> {
    fn count_write(&mut self) -> Result<(), Failure> {
        if self.limit.is_some_and(|l| self.writes >= l) {
            return Err(Failure::Interrupted(self.writes));
        }
        self.writes += 1;
        Ok(())
    }

    async fn copy_kind(
        &mut self,
        region: &str,
        kind: Kind,
        src: &dyn Store,
        dst: &dyn Store,
    ) -> Result<Tally, Failure> {
        let err = |e: StoreError| failed(format!("{region}: {}: {e}", kind.label()));
        let source = list(src, kind).await.map_err(err)?;
        let target = list(dst, kind).await.map_err(err)?;
        let keys = if kind == Kind::KmsAliases {
            src.kms_keys().await.map_err(err)?
        } else {
            Vec::new()
        };
        self.progress
            .stage(&format!("{region}: {}", kind.label()), source.len());
        let src_fps: Vec<(String, Fingerprint)> =
            source.iter().map(|(id, fp, _)| (id.clone(), *fp)).collect();
        let dst_fps: BTreeMap<String, Fingerprint> =
            target.iter().map(|(id, fp, _)| (id.clone(), *fp)).collect();
        let find = |items: &'_ [Listed], id: &str| -> Option<usize> {
            items.iter().position(|(i, _, _)| i == id)
        };
        let steps = plan(&src_fps, &dst_fps, self.overwrite, |id| {
            let Some(t) = find(&target, id) else {
                return false;
            };
            let s = find(&source, id).map(|i| &source[i].2);
            unfinished(&keys, s, &target[t].2)
        });
        let mut tally = Tally::default();
        for (id, step) in steps {
            let s = find(&source, &id).map(|i| &source[i].2);
            let t = find(&target, &id).map(|i| &target[i].2);
            match step {
                Step::Skip => tally.skipped += 1,
                Step::Conflict | Step::Extra => tally.left.push(id.clone()),
                Step::Copy | Step::Resume | Step::Replace | Step::Remove => {
                    self.count_write()?;
                    match apply(dst, step, s, t).await {
                        Ok(()) => match step {
                            Step::Copy => tally.copied += 1,
                            Step::Resume => tally.resumed += 1,
                            Step::Replace => tally.replaced += 1,
                            _ => tally.removed += 1,
                        },
                        // Another item holds its name on the target.
                        Err(StoreError::NameTaken) => tally.left.push(id.clone()),
                        Err(e) => {
                            return Err(failed(format!("{region}: {} {id}: {e}", kind.label())));
                        }
                    }
                }
            }
            if s.is_some() {
                self.progress.step();
            }
        }
        self.progress.line(&format!(
            "{region}: {}: {} copied, {} already there{}{}{}{}",
            kind.label(),
            tally.copied,
            tally.skipped,
            if tally.resumed > 0 {
                format!(", {} finished", tally.resumed)
            } else {
                String::new()
            },
            if tally.replaced > 0 {
                format!(", {} replaced", tally.replaced)
            } else {
                String::new()
            },
            if tally.removed > 0 {
                format!(", {} removed", tally.removed)
            } else {
                String::new()
            },
            if tally.left.is_empty() {
                String::new()
            } else {
                format!(
                    ", {} left differing (--overwrite replaces them)",
                    tally.left.len()
                )
            },
        ));
        Ok(tally)
    }
}

/// Carry out one step on the target; `s` is the source's item, `t` the target's.
async fn apply(
    dst: &dyn Store,
    step: Step,
    s: Option<&Item>,
    t: Option<&Item>,
) -> Result<(), StoreError> {
    if matches!(step, Step::Remove | Step::Replace)
        && let Some(t) = t
    {
        remove(dst, t).await?;
        if step == Step::Remove {
            return Ok(());
        }
    }
    let Some(s) = s else { return Ok(()) };
    let resume = step == Step::Resume;
    match s {
        Item::Key(k) => {
            let done = match (resume, t) {
                (true, Some(Item::Key(t))) => t.rotated.len(),
                _ => {
                    dst.insert_kms_key(k).await?;
                    0
                }
            };
            if !k.rotated.is_empty() {
                let meta = k.meta.as_ref().ok_or_else(|| {
                    StoreError::Backend(format!(
                        "KMS key {} has rotated materials but no metadata",
                        k.key_id
                    ))
                })?;
                for m in &k.rotated[done..] {
                    dst.update_kms_key(&k.key_id, meta, Some(m)).await?;
                }
            }
        }
        Item::Alias(a) => {
            if resume {
                dst.delete_kms_alias(&a.name).await?;
            }
            dst.put_kms_alias(a, false).await?;
        }
        Item::Secret(item) => {
            if !resume {
                dst.commit(SecretWrite {
                    expected_revision: None,
                    secret: item.secret.clone(),
                    new_values: item.values.clone(),
                    resealed: Vec::new(),
                    stored_versions: None,
                })
                .await?;
            }
            let s = &item.secret;
            for v in &s.versions {
                if let Some(t) = v.last_accessed_ms {
                    dst.record_access(&s.arn, &v.id, t).await?;
                }
            }
            // The secret's own stamp last (each version's stamp above set it too); no version
            // has the empty id.
            if let Some(t) = s.last_accessed_ms {
                dst.record_access(&s.arn, "", t).await?;
            }
        }
        Item::Parameter(p) => {
            dst.commit_parameter(ParameterWrite {
                expected_revision: None,
                parameter: p.parameter.clone(),
                new_values: p.values.clone(),
            })
            .await?;
        }
        Item::Alarm(n, d) => dst.write_alarms(&[(n.clone(), d.clone())], &[]).await?,
        Item::User(u) => dst.insert_iam_user(u).await?,
        Item::AccessKey(k) => dst.insert_access_key(k).await?,
        Item::LoginProfile(p) => dst.put_login_profile(p, false).await?,
        Item::PasswordPolicy(d) => dst.put_password_policy(Some(d)).await.map(drop)?,
        Item::UserPolicy(p) => dst.put_user_policy(p).await?,
        Item::Managed(p) => dst.put_managed_policy(p, step == Step::Replace).await?,
        Item::Role(r) => dst.put_role(r, step == Step::Replace).await?,
        Item::Group(g) => dst.put_group(g, step == Step::Replace).await?,
        Item::Pair(..) => return Err(StoreError::Backend("a pair has no kind".into())),
    }
    Ok(())
}

async fn remove(dst: &dyn Store, t: &Item) -> Result<(), StoreError> {
    match t {
        Item::Key(k) => dst.delete_kms_key(&k.key_id).await.map(drop),
        Item::Alias(a) => dst.delete_kms_alias(&a.name).await.map(drop),
        Item::Secret(s) => dst.purge(&s.secret.arn).await.map(drop),
        Item::Parameter(p) => dst.delete_parameter(&p.parameter.name).await.map(drop),
        Item::Alarm(n, _) => dst.write_alarms(&[], std::slice::from_ref(n)).await,
        Item::User(u) => dst.delete_iam_user(&u.name).await.map(drop),
        Item::AccessKey(k) => dst.delete_access_key(&k.id).await.map(drop),
        Item::LoginProfile(p) => dst.delete_login_profile(&p.user_name).await.map(drop),
        Item::PasswordPolicy(_) => dst.put_password_policy(None).await.map(drop),
        Item::UserPolicy(p) => dst
            .delete_user_policy(&p.user_name, &p.policy_name)
            .await
            .map(drop),
        Item::Managed(p) => dst.delete_managed_policy(&p.arn).await.map(drop),
        Item::Role(r) => dst.delete_role(&r.name).await.map(drop),
        Item::Group(g) => dst.delete_group(&g.name).await.map(drop),
        Item::Pair(..) => Err(StoreError::Backend("a pair has no kind".into())),
    }
}

/// Copy, resume and remove pairs (attachments, memberships): their kind decides the call.
async fn apply_pair(
    dst: &dyn Store,
    kind: Kind,
    add: bool,
    a: &str,
    b: &str,
) -> Result<(), StoreError> {
    match (kind, add) {
        (Kind::UserAttachments, true) => dst.attach_user_policy(a, b).await,
        (Kind::UserAttachments, false) => dst.detach_user_policy(a, b).await.map(drop),
        (Kind::RoleAttachments, true) => dst.attach_role_policy(a, b).await,
        (Kind::RoleAttachments, false) => dst.detach_role_policy(a, b).await.map(drop),
        (Kind::GroupMembers, true) => dst.add_group_member(a, b).await,
        (Kind::GroupMembers, false) => dst.remove_group_member(a, b).await.map(drop),
        (Kind::GroupAttachments, true) => dst.attach_group_policy(a, b).await,
        (Kind::GroupAttachments, false) => dst.detach_group_policy(a, b).await.map(drop),
        _ => Err(StoreError::Backend(format!(
            "{} are not pairs",
            kind.label()
        ))),
    }
}

/// The progress bar on a terminal; a plain line per stage otherwise (logs, CI).
struct Progress {
    bar: Option<indicatif::ProgressBar>,
}

impl Progress {
    fn new() -> Self {
        let bar = std::io::stderr().is_terminal().then(|| {
            let bar = indicatif::ProgressBar::new(0);
            let style =
                indicatif::ProgressStyle::with_template("{msg:40} [{bar:40}] {pos}/{len} ({eta})")
                    .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar())
                    .progress_chars("=> ");
            bar.set_style(style);
            bar
        });
        Self { bar }
    }

    fn stage(&self, label: &str, items: usize) {
        // Without a bar: one line per stage, when it is done (`line`).
        if let Some(b) = &self.bar {
            b.set_message(label.to_string());
            b.inc_length(items as u64);
        }
    }

    fn step(&self) {
        if let Some(b) = &self.bar {
            b.inc(1);
        }
    }

    fn line(&self, text: &str) {
        match &self.bar {
            Some(b) => b.println(format!("migrate: {text}")),
            None => eprintln!("migrate: {text}"),
        }
    }

    fn finish(&self) {
        if let Some(b) = &self.bar {
            b.finish_and_clear();
        }
    }
}

/// A region being moved: its name (the home region's from its ARNs) and both stores.
struct RegionPair {
    /// `None`: the home region.
    key: Option<String>,
    name: String,
    src: Arc<dyn Store>,
    dst: Option<Arc<dyn Store>>,
}

/// The home region's name, from the ARNs its store holds (the data directory does not record
/// it); `us-east-1`, the server's default, when nothing carries one.
async fn home_region_name(store: &dyn Store) -> Result<String, StoreError> {
    let from_arn = |arn: &str| {
        arn.split(':')
            .nth(3)
            .filter(|r| !r.is_empty())
            .map(str::to_string)
    };
    if let Some(r) = store
        .kms_keys()
        .await?
        .iter()
        .find_map(|k| from_arn(&k.arn))
    {
        return Ok(r);
    }
    if let Some(r) = store.secrets().await?.iter().find_map(|s| from_arn(&s.arn)) {
        return Ok(r);
    }
    Ok("us-east-1".into())
}

/// A barrier holding every KMS key of `stores`, unwrapped with the root key: a wrong root key
/// fails here, naming the key.
async fn barrier_for(root: &RootKey, stores: &[&dyn Store]) -> Result<Barrier, String> {
    let barrier = Barrier::new(root);
    for store in stores {
        for k in store.kms_keys().await.map_err(|e| e.to_string())? {
            let fail = |_| {
                format!(
                    "the root key does not open KMS key {} ({}): this is not the root key the data was sealed with",
                    k.key_id, k.arn
                )
            };
            barrier.load_kms_key(&k.key_id, &k.wrapped).map_err(fail)?;
            for m in &k.rotated {
                barrier
                    .load_kms_material(&k.key_id, m.version, &m.wrapped)
                    .map_err(fail)?;
            }
        }
    }
    Ok(barrier)
}

fn parameter_arn(region: &str, account: &str, name: &str) -> String {
    let partition = strongroom_domain::partition_of(region);
    let sep = if name.starts_with('/') { "" } else { "/" };
    format!("arn:{partition}:ssm:{region}:{account}:parameter{sep}{name}")
}

/// How many of a region's values opened through `barrier`; `limit` stops after that many
/// (the source's sample), and the ids of those that did not open.
async fn open_values(
    barrier: &Barrier,
    store: &dyn Store,
    region: &str,
    account: &str,
    home: bool,
    limit: Option<usize>,
) -> Result<(u64, Vec<String>), StoreError> {
    let (mut opened, mut failed) = (0u64, Vec::new());
    let done = |opened: u64| limit.is_some_and(|l| opened as usize >= l);
    'secrets: for s in store.secrets().await? {
        for v in s.versions.iter().filter(|v| v.has_value) {
            if done(opened) {
                break 'secrets;
            }
            let Some(val) = store.value(&s.arn, &v.id).await? else {
                continue;
            };
            let binding = ValueBinding {
                secret_arn: &s.arn,
                version_id: &v.id,
                kind: val.kind.as_str(),
            };
            // The plaintext is dropped (and zeroed) at once: only whether it opens matters.
            match barrier.open(&val.sealed, &binding) {
                Ok(_) => opened += 1,
                Err(_) => failed.push(format!("secret {} version {}", s.arn, v.id)),
            }
        }
    }
    let sample = opened;
    'parameters: for p in store.parameters().await? {
        let arn = parameter_arn(region, account, &p.name);
        for v in &p.versions {
            if limit.is_some_and(|l| (opened - sample) as usize >= l) {
                break 'parameters;
            }
            let Some(sealed) = store.parameter_value(&p.name, v.version).await? else {
                continue;
            };
            let version = v.version.to_string();
            let binding = ValueBinding {
                secret_arn: &arn,
                version_id: &version,
                kind: "parameter",
            };
            match barrier.open(&sealed, &binding) {
                Ok(_) => opened += 1,
                Err(_) => failed.push(format!("parameter {} version {}", p.name, v.version)),
            }
        }
    }
    if home && limit.is_none() {
        let users: BTreeMap<String, String> = store
            .iam_users()
            .await?
            .into_iter()
            .map(|u| (u.name, u.arn))
            .collect();
        for k in store.access_keys().await? {
            let Some(arn) = users.get(&k.user_name) else {
                failed.push(format!("access key {} (no user {})", k.id, k.user_name));
                continue;
            };
            let binding = ValueBinding {
                secret_arn: arn,
                version_id: &k.id,
                kind: "access-key-secret",
            };
            match barrier.open(&k.secret, &binding) {
                Ok(_) => opened += 1,
                Err(_) => failed.push(format!("access key {}", k.id)),
            }
        }
    }
    Ok((opened, failed))
}

/// One kind of one region compared.
struct Compared {
    region: String,
    kind: Kind,
    source: usize,
    target: usize,
    /// SHA-256 over every item's id and fingerprint, in id order, on each side.
    source_sum: Fingerprint,
    target_sum: Fingerprint,
    /// Ids missing on the target, only on the target, or differing.
    differing: Vec<String>,
}

fn checksum(items: &BTreeMap<String, Fingerprint>) -> Fingerprint {
    let mut ctx = aws_lc_rs::digest::Context::new(&aws_lc_rs::digest::SHA256);
    for (id, fp) in items {
        ctx.update(&(id.len() as u64).to_be_bytes());
        ctx.update(id.as_bytes());
        ctx.update(fp);
    }
    let mut out = [0u8; 32];
    out.copy_from_slice(ctx.finish().as_ref());
    out
}

async fn compare(
    region: &str,
    kind: Kind,
    src: &dyn Store,
    dst: &dyn Store,
) -> Result<Compared, StoreError> {
    let fps = |v: Vec<Listed>| -> BTreeMap<String, Fingerprint> {
        v.into_iter().map(|(id, fp, _)| (id, fp)).collect()
    };
    let s = fps(list(src, kind).await?);
    let t = fps(list(dst, kind).await?);
    let mut differing: Vec<String> = s
        .iter()
        .filter(|(id, fp)| t.get(*id) != Some(*fp))
        .map(|(id, _)| id.clone())
        .collect();
    differing.extend(t.keys().filter(|id| !s.contains_key(*id)).cloned());
    Ok(Compared {
        region: region.to_string(),
        kind,
        source: s.len(),
        target: t.len(),
        source_sum: checksum(&s),
        target_sum: checksum(&t),
        differing,
    })
}

/// What `strongroom migrate` prints at the end.
struct Summary {
    from: String,
    to: String,
    compared: Vec<Compared>,
    /// Values opened on the target through the barrier, and those that did not open there
    /// although they open on the source.
    opened: u64,
    unopened: Vec<String>,
    /// Values that open on neither side (sealed under a KMS key since deleted, say): carried
    /// as they are.
    unreadable_both: Vec<String>,
    audit: Vec<String>,
    audit_ok: bool,
}

impl Summary {
    fn ok(&self) -> bool {
        self.compared
            .iter()
            .all(|c| c.differing.is_empty() && c.source == c.target)
            && self.unopened.is_empty()
            && self.audit_ok
    }
}

impl std::fmt::Display for Summary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(f, "Migrated {} -> {}", self.from, self.to)?;
        writeln!(
            f,
            "{:<12} {:<26} {:>8} {:>8}  sha-256 (source = target)",
            "region", "kind", "source", "target"
        )?;
        for c in &self.compared {
            let same = c.differing.is_empty() && c.source_sum == c.target_sum;
            writeln!(
                f,
                "{:<12} {:<26} {:>8} {:>8}  {} {}",
                c.region,
                c.kind.label(),
                c.source,
                c.target,
                &hex::encode(c.source_sum)[..16],
                if same {
                    "ok".to_string()
                } else {
                    format!("MISMATCH (target {})", &hex::encode(c.target_sum)[..16])
                }
            )?;
            for id in c.differing.iter().take(10) {
                writeln!(f, "    differs: {id}")?;
            }
            if c.differing.len() > 10 {
                writeln!(f, "    ... and {} more", c.differing.len() - 10)?;
            }
        }
        writeln!(
            f,
            "Values opened on the target with the root key: {}{}",
            self.opened,
            if self.unopened.is_empty() {
                String::new()
            } else {
                format!("; {} did NOT open", self.unopened.len())
            }
        )?;
        for v in self.unopened.iter().take(10) {
            writeln!(f, "    does not open: {v}")?;
        }
        if !self.unreadable_both.is_empty() {
            writeln!(
                f,
                "{} value(s) open on neither side (their KMS key is gone) and were carried as they are",
                self.unreadable_both.len()
            )?;
        }
        for line in &self.audit {
            writeln!(f, "Audit: {line}")?;
        }
        writeln!(
            f,
            "{}",
            if self.ok() {
                "Verification passed."
            } else {
                "Verification FAILED: see the differences above."
            }
        )
    }
}

async fn migrate(args: &MigrateArgs) -> Result<Summary, Failure> {
    let (from, to) = (Side::parse(&args.from)?, Side::parse(&args.to)?);
    let same = match (&from, &to) {
        (Side::Dir(a), Side::Dir(b)) => {
            a == b || (a.exists() && b.exists() && a.canonicalize().ok() == b.canonicalize().ok())
        }
        (Side::Postgres { url: a, .. }, Side::Postgres { url: b, .. }) => a == b,
        _ => false,
    };
    if same {
        return Err(refused("--from and --to are the same place"));
    }
    let keys = load_keys(args, &from, &to).await?;
    check_sides(args, &keys, &from, &to).await?;

    // The source's regions, each with its name; the selection checked before anything moves.
    let mut regions = Vec::new();
    for key in from.regions().await? {
        let src = from.open(key.as_deref()).await?;
        let name = match &key {
            Some(n) => n.clone(),
            None => home_region_name(src.as_ref()).await.map_err(failed)?,
        };
        regions.push(RegionPair {
            key,
            name,
            src,
            dst: None,
        });
    }
    if !args.regions.is_empty() {
        for r in &args.regions {
            if !regions.iter().any(|p| &p.name == r) {
                return Err(refused(format!(
                    "--regions: {} holds no region {r} (it holds {})",
                    from.describe(),
                    regions
                        .iter()
                        .map(|p| p.name.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                )));
            }
        }
        regions.retain(|p| args.regions.contains(&p.name));
    }

    // The root key must open the source before the target is touched.
    let src_stores: Vec<&dyn Store> = regions.iter().map(|p| p.src.as_ref()).collect();
    let src_barrier = barrier_for(&keys.root_key, &src_stores)
        .await
        .map_err(refused)?;
    for p in &regions {
        let (_, failed_ids) = open_values(
            &src_barrier,
            p.src.as_ref(),
            &p.name,
            &keys.account,
            p.key.is_none(),
            Some(1),
        )
        .await
        .map_err(failed)?;
        if let Some(id) = failed_ids.first() {
            return Err(refused(format!(
                "the root key of {} does not open {id} in {}: is this the data directory the data belongs to?",
                keys.dir.display(),
                from.describe()
            )));
        }
    }

    prepare_target(&keys, &to).await?;
    let progress = Progress::new();
    let mut copier = Copier {
        overwrite: args.overwrite,
        limit: args.limit,
        writes: 0,
        progress: &progress,
    };
    for p in &mut regions {
        let dst = to.open(p.key.as_deref()).await?;
        let kinds: Vec<Kind> = REGION_KINDS
            .iter()
            .chain(if p.key.is_none() { IAM_KINDS } else { &[] })
            .copied()
            .collect();
        for kind in kinds {
            let result = if is_pair(kind) {
                copy_pairs(&mut copier, &p.name, kind, p.src.as_ref(), dst.as_ref()).await
            } else {
                copier
                    .copy_kind(&p.name, kind, p.src.as_ref(), dst.as_ref())
                    .await
            };
            if let Err(e) = result {
                progress.finish();
                dst.close().await;
                return Err(e);
            }
        }
        p.dst = Some(dst);
    }
    progress.finish();

    // Verification: both sides read again and compared; every value opened on the target.
    let mut compared = Vec::new();
    let (mut opened, mut unopened, mut unreadable_both) = (0, Vec::new(), Vec::new());
    let dst_stores: Vec<&dyn Store> = regions.iter().filter_map(|p| p.dst.as_deref()).collect();
    let dst_barrier = barrier_for(&keys.root_key, &dst_stores)
        .await
        .map_err(failed)?;
    for p in &regions {
        let Some(dst) = p.dst.as_deref() else {
            continue;
        };
        let mut kinds = vec![
            Kind::KmsKeys,
            Kind::KmsAliases,
            Kind::Secrets,
            Kind::SecretVersions,
            Kind::Parameters,
            Kind::ParameterVersions,
            Kind::Alarms,
        ];
        if p.key.is_none() {
            kinds.extend_from_slice(IAM_KINDS);
        }
        for kind in kinds {
            compared.push(
                compare(&p.name, kind, p.src.as_ref(), dst)
                    .await
                    .map_err(failed)?,
            );
        }
        let (n, failed_ids) = open_values(
            &dst_barrier,
            dst,
            &p.name,
            &keys.account,
            p.key.is_none(),
            None,
        )
        .await
        .map_err(failed)?;
        opened += n;
        if !failed_ids.is_empty() {
            // A value that opens on neither side was unreadable before the move.
            let (_, on_source) = open_values(
                &src_barrier,
                p.src.as_ref(),
                &p.name,
                &keys.account,
                p.key.is_none(),
                None,
            )
            .await
            .map_err(failed)?;
            for id in failed_ids {
                if on_source.contains(&id) {
                    unreadable_both.push(id);
                } else {
                    unopened.push(id);
                }
            }
        }
    }
    for p in &regions {
        p.src.close().await;
        if let Some(d) = &p.dst {
            d.close().await;
        }
    }

    let (audit, audit_ok) = carry_audit(&from, &to).await?;
    Ok(Summary {
        from: from.describe(),
        to: to.describe(),
        compared,
        opened,
        unopened,
        unreadable_both,
        audit,
        audit_ok,
    })
}

fn is_pair(kind: Kind) -> bool {
    matches!(
        kind,
        Kind::UserAttachments | Kind::RoleAttachments | Kind::GroupMembers | Kind::GroupAttachments
    )
}

/// Attachments and memberships: present or not, nothing to differ.
async fn copy_pairs(
    copier: &mut Copier<'_>,
    region: &str,
    kind: Kind,
    src: &dyn Store,
    dst: &dyn Store,
) -> Result<Tally, Failure> {
    let err = |e: StoreError| failed(format!("{region}: {}: {e}", kind.label()));
    let source = list(src, kind).await.map_err(err)?;
    let target = list(dst, kind).await.map_err(err)?;
    copier
        .progress
        .stage(&format!("{region}: {}", kind.label()), source.len());
    let src_fps: Vec<(String, Fingerprint)> =
        source.iter().map(|(id, fp, _)| (id.clone(), *fp)).collect();
    let dst_fps: BTreeMap<String, Fingerprint> =
        target.iter().map(|(id, fp, _)| (id.clone(), *fp)).collect();
    let pair = |items: &[Listed], id: &str| -> Option<(String, String)> {
        items
            .iter()
            .find(|(i, _, _)| i == id)
            .and_then(|(_, _, item)| match item {
                Item::Pair(a, b) => Some((a.clone(), b.clone())),
                _ => None,
            })
    };
    let mut tally = Tally::default();
    for (id, step) in plan(&src_fps, &dst_fps, copier.overwrite, |_| false) {
        match step {
            Step::Skip => tally.skipped += 1,
            Step::Extra | Step::Conflict => tally.left.push(id.clone()),
            Step::Copy | Step::Resume | Step::Replace => {
                if let Some((a, b)) = pair(&source, &id) {
                    copier.count_write()?;
                    apply_pair(dst, kind, true, &a, &b).await.map_err(err)?;
                    tally.copied += 1;
                }
            }
            Step::Remove => {
                if let Some((a, b)) = pair(&target, &id) {
                    copier.count_write()?;
                    apply_pair(dst, kind, false, &a, &b).await.map_err(err)?;
                    tally.removed += 1;
                }
            }
        }
        if step != Step::Remove && step != Step::Extra {
            copier.progress.step();
        }
    }
    copier.progress.line(&format!(
        "{region}: {}: {} copied, {} already there{}{}",
        kind.label(),
        tally.copied,
        tally.skipped,
        if tally.removed > 0 {
            format!(", {} removed", tally.removed)
        } else {
            String::new()
        },
        if tally.left.is_empty() {
            String::new()
        } else {
            format!(", {} only on the target", tally.left.len())
        },
    ));
    Ok(tally)
}

/// The audit history's move; returns the summary's lines and whether it verifies.
async fn carry_audit(from: &Side, to: &Side) -> Result<(Vec<String>, bool), Failure> {
    match (from, to) {
        (Side::Dir(dir), Side::Postgres { options, .. }) => {
            let key_path = dir.join("audit-signing.key");
            let audit_dir = dir.join(strongroom_audit::segments::DIR);
            if !audit_dir.is_dir() {
                return Ok((
                    vec![format!("{} has no audit log to carry over", dir.display())],
                    true,
                ));
            }
            if !key_path.exists() {
                return Err(failed(format!(
                    "{} is missing: the audit log's digests cannot be carried over without it",
                    key_path.display()
                )));
            }
            let signer =
                strongroom_audit::DigestSigner::load_or_create(&key_path).map_err(failed)?;
            let node = crate::server::node_id(dir).map_err(failed)?;
            let config = strongroom_audit::mirror::MirrorConfig {
                options: (**options).clone(),
                node: node.clone(),
            };
            let import =
                strongroom_audit::log::mirror_local_history(&config, dir, &signer.public_key())
                    .await
                    .map_err(failed)?;
            let reports = strongroom_audit::mirror::verify_cluster(options)
                .await
                .map_err(failed)?;
            let mine = reports.iter().find(|r| r.node == node);
            let mut lines = vec![format!(
                "{}'s chain ({} records, {} signed digests) is in the cluster's history as node {node} ({} records inserted now, {} were there)",
                dir.display(),
                import.head_seq,
                import.digests,
                import.inserted,
                import.already
            )];
            let ok = match mine {
                Some(r) if r.report.findings.is_empty() => {
                    lines.push(format!(
                        "node {node}: {} records form an unbroken chain in the database; `strongroom audit verify --cluster URL` checks it",
                        r.report.records
                    ));
                    true
                }
                Some(r) => {
                    lines.push(format!(
                        "node {node}: the chain in the database does NOT verify:"
                    ));
                    lines.extend(r.report.findings.iter().map(|f| format!("  - {f}")));
                    false
                }
                None if import.head_seq == 0 => true,
                None => {
                    lines.push(format!("node {node} is missing from the cluster's history"));
                    false
                }
            };
            Ok((lines, ok))
        }
        (Side::Postgres { options, .. }, Side::Dir(dir)) => {
            let nodes = strongroom_audit::mirror::verify_cluster(options)
                .await
                .map(|r| r.len())
                .unwrap_or(0);
            Ok((
                vec![
                    format!(
                        "the cluster's history ({nodes} node chain(s)) stays in the database, where `strongroom audit verify --cluster URL` checks it"
                    ),
                    format!(
                        "{} keeps its own chain (its audit/ segments): a server on it continues that chain",
                        dir.display()
                    ),
                ],
                true,
            ))
        }
        (Side::Dir(a), Side::Dir(b)) => Ok((
            vec![format!(
                "audit segments are each node's own: {}'s chain stays there, {} keeps its own",
                a.display(),
                b.display()
            )],
            true,
        )),
        (Side::Postgres { .. }, Side::Postgres { .. }) => Ok((
            vec![
                "the audit history is not copied between databases (back it up with pg_dump)"
                    .into(),
            ],
            true,
        )),
    }
}

#[cfg(test)]
mod tests {
    //! Resuming and refusing, on two in-memory SQLite stores (the PostgreSQL side and the
    //! whole command: tests/e2e/test_migrate.py).

    use strongroom_barrier::WrappedKeyMaterial;
    use strongroom_domain::kms::{KeyManager, KeyMeta};
    use strongroom_domain::secret::ValueKind;
    use strongroom_store::StoredKmsMaterial;

    use super::*;

    async fn stores() -> (SqliteStore, SqliteStore) {
        (
            SqliteStore::in_memory().await.unwrap(),
            SqliteStore::in_memory().await.unwrap(),
        )
    }

    fn copier(progress: &Progress, overwrite: bool) -> Copier<'_> {
        Copier {
            overwrite,
            limit: None,
            writes: 0,
            progress,
        }
    }

    fn quiet() -> Progress {
        Progress { bar: None }
    }

    fn key(id: &str, alias: Option<&str>) -> StoredKmsKey {
        StoredKmsKey {
            key_id: id.into(),
            arn: format!("arn:aws:kms:us-east-1:123456789012:key/{id}"),
            alias: alias.map(str::to_string),
            description: "d".into(),
            wrapped: WrappedKeyMaterial(vec![1; 60]),
            created_ms: 1_000,
            meta: Some(KeyMeta::new("d".into(), KeyManager::Customer)),
            rotated: Vec::new(),
        }
    }

    fn material(version: u32) -> StoredKmsMaterial {
        StoredKmsMaterial {
            version,
            wrapped: WrappedKeyMaterial(vec![version as u8; 60]),
            created_ms: 2_000 + i64::from(version),
        }
    }

    fn secret(revision: i64) -> (Secret, Vec<(String, StoredValue)>) {
        let secret: Secret = serde_json::from_value(json!({
            "arn": "arn:aws:secretsmanager:us-east-1:123456789012:secret:db-AbCdEf",
            "name": "db", "description": null, "kms_key_id": null, "secret_type": null,
            "tags": [], "created_ms": 1_000, "last_changed_ms": 1_000, "last_accessed_ms": null,
            "deleted_ms": null, "deletion_due_ms": null, "revision": revision,
            "versions": [{"id": "v1", "stages": ["AWSCURRENT"], "created_ms": 1_000,
                          "last_accessed_ms": null, "has_value": true, "kms_key_id": "k"}],
        }))
        .unwrap();
        let value = StoredValue {
            kind: ValueKind::String,
            sealed: Sealed::from_stored_parts("k".into(), vec![7; 60], vec![8; 40]),
        };
        (secret, vec![("v1".into(), value)])
    }

    async fn commit(store: &dyn Store, (secret, values): (Secret, Vec<(String, StoredValue)>)) {
        store
            .commit(SecretWrite {
                expected_revision: None,
                secret,
                new_values: values,
                resealed: Vec::new(),
                stored_versions: None,
            })
            .await
            .unwrap();
    }

    async fn same(kind: Kind, src: &dyn Store, dst: &dyn Store) -> bool {
        let c = compare("r", kind, src, dst).await.unwrap();
        c.differing.is_empty() && c.source_sum == c.target_sum && c.source > 0
    }

    #[tokio::test]
    async fn a_key_copied_without_its_rotated_materials_is_finished() {
        let (src, dst) = stores().await;
        let k = key("k1", None);
        src.insert_kms_key(&k).await.unwrap();
        let meta = k.meta.clone().unwrap();
        for v in 1..=2 {
            src.update_kms_key("k1", &meta, Some(&material(v)))
                .await
                .unwrap();
        }
        // Interrupted after the key's first material and one rotation.
        dst.insert_kms_key(&k).await.unwrap();
        dst.update_kms_key("k1", &meta, Some(&material(1)))
            .await
            .unwrap();
        assert!(!same(Kind::KmsKeys, &src, &dst).await);
        let p = quiet();
        let t = copier(&p, false)
            .copy_kind("r", Kind::KmsKeys, &src, &dst)
            .await
            .ok()
            .unwrap();
        assert_eq!((t.resumed, t.copied, t.left.len()), (1, 0, 0));
        assert!(same(Kind::KmsKeys, &src, &dst).await);
        let rotated: Vec<u32> = dst.kms_keys().await.unwrap()[0]
            .rotated
            .iter()
            .map(|m| m.version)
            .collect();
        assert_eq!(rotated, vec![1, 2]);
    }

    #[tokio::test]
    async fn a_key_with_another_material_is_a_conflict_not_a_resume() {
        let (src, dst) = stores().await;
        src.insert_kms_key(&key("k1", None)).await.unwrap();
        let mut other = key("k1", None);
        other.wrapped = WrappedKeyMaterial(vec![9; 60]);
        dst.insert_kms_key(&other).await.unwrap();
        let p = quiet();
        let t = copier(&p, false)
            .copy_kind("r", Kind::KmsKeys, &src, &dst)
            .await
            .ok()
            .unwrap();
        assert_eq!((t.resumed, t.left), (0, vec!["k1".to_string()]));
        assert!(!same(Kind::KmsKeys, &src, &dst).await);
        let t = copier(&p, true)
            .copy_kind("r", Kind::KmsKeys, &src, &dst)
            .await
            .ok()
            .unwrap();
        assert_eq!(t.replaced, 1);
        assert!(same(Kind::KmsKeys, &src, &dst).await);
    }

    #[tokio::test]
    async fn the_alias_a_key_insert_wrote_follows_the_sources_alias() {
        let (src, dst) = stores().await;
        // The source's alias was repointed to another key after creation.
        src.insert_kms_key(&key("k1", Some("app"))).await.unwrap();
        src.insert_kms_key(&key("k2", None)).await.unwrap();
        let moved = StoredAlias {
            name: "alias/app".into(),
            key_id: "k2".into(),
            created_ms: 1_000,
            updated_ms: 5_000,
        };
        src.put_kms_alias(&moved, true).await.unwrap();
        let p = quiet();
        let mut c = copier(&p, false);
        c.copy_kind("r", Kind::KmsKeys, &src, &dst)
            .await
            .ok()
            .unwrap();
        let t = c
            .copy_kind("r", Kind::KmsAliases, &src, &dst)
            .await
            .ok()
            .unwrap();
        assert_eq!((t.resumed, t.left.len()), (1, 0));
        assert_eq!(dst.kms_aliases().await.unwrap(), vec![moved]);
    }

    #[tokio::test]
    async fn a_secret_is_stamped_after_an_interruption_but_a_changed_one_is_refused() {
        let (src, dst) = stores().await;
        let arn = "arn:aws:secretsmanager:us-east-1:123456789012:secret:db-AbCdEf";
        commit(&src, secret(1)).await;
        src.record_access(arn, "v1", 86_400_000).await.unwrap();
        // The interrupted copy: written, not yet stamped.
        commit(&dst, secret(1)).await;
        let p = quiet();
        let t = copier(&p, false)
            .copy_kind("r", Kind::Secrets, &src, &dst)
            .await
            .ok()
            .unwrap();
        assert_eq!((t.resumed, t.left.len()), (1, 0));
        assert!(same(Kind::Secrets, &src, &dst).await);
        assert!(same(Kind::SecretVersions, &src, &dst).await);

        // Changed on the target since (another revision): refused, then replaced on request.
        let (changed, values) = secret(1);
        dst.commit(SecretWrite {
            expected_revision: Some(1),
            secret: Secret {
                revision: 2,
                description: Some("changed".into()),
                ..changed
            },
            new_values: Vec::new(),
            resealed: values,
            stored_versions: None,
        })
        .await
        .unwrap();
        let t = copier(&p, false)
            .copy_kind("r", Kind::Secrets, &src, &dst)
            .await
            .ok()
            .unwrap();
        assert_eq!((t.resumed, t.left.len()), (0, 1));
        assert!(!same(Kind::Secrets, &src, &dst).await);
        let t = copier(&p, true)
            .copy_kind("r", Kind::Secrets, &src, &dst)
            .await
            .ok()
            .unwrap();
        assert_eq!(t.replaced, 1);
        assert!(same(Kind::Secrets, &src, &dst).await);
        assert!(same(Kind::SecretVersions, &src, &dst).await);
    }

    #[tokio::test]
    async fn the_limit_stops_before_a_write_and_the_next_run_goes_on() {
        let (src, dst) = stores().await;
        for i in 0..5 {
            src.insert_kms_key(&key(&format!("k{i}"), None))
                .await
                .unwrap();
        }
        let p = quiet();
        let mut c = copier(&p, false);
        c.limit = Some(3);
        assert!(matches!(
            c.copy_kind("r", Kind::KmsKeys, &src, &dst).await,
            Err(Failure::Interrupted(3))
        ));
        assert_eq!(dst.kms_keys().await.unwrap().len(), 3);
        let t = copier(&p, false)
            .copy_kind("r", Kind::KmsKeys, &src, &dst)
            .await
            .ok()
            .unwrap();
        assert_eq!((t.copied, t.skipped), (2, 3));
        assert!(same(Kind::KmsKeys, &src, &dst).await);
    }
}
