//! The passphrase seal: PBKDF2-HMAC-SHA256 (per-file salt and rounds) makes an AES-256-GCM key.

use aws_lc_rs::rand::{SecureRandom, SystemRandom};
use zeroize::Zeroizing;

use super::{PASSPHRASE, Seal, SealInfo, WrappedRootKey};
use crate::{BarrierError, KEY_LEN, RootKey};

/// PBKDF2-HMAC-SHA256 iterations for new seals (OWASP's 2023 figure); stored per file, so it
/// can rise without breaking old files.
pub(crate) const SEAL_ITERATIONS: u32 = 600_000;
const SEAL_AAD: &[u8] = b"strongroom:root-key-seal:v1";

pub struct PassphraseSeal {
    passphrase: Zeroizing<Vec<u8>>,
}

impl PassphraseSeal {
    pub fn new(passphrase: &[u8]) -> Self {
        Self {
            passphrase: Zeroizing::new(passphrase.to_vec()),
        }
    }
}

#[async_trait::async_trait]
impl Seal for PassphraseSeal {
    fn kind(&self) -> &'static str {
        PASSPHRASE
    }

    fn describe(&self) -> String {
        "a passphrase".into()
    }

    async fn wrap(&self, key: &RootKey) -> Result<WrappedRootKey, BarrierError> {
        let mut salt = [0u8; 16];
        SystemRandom::new()
            .fill(&mut salt)
            .map_err(|_| BarrierError::RootKey("the system random generator failed".into()))?;
        let kek = seal_key(&self.passphrase, &salt, SEAL_ITERATIONS)?;
        let body = crate::seal_with(&kek, SEAL_AAD, key.bytes())?;
        Ok(WrappedRootKey {
            seal: SealInfo::new(
                PASSPHRASE,
                &[
                    ("iterations", &SEAL_ITERATIONS.to_string()),
                    ("salt", &hex::encode(salt)),
                ],
            ),
            wrapped: body,
        })
    }

    async fn unwrap(&self, wrapped: &WrappedRootKey) -> Result<RootKey, BarrierError> {
        let bad = || BarrierError::RootKey("the passphrase-sealed root key is malformed".into());
        let iterations: u32 = wrapped
            .seal
            .param("iterations")
            .and_then(|i| i.parse().ok())
            .ok_or_else(bad)?;
        let salt = hex::decode(wrapped.seal.param("salt").ok_or_else(bad)?).map_err(|_| bad())?;
        let kek = seal_key(&self.passphrase, &salt, iterations)?;
        let opened = crate::open_raw(&kek, SEAL_AAD, &wrapped.wrapped).map_err(|_| {
            BarrierError::RootKey("the passphrase does not open the root key".into())
        })?;
        RootKey::from_slice(&opened)
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
