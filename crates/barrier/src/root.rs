//! The root key: obtained at start, never stored in the database. Its file in the data
//! directory holds it plain (mode 0600, like an SSH key) or wrapped by a [`Seal`].

use std::io::Write;
use std::path::Path;

use aws_lc_rs::rand::{SecureRandom, SystemRandom};
use zeroize::Zeroizing;

use crate::seal::{PASSPHRASE, Seal, SealInfo, WrappedRootKey};
use crate::{BarrierError, KEY_LEN};

const FILE_HEADER: &str = "strongroom-root-key-v1:";
/// A root key sealed with a passphrase: `HEADER ITERATIONS:SALT:NONCE+CIPHERTEXT+TAG` (hex).
/// Kept for passphrase seals, so files written before other seals existed read as before.
const SEALED_HEADER: &str = "strongroom-root-key-sealed-v1:";
/// A root key wrapped by any other seal: `HEADER {"kind":..,"params":{..},"wrapped":HEX}`.
const WRAPPED_HEADER: &str = "strongroom-root-key-sealed-v2:";

/// How the root key file keeps the key: plain, or wrapped by the seal described.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RootKeyFile {
    Plain,
    Sealed(SealInfo),
}

pub struct RootKey(Zeroizing<[u8; KEY_LEN]>);

impl std::fmt::Debug for RootKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RootKey(<redacted>)")
    }
}

/// What a root key file holds.
enum Stored {
    Plain(RootKey),
    Sealed(WrappedRootKey),
}

#[derive(serde::Serialize, serde::Deserialize)]
struct WrappedJson {
    #[serde(flatten)]
    seal: SealInfo,
    wrapped: String,
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

    /// A key unwrapped by a seal (anything but 32 bytes is refused).
    pub(crate) fn from_slice(bytes: &[u8]) -> Result<Self, BarrierError> {
        let arr: [u8; KEY_LEN] = bytes.try_into().map_err(|_| {
            BarrierError::RootKey("the unwrapped root key has the wrong length".into())
        })?;
        Ok(Self(Zeroizing::new(arr)))
    }

    /// A public commitment to the key (HMAC-SHA256 under it of a fixed label): nodes of a
    /// cluster compare it to find out whether they hold the same root key, without revealing it.
    pub fn check_value(&self) -> [u8; 32] {
        let key = aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, self.bytes());
        let tag = aws_lc_rs::hmac::sign(&key, b"strongroom root key check v1");
        let mut out = [0u8; 32];
        out.copy_from_slice(tag.as_ref());
        out
    }

    /// Whether two keys are the same (a migration checks it before replacing the file).
    pub fn same_as(&self, other: &RootKey) -> bool {
        aws_lc_rs::constant_time::verify_slices_are_equal(self.bytes(), other.bytes()).is_ok()
    }

    /// Seal a small record the nodes of a cluster share through their database (the cluster's
    /// root credentials): AES-256-GCM under the root key, bound to `label` by the AAD, so only
    /// a node holding the same root key opens it and a record cannot pass for another.
    pub fn seal_record(&self, label: &str, plaintext: &[u8]) -> Result<Vec<u8>, BarrierError> {
        crate::seal_with(
            &crate::aead_key(self.bytes()),
            &record_aad(label),
            plaintext,
        )
    }

    /// Open what [`Self::seal_record`] sealed under the same `label`.
    pub fn open_record(
        &self,
        label: &str,
        sealed: &[u8],
    ) -> Result<Zeroizing<Vec<u8>>, BarrierError> {
        crate::open_raw(&crate::aead_key(self.bytes()), &record_aad(label), sealed)
    }

    /// Load the root key from `path`, or create it (mode 0600) when the file does not exist —
    /// wrapped by `seal` when one is given. Returns the key and whether it was created.
    pub async fn load_or_create(
        path: &Path,
        seal: Option<&dyn Seal>,
    ) -> Result<(Self, bool), BarrierError> {
        match read_file(path) {
            Ok(stored) => Ok((open(path, stored, seal).await?, false)),
            Err(FileError::Missing) => {
                let key = Self::generate()?;
                key.write(path, seal, false).await?;
                Ok((key, true))
            }
            Err(FileError::Other(e)) => Err(e),
        }
    }

    /// Load the root key from `path`; a missing file is an error (never a new key).
    pub async fn load(path: &Path, seal: Option<&dyn Seal>) -> Result<Self, BarrierError> {
        let stored = read_file(path).map_err(FileError::into_error(path))?;
        open(path, stored, seal).await
    }

    /// How the file at `path` keeps the key.
    pub fn file_kind(path: &Path) -> Result<RootKeyFile, BarrierError> {
        Ok(
            match read_file(path).map_err(FileError::into_error(path))? {
                Stored::Plain(_) => RootKeyFile::Plain,
                Stored::Sealed(w) => RootKeyFile::Sealed(w.seal),
            },
        )
    }

    /// Rewrite the key file at `path` wrapped by `seal` (`Some`) or plain (`None`),
    /// atomically: the old file stays until the new one is complete on disk — and until the
    /// seal has opened what it wrapped, so a seal that cannot give the key back never replaces
    /// a file that can.
    pub async fn rewrite(&self, path: &Path, seal: Option<&dyn Seal>) -> Result<(), BarrierError> {
        self.write(path, seal, true).await
    }

    async fn write(
        &self,
        path: &Path,
        seal: Option<&dyn Seal>,
        replace: bool,
    ) -> Result<(), BarrierError> {
        let text = match seal {
            None => {
                let hex = Zeroizing::new(hex::encode(self.0.as_ref()));
                Zeroizing::new(format!("{FILE_HEADER}{}\n", hex.as_str()))
            }
            Some(s) => {
                let wrapped = s.wrap(self).await?;
                let back = s.unwrap(&wrapped).await?;
                if !back.same_as(self) {
                    return Err(BarrierError::RootKey(format!(
                        "{} gave back another key than it wrapped: the root key file is unchanged",
                        s.describe()
                    )));
                }
                Zeroizing::new(encode_wrapped(&wrapped)?)
            }
        };
        write_text(path, &text, replace)
    }
}

fn record_aad(label: &str) -> Vec<u8> {
    let mut aad = b"strongroom:cluster-record:v1\0".to_vec();
    aad.extend_from_slice(label.as_bytes());
    aad
}

/// Open what the file holds with `seal` (plain files need none; any seal given is then unused).
async fn open(
    path: &Path,
    stored: Stored,
    seal: Option<&dyn Seal>,
) -> Result<RootKey, BarrierError> {
    match (stored, seal) {
        (Stored::Plain(k), _) => Ok(k),
        (Stored::Sealed(w), Some(s)) if s.kind() == w.seal.kind => {
            s.unwrap(&w).await.map_err(|e| match e {
                BarrierError::RootKey(m) => {
                    BarrierError::RootKey(format!("{m} ({})", path.display()))
                }
                other => other,
            })
        }
        (Stored::Sealed(w), s) => Err(crate::seal::refusal(path, &w.seal, s)),
    }
}

enum FileError {
    Missing,
    Other(BarrierError),
}

impl FileError {
    fn into_error(path: &Path) -> impl Fn(FileError) -> BarrierError + '_ {
        move |e| match e {
            FileError::Missing => BarrierError::RootKey(format!(
                "cannot read root key file {}: it does not exist",
                path.display()
            )),
            FileError::Other(e) => e,
        }
    }
}

fn read_file(path: &Path) -> Result<Stored, FileError> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => Zeroizing::new(t),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Err(FileError::Missing),
        Err(e) => {
            return Err(FileError::Other(BarrierError::RootKey(format!(
                "cannot read root key file {}: {e}",
                path.display()
            ))));
        }
    };
    decode(text.trim()).ok_or_else(|| {
        FileError::Other(BarrierError::RootKey(format!(
            "root key file {} is malformed",
            path.display()
        )))
    })
}

fn decode(text: &str) -> Option<Stored> {
    if let Some(json) = text.strip_prefix(WRAPPED_HEADER) {
        let w: WrappedJson = serde_json::from_str(json).ok()?;
        return Some(Stored::Sealed(WrappedRootKey {
            seal: w.seal,
            wrapped: hex::decode(w.wrapped).ok()?,
        }));
    }
    if let Some(sealed) = text.strip_prefix(SEALED_HEADER) {
        let mut parts = sealed.splitn(3, ':');
        let iterations: u32 = parts.next()?.parse().ok()?;
        let salt = parts.next()?;
        hex::decode(salt).ok()?;
        let body = hex::decode(parts.next()?).ok()?;
        return Some(Stored::Sealed(WrappedRootKey {
            seal: SealInfo::new(
                PASSPHRASE,
                &[("iterations", &iterations.to_string()), ("salt", salt)],
            ),
            wrapped: body,
        }));
    }
    let hex = text.strip_prefix(FILE_HEADER)?;
    let bytes = Zeroizing::new(hex::decode(hex).ok()?);
    RootKey::from_slice(&bytes).ok().map(Stored::Plain)
}

fn encode_wrapped(w: &WrappedRootKey) -> Result<String, BarrierError> {
    if w.seal.kind == PASSPHRASE {
        let (Some(iterations), Some(salt)) = (w.seal.param("iterations"), w.seal.param("salt"))
        else {
            return Err(BarrierError::RootKey(
                "a passphrase seal without its salt and rounds".into(),
            ));
        };
        return Ok(format!(
            "{SEALED_HEADER}{iterations}:{salt}:{}\n",
            hex::encode(&w.wrapped)
        ));
    }
    let json = serde_json::to_string(&WrappedJson {
        seal: w.seal.clone(),
        wrapped: hex::encode(&w.wrapped),
    })
    .map_err(|e| BarrierError::RootKey(format!("cannot encode the wrapped root key: {e}")))?;
    Ok(format!("{WRAPPED_HEADER}{json}\n"))
}

fn write_text(path: &Path, text: &str, replace: bool) -> Result<(), BarrierError> {
    let err = |e: std::io::Error| {
        BarrierError::RootKey(format!(
            "cannot write root key file {}: {e}",
            path.display()
        ))
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::seal::PassphraseSeal;

    fn temp(tag: &str) -> std::path::PathBuf {
        let dir = std::env::temp_dir().join(format!("sr-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn records_open_only_with_the_same_key_and_label() {
        let (k1, k2) = (RootKey::generate().unwrap(), RootKey::generate().unwrap());
        let sealed = k1.seal_record("root-credentials", b"AKIA:secret").unwrap();
        assert!(!sealed.windows(6).any(|w| w == b"secret"));
        assert_eq!(
            k1.open_record("root-credentials", &sealed)
                .unwrap()
                .as_slice(),
            b"AKIA:secret"
        );
        assert!(k2.open_record("root-credentials", &sealed).is_err());
        assert!(k1.open_record("other", &sealed).is_err());
        let mut tampered = sealed.clone();
        *tampered.last_mut().unwrap() ^= 1;
        assert!(k1.open_record("root-credentials", &tampered).is_err());
    }

    #[tokio::test]
    async fn sealed_key_opens_only_with_its_passphrase_and_rewrites_atomically() {
        let dir = temp("sealed");
        let path = dir.join("root.key");
        let right = PassphraseSeal::new(b"correct horse");
        let (k1, created) = RootKey::load_or_create(&path, Some(&right)).await.unwrap();
        assert!(created);
        let RootKeyFile::Sealed(info) = RootKey::file_kind(&path).unwrap() else {
            panic!("sealed")
        };
        assert_eq!(info.kind, PASSPHRASE);
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.starts_with(SEALED_HEADER), "the v1 format, as before");
        assert!(
            !text.contains(&hex::encode(k1.bytes())),
            "the key is not in the file"
        );
        let e = RootKey::load_or_create(&path, None).await.unwrap_err();
        assert!(e.to_string().contains("sealed with a passphrase"), "{e}");
        let wrong = PassphraseSeal::new(b"wrong");
        let e = RootKey::load_or_create(&path, Some(&wrong))
            .await
            .unwrap_err();
        assert!(e.to_string().contains("does not open"), "{e}");
        let (k2, _) = RootKey::load_or_create(&path, Some(&right)).await.unwrap();
        assert!(k1.same_as(&k2));
        // Unseal, then seal again with another passphrase: the same key throughout.
        k2.rewrite(&path, None).await.unwrap();
        assert_eq!(RootKey::file_kind(&path).unwrap(), RootKeyFile::Plain);
        let (k3, _) = RootKey::load_or_create(&path, Some(&wrong)).await.unwrap();
        assert!(k1.same_as(&k3), "a plain file needs no seal");
        let new = PassphraseSeal::new(b"new passphrase");
        k3.rewrite(&path, Some(&new)).await.unwrap();
        let (k4, _) = RootKey::load_or_create(&path, Some(&new)).await.unwrap();
        assert!(k1.same_as(&k4));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        let _ = std::fs::remove_dir_all(&dir);
    }

    /// A seal of another kind than the file's is refused with the seal the file needs; the
    /// other seals' format (v2) round-trips through the file.
    #[tokio::test]
    async fn a_key_wrapped_by_another_seal_says_which_it_needs() {
        let dir = temp("wrapped");
        let path = dir.join("root.key");
        let key = RootKey::generate().unwrap();
        let wrapped = WrappedRootKey {
            seal: SealInfo::new(
                crate::seal::PKCS11,
                &[("module", "/m.so"), ("token", "prod"), ("label", "root")],
            ),
            wrapped: vec![1, 2, 3],
        };
        write_text(&path, &encode_wrapped(&wrapped).unwrap(), false).unwrap();
        assert_eq!(
            RootKey::file_kind(&path).unwrap(),
            RootKeyFile::Sealed(wrapped.seal.clone())
        );
        let Stored::Sealed(back) = read_file(&path).ok().unwrap() else {
            panic!("sealed")
        };
        assert_eq!(back, wrapped);
        let e = RootKey::load(&path, None).await.unwrap_err().to_string();
        assert!(
            e.contains("sealed by the PKCS#11 key label=root on token prod")
                && e.contains("--seal 'pkcs11:module=/m.so;token=prod;label=root'"),
            "{e}"
        );
        let e = RootKey::load(&path, Some(&PassphraseSeal::new(b"p")))
            .await
            .unwrap_err()
            .to_string();
        assert!(e.contains("not by a passphrase"), "{e}");
        drop(key);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[tokio::test]
    async fn create_then_load_same_key_with_0600() {
        let dir = temp("root");
        let path = dir.join("root.key");
        let (k1, created) = RootKey::load_or_create(&path, None).await.unwrap();
        assert!(created);
        let (k2, created) = RootKey::load_or_create(&path, None).await.unwrap();
        assert!(!created);
        assert_eq!(k1.bytes(), k2.bytes());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        std::fs::write(&path, "garbage").unwrap();
        assert!(RootKey::load_or_create(&path, None).await.is_err());
        let _ = std::fs::remove_dir_all(&dir);
    }
}
