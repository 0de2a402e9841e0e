//! `strongroom root-key seal|unseal|status|create-hsm-key`: keep the root key file plain (mode
//! 0600) or wrapped by a seal — a passphrase, an AES key in a PKCS#11 HSM, or an AWS KMS key
//! (any KMS-compatible endpoint) — and move it between them. The key itself never changes, so
//! nothing else in the data directory is touched and all data stays readable. Stop the server
//! first.
//!
//! The seal the key is in now is opened with what the file records (the HSM module, token and
//! key label; the KMS key, region and endpoint) and the secrets from the environment
//! (STRONGROOM_PKCS11_PIN, AWS credentials, the passphrase); `--from-seal` overrides the
//! record, e.g. when the module lives elsewhere on this machine.

use std::path::{Path, PathBuf};

use strongroom_barrier::seal::{self, PassphraseSeal, Seal, SealInfo, SealSpec};
use strongroom_barrier::{RootKey, RootKeyFile};

#[derive(clap::Subcommand, Debug)]
pub enum RootKeyCommand {
    /// Seal the root key with --seal (an HSM or a KMS key) or with a passphrase; a key sealed
    /// otherwise already moves to the new seal.
    Seal(RootKeyArgs),
    /// Write the sealed root key file back in plain form.
    Unseal(RootKeyArgs),
    /// Say how the root key file is kept (plain, or which seal).
    Status(RootKeyArgs),
    /// Create the AES-256 key a pkcs11 seal names inside its token (sensitive, never
    /// extractable).
    CreateHsmKey(HsmKeyArgs),
}

#[derive(clap::Args, Debug)]
pub struct RootKeyArgs {
    #[arg(long, env = "STRONGROOM_DATA_DIR", default_value = "./strongroom-data")]
    pub data_dir: PathBuf,
    /// A file whose first line is the passphrase [default: STRONGROOM_SEAL_PASSPHRASE]: the new
    /// seal for `seal` without --seal, else the passphrase the key is sealed with now.
    #[arg(long)]
    pub passphrase_file: Option<PathBuf>,
    /// The new seal: `pkcs11:module=...;token=...;label=...` or `awskms:KEY_ARN[;endpoint=URL]`.
    #[arg(long)]
    pub seal: Option<String>,
    /// The seal the key is in now, when what the file records does not fit this machine.
    #[arg(long)]
    pub from_seal: Option<String>,
}

#[derive(clap::Args, Debug)]
pub struct HsmKeyArgs {
    /// `pkcs11:module=...;token=...;label=...` (PIN in STRONGROOM_PKCS11_PIN or `pin-file=`).
    #[arg(long)]
    pub seal: String,
}

/// A failure and its exit code: 2 for what the operator asked wrongly, 1 for what failed.
struct Failed(u8, String);

fn usage(msg: impl Into<String>) -> Failed {
    Failed(2, msg.into())
}

fn failed(e: impl std::fmt::Display) -> Failed {
    Failed(1, e.to_string())
}

/// Exit code: 0 done, 1 failed, 2 bad arguments.
pub async fn run(cmd: RootKeyCommand) -> u8 {
    let result = match cmd {
        RootKeyCommand::Seal(a) => seal_cmd(&a).await,
        RootKeyCommand::Unseal(a) => unseal_cmd(&a).await,
        RootKeyCommand::Status(a) => status_cmd(&a),
        RootKeyCommand::CreateHsmKey(a) => create_hsm_key(&a),
    };
    match result {
        Ok(out) => {
            println!("{out}");
            0
        }
        Err(Failed(code, msg)) => {
            eprintln!("strongroom root-key: {msg}");
            code
        }
    }
}

/// The seal a server starts with: `--seal` (an HSM or a KMS key), else the passphrase, else
/// none (a plain key file). `deployment` (the account id) goes into the KMS encryption context.
pub async fn server_seal(
    spec: Option<&str>,
    passphrase_file: Option<&Path>,
    deployment: &str,
) -> Result<Option<Box<dyn Seal>>, String> {
    let passphrase = crate::config::seal_passphrase(passphrase_file)?;
    match (spec, passphrase) {
        (Some(_), Some(_)) => Err(
            "both --seal and a seal passphrase (STRONGROOM_SEAL_PASSPHRASE or --seal-passphrase-file) are given: choose one (`strongroom root-key seal` moves the key between them)"
                .into(),
        ),
        (Some(s), None) => {
            let spec = SealSpec::parse(s).map_err(|e| format!("--seal: {e}"))?;
            Ok(Some(
                seal::open_spec(&spec, deployment)
                    .await
                    .map_err(|e| e.to_string())?,
            ))
        }
        (None, Some(p)) => Ok(Some(Box::new(PassphraseSeal::new(p.as_bytes())))),
        (None, None) => Ok(None),
    }
}

/// The account id names the deployment in a KMS encryption context, as the server does.
fn deployment(data_dir: &Path) -> Result<String, Failed> {
    let path = data_dir.join("account-id");
    std::fs::read_to_string(&path)
        .map(|s| s.trim().to_string())
        .map_err(|e| {
            usage(format!(
                "cannot read {} (start the server once on this data directory): {e}",
                path.display()
            ))
        })
}

fn passphrase(args: &RootKeyArgs) -> Result<Option<zeroize::Zeroizing<String>>, Failed> {
    crate::config::seal_passphrase(args.passphrase_file.as_deref()).map_err(usage)
}

async fn open_spec(spec: &str, what: &str, data_dir: &Path) -> Result<Box<dyn Seal>, Failed> {
    let spec = SealSpec::parse(spec).map_err(|e| usage(format!("{what}: {e}")))?;
    open_parsed(&spec, data_dir).await
}

async fn open_parsed(spec: &SealSpec, data_dir: &Path) -> Result<Box<dyn Seal>, Failed> {
    // Only a KMS encryption context names the deployment.
    let deployment = match spec {
        SealSpec::AwsKms(_) => deployment(data_dir)?,
        SealSpec::Pkcs11(_) => String::new(),
    };
    seal::open_spec(spec, &deployment).await.map_err(failed)
}

/// The seal that opens the key as it is now (`info`).
async fn current_seal(args: &RootKeyArgs, info: &SealInfo) -> Result<Box<dyn Seal>, Failed> {
    if let Some(from) = &args.from_seal {
        return open_spec(from, "--from-seal", &args.data_dir).await;
    }
    if info.kind == seal::PASSPHRASE {
        return match passphrase(args)? {
            Some(p) => Ok(Box::new(PassphraseSeal::new(p.as_bytes()))),
            None => Err(usage(
                "the root key is sealed with a passphrase: give it with --passphrase-file or STRONGROOM_SEAL_PASSPHRASE",
            )),
        };
    }
    match info.spec() {
        Some(spec) => open_parsed(&spec, &args.data_dir).await,
        None => Err(usage(format!(
            "the root key is sealed by {info}: {}",
            info.how_to_open()
        ))),
    }
}

fn key_path(args: &RootKeyArgs) -> Result<(PathBuf, RootKeyFile), Failed> {
    let path = args.data_dir.join("root.key");
    let kind = RootKey::file_kind(&path).map_err(|e| usage(e.to_string()))?;
    Ok((path, kind))
}

async fn seal_cmd(args: &RootKeyArgs) -> Result<String, Failed> {
    let (path, kind) = key_path(args)?;
    let target: Box<dyn Seal> = match &args.seal {
        Some(spec) => {
            let parsed = SealSpec::parse(spec).map_err(|e| usage(format!("--seal: {e}")))?;
            if let RootKeyFile::Sealed(info) = &kind
                && info.spec().is_some_and(|now| same_key(&now, &parsed))
            {
                return Err(usage(format!("already sealed by {info}")));
            }
            open_spec(spec, "--seal", &args.data_dir).await?
        }
        None => {
            if matches!(&kind, RootKeyFile::Sealed(i) if i.kind == seal::PASSPHRASE) {
                return Err(usage(
                    "already sealed with a passphrase (unseal first to change the passphrase)",
                ));
            }
            match passphrase(args)? {
                Some(p) => Box::new(PassphraseSeal::new(p.as_bytes())),
                None => {
                    return Err(usage(
                        "give the new seal with --seal, or a passphrase with --passphrase-file or STRONGROOM_SEAL_PASSPHRASE",
                    ));
                }
            }
        }
    };
    let key = match &kind {
        RootKeyFile::Plain => RootKey::load(&path, None).await,
        RootKeyFile::Sealed(info) => {
            let now = current_seal(args, info).await?;
            RootKey::load(&path, Some(now.as_ref())).await
        }
    }
    .map_err(failed)?;
    key.rewrite(&path, Some(target.as_ref()))
        .await
        .map_err(failed)?;
    Ok(format!(
        "{}: sealed by {}",
        path.display(),
        target.describe()
    ))
}

/// Whether two specifications name the same key (the PIN's source does not matter).
fn same_key(a: &SealSpec, b: &SealSpec) -> bool {
    match (a, b) {
        (SealSpec::Pkcs11(a), SealSpec::Pkcs11(b)) => {
            a.module == b.module && a.token == b.token && a.label == b.label
        }
        (SealSpec::AwsKms(a), SealSpec::AwsKms(b)) => a.key == b.key && a.endpoint == b.endpoint,
        _ => false,
    }
}

async fn unseal_cmd(args: &RootKeyArgs) -> Result<String, Failed> {
    let (path, kind) = key_path(args)?;
    let RootKeyFile::Sealed(info) = kind else {
        return Err(usage("not sealed"));
    };
    let now = current_seal(args, &info).await?;
    let key = RootKey::load(&path, Some(now.as_ref()))
        .await
        .map_err(failed)?;
    key.rewrite(&path, None).await.map_err(failed)?;
    Ok(format!("{}: unsealed (plain, mode 0600)", path.display()))
}

fn status_cmd(args: &RootKeyArgs) -> Result<String, Failed> {
    let (path, kind) = key_path(args)?;
    Ok(match kind {
        RootKeyFile::Plain => format!(
            "{}: plain (protected by its file mode only)",
            path.display()
        ),
        RootKeyFile::Sealed(info) if info.kind == seal::PASSPHRASE => {
            format!("{}: sealed with a passphrase", path.display())
        }
        RootKeyFile::Sealed(info) => format!("{}: sealed by {info}", path.display()),
    })
}

fn create_hsm_key(args: &HsmKeyArgs) -> Result<String, Failed> {
    let SealSpec::Pkcs11(spec) =
        SealSpec::parse(&args.seal).map_err(|e| usage(format!("--seal: {e}")))?
    else {
        return Err(usage("create-hsm-key needs a pkcs11: seal"));
    };
    let hsm = seal::pkcs11::Pkcs11Seal::new(&spec).map_err(|e| usage(e.to_string()))?;
    hsm.generate_key().map_err(failed)?;
    Ok(format!(
        "created the AES-256 key label={} on token {} (sensitive, never extractable)",
        spec.label, spec.token
    ))
}
