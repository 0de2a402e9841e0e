//! The encryption barrier: nothing crosses it toward the store in plaintext.
//!
//! Key hierarchy (Vault/OpenBao style, AWS KMS shaped):
//! - the **root key** (256-bit) lives outside the store — in a 0600 file in the data dir,
//!   plain or wrapped by a [`seal::Seal`] (passphrase, PKCS#11 HSM, external KMS), which only
//!   changes how it is obtained;
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
pub mod seal;

pub use root::{RootKey, RootKeyFile};

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
/// them from its columns with [`Sealed::from_stored_parts`]. The store accepts values only as
/// `Sealed`, so plaintext cannot reach it by mistake.
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
    /// What a store (or a session token) kept of a sealed value, rebuilt for
    /// [`Barrier::open`]. Public because the store crate sits below the barrier, but not a way
    /// to smuggle plaintext: anything not sealed by the barrier fails `open`'s authentication
    /// (a `DecryptionFailure`), so it can never be served as a value.
    pub fn from_stored_parts(key_id: String, wrapped_key: Vec<u8>, ciphertext: Vec<u8>) -> Self {
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
        const PREFIX: &[u8] = b"strongroom:secret-value:v1\0";
        let parts = [self.secret_arn, self.version_id, self.kind];
        // Sized once: this runs on every read (growing it was four allocations).
        let mut aad =
            Vec::with_capacity(PREFIX.len() + parts.iter().map(|p| 4 + p.len()).sum::<usize>());
        aad.extend_from_slice(PREFIX);
        for part in parts {
            aad.extend_from_slice(&(part.len() as u32).to_be_bytes());
            aad.extend_from_slice(part.as_bytes());
        }
        aad
    }
}

/// One KMS key's materials, oldest first: rotation adds one and never removes any, so
/// everything sealed before a rotation still opens.
#[derive(Default)]
struct KeyRing {
    materials: Vec<(u32, Arc<LessSafeKey>)>,
}

impl KeyRing {
    fn newest(&self) -> Option<&(u32, Arc<LessSafeKey>)> {
        self.materials.last()
    }
    fn version(&self, version: u32) -> Option<&Arc<LessSafeKey>> {
        self.materials
            .iter()
            .find(|(v, _)| *v == version)
            .map(|(_, k)| k)
    }
}

/// Magic of a KMS ciphertext blob (what Encrypt and GenerateDataKey return):
/// `SRK1 | key id length (u8) | key id | material version (u32 BE) | nonce | ciphertext | tag`.
const BLOB_MAGIC: &[u8; 4] = b"SRK1";

pub struct Barrier {
    root: LessSafeKey,
    kms_keys: RwLock<HashMap<String, KeyRing>>,
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
        let wrapped = self.seal_raw(&self.root, &material_aad(key_id, 0), material.as_ref())?;
        self.install(key_id, 0, material.as_ref());
        Ok(WrappedKeyMaterial(wrapped))
    }

    /// Unwrap a stored KMS key (its first material) with the root key and keep it ready.
    pub fn load_kms_key(
        &self,
        key_id: &str,
        wrapped: &WrappedKeyMaterial,
    ) -> Result<(), BarrierError> {
        self.load_kms_material(key_id, 0, wrapped)
    }

    /// Unwrap one material of a KMS key (version 0 is the original, later ones come from
    /// rotations) and keep it ready.
    pub fn load_kms_material(
        &self,
        key_id: &str,
        version: u32,
        wrapped: &WrappedKeyMaterial,
    ) -> Result<(), BarrierError> {
        let material = open_raw(&self.root, &material_aad(key_id, version), &wrapped.0)?;
        if material.len() != KEY_LEN {
            return Err(BarrierError::DecryptionFailed);
        }
        self.install(key_id, version, &material);
        Ok(())
    }

    /// New material for a KMS key (its rotation): returns the next version and the material
    /// wrapped for storage, *without* using it yet — the caller stores it, then loads it with
    /// [`Self::load_kms_material`], so nothing is ever sealed under material that was not
    /// saved. Older materials stay, to open what they sealed.
    pub fn new_kms_material(
        &self,
        key_id: &str,
    ) -> Result<(u32, WrappedKeyMaterial), BarrierError> {
        let version = {
            let keys = self
                .kms_keys
                .read()
                .map_err(|_| BarrierError::EncryptionFailed)?;
            let ring = keys
                .get(key_id)
                .ok_or_else(|| BarrierError::UnknownKey(key_id.to_string()))?;
            ring.newest().map_or(0, |(v, _)| v + 1)
        };
        let mut material = Zeroizing::new([0u8; KEY_LEN]);
        self.rng
            .fill(material.as_mut())
            .map_err(|_| BarrierError::EncryptionFailed)?;
        let wrapped = self.seal_raw(
            &self.root,
            &material_aad(key_id, version),
            material.as_ref(),
        )?;
        Ok((version, WrappedKeyMaterial(wrapped)))
    }

    /// Drop a KMS key's materials from memory (its deletion): what it sealed no longer opens.
    pub fn forget_kms_key(&self, key_id: &str) {
        if let Ok(mut m) = self.kms_keys.write() {
            m.remove(key_id);
        }
    }

    pub fn has_key(&self, key_id: &str) -> bool {
        self.kms_keys
            .read()
            .map(|m| m.contains_key(key_id))
            .unwrap_or(false)
    }

    /// KMS Encrypt: seal `plaintext` directly under the key's newest material, bound to the
    /// caller's encryption context (`context`, already canonical). The blob names its key and
    /// material, as AWS's ciphertext blobs do, so Decrypt needs no key id.
    pub fn encrypt_blob(
        &self,
        key_id: &str,
        context: &[u8],
        plaintext: &[u8],
    ) -> Result<Vec<u8>, BarrierError> {
        let (version, key) = self.newest_material(key_id)?;
        let id = key_id.as_bytes();
        let id_len = u8::try_from(id.len()).map_err(|_| BarrierError::EncryptionFailed)?;
        let mut header = Vec::with_capacity(BLOB_MAGIC.len() + 5 + id.len());
        header.extend_from_slice(BLOB_MAGIC);
        header.push(id_len);
        header.extend_from_slice(id);
        header.extend_from_slice(&version.to_be_bytes());
        let sealed = self.seal_raw(&key, &blob_aad(&header, context), plaintext)?;
        header.extend_from_slice(&sealed);
        Ok(header)
    }

    /// The key id a KMS ciphertext blob names, if it is one of ours.
    pub fn blob_key_id(blob: &[u8]) -> Option<&str> {
        Some(parse_blob(blob)?.0)
    }

    /// KMS Decrypt of a blob from [`Self::encrypt_blob`] with the same context.
    pub fn decrypt_blob(
        &self,
        blob: &[u8],
        context: &[u8],
    ) -> Result<Zeroizing<Vec<u8>>, BarrierError> {
        let (key_id, version, header_len) =
            parse_blob(blob).ok_or(BarrierError::DecryptionFailed)?;
        let key = self
            .kms_keys
            .read()
            .ok()
            .and_then(|m| m.get(key_id)?.version(version).cloned())
            .ok_or_else(|| BarrierError::UnknownKey(key_id.to_string()))?;
        let (header, sealed) = blob.split_at(header_len);
        open_raw(&key, &blob_aad(header, context), sealed)
    }

    /// Seal a secret value under a fresh data key wrapped by `key_id` (its newest material).
    pub fn seal(
        &self,
        key_id: &str,
        binding: &ValueBinding<'_>,
        plaintext: &[u8],
    ) -> Result<Sealed, BarrierError> {
        let (_, kek) = self.newest_material(key_id)?;
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
    ///
    /// A sealed value does not say which of its key's materials wrapped its data key: the
    /// materials are tried newest first and AES-GCM's tag tells the right one (a key rotated
    /// n times costs at most n failed 32-byte opens, and only for values older than the
    /// rotation). Existing rows need no new column.
    pub fn open(
        &self,
        sealed: &Sealed,
        binding: &ValueBinding<'_>,
    ) -> Result<Zeroizing<Vec<u8>>, BarrierError> {
        let aad = binding.aad();
        let dek_aad = dek_aad(&sealed.key_id, &aad);
        // Under the read lock (no copy of the ring on GetSecretValue's path): only the 32-byte
        // data key is opened here.
        let dek = {
            let keys = self
                .kms_keys
                .read()
                .map_err(|_| BarrierError::DecryptionFailed)?;
            let ring = keys
                .get(&sealed.key_id)
                .ok_or_else(|| BarrierError::UnknownKey(sealed.key_id.clone()))?;
            ring.materials
                .iter()
                .rev()
                .find_map(|(_, kek)| open_raw(kek, &dek_aad, &sealed.wrapped_key).ok())
                .ok_or(BarrierError::DecryptionFailed)?
        };
        if dek.len() != KEY_LEN {
            return Err(BarrierError::DecryptionFailed);
        }
        open_raw(&aead_key(&dek), &aad, &sealed.ciphertext)
    }

    fn newest_material(&self, key_id: &str) -> Result<(u32, Arc<LessSafeKey>), BarrierError> {
        self.kms_keys
            .read()
            .ok()
            .and_then(|m| m.get(key_id)?.newest().cloned())
            .ok_or_else(|| BarrierError::UnknownKey(key_id.to_string()))
    }

    fn install(&self, key_id: &str, version: u32, material: &[u8]) {
        if let Ok(mut m) = self.kms_keys.write() {
            let ring = m.entry(key_id.to_string()).or_default();
            ring.materials.retain(|(v, _)| *v != version);
            ring.materials.push((version, Arc::new(aead_key(material))));
            ring.materials.sort_by_key(|(v, _)| *v);
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
        seal_with(key, aad, plaintext)
    }
}

/// Seal with a fresh random nonce, outside a [`Barrier`] (the root key's passphrase seal).
pub(crate) fn seal_with(
    key: &LessSafeKey,
    aad: &[u8],
    plaintext: &[u8],
) -> Result<Vec<u8>, BarrierError> {
    let rng = SystemRandom::new();
    let mut nonce = [0u8; NONCE_LEN];
    rng.fill(&mut nonce)
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

pub(crate) fn open_raw(
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

pub(crate) fn aead_key(bytes: &[u8]) -> LessSafeKey {
    // Only fails on a wrong key length; every caller passes KEY_LEN bytes.
    LessSafeKey::new(UnboundKey::new(&AES_256_GCM, bytes).expect("AES-256 key is 32 bytes"))
}

/// Material 0 keeps the binding it had before keys could rotate.
fn material_aad(key_id: &str, version: u32) -> Vec<u8> {
    let mut aad = b"strongroom:kms-key-material:v1\0".to_vec();
    aad.extend_from_slice(key_id.as_bytes());
    if version > 0 {
        aad.extend_from_slice(format!("#{version}").as_bytes());
    }
    aad
}

fn blob_aad(header: &[u8], context: &[u8]) -> Vec<u8> {
    let mut aad = b"strongroom:kms-ciphertext:v1\0".to_vec();
    aad.extend_from_slice(&(header.len() as u32).to_be_bytes());
    aad.extend_from_slice(header);
    aad.extend_from_slice(context);
    aad
}

/// (key id, material version, header length) of a ciphertext blob.
fn parse_blob(blob: &[u8]) -> Option<(&str, u32, usize)> {
    let rest = blob.strip_prefix(BLOB_MAGIC.as_slice())?;
    let (&id_len, rest) = rest.split_first()?;
    let id_len = usize::from(id_len);
    if rest.len() < id_len + 4 + NONCE_LEN + TAG_LEN {
        return None;
    }
    let key_id = std::str::from_utf8(&rest[..id_len]).ok()?;
    let version = u32::from_be_bytes(rest[id_len..id_len + 4].try_into().ok()?);
    Some((key_id, version, BLOB_MAGIC.len() + 1 + id_len + 4))
}

fn dek_aad(key_id: &str, value_aad: &[u8]) -> Vec<u8> {
    const PREFIX: &[u8] = b"strongroom:data-key:v1\0";
    let mut aad = Vec::with_capacity(PREFIX.len() + 4 + key_id.len() + value_aad.len());
    aad.extend_from_slice(PREFIX);
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
            let t = Sealed::from_stored_parts("k1".into(), s.wrapped_key().to_vec(), ct);
            assert_eq!(
                b.open(&t, &binding("arn1", "v1")).unwrap_err(),
                BarrierError::DecryptionFailed
            );
        }
        for i in 0..s.wrapped_key().len() {
            let mut wk = s.wrapped_key().to_vec();
            wk[i] ^= 0x80;
            let t = Sealed::from_stored_parts("k1".into(), wk, s.ciphertext().to_vec());
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
    fn rotation_keeps_old_values_open_and_seals_with_the_new_material() {
        let root = RootKey::generate().unwrap();
        let b = Barrier::new(&root);
        let w0 = b.create_kms_key("k1").unwrap();
        let old = b.seal("k1", &binding("a", "v1"), b"old").unwrap();
        let old_blob = b.encrypt_blob("k1", b"ctx", b"old blob").unwrap();
        let (version, w1) = b.new_kms_material("k1").unwrap();
        assert_eq!(version, 1);
        let unused = b.seal("k1", &binding("a", "v0"), b"still old").unwrap();
        b.load_kms_material("k1", 1, &w1).unwrap();
        let new = b.seal("k1", &binding("a", "v2"), b"new").unwrap();
        let new_blob = b.encrypt_blob("k1", b"ctx", b"new blob").unwrap();
        assert_ne!(
            old_blob[9..13],
            new_blob[9..13],
            "blobs name their material"
        );

        // A restart loads both materials from storage.
        let b2 = Barrier::new(&root);
        b2.load_kms_key("k1", &w0).unwrap();
        assert!(
            b2.load_kms_material("k1", 0, &w1).is_err(),
            "material bound to its version"
        );
        b2.load_kms_material("k1", 1, &w1).unwrap();
        assert_eq!(&*b2.open(&old, &binding("a", "v1")).unwrap(), b"old");
        assert_eq!(&*b2.open(&new, &binding("a", "v2")).unwrap(), b"new");
        assert_eq!(
            &*b2.open(&unused, &binding("a", "v0")).unwrap(),
            b"still old"
        );
        assert_eq!(&*b2.decrypt_blob(&old_blob, b"ctx").unwrap(), b"old blob");
        assert_eq!(&*b2.decrypt_blob(&new_blob, b"ctx").unwrap(), b"new blob");
    }

    #[test]
    fn blobs_are_bound_to_their_context_and_detect_tampering() {
        let b = setup();
        let blob = b.encrypt_blob("k1", b"{\"a\":\"1\"}", b"data key").unwrap();
        assert_eq!(Barrier::blob_key_id(&blob), Some("k1"));
        assert_eq!(
            b.decrypt_blob(&blob, b"{\"a\":\"2\"}").unwrap_err(),
            BarrierError::DecryptionFailed
        );
        for i in 0..blob.len() {
            let mut t = blob.clone();
            t[i] ^= 0x01;
            assert!(b.decrypt_blob(&t, b"{\"a\":\"1\"}").is_err(), "flip at {i}");
        }
        assert!(Barrier::blob_key_id(b"garbage").is_none());
        b.forget_kms_key("k1");
        assert!(b.decrypt_blob(&blob, b"{\"a\":\"1\"}").is_err());
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
