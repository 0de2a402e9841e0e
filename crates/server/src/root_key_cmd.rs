//! `strongroom root-key seal|unseal`: keep the root key file sealed with a passphrase (then a
//! copy of the data directory alone opens nothing) or plain (mode 0600). The key itself never
//! changes, so nothing else in the data directory is touched. Stop the server first.

use std::path::PathBuf;

use strongroom_barrier::{RootKey, RootKeyFile};

#[derive(clap::Subcommand, Debug)]
pub enum RootKeyCommand {
    /// Seal the plain root key file with a passphrase.
    Seal(RootKeyArgs),
    /// Write the sealed root key file back in plain form.
    Unseal(RootKeyArgs),
    /// Say whether the root key file is sealed.
    Status(RootKeyArgs),
}

#[derive(clap::Args, Debug)]
pub struct RootKeyArgs {
    #[arg(long, env = "STRONGROOM_DATA_DIR", default_value = "./strongroom-data")]
    pub data_dir: PathBuf,
    /// A file whose first line is the passphrase [default: STRONGROOM_SEAL_PASSPHRASE].
    #[arg(long)]
    pub passphrase_file: Option<PathBuf>,
}

/// Exit code: 0 done, 1 failed, 2 bad arguments.
pub fn run(cmd: RootKeyCommand) -> u8 {
    let (args, seal) = match &cmd {
        RootKeyCommand::Seal(a) => (a, Some(true)),
        RootKeyCommand::Unseal(a) => (a, Some(false)),
        RootKeyCommand::Status(a) => (a, None),
    };
    let path = args.data_dir.join("root.key");
    let kind = match RootKey::file_kind(&path) {
        Ok(k) => k,
        Err(e) => {
            eprintln!("strongroom root-key: {e}");
            return 2;
        }
    };
    let Some(seal) = seal else {
        println!(
            "{}: {}",
            path.display(),
            match kind {
                RootKeyFile::Sealed => "sealed with a passphrase",
                RootKeyFile::Plain => "plain (protected by its file mode only)",
            }
        );
        return 0;
    };
    match (seal, kind) {
        (true, RootKeyFile::Sealed) => {
            eprintln!(
                "strongroom root-key: already sealed (unseal first to change the passphrase)"
            );
            return 2;
        }
        (false, RootKeyFile::Plain) => {
            eprintln!("strongroom root-key: not sealed");
            return 2;
        }
        _ => {}
    }
    let passphrase = match crate::config::seal_passphrase(args.passphrase_file.as_deref()) {
        Ok(Some(p)) => p,
        Ok(None) => {
            eprintln!(
                "strongroom root-key: give the passphrase with --passphrase-file or STRONGROOM_SEAL_PASSPHRASE"
            );
            return 2;
        }
        Err(e) => {
            eprintln!("strongroom root-key: {e}");
            return 2;
        }
    };
    let result = RootKey::load(&path, Some(passphrase.as_bytes()))
        .and_then(|key| key.rewrite(&path, seal.then_some(passphrase.as_bytes())));
    match result {
        Ok(()) => {
            println!(
                "{}: {}",
                path.display(),
                if seal {
                    "sealed"
                } else {
                    "unsealed (plain, mode 0600)"
                }
            );
            0
        }
        Err(e) => {
            eprintln!("strongroom root-key: {e}");
            1
        }
    }
}
