//! `strongroom backup`: a consistent copy of a data directory, taken while the server runs.
//!
//! - The store: SQLite's `VACUUM INTO` from a read transaction — one consistent snapshot,
//!   compacted, whatever the server writes meanwhile; each region's store (`regions/<name>/`)
//!   the same way, one after the other (regions share no transactions).
//! - The audit log: the anchor and signed digests first, then the segments, each cut at its
//!   last complete record. Copied in that order, the segments hold at least every record a
//!   copied digest covers, so `strongroom audit verify` passes on the copy. The lookup index is
//!   not copied: a server rebuilds it from the segments at start.
//! - Keys: the root key (without which nothing in the store can be decrypted), the audit
//!   signing key and the generated root credentials are copied only with `--include-keys`,
//!   as Vault keeps unseal keys apart from its snapshots: keep them in a different place.
//!
//! Restore: stop the server, put the copy (with its keys) where the data directory was, start.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use sqlx::ConnectOptions as _;
use sqlx::Connection as _;

/// Files that hold keys or credentials: copied only on request.
const KEY_FILES: &[&str] = &["root.key", "audit-signing.key", "root-credentials.json"];
/// Small files copied as they are (`alarms.json` only in a data directory no newer server has
/// opened yet: alarms now live in the store and are imported from it at start).
const PLAIN_FILES: &[&str] = &["account-id", "alarms.json"];

#[derive(clap::Args, Debug)]
pub struct BackupArgs {
    /// The server's data directory.
    #[arg(long, env = "STRONGROOM_DATA_DIR", default_value = "./strongroom-data")]
    pub data_dir: PathBuf,
    /// Where to write the copy: a directory that does not exist yet (created owner-only).
    #[arg(long)]
    pub to: PathBuf,
    /// Also copy the root key, the audit signing key and the generated root credentials.
    #[arg(long)]
    pub include_keys: bool,
}

/// Exit code: 0 done, 1 failed, 2 bad arguments.
pub async fn run(args: BackupArgs) -> u8 {
    match backup(&args).await {
        Ok(summary) => {
            println!("{summary}");
            if !args.include_keys {
                eprintln!(
                    "note: the root key was not copied (--include-keys): the copy can only be restored with {} kept elsewhere",
                    args.data_dir.join("root.key").display()
                );
            }
            0
        }
        Err((code, message)) => {
            eprintln!("strongroom backup: {message}");
            code
        }
    }
}

async fn backup(args: &BackupArgs) -> Result<String, (u8, String)> {
    let bad = |m: String| (2u8, m);
    let failed = |m: String| (1u8, m);
    let db = args.data_dir.join("strongroom.db");
    if !db.is_file() {
        // A server with --store postgres://... keeps only its keys and audit log here.
        let hint = if args.data_dir.join("root.key").is_file() {
            ": its store is in PostgreSQL (--store), which pg_dump backs up"
        } else {
            ""
        };
        return Err(bad(format!(
            "{} is not a Strongroom data directory with a SQLite store (no strongroom.db){hint}",
            args.data_dir.display()
        )));
    }
    // The copy's directory is made here, owner-only, and must not exist: nobody else can
    // have planted files or links in it.
    if args.to.symlink_metadata().is_ok() {
        return Err(bad(format!(
            "{} already exists: give a new directory",
            args.to.display()
        )));
    }
    if let Some(parent) = args.to.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent)
            .map_err(|e| failed(format!("cannot create {}: {e}", parent.display())))?;
    }
    create_private_dir(&args.to).map_err(failed)?;

    // The store, as one snapshot; then each other region's (`regions/<name>/`).
    snapshot(&db, &args.to.join("strongroom.db"))
        .await
        .map_err(failed)?;
    let mut copied = vec!["strongroom.db".to_string()];
    let regions = args.data_dir.join("regions");
    if regions.is_dir() {
        let mut names: Vec<String> = std::fs::read_dir(&regions)
            .map_err(|e| failed(format!("reading {}: {e}", regions.display())))?
            .filter_map(|e| e.ok())
            .filter(|e| e.path().join("strongroom.db").is_file())
            .filter_map(|e| e.file_name().to_str().map(str::to_string))
            .collect();
        names.sort();
        if !names.is_empty() {
            create_private_dir(&args.to.join("regions")).map_err(failed)?;
        }
        for name in names {
            let to = args.to.join("regions").join(&name);
            create_private_dir(&to).map_err(failed)?;
            snapshot(
                &regions.join(&name).join("strongroom.db"),
                &to.join("strongroom.db"),
            )
            .await
            .map_err(failed)?;
            copied.push(format!("regions/{name}/strongroom.db"));
        }
    }
    for name in PLAIN_FILES
        .iter()
        .chain(if args.include_keys { KEY_FILES } else { &[] })
    {
        let from = args.data_dir.join(name);
        if from.is_file() {
            let data = zeroize::Zeroizing::new(
                std::fs::read(&from).map_err(|e| failed(format!("reading {name}: {e}")))?,
            );
            write_new(&args.to.join(name), &data).map_err(failed)?;
            copied.push((*name).to_string());
        }
    }

    // The audit log: anchor and digests, then segments (see the module docs for why).
    let audit_from = args.data_dir.join(strongroom_audit::segments::DIR);
    let mut records = 0usize;
    if audit_from.is_dir() {
        let audit_to = args.to.join(strongroom_audit::segments::DIR);
        create_private_dir(&audit_to).map_err(failed)?;
        let mut names: Vec<PathBuf> = std::fs::read_dir(&audit_from)
            .map_err(|e| failed(format!("reading {}: {e}", audit_from.display())))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.is_file())
            .collect();
        // Not-segment files (anchor, digests) first; segments in order after them.
        names.sort_by_key(|p| {
            let n = p
                .file_name()
                .and_then(|n| n.to_str())
                .unwrap_or_default()
                .to_string();
            (n.starts_with(|c: char| c.is_ascii_digit()), n)
        });
        for from in names {
            let Some(name) = from.file_name() else {
                continue;
            };
            let data = std::fs::read(&from)
                .map_err(|e| failed(format!("reading {}: {e}", from.display())))?;
            // Only complete lines: a record being appended right now is left out.
            let complete = match data.iter().rposition(|b| *b == b'\n') {
                Some(i) => &data[..=i],
                None => &data[..0],
            };
            if name.to_string_lossy().ends_with(".log")
                && name
                    .to_string_lossy()
                    .starts_with(|c: char| c.is_ascii_digit())
            {
                records += complete.iter().filter(|b| **b == b'\n').count();
            }
            write_new(&audit_to.join(name), complete).map_err(failed)?;
        }
        copied.push(format!("audit/ ({records} records)"));
    }
    Ok(format!(
        "backup of {} written to {}: {}",
        args.data_dir.display(),
        args.to.display(),
        copied.join(", ")
    ))
}

/// One consistent snapshot of the SQLite store `db` at `target` (owner-only).
async fn snapshot(db: &Path, target: &Path) -> Result<(), String> {
    let opts = sqlx::sqlite::SqliteConnectOptions::from_str(&format!("sqlite://{}", db.display()))
        .map_err(|e| e.to_string())?
        .read_only(true)
        .disable_statement_logging();
    let mut conn = opts
        .connect()
        .await
        .map_err(|e| format!("cannot open {}: {e}", db.display()))?;
    let quoted = target.display().to_string().replace('\'', "''");
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!("VACUUM INTO '{quoted}'")))
        .execute(&mut conn)
        .await
        .map_err(|e| format!("snapshot of {} failed: {e}", db.display()))?;
    let _ = conn.close().await;
    set_private(target)
}

/// A new directory, owner-only from the start; an existing one (or a link) is refused.
fn create_private_dir(dir: &Path) -> Result<(), String> {
    let mut builder = std::fs::DirBuilder::new();
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        builder.mode(0o700);
    }
    builder
        .create(dir)
        .map_err(|e| format!("cannot create {}: {e}", dir.display()))
}

/// A new file, mode 0600, that must not exist yet (a planted link makes this fail).
fn write_new(path: &Path, data: &[u8]) -> Result<(), String> {
    let err = |e: std::io::Error| format!("writing {}: {e}", path.display());
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let mut f = opts.open(path).map_err(err)?;
    f.write_all(data).and_then(|()| f.sync_all()).map_err(err)
}

/// Owner-only, like the data directory itself (the store snapshot SQLite created).
fn set_private(path: &Path) -> Result<(), String> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))
            .map_err(|e| format!("cannot restrict {}: {e}", path.display()))?;
    }
    Ok(())
}
