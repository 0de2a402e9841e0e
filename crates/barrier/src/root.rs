//! The root key: obtained at start, never stored in the database.

use std::io::Write;
use std::path::Path;

use aws_lc_rs::rand::{SecureRandom, SystemRandom};
use zeroize::Zeroizing;

use crate::{BarrierError, KEY_LEN};

const FILE_HEADER: &str = "strongroom-root-key-v1:";

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

    /// Load the root key from `path`, or create it (mode 0600) when the file does not exist.
    /// Returns the key and whether it was created.
    pub fn load_or_create(path: &Path) -> Result<(Self, bool), BarrierError> {
        match std::fs::read_to_string(path) {
            Ok(text) => Ok((Self::parse(text.trim(), path)?, false)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let key = Self::generate()?;
                key.write_new(path)?;
                Ok((key, true))
            }
            Err(e) => Err(BarrierError::RootKey(format!(
                "cannot read root key file {}: {e}",
                path.display()
            ))),
        }
    }

    fn parse(text: &str, path: &Path) -> Result<Self, BarrierError> {
        let bad =
            || BarrierError::RootKey(format!("root key file {} is malformed", path.display()));
        let hex = text.strip_prefix(FILE_HEADER).ok_or_else(bad)?;
        let bytes = Zeroizing::new(hex::decode(hex).map_err(|_| bad())?);
        let arr: [u8; KEY_LEN] = bytes.as_slice().try_into().map_err(|_| bad())?;
        Ok(Self(Zeroizing::new(arr)))
    }

    fn write_new(&self, path: &Path) -> Result<(), BarrierError> {
        let err = |e: std::io::Error| {
            BarrierError::RootKey(format!(
                "cannot write root key file {}: {e}",
                path.display()
            ))
        };
        let mut opts = std::fs::OpenOptions::new();
        opts.write(true).create_new(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            opts.mode(0o600);
        }
        let mut f = opts.open(path).map_err(err)?;
        let hex = Zeroizing::new(hex::encode(self.0.as_ref()));
        let text = Zeroizing::new(format!("{FILE_HEADER}{}\n", hex.as_str()));
        f.write_all(text.as_bytes()).map_err(err)?;
        f.sync_all().map_err(err)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn create_then_load_same_key_with_0600() {
        let dir = std::env::temp_dir().join(format!("sr-root-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("root.key");
        let (k1, created) = RootKey::load_or_create(&path).unwrap();
        assert!(created);
        let (k2, created) = RootKey::load_or_create(&path).unwrap();
        assert!(!created);
        assert_eq!(k1.bytes(), k2.bytes());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        std::fs::write(&path, "garbage").unwrap();
        assert!(RootKey::load_or_create(&path).is_err());
        let _ = std::fs::remove_dir_all(&dir);
    }
}
