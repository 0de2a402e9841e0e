//! Seals: what keeps the root key at rest, as OpenBao/Vault seals do. A seal wraps the root
//! key with a key it holds elsewhere and unwraps it at start; the data directory keeps only the
//! wrapped root key and the seal's description (which seal, which key — never a secret), so a
//! server started without the right seal can say which one it needs.
//!
//! - [`PassphraseSeal`]: PBKDF2-HMAC-SHA256 of a passphrase (always built).
//! - `Pkcs11Seal` (feature `pkcs11`): an AES key inside a PKCS#11 token (an HSM; SoftHSM2 in
//!   the tests) encrypts and decrypts the root key with CKM_AES_GCM; the AES key never leaves it.
//! - `KmsSeal` (feature `awskms`): KMS Encrypt/Decrypt with an encryption context naming the
//!   deployment, through AWS or any KMS-compatible endpoint (another Strongroom).
//!
//! The root key itself never changes when the seal does: migrating between seals rewrites one
//! file and nothing else.

mod passphrase;
pub mod spec;

#[cfg(feature = "awskms")]
pub mod awskms;
#[cfg(feature = "pkcs11")]
pub mod pkcs11;

use std::collections::BTreeMap;

pub use passphrase::PassphraseSeal;
pub use spec::{KmsSpec, Pkcs11Spec, SealSpec};

use crate::{BarrierError, RootKey};

pub const PASSPHRASE: &str = "passphrase";
pub const PKCS11: &str = "pkcs11";
pub const AWSKMS: &str = "awskms";

/// One way of keeping the root key: wrap it for the data directory, unwrap it at start.
#[async_trait::async_trait]
pub trait Seal: Send + Sync {
    /// [`PASSPHRASE`], [`PKCS11`] or [`AWSKMS`]: what the wrapped key records.
    fn kind(&self) -> &'static str;
    /// Which key this seal uses, for messages and logs (never a secret).
    fn describe(&self) -> String;
    async fn wrap(&self, key: &RootKey) -> Result<WrappedRootKey, BarrierError>;
    /// Errors say why in the operator's terms (wrong PIN, no such token, a key that does not
    /// open this root key), never with key material.
    async fn unwrap(&self, wrapped: &WrappedRootKey) -> Result<RootKey, BarrierError>;
}

/// The root key as a seal left it: the seal's description and the wrapped bytes.
#[derive(Clone, PartialEq, Eq)]
pub struct WrappedRootKey {
    pub seal: SealInfo,
    pub wrapped: Vec<u8>,
}

impl std::fmt::Debug for WrappedRootKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WrappedRootKey")
            .field("seal", &self.seal)
            .field("wrapped_len", &self.wrapped.len())
            .finish()
    }
}

/// A seal's kind and the public parameters that name its key (token and key label, KMS key
/// ARN, region, endpoint, encryption context; a passphrase seal's salt and rounds).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct SealInfo {
    pub kind: String,
    #[serde(default)]
    pub params: BTreeMap<String, String>,
}

impl SealInfo {
    pub fn new(kind: &str, params: &[(&str, &str)]) -> Self {
        Self {
            kind: kind.to_string(),
            params: params
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        }
    }

    pub fn param(&self, name: &str) -> Option<&str> {
        self.params.get(name).map(String::as_str)
    }

    /// The `--seal` that opens this key, rebuilt from the description (`None` for a
    /// passphrase, which has none).
    pub fn spec(&self) -> Option<SealSpec> {
        match self.kind.as_str() {
            PKCS11 => Some(SealSpec::Pkcs11(Pkcs11Spec {
                module: self.param("module")?.into(),
                token: self.param("token")?.into(),
                label: self.param("label")?.into(),
                pin_file: None,
            })),
            AWSKMS => Some(SealSpec::AwsKms(KmsSpec {
                key: self.param("key")?.into(),
                region: self.param("region").map(Into::into),
                endpoint: self.param("endpoint").map(Into::into),
            })),
            _ => None,
        }
    }

    /// What to give a server so it opens this key.
    pub fn how_to_open(&self) -> String {
        match (self.kind.as_str(), self.spec()) {
            (PASSPHRASE, _) => "set STRONGROOM_SEAL_PASSPHRASE or --seal-passphrase-file".into(),
            (PKCS11, Some(s)) => format!(
                "start with --seal '{s}' and the token's PIN in STRONGROOM_PKCS11_PIN (or pin-file=)"
            ),
            (_, Some(s)) => format!(
                "start with --seal '{s}' and AWS credentials allowed to use the key (the AWS SDK's standard chain)"
            ),
            (k, None) => format!("this Strongroom does not know the seal kind {k:?}"),
        }
    }
}

impl std::fmt::Display for SealInfo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let p = |k: &str| self.param(k).unwrap_or("?");
        match self.kind.as_str() {
            PASSPHRASE => f.write_str("a passphrase"),
            PKCS11 => write!(
                f,
                "the PKCS#11 key label={} on token {} (module {})",
                p("label"),
                p("token"),
                p("module")
            ),
            AWSKMS => {
                write!(f, "the AWS KMS key {} (region {}", p("key"), p("region"))?;
                if let Some(e) = self.param("endpoint") {
                    write!(f, ", endpoint {e}")?;
                }
                f.write_str(")")
            }
            other => write!(f, "an unknown seal {other:?}"),
        }
    }
}

/// The seal a `--seal` specification names, ready to wrap and unwrap. `deployment` names this
/// deployment in the KMS encryption context (the account id).
pub async fn open_spec(spec: &SealSpec, deployment: &str) -> Result<Box<dyn Seal>, BarrierError> {
    match spec {
        #[cfg(feature = "pkcs11")]
        SealSpec::Pkcs11(p) => Ok(Box::new(pkcs11::Pkcs11Seal::new(p)?)),
        #[cfg(feature = "awskms")]
        SealSpec::AwsKms(k) => Ok(Box::new(awskms::KmsSeal::connect(k, deployment).await?)),
        #[allow(unreachable_patterns)]
        other => {
            let _ = deployment;
            Err(BarrierError::RootKey(format!(
                "this build of Strongroom has no {} seal",
                match other {
                    SealSpec::Pkcs11(_) => PKCS11,
                    SealSpec::AwsKms(_) => AWSKMS,
                }
            )))
        }
    }
}

/// Why a wrapped key cannot be opened by `given` (another kind of seal, or none).
pub(crate) fn refusal(
    path: &std::path::Path,
    info: &SealInfo,
    given: Option<&dyn Seal>,
) -> BarrierError {
    let path = path.display();
    BarrierError::RootKey(match (info.kind.as_str(), given) {
        (PASSPHRASE, None) => format!(
            "the root key {path} is sealed with a passphrase: set STRONGROOM_SEAL_PASSPHRASE or --seal-passphrase-file"
        ),
        (_, None) => format!(
            "the root key {path} is sealed by {info}: {}",
            info.how_to_open()
        ),
        (_, Some(g)) => format!(
            "the root key {path} is sealed by {info}, not by {}: {}",
            g.describe(),
            info.how_to_open()
        ),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn descriptions_name_the_seal_and_how_to_open_it() {
        let hsm = SealInfo::new(
            PKCS11,
            &[
                ("module", "/usr/lib/softhsm/libsofthsm2.so"),
                ("token", "prod"),
                ("label", "root"),
                ("mechanism", "CKM_AES_GCM"),
            ],
        );
        assert_eq!(
            hsm.to_string(),
            "the PKCS#11 key label=root on token prod (module /usr/lib/softhsm/libsofthsm2.so)"
        );
        assert!(
            hsm.how_to_open().contains(
                "--seal 'pkcs11:module=/usr/lib/softhsm/libsofthsm2.so;token=prod;label=root'"
            ),
            "{}",
            hsm.how_to_open()
        );
        let kms = SealInfo::new(
            AWSKMS,
            &[
                ("key", "arn:aws:kms:us-east-1:111122223333:key/k"),
                ("region", "us-east-1"),
                ("endpoint", "https://kms.internal:8790"),
            ],
        );
        assert_eq!(
            kms.spec().unwrap().to_string(),
            "awskms:arn:aws:kms:us-east-1:111122223333:key/k;endpoint=https://kms.internal:8790"
        );
        assert!(
            kms.to_string()
                .contains("endpoint https://kms.internal:8790")
        );
        assert!(
            SealInfo::new("shamir", &[])
                .how_to_open()
                .contains("does not know")
        );
    }
}
