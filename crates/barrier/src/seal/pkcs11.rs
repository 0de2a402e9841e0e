//! The PKCS#11 seal: an AES-256 key inside a token (CKK_AES, sensitive, non-extractable)
//! encrypts the root key with CKM_AES_GCM (C_Encrypt) and decrypts it at start (C_Decrypt).
//! The AES key never leaves the HSM; the data directory holds only the IV and the ciphertext.
//!
//! Why `cryptoki` (Parsec project, Apache-2.0): it ships pre-generated bindings and loads the
//! module at run time (libloading), so there is no C build and no libclang; it was verified
//! against SoftHSM2 (AES key generation, AES-GCM round trip) in /work/shared/DEPENDENCIES.md §5,
//! and costs three small crates (cryptoki, cryptoki-sys, libloading) — seconds of build time.
//! Pinned ≥ 0.12.1 for RUSTSEC-2026-0286. Why GCM through C_Encrypt rather than
//! CKM_AES_KEY_WRAP_PAD through C_WrapKey: the root key is not an object in the token, and
//! GCM authenticates (a wrong key or a tampered file fails instead of yielding garbage).
//!
//! The calls block, briefly, and happen once at start or in `strongroom root-key`.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};

use aws_lc_rs::rand::{SecureRandom, SystemRandom};
use cryptoki::context::{CInitializeArgs, CInitializeFlags, Pkcs11};
use cryptoki::error::{Error as CkError, RvError};
use cryptoki::mechanism::Mechanism;
use cryptoki::mechanism::aead::GcmParams;
use cryptoki::object::{Attribute, AttributeType, KeyType, ObjectClass, ObjectHandle};
use cryptoki::session::{Session, UserType};
use cryptoki::types::AuthPin;
use zeroize::Zeroizing;

use super::spec::Pkcs11Spec;
use super::{PKCS11, Seal, SealInfo, WrappedRootKey};
use crate::{BarrierError, KEY_LEN, RootKey};

const IV_LEN: usize = 12;
const TAG_BITS: u64 = 128;
/// Binds the ciphertext to its purpose: GCM authenticates it with the IV and the tag.
const AAD: &[u8] = b"strongroom:root-key:pkcs11:v1";
const MECHANISM: &str = "CKM_AES_GCM";

/// The user PIN: `pin-file=` in the spec (first line), else this variable.
pub const PIN_ENV: &str = "STRONGROOM_PKCS11_PIN";

pub struct Pkcs11Seal {
    module: PathBuf,
    token: String,
    label: String,
    pin: AuthPin,
}

/// One initialized context per module for the whole process: C_Initialize may run once, and
/// the login state belongs to the application (all its sessions), so every use is serialized
/// by this lock and logs out when done.
fn contexts() -> &'static Mutex<HashMap<PathBuf, Pkcs11>> {
    static CONTEXTS: OnceLock<Mutex<HashMap<PathBuf, Pkcs11>>> = OnceLock::new();
    CONTEXTS.get_or_init(|| Mutex::new(HashMap::new()))
}

fn err(msg: String) -> BarrierError {
    BarrierError::RootKey(msg)
}

impl Pkcs11Seal {
    /// The seal `spec` names, with the PIN from its `pin-file=` or STRONGROOM_PKCS11_PIN.
    /// Nothing is opened yet.
    pub fn new(spec: &Pkcs11Spec) -> Result<Self, BarrierError> {
        let pin = match &spec.pin_file {
            Some(f) => {
                let text = Zeroizing::new(std::fs::read_to_string(f).map_err(|e| {
                    err(format!(
                        "cannot read the PKCS#11 PIN file {}: {e}",
                        f.display()
                    ))
                })?);
                text.lines().next().unwrap_or_default().to_string()
            }
            None => std::env::var(PIN_ENV).map_err(|_| {
                err(format!(
                    "the PKCS#11 seal needs the token's PIN: set {PIN_ENV} or pin-file= in the seal"
                ))
            })?,
        };
        if pin.is_empty() {
            return Err(err("the PKCS#11 PIN is empty".into()));
        }
        Ok(Self {
            module: spec.module.clone(),
            token: spec.token.clone(),
            label: spec.label.clone(),
            pin: AuthPin::from(pin),
        })
    }

    fn where_(&self) -> String {
        format!(
            "label={} on token {} (module {})",
            self.label,
            self.token,
            self.module.display()
        )
    }

    /// Create the AES-256 key this seal names inside its token: a token object, private,
    /// sensitive, never extractable, for encrypt/decrypt only. Refused if the label is taken.
    pub fn generate_key(&self) -> Result<(), BarrierError> {
        self.with_session(true, |session| {
            if !self.find_keys(session)?.is_empty() {
                return Err(err(format!("a key {} already exists", self.where_())));
            }
            let template = [
                Attribute::Token(true),
                Attribute::Private(true),
                Attribute::Sensitive(true),
                Attribute::Extractable(false),
                Attribute::Encrypt(true),
                Attribute::Decrypt(true),
                Attribute::Wrap(false),
                Attribute::Unwrap(false),
                Attribute::Sign(false),
                Attribute::Verify(false),
                Attribute::Derive(false),
                Attribute::ValueLen((KEY_LEN as u64).into()),
                Attribute::Label(self.label.as_bytes().to_vec()),
            ];
            session
                .generate_key(&Mechanism::AesKeyGen, &template)
                .map_err(|e| {
                    err(format!(
                        "the HSM refused to create the key {}: {e}",
                        self.where_()
                    ))
                })?;
            Ok(())
        })
    }

    fn find_keys(&self, session: &Session) -> Result<Vec<ObjectHandle>, BarrierError> {
        session
            .find_objects(&[
                Attribute::Class(ObjectClass::SECRET_KEY),
                Attribute::KeyType(KeyType::AES),
                Attribute::Label(self.label.as_bytes().to_vec()),
            ])
            .map_err(|e| {
                err(format!(
                    "cannot search the token {} for keys: {e}",
                    self.token
                ))
            })
    }

    /// The one AES key labelled as configured.
    fn key(&self, session: &Session) -> Result<ObjectHandle, BarrierError> {
        match self.find_keys(session)?.as_slice() {
            [k] => Ok(*k),
            [] => Err(err(format!(
                "there is no AES key {} (create one with `strongroom root-key create-hsm-key`)",
                self.where_()
            ))),
            _ => Err(err(format!(
                "several AES keys are labelled {} on token {}: give each its own label",
                self.label, self.token
            ))),
        }
    }

    /// Open a session on the token, log in, run `f`, log out.
    fn with_session<T>(
        &self,
        read_write: bool,
        f: impl FnOnce(&Session) -> Result<T, BarrierError>,
    ) -> Result<T, BarrierError> {
        let mut contexts = contexts()
            .lock()
            .map_err(|_| err("the PKCS#11 lock is poisoned".into()))?;
        let ctx = match contexts.get(&self.module) {
            Some(c) => c.clone(),
            None => {
                let c = load_module(&self.module)?;
                contexts.insert(self.module.clone(), c.clone());
                c
            }
        };
        let slot = self.slot(&ctx)?;
        let session = if read_write {
            ctx.open_rw_session(slot)
        } else {
            ctx.open_ro_session(slot)
        }
        .map_err(|e| {
            err(format!(
                "cannot open a session on token {}: {e}",
                self.token
            ))
        })?;
        match session.login(UserType::User, Some(&self.pin)) {
            Ok(()) | Err(CkError::Pkcs11(RvError::UserAlreadyLoggedIn, _)) => {}
            Err(CkError::Pkcs11(RvError::PinIncorrect, _)) => {
                return Err(err(format!(
                    "the PKCS#11 PIN for token {} is wrong",
                    self.token
                )));
            }
            Err(CkError::Pkcs11(RvError::PinLocked, _)) => {
                return Err(err(format!(
                    "the PKCS#11 PIN for token {} is locked (too many wrong PINs)",
                    self.token
                )));
            }
            Err(e) => {
                return Err(err(format!("cannot log in to token {}: {e}", self.token)));
            }
        }
        let result = f(&session);
        let _ = session.logout();
        result
    }

    fn slot(&self, ctx: &Pkcs11) -> Result<cryptoki::slot::Slot, BarrierError> {
        let slots = ctx.get_slots_with_token().map_err(|e| {
            err(format!(
                "cannot list the tokens of {}: {e}",
                self.module.display()
            ))
        })?;
        let mut labels = Vec::new();
        for slot in slots {
            if let Ok(info) = ctx.get_token_info(slot) {
                if info.label() == self.token {
                    return Ok(slot);
                }
                labels.push(info.label().to_string());
            }
        }
        Err(err(format!(
            "no token labelled {} in {} (tokens present: {})",
            self.token,
            self.module.display(),
            if labels.is_empty() {
                "none".into()
            } else {
                labels.join(", ")
            }
        )))
    }
}

fn load_module(module: &Path) -> Result<Pkcs11, BarrierError> {
    let ctx = Pkcs11::new(module).map_err(|e| {
        err(format!(
            "cannot load the PKCS#11 module {}: {e}",
            module.display()
        ))
    })?;
    match ctx.initialize(CInitializeArgs::new(CInitializeFlags::OS_LOCKING_OK)) {
        Ok(()) | Err(CkError::Pkcs11(RvError::CryptokiAlreadyInitialized, _)) => Ok(ctx),
        Err(e) => Err(err(format!(
            "cannot initialize the PKCS#11 module {}: {e}",
            module.display()
        ))),
    }
}

#[async_trait::async_trait]
impl Seal for Pkcs11Seal {
    fn kind(&self) -> &'static str {
        PKCS11
    }

    fn describe(&self) -> String {
        format!("the PKCS#11 key {}", self.where_())
    }

    async fn wrap(&self, root: &RootKey) -> Result<WrappedRootKey, BarrierError> {
        let mut iv = [0u8; IV_LEN];
        SystemRandom::new()
            .fill(&mut iv)
            .map_err(|_| err("the system random generator failed".into()))?;
        let ciphertext = self.with_session(false, |session| {
            let key = self.key(session)?;
            // A key that could leave the HSM would make the seal a formality.
            let attrs = session
                .get_attributes(key, &[AttributeType::Extractable, AttributeType::Sensitive])
                .map_err(|e| err(format!("cannot read the key's attributes: {e}")))?;
            for a in attrs {
                match a {
                    Attribute::Extractable(true) | Attribute::Sensitive(false) => {
                        return Err(err(format!(
                            "the key {} is extractable or not sensitive: the root key must be wrapped by a key that never leaves the HSM",
                            self.where_()
                        )));
                    }
                    _ => {}
                }
            }
            let mut iv_param = iv;
            let params = GcmParams::new(&mut iv_param, AAD, TAG_BITS.into())
                .map_err(|e| err(format!("AES-GCM parameters: {e}")))?;
            session
                .encrypt(&Mechanism::AesGcm(params), key, root.bytes())
                .map_err(|e| err(format!("the HSM could not encrypt with the key {}: {e}", self.where_())))
        })?;
        let mut wrapped = iv.to_vec();
        wrapped.extend_from_slice(&ciphertext);
        Ok(WrappedRootKey {
            seal: SealInfo::new(
                PKCS11,
                &[
                    ("module", &self.module.display().to_string()),
                    ("token", &self.token),
                    ("label", &self.label),
                    ("mechanism", MECHANISM),
                ],
            ),
            wrapped,
        })
    }

    async fn unwrap(&self, wrapped: &WrappedRootKey) -> Result<RootKey, BarrierError> {
        if wrapped.seal.param("mechanism") != Some(MECHANISM) || wrapped.wrapped.len() <= IV_LEN {
            return Err(err("the HSM-sealed root key is malformed".into()));
        }
        let (iv, ciphertext) = wrapped.wrapped.split_at(IV_LEN);
        let plain = self.with_session(false, |session| {
            let key = self.key(session)?;
            let mut iv = iv.to_vec();
            let params = GcmParams::new(&mut iv, AAD, TAG_BITS.into())
                .map_err(|e| err(format!("AES-GCM parameters: {e}")))?;
            session
                .decrypt(&Mechanism::AesGcm(params), key, ciphertext)
                .map(Zeroizing::new)
                .map_err(|e| match e {
                    // A GCM tag that does not verify: SoftHSM2 reports it as CKR_GENERAL_ERROR,
                    // the standard as CKR_ENCRYPTED_DATA_INVALID.
                    CkError::Pkcs11(
                        RvError::EncryptedDataInvalid
                        | RvError::EncryptedDataLenRange
                        | RvError::GeneralError,
                        _,
                    ) => err(format!(
                        "the PKCS#11 key {} does not open the root key (it was sealed by {})",
                        self.where_(),
                        wrapped.seal
                    )),
                    e => err(format!(
                        "the HSM could not decrypt with the key {}: {e}",
                        self.where_()
                    )),
                })
        })?;
        RootKey::from_slice(&plain)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::RootKeyFile;
    use crate::seal::{PassphraseSeal, SealSpec};

    const PIN: &str = "test-pkcs11-pin-8c1f";
    const TOKEN: &str = "strongroom-test";
    const CHILD: &str = "STRONGROOM_TEST_SOFTHSM_CHILD";

    fn module() -> PathBuf {
        let m = std::env::var_os("STRONGROOM_TEST_PKCS11_MODULE")
            .map(PathBuf::from)
            .unwrap_or_else(|| "/usr/lib/softhsm/libsofthsm2.so".into());
        assert!(
            m.exists(),
            "{} is missing: install SoftHSM2 (apt-get install -y softhsm2; scripts/test does)",
            m.display()
        );
        m
    }

    fn spec(token: &str, label: &str, pin_file: Option<&Path>) -> Pkcs11Spec {
        Pkcs11Spec {
            module: module(),
            token: token.into(),
            label: label.into(),
            pin_file: pin_file.map(Path::to_path_buf),
        }
    }

    fn msg<T>(r: Result<T, BarrierError>) -> String {
        match r {
            Ok(_) => panic!("expected an error"),
            Err(e) => e.to_string(),
        }
    }

    /// SoftHSM2 reads SOFTHSM2_CONF once, at C_Initialize, and a threaded test process cannot
    /// change its environment safely: the test makes a private token directory, then runs
    /// itself again in a child process pointed at it.
    #[test]
    fn softhsm2_seal_wraps_in_the_token_and_refuses_wrong_pins_tokens_and_keys() {
        if std::env::var_os(CHILD).is_some() {
            return tokio::runtime::Builder::new_current_thread()
                .build()
                .unwrap()
                .block_on(in_child());
        }
        let dir = std::env::temp_dir().join(format!("sr-softhsm-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("tokens")).unwrap();
        let conf = dir.join("softhsm2.conf");
        std::fs::write(
            &conf,
            format!(
                "directories.tokendir = {}\nobjectstore.backend = file\nlog.level = ERROR\n",
                dir.join("tokens").display()
            ),
        )
        .unwrap();
        for token in [TOKEN, "other-token"] {
            let out = std::process::Command::new("softhsm2-util")
                .args(["--init-token", "--free", "--label", token])
                .args(["--so-pin", "so-pin-12345678", "--pin", PIN])
                .env("SOFTHSM2_CONF", &conf)
                .output()
                .expect("softhsm2-util runs (apt-get install -y softhsm2)");
            assert!(out.status.success(), "{out:?}");
        }
        let out = std::process::Command::new(std::env::current_exe().unwrap())
            .args([
                "seal::pkcs11::tests::softhsm2_seal_wraps_in_the_token_and_refuses_wrong_pins_tokens_and_keys",
                "--exact",
                "--nocapture",
                "--test-threads=1",
            ])
            .env("SOFTHSM2_CONF", &conf)
            .env(CHILD, &dir)
            .env(PIN_ENV, PIN)
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout).to_string()
            + &String::from_utf8_lossy(&out.stderr);
        assert!(
            out.status.success() && text.contains("1 passed"),
            "child: {text}"
        );
        let _ = std::fs::remove_dir_all(&dir);
    }

    async fn in_child() {
        let dir = PathBuf::from(std::env::var_os(CHILD).unwrap());
        let path = dir.join("root.key");
        let seal = Pkcs11Seal::new(&spec(TOKEN, "root", None)).unwrap();

        // No key yet: said so, and nothing is written.
        let e = msg(RootKey::load_or_create(&path, Some(&seal)).await);
        assert!(e.contains("there is no AES key label=root on token"), "{e}");
        assert!(!path.exists());

        seal.generate_key().unwrap();
        let e = msg(seal.generate_key());
        assert!(e.contains("already exists"), "{e}");
        // The key the seal made can never leave the token.
        let attrs = seal
            .with_session(false, |s| {
                let k = seal.key(s)?;
                s.get_attributes(
                    k,
                    &[
                        AttributeType::Extractable,
                        AttributeType::Sensitive,
                        AttributeType::Token,
                    ],
                )
                .map_err(|e| err(e.to_string()))
            })
            .unwrap();
        assert!(attrs.contains(&Attribute::Extractable(false)), "{attrs:?}");
        assert!(attrs.contains(&Attribute::Sensitive(true)), "{attrs:?}");
        assert!(attrs.contains(&Attribute::Token(true)), "{attrs:?}");

        let (k1, created) = RootKey::load_or_create(&path, Some(&seal)).await.unwrap();
        assert!(created);
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(
            !text.contains(&hex::encode(k1.bytes())),
            "no key in the file"
        );
        assert!(!text.contains(PIN), "no PIN in the file");
        let RootKeyFile::Sealed(info) = RootKey::file_kind(&path).unwrap() else {
            panic!("sealed")
        };
        assert_eq!(info.kind, PKCS11);
        assert_eq!(info.param("label"), Some("root"));
        assert_eq!(info.param("token"), Some(TOKEN));
        // A fresh seal object (a restart) opens the same key.
        let again = Pkcs11Seal::new(&spec(TOKEN, "root", None)).unwrap();
        assert!(
            RootKey::load(&path, Some(&again))
                .await
                .unwrap()
                .same_as(&k1)
        );
        // Rebuilt from the file's own description (what `root-key` migrations use).
        let Some(SealSpec::Pkcs11(from_file)) = info.spec() else {
            panic!("a spec")
        };
        let rebuilt = Pkcs11Seal::new(&from_file).unwrap();
        assert!(
            RootKey::load(&path, Some(&rebuilt))
                .await
                .unwrap()
                .same_as(&k1)
        );

        // Without the seal, with the wrong one, a wrong PIN, token or key: refused, and said why.
        let e = msg(RootKey::load(&path, None).await);
        assert!(
            e.contains("is sealed by the PKCS#11 key label=root") && e.contains("--seal 'pkcs11:"),
            "{e}"
        );
        let e = msg(RootKey::load(&path, Some(&PassphraseSeal::new(b"p"))).await);
        assert!(e.contains("not by a passphrase"), "{e}");
        let wrong_pin = dir.join("wrong-pin");
        std::fs::write(&wrong_pin, "not-the-pin-0000\n").unwrap();
        let e = msg(RootKey::load(
            &path,
            Some(&Pkcs11Seal::new(&spec(TOKEN, "root", Some(&wrong_pin))).unwrap()),
        )
        .await);
        assert!(e.contains("PIN for token strongroom-test is wrong"), "{e}");
        assert!(!e.contains("not-the-pin") && !e.contains(PIN), "{e}");
        let e = msg(RootKey::load(
            &path,
            Some(&Pkcs11Seal::new(&spec("absent-token", "root", None)).unwrap()),
        )
        .await);
        assert!(
            e.contains("no token labelled absent-token") && e.contains(TOKEN),
            "{e}"
        );
        let other = Pkcs11Seal::new(&spec(TOKEN, "other", None)).unwrap();
        other.generate_key().unwrap();
        let e = msg(RootKey::load(&path, Some(&other)).await);
        assert!(
            e.contains("label=other on token strongroom-test")
                && e.contains("does not open the root key")
                && e.contains("sealed by the PKCS#11 key label=root"),
            "{e}"
        );
        // The same label on another token is another key.
        let elsewhere = Pkcs11Seal::new(&spec("other-token", "root", None)).unwrap();
        elsewhere.generate_key().unwrap();
        let e = msg(RootKey::load(&path, Some(&elsewhere)).await);
        assert!(e.contains("does not open the root key"), "{e}");

        // An extractable key is refused for sealing.
        let weak = Pkcs11Seal::new(&spec(TOKEN, "weak", None)).unwrap();
        weak.with_session(true, |s| {
            s.generate_key(
                &Mechanism::AesKeyGen,
                &[
                    Attribute::Token(true),
                    Attribute::Private(true),
                    Attribute::Extractable(true),
                    Attribute::Encrypt(true),
                    Attribute::Decrypt(true),
                    Attribute::ValueLen(32u64.into()),
                    Attribute::Label(b"weak".to_vec()),
                ],
            )
            .map_err(|e| err(e.to_string()))
        })
        .unwrap();
        let e = msg(k1.rewrite(&path, Some(&weak)).await);
        assert!(e.contains("extractable or not sensitive"), "{e}");

        // Migrations keep the key: HSM → plain → passphrase → the other HSM key.
        k1.rewrite(&path, None).await.unwrap();
        assert_eq!(RootKey::file_kind(&path).unwrap(), RootKeyFile::Plain);
        let pass = PassphraseSeal::new(b"a passphrase");
        k1.rewrite(&path, Some(&pass)).await.unwrap();
        let k2 = RootKey::load(&path, Some(&pass)).await.unwrap();
        k2.rewrite(&path, Some(&other)).await.unwrap();
        assert!(
            RootKey::load(&path, Some(&other))
                .await
                .unwrap()
                .same_as(&k1)
        );
        assert!(msg(RootKey::load(&path, Some(&seal)).await).contains("does not open"));
    }
}
