//! The root key: obtained at start, never stored in the database.

use std::io::Write;
use std::path::Path;

use aws_lc_rs::rand::{SecureRandom, SystemRandom};
use zeroize::Zeroizing;

use crate::{BarrierError, KEY_LEN};

const FILE_HEADER: &str = "strongroom-root-key-v1:";
/// A root key sealed with a passphrase: `HEADER ITERATIONS:SALT:NONCE+CIPHERTEXT+TAG` (hex).
const SEALED_HEADER: &str = "strongroom-root-key-sealed-v1:";
/// PBKDF2-HMAC-SHA256 iterations for new seals (OWASP's 2023 figure); stored per file, so it
/// can rise without breaking old files.
const SEAL_ITERATIONS: u32 = 600_000;
const SEAL_AAD: &[u8] = b"strongroom:root-key-seal:v1";

/// How the root key file is kept: plain (0600, like an SSH key) or sealed with a passphrase
/// (the data directory alone then opens nothing).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RootKeyFile {
    Plain,
    Sealed,
}

pub struct RootKey(Zeroizing<[u8; KEY_LEN]>);

impl std::fmt::Debug for RootKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RootKey(<redacted>)")
    }
}

impl RootKey {
    pub fn generate() -> Result<Self, BarrierError> {
        let mut k = Zeroizing::new([0u8; KEY_LEN]);
        SystemRandom::new()
            .fill(k.as_mut())
            .map_err(|_| BarrierError::RootKey("the system random generator failed".into()))?;
        Ok(Self(k))
    }

    pub(crate) fn bytes(&self) -> &[u8] {
        self.0.as_ref()
    }

    /// Load the root key from `path`, or create it (mode 0600) when the file does not exist —
    /// sealed with `passphrase` when one is given. Returns the key and whether it was created.
    pub fn load_or_create(
        path: &Path,
        passphrase: Option<&[u8]>,
    ) -> Result<(Self, bool), BarrierError> {
        match std::fs::read_to_string(path) {
            Ok(text) => Ok((Self::read(text.trim(), path, passphrase)?, false)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let key = Self::generate()?;
                key.write(path, passphrase, false)?;
                Ok((key, true))
            }
            Err(e) => Err(BarrierError::RootKey(format!(
                "cannot read root key file {}: {e}",
                path.display()
            ))),
        }
    }

    /// Load the root key from `path`; a missing file is an error (never a new key).
    pub fn load(path: &Path, passphrase: Option<&[u8]>) -> Result<Self, BarrierError> {
        let text = Zeroizing::new(std::fs::read_to_string(path).map_err(|e| {
            BarrierError::RootKey(format!("cannot read root key file {}: {e}", path.display()))
        })?);
        Self::read(text.trim(), path, passphrase)
    }

    /// How the file at `path` keeps the key.
    pub fn file_kind(path: &Path) -> Result<RootKeyFile, BarrierError> {
        let text = Zeroizing::new(std::fs::read_to_string(path).map_err(|e| {
            BarrierError::RootKey(format!("cannot read root key file {}: {e}", path.display()))
        })?);
        Ok(if text.starts_with(SEALED_HEADER) {
            RootKeyFile::Sealed
        } else {
            RootKeyFile::Plain
        })
    }

    /// Rewrite the key file at `path` sealed with `passphrase` (`Some`) or plain (`None`),
    /// atomically: the old file stays until the new one is complete on disk.
    pub fn rewrite(&self, path: &Path, passphrase: Option<&[u8]>) -> Result<(), BarrierError> {
        self.write(path, passphrase, true)
    }

    fn read(text: &str, path: &Path, passphrase: Option<&[u8]>) -> Result<Self, BarrierError> {
        let Some(sealed) = text.strip_prefix(SEALED_HEADER) else {
            return Self::parse(text, path);
        };
        let passphrase = passphrase.ok_or_else(|| {
            BarrierError::RootKey(format!(
                "the root key {} is sealed with a passphrase: set STRONGROOM_SEAL_PASSPHRASE or --seal-passphrase-file",
                path.display()
            ))
        })?;
        let bad =
            || BarrierError::RootKey(format!("root key file {} is malformed", path.display()));
        let mut parts = sealed.splitn(3, ':');
        let iterations: u32 = parts.next().and_then(|i| i.parse().ok()).ok_or_else(bad)?;
        let salt = hex::decode(parts.next().ok_or_else(bad)?).map_err(|_| bad())?;
        let body = hex::decode(parts.next().ok_or_else(bad)?).map_err(|_| bad())?;
        let kek = seal_key(passphrase, &salt, iterations)?;
        let opened = crate::open_raw(&kek, SEAL_AAD, &body).map_err(|_| {
            BarrierError::RootKey(format!(
                "the passphrase does not open the root key {}",
                path.display()
            ))
        })?;
        let arr: [u8; KEY_LEN] = opened.as_slice().try_into().map_err(|_| bad())?;
        Ok(Self(Zeroizing::new(arr)))
    }

    fn parse(text: &str, path: &Path) -> Result<Self, BarrierError> {
        let bad =
            || BarrierError::RootKey(format!("root key file {} is malformed", path.display()));
        let hex = text.strip_prefix(FILE_HEADER).ok_or_else(bad)?;
        let bytes = Zeroizing::new(hex::decode(hex).map_err(|_| bad())?);
        let arr: [u8; KEY_LEN] = bytes.as_slice().try_into().map_err(|_| bad())?;
        Ok(Self(Zeroizing::new(arr)))
    }

    fn write(
        &self,
        path: &Path,
        passphrase: Option<&[u8]>,
        replace: bool,
    ) -> Result<(), BarrierError> {
        let err = |e: std::io::Error| {
            BarrierError::RootKey(format!(
                "cannot write root key file {}: {e}",
                path.display()
            ))
        };
        let text = match passphrase {
            None => {
                let hex = Zeroizing::new(hex::encode(self.0.as_ref()));
                Zeroizing::new(format!("{FILE_HEADER}{}\n", hex.as_str()))
            }
            Some(p) => {
                let mut salt = [0u8; 16];
                SystemRandom::new().fill(&mut salt).map_err(|_| {
                    BarrierError::RootKey("the system random generator failed".into())
                })?;
                let kek = seal_key(p, &salt, SEAL_ITERATIONS)?;
                let body = crate::seal_with(&kek, SEAL_AAD, self.0.as_ref())?;
                Zeroizing::new(format!(
                    "{SEALED_HEADER}{SEAL_ITERATIONS}:{}:{}\n",
                    hex::encode(salt),
                    hex::encode(body)
                ))
            }
        };
        let target = if replace {
            path.with_extension("key.new")
        } else {
            path.to_path_buf()
        };
        if replace {
            // Left by an interrupted rewrite: ours, and possibly the key in plain form.
            let _ = std::fs::remove_file(&target);
        }
        let mut opts = std::fs::OpenOptions::new();
        opts.write(true).create_new(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            opts.mode(0o600);
        }
        let mut f = opts.open(&target).map_err(err)?;
        let written = f
            .write_all(text.as_bytes())
            .and_then(|()| f.sync_all())
            .and_then(|()| {
                if replace {
                    std::fs::rename(&target, path)
                } else {
                    Ok(())
                }
            });
        if let Err(e) = written {
            let _ = std::fs::remove_file(&target);
            return Err(err(e));
        }
        // The rename (or the new file) is durable once its directory is.
        if let Some(dir) = path.parent()
            && let Ok(d) = std::fs::File::open(dir)
        {
            let _ = d.sync_all();
        }
        Ok(())
    }
}

/// The AES-256-GCM key a passphrase makes (PBKDF2-HMAC-SHA256).
fn seal_key(
    passphrase: &[u8],
    salt: &[u8],
    iterations: u32,
) -> Result<aws_lc_rs::aead::LessSafeKey, BarrierError> {
    let rounds = std::num::NonZeroU32::new(iterations)
        .ok_or_else(|| BarrierError::RootKey("a sealed root key needs iterations".into()))?;
    let mut kek = Zeroizing::new([0u8; KEY_LEN]);
    aws_lc_rs::pbkdf2::derive(
        aws_lc_rs::pbkdf2::PBKDF2_HMAC_SHA256,
        rounds,
        salt,
        passphrase,
        kek.as_mut(),
    );
    Ok(crate::aead_key(kek.as_ref()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_key_opens_only_with_its_passphrase_and_rewrites_atomically() {
        let dir = std::env::temp_dir().join(format!("sr-sealed-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("root.key");
        let (k1, created) = RootKey::load_or_create(&path, Some(b"correct horse")).unwrap();
        assert!(created);
        assert_eq!(RootKey::file_kind(&path).unwrap(), RootKeyFile::Sealed);
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(
            !text.contains(&hex::encode(k1.bytes())),
            "the key is not in the file"
        );
        let e = RootKey::load_or_create(&path, None).unwrap_err();
        assert!(e.to_string().contains("sealed with a passphrase"), "{e}");
        let e = RootKey::load_or_create(&path, Some(b"wrong")).unwrap_err();
        assert!(e.to_string().contains("does not open"), "{e}");
        let (k2, _) = RootKey::load_or_create(&path, Some(b"correct horse")).unwrap();
        assert_eq!(k1.bytes(), k2.bytes());
        // Unseal, then seal again with another passphrase: the same key throughout.
        k2.rewrite(&path, None).unwrap();
        assert_eq!(RootKey::file_kind(&path).unwrap(), RootKeyFile::Plain);
        let (k3, _) = RootKey::load_or_create(&path, Some(b"ignored for plain")).unwrap();
        assert_eq!(k1.bytes(), k3.bytes());
        k3.rewrite(&path, Some(b"new passphrase")).unwrap();
        let (k4, _) = RootKey::load_or_create(&path, Some(b"new passphrase")).unwrap();
        assert_eq!(k1.bytes(), k4.bytes());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn create_then_load_same_key_with_0600() {
        let dir = std::env::temp_dir().join(format!("sr-root-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("root.key");
        let (k1, created) = RootKey::load_or_create(&path, None).unwrap();
        assert!(created);
        let (k2, created) = RootKey::load_or_create(&path, None).unwrap();
        assert!(!created);
        assert_eq!(k1.bytes(), k2.bytes());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        std::fs::write(&path, "garbage").unwrap();
        assert!(RootKey::load_or_create(&path, None).is_err());
        let _ = std::fs::remove_dir_all(&dir);
    }
}
