//! Signed digests: every so often the server signs (seq, hash, time) of the chain's head with
//! an Ed25519 key only it holds. Anyone with the public key can then prove that the chain up to
//! that record existed as it is now — which catches a rewritten chain and a cut-off tail, the
//! two things hash links alone cannot.

use std::io::Write;
use std::path::Path;

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{self, Ed25519KeyPair, KeyPair, UnparsedPublicKey};

use crate::chain::Hash;

pub struct DigestSigner {
    key: Ed25519KeyPair,
}

/// The bytes a digest signature covers.
pub fn digest_message(seq: i64, hash: &Hash, time_ms: i64) -> Vec<u8> {
    format!(
        "strongroom-audit-digest-v1\n{seq}\n{}\n{time_ms}",
        hex::encode(hash)
    )
    .into_bytes()
}

impl DigestSigner {
    pub fn generate() -> Result<Self, String> {
        let pkcs8 = Ed25519KeyPair::generate_pkcs8(&SystemRandom::new())
            .map_err(|_| "cannot generate the audit signing key".to_string())?;
        let key = Ed25519KeyPair::from_pkcs8(pkcs8.as_ref())
            .map_err(|_| "cannot load the generated audit signing key".to_string())?;
        Ok(Self { key })
    }

    /// Load the PKCS#8 key file, or create it (0600). Like `root.key`, it must be backed up
    /// and kept from whoever could edit the audit database.
    pub fn load_or_create(path: &Path) -> Result<Self, String> {
        match std::fs::read(path) {
            Ok(bytes) => {
                let key = Ed25519KeyPair::from_pkcs8(&bytes)
                    .map_err(|_| format!("{} is not an Ed25519 PKCS#8 key", path.display()))?;
                Ok(Self { key })
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let pkcs8 = Ed25519KeyPair::generate_pkcs8(&SystemRandom::new())
                    .map_err(|_| "cannot generate the audit signing key".to_string())?;
                let mut opts = std::fs::OpenOptions::new();
                opts.write(true).create_new(true);
                #[cfg(unix)]
                {
                    use std::os::unix::fs::OpenOptionsExt;
                    opts.mode(0o600);
                }
                let mut f = opts
                    .open(path)
                    .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
                f.write_all(pkcs8.as_ref())
                    .and_then(|_| f.sync_all())
                    .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
                let key = Ed25519KeyPair::from_pkcs8(pkcs8.as_ref())
                    .map_err(|_| "cannot load the generated audit signing key".to_string())?;
                Ok(Self { key })
            }
            Err(e) => Err(format!("cannot read {}: {e}", path.display())),
        }
    }

    pub fn public_key(&self) -> Vec<u8> {
        self.key.public_key().as_ref().to_vec()
    }

    pub fn sign(&self, seq: i64, hash: &Hash, time_ms: i64) -> Vec<u8> {
        self.key
            .sign(&digest_message(seq, hash, time_ms))
            .as_ref()
            .to_vec()
    }
}

pub fn verify_signature(
    public_key: &[u8],
    seq: i64,
    hash: &Hash,
    time_ms: i64,
    sig: &[u8],
) -> bool {
    UnparsedPublicKey::new(&signature::ED25519, public_key)
        .verify(&digest_message(seq, hash, time_ms), sig)
        .is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signatures_verify_and_bind_every_field() {
        let s = DigestSigner::generate().unwrap();
        let pk = s.public_key();
        let h = [7u8; 32];
        let sig = s.sign(10, &h, 1000);
        assert!(verify_signature(&pk, 10, &h, 1000, &sig));
        assert!(!verify_signature(&pk, 11, &h, 1000, &sig));
        assert!(!verify_signature(&pk, 10, &[8u8; 32], 1000, &sig));
        assert!(!verify_signature(&pk, 10, &h, 1001, &sig));
        let other = DigestSigner::generate().unwrap().public_key();
        assert!(!verify_signature(&other, 10, &h, 1000, &sig));
    }

    #[test]
    fn the_key_file_is_created_once_and_reloaded() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("audit-signing.key");
        let a = DigestSigner::load_or_create(&p).unwrap().public_key();
        let b = DigestSigner::load_or_create(&p).unwrap().public_key();
        assert_eq!(a, b);
    }
}
