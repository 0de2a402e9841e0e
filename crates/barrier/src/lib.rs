//! The encryption barrier: nothing crosses it toward the store in plaintext.
//!
//! Key hierarchy (Vault/OpenBao style, AWS KMS shaped):
//! - the **root key** (256-bit) lives outside the store — today in a 0600 file in the data dir;
//!   later seals (passphrase, Shamir, HSM, external KMS) only change how it is obtained;
//! - each **KMS key** (e.g. the managed `aws/secretsmanager`) has 256-bit material stored
//!   wrapped by the root key;
//! - each **secret version** gets a fresh 256-bit data key; the value is sealed with it
//!   (AES-256-GCM) and the data key is wrapped by the KMS key.
//!
//! Associated data binds every ciphertext to where it belongs (secret ARN, version id, value
//! kind; key id for wrapped keys), so a ciphertext copied to another row fails to open
//! instead of decrypting as the wrong secret.
//!
//! AES-GCM comes from aws-lc-rs, which rustls already brings: one crypto library in the tree.

mod root;

pub use root::RootKey;

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use aws_lc_rs::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use aws_lc_rs::rand::{SecureRandom, SystemRandom};
use zeroize::Zeroizing;

pub const KEY_LEN: usize = 32;
const TAG_LEN: usize = 16;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum BarrierError {
    /// The ciphertext, its wrapped key or its binding does not authenticate.
    #[error("the stored ciphertext could not be authenticated")]
    DecryptionFailed,
    #[error("encryption failed")]
    EncryptionFailed,
    #[error("unknown KMS key {0}")]
    UnknownKey(String),
    #[error("{0}")]
    RootKey(String),
}

/// A value sealed under a KMS key. Only [`Barrier::seal`] makes new ones; the store rebuilds
/// them from its columns with [`Sealed::from_parts`]. There is no way to hand the store plaintext.
#[derive(Clone, PartialEq, Eq)]
pub struct Sealed {
    key_id: String,
    wrapped_key: Vec<u8>,
    ciphertext: Vec<u8>,
}

impl std::fmt::Debug for Sealed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sealed")
            .field("key_id", &self.key_id)
            .field("ciphertext_len", &self.ciphertext.len())
            .finish()
    }
}

impl Sealed {
    pub fn from_parts(key_id: String, wrapped_key: Vec<u8>, ciphertext: Vec<u8>) -> Self {
        Self {
            key_id,
            wrapped_key,
            ciphertext,
        }
    }
    pub fn key_id(&self) -> &str {
        &self.key_id
    }
    pub fn wrapped_key(&self) -> &[u8] {
        &self.wrapped_key
    }
    pub fn ciphertext(&self) -> &[u8] {
        &self.ciphertext
    }
}

/// KMS key material wrapped by the root key, as persisted.
#[derive(Clone, PartialEq, Eq)]
pub struct WrappedKeyMaterial(pub Vec<u8>);

impl std::fmt::Debug for WrappedKeyMaterial {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "WrappedKeyMaterial({} bytes)", self.0.len())
    }
}

/// What a sealed secret value is bound to.
pub struct ValueBinding<'a> {
    pub secret_arn: &'a str,
    pub version_id: &'a str,
    /// "string" or "binary": swapping the kind column must not go unnoticed.
    pub kind: &'a str,
}

impl ValueBinding<'_> {
    fn aad(&self) -> Vec<u8> {
        let mut aad = b"strongroom:secret-value:v1\0".to_vec();
        for part in [self.secret_arn, self.version_id, self.kind] {
            aad.extend_from_slice(&(part.len() as u32).to_be_bytes());
            aad.extend_from_slice(part.as_bytes());
        }
        aad
    }
}

pub struct Barrier {
    root: LessSafeKey,
    kms_keys: RwLock<HashMap<String, Arc<LessSafeKey>>>,
    rng: SystemRandom,
}

impl Barrier {
    pub fn new(root: &RootKey) -> Self {
        Self {
            root: aead_key(root.bytes()),
            kms_keys: RwLock::new(HashMap::new()),
            rng: SystemRandom::new(),
        }
    }

    /// Generate material for a new KMS key; returns it wrapped for storage and loads it.
    pub fn create_kms_key(&self, key_id: &str) -> Result<WrappedKeyMaterial, BarrierError> {
        let mut material = Zeroizing::new([0u8; KEY_LEN]);
        self.rng
            .fill(material.as_mut())
            .map_err(|_| BarrierError::EncryptionFailed)?;
        let wrapped = self.seal_raw(&self.root, &kms_aad(key_id), material.as_ref())?;
        self.install(key_id, material.as_ref());
        Ok(WrappedKeyMaterial(wrapped))
    }

    /// Unwrap a stored KMS key with the root key and keep it ready in memory.
    pub fn load_kms_key(
        &self,
        key_id: &str,
        wrapped: &WrappedKeyMaterial,
    ) -> Result<(), BarrierError> {
        let material = open_raw(&self.root, &kms_aad(key_id), &wrapped.0)?;
        if material.len() != KEY_LEN {
            return Err(BarrierError::DecryptionFailed);
        }
        self.install(key_id, &material);
        Ok(())
    }

    pub fn has_key(&self, key_id: &str) -> bool {
        self.kms_keys
            .read()
            .map(|m| m.contains_key(key_id))
            .unwrap_or(false)
    }

    /// Seal a secret value under a fresh data key wrapped by `key_id`.
    pub fn seal(
        &self,
        key_id: &str,
        binding: &ValueBinding<'_>,
        plaintext: &[u8],
    ) -> Result<Sealed, BarrierError> {
        let kek = self.kms_key(key_id)?;
        let mut dek = Zeroizing::new([0u8; KEY_LEN]);
        self.rng
            .fill(dek.as_mut())
            .map_err(|_| BarrierError::EncryptionFailed)?;
        let aad = binding.aad();
        let ciphertext = self.seal_raw(&aead_key(dek.as_ref()), &aad, plaintext)?;
        let wrapped_key = self.seal_raw(&kek, &dek_aad(key_id, &aad), dek.as_ref())?;
        Ok(Sealed {
            key_id: key_id.to_string(),
            wrapped_key,
            ciphertext,
        })
    }

    /// Open a sealed value; any tampering (ciphertext, wrapped key, binding) fails.
    pub fn open(
        &self,
        sealed: &Sealed,
        binding: &ValueBinding<'_>,
    ) -> Result<Zeroizing<Vec<u8>>, BarrierError> {
        let kek = self.kms_key(&sealed.key_id)?;
        let aad = binding.aad();
        let dek = open_raw(&kek, &dek_aad(&sealed.key_id, &aad), &sealed.wrapped_key)?;
        if dek.len() != KEY_LEN {
            return Err(BarrierError::DecryptionFailed);
        }
        open_raw(&aead_key(&dek), &aad, &sealed.ciphertext)
    }

    fn kms_key(&self, key_id: &str) -> Result<Arc<LessSafeKey>, BarrierError> {
        self.kms_keys
            .read()
            .ok()
            .and_then(|m| m.get(key_id).cloned())
            .ok_or_else(|| BarrierError::UnknownKey(key_id.to_string()))
    }

    fn install(&self, key_id: &str, material: &[u8]) {
        if let Ok(mut m) = self.kms_keys.write() {
            m.insert(key_id.to_string(), Arc::new(aead_key(material)));
        }
    }

    /// nonce || ciphertext || tag, with a random 96-bit nonce (every key here encrypts few
    /// messages — a data key exactly one — so random nonces are far from the collision bound).
    fn seal_raw(
        &self,
        key: &LessSafeKey,
        aad: &[u8],
        plaintext: &[u8],
    ) -> Result<Vec<u8>, BarrierError> {
        let mut nonce = [0u8; NONCE_LEN];
        self.rng
            .fill(&mut nonce)
            .map_err(|_| BarrierError::EncryptionFailed)?;
        let mut out = Vec::with_capacity(NONCE_LEN + plaintext.len() + TAG_LEN);
        out.extend_from_slice(&nonce);
        out.extend_from_slice(plaintext);
        let tag = key
            .seal_in_place_separate_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(aad),
                &mut out[NONCE_LEN..],
            )
            .map_err(|_| BarrierError::EncryptionFailed)?;
        out.extend_from_slice(tag.as_ref());
        Ok(out)
    }
}

fn open_raw(
    key: &LessSafeKey,
    aad: &[u8],
    sealed: &[u8],
) -> Result<Zeroizing<Vec<u8>>, BarrierError> {
    if sealed.len() < NONCE_LEN + TAG_LEN {
        return Err(BarrierError::DecryptionFailed);
    }
    let (nonce, body) = sealed.split_at(NONCE_LEN);
    let nonce =
        Nonce::try_assume_unique_for_key(nonce).map_err(|_| BarrierError::DecryptionFailed)?;
    let mut buf = Zeroizing::new(body.to_vec());
    let len = key
        .open_in_place(nonce, Aad::from(aad), buf.as_mut_slice())
        .map_err(|_| BarrierError::DecryptionFailed)?
        .len();
    buf.truncate(len);
    Ok(buf)
}

fn aead_key(bytes: &[u8]) -> LessSafeKey {
    // Only fails on a wrong key length; every caller passes KEY_LEN bytes.
    LessSafeKey::new(UnboundKey::new(&AES_256_GCM, bytes).expect("AES-256 key is 32 bytes"))
}

fn kms_aad(key_id: &str) -> Vec<u8> {
    let mut aad = b"strongroom:kms-key-material:v1\0".to_vec();
    aad.extend_from_slice(key_id.as_bytes());
    aad
}

fn dek_aad(key_id: &str, value_aad: &[u8]) -> Vec<u8> {
    let mut aad = b"strongroom:data-key:v1\0".to_vec();
    aad.extend_from_slice(&(key_id.len() as u32).to_be_bytes());
    aad.extend_from_slice(key_id.as_bytes());
    aad.extend_from_slice(value_aad);
    aad
}

#[cfg(test)]
mod tests {
    use super::*;

    fn setup() -> Barrier {
        let b = Barrier::new(&RootKey::generate().unwrap());
        b.create_kms_key("k1").unwrap();
        b
    }

    fn binding<'a>(arn: &'a str, v: &'a str) -> ValueBinding<'a> {
        ValueBinding {
            secret_arn: arn,
            version_id: v,
            kind: "string",
        }
    }

    #[test]
    fn round_trip_and_no_plaintext_in_sealed_bytes() {
        let b = setup();
        let s = b
            .seal("k1", &binding("arn1", "v1"), b"hunter2-hunter2")
            .unwrap();
        assert!(!s.ciphertext().windows(7).any(|w| w == b"hunter2"));
        assert_eq!(
            &*b.open(&s, &binding("arn1", "v1")).unwrap(),
            b"hunter2-hunter2"
        );
    }

    #[test]
    fn every_byte_flip_is_detected() {
        let b = setup();
        let s = b.seal("k1", &binding("arn1", "v1"), b"value").unwrap();
        for i in 0..s.ciphertext().len() {
            let mut ct = s.ciphertext().to_vec();
            ct[i] ^= 0x01;
            let t = Sealed::from_parts("k1".into(), s.wrapped_key().to_vec(), ct);
            assert_eq!(
                b.open(&t, &binding("arn1", "v1")).unwrap_err(),
                BarrierError::DecryptionFailed
            );
        }
        for i in 0..s.wrapped_key().len() {
            let mut wk = s.wrapped_key().to_vec();
            wk[i] ^= 0x80;
            let t = Sealed::from_parts("k1".into(), wk, s.ciphertext().to_vec());
            assert_eq!(
                b.open(&t, &binding("arn1", "v1")).unwrap_err(),
                BarrierError::DecryptionFailed
            );
        }
    }

    #[test]
    fn binding_is_enforced() {
        let b = setup();
        let s = b.seal("k1", &binding("arn1", "v1"), b"value").unwrap();
        assert!(b.open(&s, &binding("arn2", "v1")).is_err());
        assert!(b.open(&s, &binding("arn1", "v2")).is_err());
        let bin = ValueBinding {
            secret_arn: "arn1",
            version_id: "v1",
            kind: "binary",
        };
        assert!(b.open(&s, &bin).is_err());
    }

    #[test]
    fn kms_key_survives_reload_only_with_the_same_root() {
        let root = RootKey::generate().unwrap();
        let b1 = Barrier::new(&root);
        let wrapped = b1.create_kms_key("k1").unwrap();
        let s = b1.seal("k1", &binding("a", "v"), b"x").unwrap();

        let b2 = Barrier::new(&root);
        b2.load_kms_key("k1", &wrapped).unwrap();
        assert_eq!(&*b2.open(&s, &binding("a", "v")).unwrap(), b"x");

        let other = Barrier::new(&RootKey::generate().unwrap());
        assert_eq!(
            other.load_kms_key("k1", &wrapped),
            Err(BarrierError::DecryptionFailed)
        );
        assert_eq!(
            b2.load_kms_key("k2", &wrapped),
            Err(BarrierError::DecryptionFailed)
        );
    }

    #[test]
    fn unknown_key_is_an_error() {
        let b = setup();
        assert_eq!(
            b.seal("nope", &binding("a", "v"), b"x").unwrap_err(),
            BarrierError::UnknownKey("nope".into())
        );
    }
}
